/* SPDX-License-Identifier: MIT */
/*
 * test_corun.c - joint calibration (src/sched/corun.c) on a scripted simulator,
 * no device.
 *
 * The simulator's device i takes a_i + b_i f_i(S) n ms for n rows, where S is
 * the set of devices running in the same step and f_i(S) = 1 + sum over the
 * other devices j of S of k[i][j] (a shared resource: cores, a memory bus).
 * Its true b_i may differ from the solo model calibration is given (a model
 * that extrapolates badly from its calibration batches).  Every number is a
 * binary fraction, so every time and every fitted factor is exact, and the
 * tests expect exact row counts, factors, subsets, run counts and reasons.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/planner.h"
#include "sched/corun.h"

enum { MAXDEV = 4 };

typedef struct sim {
    size_t ndev;
    double a[MAXDEV], b[MAXDEV]; /* the true costs alone */
    double k[MAXDEV][MAXDEV];    /* k[i][j]: what j running costs i, per unit of b_i */
    size_t calls;
    size_t fail_at;              /* call number that fails (0: none) */
    bool   nan_at_first;         /* the first call returns NaN for device 0 */
    size_t slow_at;              /* call number whose times are multiplied by slow_by */
    size_t slow_at2;             /* a second such call (0: none) */
    double slow_by;
    size_t last[MAXDEV];         /* counts of the last call with every device running */
    size_t ran[MAXDEV];          /* calls in which each device ran */
} sim;

static double sim_ms(const sim *s, const size_t *counts, size_t i)
{
    double f = 1;
    for (size_t j = 0; j < s->ndev; j++)
        if (j != i && counts[j] > 0)
            f += s->k[i][j];
    return s->a[i] + s->b[i] * f * (double)counts[i];
}

static hg_status sim_run(void *user, const size_t *counts, double *ms, hg_error *err)
{
    sim *s = user;
    s->calls++;
    if (s->fail_at && s->calls == s->fail_at)
        return hg__error_set(err, HG_DEVICE_FAILED, 0, "scripted failure");
    bool all = true;
    for (size_t i = 0; i < s->ndev; i++) {
        all &= counts[i] > 0;
        s->ran[i] += counts[i] > 0;
        ms[i] = counts[i] ? sim_ms(s, counts, i) : 0;
    }
    if (all)
        memcpy(s->last, counts, s->ndev * sizeof *counts);
    bool slowed = (s->slow_at && s->calls == s->slow_at) ||
                  (s->slow_at2 && s->calls == s->slow_at2);
    for (size_t i = 0; slowed && i < s->ndev; i++)
        ms[i] *= s->slow_by;
    if (s->nan_at_first && s->calls == 1)
        ms[0] = NAN;
    return HG_OK;
}

static hg__cost_model mk(double a, double b)
{
    return (hg__cost_model){a, b, 10, 0, true};
}

static hg__corun_options opts(size_t rows)
{
    hg__corun_options o;
    hg__corun_options_init(&o);
    o.rows = rows;
    return o;
}

static void calibrate_ok(sim *s, const hg__cost_model *solo, const size_t *cap, size_t rows,
                         hg__corun_dev *out, hg__corun_summary *sum)
{
    hg__corun_options o = opts(rows);
    hg_error e;
    hg_status st = hg__corun_calibrate(s->ndev, solo, cap, &o, sim_run, s, out, sum, &e);
    ck_assert_msg(st == HG_OK, "%s: %s", hg_status_name(st), e.message);
}

/* The step the engine plans with the co-run models. */
static void corun_plan(size_t ndev, const hg__cost_model *solo, const hg__corun_dev *c,
                       size_t rows, size_t *counts)
{
    hg__cost_model m[MAXDEV];
    for (size_t i = 0; i < ndev; i++) {
        m[i] = hg__corun_model(&solo[i], &c[i]);
        if (c[i].excluded)
            m[i].valid = false;
    }
    hg_error e;
    double ms;
    ck_assert(hg__plan_affine(rows, m, ndev, NULL, counts, &ms, &e) == HG_OK);
}

