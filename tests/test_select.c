/* SPDX-License-Identifier: MIT */
/* test_select.c - selection expressions (HETGRAD_DEVICES syntax), no device. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "fake_devices.h"

enum { N = 5 };
static hg_device_info devs[N];
static bool pass[N];
static size_t rank_[N];

static void setup(void)
{
    devs[0] = fake_device(0, "hg-0000000000000001", "Portable Computing Language",
                          "basic-skylake", HG_DEVICE_CPU, 1);
    devs[1] = fake_device(1, "hg-0000000000000002", "Portable Computing Language",
                          "pthread-skylake", HG_DEVICE_CPU, 2);
    devs[2] = fake_device(2, "hg-0000000000000003", "Oclgrind", "Oclgrind Simulator",
                          HG_DEVICE_ACCELERATOR, 1);
    devs[3] = fake_device(3, "hg-0000000000000004", "NVIDIA CUDA", "NVIDIA H100", HG_DEVICE_GPU, 132);
    devs[3].vendor = "NVIDIA Corporation";
    devs[4] = fake_device(4, "hg-0000000000000005", "Fake", "Widget", HG_DEVICE_CUSTOM, 1);
    for (size_t i = 0; i < N; i++) {
        pass[i] = false;
        rank_[i] = SIZE_MAX;
    }
}

static hg_status sel(const char *expr, hg_error *e)
{
    for (size_t i = 0; i < N; i++) {
        pass[i] = false;
        rank_[i] = SIZE_MAX;
    }
    return hg__select_apply(expr, "HETGRAD_DEVICES", devs, N, pass, rank_, 0, e);
}

/* "10100" style: which devices pass. */
static void expect(const char *expr, const char *want)
{
    hg_error e;
    ck_assert_msg(sel(expr, &e) == HG_OK, "%s: %s", expr, e.message);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(pass[i] == (want[i] == '1'), "expr \"%s\": device %zu pass=%d, want %c",
                      expr, i, pass[i], want[i]);
}

START_TEST(blank_selects_all)
{
    expect("", "11111");
    expect("   ", "11111");
    expect("all", "11111");
    expect("*", "11111");
}
END_TEST

START_TEST(types)
{
    expect("cpu", "11000");
    expect("gpu", "00010");
    expect("accelerator", "00100");
    expect("fpga", "00100");
    expect("acc", "00100");
    expect("custom", "00001");
    expect("cpu,gpu", "11010");
    expect(" CPU , Gpu ", "11010");
}
END_TEST

START_TEST(names_and_prefixes)
{
    expect("pthread", "01000");
    expect("PTHREAD", "01000");
    expect("name:oclgrind", "00100");
    expect("platform:portable", "11000");
    expect("nvidia", "00010");          /* vendor and platform match */
    expect("id:hg-0000000000000003", "00100");
    expect("hg-0000000000000005", "00001"); /* bare id */
    expect("Oclgrind Simulator", "00100");  /* spaces inside a term */
}
END_TEST

START_TEST(exclusions)
{
    expect("-basic", "01111");
    expect("!basic", "01111");
    expect("cpu,-basic", "01000");
    expect("-cpu", "00111");
    expect("all,-oclgrind,-custom", "11010");
    expect("pthread,-pthread", "00000"); /* exclusion wins */
}
END_TEST

START_TEST(rank_is_first_matching_include_term)
{
    hg_error e;
    ck_assert_int_eq(sel("oclgrind,pthread,cpu", &e), HG_OK);
    ck_assert_uint_eq(rank_[2], 0);
    ck_assert_uint_eq(rank_[1], 1);
    ck_assert_uint_eq(rank_[0], 2);
    ck_assert_uint_eq(rank_[3], SIZE_MAX);
    /* rank_base offsets ranks */
    for (size_t i = 0; i < N; i++)
        rank_[i] = SIZE_MAX;
    ck_assert_int_eq(hg__select_apply("cpu", "x", devs, N, pass, rank_, 100, &e), HG_OK);
    ck_assert_uint_eq(rank_[0], 100);
}
END_TEST

START_TEST(unknown_word_is_an_error)
{
    hg_error e;
    ck_assert_int_eq(sel("gpu,tesla", &e), HG_BAD_SELECTION);
    ck_assert_int_eq(e.status, HG_BAD_SELECTION);
    ck_assert_ptr_nonnull(strstr(e.message, "HETGRAD_DEVICES"));
    ck_assert_ptr_nonnull(strstr(e.message, "\"tesla\""));
    ck_assert_ptr_nonnull(strstr(e.message, "pthread-skylake")); /* lists what exists */

    ck_assert_int_eq(sel("-tesla", &e), HG_BAD_SELECTION);   /* typos in exclusions too */
    ck_assert_int_eq(sel("name:zzz", &e), HG_BAD_SELECTION);
    ck_assert_ptr_nonnull(strstr(e.message, "no device name contains"));
    ck_assert_int_eq(sel("platform:zzz", &e), HG_BAD_SELECTION);
    ck_assert_int_eq(sel("id:hg-ffff", &e), HG_BAD_SELECTION);
}
END_TEST

START_TEST(malformed_expressions)
{
    hg_error e;
    ck_assert_int_eq(sel("cpu,,gpu", &e), HG_BAD_SELECTION);
    ck_assert_ptr_nonnull(strstr(e.message, "empty term"));
    ck_assert_int_eq(sel(",", &e), HG_BAD_SELECTION);
    ck_assert_int_eq(sel("cpu,", &e), HG_BAD_SELECTION);
    ck_assert_int_eq(sel("-", &e), HG_BAD_SELECTION);
    ck_assert_int_eq(sel("!  ", &e), HG_BAD_SELECTION);
    ck_assert_int_eq(hg__select_apply(NULL, "x", devs, N, pass, rank_, 0, &e),
                     HG_INVALID_ARGUMENT);
}
END_TEST

START_TEST(no_devices)
{
    hg_error e;
    /* type words are fine with no devices, names are not */
    ck_assert_int_eq(hg__select_apply("gpu", "x", NULL, 0, NULL, NULL, 0, &e), HG_OK);
    ck_assert_int_eq(hg__select_apply("pthread", "x", NULL, 0, NULL, NULL, 0, &e),
                     HG_BAD_SELECTION);
    ck_assert_ptr_nonnull(strstr(e.message, "no OpenCL device was found"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("select");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, blank_selects_all);
    tcase_add_test(tc, types);
    tcase_add_test(tc, names_and_prefixes);
    tcase_add_test(tc, exclusions);
    tcase_add_test(tc, rank_is_first_matching_include_term);
    tcase_add_test(tc, unknown_word_is_an_error);
    tcase_add_test(tc, malformed_expressions);
    tcase_add_test(tc, no_devices);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
