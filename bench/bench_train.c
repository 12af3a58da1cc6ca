/* SPDX-License-Identifier: MIT */
/*
 * bench_train.c - minibatch training, end to end: the same epochs of softmax
 * (784 x 10) and MLP (784-256-10) training, with SGD (momentum) and Adam,
 * through hetgrad and as a plain C loop with OpenBLAS on the host, side by
 * side in one run (docs/train.md, "Training speed against OpenBLAS").
 *
 *   bench_train [--epochs E] [--rows N] [--batch B] [--models softmax,mlp]
 *               [--optimizers sgd,adam] [--lr LR] [--seed S] [--round-steps K]
 *               [--blas-threads T] [--devices EXPR] [--json]
 *
 * Data, made in the run: bench/synthetic.c's rows x 784 features in [0, 1),
 * labelled by a fixed linear teacher (teacher_labels()), so that training
 * makes progress.  Both ways of a configuration start from the same
 * parameters (hg_model_init_params, seeded) and take the same minibatches in
 * the same order (one hg_rng shuffle of the rows per epoch, shared).
 *
 *   hetgrad   the public API as hetgrad-train uses it: an engine on the
 *             selected devices, hg_engine_calibrate, the dynamic split,
 *             hg_engine_step_rows per minibatch (gradient and update in one
 *             call; the first step as hg_engine_gradient_rows and
 *             hg_optimizer_step, for the first-gradient check below).
 *   openblas  train_blas.c: the rows gathered, cblas_sgemm forward and
 *             backward, the same optimizer formulas in float; OpenBLAS on
 *             --blas-threads threads (default 1).
 *
 * Timing (tools/harness.h, the benchmarks' shared harness): the steps are
 * cut into rounds of K steps; each call of the harness's sample function
 * takes one way's next K steps, and the harness runs every configuration's
 * two ways once per round, in an order that changes from round to round, so
 * that a change in the machine's load hits all of them alike.  The first
 * round is the warm-up (one call: every call trains, and the epochs are
 * fixed, so the harness's settle rule is off).  A round's time is scaled to
 * ms per full batch (the last batch of an epoch may be short); rows/s is
 * batch / the median of those, the spread the interquartile range over the
 * median, flagged "wide" above the harness's limit; the ratio is the median
 * of the per-round paired ratios.  A hetgrad step's time is split with the
 * engine's own figures of the step (hg_engine_last_step,
 * hg_engine_last_step_ms) and host clocks around the calls (print_legend()).
 *
 * Checks, per configuration (a failure makes the exit status 1):
 *   - the two ways' final losses (the mean training loss of the last epoch)
 *     within LOSS_TOLERANCE, relative;
 *   - their first step's gradients (same parameters, same rows) within
 *     GRAD_TOLERANCE, normwise over each layer's weights and biases apart;
 *   - the baseline's optimizer against hg_optimizer: CHECK_UPDATES updates
 *     with the same gradient, within UPDATE_TOLERANCE, normwise.
 * The last two do not depend on how far two float trajectories drift apart.
 * Figures, never pass/fail thresholds on speed.
 */
#define _POSIX_C_SOURCE 200809L
#include <hetgrad.h>

#include "bench_util.h"
#include "cli.h"
#include "pocl_pin.h"
#include "harness.h"
#include "harness_json.h"
#include "json_out.h"
#include "synthetic.h"
#include "train_blas.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "bench_train" /* in messages */

#define FEATURES 784
#define CLASSES 10
#define HIDDEN 256
#define MAX_DEVICES 64
#define LOSS_TOLERANCE 1e-3 /* |loss_hetgrad - loss_openblas| / loss_openblas */
#define GRAD_TOLERANCE 1e-3 /* the first step's gradients, normwise per block */
#define UPDATE_TOLERANCE 1e-4 /* the two optimizers' updates from one gradient */
#define CHECK_UPDATES 3      /* updates the optimizer check applies */
#define DEFAULT_LR_SGD 0.005
#define DEFAULT_LR_ADAM 0.001
#define TEACHER_KIND 100     /* hg_bench_synth_params's seed for the teacher */

enum { WAY_HETGRAD = 0, WAY_OPENBLAS = 1, NWAYS = 2 };
static const char *const way_names[NWAYS] = {"hetgrad", "openblas"};

/* ---- small helpers ---------------------------------------------------------------- */

/* Out of memory for what: say so, exit 3. */
static void die_oom(const char *what)
{
    fprintf(stderr, "bench_train: out of memory for %s\n", what);
    exit(3);
}

/* ---- what is measured --------------------------------------------------------------- */

/* What one way of one configuration measured.  Sums are over the timed steps. */
typedef struct way_stats {
    size_t  next;        /* the next step to take (0 .. total_steps) */
    size_t  steps, rows; /* timed */
    double  ms;          /* wall time of the timed rounds */
    double  grad_ms;     /* host time around the gradient call */
    double  update_ms;   /* host time around the optimizer step */
    /* hetgrad: the step's last device to finish (its critical path) */
    double  dispatch_ms; /* hg_device_step.start_ms: checks, planning, hand-off */
    double  kernel_ms;   /* device_ms - transfer_ms: its kernels' event times */
    double  transfer_ms; /* its parameter upload and result read-back events */
    double  worker_ms;   /* host_ms - device_ms: its worker's time outside events */
    double  reduce_ms;   /* hg_engine_last_step_ms - end_ms: the host reduction */
    double  dev_rows[MAX_DEVICES]; /* hetgrad: rows each device computed, every step */
    double  epoch_loss;  /* the running epoch's loss, summed over its rows */
    size_t  epoch_rows;
    double  final_loss;  /* the mean loss of the last complete epoch */
    /* after the rounds (config_finish) */
    harness_stats ms_per_batch; /* the rounds' times, ms per full batch */
    double  rps, rps_min, rps_max; /* rows/s: batch over its median, max, min */
} way_stats;

