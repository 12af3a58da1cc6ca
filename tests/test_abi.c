/* SPDX-License-Identifier: MIT */
/*
 * test_abi.c - the structs that grow (docs/abi.md), the version number, and
 * the defaults of zeroed structs.
 *
 *   - hg__sized_read / hg__sized_write / hg__sized_init on structs of an
 *     older (smaller) and a newer (larger) layout than the library's;
 *   - every public options struct: *_init fills only the caller's size and
 *     sets struct_size; an uninitialised (0) or too small struct_size is
 *     HG_INVALID_ARGUMENT naming the init function; a larger struct is
 *     accepted while its unknown tail is zero and refused otherwise;
 *   - the sized result functions: too small is refused, larger is zero-filled,
 *     nothing is written past the size given;
 *   - zero is the default of every enum used in an options struct;
 *   - hg_version_number() agrees with HETGRAD_VERSION_NUMBER and the string.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_csr.h"
#include "internal.h"

/* ---- the helpers, on a made-up struct with two released layouts ---------- */

typedef struct v1 {
    size_t struct_size;
    int    a;
} v1;

typedef struct v2 { /* v1 with a field appended */
    size_t struct_size;
    int    a;
    double b;
} v2;

static void v2_defaults(v2 *s)
{
    ck_assert(hg__sized_init(s, sizeof *s));
    s->a = 7;
    s->b = 2.5;
}

START_TEST(sized_read_older_layout_keeps_defaults)
{
    v1 old;
    ck_assert(hg__sized_init(&old, sizeof old));
    old.a = 42;
    v2 mine;
    v2_defaults(&mine);
    hg_error err;
    ck_assert_int_eq(hg__sized_read(&mine, sizeof mine, &old, old.struct_size,
                                    HG__FIELD_END(v1, a), "v", "v_init", &err), HG_OK);
    ck_assert_int_eq(mine.a, 42);            /* the caller's value */
    ck_assert(mine.b == 2.5);                /* past its size: the default */
    ck_assert_uint_eq(mine.struct_size, sizeof mine); /* now a whole v2 */
}
END_TEST

START_TEST(sized_read_newer_layout)
{
    /* a newer caller's struct: ours (v1) plus b */
    v2 newer;
    ck_assert(hg__sized_init(&newer, sizeof newer));
    newer.a = 3;
    v1 mine;
    hg__sized_init(&mine, sizeof mine);
    hg_error err;
    /* an unknown field left at zero (its default) is fine */
    ck_assert_int_eq(hg__sized_read(&mine, sizeof mine, &newer, newer.struct_size,
                                    HG__FIELD_END(v1, a), "v", "v_init", &err), HG_OK);
    ck_assert_int_eq(mine.a, 3);
    /* set, it is an option this library cannot honour */
    newer.b = 1.0;
    ck_assert_int_eq(hg__sized_read(&mine, sizeof mine, &newer, newer.struct_size,
                                    HG__FIELD_END(v1, a), "v", "v_init", &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "newer headers"));
}
END_TEST

START_TEST(sized_read_refuses_uninitialised)
{
    v2 mine;
    v2_defaults(&mine);
    v1 zero = {0};
    zero.a = 5;
    hg_error err;
    ck_assert_int_eq(hg__sized_read(&mine, sizeof mine, &zero, zero.struct_size,
                                    HG__FIELD_END(v1, a), "v", "v_init", &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "v.struct_size is 0"));
    ck_assert_ptr_nonnull(strstr(err.message, "v_init()"));
    ck_assert_int_eq(mine.a, 7); /* untouched */
    /* a size that cuts the first layout */
    ck_assert_int_eq(hg__sized_read(&mine, sizeof mine, &zero, sizeof(size_t) + 2,
                                    HG__FIELD_END(v1, a), "v", "v_init", &err),
                     HG_INVALID_ARGUMENT);
}
END_TEST

