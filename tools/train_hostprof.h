/* SPDX-License-Identifier: MIT */
/*
 * train_hostprof.h - hetgrad-train --profile-host: where each training step's time goes
 * outside the devices (docs/train.md, "Where a step's time goes").
 *
 * The tool times its own loop with CLOCK_MONOTONIC (the engine call, the optimizer update,
 * the rest) and splits the engine call with the devices' own statistics of the step
 * (hg_device_step.start_ms / end_ms / transfer_ms): the engine's host work before the
 * first device starts, the devices' span, and the engine's host work after the last one
 * ends (the reduction of the records in double, the mean, rebalancing).  It keeps every
 * step's figures and prints their mean and median at the end; --metrics records carry
 * the mean of the steps they cover.  No OpenCL type; the split is a pure function of
 * the statistics, tested without a device (tests/test_metrics.c).
 */
#ifndef HG_TOOLS_TRAIN_HOSTPROF_H
#define HG_TOOLS_TRAIN_HOSTPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <hetgrad.h>

/* The parts of a step, in milliseconds (the keys of --metrics's "host" object). */
typedef enum hostprof_part {
    HOSTPROF_PLAN,     /* engine, before the first device starts: parameter check,
                          planning, starting the workers */
    HOSTPROF_DEVICES,  /* from the first device's start to the last one's end */
    HOSTPROF_TRANSFER, /* of which the devices' OpenCL transfers: parameter upload, row
                          indices, record read-back (summed over devices, event times) */
    HOSTPROF_REDUCE,   /* engine, after the last device ends: the host reduction of the
                          records in double, the mean, rebalancing (with MPI: the ranks'
                          exchange too) */
    HOSTPROF_UPDATE,   /* the optimizer update (hg_optimizer_step) */
    HOSTPROF_OTHER,    /* the rest of the loop: per-device statistics, --metrics,
                          --trace, the progress bar, the epoch's shuffle */
    HOSTPROF_STEP,     /* the whole step: the sum of the above but TRANSFER */
    HOSTPROF_PARTS
} hostprof_part;

/* The JSON key of part p ("plan_ms", ...). */
const char *hostprof_key(hostprof_part p);

typedef struct hostprof {
    bool    on;    /* --profile-host given; otherwise every call is a no-op */
    double *v;     /* HOSTPROF_PARTS values per step, n steps */
    size_t  n, cap;
    bool    lost;  /* a step could not be kept (out of memory): the summary says so */
} hostprof;

/*
 * Split an engine call of engine_ms into part[PLAN], part[DEVICES], part[TRANSFER] and
 * part[REDUCE] from the step statistics st[0..n) of its devices (devices without rows
 * are left out; none: all of it is PLAN).  The three spans are clamped to [0, engine_ms]
 * and add up to engine_ms.
 */
void hostprof_split(const hg_device_step *st, size_t n, double engine_ms, double *part);

/* Keep one step's parts (HOSTPROF_PARTS values); false when out of memory (the
   profile then stops growing and says so at the end). */
bool hostprof_add(hostprof *h, const double *part);

/* The profile's summary (mean and median per step of each part) to f; nothing when
   no step was kept. */
void hostprof_print(const hostprof *h, FILE *f);

void hostprof_free(hostprof *h);

#endif /* HG_TOOLS_TRAIN_HOSTPROF_H */
