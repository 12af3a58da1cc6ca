/* SPDX-License-Identifier: MIT */
/*
 * hostvec.h - the host's element-wise loops of a training step (and, in tiles written
 * with vector extensions, a dense layer of its double forward pass), written for GCC's
 * auto-vectoriser at the project's flags (-O2: the "very cheap" cost model, which
 * vectorises a loop only when it needs no run-time alias check and its trip count is a
 * known multiple of the vector width): restrict pointers, no branch in the body, a main
 * loop over a multiple of 8 elements and a scalar tail; on x86-64 each is also built
 * for AVX2 and run when the CPU has it (__builtin_cpu_supports).  hostvec.c is compiled with
 * -fno-math-errno so that sqrt needs no error path (it changes no result: s >= 0).
 *
 * Every element is computed with exactly the operations, in the order and the
 * precision, of the plain scalar loop each function documents, so the results are the
 * same bits vectorised or not (tests/test_hostvec.c checks against scalar references).
 * Pure: no OpenCL, no allocation, no failure.
 */
#ifndef HG_HOSTVEC_H
#define HG_HOSTVEC_H

#include <stdbool.h>
#include <stddef.h>

/* Whether every x[i], i < n, is finite (no NaN, no infinity): the exponent bits of
   each, ORed together without an early exit (the caller looks for the first bad one
   only when there is one). */
bool hg__vec_all_finite(const float *restrict x, size_t n);

/* dst[i] = x[i] for i < n, and hg__vec_all_finite(x, n), in one pass (a step's
   parameters into the one device's shared buffer: shared_mem.h). */
bool hg__vec_copy_finite(float *restrict dst, const float *restrict x, size_t n);

/* acc[i] += (double)x[i] for i < n (the host reduction of a record). */
void hg__vec_add_f32(double *restrict acc, const float *restrict x, size_t n);

/* out[i] = (float)(acc[i] / count) for i < n (a step's mean gradient). */
void hg__vec_mean_f32(float *restrict out, const double *restrict acc, size_t n, double count);

/* out[i] = (float)((0.0 + (double)x[i]) / count) for i < n: hg__vec_add_f32 into zeros
   followed by hg__vec_mean_f32, the same bits (-0.0 becomes +0.0 as there) in one pass
   and without the double sums (a step whose only record is x). */
void hg__vec_mean1_f32(float *restrict out, const float *restrict x, size_t n, double count);

/*
 * A dense layer of the host's double forward pass (hg_model_evaluate_host), for rows
 * rows at once: for r < rows and o < nout,
 *   double z = bias[o]; for (i = 0; i < nin; i++) z += in[r * ld_in + i] * w[i * nout + o];
 *   out[r * ld_out + o] = relu && z < 0 ? 0 : z;
 * each z the same additions in the same order as that loop.  In tiles of 4 rows x 8
 * outputs whose sums stay in registers over all nin inputs, so w is read once for every
 * 4 rows (8 contiguous floats per input and tile) where the loop reads a column of it
 * for every row and output.  out must not overlap in.
 */
void hg__vec_layer_f64(double *restrict out, size_t ld_out, const double *restrict in,
                       size_t ld_in, size_t rows, const float *restrict w,
                       const float *restrict bias, size_t nin, size_t nout, bool relu);

/* Adam's constants for one step: the scalars of hg_optimizer_step's formula. */
typedef struct hg__adam_k {
    double b1, nb1;  /* beta1 and 1 - beta1 */
    double b2, nb2;  /* beta2 and 1 - beta2 */
    double c1, c2;   /* 1 - beta1^t, 1 - beta2^t */
    double lr, eps;  /* learning rate, epsilon */
    double wd;       /* weight decay (used where decay is true) */
} hg__adam_k;

/*
 * Adam over n parameters, for each i:
 *   float g = grad[i]; if (decay) g += (float)(wd * p[i]);
 *   m[i] = b1 * m[i] + nb1 * g;
 *   s[i] = b2 * s[i] + nb2 * (double)g * g;
 *   p[i] -= (float)(lr * (m[i] / c1) / (sqrt(s[i] / c2) + eps));
 */
void hg__vec_adam(float *restrict p, const float *restrict grad, double *restrict m,
                  double *restrict s, size_t n, const hg__adam_k *k, bool decay);

/*
 * hg__vec_adam's step over the first n & ~3 parameters with AVX2 and FMA, the same
 * bits with the divisions by c1 and c2 done through their reciprocals (adam_fma.c);
 * returns how many it did: 0 on a CPU or compiler without them (x86-64 GCC/Clang).
 */
size_t hg__adam_fma(float *restrict p, const float *restrict grad, double *restrict m,
                    double *restrict s, size_t n, const hg__adam_k *k, bool decay);

/*
 * SGD with momentum over n parameters, for each i:
 *   float g = grad[i]; if (decay) g += (float)(wd * p[i]);
 *   v[i] = momentum * v[i] + g;
 *   p[i] -= (float)(lr * v[i]);
 */
void hg__vec_sgd(float *restrict p, const float *restrict grad, double *restrict v, size_t n,
                 double momentum, double lr, double wd, bool decay);

#endif /* HG_HOSTVEC_H */
