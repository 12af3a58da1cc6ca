/* SPDX-License-Identifier: MIT */
/*
 * test_calib_rules.c - the pure decisions of calibration (calib_rules.c), no
 * device: scripted figures, exact answers.
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>

#include "calib_rules.h"

/* A candidate more than 1.5x slower than the fastest is out; within, it stays. */
START_TEST(race_drops_the_clearly_slower)
{
    double fastest[4] = {20.0, 24.0, 30.0, 30.1};
    bool alive[4] = {true, true, true, true};
    ck_assert_uint_eq(hg__race_prune(fastest, alive, 4), 3);
    ck_assert(alive[0] && alive[1] && alive[2]); /* 30.0 is exactly 1.5 x 20: stays */
    ck_assert(!alive[3]);
    /* the fastest itself always stays; a dead one stays dead even when fast */
    double again[4] = {20.0, 45.0, 29.0, 1.0};
    alive[3] = false;
    ck_assert_uint_eq(hg__race_prune(again, alive, 4), 2);
    ck_assert(alive[0] && !alive[1] && alive[2] && !alive[3]);
}
END_TEST

/* The reference is the fastest live candidate, not a dead one. */
START_TEST(race_ignores_dead_candidates)
{
    double fastest[3] = {1.0, 10.0, 14.0};
    bool alive[3] = {false, true, true};
    ck_assert_uint_eq(hg__race_prune(fastest, alive, 3), 2);
    ck_assert(!alive[0] && alive[1] && alive[2]);
}
END_TEST

/* Candidates not yet timed (INFINITY), NaN and negative times are out; none alive: 0. */
START_TEST(race_bad_times)
{
    double fastest[4] = {5.0, INFINITY, NAN, -1.0};
    bool alive[4] = {true, true, true, true};
    ck_assert_uint_eq(hg__race_prune(fastest, alive, 4), 1);
    ck_assert(alive[0] && !alive[1] && !alive[2] && !alive[3]);
    bool none[2] = {false, false};
    ck_assert_uint_eq(hg__race_prune(fastest, none, 2), 0);
    ck_assert_uint_eq(hg__race_prune(fastest, alive, 0), 0);
}
END_TEST

/* A sweep the machine ran slow in slows every candidate of it alike: the scores (each
   time over its sweep's fastest) do not move, and rank by the candidates' own speed. */
START_TEST(race_scores_cancel_slow_sweeps)
{
    enum { NC = 3, NS = 6 };
    const double base[NC] = {1.0, 1.2, 0.9}, machine[NS] = {1, 2, 2.5, 1, 2, 1};
    double t[NC][NS], score[NC];
    for (size_t k = 0; k < NC; k++)
        for (size_t s = 0; s < NS; s++)
            t[k][s] = base[k] * machine[s];
    hg__race_scores(&t[0][0], NS, NC, NS, NULL, score);
    ck_assert_double_eq_tol(score[2], 1.0, 1e-12);
    ck_assert_double_eq_tol(score[0], 1.0 / 0.9, 1e-12);
    ck_assert_double_eq_tol(score[1], 1.2 / 0.9, 1e-12);
    /* the same times ranked by each candidate's median time would put the one timed
       in the slow stretch last; here each sweep times all three */
    bool alive[NC] = {true, true, true};
    ck_assert_uint_eq(hg__race_prune(score, alive, NC), 3); /* 1.33 <= 1.5: all stay */

    /* one spike (a page fault, a descheduled run) in one sweep: the median ignores it */
    t[2][3] *= 5;
    hg__race_scores(&t[0][0], NS, NC, NS, NULL, score);
    ck_assert_double_eq_tol(score[2], 1.0, 1e-12);
    ck_assert(score[2] < score[0] && score[0] < score[1]);
}
END_TEST

/* Sweeps that did not time a candidate (pruned, failed: not a positive finite time)
   do not count for it; a candidate not counted is no sweep's reference; even counts
   take the mean of the middle two. */
