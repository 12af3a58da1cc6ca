/*
 * balance.c - dynamic rebalancing: refine per-device cost models from measured step times
 * and plan each step with hg_plan_affine.
 *
 * Model update.  Each device keeps the fixed overhead a_i of its calibrated model; only the
 * per-row cost b_i moves.  A step of n > 0 rows measured at t ms gives
 * b_obs = max(t - a_i, 1e-9) / n, and b_i <- (1 - alpha) b_i + alpha b_obs with
 *
 *   alpha = 1           when the device had 0 rows in the step observed before: its model is
 *                       only the last known one, and a fresh measurement replaces it;
 *   alpha = alpha_jump  (0.7) when |b_obs - b_i| > jump_ratio (25%) of b_i: a real change
 *                       (a device slowed by other work, throttled, or freed) is followed in
 *                       a step or two;
 *   alpha = alpha       (0.3) otherwise: measurement noise of a few percent moves b_i by a
 *                       third of that.
 *
 * A constant error in a_i is absorbed by b_i at the rows the device is given, so the
 * predicted time of the current counts converges to the measured one even when the
 * calibration was off.
 *
 * Hysteresis.  When total and caps are those of the previous plan, the previous counts are
 * kept unless the optimal plan under the current models has a predicted makespan below
 * (1 - hysteresis) times the previous counts' predicted makespan.  Noise of +/-3% moves the
 * smoothed b_i by about 1%, which moves the optimum's predicted makespan by less than the
 * 3% threshold, so converged counts stay put instead of chasing noise; a 4x slowdown
 * raises the old counts' prediction far beyond it and re-plans at once.
 *
 * Devices with 0 rows.  The planner sees every usable device's model every step, so a
 * device whose (last known) model makes it worth including gets rows again at once.  A
 * device that slowed down and was dropped to 0 rows, though, keeps the slow model it had
 * when it was dropped, and nothing would ever show that it recovered.  Probe rule: when a
 * plan gives 0 rows to a device for the PROBE_EVERY-th (5th) time running, and the device's
 * b_i is more than jump_ratio above its calibrated b, the device gets a probe share instead:
 * a quarter (rounded up) of the rows it would get from hg_plan_affine if its b_i were back at
 * the calibrated value.  The other devices share the rest by hg_plan_affine.  The probe's
 * measurement replaces the stale b_i (alpha = 1 above): a recovered device is then planned
 * with its real cost on the next step, and a device still slow by a factor s costs a probe
 * step about s/4 of the device's calibrated step time, once every 5 steps.  Devices left out
 * at their calibrated cost (too much overhead for the step) are never probed: their 0 rows
 * are not the result of a slowdown.  No probe is made when it would take all the rows or the
 * others cannot take the rest under their caps.
 *
 * Pure: no OpenCL calls, no globals.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "planner.h"

#define PROBE_EVERY 5      /* probe after this many 0-row plans running */
#define PROBE_DIVISOR 4    /* probe share: calibrated share / this, rounded up */
#define MIN_EXCESS_MS 1e-9 /* floor of t - a in b_obs */

struct hg_balancer {
    size_t              ndev;
    hg_balance_options  opt;
    hg_cost_model      *model;      /* current models */
    double             *b_cal;      /* calibrated per-row costs */
    hg_cost_model      *scratch_m;  /* models for the probe plan */
    size_t             *idle_obs;   /* observations running with 0 rows */
    size_t             *idle_plans; /* plans running with 0 rows (usable devices) */
    size_t             *prev;       /* counts of the last plan */
    size_t             *prev_cap;   /* caps of the last plan (SIZE_MAX: none) */
    size_t             *next;       /* the plan being made */
    size_t             *probe;      /* probe shares */
    size_t             *scratch_c;  /* caps and counts for the probe plans */
    size_t              prev_total;
    bool                has_prev;
};

void hg_balance_options_init(hg_balance_options *o)
{
    if (!o)
        return;
    o->alpha = 0.3;
    o->alpha_jump = 0.7;
    o->jump_ratio = 0.25;
    o->hysteresis = 0.03;
}

static size_t cap_of(const size_t *cap, size_t i)
{
    return cap ? cap[i] : SIZE_MAX;
}

