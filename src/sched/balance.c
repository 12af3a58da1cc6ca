/* SPDX-License-Identifier: MIT */
/*
 * balance.c - dynamic rebalancing: refine per-device cost models from measured step times;
 * each step is planned with hg__plan_affine under the hysteresis and probe rules below.
 * The rules are described here, where the measurements that drive them are judged; the
 * plan that applies them is hg__plan_dynamic (planner.c), beside the solver, so that the
 * scheduler (sched.c) gets a step's counts from one file under every policy.
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
 * up) of the rows hg__plan_affine would give it if its b_i were back at the calibrated value,
 * for HG__PROBE_STEPS (2) steps in a row.  The other devices share the rest by
 * hg__plan_affine.  The first probe step is not judged: a device's first step after it
 * sat idle runs cold (its threads asleep, its caches another's), and on the 2-vCPU
 * development machine a 1.5 ms step after other work took 1.3x as long as after eight of
 * its own (tools/harness.h); judged on that step, a recovered device stayed out for good
 * (tests/test_balance.c simulates a first step 1.6x as long).
 * The verdict, on the last probe step:
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
 * A probe of a device still slow by a factor s lasts about s * (a_i + b_i * c / 4) a step
 * for its calibrated share c, two steps out of every 6 (tests/test_balance.c: a device with
 * a 5 ms overhead, 4x slower, makes those steps 2.25x longer).  A device that recovers
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

#define MIN_EXCESS_MS 1e-9 /* floor of t - a in b_obs */

struct hg__balancer {
    hg__balance_options opt;
    hg__plan_memory     mem;   /* the models and what the plans remember (planner.h) */
    bool               *stale; /* the next measurement replaces b (alpha 1) */
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

    /* One block after the struct: 2 model arrays, then per device 1 double, 8 size_t and
       1 bool (in that order, so every array is aligned). */
    const size_t per_dev = 2 * sizeof(hg__cost_model) + sizeof(double) + 8 * sizeof(size_t) +
                           sizeof(bool);
    hg__balancer *b = ndev > (SIZE_MAX - sizeof *b) / per_dev
                         ? NULL
                         : malloc(sizeof *b + ndev * per_dev);
    if (!b)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "%s: out of memory for %zu devices' balancer state", fn, ndev);
    b->mem.ndev = ndev;
    b->opt = o;
    b->mem.hysteresis = o.hysteresis;
    b->mem.jump_ratio = o.jump_ratio;
    b->mem.model = (hg__cost_model *)(void *)(b + 1);
    b->mem.scratch_m = b->mem.model + ndev;
    b->mem.b_cal = (double *)(void *)(b->mem.scratch_m + ndev);
    b->mem.idle_plans = (size_t *)(void *)(b->mem.b_cal + ndev);
    b->mem.prev = b->mem.idle_plans + ndev;
    b->mem.prev_cap = b->mem.prev + ndev;
    b->mem.next = b->mem.prev_cap + ndev;
    b->mem.probe = b->mem.next + ndev;
    b->mem.probe_runs = b->mem.probe + ndev;
    b->mem.scratch_c = b->mem.probe_runs + ndev; /* 2 * ndev */
    b->stale = (bool *)(b->mem.scratch_c + 2 * ndev);
    for (size_t i = 0; i < ndev; i++) {
        b->mem.model[i] = initial[i];
        b->mem.b_cal[i] = initial[i].b_ms_per_row;
        b->mem.idle_plans[i] = b->mem.prev[i] = b->mem.probe[i] = b->mem.probe_runs[i] = 0;
        b->stale[i] = false;
        b->mem.prev_cap[i] = SIZE_MAX;
    }
    b->mem.prev_total = 0;
    b->mem.has_prev = false;
    b->mem.replan = false;
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
    if (i >= b->mem.ndev)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: device %zu of %zu", fn, i,
                             b->mem.ndev);
    if (model->valid && (!isfinite(model->a_ms) || model->a_ms < 0.0 ||
                         !isfinite(model->b_ms_per_row) || !(model->b_ms_per_row > 0.0)))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: model of device %zu has a = %g ms, b = %g ms/row; a must "
                             "be finite and >= 0, b finite and > 0", fn, i, model->a_ms,
                             model->b_ms_per_row);
    b->mem.model[i] = *model;
    b->mem.b_cal[i] = model->b_ms_per_row;
    b->mem.idle_plans[i] = 0;
    b->mem.probe[i] = b->mem.probe_runs[i] = 0;
    b->stale[i] = false;
    b->mem.replan = true;
    return HG_OK;
}

