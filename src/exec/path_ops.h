/* SPDX-License-Identifier: MIT */
/*
 * path_ops.h - the compute paths a device runs a batch of rows with, each an
 * ops table in its own file:
 *
 *   hg__ops_clblast  dense.c   CLBlast GEMMs + our element-wise kernels
 *   hg__ops_naive    dense.c   our plain GEMM (hg_gemm_naive) + element-wise kernels
 *   hg__ops_fused    fused.c   linear / softmax: the one-pass fused kernel
 *   hg__ops_tiled    tiled.c   MLP: the register-tiled GEMM with fused epilogues
 *   hg__ops_mlp_small mlp_small.c  MLP, one hidden layer: four launches a batch
 *   hg__ops_custom   custom.c  the user's kernel and a column-sum finish
 *
 * A device holds one path at a time (hg__device.ops) and that path's own
 * state (hg__device.ps: its programs, kernels and private buffers, opaque to
 * everything but the path's file).  kchoice.c opens a path for a kernel
 * choice and releases the one it replaces; pipeline.c sizes the workspace
 * and runs batches through the table; nothing else switches on the path.
 *
 * Adding a path (or a variant of one): write its file with an hg__path_ops
 * table, declare the table here, return it from hg__path_ops_for
 * (path_ops.c) for its kernel choices, and list the file in CMakeLists.txt.
 *
 * Every function runs with the device's platform lock held (platlock.h) and
 * enqueues on d->queue only; none waits for the device.
 */
#ifndef HG_PATH_OPS_H
#define HG_PATH_OPS_H

#include "engine_internal.h"

typedef struct hg__path_ops {
    const char *name; /* "clblast", "naive", "fused", "tiled", "custom" */
    /*
     * Build the programs and kernels of choice k on device d into a new
     * state *state (malloc'ed; NULL for a path that keeps none).  All or
     * nothing: on failure *state is NULL, nothing is left allocated, and d
     * (its current path and state) is untouched.  Fails with HG_BUILD and
     * the build log, HG_OPENCL, HG_OUT_OF_MEMORY.
     */
    hg_status (*open)(hg_engine *eng, hg__device *d, const hg__kchoice *k, void **state,
                      hg_error *err);
    /*
     * Allocate the path's workspace for batches of up to rows rows: its
     * private buffers in d->ps and the shared layer buffers it uses
     * (d->act, d->pingpong, d->loss, d->partial).  Called by pipeline.c
     * only when rows exceed d->cap_rows; buffers are replaced, not grown.
     * Fails with HG_OUT_OF_MEMORY (or HG_OPENCL) and a message naming the
     * buffer; the caller then treats the workspace as empty.
     */
    hg_status (*workspace)(hg_engine *eng, hg__device *d, size_t rows, hg_error *err);
    /*
     * Enqueue batch b: its records (P + 1 floats each, b->nrec of them)
     * into d->grad, records 0..b->nrec-1.  Not waited for; d->grad must not
     * be read before the queue has run these commands.
     */
    hg_status (*run_batch)(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err);
    /* Release the private buffers of state (kept: programs and kernels);
       NULL state: no-op. */
    void (*drop_workspace)(void *state);
    /* Release everything state holds, and state itself; NULL: no-op. */
    void (*release)(void *state);
    /*
     * The i-th program state holds and its cache label (for
     * hg_engine_export_binaries); false past the last.  NULL state: none.
     */
    bool (*program)(const void *state, size_t i, cl_program *prog, const char **label);
    /*
     * Whether run_batch reads an index step's rows in place (hg__batch.idx,
     * the step's index list on the device; the fused and tiled paths):
     * pipeline.c then writes the list
     * and runs the batch on the data set's own buffers, with no gather
     * kernel and no gathered copy.  false: it gathers them first into
     * d->xb / d->yb / d->lb and the batch is those rows, consecutive.
     */
    bool indexed;
} hg__path_ops;

extern const hg__path_ops hg__ops_clblast, hg__ops_naive, hg__ops_fused, hg__ops_tiled,
    hg__ops_custom, hg__ops_mlp_small;

/* The table that computes kernel choice k (path_ops.c); never NULL. */
const hg__path_ops *hg__path_ops_for(const hg__kchoice *k);

/* ---- what the paths' open functions share (path_build.c) ---------------------- */

/*
 * Build a program of a kernel choice on d: from the program cache unless
 * d->rebuild, d->kc_from_cache set when it came from the cache.  Fails as
 * hg__program_build does.
 */