/* Independent devices whose solo models are right: one run, factors 1, nobody out. */
START_TEST(independent_exact)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.5}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.5)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(out[0].slow == 1.0 && out[1].slow == 1.0);
    ck_assert(!out[0].excluded && !out[1].excluded);
    ck_assert_str_eq(out[0].reason, "");
    /* 1 + 0.25 * 800 = 1 + 0.5 * 400: the plan is balanced and measured
       once; device 0 alone (301 ms, the best alone) is measured too, device 1
       alone (601 ms) is not; 201 < 0.97 x 301, confirmed by 3 repeats of both */
    ck_assert_uint_eq(s.last[0], 800);
    ck_assert_uint_eq(s.last[1], 400);
    ck_assert_uint_eq(sum.runs, 8);
    ck_assert_uint_eq(sum.subsets, 2);
    ck_assert_uint_eq(s.ran[1], 4);
    ck_assert(sum.solo_ms == 301.0);
    ck_assert(sum.all_ms == 201.0 && sum.chosen_ms == 201.0 && sum.chosen == 2);
}
END_TEST

/*
 * Device 0's solo model is 1.5 x too fast (as POCL's pthread device's was,
 * 3.44 M rows/s calibrated against 2.03 M in steps): the first joint run
 * fits 1.5, and the second measures the balanced plan the engine then uses.
 */
START_TEST(independent_misfit)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.375, 0.5}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.5)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert_msg(out[0].slow == 1.5 && out[1].slow == 1.0, "factors %.17g %.17g",
                  out[0].slow, out[1].slow);
    /* device 0 alone: 451 ms = 1 + 1.5 x 0.25 x 1200, the solo guard's reference */
    ck_assert(out[0].slow_alone == 1.5 && out[1].slow_alone == 1.0);
    ck_assert(!out[0].excluded && !out[1].excluded);
    /* 1 + 0.375 * 686 = 258.25, 1 + 0.5 * 514 = 258 */
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert_uint_eq(plan[0], 686);
    ck_assert_uint_eq(plan[1], 514);
    /* the plan measured last is the plan the engine will run */
    ck_assert_uint_eq(s.last[0], 686);
    ck_assert_uint_eq(s.last[1], 514);
    double t0 = sim_ms(&s, plan, 0), t1 = sim_ms(&s, plan, 1);
    ck_assert(t0 == 258.25 && t1 == 258.0);
    ck_assert(fmin(t0, t1) / fmax(t0, t1) >= 0.95);
    /* all: the solo plan and the refitted one; device 0 alone (the best by
       its solo model) measured 451 ms; device 1 alone (601 ms) is not run;
       3 repeats of both confirm */
    ck_assert_uint_eq(sum.runs, 9);
    ck_assert_uint_eq(sum.subsets, 2);
    ck_assert_uint_eq(s.ran[1], 5);
    ck_assert(sum.all_ms == 258.25 && sum.chosen_ms == 258.25 && sum.chosen == 2);
}
END_TEST

/*
 * Two equal devices that share the cores: together each runs 2.5 x slower,
 * so 1200 rows take 376 ms together and 301 ms on either alone.  The first
 * device is kept, the second excluded with the times in its reason.
 */
START_TEST(shared_cores)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.25}, .k = {{0, 1.5}, {1.5, 0}}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.25)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && out[1].excluded);
    ck_assert(out[0].slow == 1.0);
    ck_assert(out[1].slow == 2.5); /* its factor beside the others, for reports */
    ck_assert(out[0].slow_all == 2.5 && out[1].slow_all == 2.5);
    ck_assert_str_eq(out[1].reason, "does not pay for itself: a step of 1200 rows took 376 "
                                    "ms on 2 devices together, 301 ms without it (on 1)");
    ck_assert_uint_eq(sum.runs, 3);
    ck_assert(sum.all_ms == 376.0 && sum.chosen_ms == 301.0 && sum.chosen == 1);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert_uint_eq(plan[0], 1200);
    ck_assert_uint_eq(plan[1], 0);
}
END_TEST

/*
 * Equal sharing costs exactly what it gains (factor 2 for two equal
 * devices): 1 + 0.25 * 2 * 600 = 301 ms either way.  Sharing must beat the
 * best device alone by more than 3%: the first device runs alone, and the
 * second gets no rows.
 */
START_TEST(tie_runs_alone)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.25}, .k = {{0, 1}, {1, 0}}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.25)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && out[1].excluded);
    ck_assert(out[0].slow == 1.0 && out[1].slow_all == 2.0);
    ck_assert_str_eq(out[1].reason, "does not pay for itself: a step of 1200 rows took 301 "
                                    "ms on 2 devices together, 301 ms without it (on 1); "
                                    "sharing must be faster by more than 3%");
    ck_assert(sum.all_ms == 301.0 && sum.chosen_ms == 301.0 && sum.chosen == 1);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert(plan[0] == 1200 && plan[1] == 0);
}
END_TEST

