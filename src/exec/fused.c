/* SPDX-License-Identifier: MIT */
/*
 * fused.c - the linear and softmax models' gradient in one pass over the
 * rows (cl/fused.cl): W is transposed once per batch, each work-item streams
 * a slab of rows and keeps its own partial gradient, and a finish kernel adds
 * the slabs in order into one record per block.
 *
 * Slabs: in deterministic mode always min(512, block_rows) rows, so that a block's
 * record is the same sum whichever device computes it; otherwise about four
 * slabs per compute unit (HG__SLAB_MIN..HG__SLAB_MAX rows), so every core is
 * busy and few partials are written.  The small-batch candidates (kchoice
 * s = 1 or 2) cut a batch into s slabs per compute unit of 16 rows or more:
 * a split over rows that keeps every core busy on a 128-row step (one usual
 * slab would hold it all), combined in slab order by the same finish kernel,
 * so the bits depend only on the batch and the device's compute units.
 *
 * The one-kernel variant (kchoice one = 1, hg_fused_one) does the same work
 * in one launch per batch: each work-group copies W^T into local memory
 * instead of the prep kernel's global copy, and the last slab of a record to
 * finish adds the record's partials in slab order instead of the finish
 * kernel: the same additions in the same order, so the same bits.  On a
 * small step, where each launch costs tens of microseconds of runtime
 * synchronisation on POCL, two launches fewer are most of the step.
 *
 * Index steps (a minibatch picked from the data set by an index list) are
 * read in place: the kernels take row r of the batch as row idx[r] of the
 * device's data (fused.cl's hg_batch_row), so the path needs no gather
 * kernel and no gathered copy of the rows (hg__path_ops.indexed).  The same
 * values in the same order: the same bits as a gathered batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"

/* The fused path's state (hg__device.ps): its program, kernels and buffers. */
typedef struct fused_state {
    cl_program prog;
    char       label[64];
    cl_kernel  prep, grad, finish; /* hg_fused_prep, hg_fused_grad, hg_fused_finish */
    cl_kernel  one;                /* hg_fused_one (the one-kernel variant; then the
                                      three above are NULL) */
    cl_mem     wt;                 /* transposed weights, KP x F (three kernels) */
    cl_mem     fpart;              /* per-slab partial sums */
    cl_mem     count;              /* one kernel: slabs finished per record, zero
                                      between launches */
} fused_state;

#define SMALL_SLAB_MIN 16u /* rows per small-batch slab: the least */

/* Compute units of d (1 when it reports none). */
static size_t units(const hg__device *d)
{
    return d->info->compute_units ? d->info->compute_units : 1;
}

/* Floats per slab partial (fused.cl's HG_STRIDE): P + 1 rounded up to 16, so
   that every slab's partial starts 64-byte aligned for its vload16s. */
static size_t slab_stride(const hg_engine *eng)
{
    return (eng->nparams + 1 + 15) / 16 * 16;
}

size_t hg__fused_max_slabs(const hg_engine *eng, const hg__device *d, size_t rows)
{
    size_t slabs;
    if (!eng->det && d->kc.s) {
        /* at most s per compute unit, unless the slabs reach HG__SLAB_MAX rows */
        size_t few = d->kc.s * units(d), big = (rows + HG__SLAB_MAX - 1) / HG__SLAB_MAX;
        slabs = few > big ? few : big;
    } else {
        size_t slab = eng->det ? eng->det_slab : HG__SLAB_MIN;
        slabs = (rows + slab - 1) / slab;
    }
    /* in records of P + 1 floats */
    return (slabs * slab_stride(eng) + eng->nparams) / (eng->nparams + 1);
}

size_t hg__fused_slab_rows(const hg_engine *eng, const hg__device *d, size_t rows)
{
    if (eng->det)
        return eng->det_slab;
    size_t cu = units(d);
    if (d->kc.s) {
        /* small batches: s slabs per compute unit, a multiple of 16 rows */
        size_t want = (rows + d->kc.s * cu - 1) / (d->kc.s * cu);
        want = (want + SMALL_SLAB_MIN - 1) / SMALL_SLAB_MIN * SMALL_SLAB_MIN;
        return want < SMALL_SLAB_MIN ? SMALL_SLAB_MIN : want > HG__SLAB_MAX ? HG__SLAB_MAX : want;
    }
    size_t want = (rows + 4 * cu - 1) / (4 * cu);
    want = (want + HG__SLAB_MIN - 1) / HG__SLAB_MIN * HG__SLAB_MIN;
    return want < HG__SLAB_MIN ? HG__SLAB_MIN : want > HG__SLAB_MAX ? HG__SLAB_MAX : want;
}

