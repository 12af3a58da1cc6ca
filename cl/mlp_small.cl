/* SPDX-License-Identifier: MIT */
#pragma OPENCL FP_CONTRACT OFF
/*
 * mlp_small.cl - the MLP's small-batch kernels (src/exec/mlp_small.c): an MLP
 * with one hidden layer and a softmax output in three launches per batch
 * record instead of the tiled path's twelve:
 *
 *   1. hg_gemm_nn (gemm.cl): H = relu(X W1 + b1), an index step's rows of X
 *      read in place;
 *   2. hg_mlps_head: 16 rows a work-item: the batch's X^T for step 3
 *      (hg_mlps_xt, where the weight gradient is not taken in place); the
 *      logits H W2 + b2 (a row's classes as vector lanes), the softmax loss
 *      and G2 = dLoss/dlogits (a row a vector lane, as hg_softmax_out), and
 *      the backpropagated G1 = (G2 W2^T) masked by ReLU'(H) (16 hidden units
 *      a vector, W2's 16 rows for them transposed into private memory);
 *   3. hg_mlps_wgrad, per record: dW1 = X^T G1 by gemm.cl's blocks (as
 *      hg_gemm_tn on X's rows in place, or hg_gemm_nn on X^T: the same fma
 *      chain, the same bits), and beside them, in the same launch, the
 *      tail's work-items: dW2 = H^T G2, the bias gradients (column sums of
 *      G1 and G2) and the loss.
 *
 * Two programs are built from this file: without HG_MLPS_WGRAD, the head
 * (after detmath.cl and transpose.cl), once for the model's classes; with
 * it, hg_mlps_wgrad (after gemm.cl, built with the choice's tile), once for
 * the classes and the tile.  Each compiles only its own kernel.
 *
 * Bits: every value is computed with the operations, in the order, of the
 * tiled path (tiled.c with gemm.cl and model.cl's hg_softmax_out,
 * hg_colsum_partial and hg_colsum_finish): logits and backprop values are
 * sequential fma chains from 0 over the inner index, the weight gradients
 * sequential fma chains from 0 over the record's rows, and the bias
 * gradients and the loss Kahan sums over blocks of `cb` rows (the column-sum
 * block) followed by a Kahan sum over the blocks.  So this path gives the
 * tiled path's bits, in deterministic mode too (tests/test_mlp_small.c
 * compares them with memcmp).
 *
 * HG_K: the classes (compile time, 1 to 64).
 *
 * Index arithmetic is division-free (Oclgrind 21.10 cannot execute the LLVM
 * `freeze` that division by a runtime value produces), and no 16-wide vector
 * is shuffled (its uninitialised-value plugin crashes on those).
 */
/* Test hooks (tests/test_engine.c: a broken candidate is excluded, not used). */
#ifdef HG_TEST_BROKEN_BUILD
#error "this kernel candidate was broken on purpose by a test"
#endif

#ifndef HG_K
#error "HG_K (classes) must be defined"
#endif
#if defined(HG_MLPS_WGRAD) && !defined(HG_GEMM_PARAMS)
#error "hg_mlps_wgrad needs gemm.cl before this file"
#endif
/* vectors of 16 classes a row's logits take */
#define HG_KV ((HG_K + 15u) / 16u)

/*
 * HG_HR: of a work-item's 16 rows, how many each pass of hg_mlps_head's two
 * fma loops takes (HG_HR float16 accumulators a pass): 16 where the
 * registers hold 16 float16 (AVX-512: 32 registers of 16 floats; GPUs), 4
 * where they do not (AVX2: 16 registers of 8 floats, where 16 rows a pass
 * spill).  Every element is the same fma chain whatever the pass: the same
 * bits.
 */
#ifndef HG_HR
#define HG_HR 16u
#endif

/* 16 floats of row q from column 0, columns clamped to nvalid - 1. */
static inline float16 hg_mlps_row(__global const float *q, const uint nvalid)
{
    if (nvalid >= 16u)
        return vload16(0, q);
    float t[16];
    for (uint c = 0; c < 16u; c++)
        t[c] = q[min(c, nvalid - 1u)];
    return vload16(0, t);
}

