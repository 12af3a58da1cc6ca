/* SPDX-License-Identifier: MIT */
/*
 * planner.c - split rows across devices to minimise the predicted makespan under affine
 * cost models f_i(k) = a_i + b_i * k (k > 0 rows; a device given 0 rows costs nothing).
 *
 * Capacity.  Usable devices have a valid model and a cap > 0; let k_i = min(cap_i, rows)
 * for them and 0 for the others.  For a target time T device i can take
 *
 *     n_i(T) = the largest k in [0, k_i] with k == 0 or f_i(k) <= T
 *
 * rows (the clamp of floor((T - a_i) / b_i) to [0, k_i]; 0 when T < a_i + b_i).  A split c
 * has makespan <= T exactly when every c_i <= n_i(T) (f_i does not decrease with k), so one
 * with sum rows exists exactly when N(T) = sum n_i(T) >= rows.  N does not decrease with T,
 * so the least makespan is T* = min { T : N(T) >= rows }, and since N changes only at the
 * values f_i(k), T* is one of them: it is attained.
 *
 * Leaving devices out.  Using only a subset S of the devices means capacities n_i(T) for i
 * in S and 0 elsewhere, so N_S(T) <= N(T) for every T and no subset reaches rows sooner
 * than all devices do.  Including a device is never forced: it only adds capacity, and the
 * fixed overhead a_i enters n_i(T) solely through T >= a_i + b_i (n_i = 0 below, in
 * particular whenever a_i >= T).  So the water-filling over all usable devices already
 * takes the best subset into account -- a device whose overhead is too large for the step
 * simply has no capacity at T* -- and no search over subsets is needed.
 *
 * Floating point.  f_i(k) is computed as a_i + b_i * (double)k here and in
 * hg__plan_makespan; correctly rounded operations keep it nondecreasing in k, so n_i(T) is
 * the quotient floor((T - a_i) / b_i) when f_i itself confirms it (or its neighbour) and
 * otherwise found by bisection over k: either way consistently with the f_i actually
 * computed.  T* is found by
 * bisection over the ordered bit patterns of doubles between 0 (infeasible: every
 * f_i(1) >= b_i > 0) and max_i f_i(k_i) (feasible once the caps add up to rows): at most 64
 * rounds of O(ndev * 64).  T* is then the least computed finish time that suffices, so the
 * makespan is exact, not an approximation within a tolerance.
 *
 * Integer rows.  Starting from c_i = n_i(T*), whose sum may exceed rows:
 *
 *   1. Leave out devices that are not needed.  While some device with c_i > 0 has others
 *      whose c_j still add up to rows or more, the one with the largest a_i (its overhead is
 *      the most wasted), then the fewest rows, then the highest index, is set to 0.  After
 *      this every device left is needed: without it the others left cannot finish the rows
 *      by T*.  (Which of two interchangeable devices stays is decided by that order.)
 *   2. With T- the double just below T*, N(T-) < rows.  Each device left starts at
 *      n_i(T-), finishing before T*, and the rows still needed are taken from the rows
 *      n_i(T*) - n_i(T-) that finish exactly at T*, devices with the smaller b_i (then lower
 *      index) first; equivalently, the surplus comes off the devices that finish latest, the
 *      slowest per row first.  Step 1 left at least rows in n_i(T*), so the rows fit, and
 *      N(T-) < rows means at least one device finishes at T*: the makespan is T*.
 *
 * Sums of counts saturate at SIZE_MAX, which only ever meets a comparison with rows.
 *
 * The dynamic policy's plan (hg__plan_dynamic, at the end of the file) is this solver
 * under the hysteresis and probe rules described at the top of balance.c, on the models
 * the balancer refines: it lives here so that a step's row count goes from sched.c to one
 * file and back under every policy.
 *
 * Pure: no OpenCL calls, no globals.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "planner.h"

_Static_assert(sizeof(double) == sizeof(uint64_t), "planner.c assumes 64-bit doubles");

static size_t cap_of(const size_t *cap, size_t i)
{
    return cap ? cap[i] : SIZE_MAX;
}

static size_t add_sat(size_t x, size_t y)
{
    return y > SIZE_MAX - x ? SIZE_MAX : x + y;
}

/* Finish time of k > 0 rows; the one formula used everywhere. */
static double finish(const hg__cost_model *m, size_t k)
{
    return m->a_ms + m->b_ms_per_row * (double)k;
}

