/* SPDX-License-Identifier: MIT */
/* test_dedup.c - one device per piece of hardware, no device needed. */
#include <check.h>
#include <math.h>
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

/* The turns decide, not the models: models fitted one after the other, one of them while
   another process took a core, can predict the slower view faster; the two timed back to
   back in the same moments are not misled so. */
START_TEST(the_turns_overrule_the_models)
{
    devs[0] = fake_device(0, "cpu0", "Fake Platform A", "Fake CPU A", HG_DEVICE_CPU, 2);
    devs[1] = fake_device(1, "cpu1", "Fake Platform A", "Fake CPU B", HG_DEVICE_CPU, 1);
    /* 128 rows: the slow model predicts 1.256 ms, the fast one 0.628 */
    hg__cost_model slow = model(0.0, 9.8125e-3), fast = model(0.0, 4.90625e-3);
    const double t0[5] = {0.85, 0.88, 0.84, 0.90, 0.86}, t1[5] = {1.4, 1.38, 1.45, 1.41, 1.5};
    char why[400];
    /* the models favour cpu1, the turns cpu0 */
    ck_assert(!hg__dedup_turns(&devs[0], &slow, t0, &devs[1], &fast, t1, 5, 128, 128, why,
                               sizeof why));
    ck_assert_str_eq(why, "cpu0 kept over cpu1 (Fake CPU B, Fake Platform A, 1 compute unit), "
                          "the same hardware: timed in turn on 128 rows, 5 rounds, cpu1 took "
                          "a median 1.65 times as long as cpu0 (medians 1.41 ms and 0.86 "
                          "ms); alone, a step of 128 rows was predicted to take 1.26 ms on "
                          "cpu0, 0.628 ms on cpu1; cpu1 gets no rows");
    /* the turns favour cpu1, the models cpu0 */
    ck_assert(hg__dedup_turns(&devs[0], &fast, t1, &devs[1], &slow, t0, 5, 128, 128, why,
                              sizeof why));
    ck_assert_str_eq(why, "cpu1 replaces cpu0 (Fake CPU A, Fake Platform A, 2 compute units), "
                          "the same hardware: timed in turn on 128 rows, 5 rounds, cpu0 took "
                          "a median 1.65 times as long as cpu1 (medians 1.41 ms and 0.86 "
                          "ms); alone, a step of 128 rows was predicted to take 1.26 ms on "
                          "cpu1, 0.628 ms on cpu0; cpu0 gets no rows");
    ck_assert(hg__dedup_turns(&devs[0], &fast, t1, &devs[1], &slow, t0, 5, 128, 128, NULL, 0));
}
END_TEST

/* An earlier verdict checked by turns: it stands unless the earlier loser now takes under
   1/1.1 of the winner's time, whichever of the two views won it. */
