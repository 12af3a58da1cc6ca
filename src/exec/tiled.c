/* SPDX-License-Identifier: MIT */
/*
 * tiled.c - the MLP on hetgrad's register-tiled GEMM (cl/gemm.cl): forward
 * GEMMs with the bias and ReLU fused into their epilogue, the weight
 * gradient as A^T G (one GEMM per record, so that a deterministic block's
 * sum is its own), and backprop as G W^T (W transposed once per batch) with
 * the ReLU derivative fused as a mask.  Every element is a sequential fma
 * chain, so the bits do not depend on the block shape or the device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"

/* Tiled GEMM block for layers narrower than 16 columns. */
#define NARROW_TM 8u
#define NARROW_TN 8u

/* The tiled path's state (hg__device.ps): its programs, kernels and buffers. */
typedef struct tiled_state {
    cl_program prog[2];       /* [0] the choice's block, [1] the narrow 8 x 8 block */
    char       label[2][64];
    cl_kernel  gnn[2], gtn[2]; /* hg_gemm_nn, hg_gemm_tn of each program */
    cl_kernel  gtr;           /* hg_transpose (program 0) */
    cl_mem     wt;            /* transposed weights, P floats */
} tiled_state;

#ifndef TN_CHUNK
#define TN_CHUNK 256u /* rows of K per weight-gradient call */
#endif

/* Where op(A)'s rows are (gemm.cl's hg_arow): consecutive (idx NULL), or an
   index step's rows read in place: row i is row idx[ioff + i] - base. */
typedef struct arows {
    cl_mem idx;
    size_t ioff, base;
} arows;

static const arows consecutive = {NULL, 0, 0};

/* C = op(A) B (+ epilogue flags: 1 bias, 2 ReLU, 4 mask; 8: C += ...), row-major. */
static hg_status gemm(hg__device *d, bool ta, size_t m, size_t n, size_t k, cl_mem a,
                      size_t aoff, size_t lda, const arows *ar, cl_mem bm, size_t boff,
                      size_t ldb, cl_mem c, size_t coff, size_t ldc, size_t bias_off,
                      cl_mem mask, size_t ldm, cl_uint flags, hg_error *err)
{
    tiled_state *ts = d->ps;
    int w = n < d->kc.b ? 1 : 0; /* products narrower than a block: the 8 x 8 program */
    size_t tm = w ? NARROW_TM : d->kc.a, tn = w ? NARROW_TN : d->kc.b;
    cl_kernel kern = ta ? ts->gtn[w] : ts->gnn[w];
    const char *name = ta ? "hg_gemm_tn" : "hg_gemm_nn";
    if (aoff > 0xffffffffu || boff > 0xffffffffu || coff > 0xffffffffu ||
        ar->ioff > 0xffffffffu || ar->base > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "%s on %s: offset beyond 2^32", name, d->what);
    cl_uint um = (cl_uint)m, un = (cl_uint)n, uk = (cl_uint)k, ua = (cl_uint)aoff,
            ula = (cl_uint)lda, ub = (cl_uint)boff, ulb = (cl_uint)ldb, uc = (cl_uint)coff,
            ulc = (cl_uint)ldc, ubo = (cl_uint)bias_off, zero = 0, ulm = (cl_uint)ldm;
    cl_mem mk = mask ? mask : d->params, idx = ar->idx ? ar->idx : a;
    cl_uint uio = (cl_uint)ar->ioff, ubase = (cl_uint)ar->base, uind = ar->idx ? 1u : 0u;
    hg__karg args[] = {HG_U32(um),  HG_U32(un),  HG_U32(uk),  HG_MEM(a),         HG_U32(ua),
                       HG_U32(ula), HG_MEM(idx), HG_U32(uio), HG_U32(ubase),     HG_U32(uind),
                       HG_MEM(bm),  HG_U32(ub),  HG_U32(ulb), HG_MEM(c),
                       HG_U32(uc),  HG_U32(ulc), HG_MEM(d->params), HG_U32(ubo), HG_MEM(mk),
                       HG_U32(zero), HG_U32(ulm), HG_U32(flags)};
    hg_status st = hg__set_args(d, kern, name, args, 22, err);
    size_t gws[2] = {(n + tn - 1) / tn, (m + tm - 1) / tm};
    /* any local size gives the same bits: one work-item per group on CPUs */
    size_t maxwg = d->info->max_work_group_size ? d->info->max_work_group_size : 1;
    size_t cpu[2] = {1, 1}, other[2] = {maxwg < 8 ? maxwg : 8, 1};
    if (st == HG_OK)
        st = hg__launch(d, kern, 2, gws, d->info->type == HG_DEVICE_CPU ? cpu : other, name,
                        err);
    return st;
}

