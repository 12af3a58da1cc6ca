/*
 * bench_starpu.c - hetgrad and StarPU side by side on the same devices, the
 * same data and the same kernel: the softmax-regression gradient (784
 * features x 10 classes) over 65,536 rows per step (full batch) and over
 * 128-row minibatches that walk through the rows.
 *
 *   bench_starpu [--mix all|pthread|pair] [--rows N] [--batch B]
 *                [--block R] [--mb-block R] [--rounds K] [--steps S]
 *                [--mb-steps S] [--warmup W] [--calib-steps C]
 *                [--mb-calib-steps C] [--starpu-home DIR] [--pocl LIB]
 *                [--starpu-async] [--quick] [--json]
 *
 * Defaults: 65,536 rows; StarPU tasks of 2,048 rows for full-batch steps and
 * one task per device for a minibatch (--mb-block); 5 rounds of 10 full-batch
 * and 200 minibatch steps after 5 warm-up steps; dmda calibrated on 10 and 50
 * steps.  --quick (the CTest smoke run): 4,096 rows, tasks of 512, 1 round.
 * StarPU's files (bus and performance models) go under --starpu-home, one
 * directory per mix (default $XDG_CACHE_HOME/hetgrad/starpu).  --pocl names
 * the POCL library both systems load (default: the one found at build time).
 * --child is internal: the parent passes it to run one mix.
 * Device mixes (each in its own child process, because POCL and the OpenCL
 * loader read their environment once per process):
 *   pthread  POCL's pthread device alone, all cores (POCL_DEVICES=pthread)
 *   pair     POCL's pthread and basic devices, one core each
 *            (POCL_DEVICES="pthread basic", POCL_MAX_PTHREAD_COUNT=1): two
 *            independent one-core devices; StarPU gets two OpenCL workers
 * Both systems see only POCL (OCL_ICD_VENDORS names libpocl).  StarPU runs
 * OpenCL workers only (STARPU_OPENCL_ON_CPUS=1, no CPU workers), so the two
 * systems drive the same OpenCL devices.
 *
 * Configurations, interleaved over rounds (the order rotates every round, so
 * no configuration always runs first or right after another), each with its
 * own warm-up in every round:
 *   hetgrad-model    calibrated engine, HG_SPLIT_MODEL (the default)
 *   hetgrad-dynamic  the same, HG_SPLIT_DYNAMIC (rebalanced every step)
 *   starpu-dmda      StarPU, dmda scheduler, performance model calibrated
 *                    before timing (STARPU_CALIBRATE=2 in a calibration
 *                    session, then 0)
 *   starpu-eager     StarPU, eager scheduler (central queue, no model)
 * Every StarPU round is one session (starpu_init .. starpu_shutdown; the
 * scheduler is chosen at init): data registered and partitioned once,
 * prefetched onto every worker's memory (resident, as hetgrad's data are),
 * one task per block per step running hetgrad's own fused kernel (the shape
 * hetgrad chose for that device), partial sums reduced on the host in
 * double.  StarPU's start-up and prefetch are reported, not timed in the
 * steps; hetgrad's engine is created and calibrated once per mix.
 *
 * A round's figure is rows per step / the median wall time of its timed
 * steps (host clock, parameters in to mean gradient out, as in the project's
 * other benchmarks; a median, because the machine may be shared); per
 * configuration the median over rounds and the spread (min, max); the ratio
 * hetgrad / StarPU is taken per round (paired) and summarised the same way.
 * Also per configuration: the cores it kept busy (process CPU time / wall
 * time over the timed steps); and per system, the cores it keeps busy while
 * it has nothing to do (StarPU as Debian builds it polls).  The load average
 * is read before and after each mix.
 *
 * Checks (exit status 1 when one fails): every configuration's gradient and
 * loss after every timed round against hetgrad's double host reference
 * (hg_reference_loss_grad), normwise relative error <= 1e-5; StarPU's
 * performance model calibrated for every worker.  Exit 2: usage; 3: a
 * hetgrad or StarPU call failed.  Figures, never pass/fail thresholds.
 */
#define _POSIX_C_SOURCE 200809L
#include <hetgrad.h>

#include "json_out.h"
#include "starpu_softmax.h"
#include "synthetic.h"

#include <starpu_config.h>

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define FEATURES   784
#define CLASSES    10
#define TOL        1e-5
#define MAX_ROUNDS 64
#define NCONFIGS   4
#define MAX_DEV    SP_MAX_WORKERS
#define IDLE_MS    500.0 /* how long the idle cost of each system is measured */

#ifndef HG_BENCH_POCL_LIBRARY
#define HG_BENCH_POCL_LIBRARY "libpocl.so.2"
#endif

/* ---- options ------------------------------------------------------------------- */

typedef struct opts {
    const char *mix;          /* "all", "pthread" or "pair" */
    bool        child;        /* run one mix here (set by the parent) */
    size_t      rows, batch, block, mb_block;
    size_t      rounds, steps, mb_steps, warmup, calib_steps, mb_calib_steps;
    const char *starpu_home;  /* base directory; one subdirectory per mix */
    const char *pocl;         /* libpocl, given to the children as OCL_ICD_VENDORS */
    bool        json, quick;
    bool        sp_async;     /* StarPU codelets asynchronous (STARPU_OPENCL_ASYNC) */
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_starpu [--mix all|pthread|pair] [--rows N] [--batch B]\n"
            "                    [--block R] [--mb-block R] [--rounds K] [--steps S]\n"
            "                    [--mb-steps S] [--warmup W] [--calib-steps C]\n"
            "                    [--mb-calib-steps C] [--starpu-home DIR] [--pocl LIB]\n"
            "                    [--starpu-async] [--quick] [--json]\n");
}

