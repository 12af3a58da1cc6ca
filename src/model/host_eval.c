/* SPDX-License-Identifier: MIT */
/*
 * host_eval.c - hg_model_evaluate_host (hetgrad/train.h): the forward pass of
 * a dense model on the host, in double, for loss and accuracy.
 *
 * Pure: no OpenCL calls.
 */
#include <math.h>
#include <stdlib.h>

#include "layers.h"

/* Check the arguments; HG_OK or the failure, naming the argument. */
static hg_status check(const hg_model_desc *m, const float *params, const hg_dataset_desc *d,
                       const size_t *idx, size_t count, double *loss_sum, size_t *correct,
                       hg_error *err)
{
    if (!m || !params || !d || !loss_sum || !correct)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_model_evaluate_host: NULL %s",
                             !m ? "model" : !params ? "params" : !d ? "data"
                             : !loss_sum ? "loss_sum" : "correct");
    hg_status st = hg_model_validate(m, err);
    if (st != HG_OK)
        return st;
    if (m->kind == HG_MODEL_CUSTOM)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_model_evaluate_host: a custom model's forward pass is its "
                             "kernel's");
    if (d->inputs != m->inputs || (count && !d->x))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_model_evaluate_host: data.inputs = %zu, the model has %zu "
                             "inputs%s", d->inputs, m->inputs, d->x ? "" : " (data.x NULL)");
    bool linear = m->kind == HG_MODEL_LINEAR;
    if (count && (linear ? !d->targets : !d->labels))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_model_evaluate_host: a %s model needs data.%s",
                             linear ? "linear" : "classification",
                             linear ? "targets" : "labels");
    for (size_t s = 0; s < count; s++) {
        size_t r = idx ? idx[s] : s;
        if (r >= d->rows)
            return hg__error_set(err, HG_RANGE, 0,
                                 "hg_model_evaluate_host: row %zu of %zu rows", r, d->rows);
        if (!linear && (d->labels[r] < 0 || (size_t)d->labels[r] >= m->outputs))
            return hg__error_set(err, HG_RANGE, 0,
                                 "hg_model_evaluate_host: row %zu has label %d, the model "
                                 "has %zu classes", r, (int)d->labels[r], m->outputs);
    }
    return HG_OK;
}

hg_status hg_model_evaluate_host(const hg_model_desc *m, const float *params,
                                 const hg_dataset_desc *d, const size_t *idx, size_t count,
                                 double *loss_sum, size_t *correct, hg_error *err)
{
    hg_status st = check(m, params, d, idx, count, loss_sum, correct, err);
    if (st != HG_OK)
        return st;
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t L = hg__model_layers(m, layers), widest = m->inputs;
    for (size_t l = 0; l < L; l++)
        widest = layers[l].out > widest ? layers[l].out : widest;
    double *a = malloc(widest * sizeof *a), *b = malloc(widest * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "hg_model_evaluate_host: out of memory for 2 x %zu doubles",
                             widest);
    }
    double loss = 0;
    size_t good = 0;
    for (size_t s = 0; s < count; s++) {
        size_t r = idx ? idx[s] : s;
        const float *xr = d->x + r * d->inputs;
        for (size_t j = 0; j < m->inputs; j++)
            a[j] = xr[j];
        for (size_t l = 0; l < L; l++) {
            size_t in = layers[l].in, out = layers[l].out;
            const float *w = params + layers[l].w_off, *bias = params + layers[l].b_off;
            for (size_t o = 0; o < out; o++) {
                double z = bias[o];
                for (size_t i = 0; i < in; i++)
                    z += a[i] * w[i * out + o];
                b[o] = (layers[l].relu && z < 0) ? 0 : z;
            }
            double *t = a;
            a = b;
            b = t;
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
        size_t C = m->outputs, best = 0;
        double mx = a[0];
        for (size_t c = 1; c < C; c++)
            if (a[c] > mx) {
                mx = a[c];
                best = c;
            }
        double sum = 0;
        for (size_t c = 0; c < C; c++)
            sum += exp(a[c] - mx);
        int32_t y = d->labels[r];
        loss += mx + log(sum) - a[y];
        good += best == (size_t)y;
    }
    free(a);
    free(b);
    *loss_sum = loss;
    *correct = good;
    hg_error_clear(err);
    return HG_OK;
}
