/* SPDX-License-Identifier: MIT */
/*
 * fused.cl - one-pass gradients of the single-layer models (softmax and
 * linear regression), shaped for CPUs: each work-item streams a slab of
 * the batch's rows once, computing a few rows' predictions, loss and
 * output gradient, then adding their outer product into its own partial
 * weight gradient while the rows are still in cache.  A second kernel sums
 * the slabs' partials in slab order into one record per block of slabs.
 * The rows are consecutive rows of x, or, for an index step (a minibatch
 * of rows picked from the data set), rows read in place through the step's
 * index list: no gather kernel and no copy of the rows first.
 *
 * Built per shape with detmath.cl prepended and these defines:
 *   HG_F   features, HG_K classes / outputs (compile-time: fixed trip counts)
 *   HG_KP  HG_K rounded up to a multiple of HG_KC (padded classes of Wt are 0)
 *   HG_KC  classes per forward pass (accumulators: HG_RF x HG_KC float16)
 *   HG_RF  rows per forward pass, HG_RB rows per backward pass (a multiple)
 *   HG_SOFTMAX or HG_LINEAR
 * and, optionally (fused.c: CPUs with AVX2's registers),
 *   HG_RBB rows per column block (16, 32 or 64; a multiple of HG_RB) and
 *   HG_BC  classes a column pass: hg_backward_cols
 * and (fused.c: CPU devices) HG_PREFETCH: the next block's rows fetched while
 * a block's backward pass runs (HG_PREFETCH_NEXT).
 *
 * Same bits whatever HG_KC, HG_RF, HG_RB, HG_RBB, HG_BC, the local size or the device:
 * every sum has a fixed order -- a row's prediction is 16 lanes over the
 * features (lane l takes features l, l+16, ...) added in a fixed tree, then
 * the tail in order; weight and bias gradients and the loss add rows in row
 * order -- and every multiply-add is an explicit fma (correctly rounded),
 * with contraction off.
 */
#pragma OPENCL FP_CONTRACT OFF

/* Test hooks (tests/test_engine.c: a broken candidate is excluded, not used). */
#ifdef HG_TEST_BROKEN_BUILD
#error "this kernel candidate was broken on purpose by a test"
#endif

/* Where the forward pass reads Wt: global memory (hg_fused_grad), or the
   work-group's local copy (hg_fused_one, built with -DHG_ONE) */
#ifdef HG_ONE
#define HG_WT_AS __local
#else
#define HG_WT_AS __global
#endif

#define HG_FV (HG_F / 16)          /* whole vectors of features per row */
#define HG_FT (HG_F - HG_FV * 16)  /* features after them */
#define HG_KF (HG_K * HG_F)
/* one partial: dWt (K x F), db (K), loss; rounded up to 16 floats so that every
   slab's partial starts 64-byte aligned (fused.c's slab_stride) */
#define HG_PART (HG_KF + HG_K + 1)
#define HG_STRIDE ((HG_PART + 15) / 16 * 16)

/*
 * Sum of the 16 lanes as (a.lo + a.hi), halved again until one is left.
 * HG_HSUM_STORE does the same additions through private memory instead of
 * shuffles: Oclgrind 21.10's uninitialised-value plugin crashes on shuffles
 * of 16-wide vectors, so the engine builds that variant for Oclgrind (same
 * arithmetic, same order, same bits; slower on CPUs).
 */
inline float hg_hsum16(float16 a)
{
#ifdef HG_HSUM_STORE
    float t[16];
    vstore16(a, 0, t);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            t[i] = t[i] + t[i + w];
    return t[0];
#else
    float8 s8 = a.lo + a.hi;
    float4 s4 = s8.lo + s8.hi;
    float2 s2 = s4.lo + s4.hi;
    return s2.x + s2.y;
#endif
}

/*
 * Wt (HG_KP x HG_F) = W^T, padded classes zero; W is params[w_off ...]
 * (HG_F x HG_K, row-major).  2-D global size (HG_F, HG_KP).
 */
__kernel void hg_fused_prep(__global const float *params, const uint w_off,
                            __global float *wt)
{
    size_t f = get_global_id(0), c = get_global_id(1);
    if (f >= HG_F || c >= HG_KP)
        return;
    wt[c * HG_F + f] = c < HG_K ? params[w_off + f * HG_K + c] : 0.0f;
}