static bool parse_count(const char *s, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end || errno || v == 0 || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

/* ---- small helpers --------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of v[0..n) (all NaN when n is 0); v is left unchanged. */
static void summarise(const double *v, size_t n, double *med, double *lo, double *hi)
{
    if (n == 0 || n > MAX_ROUNDS) {
        *med = *lo = *hi = NAN;
        return;
    }
    double tmp[MAX_ROUNDS];
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    *med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    *lo = tmp[0];
    *hi = tmp[n - 1];
}

/* Median of v[0..n) (n > 0), sorting v. */
static double median_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* CPU time of the whole process (every thread, user + system), ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/*
 * Cores the process keeps busy while it has nothing to do: its CPU time over
 * a sleep of the calling thread of ms milliseconds, divided by the wall time.
 * *wall_ms receives the wall time spent.
 */
static double idle_cores(double ms, double *wall_ms)
{
    struct timespec ts = {(time_t)(ms / 1e3), (long)(fmod(ms, 1e3) * 1e6)};
    double c0 = cpu_ms(), t0 = now_ms();
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    double wall = now_ms() - t0;
    *wall_ms = wall;
    return (cpu_ms() - c0) / wall;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "bench_starpu: out of memory (%zu x %zu bytes)\n", n, size);
        exit(3);
    }
    return p;
}

static void die_hg(const char *what, const hg_error *err)
{
    fprintf(stderr, "bench_starpu: %s failed: %s (%s)\n", what, err->message,
            hg_status_name(err->status));
    exit(3);
}

/* The 1-, 5- and 15-minute load averages, or NaN when /proc/loadavg is unreadable. */
static void load_average(double la[3])
{
    la[0] = la[1] = la[2] = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return;
    if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
        la[0] = la[1] = la[2] = NAN;
    fclose(f);
}

/* Normwise relative error ||a - ref|| / ||ref||. */
static double rel_error(const float *a, const double *ref, size_t n)
{
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - ref[i];
        d += e * e;
        r += ref[i] * ref[i];
    }
    return r > 0.0 ? sqrt(d / r) : sqrt(d);
}

/* ---- one mix (the child) --------------------------------------------------------- */

enum { C_HG_MODEL, C_HG_DYNAMIC, C_SP_DMDA, C_SP_EAGER };
static const char *const config_name[NCONFIGS] = {"hetgrad-model", "hetgrad-dynamic",
                                                  "starpu-dmda", "starpu-eager"};

/* One configuration's rounds for one kind of step. */
typedef struct config_result {
    double   rows_per_s[MAX_ROUNDS];
    double   setup_ms[MAX_ROUNDS];  /* StarPU: start-up + prefetch of the round */
    double   cores[MAX_ROUNDS];     /* process CPU time / wall time over the timed
                                       steps: how many cores the system kept busy */
    double   shares[MAX_DEV];       /* rows per device over the last round, fractions */
    double   max_err;               /* worst gradient error seen */
    double   max_loss_err;
    size_t   n;
} config_result;

/* Full batch or minibatch. */
typedef struct kind_run {
    const char   *name;            /* "full-batch", "minibatch" */
    size_t        rows_per_step;
    size_t        block;           /* StarPU rows per task */
    size_t        steps, calib_steps;
    size_t        calib_steps_run; /* calibration steps actually run */
    size_t        cursor[NCONFIGS];/* minibatch: next window per configuration */
    char          symbol[96];      /* StarPU performance model */
    double        expected_us[MAX_DEV]; /* dmda's model per worker after calibration */
    double        calib_ms;        /* the calibration session's wall time */
    config_result cfg[NCONFIGS];
} kind_run;

typedef struct mix_run {
    const opts     *o;
    const char     *mix;
    size_t          ndev;
    char            dev_name[MAX_DEV][160];
    char            hg_kernel[MAX_DEV][48];
    char            sp_worker[MAX_DEV][160];
    char            sp_kernel[MAX_DEV][48];
    size_t          P;
    float          *x;
    int32_t        *labels;
    float          *params, *grad;
    double         *ref_full;      /* the mean gradient over all rows, double */
    double          ref_full_loss;
    double         *ref_win;       /* scratch: a minibatch's reference */
    double         *step_ms;       /* scratch: one round's step times */
    hg_model_desc   model;
    hg_dataset_desc data;
    hg_engine      *eng;
    sp_shape        shape[MAX_DEV];
    const char     *shape_dev[MAX_DEV];
    double          hg_setup_ms;   /* engine create + upload + calibrate */
    double          hg_idle_cores; /* busy cores while the engine exists, idle */
    double          sp_idle_cores; /* ... while a StarPU session exists, idle */
    double          load_before[3], load_after[3];
    bool            failed;
    kind_run        kind[2];
} mix_run;

/* Mean reference gradient and loss over rows [first, first + count). */
static void reference(mix_run *m, size_t first, size_t count, double *grad, double *loss)
{
    hg_error err;
    double ls = 0;
    if (hg_reference_loss_grad(&m->model, m->params, &m->data, first, count, NULL, &ls, grad,
                               &err) != HG_OK)
        die_hg("hg_reference_loss_grad", &err);
    for (size_t i = 0; i < m->P; i++)
        grad[i] /= (double)count;
    *loss = ls / (double)count;
}

/* Check a gradient against the reference of its rows; record the error. */
static void check(mix_run *m, config_result *c, const char *what, size_t first, size_t count,
                  const float *grad, double loss)
{
    const double *ref = m->ref_full;
    double ref_loss = m->ref_full_loss;
    if (count != m->o->rows) {
        reference(m, first, count, m->ref_win, &ref_loss);
        ref = m->ref_win;
    }
    double e = rel_error(grad, ref, m->P);
    double el = fabs(loss - ref_loss) / fmax(fabs(ref_loss), 1e-30);
    if (c) {
        c->max_err = fmax(c->max_err, e);
        c->max_loss_err = fmax(c->max_loss_err, el);
    }
    if (!(e <= TOL) || !(el <= TOL)) {
        fprintf(stderr, "bench_starpu: CHECK FAILED: %s: rows [%zu, %zu): gradient rel err "
                "%.2e, loss rel err %.2e (tolerance %.0e)\n", what, first, first + count, e,
                el, TOL);
        m->failed = true;
    }
}