/*
 * A shared resource that takes almost all the gain: together each device
 * runs 1.96875 x slower, 1 + 0.25 * 1.96875 * 600 = 296.3125 ms against 301
 * alone, 1.6% faster, within the noise margin (3%): the useless second
 * device gets no rows; no repeat is run.
 */
START_TEST(small_gain_runs_alone)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.25},
             .k = {{0, 0.96875}, {0.96875, 0}}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.25)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && out[1].excluded);
    ck_assert_str_eq(out[1].reason, "does not pay for itself: a step of 1200 rows took 296 "
                                    "ms on 2 devices together, 301 ms without it (on 1); "
                                    "sharing must be faster by more than 3%");
    /* every device (1 run: the refit plans the same split), each alone (1 each) */
    ck_assert_uint_eq(sum.runs, 3);
    ck_assert(sum.chosen == 1 && sum.chosen_ms == 301.0 && sum.solo_ms == 301.0);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert(plan[0] == 1200 && plan[1] == 0);
}
END_TEST

/*
 * A device that pays: together each device runs 1.5 x slower, 1 + 0.25 *
 * 1.5 * 600 = 226 ms against 301 alone; confirmed by 3 repeats of both: both
 * keep their rows.
 */
START_TEST(paying_device_keeps_rows)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.25}, .k = {{0, 0.5}, {0.5, 0}}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.25)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && !out[1].excluded);
    ck_assert(out[0].slow == 1.5 && out[1].slow == 1.5);
    /* every device 1 run, device 0 alone 1, device 1 alone 1 (301 < 1.5 x 226), 3
       repeats of the shared and the alone plans 6 */
    ck_assert_uint_eq(sum.runs, 9);
    ck_assert(sum.chosen == 2 && sum.chosen_ms == 226.0 && sum.solo_ms == 301.0);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert(plan[0] == 600 && plan[1] == 600);
}
END_TEST

/*
 * The same, but two of the three repeats of the shared step are slowed 2x
 * (another program woke up): not confirmed, so the best device runs alone.
 */
START_TEST(unconfirmed_gain_runs_alone)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.25}, .k = {{0, 0.5}, {0.5, 0}},
             .slow_at = 4, .slow_at2 = 6, .slow_by = 2};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.25)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && out[1].excluded);
    ck_assert_str_eq(out[1].reason, "does not pay for itself: a step of 1200 rows took 226 "
                                    "ms on 2 devices together, 301 ms without it (on 1), then "
                                    "452 and 301 ms (medians of 3 repeats, faster in 1); it "
                                    "must be faster by over 3% first and in most repeats");
    ck_assert_uint_eq(sum.runs, 9);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert(plan[0] == 1200 && plan[1] == 0);
}
END_TEST

/*
 * One of the three repeats of the shared step slowed 2x: one noisy step does not
 * decide, the other two repeats confirm, and both devices keep their rows.
 */
START_TEST(one_noisy_repeat_does_not_decide)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.25}, .k = {{0, 0.5}, {0.5, 0}},
             .slow_at = 6, .slow_by = 2};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.25)};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && !out[1].excluded);
    ck_assert_uint_eq(sum.runs, 9);
    ck_assert(sum.chosen == 2 && sum.chosen_ms == 226.0);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert(plan[0] == 600 && plan[1] == 600);
}
END_TEST

/*
 * Three devices: two fast ones that do not disturb each other, and a very
 * slow one (Oclgrind-like) whose thread slows both by half.  Without it
 * 1200 rows take 151 ms; with it 1 + 0.375 n each: it is excluded.
 */
START_TEST(useless_device)
{
    sim s = {.ndev = 3, .a = {1, 1, 1}, .b = {0.25, 0.25, 64},
             .k = {{0, 0, 0.5}, {0, 0, 0.5}, {0, 0, 0}}};
    hg__cost_model solo[3] = {mk(1, 0.25), mk(1, 0.25), mk(1, 64)};
    hg__corun_dev out[3];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && !out[1].excluded && out[2].excluded);
    ck_assert(out[0].slow == 1.0 && out[1].slow == 1.0);
    ck_assert_msg(strstr(out[2].reason, "without it (on 2)") &&
                      strstr(out[2].reason, "151 ms"), "%s", out[2].reason);
    /* every device: 2 runs; then without the slowest (device 2): 1 run, as
       it starts from the factors fitted on every device, which are off by
       what device 2 cost and give the same plan; the other pairs (about
       300 ms by the solo models) and device 0 alone (301 ms) exceed
       1.5 x 151: not run */
    ck_assert_uint_eq(sum.runs, 10); /* + device 0 alone, the best, and 3 repeats of both */
    ck_assert_uint_eq(sum.subsets, 3);
    ck_assert_uint_eq(s.ran[2], 2);
    ck_assert(sum.chosen_ms == 151.0 && sum.chosen == 2);
    size_t plan[3];
    corun_plan(3, solo, out, 1200, plan);
    ck_assert(plan[0] == 600 && plan[1] == 600 && plan[2] == 0);
}
END_TEST

