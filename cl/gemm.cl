/* SPDX-License-Identifier: MIT */
#pragma OPENCL FP_CONTRACT OFF
/*
 * gemm.cl - hetgrad's deterministic GEMM kernels (the transposes the GEMM paths
 * need are model.cl's hg_gather_t: they do not depend on the tile, so they are
 * compiled once per device, not once per tile a race tries).
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
 * return at once.  With flags & 16 the two dimensions are swapped:
 * (ceil(M / HG_TM), ceil(N / HG_TN)).  A CPU driver hands out work-groups
 * in order of their linear index, so the first order gives each thread
 * whole block rows of C (a share of A's rows and all of B), the second
 * whole block columns (all of A and a share of B's columns): where B is
 * larger, each core then reads less of what another core wrote
 * (gemm_call.c says when; the same blocks and sums, so the same bits).
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
 * Packed B (flags & 64; gemm_call.c packs where it pays): B is stored in
 * strips of HG_TN columns, each strip's K rows one after another, HG_TN floats
 * a row: B(p, j) at B[boff + (j / HG_TN) * ldb * HG_TN + p * HG_TN + j % HG_TN],
 * ldb the strip's rows (a K block: boff moved on by its first row * HG_TN).
 * A work-item then reads its B in one sequential stream, where row-major B
 * is a stride of ldb floats a step (a new page every few steps, which the
 * hardware prefetchers do not follow).  Only for N a multiple of HG_TN (no
 * block shifted off its strip) and N >= HG_TN.  The same values in the same
 * order: the same bits.
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
        if (i < i0 || i >= M)
            continue;
        __global const float *crow = C + (size_t)coff + (size_t)i * ldc;
#if defined(HG_PREFETCH_C) && defined(__clang__)
        /* the block's lines of C fetched for writing while the K loop runs: its
           stores then wait for no line (a hint only: the same bits) */
        if (!(flags & 8u) && fullrow) {
#pragma unroll
            for (uint c = 0; c < HG_TN; c += 16)
                __builtin_prefetch(crow + j0 + c, 1, 3);
            __builtin_prefetch(crow + j0 + HG_TN - 1, 1, 3);
        }
#endif
        if (!(flags & 8u))
            continue;
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
 * edge when the block would cross it and the matrix is at least one block.
 * Which global id is the block column and which the block row: flags & 16
 * (a select, not get_global_id(flags & 16 ? 1 : 0): POCL compiles only
 * constant dimensions). */
#define HG_ORIGIN                                                              \
    const uint g0_ = (uint)get_global_id(0), g1_ = (uint)get_global_id(1);    \
    const uint j0 = ((flags & 16u) ? g1_ : g0_) * HG_TN;                       \
    const uint i0 = ((flags & 16u) ? g0_ : g1_) * HG_TM;                       \
    if (j0 >= N || i0 >= M)                                                    \
        return;                                                                \
    const uint is = (i0 + HG_TM > M && M >= HG_TM) ? M - HG_TM : i0;           \
    const uint js = (j0 + HG_TN > N && N >= HG_TN) ? N - HG_TN : j0;           \
    const uint nvalid = N - js; /* >= HG_TN unless N < HG_TN */

/* B's first element for the block's columns and the step from one of its
 * rows to the next: row-major, or packed in strips (flags & 64, above). */
#define HG_BSTART                                                              \
    const uint bstep = (flags & 64u) ? (uint)HG_TN : ldb;                      \
    __global const float *bp =                                                 \
        B + (size_t)boff + ((flags & 64u) ? (size_t)js * ldb : (size_t)js);

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

/* hg_gemm_nn's and hg_gemm_tn's parameters, and their arguments passed on. */
#define HG_GEMM_PARAMS                                                         \
    const uint M, const uint N, const uint K, __global const float *A,         \
        const uint aoff, const uint lda, __global const uint *aidx,            \
        const uint aioff, const uint abase, const uint aindexed,               \
        __global const float *B, const uint boff, const uint ldb,              \
        __global float *C, const uint coff, const uint ldc,                    \
        __global const float *bias, const uint bias_off,                       \
        __global const float *mask, const uint moff, const uint ldm,           \
        const uint flags
#define HG_GEMM_ARGS                                                           \
    M, N, K, A, aoff, lda, aidx, aioff, abase, aindexed, B, boff, ldb, C,      \
        coff, ldc, bias, bias_off, mask, moff, ldm, flags

/* C = A B (+ epilogue).  A: M x K, B: K x N.  Functions, this and
   hg_gemm_tn_block, so that mlp_small.cl's hg_mlps_wgrad runs the same code
   on the same global ids. */
