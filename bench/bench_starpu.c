/* SPDX-License-Identifier: MIT */
/*
 * bench_starpu.c - hetgrad and StarPU side by side on the same devices, the
 * same data and the same kernel: the softmax-regression gradient (784
 * features x 10 classes) over 65,536 rows per step (full batch) and over
 * 128-row minibatches that walk through the rows (docs/comparison.md).
 *
 *   bench_starpu [--mix all|pthread|pair] [--rows N] [--batch B] [--block R]
 *                [--mb-block R] [--rounds K] [--steps S] [--mb-steps S]
 *                [--warmup W] [--calib-steps C] [--mb-calib-steps C]
 *                [--starpu-home DIR] [--pocl LIB] [--starpu-async]
 *                [--quick] [--json]
 *
 * Defaults: 65,536 rows; StarPU tasks of 2,048 rows for full-batch steps and
 * one task per device for a minibatch (--mb-block); 5 rounds of 10 full-batch
 * and 200 minibatch steps after 5 warm-up steps; dmda calibrated on 10 and 50
 * steps.  --quick (the CTest smoke run): 4,096 rows, tasks of 512, 1 round.
 *
 * Device mixes, each in its own child process (POCL and the OpenCL loader
 * read their environment once per process; the child is this program again,
 * with --child and the mix's environment):
 *   pthread  POCL's pthread device alone, all cores (POCL_DEVICES=pthread)
 *   pair     POCL's pthread and basic devices, one core each
 *            (POCL_DEVICES="pthread basic", POCL_MAX_PTHREAD_COUNT=1): two
 *            independent one-core devices; StarPU gets two OpenCL workers
 * Both systems see only POCL (OCL_ICD_VENDORS names --pocl, by default the
 * libpocl found at build time).  StarPU runs OpenCL workers only
 * (STARPU_OPENCL_ON_CPUS=1, no CPU workers).  The child sends its results to
 * the parent as one plain struct through a pipe; the parent prints them all.
 *
 * Configurations, interleaved over rounds (the order rotates every round, so
 * no configuration always runs first or right after another), each with its
 * own warm-up in every round:
 *   hetgrad-model    engine calibrated in this run (no profile cache),
 *                    HG_SPLIT_MODEL (the default)
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
 * double (starpu_softmax.c).  StarPU's start-up and prefetch are reported,
 * not timed in the steps; hetgrad's engine is created and calibrated once
 * per mix.
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
 * performance model calibrated for every worker.  Figures, never pass/fail
 * thresholds.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* nftw */
#include <hetgrad.h>

#include "bench_util.h"
#include "cli.h"
#include "json_out.h"
#include "starpu_softmax.h"
#include "synthetic.h"

#include <starpu_config.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
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

#define PROG       "bench_starpu"
#define FEATURES   784
#define CLASSES    10
#define TOL        1e-5
#define MAX_ROUNDS 64
#define NCONFIGS   4
#define NKINDS     2
#define NMIXES     2
#define MAX_DEV    SP_MAX_WORKERS
#define NAME_MAX_  256   /* bytes kept of a device name */
#define IDLE_MS    500.0 /* how long the idle cost of each system is measured */
#define RESULT_MAGIC 0x48475350u /* "HGSP": a child's result record */

#ifndef HG_BENCH_POCL_LIBRARY
#define HG_BENCH_POCL_LIBRARY "libpocl.so.2"
#endif

/* Exit statuses (docs/tools.md). */
enum { EXIT_CHECK = 1, EXIT_USAGE = 2, EXIT_CALL = 3 };

static const char *const mix_names[] = {"all", "pthread", "pair", NULL};
enum { MIX_ALL, MIX_PTHREAD, MIX_PAIR };

/* ---- options ------------------------------------------------------------------- */

typedef struct opts {
    int         mix;          /* MIX_ALL, MIX_PTHREAD or MIX_PAIR */
    bool        child;        /* run one mix here (set by the parent) */
    size_t      rows, batch, block, mb_block;
    size_t      rounds, steps, mb_steps, warmup, calib_steps, mb_calib_steps;
    const char *starpu_home;  /* base directory; one subdirectory per mix */
    const char *pocl;         /* libpocl, given to the children as OCL_ICD_VENDORS */
    bool        json, quick;
    bool        sp_async;     /* StarPU codelets asynchronous (STARPU_OPENCL_ASYNC) */
    cli         cmd;          /* the parsed command line: log level, messages */
} opts;

/* ---- small helpers --------------------------------------------------------------- */

/* Median, min and max of v[0..n) (all NaN when n is 0); v is left unchanged. */
static void summarise(const double *v, size_t n, double *med, double *lo, double *hi)
{
    if (n == 0 || n > MAX_ROUNDS) {
        *med = *lo = *hi = NAN;
        return;
    }
    double tmp[MAX_ROUNDS];
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, bench_cmp_double);
    *med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    *lo = tmp[0];
    *hi = tmp[n - 1];
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
    double c0 = cpu_ms(), t0 = bench_now_ms();
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    double wall = bench_now_ms() - t0;
    *wall_ms = wall;
    return (cpu_ms() - c0) / wall;
}

