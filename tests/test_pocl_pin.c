/* SPDX-License-Identifier: MIT */
/*
 * test_pocl_pin.c - the tools' POCL_AFFINITY setting (tools/pocl_pin.h): set when
 * unset and the process may run on every online CPU; never over the user's value;
 * not set in a process restricted to fewer CPUs (POCL would pin a thread outside them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "pocl_pin.h"

/* Whether this thread may run on every online CPU, 0 .. n-1. */
static bool every_cpu(const cpu_set_t *set, long n)
{
    for (long c = 0; c < n; c++)
        if (!CPU_ISSET((int)c, set))
            return false;
    return true;
}

START_TEST(the_users_value_stands)
{
    ck_assert_int_eq(setenv("POCL_AFFINITY", "0", 1), 0);
    ck_assert(!tool_pin_pocl_threads());
    ck_assert_str_eq(getenv("POCL_AFFINITY"), "0");
    ck_assert_int_eq(setenv("POCL_AFFINITY", "1", 1), 0);
    ck_assert(!tool_pin_pocl_threads()); /* set already: not by this call */
    ck_assert_str_eq(getenv("POCL_AFFINITY"), "1");
    ck_assert_int_eq(unsetenv("POCL_AFFINITY"), 0);
}
END_TEST

START_TEST(set_only_where_every_cpu_is_allowed)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t all;
    CPU_ZERO(&all);
    ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
    bool full = n >= 1 && every_cpu(&all, n);
    ck_assert_int_eq(unsetenv("POCL_AFFINITY"), 0);
    ck_assert(tool_pin_pocl_threads() == full);
    if (full)
        ck_assert_str_eq(getenv("POCL_AFFINITY"), "1");
    else
        ck_assert_ptr_null(getenv("POCL_AFFINITY"));
    ck_assert_int_eq(unsetenv("POCL_AFFINITY"), 0);
    if (!full || n < 2)
        return; /* no CPU to leave out here */
    /* restricted to the last CPU (as taskset -c would): not set */
    cpu_set_t last;
    CPU_ZERO(&last);
    CPU_SET((int)(n - 1), &last);
    ck_assert_int_eq(sched_setaffinity(0, sizeof last, &last), 0);
    ck_assert(!tool_pin_pocl_threads());
    ck_assert_ptr_null(getenv("POCL_AFFINITY"));
    ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
    ck_assert(tool_pin_pocl_threads());
    ck_assert_str_eq(getenv("POCL_AFFINITY"), "1");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pocl_pin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, the_users_value_stands);
    tcase_add_test(tc, set_only_where_every_cpu_is_allowed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
