/* SPDX-License-Identifier: MIT */
/*
 * detmath.cl - exp and log from +, -, *, floor and bit operations only, so
 * that every conformant device computes the same bits (the built-in exp and
 * log may differ by a few ulp between implementations, and OpenCL allows
 * float division to be inexact).  Prepended to model.cl and fused.cl.
 *
 * Each function exists for float (hg_exp1) and for float2/4/8/16 (hg_exp8,
 * ...); every lane of a vector version does exactly the arithmetic of the
 * scalar one, so vectorised and scalar code agree bit for bit.
 *
 * hg_expN: about 1 ulp on [-87.33, 88.72]; 0 below (results that would be
 * subnormal are flushed explicitly, so devices that flush subnormals and
 * devices that do not agree), +inf above.  Arguments are never NaN here.
 * hg_logN: about 1 ulp for positive normal arguments (the only ones used:
 * sums of exponentials with a largest term of 1).
 */
#pragma OPENCL FP_CONTRACT OFF

#define HG_DEFINE_DETMATH(N, T, IT, UT)                                                 \
    inline T hg_exp##N(T x)                                                            \
    {                                                                                  \
        T xc = clamp(x, -87.33f, 88.72f);                                              \
        T n = floor(xc * 1.44269504f + 0.5f);        /* x / ln 2, rounded */          \
        T r = xc - n * 0.693145752f;                 /* ln 2 high part: exact */      \
        r = r - n * 1.42860677e-06f;                 /* ln 2 low part */              \
        T p = (T)(1.98412698e-04f);                  /* Taylor to r^7, |r| <= 0.35 */ \
        p = p * r + 1.38888889e-03f;                                                   \
        p = p * r + 8.33333333e-03f;                                                   \
        p = p * r + 4.16666667e-02f;                                                   \
        p = p * r + 1.66666667e-01f;                                                   \
        p = p * r + 0.5f;                                                              \
        p = p * r + 1.0f;                                                              \
        p = p * r + 1.0f;                                                              \
        IT k = convert_##IT(n);                      /* in [-126, 128] */              \
        IT big = k > 127;                                                              \
        IT kk = select(k, k - 1, big);                                                 \
        T v = p * as_##T((kk + 127) << 23);                                            \
        v = select(v, v * 2.0f, big);                                                  \
        v = select(v, (T)(0.0f), x <= -87.33f || v < 1.17549435e-38f);                \
        return select(v, (T)(INFINITY), x > 88.72f);                                   \
    }                                                                                  \
                                                                                       \
    /* 1 / x for x in [1, 4]: Newton from a bit-level guess, no division. */           \
    inline T hg_recip##N(T x)                                                          \
    {                                                                                  \
        T y = as_##T((UT)(0x7ef311c3u) - as_##UT(x));                                  \
        y = y * (2.0f - x * y);                                                        \
        y = y * (2.0f - x * y);                                                        \
        y = y * (2.0f - x * y);                                                        \
        y = y * (2.0f - x * y);                                                        \
        return y;                                                                      \
    }                                                                                  \
                                                                                       \
    inline T hg_log##N(T x)                                                            \
    {                                                                                  \
        UT u = as_##UT(x);                                                             \
        IT e = as_##IT(u >> 23) - 127;                                                 \
        T m = as_##T((u & 0x007fffffu) | 0x3f800000u); /* [1, 2) */                   \
        IT hi = m > 1.41421356f;                                                       \
        m = select(m, m * 0.5f, hi);                                                   \
        e = select(e, e + 1, hi);                                                      \
        /* log m = 2 atanh s, s = (m - 1) / (m + 1), |s| <= 0.172 */                   \
        T s = (m - 1.0f) * hg_recip##N(m + 1.0f);                                      \
        T s2 = s * s;                                                                  \
        T q = (T)(0.0909090936f);                    /* 1/11 */                        \
        q = q * s2 + 0.111111112f;                   /* 1/9 */                         \
        q = q * s2 + 0.142857143f;                   /* 1/7 */                         \
        q = q * s2 + 0.200000003f;                   /* 1/5 */                         \
        q = q * s2 + 0.333333343f;                   /* 1/3 */                         \
        T lm = 2.0f * s + 2.0f * s * s2 * q;                                           \
        T fe = convert_##T(e);                                                         \
        return fe * 0.693145752f + (fe * 1.42860677e-06f + lm);                        \
    }

HG_DEFINE_DETMATH(1, float, int, uint)
HG_DEFINE_DETMATH(2, float2, int2, uint2)
HG_DEFINE_DETMATH(4, float4, int4, uint4)
HG_DEFINE_DETMATH(8, float8, int8, uint8)
HG_DEFINE_DETMATH(16, float16, int16, uint16)