const hg__cost_model *hg__balancer_model(const hg__balancer *b, size_t i)
{
    if (!b || i >= b->mem.ndev)
        return NULL;
    return &b->mem.model[i];
}

hg_status hg__balancer_observe(hg__balancer *b, const size_t *rows, const double *ms,
                              hg_error *err)
{
    static const char fn[] = "hg__balancer_observe";
    hg_error_clear(err);
    if (!b || !rows || !ms)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL", fn,
                             !b ? "b" : !rows ? "rows" : "ms");
    for (size_t i = 0; i < b->mem.ndev; i++)
        if (rows[i] > 0 && (!isfinite(ms[i]) || ms[i] < 0.0))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: device %zu took %g ms for %zu rows; times must be "
                                 "finite and >= 0", fn, i, ms[i], rows[i]);

    const hg__balance_options *o = &b->opt;
    for (size_t i = 0; i < b->mem.ndev; i++) {
        if (rows[i] == 0) {
            b->stale[i] = true;
            continue;
        }
        bool stale = b->stale[i], probed = b->mem.probe[i] > 0;
        b->stale[i] = false;
        hg__cost_model *m = &b->mem.model[i];
        if (!m->valid)
            continue;
        if (probed && b->mem.probe_runs[i] + 1 < HG__PROBE_STEPS) {
            b->mem.probe_runs[i]++; /* its first step after idling: cold, not judged */
            continue;
        }
        if (probed)
            b->mem.probe_runs[i] = 0;
        double excess = ms[i] - m->a_ms;
        double b_obs = (excess > MIN_EXCESS_MS ? excess : MIN_EXCESS_MS) / (double)rows[i];
        double bi = m->b_ms_per_row;
        bool jump = fabs(b_obs - bi) > o->jump_ratio * fmin(b_obs, bi);
        double alpha = jump ? o->alpha_jump : o->alpha;
        if (probed) {
            /* the verdict of a probe: back to calibrated speed, or left as it was */
            double cal = m->a_ms + b->mem.b_cal[i] * (double)rows[i];
            alpha = ms[i] <= (1.0 + o->jump_ratio) * cal ? 1.0 : 0.0;
            b->stale[i] = alpha > 0.0; /* its first full share measures it better */
        } else if (stale) {
            alpha = 1.0;
        }
        double nb = (1.0 - alpha) * bi + alpha * b_obs;
        if (isfinite(nb) && nb > 0.0) /* b_obs > 0 and finite: always */
            m->b_ms_per_row = nb;
        if (jump && alpha > 0.0)
            b->mem.replan = true; /* a real change: the next plan skips the hysteresis */
    }
    for (size_t i = 0; i < b->mem.ndev; i++)
        b->mem.probe[i] = 0; /* a probe is judged once */
    return HG_OK;
}

hg_status hg__balancer_plan(hg__balancer *b, size_t total, const size_t *cap, size_t *counts,
                           bool *changed, hg_error *err)
{
    hg_error_clear(err);
    if (!b || !counts)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__balancer_plan: %s is NULL",
                             !b ? "b" : "counts");
    return hg__plan_dynamic(&b->mem, total, cap, counts, changed, err);
}

hg__plan_memory *hg__balancer_memory(hg__balancer *b)
{
    return b ? &b->mem : NULL;
}
