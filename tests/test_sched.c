/* SPDX-License-Identifier: MIT */
/*
 * test_sched.c - the scheduler's one interface (src/sched/sched.h), no device: each
 * policy's counts, caps and exclusions, planning in units (deterministic blocks), the
 * solo guard and its trials, the recovery plan and every error, with exact expectations.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/planner.h"
#include "sched/sched.h"

enum { MAXDEV = 4 };

/* A device with model a + b n (valid) and weight w. */
static hg__sched_device dev_of(double a, double b, double w)
{
    hg__sched_device d = hg__sched_device_default();
    d.model = (hg__cost_model){.a_ms = a, .b_ms_per_row = b, .valid = true};
    d.weight = w;
    return d;
}

static hg__sched *make(size_t n, const hg__sched_device *dev, hg__policy p, bool guard,
                       size_t unit)
{
    hg__sched_options o;
    hg__sched_options_init(&o);
    o.policy = p;
    o.solo_guard = guard;
    o.unit_rows = unit;
    hg__sched *s = NULL;
    hg_error e;
    hg_status st = hg__sched_create(n, dev, &o, &s, &e);
    ck_assert_msg(st == HG_OK, "create: %s", e.message);
    return s;
}

static void plan_ok(hg__sched *s, size_t total, const size_t *caps, size_t *counts)
{
    hg_error e;
    hg_status st = hg__sched_plan(s, total, caps, counts, &e);
    ck_assert_msg(st == HG_OK, "plan: %s", e.message);
}

#define EXPECT_COUNTS(c, ...)                                                              \
    do {                                                                                   \
        const size_t want_[] = {__VA_ARGS__};                                              \
        for (size_t k_ = 0; k_ < sizeof want_ / sizeof want_[0]; k_++)                     \
            ck_assert_msg((c)[k_] == want_[k_], "device %zu: %zu rows, expected %zu", k_,  \
                          (c)[k_], want_[k_]);                                             \
    } while (0)

START_TEST(defaults)
{
    hg__sched_options o;
    hg__sched_options_init(&o);
    ck_assert_int_eq(o.policy, HG__POLICY_WEIGHTS);
    ck_assert(o.solo_guard);
    ck_assert_uint_eq(o.unit_rows, 1);
    hg__sched_device d = hg__sched_device_default();
    ck_assert(d.weight == 1.0 && !d.excluded && !d.model.valid && !d.alone.valid);
    ck_assert_str_eq(d.why, "");
    /* dev NULL: every device the default; the default policy splits equally */
    hg__sched *s = NULL;
    ck_assert_int_eq(hg__sched_create(3, NULL, NULL, &s, NULL), HG_OK);
    ck_assert_uint_eq(hg__sched_count(s), 3);
    ck_assert_int_eq(hg__sched_policy(s), HG__POLICY_WEIGHTS);
    size_t c[3];
    plan_ok(s, 99, NULL, c);
    EXPECT_COUNTS(c, 33, 33, 33);
    hg__sched_destroy(s);
    hg__sched_destroy(NULL);
}
END_TEST

START_TEST(weights_policy)
{
    hg__sched_device d[3] = {dev_of(0, 1, 1), dev_of(0, 1, 2), dev_of(0, 1, 1)};
    d[2].model.valid = false; /* no model: irrelevant to WEIGHTS */
    hg__sched *s = make(3, d, HG__POLICY_WEIGHTS, true, 1);
    size_t c[3];
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 25, 50, 25);
    /* a cap: water-filled, the rest shared by weight */
    size_t caps[3] = {SIZE_MAX, 30, SIZE_MAX};
    plan_ok(s, 100, caps, c);
    EXPECT_COUNTS(c, 35, 30, 35);
    /* weight 0 and exclusion: no rows */
    ck_assert_int_eq(hg__sched_set_weight(s, 0, 0.0, NULL), HG_OK);
    plan_ok(s, 99, NULL, c);
    EXPECT_COUNTS(c, 0, 66, 33);
    ck_assert_int_eq(hg__sched_exclude(s, 1, "co-run: does not pay for itself", NULL), HG_OK);
    ck_assert(hg__sched_device_get(s, 1)->excluded);
    ck_assert_str_eq(hg__sched_device_get(s, 1)->why, "co-run: does not pay for itself");
    plan_ok(s, 99, NULL, c);
    EXPECT_COUNTS(c, 0, 0, 99);
    /* observing changes nothing under WEIGHTS */
    size_t rows[3] = {0, 0, 99};
    double ms[3] = {0, 0, 1e6};
    hg__sched_note note;
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, &note, NULL), HG_OK);
    ck_assert(!note.solo);
    plan_ok(s, 99, NULL, c);
    EXPECT_COUNTS(c, 0, 0, 99);
    hg__sched_destroy(s);
}
END_TEST

