/* SPDX-License-Identifier: MIT */
/*
 * bench_gradient.c - full-batch gradient throughput: every engine device
 * alone, all devices together (equal and profiled weights), and the same math
 * on the host with OpenBLAS, side by side in one run.
 *
 *   bench_gradient [--models linear,softmax,mlp] [--rows N] [--repeats R]
 *                  [--json] [--quick] [--devices EXPR] [--keep-duplicates]
 *
 * Data are synthetic (fixed-seed LCG, synthetic.c, which bench_starpu uses
 * too): 784 features in [0, 1), 10 classes (softmax, MLP) or 10 float targets
 * in [-1, 1) (linear); the MLP has one hidden ReLU layer of 256.  Parameters
 * are uniform in [-0.05, 0.05].
 *
 * Per model, configurations:
 *   solo:<device>  that engine device alone (weight 1, the others 0)
 *   equal          every engine device, equal weights
 *   weighted       every engine device, weights proportional to its solo
 *                  rows/s measured just before (a static profile)
 *   openblas       the same loss and gradient on the host in float with
 *                  cblas_sgemm (OpenBLAS's own threads)
 * and, for the ratios, each device alone with CLBlast and solo/equal/weighted
 * in deterministic mode.  Every configuration is timed by the benchmark
 * harness (tools/harness.h): warmed up (untimed steps until two agree within
 * 25%), then R rounds in which each configuration runs one full-batch step,
 * in an order that changes every round, so a slow phase of the machine lands
 * on all of them alike.  The figure is the median host wall time of a step;
 * the spread (IQR/median) is reported beside it, and a configuration whose
 * spread is over 10% is flagged as too noisy to compare.  The weighted
 * configuration's weights come from a short interleaved solo run just before.
 * Oclgrind devices are left out (they are ~1000x slower than POCL at these
 * sizes).
 *
 * Checks (a failure is reported loudly and makes the exit status 1):
 *   - the OpenBLAS implementation against hg_reference_loss_grad on the first
 *     64 rows (normwise relative error <= 1e-4);
 *   - every engine configuration's gradient against OpenBLAS on the full
 *     batch (normwise relative error <= 1e-3).
 *
 * Exit status: 0 ok, 1 a check failed, 2 usage, 3 a hetgrad call or an
 * allocation failed (main()'s table; --help prints it).  Figures, never
 * pass/fail thresholds on speed.
 */
#define _POSIX_C_SOURCE 200809L
#include <hetgrad.h>

#include "bench_util.h"
#include "cli.h"
#include "pocl_pin.h"
#include "harness.h"
#include "harness_json.h"
#include "json_out.h"
#include "roofline.h"
#include "synthetic.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "bench_gradient" /* in messages */

#define FEATURES 784
#define CLASSES  10
#define HIDDEN   256
#define CHECK_ROWS 64
#define TOL_OPENBLAS_VS_REF 1e-4
#define TOL_ENGINE_VS_OPENBLAS 1e-3
#define MAX_DEVICES 64
#define MAX_NAMES (2 * MAX_DEVICES) /* devices over all the models (bench.dev_names) */

/* ---- small helpers ---------------------------------------------------------- */

/* A progress note on stderr (cli_note: hidden by -q). */
__attribute__((format(printf, 2, 3)))
static void note(const cli *cmd, const char *fmt, ...);
static void note(const cli *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_note(cmd, "%s", msg);
}

/* Normwise relative error ||a - b|| / ||b|| (b the reference). */
static double rel_error_f(const float *a, const float *b, size_t n)
{
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)b[i];
        d += e * e;
        r += (double)b[i] * (double)b[i];
    }
    return r > 0.0 ? sqrt(d / r) : sqrt(d);
}

/* ---- the OpenBLAS host implementation --------------------------------------------- */

/*
 * Scratch for the host implementation of a model over up to rows rows:
 * z (rows x outputs), h (rows x hidden) and dh (rows x hidden) for the MLP.
 */
typedef struct host_scratch {
    float *z, *h, *dh;
} host_scratch;

/* Column sums of m (n x k, row-major) times scale into out (k). */
static void col_sums(const float *m, size_t n, size_t k, float scale, float *out)
{
    double acc[HIDDEN > CLASSES ? HIDDEN : CLASSES];
    for (size_t j = 0; j < k; j++)
        acc[j] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++)
            acc[j] += m[i * k + j];
    for (size_t j = 0; j < k; j++)
        out[j] = (float)(acc[j] * scale);
}

/*
 * Output layer in place: z (n x k) becomes dloss/dz; returns the summed loss.
 * Linear: 1/2 ||z - y||^2; softmax: cross-entropy with labels.
 */
static double output_delta(bool softmax, float *z, size_t n, size_t k, const float *y,
                           const int32_t *labels)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        float *zi = z + i * k;
        if (!softmax) {
            for (size_t j = 0; j < k; j++) {
                float d = zi[j] - y[i * k + j];
                loss += 0.5 * (double)d * (double)d;
                zi[j] = d;
            }
        } else {
            float m = zi[0];
            for (size_t j = 1; j < k; j++)
                m = zi[j] > m ? zi[j] : m;
            size_t lab = (size_t)labels[i];
            float zlab = zi[lab] - m;
            float s = 0.0f;
            for (size_t j = 0; j < k; j++) {
                zi[j] = expf(zi[j] - m);
                s += zi[j];
            }
            loss += (double)logf(s) - (double)zlab;
            for (size_t j = 0; j < k; j++)
                zi[j] /= s;
            zi[lab] -= 1.0f;
        }
    }
    return loss;
}

/* z = a W + b: a (n x in), W (in x out) row-major, b (out). */
static void dense_forward(const float *a, size_t n, size_t in, size_t out, const float *w,
                          const float *b, float *z)
{
    for (size_t i = 0; i < n; i++)
        memcpy(z + i * out, b, out * sizeof *z);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)out, (int)in, 1.0f,
                a, (int)in, w, (int)out, 1.0f, z, (int)out);
}

/* dW = scale * a^T d: a (n x in), d (n x out) -> dW (in x out). */
static void dense_weight_grad(const float *a, const float *d, size_t n, size_t in,
                              size_t out, float scale, float *dw)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in, (int)out, (int)n, scale, a,
                (int)in, d, (int)out, 0.0f, dw, (int)out);
}

/*
 * Mean loss and mean gradient of the model over n rows starting at x (and y /
 * labels for the same rows), in float with OpenBLAS.  Parameter layout as in
 * hetgrad/model.h.
 */
