/* SPDX-License-Identifier: MIT */
/*
 * sparse_exec.h - the engine on CSR data (sparse_exec.c, cl/sparse.cl): what a
 * device holds for sparse data, and how it runs its part of a step.  Planning,
 * the host reduction, calibration and recovery are the engine's own
 * (engine.c, profile.c); only the upload and the device's commands differ.
 */
#ifndef HG_SPARSE_EXEC_H
#define HG_SPARSE_EXEC_H

#include "engine_internal.h"

/* A device's sparse data and workspace; hg__device.sp, NULL for dense data. */
typedef struct hg__sparse_dev {
    cl_program prog;             /* detmath.cl + sparse.cl */
    cl_kernel  k_zero, k_slab, k_reduce;
    cl_mem     ptr, cols, vals;  /* the window's CSR: rows + 1 offsets (from 0), nnz */
    cl_mem     y, labels;        /* the window's targets (linear) or labels (softmax) */
    cl_mem     list;             /* a wave's rows (index steps), max_slabs * slab */
    cl_mem     z;                /* max_slabs x K scratch */
    cl_mem     part;             /* max_slabs partial records of P + 1 floats */
    cl_mem     rec;              /* one record of P + 1 floats */
    size_t     slab;             /* rows per work-item */
    size_t     max_slabs;        /* slabs per wave (workspace bound) */
} hg__sparse_dev;

/*
 * Run device d's plan of a step on its CSR rows, as hg__device_run does for
 * dense rows (same statistics, records and fault points): one record per
 * batch of at most d->chunk_rows rows, or in deterministic mode one per
 * block.  Called by hg__device_run when eng->sparse; takes no lock itself.
 */
hg_status hg__sparse_run(hg_engine *eng, hg__device *d, size_t index, const hg__dev_plan *plan,
                         const float *params, bool append, hg_error *err);

/* Release d's sparse data and workspace (d->sp becomes NULL); NULL d->sp is a no-op. */
void hg__sparse_release(hg__device *d);

/* Forget the engine's sparse data on every device (before dense data replaces it). */
void hg__sparse_forget(hg_engine *eng);

#endif /* HG_SPARSE_EXEC_H */
