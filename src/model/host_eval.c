/* SPDX-License-Identifier: MIT */
/*
 * host_eval.c - hg_model_evaluate_host (hetgrad/train.h): the forward pass of
 * a dense model on the host, in double, for loss and accuracy.
 *
 * Pure: no OpenCL calls.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "hostvec.h"
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

/* Rows evaluated together: hg__vec_layer_f64 reads a layer's weights once for every 4
   of them (its tiles), where one row at a time read the whole layer again for every row
   (784 x 256 floats, 800 KB, in the MLP's first layer), a column at a time. */
#define ROWS 8

void hg__score_row(hg_model_kind kind, size_t outputs, const double *z, const float *target,
                   int32_t label, double *loss, size_t *good)
{
    if (kind == HG_MODEL_LINEAR) {
        double sq = 0;
        for (size_t j = 0; j < outputs; j++) {
            double e = z[j] - target[j];
            sq += e * e;
        }
        *loss += 0.5 * sq;
        *good += fabs(z[0] - target[0]) < 0.5;
        return;
    }
    size_t best = 0;
    double mx = z[0];
    for (size_t c = 1; c < outputs; c++)
        if (z[c] > mx) {
            mx = z[c];
            best = c;
        }
    double sum = 0;
    for (size_t c = 0; c < outputs; c++)
        sum += exp(z[c] - mx);
    *loss += mx + log(sum) - z[label];
    *good += best == (size_t)label;
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
    const bool fits = widest <= SIZE_MAX / (ROWS * sizeof(double));
    double *a = fits ? malloc(ROWS * widest * sizeof *a) : NULL;
    double *b = fits ? malloc(ROWS * widest * sizeof *b) : NULL;
    if (!a || !b) {
        free(a);
        free(b);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "hg_model_evaluate_host: out of memory for 2 x %d x %zu doubles",
                             ROWS, widest);
    }
    double loss = 0;
    size_t good = 0;
    for (size_t s0 = 0; s0 < count; s0 += ROWS) {
        const size_t n = count - s0 < ROWS ? count - s0 : ROWS;
        for (size_t k = 0; k < n; k++) {
            const float *xr = d->x + (idx ? idx[s0 + k] : s0 + k) * d->inputs;
            for (size_t j = 0; j < m->inputs; j++)
                a[k * widest + j] = xr[j];
        }
        for (size_t l = 0; l < L; l++) {
            hg__vec_layer_f64(b, widest, a, widest, n, params + layers[l].w_off,
                              params + layers[l].b_off, layers[l].in, layers[l].out,
                              layers[l].relu);
            double *t = a;
            a = b;
            b = t;
        }
        /* the rows' losses added in row order, as one row at a time */
        for (size_t k = 0; k < n; k++) {
            const size_t r = idx ? idx[s0 + k] : s0 + k;
            const bool linear = m->kind == HG_MODEL_LINEAR;
            hg__score_row(m->kind, m->outputs, a + k * widest,
                          linear ? d->targets + r * m->outputs : NULL,
                          linear ? 0 : d->labels[r], &loss, &good);
        }
    }
    free(a);
    free(b);
    *loss_sum = loss;
    *correct = good;
    hg_error_clear(err);
    return HG_OK;
}