/* One way of one configuration: its parameters, optimizer and figures. */
typedef struct runner {
    int             way;  /* WAY_HETGRAD or WAY_OPENBLAS */
    hg_optimizer   *opt;  /* hetgrad */
    blas_optimizer  bopt; /* openblas */
    float          *params, *grad;
    float          *first_grad; /* the gradient of its first step */
    way_stats       st;
} runner;

/* A model and optimizer pair, trained both ways. */
typedef struct config {
    const char       *model;      /* "softmax" or "mlp" */
    const char       *optimizer;  /* "sgd" or "adam" */
    hg_optimizer_kind kind;
    double            lr;         /* resolved */
    double            setup_ms;   /* its model's engine: create, data, calibration */
    char              kernel[MAX_DEVICES][48]; /* each device's kernel for the model */
    char              device[MAX_DEVICES][128]; /* and its name: each model's engine keeps
                                                   the view of the host's cores that its
                                                   calibration measured faster */
    size_t            ndev;       /* its model's engine's devices */
    runner            way[NWAYS];
    double            loss_rel_diff, param_rel_diff;
    harness_stats     ratio;           /* per-round hetgrad / openblas speed */
    double            grad_rel_diff;   /* the first step's gradients */
    double            update_rel_diff; /* the optimizers on the same gradients */
    bool              agree;           /* all three within their tolerances */
} config;

/* The whole run. */
typedef struct bench {
    const cli        *cmd;
    size_t            rows, batch, epochs, round_steps;
    uint64_t          seed;
    double            lr;          /* --lr; 0: each optimizer's default here */
    int               blas_threads;
    float            *x;
    int32_t          *labels;
    hg_dataset_desc   data;
    size_t           *orders;      /* epochs x rows: each epoch's row order */
    size_t            steps_per_epoch, total_steps;
    size_t            nrounds;     /* calls per way: the warm-up and the timed rounds */
    hg_engine_options eopt;
    size_t            ndev;
    char             *dev_names[MAX_DEVICES];
    hg_engine        *eng;         /* the current model's */
    hg_model_desc     model;       /* the current model */
    blas_scratch      scratch;     /* the current model's */
    runner          **runners;     /* the current model's, harness config order */
    bool              failed;      /* a check failed */
    bool              timing_wide; /* some way's rounds are too noisy to compare */
} bench;

/* ---- the steps ---------------------------------------------------------------------- */

/* Each epoch's order: 0..rows-1 shuffled again by one generator (seed + 1),
   as hetgrad-train reshuffles its order at every epoch. */
static void make_orders(bench *b)
{
    hg_rng rng;
    hg_rng_seed(&rng, b->seed + 1);
    size_t *perm = bench_xcalloc(PROG, b->rows, sizeof *perm);
    for (size_t i = 0; i < b->rows; i++)
        perm[i] = i;
    b->orders = bench_xcalloc(PROG, b->epochs * b->rows, sizeof *b->orders);
    for (size_t e = 0; e < b->epochs; e++) {
        hg_rng_shuffle(&rng, perm, b->rows);
        memcpy(b->orders + e * b->rows, perm, b->rows * sizeof *perm);
    }
    free(perm);
}

/*
 * Labels a linear model can learn: each row's class is the argmax of
 * (x - 0.5) T over a fixed teacher matrix T (784 x 10, hg_bench_synth_params
 * with kind TEACHER_KIND), so that training makes progress and the final
 * losses say something.  (synthetic.c's own labels are independent of x.)
 */
static void teacher_labels(bench *b)
{
    enum { CHUNK = 4096 };
    float *t = bench_xcalloc(PROG, FEATURES * CLASSES, sizeof *t), *z = bench_xcalloc(PROG, CHUNK * CLASSES, sizeof *z);
    double shift[CLASSES] = {0};
    hg_bench_synth_params(TEACHER_KIND, FEATURES * CLASSES, t);
    for (size_t i = 0; i < FEATURES; i++)
        for (size_t j = 0; j < CLASSES; j++)
            shift[j] += 0.5 * t[i * CLASSES + j];
    for (size_t r0 = 0; r0 < b->rows; r0 += CHUNK) {
        size_t n = b->rows - r0 < CHUNK ? b->rows - r0 : CHUNK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, CLASSES, FEATURES,
                    1.0f, b->x + r0 * FEATURES, FEATURES, t, CLASSES, 0.0f, z, CLASSES);
        for (size_t i = 0; i < n; i++) {
            int32_t best = 0;
            for (int32_t j = 1; j < CLASSES; j++)
                if ((double)z[i * CLASSES + (size_t)j] - shift[j] >
                    (double)z[i * CLASSES + (size_t)best] - shift[best])
                    best = j;
            b->labels[r0 + i] = best;
        }
    }
    free(t);
    free(z);
}

/* The hetgrad step's split: the device that finished last is the step's
   critical path; its figures go into st. */
static void count_hetgrad_step(bench *b, way_stats *st, bool timed)
{
    hg_device_step last = {0};
    bool any = false;
    for (size_t i = 0; i < hg_engine_device_count(b->eng) && i < MAX_DEVICES; i++) {
        hg_device_step ds;
        if (hg_engine_last_step(b->eng, i, &ds) != HG_OK || !ds.rows)
            continue;
        st->dev_rows[i] += (double)ds.rows;
        if (!any || ds.end_ms > last.end_ms)
            last = ds;
        any = true;
    }
    if (!timed || !any)
        return;
    st->dispatch_ms += last.start_ms;
    st->kernel_ms += last.device_ms - last.transfer_ms;
    st->transfer_ms += last.transfer_ms;
    st->worker_ms += last.host_ms - last.device_ms;
    st->reduce_ms += hg_engine_last_step_ms(b->eng) - last.end_ms;
}

/* Global step s of r: the gradient of its minibatch, then the update.
   Returns the step's rows. */
