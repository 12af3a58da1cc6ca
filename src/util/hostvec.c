/* SPDX-License-Identifier: MIT */
/*
 * hostvec.c - see hostvec.h.  Each function is one element step (an inline function)
 * run by two loops: over the largest multiple of 8 elements, which GCC -O2
 * vectorises (check with -fopt-info-vec), then the scalar tail.  A decayed and an
 * undecayed variant are separate loops (no select in the body).  The exception is
 * hg__vec_layer_f64 (the host's forward pass), whose tiles are written with GCC's vector
 * extensions rather than left to the vectoriser.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "hostvec.h"

/*
 * Each loop is also compiled for AVX2 and run when the CPU has it (GCC/Clang on x86-64:
 * a target("avx2") copy of the same inline body, chosen by __builtin_cpu_supports):
 * twice the vector width, the same bits (AVX2 brings no FMA, and ISO C mode contracts
 * nothing).  GCC's target_clones would do the same through an ifunc, but GCC 12 then
 * exports the symbols of hidden functions.
 */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HG_VEC_AVX2 1
#define AVX2 __attribute__((target("avx2")))
#else
#define HG_VEC_AVX2 0
#endif
#define BODY static inline __attribute__((always_inline))

/* The largest multiple of 8 <= n: a trip count GCC knows the vector width divides. */
BODY size_t main_part(size_t n)
{
    return n & ~(size_t)7;
}

/* 1 when v is a NaN or an infinity: not (|v| <= FLT_MAX), false for a NaN too. */
BODY int not_finite(float v)
{
    return !(fabsf(v) <= FLT_MAX);
}

BODY bool all_finite(const float *restrict x, size_t n)
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

#if HG_VEC_AVX2
AVX2 static bool all_finite_avx2(const float *restrict x, size_t n)
{
    return all_finite(x, n);
}
#endif

bool hg__vec_all_finite(const float *restrict x, size_t n)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2"))
        return all_finite_avx2(x, n);
#endif
    return all_finite(x, n);
}

BODY bool copy_finite(float *restrict dst, const float *restrict x, size_t n)
{
    /* all_finite's lanes, each element stored as it is read */
    size_t m = main_part(n);
    int lane[8] = {0}, bad = 0;
    for (size_t i = 0; i < m; i += 8)
        for (int j = 0; j < 8; j++) {
            float v = x[i + (size_t)j];
            dst[i + (size_t)j] = v;
            lane[j] |= not_finite(v);
        }
    for (size_t i = m; i < n; i++) {
        dst[i] = x[i];
        bad |= not_finite(x[i]);
    }
    for (int j = 0; j < 8; j++)
        bad |= lane[j];
    return !bad;
}

#if HG_VEC_AVX2
AVX2 static bool copy_finite_avx2(float *restrict dst, const float *restrict x, size_t n)
{
    return copy_finite(dst, x, n);
}
#endif

bool hg__vec_copy_finite(float *restrict dst, const float *restrict x, size_t n)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2"))
        return copy_finite_avx2(dst, x, n);
#endif
    return copy_finite(dst, x, n);
}

BODY void add_f32(double *restrict acc, const float *restrict x, size_t n)
{
    size_t m = main_part(n);
    for (size_t i = 0; i < m; i++)
        acc[i] += (double)x[i];
    for (size_t i = m; i < n; i++)
        acc[i] += (double)x[i];
}

#if HG_VEC_AVX2
AVX2 static void add_f32_avx2(double *restrict acc, const float *restrict x, size_t n)
{
    add_f32(acc, x, n);
}
#endif

void hg__vec_add_f32(double *restrict acc, const float *restrict x, size_t n)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2")) {
        add_f32_avx2(acc, x, n);
        return;
    }
#endif
    add_f32(acc, x, n);
}