/* Rows device m can finish by T, at most kmax. */
static size_t rows_by(const hg__cost_model *m, size_t kmax, double T)
{
    if (kmax == 0 || !(finish(m, 1) <= T))
        return 0;
    /* The quotient (T - a) / b is almost always the answer or next to it: confirm it
       with the formula itself (two evaluations), and bisect only when it is not. */
    double q = floor((T - m->a_ms) / m->b_ms_per_row);
    if (q >= 1.0 && q < (double)kmax) {
        size_t k = (size_t)q;
        for (size_t guess = k > 1 ? k - 1 : 1; guess <= k + 1; guess++)
            if (finish(m, guess) <= T && (guess == kmax || !(finish(m, guess + 1) <= T)))
                return guess;
    } else if (q >= (double)kmax && finish(m, kmax) <= T) {
        return kmax;
    }
    size_t lo = 1, hi = kmax; /* finish(lo) <= T; the answer lies in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2 + 1;
        if (finish(m, mid) <= T)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

typedef struct plan_state {
    const hg__cost_model *model;
    const size_t        *cap;
    size_t               n;
    size_t               rows;
} plan_state;

static size_t kmax_of(const plan_state *p, size_t i)
{
    if (!p->model[i].valid)
        return 0;
    size_t c = cap_of(p->cap, i);
    return c < p->rows ? c : p->rows;
}

static size_t cap_rows(const plan_state *p, size_t i, double T)
{
    return rows_by(&p->model[i], kmax_of(p, i), T);
}

/* N(T) >= rows? */
static bool feasible(const plan_state *p, double T)
{
    size_t sum = 0;
    for (size_t i = 0; i < p->n && sum < p->rows; i++)
        sum = add_sat(sum, cap_rows(p, i, T));
    return sum >= p->rows;
}

/* Sum of c[j] over j != skip, saturating. */
static size_t sum_except(const size_t *c, size_t n, size_t skip)
{
    size_t sum = 0;
    for (size_t j = 0; j < n; j++)
        if (j != skip)
            sum = add_sat(sum, c[j]);
    return sum;
}

/* Step 1: leave out the devices the others can cover (c holds n_i(T*)). */
static void drop_unneeded(const plan_state *p, size_t *c)
{
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < p->n; i++) {
            if (c[i] == 0 || sum_except(c, p->n, i) < p->rows)
                continue;
            if (best == SIZE_MAX || p->model[i].a_ms > p->model[best].a_ms ||
                (p->model[i].a_ms == p->model[best].a_ms && c[i] <= c[best]))
                best = i; /* ties on a and rows: the later index wins */
        }
        if (best == SIZE_MAX)
            return;
        c[best] = 0;
    }
}

/* Does device j come after device i (SIZE_MAX: before all) in (b, index) order? */
static bool after(const plan_state *p, size_t j, size_t i)
{
    if (i == SIZE_MAX)
        return true;
    double bj = p->model[j].b_ms_per_row, bi = p->model[i].b_ms_per_row;
    return bj > bi || (bj == bi && j > i);
}

/* Step 2: trim to rows exactly (c holds n_i(T*) or 0).  Returns the rows left over: 0. */
static size_t trim_to_rows(const plan_state *p, double T, size_t *c)
{
    double below = hg__key_double(hg__double_key(T) - 1); /* T > 0, so this is >= +0 */
    size_t need = p->rows;
    for (size_t i = 0; i < p->n; i++)
        if (c[i] > 0)
            need -= cap_rows(p, i, below); /* these add up to less than rows */
    for (size_t prev = SIZE_MAX;;) {
        size_t next = SIZE_MAX;
        for (size_t i = 0; i < p->n; i++)
            if (c[i] > 0 && after(p, i, prev) && (next == SIZE_MAX || after(p, next, i)))
                next = i;
        if (next == SIZE_MAX)
            return need;
        size_t base = cap_rows(p, next, below);
        size_t jump = c[next] - base;
        size_t give = jump < need ? jump : need;
        c[next] = base + give;
        need -= give;
        prev = next;
    }
}

