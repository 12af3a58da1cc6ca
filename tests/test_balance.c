/* SPDX-License-Identifier: MIT */
/*
 * test_balance.c - dynamic rebalancing (balance.c) against a simulator, no device.
 *
 * The simulator gives each device a true cost a_i + b_i * n ms, times a slowdown factor,
 * times optional multiplicative noise (fixed-seed LCG, uniform in +/-3%); the balancer sees
 * only the noisy times.  Balance efficiency of a step is
 *
 *     sum_i busy_i / (active * max_i busy_i)
 *
 * over the devices given rows, busy_i being device i's true (noiseless) time.  Scenarios:
 *   1. stable devices from a wrong initial model converge (efficiency >= 0.95) and then the
 *      counts change on at most 1 of 20 further steps (no oscillation); without noise they
 *      do not change at all;
 *   2. one device slows 4x at step k: efficiency is >= 0.9 again within 3 steps;
 *   3. it recovers at step k2: its share is back within 10% of its pre-slowdown share
 *      within 5 steps;
 *   4. a device with a fixed overhead that slows down is dropped to 0 rows; after it
 *      recovers a probe finds out and it gets its share back; a device left out at its
 *      calibrated cost is never probed;
 *   5. hysteresis and the changed flag; 6. every error;
 *   7. a device calibrated again (its cached profile was stale) takes the new model as its
 *      model and its probe reference, and the next plan skips the hysteresis.
 * Set HG_TEST_VERBOSE=1 to print the measured convergence numbers.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/balance.h"
#include "sched/planner.h"

enum { MAXDEV = 8 };

/* ---- simulator --------------------------------------------------------- */

typedef struct lcg {
    uint64_t state;
} lcg;

static uint64_t lcg_next(lcg *r)
{
    r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return r->state >> 11;
}

static double lcg_unit(lcg *r)
{
    return (double)(lcg_next(r) >> 1) / 4503599627370496.0; /* [0, 1) */
}

typedef struct sim {
    size_t n;
    double a[MAXDEV], b[MAXDEV], slow[MAXDEV];
    double noise; /* relative amplitude, 0: none */
    double cold;  /* > 1: a device's first step after a step without rows takes this many
                     times longer (a thread or clock that went idle); 0 or 1: none */
    bool   idle[MAXDEV]; /* it had no rows in the last step */
    lcg    r;
} sim;

static double true_ms(const sim *s, size_t i, size_t rows)
{
    double cold = s->idle[i] && s->cold > 1.0 ? s->cold : 1.0;
    return rows ? cold * s->slow[i] * (s->a[i] + s->b[i] * (double)rows) : 0.0;
}

typedef struct step_result {
    size_t counts[MAXDEV];
    bool   changed;
    double eff;
    double makespan; /* true, noiseless */
} step_result;

/* Plan `total` rows, run them on the simulator, show the balancer the times. */
static step_result run_step(hg__balancer *bl, sim *s, size_t total)
{
    step_result res;
    hg_error e;
    hg_status st = hg__balancer_plan(bl, total, NULL, res.counts, &res.changed, &e);
    ck_assert_msg(st == HG_OK, "plan: %s", e.message);
    double ms[MAXDEV], sum = 0.0, worst = 0.0;
    size_t active = 0, got = 0;
    for (size_t i = 0; i < s->n; i++) {
        double t = true_ms(s, i, res.counts[i]);
        got += res.counts[i];
        if (res.counts[i] > 0) {
            active++;
            sum += t;
            worst = fmax(worst, t);
        }
        ms[i] = t * (1.0 + s->noise * (2.0 * lcg_unit(&s->r) - 1.0));
    }
    for (size_t i = 0; i < s->n; i++)
        s->idle[i] = res.counts[i] == 0;
    ck_assert_uint_eq(got, total);
    st = hg__balancer_observe(bl, res.counts, ms, &e);
    ck_assert_msg(st == HG_OK, "observe: %s", e.message);
    res.eff = active ? sum / ((double)active * worst) : 1.0;
    res.makespan = worst;
    return res;
}