/* A failed hetgrad call: say what and why, exit 3. */
static void die_hg(const opts *o, const char *what, const hg_error *err)
{
    cli_log(&o->cmd, HG_LOG_ERROR, "%s failed: %s (%s)", what, err->message,
            hg_status_name(err->status));
    exit(EXIT_CALL);
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

/* ---- results: plain data, sent from a mix's child to the parent ------------------- */

enum { C_HG_MODEL, C_HG_DYNAMIC, C_SP_DMDA, C_SP_EAGER };
static const char *const config_name[NCONFIGS] = {"hetgrad-model", "hetgrad-dynamic",
                                                  "starpu-dmda", "starpu-eager"};
static const char *const kind_name[NKINDS] = {"full-batch", "minibatch"};

/* One configuration's rounds for one kind of step. */
typedef struct config_result {
    double rows_per_s[MAX_ROUNDS];
    double cores[MAX_ROUNDS];     /* process CPU time / wall time over the timed steps */
    double setup_ms[MAX_ROUNDS];  /* StarPU: start-up + prefetch of the round; else 0 */
    double shares[MAX_DEV];       /* rows per device over the last round, fractions */
    double max_err;               /* worst gradient error seen */
    double max_loss_err;          /* worst loss error seen */
    size_t n;                     /* rounds run */
} config_result;

/* Full batch or minibatch. */
typedef struct kind_result {
    size_t        rows_per_step;
    size_t        block;           /* StarPU rows per task */
    size_t        steps;           /* timed steps per round */
    size_t        calib_steps_run; /* StarPU calibration steps actually run */
    double        calib_ms;        /* the calibration session's wall time */
    double        expected_us[MAX_DEV]; /* dmda's model per task, per device */
    config_result cfg[NCONFIGS];
} kind_result;

/* One mix: everything the parent prints.  No pointers. */
typedef struct mix_result {
    uint32_t    magic, size;       /* RESULT_MAGIC, sizeof(mix_result) */
    int         mix;               /* MIX_PTHREAD or MIX_PAIR */
    size_t      ndev;              /* devices, in hetgrad's order */
    char        dev_name[MAX_DEV][NAME_MAX_];
    char        hg_kernel[MAX_DEV][48];
    char        sp_kernel[MAX_DEV][48];
    double      load_before[3], load_after[3];
    double      hg_setup_ms;       /* engine create + upload + calibrate */
    double      hg_idle_cores;     /* busy cores while the engine exists, idle */
    double      sp_idle_cores;     /* ... while a StarPU session exists, idle */
    size_t      rounds, warmup;
    bool        failed;            /* a check failed */
    kind_result kind[NKINDS];
} mix_result;

/* ---- one mix (the child) --------------------------------------------------------- */

/* A mix's working state. */
typedef struct mix_run {
    const opts     *o;
    mix_result      r;
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
    size_t          cursor[NKINDS][NCONFIGS]; /* minibatch: next window */
    char            symbol[NKINDS][96];       /* StarPU performance model names */
} mix_run;

/* Mean reference gradient and loss over rows [first, first + count). */
static void reference(mix_run *m, size_t first, size_t count, double *grad, double *loss)
{
    hg_error err;
    double ls = 0;
    if (hg_reference_loss_grad(&m->model, m->params, &m->data, first, count, NULL, &ls, grad,
                               &err) != HG_OK)
        die_hg(m->o, "hg_reference_loss_grad", &err);
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
        cli_log(&m->o->cmd, HG_LOG_ERROR, "CHECK FAILED: %s: rows [%zu, %zu): gradient rel "
                "err %.2e, loss rel err %.2e (tolerance %.0e)", what, first, first + count, e,
                el, TOL);
        m->r.failed = true;
    }
}

/* The next step's first row for configuration c of kind k. */
static size_t next_first(mix_run *m, int k, int c)
{
    size_t per = m->r.kind[k].rows_per_step;
    if (per == m->o->rows)
        return 0;
    size_t first = (m->cursor[k][c] % (m->o->rows / per)) * per;
    m->cursor[k][c]++;
    return first;
}

static void hg_round(mix_run *m, int k, int c)
{
    hg_error err;
    kind_result *kr = &m->r.kind[k];
    config_result *r = &kr->cfg[c];
    if (hg_engine_set_split(m->eng, c == C_HG_MODEL ? HG_SPLIT_MODEL : HG_SPLIT_DYNAMIC,
                            &err) != HG_OK)
        die_hg(m->o, "hg_engine_set_split", &err);
    double loss = 0;
    size_t first = 0, count = kr->rows_per_step;
    for (size_t s = 0; s < m->o->warmup; s++) {
        first = next_first(m, k, c);
        if (hg_engine_gradient(m->eng, m->params, first, count, m->grad, &loss, &err) != HG_OK)
            die_hg(m->o, config_name[c], &err);
    }
    double rows_dev[MAX_DEV] = {0};
    double c0 = cpu_ms(), t0 = bench_now_ms();
    for (size_t s = 0; s < kr->steps; s++) {
        first = next_first(m, k, c);
        double s0 = bench_now_ms();
        if (hg_engine_gradient(m->eng, m->params, first, count, m->grad, &loss, &err) != HG_OK)
            die_hg(m->o, config_name[c], &err);
        m->step_ms[s] = bench_now_ms() - s0;
        for (size_t d = 0; d < m->r.ndev; d++) {
            hg_device_step st;
            if (hg_engine_last_step(m->eng, d, &st) == HG_OK)
                rows_dev[d] += (double)st.rows;
        }
    }
    double ms = bench_now_ms() - t0;
    r->cores[r->n] = (cpu_ms() - c0) / ms;
    r->rows_per_s[r->n] = (double)count / (bench_median(m->step_ms, kr->steps) / 1e3);
    r->setup_ms[r->n] = 0;
    r->n++;
    for (size_t d = 0; d < m->r.ndev; d++)
        r->shares[d] = rows_dev[d] / (double)(count * kr->steps);
    check(m, r, config_name[c], first, count, m->grad, loss);
}

/* Start a StarPU session for kind k with a scheduler, and prefetch; exits 3 on failure. */
static sp_session *sp_open(mix_run *m, int k, const char *policy, int calibrate)
{
    sp_options so = {.policy = policy,
                     .calibrate = calibrate,
                     .model_symbol = m->symbol[k],
                     .x = m->x,
                     .labels = m->labels,
                     .rows = m->o->rows,
                     .features = FEATURES,
                     .classes = CLASSES,
                     .block_rows = m->r.kind[k].block,
                     .nopencl = (unsigned)m->r.ndev,
                     .async = m->o->sp_async,
                     .shape_device = m->shape_dev,
                     .shape = m->shape,
                     .nshapes = m->r.ndev};
    sp_session *s = NULL;
    char err[SP_ERR_MAX];
    if (sp_start(&so, &s, err) != 0 || sp_prefetch(s, err) != 0) {
        cli_log(&m->o->cmd, HG_LOG_ERROR, "StarPU (%s, %s): %s", policy, kind_name[k], err);
        sp_stop(s);
        exit(EXIT_CALL);
    }
    return s;
}

