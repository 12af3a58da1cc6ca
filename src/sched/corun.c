/* SPDX-License-Identifier: MIT */
/*
 * corun.c - joint calibration (pure, no OpenCL): fit what co-running costs
 * each device, and choose the devices worth running, from measured joint steps.
 *
 * Model.  Device i alone: t_i(n) = a_i + b_i n (costmodel.c).  Running beside
 * the others of a subset S, the measurements support one more number per
 * device: the factor s_i by which its per-row cost grows (two CPU runtimes
 * sharing the cores; a host thread feeding a GPU; and the error of
 * extrapolating a 100 ms calibration batch to a full step).  The fixed cost a_i
 * is kept: a joint step has one row count per device, which cannot separate a
 * change of a from a change of b, and b is what grows with the rows.  So
 *
 *     t_i(n | S) = a_i + s_i(S) b_i n,    s_i(S) = (ms_i - a_i) / (b_i n_i)
 *
 * from a joint step in which device i took n_i rows in ms_i milliseconds,
 * clamped to [slow_min, slow_max].
 *
 * Fitting a subset.  Round 0 plans the step with the factors known so far (1,
 * or those fitted on every device), runs it, and refits every factor from its
 * device's time; the next round plans with the refitted models, and so on, up
 * to `rounds` rounds, stopping early when a round's plan equals the plan just
 * measured.  The factors are those of the last run, whose split is the one the
 * factors were fitted on, and the subset's measured makespan is that run's.
 * Where s_i depends only on which devices run (a shared resource), the first
 * refit is exact and the second round measures the balanced plan.
 *
 * Choosing devices.  Subsets are measured in this order: every usable device;
 * every usable device but one, for each, leaving out first the device the solo
 * models predict slowest alone on the step's rows (ties: the last); the device the solo
 * models predict fastest alone on the step's rows (when that is not already
 * one of them).  A subset whose makespan under the solo models exceeds
 * skip_factor x the best makespan measured so far is not run.  The first
 * subset is chosen, and a later one replaces it when its makespan is below
 * (1 - margin) x the chosen one's.  Usable devices outside the chosen subset
 * are excluded: they did not pay for themselves.  So is a device of the chosen
 * subset that its final plan gives no rows (its fixed cost exceeds the step:
 * the planner leaves it out), with a reason that says so; and the subset
 * without only such devices is not measured again (it would run the same plan).
 */
#include "sched/corun.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "planner.h"

void hg__corun_options_init(hg__corun_options *o)
{
    *o = (hg__corun_options){.rows = 0, .rounds = 3, .margin = 0.01, .skip_factor = 1.5,
                             .solo_margin = 0.03, .slow_min = 0.25, .slow_max = 4.0};
}

hg__cost_model hg__corun_model(const hg__cost_model *solo, const hg__corun_dev *c)
{
    hg__cost_model m = *solo;
    if (m.valid && c && isfinite(c->slow) && c->slow > 0)
        m.b_ms_per_row *= c->slow;
    return m;
}

/* The state of one calibration. */
typedef struct corun {
    size_t                   ndev;
    const hg__cost_model    *solo;
    size_t                   cap[HG__CORUN_MAX_DEVICES];
    const hg__corun_options *o;
    hg__corun_run_fn         run;
    void                    *user;
    size_t                   runs;
} corun;

static bool in(uint64_t mask, size_t i)
{
    return (mask >> i) & 1u;
}

static size_t popcount(uint64_t mask)
{
    size_t n = 0;
    for (; mask; mask &= mask - 1)
        n++;
    return n;
}

/* Models of the devices in mask with factors slow (NULL: solo), invalid elsewhere. */
static void subset_models(const corun *c, uint64_t mask, const double *slow,
                          hg__cost_model *m)
{
    for (size_t i = 0; i < c->ndev; i++) {
        m[i] = in(mask, i) ? c->solo[i] : (hg__cost_model){0};
        if (in(mask, i) && slow)
            m[i].b_ms_per_row *= slow[i];
    }
}

