/* SPDX-License-Identifier: MIT */
/*
 * mlp_small.c - the MLP's small-batch path (path_ops.h, cl/mlp_small.cl):
 * an MLP with one hidden layer in three kernel launches per batch record
 * instead of the tiled path's eleven (a transpose, two forward GEMMs, the
 * output kernel, two weight-gradient GEMMs, two column sums with their two
 * finishes, the backprop GEMM).  At 128 rows the tiled path's step is mostly
 * launch and synchronisation cost on POCL's CPU devices, so fewer launches
 * pay there; at large batches they do not matter, and calibration races
 * this path against the tiled shapes and CLBlast at the engine's batch size
 * (kchoice.c offers it only when the batch size is known) so that it is
 * kept only where it wins.
 *
 *   1. hg_gemm_nn (gemm.cl, the choice's tile): H = relu(X W1 + b1);
 *   2. hg_mlps_head: logits, softmax loss, G2 and G1 = (G2 W2^T) * ReLU'(H),
 *      16 rows a work-item, a row a vector lane;
 *   3. hg_mlps_grad: dW1, dW2, b1, b2 and the loss of a record in one
 *      launch (weight-gradient tiles, column sums and the loss sum side by
 *      side in one 2-D range).
 *
 * The same operations in the same order as the tiled path, so the same bits
 * (cl/mlp_small.cl), in deterministic mode too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"

#define WM 16u /* rows of a weight-gradient tile (HG_WM) */

/* The path's state (hg__device.ps). */
typedef struct mlps_state {
    cl_program prog[2];     /* [0] gemm.cl with the choice's tile, [1] mlp_small.cl */
    char       label[2][64];
    cl_kernel  gnn;         /* hg_gemm_nn */
    unsigned   tm, tn;      /* its tile: the choice's */
    cl_kernel  head, grad;  /* hg_mlps_head, hg_mlps_grad */
} mlps_state;

bool hg__mlp_small_fits(const hg_engine *eng)
{
    return eng->model.kind == HG_MODEL_MLP && eng->nlayers == 2 &&
           eng->layers[1].out >= 1 && eng->layers[1].out <= HG__MLP_SMALL_MAX_CLASSES;
}

/*
 * C (m x n) = A (m x k, from row offset aoff) W + b, with the epilogue flags
 * (gemm.cl: 1 bias, 2 ReLU), on the path's hg_gemm_nn with the choice's tile.
 */
static hg_status gemm_nn(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, size_t aoff,
                         cl_mem c, size_t w_off, size_t b_off, cl_uint flags, hg_error *err)
{
    mlps_state *ms = d->ps;
    if (aoff > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "hg_gemm_nn on %s: offset beyond 2^32",
                             d->what);
    cl_uint um = (cl_uint)m, un = (cl_uint)n, uk = (cl_uint)k, ua = (cl_uint)aoff,
            uw = (cl_uint)w_off, ubo = (cl_uint)b_off, zero = 0;
    /* consecutive rows (this path gathers an index step's rows first) */
    hg__karg args[] = {HG_U32(um),  HG_U32(un),  HG_U32(uk),  HG_MEM(a),         HG_U32(ua),
                       HG_U32(uk),  HG_MEM(a),   HG_U32(zero), HG_U32(zero),     HG_U32(zero),
                       HG_MEM(d->params), HG_U32(uw), HG_U32(un), HG_MEM(c),
                       HG_U32(zero), HG_U32(un), HG_MEM(d->params), HG_U32(ubo),
                       HG_MEM(d->params), HG_U32(zero), HG_U32(zero), HG_U32(flags)};
    hg_status st = hg__set_args(d, ms->gnn, "hg_gemm_nn", args, 22, err);
    size_t tm = ms->tm, tn = ms->tn;
    size_t gws[2] = {(n + tn - 1) / tn, (m + tm - 1) / tm};
    size_t one[2] = {1, 1}; /* as tiled.c: one work-item per group on CPUs */
    if (st == HG_OK)
        st = hg__launch(d, ms->gnn, 2, gws, d->info->type == HG_DEVICE_CPU ? one : NULL,
                        "hg_gemm_nn", err);
    return st;
}

