/* SPDX-License-Identifier: MIT */
/*
 * host_eval_csr.c - hg_model_evaluate_host_csr (hetgrad/sparse.h): the forward pass of
 * a linear or softmax model on the host, in double, over CSR rows: each row's outputs
 * from its non-zeros alone, never densified.  The losses and the count of correct rows
 * are those of hg_model_evaluate_host (host_eval.c) on the same rows densified.
 *
 * Pure: no OpenCL calls.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "data_csr.h"
#include "internal.h"
#include "layers.h"

#define WHO "hg_model_evaluate_host_csr"

/* Check the arguments and copy d into *use; HG_OK or the failure, naming the argument. */
static hg_status check(const hg_model_desc *m, const float *params, const hg_csr_desc *d,
                       const size_t *idx, size_t count, double *loss_sum, size_t *correct,
                       hg_csr_desc *use, hg_error *err)
{
    if (!m || !params || !d || !loss_sum || !correct)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, WHO ": NULL %s",
                             !m ? "model" : !params ? "params" : !d ? "data"
                             : !loss_sum ? "loss_sum" : "correct");
    hg_status st = hg_model_validate(m, err);
    if (st != HG_OK)
        return st;
    st = hg__csr_check(d, m, use, err); /* the whole set: structure, values, labels */
    if (st != HG_OK) {
        char why[HG_ERROR_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", err ? err->message : "");
        return hg__error_set(err, st, 0, WHO ": %.400s", why);
    }
    for (size_t s = 0; s < count; s++) {
        size_t r = idx ? idx[s] : s;
        if (r >= use->rows)
            return hg__error_set(err, HG_RANGE, 0, WHO ": row %zu of %zu rows", r, use->rows);
    }
    return HG_OK;
}

hg_status hg_model_evaluate_host_csr(const hg_model_desc *m, const float *params,
                                     const hg_csr_desc *d, const size_t *idx, size_t count,
                                     double *loss_sum, size_t *correct, hg_error *err)
{
    hg_csr_desc c;
    hg_status st = check(m, params, d, idx, count, loss_sum, correct, &c, err);
    if (st != HG_OK)
        return st;
    size_t K = m->outputs;
    double *z = malloc(K * sizeof *z);
    if (!z)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, WHO ": out of memory for %zu doubles",
                             K);
    const float *bias = params + m->inputs * K; /* W (inputs x K, row-major), then b */
    double loss = 0;
    size_t good = 0;
    for (size_t s = 0; s < count; s++) {
        size_t r = idx ? idx[s] : s;
        for (size_t k = 0; k < K; k++)
            z[k] = bias[k];
        for (size_t e = c.row_ptr[r]; e < c.row_ptr[r + 1]; e++) {
            const float *w = params + (size_t)c.cols[e] * K;
            for (size_t k = 0; k < K; k++)
                z[k] += (double)c.vals[e] * w[k];
        }
        const bool linear = m->kind == HG_MODEL_LINEAR;
        hg__score_row(m->kind, K, z, linear ? c.targets + r * K : NULL,
                      linear ? 0 : c.labels[r], &loss, &good);
    }
    free(z);
    *loss_sum = loss;
    *correct = good;
    hg_error_clear(err);
    return HG_OK;
}
