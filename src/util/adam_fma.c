/* SPDX-License-Identifier: MIT */
/*
 * adam_fma.c - hg__adam_fma (hostvec.h): the Adam step of hg__vec_adam, four
 * parameters at a time with AVX2 and FMA, giving the same bits without two of
 * its three double divisions per parameter.
 *
 * Adam divides every m[i] by c1 = 1 - beta1^t and every s[i] by c2 = 1 - beta2^t,
 * the same divisor for the whole step.  A double division is the slowest
 * instruction of the step (the divider takes several cycles per element and
 * the whole update waited on it: 0.47 ms for the MLP's 203,530 parameters,
 * 0.29 ms with this).  Here each of those two quotients is computed from the
 * reciprocal y = RN(1/c), worked out once per step with a real division:
 *
 *     q0 = RN(a y)
 *     q1 = RN(q0 + RN(a - c q0) y)     (fma, fma)
 *     q2 = RN(q1 + (a - c q1) y)       (fma, fma: the remainder is exact)
 *
 * q1 is within one ulp of a / c (its error is about 2^-53 times q0's, then one
 * rounding), and from a quotient within one ulp and the correctly rounded
 * reciprocal, one more correction gives RN(a / c) exactly (Markstein's
 * theorem; the remainder a - c q1 is then representable: Boldo and Daumas,
 * "Representable correcting terms for possibly underflowing floating point
 * operations", 2003; see Muller et al., Handbook of Floating-Point Arithmetic,
 * on division with an FMA).  So q2 has the bits of a / c.
 *
 * The theorem needs no underflow or overflow on the way.  With c in
 * [2^-53, 1] (beta in (0, 1)), that holds for 2^-900 <= |a| <= 2^900; a group
 * of four with any other m or s (zero, a value decayed towards underflow, a
 * state set that large, an infinity or a NaN) divides instead.  The third
 * division (by sqrt(s / c2) + eps, a different divisor per element) and the
 * rest of the formula are the operations hg__vec_adam writes, one rounding
 * each, in the same order.
 */
#include <stdbool.h>
#include <stddef.h>

#include "hostvec.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>

#define FMA_TARGET __attribute__((target("avx2,fma")))

/* RN(a / c) from y = RN(1 / c), for 2^-900 <= |a| <= 2^900 (above). */
FMA_TARGET static inline __m256d quotient(__m256d a, __m256d c, __m256d y)
{
    __m256d q = _mm256_mul_pd(a, y);
    q = _mm256_fmadd_pd(_mm256_fnmadd_pd(c, q, a), y, q);
    return _mm256_fmadd_pd(_mm256_fnmadd_pd(c, q, a), y, q);
}

/* Lanes whose |a| lies in [2^-900, 2^900] (false for a NaN). */
FMA_TARGET static inline __m256d in_range(__m256d a)
{
    const __m256d mag = _mm256_andnot_pd(_mm256_set1_pd(-0.0), a);
    return _mm256_and_pd(_mm256_cmp_pd(mag, _mm256_set1_pd(0x1p-900), _CMP_GE_OQ),
                         _mm256_cmp_pd(mag, _mm256_set1_pd(0x1p900), _CMP_LE_OQ));
}

FMA_TARGET static size_t adam4(float *restrict p, const float *restrict grad,
                               double *restrict m, double *restrict s, size_t n,
                               const hg__adam_k *k, bool decay)
{
    const __m256d b1 = _mm256_set1_pd(k->b1), nb1 = _mm256_set1_pd(k->nb1);
    const __m256d b2 = _mm256_set1_pd(k->b2), nb2 = _mm256_set1_pd(k->nb2);
    const __m256d c1 = _mm256_set1_pd(k->c1), c2 = _mm256_set1_pd(k->c2);
    const __m256d y1 = _mm256_set1_pd(1.0 / k->c1), y2 = _mm256_set1_pd(1.0 / k->c2);
    const __m256d lr = _mm256_set1_pd(k->lr), eps = _mm256_set1_pd(k->eps);
    const __m256d wd = _mm256_set1_pd(k->wd);
    const size_t end = n & ~(size_t)3;
    for (size_t i = 0; i < end; i += 4) {
        const __m128 p4 = _mm_loadu_ps(p + i);
        __m128 g4 = _mm_loadu_ps(grad + i);
        if (decay) /* g += (float)(wd * p[i]) */
            g4 = _mm_add_ps(g4, _mm256_cvtpd_ps(_mm256_mul_pd(wd, _mm256_cvtps_pd(p4))));
        const __m256d g = _mm256_cvtps_pd(g4);
        /* m = b1 * m + nb1 * g;  s = b2 * s + nb2 * g * g (no contraction) */
        const __m256d mi = _mm256_add_pd(_mm256_mul_pd(b1, _mm256_loadu_pd(m + i)),
                                         _mm256_mul_pd(nb1, g));
        const __m256d si = _mm256_add_pd(_mm256_mul_pd(b2, _mm256_loadu_pd(s + i)),
                                         _mm256_mul_pd(_mm256_mul_pd(nb2, g), g));
        _mm256_storeu_pd(m + i, mi);
        _mm256_storeu_pd(s + i, si);
        __m256d mh, sh;
        if (_mm256_movemask_pd(_mm256_and_pd(in_range(mi), in_range(si))) == 0xf) {
            mh = quotient(mi, c1, y1);
            sh = quotient(si, c2, y2);
        } else {
            mh = _mm256_div_pd(mi, c1);
            sh = _mm256_div_pd(si, c2);
        }
        /* p -= (float)(lr * mh / (sqrt(sh) + eps)) */
        const __m256d up = _mm256_div_pd(_mm256_mul_pd(lr, mh),
                                         _mm256_add_pd(_mm256_sqrt_pd(sh), eps));
        _mm_storeu_ps(p + i, _mm_sub_ps(p4, _mm256_cvtpd_ps(up)));
    }
    return end;
}

size_t hg__adam_fma(float *restrict p, const float *restrict grad, double *restrict m,
                    double *restrict s, size_t n, const hg__adam_k *k, bool decay)
{
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    return adam4(p, grad, m, s, n, k, decay);
}

#else

size_t hg__adam_fma(float *restrict p, const float *restrict grad, double *restrict m,
                    double *restrict s, size_t n, const hg__adam_k *k, bool decay)
{
    (void)p, (void)grad, (void)m, (void)s, (void)n, (void)k, (void)decay;
    return 0;
}

#endif
