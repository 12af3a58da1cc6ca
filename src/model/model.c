/* SPDX-License-Identifier: MIT */
/*
 * model.c - model descriptions: validation, parameter count and the dense
 * layer list (layers.h) that the reference and the engine walk.
 *
 * One function, describe(), checks every field and computes the layout; the
 * public calls are views of it, so they cannot disagree about what is valid.
 * Parameter counts above HG__MAX_PARAMS (2^31) are invalid: the device
 * kernels address parameters with 32-bit offsets, and the check also keeps
 * every size_t product below from overflowing.
 *
 * Pure: no OpenCL calls.
 */
#include "layers.h"

/*
 * Append layer in -> out at offset *total.  Returns false, leaving *total,
 * when the parameter count would exceed HG__MAX_PARAMS.
 */
static bool add_layer(hg__layer *l, size_t in, size_t out, bool relu, size_t *total)
{
    /* out * (in + 1) <= MAX, written so that nothing overflows */
    if (out > HG__MAX_PARAMS || in >= HG__MAX_PARAMS || in + 1 > HG__MAX_PARAMS / out)
        return false;
    size_t n = out * (in + 1);
    if (n > HG__MAX_PARAMS - *total)
        return false;
    l->in = in;
    l->out = out;
    l->w_off = *total;
    l->b_off = *total + in * out;
    l->relu = relu;
    *total += n;
    return true;
}

static const char *kind_name(hg_model_kind k)
{
    switch (k) {
    case HG_MODEL_LINEAR:  return "linear";
    case HG_MODEL_SOFTMAX: return "softmax";
    case HG_MODEL_MLP:     return "MLP";
    case HG_MODEL_CUSTOM:  return "custom";
    }
    return "?";
}

/*
 * Check m and compute its layout: *nlayers layers into layers (capacity
 * HG_MAX_HIDDEN + 1; 0 layers for CUSTOM) and *nparams parameters.
 * HG_INVALID_ARGUMENT with a message naming the field otherwise.
 */
static hg_status describe(const hg_model_desc *m, hg__layer *layers, size_t *nlayers,
                          size_t *nparams, hg_error *err)
{
    if (!m)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "model: NULL description");
    switch (m->kind) {
    case HG_MODEL_LINEAR:
    case HG_MODEL_SOFTMAX:
    case HG_MODEL_MLP:
    case HG_MODEL_CUSTOM:
        break;
    default:
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "model.kind = %d is not a model kind (HG_MODEL_LINEAR, "
                             "_SOFTMAX, _MLP or _CUSTOM)", (int)m->kind);
    }
    const char *kind = kind_name(m->kind);
    if (m->inputs == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "model.inputs is 0: a %s model needs >= 1 feature per row",
                             kind);
    if (m->outputs == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "model.outputs is 0: a %s model needs >= 1 output", kind);
    if ((m->kind == HG_MODEL_SOFTMAX || m->kind == HG_MODEL_MLP) && m->outputs < 2)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "model.outputs is 1: a %s model needs >= 2 classes", kind);

    size_t total = 0;
    size_t n = 0;
    if (m->kind == HG_MODEL_CUSTOM) {
        if (!m->custom_source || !*m->custom_source)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "model.custom_source is %s: a custom model needs OpenCL C "
                                 "source", m->custom_source ? "empty" : "NULL");
        if (!m->custom_kernel || !*m->custom_kernel)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "model.custom_kernel is %s: a custom model needs a kernel "
                                 "name", m->custom_kernel ? "empty" : "NULL");
        if (m->custom_params == 0 || m->custom_params > HG__MAX_PARAMS)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "model.custom_params is %zu: must be 1..2^31",
                                 m->custom_params);
        total = m->custom_params;
    } else if (m->kind == HG_MODEL_MLP) {
        if (m->nhidden == 0 || m->nhidden > HG_MAX_HIDDEN)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "model.nhidden is %zu: an MLP has 1..%d hidden layers",
                                 m->nhidden, HG_MAX_HIDDEN);
        for (size_t i = 0; i < m->nhidden; i++)
            if (m->hidden[i] == 0)
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                     "model.hidden[%zu] is 0: hidden layer widths must be "
                                     ">= 1", i);
        size_t in = m->inputs;
        for (size_t i = 0; i <= m->nhidden; i++) {
            bool hidden = i < m->nhidden;
            size_t out = hidden ? m->hidden[i] : m->outputs;
            if (!add_layer(&layers[n++], in, out, hidden, &total))
                goto too_many;
            in = out;
        }
    } else if (!add_layer(&layers[n++], m->inputs, m->outputs, false, &total)) {
        goto too_many;
    }
    *nlayers = n;
    *nparams = total;
    return HG_OK;

too_many:
    return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                         "model: more than 2^31 parameters (model.inputs = %zu, "
                         "model.outputs = %zu%s)", m->inputs, m->outputs,
                         m->kind == HG_MODEL_MLP ? ", model.hidden" : "");
}

size_t hg__model_layers(const hg_model_desc *m, hg__layer *layers)
{
    hg__layer tmp[HG_MAX_HIDDEN + 1];
    size_t n, total;
    if (describe(m, tmp, &n, &total, NULL) != HG_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        layers[i] = tmp[i];
    return n;
}

size_t hg_model_param_count(const hg_model_desc *model)
{
    hg__layer tmp[HG_MAX_HIDDEN + 1];
    size_t n, total;
    return describe(model, tmp, &n, &total, NULL) == HG_OK ? total : 0;
}

hg_status hg_model_validate(const hg_model_desc *model, hg_error *err)
{
    hg__layer tmp[HG_MAX_HIDDEN + 1];
    size_t n, total;
    hg_status st = describe(model, tmp, &n, &total, err);
    if (st == HG_OK)
        hg_error_clear(err);
    return st;
}
