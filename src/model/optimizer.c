/* SPDX-License-Identifier: MIT */
/*
 * optimizer.c - hg_optimizer (hetgrad/train.h): SGD with momentum and Adam,
 * with L2 weight decay on the weights, and state that can be saved and put
 * back (checkpoint.c writes it).
 *
 * The arithmetic is the one hetgrad-train has always used, operation for
 * operation, so that a seed gives the parameters it gave before: the decay is
 * added to the gradient in float, the moments are kept in double.
 *
 * Pure: no OpenCL calls.
 */
#include <math.h>
#include <stdlib.h>

#include "layers.h"

struct hg_optimizer {
    hg_optimizer_options opt;  /* defaults resolved */
    size_t         count;      /* parameters */
    unsigned char *is_w;       /* count flags: a weight (decayed), not a bias */
    double        *m1;         /* SGD: v; Adam: m */
    double        *m2;         /* Adam: s; NULL for SGD */
    uint64_t       steps;
};

/* hg_optimizer_options as first released (the release after 0.2.0) ends with weight_decay. */
#define OPTIMIZER_OPTIONS_MIN_SIZE HG__FIELD_END(hg_optimizer_options, weight_decay)

void hg_optimizer_options_init_sized(hg_optimizer_options *o, size_t size)
{
    if (!hg__sized_init(o, size))
        return;
    if (HG__SIZED_HAS(hg_optimizer_options, kind, size))
        o->kind = HG_OPTIMIZER_ADAM;
    if (HG__SIZED_HAS(hg_optimizer_options, momentum, size))
        o->momentum = 0.9;
    if (HG__SIZED_HAS(hg_optimizer_options, beta1, size))
        o->beta1 = 0.9;
    if (HG__SIZED_HAS(hg_optimizer_options, beta2, size))
        o->beta2 = 0.999;
    if (HG__SIZED_HAS(hg_optimizer_options, epsilon, size))
        o->epsilon = 1e-8;
}

/* Whether v lies in the interval (lo, hi) with open or closed ends. */
static bool in_range(double v, double lo, bool lo_closed, double hi, bool hi_closed)
{
    return isfinite(v) && (lo_closed ? v >= lo : v > lo) && (hi_closed ? v <= hi : v < hi);
}

static hg_status resolve(const hg_optimizer_options *in, hg_optimizer_options *o,
                         hg_error *err)
{
    hg_optimizer_options_init(o);
    if (in) {
        hg_status st = hg__sized_read(o, sizeof *o, in, in->struct_size,
                                      OPTIMIZER_OPTIONS_MIN_SIZE, "hg_optimizer_options",
                                      "hg_optimizer_options_init", err);
        if (st != HG_OK)
            return st;
    }
    if (o->kind != HG_OPTIMIZER_ADAM && o->kind != HG_OPTIMIZER_SGD)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_optimizer_options.kind = %d is no optimizer "
                             "(HG_OPTIMIZER_ADAM or HG_OPTIMIZER_SGD)", (int)o->kind);
    if (o->lr == 0)
        o->lr = o->kind == HG_OPTIMIZER_ADAM ? 0.05 : 0.1;
    const char *bad = !in_range(o->lr, 0, false, INFINITY, false)         ? "lr (> 0)"
                      : !in_range(o->momentum, 0, true, 1, false)         ? "momentum ([0, 1))"
                      : !in_range(o->beta1, 0, false, 1, false)           ? "beta1 ((0, 1))"
                      : !in_range(o->beta2, 0, false, 1, false)           ? "beta2 ((0, 1))"
                      : !in_range(o->epsilon, 0, false, INFINITY, false)  ? "epsilon (> 0)"
                      : !in_range(o->weight_decay, 0, true, 1, false)     ? "weight_decay ([0, 1))"
                                                                          : NULL;
    if (bad)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_optimizer_options.%s is out of range", bad);
    return HG_OK;
}

