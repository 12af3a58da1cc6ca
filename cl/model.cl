/* SPDX-License-Identifier: MIT */
/*
 * model.cl - hetgrad's element-wise, reduction and transpose kernels for
 * the dense models (the GEMMs are gemm.cl's, CLBlast's or hg_gemm_naive).
 *
 * Matrices are row-major; every buffer argument comes with an element offset
 * so that one resident buffer serves any row range.  Contraction is off: the
 * same arithmetic on every conformant device.
 */
#pragma OPENCL FP_CONTRACT OFF

/*
 * Z[r, c] += b[c], then ReLU when relu != 0.  2-D global size (cols, rows).
 * (2-D rather than i / cols, i % cols: Oclgrind 21.10 cannot run the LLVM
 * `freeze` that division by a variable produces.)
 */
__kernel void hg_bias_act(__global float *z, const uint zoff, const uint rows,
                          const uint cols, __global const float *params, const uint boff,
                          const uint relu)
{
    size_t c = get_global_id(0), r = get_global_id(1);
    if (c >= cols || r >= rows)
        return;
    size_t i = zoff + r * cols + c;
    float v = z[i] + params[boff + c];
    z[i] = relu && v < 0.0f ? 0.0f : v;
}

/*
 * The data set row of the batch's row r: from row0 on, or, for an index step
 * read in place (indexed != 0), idx[r] - base (hg_batch_row in fused.cl).
 */
inline size_t hg_out_row(const size_t row0, __global const uint *idx, const uint base,
                         const uint indexed, const size_t r)
{
    return indexed ? (size_t)(idx[r] - base) : row0 + r;
}

/*
 * Linear output: G[r, :] = (Z[r, :] + b) - Y[r, :] in place of Z;
 * loss[r] = 1/2 * sum_j G[r, j]^2, Y's row r the data set's row
 * hg_out_row(yoff, ...) (yoff: a row).  Global size: rows.
 */
__kernel void hg_linear_out(__global float *z, const uint zoff, const uint rows,
                            const uint cols, __global const float *params, const uint boff,
                            __global const float *y, const uint yoff,
                            __global const uint *idx, const uint base, const uint indexed,
                            __global float *loss)
{
    size_t r = get_global_id(0);
    if (r >= rows)
        return;
    __global const float *yr = y + hg_out_row(yoff, idx, base, indexed, r) * cols;
    float acc = 0.0f;
    for (uint j = 0; j < cols; j++) {
        size_t k = zoff + r * cols + j;
        float g = z[k] + params[boff + j] - yr[j];
        z[k] = g;
        acc += 0.5f * g * g;
    }
    loss[r] = acc;
}

/*
 * Softmax cross-entropy output: with z = Z[r, :] + b,
 * G[r, :] = softmax(z) - onehot(label) in place of Z;
 * loss[r] = logsumexp(z) - z[label], the label of the data set's row
 * hg_out_row(loff, ...).  Labels were checked on the host to lie in [0, cols).
 *
 * Global size: ceil(rows / 16).  Work-item w does rows [16 w, 16 w + 16):
 * a full block of 16 as the sixteen lanes of float16 (row q of the block in
 * lane q; every lane the scalar row's operations, hg_exp16 and hg_log16 lane
 * for lane hg_exp1 and hg_log1, so the same bits), a last partial block row
 * by row.  Sixteen rows a work-item because a CPU device runs one row's
 * scalar code at a time: 34 us for 128 rows of 10 classes on POCL's basic
 * device.
 */
inline void hg_softmax_row(__global float *zr, __global const float *bias, const uint cols,
                           const int label, __global float *loss)
{
    float m = -INFINITY;
    for (uint j = 0; j < cols; j++) {
        float v = zr[j] + bias[j];
        zr[j] = v;
        m = v > m ? v : m;
    }
    float s = 0.0f;
    for (uint j = 0; j < cols; j++)
        s = s + hg_exp1(zr[j] - m);
    float lse = m + hg_log1(s);
    *loss = lse - zr[label];
    for (uint j = 0; j < cols; j++)
        zr[j] = hg_exp1(zr[j] - lse) - (j == (uint)label ? 1.0f : 0.0f);
}