/* H = relu(X W1 + b1) for the batch's rows. */
static hg_status forward(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    const hg__layer *ly = &eng->layers[0];
    return gemm_nn(d, b->rows, ly->out, ly->in, b->x, b->row * ly->in, d->act[0], ly->w_off,
                   ly->b_off, 3u /* bias + ReLU */, err);
}

bool hg__mlp_small_ready(const hg__device *d)
{
    const mlps_state *ms = d->ops == &hg__ops_mlp_small ? d->ps : NULL;
    return ms && ms->gnn;
}

hg_status hg__mlp_small_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a,
                                cl_mem c, size_t w_off, size_t b_off, bool relu, hg_error *err)
{
    return gemm_nn(d, m, n, k, a, 0, c, w_off, b_off, relu ? 3u : 1u, err);
}

/* Logits, loss, G2 into d->act[1] and G1 into d->pingpong[0]. */
static hg_status head(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    mlps_state *ms = d->ps;
    const hg__layer *out = &eng->layers[1];
    cl_uint um = (cl_uint)b->rows, hid = (cl_uint)out->in, w2 = (cl_uint)out->w_off,
            b2 = (cl_uint)out->b_off, loff = (cl_uint)b->row;
    hg__karg args[] = {HG_MEM(d->act[0]),  HG_U32(um),         HG_U32(hid),
                       HG_MEM(d->params),  HG_U32(w2),         HG_U32(b2),
                       HG_MEM(b->labels),  HG_U32(loff),       HG_MEM(d->act[1]),
                       HG_MEM(d->pingpong[0]), HG_MEM(d->loss)};
    hg_status st = hg__set_args(d, ms->head, "hg_mlps_head", args, 11, err);
    /* 16 rows a work-item; one work-item a group on CPUs (as tiled.c's GEMMs) */
    size_t gws = (b->rows + 15) / 16, one = 1;
    return st == HG_OK ? hg__launch(d, ms->head, 1, &gws,
                                    d->info->type == HG_DEVICE_CPU ? &one : NULL,
                                    "hg_mlps_head", err)
                       : st;
}

/* The gradient record r of batch b: its rows [lo, lo + n). */
static hg_status record(hg_engine *eng, hg__device *d, const hg__batch *b, size_t r,
                        size_t lo, size_t n, hg_error *err)
{
    mlps_state *ms = d->ps;
    const hg__layer *l1 = &eng->layers[0], *l2 = &eng->layers[1];
    const size_t P = eng->nparams, rec = r * (P + 1), xoff = (b->row + lo) * l1->in;
    if (xoff > 0xffffffffu || rec + P > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "hg_mlps_grad on %s: offset beyond 2^32",
                             d->what);
    size_t t1 = (l1->in + WM - 1) / WM, t2 = (l1->out + WM - 1) / WM;
    cl_uint ux = (cl_uint)xoff, uin = (cl_uint)l1->in, ulo = (cl_uint)lo, un = (cl_uint)n,
            hid = (cl_uint)l1->out, cb = (cl_uint)hg__colsum_block(eng), ut1 = (cl_uint)t1,
            ut2 = (cl_uint)t2, urec = (cl_uint)rec, w1 = (cl_uint)l1->w_off,
            b1 = (cl_uint)l1->b_off, w2 = (cl_uint)l2->w_off, b2 = (cl_uint)l2->b_off,
            lossoff = (cl_uint)P;
    hg__karg args[] = {HG_MEM(b->x),   HG_U32(ux),  HG_U32(uin), HG_MEM(d->act[0]),
                       HG_MEM(d->pingpong[0]), HG_MEM(d->act[1]), HG_MEM(d->loss),
                       HG_U32(ulo),    HG_U32(un),  HG_U32(hid), HG_U32(cb),  HG_U32(ut1),
                       HG_U32(ut2),    HG_MEM(d->grad), HG_U32(urec), HG_U32(w1),
                       HG_U32(b1),     HG_U32(w2),  HG_U32(b2),  HG_U32(lossoff)};
    hg_status st = hg__set_args(d, ms->grad, "hg_mlps_grad", args, 20, err);
    size_t cols = l1->out > l2->out ? l1->out : l2->out;
    size_t gws[2] = {(cols + 15) / 16, t1 + t2 + 2};
    size_t one[2] = {1, 1};
    if (st == HG_OK)
        st = hg__launch(d, ms->grad, 2, gws, d->info->type == HG_DEVICE_CPU ? one : NULL,
                        "hg_mlps_grad", err);
    return st;
}