START_TEST(sized_init_fills_only_the_callers_bytes)
{
    unsigned char buf[64];
    memset(buf, 0xA5, sizeof buf);
    ck_assert(hg__sized_init(buf, 24));
    size_t n;
    memcpy(&n, buf, sizeof n);
    ck_assert_uint_eq(n, 24);
    for (size_t i = sizeof n; i < 24; i++)
        ck_assert_uint_eq(buf[i], 0);
    for (size_t i = 24; i < sizeof buf; i++)
        ck_assert_uint_eq(buf[i], 0xA5);
    ck_assert(!hg__sized_init(buf, sizeof(size_t) - 1));
    ck_assert(!hg__sized_init(NULL, 64));
}
END_TEST

START_TEST(sized_write_clamps_and_zero_fills)
{
    v2 src = {sizeof src, 9, 4.0};
    /* an older caller: only its bytes are written */
    unsigned char buf[sizeof(v2) + 16];
    memset(buf, 0xA5, sizeof buf);
    ck_assert(hg__sized_write(buf, sizeof(v1), &src, sizeof src, HG__FIELD_END(v1, a)));
    for (size_t i = sizeof(v1); i < sizeof buf; i++)
        ck_assert_uint_eq(buf[i], 0xA5);
    ck_assert_int_eq(((v1 *)(void *)buf)->a, 9);
    /* a newer caller: the tail it knows and we do not is zeroed */
    memset(buf, 0xA5, sizeof buf);
    ck_assert(hg__sized_write(buf, sizeof buf, &src, sizeof src, HG__FIELD_END(v1, a)));
    for (size_t i = sizeof src; i < sizeof buf; i++)
        ck_assert_uint_eq(buf[i], 0);
    /* too small for the first layout: nothing written */
    memset(buf, 0xA5, sizeof buf);
    ck_assert(!hg__sized_write(buf, sizeof(size_t), &src, sizeof src, HG__FIELD_END(v1, a)));
    ck_assert_uint_eq(buf[0], 0xA5);
}
END_TEST

/* ---- the public options structs ------------------------------------------ */

/* A struct of this library's type followed by `extra` bytes, as a newer caller has. */
#define NEWER(T, extra)          \
    struct {                     \
        T             s;         \
        unsigned char tail[extra]; \
    }

START_TEST(options_init_and_defaults)
{
    hg_options o;
    memset(&o, 0xA5, sizeof o);
    hg_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert(o.use_environment);
    ck_assert_int_eq(o.log_level, HG_LOG_WARN);
    ck_assert(!o.keep_duplicates && !o.devices && !o.log && o.device_types == 0);

    hg_engine_options e;
    memset(&e, 0xA5, sizeof e);
    hg_engine_options_init(&e);
    ck_assert_uint_eq(e.struct_size, sizeof e);
    ck_assert_int_eq(e.gemm, HG_GEMM_AUTO);
    ck_assert(!e.devices && !e.deterministic && !e.fault_hook && e.deadline_factor == 0);

    hg_csv_options c;
    memset(&c, 0xA5, sizeof c);
    hg_csv_options_init(&c);
    ck_assert_uint_eq(c.struct_size, sizeof c);
    ck_assert(c.label_column == -1 && c.delimiter == ',' && c.labels_are_classes &&
              !c.header);

    /* a newer caller's larger struct is zeroed to its end */
    NEWER(hg_engine_options, 40) big;
    memset(&big, 0xA5, sizeof big);
    hg_engine_options_init_sized(&big.s, sizeof big);
    ck_assert_uint_eq(big.s.struct_size, sizeof big);
    for (size_t i = 0; i < sizeof big.tail; i++)
        ck_assert_uint_eq(big.tail[i], 0);
}
END_TEST

START_TEST(enum_zero_is_the_default)
{
    /* Zero means the default in every enum an options struct holds, so a field
       appended later (or a zeroed struct) gets it. */
    ck_assert_int_eq(HG_GEMM_AUTO, 0);
    ck_assert_int_eq(HG_LOG_WARN, 0);
    ck_assert(HG_LOG_ERROR < HG_LOG_WARN && HG_LOG_WARN < HG_LOG_INFO &&
              HG_LOG_INFO < HG_LOG_DEBUG);
    /* a zeroed engine options struct with only its size set is the defaults */
    hg_engine_options z, d;
    memset(&z, 0, sizeof z);
    z.struct_size = sizeof z;
    hg_engine_options_init(&d);
    ck_assert_mem_eq(&z, &d, sizeof z);
}
END_TEST