/*
 * Predictions z[c * zs + r] = x_r . W[:, c] + b[c] for the NR rows x0[r]
 * (consecutive rows of the batch, or rows read through an index list).  z
 * is class-major, so that the output step can take rows as the lanes of a
 * vector.
 */
#define HG_DEFINE_FORWARD_(NR)                                                      \
    inline void hg_forward##NR(__global const float *const *x0,                     \
                               HG_WT_AS const float *wt, __global const float *bias, \
                               float *z, const int zs)                              \
    {                                                                               \
        for (int c0 = 0; c0 < HG_KP; c0 += HG_KC) {                                 \
            float16 acc[NR][HG_KC];                                                 \
            _Pragma("unroll") for (int r = 0; r < NR; r++)                          \
                _Pragma("unroll") for (int c = 0; c < HG_KC; c++)                   \
                    acc[r][c] = (float16)(0.0f);                                    \
            for (int v = 0; v < HG_FV; v++) {                                       \
                float16 xv[NR];                                                     \
                _Pragma("unroll") for (int r = 0; r < NR; r++)                      \
                    xv[r] = vload16(v, x0[r]);                                      \
                _Pragma("unroll") for (int c = 0; c < HG_KC; c++) {                 \
                    float16 w = vload16(v, wt + (c0 + c) * HG_F);                   \
                    _Pragma("unroll") for (int r = 0; r < NR; r++)                  \
                        acc[r][c] = fma(xv[r], w, acc[r][c]);                       \
                }                                                                   \
            }                                                                       \
            _Pragma("unroll") for (int c = 0; c < HG_KC; c++) {                     \
                if (c0 + c >= HG_K)                                                 \
                    break;                                                          \
                _Pragma("unroll") for (int r = 0; r < NR; r++) {                    \
                    float s = hg_hsum16(acc[r][c]);                                 \
                    for (int t = 0; t < HG_FT; t++)                                 \
                        s = fma(x0[r][HG_FV * 16 + t],                              \
                                wt[(c0 + c) * HG_F + HG_FV * 16 + t], s);           \
                    z[(c0 + c) * zs + r] = s + bias[c0 + c];                        \
                }                                                                   \
            }                                                                       \
        }                                                                           \
    }

/*
 * With HG_PREFETCH (fused.c: CPU devices; clang's __builtin_prefetch, which
 * POCL's and Intel's compilers take), vector v of each of the next block's
 * NR rows xn[r] is fetched into L1 while this block's rows, already in cache,
 * go by: the backward pass then overlaps the next block's memory reads, where
 * the forward pass otherwise waits for them (one 64-byte line a row per
 * vector).  OpenCL's prefetch() compiles to nothing on POCL 3.1; another
 * compiler than clang ignores HG_PREFETCH.  A hint only:
 * nothing is read into the sums, so the same bits; xn NULL: none.
 */
#if defined(HG_PREFETCH) && defined(__clang__)
#define HG_PREFETCH_NEXT(NR)                                                         \
    if (xn) {                                                                        \
        _Pragma("unroll") for (int r = 0; r < NR; r++)                               \
            __builtin_prefetch(xn[r] + v * 16, 0, 3);                                \
    }
#else
#define HG_PREFETCH_NEXT(NR)
#endif

/*
 * A vector of a slab's partial weight gradient (p: a class's row of it, v: the
 * vector).  With whole vectors of features (HG_F a multiple of 16) every such
 * vector starts 64 bytes from a multiple of HG_STRIDE floats from the buffer's
 * start, which OpenCL aligns to at least 64 bytes (CL_DEVICE_MEM_BASE_ADDR_ALIGN
 * covers int16): then a float16 pointer, one aligned 64-byte load and store
 * where POCL 3.1 compiles vload16/vstore16 to four 16-byte moves (on an AMD EPYC,
 * Zen 4: 6-7% more 16,384-row softmax rows/s on POCL's basic device,
 * docs/kernels.md).  The same values either way.
 */