static hg__cost_model mk(double a, double b)
{
    return (hg__cost_model){a, b, 5, 0, true};
}

static hg__balancer *make(size_t n, const hg__cost_model *init)
{
    hg__balancer *bl = NULL;
    hg_error e;
    hg_status st = hg__balancer_create(n, init, NULL, &bl, &e);
    ck_assert_msg(st == HG_OK, "create: %s", e.message);
    ck_assert_ptr_nonnull(bl);
    return bl;
}

static bool verbose(void)
{
    const char *v = getenv("HG_TEST_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

static double share(const step_result *r, size_t i, size_t total)
{
    return (double)r->counts[i] / (double)total;
}

/* Three unlike devices; the scenarios below share them. */
static void three_devices(sim *s, double noise, uint64_t seed)
{
    *s = (sim){.n = 3, .noise = noise, .r = {seed}};
    const double a[] = {0.5, 2.0, 0.2}, b[] = {0.010, 0.004, 0.025};
    for (size_t i = 0; i < 3; i++) {
        s->a[i] = a[i];
        s->b[i] = b[i];
        s->slow[i] = 1.0;
    }
}

/* ---- 1. convergence without oscillation -------------------------------- */

static void converge(double noise, uint64_t seed, size_t max_changes)
{
    sim s;
    three_devices(&s, noise, seed);
    /* calibration off: overheads wrong, per-row costs all alike */
    const hg__cost_model init[] = {mk(0.3, 0.02), mk(1.0, 0.02), mk(0.5, 0.02)};
    hg__balancer *bl = make(3, init);
    const size_t total = 20000;
    size_t settled = SIZE_MAX; /* first step from which efficiency stays >= 0.95 */
    double min_eff_after = 1.0;
    for (size_t k = 0; k < 40; k++) {
        step_result r = run_step(bl, &s, total);
        if (r.eff >= 0.95 && settled == SIZE_MAX)
            settled = k;
        else if (r.eff < 0.95)
            settled = SIZE_MAX;
    }
    ck_assert_msg(settled <= 15, "efficiency settled >= 0.95 only at step %zu", settled);
    size_t changes = 0;
    for (size_t k = 40; k < 60; k++) {
        step_result r = run_step(bl, &s, total);
        changes += r.changed;
        min_eff_after = fmin(min_eff_after, r.eff);
    }
    ck_assert_msg(changes <= max_changes, "counts changed on %zu of 20 steps", changes);
    ck_assert_msg(min_eff_after >= 0.95, "efficiency fell to %g", min_eff_after);
    if (verbose())
        printf("converge (noise %g): efficiency >= 0.95 from step %zu on; after step 40: %zu "
               "changes in 20 steps, efficiency >= %.4f\n", noise, settled, changes,
               min_eff_after);
    hg__balancer_destroy(bl);
}

START_TEST(convergence)
{
    converge(0.0, 1, 0);
    converge(0.03, UINT64_C(0x5eed), 1);
    converge(0.03, UINT64_C(0xfeed), 1);
    converge(0.03, UINT64_C(0xbeef), 1);
}
END_TEST

/* ---- 2 and 3. slowdown and recovery ------------------------------------ */

static void slowdown(double noise, uint64_t seed, size_t dev)
{
    sim s;
    three_devices(&s, noise, seed);
    const hg__cost_model init[] = {mk(0.5, 0.010), mk(2.0, 0.004), mk(0.2, 0.025)};
    hg__balancer *bl = make(3, init);
    const size_t total = 20000, k = 30, k2 = 50;
    double pre = 0.0;
    size_t recover_eff = SIZE_MAX, recover_share = SIZE_MAX;
    double eff_at_k = 0.0, worst_eff_between = 1.0, worst_share_after = 0.0;
    for (size_t step = 0; step < k2 + 20; step++) {
        if (step == k)
            s.slow[dev] = 4.0;
        if (step == k2)
            s.slow[dev] = 1.0;
        step_result r = run_step(bl, &s, total);
        double sh = share(&r, dev, total);
        if (step >= k - 5 && step < k)
            pre += sh / 5.0;
        if (step == k)
            eff_at_k = r.eff;
        if (step > k && step < k2) {
            if (recover_eff == SIZE_MAX && r.eff >= 0.9)
                recover_eff = step - k;
            if (recover_eff != SIZE_MAX)
                worst_eff_between = fmin(worst_eff_between, r.eff);
        }
        if (step > k2) {
            bool close = fabs(sh - pre) <= 0.1 * pre;
            if (recover_share == SIZE_MAX && close)
                recover_share = step - k2;
            if (recover_share != SIZE_MAX)
                worst_share_after = fmax(worst_share_after, fabs(sh - pre) / pre);
        }
    }
    ck_assert_msg(recover_eff <= 3, "device %zu slowed 4x: efficiency >= 0.9 only after %zu "
                  "steps", dev, recover_eff);
    ck_assert_msg(worst_eff_between >= 0.85, "efficiency fell back to %g", worst_eff_between);
    ck_assert_msg(recover_share <= 5, "device %zu recovered: share within 10%% only after %zu "
                  "steps", dev, recover_share);
    ck_assert_msg(worst_share_after <= 0.15, "share wandered %g from before",
                  worst_share_after);
    if (verbose())
        printf("slowdown of device %zu (noise %g): efficiency %.3f at the slow step, >= 0.9 "
               "after %zu steps, then >= %.3f; after recovery share within 10%% of %.4f after "
               "%zu steps (then within %.1f%%)\n", dev, noise, eff_at_k, recover_eff,
               worst_eff_between, pre, recover_share, 100.0 * worst_share_after);
    hg__balancer_destroy(bl);
}

START_TEST(slowdown_and_recovery)
{
    for (size_t dev = 0; dev < 3; dev++) {
        slowdown(0.0, 1, dev);
        slowdown(0.03, UINT64_C(0xabc) + dev, dev);
        slowdown(0.03, UINT64_C(0x123) + dev, dev);
    }
}
END_TEST

/* ---- 4. dropped devices and probes -------------------------------------- */

/*
 * Two devices, the second with a 5 ms overhead; it slows 4x (overhead included) at step k,
 * which its model (a kept from calibration) can only express through b: its share shrinks
 * until it is dropped.  It recovers at step k2, for every phase of the probe cycle.  With
 * cold > 1 its first step after a step without rows is that much slower: a probe judged on
 * that step would keep it out for good.
 */
static void probe_run(bool noisy, double cold, size_t k2, size_t *back_out)
{
    sim s = {.n = 2, .noise = noisy ? 0.03 : 0.0, .cold = cold, .r = {UINT64_C(77) + k2}};
    s.a[0] = 0.0;
    s.b[0] = 0.01;
    s.a[1] = 5.0;
    s.b[1] = 0.01;
    s.slow[0] = s.slow[1] = 1.0;
    const hg__cost_model init[] = {mk(0.0, 0.01), mk(5.0, 0.01)};
    hg__balancer *bl = make(2, init);
    const size_t total = 1000, k = 20;
    double pre = 0.0, worst_eff_probe = 1.0;
    size_t dropped_at = SIZE_MAX, probes = 0, run = 0, back = SIZE_MAX;
    for (size_t step = 0; step < k2 + 30; step++) {
        if (step == k)
            s.slow[1] = 4.0;
        if (step == k2)
            s.slow[1] = 1.0;
        step_result r = run_step(bl, &s, total);
        double sh = share(&r, 1, total);
        if (step >= k - 5 && step < k)
            pre += sh / 5.0;
        if (step > k && step < k2) {
            if (r.counts[1] == 0 && dropped_at == SIZE_MAX)
                dropped_at = step - k;
            if (dropped_at != SIZE_MAX && r.counts[1] == 0 && run > 0) {
                /* a probe: HG__PROBE_STEPS steps with rows in a row (the one running at
                   k2 may be cut short by the recovery) */
                ck_assert_uint_eq(run, HG__PROBE_STEPS);
                run = 0;
            }
            if (dropped_at != SIZE_MAX && r.counts[1] > 0) {
                probes += run == 0;
                run++;
                worst_eff_probe = fmin(worst_eff_probe, r.eff);
                /* a quarter of its calibrated share, 250 rows (the other device's model
                   moves a little with noise) */
                ck_assert(r.counts[1] >= 58 && r.counts[1] <= 68);
            }
        }
        if (step >= k2 && back == SIZE_MAX && fabs(sh - pre) <= 0.1 * pre)
            back = step - k2;
        if (step >= k2 + 10) /* and it stays */
            ck_assert_msg(fabs(sh - pre) <= 0.1 * pre, "step %zu: share %g, before %g", step,
                          sh, pre);
    }
    size_t out_steps = dropped_at <= 10 ? k2 - k - dropped_at - 1 : 0;
    const size_t cycle = 4 + HG__PROBE_STEPS; /* 0-row plans, then a probe */
    if (verbose())
        printf("probe (noise %s, cold %g, recovery at %zu): dropped %zu steps after the "
               "slowdown, %zu probes in %zu steps out (efficiency of a probe step >= %.3f), "
               "share within 10%% of %.3f %zu steps after recovery\n", noisy ? "3%" : "none",
               cold, k2, dropped_at, probes, out_steps, worst_eff_probe, pre, back);
    fflush(stdout);
    ck_assert_msg(dropped_at <= 10, "the slowed device kept its rows");
    /* while it is out, one probe after every 4 plans without rows, and nothing else */
    ck_assert_msg(probes >= out_steps / cycle && probes <= out_steps / cycle + 1,
                  "%zu probes in %zu steps", probes, out_steps);
    /* the next probe is at most `cycle` steps away; the device gets its rows back at once */
    ck_assert_msg(back <= cycle, "recovered device back only after %zu steps", back);
    *back_out = back;
    hg__balancer_destroy(bl);
}

START_TEST(probe_dropped_device)
{
    for (int cold = 0; cold < 2; cold++) { /* a first step after idling 1.6x slower */
        size_t worst = 0;
        for (int noisy = 0; noisy < 2; noisy++)
            for (size_t k2 = 55; k2 < 55 + 4 + HG__PROBE_STEPS; k2++) {
                size_t back;
                probe_run(noisy, cold ? 1.6 : 1.0, k2, &back);
                worst = back > worst ? back : worst;
            }
        ck_assert_uint_eq(worst, 4 + HG__PROBE_STEPS); /* some phase waits the whole cycle */
    }

    /* A device left out at its calibrated cost is never probed. */
    const hg__cost_model init[] = {mk(0.0, 0.01), mk(100.0, 0.001)};
    hg__balancer *bl = make(2, init);
    for (int step = 0; step < 30; step++) {
        size_t c[2];
        bool changed;
        ck_assert_int_eq(hg__balancer_plan(bl, 1000, NULL, c, &changed, NULL), HG_OK);
        ck_assert(c[0] == 1000 && c[1] == 0);
        ck_assert(changed == (step == 0));
        ck_assert_int_eq(hg__balancer_observe(bl, c, (const double[]){10.0, 0.0}, NULL), HG_OK);
    }
    /* ... but joins when the step is long enough for its overhead */
    size_t c[2];
    ck_assert_int_eq(hg__balancer_plan(bl, 100000, NULL, c, NULL, NULL), HG_OK);
    ck_assert(c[1] > 0);
    hg__balancer_destroy(bl);
}
END_TEST

/* ---- 5. hysteresis ------------------------------------------------------ */

START_TEST(hysteresis)
{
    const hg__cost_model init[] = {mk(0.0, 1.0), mk(0.0, 1.0)};
    hg__balancer *bl = make(2, init);
    size_t c[2];
    bool changed = false;
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 50 && c[1] == 50 && changed);
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 50 && c[1] == 50 && !changed);

    /* device 1 measured 4% slower: b 1.0 -> 1.012; the optimum (50.3:49.7) is not 3% better */
    ck_assert_int_eq(hg__balancer_observe(bl, c, (const double[]){50.0, 52.0}, NULL), HG_OK);
    ck_assert(fabs(hg__balancer_model(bl, 1)->b_ms_per_row - 1.012) < 1e-12);
    ck_assert(hg__balancer_model(bl, 0)->b_ms_per_row == 1.0);
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 50 && c[1] == 50 && !changed);

    /* a different total re-plans from scratch */
    ck_assert_int_eq(hg__balancer_plan(bl, 101, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 51 && c[1] == 50 && changed);
    /* so do different caps */
    ck_assert_int_eq(hg__balancer_plan(bl, 101, (const size_t[]){SIZE_MAX, SIZE_MAX}, c,
                                      &changed, NULL), HG_OK);
    ck_assert(c[0] == 51 && c[1] == 50 && !changed); /* same caps as NULL */
    ck_assert_int_eq(hg__balancer_plan(bl, 101, (const size_t[]){20, SIZE_MAX}, c, &changed,
                                      NULL), HG_OK);
    ck_assert(c[0] == 20 && c[1] == 81 && changed);

    /* 30% slower: a jump (alpha 0.7) and a re-plan */
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 50 && c[1] == 50 && changed);
    ck_assert_int_eq(hg__balancer_observe(bl, c, (const double[]){50.0, 65.0}, NULL), HG_OK);
    double want = 0.3 * 1.012 + 0.7 * 1.3;
    ck_assert(fabs(hg__balancer_model(bl, 1)->b_ms_per_row - want) < 1e-12);
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(changed && c[0] > 50 && c[0] + c[1] == 100);

    /* rows == 0: the model stays, whatever the time says */
    double b1 = hg__balancer_model(bl, 1)->b_ms_per_row;
    ck_assert_int_eq(hg__balancer_observe(bl, (const size_t[]){100, 0},
                                         (const double[]){100.0, NAN}, NULL), HG_OK);
    ck_assert(hg__balancer_model(bl, 1)->b_ms_per_row == b1);
    /* ... and its next measurement replaces the stale model (alpha 1) */
    ck_assert_int_eq(hg__balancer_observe(bl, (const size_t[]){50, 50},
                                         (const double[]){50.0, 40.0}, NULL), HG_OK);
    ck_assert(hg__balancer_model(bl, 1)->b_ms_per_row == 0.8);
    /* total 0 */
    ck_assert_int_eq(hg__balancer_plan(bl, 0, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 0 && c[1] == 0 && changed);
    /* the jump test is symmetric in the ratio: 0.79 is a jump from 1, 0.81 is not */
    const hg__cost_model one[] = {mk(0.0, 1.0)};
    hg__balancer *b1b = make(1, one);
    ck_assert_int_eq(hg__balancer_observe(b1b, (const size_t[]){100}, (const double[]){79.0},
                                         NULL), HG_OK);
    ck_assert(fabs(hg__balancer_model(b1b, 0)->b_ms_per_row - (0.3 + 0.7 * 0.79)) < 1e-12);
    hg__balancer_destroy(b1b);
    b1b = make(1, one);
    ck_assert_int_eq(hg__balancer_observe(b1b, (const size_t[]){100}, (const double[]){81.0},
                                         NULL), HG_OK);
    ck_assert(fabs(hg__balancer_model(b1b, 0)->b_ms_per_row - (0.7 + 0.3 * 0.81)) < 1e-12);
    hg__balancer_destroy(b1b);

    /* A jump bypasses the hysteresis: a small device measured 30% faster (b 10 -> 7.9)
       gains the plan only 2.4%, yet the next plan moves. */
    const hg__cost_model two[] = {mk(0.0, 1.0), mk(0.0, 10.0)};
    b1b = make(2, two);
    ck_assert_int_eq(hg__balancer_plan(b1b, 1100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 1000 && c[1] == 100);
    ck_assert_int_eq(hg__balancer_observe(b1b, c, (const double[]){1000.0, 700.0}, NULL),
                     HG_OK);
    ck_assert(fabs(hg__balancer_model(b1b, 1)->b_ms_per_row - 7.9) < 1e-12);
    ck_assert_int_eq(hg__balancer_plan(b1b, 1100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(changed && c[1] > 120 && c[0] + c[1] == 1100);
    /* ordinary (noise-sized) updates do not move it */
    size_t c_before[2] = {c[0], c[1]};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hg__balancer_observe(b1b, c,
                                             (const double[]){(double)c[0],
                                                              8.0 * (double)c[1]}, NULL),
                         HG_OK);
        ck_assert_int_eq(hg__balancer_plan(b1b, 1100, NULL, c, &changed, NULL), HG_OK);
        ck_assert(!changed && c[0] == c_before[0] && c[1] == c_before[1]);
    }
    hg__balancer_destroy(b1b);

    /* times below the overhead: b_obs is floored, b stays > 0 */
    const hg__cost_model init2[] = {mk(10.0, 1.0)};
    hg__balancer *b2 = make(1, init2);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(hg__balancer_observe(b2, (const size_t[]){10}, (const double[]){1.0},
                                             NULL), HG_OK);
    ck_assert(hg__balancer_model(b2, 0)->b_ms_per_row > 0.0);
    ck_assert(hg__balancer_model(b2, 0)->a_ms == 10.0);
    hg__balancer_destroy(b2);
    hg__balancer_destroy(bl);
}
END_TEST

/* ---- 6. errors ---------------------------------------------------------- */

static void expect_message(const hg_error *e, const char *part)
{
    ck_assert_msg(strstr(e->message, part) != NULL, "message \"%s\" lacks \"%s\"", e->message,
                  part);
}

START_TEST(errors)
{
    hg_error e;
    hg__balancer *bl = (hg__balancer *)&e; /* must become NULL */
    const hg__cost_model good[] = {mk(0.0, 1.0), mk(1.0, 2.0)};
    ck_assert_int_eq(hg__balancer_create(2, good, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "out is NULL");
    ck_assert_int_eq(hg__balancer_create(0, good, NULL, &bl, &e), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(bl);
    expect_message(&e, "no devices");
    ck_assert_int_eq(hg__balancer_create(2, NULL, NULL, &bl, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "initial is NULL");
    const hg__cost_model bad[] = {mk(0.0, 1.0), mk(-1.0, 2.0)};
    ck_assert_int_eq(hg__balancer_create(2, bad, NULL, &bl, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "model of device 1");
    const hg__cost_model bad_b[] = {mk(0.0, 0.0), mk(1.0, 2.0)};
    ck_assert_int_eq(hg__balancer_create(2, bad_b, NULL, &bl, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "model of device 0");

    hg__balance_options o;
    hg__balance_options_init(&o);
    ck_assert(o.alpha == 0.3 && o.alpha_jump == 0.7 && o.jump_ratio == 0.25 &&
              o.hysteresis == 0.03);
    hg__balance_options_init(NULL);
    const struct {
        double *field, value;
        const char *msg;
    } cases[] = {
        {&o.alpha, 0.0, "alpha is 0"},         {&o.alpha, 1.5, "alpha is 1.5"},
        {&o.alpha, NAN, "alpha is nan"},       {&o.alpha_jump, -0.1, "alpha_jump is -0.1"},
        {&o.jump_ratio, 0.0, "jump_ratio"},    {&o.jump_ratio, INFINITY, "jump_ratio"},
        {&o.hysteresis, -0.01, "hysteresis"},  {&o.hysteresis, 1.0, "hysteresis"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hg__balance_options_init(&o);
        *cases[i].field = cases[i].value;
        ck_assert_int_eq(hg__balancer_create(2, good, &o, &bl, &e), HG_INVALID_ARGUMENT);
        expect_message(&e, cases[i].msg);
        ck_assert_ptr_null(bl);
    }
    hg__balance_options_init(&o);
    o.alpha = 1.0;
    o.hysteresis = 0.0;
    ck_assert_int_eq(hg__balancer_create(2, good, &o, &bl, &e), HG_OK);

    /* observe: nothing changes on failure */
    size_t c[2];
    ck_assert_int_eq(hg__balancer_plan(bl, 10, NULL, c, NULL, &e), HG_OK);
    const double nan_ms[] = {1.0, NAN}, neg_ms[] = {-1.0, 1.0}, inf_ms[] = {1.0, INFINITY};
    const double *bad_ms[] = {nan_ms, neg_ms, inf_ms};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(hg__balancer_observe(bl, (const size_t[]){5, 5}, bad_ms[i], &e),
                         HG_INVALID_ARGUMENT);
        expect_message(&e, "times must be finite and >= 0");
        ck_assert(hg__balancer_model(bl, 0)->b_ms_per_row == 1.0);
        ck_assert(hg__balancer_model(bl, 1)->b_ms_per_row == 2.0);
    }
    ck_assert_int_eq(hg__balancer_observe(NULL, c, nan_ms, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__balancer_observe(bl, NULL, nan_ms, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "rows is NULL");
    ck_assert_int_eq(hg__balancer_observe(bl, c, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "ms is NULL");

    /* plan: failures leave counts and the previous plan alone */
    size_t keep[2] = {77, 77};
    ck_assert_int_eq(hg__balancer_plan(bl, 10, (const size_t[]){2, 3}, keep, NULL, &e),
                     HG_RANGE);
    ck_assert(keep[0] == 77 && keep[1] == 77);
    ck_assert_int_eq(hg__balancer_plan(bl, 10, (const size_t[]){0, 0}, keep, NULL, &e),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__balancer_plan(NULL, 10, NULL, keep, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__balancer_plan(bl, 10, NULL, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "counts is NULL");
    bool changed = true;
    size_t again[2];
    ck_assert_int_eq(hg__balancer_plan(bl, 10, NULL, again, &changed, &e), HG_OK);
    ck_assert(!changed && again[0] == c[0] && again[1] == c[1]);

    ck_assert_ptr_null(hg__balancer_model(bl, 2));
    ck_assert_ptr_null(hg__balancer_model(NULL, 0));
    hg__balancer_destroy(bl);
    hg__balancer_destroy(NULL);

    /* invalid models: never given rows, observations ignored; none valid: plans fail */
    hg__cost_model inv[] = {mk(0.0, 1.0), mk(0.0, 1.0)};
    inv[1].valid = false;
    ck_assert_int_eq(hg__balancer_create(2, inv, NULL, &bl, &e), HG_OK);
    ck_assert_int_eq(hg__balancer_plan(bl, 10, NULL, c, NULL, &e), HG_OK);
    ck_assert(c[0] == 10 && c[1] == 0);
    ck_assert_int_eq(hg__balancer_observe(bl, (const size_t[]){5, 5},
                                         (const double[]){5.0, 1.0}, &e), HG_OK);
    ck_assert(!hg__balancer_model(bl, 1)->valid);
    hg__balancer_destroy(bl);
    inv[0].valid = false;
    ck_assert_int_eq(hg__balancer_create(2, inv, NULL, &bl, &e), HG_OK);
    ck_assert_int_eq(hg__balancer_plan(bl, 10, NULL, c, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "valid cost model");
    hg__balancer_destroy(bl);
}
END_TEST

/* ---- 7. a device calibrated again ---------------------------------------- */

START_TEST(recalibration)
{
    hg_error e;
    const hg__cost_model init[] = {mk(0.0, 1.0), mk(0.0, 1.0)};
    hg__balancer *bl = make(2, init);
    size_t c[2];
    bool changed;
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert(c[0] == 50 && c[1] == 50);
    /* 5% slower: the optimum (51:49) gains less than 3%, so hysteresis alone keeps 50:50 ... */
    ck_assert_int_eq(hg__balancer_recalibrate(bl, 1, &(hg__cost_model){0.0, 1.05, 5, 0, true},
                                             &e), HG_OK);
    ck_assert(hg__balancer_model(bl, 1)->b_ms_per_row == 1.05);
    ck_assert(hg__balancer_model(bl, 0)->b_ms_per_row == 1.0);
    /* ... but a new calibration is followed at once */
    ck_assert_int_eq(hg__balancer_plan(bl, 100, NULL, c, &changed, NULL), HG_OK);
    ck_assert_msg(changed && c[0] == 51 && c[1] == 49, "%zu:%zu", c[0], c[1]);
    hg__balancer_destroy(bl);

    /*
     * The new model is also the probe reference.  The setting of probe_run: device 1 with
     * a 5 ms overhead, slowed 4x.  Learnt from the steps, it is dropped and probed every 5
     * steps (its b is far above its calibrated one); calibrated again at its slow speed, it
     * is left out for good, without probes: it is not slowed, it is that slow.
     */
    sim s = {.n = 2, .noise = 0.0, .r = {1}};
    s.a[0] = 0.0;
    s.b[0] = 0.01;
    s.a[1] = 5.0;
    s.b[1] = 0.01;
    s.slow[0] = 1.0;
    s.slow[1] = 4.0;
    const hg__cost_model probe_init[] = {mk(0.0, 0.01), mk(5.0, 0.01)};
    for (int again = 0; again < 2; again++) {
        bl = make(2, probe_init);
        if (again)
            ck_assert_int_eq(hg__balancer_recalibrate(bl, 1, &(hg__cost_model){20.0, 0.04, 5,
                                                                                0, true},
                                                     &e), HG_OK);
        size_t probes = 0, out = 0;
        for (int step = 0; step < 40; step++) {
            step_result r = run_step(bl, &s, 1000);
            if (step >= 10) {
                out += r.counts[1] == 0;
                probes += r.counts[1] > 0;
            }
        }
        if (again)
            ck_assert_msg(probes == 0 && out == 30, "%zu probes", probes);
        else
            ck_assert_msg(probes >= 5, "%zu probes (the setting changed?)", probes);
        hg__balancer_destroy(bl);
    }

    /* errors: nothing changes */
    bl = make(2, init);
    const hg__cost_model m = mk(0.0, 2.0);
    ck_assert_int_eq(hg__balancer_recalibrate(NULL, 0, &m, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "b is NULL");
    ck_assert_int_eq(hg__balancer_recalibrate(bl, 0, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "model is NULL");
    ck_assert_int_eq(hg__balancer_recalibrate(bl, 2, &m, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "device 2 of 2");
    ck_assert_int_eq(hg__balancer_recalibrate(bl, 0, &(hg__cost_model){0.0, 0.0, 5, 0, true},
                                             &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "model of device 0");
    ck_assert_int_eq(hg__balancer_recalibrate(bl, 0, &(hg__cost_model){NAN, 1.0, 5, 0, true},
                                             &e), HG_INVALID_ARGUMENT);
    ck_assert(hg__balancer_model(bl, 0)->b_ms_per_row == 1.0 &&
              hg__balancer_model(bl, 0)->a_ms == 0.0);
    /* an invalid model takes the device out */
    ck_assert_int_eq(hg__balancer_recalibrate(bl, 0, &(hg__cost_model){0}, &e), HG_OK);
    ck_assert_int_eq(hg__balancer_plan(bl, 10, NULL, c, NULL, &e), HG_OK);
    ck_assert(c[0] == 0 && c[1] == 10);
    hg__balancer_destroy(bl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, convergence);
    tcase_add_test(tc, slowdown_and_recovery);
    tcase_add_test(tc, probe_dropped_device);
    tcase_add_test(tc, hysteresis);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, recalibration);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