/* The next step's first row for configuration c of kind k. */
static size_t next_first(mix_run *m, kind_run *k, int c)
{
    if (k->rows_per_step == m->o->rows)
        return 0;
    size_t windows = m->o->rows / k->rows_per_step;
    size_t first = (k->cursor[c] % windows) * k->rows_per_step;
    k->cursor[c]++;
    return first;
}

static void hg_round(mix_run *m, kind_run *k, int c)
{
    hg_error err;
    config_result *r = &k->cfg[c];
    if (hg_engine_set_split(m->eng, c == C_HG_MODEL ? HG_SPLIT_MODEL : HG_SPLIT_DYNAMIC,
                            &err) != HG_OK)
        die_hg("hg_engine_set_split", &err);
    double loss = 0;
    size_t first = 0, count = k->rows_per_step;
    for (size_t s = 0; s < m->o->warmup; s++) {
        first = next_first(m, k, c);
        if (hg_engine_gradient(m->eng, m->params, first, count, m->grad, &loss, &err) != HG_OK)
            die_hg(config_name[c], &err);
    }
    double rows_dev[MAX_DEV] = {0};
    double c0 = cpu_ms(), t0 = now_ms();
    for (size_t s = 0; s < k->steps; s++) {
        first = next_first(m, k, c);
        double s0 = now_ms();
        if (hg_engine_gradient(m->eng, m->params, first, count, m->grad, &loss, &err) != HG_OK)
            die_hg(config_name[c], &err);
        m->step_ms[s] = now_ms() - s0;
        for (size_t d = 0; d < m->ndev; d++) {
            hg_device_step st;
            if (hg_engine_last_step(m->eng, d, &st) == HG_OK)
                rows_dev[d] += (double)st.rows;
        }
    }
    double ms = now_ms() - t0;
    r->cores[r->n] = (cpu_ms() - c0) / ms;
    r->rows_per_s[r->n] = (double)count / (median_sort(m->step_ms, k->steps) / 1e3);
    r->setup_ms[r->n] = 0;
    r->n++;
    for (size_t d = 0; d < m->ndev; d++)
        r->shares[d] = rows_dev[d] / (double)(count * k->steps);
    check(m, r, config_name[c], first, count, m->grad, loss);
}

static sp_options sp_opts(mix_run *m, kind_run *k, const char *policy, int calibrate)
{
    sp_options so = {.policy = policy,
                     .calibrate = calibrate,
                     .model_symbol = k->symbol,
                     .x = m->x,
                     .labels = m->labels,
                     .rows = m->o->rows,
                     .features = FEATURES,
                     .classes = CLASSES,
                     .block_rows = k->block,
                     .nopencl = (unsigned)m->ndev,
                     .async = m->o->sp_async,
                     .shape_device = m->shape_dev,
                     .shape = m->shape,
                     .nshapes = m->ndev};
    return so;
}

static sp_session *sp_open(mix_run *m, kind_run *k, const char *policy, int calibrate)
{
    sp_options so = sp_opts(m, k, policy, calibrate);
    sp_session *s = NULL;
    char err[SP_ERR_MAX];
    if (sp_start(&so, &s, err) != 0 || sp_prefetch(s, err) != 0) {
        fprintf(stderr, "bench_starpu: StarPU (%s, %s): %s\n", policy, k->name, err);
        exit(3);
    }
    return s;
}

/* n StarPU steps; each one's wall time into step_ms[i] unless step_ms is NULL. */
static void sp_run_steps(mix_run *m, kind_run *k, sp_session *s, int c, size_t n,
                         size_t *first, double *loss, double *step_ms)
{
    char err[SP_ERR_MAX];
    for (size_t i = 0; i < n; i++) {
        *first = next_first(m, k, c);
        double s0 = now_ms();
        if (sp_step(s, m->params, *first, k->rows_per_step, m->grad, loss, err) != 0) {
            fprintf(stderr, "bench_starpu: %s step: %s\n", config_name[c], err);
            exit(3);
        }
        if (step_ms)
            step_ms[i] = now_ms() - s0;
    }
}

/* A calibration session for dmda's performance model (STARPU_CALIBRATE=2). */
static void sp_calibrate(mix_run *m, kind_run *k)
{
    double t0 = now_ms();
    sp_session *s = sp_open(m, k, "dmda", 2);
    size_t first = 0;
    double loss = 0;
    /* StarPU drops a history entry whose samples scatter by more than
       STARPU_HISTORY_MAX_ERROR (50%), as a loaded machine makes them: go on
       (up to 4 times as long) until every worker has a calibrated entry. */
    for (size_t extra = 0; extra <= 3; extra++) {
        sp_run_steps(m, k, s, C_SP_DMDA, k->calib_steps, &first, &loss, NULL);
        k->calib_steps_run += k->calib_steps;
        bool all = true;
        for (unsigned i = 0; i < sp_worker_count(s); i++)
            all &= isfinite(sp_expected_us(s, i)) != 0;
        if (all)
            break;
    }
    check(m, NULL, "starpu-dmda (calibration)", first, k->rows_per_step, m->grad, loss);
    double idle_wall = 0;
    if (k == &m->kind[0])
        m->sp_idle_cores = idle_cores(IDLE_MS, &idle_wall);
    for (unsigned i = 0; i < sp_worker_count(s) && i < MAX_DEV; i++) {
        snprintf(m->sp_worker[i], sizeof m->sp_worker[i], "%s", sp_worker_name(s, i));
        snprintf(m->sp_kernel[i], sizeof m->sp_kernel[i], "%s", sp_worker_kernel(s, i));
    }
    sp_stop(s); /* stores the model */
    k->calib_ms = now_ms() - t0 - idle_wall;
}