/* With the slow device slowing nobody, it keeps the rows it can finish in time. */
START_TEST(slow_device_kept)
{
    sim s = {.ndev = 3, .a = {1, 1, 1}, .b = {0.25, 0.25, 16}};
    hg__cost_model solo[3] = {mk(1, 0.25), mk(1, 0.25), mk(1, 16)};
    hg__corun_dev out[3];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && !out[1].excluded && !out[2].excluded);
    ck_assert(out[0].slow == 1.0 && out[1].slow == 1.0 && out[2].slow == 1.0);
    size_t plan[3];
    corun_plan(3, solo, out, 1200, plan);
    ck_assert(plan[2] > 0 && plan[0] + plan[1] + plan[2] == 1200);
}
END_TEST

/*
 * A device whose fixed cost exceeds the step (Oclgrind's tens of ms before
 * its first row) gets no rows in any plan: excluded with that reason, and
 * the set without it -- the same plan -- is not measured again.
 */
START_TEST(fixed_cost_device)
{
    sim s = {.ndev = 3, .a = {1, 1, 1000}, .b = {0.25, 0.25, 0.25}};
    hg__cost_model solo[3] = {mk(1, 0.25), mk(1, 0.25), mk(1000, 0.25)};
    hg__corun_dev out[3];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && !out[1].excluded && out[2].excluded);
    ck_assert_str_eq(out[2].reason, "not worth its fixed cost: 1e+03 ms before its first "
                                    "row, while a step of 1200 rows took 151 ms on the 2 "
                                    "device(s) kept");
    ck_assert_uint_eq(s.ran[2], 0);
    ck_assert_uint_eq(sum.runs, 8); /* every device; device 0 alone; 3 repeats of both */
    ck_assert(sum.chosen == 2 && sum.chosen_ms == 151.0);
}
END_TEST

/* Both: the second of two devices sharing the cores, and a fixed cost too high. */
START_TEST(fixed_cost_and_shared)
{
    sim s = {.ndev = 3, .a = {1, 1, 1000}, .b = {0.25, 0.25, 0.25},
             .k = {{0, 1.5, 0}, {1.5, 0, 0}, {0, 0, 0}}};
    hg__cost_model solo[3] = {mk(1, 0.25), mk(1, 0.25), mk(1000, 0.25)};
    hg__corun_dev out[3];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, NULL, 1200, out, &sum);
    ck_assert(!out[0].excluded && out[1].excluded && out[2].excluded);
    ck_assert(out[0].slow == 1.0);
    ck_assert_str_eq(out[1].reason, "does not pay for itself: a step of 1200 rows took 376 ms "
                                    "on 2 devices together, 301 ms without it (on 1)");
    ck_assert_str_eq(out[2].reason, "not worth its fixed cost: 1e+03 ms before its first "
                                    "row, while a step of 1200 rows took 301 ms on the 1 "
                                    "device(s) kept");
    ck_assert_uint_eq(s.ran[2], 0);
    /* every device; without device 1; without device 0; device 0 alone */
    ck_assert_uint_eq(sum.runs, 4);
    ck_assert(sum.chosen == 1 && sum.chosen_ms == 301.0 && sum.all_ms == 376.0);
}
END_TEST

/* Unusable devices (invalid model, cap 0) never run and are not excluded. */
START_TEST(unusable_devices)
{
    sim s = {.ndev = 3, .a = {1, 1, 1}, .b = {0.25, 0.5, 0.25}};
    hg__cost_model solo[3] = {mk(1, 0.25), mk(1, 0.5), {.valid = false}};
    size_t cap[3] = {SIZE_MAX, 0, SIZE_MAX};
    hg__corun_dev out[3];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, cap, 1200, out, &sum);
    ck_assert_uint_eq(s.ran[1], 0);
    ck_assert_uint_eq(s.ran[2], 0);
    for (size_t i = 0; i < 3; i++)
        ck_assert(!out[i].excluded && out[i].reason[0] == '\0');
    ck_assert_uint_eq(sum.runs, 1); /* one device: measured alone once */
    ck_assert(out[0].slow == 1.0);
}
END_TEST

