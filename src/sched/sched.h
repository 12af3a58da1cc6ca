/* SPDX-License-Identifier: MIT */
/*
 * sched.h - the scheduler: how many rows of a step each device computes (pure, no OpenCL).
 *
 * One interface for every policy.  A scheduler is made from what is known of each device
 * (a cost model, a weight, whether it is excluded and why); each step is *planned*
 * (total rows and the rows each device can take -> the rows each device computes) and,
 * once run, *observed* (the rows each device computed and the milliseconds it took).
 * The counts a plan returns are the counts that run: the engine places exactly those
 * rows (plan.c), with no conversion in between.
 *
 *   HG__POLICY_WEIGHTS  rows in proportion to the devices' weights (partition.c); needs
 *                       no model.  hetgrad's HG_SPLIT_WEIGHTS.
 *   HG__POLICY_MODEL    the least predicted makespan under the devices' cost models
 *                       (planner.c).  HG_SPLIT_MODEL.
 *   HG__POLICY_DYNAMIC  as MODEL, with each device's model refined from the times
 *                       observed (balance.c), and the solo guard (guard.h): a step slower
 *                       than the best device alone (by what the devices measured alone,
 *                       else their alone models) twice in a row gives the next 16 plans
 *                       (doubling while sharing keeps losing) to that device; and devices
 *                       that contend, or that the models cannot tell apart, are now and
 *                       then tried alone for two steps.  HG_SPLIT_DYNAMIC.
 *
 * Devices.  Each device has a planning model (measured alone, or, where the devices were
 * calibrated together, the co-run model), optionally a separate model of it running alone
 * (the solo guard's reference), a weight (> 0 to be used at all) and an exclusion flag with
 * a reason.  An excluded device, or one of weight 0, gets no rows under any policy;
 * under MODEL and DYNAMIC neither does a device without a valid model.
 *
 * Units.  A scheduler plans in units of unit_rows rows (hg__sched_options): totals, caps
 * and counts of hg__sched_plan and hg__sched_plan_recovery count units, and a device's
 * cost for k units is predicted as a + b * unit_rows * k.  The engine plans ordinary steps
 * with unit_rows 1 (rows) and deterministic steps with unit_rows = the block size (whole
 * blocks; a step's first and last block may be short, which the prediction ignores).
 * hg__sched_observe takes rows, not units.
 *
 * Data flow and where each piece lives: docs/engine.md, "The scheduler".
 */
#ifndef HG_SCHED_H
#define HG_SCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "costmodel.h"
#include "internal.h"

typedef enum hg__policy {
    HG__POLICY_WEIGHTS = 0,
    HG__POLICY_MODEL   = 1,
    HG__POLICY_DYNAMIC = 2
} hg__policy;

#define HG__SCHED_WHY_MAX 256

/* What the scheduler knows of one device. */
typedef struct hg__sched_device {
    hg__cost_model model;    /* planning model (MODEL, DYNAMIC's start); invalid: no rows
                                under MODEL and DYNAMIC */
    hg__cost_model alone;    /* the device running alone, for the solo guard; invalid:
                                the same as model */
    double         weight;   /* finite, >= 0; 0: no rows under any policy */
    bool           excluded; /* no rows under any policy */
    char           why[HG__SCHED_WHY_MAX]; /* why excluded ("" otherwise) */
} hg__sched_device;

/* A device of weight 1, no model, not excluded. */
hg__sched_device hg__sched_device_default(void);

typedef struct hg__sched_options {
    hg__policy policy;     /* default HG__POLICY_WEIGHTS */
    bool       solo_guard; /* DYNAMIC: the solo guard (default true) */
    size_t     unit_rows;  /* rows per planning unit, >= 1 (default 1) */
} hg__sched_options;

/* Fill *o with the defaults above (o may be NULL). */
void hg__sched_options_init(hg__sched_options *o);

typedef struct hg__sched hg__sched;

/*
 * Create a scheduler of ndev devices from dev[0..ndev) (copied; dev NULL: every device
 * hg__sched_device_default()).  opt NULL: the defaults.  Fails with HG_INVALID_ARGUMENT
 * (message names the device or field) for out NULL, ndev 0, an unknown policy, unit_rows
 * 0, a device as hg__sched_set_device refuses; HG_OUT_OF_MEMORY.  *out is NULL on failure.
 */
hg_status hg__sched_create(size_t ndev, const hg__sched_device *dev,
                          const hg__sched_options *opt, hg__sched **out, hg_error *err);

/* Free s (NULL ok). */
void hg__sched_destroy(hg__sched *s);

size_t hg__sched_count(const hg__sched *s);

/* Device i's description; NULL when s is NULL or i is out of range. */
const hg__sched_device *hg__sched_device_get(const hg__sched *s, size_t i);

