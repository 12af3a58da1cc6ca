/* SPDX-License-Identifier: MIT */
/* test_dedup.c - one device per piece of hardware, no device needed. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dedup_speed.h"
#include "fake_devices.h"

enum { MAXN = 8 };
static hg_device_info devs[MAXN];
static size_t rank_[MAXN];
static char *reasons[MAXN];

static void reset_ranks(void)
{
    for (size_t i = 0; i < MAXN; i++)
        rank_[i] = SIZE_MAX;
}

static void run(size_t n, bool keep_all)
{
    ck_assert_int_eq(hg__dedup(devs, n, rank_, keep_all, reasons), HG_OK);
}

static void free_reasons(void)
{
    for (size_t i = 0; i < MAXN; i++) {
        free(reasons[i]);
        reasons[i] = NULL;
    }
}

START_TEST(cpu_views_keep_most_compute_units)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-a", "PoCL", "basic", HG_DEVICE_CPU, 1);
    devs[1] = fake_device(1, "hg-b", "PoCL", "pthread", HG_DEVICE_CPU, 2);
    devs[2] = fake_device(2, "hg-c", "Oclgrind", "Oclgrind Simulator", HG_DEVICE_ACCELERATOR, 1);
    run(3, false);
    ck_assert(!devs[0].kept);
    ck_assert_int_eq(devs[0].duplicate_of, 1);
    ck_assert_ptr_nonnull(strstr(devs[0].reason, "host CPU"));
    ck_assert_ptr_nonnull(strstr(devs[0].reason, "hg-b"));
    ck_assert(devs[1].kept);
    ck_assert_int_eq(devs[1].duplicate_of, -1);
    ck_assert(devs[2].kept);
    free_reasons();
}
END_TEST

START_TEST(cpu_user_preference_wins)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-a", "PoCL", "basic", HG_DEVICE_CPU, 1);
    devs[1] = fake_device(1, "hg-b", "PoCL", "pthread", HG_DEVICE_CPU, 2);
    rank_[0] = 0; /* "basic" named in the selection */
    run(2, false);
    ck_assert(devs[0].kept);
    ck_assert(!devs[1].kept);
    ck_assert_int_eq(devs[1].duplicate_of, 0);
    free_reasons();
}
END_TEST

START_TEST(cpu_tie_keeps_first)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-a", "A", "cpu a", HG_DEVICE_CPU, 4);
    devs[1] = fake_device(1, "hg-b", "B", "cpu b", HG_DEVICE_CPU, 4);
    run(2, false);
    ck_assert(devs[0].kept);
    ck_assert(!devs[1].kept);
    free_reasons();
}
END_TEST

START_TEST(gpus_match_by_pci_then_uuid)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-x", "Vendor", "GPU X", HG_DEVICE_GPU, 80);
    fake_pci(&devs[0], 1);
    devs[1] = fake_device(1, "hg-y", "Vendor", "GPU Y", HG_DEVICE_GPU, 60);
    fake_pci(&devs[1], 2);
    devs[2] = fake_device(2, "hg-x2", "Other", "GPU X again", HG_DEVICE_GPU, 80);
    fake_pci(&devs[2], 1);
    devs[3] = fake_device(3, "hg-z", "Vendor", "GPU Z", HG_DEVICE_GPU, 20);
    fake_uuid(&devs[3], 0x33);
    devs[4] = fake_device(4, "hg-z2", "Other", "GPU Z again", HG_DEVICE_GPU, 20);
    fake_uuid(&devs[4], 0x33);
    devs[5] = fake_device(5, "hg-w", "Other", "GPU W", HG_DEVICE_GPU, 20);
    fake_uuid(&devs[5], 0x44);
    devs[6] = fake_device(6, "hg-n", "Other", "GPU without ids", HG_DEVICE_GPU, 20);
    devs[7] = fake_device(7, "hg-n2", "Other", "GPU without ids", HG_DEVICE_GPU, 20);
    run(8, false);
    ck_assert(devs[0].kept);
    ck_assert(devs[1].kept);
    ck_assert(!devs[2].kept);
    ck_assert_int_eq(devs[2].duplicate_of, 0);
    ck_assert_ptr_nonnull(strstr(devs[2].reason, "PCI 0000:01:00.0"));
    ck_assert(devs[3].kept);
    ck_assert(!devs[4].kept);
    ck_assert_int_eq(devs[4].duplicate_of, 3);
    ck_assert_ptr_nonnull(strstr(devs[4].reason, "UUID 33333333-3333"));
    ck_assert(devs[5].kept);
    /* Nothing to match on: distinct, never merged by name. */
    ck_assert(devs[6].kept);
    ck_assert(devs[7].kept);
    free_reasons();
}
END_TEST