hg_status hg__path_build(hg_engine *eng, hg__device *d, const char *src, size_t len,
                         const char *label, const char *options, cl_program *prog,
                         hg_error *err);
/* The test hook's extra build option for candidate k (hg__kchoice_break), or "". */
const char *hg__path_broken_option(const hg_engine *eng, const hg__kchoice *k);
/* detmath.cl followed by name.cl (malloc'ed; NULL when out of memory or missing). */
char *hg__path_source_with_detmath(const char *name, size_t *len);
/* detmath.cl, transpose.cl, then name.cl (malloc'ed; NULL when out of memory or missing):
   the programs that transpose blocks (model.cl, mlp_small.cl). */
char *hg__path_source_with_transpose(const char *name, size_t *len);
/* gemm.cl, then name.cl (malloc'ed; NULL when out of memory or missing): a program
   whose kernels run gemm.cl's blocks (mlp_small.cl's hg_mlps_wgrad), built with a
   tile's HG_TM and HG_TN. */
char *hg__path_source_with_gemm(const char *name, size_t *len);
/* " -DHG_GT_SCALAR" on Oclgrind, whose uninitialised-value plugin crashes on
   transpose.cl's vector loads (the same values moved one by one), else "". */
const char *hg__gt_scalar_option(const hg__device *d);

/* Shared layer workspace of the dense and tiled paths (epilogue.c): d->act,
   d->partial, d->pingpong and d->loss for batches of rows rows. */
hg_status hg__layer_workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err);

/* ---- launching cl/gemm.cl's kernels (gemm_call.c; the tiled and mlp-small paths) -- */

/* Where op(A)'s rows are (gemm.cl's hg_arow): consecutive (idx NULL), or an
   index step's rows read in place: row i is row idx[ioff + i] - base. */
typedef struct hg__arows {
    cl_mem idx;
    size_t ioff, base;
} hg__arows;

/* One GEMM call: C = op(A) B (+ epilogue flags: 1 bias, 2 ReLU, 4 mask; 8: C += ...),
   row-major, every matrix at an element offset with its leading dimension.  (Flag
   16, the order of the work-groups, is hg__gemm_call's own: hg__gemm_by_columns.) */
typedef struct hg__gemm_args {
    bool         ta;            /* op(A) = A^T (hg_gemm_tn), else A (hg_gemm_nn) */
    size_t       m, n, k;
    cl_mem       a;
    size_t       aoff, lda;
    const hg__arows *ar;        /* NULL: consecutive rows */
    cl_mem       b;
    size_t       boff, ldb;
    cl_mem       c;
    size_t       coff, ldc;
    size_t       bias_off;      /* in d->params (flag 1) */
    cl_mem       mask;          /* flag 4; NULL otherwise */
    size_t       ldm;
    cl_uint      flags;
    bool         bpacked;       /* B packed in strips of the tile's tn columns
                                   (hg__gemm_pack; gemm.cl's flag 64): boff is the
                                   packing's first row times tn, ldb the packing's
                                   rows; n a multiple of tn */
} hg__gemm_args;

/*
 * gemm.cl built for d with tile tm x tn (hg__path_build, labelled "tiled-TMxTN" into
 * label): the options every path that uses it gives, so that one program serves them
 * all.
 */
hg_status hg__gemm_build(hg_engine *eng, hg__device *d, unsigned tm, unsigned tn, char *label,
                         size_t label_size, cl_program *prog, hg_error *err);
/*
 * Whether d's kernels fetch memory ahead with prefetch hints: a CPU device
 * (hg__real_cpu) of an engine without the no_prefetch knob.  The fused kernels then
 * fetch their next rows (fused.cl's HG_PREFETCH), gemm.cl's blocks their lines of C
 * (HG_PREFETCH_C).
 */
bool hg__fetch_ahead(const hg_engine *eng, const hg__device *d);
/*
 * " -DHG_PREFETCH_C" where hg__fetch_ahead, else "": gemm.cl's blocks then fetch their
 * lines of C for writing before their K loop (docs/kernels.md, "The GEMM's lines of C
 * fetched ahead").  Every program with gemm.cl's blocks takes it.
 */
const char *hg__gemm_prefetch_option(const hg_engine *eng, const hg__device *d);
/*
 * Enqueue kern (hg_gemm_nn or hg_gemm_tn of a gemm.cl program built with
 * tile tm x tn) on g's operands: one work-item per group on CPU devices,
 * 8 x 1 elsewhere (any local size gives the same bits).  In calls over
 * blocks of hg__gemm_k_rows(d, g) rows of K where that is fewer than K,
 * each going on from the last and the epilogue on the last only: the same
 * bits as one call.  HG_RANGE when an offset does not fit the kernel's
 * 32-bit arguments.
 */