/* How the kernels find batch b's rows (fused.cl's hg_batch_row): through
   the index list b->idx, or consecutive from b->row (idx is then any valid
   buffer, never read). */
static void rows_by(const hg__device *d, const hg__batch *b, cl_mem *idx, cl_uint *base,
                    cl_uint *indexed)
{
    *idx = b->idx ? b->idx : d->idxb ? d->idxb : b->x;
    *base = (cl_uint)b->base;
    *indexed = b->idx ? 1u : 0u;
}

/* The batch in one launch of hg_fused_one (kchoice one = 1). */
static hg_status run_one(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    fused_state *fs = d->ps;
    const hg__layer *ly = &eng->layers[0];
    size_t slab = hg__fused_slab_rows(eng, d, b->rows);
    size_t nslabs = (b->rows + slab - 1) / slab;
    size_t per = b->nrec > 1 ? b->block_rows / slab : nslabs;
    cl_uint row0 = (cl_uint)b->row, rows = (cl_uint)b->rows, us = (cl_uint)slab,
            uns = (cl_uint)nslabs, uper = (cl_uint)per, w_off = (cl_uint)ly->w_off,
            b_off = (cl_uint)ly->b_off, uP = (cl_uint)eng->nparams;
    cl_mem labels = b->labels ? b->labels : b->x, y = b->y ? b->y : b->x;
    cl_mem idx;
    cl_uint base, indexed;
    rows_by(d, b, &idx, &base, &indexed);
    hg__karg ga[] = {HG_MEM(b->x),      HG_U32(row0),      HG_U32(rows),    HG_MEM(idx),
                     HG_U32(base),      HG_U32(indexed),   HG_MEM(labels),  HG_MEM(y),
                     HG_MEM(d->params), HG_U32(w_off),     HG_U32(b_off),   HG_U32(us),
                     HG_U32(uns),       HG_U32(uper),      HG_MEM(fs->fpart),
                     HG_MEM(fs->count), HG_MEM(d->grad),   HG_U32(uP)};
    hg_status st = hg__set_args(d, fs->one, "hg_fused_one", ga, 18, err);
    size_t one = 1;
    if (st == HG_OK)
        st = hg__launch(d, fs->one, 1, &nslabs, &one, "hg_fused_one", err);
    return st;
}

static hg_status run_fused(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    fused_state *fs = d->ps;
    if (fs->one)
        return run_one(eng, d, b, err);
    const hg__layer *ly = &eng->layers[0];
    const size_t K = ly->out, F = ly->in, P = eng->nparams;
    const size_t kp = (K + d->kc.c - 1) / d->kc.c * d->kc.c;
    cl_uint w_off = (cl_uint)ly->w_off, b_off = (cl_uint)ly->b_off, uP = (cl_uint)P;

    hg__karg pa[] = {HG_MEM(d->params), HG_U32(w_off), HG_MEM(fs->wt)};
    hg_status st = hg__set_args(d, fs->prep, "hg_fused_prep", pa, 3, err);
    size_t g2[2] = {F, kp};
    if (st == HG_OK)
        st = hg__launch(d, fs->prep, 2, g2, NULL, "hg_fused_prep", err);

    size_t slab = hg__fused_slab_rows(eng, d, b->rows);
    size_t nslabs = (b->rows + slab - 1) / slab;
    size_t per = b->nrec > 1 ? b->block_rows / slab : nslabs;
    cl_uint row0 = (cl_uint)b->row, rows = (cl_uint)b->rows, us = (cl_uint)slab,
            uns = (cl_uint)nslabs, uper = (cl_uint)per, unrec = (cl_uint)b->nrec;
    /* the model's unused target buffer: any valid one */
    cl_mem labels = b->labels ? b->labels : b->x, y = b->y ? b->y : b->x;
    cl_mem idx;
    cl_uint base, indexed;
    rows_by(d, b, &idx, &base, &indexed);
    hg__karg ga[] = {HG_MEM(b->x),      HG_U32(row0),     HG_U32(rows),   HG_MEM(idx),
                     HG_U32(base),      HG_U32(indexed),  HG_MEM(labels), HG_MEM(y),
                     HG_MEM(fs->wt),    HG_MEM(d->params), HG_U32(b_off), HG_U32(us),
                     HG_U32(uns),       HG_MEM(fs->fpart)};
    if (st == HG_OK)
        st = hg__set_args(d, fs->grad, "hg_fused_grad", ga, 14, err);
    size_t one = 1;
    if (st == HG_OK)
        st = hg__launch(d, fs->grad, 1, &nslabs, &one, "hg_fused_grad", err);

    hg__karg fa[] = {HG_MEM(fs->fpart), HG_U32(uper), HG_U32(uns),   HG_MEM(d->grad),
                     HG_U32(unrec),    HG_U32(w_off), HG_U32(b_off), HG_U32(uP)};
    if (st == HG_OK)
        st = hg__set_args(d, fs->finish, "hg_fused_finish", fa, 8, err);
    size_t maxwg = d->info->max_work_group_size ? d->info->max_work_group_size : 1;
    size_t g3[2] = {K * F + K + 1, b->nrec}, l3[2] = {maxwg < 64 ? maxwg : 64, 1};
    if (st == HG_OK)
        st = hg__launch(d, fs->finish, 2, g3, l3, "hg_fused_finish", err);
    return st;
}

