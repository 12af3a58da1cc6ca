/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/train.h - what a training loop needs besides gradients: a seeded
 * random generator, initial parameters, a host forward pass for evaluation,
 * optimizers and learning-rate schedules.
 *
 * Everything here runs on the host and is deterministic: the same inputs give
 * the same bits on every machine.  hetgrad-train is built on these calls
 * (docs/train.md); checkpoints that hold their state are in checkpoint.h.
 */
#ifndef HETGRAD_TRAIN_H
#define HETGRAD_TRAIN_H

#include "common.h"
#include "model.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- hashing ------------------------------------------------------------ */

/* FNV-1a 64 of n bytes (offset basis 0xcbf29ce484222325): the checksum of the
   parameter files and the parameter hash hetgrad-train prints. */
HG_EXTERN uint64_t hg_fnv1a64(const void *data, size_t n);

/* ---- random numbers: PCG32 (XSH-RR, 64-bit state) ----------------------- */

/* A generator's whole state (frozen: docs/abi.md).  Copy it to save it. */
typedef struct hg_rng {
    uint64_t state;
    uint64_t inc;   /* odd */
} hg_rng;

/* Seed r: the PCG reference seeding with initstate = seed, initseq = seed. */
HG_EXTERN void hg_rng_seed(hg_rng *r, uint64_t seed);

/* The next 32 random bits. */
HG_EXTERN uint32_t hg_rng_next(hg_rng *r);

/* A value in [0, n) (n >= 1): the next 32 bits scaled, (next * n) >> 32. */
HG_EXTERN size_t hg_rng_below(hg_rng *r, size_t n);

/* Fisher-Yates shuffle of v[0..n), from the back, with hg_rng_below. */
HG_EXTERN void hg_rng_shuffle(hg_rng *r, size_t *v, size_t n);

/* ---- initial parameters ------------------------------------------------- */

/*
 * He-style uniform initialisation of a LINEAR, SOFTMAX or MLP model: layer by
 * layer, each weight of W_l (in row-major order) is
 * (u / 2^32 * 2 - 1) * sqrt(6 / in_l) with u = hg_rng_next(rng); biases are 0.
 * Draws exactly hg_model_param_count() minus the bias count values from rng,
 * which then continues (a training loop shuffles with it).  params receives
 * hg_model_param_count(model) floats.
 * HG_INVALID_ARGUMENT for NULL arguments, an invalid or a CUSTOM model (whose
 * layout hetgrad does not know).
 */
HG_EXTERN hg_status hg_model_init_params(const hg_model_desc *model, hg_rng *rng,
                                         float *params, hg_error *err);

/* ---- host forward pass --------------------------------------------------- */

/*
 * Evaluate a LINEAR, SOFTMAX or MLP model on the host, in double precision:
 * over rows idx[0..count) of data (rows [0, count) when idx is NULL), add the
 * loss of each row (model.h's losses, not divided by count) to *loss_sum and
 * the correct predictions to *correct (both are set, not accumulated).  A
 * softmax / MLP row is correct when its largest output (the first of equals)
 * is its label; a linear row when |prediction - target| < 0.5 for its first
 * output (the target rounded).
 * HG_INVALID_ARGUMENT (NULL, CUSTOM model, data that is not the model's),
 * HG_RANGE (row or label out of range), HG_OUT_OF_MEMORY.
 */
HG_EXTERN hg_status hg_model_evaluate_host(const hg_model_desc *model, const float *params,
                                           const hg_dataset_desc *data, const size_t *idx,
                                           size_t count, double *loss_sum, size_t *correct,
                                           hg_error *err);

/* ---- optimizers ---------------------------------------------------------- */

typedef enum hg_optimizer_kind {
    HG_OPTIMIZER_ADAM = 1, /* Adam with bias correction */
    HG_OPTIMIZER_SGD  = 2  /* SGD with (heavy-ball) momentum */
} hg_optimizer_kind;

/*
 * Optimizer options.  Always start from hg_optimizer_options_init(), which
 * sets the defaults below.
 */