#if HG_F % 16 == 0
#define HG_PW_LOAD(p, v) (((__global float16 *)(p))[v])
#define HG_PW_STORE(a, p, v) (((__global float16 *)(p))[v] = (a))
#else
#define HG_PW_LOAD(p, v) vload16(v, p)
#define HG_PW_STORE(a, p, v) vstore16(a, v, p)
#endif
/* pw (dWt, HG_K x HG_F) += g[c * NR + r] x_r for the NR rows x0[r], in row order
   (xn: the next block's rows, HG_PREFETCH_NEXT). */
#define HG_DEFINE_BACKWARD_(NR)                                                      \
    inline void hg_backward##NR(__global const float *const *x0, const float *g,     \
                                __global float *pw, __global const float *const *xn) \
    {                                                                                \
        for (int v = 0; v < HG_FV; v++) {                                            \
            HG_PREFETCH_NEXT(NR)                                                     \
            float16 xv[NR];                                                          \
            _Pragma("unroll") for (int r = 0; r < NR; r++)                           \
                xv[r] = vload16(v, x0[r]);                                           \
            _Pragma("unroll") for (int c = 0; c < HG_K; c++) {                       \
                float16 a = HG_PW_LOAD(pw + c * HG_F, v);                            \
                _Pragma("unroll") for (int r = 0; r < NR; r++)                       \
                    a = fma((float16)(g[c * NR + r]), xv[r], a);                     \
                HG_PW_STORE(a, pw + c * HG_F, v);                                    \
            }                                                                        \
        }                                                                            \
        for (int t = 0; t < HG_FT; t++) {                                            \
            int f = HG_FV * 16 + t;                                                  \
            for (int c = 0; c < HG_K; c++) {                                         \
                float a = pw[c * HG_F + f];                                          \
                _Pragma("unroll") for (int r = 0; r < NR; r++)                       \
                    a = fma(g[c * NR + r], x0[r][f], a);                             \
                pw[c * HG_F + f] = a;                                                \
            }                                                                        \
        }                                                                            \
    }

#ifdef HG_RBB
#if HG_RBB % HG_RB != 0 || HG_BC < 1
#error "HG_RBB must be a multiple of HG_RB, and HG_BC at least 1"
#endif
/*
 * pw (dWt, HG_K x HG_F) += g[c * HG_RBB + r] x_r for the HG_RBB rows x0[r], in
 * row order, a column at a time: for one vector of 16 features and HG_BC
 * classes, the sums stay in registers while all the rows go by (classes past
 * HG_K compute the last class again and are not stored).  hg_backward's
 * order (rows outside, the classes' vectors inside) loads and stores every
 * vector of pw once per HG_RB rows: with ten classes of 784 features that
 * is 31 KB each way, which with the rows does not fit a 32 KB L1, so it
 * streams through L2; here once per HG_RBB rows.  The same fma chain per
 * element (rows in order): the same bits.  xn: the next block's HG_RBB rows
 * (HG_PREFETCH_NEXT).
 */
inline void hg_backward_cols(__global const float *const *x0, const float *g,
                             __global float *pw, __global const float *const *xn)
{
    for (int v = 0; v < HG_FV; v++) {
        HG_PREFETCH_NEXT(HG_RBB)
        for (int c0 = 0; c0 < HG_K; c0 += HG_BC) {
            float16 a[HG_BC];
            _Pragma("unroll") for (int k = 0; k < HG_BC; k++)
                a[k] = vload16(v, pw + min(c0 + k, HG_K - 1) * HG_F);
            for (int r = 0; r < HG_RBB; r++) {
                const float16 xv = vload16(v, x0[r]);
                _Pragma("unroll") for (int k = 0; k < HG_BC; k++)
                    a[k] = fma((float16)(g[min(c0 + k, HG_K - 1) * HG_RBB + r]), xv, a[k]);
            }
            _Pragma("unroll") for (int k = 0; k < HG_BC; k++)
                if (c0 + k < HG_K)
                    vstore16(a[k], v, pw + (c0 + k) * HG_F);
        }
    }
    for (int t = 0; t < HG_FT; t++) {
        const int f = HG_FV * 16 + t;
        for (int c = 0; c < HG_K; c++) {
            float a = pw[c * HG_F + f];
            for (int r = 0; r < HG_RBB; r++)
                a = fma(g[c * HG_RBB + r], x0[r][f], a);
            pw[c * HG_F + f] = a;
        }
    }
}
#endif