START_TEST(race_scores_untimed_and_uncounted)
{
    enum { NC = 4, NS = 4 };
    double t[NC][NS] = {
        {2.0, 2.0, 2.0, 2.0},
        {3.0, 4.0, NAN, NAN},        /* out after two sweeps */
        {0.1, 0.1, 0.1, 0.1},        /* fast, but its gradient was wrong: not counted */
        {NAN, 0.0, -1.0, INFINITY},  /* never timed */
    };
    const bool counted[NC] = {true, true, false, true};
    double score[NC];
    hg__race_scores(&t[0][0], NS, NC, NS, counted, score);
    ck_assert_double_eq_tol(score[0], 1.0, 1e-12);
    ck_assert_double_eq_tol(score[1], (1.5 + 2.0) / 2, 1e-12);
    ck_assert(isinf(score[2]) && isinf(score[3]));
    /* counted NULL: every candidate counts, and the fast one is the reference */
    hg__race_scores(&t[0][0], NS, NC, NS, NULL, score);
    ck_assert_double_eq_tol(score[2], 1.0, 1e-12);
    ck_assert_double_eq_tol(score[0], 20.0, 1e-9);
    /* no sweeps: nobody scored */
    hg__race_scores(&t[0][0], NS, NC, 0, counted, score);
    ck_assert(isinf(score[0]) && isinf(score[1]));
}
END_TEST

/* More sweeps than the race keeps are read up to HG__RACE_MAX_SWEEPS only. */
START_TEST(race_scores_sweeps_capped)
{
    enum { NC = 2, NS = HG__RACE_MAX_SWEEPS + 4 };
    double t[NC][NS], score[NC];
    for (size_t s = 0; s < NS; s++) {
        t[0][s] = 1.0;
        t[1][s] = s < HG__RACE_MAX_SWEEPS ? 1.25 : 100.0; /* past the cap: not read */
    }
    hg__race_scores(&t[0][0], NS, NC, NS, NULL, score);
    ck_assert_double_eq_tol(score[0], 1.0, 1e-12);
    ck_assert_double_eq_tol(score[1], 1.25, 1e-12);
}
END_TEST

START_TEST(settled_timings)
{
    const double tight[3] = {100.0, 102.0, 104.9}; /* spread 4.9 <= 5% of 102 */
    const double loose[3] = {100.0, 102.0, 105.2}; /* spread 5.2 > 5.1 */
    const double five[5] = {50.0, 80.0, 51.0, 50.5, 52.0};
    const double order[4] = {10.0, 10.1, 10.2, 10.3};
    ck_assert(hg__timings_settled(tight, 3));
    ck_assert(!hg__timings_settled(loose, 3));
    ck_assert(!hg__timings_settled(five, 5)); /* one spike keeps it repeating */
    ck_assert(hg__timings_settled(five, 1) == false); /* fewer than 3: never */
    ck_assert(!hg__timings_settled(tight, 2));
    ck_assert(hg__timings_settled(order, 4));
    const double bad[3] = {1.0, NAN, 1.0}, neg[3] = {-1.0, -1.0, -1.0};
    ck_assert(!hg__timings_settled(bad, 3));
    ck_assert(!hg__timings_settled(neg, 3));
    /* ms is not reordered */
    ck_assert(five[1] == 80.0 && five[4] == 52.0);
}
END_TEST

/* One unit fewer, only with 2 units or more and another device in use. */
START_TEST(fission_units)
{
    ck_assert_uint_eq(hg__fission_units(2, 1), 1);
    ck_assert_uint_eq(hg__fission_units(16, 3), 15);
    ck_assert_uint_eq(hg__fission_units(1, 1), 0);
    ck_assert_uint_eq(hg__fission_units(0, 2), 0);
    ck_assert_uint_eq(hg__fission_units(8, 0), 0);
}
END_TEST

/* Kept only when the joint step is faster by more than 3%. */
/* The joint step's run of median makespan, whole: not device-by-device medians. */
/* The probe's second run: only a device that ran these rows already and was slow
   enough on the first needs none. */
START_TEST(probe_again)
{
    ck_assert(!hg__probe_again(true, HG__REWARM_BELOW_MS)); /* Oclgrind: 120 ms, checked */
    ck_assert(!hg__probe_again(true, 120.0));
    ck_assert(hg__probe_again(true, 0.3));        /* POCL: the first run warms it up */
    ck_assert(hg__probe_again(true, HG__REWARM_BELOW_MS * 0.99));
    ck_assert(hg__probe_again(false, 120.0));     /* unchecked: it may have compiled */
    ck_assert(hg__probe_again(true, NAN));
}
END_TEST

