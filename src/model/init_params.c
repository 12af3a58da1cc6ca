/* SPDX-License-Identifier: MIT */
/*
 * init_params.c - hg_model_init_params (hetgrad/train.h): He-style uniform
 * weights from a PCG32 generator, zero biases.
 *
 * Pure: no OpenCL calls.
 */
#include <math.h>

#include "layers.h"

hg_status hg_model_init_params(const hg_model_desc *model, hg_rng *rng, float *params,
                               hg_error *err)
{
    if (!model || !rng || !params)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_model_init_params: NULL %s",
                             !model ? "model" : !rng ? "rng" : "params");
    hg_status st = hg_model_validate(model, err);
    if (st != HG_OK)
        return st;
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t n = hg__model_layers(model, layers);
    if (n == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_model_init_params: a custom model's layout is its "
                             "kernel's: initialise its parameters yourself");
    for (size_t l = 0; l < n; l++) {
        double scale = sqrt(6.0 / (double)layers[l].in);
        float *w = params + layers[l].w_off;
        for (size_t i = 0; i < layers[l].in * layers[l].out; i++)
            w[i] = (float)(((double)hg_rng_next(rng) / 4294967296.0 * 2 - 1) * scale);
        memset(params + layers[l].b_off, 0, layers[l].out * sizeof *params);
    }
    hg_error_clear(err);
    return HG_OK;
}