static void drop_workspace(void *state)
{
    fused_state *fs = state;
    if (!fs)
        return;
    hg__release_mem(&fs->wt);
    hg__release_mem(&fs->fpart);
    hg__release_mem(&fs->count);
}

static void release(void *state)
{
    fused_state *fs = state;
    if (!fs)
        return;
    drop_workspace(fs);
    cl_kernel ks[] = {fs->prep, fs->grad, fs->finish, fs->one};
    for (size_t i = 0; i < 4; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    if (fs->prog)
        clReleaseProgram(fs->prog);
    free(fs);
}

/*
 * The rows of fused.cl's column blocks (HG_RBB) on device d, 0 for none: the
 * engine's knob (1: none), else 32 on a CPU with AVX2's registers
 * (hg__narrow_cpu) where the partial weight gradient is large enough to
 * crowd the rows out of a 32 KB L1 (at least 3 classes and 8,000 bytes) and
 * the block's predictions (32 x classes floats of private memory) stay
 * small; none elsewhere.  Measured on an AMD EPYC (AVX2), POCL's basic
 * device, in a standalone program (ns a row without / with blocks of 32):
 * 784 features x 10 classes 495 / 450-455 (16 rows 465, 64 rows 454); x 20
 * classes 986 / 877; x 5 270 / 257; x 3 183 / 181; x 2 138 / 141; x 1 101 /
 * 115; 400 x 5 149 / 141; 256 x 10 194 / 185; 100 x 10 137 / 141; 200 x 3
 * 76 / 87.  AVX-512 machines were not measured with them.
 */
static unsigned column_block(const hg_engine *eng, const hg__device *d)
{
    if (eng->fused_cols)
        return eng->fused_cols == 1 ? 0 : eng->fused_cols;
    size_t K = eng->model.outputs, pw = K * eng->model.inputs * sizeof(float);
    return hg__narrow_cpu(d) && K >= 3 && K <= 64 && pw >= 8000 ? 32u : 0u;
}

static hg_status open_fused(hg_engine *eng, hg__device *d, const hg__kchoice *k,
                            void **state, hg_error *err)
{
    *state = NULL;
    fused_state *fs = calloc(1, sizeof *fs);
    size_t len = 0;
    char *src = hg__path_source_with_detmath("fused", &len);
    if (!fs || !src) {
        free(fs);
        free(src);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "kernel source 'fused'");
    }
    unsigned F = (unsigned)eng->model.inputs, K = (unsigned)eng->model.outputs;
    unsigned kp = (K + k->c - 1) / k->c * k->c;
    bool soft = eng->model.kind == HG_MODEL_SOFTMAX;
    char opt[256];
    /* Oclgrind's uninitialised-value plugin crashes on 16-wide shuffles: the
       lane sums go through memory there (same bits; see fused.cl) */
    bool oclgrind = strstr(d->info->platform_name, "Oclgrind") != NULL;
    /* the next rows fetched during the backward pass on CPU devices (fused.cl's
       HG_PREFETCH_NEXT: the forward pass waited on the rows' memory reads) */
    bool prefetch = hg__fetch_ahead(eng, d);
    char cols[48] = "";
    unsigned rbb = column_block(eng, d);
    if (rbb) /* the classes a column pass: at most 6 (12 of AVX2's 16 registers) */
        snprintf(cols, sizeof cols, " -DHG_RBB=%u -DHG_BC=%u", rbb,
                 (K + (K + 5) / 6 - 1) / ((K + 5) / 6));
    snprintf(opt, sizeof opt,
             "-cl-std=CL1.2 -DHG_F=%u -DHG_K=%u -DHG_KP=%u -DHG_KC=%u -DHG_RF=%u -DHG_RB=%u "
             "-D%s%s%s%s%s%s", F, K, kp, k->c, k->a, k->b, soft ? "HG_SOFTMAX" : "HG_LINEAR",
             oclgrind ? " -DHG_HSUM_STORE" : "", prefetch ? " -DHG_PREFETCH" : "",
             k->one ? " -DHG_ONE" : "", cols, hg__path_broken_option(eng, k));
    snprintf(fs->label, sizeof fs->label, "fused-%s-%ux%u-r%ub%uk%u%s",
             soft ? "softmax" : "linear", F, K, k->a, k->b, k->c, k->one ? "-one" : "");
    hg_status st = hg__path_build(eng, d, src, len, fs->label, opt, &fs->prog, err);
    free(src);
    if (st == HG_OK && k->one)
        st = hg__make_kernel(d, fs->prog, "hg_fused_one", &fs->one, err);
    if (st == HG_OK && !k->one)
        st = hg__make_kernel(d, fs->prog, "hg_fused_prep", &fs->prep, err);
    if (st == HG_OK && !k->one)
        st = hg__make_kernel(d, fs->prog, "hg_fused_grad", &fs->grad, err);
    if (st == HG_OK && !k->one)
        st = hg__make_kernel(d, fs->prog, "hg_fused_finish", &fs->finish, err);
    if (st != HG_OK) {
        release(fs);
        return st;
    }
    *state = fs;
    return HG_OK;
}