START_TEST(an_earlier_verdict_stands_within_a_margin)
{
    devs[0] = fake_device(0, "cpu0", "Fake Platform A", "Fake CPU A", HG_DEVICE_CPU, 2);
    devs[1] = fake_device(1, "cpu1", "Fake Platform A", "Fake CPU B", HG_DEVICE_CPU, 1);
    const double one[5] = {1.0, 1.0, 1.0, 1.0, 1.0};
    const double bit[5] = {0.95, 0.96, 0.94, 0.95, 0.97}, much[5] = {0.8, 0.82, 0.79, 0.8, 3.0};
    char why[520];
    /* cpu1 lost before; now 5% faster: cpu0 stays */
    ck_assert(!hg__dedup_recheck(&devs[0], one, &devs[1], bit, false, 5, 128, why,
                                 sizeof why));
    ck_assert_str_eq(why, "cpu0 kept over cpu1 (Fake CPU B, Fake Platform A, 1 compute unit), "
                          "the same hardware: cpu1 lost to cpu0 when both were measured on "
                          "the same kernels (its profile, from the cache, was not raced "
                          "after), and now, timed in turn on 128 rows, 5 rounds, cpu1 took a "
                          "median 0.95 times as long as cpu0 (medians 0.95 ms and 1 ms); the "
                          "verdict stands unless cpu1 takes under 1/1.1 of cpu0's time; cpu1 "
                          "gets no rows");
    /* cpu1 lost before; now 1.25x faster (a slow round does not count): cpu1 replaces */
    ck_assert(hg__dedup_recheck(&devs[0], one, &devs[1], much, false, 5, 128, why,
                                sizeof why));
    ck_assert_str_eq(why, "cpu1 replaces cpu0 (Fake CPU A, Fake Platform A, 2 compute units), "
                          "the same hardware: cpu1 had lost to cpu0 when both were measured "
                          "on the same kernels, but now, timed in turn on 128 rows, 5 rounds, "
                          "cpu0 took a median 1.25 times as long as cpu1 (medians 1 ms and "
                          "0.8 ms), more than 1.1 times: the earlier verdict is overturned; "
                          "cpu0 gets no rows");
    /* cpu1 won before (it replaced cpu0): the same margin the other way */
    ck_assert(hg__dedup_recheck(&devs[0], bit, &devs[1], one, true, 5, 128, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "cpu1 replaces cpu0 (Fake CPU A, Fake Platform A, 2 "
                                      "compute units), the same hardware: cpu0 lost to cpu1 "
                                      "when"));
    ck_assert(!hg__dedup_recheck(&devs[0], much, &devs[1], one, true, 5, 128, why,
                                 sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "cpu0 kept over cpu1 (Fake CPU B, Fake Platform A, 1 "
                                      "compute unit), the same hardware: cpu0 had lost to "
                                      "cpu1 when"));
    ck_assert_ptr_nonnull(strstr(why, "cpu1 took a median 1.25 times as long as cpu0"));
    /* either side of the margin: 0.9 overturns (0.99 < 1), 0.92 does not (1.012) */
    const double under[5] = {0.9, 0.9, 0.9, 0.9, 0.9}, within[5] = {0.92, 0.92, 0.92, 0.92,
                                                                     0.92};
    ck_assert(hg__dedup_recheck(&devs[0], one, &devs[1], under, false, 5, 64, NULL, 0));
    ck_assert(!hg__dedup_recheck(&devs[0], one, &devs[1], within, false, 5, 64, NULL, 0));
    /* no round timed both: the verdict stands, and says so */
    const double bad[5] = {NAN, INFINITY, -1.0, 0.0, NAN};
    ck_assert(hg__dedup_recheck(&devs[0], one, &devs[1], bad, true, 5, 64, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "and now, no round of the turns timed both; the verdict "
                                      "stands"));
    ck_assert(!hg__dedup_recheck(&devs[0], bad, &devs[1], under, false, 5, 64, NULL, 0));
}
END_TEST

/* The median of the rounds' ratios: two rounds in which the faster view was slowed 3x do
   not outvote three in which it was 10% faster (the mean time would); a tie keeps the
   list's choice; a round without two valid times is left out, and with none left the
   models decide. */
START_TEST(the_turns_median_ties_and_bad_rounds)
{
    devs[0] = fake_device(0, "cpu0", "Fake Platform A", "Fake CPU A", HG_DEVICE_CPU, 2);
    devs[1] = fake_device(1, "cpu1", "Fake Platform A", "Fake CPU B", HG_DEVICE_CPU, 1);
    hg__cost_model m = model(1.0, 1e-3), slow = model(1.0, 2e-3), none = {0};
    const double k[5] = {1.0, 1.0, 1.0, 1.0, 1.0}, d[5] = {0.9, 3.0, 0.9, 3.0, 0.9};
    char why[400];
    ck_assert(hg__dedup_turns(&devs[0], &m, k, &devs[1], &slow, d, 5, 64, 64, why,
                              sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "cpu0 took a median 1.11 times as long as cpu1"));
    const double same[5] = {1.0, 1.0, 1.0, 1.0, 1.0};
    ck_assert(!hg__dedup_turns(&devs[0], &slow, k, &devs[1], &m, same, 5, 64, 64, NULL, 0));
    /* rounds 1, 3 and 4 are not numbers or not positive: cpu1 faster in the two left */
    const double kb[5] = {1.0, NAN, 1.0, 0.0, 1.0}, db[5] = {0.8, 0.5, 5.0, 0.5, 0.8};
    ck_assert(hg__dedup_turns(&devs[0], &m, kb, &devs[1], &m, db, 5, 64, 64, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "on 64 rows, 3 rounds, cpu0 took a median 1.25 times"));
    const double bad[5] = {NAN, INFINITY, -1.0, 0.0, NAN};
    /* no round left: the models decide, with their reason */
    ck_assert(!hg__dedup_turns(&devs[0], &m, k, &devs[1], &slow, bad, 5, 64, 4096, why,
                               sizeof why));
    ck_assert_str_eq(why, "cpu0 kept over cpu1 (Fake CPU B, Fake Platform A, 1 compute unit), "
                          "the same hardware: alone, a step of 4096 rows is predicted to take "
                          "5.1 ms on cpu0, 9.19 ms on cpu1; cpu1 gets no rows");
    ck_assert(hg__dedup_turns(&devs[0], &slow, k, &devs[1], &m, bad, 5, 64, 4096, NULL, 0));
    ck_assert(!hg__dedup_turns(&devs[0], &m, k, &devs[1], &none, bad, 5, 64, 4096, NULL, 0));
    /* a single round decides alone, and only the rounds given are read */
    ck_assert(hg__dedup_turns(&devs[0], &m, k, &devs[1], &m, d, 1, 64, 64, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "on 64 rows, 1 round, cpu0 took"));
    ck_assert(!hg__dedup_turns(&devs[0], &m, k + 1, &devs[1], &m, d + 1, 1, 64, 64, NULL, 0));
}
END_TEST