/* n StarPU steps; each one's wall time into step_ms[i] unless step_ms is NULL. */
static void sp_run_steps(mix_run *m, int k, sp_session *s, int c, size_t n, size_t *first,
                         double *loss, double *step_ms)
{
    char err[SP_ERR_MAX];
    for (size_t i = 0; i < n; i++) {
        *first = next_first(m, k, c);
        double s0 = bench_now_ms();
        if (sp_step(s, m->params, *first, m->r.kind[k].rows_per_step, m->grad, loss, err) != 0) {
            cli_log(&m->o->cmd, HG_LOG_ERROR, "%s step: %s", config_name[c], err);
            sp_stop(s);
            exit(EXIT_CALL);
        }
        if (step_ms)
            step_ms[i] = bench_now_ms() - s0;
    }
}

/* Device index (hetgrad's order) of StarPU worker i, by name; ndev if none. */
static size_t device_of_worker(const mix_run *m, const sp_session *s, unsigned i)
{
    const char *name = sp_worker_name(s, i);
    size_t d = 0;
    while (d < m->r.ndev && !(name && strncmp(name, m->r.dev_name[d], NAME_MAX_ - 1) == 0))
        d++;
    return d;
}

/* Every StarPU worker has a calibrated entry in dmda's model; fill expected_us. */
static bool model_calibrated(mix_run *m, int k, sp_session *s, bool record)
{
    bool all = true;
    for (unsigned i = 0; i < sp_worker_count(s); i++) {
        double us = sp_expected_us(s, i);
        size_t d = device_of_worker(m, s, i);
        if (record && d < MAX_DEV)
            m->r.kind[k].expected_us[d] = us;
        all &= isfinite(us) != 0;
    }
    return all;
}

/* A calibration session for dmda's performance model (STARPU_CALIBRATE=2). */
static void sp_calibrate(mix_run *m, int k)
{
    kind_result *kr = &m->r.kind[k];
    double t0 = bench_now_ms();
    sp_session *s = sp_open(m, k, "dmda", 2);
    size_t first = 0;
    double loss = 0;
    size_t steps = k == 0 ? m->o->calib_steps : m->o->mb_calib_steps;
    /* StarPU drops a history entry whose samples scatter by more than
       STARPU_HISTORY_MAX_ERROR (50%), as a loaded machine makes them: go on
       (up to 4 times as long) until every worker has a calibrated entry. */
    for (size_t extra = 0; extra <= 3; extra++) {
        sp_run_steps(m, k, s, C_SP_DMDA, steps, &first, &loss, NULL);
        kr->calib_steps_run += steps;
        if (model_calibrated(m, k, s, false))
            break;
    }
    check(m, NULL, "starpu-dmda (calibration)", first, kr->rows_per_step, m->grad, loss);
    for (unsigned i = 0; i < sp_worker_count(s); i++) {
        size_t d = device_of_worker(m, s, i);
        if (d >= m->r.ndev) {
            cli_log(&m->o->cmd, HG_LOG_ERROR, "StarPU's OpenCL worker '%s' is none of "
                    "hetgrad's devices", sp_worker_name(s, i));
            sp_stop(s);
            exit(EXIT_CALL);
        }
        snprintf(m->r.sp_kernel[d], sizeof m->r.sp_kernel[d], "%s", sp_worker_kernel(s, i));
    }
    double idle_wall = 0;
    if (k == 0)
        m->r.sp_idle_cores = idle_cores(IDLE_MS, &idle_wall);
    sp_stop(s); /* stores the model */
    kr->calib_ms = bench_now_ms() - t0 - idle_wall;
}

static void sp_round(mix_run *m, int k, int c)
{
    kind_result *kr = &m->r.kind[k];
    config_result *r = &kr->cfg[c];
    double t0 = bench_now_ms();
    sp_session *s = sp_open(m, k, c == C_SP_DMDA ? "dmda" : "eager", 0);
    double setup = bench_now_ms() - t0;
    size_t first = 0;
    double loss = 0;
    sp_run_steps(m, k, s, c, m->o->warmup, &first, &loss, NULL);
    uint64_t counts[SP_MAX_WORKERS];
    sp_take_task_counts(s, counts);
    double c0 = cpu_ms();
    t0 = bench_now_ms();
    sp_run_steps(m, k, s, c, kr->steps, &first, &loss, m->step_ms);
    double ms = bench_now_ms() - t0;
    r->cores[r->n] = (cpu_ms() - c0) / ms;
    sp_take_task_counts(s, counts);
    /* dmda scheduled the timed steps with a model calibrated on every worker */
    if (c == C_SP_DMDA && !model_calibrated(m, k, s, r->n == 0)) {
        cli_log(&m->o->cmd, HG_LOG_ERROR, "CHECK FAILED: dmda's performance model '%s' lacks "
                "a calibrated entry for a worker after %zu calibration steps (raise "
                "--%scalib-steps)", m->symbol[k], kr->calib_steps_run, k == 0 ? "" : "mb-");
        m->r.failed = true;
    }
    uint64_t total = 0;
    for (unsigned i = 0; i < sp_worker_count(s); i++)
        total += counts[i];
    for (size_t d = 0; d < m->r.ndev; d++)
        r->shares[d] = 0;
    for (unsigned i = 0; i < sp_worker_count(s); i++) {
        size_t d = device_of_worker(m, s, i);
        if (d < m->r.ndev && total)
            r->shares[d] = (double)counts[i] / (double)total;
    }
    sp_stop(s);
    check(m, r, config_name[c], first, kr->rows_per_step, m->grad, loss);
    r->rows_per_s[r->n] = (double)kr->rows_per_step / (bench_median(m->step_ms, kr->steps) / 1e3);
    r->setup_ms[r->n] = setup;
    r->n++;
}

