/* SPDX-License-Identifier: MIT */
/*
 * tiled.c - the MLP on hetgrad's register-tiled GEMM (cl/gemm.cl): forward
 * GEMMs with the bias and ReLU fused into their epilogue, the weight
 * gradient as A^T G (one GEMM per record, so that a deterministic block's
 * sum is its own), and backprop as G W^T (W transposed once per batch) with
 * the ReLU derivative fused as a mask.  Every element is a sequential fma
 * chain, so the bits do not depend on the block shape or the device.
 */
#include "engine_internal.h"

#ifndef TN_CHUNK
#define TN_CHUNK 256u /* rows of K per weight-gradient call */
#endif

/* C = op(A) B (+ epilogue flags: 1 bias, 2 ReLU, 4 mask; 8: C += ...), row-major. */
static hg_status gemm(hg__device *d, bool ta, size_t m, size_t n, size_t k, cl_mem a,
                      size_t aoff, size_t lda, cl_mem bm, size_t boff, size_t ldb, cl_mem c,
                      size_t coff, size_t ldc, size_t bias_off, cl_mem mask, size_t ldm,
                      cl_uint flags, hg_error *err)
{
    int w = n < 16 ? 1 : 0; /* narrow products use the 8 x 8 program */
    size_t tm = w ? 8 : d->kc.a, tn = w ? 8 : d->kc.b;
    cl_kernel kern = ta ? d->k_gtn[w] : d->k_gnn[w];
    const char *name = ta ? "hg_gemm_tn" : "hg_gemm_nn";
    if (aoff > 0xffffffffu || boff > 0xffffffffu || coff > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "%s on %s: offset beyond 2^32", name, d->what);
    cl_uint um = (cl_uint)m, un = (cl_uint)n, uk = (cl_uint)k, ua = (cl_uint)aoff,
            ula = (cl_uint)lda, ub = (cl_uint)boff, ulb = (cl_uint)ldb, uc = (cl_uint)coff,
            ulc = (cl_uint)ldc, ubo = (cl_uint)bias_off, zero = 0, ulm = (cl_uint)ldm;
    cl_mem mk = mask ? mask : d->params;
    hg__karg args[] = {HG_U32(um),  HG_U32(un),  HG_U32(uk),  HG_MEM(a),         HG_U32(ua),
                       HG_U32(ula), HG_MEM(bm),  HG_U32(ub),  HG_U32(ulb),       HG_MEM(c),
                       HG_U32(uc),  HG_U32(ulc), HG_MEM(d->params), HG_U32(ubo), HG_MEM(mk),
                       HG_U32(zero), HG_U32(ulm), HG_U32(flags)};
    hg_status st = hg__set_args(d, kern, name, args, 18, err);
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
    hg_status st = HG_OK;
    for (size_t l = 1; l < eng->nlayers && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        cl_uint rows = (cl_uint)ly->in, cols = (cl_uint)ly->out, off = (cl_uint)ly->w_off;
        hg__karg a[] = {HG_U32(rows),  HG_U32(cols), HG_MEM(d->params), HG_U32(off),
                        HG_U32(cols),  HG_MEM(d->wt), HG_U32(off),      HG_U32(rows)};
        st = hg__set_args(d, d->k_gtr, "hg_transpose", a, 8, err);
        size_t gws[2] = {(ly->out + d->kc.b - 1) / d->kc.b, (ly->in + d->kc.a - 1) / d->kc.a};
        size_t one[2] = {1, 1};
        if (st == HG_OK)
            st = hg__launch(d, d->k_gtr, 2, gws, one, "hg_transpose", err);
    }
    return st;
}

hg_status hg__run_tiled(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    const size_t L = eng->nlayers, m = b->rows, P = eng->nparams, B = b->block_rows;
    hg_status st = transpose_weights(eng, d, err);

    /* forward: hidden layers with bias + ReLU in the epilogue */
    for (size_t l = 0; l < L && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        cl_mem a = l == 0 ? b->x : d->act[l - 1];
        size_t aoff = l == 0 ? b->row * ly->in : 0;
        bool hidden = l + 1 < L;
        st = gemm(d, false, m, ly->out, ly->in, a, aoff, ly->in, d->params, ly->w_off, ly->out,
                  d->act[l], 0, ly->out, ly->b_off, NULL, 0, hidden ? 3u : 0u, err);
    }
    if (st == HG_OK)
        st = hg__run_output(eng, d, b, err);

    /* backward */
    cl_mem g = d->act[L - 1];
    for (size_t li = L; li-- > 0 && st == HG_OK;) {
        const hg__layer *ly = &eng->layers[li];
        cl_mem a = li == 0 ? b->x : d->act[li - 1];
        size_t aoff = li == 0 ? b->row * ly->in : 0;
        for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
            size_t lo = r * B, n = b->nrec == 1 ? m : (m - lo < B ? m - lo : B);
            /*
             * dW = A^T G in calls of at most TN_CHUNK rows, each going on from
             * the last (flag 8): the same fma chain, so the same bits, but a
             * work-item's rows of A and G stay in cache for its neighbours.
             */
            for (size_t k0 = 0; k0 < n && st == HG_OK; k0 += TN_CHUNK) {
                size_t kn = n - k0 < TN_CHUNK ? n - k0 : TN_CHUNK;
                st = gemm(d, true, ly->in, ly->out, kn, a, aoff + (lo + k0) * ly->in, ly->in,
                          g, (lo + k0) * ly->out, ly->out, d->grad, r * (P + 1) + ly->w_off,
                          ly->out, 0, NULL, 0, k0 ? 8u : 0u, err);
            }
        }
        if (st == HG_OK)
            st = hg__column_sums(eng, d, b, g, ly->out, li, err);
        if (st != HG_OK || li == 0)
            break;
        /* G_prev = (G W^T) masked by ReLU'(A_prev) */
        cl_mem next = d->pingpong[(L - 1 - li) % 2];
        st = gemm(d, false, m, ly->in, ly->out, g, 0, ly->out, d->wt, ly->w_off, ly->in, next,
                  0, ly->in, 0, d->act[li - 1], ly->in, 4u, err);
        g = next;
    }
    return st;
}

hg_status hg__tiled_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, cl_mem c,
                            size_t w_off, size_t b_off, bool relu, hg_error *err)
{
    return gemm(d, false, m, n, k, a, 0, k, d->params, w_off, n, c, 0, n, b_off, NULL, 0,
                relu ? 3u : 1u, err);
}