START_TEST(gpu_preference_picks_the_view)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-x", "Rusticl", "GPU X", HG_DEVICE_GPU, 80);
    fake_pci(&devs[0], 1);
    devs[1] = fake_device(1, "hg-x2", "Vendor", "GPU X", HG_DEVICE_GPU, 80);
    fake_pci(&devs[1], 1);
    rank_[1] = 0;
    run(2, false);
    ck_assert(!devs[0].kept);
    ck_assert_int_eq(devs[0].duplicate_of, 1);
    ck_assert(devs[1].kept);
    free_reasons();
}
END_TEST

START_TEST(keep_all_keeps_but_reports)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-a", "PoCL", "basic", HG_DEVICE_CPU, 1);
    devs[1] = fake_device(1, "hg-b", "PoCL", "pthread", HG_DEVICE_CPU, 2);
    run(2, true);
    ck_assert(devs[0].kept);
    ck_assert(devs[1].kept);
    ck_assert_int_eq(devs[0].duplicate_of, 1);
    ck_assert_ptr_nonnull(strstr(devs[0].reason, "on request"));
    free_reasons();
}
END_TEST

START_TEST(unselected_devices_are_ignored)
{
    reset_ranks();
    devs[0] = fake_device(0, "hg-a", "PoCL", "basic", HG_DEVICE_CPU, 1);
    devs[1] = fake_device(1, "hg-b", "PoCL", "pthread", HG_DEVICE_CPU, 2);
    devs[1].selected = false;
    run(2, false);
    ck_assert(devs[0].kept); /* the only selected CPU view */
    ck_assert(!devs[1].kept);
    ck_assert_int_eq(devs[1].duplicate_of, -1);
    ck_assert_ptr_nonnull(strstr(devs[0].reason, "only selected view"));
    free_reasons();
}
END_TEST

/* Solo models with scripted speeds: a ms fixed, b ms per row. */
static hg__cost_model model(double a, double b)
{
    return (hg__cost_model){.a_ms = a, .b_ms_per_row = b, .valid = true};
}

/* Two runtimes on the same cores (two fake platforms): the list keeps the one with more
   compute units; measured speed keeps the faster, whichever has more units. */
START_TEST(duplicates_kept_by_measured_speed)
{
    reset_ranks();
    devs[0] = fake_device(0, "cpu0", "Fake Platform A", "Fake CPU A", HG_DEVICE_CPU, 16);
    devs[1] = fake_device(1, "cpu1", "Fake Platform B", "Fake CPU B", HG_DEVICE_CPU, 8);
    run(2, false);
    ck_assert(devs[0].kept && !devs[1].kept); /* by compute units */
    ck_assert_int_eq(devs[1].duplicate_of, 0);
    /* 65536 rows: cpu0 1 + 65.536 = 66.536 ms; cpu1 2 + 32.768 = 34.768 ms */
    hg__cost_model slow = model(1.0, 1e-3), fast = model(2.0, 0.5e-3);
    char why[320];
    ck_assert(hg__dedup_faster(&devs[0], &slow, &devs[1], &fast, 65536, why, sizeof why));
    ck_assert_str_eq(why, "cpu1 replaces cpu0 (Fake CPU A, Fake Platform A, 16 compute "
                          "units), the same hardware: alone, a step of 65536 rows is "
                          "predicted to take 34.8 ms on cpu1, 66.5 ms on cpu0; cpu0 gets no "
                          "rows");
    /* the faster one has the more units: the list's choice stands */
    ck_assert(!hg__dedup_faster(&devs[0], &fast, &devs[1], &slow, 65536, why, sizeof why));
    ck_assert_str_eq(why, "cpu0 kept over cpu1 (Fake CPU B, Fake Platform B, 8 compute "
                          "units), the same hardware: alone, a step of 65536 rows is "
                          "predicted to take 34.8 ms on cpu0, 66.5 ms on cpu1; cpu1 gets no "
                          "rows");
    /* the step size decides: at 100 rows cpu0's smaller fixed cost wins (1.1 vs 2.05 ms) */
    ck_assert(!hg__dedup_faster(&devs[0], &slow, &devs[1], &fast, 100, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "predicted to take 1.1 ms on cpu0, 2.05 ms on cpu1"));
    free_reasons();
}
END_TEST

