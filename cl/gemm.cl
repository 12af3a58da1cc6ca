/* SPDX-License-Identifier: MIT */
#pragma OPENCL FP_CONTRACT OFF
/*
 * gemm.cl - hetgrad's deterministic GEMM and transpose kernels.
 *
 * Row-major float matrices; every buffer comes with an element offset and a
 * leading dimension (neither needs any alignment: vloadN/vstoreN only need
 * element alignment).
 *
 * Determinism: every element of C is
 *     acc = 0.0f; for (p = 0; p < K; p++) acc = fma(a_ip, b_pj, acc);
 * followed by the epilogue, so its bits do not depend on HG_TM, HG_TN, the
 * local size or the device.  A vector fma is HG_VW independent scalar fmas.
 *
 * Work decomposition: one work-item computes an HG_TM x HG_TN block of C,
 * keeping HG_TM x HG_NV accumulators of type floatHG_VW (HG_TN = HG_NV *
 * HG_VW: one vector a row up to 16 columns, two float16 for 32); per p it
 * loads one row segment of B (HG_NV vloadHG_VW) and broadcasts HG_TM scalars
 * of A, each used for HG_NV vector fmas.  Two vectors a row halve the
 * broadcasts per fma: with 8 to 12 rows that is 16 to 24 float16
 * accumulators, which AVX-512's 32 registers hold (measured on POCL's basic
 * device, 128 x 784 x 256 and 784 x 128 x 256: 8 x 32 and 12 x 32 take 0.23
 * and 0.28 ms where 16 x 16 takes 0.33 and 0.39 ms).  With AVX2's 16
 * registers, 6 x 16 (12 of them for six float16) is the fastest (on an AMD
 * EPYC, docs/kernels.md).  No local memory, no barriers: any local size gives
 * the same result.
 *
 * Launch (gemm): 2-D global size (ceil(N / HG_TN), ceil(M / HG_TM)), each
 * rounded up to a multiple of the local size; work-items past the edge
 * return at once.
 *
 * Edge tiles: a block that would cross the bottom (right) edge of C is
 * shifted up (left) so that it ends at row M (column N) and stays a full,
 * vectorised block; it stores only the rows (columns) that no other block
 * owns, so every element is written by exactly one work-item.  Only when
 * M < HG_TM (N < HG_TN) does a block hang over the edge: its row indices are
 * clamped to M - 1 (column loads gathered with indices clamped to N - 1), so
 * nothing is read out of bounds, and the extra lanes are not stored.  The
 * per-element sum is the same sequential fma chain in every case.
 *
 * Index arithmetic is 2-D and division-free (Oclgrind 21.10 cannot execute
 * the LLVM `freeze` that division by a runtime value produces).
 */

#ifndef HG_TM
#define HG_TM 8
#endif
#ifndef HG_TN
#define HG_TN 16
#endif

#define HG_CAT_(a, b) a##b
#define HG_CAT(a, b) HG_CAT_(a, b)
#if HG_TN != 4 && HG_TN != 8 && HG_TN != 16 && HG_TN != 32
#error "HG_TN must be 4, 8, 16 or 32"
#endif
#if HG_TN == 32
#define HG_VW 16
#define HG_NV 2
#else
#define HG_VW HG_TN
#define HG_NV 1
#endif
#define VT HG_CAT(float, HG_VW)
#define VLOAD HG_CAT(vload, HG_VW)
#define VSTORE HG_CAT(vstore, HG_VW)
#if HG_TM < 1 || HG_TM > 32
#error "HG_TM must be in 1..32"
#endif

/* Gather HG_TN floats of row q (pointer to column js) into b[HG_NV],
 * columns clamped to nvalid - 1 relative to js.  Used only when N < HG_TN. */
static inline void hg_gather(VT *b, __global const float *q, const uint nvalid)
{
    float t[HG_TN];
#pragma unroll
    for (uint c = 0; c < HG_TN; c++)
        t[c] = q[min(c, nvalid - 1u)];
#pragma unroll
    for (uint v = 0; v < HG_NV; v++)
        b[v] = VLOAD(v, t);
}

/* One row segment of B: HG_NV vectors from q. */
static inline void hg_loadb(VT *b, __global const float *q)
{
#pragma unroll
    for (uint v = 0; v < HG_NV; v++)
        b[v] = VLOAD(v, q);
}