START_TEST(model_policy)
{
    /* 1 ms/row and 2 ms/row, no overhead: 30 rows finish at 20 ms as 20 + 10 */
    hg__sched_device d[3] = {dev_of(0, 1, 1), dev_of(0, 2, 1), dev_of(0, 1, 1)};
    d[2].model.valid = false; /* no model: no rows under MODEL */
    hg__sched *s = make(3, d, HG__POLICY_MODEL, true, 1);
    size_t c[3];
    plan_ok(s, 30, NULL, c);
    EXPECT_COUNTS(c, 20, 10, 0);
    /* the weights do not matter under MODEL, only weight 0 */
    ck_assert_int_eq(hg__sched_set_weight(s, 0, 5.0, NULL), HG_OK);
    plan_ok(s, 30, NULL, c);
    EXPECT_COUNTS(c, 20, 10, 0);
    size_t caps[3] = {15, SIZE_MAX, SIZE_MAX};
    plan_ok(s, 30, caps, c);
    EXPECT_COUNTS(c, 15, 15, 0);
    /* an overhead that does not pay: 10 rows on device 0 alone (10 ms) beat any split
       that gives device 1 its 50 ms overhead */
    hg__cost_model slow = {.a_ms = 50, .b_ms_per_row = 0.1, .valid = true};
    ck_assert_int_eq(hg__sched_set_model(s, 1, &slow, NULL), HG_OK);
    plan_ok(s, 10, NULL, c);
    EXPECT_COUNTS(c, 10, 0, 0);
    /* an excluded device gets nothing even when it is the fastest */
    hg__cost_model fast = {.a_ms = 0, .b_ms_per_row = 0.01, .valid = true};
    ck_assert_int_eq(hg__sched_set_model(s, 1, &fast, NULL), HG_OK);
    ck_assert_int_eq(hg__sched_exclude(s, 1, NULL, NULL), HG_OK);
    ck_assert_str_eq(hg__sched_device_get(s, 1)->why, "");
    plan_ok(s, 10, NULL, c);
    EXPECT_COUNTS(c, 10, 0, 0);
    hg__cost_model m = hg__sched_model(s, 0);
    ck_assert(m.valid && m.a_ms == 0 && m.b_ms_per_row == 1);
    ck_assert(!hg__sched_model(s, 3).valid);
    ck_assert(!hg__sched_model(NULL, 0).valid);
    hg__sched_destroy(s);
}
END_TEST