/*
 * 2^-k when count is 2^k (k >= 0), else 0: then v / count == v * that for every
 * double v a step's sums can hold (a multiple of 2^-149, at most about 2^128 times a
 * row count: scaling it by 2^-k stays far inside the normal range), so a mean can
 * multiply instead of divide, with the same bits, and a division is the loop's cost
 * (a 128-row step of the MLP's 203,530 parameters).
 */
BODY double exact_inverse(double count)
{
    int e = 0;
    return count >= 1 && frexp(count, &e) == 0.5 ? ldexp(1.0, 1 - e) : 0.0;
}

BODY void mean_f32(float *restrict out, const double *restrict acc, size_t n, double count)
{
    size_t m = main_part(n);
    double inv = exact_inverse(count);
    if (inv != 0) {
        for (size_t i = 0; i < m; i++)
            out[i] = (float)(acc[i] * inv);
    } else {
        for (size_t i = 0; i < m; i++)
            out[i] = (float)(acc[i] / count);
    }
    for (size_t i = m; i < n; i++)
        out[i] = (float)(acc[i] / count);
}

#if HG_VEC_AVX2
AVX2 static void mean_f32_avx2(float *restrict out, const double *restrict acc, size_t n,
                               double count)
{
    mean_f32(out, acc, n, count);
}
#endif

void hg__vec_mean_f32(float *restrict out, const double *restrict acc, size_t n, double count)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2")) {
        mean_f32_avx2(out, acc, n, count);
        return;
    }
#endif
    mean_f32(out, acc, n, count);
}

BODY void mean1_f32(float *restrict out, const float *restrict x, size_t n, double count)
{
    size_t m = main_part(n);
    double inv = exact_inverse(count);
    if (inv != 0) {
        /* x times a power of two, in float: the exact product rounded once to float,
           as the double product (exact) converted to float is, subnormals included;
           + 0.0f turns -0.0 into +0.0 as 0.0 + does.  Twice the elements a vector
           and no conversions: the loop of a gradient step's single record */
        const float finv = (float)inv;
        for (size_t i = 0; i < m; i++)
            out[i] = (x[i] + 0.0f) * finv;
    } else {
        for (size_t i = 0; i < m; i++)
            out[i] = (float)((0.0 + (double)x[i]) / count);
    }
    for (size_t i = m; i < n; i++)
        out[i] = (float)((0.0 + (double)x[i]) / count);
}

#if HG_VEC_AVX2
AVX2 static void mean1_f32_avx2(float *restrict out, const float *restrict x, size_t n,
                                double count)
{
    mean1_f32(out, x, n, count);
}
#endif

void hg__vec_mean1_f32(float *restrict out, const float *restrict x, size_t n, double count)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2")) {
        mean1_f32_avx2(out, x, n, count);
        return;
    }
#endif
    mean1_f32(out, x, n, count);
}

#if defined(__GNUC__) || defined(__clang__)
/*
 * The layer in tiles of 4 rows x 8 outputs (1 row x 8 outputs for the last rows of a
 * block), the tile's sums held in registers over the whole input: GCC's vector
 * extensions, element-wise IEEE multiplies and adds (no contraction in ISO C), so each
 * sum is the scalar loop's, in its order.  Compiled for AVX2 below, a vector of 4
 * doubles is one register.
 */
typedef double hg__v4d __attribute__((vector_size(32)));
typedef float hg__v4f __attribute__((vector_size(16)));

/* Through pointers, not by value: a 32-byte vector argument or result outside an AVX
   function draws GCC's ABI note (-Wpsabi), inlined or not. */
BODY void load4(hg__v4d *v, const float *p)
{
    hg__v4f f;
    memcpy(&f, p, sizeof f);
    *v = __builtin_convertvector(f, hg__v4d);
}

BODY void store4(double *p, const hg__v4d *v)
{
    memcpy(p, v, sizeof *v);
}

