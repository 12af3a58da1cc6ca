/* SPDX-License-Identifier: MIT */
/*
 * starpu_softmax.h - the softmax-regression gradient through StarPU's OpenCL
 * workers (starpu_softmax.c), for bench_starpu's side-by-side comparison.
 *
 * One session is one starpu_init() ... starpu_shutdown() with one scheduler:
 * the rows (x and labels) are registered once and partitioned into blocks of
 * block_rows rows; a step submits one task per block of its row range, each
 * task runs hetgrad's own one-pass kernel (cl/fused.cl, the shape hetgrad
 * chose for that device) on an OpenCL worker and writes the block's summed
 * gradient and loss, and the host adds the blocks in double.  StarPU is
 * process-wide: at most one session may be open at a time.
 */
#ifndef HG_BENCH_STARPU_SOFTMAX_H
#define HG_BENCH_STARPU_SOFTMAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_ERR_MAX 512
#define SP_MAX_WORKERS 8
/* StarPU 1.3 reads each OpenCL device's name into 64 bytes and aborts (an
   assertion in _starpu_opencl_get_device_name) when the name does not fit:
   devices whose CL_DEVICE_NAME has this many bytes or more cannot be used. */
#define SP_DEVICE_NAME_LIMIT 64

/* A compile-time shape of hg_fused_grad: rows per forward / backward pass, classes per pass. */
typedef struct sp_shape {
    unsigned rf, rb, kc;
} sp_shape;

typedef struct sp_options {
    const char    *policy;       /* StarPU scheduler ("dmda", "eager", ...) */
    int            calibrate;    /* as STARPU_CALIBRATE: 0 use the stored models,
                                    1 keep calibrating, 2 start them afresh */
    const char    *model_symbol; /* the performance model's name (its file under
                                    $STARPU_HOME); one per block size */
    const float   *x;            /* rows x features, row-major; must outlive the session */
    const int32_t *labels;       /* rows, each in [0, classes) */
    size_t         rows, features, classes;
    size_t         block_rows;   /* rows per task; must divide rows */
    unsigned       nopencl;      /* OpenCL workers the session must find (1..SP_MAX_WORKERS) */
    bool           async;        /* asynchronous codelets (STARPU_OPENCL_ASYNC: StarPU
                                    waits for the kernels and may pipeline the next
                                    task); otherwise the codelet ends with clFinish */
    /* Kernel shape per OpenCL device, by device name (exact match); a device
       not named uses {8, 8, 2} clipped to the classes. */
    const char    *const *shape_device;
    const sp_shape *shape;
    size_t         nshapes;
} sp_options;

typedef struct sp_session sp_session;

/*
 * Start StarPU with only OpenCL workers (CPU devices included: the caller
 * sets STARPU_OPENCL_ON_CPUS=1 before), build the kernel on each worker's
 * device, register and partition the data.  0 and *out on success; -1 with
 * err filled (and StarPU shut down again) when StarPU does not start, finds
 * another number of OpenCL workers than o->nopencl, or a build or allocation
 * fails.
 */
int sp_start(const sp_options *o, sp_session **out, char err[SP_ERR_MAX]);

/* Bring every block to every worker's memory (synchronous): the data are then
   resident, as hetgrad's are after hg_engine_set_data.  0, or -1 and err. */
int sp_prefetch(sp_session *s, char err[SP_ERR_MAX]);

/*
 * One gradient step over rows [first, first + count), both multiples of
 * block_rows: the parameters (features x classes weights, then classes
 * biases: hetgrad's layout) are written into StarPU's copy, one task per
 * block is submitted, and the blocks' sums are added on the host in double.
 * grad (params' length) receives the mean gradient, *loss the mean loss.
 * 0, or -1 with err (a kernel or submission failure; grad then undefined).
 */
int sp_step(sp_session *s, const float *params, size_t first, size_t count, float *grad,
            double *loss, char err[SP_ERR_MAX]);

/* Number of OpenCL workers, and worker i's name ("OpenCL 0 (device)"). */
unsigned    sp_worker_count(const sp_session *s);
const char *sp_worker_name(const sp_session *s, unsigned i);
/* The kernel shape worker i uses, as "fused r8/b8/k2". */
const char *sp_worker_kernel(const sp_session *s, unsigned i);

/*
 * The performance model's expected time of one block task on worker i, in
 * microseconds; NaN when the model has no calibrated entry for it.
 */
double sp_expected_us(sp_session *s, unsigned i);

/* Tasks each worker ran since sp_start (or the last call), then reset. */
void sp_take_task_counts(sp_session *s, uint64_t counts[SP_MAX_WORKERS]);

/* Unregister the data, release the kernels, shut StarPU down (which stores
   the performance models when calibrating).  NULL is a no-op. */
void sp_stop(sp_session *s);

#endif /* HG_BENCH_STARPU_SOFTMAX_H */