/* Deterministic steps: counts are whole units (blocks) of unit_rows rows. */
START_TEST(units)
{
    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(0, 2, 1)};
    hg__sched *s = make(2, d, HG__POLICY_MODEL, true, 4);
    size_t c[2];
    plan_ok(s, 30, NULL, c); /* 30 blocks of 4 rows: 20 + 10 blocks, 80 ms each */
    EXPECT_COUNTS(c, 20, 10);
    /* an overhead is per step, not per unit: 8 ms on device 1 moves one block */
    d[1].model.a_ms = 8;
    ck_assert_int_eq(hg__sched_set_device(s, 1, &d[1], NULL), HG_OK);
    plan_ok(s, 30, NULL, c); /* 21 blocks: 84 ms; 9 blocks: 8 + 72 = 80 ms */
    EXPECT_COUNTS(c, 21, 9);
    /* DYNAMIC observes rows, plans units; the model it reports is per row */
    d[1].model.a_ms = 0;
    ck_assert_int_eq(hg__sched_set_device(s, 1, &d[1], NULL), HG_OK);
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_DYNAMIC, NULL), HG_OK);
    plan_ok(s, 30, NULL, c);
    EXPECT_COUNTS(c, 20, 10);
    /* device 1: 40 rows (10 blocks) in 136 ms: 13.6 ms per block against 8 -- a jump, so
       b <- 0.3 * 8 + 0.7 * 13.6 = 11.92 ms per block, 2.98 ms per row */
    size_t rows[2] = {80, 40};
    double ms[2] = {80, 136};
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, NULL, NULL), HG_OK);
    hg__cost_model m = hg__sched_model(s, 1);
    ck_assert(m.valid);
    ck_assert_double_eq_tol(m.b_ms_per_row, 2.98, 1e-12);
    ck_assert_double_eq_tol(hg__sched_model(s, 0).b_ms_per_row, 1.0, 1e-12);
    /* a short last block still counts as a block: 1 row is 1 unit, not 0 (did not run) */
    size_t rows2[2] = {80, 1};
    double ms2[2] = {80, 2.98};
    ck_assert_int_eq(hg__sched_observe(s, rows2, ms2, NULL, NULL), HG_OK);
    /* 2.98 ms for one block against 11.92: a jump, 0.3 * 11.92 + 0.7 * 2.98 = 5.662 ms
       per block */
    ck_assert_double_eq_tol(hg__sched_model(s, 1).b_ms_per_row, 5.662 / 4, 1e-12);
    hg__sched_destroy(s);
}
END_TEST

START_TEST(dynamic_policy)
{
    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(0, 1, 1)};
    hg__sched *s = make(2, d, HG__POLICY_DYNAMIC, true, 1);
    size_t c[2];
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 50, 50);
    /* device 1 took twice its model's time: b_obs 2, a jump: b <- 0.3 + 0.7 * 2 = 1.7 */
    size_t rows[2] = {50, 50};
    double ms[2] = {50, 100};
    hg__sched_note note;
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, &note, NULL), HG_OK);
    ck_assert(!note.solo); /* one slow step is not enough */
    ck_assert_double_eq_tol(hg__sched_model(s, 1).b_ms_per_row, 1.7, 1e-12);
    /* the calibrated (planning) model is unchanged */
    ck_assert(hg__sched_device_get(s, 1)->model.b_ms_per_row == 1.0);
    /* the next plan is the optimum under the refined models: 100 = T + T / 1.7 */
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 63, 37);
    /* set_policy(DYNAMIC) starts again from the planning models */
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_DYNAMIC, NULL), HG_OK);
    ck_assert(hg__sched_model(s, 1).b_ms_per_row == 1.0);
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 50, 50);
    /* a new planning model restarts that device in the balancer */
    hg__cost_model half = {.a_ms = 0, .b_ms_per_row = 0.5, .valid = true};
    ck_assert_int_eq(hg__sched_set_model(s, 0, &half, NULL), HG_OK);
    ck_assert(hg__sched_model(s, 0).b_ms_per_row == 0.5);
    plan_ok(s, 90, NULL, c); /* 60 * 0.5 = 30 * 1 */
    EXPECT_COUNTS(c, 60, 30);
    hg__sched_destroy(s);
}
END_TEST

/* Observe one step of 50 + 50 rows taking ms0 and ms1. */
static hg__sched_note observe2(hg__sched *s, double ms0, double ms1)
{
    size_t rows[2] = {50, 50};
    double ms[2] = {ms0, ms1};
    hg__sched_note note;
    hg_error e;
    ck_assert_msg(hg__sched_observe(s, rows, ms, &note, &e) == HG_OK, "%s", e.message);
    return note;
}

