/* SPDX-License-Identifier: MIT */
/*
 * reference.c - the double-precision host reference of the built-in models'
 * loss and gradient (hg_reference_loss_grad), the oracle of every device test.
 *
 * Plain C, no OpenCL.  Every float input is converted to double on load and
 * all arithmetic is in double.  Losses and gradients are summed over the rows,
 * not divided.  A model is walked as its layer list (layers.h): a forward pass
 * that keeps every layer's activations for the row, the output loss (squared
 * error or softmax cross-entropy), then backpropagation, one row at a time.
 *
 * The whole request (arguments, every row index, every label) is checked
 * before any output is written, so a failure leaves loss_sum and grad_sum
 * untouched.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "layers.h"

#define WHO "hg_reference_loss_grad"

/* A checked request: the model's layers and the scratch sizes they need. */
typedef struct request {
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t    act_off[HG_MAX_HIDDEN + 2]; /* layer l reads acts[act_off[l]..+in] */
    size_t    nlayers, nparams;
    size_t    nacts;  /* inputs + every layer's outputs: one row's activations */
    size_t    width;  /* widest layer output: one backpropagated delta */
    bool      softmax;
} request;

/* malloc of n doubles; NULL on failure or when n * sizeof(double) overflows. */
static double *alloc_doubles(size_t n)
{
    return n > SIZE_MAX / sizeof(double) ? NULL : malloc(n * sizeof(double));
}

static size_t row_at(size_t first, const size_t *idx, size_t i)
{
    return idx ? idx[i] : first + i;
}

static hg_status null_arg(hg_error *err, const char *name)
{
    return hg__error_set(err, HG_INVALID_ARGUMENT, 0, WHO ": %s is NULL", name);
}

/*
 * Check everything about a request and fill *rq.  HG_INVALID_ARGUMENT for a
 * NULL, an invalid or CUSTOM model, or data that does not fit the model;
 * HG_RANGE for a row past data->rows or a label outside [0, outputs).
 */
static hg_status check_request(const hg_model_desc *model, bool have_params,
                               const hg_dataset_desc *data, size_t first, size_t count,
                               const size_t *idx, const double *loss_sum,
                               const double *grad_sum, request *rq, hg_error *err)
{
    if (!model)
        return null_arg(err, "model");
    if (!have_params)
        return null_arg(err, "params");
    if (!data)
        return null_arg(err, "data");
    if (!data->x)
        return null_arg(err, "data->x");
    if (!loss_sum)
        return null_arg(err, "loss_sum");
    if (!grad_sum)
        return null_arg(err, "grad_sum");
    if (model->kind == HG_MODEL_CUSTOM)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             WHO ": no host reference for HG_MODEL_CUSTOM models");
    hg_status st = hg_model_validate(model, err);
    if (st != HG_OK)
        return st;
    if (data->inputs != model->inputs)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             WHO ": data->inputs = %zu but model.inputs = %zu",
                             data->inputs, model->inputs);
    rq->softmax = model->kind != HG_MODEL_LINEAR;
    if (!rq->softmax && !data->targets)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             WHO ": data->targets is NULL: a linear model needs targets");
    if (rq->softmax && !data->labels)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             WHO ": data->labels is NULL: a %s model needs class labels",
                             model->kind == HG_MODEL_MLP ? "MLP" : "softmax");

    if (!idx && (first > data->rows || count > data->rows - first))
        return hg__error_set(err, HG_RANGE, 0,
                             WHO ": rows from first = %zu, count = %zu: row %zu is out of "
                             "range (data->rows = %zu)",
                             first, count, first > data->rows ? first : data->rows,
                             data->rows);
    for (size_t i = 0; i < count; i++) {
        size_t r = row_at(first, idx, i);
        if (r >= data->rows)
            return hg__error_set(err, HG_RANGE, 0,
                                 WHO ": idx[%zu]: row %zu is out of range (data->rows = %zu)",
                                 i, r, data->rows);
        if (rq->softmax && (data->labels[r] < 0 || (size_t)data->labels[r] >= model->outputs))
            return hg__error_set(err, HG_RANGE, 0,
                                 WHO ": row %zu: label %d is out of range [0, %zu)",
                                 r, (int)data->labels[r], model->outputs);
    }

    rq->nlayers = hg__model_layers(model, rq->layers);
    rq->nparams = hg_model_param_count(model);
    if (rq->nlayers == 0 || rq->nparams == 0)
        return hg__error_set(err, HG_INTERNAL, 0, WHO ": model has no layers");
    rq->act_off[0] = 0;
    rq->width = 0;
    for (size_t l = 0; l < rq->nlayers; l++) {
        rq->act_off[l + 1] = rq->act_off[l] + rq->layers[l].in;
        if (rq->layers[l].out > rq->width)
            rq->width = rq->layers[l].out;
    }
    rq->nacts = rq->act_off[rq->nlayers] + rq->layers[rq->nlayers - 1].out;
    return HG_OK;
}

/*
 * Add one row's loss to *loss and its gradient to grad.  acts holds rq->nacts
 * values, delta and dprev rq->width each.
 */
