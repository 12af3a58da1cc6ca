/* SPDX-License-Identifier: MIT */
/*
 * test_devices.c - the device manager on the real test devices.
 *
 * HG_TEST_EXPECT lists, comma-separated, an entry for every device the test
 * environment must provide ("pthread,basic,oclgrind" for POCL + Oclgrind;
 * tests/test_expect.h).  A missing or extra device is a failure, never a skip.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "test_expect.h"

static test_expect ex;

static bool expected(const char *word)
{
    return test_expect_has(&ex, word);
}

static hg_device_list *make(const char *devices, bool keep_dups, bool use_env)
{
    hg_options o;
    hg_options_init(&o);
    o.devices = devices;
    o.keep_duplicates = keep_dups;
    o.use_environment = use_env;
    hg_device_list *l = NULL;
    hg_error e;
    hg_status st = hg_device_list_create(&o, &l, &e);
    ck_assert_msg(st == HG_OK, "hg_device_list_create: %s: %s", hg_status_name(st), e.message);
    ck_assert_ptr_nonnull(l);
    return l;
}

/* The one device that entry (a HG_TEST_EXPECT entry) describes, or NULL. */
static const hg_device_info *by_name(const hg_device_list *l, const char *entry)
{
    const hg_device_info *found = NULL;
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (test_expect_matches(entry, d->name, d->platform_name)) {
            ck_assert_msg(found == NULL, "two devices match \"%s\"", entry);
            found = d;
        }
    }
    return found;
}

/* The CPU device de-duplication keeps of those selected: the most compute
   units, and of those the first listed (docs/devices.md). */
static const hg_device_info *best_cpu(const hg_device_list *l)
{
    const hg_device_info *best = NULL;
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (d->type == HG_DEVICE_CPU && d->selected &&
            (!best || d->compute_units > best->compute_units))
            best = d;
    }
    return best;
}

