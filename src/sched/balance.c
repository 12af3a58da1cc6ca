/* SPDX-License-Identifier: MIT */
/*
 * balance.c - dynamic rebalancing: refine per-device cost models from measured step times
 * and plan each step with hg__plan_affine.
 *
 * Model update.  Each device keeps the fixed overhead a_i of its calibrated model; only the
 * per-row cost b_i moves.  A step of n > 0 rows measured at t ms gives
 * b_obs = max(t - a_i, 1e-9) / n, and b_i <- (1 - alpha) b_i + alpha b_obs with
 *
 *   alpha = 1           when the model is stale: the device had 0 rows in the step observed
 *                       before (its model is only the last known one), or a probe has just
 *                       readmitted it (see below); a fresh measurement replaces the model;
 *   alpha = alpha_jump  (0.7) on a jump: b_obs and b_i differ by more than jump_ratio (25%)
 *                       of the smaller of the two.  A real change (a device slowed by other
 *                       work, throttled, or freed) is followed within a step or two.  The
 *                       test is symmetric in the ratio, so a device that speeds up 4x is
 *                       followed as fast as one that slows down 4x (relative to b_i alone a
 *                       recovery would fall below the threshold after one step and crawl);
 *   alpha = alpha       (0.3) otherwise: measurement noise of a few percent moves b_i by a
 *                       third of that.
 *
 * An error in a_i is absorbed by b_i at the rows the device is given.  Where the true
 * overhead is below the step time this has a fixed point at the right split (the device's
 * predicted time for its rows equals the measured one); where it is not -- a device whose
 * overhead itself grew beyond the step time -- b_i grows step after step and the device's
 * rows shrink to 0, which is the right split for it too.
 *
 * Hysteresis.  When total and caps are those of the previous plan, the previous counts are
 * kept unless the optimal plan under the current models has a predicted makespan below
 * (1 - hysteresis) times the previous counts' predicted makespan.  Noise of +/-3% moves the
 * smoothed b_i by about 1%, which moves the optimum's predicted makespan by less than the
 * 3% threshold, so converged counts stay put instead of chasing noise.  A jump observed
 * since the last plan (and a probe that readmits a device) bypasses the hysteresis: the
 * next plan is the optimum whatever its predicted gain.  Without that, a device with a
 * small share that recovers can stay well below its share for good: correcting it may gain
 * less than 3% of the makespan.  Noise does not make jumps (+/-3% is far below 25%).
 *
 * Devices with 0 rows.  The planner sees every usable device's model every step, so a
 * device whose last known model makes it worth including gets rows again at once.  A device
 * that slowed down and was dropped to 0 rows, though, keeps the slow model it had when it
 * was dropped, and nothing would ever show that it recovered.  Probe rule: when a plan gives
 * 0 rows to a device for the PROBE_EVERY-th (5th) time running, and the device's b_i is more
 * than jump_ratio above its calibrated b, it gets a probe share instead: a quarter (rounded
 * up) of the rows hg__plan_affine would give it if its b_i were back at the calibrated value.
 * The other devices share the rest by hg__plan_affine.  The probe's verdict:
 *
 *   - the probe ran within jump_ratio of the calibrated model's time for its rows: the
 *     device has recovered; b_i becomes the probe's b_obs, the next plan includes it with
 *     that cost, and its first full share's measurement replaces b_i again (alpha 1; the
 *     larger share measures b more precisely than a quarter share dominated by a_i);
 *   - otherwise its model is left as it was and it stays out until the next probe.  Taking
 *     the probe's b_obs instead would readmit it: a slowed overhead shows up as a smaller
 *     b_obs at probe size than at the few rows it would then get, so it would be given rows
 *     and dropped again over several slow steps after every probe.
 *
 * A probe of a device still slow by a factor s lasts about s * (a_i + b_i * c / 4) for its
 * calibrated share c, once every 5 steps (tests/test_balance.c: a device with a 5 ms
 * overhead, 4x slower, makes every 5th step 2.25x longer).  A device that recovers
 * only partly stays out until it is back within jump_ratio of its calibrated speed.  Devices
 * left out at their calibrated cost (too much overhead for the step) are never probed: their
 * 0 rows are not the result of a slowdown.  No probe is made when the probe shares would
 * take all the rows or the others cannot take the rest under their caps.
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

struct hg__balancer {
    size_t              ndev;
    hg__balance_options  opt;
    hg__cost_model      *model;      /* current models */
    double             *b_cal;      /* calibrated per-row costs */
    hg__cost_model      *scratch_m;  /* models for the probe plan */
    size_t             *idle_plans; /* plans running with 0 rows (usable devices) */
    size_t             *prev;       /* counts of the last plan */
    size_t             *prev_cap;   /* caps of the last plan (SIZE_MAX: none) */
    size_t             *next;       /* the plan being made */
    size_t             *probe;      /* probe shares; > 0: the last plan probes the device */
    size_t             *scratch_c;  /* caps and counts for the probe plans (2 * ndev) */
    bool               *stale;      /* the next measurement replaces b (alpha 1) */
    size_t              prev_total;
    bool                has_prev;
    bool                replan; /* a jump was observed since the last plan */
};

