/* SPDX-License-Identifier: MIT */
/*
 * test_hostvec.c - the host's vectorised step loops (src/util/hostvec.c) and the
 * optimizer built on them (hg_optimizer_step) give exactly the bits of plain scalar
 * loops written here, element by element in the order hetgrad has always used: SGD with
 * and without momentum, Adam, weight decay on the weights only, several steps, lengths
 * that are no multiple of the vector width and unaligned starts.  Also the rule that a
 * device receives the parameters once per step (hg__upload_params), and the host's
 * double forward pass (hg__vec_layer_f64, hg_model_evaluate_host) against the
 * one-row-at-a-time loop it replaced.  No device.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hetgrad/train.h>

#include "engine_internal.h"
#include "hostvec.h"
#include "layers.h"

/* 64-bit LCG (Knuth's MMIX constants). */
typedef struct lcg {
    uint64_t s;
} lcg;

static double uniform(lcg *g, double lo, double hi)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(g->s >> 11) * 0x1p-53;
}

/* A float of varied magnitude and sign, now and then an exact zero of either sign. */
static float value(lcg *g)
{
    double u = uniform(g, 0, 1);
    if (u < 0.03)
        return u < 0.015 ? 0.0f : -0.0f;
    double mag = pow(10, uniform(g, -6, 2));
    return (float)(uniform(g, 0, 1) < 0.5 ? -mag : mag);
}

/* ---- scalar references: hg_optimizer_step's loops as they were, flag per element ---- */

static void ref_adam(float *params, const float *grad, double *m1, double *m2,
                     const unsigned char *is_w, size_t n, const hg_optimizer_options *p,
                     uint64_t steps)
{
    double b1 = p->beta1, b2 = p->beta2;
    double c1 = 1 - pow(b1, (double)steps), c2 = 1 - pow(b2, (double)steps);
    for (size_t k = 0; k < n; k++) {
        float g = grad[k];
        if (p->weight_decay > 0 && is_w[k])
            g += (float)(p->weight_decay * params[k]);
        m1[k] = b1 * m1[k] + (1 - b1) * g;
        m2[k] = b2 * m2[k] + (1 - b2) * (double)g * g;
        params[k] -= (float)(p->lr * (m1[k] / c1) / (sqrt(m2[k] / c2) + p->epsilon));
    }
}

static void ref_sgd(float *params, const float *grad, double *v, const unsigned char *is_w,
                    size_t n, const hg_optimizer_options *p)
{
    for (size_t k = 0; k < n; k++) {
        float g = grad[k];
        if (p->weight_decay > 0 && is_w[k])
            g += (float)(p->weight_decay * params[k]);
        v[k] = p->momentum * v[k] + g;
        params[k] -= (float)(p->lr * v[k]);
    }
}

/* ---- the optimizer against the references --------------------------------------- */

/* Run steps updates of model m with options o through hg_optimizer_step and through the
   reference; every step's parameters and the final state must be the same bits. */