/* Epilogue of one element. */
static inline float hg_epi1(float v, const uint i, const uint j,
                            __global const float *bias, const uint bias_off,
                            __global const float *mask, const uint moff,
                            const uint ldm, const uint flags)
{
    if (flags & 1u)
        v = v + bias[bias_off + j];
    if (flags & 2u)
        v = v < 0.0f ? 0.0f : v;
    if (flags & 4u)
        v = mask[(size_t)moff + (size_t)i * ldm + j] > 0.0f ? v : 0.0f;
    return v;
}

/*
 * Store the HG_TM x HG_TN block acc[] (row r in acc[r * HG_NV ...]) whose
 * top-left element is (is, js).
 * Row is + r is stored when i0 <= is + r < M, column js + c when
 * j0 <= js + c < N.
 */
static inline void hg_store(VT *acc, const uint M, const uint N,
                            const uint i0, const uint j0, const uint is, const uint js,
                            __global float *C, const uint coff, const uint ldc,
                            __global const float *bias, const uint bias_off,
                            __global const float *mask, const uint moff, const uint ldm,
                            const uint flags)
{
    const int fullrow = (js == j0) && (j0 + HG_TN <= N);
    VT bv[HG_NV];
#pragma unroll
    for (uint u = 0; u < HG_NV; u++)
        bv[u] = fullrow && (flags & 1u) ? VLOAD(u, bias + bias_off + j0) : (VT)(0.0f);
#pragma unroll
    for (uint r = 0; r < HG_TM; r++) {
        const uint i = is + r;
        if (i < i0 || i >= M)
            continue;
        __global float *crow = C + (size_t)coff + (size_t)i * ldc;
        if (fullrow) {
#pragma unroll
            for (uint u = 0; u < HG_NV; u++) {
                VT v = acc[r * HG_NV + u];
                if (flags & 1u)
                    v = v + bv[u];
                if (flags & 2u)
                    v = v < (VT)(0.0f) ? (VT)(0.0f) : v;
                if (flags & 4u) {
                    VT mv = VLOAD(u, mask + (size_t)moff + (size_t)i * ldm + j0);
                    v = mv > (VT)(0.0f) ? v : (VT)(0.0f);
                }
                VSTORE(v, u, crow + j0);
            }
        } else {
            float t[HG_TN];
#pragma unroll
            for (uint u = 0; u < HG_NV; u++)
                VSTORE(acc[r * HG_NV + u], u, t);
            for (uint c = 0; c < HG_TN; c++) {
                const uint j = js + c;
                if (j >= j0 && j < N)
                    crow[j] = hg_epi1(t[c], i, j, bias, bias_off, mask, moff, ldm, flags);
            }
        }
    }
}

/*
 * Accumulators at the start: 0, or with flags & 8 the current C (C += op(A) B:
 * the fma chain goes on from where an earlier call over the first rows of K
 * stopped, so splitting K into calls gives the same bits as one call).  Only
 * the elements this work-item owns are read (the others are never stored).
 */
static inline void hg_init_acc(VT *acc, const uint M, const uint N, const uint i0,
                               const uint j0, const uint is, const uint js,
                               __global const float *C, const uint coff, const uint ldc,
                               const uint flags)
{
    const int fullrow = (js == j0) && (j0 + HG_TN <= N);
#pragma unroll
    for (uint r = 0; r < HG_TM; r++) {
#pragma unroll
        for (uint u = 0; u < HG_NV; u++)
            acc[r * HG_NV + u] = (VT)(0.0f);
        const uint i = is + r;
        if (!(flags & 8u) || i < i0 || i >= M)
            continue;
        __global const float *crow = C + (size_t)coff + (size_t)i * ldc;
        if (fullrow) {
#pragma unroll
            for (uint u = 0; u < HG_NV; u++)
                acc[r * HG_NV + u] = VLOAD(u, crow + j0);
        } else {
            float t[HG_TN];
            for (uint c = 0; c < HG_TN; c++) {
                const uint j = js + c;
                t[c] = j >= j0 && j < N ? crow[j] : 0.0f;
            }
#pragma unroll
            for (uint u = 0; u < HG_NV; u++)
                acc[r * HG_NV + u] = VLOAD(u, t);
        }
    }
}

/* acc[r][u] = fma(A(r), b[u], acc[r][u]) for every row r of the block, A(r)
 * an expression in r: one broadcast of A a row, used for every vector. */