static void sp_round(mix_run *m, kind_run *k, int c)
{
    config_result *r = &k->cfg[c];
    double t0 = now_ms();
    sp_session *s = sp_open(m, k, c == C_SP_DMDA ? "dmda" : "eager", 0);
    double setup = now_ms() - t0;
    size_t first = 0;
    double loss = 0;
    sp_run_steps(m, k, s, c, m->o->warmup, &first, &loss, NULL);
    uint64_t counts[SP_MAX_WORKERS];
    sp_take_task_counts(s, counts);
    double c0 = cpu_ms();
    t0 = now_ms();
    sp_run_steps(m, k, s, c, k->steps, &first, &loss, m->step_ms);
    double ms = now_ms() - t0;
    r->cores[r->n] = (cpu_ms() - c0) / ms;
    sp_take_task_counts(s, counts);
    if (c == C_SP_DMDA) {
        /* dmda scheduled the timed steps with a model calibrated on every worker */
        for (unsigned i = 0; i < sp_worker_count(s) && i < MAX_DEV; i++) {
            double us = sp_expected_us(s, i);
            if (r->n == 0)
                k->expected_us[i] = us;
            if (!isfinite(us)) {
                fprintf(stderr, "bench_starpu: CHECK FAILED: dmda's performance model '%s' "
                        "has no calibrated entry for %s after %zu calibration steps "
                        "(raise --%scalib-steps)\n", k->symbol, sp_worker_name(s, i),
                        k->calib_steps_run, k->rows_per_step == m->o->rows ? "" : "mb-");
                m->failed = true;
            }
        }
    }
    sp_stop(s);
    check(m, r, config_name[c], first, k->rows_per_step, m->grad, loss);
    r->rows_per_s[r->n] = (double)k->rows_per_step / (median_sort(m->step_ms, k->steps) / 1e3);
    r->setup_ms[r->n] = setup;
    r->n++;
    uint64_t total = 0;
    for (size_t d = 0; d < m->ndev; d++)
        total += counts[d];
    /* StarPU's workers in its order; reported against the same device names */
    for (size_t d = 0; d < m->ndev; d++) {
        r->shares[d] = 0;
        for (size_t w = 0; w < m->ndev; w++)
            if (strcmp(m->sp_worker[w], m->dev_name[d]) == 0 && total)
                r->shares[d] = (double)counts[w] / (double)total;
    }
}

/* hetgrad: engine on this mix's devices, data, calibration; note each device's kernel. */
static void hg_setup(mix_run *m)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true; /* pthread and basic are both the host's cores */
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = &dev;
    hg_error err;
    double t0 = now_ms();
    if (hg_engine_create(&eo, &m->model, &m->eng, &err) != HG_OK)
        die_hg("hg_engine_create", &err);
    if (hg_engine_set_data(m->eng, &m->data, &err) != HG_OK)
        die_hg("hg_engine_set_data", &err);
    if (hg_engine_calibrate(m->eng, &err) != HG_OK)
        die_hg("hg_engine_calibrate", &err);
    m->hg_setup_ms = now_ms() - t0;
    m->ndev = hg_engine_device_count(m->eng);
    size_t want = strcmp(m->mix, "pair") == 0 ? 2 : 1;
    if (m->ndev != want) {
        fprintf(stderr, "bench_starpu: mix %s: hetgrad found %zu device(s), expected %zu "
                "(POCL_DEVICES=%s)\n", m->mix, m->ndev, want,
                getenv("POCL_DEVICES") ? getenv("POCL_DEVICES") : "(unset)");
        exit(3);
    }
    for (size_t d = 0; d < m->ndev; d++) {
        const hg_device_info *info = hg_engine_device(m->eng, d);
        hg_device_profile prof;
        snprintf(m->dev_name[d], sizeof m->dev_name[d], "%s", info->name);
        if (hg_engine_device_profile(m->eng, d, &prof) != HG_OK)
            die_hg("hg_engine_device_profile", &err);
        snprintf(m->hg_kernel[d], sizeof m->hg_kernel[d], "%s", prof.kernel);
        m->shape_dev[d] = m->dev_name[d];
        unsigned a, b, c;
        if (sscanf(prof.kernel, "fused r%u/b%u/k%u", &a, &b, &c) == 3) {
            m->shape[d] = (sp_shape){a, b, c};
        } else {
            m->shape[d] = (sp_shape){8, 8, 2};
            fprintf(stderr, "bench_starpu: note: hetgrad computes with '%s' on %s; StarPU "
                    "runs the fused kernel r8/b8/k2 there, so the kernels differ\n",
                    prof.kernel, info->name);
        }
    }
}

static void kind_init(mix_run *m, kind_run *k, const char *name, size_t rows_per_step,
                      size_t block, size_t steps, size_t calib_steps)
{
    k->name = name;
    k->rows_per_step = rows_per_step;
    k->block = block;
    k->steps = steps;
    k->calib_steps = calib_steps;
    snprintf(k->symbol, sizeof k->symbol, "hetgrad_bench_softmax_%dx%d_%zurows_%s", FEATURES,
             CLASSES, block, m->mix);
    for (size_t d = 0; d < MAX_DEV; d++)
        k->expected_us[d] = NAN;
}

static void print_text(const mix_run *m);
static void print_json(const mix_run *m);

