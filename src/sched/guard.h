/* SPDX-License-Identifier: MIT */
/*
 * guard.h - the dynamic policy's solo guard and trials (pure, no OpenCL): whether a step
 * should run on one device alone, from what the devices measured alone.
 *
 * Per-device models cannot see what devices cost each other when they run together, and a
 * device measured in a slow phase during calibration keeps a model that says it is slower
 * than it is.  The guard keeps, per device, the last 4 times it measured running a step
 * alone ("observed alone": a step that gave it every row and followed one that did too,
 * so not the first, cold one), and judges each step the balancer planned against the best
 * device alone, by the fastest of those observations where there are some (what slows a
 * step only adds time) and by the alone models otherwise:
 *
 *   - slow: a step that shared rows and took more than GUARD_MARGIN (1.03) times the best
 *     device alone is predicted to; or a step on one device when another is predicted to
 *     take less than 1/GUARD_MARGIN of its time.  After GUARD_AFTER (2) slow steps in a
 *     row, the next plans give every row to the best device alone (that can take them all
 *     under the plan's caps): 16 plans, doubled each time the guard starts again without a
 *     step between that was not slow (at most 256), since sharing keeps losing.
 *   - trials: a device that may be faster alone than the steps are now, though its model
 *     says otherwise, is given every row for TRIAL_STEPS (2) steps (the second is its
 *     observation).  Which may: where the balancer's step shared rows and every device in
 *     it ran more than TRIAL_SLOWED (1.25) times slower a row than its alone model says
 *     (they contend: two views of the same cores), a device of the step predicted alone
 *     within TRIAL_RATIO (2) times the step; where the step ran on one device, another
 *     predicted within TRIAL_RATIO_ONE (1.25) times it (the models cannot tell them apart).
 *     A trial is due after the first TRIAL_FIRST (4) planned steps, then after 64, 128, ...
 *     (at most 4096) more, and tries the candidate observed alone longest ago (never
 *     first; then the fastest alone by its model), none observed in the last TRIAL_FRESH
 *     (64) plans.  Devices that run side by
 *     side as fast as their models say are never tried: sharing wins by those models.
 *
 * The steps of a balancer's probe (balance.c), of a hold and of a trial are not judged.
 */
#ifndef HG_GUARD_H
#define HG_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "sched.h"

typedef struct hg__guard hg__guard;

/* A guard for ndev devices, nothing observed.  HG_OUT_OF_MEMORY; *out NULL on failure. */
hg_status hg__guard_create(size_t ndev, hg__guard **out, hg_error *err);

/* Free g (NULL ok). */
void hg__guard_destroy(hg__guard *g);

/* Forget everything observed and any hold or trial under way. */
void hg__guard_reset(hg__guard *g);

/* What the next step allows each device, for hg__guard_plan: the count itself stays in
   sched.c (a step's row count passes through plan.c, sched.c and the policy's solver). */
typedef struct hg__guard_option {
    bool   usable;   /* may take rows of the step (its cap > 0) */
    double alone_ms; /* predicted to take the whole step alone (hg__guard_alone);
                        INFINITY when it cannot hold it or has no model */
} hg__guard_option;

/*
 * The device that takes every row of the next step alone, a hold's or a trial's, or
 * SIZE_MAX for the balancer's plan; opt[0..ndev) as above.  Spends a step of the hold or
 * trial it returns; counts the balancer's plans towards the next trial.
 */
size_t hg__guard_plan(hg__guard *g, const hg__sched_device *dev,
                      const hg__guard_option *opt);

/*
 * Observe a step (rows and ms as hg__sched_observe: rows, not units): records the devices'
 * alone times and judges the step (see the top); probe_step: a balancer's probe ran in it.
 * note (not NULL) says whether a hold started, and what a trial measured.
 */
void hg__guard_observe(hg__guard *g, const hg__sched_device *dev, const size_t *rows,
                       const double *ms, bool probe_step, hg__sched_note *note);

/*
 * Device i alone, as the guard judges by: its alone model (else its planning model), with
 * the per-row cost of its last observation alone when there is one.  Invalid when it has
 * neither model.
 */
hg__cost_model hg__guard_alone(const hg__guard *g, const hg__sched_device *dev, size_t i);

#endif /* HG_GUARD_H */