static void check_optimizer(const hg_model_desc *m, const hg_optimizer_options *o,
                            int steps, uint64_t seed)
{
    hg_error err;
    hg_optimizer *opt = NULL;
    ck_assert_msg(hg_optimizer_create(o, m, &opt, &err) == HG_OK, "%s", err.message);
    size_t P = hg_model_param_count(m);
    float *p = malloc(P * sizeof *p), *q = malloc(P * sizeof *q), *g = malloc(P * sizeof *g);
    double *m1 = calloc(P, sizeof *m1), *m2 = calloc(P, sizeof *m2);
    double *state = malloc(2 * P * sizeof *state);
    unsigned char *is_w = calloc(P, 1);
    ck_assert(p && q && g && m1 && m2 && state && is_w);
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t L = hg__model_layers(m, layers);
    for (size_t l = 0; l < L; l++)
        memset(is_w + layers[l].w_off, 1, layers[l].in * layers[l].out);
    lcg r = {seed};
    for (size_t k = 0; k < P; k++)
        p[k] = q[k] = value(&r);
    for (int s = 1; s <= steps; s++) {
        for (size_t k = 0; k < P; k++)
            g[k] = value(&r);
        hg_optimizer_step(opt, p, g);
        if (o->kind == HG_OPTIMIZER_ADAM)
            ref_adam(q, g, m1, m2, is_w, P, o, (uint64_t)s);
        else
            ref_sgd(q, g, m1, is_w, P, o);
        for (size_t k = 0; k < P; k++)
            ck_assert_msg(memcmp(&p[k], &q[k], sizeof *p) == 0,
                          "step %d, parameter %zu of %zu: %a, reference %a", s, k, P,
                          (double)p[k], (double)q[k]);
    }
    hg_optimizer_get_state(opt, state);
    ck_assert(memcmp(state, m1, P * sizeof *m1) == 0);
    if (o->kind == HG_OPTIMIZER_ADAM)
        ck_assert(memcmp(state + P, m2, P * sizeof *m2) == 0);
    hg_optimizer_destroy(opt);
    free(p);
    free(q);
    free(g);
    free(m1);
    free(m2);
    free(state);
    free(is_w);
}

/* Models whose parameter counts and runs are no multiple of 8: 13-7-5-3 MLP (151),
   softmax 11 x 3 (36), linear 9 x 2 (20), MLP 6-1-2 (11). */
static hg_model_desc model_of(int i)
{
    hg_model_desc m = {.kind = HG_MODEL_MLP, .inputs = 13, .outputs = 3, .nhidden = 2,
                       .hidden = {7, 5}};
    if (i == 1)
        m = (hg_model_desc){.kind = HG_MODEL_SOFTMAX, .inputs = 11, .outputs = 3};
    else if (i == 2)
        m = (hg_model_desc){.kind = HG_MODEL_LINEAR, .inputs = 9, .outputs = 2};
    else if (i == 3)
        m = (hg_model_desc){.kind = HG_MODEL_MLP, .inputs = 6, .outputs = 2, .nhidden = 1,
                            .hidden = {1}};
    return m;
}

START_TEST(adam_same_bits)
{
    static const double decay[] = {0, 1e-3, 0.3};
    for (int mi = 0; mi < 4; mi++) {
        hg_model_desc m = model_of(mi);
        for (size_t d = 0; d < sizeof decay / sizeof decay[0]; d++) {
            hg_optimizer_options o;
            hg_optimizer_options_init(&o);
            o.kind = HG_OPTIMIZER_ADAM;
            o.lr = 0.01;
            o.weight_decay = decay[d];
            check_optimizer(&m, &o, 7, 11 + (uint64_t)(10 * mi) + d);
        }
    }
}
END_TEST

START_TEST(sgd_same_bits)
{
    static const double decay[] = {0, 1e-3, 0.3}, momentum[] = {0, 0.9};
    for (int mi = 0; mi < 4; mi++) {
        hg_model_desc m = model_of(mi);
        for (size_t d = 0; d < 3; d++)
            for (size_t u = 0; u < 2; u++) {
                hg_optimizer_options o;
                hg_optimizer_options_init(&o);
                o.kind = HG_OPTIMIZER_SGD;
                o.lr = 0.05;
                o.momentum = momentum[u];
                o.weight_decay = decay[d];
                check_optimizer(&m, &o, 6, 101 + (uint64_t)(10 * mi) + 3 * u + d);
            }
    }
}
END_TEST

/* ---- the loops themselves, every length 0..40 and unaligned starts ------------------- */