/* Argument checks (the failures documented in planner.h). */
static hg_status check_args(size_t rows, const hg__cost_model *model, size_t ndev,
                            const size_t *cap, const size_t *counts, hg_error *err)
{
    static const char fn[] = "hg__plan_affine";
    if (ndev > 0 && (!model || !counts))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL with %zu devices",
                             fn, !model ? "model" : "counts", ndev);
    bool any_valid = false;
    size_t room = 0;
    for (size_t i = 0; i < ndev; i++) {
        const hg__cost_model *m = &model[i];
        if (!m->valid)
            continue;
        if (!isfinite(m->a_ms) || m->a_ms < 0.0 || !isfinite(m->b_ms_per_row) ||
            !(m->b_ms_per_row > 0.0))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: model of device %zu has a = %g ms, b = %g ms/row; a "
                                 "must be finite and >= 0, b finite and > 0", fn, i, m->a_ms,
                                 m->b_ms_per_row);
        any_valid = true;
        room = add_sat(room, cap_of(cap, i));
    }
    if (rows == 0)
        return HG_OK;
    if (ndev == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: %zu rows to plan but no devices", fn, rows);
    if (!any_valid)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: none of the %zu devices has a valid cost model; cannot "
                             "plan %zu rows", fn, ndev, rows);
    if (room == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: every device with a valid cost model has cap 0; cannot "
                             "plan %zu rows", fn, rows);
    if (room < rows)
        return hg__error_set(err, HG_RANGE, 0,
                             "%s: the usable devices can take at most %zu rows under their "
                             "caps; %zu of the %zu rows cannot be placed", fn, room,
                             rows - room, rows);
    return HG_OK;
}

hg_status hg__plan_affine(size_t rows, const hg__cost_model *model, size_t ndev,
                         const size_t *cap, size_t *counts, double *makespan_ms,
                         hg_error *err)
{
    hg_error_clear(err);
    hg_status st = check_args(rows, model, ndev, cap, counts, err);
    if (st != HG_OK)
        return st;
    if (rows == 0) {
        for (size_t i = 0; i < ndev; i++)
            counts[i] = 0;
        if (makespan_ms)
            *makespan_ms = 0.0;
        return HG_OK;
    }

    plan_state p = {model, cap, ndev, rows};
    /* One usable device (the usual one-device engine): it takes every row, as the
       search below would find, without the search (its cap holds them: checked).  A
       makespan that overflows is left to the search, which says so. */
    size_t usable = 0, only = 0;
    for (size_t i = 0; i < ndev; i++)
        if (kmax_of(&p, i) > 0)
            usable++, only = i;
    if (usable == 1 && isfinite(finish(&model[only], rows))) {
        for (size_t i = 0; i < ndev; i++)
            counts[i] = i == only ? rows : 0;
        if (makespan_ms)
            *makespan_ms = hg__plan_makespan(model, ndev, counts);
        return HG_OK;
    }
    double top = 0.0; /* every usable device can finish its k_i rows by top */
    for (size_t i = 0; i < ndev; i++) {
        size_t k = kmax_of(&p, i);
        if (k > 0 && finish(&model[i], k) > top)
            top = finish(&model[i], k);
    }
    /* infeasible at lo (0), feasible at hi: the caps add up to rows (checked) */
    uint64_t lo = hg__double_key(0.0), hi = hg__double_key(top);
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (feasible(&p, hg__key_double(mid)))
            hi = mid;
        else
            lo = mid;
    }
    double T = hg__key_double(hi);
    if (!isfinite(T))
        return hg__error_set(err, HG_RANGE, 0,
                             "hg__plan_affine: the least predicted makespan of %zu rows on %zu "
                             "devices overflows", rows, ndev);

    /* Nothing fails from here on: counts can hold the working state. */
    for (size_t i = 0; i < ndev; i++)
        counts[i] = cap_rows(&p, i, T);
    drop_unneeded(&p, counts);
    size_t left = trim_to_rows(&p, T, counts);
    if (left != 0) /* ruled out above; counts are already overwritten, so say so */
        return hg__error_set(err, HG_INTERNAL, 0,
                             "hg__plan_affine: %zu rows left over after the plan (bug)", left);
    if (makespan_ms)
        *makespan_ms = hg__plan_makespan(model, ndev, counts);
    return HG_OK;
}

double hg__plan_makespan(const hg__cost_model *model, size_t ndev, const size_t *counts)
{
    if (ndev > 0 && (!model || !counts))
        return NAN;
    double worst = 0.0;
    for (size_t i = 0; i < ndev; i++) {
        if (counts[i] == 0)
            continue;
        double t = model[i].valid ? finish(&model[i], counts[i]) : INFINITY;
        if (t > worst)
            worst = t;
    }
    return worst;
}