/* Makespan the solo models predict for mask; INFINITY when it cannot take the rows. */
static double solo_makespan(const corun *c, uint64_t mask)
{
    hg__cost_model m[HG__CORUN_MAX_DEVICES];
    size_t counts[HG__CORUN_MAX_DEVICES];
    double ms = INFINITY;
    hg_error e;
    subset_models(c, mask, NULL, m);
    if (hg__plan_affine(c->o->rows, m, c->ndev, c->cap, counts, &ms, &e) != HG_OK)
        return INFINITY;
    return ms;
}

/*
 * Fit the devices of mask: up to rounds of plan -> run -> refit, starting
 * from the factors in slow (updated in place).  *makespan: the last run's;
 * last[ndev]: its counts.
 * HG_RANGE when the subset cannot take the rows (nothing run, err clear); the callback's
 * failure, or HG_INVALID_ARGUMENT for a time that is not a finite number >= 0.
 */
static hg_status fit_subset(corun *c, uint64_t mask, double *slow, double *makespan,
                            size_t *last, hg_error *err)
{
    hg__cost_model m[HG__CORUN_MAX_DEVICES];
    size_t counts[HG__CORUN_MAX_DEVICES];
    double ms[HG__CORUN_MAX_DEVICES];
    bool measured = false;
    for (int r = 0; r < c->o->rounds; r++) {
        subset_models(c, mask, slow, m);
        double pred;
        hg_status st = hg__plan_affine(c->o->rows, m, c->ndev, c->cap, counts, &pred, err);
        if (st != HG_OK) {
            if (measured)
                return HG_OK;
            hg_error_clear(err);
            return HG_RANGE; /* these devices cannot take the rows */
        }
        if (measured && memcmp(counts, last, c->ndev * sizeof *counts) == 0)
            break; /* the plan just measured: converged */
        for (size_t i = 0; i < c->ndev; i++)
            ms[i] = 0;
        st = c->run(c->user, counts, ms, err);
        c->runs++;
        if (st != HG_OK)
            return st;
        double span = 0;
        for (size_t i = 0; i < c->ndev; i++) {
            if (counts[i] == 0)
                continue;
            if (!isfinite(ms[i]) || ms[i] < 0)
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "joint calibration: "
                                     "device %zu took %g ms for %zu rows", i, ms[i],
                                     counts[i]);
            span = ms[i] > span ? ms[i] : span;
            double s = (ms[i] - c->solo[i].a_ms) /
                       (c->solo[i].b_ms_per_row * (double)counts[i]);
            slow[i] = !(s >= c->o->slow_min) ? c->o->slow_min
                      : s > c->o->slow_max   ? c->o->slow_max
                                             : s;
        }
        *makespan = span;
        memcpy(last, counts, c->ndev * sizeof *counts);
        measured = true;
        if (popcount(mask) == 1)
            break; /* one device: its plan cannot change */
    }
    return HG_OK;
}

/* Run counts once more: *span, the makespan.  Fails as fit_subset does. */
static hg_status run_again(corun *c, const size_t *counts, double *span, hg_error *err)
{
    double ms[HG__CORUN_MAX_DEVICES] = {0};
    hg_status st = c->run(c->user, counts, ms, err);
    c->runs++;
    *span = 0;
    for (size_t i = 0; st == HG_OK && i < c->ndev; i++) {
        if (counts[i] == 0)
            continue;
        if (!isfinite(ms[i]) || ms[i] < 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "joint calibration: device "
                                 "%zu took %g ms for %zu rows", i, ms[i], counts[i]);
        *span = ms[i] > *span ? ms[i] : *span;
    }
    return st;
}

/* A subset's measurement: its makespan, factors and last counts. */
typedef struct measured {
    uint64_t mask;
    double   ms;
    double   slow[HG__CORUN_MAX_DEVICES];
    size_t   last[HG__CORUN_MAX_DEVICES];
} measured;