/* Store the first nvalid (up to 16) lanes of v at q. */
static inline void hg_mlps_store(float16 v, __global float *q, const uint nvalid)
{
    if (nvalid >= 16u) {
        vstore16(v, 0, q);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (uint c = 0; c < nvalid; c++)
        q[c] = t[c];
}

#ifndef HG_MLPS_WGRAD /* the head's program */
/*
 * 16 floats of W2's row p from class 16 v on (params at w2off, HG_K a row);
 * classes past HG_K are any finite or non-finite value (never used).  One
 * vector load where it stays below wend (the floats params holds), else
 * loads clamped to the row.
 */
static inline float16 hg_mlps_wrow(__global const float *params, const uint w2off,
                                   const uint wend, const uint p, const uint v)
{
    const uint at = w2off + p * HG_K + v * 16u;
    if (at + 16u <= wend)
        return vload16(0, params + at);
    float t[16];
    for (uint c = 0; c < 16u; c++)
        t[c] = params[at + min(c, HG_K - 1u - v * 16u)];
    return vload16(0, t);
}

/*
 * Columns 0 .. cols - 1 of the batch's rows r0 .. r0 + nr - 1 (nr <= 16)
 * into X^T: xt[j * rows + r] = X[row r, j], a 16 x 16 block at a time
 * (transpose.cl).  Row r of the batch is the data row xrow + r when not
 * indexed, else idx[r] - base (x: cols floats a row), as hg_gather_t
 * (model.cl) reads it.
 */
static inline void hg_mlps_xt(__global const float *x, const uint xrow, const uint cols,
                              __global const uint *idx, const uint base, const uint indexed,
                              const uint r0, const uint nr, const uint rows,
                              __global float *xt)
{
    __global const float *xr[16];
    for (uint c = 0; c < 16u; c++) {
        const uint r = r0 + min(c, nr - 1u);
        xr[c] = x + (size_t)(indexed ? idx[r] - base : xrow + r) * cols;
    }
    for (uint j0 = 0; j0 < cols; j0 += HG_GT) {
        __global const float *s[HG_GT];
#pragma unroll
        for (uint c = 0; c < HG_GT; c++)
            s[c] = xr[c] + j0;
        hg_t16(s, nr, min((uint)HG_GT, cols - j0), xt + (size_t)j0 * rows + r0, rows);
    }
}

/*
 * One work-item per 16 rows r0 .. r0 + 15 (r0 = 16 * global id) of the
 * batch's rows.  h: H (rows x hid); params: W2 (hid x HG_K) at w2off, b2 at
 * b2off, wend floats in all; the label of the batch's row r:
 * labels[idx[r] - base] when indexed, else labels[loff + r] (checked on the
 * host).  Writes g2 (rows x HG_K), g1 (rows x hid) and
 * loss[r] = logsumexp(z) - z[label], as hg_softmax_out, for its rows below
 * rows.  Rows past the end compute row rows - 1 again and are not stored.
 * With xt_on, also the batch's X^T for the weight gradient into xt
 * (hg_mlps_xt: x, in floats a row, the rows as the labels'): no launch of
 * hg_gather_t for it.
 */
__kernel void hg_mlps_head(__global const float *h, const uint rows, const uint hid,
                           __global const float *params, const uint w2off,
                           const uint b2off, const uint wend, __global const int *labels,
                           const uint loff, __global const uint *idx, const uint base,
                           const uint indexed, __global float *g2, __global float *g1,
                           __global float *loss, __global const float *x, const uint in,
                           __global float *xt, const uint xt_on)
{
    const uint r0 = (uint)get_global_id(0) * 16u;
    if (r0 >= rows)
        return;
    const uint nr = min(16u, rows - r0);
    if (xt_on)
        hg_mlps_xt(x, loff, in, idx, base, indexed, r0, nr, rows, xt);
    __global const float *hr[16];
    for (uint c = 0; c < 16u; c++)
        hr[c] = h + (size_t)(r0 + min(c, nr - 1u)) * hid;
    /* logits: per row and class a sequential fma chain over the hidden
       units, a row's classes as lanes; zs[c * S + k] is row c's class k */
    const uint S = HG_KV * 16u;
    float zs[HG_KV * 16u * 16u];
    for (uint v = 0; v < HG_KV; v++) {
        for (uint c0 = 0; c0 < 16u; c0 += HG_HR) {
            float16 z[HG_HR];
#pragma unroll
            for (uint c = 0; c < HG_HR; c++)
                z[c] = (float16)(0.0f);
            for (uint p = 0; p < hid; p++) {
                const float16 w = hg_mlps_wrow(params, w2off, wend, p, v);
#pragma unroll
                for (uint c = 0; c < HG_HR; c++)
                    z[c] = fma((float16)(hr[c0 + c][p]), w, z[c]);
            }
#pragma unroll
            for (uint c = 0; c < HG_HR; c++)
                vstore16(z[c], 0, zs + (c0 + c) * S + v * 16u);
        }
    }
    /* the output, a row a lane, as hg_softmax_out */
    int lab[16];
    for (uint c = 0; c < 16u; c++) {
        const uint r = r0 + min(c, nr - 1u);
        lab[c] = labels[indexed ? (size_t)(idx[r] - base) : (size_t)loff + r];
    }
    float t[16];
    float16 m = (float16)(-INFINITY);
    for (uint k = 0; k < HG_K; k++) {
        for (uint c = 0; c < 16u; c++)
            t[c] = zs[c * S + k];
        const float16 v = vload16(0, t) + params[b2off + k];
        vstore16(v, 0, t);
        for (uint c = 0; c < 16u; c++)
            zs[c * S + k] = t[c];
        m = select(m, v, v > m);
    }
    float16 s = (float16)(0.0f);
    for (uint k = 0; k < HG_K; k++) {
        for (uint c = 0; c < 16u; c++)
            t[c] = zs[c * S + k];
        s = s + hg_exp16(vload16(0, t) - m);
    }
    const float16 lse = m + hg_log16(s);
    for (uint c = 0; c < 16u; c++)
        t[c] = zs[c * S + (uint)lab[c]];
    const float16 lr = lse - vload16(0, t);
    vstore16(lr, 0, t);
    for (uint c = 0; c < nr; c++)
        loss[r0 + c] = t[c];
    const int16 lv = vload16(0, lab);
    for (uint k = 0; k < HG_K; k++) {
        for (uint c = 0; c < 16u; c++)
            t[c] = zs[c * S + k];
        const float16 e = hg_exp16(vload16(0, t) - lse) -
                          select((float16)(0.0f), (float16)(1.0f), lv == (int)k);
        vstore16(e, 0, t);
        for (uint c = 0; c < 16u; c++)
            zs[c * S + k] = t[c];
    }
    for (uint c = 0; c < nr; c++)
        for (uint k = 0; k < HG_K; k++)
            g2[(size_t)(r0 + c) * HG_K + k] = zs[c * S + k];
    /* G1: per row and hidden unit a sequential fma chain over the classes,
       16 hidden units a vector, the 16 rows' chains side by side (one
       row's chain at a time waits on each fma), masked by ReLU'(H) */
    for (uint i0 = 0; i0 < hid; i0 += 16u) {
        const uint nv = hid - i0;
        /* W2's rows i0 .. i0 + 15 transposed: wb[k * 16 + u] = W2[i0 + u, k],
           hidden units clamped to hid - 1 (as hg_mlps_row's columns).  A class
           at a time, so that each row of wb is written whole: POCL 3.1 makes a
           unit at a time (reads along W2's row) a scatter into wb, which took
           a fifth of the kernel on an AVX-512 CPU (docs/kernels.md) */
        float wb[HG_K * 16u];
        for (uint k = 0; k < HG_K; k++)
            for (uint u = 0; u < 16u; u++)
                wb[k * 16u + u] = params[w2off + (i0 + min(u, nv - 1u)) * HG_K + k];
        for (uint c0 = 0; c0 < nr; c0 += HG_HR) {
            float16 acc[HG_HR];
#pragma unroll
            for (uint c = 0; c < HG_HR; c++)
                acc[c] = (float16)(0.0f);
            for (uint k = 0; k < HG_K; k++) {
                const float16 w = vload16(0, wb + k * 16u);
#pragma unroll
                for (uint c = 0; c < HG_HR; c++)
                    acc[c] = fma((float16)(zs[(c0 + c) * S + k]), w, acc[c]);
            }
            for (uint c = 0; c < HG_HR && c0 + c < nr; c++) {
                float16 a = acc[c];
#ifdef HG_TEST_BROKEN_RESULT
                a = a * 1.5f; /* a test's wrong candidate */
#endif
                const float16 hv = hg_mlps_row(hr[c0 + c] + i0, nv);
                hg_mlps_store(select((float16)(0.0f), a, hv > (float16)(0.0f)),
                              g1 + (size_t)(r0 + c0 + c) * hid + i0, nv);
            }
        }
    }
}

#else /* the weight gradient's program, after gemm.cl */

/*
 * Column sums of columns j0 .. j0 + 15 of g (n x N, ld N) into out[0 ..],
 * as hg_colsum_partial over blocks of cb rows then hg_colsum_finish over the
 * blocks (Kahan both).  With loss_out non-NULL also the sum of loss[0 .. n)
 * the same way.
 */
static inline void hg_mlps_bias(__global const float *g, const uint n, const uint N, const uint j0,
                         const uint cb, __global float *out, __global const float *loss,
                         __global float *loss_out)
{
    const uint nvalid = N - j0;
    float16 sum = (float16)(0.0f), comp = (float16)(0.0f);
    float lsum = 0.0f, lcomp = 0.0f;
    for (uint b0 = 0; b0 < n; b0 += cb) {
        const uint e = min(n, b0 + cb);
        float16 s = (float16)(0.0f), c = (float16)(0.0f);
        float ls = 0.0f, lc = 0.0f;
        for (uint r = b0; r < e; r++) {
            const float16 y = hg_mlps_row(g + (size_t)r * N + j0, nvalid) - c;
            const float16 t = s + y;
            c = (t - s) - y;
            s = t;
            if (loss_out) {
                const float ly = loss[r] - lc;
                const float lt = ls + ly;
                lc = (lt - ls) - ly;
                ls = lt;
            }
        }
        const float16 y = s - comp;
        const float16 t = sum + y;
        comp = (t - sum) - y;
        sum = t;
        const float ly = ls - lcomp;
        const float lt = lsum + ly;
        lcomp = (lt - lsum) - ly;
        lsum = lt;
    }
    hg_mlps_store(sum, out + j0, nvalid);
    if (loss_out)
        *loss_out = lsum;
}

/*
 * As hg_mlps_bias without the loss, for the 64 columns j0 .. j0 + 63 (of N):
 * four blocks of 16 columns, their Kahan sums side by side (a block's sum
 * alone waits on each of its four dependent operations, every row).  Blocks
 * at or past N are not stored.
 */
static inline void hg_mlps_bias4(__global const float *g, const uint n, const uint N,
                                 const uint j0, const uint cb, __global float *out)
{
    uint nv[4];
#pragma unroll
    for (uint q = 0; q < 4u; q++)
        nv[q] = j0 + 16u * q < N ? N - (j0 + 16u * q) : 1u; /* past N: column N - 1 */
    const uint jl = N - 1u;
    float16 sum[4], comp[4];
#pragma unroll
    for (uint q = 0; q < 4u; q++)
        sum[q] = comp[q] = (float16)(0.0f);
    for (uint b0 = 0; b0 < n; b0 += cb) {
        const uint e = min(n, b0 + cb);
        float16 s[4], c[4];
#pragma unroll
        for (uint q = 0; q < 4u; q++)
            s[q] = c[q] = (float16)(0.0f);
        for (uint r = b0; r < e; r++) {
#pragma unroll
            for (uint q = 0; q < 4u; q++) {
                const uint jq = j0 + 16u * q < N ? j0 + 16u * q : jl;
                const float16 y = hg_mlps_row(g + (size_t)r * N + jq, nv[q]) - c[q];
                const float16 t = s[q] + y;
                c[q] = (t - s[q]) - y;
                s[q] = t;
            }
        }
#pragma unroll
        for (uint q = 0; q < 4u; q++) {
            const float16 y = s[q] - comp[q];
            const float16 t = sum[q] + y;
            comp[q] = (t - sum[q]) - y;
            sum[q] = t;
        }
    }
#pragma unroll
    for (uint q = 0; q < 4u; q++)
        if (j0 + 16u * q < N)
            hg_mlps_store(sum[q], out + j0 + 16u * q, nv[q]);
}

/*
 * dW2's rows i0 .. i0 + 15 (of hid; all HG_K columns) over n rows: H^T G2,
 * H: n x hid, G2: n x HG_K, into dw (hid x HG_K).  Each element:
 * acc = fma(H[r, i], G2[r, k], acc) for r = 0 .. n - 1, from 0, 16 rows of
 * dW2 a vector.
 */
static inline void hg_mlps_dw2(__global const float *h, __global const float *g2,
                               const uint n, const uint hid, const uint i0,
                               __global float *dw)
{
    const uint nv = hid - i0;
    float16 acc[HG_K];
#pragma unroll
    for (uint k = 0; k < HG_K; k++)
        acc[k] = (float16)(0.0f);
    for (uint r = 0; r < n; r++) {
        const float16 hv = hg_mlps_row(h + (size_t)r * hid + i0, nv);
        __global const float *gr = g2 + (size_t)r * HG_K;
#pragma unroll
        for (uint k = 0; k < HG_K; k++)
            acc[k] = fma(hv, (float16)(gr[k]), acc[k]);
    }
    const uint nl = min(nv, 16u);
    for (uint k = 0; k < HG_K; k++) {
        float t[16];
        vstore16(acc[k], 0, t);
        for (uint l = 0; l < nl; l++)
            dw[(size_t)(i0 + l) * HG_K + k] = t[l];
    }
}

/*
 * The tail's work-item w (hg_mlps_wgrad, below): of the gradient record of
 * rows [lo, lo + n) of the batch's buffers (h, g1: rows x hid; g2: rows x
 * HG_K; loss: rows), into record rec of grad (W2 at w2off, b1 at b1off, b2
 * at b2off, the loss at lossoff): dW2's rows 16 w .. (w < t), the b1
 * sums of columns 64 (w - t) .. (t <= w < t + t4) or the b2 sums of columns
 * 16 (w - t - t4) .. and (the first of them) the loss; nothing past those.
 */
static inline void hg_mlps_tail_item(const uint w, __global const float *h,
                                     __global const float *g1, __global const float *g2,
                                     __global const float *loss, const uint lo, const uint n,
                                     const uint hid, const uint cb, __global float *grad,
                                     const uint rec, const uint b1off, const uint w2off,
                                     const uint b2off, const uint lossoff)
{
    const uint t = (hid + 15u) / 16u, t4 = (hid + 63u) / 64u;
    __global float *out = grad + rec;
    h += (size_t)lo * hid;
    g1 += (size_t)lo * hid;
    g2 += (size_t)lo * HG_K;
    loss += lo;
    if (w < t) {
        hg_mlps_dw2(h, g2, n, hid, w * 16u, out + w2off);
    } else if (w < t + t4) {
        hg_mlps_bias4(g1, n, hid, (w - t) * 64u, cb, out + b1off);
    } else {
        const uint j0 = (w - t - t4) * 16u;
        if (j0 < HG_K)
            hg_mlps_bias(g2, n, HG_K, j0, cb, out + b2off, loss,
                         j0 == 0 ? out + lossoff : NULL);
    }
}

/*
 * The record's dW1 GEMM and the rest of its gradient in one launch (gemm.cl
 * built into the same program with the choice's tile: mlp_small.c): dW1 into C by
 * hg_gemm_tn's blocks (ta != 0: X^T G1 on X's rows in place) or hg_gemm_nn's
 * (X^T G1 from the batch's X^T), and the rest of the record into C too (C is
 * the gradient records' buffer).  2-D global size (gx, gy + ty): the ids
 * (x, y < gy) are the GEMM's own launch (gemm_call.c), the same block on the
 * same ids; (x, y >= gy) is the tail's work-item (y - gy) gx + x.  One
 * command fewer a batch, and the tail's work-items beside the GEMM's blocks
 * (docs/kernels.md, "The tail in the weight gradient's launch").  The same
 * code on the same values: the same bits.
 */
__kernel void hg_mlps_wgrad(HG_GEMM_PARAMS, const uint gy, __global const float *h,
                            __global const float *g1, __global const float *g2,
                            __global const float *loss, const uint lo, const uint n,
                            const uint hid, const uint cb, const uint rec, const uint b1off,
                            const uint w2off, const uint b2off, const uint lossoff,
                            const uint ta)
{
    const uint y = (uint)get_global_id(1);
    if (y < gy) {
        if (ta)
            hg_gemm_tn_block(HG_GEMM_ARGS);
        else
            hg_gemm_nn_block(HG_GEMM_ARGS);
        return;
    }
    const uint w = (y - gy) * (uint)get_global_size(0) + (uint)get_global_id(0);
    hg_mlps_tail_item(w, h, g1, g2, loss, lo, n, hid, cb, C, rec, b1off, w2off, b2off,
                      lossoff);
}
#endif /* HG_MLPS_WGRAD */