/* Column j of 16 rows cols apart, as the lanes of a float16. */
inline float16 hg_col16(__global const float *z, const uint cols, const uint j)
{
    float t[16];
    for (uint q = 0; q < 16; q++)
        t[q] = z[q * cols + j];
    return vload16(0, t);
}

inline void hg_put16(__global float *z, const uint cols, const uint j, const float16 v)
{
    float t[16];
    vstore16(v, 0, t);
    for (uint q = 0; q < 16; q++)
        z[q * cols + j] = t[q];
}

__kernel void hg_softmax_out(__global float *z, const uint zoff, const uint rows,
                             const uint cols, __global const float *params, const uint boff,
                             __global const int *labels, const uint loff,
                             __global const uint *idx, const uint base, const uint indexed,
                             __global float *loss)
{
    const size_t r0 = get_global_id(0) * 16;
    if (r0 >= rows)
        return;
    __global float *zb = z + zoff + r0 * cols;
    __global const float *bias = params + boff;
    if (r0 + 16 > rows) {
        for (size_t r = r0; r < rows; r++)
            hg_softmax_row(z + zoff + r * cols, bias, cols,
                           labels[hg_out_row(loff, idx, base, indexed, r)], loss + r);
        return;
    }
    int lab[16];
    for (uint q = 0; q < 16; q++)
        lab[q] = labels[hg_out_row(loff, idx, base, indexed, r0 + q)];
    float16 m = (float16)(-INFINITY);
    for (uint j = 0; j < cols; j++) {
        float16 v = hg_col16(zb, cols, j) + bias[j];
        hg_put16(zb, cols, j, v);
        m = select(m, v, v > m);
    }
    float16 s = (float16)(0.0f);
    for (uint j = 0; j < cols; j++)
        s = s + hg_exp16(hg_col16(zb, cols, j) - m);
    const float16 lse = m + hg_log16(s);
    float t[16];
    for (uint q = 0; q < 16; q++)
        t[q] = zb[q * cols + (uint)lab[q]];
    vstore16(lse - vload16(0, t), 0, loss + r0);
    const int16 lv = vload16(0, lab);
    for (uint j = 0; j < cols; j++) {
        float16 e = hg_exp16(hg_col16(zb, cols, j) - lse);
        hg_put16(zb, cols, j, e - select((float16)(0.0f), (float16)(1.0f), lv == (int)j));
    }
}

/* dA[i] = A[i] > 0 ? dA[i] : 0 (ReLU backward).  Global size: n. */
__kernel void hg_relu_backward(__global float *da, __global const float *a, const uint n)
{
    size_t i = get_global_id(0);
    if (i < n && !(a[i] > 0.0f))
        da[i] = 0.0f;
}

/*
 * Column sums of G (rows x cols, at goff) and of loss (rows) over blocks of
 * block rows, with Kahan compensation.  2-D global size
 * (ceil(ceil(cols / 16) / HG_CS_GROUPS) + 1, nblocks): work-item v <
 * ceil(ceil(cols / 16) / HG_CS_GROUPS) sums the HG_CS_GROUPS blocks of 16
 * columns from column 16 HG_CS_GROUPS v, each the sixteen lanes of one float16
 * Kahan sum (each lane the same operations as a scalar sum of its column, so
 * the same bits).  Blocks of 16 columns a work-item, not one: on a CPU device
 * the per-work-item cost was most of the kernel, 63 us of a 128 x 256 block on
 * POCL's basic device; HG_CS_GROUPS of them in one loop, because a Kahan sum
 * is a chain of four dependent operations a row: four independent chains keep
 * the FP units busy where one waits on its own latency (16,384 x 256 on POCL's
 * pthread device: docs/kernels.md).  The last columns, when cols is not a
 * multiple of 16, one at a time; work-item ceil(ceil(cols / 16) / HG_CS_GROUPS)
 * sums loss.  Writes partial[b * (cols + 1) + c], column cols the loss; the
 * host adds the blocks in double.
 */
