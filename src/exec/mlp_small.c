/* SPDX-License-Identifier: MIT */
/*
 * mlp_small.c - the MLP's small-batch path (path_ops.h, cl/mlp_small.cl):
 * an MLP with one hidden layer in three kernel launches per batch record
 * instead of the tiled path's twelve (a transpose, two forward GEMMs, the
 * output kernel, the batch's transpose, two weight-gradient GEMMs, two column
 * sums with their two finishes, the backprop GEMM).  At 128 rows the tiled
 * path's step is mostly its two large GEMMs and, on POCL's CPU devices, the
 * launch cost and the narrow GEMMs of the output layer; this path keeps the
 * two large GEMMs (the choice's tile, an index step's rows read in place) and
 * does the output layer in two kernels.  Calibration races it against the
 * tiled shapes and CLBlast at the engine's batch size (kchoice.c offers it
 * only when the batch size is known and small), so it is kept only where it
 * wins.
 *
 *   1. hg_gemm_nn (gemm.cl, the choice's tile): H = relu(X W1 + b1);
 *   2. hg_mlps_head, 16 rows a work-item: X^T (its rows' columns, in 16 x 16
 *      blocks: cl/transpose.cl), then logits, softmax loss, G2 and
 *      G1 = (G2 W2^T) * ReLU'(H), W2^T taken 16 hidden units at a time into
 *      private memory.  Both transposes were launches of hg_gather_t of their
 *      own, each a wait for the device's threads on POCL's pthread device
 *      (docs/kernels.md, "The transposes in the head");
 *   3. hg_mlps_wgrad, per record: dW1 = X^T G1 by gemm.cl's hg_gemm_nn
 *      blocks (the choice's tile) on X^T (the same fma chain as hg_gemm_tn
 *      on X, which reads X a whole data row per step: about 6% of the MLP's
 *      training step at batch 128 on one thread), and in the same launch
 *      the tail's work-items: dW2, b1, b2 and the loss.  The tail was a
 *      launch of its own; in the GEMM's it saves a command, on POCL's CPU
 *      devices a hand-off to the device's threads (docs/kernels.md, "The
 *      tail in the weight gradient's launch").  Its program is mlp_small.cl
 *      after gemm.cl with the choice's tile (HG_MLPS_WGRAD); the head's is
 *      built once for the classes, without gemm.cl.
 *
 * On a CPU device with several threads and 16-float vectors (AVX-512), the
 * head writes no X^T and step 3 is hg_gemm_tn on X's rows in place
 * (hg__mlp_small_in_place; hg_mlps_wgrad runs hg_gemm_tn's blocks): there
 * the transpose was a command more (each costs a hand-off to the device's
 * threads) and its output is written by one core and read by another, which
 * cost more than the strided reads (measured on an Intel Xeon with AVX-512,
 * while the transpose was its own launch).
 * With AVX2's 8-float vectors (hg__narrow_cpu; the race's tiles are 16
 * columns wide there) it is the other way round: on an AMD EPYC with AVX2 the
 * step took 0.99-1.02 ms with the transpose, 1.31-1.32 ms in place
 * (docs/kernels.md, "The small-batch weight gradient in place").
 *
 * Where hg__gemm_packs says so (a CPU device, a batch of at least
 * HG__PACK_MIN_ROWS rows), step 1 reads W1 and step 3 reads G1 packed in
 * strips of the tile's width (hg_pack_b; not in place).
 *
 * The same operations in the same order as the tiled path, so the same bits
 * (cl/mlp_small.cl), in deterministic mode too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"

/* HEAD_ARGS: hg_mlps_head's arguments since it takes the transposes itself
   (2026-12-06; 16 before).  A prebuilt program older than that (binary_dir,
   docs/programs.md) has the head's old arguments: refused, not run. */
#define HEAD_ARGS 19u

/* The path's programs (mlps_state.prog). */
#define NPROG 3u