/*
 * Replace device i's description.  Under DYNAMIC, a changed model restarts device i in
 * the balancer from it (its model and calibrated reference; hg__balancer_recalibrate),
 * and the next plan is the optimum whatever its predicted gain.  Fails with
 * HG_INVALID_ARGUMENT, changing nothing, for s or dev NULL, i out of range, a weight not
 * finite and >= 0, or a valid model (or alone model) whose a_ms is not finite and >= 0 or
 * whose b_ms_per_row is not finite and > 0.
 */
hg_status hg__sched_set_device(hg__sched *s, size_t i, const hg__sched_device *dev,
                              hg_error *err);

/* Conveniences over hg__sched_set_device (same failures): device i's planning model (its
   alone model becomes invalid: the same), its weight, its exclusion with a reason (why
   may be NULL: ""). */
hg_status hg__sched_set_model(hg__sched *s, size_t i, const hg__cost_model *model,
                             hg_error *err);
hg_status hg__sched_set_weight(hg__sched *s, size_t i, double weight, hg_error *err);
hg_status hg__sched_exclude(hg__sched *s, size_t i, const char *why, hg_error *err);

/*
 * Switch to policy p.  DYNAMIC (also DYNAMIC again) starts its balancer afresh from the
 * devices' planning models; every switch clears the solo guard.  Fails with
 * HG_INVALID_ARGUMENT for s NULL or an unknown policy, HG_OUT_OF_MEMORY; the scheduler is
 * unchanged then.
 */
hg_status hg__sched_set_policy(hg__sched *s, hg__policy p, hg_error *err);
hg__policy hg__sched_policy(const hg__sched *s);

/*
 * The rows (units) of a step: counts[i] for device i, summing to total, each within
 * caps[i] (caps NULL: no caps; SIZE_MAX: uncapped) and 0 for a device that may not take
 * rows (see the top of the file).  DYNAMIC updates the balancer's hysteresis and probe
 * state and spends the solo guard's steps; the other policies have no side effects.  The
 * counts depend only on the scheduler's state and the arguments.
 *
 * Fails, with counts and the scheduler unchanged, with HG_INVALID_ARGUMENT for s or counts
 * NULL, or total > 0 and no device that may take rows; HG_RANGE when those devices' caps
 * add up to fewer than total (or the makespan overflows); HG_OUT_OF_MEMORY.  total 0
 * gives all counts 0.
 */
hg_status hg__sched_plan(hg__sched *s, size_t total, const size_t *caps, size_t *counts,
                        hg_error *err);

/*
 * Rows (units) for recomputing failed devices' rows within a step: under MODEL and
 * DYNAMIC, the least makespan under the models the step was planned with (DYNAMIC: the
 * balancer's current ones) over the devices with a valid model, so a slow device gets only
 * what it can finish in time; under WEIGHTS, or when no device that may take rows has a
 * valid model, in proportion to the weights.  caps as in hg__sched_plan (the caller sets
 * 0 for the devices that failed).  No side effects: the hysteresis and the solo guard
 * belong to whole steps.  Fails as hg__sched_plan does.
 */
hg_status hg__sched_plan_recovery(const hg__sched *s, size_t total, const size_t *caps,
                                 size_t *counts, hg_error *err);

/* What observing a step did, for the caller's log. */
typedef struct hg__sched_note {
    bool   solo;      /* the solo guard has just switched to one device */
    size_t solo_dev;  /* ... this one (the best alone for the step's rows) */
    double shared_ms; /* the step's makespan (sharing, or on another device alone) */
    double solo_ms;   /* that device's predicted time alone */
    int    solo_steps; /* plans it will be given alone */
    bool   trial;     /* a trial (guard.h) has just ended: */
    size_t trial_dev; /* ... this device, alone, */
    double trial_ms;  /* ... took this long ... */
    size_t trial_rows; /* ... for this many rows */
} hg__sched_note;

/*
 * Observe a step: device i computed rows[i] rows (rows, not units; 0: it did not run or
 * failed) in ms[i] milliseconds (its wall time for its part of the step).  Under DYNAMIC
 * the balancer refines its models (hg__balancer_observe) and the solo guard judges the
 * step (see the top of the file); under the other policies nothing happens.  note (may
 * be NULL) says whether the guard switched.  Fails with HG_INVALID_ARGUMENT, changing
 * nothing, for s, rows or ms NULL, or a device with rows > 0 and a NaN, infinite or
 * negative time.
 */
hg_status hg__sched_observe(hg__sched *s, const size_t *rows, const double *ms,
                           hg__sched_note *note, hg_error *err);

/*
 * The model device i is planned with now, per row (DYNAMIC: the balancer's refined one;
 * otherwise its planning model).  An invalid model for s NULL or i out of range.
 */
hg__cost_model hg__sched_model(const hg__sched *s, size_t i);

#endif /* HG_SCHED_H */