/* The one kernel's counters, one per record (no more records than slabs),
   created zero from host memory (the kernel leaves them zero): no command on
   the queue, and every runtime (Oclgrind's uninitialised-value checks
   included) sees them written. */
static hg_status counters(hg__device *d, fused_state *fs, size_t n, hg_error *err)
{
    hg__release_mem(&fs->count);
    cl_uint *zero = calloc(n ? n : 1, sizeof *zero);
    if (!zero)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "slab counters on %s", d->what);
    cl_int rc = CL_SUCCESS;
    fs->count = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                               (n ? n : 1) * sizeof *zero, zero, &rc);
    free(zero);
    if (rc != CL_SUCCESS || !fs->count) {
        fs->count = NULL;
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_MEM_OBJECT_ALLOCATION_FAILURE,
                           "clCreateBuffer(slab counters, %zu bytes) on %s",
                           (n ? n : 1) * sizeof *zero, d->what);
    }
    return HG_OK;
}

/* The transposed weights (three kernels) or the slab counters (one kernel),
   and the slabs' partial sums, for batches of rows rows. */
static hg_status workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    fused_state *fs = d->ps;
    const hg_model_desc *m = &eng->model;
    const size_t f = sizeof(float), P = eng->nparams, slabs = hg__fused_max_slabs(eng, d, rows);
    size_t K = m->outputs, kp = (K + d->kc.c - 1) / d->kc.c * d->kc.c;
    hg_status st = fs->one ? counters(d, fs, slabs, err)
                           : hg__alloc_mem(d, &fs->wt, kp * m->inputs * f, "transposed weights",
                                           err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &fs->fpart, slabs * (P + 1) * f, "slab partial sums", err);
    return st;
}

static bool program(const void *state, size_t i, cl_program *prog, const char **label)
{
    const fused_state *fs = state;
    if (!fs || i > 0 || !fs->prog)
        return false;
    *prog = fs->prog;
    *label = fs->label;
    return true;
}

const hg__path_ops hg__ops_fused = {"fused", open_fused, workspace, run_fused,
                                    drop_workspace, release, program, true};