static size_t take_step(bench *b, runner *r, size_t s, bool timed)
{
    size_t epoch = s / b->steps_per_epoch, first = (s % b->steps_per_epoch) * b->batch;
    size_t nb = b->rows - first < b->batch ? b->rows - first : b->batch;
    const size_t *idx = b->orders + epoch * b->rows + first;
    way_stats *st = &r->st;
    double loss, t0 = harness_now_ms();
    /* one call, gradient and update (update_ms stays 0: it is in grad_ms and reduce_ms) */
    bool one_call = r->way == WAY_HETGRAD && s > 0;
    if (one_call) {
        hg_error err;
        if (hg_engine_step_rows(b->eng, r->opt, r->params, idx, nb, &loss, &err) != HG_OK)
            bench_die_hg(PROG, "hg_engine_step_rows", &err);
    } else if (r->way == WAY_HETGRAD) {
        hg_error err;
        if (hg_engine_gradient_rows(b->eng, r->params, idx, nb, r->grad, &loss, &err) != HG_OK)
            bench_die_hg(PROG, "hg_engine_gradient_rows", &err);
    } else {
        loss = blas_loss_grad(&b->model, r->params, &b->data, idx, nb, &b->scratch, r->grad);
    }
    double t1 = harness_now_ms();
    if (r->way == WAY_HETGRAD)
        count_hetgrad_step(b, st, timed);
    if (s == 0)
        memcpy(r->first_grad, r->grad, hg_model_param_count(&b->model) * sizeof *r->grad);
    double t2 = harness_now_ms();
    if (r->way != WAY_HETGRAD)
        blas_optimizer_step(&r->bopt, r->params, r->grad);
    else if (!one_call)
        hg_optimizer_step(r->opt, r->params, r->grad);
    double t3 = harness_now_ms();
    if (timed) {
        st->grad_ms += t1 - t0;
        st->update_ms += t3 - t2;
        st->steps++;
        st->rows += nb;
    }
    st->epoch_loss += loss * (double)nb;
    st->epoch_rows += nb;
    if (s % b->steps_per_epoch == b->steps_per_epoch - 1) {
        st->final_loss = st->epoch_loss / (double)st->epoch_rows;
        st->epoch_loss = 0;
        st->epoch_rows = 0;
    }
    return nb;
}

/*
 * harness_sample_fn: way way_ix of the current model takes its next K
 * steps (round: HARNESS_WARMUP or the timed round); *ms receives their wall
 * time scaled to ms per full batch.  Returns 1 when the way has no step left
 * (a miscounted plan), else 0.
 */
static int sample_round(void *ctx, size_t way_ix, size_t round, double *ms)
{
    bench *b = ctx;
    runner *r = b->runners[way_ix];
    size_t first = r->st.next, last = first + b->round_steps;
    last = last < b->total_steps ? last : b->total_steps;
    if (first >= last)
        return 1;
    bool timed = round != HARNESS_WARMUP;
    size_t rows = 0;
    double t0 = harness_now_ms();
    for (size_t s = first; s < last; s++)
        rows += take_step(b, r, s, timed);
    double wall = harness_now_ms() - t0;
    r->st.next = last;
    if (timed)
        r->st.ms += wall;
    *ms = wall * (double)b->batch / (double)rows;
    return 0;
}

/* ---- a model's configurations --------------------------------------------------------- */

/* A runner of c starting from params0 (P floats). */
static void runner_init(bench *b, config *c, int way, const float *params0, size_t P)
{
    runner *r = &c->way[way];
    memset(r, 0, sizeof *r);
    r->way = way;
    r->params = bench_xcalloc(PROG, P, sizeof *r->params);
    r->grad = bench_xcalloc(PROG, P, sizeof *r->grad);
    r->first_grad = bench_xcalloc(PROG, P, sizeof *r->first_grad);
    memcpy(r->params, params0, P * sizeof *params0);
    r->st.final_loss = NAN;
    hg_optimizer_options oo;
    hg_optimizer_options_init(&oo);
    oo.kind = c->kind;
    oo.lr = c->lr;
    hg_error err;
    if (hg_optimizer_create(&oo, &b->model, &r->opt, &err) != HG_OK)
        bench_die_hg(PROG, "hg_optimizer_create", &err);
    if (way == WAY_OPENBLAS) {
        hg_optimizer_get_options(r->opt, &oo); /* the defaults, resolved */
        hg_optimizer_destroy(r->opt);
        r->opt = NULL;
        if (!blas_optimizer_create(&r->bopt, &oo, P))
            die_oom("the OpenBLAS optimizer's state");
    }
}

static void runner_free(runner *r)
{
    hg_optimizer_destroy(r->opt);
    blas_optimizer_free(&r->bopt);
    free(r->params);
    free(r->grad);
    free(r->first_grad);
    r->opt = NULL;
    r->params = r->grad = r->first_grad = NULL;
}

/* st's figures from the harness's summary of its rounds (ms per batch). */
static void way_finish(const bench *b, way_stats *st, const harness_stats *hs)
{
    st->ms_per_batch = *hs;
    double rows_per_ms = (double)b->batch * 1e3;
    st->rps = rows_per_ms / hs->median;
    st->rps_min = rows_per_ms / hs->max;
    st->rps_max = rows_per_ms / hs->min;
}

/* Normwise relative difference ||a - b|| / ||b|| (b the reference) of n floats;
   with base (may be NULL) subtracted from both first. */
static double rel_diff(const float *a, const float *b, const float *base, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)a[i] - (base ? (double)base[i] : 0.0);
        double y = (double)b[i] - (base ? (double)base[i] : 0.0);
        d += (x - y) * (x - y);
        r += y * y;
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

/* The largest rel_diff() (no base) over model's parameter blocks, each
   layer's weights and its biases (model.h's layout), so that a wrong bias
   gradient is not hidden by the weights' larger norm. */
