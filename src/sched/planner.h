/* SPDX-License-Identifier: MIT */
/*
 * planner.h - split rows across devices to minimise the predicted step time under affine
 * cost models (pure, no OpenCL).
 *
 * The algorithm and why it is optimal are described at the top of planner.c.  In short:
 * the smallest time T by which the devices can finish all rows is found by bisection (each
 * device takes as many rows as it can finish by T, under its cap); the integer rows are then
 * handed out so that no device finishes after T, devices that are not needed to reach T get
 * no rows, and the rows beyond what T requires come off the devices that finish at T.
 */
#ifndef HG_PLANNER_H
#define HG_PLANNER_H

#include <stdbool.h>
#include <stddef.h>

#include "costmodel.h"
#include "internal.h"

/*
 * Choose counts[i] with sum == rows and counts[i] <= cap[i] minimising the makespan
 *
 *     max over devices with counts[i] > 0 of
 *         model[i].a_ms + model[i].b_ms_per_row * counts[i]
 *
 * (a device with no rows does not run and costs nothing).
 *
 *   model[i]     valid == false: the device is unusable and gets 0 rows.  A valid model
 *                needs a finite a_ms >= 0 and a finite b_ms_per_row > 0.
 *   cap          NULL means no caps; cap[i] == SIZE_MAX means device i is uncapped.  A
 *                device with cap 0 gets 0 rows.
 *   makespan_ms  may be NULL; receives the predicted makespan (0 for rows == 0), the same
 *                value hg__plan_makespan gives for the counts.
 *
 * Among the splits with the least makespan the one chosen leaves devices out (0 rows) while
 * the others can take their rows without finishing later, so each device given rows is
 * needed: the other devices given rows cannot reach that makespan without it.  The result
 * depends only on the arguments.  counts and *makespan_ms are written only on success.
 *
 * Fails (message names the device or the numbers involved) with
 *   HG_INVALID_ARGUMENT  model or counts NULL while ndev > 0; a valid model with a negative,
 *                        NaN or infinite a_ms, or a b_ms_per_row that is not finite and > 0;
 *                        rows > 0 and no usable device (ndev == 0, every model invalid, or
 *                        every valid device capped at 0);
 *   HG_RANGE             the usable devices' caps add up to fewer than rows, or the
 *                        least makespan overflows to infinity.
 * rows == 0 succeeds with all counts 0 and makespan 0 (after the checks that do not involve
 * rows).
 */
hg_status hg__plan_affine(size_t rows, const hg__cost_model *model, size_t ndev,
                         const size_t *cap, size_t *counts, double *makespan_ms,
                         hg_error *err);

/*
 * Predicted makespan of the given counts: the largest hg__cost_predict(&model[i], counts[i])
 * (0 when no device has rows).  A device given rows with an invalid model makes it INFINITY;
 * model or counts NULL while ndev > 0 gives NaN.
 */
double hg__plan_makespan(const hg__cost_model *model, size_t ndev, const size_t *counts);

/*
 * What the dynamic policy's plan remembers from one step to the next (hysteresis, probes;
 * the rules are described at the top of balance.c).  A balancer (balance.c) owns one: its
 * arrays, ndev entries each (scratch_c 2 * ndev), live in the balancer's allocation, and
 * the balancer refines model from the step times it observes.  The plan itself is here,
 * beside the solver it calls, so that a step's row count goes from the scheduler
 * (sched.c) to this file and back, under every policy (docs/engine.md, "The scheduler").
 */
/* Steps a probe lasts: the first, right after the device sat idle, runs cold and is not
   judged; the last is (balance.c). */
#define HG__PROBE_STEPS 2

typedef struct hg__plan_memory {
    size_t          ndev;
    double          hysteresis; /* hg__balance_options.hysteresis */
    double          jump_ratio; /* hg__balance_options.jump_ratio */
    hg__cost_model *model;      /* current models */
    double         *b_cal;      /* calibrated per-row costs */
    hg__cost_model *scratch_m;  /* models for the probe plan */
    size_t         *idle_plans; /* plans running with 0 rows (usable devices) */
    size_t         *prev;       /* counts of the last plan */
    size_t         *prev_cap;   /* caps of the last plan (SIZE_MAX: none) */
    size_t         *next;       /* the plan being made */
    size_t         *probe;      /* probe shares; > 0: the last plan probes the device */
    size_t         *probe_runs; /* steps of the device's current probe observed so far */
    size_t         *scratch_c;  /* caps and counts for the probe plans (2 * ndev) */
    size_t          prev_total;
    bool            has_prev;
    bool            replan;     /* a jump was observed since the last plan */
} hg__plan_memory;

/*
 * The dynamic policy's counts for a step of `total` rows (cap as in hg__plan_affine), with
 * mem's hysteresis and probe rules: hg__balancer_plan's contract (balance.h), which calls
 * this.  Fails as hg__plan_affine does, and with HG_INVALID_ARGUMENT for mem or counts
 * NULL; counts and *mem are unchanged then.
 */
hg_status hg__plan_dynamic(hg__plan_memory *mem, size_t total, const size_t *cap,
                          size_t *counts, bool *changed, hg_error *err);

#endif /* HG_PLANNER_H */