START_TEST(solo_guard)
{
    /* Both 1 ms/row alone; sharing 100 rows should take 50 ms, the best alone 100 ms. */
    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(0, 1, 1)};
    hg__sched *s = make(2, d, HG__POLICY_DYNAMIC, true, 1);
    size_t c[2];
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 50, 50);
    /* 102 ms is not more than 1.03 x 100 ms: not slow */
    ck_assert(!observe2(s, 102, 102).solo);
    ck_assert(!observe2(s, 102, 102).solo);
    /* slow, then not slow: the count starts again */
    ck_assert(!observe2(s, 110, 110).solo);
    ck_assert(!observe2(s, 60, 60).solo);
    ck_assert(!observe2(s, 110, 110).solo);
    hg__sched_note n = observe2(s, 110, 110);
    ck_assert(n.solo);
    ck_assert_uint_eq(n.solo_dev, 0); /* a tie: the first */
    ck_assert(n.shared_ms == 110 && n.solo_ms == 100);
    ck_assert_int_eq(n.solo_steps, 16);
    /* 16 plans on device 0 alone, then sharing again */
    for (int k = 0; k < 16; k++) {
        plan_ok(s, 100, NULL, c);
        EXPECT_COUNTS(c, 100, 0);
    }
    plan_ok(s, 100, NULL, c);
    ck_assert(c[0] > 0 && c[1] > 0 && c[0] + c[1] == 100);
    hg__sched_destroy(s);
}
END_TEST

/*
 * A probe's steps are not the guard's to judge.  Devices 0 and 1 take 1 ms a row; device 2
 * (50 ms fixed, 1 ms a row calibrated) takes 300 ms whatever its rows, under 1.03 x the
 * best alone (300 ms for 300 rows), until the balancer drops it; its probe's two steps then
 * take 400 ms, slow by the guard's measure.  Without the exemption they would start the
 * guard: 16 plans on device 0 alone, device 1 idle.
 */
START_TEST(solo_guard_skips_probes)
{
    hg__sched_device d[3] = {dev_of(0, 1, 1), dev_of(0, 1, 1), dev_of(50, 1, 1)};
    hg__sched *s = make(3, d, HG__POLICY_DYNAMIC, true, 1);
    size_t c[3];
    bool dropped = false;
    size_t probe_steps = 0;
    for (int step = 0; step < 60 && probe_steps < HG__PROBE_STEPS + 1; step++) {
        plan_ok(s, 300, NULL, c);
        ck_assert_uint_eq(c[0] + c[1] + c[2], 300);
        ck_assert_msg(c[0] > 0 && c[1] > 0, "step %d: %zu / %zu / %zu", step, c[0], c[1],
                      c[2]);
        dropped |= c[2] == 0;
        bool probing = dropped && c[2] > 0;
        if (probing)
            probe_steps++;
        else if (probe_steps > 0)
            probe_steps = HG__PROBE_STEPS + 1; /* the probe is over: one plan after it */
        double ms[3] = {(double)c[0], (double)c[1], c[2] ? (probing ? 400.0 : 300.0) : 0.0};
        hg__sched_note note;
        hg_error e;
        ck_assert_msg(hg__sched_observe(s, c, ms, &note, &e) == HG_OK, "%s", e.message);
        ck_assert_msg(!note.solo, "step %d: the guard started (%zu / %zu / %zu rows)", step,
                      c[0], c[1], c[2]);
    }
    ck_assert_msg(dropped && probe_steps == HG__PROBE_STEPS + 1, "no probe ran");
    hg__sched_destroy(s);
}
END_TEST