static double rel_diff_blocks(const hg_model_desc *model, const float *a, const float *b)
{
    size_t in = model->inputs, at = 0;
    size_t nlayers = model->kind == HG_MODEL_MLP ? model->nhidden + 1 : 1;
    double worst = 0;
    for (size_t l = 0; l < nlayers; l++) {
        size_t out = l < nlayers - 1 ? model->hidden[l] : model->outputs;
        double w = rel_diff(a + at, b + at, NULL, in * out);
        double bias = rel_diff(a + at + in * out, b + at + in * out, NULL, out);
        worst = fmax(worst, fmax(w, bias));
        at += in * out + out;
        in = out;
    }
    return worst;
}

/*
 * The baseline's optimizer against hg_optimizer: both apply CHECK_UPDATES
 * updates with the same gradient g from params0; the relative difference of
 * their total updates.  Chaos-free, unlike the final losses: it checks the
 * formulas (momentum, Adam's moments and bias correction), not a trajectory.
 */
static double optimizer_check(const config *c, const hg_model_desc *model,
                              const float *params0, const float *g, size_t P)
{
    hg_optimizer_options oo;
    hg_optimizer_options_init(&oo);
    oo.kind = c->kind;
    oo.lr = c->lr;
    hg_optimizer *ho;
    blas_optimizer bo;
    hg_error err;
    if (hg_optimizer_create(&oo, model, &ho, &err) != HG_OK)
        bench_die_hg(PROG, "hg_optimizer_create", &err);
    hg_optimizer_get_options(ho, &oo);
    if (!blas_optimizer_create(&bo, &oo, P))
        die_oom("the OpenBLAS optimizer's state");
    float *ph = bench_xcalloc(PROG, P, sizeof *ph), *pb = bench_xcalloc(PROG, P, sizeof *pb);
    memcpy(ph, params0, P * sizeof *ph);
    memcpy(pb, params0, P * sizeof *pb);
    for (int k = 0; k < CHECK_UPDATES; k++) {
        hg_optimizer_step(ho, ph, g);
        blas_optimizer_step(&bo, pb, g);
    }
    double d = rel_diff(pb, ph, params0, P);
    free(ph);
    free(pb);
    blas_optimizer_free(&bo);
    hg_optimizer_destroy(ho);
    return d;
}

/* Compare c's two ways, harness configs k (hetgrad) and k + 1 (openblas) of
   res: the figures, the ratio, the checks, the parameters' drift. */
static void config_finish(bench *b, config *c, const harness_result *res, size_t k,
                          const float *params0, size_t P)
{
    way_stats *h = &c->way[WAY_HETGRAD].st, *o = &c->way[WAY_OPENBLAS].st;
    const runner *rh = &c->way[WAY_HETGRAD], *ro = &c->way[WAY_OPENBLAS];
    way_finish(b, h, &res->stats[k + WAY_HETGRAD]);
    way_finish(b, o, &res->stats[k + WAY_OPENBLAS]);
    /* openblas ms / hetgrad ms, round by round: hetgrad's speed over OpenBLAS's */
    if (harness_paired_ratio(res, k + WAY_OPENBLAS, k + WAY_HETGRAD, &c->ratio) != 0)
        die_oom("the paired ratios");
    c->loss_rel_diff = fabs(h->final_loss - o->final_loss) / fabs(o->final_loss);
    c->param_rel_diff = rel_diff(rh->params, ro->params, NULL, P);
    c->grad_rel_diff = rel_diff_blocks(&b->model, rh->first_grad, ro->first_grad);
    c->update_rel_diff = optimizer_check(c, &b->model, params0, rh->first_grad, P);
    c->agree = c->loss_rel_diff <= LOSS_TOLERANCE && c->grad_rel_diff <= GRAD_TOLERANCE &&
               c->update_rel_diff <= UPDATE_TOLERANCE;
    if (!c->agree) {
        b->failed = true;
        fprintf(stderr, "bench_train: *** %s %s: the two ways disagree: final loss hetgrad "
                "%.6f, openblas %.6f (relative difference %.2e, tolerance %.0e); first "
                "gradient %.2e (tolerance %.0e); optimizer updates %.2e (tolerance %.0e) ***\n",
                c->model, c->optimizer, h->final_loss, o->final_loss, c->loss_rel_diff,
                LOSS_TOLERANCE, c->grad_rel_diff, GRAD_TOLERANCE, c->update_rel_diff,
                UPDATE_TOLERANCE);
    }
}

/* The engine for b->model, as hetgrad-train sets it up: every selected
   device, the data, calibration, the dynamic split.  Returns its set-up ms. */
