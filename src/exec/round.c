/* SPDX-License-Identifier: MIT */
/*
 * round.c - a round: every device computes its plan at once, on its own
 * persistent worker (workers.c), or on the caller's thread when only one
 * device has rows or the engine is serial; with deadlines for a step's
 * first round.
 *
 * A device that overruns its deadline is declared failed (the caller
 * quarantines it and recomputes its rows).  Its worker is left inside the
 * job, stalled in its driver: the device is never touched again, its
 * record (eng->workers[i]) is not reset while the job runs (hg__reap_stalled
 * notices when it returns), and hg_engine_destroy joins the worker however
 * long the job takes.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "engine_internal.h"
#include "workers.h"

/* A device's part of a round (a worker's job, or run inline). */
static void device_job(void *arg)
{
    hg__worker *w = arg;
    w->st = hg__device_run(w->eng, &w->eng->dev[w->i], w->i, w->plan, w->params, w->append,
                           &w->err);
}

/* Predicted time of device i for rows rows (0 when not calibrated). */
static double predicted_ms(const hg_engine *eng, size_t i, size_t rows)
{
    if (!eng->calibrated || rows == 0)
        return 0;
    hg__cost_model m = hg__sched_model(eng->sched, i);
    return m.valid ? hg__cost_predict(&m, rows) : 0;
}

/* Device i, still running elapsed ms after the round started, overran its
   deadline: report it failed, leave its worker alone. */
static void overran(hg_engine *eng, size_t i, double elapsed)
{
    hg__worker *w = &eng->workers[i];
    w->zombie = true;
    w->overran = true;
    w->shown = (hg_device_step){.rows = w->plan->rows, .failed = true, .host_ms = elapsed,
                                .end_ms = elapsed};
    hg__error_set(&w->overrun_err, HG_DEVICE_FAILED, 0,
                  "%s missed its deadline: still running after %.0f ms, %.1f times its "
                  "predicted %.1f ms", eng->dev[i].what, w->deadline_ms,
                  eng->deadline_factor, w->deadline_ms / eng->deadline_factor);
}

/*
 * Wait until every posted job of the round that started at t0 is done, or
 * its device has overrun its deadline.  Sleeps until a job finishes or the
 * earliest deadline of a device still running passes (no polling).
 */
static void wait_round(hg_engine *eng, double t0)
{
    hg__worker *w = eng->workers;
    for (;;) {
        uint64_t seen = hg__workers_finished(eng->pool);
        double now = hg__now_ms(), wake = INFINITY;
        bool all = true;
        for (size_t i = 0; i < eng->ndev; i++) {
            if (!w[i].posted || w[i].zombie)
                continue;
            if (!hg__workers_busy(eng->pool, i)) {
                w[i].posted = false;
                continue;
            }
            if (w[i].deadline_ms > 0 && now - t0 > w[i].deadline_ms) {
                overran(eng, i, now - t0);
                continue;
            }
            all = false;
            if (w[i].deadline_ms > 0)
                wake = fmin(wake, t0 + w[i].deadline_ms + 1.0);
        }
        if (all)
            return;
        hg__workers_wait(eng->pool, seen, wake);
    }
}

void hg__step_round(hg_engine *eng, hg__dev_plan *plans, const float *params, bool append,
                    bool deadline)
{
    hg__worker *w = eng->workers;
    size_t active = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        active += plans[i].rows > 0 && !w[i].zombie;
    double t0 = hg__now_ms();
    for (size_t i = 0; i < eng->ndev; i++) {
        if (w[i].zombie)
            continue;
        w[i] = (hg__worker){.eng = eng, .i = i, .plan = &plans[i], .params = params,
                            .append = append, .st = HG_OK};
        hg_error_clear(&w[i].err);
        if (plans[i].rows == 0 && append)
            continue; /* keep this device's earlier records */
        double p = predicted_ms(eng, i, plans[i].rows);
        w[i].deadline_ms = deadline && p > 0 ? fmax(eng->deadline_factor * p, 50.0) : 0;
        /* One device with rows runs on the caller's thread: no hop, no deadline. */
        if (!eng->serial && active > 1 && plans[i].rows > 0 &&
            hg__workers_post(eng->pool, i, device_job, &w[i]))
            w[i].posted = true;
        else
            device_job(&w[i]); /* inline: one device, no rows, serial, or no thread */
    }
    wait_round(eng, t0);
}

void hg__run_round(hg_engine *eng, hg__dev_plan *plans, const float *params)
{
    hg__step_round(eng, plans, params, false, false);
}

void hg__reap_stalled(hg_engine *eng)
{
    for (size_t i = 0; eng->workers && i < eng->ndev; i++) {
        hg__worker *w = &eng->workers[i];
        if (w->zombie && !hg__workers_busy(eng->pool, i)) {
            w->zombie = false;
            w->posted = false;
        }
    }
}

size_t hg__worker_threads(const hg_engine *eng)
{
    return eng ? hg__workers_threads(eng->pool) : 0;
}