START_TEST(add_and_mean_same_bits)
{
    lcg r = {7};
    float x[41 + 3], got_f[41 + 3], want_f[41 + 3];
    double acc[41 + 3], want[41 + 3];
    for (size_t n = 0; n <= 41; n++)
        for (size_t off = 0; off < 3; off++) {
            for (size_t i = 0; i < n + off; i++) {
                x[i] = value(&r);
                acc[i] = want[i] = uniform(&r, -1e3, 1e3);
            }
            for (int rec = 0; rec < 3; rec++) { /* several records, as a step adds them */
                hg__vec_add_f32(acc + off, x + off, n);
                for (size_t i = off; i < off + n; i++)
                    want[i] += (double)x[i];
            }
            ck_assert(memcmp(acc + off, want + off, n * sizeof *acc) == 0);
            const double counts[] = {129.0, 128.0, 1.0, 65536.0};
            for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                hg__vec_mean_f32(got_f + off, acc + off, n, counts[c]);
                for (size_t i = off; i < off + n; i++)
                    want_f[i] = (float)(want[i] / counts[c]);
                ck_assert(memcmp(got_f + off, want_f + off, n * sizeof *got_f) == 0);
            }
        }
}
END_TEST

/* One record's mean in one pass: the bits of adding it to zeros and taking the mean,
   -0.0 (which the sums turn into +0.0), NaN and the smallest values included. */
START_TEST(mean_of_one_record_same_bits)
{
    lcg r = {11};
    float x[41 + 3], got[41 + 3], want[41 + 3];
    double acc[41 + 3];
    for (size_t n = 0; n <= 41; n++)
        for (size_t off = 0; off < 3; off++) {
            for (size_t i = 0; i < n + off; i++)
                x[i] = value(&r);
            if (n > 3) {
                x[off] = -0.0f;
                x[off + 1] = 1e-45f;
                x[off + 2] = NAN;
            }
            memset(acc, 0, sizeof acc);
            hg__vec_add_f32(acc + off, x + off, n);
            /* powers of two (multiplied by the inverse) and not (divided) */
            const double counts[] = {128.0, 129.0, 1.0, 3.0, 1048576.0, 0.5};
            for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                hg__vec_mean_f32(want + off, acc + off, n, counts[c]);
                hg__vec_mean1_f32(got + off, x + off, n, counts[c]);
                ck_assert(memcmp(got + off, want + off, n * sizeof *got) == 0);
                for (size_t i = off; i < off + n; i++) { /* the scalar formula's bits */
                    float f = (float)((0.0 + (double)x[i]) / counts[c]);
                    ck_assert(memcmp(&f, &got[i], sizeof f) == 0);
                }
                if (n > 3)
                    ck_assert(!signbit(got[off]));
            }
        }
}
END_TEST

START_TEST(adam_and_sgd_loops_same_bits)
{
    lcg r = {13};
    enum { N = 37 };
    float p[N], q[N], g[N];
    double m[N], s[N], rm[N], rs[N];
    hg__adam_k k = {.b1 = 0.9, .nb1 = 1 - 0.9, .b2 = 0.999, .nb2 = 1 - 0.999,
                    .c1 = 1 - pow(0.9, 3), .c2 = 1 - pow(0.999, 3), .lr = 0.02, .eps = 1e-8,
                    .wd = 0.01};
    for (size_t n = 0; n <= 20; n++)
        for (size_t off = 0; off < 3; off++)
            for (int decay = 0; decay < 2; decay++) {
                for (size_t i = 0; i < N; i++) {
                    p[i] = q[i] = value(&r);
                    g[i] = value(&r);
                    m[i] = rm[i] = uniform(&r, -1, 1);
                    s[i] = rs[i] = uniform(&r, 0, 1);
                }
                hg__vec_adam(p + off, g + off, m + off, s + off, n, &k, decay);
                for (size_t i = off; i < off + n; i++) {
                    float gi = g[i];
                    if (decay)
                        gi += (float)(k.wd * q[i]);
                    rm[i] = k.b1 * rm[i] + (1 - k.b1) * gi;
                    rs[i] = k.b2 * rs[i] + (1 - k.b2) * (double)gi * gi;
                    q[i] -= (float)(k.lr * (rm[i] / k.c1) / (sqrt(rs[i] / k.c2) + k.eps));
                }
                ck_assert(memcmp(p, q, sizeof p) == 0); /* untouched outside [off, off+n) */
                ck_assert(memcmp(m, rm, sizeof m) == 0 && memcmp(s, rs, sizeof s) == 0);
                hg__vec_sgd(p + off, g + off, m + off, n, 0.9, 0.1, 0.01, decay);
                for (size_t i = off; i < off + n; i++) {
                    float gi = g[i];
                    if (decay)
                        gi += (float)(0.01 * q[i]);
                    rm[i] = 0.9 * rm[i] + gi;
                    q[i] -= (float)(0.1 * rm[i]);
                }
                ck_assert(memcmp(p, q, sizeof p) == 0 && memcmp(m, rm, sizeof m) == 0);
            }
}
END_TEST