typedef struct hg_optimizer_options {
    size_t struct_size;        /* set by hg_optimizer_options_init() */
    hg_optimizer_kind kind;    /* default HG_OPTIMIZER_ADAM */
    double lr;                 /* learning rate > 0; 0: 0.05 for Adam, 0.1 for SGD */
    double momentum;           /* SGD, in [0, 1); default 0.9 */
    double beta1, beta2;       /* Adam, in (0, 1); defaults 0.9, 0.999 */
    double epsilon;            /* Adam, > 0; default 1e-8 */
    double weight_decay;       /* L2 penalty wd/2 |W|^2 on the weights of every
                                  layer, not the biases (a CUSTOM model: every
                                  parameter), added to the gradient; in [0, 1);
                                  default 0 */
} hg_optimizer_options;

/*
 * Zero the first size bytes of *o, set the defaults of the fields that fit and
 * struct_size = size; call it through hg_optimizer_options_init().
 */
HG_EXTERN void hg_optimizer_options_init_sized(hg_optimizer_options *o, size_t size);

static inline void hg_optimizer_options_init(hg_optimizer_options *o)
{
    hg_optimizer_options_init_sized(o, sizeof *o);
}

/*
 * An optimizer for model's parameter vector, its state zero and its step
 * count 0.  opt NULL: the defaults.  HG_INVALID_ARGUMENT (an option out of
 * range, naming it; an invalid model), HG_OUT_OF_MEMORY.
 */
HG_EXTERN hg_status hg_optimizer_create(const hg_optimizer_options *opt,
                                        const hg_model_desc *model, hg_optimizer **out,
                                        hg_error *err);

HG_EXTERN void hg_optimizer_destroy(hg_optimizer *o);

/*
 * One update of params from grad (both hg_model_param_count() floats), with
 * g = grad + weight_decay * W for the weights:
 *   SGD:  v = momentum v + g;  p -= lr v
 *   Adam: t += 1; m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) g^2;
 *         p -= lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
 * m, s and v are kept in double; the step count grows by one (SGD too).
 * params and grad must not overlap.  Each element is computed exactly as
 * written above, in this order, so a vectorised build gives the same bits.
 */
HG_EXTERN void hg_optimizer_step(hg_optimizer *o, float *params, const float *grad);

/* Change the learning rate (a schedule); HG_INVALID_ARGUMENT unless finite
   and > 0. */
HG_EXTERN hg_status hg_optimizer_set_lr(hg_optimizer *o, double lr, hg_error *err);

/* The options in use (defaults resolved) into *out, which the caller
   initialised with hg_optimizer_options_init(). */
HG_EXTERN void hg_optimizer_get_options(const hg_optimizer *o, hg_optimizer_options *out);

/* Steps taken. */
HG_EXTERN uint64_t hg_optimizer_steps(const hg_optimizer *o);

/* Doubles of state: the parameter count for SGD (v), twice it for Adam (m,
   then s). */
HG_EXTERN size_t hg_optimizer_state_count(const hg_optimizer *o);

/* Copy the state (hg_optimizer_state_count() doubles) out. */
HG_EXTERN void hg_optimizer_get_state(const hg_optimizer *o, double *state);

/*
 * Replace the state and the step count (a resumed run).  count must be
 * hg_optimizer_state_count(o) and every value finite (Adam's s >= 0):
 * HG_INVALID_ARGUMENT otherwise, leaving the optimizer as it was.
 */
HG_EXTERN hg_status hg_optimizer_set_state(hg_optimizer *o, uint64_t steps,
                                           const double *state, size_t count,
                                           hg_error *err);

/* ---- learning-rate schedules --------------------------------------------- */

typedef enum hg_lr_schedule_kind {
    HG_LR_CONSTANT = 0, /* base */
    HG_LR_STEP     = 1, /* base * gamma^floor(epoch / every) */
    HG_LR_COSINE   = 2  /* base * (1 + cos(pi * epoch / epochs)) / 2 */
} hg_lr_schedule_kind;

/* A schedule (frozen: docs/abi.md). */
typedef struct hg_lr_schedule {
    hg_lr_schedule_kind kind;
    size_t every;   /* STEP: epochs between decays, >= 1 */
    double gamma;   /* STEP: factor, in (0, 1] */
} hg_lr_schedule;

/*
 * The learning rate of epoch (0-based) of a run of epochs epochs, from base.
 * A function of its arguments only, so a resumed run gets the same rates.
 * COSINE with epochs 0 and an invalid schedule (kind unknown, STEP with every
 * 0 or gamma outside (0, 1]) give base.
 */
HG_EXTERN double hg_lr_schedule_rate(const hg_lr_schedule *s, double base, size_t epoch,
                                     size_t epochs);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_TRAIN_H */