static int run_mix(const opts *o)
{
    mix_run *m = xcalloc(1, sizeof *m);
    m->o = o;
    m->mix = o->mix;
    load_average(m->load_before);
    m->model = (hg_model_desc){.kind = HG_MODEL_SOFTMAX, .inputs = FEATURES, .outputs = CLASSES};
    m->P = hg_model_param_count(&m->model);
    m->x = xcalloc(o->rows * FEATURES, sizeof *m->x);
    m->labels = xcalloc(o->rows, sizeof *m->labels);
    m->params = xcalloc(m->P, sizeof *m->params);
    m->grad = xcalloc(m->P, sizeof *m->grad);
    m->ref_full = xcalloc(m->P, sizeof *m->ref_full);
    m->ref_win = xcalloc(m->P, sizeof *m->ref_win);
    m->step_ms = xcalloc(o->steps > o->mb_steps ? o->steps : o->mb_steps, sizeof *m->step_ms);
    hg_bench_synth_data(o->rows, FEATURES, CLASSES, CLASSES, m->x, NULL, m->labels);
    hg_bench_synth_params((unsigned)HG_MODEL_SOFTMAX, m->P, m->params);
    m->data = (hg_dataset_desc){.rows = o->rows, .inputs = FEATURES, .x = m->x,
                                .labels = m->labels};

    fprintf(stderr, "bench_starpu: mix %s: reference gradient over %zu rows (double, host)\n",
            m->mix, o->rows);
    reference(m, 0, o->rows, m->ref_full, &m->ref_full_loss);

    fprintf(stderr, "bench_starpu: mix %s: hetgrad engine: devices, data, calibration\n",
            m->mix);
    hg_setup(m);
    double idle_wall;
    m->hg_idle_cores = idle_cores(IDLE_MS, &idle_wall);

    kind_init(m, &m->kind[0], "full-batch", o->rows, o->block, o->steps, o->calib_steps);
    /* a minibatch is one StarPU task per device unless --mb-block says otherwise */
    size_t mb_block = o->mb_block ? o->mb_block : o->batch / m->ndev;
    if (mb_block == 0 || o->batch % mb_block) {
        fprintf(stderr, "bench_starpu: --batch %zu cannot be cut into %zu equal tasks; give "
                "--mb-block\n", o->batch, m->ndev);
        exit(2);
    }
    kind_init(m, &m->kind[1], "minibatch", o->batch, mb_block, o->mb_steps, o->mb_calib_steps);
    for (int k = 0; k < 2; k++) {
        fprintf(stderr, "bench_starpu: mix %s: calibrating StarPU's dmda model for %s steps "
                "(%zu steps of %zu tasks)\n", m->mix, m->kind[k].name, m->kind[k].calib_steps,
                m->kind[k].rows_per_step / m->kind[k].block);
        sp_calibrate(m, &m->kind[k]);
    }
    for (size_t r = 0; r < o->rounds; r++) {
        fprintf(stderr, "bench_starpu: mix %s: round %zu/%zu\n", m->mix, r + 1, o->rounds);
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < NCONFIGS; i++) {
                int c = (int)((size_t)i + r) % NCONFIGS;
                if (c == C_HG_MODEL || c == C_HG_DYNAMIC)
                    hg_round(m, &m->kind[k], c);
                else
                    sp_round(m, &m->kind[k], c);
            }
        }
    }
    load_average(m->load_after);
    if (o->json)
        print_json(m);
    else
        print_text(m);
    int rc = m->failed ? 1 : 0;
    hg_engine_destroy(m->eng);
    free(m->x);
    free(m->labels);
    free(m->params);
    free(m->grad);
    free(m->ref_full);
    free(m->ref_win);
    free(m->step_ms);
    free(m);
    return rc;
}

/* ---- output ---------------------------------------------------------------------- */

/* Per-round ratio a / b of two configurations: median, min, max. */
static void paired_ratio(const config_result *a, const config_result *b, double *med,
                         double *lo, double *hi)
{
    double v[MAX_ROUNDS];
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++)
        v[i] = a->rows_per_s[i] / b->rows_per_s[i];
    if (n == 0) {
        *med = *lo = *hi = NAN;
        return;
    }
    summarise(v, n, med, lo, hi);
}