/* The guard's figures, for the reasons (see hg__corun_calibrate). */
typedef struct guard {
    bool   ran;        /* a subset of several devices was checked against one alone */
    bool   repeated;   /* ... and both were run again, repeats times */
    size_t shared_n;   /* devices that shared the step */
    double shared_ms, solo_ms;
    double shared_ms2, solo_ms2; /* the repeats' medians */
    size_t repeats, won;         /* repeats run; those in which sharing paid */
} guard;

/* The guard's repeats of both steps, each a pair run back to back. */
#define SOLO_REPEATS 3

/*
 * Sharing must pay against the best device alone (corun.h): *chosen, a subset of several
 * devices, stays only when it measured faster than solo (the best device alone; measured
 * here when solo->ms is not finite) by more than solo_margin, and again in more than half
 * of SOLO_REPEATS repeats of both plans, back to back, each compared within itself (a
 * drift of the machine's speed hits a pair alike); otherwise *chosen becomes solo.  One
 * repeat that had to agree let a single noisy step decide: POCL pthread + basic with the
 * default threads once kept both and ran at 0.77 times pthread alone (2026-12-02).
 * g: the figures.  The callback's failures.
 */
static hg_status solo_guard(corun *c, measured *chosen, measured *solo, const double *slow_all,
                            guard *g, hg_error *err)
{
    hg_status st = HG_OK;
    if (!isfinite(solo->ms)) {
        memcpy(solo->slow, slow_all, sizeof solo->slow);
        st = fit_subset(c, solo->mask, solo->slow, &solo->ms, solo->last, err);
        if (st == HG_RANGE)
            return HG_OK; /* it cannot take the step alone: nothing to compare with */
        if (st != HG_OK)
            return st;
    }
    double keep = 1.0 - c->o->solo_margin;
    *g = (guard){.ran = true, .shared_ms = chosen->ms, .solo_ms = solo->ms};
    for (size_t i = 0; i < c->ndev; i++)
        g->shared_n += chosen->last[i] > 0;
    bool pays = chosen->ms < keep * solo->ms;
    if (pays) { /* confirmed by most repeats of both steps, or not at all */
        double sh[SOLO_REPEATS], so[SOLO_REPEATS];
        g->repeated = true;
        for (int r = 0; r < SOLO_REPEATS && st == HG_OK; r++) {
            st = run_again(c, chosen->last, &sh[r], err);
            if (st == HG_OK)
                st = run_again(c, solo->last, &so[r], err);
            if (st == HG_OK) {
                g->won += sh[r] < keep * so[r];
                g->repeats++;
            }
        }
        if (st == HG_OK) {
            g->shared_ms2 = hg__cost_median(sh, SOLO_REPEATS);
            g->solo_ms2 = hg__cost_median(so, SOLO_REPEATS);
        }
        pays = st == HG_OK && 2 * g->won > g->repeats;
    }
    if (st == HG_OK && !pays)
        *chosen = *solo;
    return st;
}

/* Why device i, measured not to pay for itself, is excluded (see hg__corun_calibrate). */
static void pay_reason(char *why, size_t n, size_t rows, const guard *g, double all_ms,
                       size_t all_n, double chosen_ms, size_t chosen_n, double margin)
{
    if (!g->ran || g->shared_ms == 0)
        snprintf(why, n, "does not pay for itself: a step of %zu rows took %.3g ms on %zu "
                 "devices together, %.3g ms without it (on %zu)", rows, all_ms, all_n,
                 chosen_ms, chosen_n);
    else if (!g->repeated)
        snprintf(why, n, "does not pay for itself: a step of %zu rows took %.3g ms on %zu "
                 "devices together, %.3g ms without it (on 1); sharing must be faster by "
                 "more than %.3g%%", rows, g->shared_ms, g->shared_n, g->solo_ms,
                 100 * margin);
    else
        snprintf(why, n, "does not pay for itself: a step of %zu rows took %.3g ms on %u "
                 "devices together, %.3g ms without it (on 1), then %.3g and %.3g ms (medians "
                 "of %u repeats, faster in %u); it must be faster by over %.2g%% first and "
                 "in most repeats", rows, g->shared_ms, (unsigned)g->shared_n,
                 g->solo_ms, g->shared_ms2, g->solo_ms2, (unsigned)g->repeats,
                 (unsigned)g->won, 100 * margin);
}