/*
 * Turn the predictions of NR rows (z[c * ZS + r]; rows rr[r] of labels / y)
 * into dLoss/dz in place,
 * with the rows as the lanes of T (float, or floatNR: every lane does the
 * scalar arithmetic); add their losses to *loss and their gradients to db,
 * in row order.
 */
#ifdef HG_SOFTMAX
#define HG_OUTPUT_BODY(NR, T, IT, VL, VS)                                            \
    T m = VL(0, z);                                                                  \
    for (int c = 1; c < HG_K; c++) {                                                 \
        T zc = VL(0, z + c * ZS);                                                    \
        m = select(m, zc, zc > m);                                                   \
    }                                                                                \
    T s = (T)(0.0f);                                                                 \
    for (int c = 0; c < HG_K; c++)                                                   \
        s = s + hg_exp##NR(VL(0, z + c * ZS) - m);                                   \
    T lse = m + hg_log##NR(s);                                                       \
    int li[NR];                                                                      \
    for (int r = 0; r < NR; r++)                                                     \
        li[r] = labels[rr[r]];                                                       \
    IT lab = VL(0, li);                                                              \
    T zl = (T)(0.0f);                                                                \
    for (int c = 0; c < HG_K; c++) {                                                 \
        T zc = VL(0, z + c * ZS);                                                    \
        IT hit = lab == c;                                                           \
        zl = select(zl, zc, hit);                                                    \
        T g = hg_exp##NR(zc - lse) - select((T)(0.0f), (T)(1.0f), hit);              \
        VS(g, 0, z + c * ZS);                                                        \
        VS(g, 0, t);                                                                 \
        for (int r = 0; r < NR; r++)                                                 \
            db[c] = db[c] + t[r];                                                    \
    }                                                                                \
    VS(lse - zl, 0, t);                                                              \
    for (int r = 0; r < NR; r++)                                                     \
        *loss = *loss + t[r];
#else
#define HG_OUTPUT_BODY(NR, T, IT, VL, VS)                                            \
    T l = (T)(0.0f);                                                                 \
    for (int c = 0; c < HG_K; c++) {                                                 \
        for (int r = 0; r < NR; r++)                                                 \
            t[r] = y[rr[r] * HG_K + c];                                              \
        T g = VL(0, z + c * ZS) - VL(0, t);                                          \
        VS(g, 0, z + c * ZS);                                                        \
        l = l + 0.5f * (g * g);                                                      \
        VS(g, 0, t);                                                                 \
        for (int r = 0; r < NR; r++)                                                 \
            db[c] = db[c] + t[r];                                                    \
    }                                                                                \
    VS(l, 0, t);                                                                     \
    for (int r = 0; r < NR; r++)                                                     \
        *loss = *loss + t[r];
#endif

#define HG_DEFINE_OUTPUT_(NR, T, IT, VL, VS)                                         \
    inline void hg_output##NR(float *z, const int ZS, __global const int *labels,   \
                              __global const float *y, const size_t *rr, float *db,  \
                              float *loss)                                           \
    {                                                                                \
        float t[NR];                                                                 \
        HG_OUTPUT_BODY(NR, T, IT, VL, VS)                                            \
    }

/* scalar stand-ins for vloadN / vstoreN, for the one-row path */
#define hg_vload1(o, p) ((p)[o])
#define hg_vstore1(v, o, p) ((p)[o] = (v))

/* one level of indirection, so that HG_RF / HG_RB expand before ## */
#define HG_DEFINE_FORWARD(NR) HG_DEFINE_FORWARD_(NR)
#define HG_DEFINE_BACKWARD(NR) HG_DEFINE_BACKWARD_(NR)
#define HG_CAT2(a, b) a##b
#define HG_CAT(a, b) HG_CAT2(a, b)