hg_status hg__gemm_call(hg__device *d, cl_kernel kern, size_t tm, size_t tn,
                        const hg__gemm_args *g, hg_error *err);
/*
 * Work-items a kernel runs beside a GEMM's blocks in the same launch
 * (mlp_small.cl's hg_mlps_wgrad): the kernel takes the GEMM's 22 arguments,
 * then gy (the rows of the GEMM's 2-D global size: ids (x, y < gy) are the
 * GEMM's blocks, as in hg_gemm_nn/tn's own launch), then args.  items
 * work-items follow in rows of the first dimension's size; with K in several
 * calls (hg__gemm_k_rows), they go with the first.
 */
#define HG__GEMM_EXTRA_ARGS 16u
typedef struct hg__gemm_extra {
    cl_kernel      kern;  /* the kernel that runs both */
    const char    *name;  /* its name, for messages */
    const hg__karg *args; /* at most HG__GEMM_EXTRA_ARGS */
    size_t         nargs;
    size_t         items;
} hg__gemm_extra;
/* hg__gemm_call with x's work-items and arguments (NULL: none, hg__gemm_call). */
hg_status hg__gemm_call_with(hg__device *d, cl_kernel kern, size_t tm, size_t tn,
                             const hg__gemm_args *g, const hg__gemm_extra *x,
                             hg_error *err);
/*
 * The rows of K in each of hg__gemm_call's calls for g on d: K itself (one
 * call) unless the operand that every block of the other is read against
 * holds more than d->gemm_kblock bytes over K.  That operand is B (k x n)
 * where the threads take C by block rows, A (m x k) where they take it by
 * block columns (hg__gemm_by_columns): there each strip of B is read by
 * consecutive work-items, while all of A is read again for every strip.  The
 * blocks are equal, at least 16 rows; docs/kernels.md, "The GEMM's K blocks".
 */
size_t hg__gemm_k_rows(const hg__device *d, const hg__gemm_args *g);
/*
 * Whether d's GEMMs of m x n outputs hand out C by block columns (gemm.cl's
 * flag 16) rather than by block rows: on a CPU device with several compute
 * units (threads) that compiles its own programs, where C is wider than it
 * is tall (B, k x n, larger than A, m x k): each thread then reads all of A
 * and a share of B, not a share of A and all of B.  d->gemm_order (a test
 * knob) forces one order.  docs/kernels.md, "The GEMM's order on several
 * threads".
 */
bool hg__gemm_by_columns(const hg__device *d, size_t m, size_t n);
/*
 * Whether d's GEMMs of m x n outputs on a tile tn columns wide read B packed
 * in strips (hg__gemm_pack first; gemm.cl's flag 64): a work-item then reads
 * its B as one stream instead of one row a step, a stride the hardware's
 * prefetchers do not follow.  Only where n is a multiple of tn and d compiles
 * its own programs (one from a prebuilt binary may predate the flag); by
 * default on a CPU device that computes for real (not Oclgrind) when m is at
 * least HG__PACK_MIN_ROWS, where the gain outweighs the copy and its launch
 * (docs/kernels.md, "B packed in strips").  d->gemm_pack (a test knob) turns
 * it off (1) or on wherever possible (2).
 */
#define HG__PACK_MIN_ROWS 512u
bool hg__gemm_packs(const hg__device *d, size_t m, size_t n, size_t tn);
/*
 * dst[doff ...] = the k x n matrix B (from boff, leading dimension ldb of buffer b)
 * packed in strips of tn columns (n a multiple of tn), on pack, the hg_pack_b of
 * the gemm.cl program built with tile width tn.  The packed B is read with
 * hg__gemm_args' bpacked, boff = doff + (first row) * tn and ldb = k.
 */
/* g's B (g->k x g->n) packed by hg__gemm_pack into dst from doff, and g pointed at
   it (bpacked, boff doff, ldb k). */
hg_status hg__gemm_pack_args(hg__device *d, cl_kernel pack, size_t tn, hg__gemm_args *g,
                             cl_mem dst, size_t doff, hg_error *err);
