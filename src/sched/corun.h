/* SPDX-License-Identifier: MIT */
/*
 * corun.h - joint calibration: what running together costs each device, and
 * which devices are worth running at all (pure, no OpenCL).
 *
 * Each device's solo model t(n) = a + b n is measured with the device alone.
 * Running together, devices that share the host's cores or memory bus slow
 * each other down, and a device's time on a full step's rows also differs from
 * what its calibration batches (about 100 ms) extrapolate to.  The co-run model
 * keeps a and scales b by a factor fitted on measured joint steps:
 *
 *     t_corun(n) = a + slow * b * n
 *
 * The procedure, hg__corun_calibrate(), only needs a callback that runs a set
 * of row counts on the devices together and returns each device's time; the
 * engine drives the real devices (joint.c) and the tests a scripted simulator.
 * The algorithm is described at the top of corun.c.
 */
#ifndef HG_SCHED_CORUN_H
#define HG_SCHED_CORUN_H

#include <stdbool.h>
#include <stddef.h>

#include "costmodel.h"
#include "internal.h"

#define HG__CORUN_REASON_MAX 256
#define HG__CORUN_MAX_DEVICES 64 /* subsets are bit masks */

/*
 * Run one joint step: device i computes counts[i] rows (0: it does not run),
 * all devices with rows at the same time; ms[i] receives device i's time in
 * milliseconds (ignored where counts[i] is 0).  HG_OK, or a failure that
 * ends the calibration with that status (err says why).
 */
typedef hg_status (*hg__corun_run_fn)(void *user, const size_t *counts, double *ms,
                                      hg_error *err);

/* Settings of the procedure (hg__corun_options_init gives the defaults). */
typedef struct hg__corun_options {
    size_t rows;        /* rows of the joint steps (the step size the engine plans for) */
    int    rounds;      /* most plan -> measure -> refit rounds per subset: 3 */
    double margin;      /* a later subset is chosen over an earlier one only when it
                           measured faster by this fraction: 0.01 */
    double skip_factor; /* a subset whose makespan, predicted by the solo models,
                           exceeds skip_factor x the best measured one is not run
                           (co-running does not make devices faster than alone, so
                           it cannot win): 1.5 */
    double solo_margin; /* devices share a step only when their subset measured faster
                           than the best device alone by more than this fraction, and
                           again in more than half of 3 repeats of both steps (each
                           a pair run back to back): 0.03 */
    double slow_min, slow_max; /* bounds of a fitted factor: 0.25 and 4 (a step of a
                           few ms can measure a thread's wake-up as a 60x factor;
                           two views of the same cores cost each about 2x) */
} hg__corun_options;

void hg__corun_options_init(hg__corun_options *o);

/* What calibration decided for one device. */
typedef struct hg__corun_dev {
    double slow;        /* co-run factor on b in the chosen subset: 1 = as alone */
    double slow_all;    /* ... fitted with every usable device running */
    double slow_alone;  /* ... measured with the device alone at the step size (the best
                           device alone is always measured; 1: not measured): its time
                           alone, the solo guard's reference (sched.h) */
    bool   excluded;    /* measured not to pay for itself: it gets no rows */
    char   reason[HG__CORUN_REASON_MAX]; /* why it is excluded; "" otherwise */
} hg__corun_dev;

/* What calibration measured, for logs and reports. */
typedef struct hg__corun_summary {
    size_t rows;        /* rows of each joint step */
    size_t subsets;     /* subsets measured */
    size_t runs;        /* joint steps run (callback calls) */
    double all_ms;      /* measured makespan with every usable device (0: not run) */
    double chosen_ms;   /* ... of the chosen subset */
    size_t chosen;      /* devices in it */
    double solo_ms;     /* the best device alone (0: not measured) */
} hg__corun_summary;

/*
 * The planning model of a device: solo with b scaled by c->slow.  An invalid
 * solo model stays invalid; c NULL or a factor that is not finite and > 0
 * leaves the solo model unchanged.
 */
hg__cost_model hg__corun_model(const hg__cost_model *solo, const hg__corun_dev *c);

/*
 * Joint calibration of ndev devices (1 <= ndev <= HG__CORUN_MAX_DEVICES).
 *
 *   solo[i]  device i's solo model; an invalid one marks a device that takes
 *            no part (it is neither measured nor excluded: out[i] = {1, false, ""}).
 *   cap[i]   the most rows device i can take in a step (NULL: no caps); a device
 *            with cap 0 takes no part either.
 *   o        settings: hg__corun_options_init(), then o->rows > 0 set.
 *   run      runs a joint step (see hg__corun_run_fn).
 *
 * Candidate subsets, each measured over up to o->rounds rounds (plan with the
 * current factors, run, refit each device's factor from its measured time):
 * every usable device; every usable device but one, for each; the device
 * predicted fastest alone.  A subset the solo models cannot make faster
 * than skip_factor x the best measured so far is not run.  The subset with the
 * least measured makespan is chosen (a later one must win by o->margin);
 * out[i] then holds the factors fitted in it, and every usable device outside
 * it is excluded with a reason naming the times measured with and without it;
 * a device of the chosen subset whose final plan gives it no rows (its fixed
 * cost exceeds the step) is excluded too, with a reason saying so.  Sharing must
 * pay against the best device alone: when the chosen subset has two or more
 * devices, the device predicted fastest alone is measured alone (if it was not
 * yet), and the subset stays chosen only when its makespan is below
 * (1 - solo_margin) x that device's time alone, and again in more than half of
 * 3 repeats of both steps, each repeat compared within itself (one
 * noisy step neither makes nor breaks the decision); otherwise that device alone
 * is chosen (the others excluded, with the times of both measurements in their
 * reasons: the first, and the repeats' medians).  With one usable device, it is measured alone once (its factor then says how
 * its solo model extrapolates to o->rows).
 *
 * sum may be NULL.  Fails with HG_INVALID_ARGUMENT (NULL solo/out/run/o,
 * ndev out of range, rows 0, rounds < 1, a time from run that is not a
 * finite number >= 0), HG_NO_DEVICE (no usable device, or their caps add up
 * to fewer than o->rows), HG_OUT_OF_MEMORY, or whatever run returned; out is
 * then all {1, false, ""}.  Deterministic: the same solo models, caps and
 * callback results give the same decisions.
 */
hg_status hg__corun_calibrate(size_t ndev, const hg__cost_model *solo, const size_t *cap,
                              const hg__corun_options *o, hg__corun_run_fn run, void *user,
                              hg__corun_dev *out, hg__corun_summary *sum, hg_error *err);

#endif /* HG_SCHED_CORUN_H */
