/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/model.h - the models hetgrad computes gradients for, and the data
 * they read.
 *
 * Parameters are one flat float vector.  A model is a chain of dense layers
 * (linear and softmax regression: one layer; an MLP: hidden ReLU layers and a
 * softmax output).  Layer l maps in_l inputs to out_l outputs and stores its
 * weights W_l as an in_l x out_l row-major matrix followed by its bias b_l
 * (out_l values); layers follow each other in order:
 *
 *   [ W_1 (in_1*out_1) | b_1 (out_1) | W_2 | b_2 | ... ]
 *
 * Losses, summed over rows and divided by the number of rows in the step:
 *   linear:       1/2 * sum_j (yhat_j - y_j)^2,  yhat = x W + b     (targets: float)
 *   softmax, mlp: -log softmax(z)_label,          z = x W + b / MLP  (labels: int32)
 * The gradient returned is the gradient of that mean loss.
 */
#ifndef HETGRAD_MODEL_H
#define HETGRAD_MODEL_H

#include "common.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hg_model_kind {
    HG_MODEL_LINEAR  = 1, /* outputs = number of regression targets per row */
    HG_MODEL_SOFTMAX = 2, /* outputs = number of classes (>= 2) */
    HG_MODEL_MLP     = 3, /* hidden ReLU layers, softmax over outputs classes */
    HG_MODEL_CUSTOM  = 4  /* user kernel: docs/custom-kernels.md */
} hg_model_kind;

/* Most hidden layers an MLP may have. */
#define HG_MAX_HIDDEN 16

typedef struct hg_model_desc {
    hg_model_kind kind;
    size_t inputs;                 /* features per row (>= 1) */
    size_t outputs;                /* targets (linear), classes (softmax, mlp),
                                      or target columns per row (custom) */
    size_t nhidden;                /* MLP: hidden layers, 1..HG_MAX_HIDDEN */
    size_t hidden[HG_MAX_HIDDEN];  /* MLP: their widths (>= 1) */

    /* HG_MODEL_CUSTOM only (docs/custom-kernels.md). */
    const char *custom_source;     /* OpenCL C source */
    const char *custom_kernel;     /* kernel name in it */
    size_t      custom_params;     /* length of the parameter vector */
} hg_model_desc;

/*
 * A data set in host memory: rows x inputs features, row-major, and one of
 * targets (linear, custom: rows x outputs floats) or labels (softmax, mlp:
 * rows int32 class indices in [0, outputs)).  The engine copies what it needs;
 * the caller keeps ownership.
 */
typedef struct hg_dataset_desc {
    size_t         rows;
    size_t         inputs;
    const float   *x;
    const float   *targets;
    const int32_t *labels;
} hg_dataset_desc;

/* Number of parameters of a model; 0 when the description is invalid. */
HG_EXTERN size_t hg_model_param_count(const hg_model_desc *model);

/*
 * Check a model description: HG_OK or HG_INVALID_ARGUMENT with a message
 * naming the field.
 */
HG_EXTERN hg_status hg_model_validate(const hg_model_desc *model, hg_error *err);

/*
 * The double-precision host reference: loss and gradient of the model over
 * some rows of data, summed over those rows (NOT divided by their number).
 * Rows are [first, first + count) when idx is NULL, else idx[0..count).
 * grad_sum receives hg_model_param_count() values.  No OpenCL; used as the
 * oracle of every device test.  Not for HG_MODEL_CUSTOM.
 * Returns HG_INVALID_ARGUMENT (NULL, mismatch), HG_RANGE (row or label out of
 * range).
 */
HG_EXTERN hg_status hg_reference_loss_grad(const hg_model_desc *model, const float *params,
                                           const hg_dataset_desc *data, size_t first,
                                           size_t count, const size_t *idx,
                                           double *loss_sum, double *grad_sum,
                                           hg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_MODEL_H */