HG_DEFINE_FORWARD(HG_RF)
HG_DEFINE_BACKWARD(HG_RB)
#if HG_RF != 1
HG_DEFINE_FORWARD(1)
#endif
HG_DEFINE_OUTPUT_(1, float, int, hg_vload1, hg_vstore1)
#if HG_RB != 1
HG_DEFINE_BACKWARD(1)
#endif
#if HG_RB == 2
HG_DEFINE_OUTPUT_(2, float2, int2, vload2, vstore2)
#elif HG_RB == 4
HG_DEFINE_OUTPUT_(4, float4, int4, vload4, vstore4)
#elif HG_RB == 8
HG_DEFINE_OUTPUT_(8, float8, int8, vload8, vstore8)
#elif HG_RB == 16
HG_DEFINE_OUTPUT_(16, float16, int16, vload16, vstore16)
#elif HG_RB != 1
#error "HG_RB must be 1, 2, 4, 8 or 16"
#endif

/*
 * Row r of a batch as a row of x (and of labels / y): row0 + r when the
 * batch is consecutive rows, idx[r] - base when it reads its rows through an
 * index list (indexed != 0: an index step's rows read in place, where the
 * other paths gather them first; base is the first row x holds).
 */
inline size_t hg_batch_row(const size_t row0, __global const uint *idx, const uint base,
                           const uint indexed, const size_t r)
{
    return indexed ? (size_t)(idx[r] - base) : row0 + r;
}

/*
 * xn[q] = the batch's row r + q (hg_batch_row) for q < n, the slab's last row hi - 1
 * past its end: the next block's rows, for HG_PREFETCH_NEXT.
 */
inline void hg_next_rows(__global const float *x, const size_t row0, __global const uint *idx,
                         const uint base, const uint indexed, const size_t r, const int n,
                         const size_t hi, __global const float **xn)
{
    for (int q = 0; q < n; q++)
        xn[q] = x + hg_batch_row(row0, idx, base, indexed, min(r + q, hi - 1)) * (size_t)HG_F;
}

/*
 * Rows [lo, hi) of the batch (its rows as hg_batch_row maps them): their
 * partial sums into pw (dWt, HG_K x HG_F; db, HG_K; the loss), in row order.
 */
inline void hg_slab_grad(__global const float *x, const size_t row0, __global const uint *idx,
                         const uint base, const uint indexed, const size_t lo,
                         const size_t hi, __global const int *labels, __global const float *y,
                         HG_WT_AS const float *wt, __global const float *bias,
                         __global float *pw)
{
    for (int i = 0; i < HG_KF; i++)
        pw[i] = 0.0f;
    float db[HG_K];
    for (int c = 0; c < HG_K; c++)
        db[c] = 0.0f;
    float loss = 0.0f;
    float z[HG_RB * HG_K];
    size_t rr[HG_RB];
    __global const float *xr[HG_RB];
    size_t r = lo;
#ifdef HG_RBB
    /* whole column blocks first, then the rows after them as below: every
       sum still takes the rows in order */
    {
        float zb[HG_RBB * HG_K];
        size_t rb[HG_RBB];
        __global const float *xb[HG_RBB];
        for (; r + HG_RBB <= hi; r += HG_RBB) {
            for (int q = 0; q < HG_RBB; q++) {
                rb[q] = hg_batch_row(row0, idx, base, indexed, r + q);
                xb[q] = x + rb[q] * (size_t)HG_F;
            }
            for (int q0 = 0; q0 < HG_RBB; q0 += HG_RB) {
                for (int q = 0; q < HG_RB; q += HG_RF)
                    HG_CAT(hg_forward, HG_RF)(xb + q0 + q, wt, bias, zb + q0 + q, HG_RBB);
                HG_CAT(hg_output, HG_RB)(zb + q0, HG_RBB, labels, y, rb + q0, db, &loss);
            }
            __global const float *xn[HG_RBB];
            hg_next_rows(x, row0, idx, base, indexed, r + HG_RBB, HG_RBB, hi, xn);
            hg_backward_cols(xb, zb, pw, xn);
        }
    }
#endif
    for (; r + HG_RB <= hi; r += HG_RB) {
        for (int q = 0; q < HG_RB; q++) {
            rr[q] = hg_batch_row(row0, idx, base, indexed, r + q);
            xr[q] = x + rr[q] * (size_t)HG_F;
        }
        for (int q = 0; q < HG_RB; q += HG_RF)
            HG_CAT(hg_forward, HG_RF)(xr + q, wt, bias, z + q, HG_RB);
        HG_CAT(hg_output, HG_RB)(z, HG_RB, labels, y, rr, db, &loss);
        __global const float *xn[HG_RB];
        hg_next_rows(x, row0, idx, base, indexed, r + HG_RB, HG_RB, hi, xn);
        HG_CAT(hg_backward, HG_RB)(xr, z, pw, xn);
    }
    for (; r < hi; r++) {
        rr[0] = hg_batch_row(row0, idx, base, indexed, r);
        xr[0] = x + rr[0] * (size_t)HG_F;
        hg_forward1(xr, wt, bias, z, 1);
        hg_output1(z, 1, labels, y, rr, db, &loss);
        hg_backward1(xr, z, pw, 0);
    }
    for (int c = 0; c < HG_K; c++)
        pw[HG_KF + c] = db[c];
    pw[HG_KF + HG_K] = loss;
}