/* The path's state (hg__device.ps). */
typedef struct mlps_state {
    cl_program prog[NPROG]; /* [0] gemm.cl with the choice's tile, [1] mlp_small.cl's
                               head, [2] its hg_mlps_wgrad after gemm.cl with the tile */
    char       label[NPROG][64];
    cl_kernel  gnn, gtn;    /* hg_gemm_nn, hg_gemm_tn */
    unsigned   tm, tn;      /* the GEMM's tile: the choice's */
    cl_kernel  head;        /* hg_mlps_head */
    cl_kernel  wgrad;       /* hg_mlps_wgrad: a record's dW1 GEMM and the rest of its
                               gradient in one launch */
    cl_kernel  pack;        /* hg_pack_b of [0]; NULL from a prebuilt program */
    cl_mem     xt;          /* the batch's X^T (inputs x rows); NULL in place */
    cl_mem     wp, gp;      /* W1 and G1 packed in strips (hg__gemm_pack); NULL where
                               the workspace's batches do not pack, gp in place */
    bool       in_place;    /* the workspace's hg__mlp_small_in_place: no X^T */
} mlps_state;

bool hg__mlp_small_fits(const hg_engine *eng)
{
    return eng->model.kind == HG_MODEL_MLP && eng->nlayers == 2 &&
           eng->layers[1].out >= 1 && eng->layers[1].out <= HG__MLP_SMALL_MAX_CLASSES;
}

/* C (m x n) = A (m x k; rows through ar, or from row offset aoff) W + b, with
   the epilogue flags (gemm.cl: 1 bias, 2 ReLU), on the choice's hg_gemm_nn; W
   from the parameters at w_off, or (packed) ms->wp, W packed there first. */
static hg_status gemm_nn(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, size_t aoff,
                         const hg__arows *ar, cl_mem c, size_t w_off, size_t b_off,
                         cl_uint flags, bool packed, hg_error *err)
{
    mlps_state *ms = d->ps;
    hg__gemm_args g = {.m = m, .n = n, .k = k, .a = a, .aoff = aoff, .lda = k, .ar = ar,
                       .b = d->params, .boff = w_off, .ldb = n, .c = c, .ldc = n,
                       .bias_off = b_off, .flags = flags};
    hg_status st = packed ? hg__gemm_pack_args(d, ms->pack, ms->tn, &g, ms->wp, 0, err) : HG_OK;
    return st == HG_OK ? hg__gemm_call(d, ms->gnn, ms->tm, ms->tn, &g, err) : st;
}

/* Whether this batch of m rows packs W1 (and, not in place, G1). */
static bool packs(const hg_engine *eng, const hg__device *d, size_t m)
{
    const mlps_state *ms = d->ps;
    return ms->wp && hg__gemm_packs(d, m, eng->layers[0].out, ms->tn);
}

bool hg__mlp_small_in_place(const hg__device *d)
{
    if (d->first_wgrad)
        return d->first_wgrad == 2;
    return hg__cpu_threads(d) > 1 && !hg__narrow_cpu(d);
}

bool hg__mlp_small_ready(const hg__device *d)
{
    const mlps_state *ms = d->ops == &hg__ops_mlp_small ? d->ps : NULL;
    return ms && ms->gnn;
}

hg_status hg__mlp_small_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a,
                                cl_mem c, size_t w_off, size_t b_off, bool relu, hg_error *err)
{
    return gemm_nn(d, m, n, k, a, 0, NULL, c, w_off, b_off, relu ? 3u : 1u, false, err);
}

/* Logits, loss, G2 into d->act[1], G1 into d->pingpong[0] and (not in place) X^T
   into ms->xt. */
