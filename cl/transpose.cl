/* SPDX-License-Identifier: MIT */
/*
 * transpose.cl - a 16 x 16 block of floats transposed: what model.cl's
 * hg_gather_t (a weight matrix, or the batch, transposed for a weight
 * gradient) and mlp_small.cl's hg_mlps_head (the batch's X^T, in the same
 * launch as the output layer) share.  Prepended to both after detmath.cl
 * (hg__path_source_with_transpose, src/exec/path_build.c).
 *
 * A transpose moves each value unchanged, so its results do not depend on
 * how it moves them.  Oclgrind 21.10's uninitialised-value plugin crashes (a
 * segfault inside the plugin) on the vector loads of the full block: built
 * with -DHG_GT_SCALAR (as the engine does on Oclgrind) every block moves its
 * elements one by one, as an edge block does (a simulator gains nothing from
 * vectors, and the program compiles faster).
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

/*
 * The block of rows s[0 .. ni - 1] (ni <= 16; pointers at the block's first
 * column), columns 0 .. nj - 1 (nj <= 16), to d transposed:
 * d[jj * ldd + ii] = s[ii][jj].  A full block (16 x 16) loads sixteen rows of
 * 16 floats as vectors and stores sixteen columns of 16, four 8 x 8 blocks
 * each transposed in registers; an edge block moves its elements one by one.
 */
static inline void hg_t16(__global const float *const s[HG_GT], const uint ni, const uint nj,
                          __global float *d, const uint ldd)
{
#ifndef HG_GT_SCALAR
    if (ni == HG_GT && nj == HG_GT) {
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
        return;
    }
#endif
    for (uint ii = 0; ii < ni; ii++)
        for (uint jj = 0; jj < nj; jj++)
            d[(size_t)jj * ldd + ii] = s[ii][jj];
}