START_TEST(rewarm_more)
{
    ck_assert(hg__rewarm_more(0.0, 0));      /* the first untimed step, always */
    ck_assert(hg__rewarm_more(1e9, 0));
    ck_assert(hg__rewarm_more(1.5, 1));      /* a 1.5 ms step: more */
    ck_assert(hg__rewarm_more(10.5, 7));
    ck_assert(!hg__rewarm_more(12.0, 8));    /* HG__REWARM_SPAN_MS reached */
    ck_assert(!hg__rewarm_more(25.0, 1));    /* one long step is enough */
    ck_assert(!hg__rewarm_more(0.01 * HG__REWARM_CALLS_MAX, HG__REWARM_CALLS_MAX));
    ck_assert(hg__rewarm_more(0.01, HG__REWARM_CALLS_MAX - 1));
    ck_assert(!hg__rewarm_more(NAN, 1));     /* no time: stop */
    /* a step of 1.5 ms: the untimed steps before a timed one add up to the span */
    size_t calls = 0;
    double spent = 0;
    while (hg__rewarm_more(spent, calls)) {
        spent += 1.5;
        calls++;
    }
    ck_assert_uint_eq(calls, 8);
}
END_TEST

START_TEST(median_run)
{
    /* the makespans of five runs: the median, 7.0, is run 2's */
    const double span[5] = {7.5, 6.0, 7.0, 7.2, 6.1};
    ck_assert_uint_eq(hg__median_run(span, 5), 2);
    const double one[1] = {3.0};
    ck_assert_uint_eq(hg__median_run(one, 1), 0);
    ck_assert_uint_eq(hg__median_run(NULL, 0), 0);
    const double even[4] = {4.0, 1.0, 3.0, 2.0}; /* upper median: 3 */
    ck_assert_uint_eq(hg__median_run(even, 4), 2);
    const double ties[5] = {5.0, 5.0, 5.0, 1.0, 9.0}; /* the last of the equal medians */
    ck_assert_uint_eq(hg__median_run(ties, 5), 2);
    const double sorted[3] = {1.0, 2.0, 3.0};
    ck_assert_uint_eq(hg__median_run(sorted, 3), 1);
}
END_TEST

START_TEST(fission_pays)
{
    ck_assert(hg__fission_pays(100.0, 96.9, NAN));
    ck_assert(!hg__fission_pays(100.0, 97.0, NAN)); /* exactly 3%: noise */
    ck_assert(!hg__fission_pays(100.0, 99.0, NAN));
    ck_assert(!hg__fission_pays(100.0, 130.0, NAN));
    ck_assert(hg__fission_pays(67.6, 40.0, NAN));
    ck_assert(!hg__fission_pays(67.6, 92.0, NAN)); /* the POCL figures of one run: kept whole */
    ck_assert(!hg__fission_pays(NAN, 1.0, NAN));
    ck_assert(!hg__fission_pays(100.0, NAN, NAN));
    ck_assert(!hg__fission_pays(100.0, 0.0, NAN));
    ck_assert(!hg__fission_pays(0.0, 0.0, NAN));
    ck_assert(!hg__fission_pays(INFINITY, 5.0, NAN));
    ck_assert(!hg__fission_pays(-5.0, -10.0, NAN));
    /* the whole device alone is faster than either joint step: fission must beat it */
    ck_assert(!hg__fission_pays(20.8, 15.3, 9.8)); /* POCL shared cores, 2026-12-02 */
    ck_assert(hg__fission_pays(20.8, 15.3, 16.0));
    ck_assert(!hg__fission_pays(20.8, 15.3, 15.5)); /* within the margin of alone */
    ck_assert(hg__fission_pays(20.8, 15.3, 0.0));   /* alone unknown: not compared */
    ck_assert(hg__fission_pays(20.8, 15.3, INFINITY));
}
END_TEST

/* The trial decides round by round: the machine's speed drifting between rounds must
   not decide it.  Medians taken apart (alone 16, fissioned 15 ms) would say fission pays;
   within its own round, the fissioned step beat the device alone once in three. */
START_TEST(fission_pays_rounds)
{
    const double full[3] = {20, 20, 20}, sub[3] = {15, 17, 13.5}, alone[3] = {14, 16, 18};
    size_t won = 9;
    ck_assert(hg__fission_pays(20, 15, 16)); /* the medians */
    ck_assert(!hg__fission_pays_rounds(full, sub, alone, 3, &won));
    ck_assert_uint_eq(won, 1);
    const double sub2[3] = {14, 15, 13.5}; /* beats alone (by 3%) in rounds 1 and 2 */
    ck_assert(hg__fission_pays_rounds(full, sub2, alone, 3, &won));
    ck_assert_uint_eq(won, 2);
    const double sub3[3] = {10, 11, 12};
    ck_assert(hg__fission_pays_rounds(full, sub3, alone, 3, &won));
    ck_assert_uint_eq(won, 3);
    ck_assert(hg__fission_pays_rounds(full, sub, NULL, 3, &won)); /* alone not compared */
    ck_assert_uint_eq(won, 3);
    const double bad[3] = {NAN, 12, 30};
    ck_assert(!hg__fission_pays_rounds(full, bad, alone, 3, &won)); /* 1 of 3 */
    ck_assert_uint_eq(won, 1);
    const double even_full[4] = {20, 20, 20, 20}, even_sub[4] = {10, 10, 30, 30};
    ck_assert(!hg__fission_pays_rounds(even_full, even_sub, NULL, 4, &won)); /* a tie */
    ck_assert_uint_eq(won, 2);
    ck_assert(!hg__fission_pays_rounds(full, sub3, alone, 0, NULL));
}
END_TEST

