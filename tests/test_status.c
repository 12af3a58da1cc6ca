/* SPDX-License-Identifier: MIT */
/* test_status.c - the status table, OpenCL error names and hg_error. */
#include <check.h>
#include <string.h>

#include "internal.h"

START_TEST(every_status_has_name_and_message)
{
    for (int s = 0; s < HG_STATUS_COUNT_; s++) {
        const char *name = hg_status_name((hg_status)s);
        ck_assert_ptr_nonnull(name);
        ck_assert(strncmp(name, "HG_", 3) == 0);
        ck_assert_str_ne(name, "HG_UNKNOWN");
        ck_assert_ptr_nonnull(hg_strerror((hg_status)s));
        ck_assert_str_ne(hg_strerror((hg_status)s), "unknown status");
        for (int t = 0; t < s; t++)
            ck_assert_str_ne(name, hg_status_name((hg_status)t));
    }
    ck_assert_str_eq(hg_status_name(HG_OK), "HG_OK");
    ck_assert_str_eq(hg_status_name(HG_NO_DEVICE), "HG_NO_DEVICE");
    ck_assert_str_eq(hg_strerror(HG_OK), "success");
}
END_TEST

START_TEST(out_of_range_status)
{
    ck_assert_str_eq(hg_status_name(HG_STATUS_COUNT_), "HG_UNKNOWN");
    ck_assert_str_eq(hg_status_name((hg_status)-1), "HG_UNKNOWN");
    ck_assert_str_eq(hg_strerror((hg_status)12345), "unknown status");
}
END_TEST

START_TEST(cl_error_names)
{
    ck_assert_str_eq(hg_cl_error_name(0), "CL_SUCCESS");
    ck_assert_str_eq(hg_cl_error_name(-5), "CL_OUT_OF_RESOURCES");
    ck_assert_str_eq(hg_cl_error_name(-11), "CL_BUILD_PROGRAM_FAILURE");
    ck_assert_str_eq(hg_cl_error_name(-54), "CL_INVALID_WORK_GROUP_SIZE");
    ck_assert_str_eq(hg_cl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    ck_assert_str_eq(hg_cl_error_name(-9999), "CL_UNKNOWN_ERROR");
    ck_assert_str_eq(hg_cl_error_name(7), "CL_UNKNOWN_ERROR");
    /* Every code from -1 to -19 and -30 to -72 has a name. */
    for (int c = -1; c >= -72; c--) {
        if (c < -19 && c > -30)
            continue;
        ck_assert_str_ne(hg_cl_error_name(c), "CL_UNKNOWN_ERROR");
    }
}
END_TEST

START_TEST(error_set_and_cl_fail)
{
    hg_error e;
    hg_error_clear(&e);
    ck_assert_int_eq(e.status, HG_OK);
    ck_assert_str_eq(e.message, "");

    ck_assert_int_eq(hg__cl_fail(&e, -5, "clEnqueueNDRangeKernel on %s", "dev"), HG_OPENCL);
    ck_assert_int_eq(e.status, HG_OPENCL);
    ck_assert_int_eq(e.cl_code, -5);
    ck_assert_str_eq(e.message, "clEnqueueNDRangeKernel on dev: CL_OUT_OF_RESOURCES (-5)");

    ck_assert_int_eq(hg__cl_fail(&e, -6, "clCreateBuffer"), HG_OUT_OF_MEMORY);

    ck_assert_int_eq(hg__error_set(&e, HG_RANGE, 0, "index %d", 7), HG_RANGE);
    ck_assert_str_eq(e.message, "index 7");

    /* NULL err is allowed everywhere. */
    ck_assert_int_eq(hg__error_set(NULL, HG_IO, 0, "x"), HG_IO);
    ck_assert_int_eq(hg__cl_fail(NULL, -30, "x"), HG_OPENCL);
    hg_error_clear(NULL);
}
END_TEST

START_TEST(long_messages_truncate_safely)
{
    hg_error e;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hg__cl_fail(&e, -5, "%s", big);
    ck_assert_uint_eq(strlen(e.message), HG_ERROR_MESSAGE_MAX - 1);
    hg__error_set(&e, HG_IO, 0, "%s", big);
    ck_assert_uint_eq(strlen(e.message), HG_ERROR_MESSAGE_MAX - 1);
}
END_TEST

START_TEST(version_string)
{
    ck_assert_str_eq(hg_version_string(), HETGRAD_VERSION_STRING);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_status_has_name_and_message);
    tcase_add_test(tc, out_of_range_status);
    tcase_add_test(tc, cl_error_names);
    tcase_add_test(tc, error_set_and_cl_fail);
    tcase_add_test(tc, long_messages_truncate_safely);
    tcase_add_test(tc, version_string);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
