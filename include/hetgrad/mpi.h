/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/mpi.h - data-parallel gradients over MPI: one engine per rank, ranks weighted by
 * their measured capacity (library hetgrad_mpi; CMake target hetgrad::mpi, pkg-config
 * hetgrad-mpi).  The core library does not depend on MPI; this one does.
 *
 * Every rank holds the same data set in its own engine (hg_engine_set_data) and calls the
 * same hg_mpi_* functions in the same order with the same arguments (the same parameters,
 * the same global row range or index list).  A step cuts the global rows into one
 * consecutive piece per rank, in rank order, sized by the rank balancer (balance.c's
 * smoothing and hysteresis over one affine cost model per rank); each rank computes its
 * piece's gradient with hg_engine_gradient*, turns the mean back into sums in double, and
 * sends (loss sum, rows, its step time) to every other rank.  The gradient sums travel by
 * slices of the parameters: rank r receives every rank's sums of slice r, adds them in
 * rank order, in double, divides by the global row count, rounds to float and sends its
 * slice of the result to every rank, about 12 P bytes per rank and step for P parameters
 * (HETGRAD_MPI_EXCHANGE=allgather: every rank sends all its sums to every rank and adds
 * all N in rank order, (N - 1) 8 P bytes, the same bits).  Each element is the same
 * operations on the same bytes wherever it is computed, so every rank gets the same bits,
 * which MPI_Allreduce does not promise for floating point.  docs/mpi.md gives the bytes
 * per step.
 *
 * No call waits forever: every exchange is non-blocking with a deadline
 * (hg_mpi_options.timeout_s).  A rank that reports a failure makes the call fail on every
 * rank with a message naming that rank; a rank that sends nothing in time makes it fail
 * with HG_IO naming the silent ranks, after which the communicator is in an unknown state
 * and the caller should end the job (MPI_Abort).  MPI errors are returned, not fatal: the
 * library works on its own duplicate of the communicator with MPI_ERRORS_RETURN.
 *
 * Byte order: records travel as bytes, so every rank must run on the same architecture
 * (same endianness and double format), as MPI jobs of one binary do.
 */
#ifndef HETGRAD_MPI_H
#define HETGRAD_MPI_H

#include <stdbool.h>

#include <mpi.h>

#include "common.h"
#include "engine.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_mpi hg_mpi;

/*
 * Options of an MPI context.  Always start from hg_mpi_options_init(), which
 * sets struct_size; later versions only append fields, and the library reads
 * only the first struct_size bytes (defaults for the rest; docs/abi.md).
 */
typedef struct hg_mpi_options {
    size_t struct_size; /* sizeof(hg_mpi_options) as the caller was compiled: set by
                           hg_mpi_options_init(); 0 (not initialised) is
                           HG_INVALID_ARGUMENT */
    double timeout_s;   /* longest wait for the other ranks in one exchange, seconds
                           (default 120); must cover the slowest rank's step */
    bool   no_rebalance;/* keep the split from the initial capacities (default false:
                           rebalance after every step from the measured step times) */
} hg_mpi_options;

/*
 * Defaults: timeout_s 120, rebalancing on.  Fills the first size bytes (zero
 * past the fields this library knows) and sets struct_size = size; call it
 * through hg_mpi_options_init(), which passes the size the caller was compiled
 * with.  NULL or a size below sizeof(size_t) is a no-op.
 */
HG_EXTERN void hg_mpi_options_init_sized(hg_mpi_options *opt, size_t size);

static inline void hg_mpi_options_init(hg_mpi_options *opt)
{
    hg_mpi_options_init_sized(opt, sizeof *opt);
}

/*
 * Status agreement, collective over comm: every rank passes the outcome of some local
 * phase (local NULL or local->status == HG_OK: success).  Returns HG_OK on every rank when
 * every rank succeeded; otherwise every rank returns the status of the lowest failing rank
 * and err says "rank R of N (host): <its message>" for it, counting the others.  Waits at
 * most timeout_s (<= 0: the default 120) for the other ranks, then fails with HG_IO naming
 * the ranks that did not answer.  For start-up: a rank that cannot create its engine calls
 * this with its error instead of hg_mpi_create, and the job ends cleanly everywhere.
 */
HG_EXTERN hg_status hg_mpi_agree(MPI_Comm comm, const hg_error *local, double timeout_s,
                                 hg_error *err);

/*
 * Collective over comm: attach the local engine eng, created for model (the same model on
 * every rank: checked), with its data set loaded, and calibrated (hg_engine_calibrate) for
 * capacity-weighted splits.  Each rank's initial capacity is the
 * sum of its devices' calibrated rows_per_s, its fixed cost the largest of their fixed
 * costs; an uncalibrated engine counts as 1000 rows/s per device, so uncalibrated ranks
 * share equally.  Ranks exchange their capacities, host names and device names.  eng stays
 * owned by the caller and must outlive the context.  Fails on every rank (the message
 * names the rank) when any rank fails: HG_INVALID_ARGUMENT (NULL arguments, a bad
 * timeout, options not initialised by hg_mpi_options_init, another model than rank 0's),
 * HG_OUT_OF_MEMORY, HG_IO (an MPI call failed or a rank did not answer in time).  opt
 * NULL: the defaults.  *out is NULL on failure.
 */
