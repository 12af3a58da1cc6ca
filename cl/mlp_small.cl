/* SPDX-License-Identifier: MIT */
#pragma OPENCL FP_CONTRACT OFF
/*
 * mlp_small.cl - the MLP's small-batch kernels (src/exec/mlp_small.c): an MLP
 * with one hidden layer and a softmax output in three launches per batch
 * record instead of the tiled path's eleven:
 *
 *   1. hg_gemm_nn (gemm.cl): H = relu(X W1 + b1);
 *   2. hg_mlps_head: 16 rows a work-item (a row a vector lane), the logits
 *      H W2 + b2, the softmax loss and G2 = dLoss/dlogits, and the
 *      backpropagated G1 = (G2 W2^T) masked by ReLU'(H);
 *   3. hg_mlps_grad: the whole record: dW1 = X^T G1, dW2 = H^T G2, the bias
 *      gradients (column sums of G1 and G2) and the loss.
 *
 * Bits: every value is computed with the operations, in the order, of the
 * tiled path (tiled.c with gemm.cl and model.cl's hg_softmax_out,
 * hg_colsum_partial and hg_colsum_finish): logits and backprop values are
 * sequential fma chains from 0 over the inner index, the weight gradient a
 * sequential fma chain from 0 over the record's rows, and the bias
 * gradients and the loss Kahan sums over blocks of `cb` rows (the column-sum
 * block) followed by a Kahan sum over the blocks.  So this path gives the
 * tiled path's bits, in deterministic mode too (tests/test_mlp_small.c
 * compares them with memcmp).
 *
 * HG_K: the classes (compile time, 1 to 64).  HG_WM: rows of a weight
 * gradient per work-item (columns: 16, float16 accumulators).
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
#ifndef HG_WM
#define HG_WM 8
#endif

/*
 * One work-item per 16 rows r0 .. r0 + 15 (r0 = 16 * global id) of the
 * batch's rows, one row a vector lane.  h: H (rows x hid);
 * params: W2 (hid x HG_K) at w2off, b2 at b2off; labels at loff.
 * Writes g2 (rows x HG_K), g1 (rows x hid) and loss[r] = logsumexp(z) -
 * z[label], as hg_softmax_out, for its rows below rows.  Rows past the end
 * compute row rows - 1 again and are not stored.  Labels were checked on
 * the host.
 */
__kernel void hg_mlps_head(__global const float *h, const uint rows, const uint hid,
                           __global const float *params, const uint w2off,
                           const uint b2off, __global const int *labels, const uint loff,
                           __global float *g2, __global float *g1, __global float *loss)
{
    const uint r0 = (uint)get_global_id(0) * 16u;
    if (r0 >= rows)
        return;
    const uint nr = min(16u, rows - r0);
    __global const float *hr[16];
    for (uint c = 0; c < 16u; c++)
        hr[c] = h + (size_t)(r0 + min(c, nr - 1u)) * hid;
    __global const float *w2 = params + w2off;
    /* logits: per row and class a sequential fma chain over the hidden units */
    float16 z[HG_K];
#pragma unroll
    for (uint k = 0; k < HG_K; k++)
        z[k] = (float16)(0.0f);
    for (uint p = 0; p < hid; p++) {
        float t[16];
        for (uint c = 0; c < 16u; c++)
            t[c] = hr[c][p];
        const float16 a = vload16(0, t);
        __global const float *w = w2 + (size_t)p * HG_K;
#pragma unroll
        for (uint k = 0; k < HG_K; k++)
            z[k] = fma(a, (float16)(w[k]), z[k]);
    }
    /* the output row by row, as hg_softmax_out */
    float zs[HG_K * 16];
#pragma unroll
    for (uint k = 0; k < HG_K; k++)
        vstore16(z[k], 0, zs + k * 16u);
    for (uint c = 0; c < 16u; c++) {
        const uint r = r0 + min(c, nr - 1u);
        float m = -INFINITY;
        for (uint k = 0; k < HG_K; k++) {
            const float v = zs[k * 16u + c] + params[b2off + k];
            zs[k * 16u + c] = v;
            m = v > m ? v : m;
        }
        float s = 0.0f;
        for (uint k = 0; k < HG_K; k++)
            s = s + hg_exp1(zs[k * 16u + c] - m);
        const float lse = m + hg_log1(s);
        const int label = labels[loff + r];
        const float zl = zs[(uint)label * 16u + c];
        for (uint k = 0; k < HG_K; k++)
            zs[k * 16u + c] = hg_exp1(zs[k * 16u + c] - lse) - (k == (uint)label ? 1.0f : 0.0f);
        if (c < nr) {
            loss[r] = lse - zl;
            for (uint k = 0; k < HG_K; k++)
                g2[(size_t)r * HG_K + k] = zs[k * 16u + c];
        }
    }
#pragma unroll
    for (uint k = 0; k < HG_K; k++)
        z[k] = vload16(0, zs + k * 16u);
    /* G1: per row and hidden unit a sequential fma chain over the classes,
       masked by ReLU'(H) */
    for (uint i = 0; i < hid; i++) {
        __global const float *w = w2 + (size_t)i * HG_K;
        float16 acc = (float16)(0.0f);
#pragma unroll
        for (uint k = 0; k < HG_K; k++)
            acc = fma(z[k], (float16)(w[k]), acc);
#ifdef HG_TEST_BROKEN_RESULT
        acc = acc * 1.5f; /* a test's wrong candidate */
#endif
        float o[16];
        vstore16(acc, 0, o);
        for (uint c = 0; c < nr; c++)
            g1[(size_t)(r0 + c) * hid + i] = hr[c][i] > 0.0f ? o[c] : 0.0f;
    }
}

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

