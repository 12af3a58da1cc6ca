/* SPDX-License-Identifier: MIT */
/*
 * test_roofline.c - bench/roofline.c's device memory roof on the real test
 * devices: the summing kernel runs (Oclgrind checks it for out-of-bounds
 * reads and races), its sum is checked, a device sharing the host's memory
 * defers to the host's bandwidth, and a missing device is an error; a roof
 * measured twice keeps the better and says whether the two agree.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roofline.h"
#include "test_expect.h"


static bool is_oclgrind(const hg_device_info *d)
{
    return test_expect_matches("oclgrind", d->name, d->platform_name);
}

START_TEST(every_device_reads_its_buffer)
{
    test_expect ex;
    test_expect_load(&ex);
    hg_device_list *l = test_all_devices();
    ck_assert_uint_eq(hg_device_list_count(l), ex.n); /* the set's devices: none skipped */
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        char why[200] = "";
        /* Oclgrind simulates every work-item: 64 KiB, one timed read */
        bool sim = is_oclgrind(d);
        double gbs = hg__bench_device_read_gbs(d->name, sim ? (size_t)64 << 10
                                               : (size_t)16 << 20, sim ? 1 : 3, true, why,
                                               sizeof why);
        ck_assert_msg(gbs > 0, "%s: %s", d->name, why);
        ck_assert_msg(why[0] == '\0', "%s: %s", d->name, why);
    }
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(a_device_sharing_host_memory_defers_to_the_host)
{
    hg_device_list *l = test_all_devices();
    size_t shared = 0;
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (is_oclgrind(d))
            continue;
        char why[200] = "";
        double gbs = hg__bench_device_read_gbs(d->name, (size_t)16 << 20, 3, false, why,
                                               sizeof why);
        /* POCL's CPU devices share the host's memory; a discrete GPU is measured */
        if (strstr(why, "shares the host's memory")) {
            ck_assert(gbs == 0);
            shared++;
        } else {
            ck_assert_msg(gbs > 0, "%s: %s", d->name, why);
        }
    }
    ck_assert_uint_ge(shared, 1); /* every test set has POCL's CPU devices */
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(a_missing_device_is_an_error)
{
    char why[200] = "";
    ck_assert(hg__bench_device_read_gbs("no such device", 1 << 20, 1, true, why, sizeof why) == 0);
    ck_assert_ptr_nonnull(strstr(why, "no OpenCL device named \"no such device\""));
}
END_TEST

/* A roof measured at a run's start and end: the better kept, 0 / NaN / negative as not
   measured; agreement within HG_BENCH_ROOF_AGREE of the higher, either way round. */
START_TEST(a_roof_measured_twice)
{
    ck_assert(hg__bench_roof_best(102.3, 196.5) == 196.5);
    ck_assert(hg__bench_roof_best(196.5, 102.3) == 196.5);
    ck_assert(hg__bench_roof_best(0, 27.4) == 27.4);
    ck_assert(hg__bench_roof_best(NAN, 27.4) == 27.4);
    ck_assert(hg__bench_roof_best(-1, NAN) == 0);
    ck_assert(hg__bench_roof_steady(196.5, 191.5));
    ck_assert(hg__bench_roof_steady(90, 100) && hg__bench_roof_steady(100, 90));
    ck_assert(!hg__bench_roof_steady(89.9, 100) && !hg__bench_roof_steady(100, 89.9));
    ck_assert(!hg__bench_roof_steady(102.3, 196.5));
    ck_assert(hg__bench_roof_steady(0, 196.5) && hg__bench_roof_steady(196.5, NAN));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("roofline");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_device_reads_its_buffer);
    tcase_add_test(tc, a_device_sharing_host_memory_defers_to_the_host);
    tcase_add_test(tc, a_missing_device_is_an_error);
    tcase_add_test(tc, a_roof_measured_twice);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
