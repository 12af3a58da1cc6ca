/* SPDX-License-Identifier: MIT */
/*
 * profile_check.c - a cost profile read from the cache is on probation until
 * the device's first steps agree with it.
 *
 * The cache key (profile_key.c) holds everything known to change a device's
 * speed, but not everything that can: a driver update that keeps its version
 * string, a CPU governor or thermal limit, a profile measured while the
 * machine was busy.  A stale profile misplans every step of a split by the
 * model, and sends the dynamic balancer's guard to the wrong device.  So
 * after calibration every device whose model came from the cache is watched
 * for its first HG__PROBATION_STEPS (3) steps in which it has a weight.  For
 * each of them in which it computed rows (and did not fail or recompute
 * another device's rows) the ratio of its measured host time to its model's
 * prediction for those rows is kept.  Then the median ratio r is judged (a
 * median of three: one step disturbed by something else cannot decide):
 *
 *   - 1/1.25 <= r <= 1.25 (within 25% of the smaller of the two, the
 *     balancer's jump rule): the profile is confirmed.
 *   - Otherwise, or when the device computed rows in none of those steps (a
 *     profile that makes a device look too slow to be worth rows would never
 *     be contradicted by steps), the device is timed alone: as many rows as
 *     its model says take SPOT_MS (20 ms), the median of SPOT_REPEATS (3) runs
 *     after a warm-up.  Steps run devices together, and two views of the same
 *     cores (POCL's pthread and basic devices), or devices sharing a memory
 *     bus, slow each other down by more than 25% with a right profile.  A
 *     profile describes its device alone, so alone is where it is judged.
 *     The profile stands when, alone, the device is within 25% of it; or
 *     departs the other way from the steps (one of the two is noise); or,
 *     having computed no rows, it would get none at its speed alone either
 *     (no plan would change, and a simulator's timings -- one row of
 *     Oclgrind takes a few hundred ms, +-25% under load -- are not worth
 *     measuring it again for).
 *   - Otherwise its cost model is measured again as calibration measures it,
 *     with the kernel it computes with (hg__profile_remeasure).  When the new
 *     model predicts within 25% of the profile for the rows timed alone, the
 *     profile stands (that timing was the noise).  Otherwise the profile was
 *     stale: the new model replaces it, its cache entry is rewritten,
 *     from_cache becomes false, and it is logged at info level ("profile of
 *     DEVICE was stale: predicted X ms, measured Y ms ...; recalibrated").
 *     The next step is planned on the new model: the scheduler takes it as the
 *     device's model (hg__sched_set_model; under HG_SPLIT_DYNAMIC also as its
 *     calibrated reference, hg__balancer_recalibrate).
 *
 * So three measurements (the steps, a timing alone, a calibration's) must
 * agree that a profile is off before it is replaced: on a machine shared with
 * other work one timing can swing by 2x and more, and a replacement measured
 * during such a swing would misplan every later run.  Each "stands" is
 * logged at info level with the figures.
 *
 * Why measure again rather than fit the steps: a device's steps have one row
 * count (the batch, or its share of it), which cannot tell the fixed cost from
 * the per-row cost, and they were timed beside the other devices.  Why not
 * choose its kernel again too: the kernel was chosen by comparing candidates
 * on this device, and what the key does not see (a clock, a busy machine)
 * moves them alike; what changes their order (compute units, driver, the
 * driver's variables) is in the key, and a new key is a new calibration.
 * Measuring costs a fraction of a second on a CPU device, once.  A correct
 * profile costs nothing when the steps agree with it, and one timing alone
 * (about 80 ms) when they do not.
 *
 * The judging happens between steps, after the step's result and statistics
 * are final (hg_engine_last_step() still shows the step, not the timings).
 * Fault injection is off while the device is timed or measured, as in
 * calibration.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "sched/planner.h"

#define CHECK_RATIO 1.25 /* the most a device may depart from its model, either way */
#define SPOT_MS 20.0     /* predicted time of the alone timing */
#define SPOT_REPEATS 3

static bool agrees(double ratio)
{
    return ratio <= CHECK_RATIO && ratio >= 1.0 / CHECK_RATIO;
}