/* One GPU under two drivers (same PCI address), the second driver faster. */
START_TEST(duplicate_gpu_driver_kept_by_measured_speed)
{
    reset_ranks();
    devs[0] = fake_device(0, "gx", "Fake Platform A", "Fake GPU X", HG_DEVICE_GPU, 10);
    devs[1] = fake_device(1, "gx2", "Fake Platform B", "Fake GPU X (second driver)",
                          HG_DEVICE_GPU, 50);
    fake_pci(&devs[0], 1);
    fake_pci(&devs[1], 1);
    run(2, false);
    ck_assert(devs[0].kept && !devs[1].kept); /* first listed */
    hg__cost_model x = model(0.5, 2e-4), x2 = model(0.5, 1e-4);
    char why[320];
    ck_assert(hg__dedup_faster(&devs[0], &x, &devs[1], &x2, 1000, why, sizeof why));
    ck_assert_str_eq(why, "gx2 replaces gx (Fake GPU X, Fake Platform A, 10 compute units), "
                          "the same hardware: alone, a step of 1000 rows is predicted to "
                          "take 0.6 ms on gx2, 0.7 ms on gx; gx gets no rows");
    free_reasons();
}
END_TEST

/* Ties keep the list's choice; a view without a model never replaces; one with a model
   replaces a kept device without one. */
START_TEST(duplicate_ties_and_missing_models)
{
    devs[0] = fake_device(0, "cpu0", "Fake Platform A", "Fake CPU A", HG_DEVICE_CPU, 16);
    devs[1] = fake_device(1, "cpu1", "Fake Platform B", "Fake CPU B", HG_DEVICE_CPU, 8);
    hg__cost_model m = model(1.0, 1e-3), none = {0};
    char why[320];
    ck_assert(!hg__dedup_faster(&devs[0], &m, &devs[1], &m, 4096, why, sizeof why));
    ck_assert(!hg__dedup_faster(&devs[0], &m, &devs[1], &none, 4096, why, sizeof why));
    ck_assert_str_eq(why, "cpu0 kept over cpu1 (Fake CPU B, Fake Platform B, 8 compute "
                          "units), the same hardware: it could not be calibrated; cpu1 gets no "
                          "rows");
    ck_assert(hg__dedup_faster(&devs[0], &none, &devs[1], &m, 4096, NULL, 0));
}
END_TEST

START_TEST(empty_list)
{
    ck_assert_int_eq(hg__dedup(devs, 0, rank_, false, reasons), HG_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dedup");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cpu_views_keep_most_compute_units);
    tcase_add_test(tc, cpu_user_preference_wins);
    tcase_add_test(tc, cpu_tie_keeps_first);
    tcase_add_test(tc, gpus_match_by_pci_then_uuid);
    tcase_add_test(tc, gpu_preference_picks_the_view);
    tcase_add_test(tc, keep_all_keeps_but_reports);
    tcase_add_test(tc, unselected_devices_are_ignored);
    tcase_add_test(tc, empty_list);
    tcase_add_test(tc, duplicates_kept_by_measured_speed);
    tcase_add_test(tc, duplicate_gpu_driver_kept_by_measured_speed);
    tcase_add_test(tc, duplicate_ties_and_missing_models);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