#define HG_FMA_ROWS(AR)                                                        \
    _Pragma("unroll") for (uint r = 0; r < HG_TM; r++) {                       \
        const VT av = (VT)(AR);                                                \
        _Pragma("unroll") for (uint u = 0; u < HG_NV; u++)                     \
            acc[r * HG_NV + u] = fma(av, b[u], acc[r * HG_NV + u]);            \
    }

/* Block origin: the work-item's own (i0, j0), or shifted back to end at the
 * edge when the block would cross it and the matrix is at least one block. */
#define HG_ORIGIN                                                              \
    const uint j0 = (uint)get_global_id(0) * HG_TN;                            \
    const uint i0 = (uint)get_global_id(1) * HG_TM;                            \
    if (j0 >= N || i0 >= M)                                                    \
        return;                                                                \
    const uint is = (i0 + HG_TM > M && M >= HG_TM) ? M - HG_TM : i0;           \
    const uint js = (j0 + HG_TN > N && N >= HG_TN) ? N - HG_TN : j0;           \
    const uint nvalid = N - js; /* >= HG_TN unless N < HG_TN */

/*
 * Row i of A (nn: of the M rows; tn: of the K rows): row i from aoff on, or,
 * for an index step read in place (aindexed != 0), the data set's row
 * aidx[aioff + i] - abase (hg_batch_row in fused.cl; aoff is then the first
 * column).  The same values in the same order as the rows gathered first,
 * so the same bits.
 */
inline size_t hg_arow(const uint i, __global const uint *aidx, const uint aioff,
                      const uint abase, const uint aindexed)
{
    return aindexed ? (size_t)(aidx[aioff + i] - abase) : (size_t)i;
}

/* C = A B (+ epilogue).  A: M x K, B: K x N. */
__kernel void hg_gemm_nn(const uint M, const uint N, const uint K,
                         __global const float *A, const uint aoff, const uint lda,
                         __global const uint *aidx, const uint aioff, const uint abase,
                         const uint aindexed,
                         __global const float *B, const uint boff, const uint ldb,
                         __global float *C, const uint coff, const uint ldc,
                         __global const float *bias, const uint bias_off,
                         __global const float *mask, const uint moff, const uint ldm,
                         const uint flags)
{
    HG_ORIGIN
    __global const float *ar[HG_TM];
#pragma unroll
    for (uint r = 0; r < HG_TM; r++)
        ar[r] = A + (size_t)aoff + hg_arow(min(is + r, M - 1u), aidx, aioff, abase, aindexed) * lda;
    __global const float *bp = B + (size_t)boff + js;
    VT acc[HG_TM * HG_NV], b[HG_NV];
    hg_init_acc(acc, M, N, i0, j0, is, js, C, coff, ldc, flags);

    if (nvalid >= HG_TN) {
        for (uint p = 0; p < K; p++, bp += ldb) {
            hg_loadb(b, bp);
            HG_FMA_ROWS(ar[r][p])
        }
    } else {
        for (uint p = 0; p < K; p++, bp += ldb) {
            hg_gather(b, bp, nvalid);
            HG_FMA_ROWS(ar[r][p])
        }
    }
    hg_store(acc, M, N, i0, j0, is, js, C, coff, ldc, bias, bias_off, mask, moff, ldm, flags);
}

/* C = A^T B (+ epilogue).  A: K x M (stored), B: K x N. */
__kernel void hg_gemm_tn(const uint M, const uint N, const uint K,
                         __global const float *A, const uint aoff, const uint lda,
                         __global const uint *aidx, const uint aioff, const uint abase,
                         const uint aindexed,
                         __global const float *B, const uint boff, const uint ldb,
                         __global float *C, const uint coff, const uint ldc,
                         __global const float *bias, const uint bias_off,
                         __global const float *mask, const uint moff, const uint ldm,
                         const uint flags)
{
    HG_ORIGIN
    uint ac[HG_TM];
#pragma unroll
    for (uint r = 0; r < HG_TM; r++)
        ac[r] = min(is + r, M - 1u);
    __global const float *ap = A + (size_t)aoff;
    __global const float *bp = B + (size_t)boff + js;
    VT acc[HG_TM * HG_NV], b[HG_NV];
    hg_init_acc(acc, M, N, i0, j0, is, js, C, coff, ldc, flags);

    if (aindexed) {
        /* row p of A through the index list (two loops: the test inside one
           loop measured 5-9% slower on POCL's basic device) */
        if (nvalid >= HG_TN) {
            for (uint p = 0; p < K; p++, bp += ldb) {
                __global const float *ai = ap + hg_arow(p, aidx, aioff, abase, 1u) * lda;
                hg_loadb(b, bp);
                HG_FMA_ROWS(ai[ac[r]])
            }
        } else {
            for (uint p = 0; p < K; p++, bp += ldb) {
                __global const float *ai = ap + hg_arow(p, aidx, aioff, abase, 1u) * lda;
                hg_gather(b, bp, nvalid);
                HG_FMA_ROWS(ai[ac[r]])
            }
        }
    } else if (nvalid >= HG_TN) {
        for (uint p = 0; p < K; p++, ap += lda, bp += ldb) {
            hg_loadb(b, bp);
            HG_FMA_ROWS(ap[ac[r]])
        }
    } else {
        for (uint p = 0; p < K; p++, ap += lda, bp += ldb) {
            hg_gather(b, bp, nvalid);
            HG_FMA_ROWS(ap[ac[r]])
        }
    }
    hg_store(acc, M, N, i0, j0, is, js, C, coff, ldc, bias, bias_off, mask, moff, ldm, flags);
}