/* A double for Adam's m (s: its magnitude), from 2^-1074 to 2^1023 and every kind
   hg__adam_fma treats apart: zeros, values at 2^-900 and 2^900 and one ulp either side,
   subnormals, infinities, NaN; or RN(c (q + ulp(q) / 2)), aimed at a rounding midpoint
   of the quotient by c (rounding the product leaves it up to about half an ulp away, so
   these are not the rare quotients a single correction gets wrong, see below). */
static double state_value(lcg *g, double c)
{
    static const double edge[] = {0.0, -0.0, 0x1p-900, 0x1p900, 0x1.0000000000001p-900,
                                  0x1.fffffffffffffp-901, 0x1.0000000000001p900,
                                  0x1.fffffffffffffp899, 0x1p-1074, DBL_MIN, DBL_MAX,
                                  INFINITY, -INFINITY, NAN};
    double u = uniform(g, 0, 1), sign = uniform(g, 0, 1) < 0.5 ? -1 : 1;
    if (u < 0.1)
        return sign * edge[(size_t)uniform(g, 0, sizeof edge / sizeof *edge)];
    if (u < 0.55) {
        double q = ldexp(uniform(g, 1, 2), (int)uniform(g, -200, 200));
        return sign * c * (q + 0.5 * (nextafter(q, INFINITY) - q));
    }
    return sign * ldexp(uniform(g, 1, 2), (int)uniform(g, -1074, 1023));
}

/* hg__adam_fma divides m by c1 and s by c2 through their reciprocals: it must give the
   bits of the divisions (the reference below) for every value, step and pair of betas,
   and on an x86-64 CPU with AVX2 and FMA it must be the one doing the work.  (Its
   second correction is there for the proof in adam_fma.c: a quotient that one
   correction gets wrong lies within about 2^-52 ulp of a rounding midpoint, which
   sampling does not find.) */
