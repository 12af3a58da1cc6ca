/* SPDX-License-Identifier: MIT */
/*
 * hostvec.c - see hostvec.h.  Each function is one element step (a static inline
 * function) run by two loops: over the largest multiple of 8 elements, which GCC -O2
 * vectorises (check with -fopt-info-vec), then the scalar tail.  A decayed and an
 * undecayed variant are separate loops (no select in the body).
 */
#include <float.h>
#include <math.h>

#include "hostvec.h"

/* The largest multiple of 8 <= n: a trip count GCC knows the vector width divides. */
static size_t main_part(size_t n)
{
    return n & ~(size_t)7;
}

/* 1 when v is a NaN or an infinity: not (|v| <= FLT_MAX), false for a NaN too. */
static inline int not_finite(float v)
{
    return !(fabsf(v) <= FLT_MAX);
}

bool hg__vec_all_finite(const float *restrict x, size_t n)
{
    /* 8 lanes ORed separately (a form GCC -O2 vectorises; a single OR accumulator is
       not), then together: about 4x the speed of an isfinite loop that stops early */
    size_t m = main_part(n);
    int lane[8] = {0}, bad = 0;
    for (size_t i = 0; i < m; i += 8)
        for (int j = 0; j < 8; j++)
            lane[j] |= not_finite(x[i + (size_t)j]);
    for (size_t i = m; i < n; i++)
        bad |= not_finite(x[i]);
    for (int j = 0; j < 8; j++)
        bad |= lane[j];
    return !bad;
}

void hg__vec_add_f32(double *restrict acc, const float *restrict x, size_t n)
{
    size_t m = main_part(n);
    for (size_t i = 0; i < m; i++)
        acc[i] += (double)x[i];
    for (size_t i = m; i < n; i++)
        acc[i] += (double)x[i];
}

void hg__vec_mean_f32(float *restrict out, const double *restrict acc, size_t n, double count)
{
    size_t m = main_part(n);
    for (size_t i = 0; i < m; i++)
        out[i] = (float)(acc[i] / count);
    for (size_t i = m; i < n; i++)
        out[i] = (float)(acc[i] / count);
}

static inline void adam_one(float *restrict p, const float *restrict grad, double *restrict m,
                            double *restrict s, size_t i, const hg__adam_k *k, bool decay)
{
    float g = grad[i];
    if (decay)
        g += (float)(k->wd * p[i]);
    m[i] = k->b1 * m[i] + k->nb1 * g;
    s[i] = k->b2 * s[i] + k->nb2 * (double)g * g;
    p[i] -= (float)(k->lr * (m[i] / k->c1) / (sqrt(s[i] / k->c2) + k->eps));
}

void hg__vec_adam(float *restrict p, const float *restrict grad, double *restrict m,
                  double *restrict s, size_t n, const hg__adam_k *kp, bool decay)
{
    const hg__adam_k k = *kp; /* a local copy: no store can change it */
    size_t e = main_part(n);
    if (decay) {
        for (size_t i = 0; i < e; i++)
            adam_one(p, grad, m, s, i, &k, true);
    } else {
        for (size_t i = 0; i < e; i++)
            adam_one(p, grad, m, s, i, &k, false);
    }
    for (size_t i = e; i < n; i++)
        adam_one(p, grad, m, s, i, &k, decay);
}

static inline void sgd_one(float *restrict p, const float *restrict grad, double *restrict v,
                           size_t i, double momentum, double lr, double wd, bool decay)
{
    float g = grad[i];
    if (decay)
        g += (float)(wd * p[i]);
    v[i] = momentum * v[i] + g;
    p[i] -= (float)(lr * v[i]);
}

void hg__vec_sgd(float *restrict p, const float *restrict grad, double *restrict v, size_t n,
                 double momentum, double lr, double wd, bool decay)
{
    size_t e = main_part(n);
    if (decay) {
        for (size_t i = 0; i < e; i++)
            sgd_one(p, grad, v, i, momentum, lr, wd, true);
    } else {
        for (size_t i = 0; i < e; i++)
            sgd_one(p, grad, v, i, momentum, lr, wd, false);
    }
    for (size_t i = e; i < n; i++)
        sgd_one(p, grad, v, i, momentum, lr, wd, decay);
}