START_TEST(solo_guard_alone_model_and_caps)
{
    /* Planned with co-run models (2 ms/row each); alone, device 1 does 0.5 ms/row. */
    hg__sched_device d[2] = {dev_of(0, 2, 1), dev_of(0, 2, 1)};
    d[1].alone = (hg__cost_model){.a_ms = 0, .b_ms_per_row = 0.5, .valid = true};
    hg__sched *s = make(2, d, HG__POLICY_DYNAMIC, true, 1);
    size_t c[2];
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 50, 50);
    /* shared: 100 ms; device 1 alone: 50 ms */
    ck_assert(!observe2(s, 100, 100).solo);
    hg__sched_note n = observe2(s, 100, 100);
    ck_assert(n.solo);
    ck_assert_uint_eq(n.solo_dev, 1);
    ck_assert(n.solo_ms == 50);
    /* a step no device can hold whole is shared, and does not spend a guard plan */
    size_t caps[2] = {60, 60};
    plan_ok(s, 100, caps, c);
    EXPECT_COUNTS(c, 50, 50);
    /* one device 1 cannot hold goes to the best alone that can: device 0 */
    size_t caps1[2] = {SIZE_MAX, 60};
    plan_ok(s, 100, caps1, c);
    EXPECT_COUNTS(c, 100, 0);
    for (int k = 0; k < 15; k++) {
        plan_ok(s, 100, NULL, c);
        EXPECT_COUNTS(c, 0, 100);
    }
    plan_ok(s, 100, NULL, c);
    ck_assert(c[0] > 0);
    /* a switch of policy clears the guard */
    ck_assert(!observe2(s, 100, 100).solo);
    ck_assert(observe2(s, 100, 100).solo);
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_DYNAMIC, NULL), HG_OK);
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 50, 50);
    hg__sched_destroy(s);

    /* no guard when it is off, and never under MODEL */
    for (int off = 0; off < 2; off++) {
        s = make(2, d, off ? HG__POLICY_MODEL : HG__POLICY_DYNAMIC, off == 1, 1);
        for (int k = 0; k < 4; k++) {
            plan_ok(s, 100, NULL, c);
            ck_assert(!observe2(s, 1000, 1000).solo);
        }
        plan_ok(s, 100, NULL, c);
        ck_assert(c[0] > 0 && c[1] > 0);
        hg__sched_destroy(s);
    }
}
END_TEST

/*
 * A small world for the solo guard's trials: device i computes a row in alone[i] ms alone,
 * contention times that when two or more devices share a step, and a step whose set of
 * devices differs from the last step's takes cold times longer (a switch is cold).
 */
typedef struct world {
    size_t n;
    double alone[MAXDEV];
    double fixed[MAXDEV];
    double contention, cold;
    size_t last[MAXDEV];
} world;

typedef struct run_log {
    int    trials, holds;
    size_t trial_dev[8], hold_dev[8];
    double trial_ms[8], hold_ms[8];
    int    hold_steps[8];
    int    shared_plans, plans;
} run_log;

static void run_steps(hg__sched *s, world *w, size_t total, int steps, run_log *lg)
{
    for (int k = 0; k < steps; k++) {
        size_t c[MAXDEV];
        double ms[MAXDEV];
        plan_ok(s, total, NULL, c);
        size_t active = 0;
        bool same = true;
        for (size_t i = 0; i < w->n; i++) {
            active += c[i] > 0;
            same &= (c[i] > 0) == (w->last[i] > 0);
        }
        for (size_t i = 0; i < w->n; i++) {
            ms[i] = c[i] ? (w->fixed[i] + (double)c[i] * w->alone[i] *
                                              (active >= 2 ? w->contention : 1.0)) *
                               (same ? 1.0 : w->cold)
                         : 0;
            w->last[i] = c[i];
        }
        lg->plans++;
        lg->shared_plans += active >= 2;
        hg__sched_note note;
        hg_error e;
        ck_assert_msg(hg__sched_observe(s, c, ms, &note, &e) == HG_OK, "%s", e.message);
        if (note.trial && lg->trials < 8) {
            lg->trial_dev[lg->trials] = note.trial_dev;
            lg->trial_ms[lg->trials++] = note.trial_ms;
        }
        if (note.solo && lg->holds < 8) {
            lg->hold_dev[lg->holds] = note.solo_dev;
            lg->hold_ms[lg->holds] = note.solo_ms;
            lg->hold_steps[lg->holds++] = note.solo_steps;
        }
    }
}