/*
 * dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols.
 * Launch: 2-D global size (ceil(cols / HG_TN), ceil(rows / HG_TM)), rounded
 * up to the local size (the same shape as a rows x cols GEMM); each
 * work-item moves an HG_TM x HG_TN block.
 */
__kernel void hg_transpose(const uint rows, const uint cols,
                           __global const float *src, const uint soff, const uint lds,
                           __global float *dst, const uint doff, const uint ldd)
{
    const uint j0 = (uint)get_global_id(0) * HG_TN;
    const uint i0 = (uint)get_global_id(1) * HG_TM;
    if (j0 >= cols || i0 >= rows)
        return;
    const uint ni = min((uint)HG_TM, rows - i0);
    const uint nj = min((uint)HG_TN, cols - j0);
    for (uint jj = 0; jj < nj; jj++) {
        __global float *d = dst + (size_t)doff + (size_t)(j0 + jj) * ldd + i0;
        __global const float *s = src + (size_t)soff + (size_t)i0 * lds + j0 + jj;
        for (uint ii = 0; ii < ni; ii++)
            d[ii] = s[(size_t)ii * lds];
    }
}

/*
 * dst[j * ldd + i] = A[row i][j] for i < rows, j < cols, row i of A as
 * hg_gemm_nn reads it (hg_arow: from aoff, or an index step's row read in
 * place): the batch transposed, so that a weight gradient dW = X^T G runs
 * as hg_gemm_nn on X^T, whose rows a work-item reads in order, where
 * hg_gemm_tn steps through X a whole data row per p, a stride no hardware
 * prefetcher follows (784 x 128 x 256 with the 8 x 32 tile on POCL's basic
 * device, in a standalone program: hg_gemm_tn 341 us through an index and
 * 299 us without; this kernel 23 us and hg_gemm_nn on X^T 259 us).  The same
 * values in the same order, so the same bits.  Oclgrind 21.10's
 * uninitialised-value plugin crashes (a segfault inside the plugin) on this
 * kernel's vector loads: built with -DHG_GT_SCALAR (as the engine does on
 * Oclgrind) it loads the same values one by one (10 us slower on basic).
 *
 * A 16 x 16 block a work-item, whatever the tile: sixteen rows of 16 floats
 * loaded as vectors, stored as sixteen columns of 16 (a full block); an edge
 * block moves its elements one by one.  Launch: 2-D global size
 * (ceil(cols / 16), ceil(rows / 16)), rounded up to the local size.
 */
#define HG_GT 16
#ifndef HG_GT_SCALAR
/* c[j] = column j of the 8 x 8 block whose rows are a0 .. a7: interleave
   pairs of rows, then pairs of pairs, then the 128-bit halves (on AVX the
   three steps of unpcklps/unpckhps, unpcklpd/unpckhpd and vperm2f128: 24
   shuffles for 64 elements, where building each column from 8 scalars takes
   an insert per element) */