/* Outputs o .. o + 7 of rows in[0 .. 3] (rows4) or in[0] alone. */
BODY void tile(double *restrict out, size_t ld_out, const double *restrict in, size_t ld_in,
               const float *restrict w, const float *restrict bias, size_t nin, size_t nout,
               size_t o, bool rows4)
{
    hg__v4d b0, b1, w0, w1;
    load4(&b0, bias + o);
    load4(&b1, bias + o + 4);
    hg__v4d z00 = b0, z01 = b1, z10 = b0, z11 = b1, z20 = b0, z21 = b1, z30 = b0, z31 = b1;
    const double *x0 = in, *x1 = in + ld_in, *x2 = in + 2 * ld_in, *x3 = in + 3 * ld_in;
    if (rows4) {
        for (size_t i = 0; i < nin; i++) {
            load4(&w0, w + i * nout + o);
            load4(&w1, w + i * nout + o + 4);
            hg__v4d x = {x0[i], x0[i], x0[i], x0[i]};
            z00 += x * w0;
            z01 += x * w1;
            x = (hg__v4d){x1[i], x1[i], x1[i], x1[i]};
            z10 += x * w0;
            z11 += x * w1;
            x = (hg__v4d){x2[i], x2[i], x2[i], x2[i]};
            z20 += x * w0;
            z21 += x * w1;
            x = (hg__v4d){x3[i], x3[i], x3[i], x3[i]};
            z30 += x * w0;
            z31 += x * w1;
        }
        store4(out + ld_out + o, &z10);
        store4(out + ld_out + o + 4, &z11);
        store4(out + 2 * ld_out + o, &z20);
        store4(out + 2 * ld_out + o + 4, &z21);
        store4(out + 3 * ld_out + o, &z30);
        store4(out + 3 * ld_out + o + 4, &z31);
    } else {
        for (size_t i = 0; i < nin; i++) {
            const hg__v4d x = {x0[i], x0[i], x0[i], x0[i]};
            load4(&w0, w + i * nout + o);
            load4(&w1, w + i * nout + o + 4);
            z00 += x * w0;
            z01 += x * w1;
        }
    }
    store4(out + o, &z00);
    store4(out + o + 4, &z01);
}

BODY void layer_rows(double *restrict out, size_t ld_out, const double *restrict in,
                     size_t ld_in, size_t rows, const float *restrict w,
                     const float *restrict bias, size_t nin, size_t nout)
{
    const size_t o8 = nout & ~(size_t)7;
    for (size_t r = 0; r < rows; r += 4) {
        const bool four = rows - r >= 4;
        for (size_t o = 0; o < o8; o += 8) {
            if (four)
                tile(out + r * ld_out, ld_out, in + r * ld_in, ld_in, w, bias, nin, nout, o,
                     true);
            else
                for (size_t k = r; k < rows; k++)
                    tile(out + k * ld_out, ld_out, in + k * ld_in, ld_in, w, bias, nin, nout,
                         o, false);
        }
        for (size_t k = r; k < rows && k < r + 4; k++)
            for (size_t o = o8; o < nout; o++) {
                double z = bias[o];
                for (size_t i = 0; i < nin; i++)
                    z += in[k * ld_in + i] * w[i * nout + o];
                out[k * ld_out + o] = z;
            }
    }
}
#else
/* Without vector extensions: y[o] += a * (double)w[o], an input's term of a row's
   outputs, the row of w read once for every row. */
BODY void layer_rows(double *restrict out, size_t ld_out, const double *restrict in,
                     size_t ld_in, size_t rows, const float *restrict w,
                     const float *restrict bias, size_t nin, size_t nout)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < nout; o++)
            out[r * ld_out + o] = bias[o];
    for (size_t i = 0; i < nin; i++)
        for (size_t r = 0; r < rows; r++)
            for (size_t o = 0; o < nout; o++)
                out[r * ld_out + o] += in[r * ld_in + i] * w[i * nout + o];
}
#endif