/*
 * Two views of the same cores: running together, each computes a row 3.5 times slower than
 * alone.  Calibration (a slow phase) rated both 2.5 times slower than they are alone:
 * device 0 at 1 ms a row (0.4 alone), device 1 at 2 (0.8).  Shared steps (93 ms for 100
 * rows) beat both models alone (100 and 200 ms), so the guard has nothing to hold on; but
 * each device runs a row 1.4 times slower than its model says (they contend), and device 0
 * is predicted within 2 x the step: after 4 planned steps it is tried alone.  Its second
 * step (the first is cold, twice as long, and not taken) is 40 ms.  The shared steps are
 * then slow against it: two of them start a hold of 16 plans on device 0; after it,
 * sharing loses again and the next hold is 32.
 */
START_TEST(trial_of_contending_devices)
{
    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(0, 2, 1)};
    hg__sched *s = make(2, d, HG__POLICY_DYNAMIC, true, 1);
    world w = {.n = 2, .alone = {0.4, 0.8}, .contention = 3.5, .cold = 2.0};
    run_log lg = {0};
    run_steps(s, &w, 100, 60, &lg);
    ck_assert_int_ge(lg.trials, 1);
    ck_assert_uint_eq(lg.trial_dev[0], 0);
    ck_assert_double_eq_tol(lg.trial_ms[0], 40.0, 1e-9);
    ck_assert_int_ge(lg.holds, 2);
    ck_assert_uint_eq(lg.hold_dev[0], 0);
    ck_assert_double_eq_tol(lg.hold_ms[0], 40.0, 1e-9); /* the warm observation */
    ck_assert_int_eq(lg.hold_steps[0], 16);
    ck_assert_uint_eq(lg.hold_dev[1], 0);
    ck_assert_int_eq(lg.hold_steps[1], 32); /* sharing lost again: twice as long */
    /* most of the 60 steps ran on device 0 alone */
    ck_assert_msg(lg.shared_plans <= 12, "%d shared plans of 60", lg.shared_plans);
    /* a switch of policy forgets what was observed: the first plan shares by the models */
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_DYNAMIC, NULL), HG_OK);
    size_t c[2];
    plan_ok(s, 100, NULL, c);
    EXPECT_COUNTS(c, 67, 33);
    hg__sched_destroy(s);
}
END_TEST

/* Devices that run side by side as fast as their models say are never tried alone, and the
   guard never holds: 300 steps of sharing. */
START_TEST(no_trial_without_contention)
{
    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(0, 2, 1)};
    hg__sched *s = make(2, d, HG__POLICY_DYNAMIC, true, 1);
    world w = {.n = 2, .alone = {1.0, 2.0}, .contention = 1.0, .cold = 1.0};
    run_log lg = {0};
    run_steps(s, &w, 300, 300, &lg);
    ck_assert_int_eq(lg.trials, 0);
    ck_assert_int_eq(lg.holds, 0);
    ck_assert_int_eq(lg.shared_plans, 300);
    hg__sched_destroy(s);
}
END_TEST

/*
 * One device's steps, and another the models cannot tell apart from it: device 1's model
 * (100 ms fixed, 0.25 ms a row) says 125 ms for 100 rows alone, within 1.25 x device 0's
 * 100 ms, and its fixed cost keeps it out of every plan.  Alone it takes 60 ms: tried, its
 * observation makes device 0's steps slow, and the guard holds on device 1.  Without the
 * guard (solo_guard off) nothing is tried and every step stays on device 0.
 */
START_TEST(trial_of_an_unused_device)
{
    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(100, 0.25, 1)};
    for (int guard = 1; guard >= 0; guard--) {
        hg__sched *s = make(2, d, HG__POLICY_DYNAMIC, guard == 1, 1);
        world w = {.n = 2, .alone = {1.0, 0.3}, .fixed = {0, 30}, .contention = 1.0,
                   .cold = 1.0};
        run_log lg = {0};
        run_steps(s, &w, 100, 12, &lg);
        if (guard) {
            ck_assert_int_eq(lg.trials, 1);
            ck_assert_uint_eq(lg.trial_dev[0], 1);
            ck_assert_double_eq_tol(lg.trial_ms[0], 60.0, 1e-9);
            ck_assert_int_eq(lg.holds, 1);
            ck_assert_uint_eq(lg.hold_dev[0], 1);
            ck_assert_double_eq_tol(lg.hold_ms[0], 60.0, 1e-9);
        } else {
            ck_assert_int_eq(lg.trials + lg.holds, 0);
            ck_assert_uint_eq(w.last[0], 100);
        }
        hg__sched_destroy(s);
    }
}
END_TEST