START_TEST(adam_fma_same_bits_as_division)
{
    static const double betas[][2] = {{0.9, 0.999}, {0.5, 0.9999999}, {1e-9, 0.3},
                                      {0.999999999, 1 - 0x1p-40}, {0.1, 0.75}};
    enum { N = 67 };
    lcg r = {29};
    size_t fast = 0;
    for (size_t b = 0; b < sizeof betas / sizeof *betas; b++)
        for (int round = 0; round < 400; round++) {
            uint64_t t = round < 200 ? (uint64_t)round + 1 : (uint64_t)uniform(&r, 1, 1e6);
            double b1 = betas[b][0], b2 = betas[b][1];
            hg__adam_k k = {.b1 = b1, .nb1 = 1 - b1, .b2 = b2, .nb2 = 1 - b2,
                            .c1 = 1 - pow(b1, (double)t), .c2 = 1 - pow(b2, (double)t),
                            .lr = uniform(&r, 1e-4, 1), .eps = 1e-8, .wd = 0.01};
            bool decay = round % 2;
            float p[N], q[N], g[N];
            double m[N], s[N], rm[N], rs[N];
            for (size_t i = 0; i < N; i++) {
                p[i] = q[i] = value(&r);
                g[i] = i % 31 == 0 ? (i % 2 ? INFINITY : NAN) : value(&r);
                m[i] = rm[i] = state_value(&r, k.c1);
                s[i] = rs[i] = fabs(state_value(&r, k.c2));
                if (i % 16 == 5) { /* m stays -0 and p becomes +0 only when m / c1 is -0 */
                    p[i] = q[i] = -0.0f;
                    g[i] = -0.0f;
                    m[i] = rm[i] = -0.0;
                    s[i] = rs[i] = uniform(&r, 1e-3, 1);
                }
            }
            size_t done = hg__adam_fma(p, g, m, s, N, &k, decay);
            ck_assert(done == 0 || done == (N & ~(size_t)3));
            fast += done;
            for (size_t i = 0; i < done; i++) {
                float gi = g[i];
                if (decay)
                    gi += (float)(k.wd * q[i]);
                rm[i] = k.b1 * rm[i] + k.nb1 * gi;
                rs[i] = k.b2 * rs[i] + k.nb2 * (double)gi * gi;
                q[i] -= (float)(k.lr * (rm[i] / k.c1) / (sqrt(rs[i] / k.c2) + k.eps));
                ck_assert_msg(memcmp(&m[i], &rm[i], sizeof *m) == 0 &&
                                  memcmp(&s[i], &rs[i], sizeof *s) == 0 &&
                                  memcmp(&p[i], &q[i], sizeof *p) == 0,
                              "betas %g %g, step %llu, element %zu: m %a s %a p %a, "
                              "reference m %a s %a p %a (m/c1 %a, s/c2 %a)", b1, b2,
                              (unsigned long long)t, i, m[i], s[i], (double)p[i], rm[i],
                              rs[i], (double)q[i], rm[i] / k.c1, rs[i] / k.c2);
            }
            for (size_t i = done; i < N; i++) /* the rest is left to the caller */
                ck_assert(memcmp(&p[i], &q[i], sizeof *p) == 0 &&
                          memcmp(&m[i], &rm[i], sizeof *m) == 0 &&
                          memcmp(&s[i], &rs[i], sizeof *s) == 0);
        }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        ck_assert_msg(fast > 0, "the CPU has AVX2 and FMA but hg__adam_fma did nothing");
#endif
}
END_TEST

/* Also hg__vec_copy_finite: the same answer, and every element copied (the
   canary after the n copied untouched). */
START_TEST(all_finite_finds_every_position)
{
    float x[40] = {0}, y[41];
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < n; i++)
            x[i] = (i % 3 == 0) ? FLT_MAX : (i % 3 == 1) ? -FLT_TRUE_MIN : -0.0f;
        ck_assert_msg(hg__vec_all_finite(x, n), "n %zu: finite values rejected", n);
        y[n] = 7.0f;
        ck_assert_msg(hg__vec_copy_finite(y, x, n), "n %zu: finite values rejected", n);
        ck_assert(memcmp(y, x, n * sizeof *x) == 0 && y[n] == 7.0f);
        for (size_t at = 0; at < n; at++)
            for (size_t b = 0; b < 4; b++) {
                float keep = x[at];
                x[at] = bad[b];
                ck_assert_msg(!hg__vec_all_finite(x, n), "n %zu: %g at %zu missed", n,
                              (double)bad[b], at);
                ck_assert_msg(!hg__vec_copy_finite(y, x, n), "n %zu: %g at %zu missed in "
                              "the copy", n, (double)bad[b], at);
                ck_assert(memcmp(y, x, n * sizeof *x) == 0);
                x[at] = keep;
            }
    }
}
END_TEST

/* ---- the host's double forward pass (hg_model_evaluate_host) ---- */

/* hg__vec_layer_f64's documented loop, one row and one output at a time. */
static void ref_layer(double *out, size_t ld_out, const double *in, size_t ld_in, size_t rows,
                      const float *w, const float *bias, size_t nin, size_t nout, bool relu)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < nout; o++) {
            double z = bias[o];
            for (size_t i = 0; i < nin; i++)
                z += in[r * ld_in + i] * w[i * nout + o];
            out[r * ld_out + o] = relu && z < 0 ? 0 : z;
        }
}