/* Element q of a partial (HG_PART) into its place in a record out: W at
   w_off as HG_F x HG_K, b at b_off, the loss at P. */
inline void hg_put_record(__global float *out, const size_t q, const float v, const uint w_off,
                          const uint b_off, const uint P)
{
    if (q < HG_KF) {
        size_t c = q / HG_F, f = q - c * HG_F;
        out[w_off + f * HG_K + c] = v;
    } else if (q < HG_KF + HG_K) {
        out[b_off + (q - HG_KF)] = v;
    } else {
        out[P] = v;
    }
}

#ifndef HG_ONE
/*
 * Work-item w takes rows [w * slab, min((w + 1) * slab, rows)) of the batch
 * (row r: row0 + r of x and of labels / y, or idx[r] - base when indexed;
 * hg_batch_row) and writes its partial sums to partial[w * HG_STRIDE ...]:
 * dWt (HG_K x HG_F), db (HG_K), loss.  Global size: the number of slabs (any
 * local size).
 */
__kernel void hg_fused_grad(__global const float *x, const uint row0, const uint rows,
                            __global const uint *idx, const uint base, const uint indexed,
                            __global const int *labels, __global const float *y,
                            __global const float *wt, __global const float *params,
                            const uint b_off, const uint slab, const uint nslabs,
                            __global float *partial)
{
    size_t w = get_global_id(0);
    if (w >= nslabs)
        return;
    size_t lo = w * (size_t)slab;
    size_t hi = min((size_t)rows, lo + slab);
    hg_slab_grad(x, row0, idx, base, indexed, lo, hi, labels, y, wt, params + b_off,
                 partial + w * (size_t)HG_STRIDE);
}
#endif

/* Feature q of slabs [s0, s1) of partial added in slab order, Kahan-compensated: the
   one sum hg_fused_finish and hg_fused_one's scalar tail both make (the same bits). */
float hg_slab_sum(__global const float *partial, size_t q, size_t s0, size_t s1)
{
    float sum = 0.0f, comp = 0.0f;
    for (size_t s = s0; s < s1; s++) {
        float v = partial[s * HG_STRIDE + q] - comp;
        float t = sum + v;
        comp = (t - sum) - v;
        sum = t;
    }
    return sum;
}

/* Element q of the partials of slabs [s0, s1) summed (hg_slab_sum) into its place in
   the record out: hg_fused_finish's work item, and hg_fused_one's scalar tail. */
inline void hg_fin_one(__global const float *partial, const size_t q, const size_t s0,
                       const size_t s1, __global float *out, const uint w_off,
                       const uint b_off, const uint P)
{
    float sum = hg_slab_sum(partial, q, s0, s1);
#ifdef HG_TEST_BROKEN_RESULT
    sum = sum * 1.5f; /* a test's wrong candidate */
#endif
    hg_put_record(out, q, sum, w_off, b_off, P);
}

/*
 * Sum the partials of slabs [b * per, min((b + 1) * per, nslabs)) in slab
 * order (Kahan) into record b of rec (nrec records of P + 1 floats, in the
 * parameter layout: W at w_off as HG_F x HG_K, b at b_off, the loss at P).
 * 2-D global size (HG_PART, nrec).
 */
__kernel void hg_fused_finish(__global const float *partial, const uint per,
                              const uint nslabs, __global float *rec, const uint nrec,
                              const uint w_off, const uint b_off, const uint P)
{
    size_t q = get_global_id(0), b = get_global_id(1);
    if (q >= HG_PART || b >= nrec)
        return;
    size_t s0 = b * (size_t)per, s1 = min((size_t)nslabs, s0 + per);
    hg_fin_one(partial, q, s0, s1, rec + b * ((size_t)P + 1), w_off, b_off, P);
}