static hg_status check_options(const hg_balance_options *o, hg_error *err)
{
    static const char fn[] = "hg_balancer_create";
    if (!(o->alpha > 0.0 && o->alpha <= 1.0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: alpha is %g; it must be in (0, 1]", fn, o->alpha);
    if (!(o->alpha_jump > 0.0 && o->alpha_jump <= 1.0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: alpha_jump is %g; it must be in (0, 1]", fn, o->alpha_jump);
    if (!(isfinite(o->jump_ratio) && o->jump_ratio > 0.0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: jump_ratio is %g; it must be finite and > 0", fn,
                             o->jump_ratio);
    if (!(o->hysteresis >= 0.0 && o->hysteresis < 1.0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: hysteresis is %g; it must be in [0, 1)", fn, o->hysteresis);
    return HG_OK;
}

hg_status hg_balancer_create(size_t ndev, const hg_cost_model *initial,
                             const hg_balance_options *opt, hg_balancer **out, hg_error *err)
{
    static const char fn[] = "hg_balancer_create";
    hg_error_clear(err);
    if (!out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: out is NULL", fn);
    *out = NULL;
    if (ndev == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: no devices", fn);
    if (!initial)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: initial is NULL with %zu "
                             "devices", fn, ndev);
    for (size_t i = 0; i < ndev; i++) {
        const hg_cost_model *m = &initial[i];
        if (m->valid && (!isfinite(m->a_ms) || m->a_ms < 0.0 || !isfinite(m->b_ms_per_row) ||
                         !(m->b_ms_per_row > 0.0)))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: model of device %zu has a = %g ms, b = %g ms/row; a "
                                 "must be finite and >= 0, b finite and > 0", fn, i, m->a_ms,
                                 m->b_ms_per_row);
    }
    hg_balance_options o;
    hg_balance_options_init(&o);
    if (opt)
        o = *opt;
    hg_status st = check_options(&o, err);
    if (st != HG_OK)
        return st;

    /* One block after the struct: 2 model arrays, then 1 double and 8 size_t per device. */
    const size_t per_dev = 2 * sizeof(hg_cost_model) + sizeof(double) + 8 * sizeof(size_t);
    hg_balancer *b = ndev > (SIZE_MAX - sizeof *b) / per_dev
                         ? NULL
                         : malloc(sizeof *b + ndev * per_dev);
    if (!b)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "%s: out of memory for %zu devices' balancer state", fn, ndev);
    b->ndev = ndev;
    b->opt = o;
    b->model = (hg_cost_model *)(void *)(b + 1);
    b->scratch_m = b->model + ndev;
    b->b_cal = (double *)(void *)(b->scratch_m + ndev);
    b->idle_obs = (size_t *)(void *)(b->b_cal + ndev);
    b->idle_plans = b->idle_obs + ndev;
    b->prev = b->idle_plans + ndev;
    b->prev_cap = b->prev + ndev;
    b->next = b->prev_cap + ndev;
    b->probe = b->next + ndev;
    b->scratch_c = b->probe + ndev; /* 2 * ndev */
    for (size_t i = 0; i < ndev; i++) {
        b->model[i] = initial[i];
        b->b_cal[i] = initial[i].b_ms_per_row;
        b->idle_obs[i] = b->idle_plans[i] = b->prev[i] = 0;
        b->prev_cap[i] = SIZE_MAX;
    }
    b->prev_total = 0;
    b->has_prev = false;
    *out = b;
    return HG_OK;
}

void hg_balancer_destroy(hg_balancer *b)
{
    free(b);
}

const hg_cost_model *hg_balancer_model(const hg_balancer *b, size_t i)
{
    if (!b || i >= b->ndev)
        return NULL;
    return &b->model[i];
}

hg_status hg_balancer_observe(hg_balancer *b, const size_t *rows, const double *ms,
                              hg_error *err)
{
    static const char fn[] = "hg_balancer_observe";
    hg_error_clear(err);
    if (!b || !rows || !ms)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL", fn,
                             !b ? "b" : !rows ? "rows" : "ms");
    for (size_t i = 0; i < b->ndev; i++)
        if (rows[i] > 0 && (!isfinite(ms[i]) || ms[i] < 0.0))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: device %zu took %g ms for %zu rows; times must be "
                                 "finite and >= 0", fn, i, ms[i], rows[i]);

    const hg_balance_options *o = &b->opt;
    for (size_t i = 0; i < b->ndev; i++) {
        if (rows[i] == 0) {
            if (b->idle_obs[i] < SIZE_MAX)
                b->idle_obs[i]++;
            continue;
        }
        bool stale = b->idle_obs[i] > 0;
        b->idle_obs[i] = 0;
        hg_cost_model *m = &b->model[i];
        if (!m->valid)
            continue;
        double excess = ms[i] - m->a_ms;
        double b_obs = (excess > MIN_EXCESS_MS ? excess : MIN_EXCESS_MS) / (double)rows[i];
        double alpha = stale                                                  ? 1.0
                       : fabs(b_obs - m->b_ms_per_row) > o->jump_ratio * m->b_ms_per_row
                           ? o->alpha_jump
                           : o->alpha;
        double nb = (1.0 - alpha) * m->b_ms_per_row + alpha * b_obs;
        if (isfinite(nb) && nb > 0.0) /* b_obs > 0 and finite: always */
            m->b_ms_per_row = nb;
    }
    return HG_OK;
}

static bool usable(const hg_balancer *b, const size_t *cap, size_t i)
{
    return b->model[i].valid && cap_of(cap, i) > 0;
}

/*
 * Replace b->next by a probe plan when some device is due for a probe (see the top of the
 * file).  Returns whether it did; any failure of the probe plans just means no probe.
 */
static bool plan_probes(hg_balancer *b, size_t total, const size_t *cap)
{
    size_t n = b->ndev, probed = 0, shares = 0;
    size_t *c = b->scratch_c, *rest_cap = b->scratch_c + n;
    for (size_t i = 0; i < n; i++) {
        b->probe[i] = 0;
        const hg_cost_model *m = &b->model[i];
        if (!usable(b, cap, i) || b->next[i] != 0 || b->idle_plans[i] < PROBE_EVERY - 1 ||
            !(m->b_ms_per_row > b->b_cal[i] * (1.0 + b->opt.jump_ratio)))
            continue;
        memcpy(b->scratch_m, b->model, n * sizeof *b->scratch_m);
        b->scratch_m[i].b_ms_per_row = b->b_cal[i];
        if (hg_plan_affine(total, b->scratch_m, n, cap, c, NULL, NULL) != HG_OK || c[i] == 0)
            continue; /* not worth rows even at its calibrated speed */
        b->probe[i] = c[i] / PROBE_DIVISOR + (c[i] % PROBE_DIVISOR != 0);
        shares = b->probe[i] > SIZE_MAX - shares ? SIZE_MAX : shares + b->probe[i];
        probed++;
    }
    if (probed == 0 || shares >= total)
        return false;
    for (size_t i = 0; i < n; i++)
        rest_cap[i] = b->probe[i] > 0 ? 0 : cap_of(cap, i);
    if (hg_plan_affine(total - shares, b->model, n, rest_cap, c, NULL, NULL) != HG_OK)
        return false;
    for (size_t i = 0; i < n; i++)
        b->next[i] = b->probe[i] > 0 ? b->probe[i] : c[i];
    return true;
}

hg_status hg_balancer_plan(hg_balancer *b, size_t total, const size_t *cap, size_t *counts,
                           bool *changed, hg_error *err)
{
    hg_error_clear(err);
    if (!b || !counts)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_balancer_plan: %s is NULL",
                             !b ? "b" : "counts");
    size_t n = b->ndev;
    double best_ms;
    hg_status st = hg_plan_affine(total, b->model, n, cap, b->next, &best_ms, err);
    if (st != HG_OK)
        return st;

    bool same = b->has_prev && total == b->prev_total;
    for (size_t i = 0; i < n && same; i++)
        same = cap_of(cap, i) == b->prev_cap[i];
    if (same && total > 0) {
        double cur_ms = hg_plan_makespan(b->model, n, b->prev);
        if (!(best_ms < (1.0 - b->opt.hysteresis) * cur_ms))
            memcpy(b->next, b->prev, n * sizeof *b->next);
    }
    if (total > 0)
        plan_probes(b, total, cap);

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
    if (changed)
        *changed = moved;
    return HG_OK;
}