static inline void hg_t8(const float8 a0, const float8 a1, const float8 a2, const float8 a3,
                         const float8 a4, const float8 a5, const float8 a6, const float8 a7,
                         float8 *c)
{
#define HG_LO(x, y) (float8)(x.s0, y.s0, x.s1, y.s1, x.s4, y.s4, x.s5, y.s5)
#define HG_HI(x, y) (float8)(x.s2, y.s2, x.s3, y.s3, x.s6, y.s6, x.s7, y.s7)
#define HG_LO2(x, y) (float8)(x.s0, x.s1, y.s0, y.s1, x.s4, x.s5, y.s4, y.s5)
#define HG_HI2(x, y) (float8)(x.s2, x.s3, y.s2, y.s3, x.s6, x.s7, y.s6, y.s7)
    const float8 t0 = HG_LO(a0, a1), t1 = HG_HI(a0, a1), t2 = HG_LO(a2, a3), t3 = HG_HI(a2, a3);
    const float8 t4 = HG_LO(a4, a5), t5 = HG_HI(a4, a5), t6 = HG_LO(a6, a7), t7 = HG_HI(a6, a7);
    const float8 u0 = HG_LO2(t0, t2), u1 = HG_HI2(t0, t2), u2 = HG_LO2(t1, t3),
                 u3 = HG_HI2(t1, t3);
    const float8 u4 = HG_LO2(t4, t6), u5 = HG_HI2(t4, t6), u6 = HG_LO2(t5, t7),
                 u7 = HG_HI2(t5, t7);
#undef HG_LO
#undef HG_HI
#undef HG_LO2
#undef HG_HI2
    c[0] = (float8)(u0.lo, u4.lo);
    c[1] = (float8)(u1.lo, u5.lo);
    c[2] = (float8)(u2.lo, u6.lo);
    c[3] = (float8)(u3.lo, u7.lo);
    c[4] = (float8)(u0.hi, u4.hi);
    c[5] = (float8)(u1.hi, u5.hi);
    c[6] = (float8)(u2.hi, u6.hi);
    c[7] = (float8)(u3.hi, u7.hi);
}
#endif
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
    if (i0 + HG_GT <= rows && j0 + HG_GT <= cols) {
        __global float *d = dst + (size_t)doff + (size_t)j0 * ldd + i0;
#ifdef HG_GT_SCALAR
        float t[HG_GT][HG_GT];
#pragma unroll
        for (uint ii = 0; ii < HG_GT; ii++) {
            __global const float *s =
                A + (size_t)aoff + hg_arow(i0 + ii, aidx, aioff, abase, aindexed) * lda + j0;
#pragma unroll
            for (uint jj = 0; jj < HG_GT; jj++)
                t[ii][jj] = s[jj];
        }
#pragma unroll
        for (uint jj = 0; jj < HG_GT; jj++)
            vstore16((float16)(t[0][jj], t[1][jj], t[2][jj], t[3][jj], t[4][jj], t[5][jj],
                               t[6][jj], t[7][jj], t[8][jj], t[9][jj], t[10][jj], t[11][jj],
                               t[12][jj], t[13][jj], t[14][jj], t[15][jj]),
                     0, d + (size_t)jj * ldd);
#else
        __global const float *s[HG_GT];
#pragma unroll
        for (uint ii = 0; ii < HG_GT; ii++)
            s[ii] = A + (size_t)aoff + hg_arow(i0 + ii, aidx, aioff, abase, aindexed) * lda + j0;
        /* four 8 x 8 blocks, each transposed in registers */
#pragma unroll
        for (uint h = 0; h < 2u; h++) {
#pragma unroll
            for (uint v = 0; v < 2u; v++) {
                float8 c[8];
                hg_t8(vload8(h, s[8u * v]), vload8(h, s[8u * v + 1u]), vload8(h, s[8u * v + 2u]),
                      vload8(h, s[8u * v + 3u]), vload8(h, s[8u * v + 4u]),
                      vload8(h, s[8u * v + 5u]), vload8(h, s[8u * v + 6u]),
                      vload8(h, s[8u * v + 7u]), c);
#pragma unroll
                for (uint q = 0; q < 8u; q++)
                    vstore8(c[q], v, d + (size_t)(8u * h + q) * ldd);
            }
        }
#endif
        return;
    }
    const uint ni = min((uint)HG_GT, rows - i0);
    const uint nj = min((uint)HG_GT, cols - j0);
    for (uint ii = 0; ii < ni; ii++) {
        __global const float *s =
            A + (size_t)aoff + hg_arow(i0 + ii, aidx, aioff, abase, aindexed) * lda + j0;
        __global float *d = dst + (size_t)doff + (size_t)j0 * ldd + i0 + ii;
        for (uint jj = 0; jj < nj; jj++)
            d[(size_t)jj * ldd] = s[jj];
    }
}