static inline void hg_gemm_nn_block(HG_GEMM_PARAMS)
{
    HG_ORIGIN
    __global const float *ar[HG_TM];
#pragma unroll
    for (uint r = 0; r < HG_TM; r++)
        ar[r] = A + (size_t)aoff + hg_arow(min(is + r, M - 1u), aidx, aioff, abase, aindexed) * lda;
    HG_BSTART
    VT acc[HG_TM * HG_NV], b[HG_NV];
    hg_init_acc(acc, M, N, i0, j0, is, js, C, coff, ldc, flags);

    if (nvalid >= HG_TN) {
        for (uint p = 0; p < K; p++, bp += bstep) {
            hg_loadb(b, bp);
            HG_FMA_ROWS(ar[r][p])
        }
    } else {
        for (uint p = 0; p < K; p++, bp += bstep) {
            hg_gather(b, bp, nvalid);
            HG_FMA_ROWS(ar[r][p])
        }
    }
    hg_store(acc, M, N, i0, j0, is, js, C, coff, ldc, bias, bias_off, mask, moff, ldm, flags);
}

__kernel void hg_gemm_nn(HG_GEMM_PARAMS)
{
    hg_gemm_nn_block(HG_GEMM_ARGS);
}

/* C = A^T B (+ epilogue).  A: K x M (stored), B: K x N. */
static inline void hg_gemm_tn_block(HG_GEMM_PARAMS)
{
    HG_ORIGIN
    uint ac[HG_TM];
#pragma unroll
    for (uint r = 0; r < HG_TM; r++)
        ac[r] = min(is + r, M - 1u);
    __global const float *ap = A + (size_t)aoff;
    HG_BSTART
    VT acc[HG_TM * HG_NV], b[HG_NV];
    hg_init_acc(acc, M, N, i0, j0, is, js, C, coff, ldc, flags);

    if (aindexed) {
        /* row p of A through the index list (two loops: the test inside one
           loop measured 5-9% slower on POCL's basic device) */
        if (nvalid >= HG_TN) {
            for (uint p = 0; p < K; p++, bp += bstep) {
                __global const float *ai = ap + hg_arow(p, aidx, aioff, abase, 1u) * lda;
                hg_loadb(b, bp);
                HG_FMA_ROWS(ai[ac[r]])
            }
        } else {
            for (uint p = 0; p < K; p++, bp += bstep) {
                __global const float *ai = ap + hg_arow(p, aidx, aioff, abase, 1u) * lda;
                hg_gather(b, bp, nvalid);
                HG_FMA_ROWS(ai[ac[r]])
            }
        }
    } else if (nvalid >= HG_TN) {
        for (uint p = 0; p < K; p++, ap += lda, bp += bstep) {
            hg_loadb(b, bp);
            HG_FMA_ROWS(ap[ac[r]])
        }
    } else {
        for (uint p = 0; p < K; p++, ap += lda, bp += bstep) {
            hg_gather(b, bp, nvalid);
            HG_FMA_ROWS(ap[ac[r]])
        }
    }
    hg_store(acc, M, N, i0, j0, is, js, C, coff, ldc, bias, bias_off, mask, moff, ldm, flags);
}

__kernel void hg_gemm_tn(HG_GEMM_PARAMS)
{
    hg_gemm_tn_block(HG_GEMM_ARGS);
}

/*
 * D (B packed in strips, flags & 64 above: strip s's row p at
 * D[doff + (s * K + p) * HG_TN]) = B (K x N row-major from boff, leading
 * dimension ldb), N a multiple of HG_TN.  2-D global size (N / HG_TN,
 * ceil(K / HG_PACK_ROWS)): a work-item copies HG_PACK_ROWS rows of one strip,
 * so that a CPU driver's work-groups are few.  Copies only: the same values.
 */
#define HG_PACK_ROWS 64u
__kernel void hg_pack_b(const uint K, const uint N, __global const float *B,
                        const uint boff, const uint ldb, __global float *D, const uint doff)
{
    const uint s = (uint)get_global_id(0), p0 = (uint)get_global_id(1) * HG_PACK_ROWS;
    const uint j = s * HG_TN;
    if (j >= N || p0 >= K)
        return;
    const uint pe = min(K, p0 + HG_PACK_ROWS);
    __global const float *src = B + (size_t)boff + (size_t)p0 * ldb + j;
    __global float *dst = D + (size_t)doff + (size_t)j * K + (size_t)p0 * HG_TN;
    for (uint p = p0; p < pe; p++, src += ldb, dst += HG_TN) {
        VT v[HG_NV];
        hg_loadb(v, src);
#pragma unroll
        for (uint u = 0; u < HG_NV; u++)
            VSTORE(v[u], u, dst);
    }
}