HG_EXTERN hg_status hg_mpi_create(MPI_Comm comm, hg_engine *eng, const hg_model_desc *model,
                                  const hg_mpi_options *opt, hg_mpi **out, hg_error *err);

/* Free the context and its communicator (not the engine); NULL is a no-op.  Not
   collective, but call it on every rank. */
HG_EXTERN void hg_mpi_destroy(hg_mpi *ctx);

/* This rank and the number of ranks (-1 / 0 for NULL). */
HG_EXTERN int hg_mpi_rank(const hg_mpi *ctx);
HG_EXTERN int hg_mpi_size(const hg_mpi *ctx);

/*
 * One global step, collective: the mean gradient and mean loss over rows [first, first +
 * count) or idx[0..count) of the data set, the same bits on every rank.  Arguments as
 * hg_engine_gradient / hg_engine_gradient_rows, and the same on every rank.  A failure on
 * any rank (bad arguments, a rank's engine failing) fails the step on every rank, grad
 * untouched, with the failing rank's message; the context stays usable, except after
 * HG_IO (a rank silent past the deadline or an MPI failure), after which every call fails.
 */
HG_EXTERN hg_status hg_mpi_gradient(hg_mpi *ctx, const float *params, size_t first,
                                    size_t count, float *grad, double *loss, hg_error *err);
HG_EXTERN hg_status hg_mpi_gradient_rows(hg_mpi *ctx, const float *params, const size_t *idx,
                                         size_t count, float *grad, double *loss,
                                         hg_error *err);

/* What one rank is and did, as every rank knows it.  Fields may be appended later. */
typedef struct hg_mpi_rank_info {
    char   host[64];        /* its processor name (MPI_Get_processor_name), truncated */
    size_t devices;         /* its engine's devices */
    double rows_per_s;      /* initial capacity (sum of its devices' calibrated speeds) */
    double fixed_ms;        /* initial fixed cost of a step on it */
    double model_rows_per_s;/* current capacity estimate of the rank balancer */
    size_t rows;            /* rows it computed in the last step */
    double compute_ms;      /* its wall time in the last step, exchange excluded */
} hg_mpi_rank_info;

/*
 * Rank r's figures; HG_RANGE for r out of range, HG_INVALID_ARGUMENT for NULL or
 * out_size too small.  Writes out_size bytes at most (zeros past the fields this library
 * knows): call it through hg_mpi_rank_info_get(), which passes sizeof *out.
 */
HG_EXTERN hg_status hg_mpi_rank_info_get_sized(const hg_mpi *ctx, int r,
                                               hg_mpi_rank_info *out, size_t out_size);

static inline hg_status hg_mpi_rank_info_get(const hg_mpi *ctx, int r, hg_mpi_rank_info *out)
{
    return hg_mpi_rank_info_get_sized(ctx, r, out, sizeof *out);
}

/* Name of rank r's device i; NULL out of range. */
HG_EXTERN const char *hg_mpi_device_name(const hg_mpi *ctx, int r, size_t i);

/*
 * Rank r's device i in the last step: rows, host_ms, start_ms and end_ms as its
 * hg_engine_last_step gave them (times on rank r's clock, from the start of its part of
 * the step), failed; other fields 0.  HG_RANGE out of range or before the first step,
 * HG_INVALID_ARGUMENT for NULL or out_size too small.  Writes out_size bytes at most:
 * call it through hg_mpi_device_step(), which passes sizeof *out.
 */
HG_EXTERN hg_status hg_mpi_device_step_sized(const hg_mpi *ctx, int r, size_t i,
                                             hg_device_step *out, size_t out_size);

static inline hg_status hg_mpi_device_step(const hg_mpi *ctx, int r, size_t i,
                                           hg_device_step *out)
{
    return hg_mpi_device_step_sized(ctx, r, i, out, sizeof *out);
}

/*
 * Collective check that every rank holds the same n bytes at p (parameters after training,
 * a data set): each rank hashes them (64-bit FNV-1a) and the hashes are exchanged.  *hash
 * (may be NULL) receives this rank's hash.  HG_OK when all agree; HG_DEVICE_FAILED naming
 * the first rank that differs from rank 0 otherwise, on every rank; HG_IO as above.
 * what names the bytes in the message.
 */
HG_EXTERN hg_status hg_mpi_check_same(hg_mpi *ctx, const char *what, const void *p, size_t n,
                                      uint64_t *hash, hg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_MPI_H */