static hg_status head(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    mlps_state *ms = d->ps;
    const hg__layer *in = &eng->layers[0], *out = &eng->layers[1];
    cl_uint um = (cl_uint)b->rows, hid = (cl_uint)out->in, w2 = (cl_uint)out->w_off,
            b2 = (cl_uint)out->b_off, wend = (cl_uint)eng->nparams, loff = (cl_uint)b->row,
            base = (cl_uint)b->base, indexed = b->idx ? 1u : 0u, cols = (cl_uint)in->in,
            xt_on = ms->in_place ? 0u : 1u;
    cl_mem idx = b->idx ? b->idx : d->params; /* any buffer when not indexed */
    cl_mem xt = ms->xt ? ms->xt : d->params;  /* any buffer in place: not written */
    hg__karg args[] = {HG_MEM(d->act[0]),  HG_U32(um),        HG_U32(hid),
                       HG_MEM(d->params),  HG_U32(w2),        HG_U32(b2),
                       HG_U32(wend),       HG_MEM(b->labels), HG_U32(loff),
                       HG_MEM(idx),        HG_U32(base),      HG_U32(indexed),
                       HG_MEM(d->act[1]),  HG_MEM(d->pingpong[0]), HG_MEM(d->loss),
                       HG_MEM(b->x),       HG_U32(cols),      HG_MEM(xt),
                       HG_U32(xt_on)};
    _Static_assert(sizeof args / sizeof args[0] == HEAD_ARGS, "hg_mlps_head's arguments");
    hg_status st = hg__set_args(d, ms->head, "hg_mlps_head", args, HEAD_ARGS, err);
    /* 16 rows a work-item; one work-item a group on CPUs (as the GEMMs) */
    size_t gws = (b->rows + 15) / 16, one = 1;
    return st == HG_OK ? hg__launch(d, ms->head, 1, &gws,
                                    d->info->type == HG_DEVICE_CPU ? &one : NULL,
                                    "hg_mlps_head", err)
                       : st;
}

/* The gradient record r of batch b, rows [lo, lo + n): dW1 on the choice's
   tile, on X's rows in place (hg_gemm_tn's blocks) or from X^T (hg_gemm_nn's;
   G1 from ms->gp, packed, where gp), and the rest of the record beside it in
   the same launch (hg_mlps_wgrad). */
static hg_status record(hg_engine *eng, hg__device *d, const hg__batch *b, size_t r,
                        size_t lo, size_t n, bool gp, hg_error *err)
{
    mlps_state *ms = d->ps;
    const hg__layer *l1 = &eng->layers[0], *l2 = &eng->layers[1];
    const size_t P = eng->nparams, rec = r * (P + 1);
    if (rec + P > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "hg_mlps_wgrad on %s: offset beyond 2^32",
                             d->what);
    cl_uint ulo = (cl_uint)lo, un = (cl_uint)n, hid = (cl_uint)l1->out,
            cb = (cl_uint)hg__colsum_block(eng), urec = (cl_uint)rec, b1 = (cl_uint)l1->b_off,
            w2 = (cl_uint)l2->w_off, b2 = (cl_uint)l2->b_off, lossoff = (cl_uint)P,
            ta = ms->in_place ? 1u : 0u;
    hg__karg args[] = {HG_MEM(d->act[0]), HG_MEM(d->pingpong[0]), HG_MEM(d->act[1]),
                       HG_MEM(d->loss),   HG_U32(ulo),  HG_U32(un),   HG_U32(hid),
                       HG_U32(cb),        HG_U32(urec), HG_U32(b1),   HG_U32(w2),
                       HG_U32(b2),        HG_U32(lossoff), HG_U32(ta)};
    const hg__gemm_extra tail = {ms->wgrad, "hg_mlps_wgrad", args, sizeof args / sizeof args[0],
                                 (l1->out + 15) / 16 + (l1->out + 63) / 64 +
                                     (l2->out + 15) / 16};
    const hg__arows in_place = {b->idx, 0, b->base};
    return ms->in_place
               ? hg__gemm_weight_grad(d, ms->gtn, ms->tm, ms->tn, l1, b->x,
                                      b->idx ? 0 : b->row * l1->in, b->idx ? &in_place : NULL,
                                      d->pingpong[0], lo, n, rec, &tail, err)
               : hg__gemm_weight_grad_t(d, ms->gnn, ms->tm, ms->tn, l1, ms->xt, b->rows,
                                        gp ? ms->gp : d->pingpong[0], gp ? b->rows : 0, lo,
                                        n, rec, &tail, err);
}