/* ---- the dynamic policy's plan: hysteresis and probes ------------------------------ */

#define PROBE_EVERY 5   /* probe after this many 0-row plans running (balance.c) */
#define PROBE_DIVISOR 4 /* probe share: calibrated share / this, rounded up */

static bool usable(const hg__plan_memory *b, const size_t *cap, size_t i)
{
    return b->model[i].valid && cap_of(cap, i) > 0;
}

/*
 * Replace b->next by a probe plan when some device is due for a probe (see the top of
 * balance.c).  Returns whether it did; any failure of the probe plans just means no probe.
 */
static bool plan_probes(hg__plan_memory *b, size_t total, const size_t *cap)
{
    size_t n = b->ndev, probed = 0, shares = 0;
    size_t *c = b->scratch_c, *rest_cap = b->scratch_c + n;
    for (size_t i = 0; i < n; i++) {
        b->probe[i] = 0;
        const hg__cost_model *m = &b->model[i];
        bool going_on = b->probe_runs[i] > 0; /* its probe's next step */
        if (!usable(b, cap, i) || b->next[i] != 0 ||
            (!going_on && b->idle_plans[i] < PROBE_EVERY - 1) ||
            !(m->b_ms_per_row > b->b_cal[i] * (1.0 + b->jump_ratio))) {
            b->probe_runs[i] = 0;
            continue;
        }
        memcpy(b->scratch_m, b->model, n * sizeof *b->scratch_m);
        b->scratch_m[i].b_ms_per_row = b->b_cal[i];
        if (hg__plan_affine(total, b->scratch_m, n, cap, c, NULL, NULL) != HG_OK || c[i] == 0) {
            b->probe_runs[i] = 0;
            continue; /* not worth rows even at its calibrated speed */
        }
        b->probe[i] = c[i] / PROBE_DIVISOR + (c[i] % PROBE_DIVISOR != 0);
        shares = b->probe[i] > SIZE_MAX - shares ? SIZE_MAX : shares + b->probe[i];
        probed++;
    }
    if (probed == 0 || shares >= total)
        return false;
    for (size_t i = 0; i < n; i++)
        rest_cap[i] = b->probe[i] > 0 ? 0 : cap_of(cap, i);
    if (hg__plan_affine(total - shares, b->model, n, rest_cap, c, NULL, NULL) != HG_OK)
        return false;
    for (size_t i = 0; i < n; i++)
        b->next[i] = b->probe[i] > 0 ? b->probe[i] : c[i];
    return true;
}

hg_status hg__plan_dynamic(hg__plan_memory *b, size_t total, const size_t *cap,
                          size_t *counts, bool *changed, hg_error *err)
{
    hg_error_clear(err);
    if (!b || !counts)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__plan_dynamic: %s is NULL",
                             !b ? "mem" : "counts");
    size_t n = b->ndev;
    double best_ms;
    hg_status st = hg__plan_affine(total, b->model, n, cap, b->next, &best_ms, err);
    if (st != HG_OK)
        return st;

    bool same = b->has_prev && total == b->prev_total;
    for (size_t i = 0; i < n && same; i++)
        same = cap_of(cap, i) == b->prev_cap[i];
    if (same && total > 0 && !b->replan) {
        double cur_ms = hg__plan_makespan(b->model, n, b->prev);
        if (!(best_ms < (1.0 - b->hysteresis) * cur_ms))
            memcpy(b->next, b->prev, n * sizeof *b->next);
    }
    if (total == 0 || !plan_probes(b, total, cap))
        for (size_t i = 0; i < n; i++)
            b->probe[i] = b->probe_runs[i] = 0; /* probe[i] > 0: device i is being probed */

    bool moved = !b->has_prev;
    for (size_t i = 0; i < n; i++) {
        if (b->next[i] != b->prev[i])
            moved = true;
        if (total > 0 && usable(b, cap, i))
            b->idle_plans[i] = b->next[i] > 0           ? 0
                               : b->idle_plans[i] < SIZE_MAX ? b->idle_plans[i] + 1
                                                             : SIZE_MAX;
        b->prev[i] = counts[i] = b->next[i];
        b->prev_cap[i] = cap_of(cap, i);
    }
    b->prev_total = total;
    b->has_prev = true;
    b->replan = false;
    if (changed)
        *changed = moved;
    return HG_OK;
}