static hg_status run_mlps(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    if (!d->ps || !hg__mlp_small_fits(eng)) /* hg__kchoice_valid lets no such choice through */
        return hg__error_set(err, HG_INTERNAL, 0, "%s: the small-batch MLP path for a model "
                             "it does not fit", d->what);
    hg_status st = forward(eng, d, b, err);
    if (st == HG_OK)
        st = head(eng, d, b, err);
    const size_t m = b->rows, B = b->block_rows;
    for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
        size_t lo = r * B, n = b->nrec == 1 ? m : (m - lo < B ? m - lo : B);
        st = record(eng, d, b, r, b->nrec == 1 ? 0 : lo, n, err);
    }
    return st;
}

static void no_workspace(void *state)
{
    (void)state; /* its buffers are the shared layer workspace */
}

static void release(void *state)
{
    mlps_state *ms = state;
    if (!ms)
        return;
    cl_kernel ks[] = {ms->gnn, ms->head, ms->grad};
    for (size_t i = 0; i < 3; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    for (size_t i = 0; i < 2; i++)
        if (ms->prog[i])
            clReleaseProgram(ms->prog[i]);
    free(ms);
}

/* Build gemm.cl with the choice's tile and mlp_small.cl for the model's classes. */
static hg_status build(hg_engine *eng, hg__device *d, const hg__kchoice *k, mlps_state *ms,
                       hg_error *err)
{
    size_t len = 0;
    const char *gsrc = hg__kernel_source("gemm", &len);
    if (!gsrc)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'gemm' missing");
    char opt[160];
    ms->tm = k->a;
    ms->tn = k->b;
    snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_TM=%u -DHG_TN=%u", ms->tm, ms->tn);
    snprintf(ms->label[0], sizeof ms->label[0], "tiled-%ux%u", ms->tm, ms->tn);
    hg_status st = hg__path_build(eng, d, gsrc, len, ms->label[0], opt, &ms->prog[0], err);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[0], "hg_gemm_nn", &ms->gnn, err);
    if (st != HG_OK)
        return st;
    size_t mlen = 0;
    char *msrc = hg__path_source_with_detmath("mlp_small", &mlen);
    if (!msrc)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'mlp_small' missing");
    unsigned classes = (unsigned)eng->layers[1].out;
    snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_K=%u -DHG_WM=%u%s", classes, WM,
             hg__path_broken_option(eng, k));
    snprintf(ms->label[1], sizeof ms->label[1], "mlp-small-k%u", classes);
    st = hg__path_build(eng, d, msrc, mlen, ms->label[1], opt, &ms->prog[1], err);
    free(msrc);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[1], "hg_mlps_head", &ms->head, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, ms->prog[1], "hg_mlps_grad", &ms->grad, err);
    return st;
}

static hg_status open_mlps(hg_engine *eng, hg__device *d, const hg__kchoice *k, void **state,
                           hg_error *err)
{
    *state = NULL;
    if (!hg__mlp_small_fits(eng))
        return hg__error_set(err, HG_INTERNAL, 0, "%s: the small-batch MLP path for a model "
                             "it does not fit", d->what);
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
    if (!ms || i > 1 || !ms->prog[i])
        return false;
    *prog = ms->prog[i];
    *label = ms->label[i];
    return true;
}

const hg__path_ops hg__ops_mlp_small = {"mlp-small", open_mlps, hg__layer_workspace, run_mlps,
                                        no_workspace, release, program, false};