/*
 * The subsets to measure first, into cand: every usable device (all), then all but one,
 * without the device predicted slowest alone first (ties: the last first), so that of two
 * subsets measured equal the faster devices stay.  Returns how many.
 */
static size_t all_but_one(const corun *c, uint64_t all, uint64_t *cand)
{
    size_t ncand = 0;
    cand[ncand++] = all;
    uint64_t left = popcount(all) > 1 ? all : 0;
    while (left) {
        size_t j = SIZE_MAX;
        double tj = -1;
        for (size_t i = 0; i < c->ndev; i++) {
            double t = hg__cost_predict(&c->solo[i], c->o->rows);
            if (in(left, i) && !(t < tj)) {
                tj = t;
                j = i;
            }
        }
        left &= ~((uint64_t)1 << j);
        cand[ncand++] = all & ~((uint64_t)1 << j);
    }
    return ncand;
}

static void reset(size_t ndev, hg__corun_dev *out)
{
    for (size_t i = 0; i < ndev; i++)
        out[i] = (hg__corun_dev){.slow = 1.0, .slow_all = 1.0, .slow_alone = 1.0};
}

hg_status hg__corun_calibrate(size_t ndev, const hg__cost_model *solo, const size_t *cap,
                              const hg__corun_options *o_in, hg__corun_run_fn run, void *user,
                              hg__corun_dev *out, hg__corun_summary *sum, hg_error *err)
{
    hg_error_clear(err);
    if (!solo || !out || !run || !o_in || ndev == 0 || ndev > HG__CORUN_MAX_DEVICES)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "joint calibration: %s",
                             !solo || !out || !run || !o_in ? "NULL argument"
                                                            : "device count out of range");
    reset(ndev, out);
    if (sum)
        *sum = (hg__corun_summary){0};
    hg__corun_options o = *o_in;
    if (o.rows == 0 || o.rounds < 1)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "joint calibration: %s",
                             o.rows == 0 ? "0 rows" : "no rounds");
    corun c = {.ndev = ndev, .solo = solo, .o = &o, .run = run, .user = user};
    uint64_t all = 0;
    size_t capsum = 0;
    for (size_t i = 0; i < ndev; i++) {
        c.cap[i] = cap ? cap[i] : SIZE_MAX;
        if (solo[i].valid && c.cap[i] > 0) {
            all |= (uint64_t)1 << i;
            capsum = c.cap[i] > SIZE_MAX - capsum ? SIZE_MAX : capsum + c.cap[i];
        }
    }
    if (!all || capsum < o.rows)
        return hg__error_set(err, HG_NO_DEVICE, 0, "joint calibration: %s",
                             all ? "the devices cannot hold the step's rows"
                                 : "no calibrated device");

    /* Candidates: all, all but one each, the best alone. */
    uint64_t cand[HG__CORUN_MAX_DEVICES + 2];
    size_t ncand = all_but_one(&c, all, cand);
    size_t best = SIZE_MAX;
    double best_t = INFINITY;
    for (size_t i = 0; i < ndev; i++) {
        double t = in(all, i) && c.cap[i] >= o.rows ? hg__cost_predict(&solo[i], o.rows)
                                                    : INFINITY;
        if (t < best_t) {
            best_t = t;
            best = i;
        }
    }
    if (best != SIZE_MAX) {
        uint64_t m = (uint64_t)1 << best;
        bool seen = false;
        for (size_t k = 0; k < ncand; k++)
            seen |= cand[k] == m;
        if (!seen)
            cand[ncand++] = m;
    }

    double slow_all[HG__CORUN_MAX_DEVICES];
    for (size_t i = 0; i < ndev; i++)
        slow_all[i] = 1.0;
    uint64_t idle = 0; /* given no rows in every device's last plan */
    double all_ms = 0;
    size_t subsets = 0;
    measured cur, chosen = {.ms = INFINITY}, alone = {.ms = INFINITY};
    alone.mask = best != SIZE_MAX ? (uint64_t)1 << best : 0;
    for (size_t k = 0; k < ncand; k++) {
        if (k > 0 && cand[k] != alone.mask &&
            solo_makespan(&c, cand[k]) > o.skip_factor * chosen.ms)
            continue; /* cannot beat what was measured (the best alone is always measured) */
        if (k > 0 && (all & ~cand[k]) == (all & idle))
            continue; /* without only the idle devices: the plan measured already */
        cur = (measured){.mask = cand[k], .ms = INFINITY};
        memcpy(cur.slow, slow_all, sizeof cur.slow);
        hg_status st = fit_subset(&c, cand[k], cur.slow, &cur.ms, cur.last, err);
        if (st == HG_RANGE && k > 0)
            continue; /* these devices cannot hold the step */
        if (st == HG_RANGE)
            st = hg__error_set(err, HG_NO_DEVICE, 0, "joint calibration: no plan of %zu "
                               "rows on the devices", o.rows);
        if (st != HG_OK) {
            reset(ndev, out);
            return st;
        }
        subsets++;
        if (k == 0) {
            memcpy(slow_all, cur.slow, sizeof slow_all);
            all_ms = cur.ms;
            for (size_t i = 0; i < ndev; i++)
                idle |= (uint64_t)(cur.last[i] == 0) << i;
        }
        if (cur.mask == alone.mask)
            alone = cur;
        if (k == 0 || cur.ms < (1.0 - o.margin) * chosen.ms)
            chosen = cur;
    }
    /* sharing must pay against the best device alone, twice */
    guard g = {0};
    size_t sharing = 0;
    for (size_t i = 0; i < ndev; i++)
        sharing += chosen.last[i] > 0;
    if (sharing > 1 && alone.mask) {
        bool had = isfinite(alone.ms);
        hg_status st = solo_guard(&c, &chosen, &alone, slow_all, &g, err);
        if (st != HG_OK) {
            reset(ndev, out);
            return st;
        }
        subsets += !had && isfinite(alone.ms);
    }
    /* A device the chosen subset's plan gives no rows does not run either:
       its fixed cost is more than the step is worth. */
    uint64_t idle_chosen = 0;
    for (size_t i = 0; i < ndev; i++)
        idle_chosen |= (uint64_t)(in(chosen.mask, i) && chosen.last[i] == 0) << i;

    size_t kept_n = popcount(chosen.mask & ~idle_chosen);
    if (alone.mask && isfinite(alone.ms))
        out[best].slow_alone = alone.slow[best];
    for (size_t i = 0; i < ndev; i++) {
        if (!in(all, i))
            continue;
        out[i].slow = in(chosen.mask, i) ? chosen.slow[i] : slow_all[i];
        out[i].slow_all = slow_all[i];
        out[i].excluded = !in(chosen.mask, i) || in(idle_chosen, i);
        if (in(idle_chosen, i) || (!in(chosen.mask, i) && in(idle, i)))
            snprintf(out[i].reason, sizeof out[i].reason,
                     "not worth its fixed cost: %.3g ms before its first row, while a step "
                     "of %zu rows took %.3g ms on the %zu device(s) kept", solo[i].a_ms,
                     o.rows, chosen.ms, kept_n);
        else if (out[i].excluded)
            pay_reason(out[i].reason, sizeof out[i].reason, o.rows,
                       g.ran && chosen.mask == alone.mask ? &g : &(guard){0}, all_ms,
                       popcount(all & ~idle), chosen.ms, kept_n, o.solo_margin);
    }
    if (sum)
        *sum = (hg__corun_summary){.rows = o.rows, .subsets = subsets, .runs = c.runs,
                                   .all_ms = all_ms, .chosen_ms = chosen.ms,
                                   .chosen = kept_n,
                                   .solo_ms = isfinite(alone.ms) ? alone.ms : 0};
    return HG_OK;
}