static void add_row(const request *rq, const double *p, const float *x, const float *y,
                    int32_t label, double *acts, double *delta, double *dprev,
                    double *loss, double *grad)
{
    const size_t nl = rq->nlayers;

    /* forward: acts = [x | a_1 | ... | z_L], a_l = relu(z_l) for hidden layers */
    for (size_t i = 0; i < rq->layers[0].in; i++)
        acts[i] = x[i];
    for (size_t l = 0; l < nl; l++) {
        const hg__layer *L = &rq->layers[l];
        const double *a = acts + rq->act_off[l];
        double *z = acts + rq->act_off[l + 1];
        for (size_t j = 0; j < L->out; j++)
            z[j] = p[L->b_off + j];
        for (size_t i = 0; i < L->in; i++) {
            const double *w = p + L->w_off + i * L->out;
            for (size_t j = 0; j < L->out; j++)
                z[j] += a[i] * w[j];
        }
        if (L->relu)
            for (size_t j = 0; j < L->out; j++)
                z[j] = z[j] > 0.0 ? z[j] : 0.0;
    }

    /* output: delta = dloss/dz_L */
    const size_t k = rq->layers[nl - 1].out;
    const double *z = acts + rq->act_off[nl];
    if (!rq->softmax) {
        for (size_t j = 0; j < k; j++) {
            delta[j] = z[j] - (double)y[j];
            *loss += 0.5 * delta[j] * delta[j];
        }
    } else {
        double m = z[0];
        for (size_t j = 1; j < k; j++)
            m = z[j] > m ? z[j] : m;
        double s = 0.0;
        for (size_t j = 0; j < k; j++)
            s += exp(z[j] - m);
        double lse = m + log(s);
        *loss += lse - z[label];
        for (size_t j = 0; j < k; j++)
            delta[j] = exp(z[j] - lse) - (j == (size_t)label ? 1.0 : 0.0);
    }

    /* backward: dW_l += a_{l-1}^T delta, db_l += delta, delta <- (delta W^T) * relu' */
    for (size_t l = nl; l-- > 0;) {
        const hg__layer *L = &rq->layers[l];
        const double *a = acts + rq->act_off[l];
        for (size_t j = 0; j < L->out; j++)
            grad[L->b_off + j] += delta[j];
        for (size_t i = 0; i < L->in; i++) {
            double *g = grad + L->w_off + i * L->out;
            for (size_t j = 0; j < L->out; j++)
                g[j] += a[i] * delta[j];
        }
        if (l == 0)
            break;
        /* a = relu(z) of layer l-1, so a > 0 exactly where relu'(z) = 1 */
        bool relu = rq->layers[l - 1].relu;
        for (size_t i = 0; i < L->in; i++) {
            double s = 0.0;
            if (!relu || a[i] > 0.0) {
                const double *w = p + L->w_off + i * L->out;
                for (size_t j = 0; j < L->out; j++)
                    s += w[j] * delta[j];
            }
            dprev[i] = s;
        }
        double *t = delta;
        delta = dprev;
        dprev = t;
    }
}

/* Run a checked request.  HG_OUT_OF_MEMORY (outputs untouched) if scratch fails. */
static hg_status run(const request *rq, const double *p, const hg_dataset_desc *data,
                     size_t first, size_t count, const size_t *idx, size_t outputs,
                     double *loss_sum, double *grad_sum, hg_error *err)
{
    double *scratch = rq->width > (SIZE_MAX - rq->nacts) / 2
                          ? NULL : alloc_doubles(rq->nacts + 2 * rq->width);
    if (!scratch)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             WHO ": out of memory for %zu activations", rq->nacts);
    double *acts = scratch, *delta = acts + rq->nacts, *dprev = delta + rq->width;
    double loss = 0.0;
    for (size_t i = 0; i < rq->nparams; i++)
        grad_sum[i] = 0.0;
    for (size_t i = 0; i < count; i++) {
        size_t r = row_at(first, idx, i);
        add_row(rq, p, data->x + r * data->inputs,
                rq->softmax ? NULL : data->targets + r * outputs,
                rq->softmax ? data->labels[r] : 0, acts, delta, dprev, &loss, grad_sum);
    }
    free(scratch);
    *loss_sum = loss;
    hg_error_clear(err);
    return HG_OK;
}

hg_status hg__reference_loss_grad_d(const hg_model_desc *model, const double *params,
                                    const hg_dataset_desc *data, size_t first,
                                    size_t count, const size_t *idx, double *loss_sum,
                                    double *grad_sum, hg_error *err)
{
    request rq;
    hg_status st = check_request(model, params != NULL, data, first, count, idx, loss_sum,
                                 grad_sum, &rq, err);
    if (st != HG_OK)
        return st;
    return run(&rq, params, data, first, count, idx, model->outputs, loss_sum, grad_sum,
               err);
}

hg_status hg_reference_loss_grad(const hg_model_desc *model, const float *params,
                                 const hg_dataset_desc *data, size_t first, size_t count,
                                 const size_t *idx, double *loss_sum, double *grad_sum,
                                 hg_error *err)
{
    request rq;
    hg_status st = check_request(model, params != NULL, data, first, count, idx, loss_sum,
                                 grad_sum, &rq, err);
    if (st != HG_OK)
        return st;
    double *p = alloc_doubles(rq.nparams);
    if (!p)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             WHO ": out of memory for %zu parameters", rq.nparams);
    for (size_t i = 0; i < rq.nparams; i++)
        p[i] = params[i];
    st = run(&rq, p, data, first, count, idx, model->outputs, loss_sum, grad_sum, err);
    free(p);
    return st;
}
