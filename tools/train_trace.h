/* SPDX-License-Identifier: MIT */
/*
 * train_trace.h - hetgrad-train's report columns and its timeline (train_trace.c).
 *
 * The columns are the devices a run reports: this engine's, or every rank's with MPI.
 * The timeline is a Chrome / Perfetto trace-event file (docs/train.md).
 */
#ifndef HG_TOOLS_TRAIN_TRACE_H
#define HG_TOOLS_TRAIN_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hetgrad.h>

#include "json_out.h"
#include "train_mpi.h"

#ifndef HG_HAVE_MPI
typedef struct hg_mpi hg_mpi;
#endif

typedef struct cols {
    hg_engine *e;
    hg_mpi    *ctx;   /* NULL: a single process */
    size_t     n;     /* columns */
    int       *rank;  /* per column: its rank (0 without MPI) */
    size_t    *dev;   /* per column: the device's index on its rank */
} cols;

/* The columns of engine e (and of every rank of ctx, which may be NULL); false when out
   of memory. */
bool cols_init(cols *c, hg_engine *e, hg_mpi *ctx);
void cols_free(cols *c);

/* Column k's device name. */
const char *cols_name(const cols *c, size_t k);

/* Column k's label: "[i]" alone, "[r:i]" (rank r's device i) with MPI. */
void cols_label(const cols *c, size_t k, char *buf, size_t n);

/* What column k's device did in the last step. */
void cols_step(const cols *c, size_t k, hg_device_step *st);

typedef struct trace {
    FILE     *f;
    json_out  j;
    double    origin_ms;  /* host clock at the start of training */
    size_t   *last_rows;  /* per device, previous step, for rebalancing events */
} trace;

/* Create the file (before the run starts, so that a bad path stops it at once). */
bool trace_open(trace *t, const char *path);

/* The header: one track for the host and one per device (per rank's device with MPI);
   false when out of memory. */
bool trace_begin(trace *t, const cols *c, double origin);

/* One step: a host slice, a slice per device that worked, the host reduction after the
   last device finished, and an instant event when the split moved. */
void trace_step(trace *t, const cols *c, uint64_t step, double t0, double wall_ms,
                double update_ms);

/* Finish and close the file (nothing when none is open); false on a write error. */
bool trace_close(trace *t);

#endif /* HG_TOOLS_TRAIN_TRACE_H */