void hg__balance_options_init(hg__balance_options *o)
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

static hg_status check_options(const hg__balance_options *o, hg_error *err)
{
    static const char fn[] = "hg__balancer_create";
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

hg_status hg__balancer_create(size_t ndev, const hg__cost_model *initial,
                             const hg__balance_options *opt, hg__balancer **out, hg_error *err)
{
    static const char fn[] = "hg__balancer_create";
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
        const hg__cost_model *m = &initial[i];
        if (m->valid && (!isfinite(m->a_ms) || m->a_ms < 0.0 || !isfinite(m->b_ms_per_row) ||
                         !(m->b_ms_per_row > 0.0)))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: model of device %zu has a = %g ms, b = %g ms/row; a "
                                 "must be finite and >= 0, b finite and > 0", fn, i, m->a_ms,
                                 m->b_ms_per_row);
    }
    hg__balance_options o;
    hg__balance_options_init(&o);
    if (opt)
        o = *opt;
    hg_status st = check_options(&o, err);
    if (st != HG_OK)
        return st;

    /* One block after the struct: 2 model arrays, then per device 1 double, 7 size_t and
       1 bool (in that order, so every array is aligned). */
    const size_t per_dev = 2 * sizeof(hg__cost_model) + sizeof(double) + 7 * sizeof(size_t) +
                           sizeof(bool);
    hg__balancer *b = ndev > (SIZE_MAX - sizeof *b) / per_dev
                         ? NULL
                         : malloc(sizeof *b + ndev * per_dev);
    if (!b)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "%s: out of memory for %zu devices' balancer state", fn, ndev);
    b->ndev = ndev;
    b->opt = o;
    b->model = (hg__cost_model *)(void *)(b + 1);
    b->scratch_m = b->model + ndev;
    b->b_cal = (double *)(void *)(b->scratch_m + ndev);
    b->idle_plans = (size_t *)(void *)(b->b_cal + ndev);
    b->prev = b->idle_plans + ndev;
    b->prev_cap = b->prev + ndev;
    b->next = b->prev_cap + ndev;
    b->probe = b->next + ndev;
    b->scratch_c = b->probe + ndev; /* 2 * ndev */
    b->stale = (bool *)(b->scratch_c + 2 * ndev);
    for (size_t i = 0; i < ndev; i++) {
        b->model[i] = initial[i];
        b->b_cal[i] = initial[i].b_ms_per_row;
        b->idle_plans[i] = b->prev[i] = b->probe[i] = 0;
        b->stale[i] = false;
        b->prev_cap[i] = SIZE_MAX;
    }
    b->prev_total = 0;
    b->has_prev = false;
    b->replan = false;
    *out = b;
    return HG_OK;
}

void hg__balancer_destroy(hg__balancer *b)
{
    free(b);
}

hg_status hg__balancer_recalibrate(hg__balancer *b, size_t i, const hg__cost_model *model,
                                  hg_error *err)
{
    static const char fn[] = "hg__balancer_recalibrate";
    hg_error_clear(err);
    if (!b || !model)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL", fn,
                             !b ? "b" : "model");
    if (i >= b->ndev)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: device %zu of %zu", fn, i,
                             b->ndev);
    if (model->valid && (!isfinite(model->a_ms) || model->a_ms < 0.0 ||
                         !isfinite(model->b_ms_per_row) || !(model->b_ms_per_row > 0.0)))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: model of device %zu has a = %g ms, b = %g ms/row; a must "
                             "be finite and >= 0, b finite and > 0", fn, i, model->a_ms,
                             model->b_ms_per_row);
    b->model[i] = *model;
    b->b_cal[i] = model->b_ms_per_row;
    b->idle_plans[i] = 0;
    b->probe[i] = 0;
    b->stale[i] = false;
    b->replan = true;
    return HG_OK;
}