static void print_text(const mix_run *m)
{
    const opts *o = m->o;
    printf("== mix %s: POCL_DEVICES=\"%s\"%s ==\n", m->mix,
           getenv("POCL_DEVICES") ? getenv("POCL_DEVICES") : "",
           getenv("POCL_MAX_PTHREAD_COUNT") ? ", POCL_MAX_PTHREAD_COUNT=1" : "");
    printf("load average before %.2f %.2f %.2f, after %.2f %.2f %.2f (1, 5, 15 min)\n",
           m->load_before[0], m->load_before[1], m->load_before[2], m->load_after[0],
           m->load_after[1], m->load_after[2]);
    for (size_t d = 0; d < m->ndev; d++)
        printf("device [%zu] %s: hetgrad kernel %s; StarPU worker kernel %s\n", d,
               m->dev_name[d], m->hg_kernel[d], m->sp_kernel[d]);
    printf("hetgrad set-up (engine, upload, calibration) %.0f ms\n", m->hg_setup_ms);
    printf("busy cores while idle (%.0f ms, nothing submitted): hetgrad engine %.2f, StarPU "
           "session %.2f\n", IDLE_MS, m->hg_idle_cores, m->sp_idle_cores);
    for (int k = 0; k < 2; k++) {
        const kind_run *kr = &m->kind[k];
        printf("\n%s: %zu rows per step; StarPU %zu task(s) of %zu rows per step; %zu rounds "
               "x %zu timed steps after %zu warm-up steps\n", kr->name, kr->rows_per_step,
               kr->rows_per_step / kr->block, kr->block, o->rounds, kr->steps, o->warmup);
        printf("StarPU dmda calibration: %zu steps, %.0f ms; model per task:",
               kr->calib_steps_run, kr->calib_ms);
        for (size_t d = 0; d < m->ndev; d++)
            printf(" %s %.0f us;", m->sp_worker[d], kr->expected_us[d]);
        printf("\n%-16s %12s %12s %12s %9s %6s %9s  %s\n", "config", "rows/s", "min", "max",
               "ms/step", "cores", "setup ms", "shares (device order)");
        for (int c = 0; c < NCONFIGS; c++) {
            const config_result *r = &kr->cfg[c];
            double med, lo, hi, smed, slo, shi, cmed, clo, chi;
            summarise(r->rows_per_s, r->n, &med, &lo, &hi);
            summarise(r->setup_ms, r->n, &smed, &slo, &shi);
            summarise(r->cores, r->n, &cmed, &clo, &chi);
            printf("%-16s %12.0f %12.0f %12.0f %9.3f %6.2f ", config_name[c], med, lo, hi,
                   (double)kr->rows_per_step / med * 1e3, cmed);
            if (c == C_HG_MODEL || c == C_HG_DYNAMIC)
                printf("%9s ", "-");
            else
                printf("%9.0f ", smed);
            for (size_t d = 0; d < m->ndev; d++)
                printf(" %.3f", r->shares[d]);
            printf("   (grad err %.1e)\n", r->max_err);
        }
        for (int a = C_HG_MODEL; a <= C_HG_DYNAMIC; a++)
            for (int b = C_SP_DMDA; b <= C_SP_EAGER; b++) {
                double med, lo, hi;
                paired_ratio(&kr->cfg[a], &kr->cfg[b], &med, &lo, &hi);
                printf("%s / %s: %.3f [%.3f, %.3f]\n", config_name[a], config_name[b], med,
                       lo, hi);
            }
    }
    printf("\n");
}

static void json_triple(json_out *j, const double v[3])
{
    json_begin_array(j);
    for (int i = 0; i < 3; i++)
        json_double(j, v[i]);
    json_end_array(j);
}

static void print_json(const mix_run *m)
{
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "mix"); json_string(&j, m->mix);
    json_key(&j, "pocl_devices"); json_string(&j, getenv("POCL_DEVICES"));
    json_key(&j, "pocl_max_pthread_count"); json_string(&j, getenv("POCL_MAX_PTHREAD_COUNT"));
    json_key(&j, "load_before"); json_triple(&j, m->load_before);
    json_key(&j, "load_after"); json_triple(&j, m->load_after);
    json_key(&j, "hetgrad_setup_ms"); json_double(&j, m->hg_setup_ms);
    json_key(&j, "hetgrad_idle_cores"); json_double(&j, m->hg_idle_cores);
    json_key(&j, "starpu_idle_cores"); json_double(&j, m->sp_idle_cores);
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t d = 0; d < m->ndev; d++) {
        json_begin_object(&j);
        json_key(&j, "name"); json_string(&j, m->dev_name[d]);
        json_key(&j, "hetgrad_kernel"); json_string(&j, m->hg_kernel[d]);
        json_key(&j, "starpu_kernel"); json_string(&j, m->sp_kernel[d]);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_key(&j, "kinds");
    json_begin_array(&j);
    for (int k = 0; k < 2; k++) {
        const kind_run *kr = &m->kind[k];
        json_begin_object(&j);
        json_key(&j, "name"); json_string(&j, kr->name);
        json_key(&j, "rows_per_step"); json_u64(&j, kr->rows_per_step);
        json_key(&j, "starpu_task_rows"); json_u64(&j, kr->block);
        json_key(&j, "rounds"); json_u64(&j, m->o->rounds);
        json_key(&j, "steps"); json_u64(&j, kr->steps);
        json_key(&j, "warmup_steps"); json_u64(&j, m->o->warmup);
        json_key(&j, "starpu_calibration_steps"); json_u64(&j, kr->calib_steps_run);
        json_key(&j, "starpu_calibration_ms"); json_double(&j, kr->calib_ms);
        json_key(&j, "starpu_model_us");
        json_begin_array(&j);
        for (size_t d = 0; d < m->ndev; d++)
            json_double(&j, kr->expected_us[d]);
        json_end_array(&j);
        json_key(&j, "configs");
        json_begin_array(&j);
        for (int c = 0; c < NCONFIGS; c++) {
            const config_result *r = &kr->cfg[c];
            double med, lo, hi, smed, slo, shi, cmed, clo, chi;
            summarise(r->rows_per_s, r->n, &med, &lo, &hi);
            summarise(r->setup_ms, r->n, &smed, &slo, &shi);
            summarise(r->cores, r->n, &cmed, &clo, &chi);
            json_begin_object(&j);
            json_key(&j, "name"); json_string(&j, config_name[c]);
            json_key(&j, "rows_per_s_median"); json_double(&j, med);
            json_key(&j, "rows_per_s_min"); json_double(&j, lo);
            json_key(&j, "rows_per_s_max"); json_double(&j, hi);
            json_key(&j, "rows_per_s_rounds");
            json_begin_array(&j);
            for (size_t i = 0; i < r->n; i++)
                json_double(&j, r->rows_per_s[i]);
            json_end_array(&j);
            json_key(&j, "cores_busy_median"); json_double(&j, cmed);
            json_key(&j, "setup_ms_median");
            json_double(&j, c == C_SP_DMDA || c == C_SP_EAGER ? smed : NAN);
            json_key(&j, "shares");
            json_begin_array(&j);
            for (size_t d = 0; d < m->ndev; d++)
                json_double(&j, r->shares[d]);
            json_end_array(&j);
            json_key(&j, "grad_rel_err_max"); json_double(&j, r->max_err);
            json_key(&j, "loss_rel_err_max"); json_double(&j, r->max_loss_err);
            json_end_object(&j);
        }
        json_end_array(&j);
        json_key(&j, "ratios");
        json_begin_array(&j);
        for (int a = C_HG_MODEL; a <= C_HG_DYNAMIC; a++)
            for (int b = C_SP_DMDA; b <= C_SP_EAGER; b++) {
                double med, lo, hi;
                paired_ratio(&kr->cfg[a], &kr->cfg[b], &med, &lo, &hi);
                json_begin_object(&j);
                json_key(&j, "hetgrad"); json_string(&j, config_name[a]);
                json_key(&j, "starpu"); json_string(&j, config_name[b]);
                json_key(&j, "median"); json_double(&j, med);
                json_key(&j, "min"); json_double(&j, lo);
                json_key(&j, "max"); json_double(&j, hi);
                json_end_object(&j);
            }
        json_end_array(&j);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_key(&j, "checks_passed"); json_bool(&j, !m->failed);
    json_end_object(&j);
}

/* ---- the parent: one child process per mix ---------------------------------------- */

/* name=value, malloc'ed. */
static char *env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *e = xcalloc(n, 1);
    snprintf(e, n, "%s=%s", name, value);
    return e;
}