#define HG_KAHAN(T, sum, comp, v)                                              \
    do {                                                                       \
        const T y_ = (v) - comp;                                               \
        const T t_ = sum + y_;                                                 \
        comp = (t_ - sum) - y_;                                                \
        sum = t_;                                                              \
    } while (0)

/* blocks of 16 columns a work-item of hg_colsum_partial (its four chains
   below): HG__COLSUM_GROUPS of engine_internal.h, which sizes its launch
   (hg__colsum_items) */
#define HG_CS_GROUPS 4u

__kernel void hg_colsum_partial(__global const float *g, const uint goff, const uint rows,
                                const uint cols, __global const float *loss,
                                const uint block, __global float *partial)
{
    const size_t v = get_global_id(0), b = get_global_id(1);
    const size_t nw = ((cols + 15u) / 16u + HG_CS_GROUPS - 1u) / HG_CS_GROUPS;
    if (v > nw || b * block >= rows)
        return;
    const size_t lo = b * (size_t)block, end = min((size_t)rows, lo + block);
    __global float *out = partial + b * (cols + 1);
    const size_t c0 = 16u * HG_CS_GROUPS * v;
    if (v == nw) {
        float sum = 0.0f, comp = 0.0f;
        for (size_t r = lo; r < end; r++)
            HG_KAHAN(float, sum, comp, loss[r]);
        out[cols] = sum;
    } else if (c0 + 16u * HG_CS_GROUPS <= cols) {
        __global const float *gc = g + goff + c0;
        float16 s0 = (float16)(0.0f), k0 = (float16)(0.0f), s1 = s0, k1 = s0, s2 = s0,
                k2 = s0, s3 = s0, k3 = s0;
        for (size_t r = lo; r < end; r++) {
            __global const float *q = gc + r * cols;
            HG_KAHAN(float16, s0, k0, vload16(0, q));
            HG_KAHAN(float16, s1, k1, vload16(1, q));
            HG_KAHAN(float16, s2, k2, vload16(2, q));
            HG_KAHAN(float16, s3, k3, vload16(3, q));
        }
        vstore16(s0, 0, out + c0);
        vstore16(s1, 1, out + c0);
        vstore16(s2, 2, out + c0);
        vstore16(s3, 3, out + c0);
    } else {
        /* the last work-item's blocks: whole ones as float16, then the tail */
        size_t c = c0;
        for (; c + 16u <= cols; c += 16u) {
            __global const float *gc = g + goff + c;
            float16 sum = (float16)(0.0f), comp = (float16)(0.0f);
            for (size_t r = lo; r < end; r++)
                HG_KAHAN(float16, sum, comp, vload16(0, gc + r * cols));
            vstore16(sum, 0, out + c);
        }
        for (; c < cols; c++) {
            float sum = 0.0f, comp = 0.0f;
            for (size_t r = lo; r < end; r++)
                HG_KAHAN(float, sum, comp, g[goff + r * cols + c]);
            out[c] = sum;
        }
    }
}

/*
 * Gather a batch's rows: xd[r, :] = xs[idx[r] - lo, :] (width floats), and
 * with them, when has & 1, yd[r, :] = ys[idx[r] - lo, :] (ywidth floats: the
 * targets) and, when has & 2, ld[r] = ls[idx[r] - lo] (the labels); the
 * buffers not used are any buffer.  Work-item (j, r) copies elements
 * [j * per, (j + 1) * per) of row r, and work-item (0, r) its targets and
 * label.  2-D global size (ceil(width / per), count): per 1 on GPUs
 * (neighbouring work-items read neighbouring floats), a whole row on CPU
 * devices, where a work-item costs more than its copy (128 rows of 784
 * floats: 90 us on POCL's basic device one float a work-item).  One kernel
 * for all three: each command costs a CPU device tens of microseconds.
 */