static hg_status run_mlps(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    if (!d->ps || !hg__mlp_small_fits(eng)) /* hg__kchoice_valid lets no such choice through */
        return hg__error_set(err, HG_INTERNAL, 0, "%s: the small-batch MLP path for a model "
                             "it does not fit", d->what);
    mlps_state *ms = d->ps;
    const hg__layer *l1 = &eng->layers[0];
    const hg__arows in_place = {b->idx, 0, b->base};
    const size_t m = b->rows, B = b->block_rows;
    const bool pk = packs(eng, d, m), gp = pk && ms->gp;
    /* H = relu(X W1 + b1), an index step's rows read in place */
    hg_status st = gemm_nn(d, m, l1->out, l1->in, b->x, b->idx ? 0 : b->row * l1->in,
                           b->idx ? &in_place : NULL, d->act[0], l1->w_off, l1->b_off, 3u, pk,
                           err);
    if (st == HG_OK) /* and X^T for the weight gradient */
        st = head(eng, d, b, err);
    if (st == HG_OK && gp)
        st = hg__gemm_pack(d, ms->pack, ms->tn, m, l1->out, d->pingpong[0], 0, l1->out,
                           ms->gp, 0, err);
    for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
        size_t lo = r * B, n = b->nrec == 1 ? m : (m - lo < B ? m - lo : B);
        st = record(eng, d, b, r, b->nrec == 1 ? 0 : lo, n, gp, err);
    }
    return st;
}

/* The layers' workspace, X^T (none in place), and W1 and G1 packed where
   batches of rows rows pack (hg__gemm_packs grows with the rows). */
static hg_status workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    mlps_state *ms = d->ps;
    const hg__layer *l1 = &eng->layers[0];
    hg_status st = hg__layer_workspace(eng, d, rows, err);
    ms->in_place = hg__mlp_small_in_place(d);
    if (st == HG_OK && !ms->in_place)
        st = hg__alloc_mem(d, &ms->xt, l1->in * rows * sizeof(float), "transposed batch",
                           err);
    const bool pk = ms->pack && hg__gemm_packs(d, rows, l1->out, ms->tn);
    if (st == HG_OK && pk)
        st = hg__alloc_mem(d, &ms->wp, l1->in * l1->out * sizeof(float), "packed weights",
                           err);
    if (st == HG_OK && pk && !ms->in_place)
        st = hg__alloc_mem(d, &ms->gp, rows * l1->out * sizeof(float), "packed gradient",
                           err);
    return st;
}

static void drop_workspace(void *state)
{
    mlps_state *ms = state;
    if (!ms)
        return;
    hg__release_mem(&ms->xt);
    hg__release_mem(&ms->wp);
    hg__release_mem(&ms->gp);
}

static void release(void *state)
{
    mlps_state *ms = state;
    if (!ms)
        return;
    drop_workspace(ms);
    cl_kernel ks[] = {ms->gnn, ms->gtn, ms->head, ms->pack, ms->wgrad};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    for (size_t i = 0; i < NPROG; i++)
        if (ms->prog[i])
            clReleaseProgram(ms->prog[i]);
    free(ms);
}

hg_status hg__mlp_small_check_head(const hg__device *d, cl_kernel head, const char *label,
                                   hg_error *err)
{
    cl_uint n = 0;
    cl_int rc = clGetKernelInfo(head, CL_KERNEL_NUM_ARGS, sizeof n, &n, NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clGetKernelInfo(hg_mlps_head, CL_KERNEL_NUM_ARGS) on %s",
                           d->what);
    if (n != HEAD_ARGS)
        return hg__error_set(err, HG_BUILD, 0, "%s's %s program has an hg_mlps_head of %u "
                             "arguments, this hetgrad's takes %u: a prebuilt binary of an "
                             "older hetgrad (export the binaries again, docs/programs.md)",
                             d->what, label, n, HEAD_ARGS);
    return HG_OK;
}

/* Build gemm.cl with the choice's tile, mlp_small.cl's head for the model's classes and
   its hg_mlps_wgrad for both. */