/* Variables the parent sets for every child; inherited values are dropped. */
static const char *const controlled[] = {
    "POCL_DEVICES", "POCL_MAX_PTHREAD_COUNT", "POCL_CPU_MAX_CU_COUNT", "OCL_ICD_VENDORS",
    "OCL_ICD_FILENAMES", "HETGRAD_DEVICES", "STARPU_OPENCL_ON_CPUS",
    "STARPU_OPENCL_ONLY_ON_CPUS", "STARPU_NCPU", "STARPU_NCPUS", "STARPU_NOPENCL",
    "STARPU_HOME", "STARPU_SCHED", "STARPU_CALIBRATE"};

static bool is_controlled(const char *entry)
{
    for (size_t i = 0; i < sizeof controlled / sizeof controlled[0]; i++) {
        size_t n = strlen(controlled[i]);
        if (strncmp(entry, controlled[i], n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

/* mkdir -p for a directory path; false (errno set) on failure. */
static bool make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return false;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/*
 * The child's environment for a mix: this process's, without the variables
 * we set, then ours.  Entries from *inherited on are malloc'ed (the caller
 * frees them and the array).
 */
static char **child_env(const opts *o, const char *mix, const char *home, size_t *inherited)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + 16, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_controlled(environ[i]))
            env[k++] = environ[i];
    *inherited = k;
    bool pair = strcmp(mix, "pair") == 0;
    env[k++] = env_entry("POCL_DEVICES", pair ? "pthread basic" : "pthread");
    if (pair) {
        env[k++] = env_entry("POCL_MAX_PTHREAD_COUNT", "1");
        env[k++] = env_entry("POCL_CPU_MAX_CU_COUNT", "1"); /* POCL >= 4.0's name */
    }
    env[k++] = env_entry("OCL_ICD_VENDORS", o->pocl);
    env[k++] = env_entry("STARPU_OPENCL_ON_CPUS", "1");
    env[k++] = env_entry("STARPU_HOME", home);
    env[k] = NULL;
    return env;
}

/* Read fd to its end into a malloc'ed, NUL-terminated buffer. */
static char *slurp(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = xcalloc(cap, 1);
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                fprintf(stderr, "bench_starpu: out of memory reading a child's output\n");
                exit(3);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

/*
 * Run one mix in a child process (this program again, with --child and the
 * mix's environment); its standard output into *out (malloc'ed).  Returns
 * the child's exit status, or 3 when it could not run.
 */
static int run_child(const opts *o, int argc, char **argv, const char *mix, char **out)
{
    char home[4096];
    if (snprintf(home, sizeof home, "%s/%s", o->starpu_home, mix) >= (int)sizeof home ||
        !make_dirs(home)) {
        fprintf(stderr, "bench_starpu: cannot create the StarPU home %s: %s\n", home,
                strerror(errno));
        return 3;
    }
    char **args = xcalloc((size_t)argc + 4, sizeof *args);
    int n = 0;
    args[n++] = argv[0];
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--mix")) {
            a++; /* replaced below */
            continue;
        }
        args[n++] = argv[a];
    }
    args[n++] = "--mix";
    args[n++] = (char *)mix;
    args[n++] = "--child";
    args[n] = NULL;
    size_t inherited = 0;
    char **env = child_env(o, mix, home, &inherited);

    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "bench_starpu: pipe: %s\n", strerror(errno));
        return 3;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    int status = 3;
    if (rc != 0) {
        fprintf(stderr, "bench_starpu: cannot start the child for mix %s: %s\n", mix,
                strerror(rc));
        close(fds[0]);
        *out = xcalloc(1, 1);
    } else {
        *out = slurp(fds[0]);
        close(fds[0]);
        int ws;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(ws))
            status = WEXITSTATUS(ws);
        else
            fprintf(stderr, "bench_starpu: the child for mix %s died (signal %d)\n", mix,
                    WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    }
    for (size_t i = inherited; env[i]; i++)
        free(env[i]);
    free(env);
    free(args);
    return status;
}