static double host_loss_grad(const hg_model_desc *m, const float *p, const float *x,
                             const float *y, const int32_t *labels, size_t n,
                             host_scratch *s, float *grad)
{
    const size_t in = m->inputs, k = m->outputs;
    const float scale = 1.0f / (float)n;
    double loss;
    if (m->kind != HG_MODEL_MLP) {
        const float *w = p, *b = p + in * k;
        dense_forward(x, n, in, k, w, b, s->z);
        loss = output_delta(m->kind == HG_MODEL_SOFTMAX, s->z, n, k, y, labels);
        dense_weight_grad(x, s->z, n, in, k, scale, grad);
        col_sums(s->z, n, k, scale, grad + in * k);
    } else {
        const size_t hd = m->hidden[0];
        const float *w1 = p, *b1 = w1 + in * hd, *w2 = b1 + hd, *b2 = w2 + hd * k;
        float *gw1 = grad, *gb1 = gw1 + in * hd, *gw2 = gb1 + hd, *gb2 = gw2 + hd * k;
        dense_forward(x, n, in, hd, w1, b1, s->h);
        for (size_t i = 0; i < n * hd; i++)
            s->h[i] = s->h[i] > 0.0f ? s->h[i] : 0.0f;
        dense_forward(s->h, n, hd, k, w2, b2, s->z);
        loss = output_delta(true, s->z, n, k, NULL, labels);
        dense_weight_grad(s->h, s->z, n, hd, k, scale, gw2);
        col_sums(s->z, n, k, scale, gb2);
        /* dH = dZ W2^T, masked by relu'(h) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)hd, (int)k, 1.0f,
                    s->z, (int)k, w2, (int)k, 0.0f, s->dh, (int)hd);
        for (size_t i = 0; i < n * hd; i++)
            if (!(s->h[i] > 0.0f))
                s->dh[i] = 0.0f;
        dense_weight_grad(x, s->dh, n, in, hd, scale, gw1);
        col_sums(s->dh, n, hd, scale, gb1);
    }
    return loss / (double)n;
}

/* ---- configurations and results -------------------------------------------------- */

typedef struct result {
    char   name[300];
    bool   engine;            /* false: openblas */
    bool   multi;             /* several devices share the rows */
    double ms;                /* median ms per step */
    double rows_per_s, gflops;
    double balance;           /* multi only; NAN otherwise */
    double shares[MAX_DEVICES];
    double rel_err;           /* engine vs openblas; NAN for openblas itself */
    bool   check_ok;
    char   kernel[48];        /* the kernel the device chose ("mixed" when several) */
    long   limit_dev;         /* whose roofline is the row's: that device's (solo), or
                                 -1: the best device's (several devices, openblas) */
    double limit;             /* roofline rows/s for this configuration (set_limits) */
    double clblast_rate;      /* solo: the same device computing with CLBlast; NAN */
    double det_ms;            /* the same configuration in deterministic mode; NAN */
    harness_stats st;         /* its steps' statistics (the harness) */
    size_t warmups;           /* untimed steps before them */
    double paired_solo;       /* median over rounds of rows/s over the best solo's; NAN */
    double paired_blas;       /* the same over openblas's; NAN */
} result;

typedef struct model_run {
    const char *label;
    hg_model_desc desc;
    double flop_per_row;
    double host_check_err;     /* openblas vs reference, first CHECK_ROWS rows */
    double host_check_loss_err;
    bool   host_check_ok;
    double bytes_per_row;      /* one read of a row: features and its target */
    bool   det_identical;      /* every deterministic configuration gave the same bits */
    bool   timing_wide;        /* a configuration's spread is over the harness's limit */
    char   wide_list[1024];    /* those configurations, ", "-separated (cut at the end) */
    size_t nresults;
    result results[MAX_DEVICES + 3];
    size_t dev[MAX_DEVICES];   /* its engines' device d: bench.dev_names[dev[d]] */
} model_run;

/*
 * FLOPs per row: 2*in*out per GEMM per row, counting per dense layer one
 * forward GEMM and two backward GEMMs (dW = A^T dZ and dA = dZ W^T), except
 * the first layer's dA, which is not computed.  Element-wise work (bias,
 * activation, softmax, loss, column sums) is ignored.
 */
static double flop_per_row(const hg_model_desc *m)
{
    size_t dims[HG_MAX_HIDDEN + 2], nl = 0;
    dims[nl++] = m->inputs;
    if (m->kind == HG_MODEL_MLP)
        for (size_t i = 0; i < m->nhidden; i++)
            dims[nl++] = m->hidden[i];
    dims[nl++] = m->outputs;
    double f = 0.0;
    for (size_t l = 0; l + 1 < nl; l++)
        f += 2.0 * (double)dims[l] * (double)dims[l + 1] * (l == 0 ? 2.0 : 3.0);
    return f;
}

typedef struct bench {
    size_t rows;
    int    repeats;
    float *x, *targets;
    int32_t *labels;
    hg_dataset_desc data;
    bool   failed;             /* a check failed: exit 1 */
    size_t ndev;               /* each model's engines' devices (the same count) */
    /* Every device a model's engines computed on, first seen first: without
       --keep-duplicates each model's calibration keeps the view of the host's cores
       it measures faster (POCL's basic for the softmax at 128 rows, pthread for the
       MLP), so two models may name different devices (model_run.dev) */
    size_t nnames;
    char   dev_names[MAX_NAMES][256];
    /* The roofs, each measured at the run's start [0] and at its end [1] (roofline.h:
       the better of the two counts; roofs_steady: every pair agrees) */
    hg__bench_read read_at[2]; /* host read bandwidth on each kind of page */
    double peak_at[2][MAX_NAMES]; /* each device's FMA peak (dev_names order) */
    double own_at[2][MAX_NAMES];  /* each device's own memory's read bandwidth; 0 for
                                     one sharing the host's */
    double read_gbs;           /* the roofs used (set_roofs): host read bandwidth, the
                                  best of read_at's four */
    hg__bench_read read_pages; /* on the default pages and on 2 MiB pages, each the
                                  better of start and end */
    double peak_gflops[MAX_NAMES]; /* each device's FMA peak */
    double mem_gbs[MAX_NAMES]; /* each device's memory roof: its own memory's read
                                  bandwidth, or read_gbs for one sharing the host's */
    bool   roofs_steady;       /* every roof's start and end agree (roofline.h) */
    bool   quick;              /* --quick: smaller bandwidth buffers */
    const cli *cmd;            /* the command line: log level, notes */
} bench;

/* Roofline rows/s of mr's device d: one read of each row from its memory, or the
   FLOPs at its peak. */
static double limit_rows(const bench *b, const model_run *mr, size_t d)
{
    double mem = b->mem_gbs[mr->dev[d]] * 1e9 / mr->bytes_per_row;
    double comp = b->peak_gflops[mr->dev[d]] * 1e9 / mr->flop_per_row;
    return comp > 0 && comp < mem ? comp : mem;
}

/* Make an engine for model m with options o, upload the data, maybe calibrate. */
static hg_engine *open_engine(const hg_engine_options *o, const hg_model_desc *m,
                              const hg_dataset_desc *data, bool calibrate)
{
    hg_error err;
    hg_engine *e = NULL;
    if (hg_engine_create(o, m, &e, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_create", &err);
    if (hg_engine_set_data(e, data, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_set_data", &err);
    if (calibrate && hg_engine_calibrate(e, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_calibrate", &err);
    return e;
}

static void fill_rates(result *r, size_t rows, double fpr)
{
    r->rows_per_s = (double)rows / (r->ms / 1e3);
    r->gflops = r->rows_per_s * fpr / 1e9;
}

/* ---- the configurations, timed by the harness (tools/harness.h) ------------------- */

/* What a configuration's median becomes in its result row. */
typedef enum cfg_role {
    ROLE_MAIN,     /* result.ms: an engine configuration, or openblas */
    ROLE_CLBLAST,  /* result.clblast_rate: the same device with CLBlast */
    ROLE_DET,      /* result.det_ms: the same configuration in deterministic mode */
} cfg_role;

/* One configuration of the interleaved run. */
typedef struct gconfig {
    char       label[320];           /* for messages and the flagged list */
    result    *r;                    /* the row its figures go to (not owned) */
    cfg_role   role;
    hg_engine *e;                    /* NULL: openblas on the host (not owned) */
    double     weights[MAX_DEVICES]; /* set before each of its steps */
    double     worst_err;            /* ROLE_MAIN engine: worst error vs OpenBLAS, any step */
    double    *balance;              /* [rounds], multi ROLE_MAIN; NULL otherwise */
} gconfig;

/* Everything a sample needs (harness_sample_fn's ctx). */
typedef struct gsession {
    bench         *b;
    model_run     *mr;
    const float   *params;
    const float   *oracle;    /* OpenBLAS's full-batch gradient, computed once before */
    const float   *y;         /* targets (linear) or NULL */
    const int32_t *labels;    /* labels or NULL */
    host_scratch  *hs;
    float         *g_eng, *g_host, *g_det;
    bool           have_det;  /* g_det holds the first deterministic gradient */
    size_t         np, ndev;
    gconfig       *cfg;
} gsession;

/* Balance and shares of the engine's last step into r (several devices). */
static void last_balance(hg_engine *e, size_t ndev, double *balance, result *r)
{
    double sum = 0.0, max = 0.0;
    size_t active = 0, total = 0;
    hg_device_step steps[MAX_DEVICES];
    for (size_t d = 0; d < ndev; d++) {
        if (hg_engine_last_step(e, d, &steps[d]) != HG_OK) {
            fprintf(stderr, "bench_gradient: hg_engine_last_step(%zu) failed\n", d);
            exit(3);
        }
        total += steps[d].rows;
        if (steps[d].rows == 0)
            continue;
        active++;
        sum += steps[d].host_ms;
        max = steps[d].host_ms > max ? steps[d].host_ms : max;
    }
    for (size_t d = 0; d < ndev; d++)
        r->shares[d] = total ? (double)steps[d].rows / (double)total : 0.0;
    *balance = active && max > 0.0 ? sum / ((double)active * max) : NAN;
}

/* One full-batch step of configuration c, timed (host wall time); every
   engine gradient is checked (harness_sample_fn; a failed call exits 3). */
static int gradient_sample(void *ctx, size_t c, size_t round, double *ms)
{
    gsession *s = ctx;
    gconfig *g = &s->cfg[c];
    bench *b = s->b;
    hg_error err;
    double loss = 0.0;
    if (!g->e) {
        double t0 = bench_now_ms();
        host_loss_grad(&s->mr->desc, s->params, b->x, s->y, s->labels, b->rows, s->hs,
                       s->g_host);
        *ms = bench_now_ms() - t0;
        return 0;
    }
    if (hg_engine_set_weights(g->e, g->weights, s->ndev, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_set_weights", &err);
    double t0 = bench_now_ms();
    hg_status st = hg_engine_gradient(g->e, s->params, 0, b->rows, s->g_eng, &loss, &err);
    *ms = bench_now_ms() - t0;
    if (st != HG_OK)
        bench_die_hg(PROG, round == HARNESS_WARMUP ? "hg_engine_gradient (warm-up)" : "hg_engine_gradient",
               &err);
    if (g->role == ROLE_MAIN) {
        double e = rel_error_f(s->g_eng, s->oracle, s->np);
        g->worst_err = isnan(e) || isnan(g->worst_err) ? NAN : fmax(g->worst_err, e);
        if (g->balance && round != HARNESS_WARMUP)
            last_balance(g->e, s->ndev, &g->balance[round], g->r);
    } else if (g->role == ROLE_DET) {
        if (!s->have_det)
            memcpy(s->g_det, s->g_eng, s->np * sizeof *s->g_det);
        else if (memcmp(s->g_det, s->g_eng, s->np * sizeof *s->g_det) != 0)
            s->mr->det_identical = false;
        s->have_det = true;
    }
    return 0;
}

/* Run the plan over cfg[0 .. n-1] (rounds, seed: the bench's); exits 3 on failure. */
static void run_harness(gsession *s, size_t n, size_t rounds, harness_result *out)
{
    harness_plan p;
    harness_plan_init(&p);
    p.nconfigs = n;
    p.rounds = rounds;
    p.rewarm_ms = 1000.0; /* each timed step after 12 ms of its own (tools/harness.h) */
    p.rewarm_span_ms = HARNESS_REWARM_SPAN_MS;
    p.sample = gradient_sample;
    p.ctx = s;
    int rc = harness_run(&p, out);
    if (rc != 0) {
        fprintf(stderr, "bench_gradient: the benchmark harness failed (%s)\n",
                rc == HARNESS_ENOMEM ? "out of memory" : "bad plan");
        exit(3);
    }
}

/*
 * The weighted configuration's weights: each device's solo rows/s, from a
 * short interleaved run of the solo configurations cfg[0 .. ndev-1] (their
 * warm-up too) before the real one.
 */
static void solo_weights(gsession *s, double *weights)
{
    harness_result hr;
    run_harness(s, s->ndev, 3, &hr);
    for (size_t d = 0; d < s->ndev; d++)
        weights[d] = (double)s->b->rows / (hr.stats[d].median / 1e3);
    harness_result_free(&hr);
}

/* "solo:NAME", or "solo:NAME#d" when another device has the same name. */
static void solo_name(hg_engine *e, size_t d, size_t ndev, char *out, size_t size)
{
    const hg_device_info *info = hg_engine_device(e, d);
    const char *name = info ? info->name : "?";
    bool dup = false;
    for (size_t o = 0; o < ndev; o++) {
        const hg_device_info *other = hg_engine_device(e, o);
        if (o != d && other && info && !strcmp(other->name, info->name))
            dup = true;
    }
    if (dup)
        snprintf(out, size, "solo:%s#%zu", name, d);
    else
        snprintf(out, size, "solo:%s", name);
}

/*
 * The configurations of one model, in this order: solo per device, equal,
 * weighted, openblas (ROLE_MAIN, results 0 .. ndev+2), CLBlast per device,
 * then deterministic mode for solo per device, equal and weighted.  e: the
 * calibrated engine, ec: CLBlast's, ed: deterministic.  Returns the count.
 */
static size_t plan_configs(bench *b, model_run *mr, hg_engine *e, hg_engine *ec,
                           hg_engine *ed, gconfig *cfg)
{
    const size_t ndev = b->ndev;
    size_t n = 0;
    mr->nresults = ndev + 3;
    for (size_t i = 0; i < ndev + 3; i++) {
        result *r = &mr->results[i];
        memset(r, 0, sizeof *r);
        r->clblast_rate = NAN;
        r->det_ms = NAN;
        r->balance = NAN;
        r->engine = i < ndev + 2;
        r->multi = i == ndev || i == ndev + 1;
        if (i < ndev)
            solo_name(e, i, ndev, r->name, sizeof r->name);
        else
            snprintf(r->name, sizeof r->name, "%s",
                     i == ndev ? "equal" : i == ndev + 1 ? "weighted" : "openblas");
        gconfig *g = &cfg[n++];
        memset(g, 0, sizeof *g);
        snprintf(g->label, sizeof g->label, "%s", r->name);
        g->r = r;
        g->role = ROLE_MAIN;
        g->e = r->engine ? e : NULL;
        for (size_t o = 0; o < ndev; o++)
            g->weights[o] = i < ndev ? (o == i ? 1.0 : 0.0) : 1.0; /* weighted: later */
        if (r->multi)
            g->balance = bench_xcalloc(PROG, (size_t)b->repeats, sizeof *g->balance);
    }
    for (size_t i = 0; i < 2 * ndev + 2; i++) {
        bool clb = i < ndev;
        size_t row = clb ? i : i - ndev;
        gconfig *g = &cfg[n++];
        *g = cfg[row];
        g->balance = NULL;
        g->role = clb ? ROLE_CLBLAST : ROLE_DET;
        g->e = clb ? ec : ed;
        snprintf(g->label, sizeof g->label, "%s:%s", clb ? "clblast" : "deterministic",
                 mr->results[row].name);
    }
    return n;
}

/* Part 1 of a model: the OpenBLAS implementation against the double reference
   on the first CHECK_ROWS rows (a mismatch sets b->failed). */
static void check_host(bench *b, model_run *mr, const float *params, const hg_dataset_desc *data,
                       host_scratch *hs, size_t np)
{
    const hg_model_desc *m = &mr->desc;
    hg_error err;
    float *g_host = bench_xcalloc(PROG, np, sizeof *g_host);
    float *g_ref = bench_xcalloc(PROG, np, sizeof *g_ref);
    double *gd_ref = bench_xcalloc(PROG, np, sizeof *gd_ref);
    size_t nc = b->rows < CHECK_ROWS ? b->rows : CHECK_ROWS;
    double ref_loss = 0.0;
    if (hg_reference_loss_grad(m, params, data, 0, nc, NULL, &ref_loss, gd_ref, &err) != HG_OK)
        bench_die_hg(PROG, "hg_reference_loss_grad", &err);
    for (size_t i = 0; i < np; i++)
        g_ref[i] = (float)(gd_ref[i] / (double)nc);
    ref_loss /= (double)nc;
    double host_loss = host_loss_grad(m, params, b->x, data->targets, data->labels, nc, hs,
                                      g_host);
    mr->host_check_err = rel_error_f(g_host, g_ref, np);
    mr->host_check_loss_err = fabs(host_loss - ref_loss) / fmax(fabs(ref_loss), 1e-30);
    mr->host_check_ok = mr->host_check_err <= TOL_OPENBLAS_VS_REF &&
                        mr->host_check_loss_err <= TOL_OPENBLAS_VS_REF;
    note(b->cmd, "%s: openblas vs hg_reference_loss_grad on %zu rows: gradient rel err %.2e, "
         "loss rel err %.2e (tolerance %.0e)%s", mr->label, nc, mr->host_check_err,
         mr->host_check_loss_err, TOL_OPENBLAS_VS_REF, mr->host_check_ok ? "" : "  ** MISMATCH **");
    if (!mr->host_check_ok) {
        fprintf(stderr, "bench_gradient: *** CHECK FAILED: %s: the OpenBLAS host implementation "
                "disagrees with hg_reference_loss_grad ***\n", mr->label);
        b->failed = true;
    }
    free(g_host);
    free(g_ref);
    free(gd_ref);
}

/* The host's read bandwidth, at the run's start (at 0) or its end (1). */
static void measure_host_roof(bench *b, int at)
{
    hg__bench_read_gbs(b->quick ? (size_t)64 << 20 : (size_t)1 << 30, 5, &b->read_at[at]);
    note(b->cmd, "host read bandwidth at the %s: %.1f GB/s on the default pages, %.1f on 2 "
         "MiB pages (every core summing a %s buffer)", at ? "end" : "start",
         b->read_at[at].default_pages_gbs, b->read_at[at].huge_pages_gbs,
         b->quick ? "64 MiB" : "1 GiB");
}

/* Device d's FMA peak and, for one with memory of its own, that memory's read
   bandwidth, at the run's start (at 0: where a model's engine first names it) or its
   end (1). */
static void measure_device_roof(bench *b, int at, size_t d)
{
    const char *when = at ? "end" : "start";
    char why[200] = "";
    b->peak_at[at][d] = hg__bench_fma_gflops(b->dev_names[d], why, sizeof why);
    note(b->cmd, "FP32 peak of %s at the %s: %.1f GFLOP/s (FMA loop)%s%s", b->dev_names[d],
         when, b->peak_at[at][d], why[0] ? "; " : "", why);
    why[0] = '\0';
    double own = hg__bench_device_read_gbs(b->dev_names[d], b->quick ? (size_t)64 << 20
                                           : (size_t)1 << 30, 5, false, why, sizeof why);
    b->own_at[at][d] = own > 0 ? own : 0;
    if (own > 0)
        note(b->cmd, "memory read bandwidth of %s at the %s: %.1f GB/s (a summing kernel on "
             "the device)", b->dev_names[d], when, own);
    else if (at == 0)
        note(b->cmd, "memory roof of %s: the host read bandwidth (%s)", b->dev_names[d], why);
}

/* Every device's roofs at the run's end. */
static void measure_device_roofs(bench *b)
{
    for (size_t k = 0; k < b->nnames; k++)
        measure_device_roof(b, 1, k);
}

/* The roofs the limits use, each the better of its start and end (roofline.h), and
   whether every pair agreed. */
static void set_roofs(bench *b)
{
    const hg__bench_read *r = b->read_at;
    b->read_pages.default_pages_gbs = hg__bench_roof_best(r[0].default_pages_gbs,
                                                          r[1].default_pages_gbs);
    b->read_pages.huge_pages_gbs = hg__bench_roof_best(r[0].huge_pages_gbs,
                                                       r[1].huge_pages_gbs);
    b->read_gbs = hg__bench_roof_best(b->read_pages.default_pages_gbs,
                                      b->read_pages.huge_pages_gbs);
    b->roofs_steady = hg__bench_roof_steady(hg__bench_roof_best(r[0].default_pages_gbs,
                                                                r[0].huge_pages_gbs),
                                            hg__bench_roof_best(r[1].default_pages_gbs,
                                                                r[1].huge_pages_gbs));
    for (size_t d = 0; d < b->nnames; d++) {
        double own = hg__bench_roof_best(b->own_at[0][d], b->own_at[1][d]);
        b->peak_gflops[d] = hg__bench_roof_best(b->peak_at[0][d], b->peak_at[1][d]);
        b->mem_gbs[d] = own > 0 ? own : b->read_gbs;
        b->roofs_steady = b->roofs_steady &&
                          hg__bench_roof_steady(b->peak_at[0][d], b->peak_at[1][d]) &&
                          hg__bench_roof_steady(b->own_at[0][d], b->own_at[1][d]);
    }
}

/* Every result row's roofline from the roofs (set_roofs). */
static void set_limits(const bench *b, model_run *mr)
{
    for (size_t c = 0; c < b->ndev + 3; c++) {
        result *r = &mr->results[c];
        r->limit = 0;
        if (r->limit_dev >= 0)
            r->limit = limit_rows(b, mr, (size_t)r->limit_dev);
        else
            for (size_t o = 0; o < b->ndev; o++)
                r->limit = fmax(r->limit, limit_rows(b, mr, o));
    }
}

/* mr's calibrated engine e names its devices (mr->dev): a device no model's engine
   named before has its roofs measured now, at its start.  Every model's engines must
   have as many devices as the first model's (exits 3 otherwise). */
static void note_devices(bench *b, model_run *mr, hg_engine *e)
{
    size_t ndev = hg_engine_device_count(e);
    if (ndev == 0 || ndev > MAX_DEVICES) {
        fprintf(stderr, "bench_gradient: the engine has %zu devices (1..%d supported)\n", ndev,
                MAX_DEVICES);
        exit(3);
    }
    if (b->ndev == 0) {
        b->ndev = ndev;
    } else if (b->ndev != ndev) {
        fprintf(stderr, "bench_gradient: %s: the engine has %zu devices, the first model's "
                "had %zu\n", mr->label, ndev, b->ndev);
        exit(3);
    }
    for (size_t d = 0; d < ndev; d++) {
        const hg_device_info *info = hg_engine_device(e, d);
        const char *name = info ? info->name : "?";
        size_t k = 0;
        while (k < b->nnames && strcmp(b->dev_names[k], name) != 0)
            k++;
        if (k == b->nnames) {
            if (k == MAX_NAMES) {
                fprintf(stderr, "bench_gradient: more than %d devices over the models\n",
                        MAX_NAMES);
                exit(3);
            }
            snprintf(b->dev_names[k], sizeof b->dev_names[k], "%s", name);
            b->nnames++;
            measure_device_roof(b, 0, k);
        }
        mr->dev[d] = k;
    }
}

/* The selection that names exactly e's devices ("id:hg-...,id:hg-..."), so that the
   CLBlast and deterministic engines of a model compute on the devices its calibrated
   engine kept (each engine's calibration would otherwise choose between the views of
   the host's cores on its own measurements).  Free it. */
static char *devices_of(const hg_engine *e)
{
    size_t n = hg_engine_device_count(e), len = 1;
    for (size_t d = 0; d < n; d++)
        len += strlen(hg_engine_device(e, d)->id) + 4;
    char *sel = bench_xcalloc(PROG, len, 1);
    for (size_t d = 0; d < n; d++) {
        if (d)
            strcat(sel, ",");
        strcat(sel, "id:");
        strcat(sel, hg_engine_device(e, d)->id);
    }
    return sel;
}

/* Whether engines a and b have the same devices in the same order. */
static bool same_devices(const hg_engine *a, const hg_engine *b)
{
    size_t n = hg_engine_device_count(a);
    if (hg_engine_device_count(b) != n)
        return false;
    for (size_t d = 0; d < n; d++)
        if (strcmp(hg_engine_device(a, d)->id, hg_engine_device(b, d)->id) != 0)
            return false;
    return true;
}

/* The harness's figures into the result rows: medians, rates, spreads, paired
   ratios, kernels, limits and the checks (a failed check sets b->failed). */
static void collect(bench *b, model_run *mr, gconfig *cfg, size_t n, const harness_result *hr)
{
    const size_t ndev = b->ndev, blas = ndev + 2;
    size_t best = 0;
    for (size_t c = 0; c < n; c++) {
        result *r = cfg[c].r;
        double ms = hr->stats[c].median;
        if (cfg[c].role == ROLE_CLBLAST) {
            r->clblast_rate = (double)b->rows / (ms / 1e3);
        } else if (cfg[c].role == ROLE_DET) {
            r->det_ms = ms;
        } else {
            r->ms = ms;
            r->st = hr->stats[c];
            r->warmups = hr->warmups[c];
            fill_rates(r, b->rows, mr->flop_per_row);
            if (c < ndev && r->rows_per_s > mr->results[best].rows_per_s)
                best = c;
        }
        if (hr->stats[c].flag == HARNESS_WIDE) {
            size_t used = strlen(mr->wide_list);
            snprintf(mr->wide_list + used, sizeof mr->wide_list - used, "%s%s",
                     used ? ", " : "", cfg[c].label);
        }
    }
    mr->timing_wide = hr->wide;
    for (size_t c = 0; c < ndev + 3; c++) {
        result *r = &mr->results[c];
        harness_stats q;
        r->paired_solo = r->paired_blas = NAN;
        if (harness_paired_ratio(hr, best, c, &q) == 0)
            r->paired_solo = q.median;
        if (harness_paired_ratio(hr, blas, c, &q) == 0)
            r->paired_blas = q.median;
        if (c == blas) {
            r->rel_err = NAN;
            r->check_ok = mr->host_check_ok;
            r->limit_dev = -1;
            snprintf(r->kernel, sizeof r->kernel, "cblas_sgemm");
            continue;
        }
        if (r->multi) {
            r->balance = bench_median(cfg[c].balance, (size_t)b->repeats);
            snprintf(r->kernel, sizeof r->kernel, "(each its own)");
            r->limit_dev = -1;
        } else {
            hg_device_profile pf;
            hg_engine_device_profile(cfg[c].e, c, &pf);
            snprintf(r->kernel, sizeof r->kernel, "%s", pf.kernel);
            note(b->cmd, "%s: %s computes with %s: %s", mr->label, b->dev_names[mr->dev[c]],
                 pf.kernel,
                 pf.kernel_note);
            r->limit_dev = (long)c;
        }
        r->rel_err = cfg[c].worst_err;
        r->check_ok = isfinite(r->rel_err) && r->rel_err <= TOL_ENGINE_VS_OPENBLAS;
        if (!r->check_ok) {
            fprintf(stderr, "bench_gradient: *** CHECK FAILED: %s / %s: engine gradient vs "
                    "OpenBLAS: normwise relative error %.3e > %.0e ***\n", mr->label,
                    r->name, r->rel_err, TOL_ENGINE_VS_OPENBLAS);
            b->failed = true;
        }
    }
}

/*
 * One model: the host check, then every configuration timed by the harness,
 * interleaved over b->repeats rounds, each warmed up first: solo per device,
 * equal, weighted (weights from a short interleaved solo run before), openblas,
 * CLBlast per device, and deterministic mode for solo, equal and weighted.
 * Three engines live side by side for it (calibrated; CLBlast; deterministic).
 */
static void run_model(bench *b, model_run *mr, const hg_engine_options *eopt)
{
    hg_error err;
    const hg_model_desc *m = &mr->desc;
    const size_t np = hg_model_param_count(m);
    if (np == 0) {
        if (hg_model_validate(m, &err) != HG_OK)
            bench_die_hg(PROG, "hg_model_validate", &err);
        fprintf(stderr, "bench_gradient: %s: no parameters\n", mr->label);
        exit(3);
    }
    mr->flop_per_row = flop_per_row(m);
    mr->bytes_per_row = 4.0 * (double)m->inputs +
                        (m->kind == HG_MODEL_LINEAR ? 4.0 * (double)m->outputs : 4.0);

    float *params = bench_xcalloc(PROG, np, sizeof *params);
    hg_bench_synth_params((unsigned)m->kind, np, params);
    const size_t width = m->kind == HG_MODEL_MLP ? m->hidden[0] : 0;
    host_scratch hs = {bench_xcalloc(PROG, b->rows * m->outputs, sizeof(float)),
                       width ? bench_xcalloc(PROG, b->rows * width, sizeof(float)) : NULL,
                       width ? bench_xcalloc(PROG, b->rows * width, sizeof(float)) : NULL};
    const bool lin = m->kind == HG_MODEL_LINEAR;
    hg_dataset_desc data = b->data;
    data.targets = lin ? b->targets : NULL;
    data.labels = lin ? NULL : b->labels;
    check_host(b, mr, params, &data, &hs, np);

    /*
     * The oracle: OpenBLAS's gradient of the full batch.  A float oracle: in
     * the MLP a hidden pre-activation within rounding of 0 can take the other
     * side of the ReLU than in double (with the default data, one unit of row
     * 8808 at z = 1.5e-7), which alone moves the normwise error of the first
     * layer's gradient to ~1e-4, well inside the 1e-3 tolerance.  The 64-row
     * check above does not hit one: rows 0..63 and the parameters do not
     * depend on --rows.
     */
    float *oracle = bench_xcalloc(PROG, np, sizeof *oracle);
    host_loss_grad(m, params, b->x, data.targets, data.labels, b->rows, &hs, oracle);

    note(b->cmd, "%s: creating the engines (calibrated, CLBlast, deterministic), uploading "
         "%zu rows to each and choosing each device's kernel (calibration)", mr->label, b->rows);
    hg_engine *e = open_engine(eopt, m, &data, true);
    /* the weights decide the split below, not the calibrated models */
    if (hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_set_split", &err);
    note_devices(b, mr, e);
    /* the other two engines on e's devices, named (no view traded for another) */
    hg_options same = *eopt->devices;
    char *sel = devices_of(e);
    same.devices = sel;
    hg_engine_options co = *eopt;
    co.devices = &same;
    co.gemm = HG_GEMM_CLBLAST;
    hg_engine *ec = open_engine(&co, m, &data, false);
    hg_engine_options dopt = *eopt;
    dopt.devices = &same;
    dopt.deterministic = true;
    hg_engine *ed = open_engine(&dopt, m, &data, true);
    free(sel);
    if (hg_engine_set_split(ed, HG_SPLIT_WEIGHTS, &err) != HG_OK)
        bench_die_hg(PROG, "hg_engine_set_split", &err);
    if (!same_devices(e, ec) || !same_devices(e, ed)) {
        fprintf(stderr, "bench_gradient: %s: the CLBlast or deterministic engine has other "
                "devices than the calibrated one\n", mr->label);
        exit(3);
    }

    const size_t ndev = b->ndev;
    gconfig *cfg = bench_xcalloc(PROG, 3 * ndev + 5, sizeof *cfg);
    gsession s = {.b = b, .mr = mr, .params = params, .oracle = oracle, .y = data.targets,
                  .labels = data.labels, .hs = &hs, .np = np, .ndev = ndev, .cfg = cfg,
                  .g_eng = bench_xcalloc(PROG, np, sizeof(float)), .g_host = bench_xcalloc(PROG, np, sizeof(float)),
                  .g_det = bench_xcalloc(PROG, np, sizeof(float))};
    size_t n = plan_configs(b, mr, e, ec, ed, cfg);
    note(b->cmd, "%s: solo speeds for the weighted configuration", mr->label);
    double w[MAX_DEVICES];
    solo_weights(&s, w);
    for (size_t c = 0; c < n; c++)
        if (cfg[c].r == &mr->results[ndev + 1])
            memcpy(cfg[c].weights, w, ndev * sizeof *w);
    note(b->cmd, "%s: %zu configurations interleaved over %d rounds", mr->label, n, b->repeats);
    mr->det_identical = true;
    harness_result hr;
    run_harness(&s, n, (size_t)b->repeats, &hr);
    collect(b, mr, cfg, n, &hr);
    harness_result_free(&hr);
    if (!mr->det_identical) {
        fprintf(stderr, "bench_gradient: *** CHECK FAILED: %s: deterministic mode gave "
                "different bits for different splits ***\n", mr->label);
        b->failed = true;
    }

    hg_engine_destroy(e);
    hg_engine_destroy(ec);
    hg_engine_destroy(ed);
    for (size_t c = 0; c < n; c++)
        free(cfg[c].balance);
    free(cfg);
    free(s.g_eng);
    free(s.g_host);
    free(s.g_det);
    free(oracle);
    free(params);
    free(hs.z);
    free(hs.h);
    free(hs.dh);
}

/* ---- output ----------------------------------------------------------------------- */

static double best_solo(const model_run *mr)
{
    double best = 0.0;
    for (size_t i = 0; i < mr->nresults; i++)
        if (mr->results[i].engine && !mr->results[i].multi && mr->results[i].rows_per_s > best)
            best = mr->results[i].rows_per_s;
    return best;
}

static double openblas_rate(const model_run *mr)
{
    for (size_t i = 0; i < mr->nresults; i++)
        if (!mr->results[i].engine)
            return mr->results[i].rows_per_s;
    return NAN;
}

/* v as "%.3f" (digits 3), "%.2f" (2) or a percentage (0); "-" when not finite. */
static void ratio(char *buf, size_t n, double v, int digits)
{
    if (!isfinite(v))
        snprintf(buf, n, "-");
    else if (digits == 0)
        snprintf(buf, n, "%+.0f%%", v);
    else
        snprintf(buf, n, "%.*f", digits, v);
}

/* IQR/median as "4.2%", then "!" when too wide to compare or "?" when too few
   steps to tell ("-" when there is none). */
static void spread_text(char *buf, size_t n, const harness_stats *st)
{
    if (!isfinite(st->spread))
        snprintf(buf, n, "-%s", st->flag == HARNESS_WIDE ? "!" : "");
    else
        snprintf(buf, n, "%.1f%%%s", st->spread * 100.0,
                 st->flag == HARNESS_WIDE ? "!" : st->flag == HARNESS_FEW ? "?" : "");
}

static void print_table(const bench *b, const model_run *mr)
{
    const size_t ndev = b->ndev;
    double solo = best_solo(mr), blas = openblas_rate(mr);
    printf("\n%s  (%zu rows, %zu features, %s; %.0f flop/row, %.0f bytes/row; median of %d "
           "interleaved rounds)\n", mr->label, b->rows, mr->desc.inputs,
           mr->desc.kind == HG_MODEL_MLP ? "hidden 256, 10 classes"
           : mr->desc.kind == HG_MODEL_LINEAR ? "10 targets" : "10 classes",
           mr->flop_per_row, mr->bytes_per_row, b->repeats);
    printf("  openblas vs reference (%d rows): grad rel err %.2e, loss rel err %.2e%s\n",
           CHECK_ROWS, mr->host_check_err, mr->host_check_loss_err,
           mr->host_check_ok ? "" : "  ** MISMATCH **");
    printf("  deterministic mode: %s\n", mr->det_identical
               ? "the same bits in every configuration below"
               : "** DIFFERENT BITS between configurations **");
    printf("  %-34s %-15s %10s %8s %9s %7s %10s %6s %6s %6s %8s %6s %8s %9s\n", "config",
           "kernel", "rows/s", "GFLOP/s", "ms/step", "spread", "limit", "/limit", "/solo",
           "/blas", "/clblast", "det", "balance", "grad err");
    for (size_t i = 0; i < mr->nresults; i++) {
        const result *r = &mr->results[i];
        char bal[16], errs[32], cl[16], det[16], lim[16], spread[16];
        spread_text(spread, sizeof spread, &r->st);
        ratio(bal, sizeof bal, r->balance, 3);
        ratio(cl, sizeof cl, r->rows_per_s / r->clblast_rate, 2);
        ratio(det, sizeof det, (r->det_ms / r->ms - 1.0) * 100.0, 0);
        ratio(lim, sizeof lim, r->rows_per_s / r->limit, 3);
        if (isfinite(r->rel_err))
            snprintf(errs, sizeof errs, "%.2e%s", r->rel_err, r->check_ok ? "" : " !!");
        else
            snprintf(errs, sizeof errs, "(oracle)");
        printf("  %-34.34s %-15.15s %10.0f %8.2f %9.3f %7s %10.0f %6s %6.3f %6.3f %8s %6s %8s "
               "%9s\n", r->name, r->kernel, r->rows_per_s, r->gflops, r->ms, spread, r->limit, lim,
               r->rows_per_s / solo, r->rows_per_s / blas, cl, det, bal, errs);
        if (r->multi) {
            printf("  %-34s shares:", "");
            for (size_t d = 0; d < ndev; d++)
                printf(" %.3f", r->shares[d]);
            printf("\n");
        }
    }
    if (mr->timing_wide)
        printf("  ** TOO NOISY TO COMPARE: spread (IQR/median) over %.0f%% in: %s **\n",
               HARNESS_SPREAD_LIMIT * 100.0, mr->wide_list);
}

/* The roofs measured in this run: the better of start and end, and both. */
static void print_roofs(const bench *b)
{
    const hg__bench_read *r = b->read_at;
    printf("measured in this run, the better of its start and its end: host read bandwidth "
           "%.1f GB/s (default pages %.1f, 2 MiB pages %.1f; start %.1f / %.1f, end %.1f / "
           "%.1f); FP32 peak (FMA loop):", b->read_gbs, b->read_pages.default_pages_gbs,
           b->read_pages.huge_pages_gbs, r[0].default_pages_gbs, r[0].huge_pages_gbs,
           r[1].default_pages_gbs, r[1].huge_pages_gbs);
    for (size_t d = 0; d < b->nnames; d++)
        printf("%s [%zu] %.1f GFLOP/s (start %.1f, end %.1f)", d ? "," : "", d,
               b->peak_gflops[d], b->peak_at[0][d], b->peak_at[1][d]);
    printf("; memory roof:");
    for (size_t d = 0; d < b->nnames; d++)
        printf("%s [%zu] %.1f GB/s", d ? "," : "", d, b->mem_gbs[d]);
    printf("\n");
    if (!b->roofs_steady)
        printf("** ROOFS UNSTEADY: a roof measured at the start and at the end differs by more "
               "than %.0f%% (the machine was busy during one): the limits use the better; the "
               "step times may have suffered too **\n", (1 - HG_BENCH_ROOF_AGREE) * 100);
}

/* The JSON document (docs/json.md, docs/schemas/hetgrad-bench-gradient-3.schema.json);
   false when it could not be written in full. */
static bool print_json(const bench *b, const model_run *runs, size_t nruns)
{
    const size_t ndev = b->ndev, nn = b->nnames;
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-bench-gradient/3");
    json_key(&j, "rows"); json_u64(&j, b->rows);
    json_key(&j, "repeats"); json_u64(&j, (uint64_t)b->repeats);
    json_key(&j, "spread_limit"); json_double(&j, HARNESS_SPREAD_LIMIT);
    json_key(&j, "features"); json_u64(&j, FEATURES);
    json_key(&j, "classes"); json_u64(&j, CLASSES);
    json_key(&j, "hidden"); json_u64(&j, HIDDEN);
    json_key(&j, "read_gbs"); json_double(&j, b->read_gbs);
    json_key(&j, "read_gbs_default_pages"); json_double(&j, b->read_pages.default_pages_gbs);
    json_key(&j, "read_gbs_huge_pages"); json_double(&j, b->read_pages.huge_pages_gbs);
    json_key(&j, "peak_gflops");
    json_begin_array(&j);
    for (size_t d = 0; d < nn; d++)
        json_double(&j, b->peak_gflops[d]);
    json_end_array(&j);
    json_key(&j, "mem_gbs");
    json_begin_array(&j);
    for (size_t d = 0; d < nn; d++)
        json_double(&j, b->mem_gbs[d]);
    json_end_array(&j);
    json_key(&j, "roofs_measured");
    json_begin_array(&j);
    for (int at = 0; at < 2; at++) {
        json_begin_object(&j);
        json_key(&j, "at"); json_string(&j, at ? "end" : "start");
        json_key(&j, "read_gbs_default_pages");
        json_double(&j, b->read_at[at].default_pages_gbs);
        json_key(&j, "read_gbs_huge_pages"); json_double(&j, b->read_at[at].huge_pages_gbs);
        json_key(&j, "peak_gflops");
        json_begin_array(&j);
        for (size_t d = 0; d < nn; d++)
            json_double(&j, b->peak_at[at][d]);
        json_end_array(&j);
        json_key(&j, "own_mem_gbs");
        json_begin_array(&j);
        for (size_t d = 0; d < nn; d++)
            json_double(&j, b->own_at[at][d]);
        json_end_array(&j);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_key(&j, "roofs_steady"); json_bool(&j, b->roofs_steady);
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t d = 0; d < nn; d++)
        json_string(&j, b->dev_names[d]);
    json_end_array(&j);
    json_key(&j, "ok"); json_bool(&j, !b->failed);
    json_key(&j, "models");
    json_begin_array(&j);
    for (size_t mi = 0; mi < nruns; mi++) {
        const model_run *mr = &runs[mi];
        double solo = best_solo(mr), blas = openblas_rate(mr);
        json_begin_object(&j);
        json_key(&j, "model"); json_string(&j, mr->label);
        json_key(&j, "devices");
        json_begin_array(&j);
        for (size_t d = 0; d < ndev; d++)
            json_u64(&j, mr->dev[d]);
        json_end_array(&j);
        json_key(&j, "flop_per_row"); json_double(&j, mr->flop_per_row);
        json_key(&j, "bytes_per_row"); json_double(&j, mr->bytes_per_row);
        json_key(&j, "deterministic_same_bits"); json_bool(&j, mr->det_identical);
        json_key(&j, "openblas_check_rel_error"); json_double(&j, mr->host_check_err);
        json_key(&j, "timing_wide"); json_bool(&j, mr->timing_wide);
        json_key(&j, "configs");
        json_begin_array(&j);
        for (size_t i = 0; i < mr->nresults; i++) {
            const result *r = &mr->results[i];
            json_begin_object(&j);
            json_key(&j, "name"); json_string(&j, r->name);
            json_key(&j, "rows_per_s"); json_double(&j, r->rows_per_s);
            json_key(&j, "gflops"); json_double(&j, r->gflops);
            json_key(&j, "ms_per_step"); json_double(&j, r->ms);
            json_key(&j, "vs_best_solo"); json_double(&j, r->rows_per_s / solo);
            json_key(&j, "vs_openblas"); json_double(&j, r->rows_per_s / blas);
            json_key(&j, "balance_efficiency");
            json_double(&j, r->multi ? r->balance : NAN);
            json_key(&j, "shares");
            if (r->multi) {
                json_begin_array(&j);
                for (size_t d = 0; d < ndev; d++)
                    json_double(&j, r->shares[d]);
                json_end_array(&j);
            } else {
                json_null(&j);
            }
            json_key(&j, "kernel"); json_string(&j, r->kernel);
            json_key(&j, "limit_rows_per_s"); json_double(&j, r->limit);
            json_key(&j, "of_limit"); json_double(&j, r->rows_per_s / r->limit);
            json_key(&j, "vs_clblast"); json_double(&j, r->rows_per_s / r->clblast_rate);
            json_key(&j, "deterministic_ms_per_step"); json_double(&j, r->det_ms);
            json_key(&j, "grad_rel_error"); json_double(&j, r->rel_err);
            json_key(&j, "check_ok"); json_bool(&j, r->check_ok);
            json_key(&j, "timing"); harness_json_timing(&j, &r->st, r->warmups);
            json_key(&j, "vs_best_solo_paired"); json_double(&j, r->paired_solo);
            json_key(&j, "vs_openblas_paired"); json_double(&j, r->paired_blas);
            json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    return json_finish(&j);
}

/* ---- main ------------------------------------------------------------------------- */

static const char *const model_names[] = {"linear", "softmax", "mlp", NULL};

static const cli_exit gradient_exits[] = {
    {0, "success"},
    {1, "a correctness check failed (engine vs OpenBLAS vs the reference)"},
    {2, "usage error"},
    {3, "a hetgrad call or an allocation failed"},
};

static const cli_env gradient_env[] = {
    {"HETGRAD_DEVICES=EXPR", "device selection (docs/devices.md)"},
    {"OPENBLAS_NUM_THREADS=N", "OpenBLAS's threads"},
};

/*
 * Leave Oclgrind out of devs's selection: returns the new selection string
 * (--devices and ",-oclgrind"; owned by the caller, devs->devices points to
 * it) or NULL when no kept device is Oclgrind.  Exits 3 on failure.
 */
static char *exclude_oclgrind(const cli *cmd, hg_options *devs, const char *devices)
{
    hg_error err;
    hg_device_list *l = NULL;
    if (hg_device_list_create(devs, &l, &err) != HG_OK)
        bench_die_hg(PROG, "hg_device_list_create", &err);
    bool oclgrind = false;
    for (size_t d = 0; d < hg_device_list_count(l); d++) {
        const hg_device_info *info = hg_device_list_get(l, d);
        if (info->kept && bench_contains_nocase(info->name, "oclgrind")) {
            note(cmd, "leaving out '%s': Oclgrind is ~1000x slower than POCL, this would "
                 "take hours", info->name);
            oclgrind = true;
        }
    }
    hg_device_list_destroy(l);
    if (!oclgrind)
        return NULL;
    size_t n = (devices ? strlen(devices) : 0) + sizeof ",-oclgrind";
    char *selection = bench_xcalloc(PROG, n, 1);
    snprintf(selection, n, "%s%s-oclgrind", devices && *devices ? devices : "",
             devices && *devices ? "," : "");
    devs->devices = selection;
    return selection;
}

int main(int argc, char **argv)
{
    tool_pin_pocl_threads(); /* before any OpenCL runtime loads (tools/pocl_pin.h) */
    int model_ix[3] = {0, 1, 2};
    size_t nmodels = 3, rows = 0, repeats = 0;
    bool json = false, quick = false, keep_dups = false;
    const char *devices = NULL;
    const cli_option options[] = {
        {.name = "models", .kind = CLI_CHOICE_LIST, .target = model_ix, .count = &nmodels,
         .max_count = 3, .choices = model_names,
         .help = "models to run, in this order (default all three)"},
        {.name = "rows", .kind = CLI_SIZE, .target = &rows, .metavar = "N",
         .range = "[1,4194304]", .help = "rows per step (default 16384; --quick 2048)"},
        {.name = "repeats", .kind = CLI_SIZE, .target = &repeats, .metavar = "R",
         .range = "[1,1000]", .help = "timed rounds, each configuration one step a\nround, interleaved, after warm-up (default 5;\n--quick 1)"},
        {.name = "json", .kind = CLI_FLAG, .target = &json, .help = "JSON on stdout"},
        {.name = "quick", .kind = CLI_FLAG, .target = &quick,
         .help = "a smoke run: fewer rows and repeats, a smaller\nbandwidth buffer"},
        {.name = "devices", .kind = CLI_STRING, .target = &devices, .metavar = "EXPR",
         .help = "device selection (syntax of HETGRAD_DEVICES);\nOclgrind is always left out"},
        {.name = "keep-duplicates", .kind = CLI_FLAG, .target = &keep_dups,
         .help = "use every view of the same hardware (default:\none view each)"},
    };
    const cli_spec spec = {
        .prog = "bench_gradient",
        .synopsis = "[options]",
        .summary = "Full-batch gradient throughput of the linear, softmax and MLP models on\n"
                   "each device alone, all devices together and OpenBLAS on the host, with\n"
                   "every gradient checked.",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .env = gradient_env,
        .nenv = sizeof gradient_env / sizeof gradient_env[0],
        .exits = gradient_exits,
        .nexits = sizeof gradient_exits / sizeof gradient_exits[0],
    };
    cli cmd;
    cli_init(&cmd, &spec);
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    /* --quick: CI smoke run; explicit --rows / --repeats still win */
    if (!rows)
        rows = quick ? 2048 : 16384;
    if (!repeats)
        repeats = quick ? 1 : 5;

    model_run *runs = bench_xcalloc(PROG, nmodels, sizeof *runs);
    size_t nruns = nmodels;
    for (size_t i = 0; i < nmodels; i++) {
        hg_model_desc *d = &runs[i].desc;
        memset(d, 0, sizeof *d);
        d->inputs = FEATURES;
        d->outputs = CLASSES;
        runs[i].label = model_names[model_ix[i]];
        if (!strcmp(runs[i].label, "linear")) {
            d->kind = HG_MODEL_LINEAR;
        } else if (!strcmp(runs[i].label, "softmax")) {
            d->kind = HG_MODEL_SOFTMAX;
        } else {
            d->kind = HG_MODEL_MLP;
            d->nhidden = 1;
            d->hidden[0] = HIDDEN;
        }
    }

    bench b;
    memset(&b, 0, sizeof b);
    b.rows = rows;
    b.repeats = (int)repeats;
    b.cmd = &cmd;

    /* devices: HETGRAD_DEVICES and --devices honoured, Oclgrind out */
    hg_options devs;
    hg_options_init(&devs);
    devs.devices = devices;
    devs.keep_duplicates = keep_dups;
    cli_apply_log(&cmd, &devs);
    hg_engine_options eopt;
    hg_engine_options_init(&eopt);
    eopt.devices = &devs;
    eopt.batch_rows = rows; /* every step is the whole data set: kernels chosen at its size */
    char *selection = exclude_oclgrind(&cmd, &devs, devices);

    /* synthetic data */
    b.x = bench_xcalloc(PROG, rows * FEATURES, sizeof *b.x);
    b.targets = bench_xcalloc(PROG, rows * CLASSES, sizeof *b.targets);
    b.labels = bench_xcalloc(PROG, rows, sizeof *b.labels);
    hg_bench_synth_data(rows, FEATURES, CLASSES, CLASSES, b.x, b.targets, b.labels);
    b.data.rows = rows;
    b.data.inputs = FEATURES;
    b.data.x = b.x;

    note(&cmd, "%zu rows, %zu repeats (rounds: each configuration one step a round, interleaved, "
         "after warm-up), OpenBLAS with %d threads", rows, repeats,
         openblas_get_num_threads());
    b.quick = quick;
    measure_host_roof(&b, 0);
    for (size_t i = 0; i < nruns; i++)
        run_model(&b, &runs[i], &eopt);
    measure_host_roof(&b, 1);
    measure_device_roofs(&b);
    set_roofs(&b);
    for (size_t i = 0; i < nruns; i++)
        set_limits(&b, &runs[i]);

    bool written = true;
    if (json) {
        written = print_json(&b, runs, nruns);
        if (!written)
            fprintf(stderr, "bench_gradient: writing the JSON to stdout failed\n");
    } else {
        printf("bench_gradient: %zu engine device(s) a model, %zu in all:", b.ndev,
               b.nnames);
        for (size_t d = 0; d < b.nnames; d++)
            printf("%s [%zu] %s", d ? "," : "", d, b.dev_names[d]);
        printf("; OpenBLAS %d thread(s)\n", openblas_get_num_threads());
        print_roofs(&b);
        printf("rows/s = rows / median wall time of one full-batch step; limit = roofline "
               "rows/s: the lower of one read of each row at the device's memory roof (its own "
               "memory's read bandwidth; the host's for a device sharing host memory) and the "
               "row's FLOPs at the device's peak\n(multi: the best device's); /solo, /blas, "
               "/clblast: rows/s over the best solo device, openblas, the same device with "
               "CLBlast;\ndet: deterministic mode's extra time for the same configuration; "
               "balance = sum of device host_ms / (active devices x max host_ms), median over the "
               "rounds;\ngrad err: worst over its steps, normwise vs openblas (tolerance %.0e); spread: (q3 - q1) / median of "
               "its steps, ! over %.0f%% (too noisy to compare), ? under %d steps (unknown)\n",
               TOL_ENGINE_VS_OPENBLAS, HARNESS_SPREAD_LIMIT * 100.0, HARNESS_MIN_SAMPLES);
        for (size_t i = 0; i < nruns; i++)
            print_table(&b, &runs[i]);
    }
    if (b.failed)
        fprintf(stderr, "bench_gradient: *** A CHECK FAILED: see the messages above ***\n");

    free(b.x);
    free(b.targets);
    free(b.labels);
    free(runs);
    free(selection);
    return b.failed || !written ? 1 : 0;
}
