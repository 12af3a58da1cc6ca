/* SPDX-License-Identifier: MIT */
/*
 * test_roofline.c - bench/roofline.c's device memory roof on the real test
 * devices: the summing kernel runs (Oclgrind checks it for out-of-bounds
 * reads and races), its sum is checked, a device sharing the host's memory
 * defers to the host's bandwidth, and a missing device is an error.
 */
#define _POSIX_C_SOURCE 200809L
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roofline.h"
#include "test_expect.h"

#define MAX_DEVS 16

typedef struct devs {
    char   name[MAX_DEVS][256];
    char   platform[MAX_DEVS][256];
    size_t n;
} devs;

/* Every OpenCL device of the loader, by name and platform name. */
static void list_devices(devs *d)
{
    cl_platform_id pl[8];
    cl_uint np = 0;
    memset(d, 0, sizeof *d);
    ck_assert_int_eq(clGetPlatformIDs(8, pl, &np), CL_SUCCESS);
    for (cl_uint p = 0; p < np && p < 8; p++) {
        char pname[256] = "";
        cl_device_id dv[MAX_DEVS];
        cl_uint nd = 0;
        clGetPlatformInfo(pl[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        if (clGetDeviceIDs(pl[p], CL_DEVICE_TYPE_ALL, MAX_DEVS, dv, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < nd && d->n < MAX_DEVS; i++, d->n++) {
            ck_assert_int_eq(clGetDeviceInfo(dv[i], CL_DEVICE_NAME, sizeof d->name[d->n],
                                             d->name[d->n], NULL), CL_SUCCESS);
            snprintf(d->platform[d->n], sizeof d->platform[d->n], "%s", pname);
        }
    }
}

static bool is_oclgrind(const char *platform)
{
    return strstr(platform, "Oclgrind") != NULL;
}

START_TEST(every_device_reads_its_buffer)
{
    test_expect ex;
    test_expect_load(&ex);
    devs d;
    list_devices(&d);
    ck_assert_uint_eq(d.n, ex.n); /* the set's devices, each measured: none skipped */
    for (size_t i = 0; i < d.n; i++) {
        char why[200] = "";
        /* Oclgrind simulates every work-item: 64 KiB, one timed read */
        bool sim = is_oclgrind(d.platform[i]);
        double gbs = hg__bench_device_read_gbs(d.name[i], sim ? (size_t)64 << 10
                                               : (size_t)16 << 20, sim ? 1 : 3, true, why,
                                               sizeof why);
        ck_assert_msg(gbs > 0, "%s: %s", d.name[i], why);
        ck_assert_msg(why[0] == '\0', "%s: %s", d.name[i], why);
    }
}
END_TEST

START_TEST(a_device_sharing_host_memory_defers_to_the_host)
{
    devs d;
    list_devices(&d);
    size_t shared = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (is_oclgrind(d.platform[i]))
            continue;
        char why[200] = "";
        double gbs = hg__bench_device_read_gbs(d.name[i], (size_t)16 << 20, 3, false, why,
                                               sizeof why);
        /* POCL's CPU devices share the host's memory; a discrete GPU is measured */
        if (strstr(why, "shares the host's memory")) {
            ck_assert(gbs == 0);
            shared++;
        } else {
            ck_assert_msg(gbs > 0, "%s: %s", d.name[i], why);
        }
    }
    ck_assert_uint_ge(shared, 1); /* every test set has POCL's CPU devices */
}
END_TEST

START_TEST(a_missing_device_is_an_error)
{
    char why[200] = "";
    ck_assert(hg__bench_device_read_gbs("no such device", 1 << 20, 1, true, why, sizeof why) == 0);
    ck_assert_ptr_nonnull(strstr(why, "no OpenCL device named \"no such device\""));
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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