/* hetgrad: engine on this mix's devices, data, calibration; note each device's kernel. */
static void hg_setup(mix_run *m)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true; /* pthread and basic are both the host's cores */
    cli_apply_log(&m->o->cmd, &dev);
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = &dev;
    /* calibrated in this run, under this run's conditions, as StarPU's dmda model is */
    eo.no_profile_cache = true;
    hg_error err;
    double t0 = bench_now_ms();
    if (hg_engine_create(&eo, &m->model, &m->eng, &err) != HG_OK)
        die_hg(m->o, "hg_engine_create", &err);
    if (hg_engine_set_data(m->eng, &m->data, &err) != HG_OK)
        die_hg(m->o, "hg_engine_set_data", &err);
    if (hg_engine_calibrate(m->eng, &err) != HG_OK)
        die_hg(m->o, "hg_engine_calibrate", &err);
    m->r.hg_setup_ms = bench_now_ms() - t0;
    m->r.ndev = hg_engine_device_count(m->eng);
    size_t want = m->r.mix == MIX_PAIR ? 2 : 1;
    if (m->r.ndev != want) {
        const char *pd = getenv("POCL_DEVICES");
        cli_log(&m->o->cmd, HG_LOG_ERROR, "mix %s: hetgrad found %zu device(s), expected %zu "
                "(POCL_DEVICES=%s)", mix_names[m->r.mix], m->r.ndev, want, pd ? pd : "(unset)");
        exit(EXIT_CALL);
    }
    for (size_t d = 0; d < m->r.ndev; d++) {
        const hg_device_info *info = hg_engine_device(m->eng, d);
        hg_device_profile prof;
        snprintf(m->r.dev_name[d], sizeof m->r.dev_name[d], "%s", info->name);
        if (hg_engine_device_profile(m->eng, d, &prof) != HG_OK) {
            cli_log(&m->o->cmd, HG_LOG_ERROR, "no profile for device %zu", d);
            exit(EXIT_CALL);
        }
        snprintf(m->r.hg_kernel[d], sizeof m->r.hg_kernel[d], "%s", prof.kernel);
        m->shape_dev[d] = info->name;
        unsigned a, b, c;
        if (sscanf(prof.kernel, "fused r%u/b%u/k%u", &a, &b, &c) == 3) {
            m->shape[d] = (sp_shape){a, b, c};
        } else {
            m->shape[d] = (sp_shape){8, 8, 2};
            cli_log(&m->o->cmd, HG_LOG_WARN, "hetgrad computes with '%s' on %s; StarPU runs "
                    "the fused kernel r8/b8/k2 there, so the kernels differ", prof.kernel,
                    info->name);
        }
    }
}

static void kind_init(mix_run *m, int k, size_t rows_per_step, size_t block, size_t steps)
{
    kind_result *kr = &m->r.kind[k];
    kr->rows_per_step = rows_per_step;
    kr->block = block;
    kr->steps = steps;
    snprintf(m->symbol[k], sizeof m->symbol[k], "hetgrad_bench_softmax_%dx%d_%zurows_%s",
             FEATURES, CLASSES, block, mix_names[m->r.mix]);
    for (size_t d = 0; d < MAX_DEV; d++)
        kr->expected_us[d] = NAN;
}

/* Run one mix in this process and write its mix_result to stdout (the parent's pipe). */
static int run_mix(const opts *o)
{
    mix_run *m = bench_xcalloc(PROG, 1, sizeof *m);
    m->o = o;
    m->r.magic = RESULT_MAGIC;
    m->r.size = (uint32_t)sizeof m->r;
    m->r.mix = o->mix;
    m->r.rounds = o->rounds;
    m->r.warmup = o->warmup;
    const char *mix = mix_names[o->mix];
    load_average(m->r.load_before);
    m->model = (hg_model_desc){.kind = HG_MODEL_SOFTMAX, .inputs = FEATURES, .outputs = CLASSES};
    m->P = hg_model_param_count(&m->model);
    m->x = bench_xcalloc(PROG, o->rows * FEATURES, sizeof *m->x);
    m->labels = bench_xcalloc(PROG, o->rows, sizeof *m->labels);
    m->params = bench_xcalloc(PROG, m->P, sizeof *m->params);
    m->grad = bench_xcalloc(PROG, m->P, sizeof *m->grad);
    m->ref_full = bench_xcalloc(PROG, m->P, sizeof *m->ref_full);
    m->ref_win = bench_xcalloc(PROG, m->P, sizeof *m->ref_win);
    m->step_ms = bench_xcalloc(PROG, o->steps > o->mb_steps ? o->steps : o->mb_steps, sizeof *m->step_ms);
    hg_bench_synth_data(o->rows, FEATURES, CLASSES, CLASSES, m->x, NULL, m->labels);
    hg_bench_synth_params((unsigned)HG_MODEL_SOFTMAX, m->P, m->params);
    m->data = (hg_dataset_desc){.rows = o->rows, .inputs = FEATURES, .x = m->x,
                                .labels = m->labels};

    cli_note(&o->cmd, "mix %s: reference gradient over %zu rows (double, host)", mix, o->rows);
    reference(m, 0, o->rows, m->ref_full, &m->ref_full_loss);
    cli_note(&o->cmd, "mix %s: hetgrad engine: devices, data, calibration", mix);
    hg_setup(m);
    double idle_wall;
    m->r.hg_idle_cores = idle_cores(IDLE_MS, &idle_wall);
    for (size_t d = 0; d < m->r.ndev; d++) {
        size_t len = strlen(hg_engine_device(m->eng, d)->name);
        if (len >= SP_DEVICE_NAME_LIMIT) {
            cli_log(&o->cmd, HG_LOG_ERROR, "device %zu's name has %zu bytes: StarPU %d.%d "
                    "aborts on OpenCL device names of %d bytes or more, so it cannot run "
                    "here", d, len, STARPU_MAJOR_VERSION, STARPU_MINOR_VERSION,
                    SP_DEVICE_NAME_LIMIT);
            exit(EXIT_CALL);
        }
    }

    kind_init(m, 0, o->rows, o->block, o->steps);
    /* a minibatch is one StarPU task per device unless --mb-block says otherwise */
    size_t mb_block = o->mb_block ? o->mb_block : o->batch / m->r.ndev;
    if (mb_block == 0 || o->batch % mb_block) {
        cli_log(&o->cmd, HG_LOG_ERROR, "--batch %zu cannot be cut into %zu equal tasks: give "
                "--mb-block", o->batch, m->r.ndev);
        exit(EXIT_USAGE);
    }
    kind_init(m, 1, o->batch, mb_block, o->mb_steps);
    for (int k = 0; k < NKINDS; k++) {
        const kind_result *kr = &m->r.kind[k];
        cli_note(&o->cmd, "mix %s: calibrating StarPU's dmda model for %s steps (%zu task(s) "
                 "of %zu rows a step)", mix, kind_name[k], kr->rows_per_step / kr->block,
                 kr->block);
        sp_calibrate(m, k);
    }
    for (size_t r = 0; r < o->rounds; r++) {
        cli_note(&o->cmd, "mix %s: round %zu/%zu", mix, r + 1, o->rounds);
        for (int k = 0; k < NKINDS; k++) {
            for (int i = 0; i < NCONFIGS; i++) {
                int c = (int)(((size_t)i + r) % NCONFIGS);
                if (c == C_HG_MODEL || c == C_HG_DYNAMIC)
                    hg_round(m, k, c);
                else
                    sp_round(m, k, c);
            }
        }
    }
    load_average(m->r.load_after);
    int rc = m->r.failed ? EXIT_CHECK : 0;
    if (fwrite(&m->r, sizeof m->r, 1, stdout) != 1 || fflush(stdout) != 0) {
        cli_log(&o->cmd, HG_LOG_ERROR, "cannot hand the results to the parent: %s",
                strerror(errno));
        rc = EXIT_CALL;
    }
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

/* ---- output (the parent) ------------------------------------------------------------ */

/* Per-round ratio a / b of two configurations: median, min, max. */
static void paired_ratio(const config_result *a, const config_result *b, double *med,
                         double *lo, double *hi)
{
    double v[MAX_ROUNDS];
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++)
        v[i] = a->rows_per_s[i] / b->rows_per_s[i];
    summarise(v, n, med, lo, hi);
}