/*
 * dW block: rows i0 .. i0 + HG_WM - 1 (of M) and columns j0 .. j0 + 15 (of
 * N) of A^T B over n rows, A: n x M (ld M), B: n x N (ld N), into dw
 * (M x N, ld N).  Each element: acc = fma(A[r, i], B[r, j], acc) for
 * r = 0 .. n - 1, from 0.
 */
static inline void hg_mlps_dw(__global const float *a, __global const float *b, const uint n,
                       const uint M, const uint N, const uint i0, const uint j0,
                       __global float *dw)
{
    uint ic[HG_WM];
#pragma unroll
    for (uint t = 0; t < HG_WM; t++)
        ic[t] = min(i0 + t, M - 1u);
    const uint nvalid = N - j0;
    float16 acc[HG_WM];
#pragma unroll
    for (uint t = 0; t < HG_WM; t++)
        acc[t] = (float16)(0.0f);
    __global const float *ap = a, *bp = b + j0;
    if (nvalid >= 16u) {
        for (uint r = 0; r < n; r++, ap += M, bp += N) {
            const float16 bv = vload16(0, bp);
#pragma unroll
            for (uint t = 0; t < HG_WM; t++)
                acc[t] = fma((float16)(ap[ic[t]]), bv, acc[t]);
        }
    } else {
        for (uint r = 0; r < n; r++, ap += M, bp += N) {
            const float16 bv = hg_mlps_row(bp, nvalid);
#pragma unroll
            for (uint t = 0; t < HG_WM; t++)
                acc[t] = fma((float16)(ap[ic[t]]), bv, acc[t]);
        }
    }
#pragma unroll
    for (uint t = 0; t < HG_WM; t++)
        if (i0 + t < M)
            hg_mlps_store(acc[t], dw + (size_t)(i0 + t) * N + j0, nvalid);
}

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
 * The gradient record of rows [lo, lo + n) of the batch's buffers (h, g1:
 * rows x hid; g2: rows x HG_K; loss: rows; x: its row lo at element xoff,
 * ld in), into grad at rec: W1 at rec + w1off, b1 at rec + b1off, W2 at
 * rec + w2off, b2 at rec + b2off, the loss at rec + lossoff.
 *
 * 2-D global size (column tiles: max(ceil(hid / 16), ceil(HG_K / 16)),
 * t1 + t2 + 2), t1 = ceil(in / HG_WM), t2 = ceil(hid / HG_WM): row tiles
 * [0, t1) are dW1's, [t1, t1 + t2) dW2's, t1 + t2 the b1 sums, t1 + t2 + 1
 * the b2 sums and the loss.  Work-items past a part's columns return.
 */
__kernel void hg_mlps_grad(__global const float *x, const uint xoff, const uint in,
                           __global const float *h, __global const float *g1,
                           __global const float *g2, __global const float *loss,
                           const uint lo, const uint n, const uint hid, const uint cb, const uint t1,
                           const uint t2, __global float *grad, const uint rec,
                           const uint w1off, const uint b1off, const uint w2off,
                           const uint b2off, const uint lossoff)
{
    const uint j0 = (uint)get_global_id(0) * 16u, t = (uint)get_global_id(1);
    __global float *out = grad + rec;
    h += (size_t)lo * hid;
    g1 += (size_t)lo * hid;
    g2 += (size_t)lo * HG_K;
    loss += lo;
    if (t < t1) {
        if (j0 < hid)
            hg_mlps_dw(x + xoff, g1, n, in, hid, t * HG_WM, j0, out + w1off);
    } else if (t < t1 + t2) {
        if (j0 < HG_K)
            hg_mlps_dw(h, g2, n, hid, HG_K, (t - t1) * HG_WM, j0, out + w2off);
    } else if (t == t1 + t2) {
        if (j0 < hid)
            hg_mlps_bias(g1, n, hid, j0, cb, out + b1off, loss, NULL);
    } else if (t == t1 + t2 + 1u) {
        if (j0 < HG_K)
            hg_mlps_bias(g2, n, HG_K, j0, cb, out + b2off, loss,
                         j0 == 0 ? out + lossoff : NULL);
    }
}