#define HG__PACK_ROWS 64u /* gemm.cl's HG_PACK_ROWS: the rows a work-item copies */
hg_status hg__gemm_pack(hg__device *d, cl_kernel pack, size_t tn, size_t k, size_t n,
                        cl_mem b, size_t boff, size_t ldb, cl_mem dst, size_t doff,
                        hg_error *err);
/* The threads d runs a kernel on where it is a CPU device: its compute units (its
   sub-device's, after fission); 0 for any other device. */
cl_uint hg__cpu_threads(const hg__device *d);
/*
 * dW = A^T G into record rec of d->grad at w_off (layer ly, m rows of the
 * batch from row lo of A and G, A's rows through ar when not NULL) in calls
 * of at most HG__TN_CHUNK rows, each going on from the last (flag 8): the
 * same fma chain, so the same bits as one call, but a work-item's rows of A
 * and G stay in cache for its neighbours.  Other sizes were measured and lost
 * on one POCL device or the other (docs/kernels.md): the first layer's X^T
 * and hg_gemm_nn over 16,384 x 784 x 256 in calls of 1,024 took 52.5 ms
 * against 48.3 on basic (24.8 against 27.0 on pthread); a 10-class output
 * layer's weight gradient in calls of 2,048 saved launches on pthread (1.0
 * against 1.8 ms) but its kernels took 3.3 ms against 2.1 on basic.  x (NULL:
 * none): work-items run beside the first call's blocks (hg__gemm_call_with).
 */
#define HG__TN_CHUNK 256u
hg_status hg__gemm_weight_grad(hg__device *d, cl_kernel gtn, size_t tm, size_t tn,
                               const hg__layer *ly, cl_mem a, size_t aoff,
                               const hg__arows *ar, cl_mem g, size_t lo, size_t m,
                               size_t rec, const hg__gemm_extra *x, hg_error *err);
/*
 * X^T into dst (cols x rows, leading dimension rows) for the rows x cols batch A
 * (from aoff with leading dimension lda, or its rows through ar), on the device's
 * hg_gather_t (model.cl); then dW = X^T G for rows [lo, lo + m) of it as one
 * hg_gemm_nn call on gnn (tile tm x tn) into record rec of d->grad at the layer's
 * w_off, ldx being the batch's rows: the same fma chain as hg__gemm_weight_grad, so
 * the same bits, with X^T read in order (gemm.cl says what that gains).  gpacked:
 * as hg__gemm_weight_grad_x's, below; x as hg__gemm_weight_grad's.
 */
hg_status hg__gemm_gather_t(hg__device *d, size_t rows, size_t cols, cl_mem a, size_t aoff,
                            size_t lda, const hg__arows *ar, cl_mem dst, hg_error *err);
hg_status hg__gemm_weight_grad_t(hg__device *d, cl_kernel gnn, size_t tm, size_t tn,
                                 const hg__layer *ly, cl_mem xt, size_t ldx, cl_mem g,
                                 size_t gpacked, size_t lo, size_t m, size_t rec,
                                 const hg__gemm_extra *x, hg_error *err);
/*
 * hg__gemm_weight_grad's dW = A^T G on gnn instead: per chunk of at most
 * HG__TN_CHUNK rows, the chunk's rows of A transposed into xt (ly->in x HG__TN_CHUNK
 * floats) by hg__gemm_gather_t, then hg_gemm_nn on them, each chunk going on from the last.  The
 * same fma chain, so the same bits.  gpacked > 0: G is packed in strips of tn
 * columns (hg__gemm_pack) of gpacked rows, the batch's, row lo of the batch its
 * row lo; 0: G is row-major.
 */
hg_status hg__gemm_weight_grad_x(hg__device *d, cl_kernel gnn, size_t tm,
                                 size_t tn, const hg__layer *ly, cl_mem a, size_t aoff,
                                 const hg__arows *ar, cl_mem xt, cl_mem g, size_t gpacked,
                                 size_t lo, size_t m, size_t rec, hg_error *err);
/* HG_OK when device d has the transpose the GEMM paths need (model.cl's hg_gather_t:
   a prebuilt model program made from an older model.cl lacks it), else HG_BUILD
   naming path (the one opening) and why. */
hg_status hg__gemm_ready(const hg__device *d, const char *path, hg_error *err);
/* wt[wt_off ...] (cols x rows) = the rows x cols matrix at d->params[off ...], on the
   device's hg_gather_t (model.cl). */
hg_status hg__gemm_transpose(hg__device *d, size_t rows, size_t cols, size_t off, cl_mem wt,
                             size_t wt_off, hg_error *err);

#endif /* HG_PATH_OPS_H */