void hg__profile_check_observe(hg_engine *eng)
{
    if (!eng->calibrated)
        return;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        hg__probation *p = &d->probation;
        if (!p->on)
            continue;
        if (d->quarantined) {
            p->on = false;
            continue;
        }
        if (!(eng->weight[i] > 0) || p->steps >= HG__PROBATION_STEPS)
            continue;
        p->steps++;
        const hg_device_step *s = hg__device_stats(eng, i);
        double pred = hg__cost_predict(&d->model, s->rows);
        if (s->rows > 0 && !s->failed && s->recovered_rows == 0 && isfinite(s->host_ms) &&
            s->host_ms >= 0 && isfinite(pred) && pred > 0)
            p->ratio[p->n++] = s->host_ms / pred;
    }
}

/* Rows device d is timed alone on: SPOT_MS' worth by its model, within its rows. */
static size_t spot_rows(const hg__device *d)
{
    size_t have = d->win.hi - d->win.lo;
    size_t cap = have < d->chunk_rows ? have : d->chunk_rows;
    double n = SPOT_MS / d->model.b_ms_per_row;
    if (!(n >= 1.0))
        return cap ? 1 : 0;
    return n >= (double)cap ? cap : (size_t)n;
}

/*
 * Whether device i, taking ratio times its model's time, would get rows of a
 * step of total rows planned on the healthy devices' models.  True when that
 * cannot be told (out of memory): then it is measured.
 */
static bool worth_rows(const hg_engine *eng, size_t i, double ratio, size_t total)
{
    hg__cost_model *m = calloc(eng->ndev, sizeof *m);
    size_t *c = calloc(eng->ndev, sizeof *c);
    bool worth = true;
    if (m && c) {
        for (size_t j = 0; j < eng->ndev; j++)
            if (!eng->dev[j].quarantined && eng->weight[j] > 0)
                m[j] = eng->dev[j].model;
        m[i].a_ms *= ratio;
        m[i].b_ms_per_row *= ratio;
        worth = hg__plan_affine(total, m, eng->ndev, NULL, c, NULL, NULL) == HG_OK &&
                c[i] > 0;
    }
    free(m);
    free(c);
    return worth;
}

/* The reasons a profile stands although the steps departed from it. */
typedef enum verdict {
    STALE,          /* measured again: the new model replaces it */
    ALONE_AGREES,   /* timed alone, it agrees */
    OTHER_WAY,      /* alone, it departs the other way from the steps */
    NOT_WORTH_ROWS, /* no rows, and would get none at its speed alone either */
    AGAIN_AGREES    /* measured again, the new model agrees with it */
} verdict;

/*
 * Time device i alone and, when that departs too, measure it again (see the
 * top of the file).  r: the steps' median ratio (NAN: no rows in them);
 * total: the last step's rows.  *ms, *pred: the timing alone on *n rows and
 * the profile's prediction; *model: the model measured again (STALE,
 * AGAIN_AGREES).  HG_OK with the verdict, or the failure.
 */
static hg_status try_alone(hg_engine *eng, size_t i, double r, size_t total, size_t *n,
                           double *ms, double *pred, hg__cost_model *model, verdict *v,
                           hg_error *err)
{
    hg__device *d = &eng->dev[i];
    *n = spot_rows(d);
    *pred = hg__cost_predict(&d->model, *n);
    hg_status st = hg__profile_time(eng, i, *n, SPOT_REPEATS, ms, err);
    if (st != HG_OK)
        return st;
    double alone = *ms / *pred;
    if (agrees(alone)) {
        *v = ALONE_AGREES;
        return HG_OK;
    }
    if (!isnan(r) && (alone > 1.0) != (r > 1.0)) {
        *v = OTHER_WAY; /* noise, not a change of speed */
        return HG_OK;
    }
    if (isnan(r) && !worth_rows(eng, i, alone, total)) {
        *v = NOT_WORTH_ROWS;
        return HG_OK;
    }
    st = hg__profile_remeasure(eng, i, model, err);
    if (st != HG_OK)
        return st;
    *v = agrees(hg__cost_predict(model, *n) / *pred) ? AGAIN_AGREES : STALE;
    return HG_OK;
}