/* Decisions are made for the engine's step size when known, else a large step. */
START_TEST(decision_rows)
{
    ck_assert_uint_eq(hg__decision_rows(60000, 128, 65536), 128);
    ck_assert_uint_eq(hg__decision_rows(60000, 0, 65536), 60000);
    ck_assert_uint_eq(hg__decision_rows(100000, 0, 65536), 65536);
    ck_assert_uint_eq(hg__decision_rows(100, 128, 65536), 100); /* never more than the data */
    ck_assert_uint_eq(hg__decision_rows(100000, 70000, 65536), 70000);
    ck_assert_uint_eq(hg__decision_rows(0, 128, 65536), 0);
}
END_TEST

/* Only a probe both far slower than the fastest and long is too slow to race. */
START_TEST(race_skip)
{
    ck_assert(hg__race_skip(106.0, 0.0487));   /* Oclgrind beside POCL, 2026-12-02 */
    ck_assert(!hg__race_skip(5.0, 0.0487));    /* one descheduled run of a fast device */
    ck_assert(!hg__race_skip(10.0, 0.5));      /* 20 times: raced */
    ck_assert(hg__race_skip(10.0, 0.09));      /* the floor itself counts */
    ck_assert(!hg__race_skip(9.99, 0.001));
    ck_assert(!hg__race_skip(500.0, 0.0));     /* fastest unknown */
    ck_assert(!hg__race_skip(NAN, 0.05));
}
END_TEST

START_TEST(race_short_job)
{
    /* 14 candidates: a race costs at least 13 x 60 ms (0.83 s warm on an AMD EPYC) */
    ck_assert(hg__race_short_job(14.3, 14));   /* the built-in digits, 40 epochs */
    ck_assert(hg__race_short_job(779.0, 14));
    ck_assert(!hg__race_short_job(780.0, 14));
    ck_assert(!hg__race_short_job(1900.0, 14)); /* 40 epochs of a 60,000-row softmax */
    ck_assert(hg__race_short_job(59.0, 2));
    ck_assert(!hg__race_short_job(61.0, 2));
    ck_assert(hg__race_short_job(0.0, 2));
    ck_assert(!hg__race_short_job(0.0, 1));      /* nothing to race */
    ck_assert(!hg__race_short_job(NAN, 14));     /* unknown job: race */
    ck_assert(!hg__race_short_job(-1.0, 14));
    ck_assert(!hg__race_short_job(INFINITY, 14));
}
END_TEST

START_TEST(trial_short_job)
{
    ck_assert(hg__trial_short_job(46.6));      /* the built-in digits on pthread */
    ck_assert(hg__trial_short_job(199.0));
    ck_assert(!hg__trial_short_job(200.0));
    ck_assert(hg__trial_short_job(0.0));
    ck_assert(!hg__trial_short_job(NAN));      /* unknown job: try */
    ck_assert(!hg__trial_short_job(-1.0));
    ck_assert(!hg__trial_short_job(INFINITY));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("calib_rules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, race_drops_the_clearly_slower);
    tcase_add_test(tc, race_ignores_dead_candidates);
    tcase_add_test(tc, race_bad_times);
    tcase_add_test(tc, race_scores_cancel_slow_sweeps);
    tcase_add_test(tc, race_scores_untimed_and_uncounted);
    tcase_add_test(tc, race_scores_sweeps_capped);
    tcase_add_test(tc, settled_timings);
    tcase_add_test(tc, fission_units);
    tcase_add_test(tc, fission_pays);
    tcase_add_test(tc, fission_pays_rounds);
    tcase_add_test(tc, rewarm_more);
    tcase_add_test(tc, probe_again);
    tcase_add_test(tc, median_run);
    tcase_add_test(tc, decision_rows);
    tcase_add_test(tc, race_skip);
    tcase_add_test(tc, race_short_job);
    tcase_add_test(tc, trial_short_job);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