START_TEST(device_list_checks_struct_size)
{
    hg_device_list *l = (hg_device_list *)&l;
    hg_error err;
    hg_options o;
    hg_options_init(&o);
    o.struct_size = 0; /* never initialised */
    ck_assert_int_eq(hg_device_list_create(&o, &l, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_options.struct_size is 0"));
    ck_assert_ptr_nonnull(strstr(err.message, "hg_options_init()"));
    o.struct_size = offsetof(hg_options, log_level); /* cuts the first layout */
    ck_assert_int_eq(hg_device_list_create(&o, &l, &err), HG_INVALID_ARGUMENT);

    /* a newer caller that leaves its new option at zero, then sets it */
    NEWER(hg_options, 16) big;
    hg_options_init_sized(&big.s, sizeof big);
    big.s.use_environment = false;
    ck_assert_int_eq(hg_device_list_create(&big.s, &l, &err), HG_OK);
    hg_device_list_destroy(l);
    big.tail[5] = 1;
    ck_assert_int_eq(hg_device_list_create(&big.s, &l, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "newer headers"));

    hg_options_init(&o);
    o.log_level = (hg_log_level)7;
    ck_assert_int_eq(hg_device_list_create(&o, &l, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "log_level"));
}
END_TEST

START_TEST(engine_checks_both_struct_sizes)
{
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = 4, .outputs = 2};
    hg_engine *e = (hg_engine *)&e;
    hg_error err;
    hg_engine_options o;
    memset(&o, 0, sizeof o); /* not initialised */
    ck_assert_int_eq(hg_engine_create(&o, &m, &e, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_engine_options_init()"));

    hg_options d;
    memset(&d, 0, sizeof d);
    hg_engine_options_init(&o);
    o.devices = &d; /* the device options are checked too */
    ck_assert_int_eq(hg_engine_create(&o, &m, &e, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_options_init()"));

    NEWER(hg_engine_options, 8) big;
    hg_engine_options_init_sized(&big.s, sizeof big);
    big.tail[7] = 0x80;
    ck_assert_int_eq(hg_engine_create(&big.s, &m, &e, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_engine_options sets byte"));
}
END_TEST

START_TEST(csv_checks_struct_size)
{
    static const char text[] = "1,2,0\n3,4,1\n";
    hg_dataset *d = NULL;
    hg_error err;
    hg_csv_options o;
    memset(&o, 0, sizeof o);
    ck_assert_int_eq(hg_dataset_load_memory_csv("t.csv", text, sizeof text - 1, &o, &d, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "t.csv: hg_csv_options.struct_size is 0"));
    NEWER(hg_csv_options, 8) big;
    hg_csv_options_init_sized(&big.s, sizeof big);
    ck_assert_int_eq(hg_dataset_load_memory_csv("t.csv", text, sizeof text - 1, &big.s, &d,
                                                &err), HG_OK);
    ck_assert_uint_eq(d->rows, 2);
    hg_dataset_free(d);
}
END_TEST

START_TEST(schema_checks_struct_size)
{
    static const char text[] = "1,2,0\n3,4,1\n";
    hg_dataset *d = NULL;
    hg_error err;
    hg_csv_options o;
    hg_csv_options_init(&o);
    ck_assert_int_eq(hg_dataset_load_memory_csv("t.csv", text, sizeof text - 1, &o, &d, &err),
                     HG_OK);

    /* hg_dataset_schema fills a newer caller's struct, zeroes its tail, sets its size */
    NEWER(hg_data_schema, 16) big;
    memset(&big, 0xA5, sizeof big);
    hg_dataset_schema_sized(d, &big.s, sizeof big);
    ck_assert_uint_eq(big.s.struct_size, sizeof big);
    ck_assert_uint_eq(big.s.features, 2);
    ck_assert_uint_eq(big.s.nclasses, 2);
    for (size_t i = 0; i < sizeof big.tail; i++)
        ck_assert_uint_eq(big.tail[i], 0);
    /* too small for the first layout: nothing written */
    unsigned char small[sizeof(hg_data_schema)];
    memset(small, 0xA5, sizeof small);
    hg_dataset_schema_sized(d, (hg_data_schema *)(void *)small,
                            offsetof(hg_data_schema, source));
    for (size_t i = 0; i < sizeof small; i++)
        ck_assert_uint_eq(small[i], 0xA5);

    /* ... and is then a schema the loaders read */
    hg_dataset *d2 = NULL;
    char path[] = "/tmp/hg_test_abi_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    ck_assert_msg(hg_dataset_load_csv_as(path, &o, &big.s, &d2, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_free(d2);
    big.tail[3] = 1; /* an option of newer headers */
    ck_assert_int_eq(hg_dataset_load_csv_as(path, &o, &big.s, &d2, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_data_schema sets byte"));
    hg_data_schema z;
    memset(&z, 0, sizeof z); /* never initialised */
    ck_assert_int_eq(hg_dataset_load_libsvm_as(path, &z, &d2, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_data_schema_init()"));
    ck_assert_int_eq(hg_dataset_load_idx_as(path, NULL, &z, &d2, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(d2);
    remove(path);
    hg_dataset_free(d);
}
END_TEST

START_TEST(csr_desc_checks_struct_size)
{
    static const size_t ptr[] = {0, 2, 3};
    static const uint32_t cols[] = {0, 3, 1};
    static const float vals[] = {1, 2, 3};
    static const int32_t labels[] = {0, 1};
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = 4, .outputs = 2};
    hg_csr_desc use;
    hg_error err;
    /* hg_csr_desc_init fills a newer caller's struct: zero tail, its size */
    NEWER(hg_csr_desc, 16) big;
    memset(&big, 0xA5, sizeof big);
    hg_csr_desc_init_sized(&big.s, sizeof big);
    ck_assert_uint_eq(big.s.struct_size, sizeof big);
    ck_assert_ptr_null(big.s.row_ptr);
    for (size_t i = 0; i < sizeof big.tail; i++)
        ck_assert_uint_eq(big.tail[i], 0);
    big.s.rows = 2;
    big.s.inputs = 4;
    big.s.row_ptr = ptr;
    big.s.cols = cols;
    big.s.vals = vals;
    big.s.labels = labels;
    ck_assert_msg(hg__csr_check(&big.s, &m, &use, &err) == HG_OK, "%s", err.message);
    ck_assert_uint_eq(use.struct_size, sizeof use);
    big.tail[5] = 1; /* a field of newer headers */
    ck_assert_int_eq(hg__csr_check(&big.s, &m, &use, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_csr_desc sets byte"));
    hg_csr_desc z;
    memset(&z, 0, sizeof z); /* never initialised */
    ck_assert_int_eq(hg__csr_check(&z, &m, &use, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "hg_csr_desc_init()"));
    /* hg_csr_desc_of: a loaded set's description, into a newer struct */
    hg_csr_dataset *d = NULL;
    static const char text[] = "1 1:1 4:2\n2 2:3\n";
    ck_assert(hg_dataset_load_memory_libsvm_csr("t", text, sizeof text - 1, NULL, &d, &err) ==
              HG_OK);
    memset(&big, 0xA5, sizeof big);
    hg_csr_desc_of_sized(d, &big.s, sizeof big);
    ck_assert_uint_eq(big.s.struct_size, sizeof big);
    ck_assert_uint_eq(big.s.rows, 2);
    ck_assert_ptr_eq(big.s.cols, d->cols);
    for (size_t i = 0; i < sizeof big.tail; i++)
        ck_assert_uint_eq(big.tail[i], 0);
    ck_assert_msg(hg__csr_check(&big.s, &m, &use, &err) == HG_OK, "%s", err.message);
    hg_csr_dataset_free(d);
}
END_TEST

/* ---- the sized results, on a real engine ----------------------------------- */

START_TEST(result_functions_honour_sizes)
{
    enum { N = 32, D = 4, C = 2, P = D * C + C };
    float x[N * D], params[P] = {0}, grad[P];
    int32_t labels[N];
    for (size_t i = 0; i < N * D; i++)
        x[i] = (float)(i % 5) - 2.0f;
    for (size_t r = 0; r < N; r++)
        labels[r] = (int32_t)(r % C);
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};
    hg_dataset_desc data = {N, D, x, NULL, labels};
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.devices = "pthread";
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &m, &e, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_set_data(e, &data, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_gradient(e, params, 0, N, grad, NULL, &err) == HG_OK, "%s",
                  err.message);

    NEWER(hg_device_step, 24) step;
    memset(&step, 0xA5, sizeof step);
    ck_assert_int_eq(hg_engine_last_step_sized(e, 0, &step.s, sizeof step), HG_OK);
    ck_assert_uint_eq(step.s.rows, N);
    for (size_t i = 0; i < sizeof step.tail; i++)
        ck_assert_uint_eq(step.tail[i], 0);
    ck_assert_int_eq(hg_engine_last_step_sized(e, 0, &step.s, offsetof(hg_device_step, end_ms)),
                     HG_INVALID_ARGUMENT);

    NEWER(hg_device_profile, 24) prof;
    memset(&prof, 0xA5, sizeof prof);
    ck_assert_int_eq(hg_engine_device_profile_sized(e, 0, &prof.s, sizeof prof), HG_OK);
    ck_assert(prof.s.kernel[0] != '\0');
    for (size_t i = 0; i < sizeof prof.tail; i++)
        ck_assert_uint_eq(prof.tail[i], 0);
    ck_assert_int_eq(hg_engine_device_profile_sized(e, 0, &prof.s, 8), HG_INVALID_ARGUMENT);
    hg_engine_destroy(e);

    hg_device_list *l = NULL;
    ck_assert_int_eq(hg_device_list_create(&dev, &l, &err), HG_OK);
    size_t k = 0;
    while (k < hg_device_list_count(l) && !hg_device_list_get(l, k)->kept)
        k++;
    NEWER(hg_selftest_result, 16) r;
    memset(&r, 0xA5, sizeof r);
    ck_assert_msg(hg_device_selftest_sized(l, k, &r.s, sizeof r, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_uint_gt(r.s.elements, 0);
    for (size_t i = 0; i < sizeof r.tail; i++)
        ck_assert_uint_eq(r.tail[i], 0);
    ck_assert_int_eq(hg_device_selftest_sized(l, k, &r.s, 4, &err), HG_INVALID_ARGUMENT);
    hg_device_list_destroy(l);
}
END_TEST

/* ---- version -------------------------------------------------------------- */

START_TEST(version_number_agrees)
{
    ck_assert_int_eq(hg_version_number(), HETGRAD_VERSION_NUMBER);
    ck_assert_int_eq(HETGRAD_VERSION_NUMBER, HETGRAD_VERSION_MAJOR * 1000000 +
                                                 HETGRAD_VERSION_MINOR * 1000 +
                                                 HETGRAD_VERSION_PATCH);
    char s[32];
    int v = hg_version_number();
    snprintf(s, sizeof s, "%d.%d.%d", v / 1000000, v / 1000 % 1000, v % 1000);
    ck_assert_str_eq(s, hg_version_string());
    ck_assert_str_eq(s, HETGRAD_VERSION_STRING);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("abi");
    TCase *t = tcase_create("sized");
    tcase_add_test(t, sized_read_older_layout_keeps_defaults);
    tcase_add_test(t, sized_read_newer_layout);
    tcase_add_test(t, sized_read_refuses_uninitialised);
    tcase_add_test(t, sized_init_fills_only_the_callers_bytes);
    tcase_add_test(t, sized_write_clamps_and_zero_fills);
    tcase_add_test(t, options_init_and_defaults);
    tcase_add_test(t, enum_zero_is_the_default);
    tcase_add_test(t, device_list_checks_struct_size);
    tcase_add_test(t, engine_checks_both_struct_sizes);
    tcase_add_test(t, csv_checks_struct_size);
    tcase_add_test(t, schema_checks_struct_size);
    tcase_add_test(t, csr_desc_checks_struct_size);
    tcase_add_test(t, version_number_agrees);
    suite_add_tcase(s, t);
    TCase *dev = tcase_create("results");
    tcase_set_timeout(dev, 300);
    tcase_add_test(dev, result_functions_honour_sizes);
    suite_add_tcase(s, dev);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