/* Judge device i, whose probation is over (see the top of the file). */
static void judge(hg_engine *eng, size_t i)
{
    hg__device *d = &eng->dev[i];
    hg__probation *p = &d->probation;
    p->on = false;
    double r = NAN;
    if (p->n > 0) {
        double v[HG__PROBATION_STEPS];
        memcpy(v, p->ratio, p->n * sizeof *v);
        r = hg__cost_median(v, p->n);
        if (agrees(r)) {
            hg__log(&eng->log, HG_LOG_DEBUG, "profile of %s confirmed by its first steps "
                    "(%.2f times its prediction)", d->what, r);
            return;
        }
    }
    if (spot_rows(d) == 0)
        return;
    char steps[96];
    if (p->n > 0)
        snprintf(steps, sizeof steps, "its first steps took %.2f times its prediction", r);
    else
        snprintf(steps, sizeof steps, "it computed no rows in its first %zu steps", p->steps);
    size_t total = 0; /* the last step's rows */
    for (size_t j = 0; j < eng->ndev; j++) {
        const hg_device_step *s = hg__device_stats(eng, j);
        total += s->failed ? 0 : s->rows;
    }
    hg_device_step saved = d->stats;
    size_t n = 0;
    double ms = 0, pred = 0;
    hg__cost_model model = {0};
    verdict v = STALE;
    hg_error e;
    hg_status st = try_alone(eng, i, r, total, &n, &ms, &pred, &model, &v, &e);
    d->stats = saved; /* the step's, for hg_engine_last_step */
    if (st == HG_OUT_OF_MEMORY) {
        hg__log(&eng->log, HG_LOG_WARN, "checking the profile of %s: %s; keeping it", d->what,
                e.message);
        return;
    }
    if (st != HG_OK) {
        hg__quarantine(eng, i, &e);
        return;
    }
    char alone[128];
    snprintf(alone, sizeof alone, "alone it took %.3g ms on %zu rows, predicted %.3g ms", ms,
             n, pred);
    switch (v) {
    case ALONE_AGREES:
        hg__log(&eng->log, HG_LOG_INFO, "profile of %s holds: %s, %s %s%s", d->what, steps,
                p->n ? "but" : "and", alone,
                p->n ? " (the devices slow each other down)" : "");
        return;
    case OTHER_WAY:
        hg__log(&eng->log, HG_LOG_INFO, "profile of %s holds: %s, but %s (the timings "
                "disagree: noise)", d->what, steps, alone);
        return;
    case NOT_WORTH_ROWS:
        hg__log(&eng->log, HG_LOG_INFO, "profile of %s is off: %s; kept: %s, and would get "
                "none at that speed either", d->what, alone, steps);
        return;
    case AGAIN_AGREES:
        hg__log(&eng->log, HG_LOG_INFO, "profile of %s holds: %s, and %s, but measured "
                "again it predicts %.3g ms (within 25%%: noise)", d->what, steps, alone,
                hg__cost_predict(&model, n));
        return;
    case STALE:
        break;
    }
    /* The co-run factor: measured beside the others in this process, it keeps
       the per-row cost measured there; read from the cache with the stale
       profile, it may be as stale, and the device is planned as alone; with no
       joint calibration, it stays 1. */
    d->corun.slow = eng->corun_rows == 0 || eng->corun_cached || !(model.b_ms_per_row > 0)
                        ? 1.0 : d->corun.slow * d->model.b_ms_per_row / model.b_ms_per_row;
    d->corun.slow_alone = 1.0; /* the new model was measured alone just now */
    d->model = model;
    d->model_from_cache = false;
    hg__profile_store(eng, i);
    hg__log(&eng->log, HG_LOG_INFO, "profile of %s was stale: predicted %.3g ms, measured "
            "%.3g ms on %zu rows alone (%s); recalibrated: %.3g ms, and the cache entry "
            "rewritten", d->what, pred, ms, n, steps, hg__cost_predict(&d->model, n));
    const hg__sched_device *cur = hg__sched_device_get(eng->sched, i);
    hg__sched_device sd = cur ? *cur : hg__sched_device_default();
    sd.model = hg__corun_model(&d->model, &d->corun); /* with its co-run factor */
    sd.alone = d->model;
    if (hg__sched_set_device(eng->sched, i, &sd, &e) != HG_OK)
        hg__log(&eng->log, HG_LOG_WARN, "rebalancing: %s", e.message);
}

void hg__profile_check_settle(hg_engine *eng)
{
    if (!eng->calibrated)
        return;
    for (size_t i = 0; i < eng->ndev; i++) {
        const hg__probation *p = &eng->dev[i].probation;
        if (p->on && !eng->dev[i].quarantined && p->steps >= HG__PROBATION_STEPS)
            judge(eng, i);
    }
}
