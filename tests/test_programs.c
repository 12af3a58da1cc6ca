/*
 * test_programs.c - the program cache and prebuilt binaries on the real test
 * devices: compile once and load from the cache afterwards; a corrupt cache
 * entry is rebuilt; exported binaries run with the compiler forced off; a
 * missing binary is a clear error naming the file.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_knobs.h"
#include "internal.h"

static char cache[256], bins[256];

static void make_dirs(void)
{
    snprintf(cache, sizeof cache, "/tmp/hg-test-cache-XXXXXX");
    snprintf(bins, sizeof bins, "/tmp/hg-test-bins-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cache));
    ck_assert_ptr_nonnull(mkdtemp(bins));
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

enum { N = 40, D = 4, C = 3, P = D * C + C };
static float x[N * D], params[P];
static int32_t labels[N];
static const hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};

static void make_data(void)
{
    for (int i = 0; i < N * D; i++)
        x[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
    for (int i = 0; i < N; i++)
        labels[i] = i % C;
    for (int i = 0; i < P; i++)
        params[i] = (float)((i * 13) % 7) / 10.0f - 0.3f;
}

static hg_engine *engine(bool offline, bool no_cache, hg_status want, hg_error *err)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.cache_dir = cache;
    o.no_program_cache = no_cache;
    o.binary_dir = bins;
    const hg__engine_knobs k = {.offline = offline};
    hg_engine *e = NULL;
    hg_status st = hg__engine_create_knobs(&o, &k, &model, &e, err);
    ck_assert_msg(st == want, "hg_engine_create: %s (%s)", hg_status_name(st), err->message);
    return e;
}

/* The engine's gradient equals the double reference. */
static void check_gradient(hg_engine *e)
{
    hg_error err;
    hg_dataset_desc data = {N, D, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &data, &err) == HG_OK, "%s", err.message);
    float g[P];
    double loss, rl, ref[P];
    ck_assert_msg(hg_engine_gradient(e, params, 0, N, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_int_eq(hg_reference_loss_grad(&model, params, &data, 0, N, NULL, &rl, ref, &err),
                     HG_OK);
    double maxd = 0, maxr = 0;
    for (int i = 0; i < P; i++) {
        maxd = fmax(maxd, fabs(g[i] - ref[i] / N));
        maxr = fmax(maxr, fabs(ref[i] / N));
    }
    ck_assert_msg(maxd <= 1e-4 * maxr, "gradient error %g", maxd);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Programs the engine built: each device's model program and those of the
   kernel it computes with (fused: one; tiled GEMM: two). */
static size_t programs(const hg_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile p;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &p), HG_OK);
        n += 1 + (!strncmp(p.kernel, "fused", 5) ? 1 : !strncmp(p.kernel, "tiled", 5) ? 2 : 0);
    }
    return n;
}

static void expect_origin(hg_engine *e, const char *origin)
{
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        ck_assert_msg(!strcmp(hg_engine_program_origin(e, i), origin), "%s: %s, want %s",
                      hg_engine_device(e, i)->name, hg_engine_program_origin(e, i), origin);
}

START_TEST(compiled_once_then_cached)
{
    make_dirs();
    make_data();
    hg_error err;
    hg_engine *e = engine(false, false, HG_OK, &err);
    expect_origin(e, "source");
    check_gradient(e);
    hg_engine_destroy(e);
    ck_assert_uint_eq(count_files(cache), programs(e = engine(false, false, HG_OK, &err)));
    expect_origin(e, "cache");
    check_gradient(e);
    hg_engine_destroy(e);

    /* Corrupt every entry: detected, rebuilt, replaced. */
    DIR *d = opendir(cache);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", cache, de->d_name);
        FILE *f = fopen(path, "r+b");
        ck_assert_ptr_nonnull(f);
        fseek(f, -5, SEEK_END);
        fputc(0x5a, f);
        fclose(f);
    }
    closedir(d);
    e = engine(false, false, HG_OK, &err);
    expect_origin(e, "source");
    check_gradient(e);
    hg_engine_destroy(e);
    e = engine(false, false, HG_OK, &err);
    expect_origin(e, "cache");
    hg_engine_destroy(e);

    /* No cache: always compiled. */
    e = engine(false, true, HG_OK, &err);
    expect_origin(e, "source");
    hg_engine_destroy(e);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

START_TEST(prebuilt_binaries_without_compiler)
{
    make_dirs();
    make_data();
    hg_error err;
    /* Nothing exported yet: a clear error naming the file looked for. */
    hg_engine *e = engine(true, false, HG_BUILD, &err);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(strstr(err.message, bins));
    ck_assert_ptr_nonnull(strstr(err.message, "model.bin"));
    ck_assert_ptr_nonnull(strstr(err.message, "offline"));

    e = engine(false, false, HG_OK, &err);
    ck_assert_msg(hg_engine_export_binaries(e, bins, &err) == HG_OK, "%s", err.message);
    hg_engine_destroy(e);

    e = engine(true, false, HG_OK, &err);
    expect_origin(e, "prebuilt");
    check_gradient(e); /* runs with hetgrad's own GEMM: no CLBlast without a compiler */
    hg_engine_destroy(e);
    ck_assert_int_eq(hg_engine_export_binaries(NULL, bins, &err), HG_INVALID_ARGUMENT);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("programs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, compiled_once_then_cached);
    tcase_add_test(tc, prebuilt_binaries_without_compiler);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