static double engine_setup(bench *b)
{
    hg_error err;
    double t0 = harness_now_ms();
    if (hg_engine_create(&b->eopt, &b->model, &b->eng, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_create", &err);
    if (hg_engine_set_data(b->eng, &b->data, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_set_data", &err);
    if (hg_engine_calibrate(b->eng, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_calibrate", &err);
    if (hg_engine_set_split(b->eng, HG_SPLIT_DYNAMIC, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_set_split", &err);
    double ms = harness_now_ms() - t0;
    size_t n = hg_engine_device_count(b->eng);
    if (!b->ndev) {
        b->ndev = n < MAX_DEVICES ? n : MAX_DEVICES;
        for (size_t i = 0; i < b->ndev; i++) {
            const char *name = hg_engine_device(b->eng, i)->name;
            b->dev_names[i] = bench_xcalloc(PROG, strlen(name) + 1, 1);
            strcpy(b->dev_names[i], name);
        }
    }
    return ms;
}

/* The harness over cfg[0..n)'s ways (config i's way w is harness config
   i * NWAYS + w): one warm-up call each, then the timed rounds; *res filled. */
static void run_rounds(bench *b, config *cfg, size_t n, harness_result *res)
{
    b->runners = bench_xcalloc(PROG, n * NWAYS, sizeof *b->runners);
    for (size_t i = 0; i < n; i++)
        for (int w = 0; w < NWAYS; w++)
            b->runners[i * NWAYS + (size_t)w] = &cfg[i].way[w];
    harness_plan plan;
    harness_plan_init(&plan);
    plan.nconfigs = n * NWAYS;
    plan.rounds = b->nrounds - 1;
    plan.warmup = 1;
    plan.warmup_max = 1; /* every call trains: the epochs fix the number of calls */
    plan.seed = b->seed;
    plan.sample = sample_round;
    plan.ctx = b;
    int rc = harness_run(&plan, res);
    if (rc != 0) {
        fprintf(stderr, "bench_train: the timing harness failed (%d)%s\n", rc,
                rc == 1 ? ": a way ran out of steps" : "");
        exit(3);
    }
    b->timing_wide |= res->wide;
    free(b->runners);
    b->runners = NULL;
}

/*
 * Train every configuration of model (cfg[0..n), all of that model) both
 * ways, interleaved round by round.
 */
static void run_model(bench *b, const hg_model_desc *model, config *cfg, size_t n)
{
    b->model = *model;
    size_t P = hg_model_param_count(model);
    double setup_ms = engine_setup(b);
    if (!blas_scratch_create(&b->scratch, model, b->batch))
        die_oom("the OpenBLAS loop's scratch");
    float *params0 = bench_xcalloc(PROG, P, sizeof *params0);
    hg_rng rng;
    hg_rng_seed(&rng, b->seed);
    hg_error err;
    if (hg_model_init_params(model, &rng, params0, &err) != HG_OK)
        bench_die_hg(PROG, "hg_model_init_params", &err);
    for (size_t i = 0; i < n; i++) {
        cfg[i].setup_ms = setup_ms;
        size_t nd = hg_engine_device_count(b->eng);
        cfg[i].ndev = nd < MAX_DEVICES ? nd : MAX_DEVICES;
        for (size_t d = 0; d < cfg[i].ndev; d++) {
            hg_device_profile pf;
            if (hg_engine_device_profile(b->eng, d, &pf) == HG_OK)
                snprintf(cfg[i].kernel[d], sizeof cfg[i].kernel[d], "%s", pf.kernel);
            snprintf(cfg[i].device[d], sizeof cfg[i].device[d], "%s",
                     hg_engine_device(b->eng, d)->name);
        }
        for (int w = 0; w < NWAYS; w++)
            runner_init(b, &cfg[i], w, params0, P);
    }
    cli_note(b->cmd, "%s: engine ready in %.0f ms; %zu configuration(s) x 2 ways, %zu rounds "
             "of %zu steps", model->kind == HG_MODEL_MLP ? "mlp" : "softmax", setup_ms, n,
             b->nrounds, b->round_steps);
    harness_result res;
    run_rounds(b, cfg, n, &res);
    for (size_t i = 0; i < n; i++) {
        config_finish(b, &cfg[i], &res, i * NWAYS, params0, P);
        for (int w = 0; w < NWAYS; w++)
            runner_free(&cfg[i].way[w]);
    }
    harness_result_free(&res);
    free(params0);
    blas_scratch_free(&b->scratch);
    hg_engine_destroy(b->eng);
    b->eng = NULL;
}

/* ---- output --------------------------------------------------------------------------- */

static void print_legend(const bench *b)
{
    printf("rows/s: batch / the median over the timed rounds of a round's time per full "
           "batch\n  (min..max: its slowest and fastest round); spread = interquartile range "
           "/ median,\n  flag \"wide\" over %.0f%% (too noisy to compare), \"few\" under %d "
           "rounds (tools/harness.h);\nratio = median of the per-round ratios of hetgrad's "
           "speed to OpenBLAS's (sprd: their\n  spread); loss = mean training loss of the last "
           "epoch;\nper step (ms, means over the timed steps): grad = host time around the "
           "gradient call\n  (hetgrad: hg_engine_step_rows, the gradient and the update in "
           "one call, so its\n  update is 0 and its reduce holds the mean and the update; "
           "OpenBLAS: the gather,\n  forward and backward), update = around the optimizer "
           "step, loop = the rest of the step "
           "(the step statistics, the\n  loop); hetgrad's grad, split on the device that "
           "finished the step last\n  (hg_engine_last_step): dispat(ch) = from the call to its "
           "worker's start (argument\n  checks, row planning, hand-off), device = its kernels' "
           "OpenCL event time,\n  transf(er) = its parameter upload and read-back events, worker "
           "= its worker's host\n  time outside those events (enqueue, waits, hand-off), "
           "reduce = from its end to the\n  step's end (the host's sum of the partial results, "
           "and the update); "
           "the five add up to grad but\n  for the call's own entry and return.  OpenBLAS: %d "
           "thread(s).\n", HARNESS_SPREAD_LIMIT * 100, HARNESS_MIN_SAMPLES, b->blas_threads);
}

static void print_way(const config *c, int w)
{
    const way_stats *s = &c->way[w].st;
    double n = s->steps ? (double)s->steps : NAN;
    double step = s->ms / n, grad = s->grad_ms / n, upd = s->update_ms / n;
    printf("%-8s %-5s %-9s %9.0f %8.0f..%-8.0f %6.3f %-4s", w ? "" : c->model,
           w ? "" : c->optimizer, way_names[w], s->rps, s->rps_min, s->rps_max,
           s->ms_per_batch.spread, harness_flag_name(s->ms_per_batch.flag));
    if (w == WAY_HETGRAD)
        printf(" %5.2f %5.3f", c->ratio.median, c->ratio.spread);
    else
        printf(" %11s", "");
    printf(" %8.5f %7.3f %6.3f %6.3f %6.3f", s->final_loss, step, grad, upd, step - grad - upd);
    if (w == WAY_HETGRAD)
        printf(" | %6.3f %6.3f %6.3f %6.3f %6.3f", s->dispatch_ms / n, s->kernel_ms / n,
               s->transfer_ms / n, s->worker_ms / n, s->reduce_ms / n);
    printf("\n");
}

static void print_text(const bench *b, const config *cfg, size_t n, double total_s)
{
    printf("bench_train: %zu rows x %d features, %d classes (synthetic), batch %zu, %zu "
           "epoch(s) of %zu steps, seed %llu;\nrounds of %zu steps (%zu: 1 warm-up, %zu "
           "timed), every way of a model once per round,\nin an order that changes each "
           "round (tools/harness.h)\nhetgrad devices (the first model's engine; each "
           "model's are named after its kernels below):", b->rows, FEATURES, CLASSES, b->batch,
           b->epochs, b->steps_per_epoch, (unsigned long long)b->seed, b->round_steps,
           b->nrounds, b->nrounds - 1);
    for (size_t d = 0; d < b->ndev; d++)
        printf("%s [%zu] %s", d ? "," : "", d, b->dev_names[d]);
    printf("; OpenBLAS %d thread(s)\n", b->blas_threads);
    print_legend(b);
    printf("\n%-8s %-5s %-9s %9s %18s %6s %-4s %5s %5s %8s %7s %6s %6s %6s | %6s %6s %6s "
           "%6s %6s\n", "model", "opt", "way", "rows/s", "min..max", "spread", "flag", "ratio",
           "sprd", "loss", "ms/step", "grad", "update", "loop", "dispat", "device", "transf",
           "worker", "reduce");
    for (size_t i = 0; i < n; i++) {
        print_way(&cfg[i], WAY_HETGRAD);
        print_way(&cfg[i], WAY_OPENBLAS);
    }
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        const config *c = &cfg[i];
        printf("%s %s (lr %g): %s: final loss hetgrad %.6f, openblas %.6f (relative "
               "difference %.2e, tolerance %.0e); first gradient %.2e (%.0e); optimizer "
               "updates %.2e (%.0e); final parameters %.2e; kernels:", c->model, c->optimizer,
               c->lr, c->agree ? "agree" : "DISAGREE", c->way[WAY_HETGRAD].st.final_loss,
               c->way[WAY_OPENBLAS].st.final_loss, c->loss_rel_diff, LOSS_TOLERANCE,
               c->grad_rel_diff, GRAD_TOLERANCE, c->update_rel_diff, UPDATE_TOLERANCE,
               c->param_rel_diff);
        for (size_t d = 0; d < c->ndev; d++)
            printf("%s %s on %s", d ? "," : "", c->kernel[d], c->device[d]);
        printf("; engine set-up %.0f ms\n", c->setup_ms);
    }
    if (b->timing_wide)
        printf("TIMING WIDE: some way's rounds spread over %.0f%%: its rates are too noisy to "
               "compare (is the machine busy?)\n", HARNESS_SPREAD_LIMIT * 100);
    printf("took %.1f s in all\n", total_s);
}

static void json_way(json_out *j, const bench *b, const config *c, int w)
{
    const way_stats *s = &c->way[w].st;
    bool hg = w == WAY_HETGRAD;
    double n = s->steps ? (double)s->steps : NAN;
    json_begin_object(j);
    json_key(j, "rows_per_s"); json_double(j, s->rps);
    json_key(j, "rows_per_s_min"); json_double(j, s->rps_min);
    json_key(j, "rows_per_s_max"); json_double(j, s->rps_max);
    json_key(j, "timing"); harness_json_timing(j, &s->ms_per_batch, 1);
    json_key(j, "final_loss"); json_double(j, s->final_loss);
    json_key(j, "step_ms"); json_double(j, s->ms / n);
    json_key(j, "gradient_ms"); json_double(j, s->grad_ms / n);
    json_key(j, "update_ms"); json_double(j, s->update_ms / n);
    json_key(j, "loop_ms"); json_double(j, (s->ms - s->grad_ms - s->update_ms) / n);
    json_key(j, "dispatch_ms"); json_double(j, hg ? s->dispatch_ms / n : NAN);
    json_key(j, "device_ms"); json_double(j, hg ? s->kernel_ms / n : NAN);
    json_key(j, "transfer_ms"); json_double(j, hg ? s->transfer_ms / n : NAN);
    json_key(j, "worker_ms"); json_double(j, hg ? s->worker_ms / n : NAN);
    json_key(j, "reduce_ms"); json_double(j, hg ? s->reduce_ms / n : NAN);
    json_key(j, "shares");
    if (hg) {
        double all = 0;
        for (size_t d = 0; d < b->ndev; d++)
            all += s->dev_rows[d];
        json_begin_array(j);
        for (size_t d = 0; d < b->ndev; d++)
            json_double(j, all > 0 ? s->dev_rows[d] / all : NAN);
        json_end_array(j);
    } else {
        json_null(j);
    }
    json_end_object(j);
}

static bool print_json(const bench *b, const config *cfg, size_t n, double total_s)
{
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-bench-train/1");
    json_key(&j, "rows"); json_u64(&j, b->rows);
    json_key(&j, "features"); json_u64(&j, FEATURES);
    json_key(&j, "classes"); json_u64(&j, CLASSES);
    json_key(&j, "hidden"); json_u64(&j, HIDDEN);
    json_key(&j, "batch"); json_u64(&j, b->batch);
    json_key(&j, "epochs"); json_u64(&j, b->epochs);
    json_key(&j, "steps_per_epoch"); json_u64(&j, b->steps_per_epoch);
    json_key(&j, "round_steps"); json_u64(&j, b->round_steps);
    json_key(&j, "rounds"); json_u64(&j, b->nrounds);
    json_key(&j, "seed"); json_u64(&j, b->seed);
    json_key(&j, "blas_threads"); json_u64(&j, (uint64_t)b->blas_threads);
    json_key(&j, "loss_tolerance"); json_double(&j, LOSS_TOLERANCE);
    json_key(&j, "grad_tolerance"); json_double(&j, GRAD_TOLERANCE);
    json_key(&j, "update_tolerance"); json_double(&j, UPDATE_TOLERANCE);
    json_key(&j, "spread_limit"); json_double(&j, HARNESS_SPREAD_LIMIT);
    json_key(&j, "timing_wide"); json_bool(&j, b->timing_wide);
    json_key(&j, "total_s"); json_double(&j, total_s);
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t d = 0; d < b->ndev; d++)
        json_string(&j, b->dev_names[d]);
    json_end_array(&j);
    json_key(&j, "ok"); json_bool(&j, !b->failed);
    json_key(&j, "configs");
    json_begin_array(&j);
    for (size_t i = 0; i < n; i++) {
        const config *c = &cfg[i];
        json_begin_object(&j);
        json_key(&j, "model"); json_string(&j, c->model);
        json_key(&j, "optimizer"); json_string(&j, c->optimizer);
        json_key(&j, "lr"); json_double(&j, c->lr);
        json_key(&j, "setup_ms"); json_double(&j, c->setup_ms);
        json_key(&j, "kernels");
        json_begin_array(&j);
        for (size_t d = 0; d < c->ndev; d++)
            json_string(&j, c->kernel[d]);
        json_end_array(&j);
        json_key(&j, "devices");
        json_begin_array(&j);
        for (size_t d = 0; d < c->ndev; d++)
            json_string(&j, c->device[d]);
        json_end_array(&j);
        json_key(&j, "ratio"); json_double(&j, c->ratio.median);
        json_key(&j, "ratio_spread"); json_double(&j, c->ratio.spread);
        json_key(&j, "ratio_flag"); json_string(&j, harness_flag_name(c->ratio.flag));
        json_key(&j, "loss_rel_diff"); json_double(&j, c->loss_rel_diff);
        json_key(&j, "param_rel_diff"); json_double(&j, c->param_rel_diff);
        json_key(&j, "grad_rel_diff"); json_double(&j, c->grad_rel_diff);
        json_key(&j, "update_rel_diff"); json_double(&j, c->update_rel_diff);
        json_key(&j, "agree"); json_bool(&j, c->agree);
        for (int w = 0; w < NWAYS; w++) {
            json_key(&j, way_names[w]);
            json_way(&j, b, c, w);
        }
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    return json_finish(&j);
}

/* ---- main ----------------------------------------------------------------------------- */

static const char *const model_names[] = {"softmax", "mlp", NULL};
static const char *const optimizer_names[] = {"sgd", "adam", NULL};

static const cli_exit train_exits[] = {
    {0, "success"},
    {1, "a check failed: the two ways' losses, gradients or updates disagree"},
    {2, "usage error"},
    {3, "a hetgrad call or an allocation failed"},
};

static const cli_env train_env[] = {
    {"HETGRAD_DEVICES=EXPR", "device selection (docs/devices.md)"},
};

/*
 * The engine's devices: --devices and HETGRAD_DEVICES as the library reads
 * them, Oclgrind left out (a simulator: an epoch would take hours).  *owned
 * receives the selection text made for that (free it), or NULL.
 */
static void select_devices(const cli *cmd, const char *devices, hg_options *devs, char **owned)
{
    hg_options_init(devs);
    devs->devices = devices;
    devs->devices_source = "--devices";
    cli_apply_log(cmd, devs);
    *owned = NULL;
    hg_device_list *l = NULL;
    hg_error err;
    if (hg_device_list_create(devs, &l, &err) != HG_OK)
        bench_die_hg(PROG, "hg_device_list_create", &err);
    bool oclgrind = false;
    for (size_t d = 0; d < hg_device_list_count(l); d++) {
        const hg_device_info *info = hg_device_list_get(l, d);
        if (info->kept && bench_contains_nocase(info->name, "oclgrind")) {
            cli_note(cmd, "leaving out '%s': Oclgrind would take hours", info->name);
            oclgrind = true;
        }
    }
    hg_device_list_destroy(l);
    if (oclgrind) {
        size_t n = (devices ? strlen(devices) : 0) + sizeof ",-oclgrind";
        *owned = bench_xcalloc(PROG, n, 1);
        snprintf(*owned, n, "%s%s-oclgrind", devices && *devices ? devices : "",
                 devices && *devices ? "," : "");
        devs->devices = *owned;
    }
}

/* The configurations, model by model: cfg (room for 4) and the model of each. */
static size_t make_configs(const bench *b, const int *model_ix, size_t nmodels,
                           const int *opt_ix, size_t nopts, config *cfg)
{
    size_t n = 0;
    for (size_t m = 0; m < nmodels; m++)
        for (size_t o = 0; o < nopts; o++) {
            config *c = &cfg[n++];
            memset(c, 0, sizeof *c);
            c->model = model_names[model_ix[m]];
            c->optimizer = optimizer_names[opt_ix[o]];
            c->kind = opt_ix[o] == 0 ? HG_OPTIMIZER_SGD : HG_OPTIMIZER_ADAM;
            c->lr = b->lr > 0 ? b->lr
                              : c->kind == HG_OPTIMIZER_SGD ? DEFAULT_LR_SGD : DEFAULT_LR_ADAM;
        }
    return n;
}

/* Steps and rounds from rows, batch, epochs and --round-steps (0: 25 steps,
   fewer so that there are at least 8 rounds; at most half the steps, so that
   there are a warm-up round and a timed one).  The caller made sure of at
   least 2 steps. */
static void plan_rounds(bench *b, size_t round_steps)
{
    if (!round_steps) {
        round_steps = b->total_steps / 8;
        round_steps = round_steps < 25 ? round_steps : 25;
    }
    round_steps = round_steps < b->total_steps / 2 ? round_steps : b->total_steps / 2;
    b->round_steps = round_steps ? round_steps : 1;
    b->nrounds = (b->total_steps + b->round_steps - 1) / b->round_steps;
}

/* Every configuration, model by model (one engine at a time). */
static void run_all(bench *b, config *cfg, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(cfg[j].model, cfg[i].model))
            j++;
        hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = FEATURES, .outputs = CLASSES};
        if (!strcmp(cfg[i].model, "mlp")) {
            m.kind = HG_MODEL_MLP;
            m.nhidden = 1;
            m.hidden[0] = HIDDEN;
        }
        run_model(b, &m, cfg + i, j - i);
        i = j;
    }
}

int main(int argc, char **argv)
{
    tool_pin_pocl_threads(); /* before any OpenCL runtime loads (tools/pocl_pin.h) */
    int model_ix[2] = {0, 1}, opt_ix[2] = {0, 1};
    size_t nmodels = 2, nopts = 2, rows = 60000, batch = 128, epochs = 1, round_steps = 0;
    size_t blas_threads = 1;
    unsigned long long seed = 1;
    double lr = 0;
    bool json = false;
    const char *devices = NULL;
    const cli_option options[] = {
        {.name = "epochs", .kind = CLI_SIZE, .target = &epochs, .metavar = "E",
         .range = "[1,1000]", .help = "epochs of training per configuration (default 1)"},
        {.name = "rows", .kind = CLI_SIZE, .target = &rows, .metavar = "N",
         .range = "[1,1000000]", .help = "rows of the synthetic data set (default 60000)"},
        {.name = "batch", .kind = CLI_SIZE, .target = &batch, .metavar = "B",
         .range = "[1,65536]", .help = "rows per minibatch step (default 128)"},
        {.name = "models", .kind = CLI_CHOICE_LIST, .target = model_ix, .count = &nmodels,
         .max_count = 2, .choices = model_names,
         .help = "models, in this order (default both: softmax\n784x10, MLP 784-256-10)"},
        {.name = "optimizers", .kind = CLI_CHOICE_LIST, .target = opt_ix, .count = &nopts,
         .max_count = 2, .choices = optimizer_names,
         .help = "optimizers, in this order (default both: SGD\nwith momentum 0.9, Adam)"},
        {.name = "lr", .kind = CLI_DOUBLE, .target = &lr, .metavar = "LR", .range = "(0,1]",
         .help = "learning rate (default 0.005 for SGD, 0.001 for\nAdam)"},
        {.name = "seed", .kind = CLI_U64, .target = &seed, .metavar = "S",
         .help = "seed of the initial parameters (S) and of the\nepochs' row order (S + 1); "
                 "default 1"},
        {.name = "round-steps", .kind = CLI_SIZE, .target = &round_steps, .metavar = "K",
         .range = "[1,1000000]",
         .help = "steps per timing round (default 25, fewer to\nmake at least 8 rounds; at most "
                 "half the\nsteps)"},
        {.name = "blas-threads", .kind = CLI_SIZE, .target = &blas_threads, .metavar = "T",
         .range = "[1,1024]", .help = "OpenBLAS threads of the baseline (default 1)"},
        {.name = "devices", .kind = CLI_STRING, .target = &devices, .metavar = "EXPR",
         .help = "device selection (syntax of HETGRAD_DEVICES);\nOclgrind is always left out"},
        {.name = "json", .kind = CLI_FLAG, .target = &json, .help = "JSON on stdout"},
    };
    const cli_spec spec = {
        .prog = "bench_train",
        .synopsis = "[options]",
        .summary = "Minibatch training of the softmax and MLP models with SGD and Adam,\n"
                   "through hetgrad and as a plain OpenBLAS loop on the host, side by side:\n"
                   "rows/s, their ratio, where a hetgrad step's time goes, and the two\n"
                   "ways' final losses checked against each other.",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .env = train_env,
        .nenv = sizeof train_env / sizeof train_env[0],
        .exits = train_exits,
        .nexits = sizeof train_exits / sizeof train_exits[0],
    };
    cli cmd;
    cli_init(&cmd, &spec);
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    double t0 = harness_now_ms();

    bench b;
    memset(&b, 0, sizeof b);
    b.cmd = &cmd;
    b.rows = rows;
    b.batch = batch;
    b.epochs = epochs;
    b.seed = seed;
    b.lr = lr;
    b.steps_per_epoch = (rows + batch - 1) / batch;
    b.total_steps = b.steps_per_epoch * epochs;
    if (b.total_steps < 2)
        return cli_usage_error(&cmd, "%zu row%s in batches of %zu for %zu epoch make 1 step; "
                               "timing needs 2 (a warm-up and a timed one): more --rows, a "
                               "smaller --batch or --epochs 2", rows, rows == 1 ? "" : "s",
                               batch, epochs);
    plan_rounds(&b, round_steps);
    openblas_set_num_threads((int)blas_threads);
    b.blas_threads = openblas_get_num_threads();

    hg_options devs;
    char *selection;
    select_devices(&cmd, devices, &devs, &selection);
    hg_engine_options_init(&b.eopt);
    b.eopt.devices = &devs;
    b.eopt.batch_rows = batch; /* kernels chosen at the minibatch's size */

    b.x = bench_xcalloc(PROG, rows * FEATURES, sizeof *b.x);
    b.labels = bench_xcalloc(PROG, rows, sizeof *b.labels);
    hg_bench_synth_data(rows, FEATURES, 0, CLASSES, b.x, NULL, b.labels);
    teacher_labels(&b);
    b.data = (hg_dataset_desc){.rows = rows, .inputs = FEATURES, .x = b.x, .labels = b.labels};
    make_orders(&b);

    config cfg[4];
    size_t n = make_configs(&b, model_ix, nmodels, opt_ix, nopts, cfg);
    run_all(&b, cfg, n);
    double total_s = (harness_now_ms() - t0) / 1e3;

    bool written = true;
    if (json) {
        written = print_json(&b, cfg, n, total_s);
        if (!written)
            fprintf(stderr, "bench_train: writing the JSON to stdout failed\n");
    } else {
        print_text(&b, cfg, n, total_s);
    }
    if (b.failed)
        fprintf(stderr, "bench_train: *** A CHECK FAILED: see the messages above ***\n");
    for (size_t d = 0; d < b.ndev; d++)
        free(b.dev_names[d]);
    free(b.x);
    free(b.labels);
    free(b.orders);
    free(selection);
    return b.failed || !written ? 1 : 0;
}