__kernel void hg_gather(__global const float *xs, __global float *xd,
                        __global const uint *idx, const uint count, const uint width,
                        const uint lo, const uint per, __global const float *ys,
                        __global float *yd, const uint ywidth, __global const int *ls,
                        __global int *ld, const uint has)
{
    size_t j0 = get_global_id(0) * (size_t)per, r = get_global_id(1);
    if (j0 >= width || r >= count)
        return;
    size_t src = (size_t)(idx[r] - lo);
    size_t j1 = j0 + per < width ? j0 + per : width, j = j0;
    __global const float *s = xs + src * width;
    __global float *d = xd + r * (size_t)width;
    for (; j + 16 <= j1; j += 16)
        vstore16(vload16(0, s + j), 0, d + j);
    for (; j < j1; j++)
        d[j] = s[j];
    if (j0 != 0)
        return;
    for (size_t k = 0; (has & 1u) && k < ywidth; k++)
        yd[r * (size_t)ywidth + k] = ys[src * ywidth + k];
    if (has & 2u)
        ld[r] = ls[src];
}

/*
 * Finish column sums: out[ooff + c] = sum over blocks of
 * partial[poff + b * width + c] for c < width - 1 (Kahan), and
 * out[loss_index] = the sum of the last column when loss_index != UINT_MAX.
 * Global size: width.
 */