#ifdef HG_ONE
/*
 * The whole batch in one kernel (small steps: one launch instead of three).
 * Each work-group copies W^T into local memory (what hg_fused_prep writes to
 * global memory), then work-item w computes slab w as hg_fused_grad does.
 * The last work-item to finish a record's slabs (a counter per record,
 * count[b], zero before the launch and left zero after it) adds their
 * partials in slab order as hg_fused_finish does: the same arithmetic in the
 * same order, so the same bits as the three-kernel path.  Rows as
 * hg_fused_grad takes them (consecutive, or through idx when indexed).  Local size 1 (on a
 * CPU device a work-group is one core's work); global size the number of
 * slabs; per slabs to a record.
 */
__kernel void hg_fused_one(__global const float *x, const uint row0, const uint rows,
                           __global const uint *idx, const uint base, const uint indexed,
                           __global const int *labels, __global const float *y,
                           __global const float *params, const uint w_off, const uint b_off,
                           const uint slab, const uint nslabs, const uint per,
                           __global float *partial, volatile __global uint *count,
                           __global float *rec, const uint P)
{
    __local float wt[HG_KP * HG_F];
    size_t lid = get_local_id(0), ls = get_local_size(0);
    for (int c = 0; c < HG_KP; c++)
        for (size_t f = lid; f < HG_F; f += ls)
            wt[c * HG_F + f] = c < HG_K ? params[w_off + f * HG_K + c] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    size_t w = get_global_id(0);
    if (w >= nslabs)
        return;
    size_t lo = w * (size_t)slab;
    size_t hi = min((size_t)rows, lo + slab);
    hg_slab_grad(x, row0, idx, base, indexed, lo, hi, labels, y, wt, params + b_off,
                 partial + w * (size_t)HG_STRIDE);

    /* the record's last slab to finish adds them all */
    size_t b = w / per, s0 = b * (size_t)per, s1 = min((size_t)nslabs, s0 + per);
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    if (atomic_inc(&count[b]) + 1 != (uint)(s1 - s0))
        return;
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    count[b] = 0;
    __global float *out = rec + b * ((size_t)P + 1);
    /* 16 features of up to 16 classes at a time: each lane is hg_fused_finish's
       scalar Kahan sum of its element, in slab order (the same bits).  The
       block is written a feature at a time, whose classes are consecutive in
       the record (W is HG_F x HG_K, row-major): a class at a time was a
       16-lane scatter per vector, over a third of a one-row step on POCL's
       CPU devices */
    for (int c0 = 0; c0 < HG_K; c0 += 16) {
        const int nc = min(16, HG_K - c0);
        for (int v = 0; v < HG_FV; v++) {
            float l[16][16];
            for (int c = 0; c < nc; c++) {
                float16 sum = (float16)(0.0f), comp = (float16)(0.0f);
                for (size_t s = s0; s < s1; s++) {
                    float16 e = vload16(v, partial + s * HG_STRIDE + (c0 + c) * HG_F) - comp;
                    float16 t = sum + e;
                    comp = (t - sum) - e;
                    sum = t;
                }
#ifdef HG_TEST_BROKEN_RESULT
                sum = sum * 1.5f; /* a test's wrong candidate */
#endif
                vstore16(sum, 0, l[c]);
            }
            __global float *o = out + w_off + (size_t)v * 16 * HG_K + c0;
            for (int i = 0; i < 16; i++)
                for (int c = 0; c < nc; c++)
                    o[i * HG_K + c] = l[c][i];
        }
    }
    /* then the rest one element at a time: each class's features after the
       whole vectors, the bias and the loss (walking only these, not every
       element of the partial past a test) */
    for (int c = 0; c < HG_K; c++)
        for (int t = 0; t < HG_FT; t++)
            hg_fin_one(partial, c * HG_F + HG_FV * 16 + t, s0, s1, out, w_off, b_off, P);
    for (size_t q = HG_KF; q < HG_PART; q++)
        hg_fin_one(partial, q, s0, s1, out, w_off, b_off, P);
}
#endif