/* wt[w_off ...] (out x in) = W^T for the layers that backpropagate. */
static hg_status transpose_weights(hg_engine *eng, hg__device *d, hg_error *err)
{
    tiled_state *ts = d->ps;
    hg_status st = HG_OK;
    for (size_t l = 1; l < eng->nlayers && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        cl_uint rows = (cl_uint)ly->in, cols = (cl_uint)ly->out, off = (cl_uint)ly->w_off;
        hg__karg a[] = {HG_U32(rows),  HG_U32(cols), HG_MEM(d->params), HG_U32(off),
                        HG_U32(cols),  HG_MEM(ts->wt), HG_U32(off),      HG_U32(rows)};
        st = hg__set_args(d, ts->gtr, "hg_transpose", a, 8, err);
        size_t gws[2] = {(ly->out + d->kc.b - 1) / d->kc.b, (ly->in + d->kc.a - 1) / d->kc.a};
        size_t one[2] = {1, 1};
        if (st == HG_OK)
            st = hg__launch(d, ts->gtr, 2, gws, one, "hg_transpose", err);
    }
    return st;
}

static hg_status run_tiled(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    tiled_state *ts = d->ps;
    const size_t L = eng->nlayers, m = b->rows, P = eng->nparams, B = b->block_rows;
    hg_status st = transpose_weights(eng, d, err);
    /* the first layer's rows: from b->row, or an index step's read in place */
    const arows in_place = {b->idx, 0, b->base};
    const arows *xrows = b->idx ? &in_place : &consecutive;
    const size_t xoff = b->idx ? 0 : b->row;

    /* forward: hidden layers with bias + ReLU in the epilogue */
    for (size_t l = 0; l < L && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        cl_mem a = l == 0 ? b->x : d->act[l - 1];
        size_t aoff = l == 0 ? xoff * ly->in : 0;
        bool hidden = l + 1 < L;
        st = gemm(d, false, m, ly->out, ly->in, a, aoff, ly->in, l == 0 ? xrows : &consecutive,
                  d->params, ly->w_off, ly->out, d->act[l], 0, ly->out, ly->b_off, NULL, 0,
                  hidden ? 3u : 0u, err);
    }
    if (st == HG_OK)
        st = hg__run_output(eng, d, b, err);

    /* backward */
    cl_mem g = d->act[L - 1];
    for (size_t li = L; li-- > 0 && st == HG_OK;) {
        const hg__layer *ly = &eng->layers[li];
        cl_mem a = li == 0 ? b->x : d->act[li - 1];
        bool first = li == 0 && b->idx; /* its rows A through the index list */
        size_t aoff = li == 0 ? xoff * ly->in : 0;
        for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
            size_t lo = r * B, n = b->nrec == 1 ? m : (m - lo < B ? m - lo : B);
            /*
             * dW = A^T G in calls of at most TN_CHUNK rows, each going on from
             * the last (flag 8): the same fma chain, so the same bits, but a
             * work-item's rows of A and G stay in cache for its neighbours.
             */
            for (size_t k0 = 0; k0 < n && st == HG_OK; k0 += TN_CHUNK) {
                size_t kn = n - k0 < TN_CHUNK ? n - k0 : TN_CHUNK;
                const arows chunk = {b->idx, lo + k0, b->base};
                st = gemm(d, true, ly->in, ly->out, kn, a,
                          first ? 0 : aoff + (lo + k0) * ly->in, ly->in,
                          first ? &chunk : &consecutive, g, (lo + k0) * ly->out, ly->out,
                          d->grad, r * (P + 1) + ly->w_off, ly->out, 0, NULL, 0,
                          k0 ? 8u : 0u, err);
            }
        }
        if (st == HG_OK)
            st = hg__column_sums(eng, d, b, g, ly->out, li, err);
        if (st != HG_OK || li == 0)
            break;
        /* G_prev = (G W^T) masked by ReLU'(A_prev) */
        cl_mem next = d->pingpong[(L - 1 - li) % 2];
        st = gemm(d, false, m, ly->in, ly->out, g, 0, ly->out, &consecutive, ts->wt, ly->w_off,
                  ly->in, next, 0, ly->in, 0, d->act[li - 1], ly->in, 4u, err);
        g = next;
    }
    return st;
}