/* Caps: a device that cannot hold the step is never "best alone". */
START_TEST(caps_respected)
{
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.5}, .k = {{0, 3}, {3, 0}}};
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.5)};
    size_t cap[2] = {1000, SIZE_MAX};
    hg__corun_dev out[2];
    hg__corun_summary sum;
    calibrate_ok(&s, solo, cap, 1200, out, &sum);
    /* device 0 cannot take 1200 rows alone: only device 1 alone competes */
    ck_assert(!out[1].excluded);
    size_t plan[2];
    corun_plan(2, solo, out, 1200, plan);
    ck_assert(plan[0] <= 1000 && plan[0] + plan[1] == 1200);
}
END_TEST

START_TEST(errors)
{
    hg__cost_model solo[2] = {mk(1, 0.25), mk(1, 0.5)};
    hg__corun_dev out[2];
    hg__corun_options o = opts(100);
    hg_error e;
    sim s = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.5}};
    ck_assert(hg__corun_calibrate(2, NULL, NULL, &o, sim_run, &s, out, NULL, &e) ==
              HG_INVALID_ARGUMENT);
    ck_assert(hg__corun_calibrate(2, solo, NULL, NULL, sim_run, &s, out, NULL, &e) ==
              HG_INVALID_ARGUMENT);
    ck_assert(hg__corun_calibrate(0, solo, NULL, &o, sim_run, &s, out, NULL, &e) ==
              HG_INVALID_ARGUMENT);
    ck_assert(hg__corun_calibrate(2, solo, NULL, &o, NULL, &s, out, NULL, &e) ==
              HG_INVALID_ARGUMENT);
    hg__corun_options zero = opts(0);
    ck_assert(hg__corun_calibrate(2, solo, NULL, &zero, sim_run, &s, out, NULL, &e) ==
              HG_INVALID_ARGUMENT);
    size_t small[2] = {10, 20};
    ck_assert(hg__corun_calibrate(2, solo, small, &o, sim_run, &s, out, NULL, &e) ==
              HG_NO_DEVICE);
    hg__cost_model none[2] = {{.valid = false}, {.valid = false}};
    ck_assert(hg__corun_calibrate(2, none, NULL, &o, sim_run, &s, out, NULL, &e) ==
              HG_NO_DEVICE);
    ck_assert_uint_eq(s.calls, 0);

    /* the callback's failure ends it, with every device as alone */
    sim f = {.ndev = 2, .a = {1, 1}, .b = {0.375, 0.5}, .fail_at = 2};
    ck_assert(hg__corun_calibrate(2, solo, NULL, &o, sim_run, &f, out, NULL, &e) ==
              HG_DEVICE_FAILED);
    ck_assert_str_eq(e.message, "scripted failure");
    ck_assert(out[0].slow == 1.0 && !out[0].excluded && out[1].slow == 1.0);

    sim n = {.ndev = 2, .a = {1, 1}, .b = {0.25, 0.5}, .nan_at_first = true};
    ck_assert(hg__corun_calibrate(2, solo, NULL, &o, sim_run, &n, out, NULL, &e) ==
              HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "device 0") != NULL);
}
END_TEST

/* The co-run model scales b only, and leaves invalid models alone. */
START_TEST(model_fn)
{
    hg__cost_model solo = mk(2, 0.5), bad = {0};
    hg__corun_dev c = {.slow = 1.5};
    hg__cost_model m = hg__corun_model(&solo, &c);
    ck_assert(m.valid && m.a_ms == 2 && m.b_ms_per_row == 0.75);
    ck_assert(!hg__corun_model(&bad, &c).valid);
    c.slow = NAN;
    ck_assert(hg__corun_model(&solo, &c).b_ms_per_row == 0.5);
    ck_assert(hg__corun_model(&solo, NULL).b_ms_per_row == 0.5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corun");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, independent_exact);
    tcase_add_test(tc, independent_misfit);
    tcase_add_test(tc, shared_cores);
    tcase_add_test(tc, tie_runs_alone);
    tcase_add_test(tc, small_gain_runs_alone);
    tcase_add_test(tc, paying_device_keeps_rows);
    tcase_add_test(tc, unconfirmed_gain_runs_alone);
    tcase_add_test(tc, one_noisy_repeat_does_not_decide);
    tcase_add_test(tc, useless_device);
    tcase_add_test(tc, slow_device_kept);
    tcase_add_test(tc, fixed_cost_device);
    tcase_add_test(tc, fixed_cost_and_shared);
    tcase_add_test(tc, unusable_devices);
    tcase_add_test(tc, caps_respected);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, model_fn);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