START_TEST(recovery)
{
    /* device 0 failed (cap 0); 1 and 2 at 2 and 4 ms/row recompute 30 rows: 20 + 10 */
    hg__sched_device d[3] = {dev_of(0, 1, 1), dev_of(0, 2, 1), dev_of(0, 4, 1)};
    hg__sched *s = make(3, d, HG__POLICY_MODEL, true, 1);
    size_t caps[3] = {0, SIZE_MAX, SIZE_MAX}, c[3];
    hg_error e;
    ck_assert_int_eq(hg__sched_plan_recovery(s, 30, caps, c, &e), HG_OK);
    EXPECT_COUNTS(c, 0, 20, 10);
    /* WEIGHTS: by weight */
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_WEIGHTS, NULL), HG_OK);
    ck_assert_int_eq(hg__sched_plan_recovery(s, 30, caps, c, &e), HG_OK);
    EXPECT_COUNTS(c, 0, 15, 15);
    /* DYNAMIC: the balancer's current models, and the solo guard does not apply */
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_DYNAMIC, NULL), HG_OK);
    size_t rows[3] = {0, 10, 10};
    double ms[3] = {0, 40, 40}; /* device 1: 4 ms/row now, a jump: b = 0.6 + 2.8 = 3.4 */
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, NULL, NULL), HG_OK);
    ck_assert_double_eq_tol(hg__sched_model(s, 1).b_ms_per_row, 3.4, 1e-12);
    ck_assert_int_eq(hg__sched_plan_recovery(s, 37, caps, c, &e), HG_OK);
    /* 37 = T / 3.4 + T / 4: T = 68, 20 + 17 */
    EXPECT_COUNTS(c, 0, 20, 17);
    /* no side effects: the same call gives the same counts */
    ck_assert_int_eq(hg__sched_plan_recovery(s, 37, caps, c, &e), HG_OK);
    EXPECT_COUNTS(c, 0, 20, 17);
    /* no survivor with a model: by weight */
    hg__cost_model none = {0};
    ck_assert_int_eq(hg__sched_set_policy(s, HG__POLICY_MODEL, NULL), HG_OK);
    ck_assert_int_eq(hg__sched_set_model(s, 1, &none, NULL), HG_OK);
    ck_assert_int_eq(hg__sched_set_model(s, 2, &none, NULL), HG_OK);
    ck_assert_int_eq(hg__sched_plan_recovery(s, 31, caps, c, &e), HG_OK);
    EXPECT_COUNTS(c, 0, 16, 15);
    /* ... while a whole step under MODEL needs a model */
    size_t keep[3] = {7, 7, 7};
    ck_assert_int_eq(hg__sched_plan(s, 31, caps, keep, &e), HG_INVALID_ARGUMENT);
    EXPECT_COUNTS(keep, 7, 7, 7);
    /* a survivor excluded, too */
    ck_assert_int_eq(hg__sched_exclude(s, 2, "quarantined", NULL), HG_OK);
    ck_assert_int_eq(hg__sched_plan_recovery(s, 31, caps, c, &e), HG_OK);
    EXPECT_COUNTS(c, 0, 31, 0);
    ck_assert_int_eq(hg__sched_exclude(s, 1, "quarantined", NULL), HG_OK);
    ck_assert_int_eq(hg__sched_plan_recovery(s, 31, caps, c, &e), HG_INVALID_ARGUMENT);
    hg__sched_destroy(s);
}
END_TEST