__kernel void hg_colsum_finish(__global const float *partial, const uint poff,
                               const uint nblocks, const uint width, __global float *out,
                               const uint ooff, const uint loss_index)
{
    size_t c = get_global_id(0);
    if (c >= width)
        return;
    float sum = 0.0f, comp = 0.0f;
    for (uint b = 0; b < nblocks; b++) {
        float y = partial[poff + (size_t)b * width + c] - comp;
        float t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    if (c + 1 < width)
        out[ooff + c] = sum;
    else if (loss_index != 0xffffffffu)
        out[loss_index] = sum;
}

/*
 * C (m x n, at coff, ld ldc) = op(A) op(B), row-major; op(A) is m x k (A is
 * k x m when ta), op(B) is k x n (B is n x k when tb).  One work-item per
 * element of C, a sequential fma chain from 0 (the same bits as gemm.cl).
 * 2-D global size (n, m).  The plain reference path (HG_GEMM_NAIVE), not a
 * fast one.
 */
__kernel void hg_gemm_naive(const uint m, const uint n, const uint k,
                            __global const float *a, const uint aoff, const uint lda,
                            const uint ta, __global const float *b, const uint boff,
                            const uint ldb, const uint tb, __global float *c,
                            const uint coff, const uint ldc)
{
    size_t j = get_global_id(0), i = get_global_id(1);
    if (i >= m || j >= n)
        return;
    float acc = 0.0f;
    for (size_t p = 0; p < k; p++) {
        float av = ta ? a[aoff + p * lda + i] : a[aoff + i * lda + p];
        float bv = tb ? b[boff + j * ldb + p] : b[boff + p * ldb + j];
        acc = fma(av, bv, acc);
    }
    c[coff + i * ldc + j] = acc;
}

/*
 * Prediction output (hg_engine_predict / hg_engine_evaluate), on Z = the
 * output layer with its bias added (hg_bias_act).  softmax != 0: Z[r, :]
 * becomes softmax(z) in place, cls[r] the first index of the largest z, and,
 * when truth != 0, loss[r] = logsumexp(z) - z[label] as in hg_softmax_out.
 * softmax == 0 (linear): Z stays the predicted values, cls[r] = 0 and, when
 * truth != 0, loss[r] = 1/2 * sum_j (z_j - y_j)^2 as in hg_linear_out.
 * y / labels are read only when truth != 0.  Global size: rows.
 */
__kernel void hg_predict_out(__global float *z, const uint rows, const uint cols,
                             const uint softmax, __global const float *y,
                             __global const int *labels, const uint truth,
                             __global int *cls, __global float *loss)
{
    size_t r = get_global_id(0);
    if (r >= rows)
        return;
    __global float *zr = z + r * cols;
    if (!softmax) {
        float acc = 0.0f;
        for (uint j = 0; truth && j < cols; j++) {
            float g = zr[j] - y[r * cols + j];
            acc += 0.5f * g * g;
        }
        cls[r] = 0;
        loss[r] = acc;
        return;
    }
    float m = -INFINITY;
    uint best = 0;
    for (uint j = 0; j < cols; j++) {
        if (zr[j] > m) {
            m = zr[j];
            best = j;
        }
    }
    float s = 0.0f;
    for (uint j = 0; j < cols; j++)
        s = s + hg_exp1(zr[j] - m);
    float lse = m + hg_log1(s);
    cls[r] = (int)best;
    loss[r] = truth ? lse - zr[labels[r]] : 0.0f;
    for (uint j = 0; j < cols; j++)
        zr[j] = hg_exp1(zr[j] - lse);
}

/*
 * dst[doff + j * ldd + i] = A[row i][j] for i < rows, j < cols, row i of A
 * as gemm.cl's hg_gemm_nn reads it (hg_out_row: from aoff, or an index
 * step's row aidx[aioff + i] - abase read in place).  Two uses (src/exec/gemm_call.c): a weight
 * matrix transposed for the backprop, and the batch transposed, so that a
 * weight gradient dW = X^T G runs as hg_gemm_nn on X^T, whose rows a
 * work-item reads in order, where hg_gemm_tn steps through X a whole data
 * row per p, a stride no hardware prefetcher follows (784 x 128 x 256 with
 * the 8 x 32 tile on POCL's basic device, in a standalone program:
 * hg_gemm_tn 341 us through an index and 299 us without; this kernel 23 us
 * and hg_gemm_nn on X^T 259 us).  The same values in the same order, so the
 * same bits.
 *
 * A 16 x 16 block a work-item (transpose.cl's hg_t16, with Oclgrind's
 * HG_GT_SCALAR).  Launch: 2-D global size (ceil(cols / 16), ceil(rows / 16)),
 * rounded up to the local size.
 *
 * Here, not in gemm.cl: it does not depend on the GEMM's tile, and in
 * gemm.cl every tile a kernel race tries compiled it again (on POCL about
 * 0.24 s a tile for this kernel and 0.07 s for the weights' transpose it
 * replaces, docs/kernels.md).
 */
__kernel void hg_gather_t(const uint rows, const uint cols,
                          __global const float *A, const uint aoff, const uint lda,
                          __global const uint *aidx, const uint aioff, const uint abase,
                          const uint aindexed,
                          __global float *dst, const uint doff, const uint ldd)
{
    const uint j0 = (uint)get_global_id(0) * HG_GT;
    const uint i0 = (uint)get_global_id(1) * HG_GT;
    if (j0 >= cols || i0 >= rows)
        return;
    __global const uint *ai = aidx + aioff; /* any buffer when not indexed: not read */
    const uint ni = min((uint)HG_GT, rows - i0);
    const uint nj = min((uint)HG_GT, cols - j0);
    __global const float *s[HG_GT];
#pragma unroll
    for (uint ii = 0; ii < HG_GT; ii++) /* past the block's rows: its last (not read) */
        s[ii] = A + (size_t)aoff +
                hg_out_row(0, ai, abase, aindexed, i0 + min(ii, ni - 1u)) * lda + j0;
    hg_t16(s, ni, nj, dst + (size_t)doff + (size_t)j0 * ldd + i0, ldd);
}