hg_status hg_optimizer_create(const hg_optimizer_options *opt, const hg_model_desc *model,
                              hg_optimizer **out, hg_error *err)
{
    if (!out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_optimizer_create: NULL out");
    *out = NULL;
    hg_optimizer_options o;
    hg_status st = resolve(opt, &o, err);
    if (st == HG_OK)
        st = hg_model_validate(model, err);
    if (st != HG_OK)
        return st;
    size_t P = hg_model_param_count(model);
    hg_optimizer *z = calloc(1, sizeof *z);
    if (z) {
        z->opt = o;
        z->count = P;
        z->is_w = malloc(P);
        z->m1 = calloc(P, sizeof *z->m1);
        z->m2 = o.kind == HG_OPTIMIZER_ADAM ? calloc(P, sizeof *z->m2) : NULL;
    }
    if (!z || !z->is_w || !z->m1 || (o.kind == HG_OPTIMIZER_ADAM && !z->m2)) {
        hg_optimizer_destroy(z);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "hg_optimizer_create: out of memory for %zu parameters", P);
    }
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t L = hg__model_layers(model, layers);
    memset(z->is_w, L ? 0 : 1, P); /* a custom model: every parameter decays */
    for (size_t l = 0; l < L; l++)
        memset(z->is_w + layers[l].w_off, 1, layers[l].in * layers[l].out);
    *out = z;
    hg_error_clear(err);
    return HG_OK;
}

void hg_optimizer_destroy(hg_optimizer *o)
{
    if (!o)
        return;
    free(o->is_w);
    free(o->m1);
    free(o->m2);
    free(o);
}

void hg_optimizer_step(hg_optimizer *o, float *params, const float *grad)
{
    const hg_optimizer_options *p = &o->opt;
    o->steps++;
    if (p->kind == HG_OPTIMIZER_ADAM) {
        double b1 = p->beta1, b2 = p->beta2;
        double c1 = 1 - pow(b1, (double)o->steps), c2 = 1 - pow(b2, (double)o->steps);
        for (size_t k = 0; k < o->count; k++) {
            float g = grad[k];
            if (p->weight_decay > 0 && o->is_w[k])
                g += (float)(p->weight_decay * params[k]);
            o->m1[k] = b1 * o->m1[k] + (1 - b1) * g;
            o->m2[k] = b2 * o->m2[k] + (1 - b2) * (double)g * g;
            params[k] -= (float)(p->lr * (o->m1[k] / c1) / (sqrt(o->m2[k] / c2) + p->epsilon));
        }
        return;
    }
    for (size_t k = 0; k < o->count; k++) {
        float g = grad[k];
        if (p->weight_decay > 0 && o->is_w[k])
            g += (float)(p->weight_decay * params[k]);
        o->m1[k] = p->momentum * o->m1[k] + g;
        params[k] -= (float)(p->lr * o->m1[k]);
    }
}

hg_status hg_optimizer_set_lr(hg_optimizer *o, double lr, hg_error *err)
{
    if (!o || !in_range(lr, 0, false, INFINITY, false))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_optimizer_set_lr: %s", o ? "lr must be finite and > 0"
                                                          : "NULL optimizer");
    o->opt.lr = lr;
    hg_error_clear(err);
    return HG_OK;
}

void hg_optimizer_get_options(const hg_optimizer *o, hg_optimizer_options *out)
{
    size_t size = out->struct_size;
    hg__sized_write(out, size, &o->opt, sizeof o->opt, OPTIMIZER_OPTIONS_MIN_SIZE);
    memcpy(out, &size, sizeof size);
}

uint64_t hg_optimizer_steps(const hg_optimizer *o)
{
    return o->steps;
}

size_t hg_optimizer_state_count(const hg_optimizer *o)
{
    return o->m2 ? 2 * o->count : o->count;
}

void hg_optimizer_get_state(const hg_optimizer *o, double *state)
{
    memcpy(state, o->m1, o->count * sizeof *state);
    if (o->m2)
        memcpy(state + o->count, o->m2, o->count * sizeof *state);
}

hg_status hg_optimizer_set_state(hg_optimizer *o, uint64_t steps, const double *state,
                                 size_t count, hg_error *err)
{
    if (!o || (!state && count))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_optimizer_set_state: NULL %s",
                             o ? "state" : "optimizer");
    if (count != hg_optimizer_state_count(o))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_optimizer_set_state: %zu values, this %s optimizer has %zu",
                             count, o->m2 ? "Adam" : "SGD", hg_optimizer_state_count(o));
    for (size_t k = 0; k < count; k++)
        if (!isfinite(state[k]) || (o->m2 && k >= o->count && state[k] < 0))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg_optimizer_set_state: value %zu is %g, not a state %s "
                                 "can have", k, state[k], o->m2 ? "Adam" : "SGD");
    memcpy(o->m1, state, o->count * sizeof *state);
    if (o->m2)
        memcpy(o->m2, state + o->count, o->count * sizeof *state);
    o->steps = steps;
    hg_error_clear(err);
    return HG_OK;
}