static const char *mix_pocl_devices(int mix)
{
    return mix == MIX_PAIR ? "pthread basic" : "pthread";
}

static void print_text_mix(const mix_result *m)
{
    printf("== mix %s: POCL_DEVICES=\"%s\"%s ==\n", mix_names[m->mix], mix_pocl_devices(m->mix),
           m->mix == MIX_PAIR ? ", POCL_MAX_PTHREAD_COUNT=1" : "");
    printf("load average before %.2f %.2f %.2f, after %.2f %.2f %.2f (1, 5, 15 min)\n",
           m->load_before[0], m->load_before[1], m->load_before[2], m->load_after[0],
           m->load_after[1], m->load_after[2]);
    for (size_t d = 0; d < m->ndev; d++)
        printf("device [%zu] %s: hetgrad kernel %s; StarPU worker kernel %s\n", d,
               m->dev_name[d], m->hg_kernel[d], m->sp_kernel[d]);
    printf("hetgrad set-up (engine, upload, calibration) %.0f ms\n", m->hg_setup_ms);
    printf("busy cores while idle (%.0f ms, nothing submitted): hetgrad engine %.2f, StarPU "
           "session %.2f\n", IDLE_MS, m->hg_idle_cores, m->sp_idle_cores);
    for (int k = 0; k < NKINDS; k++) {
        const kind_result *kr = &m->kind[k];
        printf("\n%s: %zu rows per step; StarPU %zu task(s) of %zu rows per step; %zu rounds "
               "x %zu timed steps after %zu warm-up steps\n", kind_name[k], kr->rows_per_step,
               kr->rows_per_step / kr->block, kr->block, m->rounds, kr->steps, m->warmup);
        printf("StarPU dmda calibration: %zu steps, %.0f ms; model per task:",
               kr->calib_steps_run, kr->calib_ms);
        for (size_t d = 0; d < m->ndev; d++)
            printf(" [%zu] %.0f us", d, kr->expected_us[d]);
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

static void json_config(json_out *j, const kind_result *kr, int c, size_t ndev)
{
    const config_result *r = &kr->cfg[c];
    double med, lo, hi, smed, slo, shi, cmed, clo, chi;
    summarise(r->rows_per_s, r->n, &med, &lo, &hi);
    summarise(r->setup_ms, r->n, &smed, &slo, &shi);
    summarise(r->cores, r->n, &cmed, &clo, &chi);
    json_begin_object(j);
    json_key(j, "name"); json_string(j, config_name[c]);
    json_key(j, "rows_per_s_median"); json_double(j, med);
    json_key(j, "rows_per_s_min"); json_double(j, lo);
    json_key(j, "rows_per_s_max"); json_double(j, hi);
    json_key(j, "rows_per_s_rounds");
    json_begin_array(j);
    for (size_t i = 0; i < r->n && i < MAX_ROUNDS; i++)
        json_double(j, r->rows_per_s[i]);
    json_end_array(j);
    json_key(j, "ms_per_step_median"); json_double(j, (double)kr->rows_per_step / med * 1e3);
    json_key(j, "cores_busy_median"); json_double(j, cmed);
    json_key(j, "setup_ms_median");
    json_double(j, c == C_SP_DMDA || c == C_SP_EAGER ? smed : NAN);
    json_key(j, "shares");
    json_begin_array(j);
    for (size_t d = 0; d < ndev; d++)
        json_double(j, r->shares[d]);
    json_end_array(j);
    json_key(j, "grad_rel_err_max"); json_double(j, r->max_err);
    json_key(j, "loss_rel_err_max"); json_double(j, r->max_loss_err);
    json_end_object(j);
}

static void json_mix(json_out *j, const mix_result *m)
{
    json_begin_object(j);
    json_key(j, "mix"); json_string(j, mix_names[m->mix]);
    json_key(j, "pocl_devices"); json_string(j, mix_pocl_devices(m->mix));
    json_key(j, "one_core_each"); json_bool(j, m->mix == MIX_PAIR);
    json_key(j, "load_before"); json_triple(j, m->load_before);
    json_key(j, "load_after"); json_triple(j, m->load_after);
    json_key(j, "hetgrad_setup_ms"); json_double(j, m->hg_setup_ms);
    json_key(j, "hetgrad_idle_cores"); json_double(j, m->hg_idle_cores);
    json_key(j, "starpu_idle_cores"); json_double(j, m->sp_idle_cores);
    json_key(j, "ok"); json_bool(j, !m->failed);
    json_key(j, "devices");
    json_begin_array(j);
    for (size_t d = 0; d < m->ndev; d++) {
        json_begin_object(j);
        json_key(j, "name"); json_string(j, m->dev_name[d]);
        json_key(j, "hetgrad_kernel"); json_string(j, m->hg_kernel[d]);
        json_key(j, "starpu_kernel"); json_string(j, m->sp_kernel[d]);
        json_end_object(j);
    }
    json_end_array(j);
    json_key(j, "kinds");
    json_begin_array(j);
    for (int k = 0; k < NKINDS; k++) {
        const kind_result *kr = &m->kind[k];
        json_begin_object(j);
        json_key(j, "name"); json_string(j, kind_name[k]);
        json_key(j, "rows_per_step"); json_u64(j, kr->rows_per_step);
        json_key(j, "starpu_task_rows"); json_u64(j, kr->block);
        json_key(j, "steps"); json_u64(j, kr->steps);
        json_key(j, "starpu_calibration_steps"); json_u64(j, kr->calib_steps_run);
        json_key(j, "starpu_calibration_ms"); json_double(j, kr->calib_ms);
        json_key(j, "starpu_model_us");
        json_begin_array(j);
        for (size_t d = 0; d < m->ndev; d++)
            json_double(j, kr->expected_us[d]);
        json_end_array(j);
        json_key(j, "configs");
        json_begin_array(j);
        for (int c = 0; c < NCONFIGS; c++)
            json_config(j, kr, c, m->ndev);
        json_end_array(j);
        json_key(j, "ratios");
        json_begin_array(j);
        for (int a = C_HG_MODEL; a <= C_HG_DYNAMIC; a++)
            for (int b = C_SP_DMDA; b <= C_SP_EAGER; b++) {
                double med, lo, hi;
                paired_ratio(&kr->cfg[a], &kr->cfg[b], &med, &lo, &hi);
                json_begin_object(j);
                json_key(j, "hetgrad"); json_string(j, config_name[a]);
                json_key(j, "starpu"); json_string(j, config_name[b]);
                json_key(j, "median"); json_double(j, med);
                json_key(j, "min"); json_double(j, lo);
                json_key(j, "max"); json_double(j, hi);
                json_end_object(j);
            }
        json_end_array(j);
        json_end_object(j);
    }
    json_end_array(j);
    json_end_object(j);
}

/* The JSON document (docs/json.md, docs/schemas/hetgrad-bench-starpu-1.schema.json);
   false when it could not be written in full. */
static bool print_json(const opts *o, const mix_result *const *mixes, size_t n, bool ok)
{
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-bench-starpu/1");
    json_key(&j, "hetgrad"); json_string(&j, hg_version_string());
    char sv[32];
    snprintf(sv, sizeof sv, "%d.%d.%d", STARPU_MAJOR_VERSION, STARPU_MINOR_VERSION,
             STARPU_RELEASE_VERSION);
    json_key(&j, "starpu"); json_string(&j, sv);
    json_key(&j, "features"); json_u64(&j, FEATURES);
    json_key(&j, "classes"); json_u64(&j, CLASSES);
    json_key(&j, "rows"); json_u64(&j, o->rows);
    json_key(&j, "batch"); json_u64(&j, o->batch);
    json_key(&j, "rounds"); json_u64(&j, o->rounds);
    json_key(&j, "warmup_steps"); json_u64(&j, o->warmup);
    json_key(&j, "starpu_async"); json_bool(&j, o->sp_async);
    json_key(&j, "ok"); json_bool(&j, ok);
    json_key(&j, "mixes");
    json_begin_array(&j);
    for (size_t i = 0; i < n; i++)
        if (mixes[i])
            json_mix(&j, mixes[i]);
    json_end_array(&j);
    json_end_object(&j);
    return json_finish(&j);
}

/* ---- the parent: one child process per mix ---------------------------------------- */

/* name=value, malloc'ed. */
static char *env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *e = bench_xcalloc(PROG, n, 1);
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
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return false;
    struct stat st;
    if (stat(buf, &st) != 0)
        return false;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

/*
 * The child's environment for a mix: this process's, without the variables
 * we set, then ours.  Entries from *inherited on are malloc'ed (the caller
 * frees them and the array).
 */
static char **child_env(const opts *o, int mix, const char *home, size_t *inherited)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = bench_xcalloc(PROG, n + 16, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_controlled(environ[i]) && strncmp(environ[i], "STARPU_SILENT=", 14) != 0)
            env[k++] = environ[i];
    *inherited = k;
    env[k++] = env_entry("POCL_DEVICES", mix_pocl_devices(mix));
    if (mix == MIX_PAIR) {
        env[k++] = env_entry("POCL_MAX_PTHREAD_COUNT", "1");
        env[k++] = env_entry("POCL_CPU_MAX_CU_COUNT", "1"); /* POCL >= 4.0's name */
    }
    env[k++] = env_entry("OCL_ICD_VENDORS", o->pocl);
    env[k++] = env_entry("STARPU_OPENCL_ON_CPUS", "1");
    env[k++] = env_entry("STARPU_HOME", home);
    /* StarPU's own messages follow -q as ours do */
    const char *silent = getenv("STARPU_SILENT");
    if (o->cmd.level <= HG_LOG_ERROR)
        env[k++] = env_entry("STARPU_SILENT", "1");
    else if (silent)
        env[k++] = env_entry("STARPU_SILENT", silent);
    env[k] = NULL;
    return env;
}

/*
 * Run one mix in a child process (this program again, with --child and the
 * mix's environment); its result into *out.  Returns the child's exit status
 * (3 when it could not run, or sent no complete result).
 */
static int run_child(const opts *o, int argc, char **argv, int mix, const char *home,
                     mix_result *out)
{
    char **args = bench_xcalloc(PROG, (size_t)argc + 4, sizeof *args);
    int n = 0;
    args[n++] = argv[0];
    for (int a = 1; a < argc; a++) {
        /* the parent's --mix is replaced by the child's own */
        if (!strcmp(argv[a], "--mix")) {
            a++;
            continue;
        }
        if (!strncmp(argv[a], "--mix=", 6))
            continue;
        args[n++] = argv[a];
    }
    args[n++] = "--mix";
    args[n++] = (char *)mix_names[mix];
    args[n++] = "--child";
    args[n] = NULL;
    size_t inherited = 0;
    char **env = child_env(o, mix, home, &inherited);

    int status = EXIT_CALL;
    int fds[2];
    if (pipe(fds) != 0) {
        cli_log(&o->cmd, HG_LOG_ERROR, "pipe: %s", strerror(errno));
        goto out_free;
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
    if (rc != 0) {
        cli_log(&o->cmd, HG_LOG_ERROR, "cannot start the process for mix %s: %s",
                mix_names[mix], strerror(rc));
        close(fds[0]);
        goto out_free;
    }
    /* Read to the end: exactly one record is a result; anything else is not. */
    size_t got = 0;
    char *dst = (char *)out, spill[512];
    for (;;) {
        bool room = got < sizeof *out;
        ssize_t r = read(fds[0], room ? dst + got : spill, room ? sizeof *out - got : sizeof spill);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(ws)) {
        status = WEXITSTATUS(ws);
    } else {
        cli_log(&o->cmd, HG_LOG_ERROR, "the process for mix %s died (signal %d)",
                mix_names[mix], WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
        status = EXIT_CALL;
    }
    if ((status == 0 || status == EXIT_CHECK) &&
        (got != sizeof *out || out->magic != RESULT_MAGIC || out->size != sizeof *out ||
         out->mix != mix || out->ndev == 0 || out->ndev > MAX_DEV)) {
        cli_log(&o->cmd, HG_LOG_ERROR, "mix %s: no complete result from its process (%zu of "
                "%zu bytes)", mix_names[mix], got, sizeof *out);
        status = EXIT_CALL;
    }
out_free:
    for (size_t i = inherited; env[i]; i++)
        free(env[i]);
    free(env);
    free(args);
    return status;
}

/* nftw callback: remove one entry of a temporary StarPU home. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/*
 * The StarPU home base: --starpu-home, else hetgrad's cache directory
 * ($HETGRAD_CACHE_DIR, $XDG_CACHE_HOME/hetgrad or ~/.cache/hetgrad) + "/starpu".
 * When that cannot be made: a warning, and a new temporary directory that
 * *temp says to remove at the end.  NULL (message given) when neither works.
 */
static const char *starpu_home(const opts *o, char *buf, size_t n, bool *temp)
{
    *temp = false;
    const char *v;
    if (o->starpu_home)
        snprintf(buf, n, "%s", o->starpu_home);
    else if ((v = getenv("HETGRAD_CACHE_DIR")) && *v)
        snprintf(buf, n, "%s/starpu", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/')
        snprintf(buf, n, "%s/hetgrad/starpu", v);
    else if ((v = getenv("HOME")) && *v)
        snprintf(buf, n, "%s/.cache/hetgrad/starpu", v);
    else
        buf[0] = '\0';
    if (buf[0] && make_dirs(buf))
        return buf;
    cli_log(&o->cmd, HG_LOG_WARN, "cannot use '%s' for StarPU's files (%s): using a "
            "temporary directory, so StarPU calibrates its bus again",
            buf[0] ? buf : "(no cache directory)", buf[0] ? strerror(errno) : "unset");
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/hetgrad-starpu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(buf)) {
        cli_log(&o->cmd, HG_LOG_ERROR, "mkdtemp %s: %s", buf, strerror(errno));
        return NULL;
    }
    *temp = true;
    return buf;
}

static const cli_exit starpu_exits[] = {
    {0, "success"},
    {1, "a check failed (gradient, loss, dmda's model) or the JSON was not written"},
    {2, "usage error"},
    {3, "a hetgrad or StarPU call failed, or a mix's process did not run"},
};

static const cli_env starpu_env[] = {
    {"HETGRAD_CACHE_DIR=DIR", "hetgrad's caches; StarPU's files go in\n"
                              "DIR/starpu/MIX unless --starpu-home is given"},
    {"STARPU_*", "passed to StarPU, but for those set per mix\n"
                 "(STARPU_OPENCL_ON_CPUS, STARPU_HOME, ...)"},
};

int main(int argc, char **argv)
{
    opts o = {.mix = MIX_ALL, .pocl = HG_BENCH_POCL_LIBRARY};
    const cli_option options[] = {
        {.name = "mix", .kind = CLI_CHOICE, .target = &o.mix, .choices = mix_names,
         .help = "device mix: pthread (POCL pthread alone), pair\n(pthread + basic, one core "
                 "each) or all (default)"},
        {.name = "rows", .kind = CLI_SIZE, .target = &o.rows, .metavar = "N",
         .range = "[1,4194304]", .help = "rows of the data set (default 65536; --quick 4096)"},
        {.name = "batch", .kind = CLI_SIZE, .target = &o.batch, .metavar = "B",
         .range = "[1,4194304]", .help = "rows per minibatch step (default 128)"},
        {.name = "block", .kind = CLI_SIZE, .target = &o.block, .metavar = "R",
         .range = "[1,4194304]",
         .help = "StarPU rows per task in full-batch steps\n(default 2048; --quick 512)"},
        {.name = "mb-block", .kind = CLI_SIZE, .target = &o.mb_block, .metavar = "R",
         .range = "[1,4194304]",
         .help = "StarPU rows per task in minibatch steps\n(default: the batch / devices)"},
        {.name = "rounds", .kind = CLI_SIZE, .target = &o.rounds, .metavar = "K",
         .range = "[1,64]", .help = "rounds, each configuration once a round\n(default 5; "
                                    "--quick 1)"},
        {.name = "steps", .kind = CLI_SIZE, .target = &o.steps, .metavar = "S",
         .range = "[1,100000]", .help = "timed full-batch steps a round (default 10;\n--quick 3)"},
        {.name = "mb-steps", .kind = CLI_SIZE, .target = &o.mb_steps, .metavar = "S",
         .range = "[1,1000000]",
         .help = "timed minibatch steps a round (default 200;\n--quick 10)"},
        {.name = "warmup", .kind = CLI_SIZE, .target = &o.warmup, .metavar = "W",
         .range = "[1,100000]", .help = "warm-up steps before every timed set (default 5;\n"
                                        "--quick 2)"},
        {.name = "calib-steps", .kind = CLI_SIZE, .target = &o.calib_steps, .metavar = "C",
         .range = "[1,100000]", .help = "full-batch steps that calibrate dmda's model\n"
                                        "(default 10; --quick 5)"},
        {.name = "mb-calib-steps", .kind = CLI_SIZE, .target = &o.mb_calib_steps,
         .metavar = "C", .range = "[1,1000000]",
         .help = "minibatch steps that calibrate dmda's model\n(default 50; --quick 20)"},
        {.name = "starpu-home", .kind = CLI_STRING, .target = &o.starpu_home,
         .metavar = "DIR", .help = "StarPU's files (bus and performance models), in\n"
                                   "DIR/MIX (default: hetgrad's cache dir/starpu)"},
        {.name = "pocl", .kind = CLI_STRING, .target = &o.pocl, .metavar = "LIB",
         .help = "the POCL library both systems load (OCL_ICD_VENDORS;\ndefault: the one "
                 "found at build time)"},
        {.name = "starpu-async", .kind = CLI_FLAG, .target = &o.sp_async,
         .help = "asynchronous StarPU codelets (STARPU_OPENCL_ASYNC)"},
        {.name = "quick", .kind = CLI_FLAG, .target = &o.quick,
         .help = "a smoke run: small sizes, one round (checks only)"},
        {.name = "json", .kind = CLI_FLAG, .target = &o.json, .help = "JSON on stdout"},
        {.name = "child", .kind = CLI_FLAG, .target = &o.child,
         .help = "internal: run one --mix in this process and send\nits results on stdout "
                 "(the parent passes it)"},
    };
    const cli_spec spec = {
        .prog = PROG,
        .synopsis = "[options]",
        .summary = "hetgrad and StarPU side by side on the same POCL devices, data and kernel:\n"
                   "the softmax gradient over full batches and 128-row minibatches, with\n"
                   "every gradient checked (docs/comparison.md).",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .env = starpu_env,
        .nenv = sizeof starpu_env / sizeof starpu_env[0],
        .exits = starpu_exits,
        .nexits = sizeof starpu_exits / sizeof starpu_exits[0],
    };
    cli_init(&o.cmd, &spec);
    int rc = cli_parse(&o.cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    /* --quick: the CI smoke run (checks only); explicit values still win */
    if (!o.rows)
        o.rows = o.quick ? 4096 : 65536;
    if (!o.batch)
        o.batch = 128;
    if (!o.block)
        o.block = o.quick ? 512 : 2048;
    if (!o.rounds)
        o.rounds = o.quick ? 1 : 5;
    if (!o.steps)
        o.steps = o.quick ? 3 : 10;
    if (!o.mb_steps)
        o.mb_steps = o.quick ? 10 : 200;
    if (!o.warmup)
        o.warmup = o.quick ? 2 : 5;
    if (!o.calib_steps)
        o.calib_steps = o.quick ? 5 : 10;
    if (!o.mb_calib_steps)
        o.mb_calib_steps = o.quick ? 20 : 50;
    if (o.rows % o.block || o.rows % o.batch || (o.mb_block && o.batch % o.mb_block))
        return cli_usage_error(&o.cmd, "--block and --batch must divide --rows (%zu), and "
                               "--mb-block must divide --batch: StarPU's tasks are whole "
                               "blocks", o.rows);
    if (o.child) {
        if (o.mix == MIX_ALL)
            return cli_usage_error(&o.cmd, "--child needs --mix pthread or --mix pair");
        return run_mix(&o);
    }

    char home_buf[4096];
    bool temp_home = false;
    const char *home = starpu_home(&o, home_buf, sizeof home_buf, &temp_home);
    if (!home)
        return EXIT_CALL;
    int order[NMIXES], nmix = 0;
    if (o.mix == MIX_ALL || o.mix == MIX_PTHREAD)
        order[nmix++] = MIX_PTHREAD;
    if (o.mix == MIX_ALL || o.mix == MIX_PAIR)
        order[nmix++] = MIX_PAIR;

    mix_result *res = bench_xcalloc(PROG, NMIXES, sizeof *res);
    const mix_result *done[NMIXES] = {NULL};
    int worst = 0;
    for (int i = 0; i < nmix; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", home, mix_names[order[i]]);
        int st = EXIT_CALL;
        if (!make_dirs(dir))
            cli_log(&o.cmd, HG_LOG_ERROR, "cannot create the StarPU home %s: %s", dir,
                    strerror(errno));
        else
            st = run_child(&o, argc, argv, order[i], dir, &res[i]);
        if (st == 0 || st == EXIT_CHECK)
            done[i] = &res[i];
        if (st != 0)
            cli_log(&o.cmd, HG_LOG_ERROR, "mix %s: exit status %d", mix_names[order[i]], st);
        worst = st > worst ? st : worst;
    }
    if (temp_home)
        nftw(home, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

    if (o.json) {
        if (!print_json(&o, done, (size_t)nmix, worst == 0) && worst == 0) {
            cli_log(&o.cmd, HG_LOG_ERROR, "the JSON could not be written in full");
            worst = EXIT_CHECK;
        }
    } else {
        printf("bench_starpu: hetgrad %s and StarPU %d.%d.%d side by side: softmax regression "
               "%d features x %d classes, %zu rows; full-batch steps and %zu-row "
               "minibatches\n", hg_version_string(), STARPU_MAJOR_VERSION,
               STARPU_MINOR_VERSION, STARPU_RELEASE_VERSION, FEATURES, CLASSES, o.rows,
               o.batch);
        printf("both run hetgrad's fused kernel on the same POCL devices (%s); StarPU "
               "codelets %s\n", o.pocl, o.sp_async ? "asynchronous" : "synchronous");
        printf("rows/s: median over rounds of a round's rows per step / its median step wall "
               "time; min, max: over\nrounds; cores: process CPU time / wall time over the "
               "timed steps (median); ratios: per round,\nmedian [min, max]\n\n");
        for (int i = 0; i < nmix; i++)
            if (done[i])
                print_text_mix(done[i]);
        if (fflush(stdout) != 0 && worst == 0)
            worst = EXIT_CHECK;
    }
    free(res);
    return worst;
}
