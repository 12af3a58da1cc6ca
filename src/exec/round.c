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
#include <stdlib.h>

#include "engine_internal.h"
#include "steal.h"
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

/*
 * Open the engine's work-stealing board for a round of plans with active
 * devices on workers (steal.h): every device with rows and a model takes
 * part; those with a full copy may steal.  Returns the round's generation, 0
 * when the round runs as planned (stealing off, or auto under the dynamic
 * split; fewer than two devices to share, no models yet, sparse data, or no
 * memory).
 */
static uint64_t open_board(hg_engine *eng, const hg__dev_plan *plans, size_t active)
{
    if (eng->steal_mode == HG__STEAL_OFF || !eng->steal || eng->serial || eng->sparse ||
        !eng->calibrated || active < 2 ||
        (eng->steal_mode == HG__STEAL_AUTO &&
         hg__sched_policy(eng->sched) == HG__POLICY_DYNAMIC))
        return 0;
    hg__steal_dev *sd = calloc(eng->ndev, sizeof *sd);
    if (!sd)
        return 0;
    size_t owners = 0, thieves = 0, unit = eng->det ? eng->block_rows : 1;
    for (size_t i = 0; i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        hg__cost_model m = hg__sched_model(eng->sched, i);
        if (plans[i].rows == 0 || eng->workers[i].zombie || !m.valid || !(m.b_ms_per_row > 0))
            continue;
        double fixed = m.a_ms > d->dispatch_floor_ms ? m.a_ms : d->dispatch_floor_ms;
        size_t chunk = d->chunk_rows ? d->chunk_rows : 1;
        sd[i] = (hg__steal_dev){
            .owner = true,
            .thief = d->win.full,
            .unit_ms = m.b_ms_per_row * (double)unit,
            /* a claim takes a batch: at least eight times its fixed cost, and 0.5 ms */
            .grain_ms = eng->steal_grain_ms > 0 ? eng->steal_grain_ms
                        : 8 * fixed > 0.5       ? 8 * fixed
                                                : 0.5,
            .max_units = eng->det ? (chunk / unit ? chunk / unit : 1) : chunk,
        };
        owners++;
        thieves += d->win.full;
    }
    uint64_t gen = owners >= 2 && thieves ? hg__steal_open(eng->steal, plans, sd, eng->ndev) : 0;
    for (size_t i = 0; gen && i < eng->ndev; i++)
        eng->dev[i].steal_gen = sd[i].owner ? gen : 0;
    free(sd);
    return gen;
}

/*
 * After a round with a board: close it, rewrite the plans to the rows each
 * device was responsible for, and show those in its statistics (a zombie's
 * are its thread's: left alone).
 */
static hg_status settle_board(hg_engine *eng, hg__dev_plan *plans)
{
    size_t stolen = hg__steal_settle(eng->steal, plans, eng->ndev);
    if (stolen == SIZE_MAX)
        return HG_OUT_OF_MEMORY;
    eng->last_stolen = stolen;
    for (size_t i = 0; stolen && i < eng->ndev; i++)
        if (!eng->workers[i].zombie)
            eng->dev[i].stats.rows = plans[i].rows;
    return HG_OK;
}

hg_status hg__step_round(hg_engine *eng, hg__dev_plan *plans, const float *params, bool append,
                         bool deadline, bool steal)
{
    hg__worker *w = eng->workers;
    size_t active = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        active += plans[i].rows > 0 && !w[i].zombie;
    uint64_t gen = steal && !append ? open_board(eng, plans, active) : 0;
    if (steal && !append)
        eng->last_stolen = 0;
    double t0 = hg__now_ms(), longest = 0;
    for (size_t i = 0; gen && deadline && i < eng->ndev; i++)
        longest = fmax(longest, predicted_ms(eng, i, plans[i].rows));
    /*
     * The device the caller's thread runs itself, when the round has no
     * deadline to watch: the last with rows.  Waking a worker for it instead
     * cost the step up to 5 ms when the cores were busy (POCL pthread + basic
     * with one thread each, docs/engine.md); SIZE_MAX: none.
     */
    size_t own = SIZE_MAX;
    for (size_t i = 0; !deadline && !append && active > 1 && i < eng->ndev; i++)
        if (plans[i].rows > 0 && !w[i].zombie)
            own = i;
    for (size_t i = 0; i < eng->ndev; i++) {
        if (w[i].zombie)
            continue;
        w[i] = (hg__worker){.eng = eng, .i = i, .plan = &plans[i], .params = params,
                            .append = append, .st = HG_OK};
        hg_error_clear(&w[i].err);
        if (plans[i].rows == 0 && append)
            continue; /* keep this device's earlier records */
        /* with stealing a device may end on another's work: the round's longest */
        double p = gen && eng->dev[i].steal_gen ? longest : predicted_ms(eng, i, plans[i].rows);
        w[i].deadline_ms = deadline && p > 0 ? fmax(eng->deadline_factor * p, 50.0) : 0;
        /* One device with rows runs on the caller's thread: no hop, no deadline;
           without deadlines the last one with rows does too, after the others
           are posted (one thread fewer to wake: below). */
        if (!eng->serial && active > 1 && plans[i].rows > 0 && i != own &&
            hg__workers_post(eng->pool, i, device_job, &w[i]))
            w[i].posted = true;
        else if (i != own)
            device_job(&w[i]); /* inline: one device, no rows, serial, or no thread */
    }
    if (own < eng->ndev)
        device_job(&w[own]);
    wait_round(eng, t0);
    return gen ? settle_board(eng, plans) : HG_OK;
}

void hg__run_round(hg_engine *eng, hg__dev_plan *plans, const float *params)
{
    (void)hg__step_round(eng, plans, params, false, false, false); /* no board: no failure */
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
