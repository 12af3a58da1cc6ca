/* SPDX-License-Identifier: MIT */
/*
 * balance.h - rebalance rows across devices from measured step times (pure, no OpenCL).
 *
 * A balancer keeps one affine cost model per device (costmodel.h), refines each device's
 * per-row cost from the step times it is shown, and plans every step with hg__plan_affine
 * (through hg__plan_dynamic, planner.c),
 * keeping the previous plan unless the new one is predicted to be clearly faster.  Devices
 * whose cost rose and that were dropped to 0 rows are probed now and then so that a device
 * that recovers wins its rows back.  The update rule, the hysteresis and the probe rule are
 * described at the top of balance.c.
 */
#ifndef HG_BALANCE_H
#define HG_BALANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "costmodel.h"
#include "planner.h"
#include "internal.h"

typedef struct hg__balance_options {
    double alpha;      /* smoothing of the per-row cost on ordinary updates (default 0.3) */
    double alpha_jump; /* smoothing when the observed per-row cost differs from the model by
                          more than jump_ratio (default 0.7) */
    double jump_ratio; /* default 0.25 (25%) */
    double hysteresis; /* re-plan only if the new plan's predicted makespan beats the current
                          counts' by more than this fraction (default 0.03) */
} hg__balance_options;

/* Fill *o with the defaults above (o may be NULL). */
void hg__balance_options_init(hg__balance_options *o);

typedef struct hg__balancer hg__balancer;

/*
 * Create a balancer for ndev devices starting from the calibrated models initial[0..ndev)
 * (copied; a device whose model is invalid is never given rows).  opt NULL means the
 * defaults.  Fails with HG_INVALID_ARGUMENT for ndev 0, initial or out NULL, a valid model
 * whose a_ms is not finite and >= 0 or whose b_ms_per_row is not finite and > 0, alpha or
 * alpha_jump outside (0, 1], jump_ratio not finite and > 0, hysteresis outside [0, 1);
 * HG_OUT_OF_MEMORY.  *out is set to NULL on failure.
 */
hg_status hg__balancer_create(size_t ndev, const hg__cost_model *initial,
                             const hg__balance_options *opt, hg__balancer **out, hg_error *err);

/* Free b (NULL ok). */
void hg__balancer_destroy(hg__balancer *b);

/*
 * Record one step: device i computed rows[i] rows in ms[i] milliseconds.  rows[i] == 0
 * means it did not run: its model is unchanged and ms[i] is not looked at.  Otherwise, with
 * a_i kept from calibration, b_obs = max(ms[i] - a_i, 1e-9 ms) / rows[i] updates
 * b_i <- (1 - alpha) b_i + alpha b_obs, alpha being opt.alpha_jump when b_obs and b_i differ
 * by more than jump_ratio times the smaller of the two, opt.alpha otherwise, and 1 when the
 * model is stale (the device did not run in the step observed before, or a probe has just
 * readmitted it).  A probe step (see hg__balancer_plan) is judged instead: the device is
 * readmitted (b_i = b_obs) if the probe took at most (1 + jump_ratio) times its calibrated
 * model's time, and its model is left alone otherwise.  Devices with invalid models are
 * ignored.  Fails with HG_INVALID_ARGUMENT, changing nothing, for b, rows or ms NULL, or a
 * device with rows[i] > 0 and a NaN, infinite or negative ms[i].
 */
hg_status hg__balancer_observe(hg__balancer *b, const size_t *rows, const double *ms,
                              hg_error *err);

/*
 * Counts for the next step of `total` rows (cap as in hg__plan_affine).  When total and caps
 * equal those of the previous plan and no jump was observed since, the previous counts are
 * kept unless hg__plan_affine's plan is predicted to be faster by more than opt.hysteresis
 * (both predicted with the current models).  Every 5th consecutive plan that would give a
 * device 0 rows while its per-row cost estimate is more than jump_ratio above its calibrated
 * one gives it a probe share instead (a quarter of its share at calibrated speed; the others
 * share the rest).  *changed (changed may be NULL) says whether counts differ from the
 * previous plan's (true for the first plan).  Fails as hg__plan_affine does, and with
 * HG_INVALID_ARGUMENT for b or counts NULL; counts and the balancer are unchanged then.
 */
hg_status hg__balancer_plan(hg__balancer *b, size_t total, const size_t *cap, size_t *counts,
                           bool *changed, hg_error *err);

/*
 * Device i was calibrated again (its cached profile was stale): model becomes both its
 * current model and its calibrated reference (the probe rule's), its idle count restarts,
 * its next measurement is weighed as usual, and the next plan is the optimum whatever its
 * predicted gain (as after a jump).  Fails with HG_INVALID_ARGUMENT, changing nothing, for
 * b or model NULL, i out of range, or a valid model whose a_ms is not finite and >= 0 or
 * whose b_ms_per_row is not finite and > 0.  An invalid model takes the device out of
 * every plan.
 */
hg_status hg__balancer_recalibrate(hg__balancer *b, size_t i, const hg__cost_model *model,
                                  hg_error *err);

/*
 * What b's plans remember, for hg__plan_dynamic (planner.h): hg__balancer_plan is
 * hg__plan_dynamic(hg__balancer_memory(b), ...).  Owned by b, valid until it is destroyed;
 * NULL when b is NULL.
 */
hg__plan_memory *hg__balancer_memory(hg__balancer *b);

/* Current model of device i; NULL when b is NULL or i >= the device count. */
const hg__cost_model *hg__balancer_model(const hg__balancer *b, size_t i);

#endif /* HG_BALANCE_H */
