/* SPDX-License-Identifier: MIT */
/*
 * layers.h - the dense layers of a model (hg__ tier), shared by the host
 * reference (reference.c) and the OpenCL engine.
 *
 * A LINEAR or SOFTMAX model is one layer inputs -> outputs; an MLP is
 * inputs -> hidden[0] -> ... -> hidden[nhidden-1] -> outputs with a ReLU after
 * every hidden layer.  Offsets follow the layout of hetgrad/model.h:
 * W_l (in_l x out_l, row-major) at w_off, then b_l (out_l) at b_off.
 */
#ifndef HG_LAYERS_H
#define HG_LAYERS_H

#include <stdbool.h>
#include <stddef.h>

#include "hetgrad/model.h"
#include "internal.h"

/* Largest parameter count a valid model may have (offsets fit a 32-bit uint). */
#define HG__MAX_PARAMS ((size_t)1 << 31)

typedef struct hg__layer {
    size_t in, out;       /* shape: in inputs -> out outputs */
    size_t w_off, b_off;  /* offsets of W and b in the parameter vector */
    bool   relu;          /* ReLU after it (hidden MLP layers) */
} hg__layer;

/*
 * Fill layers[] (capacity HG_MAX_HIDDEN + 1) for a LINEAR, SOFTMAX or MLP
 * model.  Returns the number of layers; 0 (layers untouched) for an invalid
 * or CUSTOM model.
 */
size_t hg__model_layers(const hg_model_desc *m, hg__layer *layers);

/*
 * hg_reference_loss_grad() with double parameters (the float entry point
 * converts and calls the same code).  Same contract and failures; tests use
 * it for finite differences.
 */
hg_status hg__reference_loss_grad_d(const hg_model_desc *model, const double *params,
                                    const hg_dataset_desc *data, size_t first,
                                    size_t count, const size_t *idx, double *loss_sum,
                                    double *grad_sum, hg_error *err);

/*
 * The host forward passes' score of one row (hg_model_evaluate_host and its CSR
 * twin): its loss added to *loss and its correctness to *good, from its outputs z
 * (outputs doubles).  Linear: 0.5 |z - target|^2, correct when |z[0] - target[0]| <
 * 0.5 (target: the row's outputs floats).  Otherwise the softmax loss of label and
 * correct when the first largest output is label's (target unused).
 */
void hg__score_row(hg_model_kind kind, size_t outputs, const double *z, const float *target,
                   int32_t label, double *loss, size_t *good);

#endif /* HG_LAYERS_H */