/* Every shape of up to 9 rows, widths that are and are not multiples of the vector
   width, leading dimensions past the widths, with and without ReLU: the reference's
   bits (memcmp, so -0.0 kept apart from 0.0), and nothing written past a row. */
START_TEST(layer_same_bits)
{
    lcg g = {11};
    const size_t nins[] = {1, 7, 33}, nouts[] = {1, 3, 8, 17, 26};
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 5; b++)
            for (size_t rows = 1; rows <= 9; rows++)
                for (int relu = 0; relu < 2; relu++) {
                    size_t nin = nins[a], nout = nouts[b], ldi = nin + 2, ldo = nout + 3;
                    double in[9 * 35], out[9 * 29], ref[9 * 29];
                    float w[33 * 26], bias[26];
                    for (size_t k = 0; k < rows * ldi; k++)
                        in[k] = (double)value(&g) * (1 + uniform(&g, 0, 1e-9));
                    for (size_t k = 0; k < nin * nout; k++)
                        w[k] = value(&g);
                    for (size_t k = 0; k < nout; k++)
                        bias[k] = value(&g);
                    for (size_t k = 0; k < rows * ldo; k++)
                        out[k] = ref[k] = 42.0;
                    ref_layer(ref, ldo, in, ldi, rows, w, bias, nin, nout, relu);
                    hg__vec_layer_f64(out, ldo, in, ldi, rows, w, bias, nin, nout, relu);
                    ck_assert_msg(memcmp(out, ref, rows * ldo * sizeof *out) == 0,
                                  "%zu rows of %zu -> %zu%s: not the reference's bits", rows,
                                  nin, nout, relu ? " with ReLU" : "");
                }
}
END_TEST

/* hg_model_evaluate_host as it was: one row at a time through every layer. */
static void ref_evaluate(const hg_model_desc *m, const float *params, const hg_dataset_desc *d,
                         const size_t *idx, size_t count, double *loss_sum, size_t *correct)
{
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t L = hg__model_layers(m, layers);
    double a[64], b[64], loss = 0;
    size_t good = 0;
    for (size_t s = 0; s < count; s++) {
        size_t r = idx ? idx[s] : s;
        for (size_t j = 0; j < m->inputs; j++)
            a[j] = d->x[r * d->inputs + j];
        for (size_t l = 0; l < L; l++) {
            ref_layer(b, 0, a, 0, 1, params + layers[l].w_off, params + layers[l].b_off,
                      layers[l].in, layers[l].out, layers[l].relu);
            memcpy(a, b, layers[l].out * sizeof *a);
        }
        if (m->kind == HG_MODEL_LINEAR) {
            double sq = 0;
            for (size_t j = 0; j < m->outputs; j++) {
                double e = a[j] - d->targets[r * m->outputs + j];
                sq += e * e;
            }
            loss += 0.5 * sq;
            good += fabs(a[0] - d->targets[r * m->outputs]) < 0.5;
            continue;
        }
        size_t best = 0;
        double mx = a[0], sum = 0;
        for (size_t c = 1; c < m->outputs; c++)
            if (a[c] > mx) {
                mx = a[c];
                best = c;
            }
        for (size_t c = 0; c < m->outputs; c++)
            sum += exp(a[c] - mx);
        loss += mx + log(sum) - a[d->labels[r]];
        good += best == (size_t)d->labels[r];
    }
    *loss_sum = loss;
    *correct = good;
}

/* An MLP of two hidden layers, softmax and linear models: 45 rows (five blocks and a
   part), consecutive and through a shuffled index, give the old loop's loss to the bit
   and its count of correct rows. */