BODY void layer_f64(double *restrict out, size_t ld_out, const double *restrict in,
                    size_t ld_in, size_t rows, const float *restrict w,
                    const float *restrict bias, size_t nin, size_t nout, bool relu)
{
    layer_rows(out, ld_out, in, ld_in, rows, w, bias, nin, nout);
    if (relu)
        for (size_t r = 0; r < rows; r++)
            for (size_t o = 0; o < nout; o++) {
                double *z = out + r * ld_out + o;
                *z = *z < 0 ? 0 : *z;
            }
}

#if HG_VEC_AVX2
AVX2 static void layer_f64_avx2(double *restrict out, size_t ld_out, const double *restrict in,
                                size_t ld_in, size_t rows, const float *restrict w,
                                const float *restrict bias, size_t nin, size_t nout, bool relu)
{
    layer_f64(out, ld_out, in, ld_in, rows, w, bias, nin, nout, relu);
}
#endif

void hg__vec_layer_f64(double *restrict out, size_t ld_out, const double *restrict in,
                       size_t ld_in, size_t rows, const float *restrict w,
                       const float *restrict bias, size_t nin, size_t nout, bool relu)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2")) {
        layer_f64_avx2(out, ld_out, in, ld_in, rows, w, bias, nin, nout, relu);
        return;
    }
#endif
    layer_f64(out, ld_out, in, ld_in, rows, w, bias, nin, nout, relu);
}

BODY void adam_one(float *restrict p, const float *restrict grad, double *restrict m,
                   double *restrict s, size_t i, const hg__adam_k *k, bool decay)
{
    float g = grad[i];
    if (decay)
        g += (float)(k->wd * p[i]);
    m[i] = k->b1 * m[i] + k->nb1 * g;
    s[i] = k->b2 * s[i] + k->nb2 * (double)g * g;
    p[i] -= (float)(k->lr * (m[i] / k->c1) / (sqrt(s[i] / k->c2) + k->eps));
}

BODY void adam(float *restrict p, const float *restrict grad, double *restrict m,
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

#if HG_VEC_AVX2
AVX2 static void adam_avx2(float *restrict p, const float *restrict grad, double *restrict m,
                           double *restrict s, size_t n, const hg__adam_k *kp, bool decay)
{
    adam(p, grad, m, s, n, kp, decay);
}
#endif

void hg__vec_adam(float *restrict p, const float *restrict grad, double *restrict m,
                  double *restrict s, size_t n, const hg__adam_k *kp, bool decay)
{
    size_t done = hg__adam_fma(p, grad, m, s, n, kp, decay); /* the same bits, faster */
    p += done, grad += done, m += done, s += done, n -= done;
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2")) {
        adam_avx2(p, grad, m, s, n, kp, decay);
        return;
    }
#endif
    adam(p, grad, m, s, n, kp, decay);
}

BODY void sgd_one(float *restrict p, const float *restrict grad, double *restrict v,
                  size_t i, double momentum, double lr, double wd, bool decay)
{
    float g = grad[i];
    if (decay)
        g += (float)(wd * p[i]);
    v[i] = momentum * v[i] + g;
    p[i] -= (float)(lr * v[i]);
}

BODY void sgd(float *restrict p, const float *restrict grad, double *restrict v, size_t n,
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

#if HG_VEC_AVX2
AVX2 static void sgd_avx2(float *restrict p, const float *restrict grad, double *restrict v,
                          size_t n, double momentum, double lr, double wd, bool decay)
{
    sgd(p, grad, v, n, momentum, lr, wd, decay);
}
#endif

void hg__vec_sgd(float *restrict p, const float *restrict grad, double *restrict v, size_t n,
                 double momentum, double lr, double wd, bool decay)
{
#if HG_VEC_AVX2
    if (__builtin_cpu_supports("avx2")) {
        sgd_avx2(p, grad, v, n, momentum, lr, wd, decay);
        return;
    }
#endif
    sgd(p, grad, v, n, momentum, lr, wd, decay);
}