static hg_status build(hg_engine *eng, hg__device *d, const hg__kchoice *k, mlps_state *ms,
                       hg_error *err)
{
    ms->tm = k->a;
    ms->tn = k->b;
    hg_status st = hg__gemm_build(eng, d, ms->tm, ms->tn, ms->label[0], sizeof ms->label[0],
                                  &ms->prog[0], err);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[0], "hg_gemm_nn", &ms->gnn, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[0], "hg_gemm_tn", &ms->gtn, err);
    /* a prebuilt program may predate hg_pack_b: hg__gemm_packs refuses it anyway */
    if (st == HG_OK && !d->offline)
        st = hg__make_kernel(d, ms->prog[0], "hg_pack_b", &ms->pack, err);
    if (st != HG_OK)
        return st;
    size_t mlen = 0;
    char *msrc = hg__path_source_with_transpose("mlp_small", &mlen);
    if (!msrc)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'mlp_small' missing");
    unsigned classes = (unsigned)eng->layers[1].out;
    char opt[160];
    /* the head's rows a pass: 4 where 16 float16 accumulators would spill
       (on an AMD EPYC, AVX2, 128 rows: 59 us with 16, 45 with 8, 34 with 4) */
    unsigned hr = eng->head_rows ? eng->head_rows : hg__narrow_cpu(d) ? 4u : 16u;
    snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_K=%u -DHG_HR=%uu%s%s", classes, hr,
             hg__gt_scalar_option(d), hg__path_broken_option(eng, k));
    snprintf(ms->label[1], sizeof ms->label[1], "mlp-small-k%u", classes);
    st = hg__path_build(eng, d, msrc, mlen, ms->label[1], opt, &ms->prog[1], err);
    free(msrc);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[1], "hg_mlps_head", &ms->head, err);
    if (st == HG_OK)
        st = hg__mlp_small_check_head(d, ms->head, ms->label[1], err);
    if (st != HG_OK)
        return st;
    /* the weight gradient's launch: gemm.cl's blocks with the choice's tile */
    msrc = hg__path_source_with_gemm("mlp_small", &mlen);
    if (!msrc)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernels 'gemm', 'mlp_small' "
                             "missing");
    snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_MLPS_WGRAD -DHG_TM=%u -DHG_TN=%u -DHG_K=%u%s%s",
             ms->tm, ms->tn, classes, hg__gemm_prefetch_option(eng, d),
             hg__path_broken_option(eng, k));
    snprintf(ms->label[2], sizeof ms->label[2], "mlp-wgrad-k%u-%ux%u", classes, ms->tm,
             ms->tn);
    st = hg__path_build(eng, d, msrc, mlen, ms->label[2], opt, &ms->prog[2], err);
    free(msrc);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[2], "hg_mlps_wgrad", &ms->wgrad, err);
    return st;
}

static hg_status open_mlps(hg_engine *eng, hg__device *d, const hg__kchoice *k, void **state,
                           hg_error *err)
{
    *state = NULL;
    if (!hg__mlp_small_fits(eng))
        return hg__error_set(err, HG_INTERNAL, 0, "%s: the small-batch MLP path for a model "
                             "it does not fit", d->what);
    /* no hg__gemm_ready: the head takes both transposes, so this path needs no
       hg_gather_t of the model program */
    mlps_state *ms = calloc(1, sizeof *ms);
    if (!ms)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "small-batch MLP kernels on %s",
                             d->what);
    hg_status st = build(eng, d, k, ms, err);
    if (st != HG_OK) {
        release(ms);
        return st;
    }
    *state = ms;
    return HG_OK;
}

static bool program(const void *state, size_t i, cl_program *prog, const char **label)
{
    const mlps_state *ms = state;
    if (!ms || i >= NPROG || !ms->prog[i])
        return false;
    *prog = ms->prog[i];
    *label = ms->label[i];
    return true;
}

const hg__path_ops hg__ops_mlp_small = {"mlp-small", open_mlps, workspace, run_mlps,
                                        drop_workspace, release, program, true};