START_TEST(errors)
{
    hg__sched *s = (hg__sched *)1;
    hg_error e;
    hg__sched_options o;
    hg__sched_options_init(&o);
    ck_assert_int_eq(hg__sched_create(0, NULL, NULL, &s, &e), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(hg__sched_create(2, NULL, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    o.unit_rows = 0;
    ck_assert_int_eq(hg__sched_create(2, NULL, &o, &s, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "unit_rows") != NULL);
    o.unit_rows = 1;
    o.policy = (hg__policy)7;
    ck_assert_int_eq(hg__sched_create(2, NULL, &o, &s, &e), HG_INVALID_ARGUMENT);
    hg__sched_device bad[2] = {dev_of(0, 1, 1), dev_of(0, 0, 1)};
    ck_assert_int_eq(hg__sched_create(2, bad, NULL, &s, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "device 1") != NULL);
    bad[1] = dev_of(-1, 1, 1);
    ck_assert_int_eq(hg__sched_create(2, bad, NULL, &s, &e), HG_INVALID_ARGUMENT);
    bad[1] = dev_of(0, 1, NAN);
    ck_assert_int_eq(hg__sched_create(2, bad, NULL, &s, &e), HG_INVALID_ARGUMENT);
    bad[1] = dev_of(0, 1, 1);
    bad[1].alone = (hg__cost_model){.a_ms = 0, .b_ms_per_row = INFINITY, .valid = true};
    ck_assert_int_eq(hg__sched_create(2, bad, NULL, &s, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "alone") != NULL);

    hg__sched_device d[2] = {dev_of(0, 1, 1), dev_of(0, 1, 1)};
    s = make(2, d, HG__POLICY_MODEL, true, 1);
    /* set_device refuses and changes nothing */
    ck_assert_int_eq(hg__sched_set_weight(s, 0, -1, &e), HG_INVALID_ARGUMENT);
    ck_assert(hg__sched_device_get(s, 0)->weight == 1);
    ck_assert_int_eq(hg__sched_set_weight(s, 2, 1, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_set_device(s, 0, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_set_model(s, 0, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_exclude(s, 5, "x", &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_set_policy(s, (hg__policy)9, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_policy(s), HG__POLICY_MODEL);
    ck_assert_ptr_null(hg__sched_device_get(s, 2));
    /* plan: NULLs; caps too small (counts unchanged); no device */
    size_t c[2] = {7, 7};
    ck_assert_int_eq(hg__sched_plan(NULL, 10, NULL, c, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_plan(s, 10, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    size_t caps[2] = {3, 4};
    ck_assert_int_eq(hg__sched_plan(s, 10, caps, c, &e), HG_RANGE);
    EXPECT_COUNTS(c, 7, 7);
    plan_ok(s, 0, caps, c);
    EXPECT_COUNTS(c, 0, 0);
    ck_assert_int_eq(hg__sched_set_weight(s, 0, 0, &e), HG_OK);
    ck_assert_int_eq(hg__sched_set_weight(s, 1, 0, &e), HG_OK);
    ck_assert_int_eq(hg__sched_plan(s, 10, NULL, c, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "no device") != NULL);
    /* observe: NULLs, bad times (nothing changes) */
    size_t rows[2] = {5, 5};
    double ms[2] = {5, NAN};
    ck_assert_int_eq(hg__sched_observe(s, rows, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "device 1") != NULL);
    ms[1] = -1;
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, NULL, &e), HG_INVALID_ARGUMENT);
    rows[1] = 0; /* did not run: its time is not looked at */
    ck_assert_int_eq(hg__sched_observe(s, rows, ms, NULL, &e), HG_OK);
    ck_assert_int_eq(hg__sched_plan_recovery(NULL, 1, NULL, c, &e), HG_INVALID_ARGUMENT);
    hg__sched_destroy(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("sched");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, weights_policy);
    tcase_add_test(tc, model_policy);
    tcase_add_test(tc, units);
    tcase_add_test(tc, dynamic_policy);
    tcase_add_test(tc, solo_guard);
    tcase_add_test(tc, solo_guard_alone_model_and_caps);
    tcase_add_test(tc, solo_guard_skips_probes);
    tcase_add_test(tc, trial_of_contending_devices);
    tcase_add_test(tc, no_trial_without_contention);
    tcase_add_test(tc, trial_of_an_unused_device);
    tcase_add_test(tc, recovery);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
