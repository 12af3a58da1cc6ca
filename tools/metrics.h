/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - hetgrad-train --metrics FILE: the training run as JSON Lines.
 *
 * One JSON object a line (schema "hetgrad-train-metrics/1", docs/json.md): a
 * "step" record every N steps (--metrics-every N; 0: none) and an "epoch"
 * record at the end of every epoch.  Each record covers the steps since the
 * previous record of its kind: their rows, mean training loss and rows/s, and
 * for each device its rows, share, busy time, rows/s and kernel; an epoch
 * record adds the validation loss and accuracy and the training accuracy.
 * scripts/plot.py draws a file of them.
 *
 * Every line is flushed when written, so the file can be read (and plotted)
 * while training runs.  A write that fails is remembered and reported by
 * metrics_close(); the run goes on meanwhile (its parameters are still worth
 * saving).  The module takes no OpenCL type and no engine: the caller hands it
 * each step's figures, so it is tested without a device (tests/test_metrics.c).
 */
#ifndef HG_TOOLS_METRICS_H
#define HG_TOOLS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hetgrad.h>

#include "train_hostprof.h"

/* A device as the records name it (strings copied by metrics_begin). */
typedef struct metrics_device {
    const char *name;   /* CL_DEVICE_NAME */
    const char *id;     /* stable device id (docs/devices.md); NULL: another rank's device */
    const char *kernel; /* the kernel it computes with; NULL: another rank's device */
    int         rank;   /* the MPI rank that owns it; -1 without MPI (no "rank" key) */
} metrics_device;

/* metrics_begin's copy of a metrics_device (owned strings). */
typedef struct metrics_dev_copy {
    char *name, *id, *kernel;
    int   rank;
} metrics_dev_copy;

/* Sums over the steps a record covers. */
typedef struct metrics_sum {
    uint64_t steps;     /* steps */
    uint64_t rows;      /* training rows */
    double   loss_sum;  /* Σ minibatch mean loss × its rows */
    double   wall_ms;   /* Σ host wall time of the steps */
    uint64_t *dev_rows; /* per device: rows computed */
    double   *dev_busy; /* per device: Σ its worker's wall time (hg_device_step.host_ms) */
    double    host[HOSTPROF_PARTS]; /* --profile-host: Σ each part of the steps (ms) */
} metrics_sum;

typedef struct metrics {
    FILE           *f;         /* the file; NULL: --metrics not given (every call is a no-op) */
    char           *path;      /* for messages (owned) */
    uint64_t        every;     /* a step record every this many steps; 0: none */
    size_t          ndev;      /* devices */
    metrics_dev_copy *dev;     /* ndev entries */
    metrics_sum     since_record; /* steps since the last step record */
    metrics_sum     this_epoch;   /* steps of the current epoch */
    double          train_ms;  /* Σ wall time of every step so far */
    int             write_errno; /* the first failed write's errno (0: none; EIO when unknown) */
    bool            host;      /* --profile-host: records carry a "host" object */
} metrics;

/*
 * Create (or truncate) path for the records, before the run does any work, so
 * that a bad path stops it at once.  every: a step record every this many
 * steps (0: epoch records only).  True on success; false with msg ("PATH:
 * reason") and *m left closed.  *m must be zeroed before, or closed.
 */
bool metrics_open(metrics *m, const char *path, uint64_t every, char *msg, size_t n);

/*
 * The devices the records list, in this order (copied).  False when out of
 * memory (msg says so); the file stays open for metrics_close().  A no-op
 * returning true when m is not open.
 */
bool metrics_begin(metrics *m, const metrics_device *dev, size_t ndev, char *msg, size_t n);

/* What device i did in the step that just ran (call it for each device, then metrics_step). */
void metrics_device_step(metrics *m, size_t i, const hg_device_step *st);

/*
 * --profile-host: the parts of the step that is about to be counted (HOSTPROF_PARTS
 * values, train_hostprof.h); call it before metrics_step.  From its first call on, every
 * record carries a "host" object: the mean per step of each part over the steps it
 * covers.
 */
void metrics_host_step(metrics *m, const double *part);

/*
 * A step ran: rows training rows with mean loss loss, in wall_ms of host wall
 * time; step counts every step so far (this one included), epoch is 1-based.
 * Writes a step record when step is a multiple of every.
 */
void metrics_step(metrics *m, uint64_t epoch, uint64_t step, uint64_t rows, double loss,
                  double wall_ms);

/*
 * Epoch epoch ended after step step: writes its record.  val_loss, val_accuracy
 * (mean loss, fraction correct on the validation rows) and train_accuracy (the
 * parameters at the end of the epoch on the training rows) may be NaN: not
 * measured, written as null.
 */
void metrics_epoch(metrics *m, uint64_t epoch, uint64_t step, double val_loss,
                   double val_accuracy, double train_accuracy);

/*
 * Close the file and free everything (a no-op, true, when m is not open).
 * False with msg ("PATH: write failed: reason") when any write failed or the
 * file could not be closed.  *m is closed afterwards either way.
 */
bool metrics_close(metrics *m, char *msg, size_t n);

#endif /* HG_TOOLS_METRICS_H */