START_TEST(evaluate_host_same_bits)
{
    lcg g = {5};
    enum { R = 45, F = 29, C = 7 };
    static float x[R * F], t[R * C];
    static int32_t y[R];
    size_t idx[R];
    for (size_t k = 0; k < R * F; k++)
        x[k] = (float)uniform(&g, -2, 2);
    for (size_t k = 0; k < R * C; k++)
        t[k] = (float)uniform(&g, -1, 1);
    for (size_t r = 0; r < R; r++) {
        y[r] = (int32_t)(uniform(&g, 0, C - 1e-9));
        idx[r] = (r * 17 + 3) % R;
    }
    const hg_dataset_desc d = {R, F, x, t, y};
    const hg_model_desc models[] = {
        {.kind = HG_MODEL_MLP, .inputs = F, .outputs = C, .nhidden = 2, .hidden = {37, 11}},
        {.kind = HG_MODEL_SOFTMAX, .inputs = F, .outputs = C},
        {.kind = HG_MODEL_LINEAR, .inputs = F, .outputs = C},
    };
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        size_t P = hg_model_param_count(&models[k]);
        float *p = malloc(P * sizeof *p);
        ck_assert(p);
        for (size_t j = 0; j < P; j++)
            p[j] = (float)uniform(&g, -0.5, 0.5);
        for (int indexed = 0; indexed < 2; indexed++)
            for (size_t count = 0; count <= R; count += count < 9 ? 1 : 12) {
                double loss = -1, rl = -2;
                size_t good = 99, rg = 98;
                hg_error err;
                ck_assert_int_eq(hg_model_evaluate_host(&models[k], p, &d, indexed ? idx : NULL,
                                                        count, &loss, &good, &err),
                                 HG_OK);
                ref_evaluate(&models[k], p, &d, indexed ? idx : NULL, count, &rl, &rg);
                ck_assert_msg(memcmp(&loss, &rl, sizeof loss) == 0 && good == rg,
                              "model %zu, %zu rows%s: loss %.17g, %zu correct; the old loop "
                              "%.17g, %zu", k, count, indexed ? " through an index" : "",
                              loss, good, rl, rg);
            }
        free(p);
    }
}
END_TEST

/* The parameter upload's rule (hg__upload_params): once per step per device.  The device
   here has no queue, so an upload that is attempted fails (CL_INVALID_COMMAND_QUEUE)
   and one that is skipped succeeds without touching OpenCL. */
START_TEST(params_uploaded_once_per_step)
{
    hg_engine *eng = calloc(1, sizeof *eng);
    hg__device *d = calloc(1, sizeof *d);
    ck_assert(eng && d);
    float params[5] = {1, 2, 3, 4, 5};
    eng->nparams = 5;
    snprintf(d->what, sizeof d->what, "device \"none\"");
    hg_error err;
    eng->step = 3;
    d->params_step = 3; /* it received step 3's parameters in the first round */
    ck_assert_int_eq(hg__upload_params(eng, d, params, true, &err), HG_OK);  /* recovery */
    ck_assert_int_ne(hg__upload_params(eng, d, params, false, &err), HG_OK); /* new round */
    ck_assert_uint_eq(d->params_step, 0);                                 /* unknown now */
    ck_assert_int_ne(hg__upload_params(eng, d, params, true, &err), HG_OK);
    d->params_step = 2; /* an earlier step's: a recovery round must upload */
    ck_assert_int_ne(hg__upload_params(eng, d, params, true, &err), HG_OK);
    eng->step = 0;      /* before any step (calibration): never skipped */
    d->params_step = 0;
    ck_assert_int_ne(hg__upload_params(eng, d, params, true, &err), HG_OK);
    free(d);
    free(eng);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostvec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, adam_same_bits);
    tcase_add_test(tc, sgd_same_bits);
    tcase_add_test(tc, add_and_mean_same_bits);
    tcase_add_test(tc, mean_of_one_record_same_bits);
    tcase_add_test(tc, adam_and_sgd_loops_same_bits);
    tcase_add_test(tc, adam_fma_same_bits_as_division);
    tcase_add_test(tc, all_finite_finds_every_position);
    tcase_add_test(tc, params_uploaded_once_per_step);
    tcase_add_test(tc, layer_same_bits);
    tcase_add_test(tc, evaluate_host_same_bits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
