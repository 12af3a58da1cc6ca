/* SPDX-License-Identifier: MIT */
/*
 * train_blas.h - bench_train's baseline: one training step of the softmax
 * and MLP models as a plain C loop on the host, in float, with cblas_sgemm
 * for the forward and backward passes, and the optimizers' math written out
 * (train_blas.c).
 *
 * The model, its parameter layout and its loss are those of hetgrad/model.h,
 * so hetgrad and this loop fed the same minibatches from the same parameters
 * follow the same trajectory up to float rounding.  No OpenCL.
 */
#ifndef HG_BENCH_TRAIN_BLAS_H
#define HG_BENCH_TRAIN_BLAS_H

#include <hetgrad.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scratch for steps of up to cap rows: the gathered minibatch and the
   activations.  Owned by the caller through blas_scratch_create/free. */
typedef struct blas_scratch {
    size_t cap;     /* rows it holds */
    float *x;       /* cap x inputs: the gathered rows */
    int32_t *label; /* cap labels */
    float *z;       /* cap x outputs: logits, then dloss/dz */
    float *h, *dh;  /* MLP: cap x hidden activations and their gradient */
} blas_scratch;

/* Scratch for model (SOFTMAX, or an MLP with one hidden layer) and batches
   of up to cap rows; false (nothing allocated) when out of memory. */
bool blas_scratch_create(blas_scratch *s, const hg_model_desc *model, size_t cap);
void blas_scratch_free(blas_scratch *s); /* zeroes *s; a zeroed *s is a no-op */

/*
 * The mean loss of rows idx[0..n) of data (n <= s->cap) under params, and the
 * mean gradient into grad (hg_model_param_count() floats): gathers the rows,
 * then z = x W + b (through a hidden ReLU layer for the MLP), softmax
 * cross-entropy, backward with cblas_sgemm.  model: SOFTMAX or a one-hidden-
 * layer MLP (the caller checks).
 */
double blas_loss_grad(const hg_model_desc *model, const float *params,
                      const hg_dataset_desc *data, const size_t *idx, size_t n,
                      blas_scratch *s, float *grad);

/* The optimizer of the baseline: the formulas of hg_optimizer_step()
   (include/hetgrad/train.h) with its state in float, as a plain loop would
   keep it.  Zeroed state, step count 0. */
typedef struct blas_optimizer {
    hg_optimizer_kind kind;
    size_t n;                 /* parameters */
    float lr, momentum;       /* SGD */
    float beta1, beta2, eps;  /* Adam */
    uint64_t t;               /* steps taken */
    float *m, *v;             /* Adam: first and second moments; SGD: v the velocity */
} blas_optimizer;

/* From o (defaults resolved: hg_optimizer_get_options()); false when out of
   memory. */
bool blas_optimizer_create(blas_optimizer *b, const hg_optimizer_options *o, size_t n);
void blas_optimizer_free(blas_optimizer *b); /* zeroes *b; a zeroed *b is a no-op */

/* One update of params from grad:
     SGD:  v = momentum v + g;  p -= lr v
     Adam: t += 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
           p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
void blas_optimizer_step(blas_optimizer *b, float *params, const float *grad);

#endif /* HG_BENCH_TRAIN_BLAS_H */