int main(int argc, char **argv)
{
    opts o = {.mix = "all", .starpu_home = NULL, .pocl = HG_BENCH_POCL_LIBRARY};
    size_t rows = 0, batch = 0, block = 0, mb_block = 0, rounds = 0, steps = 0, mb_steps = 0,
           warmup = 0, calib = 0, mb_calib = 0;
    struct { const char *flag; size_t *v; size_t max; } nums[] = {
        {"--rows", &rows, (size_t)1 << 22},   {"--batch", &batch, (size_t)1 << 22},
        {"--block", &block, (size_t)1 << 22}, {"--mb-block", &mb_block, (size_t)1 << 22},
        {"--rounds", &rounds, MAX_ROUNDS},    {"--steps", &steps, 100000},
        {"--mb-steps", &mb_steps, 1000000},   {"--warmup", &warmup, 100000},
        {"--calib-steps", &calib, 100000},    {"--mb-calib-steps", &mb_calib, 1000000}};
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        bool done = true;
        if (!strcmp(s, "--json"))
            o.json = true;
        else if (!strcmp(s, "--quick"))
            o.quick = true;
        else if (!strcmp(s, "--child"))
            o.child = true;
        else if (!strcmp(s, "--starpu-async"))
            o.sp_async = true;
        else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else
            done = false;
        if (done)
            continue;
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (!strcmp(s, "--mix")) {
            if (strcmp(v, "all") && strcmp(v, "pthread") && strcmp(v, "pair")) {
                fprintf(stderr, "bench_starpu: --mix must be all, pthread or pair\n");
                return 2;
            }
            o.mix = v;
        } else if (!strcmp(s, "--starpu-home")) {
            o.starpu_home = v;
        } else if (!strcmp(s, "--pocl")) {
            o.pocl = v;
        } else {
            size_t i = 0, n = sizeof nums / sizeof nums[0];
            while (i < n && strcmp(s, nums[i].flag))
                i++;
            if (i == n) {
                usage(stderr);
                return 2;
            }
            if (!parse_count(v, nums[i].max, nums[i].v)) {
                fprintf(stderr, "bench_starpu: %s must be 1..%zu\n", s, nums[i].max);
                return 2;
            }
        }
        a++;
    }
    /* --quick: the CI smoke run (checks only); explicit values still win */
    o.rows = rows ? rows : o.quick ? 4096 : 65536;
    o.batch = batch ? batch : 128;
    o.block = block ? block : o.quick ? 512 : 2048;
    o.mb_block = mb_block; /* 0: batch / devices, one task per device (run_mix) */
    o.rounds = rounds ? rounds : o.quick ? 1 : 5;
    o.steps = steps ? steps : o.quick ? 3 : 10;
    o.mb_steps = mb_steps ? mb_steps : o.quick ? 10 : 200;
    o.warmup = warmup ? warmup : o.quick ? 2 : 5;
    o.calib_steps = calib ? calib : o.quick ? 5 : 10;
    o.mb_calib_steps = mb_calib ? mb_calib : o.quick ? 20 : 50;
    if (o.rows % o.block || o.rows % o.batch || (o.mb_block && o.batch % o.mb_block)) {
        fprintf(stderr, "bench_starpu: --block and --batch must divide --rows, and --mb-block "
                "must divide --batch (StarPU's tasks are whole blocks)\n");
        return 2;
    }

    if (o.child)
        return run_mix(&o);

    char home_buf[4096];
    if (!o.starpu_home) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
        if (xdg && *xdg)
            snprintf(home_buf, sizeof home_buf, "%s/hetgrad/starpu", xdg);
        else
            snprintf(home_buf, sizeof home_buf, "%s/.cache/hetgrad/starpu", h && *h ? h : "/tmp");
        o.starpu_home = home_buf;
    }
    const char *mixes[2];
    size_t nmix = 0;
    if (!strcmp(o.mix, "all") || !strcmp(o.mix, "pthread"))
        mixes[nmix++] = "pthread";
    if (!strcmp(o.mix, "all") || !strcmp(o.mix, "pair"))
        mixes[nmix++] = "pair";

    if (!o.json) {
        printf("bench_starpu: hetgrad %s and StarPU %d.%d.%d side by side: softmax regression "
               "%d features x %d classes, %zu rows; full-batch steps and %zu-row minibatches\n",
               hg_version_string(), STARPU_MAJOR_VERSION, STARPU_MINOR_VERSION,
               STARPU_RELEASE_VERSION, FEATURES, CLASSES, o.rows, o.batch);
        printf("both run hetgrad's fused kernel on the same POCL devices (OCL_ICD_VENDORS=%s); "
               "StarPU home %s/<mix>\n", o.pocl, o.starpu_home);
        printf("rows/s: median over rounds of a round's rows per step / its median step wall "
               "time; min, max: over rounds; cores: process CPU time / wall time over the timed "
               "steps (median);\nratios: per round, median [min, max]\n\n");
        fflush(stdout);
    } else {
        printf("{\"schema\":\"hetgrad-bench-starpu/1\",\"hetgrad\":");
        json_out j;
        json_init(&j, stdout);
        json_string(&j, hg_version_string());
        printf(",\"starpu\":\"%d.%d.%d\",\"features\":%d,\"classes\":%d,\"rows\":%zu,"
               "\"batch\":%zu,\"mixes\":[", STARPU_MAJOR_VERSION, STARPU_MINOR_VERSION,
               STARPU_RELEASE_VERSION, FEATURES, CLASSES, o.rows, o.batch);
    }
    int worst = 0;
    for (size_t i = 0; i < nmix; i++) {
        char *out = NULL;
        int rc = run_child(&o, argc, argv, mixes[i], &out);
        if (o.json) {
            size_t len = strlen(out);
            while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
                out[--len] = '\0';
            /* a child that failed before printing stands as null */
            printf("%s%s", i ? "," : "", len ? out : "null");
        } else {
            fputs(out, stdout);
        }
        fflush(stdout);
        free(out);
        if (rc != 0)
            fprintf(stderr, "bench_starpu: mix %s: exit status %d\n", mixes[i], rc);
        worst = rc > worst ? rc : worst;
    }
    if (o.json)
        printf("]}\n");
    return worst;
}