/* Turns too close to call: a median ratio within HG__DEDUP_CLOSE of 1 either way (or no
   valid round) while fewer than HG__DEDUP_ROUNDS_MAX rounds were read; the median, not
   one busy round, decides how close. */
START_TEST(the_turns_too_close_to_call)
{
    const double k[3] = {1.0, 1.0, 1.0};
    const double near[3] = {0.9, 1.1, 1.15}, far[3] = {0.6, 0.65, 0.62},
                 slow[3] = {1.3, 1.25, 1.4}, busy[3] = {0.6, 1.2, 0.62},
                 edge_in[3] = {1.19, 1.19, 1.19}, edge_out[3] = {1.21, 1.21, 1.21},
                 low_in[3] = {0.84, 0.84, 0.84}, low_out[3] = {0.83, 0.83, 0.83},
                 bad[3] = {NAN, 0.0, -1.0};
    ck_assert(hg__dedup_turns_close(k, near, 3));
    ck_assert(!hg__dedup_turns_close(k, far, 3));
    ck_assert(!hg__dedup_turns_close(k, slow, 3));
    ck_assert(!hg__dedup_turns_close(k, busy, 3)); /* median 0.62 */
    ck_assert(hg__dedup_turns_close(k, edge_in, 3));
    ck_assert(!hg__dedup_turns_close(k, edge_out, 3));
    ck_assert(hg__dedup_turns_close(k, low_in, 3)); /* 0.84 * 1.2 > 1 */
    ck_assert(!hg__dedup_turns_close(k, low_out, 3));
    ck_assert(hg__dedup_turns_close(k, bad, 3));   /* nothing to decide on */
    ck_assert(hg__dedup_turns_close(near, k, 3)); /* either way */
    ck_assert(!hg__dedup_turns_close(far, k, 3));
    /* all the rounds read: nothing more to take */
    double k8[HG__DEDUP_ROUNDS_MAX], n8[HG__DEDUP_ROUNDS_MAX];
    for (size_t r = 0; r < HG__DEDUP_ROUNDS_MAX; r++) {
        k8[r] = 1.0;
        n8[r] = 1.05;
    }
    ck_assert(!hg__dedup_turns_close(k8, n8, HG__DEDUP_ROUNDS_MAX));
    ck_assert(hg__dedup_turns_close(k8, n8, HG__DEDUP_ROUNDS_MAX - 1));
}
END_TEST

/* The turns' rows: the step's, scaled to about HG__DEDUP_TURN_MS for the longer of the
   two predicted steps, at most the rows held, at least 1. */
START_TEST(the_turns_rows)
{
    ck_assert_uint_eq(hg__dedup_turn_rows(128, 1.3, 1.5, 6000), 128);
    ck_assert_uint_eq(hg__dedup_turn_rows(128, 1.3, 1.5, 100), 100);
    /* 65536 rows predicted 50 and 20 ms: a tenth of them (5 ms on the slower) */
    ck_assert_uint_eq(hg__dedup_turn_rows(65536, 20.0, 50.0, 65536), 6553);
    ck_assert_uint_eq(hg__dedup_turn_rows(65536, 50.0, 20.0, 10000), 1000);
    ck_assert_uint_eq(hg__dedup_turn_rows(65536, INFINITY, 20.0, 65536), 1);
    ck_assert_uint_eq(hg__dedup_turn_rows(100, 1e9, 1e9, 100), 1);
    ck_assert_uint_eq(hg__dedup_turn_rows(100, NAN, NAN, 100), 100);
    ck_assert_uint_eq(hg__dedup_turn_rows(0, 1.0, 1.0, 100), 1);
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
    tcase_add_test(tc, the_turns_overrule_the_models);
    tcase_add_test(tc, an_earlier_verdict_stands_within_a_margin);
    tcase_add_test(tc, the_turns_median_ties_and_bad_rounds);
    tcase_add_test(tc, the_turns_rows);
    tcase_add_test(tc, the_turns_too_close_to_call);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