START_TEST(every_expected_device_is_there)
{
    hg_device_list *l = make(NULL, true, false);
    ck_assert_uint_eq(hg_device_list_count(l), ex.n);
    for (size_t i = 0; i < ex.n; i++)
        ck_assert_msg(by_name(l, ex.entry[i]) != NULL, "expected device \"%s\" is missing",
                      ex.entry[i]);
    ck_assert_uint_eq(hg_device_list_kept_count(l), ex.n);
    ck_assert_uint_eq(hg_device_list_warning_count(l), 0);
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(classes_and_properties)
{
    hg_device_list *l = make(NULL, true, false);
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        ck_assert_uint_eq(d->index, i);
        ck_assert_msg(d->prop_failed == 0, "%s: failed properties 0x%llx", d->name,
                      (unsigned long long)d->prop_failed);
        ck_assert_str_ne(d->name, "");
        ck_assert(strncmp(d->opencl_version, "OpenCL ", 7) == 0);
        ck_assert_uint_ge(d->compute_units, 1);
        ck_assert_uint_gt(d->global_mem_bytes, 0);
        ck_assert_uint_gt(d->max_alloc_bytes, 0);
        ck_assert_uint_le(d->max_alloc_bytes, d->global_mem_bytes);
        ck_assert_uint_gt(d->local_mem_bytes, 0);
        ck_assert_uint_ge(d->max_work_group_size, 1);
        ck_assert(d->available);
        ck_assert(d->compiler_available);
        ck_assert_str_eq(d->platform_name, hg_device_list_platform(l, d->platform)->name);
    }
    const hg_device_info *d;
    if ((d = by_name(l, "pthread")) != NULL) {
        ck_assert_int_eq(d->type, HG_DEVICE_CPU);
        ck_assert(d->host_unified_memory);
    }
    if ((d = by_name(l, "basic")) != NULL) {
        ck_assert_int_eq(d->type, HG_DEVICE_CPU);
        ck_assert_uint_eq(d->compute_units, 1);
    }
    if ((d = by_name(l, "platform:Intel(R) OpenCL")) != NULL) {
        /* Intel's CPU runtime: the host's cores, named after the processor (as
           the end of POCL's names), with a UUID and no PCI address. */
        ck_assert_int_eq(d->type, HG_DEVICE_CPU);
        ck_assert(d->host_unified_memory);
        ck_assert(d->has_uuid && !d->has_pci);
        const hg_device_info *p = by_name(l, "pthread");
        ck_assert_msg(!p || hg__icontains(p->name, d->name), "%s / %s", p->name, d->name);
    }
    if ((d = by_name(l, "oclgrind")) != NULL) {
        /* Reports every type bit; accelerator wins (device.h). */
        ck_assert_int_eq(d->type, HG_DEVICE_ACCELERATOR);
        ck_assert_uint_eq(d->cl_type & 0xe, 0xe);
        ck_assert_uint_eq(d->global_mem_bytes, 128u << 20);
        ck_assert(!d->host_unified_memory);
    }
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(platforms_are_sorted_and_counted)
{
    hg_device_list *l = make(NULL, true, false);
    size_t total = 0;
    for (size_t p = 0; p < hg_device_list_platform_count(l); p++) {
        const hg_platform_info *pi = hg_device_list_platform(l, p);
        ck_assert_int_eq(pi->status, HG_OK);
        ck_assert_ptr_null(pi->error);
        total += pi->device_count;
        if (p > 0)
            ck_assert(strcmp(hg_device_list_platform(l, p - 1)->name, pi->name) <= 0);
    }
    ck_assert_uint_eq(total, hg_device_list_count(l));
    ck_assert_ptr_null(hg_device_list_platform(l, hg_device_list_platform_count(l)));
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(default_dedup_keeps_one_cpu_view)
{
    hg_device_list *l = make(NULL, false, false);
    const hg_device_info *pthread = by_name(l, "pthread");
    const hg_device_info *basic = by_name(l, "basic");
    const hg_device_info *keep = best_cpu(l);
    size_t ncpu = 0;
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (d->type != HG_DEVICE_CPU)
            continue;
        ncpu++;
        ck_assert(d->selected);
        if (d == keep) {
            ck_assert_msg(d->kept, "%s set aside: %s", d->name, d->reason);
            continue;
        }
        ck_assert_msg(!d->kept, "%s kept beside %s", d->name, keep->name);
        ck_assert_int_eq(d->duplicate_of, (long)keep->index);
        ck_assert_ptr_nonnull(strstr(d->reason, keep->id));
        ck_assert_ptr_nonnull(strstr(d->reason, "shares the host CPU"));
    }
    ck_assert_uint_eq(ncpu, test_expect_cpus(&ex));
    /* POCL alone: pthread (two units) over basic, which POCL lists first. */
    if (ncpu == 2 && expected("pthread") && expected("basic"))
        ck_assert_ptr_eq(keep, pthread);
    ck_assert(!basic->kept);
    const hg_device_info *ocl = by_name(l, "oclgrind");
    if (ocl)
        ck_assert(ocl->kept);
    ck_assert_uint_eq(hg_device_list_kept_count(l), ex.n - (ncpu - 1));
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(ids_are_stable_and_unique)
{
    hg_device_list *a = make(NULL, true, false);
    hg_device_list *b = make(NULL, true, false);
    ck_assert_uint_eq(hg_device_list_count(a), hg_device_list_count(b));
    for (size_t i = 0; i < hg_device_list_count(a); i++) {
        const hg_device_info *d = hg_device_list_get(a, i);
        ck_assert_str_eq(d->id, hg_device_list_get(b, i)->id);
        ck_assert_ptr_eq(hg_device_list_find(a, d->id), d);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(d->id, hg_device_list_get(a, j)->id);
    }
    ck_assert_ptr_null(hg_device_list_find(a, "hg-0000000000000000"));
    ck_assert_ptr_null(hg_device_list_find(a, NULL));
    hg_device_list_destroy(a);
    hg_device_list_destroy(b);
}
END_TEST

START_TEST(environment_selection)
{
    if (!expected("basic") || !expected("pthread"))
        return;
    setenv("HETGRAD_DEVICES", "basic", 1);
    hg_device_list *l = make(NULL, false, true);
    ck_assert(by_name(l, "basic")->kept);
    ck_assert(!by_name(l, "pthread")->kept);
    ck_assert(!by_name(l, "pthread")->selected);
    ck_assert_str_eq(by_name(l, "pthread")->reason, "not selected by HETGRAD_DEVICES");
    ck_assert_uint_eq(hg_device_list_kept_count(l), 1);
    hg_device_list_destroy(l);

    /* Preference decides which CPU view survives de-duplication. */
    setenv("HETGRAD_DEVICES", "basic,pthread", 1);
    l = make(NULL, false, true);
    ck_assert(by_name(l, "basic")->kept);
    ck_assert(!by_name(l, "pthread")->kept);
    hg_device_list_destroy(l);

    /* Environment and API both apply. */
    setenv("HETGRAD_DEVICES", "-basic", 1);
    l = make("cpu", false, true);
    ck_assert(by_name(l, "pthread")->selected);
    ck_assert(!by_name(l, "basic")->selected);
    ck_assert(best_cpu(l)->kept); /* pthread, or Intel's device listed before it */
    ck_assert_uint_eq(hg_device_list_kept_count(l), 1);
    hg_device_list_destroy(l);

    /* use_environment = false ignores it. */
    l = make(NULL, true, false);
    ck_assert(by_name(l, "basic")->kept);
    hg_device_list_destroy(l);

    /* A word that names nothing is an error, not an empty list. */
    setenv("HETGRAD_DEVICES", "cpu,pthraed", 1);
    hg_options o;
    hg_options_init(&o);
    hg_device_list *bad = (hg_device_list *)1;
    hg_error e;
    ck_assert_int_eq(hg_device_list_create(&o, &bad, &e), HG_BAD_SELECTION);
    ck_assert_ptr_null(bad);
    ck_assert_ptr_nonnull(strstr(e.message, "pthraed"));
    unsetenv("HETGRAD_DEVICES");

    /* devices_source names the expression as its caller knows it (a tool's option). */
    o.devices = "nonsense";
    o.devices_source = "--devices";
    ck_assert_int_eq(hg_device_list_create(&o, &bad, &e), HG_BAD_SELECTION);
    ck_assert_msg(strstr(e.message, "--devices") && !strstr(e.message, "hg_options"),
                  "%s", e.message);
    o.devices = "pthread";
    hg_device_list *l2 = NULL;
    ck_assert_int_eq(hg_device_list_create(&o, &l2, &e), HG_OK);
    ck_assert_str_eq(by_name(l2, "basic")->reason, "not selected by --devices");
    hg_device_list_destroy(l2);
}
END_TEST

START_TEST(type_mask)
{
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.device_types = HG_DEVICE_ACCELERATOR;
    hg_device_list *l = NULL;
    hg_error e;
    ck_assert_int_eq(hg_device_list_create(&o, &l, &e), HG_OK);
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        ck_assert(d->kept == (d->type == HG_DEVICE_ACCELERATOR));
    }
    hg_device_list_destroy(l);
    o.device_types = 0x100;
    ck_assert_int_eq(hg_device_list_create(&o, &l, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_device_list_create(&o, NULL, &e), HG_INVALID_ARGUMENT);
}
END_TEST

START_TEST(selftest_on_every_device)
{
    hg_device_list *l = make(NULL, true, false);
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        hg_selftest_result r;
        hg_error e;
        hg_status st = hg_device_selftest(l, i, &r, &e);
        ck_assert_msg(st == HG_OK, "self-test on %s: %s", hg_device_list_get(l, i)->name,
                      e.message);
        ck_assert_uint_gt(r.elements, 3000);
        ck_assert(r.build_ms >= 0 && r.run_ms >= 0);
    }
    hg_error e;
    ck_assert_int_eq(hg_device_selftest(l, 999, NULL, &e), HG_RANGE);
    ck_assert_ptr_nonnull(strstr(e.message, "999"));
    ck_assert_int_eq(hg_device_selftest(NULL, 0, NULL, &e), HG_INVALID_ARGUMENT);
    hg_device_list_destroy(l);
}
END_TEST

static int log_calls;
static void count_log(void *user, hg_log_level level, const char *msg)
{
    (void)level;
    (void)msg;
    ck_assert_ptr_eq(user, &log_calls);
    log_calls++;
}

START_TEST(null_safety_and_logging)
{
    ck_assert_uint_eq(hg_device_list_count(NULL), 0);
    ck_assert_uint_eq(hg_device_list_platform_count(NULL), 0);
    ck_assert_uint_eq(hg_device_list_kept_count(NULL), 0);
    ck_assert_uint_eq(hg_device_list_warning_count(NULL), 0);
    ck_assert_ptr_null(hg_device_list_get(NULL, 0));
    ck_assert_ptr_null(hg_device_list_warning(NULL, 0));
    hg_device_list_destroy(NULL);
    hg_options_init(NULL);
    ck_assert(!hg_device_prop_ok(NULL, HG_PROP_NAME));
    ck_assert_ptr_null(hg_prop_name(HG_PROP_COUNT_));
    ck_assert_str_eq(hg_prop_name(HG_PROP_GLOBAL_MEM), "global_mem_bytes");

    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.log = count_log;
    o.log_user = &log_calls;
    o.log_level = HG_LOG_DEBUG;
    hg_device_list *l = NULL;
    ck_assert_int_eq(hg_device_list_create(&o, &l, NULL), HG_OK);
    ck_assert_int_ge(log_calls, 1);
    hg_device_list_destroy(l);
    ck_assert_int_eq(hg_device_list_create(NULL, &l, NULL), HG_OK); /* defaults */
    hg_device_list_destroy(l);
}
END_TEST

int main(void)
{
    test_expect_load(&ex);
    Suite *s = suite_create("devices");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_expected_device_is_there);
    tcase_add_test(tc, classes_and_properties);
    tcase_add_test(tc, platforms_are_sorted_and_counted);
    tcase_add_test(tc, default_dedup_keeps_one_cpu_view);
    tcase_add_test(tc, ids_are_stable_and_unique);
    tcase_add_test(tc, environment_selection);
    tcase_add_test(tc, type_mask);
    tcase_add_test(tc, selftest_on_every_device);
    tcase_add_test(tc, null_safety_and_logging);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
