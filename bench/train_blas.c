/* SPDX-License-Identifier: MIT */
/*
 * train_blas.c - bench_train's OpenBLAS baseline (see train_blas.h).
 */
#include "train_blas.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool blas_scratch_create(blas_scratch *s, const hg_model_desc *model, size_t cap)
{
    memset(s, 0, sizeof *s);
    size_t hd = model->kind == HG_MODEL_MLP ? model->hidden[0] : 1;
    s->cap = cap;
    s->x = malloc(cap * model->inputs * sizeof *s->x);
    s->label = malloc(cap * sizeof *s->label);
    s->z = malloc(cap * model->outputs * sizeof *s->z);
    s->h = malloc(cap * hd * sizeof *s->h);
    s->dh = malloc(cap * hd * sizeof *s->dh);
    if (s->x && s->label && s->z && s->h && s->dh)
        return true;
    blas_scratch_free(s);
    return false;
}

void blas_scratch_free(blas_scratch *s)
{
    free(s->x);
    free(s->label);
    free(s->z);
    free(s->h);
    free(s->dh);
    memset(s, 0, sizeof *s);
}

/* z = a W + b: a (n x in), W (in x out) row-major, b (out). */
static void dense_forward(const float *a, size_t n, size_t in, size_t out, const float *w,
                          const float *b, float *z)
{
    for (size_t i = 0; i < n; i++)
        memcpy(z + i * out, b, out * sizeof *z);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)out, (int)in, 1.0f, a,
                (int)in, w, (int)out, 1.0f, z, (int)out);
}

/* dW = scale a^T d: a (n x in), d (n x out); db = scale * column sums of d. */
static void dense_backward(const float *a, const float *d, size_t n, size_t in, size_t out,
                           float scale, float *dw, float *db)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in, (int)out, (int)n, scale, a,
                (int)in, d, (int)out, 0.0f, dw, (int)out);
    for (size_t j = 0; j < out; j++)
        db[j] = 0.0f;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < out; j++)
            db[j] += d[i * out + j];
    for (size_t j = 0; j < out; j++)
        db[j] *= scale;
}

/* Softmax cross-entropy in place: z (n x k) becomes dloss/dz (per row, not
   divided by n); returns the summed loss. */
static double softmax_delta(float *z, size_t n, size_t k, const int32_t *label)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        float *zi = z + i * k;
        float m = zi[0];
        for (size_t j = 1; j < k; j++)
            m = zi[j] > m ? zi[j] : m;
        size_t lab = (size_t)label[i];
        float zlab = zi[lab] - m, s = 0.0f;
        for (size_t j = 0; j < k; j++) {
            zi[j] = expf(zi[j] - m);
            s += zi[j];
        }
        loss += (double)logf(s) - (double)zlab;
        for (size_t j = 0; j < k; j++)
            zi[j] /= s;
        zi[lab] -= 1.0f;
    }
    return loss;
}

double blas_loss_grad(const hg_model_desc *model, const float *params,
                      const hg_dataset_desc *data, const size_t *idx, size_t n,
                      blas_scratch *s, float *grad)
{
    const size_t in = model->inputs, k = model->outputs;
    const float scale = 1.0f / (float)n;
    for (size_t i = 0; i < n; i++) {
        memcpy(s->x + i * in, data->x + idx[i] * in, in * sizeof *s->x);
        s->label[i] = data->labels[idx[i]];
    }
    double loss;
    if (model->kind != HG_MODEL_MLP) {
        const float *w = params, *b = params + in * k;
        dense_forward(s->x, n, in, k, w, b, s->z);
        loss = softmax_delta(s->z, n, k, s->label);
        dense_backward(s->x, s->z, n, in, k, scale, grad, grad + in * k);
        return loss / (double)n;
    }
    const size_t hd = model->hidden[0];
    const float *w1 = params, *b1 = w1 + in * hd, *w2 = b1 + hd, *b2 = w2 + hd * k;
    float *gw1 = grad, *gb1 = gw1 + in * hd, *gw2 = gb1 + hd, *gb2 = gw2 + hd * k;
    dense_forward(s->x, n, in, hd, w1, b1, s->h);
    for (size_t i = 0; i < n * hd; i++)
        s->h[i] = s->h[i] > 0.0f ? s->h[i] : 0.0f;
    dense_forward(s->h, n, hd, k, w2, b2, s->z);
    loss = softmax_delta(s->z, n, k, s->label);
    dense_backward(s->h, s->z, n, hd, k, scale, gw2, gb2);
    /* dH = dZ W2^T, masked by relu'(h) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)hd, (int)k, 1.0f, s->z,
                (int)k, w2, (int)k, 0.0f, s->dh, (int)hd);
    for (size_t i = 0; i < n * hd; i++)
        if (!(s->h[i] > 0.0f))
            s->dh[i] = 0.0f;
    dense_backward(s->x, s->dh, n, in, hd, scale, gw1, gb1);
    return loss / (double)n;
}

bool blas_optimizer_create(blas_optimizer *b, const hg_optimizer_options *o, size_t n)
{
    memset(b, 0, sizeof *b);
    b->kind = o->kind;
    b->n = n;
    b->lr = (float)o->lr;
    b->momentum = (float)o->momentum;
    b->beta1 = (float)o->beta1;
    b->beta2 = (float)o->beta2;
    b->eps = (float)o->epsilon;
    b->m = calloc(n ? n : 1, sizeof *b->m);
    b->v = calloc(n ? n : 1, sizeof *b->v);
    if (b->m && b->v)
        return true;
    blas_optimizer_free(b);
    return false;
}

void blas_optimizer_free(blas_optimizer *b)
{
    free(b->m);
    free(b->v);
    memset(b, 0, sizeof *b);
}

void blas_optimizer_step(blas_optimizer *b, float *params, const float *grad)
{
    b->t++;
    if (b->kind == HG_OPTIMIZER_SGD) {
        const float mom = b->momentum, lr = b->lr;
        for (size_t i = 0; i < b->n; i++) {
            b->v[i] = mom * b->v[i] + grad[i];
            params[i] -= lr * b->v[i];
        }
        return;
    }
    const float b1 = b->beta1, b2 = b->beta2, eps = b->eps;
    const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)b->t)));
    const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)b->t)));
    const float lr = b->lr;
    for (size_t i = 0; i < b->n; i++) {
        float g = grad[i];
        b->m[i] = b1 * b->m[i] + (1.0f - b1) * g;
        b->v[i] = b2 * b->v[i] + (1.0f - b2) * g * g;
        params[i] -= lr * (b->m[i] * c1) / (sqrtf(b->v[i] * c2) + eps);
    }
}