hg_status hg__tiled_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, cl_mem c,
                            size_t w_off, size_t b_off, bool relu, hg_error *err)
{
    return gemm(d, false, m, n, k, a, 0, k, &consecutive, d->params, w_off, n, c, 0, n, b_off,
                NULL, 0,
                relu ? 3u : 1u, err);
}

bool hg__tiled_ready(const hg__device *d)
{
    const tiled_state *ts = d->ops == &hg__ops_tiled ? d->ps : NULL;
    return ts && ts->gnn[0] && ts->gnn[1];
}

static void drop_workspace(void *state)
{
    tiled_state *ts = state;
    if (ts)
        hg__release_mem(&ts->wt);
}

static void release(void *state)
{
    tiled_state *ts = state;
    if (!ts)
        return;
    drop_workspace(ts);
    cl_kernel ks[] = {ts->gnn[0], ts->gnn[1], ts->gtn[0], ts->gtn[1], ts->gtr};
    for (size_t i = 0; i < 5; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    for (size_t i = 0; i < 2; i++)
        if (ts->prog[i])
            clReleaseProgram(ts->prog[i]);
    free(ts);
}

static hg_status open_tiled(hg_engine *eng, hg__device *d, const hg__kchoice *k,
                            void **state, hg_error *err)
{
    *state = NULL;
    size_t len = 0;
    const char *src = hg__kernel_source("gemm", &len);
    if (!src)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'gemm' missing");
    tiled_state *ts = calloc(1, sizeof *ts);
    if (!ts)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "tiled kernels on %s", d->what);
    const unsigned tm[2] = {k->a, NARROW_TM}, tn[2] = {k->b, NARROW_TN};
    hg_status st = HG_OK;
    for (size_t i = 0; i < 2 && st == HG_OK; i++) {
        char opt[96];
        snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_TM=%u -DHG_TN=%u", tm[i], tn[i]);
        snprintf(ts->label[i], sizeof ts->label[i], "tiled-%ux%u", tm[i], tn[i]);
        st = hg__path_build(eng, d, src, len, ts->label[i], opt, &ts->prog[i], err);
        if (st == HG_OK)
            st = hg__make_kernel(d, ts->prog[i], "hg_gemm_nn", &ts->gnn[i], err);
        if (st == HG_OK)
            st = hg__make_kernel(d, ts->prog[i], "hg_gemm_tn", &ts->gtn[i], err);
    }
    if (st == HG_OK)
        st = hg__make_kernel(d, ts->prog[0], "hg_transpose", &ts->gtr, err);
    if (st != HG_OK) {
        release(ts);
        return st;
    }
    *state = ts;
    return HG_OK;
}

/* The layers' workspace and the transposed weights. */
static hg_status workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    tiled_state *ts = d->ps;
    hg_status st = hg__layer_workspace(eng, d, rows, err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &ts->wt, eng->nparams * sizeof(float), "transposed weights",
                           err);
    return st;
}

static bool program(const void *state, size_t i, cl_program *prog, const char **label)
{
    const tiled_state *ts = state;
    if (!ts || i > 1 || !ts->prog[i])
        return false;
    *prog = ts->prog[i];
    *label = ts->label[i];
    return true;
}

const hg__path_ops hg__ops_tiled = {"tiled", open_tiled, workspace, run_tiled,
                                    drop_workspace, release, program, true};