const hg__cost_model *hg__balancer_model(const hg__balancer *b, size_t i)
{
    if (!b || i >= b->ndev)
        return NULL;
    return &b->model[i];
}

hg_status hg__balancer_observe(hg__balancer *b, const size_t *rows, const double *ms,
                              hg_error *err)
{
    static const char fn[] = "hg__balancer_observe";
    hg_error_clear(err);
    if (!b || !rows || !ms)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL", fn,
                             !b ? "b" : !rows ? "rows" : "ms");
    for (size_t i = 0; i < b->ndev; i++)
        if (rows[i] > 0 && (!isfinite(ms[i]) || ms[i] < 0.0))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: device %zu took %g ms for %zu rows; times must be "
                                 "finite and >= 0", fn, i, ms[i], rows[i]);

    const hg__balance_options *o = &b->opt;
    for (size_t i = 0; i < b->ndev; i++) {
        if (rows[i] == 0) {
            b->stale[i] = true;
            continue;
        }
        bool stale = b->stale[i], probed = b->probe[i] > 0;
        b->stale[i] = false;
        hg__cost_model *m = &b->model[i];
        if (!m->valid)
            continue;
        double excess = ms[i] - m->a_ms;
        double b_obs = (excess > MIN_EXCESS_MS ? excess : MIN_EXCESS_MS) / (double)rows[i];
        double bi = m->b_ms_per_row;
        bool jump = fabs(b_obs - bi) > o->jump_ratio * fmin(b_obs, bi);
        double alpha = jump ? o->alpha_jump : o->alpha;
        if (probed) {
            /* the verdict of a probe: back to calibrated speed, or left as it was */
            double cal = m->a_ms + b->b_cal[i] * (double)rows[i];
            alpha = ms[i] <= (1.0 + o->jump_ratio) * cal ? 1.0 : 0.0;
            b->stale[i] = alpha > 0.0; /* its first full share measures it better */
        } else if (stale) {
            alpha = 1.0;
        }
        double nb = (1.0 - alpha) * bi + alpha * b_obs;
        if (isfinite(nb) && nb > 0.0) /* b_obs > 0 and finite: always */
            m->b_ms_per_row = nb;
        if (jump && alpha > 0.0)
            b->replan = true; /* a real change: the next plan skips the hysteresis */
    }
    for (size_t i = 0; i < b->ndev; i++)
        b->probe[i] = 0; /* a probe is judged once */
    return HG_OK;
}

static bool usable(const hg__balancer *b, const size_t *cap, size_t i)
{
    return b->model[i].valid && cap_of(cap, i) > 0;
}

/*
 * Replace b->next by a probe plan when some device is due for a probe (see the top of the
 * file).  Returns whether it did; any failure of the probe plans just means no probe.
 */
static bool plan_probes(hg__balancer *b, size_t total, const size_t *cap)
{
    size_t n = b->ndev, probed = 0, shares = 0;
    size_t *c = b->scratch_c, *rest_cap = b->scratch_c + n;
    for (size_t i = 0; i < n; i++) {
        b->probe[i] = 0;
        const hg__cost_model *m = &b->model[i];
        if (!usable(b, cap, i) || b->next[i] != 0 || b->idle_plans[i] < PROBE_EVERY - 1 ||
            !(m->b_ms_per_row > b->b_cal[i] * (1.0 + b->opt.jump_ratio)))
            continue;
        memcpy(b->scratch_m, b->model, n * sizeof *b->scratch_m);
        b->scratch_m[i].b_ms_per_row = b->b_cal[i];
        if (hg__plan_affine(total, b->scratch_m, n, cap, c, NULL, NULL) != HG_OK || c[i] == 0)
            continue; /* not worth rows even at its calibrated speed */
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

hg_status hg__balancer_plan(hg__balancer *b, size_t total, const size_t *cap, size_t *counts,
                           bool *changed, hg_error *err)
{
    hg_error_clear(err);
    if (!b || !counts)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__balancer_plan: %s is NULL",
                             !b ? "b" : "counts");
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
        if (!(best_ms < (1.0 - b->opt.hysteresis) * cur_ms))
            memcpy(b->next, b->prev, n * sizeof *b->next);
    }
    if (total == 0 || !plan_probes(b, total, cap))
        for (size_t i = 0; i < n; i++)
            b->probe[i] = 0; /* probe[i] > 0: device i is being probed */

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
