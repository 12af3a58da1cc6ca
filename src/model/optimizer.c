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

#include "hostvec.h"
#include "layers.h"
#include "optimizer_internal.h"

/* A run of consecutive parameters that all decay (weights) or all do not (biases). */
typedef struct decay_run {
    size_t off, len;
    bool   decay;
} decay_run;

struct hg_optimizer {
    hg_optimizer_options opt;  /* defaults resolved */
    size_t         count;      /* parameters */
    decay_run     *runs;       /* the parameters in order, as runs of weights (decayed)
                                  and biases; nruns >= 1 when count > 0 */
    size_t         nruns;
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

/*
 * The runs of weights and biases of a model's P parameters with layers[0..L) into runs
 * (room for 2 L + 1); returns their number.  L == 0 (a custom model): one run, every
 * parameter decays.  Parameters outside every layer's W (the biases) do not decay.
 */
static size_t decay_runs(const hg__layer *layers, size_t L, size_t P, decay_run *runs)
{
    if (L == 0) {
        runs[0] = (decay_run){0, P, true};
        return 1;
    }
    size_t n = 0, at = 0;
    for (size_t l = 0; l < L; l++) { /* W_l then b_l, in increasing offsets (layers.h) */
        size_t w = layers[l].w_off, wn = layers[l].in * layers[l].out;
        if (w > at)
            runs[n++] = (decay_run){at, w - at, false};
        runs[n++] = (decay_run){w, wn, true};
        at = w + wn;
    }
    if (at < P)
        runs[n++] = (decay_run){at, P - at, false};
    return n;
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
    hg__layer layers[HG_MAX_HIDDEN + 1];
    size_t L = hg__model_layers(model, layers);
    if (z) {
        z->opt = o;
        z->count = P;
        z->runs = malloc((2 * L + 1) * sizeof *z->runs);
        z->m1 = calloc(P, sizeof *z->m1);
        z->m2 = o.kind == HG_OPTIMIZER_ADAM ? calloc(P, sizeof *z->m2) : NULL;
    }
    if (!z || !z->runs || !z->m1 || (o.kind == HG_OPTIMIZER_ADAM && !z->m2)) {
        hg_optimizer_destroy(z);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "hg_optimizer_create: out of memory for %zu parameters", P);
    }
    z->nruns = decay_runs(layers, L, P, z->runs);
    *out = z;
    hg_error_clear(err);
    return HG_OK;
}

void hg_optimizer_destroy(hg_optimizer *o)
{
    if (!o)
        return;
    free(o->runs);
    free(o->m1);
    free(o->m2);
    free(o);
}

/* Adam's constants for the step now counted in o->steps; none for SGD (two pow calls a
   step saved). */
static hg__adam_k adam_constants(const hg_optimizer *o)
{
    const hg_optimizer_options *p = &o->opt;
    if (p->kind != HG_OPTIMIZER_ADAM)
        return (hg__adam_k){0};
    double b1 = p->beta1, b2 = p->beta2;
    return (hg__adam_k){.b1 = b1, .nb1 = 1 - b1, .b2 = b2, .nb2 = 1 - b2,
                        .c1 = 1 - pow(b1, (double)o->steps),
                        .c2 = 1 - pow(b2, (double)o->steps), .lr = p->lr,
                        .eps = p->epsilon, .wd = p->weight_decay};
}

/* The step on parameters [a, a + n) of one run (decay: its weights decay), grad[0..n)
   their gradient; k: Adam's constants (unused for SGD). */
static void step_part(hg_optimizer *o, const hg__adam_k *k, float *params, const float *grad,
                      size_t a, size_t n, bool decay)
{
    const hg_optimizer_options *p = &o->opt;
    decay = decay && p->weight_decay > 0;
    if (p->kind == HG_OPTIMIZER_ADAM)
        hg__vec_adam(params + a, grad, o->m1 + a, o->m2 + a, n, k, decay);
    else
        hg__vec_sgd(params + a, grad, o->m1 + a, n, p->momentum, p->lr, p->weight_decay,
                    decay);
}

void hg_optimizer_step(hg_optimizer *o, float *params, const float *grad)
{
    o->steps++;
    hg__adam_k k = adam_constants(o);
    for (size_t r = 0; r < o->nruns; r++) {
        size_t a = o->runs[r].off;
        step_part(o, &k, params, grad + a, a, o->runs[r].len, o->runs[r].decay);
    }
}

/*
 * Elements of the mean taken at a time (hg__optimizer_mean_range): 8 KB, which stays in
 * the first-level cache between the mean and the step that reads it.
 */
#define MEAN_BLOCK 2048

void hg__optimizer_begin(hg_optimizer *o, hg__adam_k *k)
{
    o->steps++;
    *k = adam_constants(o);
}

void hg__optimizer_mean_range(hg_optimizer *o, const hg__adam_k *k, float *params,
                              const float *rec, const double *sums, double count, size_t lo,
                              size_t hi)
{
    float g[MEAN_BLOCK];
    for (size_t r = 0; r < o->nruns; r++) {
        size_t a = o->runs[r].off, end = a + o->runs[r].len;
        a = a > lo ? a : lo;
        end = end < hi ? end : hi;
        for (size_t at = a; at < end; at += MEAN_BLOCK) {
            size_t n = end - at < MEAN_BLOCK ? end - at : MEAN_BLOCK;
            if (rec)
                hg__vec_mean1_f32(g, rec + at, n, count);
            else
                hg__vec_mean_f32(g, sums + at, n, count);
            step_part(o, k, params, g, at, n, o->runs[r].decay);
        }
    }
}

hg_optimizer_kind hg__optimizer_kind(const hg_optimizer *o)
{
    return o->opt.kind;
}

size_t hg__optimizer_count(const hg_optimizer *o)
{
    return o->count;
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
