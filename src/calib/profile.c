/* SPDX-License-Identifier: MIT */
/*
 * profile.c - calibrate each device into an affine cost model t(n) = a + b n
 * on the real gradient kernels, cache the models on disk, and hand them to
 * the scheduler (sched/sched.h), which plans the steps on them (statically,
 * or rebalanced after every step: hg_engine_set_split).
 *
 * Calibration runs each device alone (one at a time, so devices sharing the
 * host's cores do not disturb each other's figures) on rows it holds, at two
 * batch sizes: a small one, and one sized to take about 100 ms from the small
 * one's timing (so Oclgrind is measured on tens of rows and a GPU on
 * thousands).  Each size gets one warm-up and up to five timed runs (three
 * when they agree within 5%); hg__cost_fit() rejects outliers per size and
 * fits the medians.  The times are host wall
 * times of the device's whole part of a step (parameter upload, kernels,
 * read-back): what a step will cost.
 *
 * Before that, when more than one kernel could serve the device (engine
 * option HG_GEMM_AUTO or OWN), every candidate is built, checked against the
 * host reference on the first rows the device holds, and timed in a race
 * that drops the clearly slower ones after each round; the fastest correct
 * one is kept, and cached with the cost model.  A candidate that
 * fails to build or computes a wrong gradient is excluded, with the reason
 * in the device's kernel note.
 *
 * Nothing loaded from a cache is trusted to compute the right thing: every
 * kernel the engine applies gets the same gradient check on its first use in
 * the process, before it computes rows for anything else (a calibration run
 * here; hg__calibrate_pending for a kernel a cached profile names, before
 * fission's trial or joint calibration runs it or, for the devices that get
 * rows, at the end of calibration; hg__verify_kernels before a step's rows;
 * the duplicates' screen, one timed run of a view just opened, excepted:
 * duplicates.c).  A device that no
 * plan gives rows is not checked: on a warm start, Oclgrind beside POCL costs
 * nothing (its check was 0.13 s of 0.35).  A kernel whose cached programs
 * compute a wrong gradient is rebuilt from source, replacing the entries; its
 * device's cached profile is then not reused but measured again, with every
 * candidate built from source.  A cached profile whose kernel choice is not
 * one of the device's candidates, cannot be built or is wrong even from source
 * is likewise measured again and rewritten: the device keeps working, on its
 * current kernels until another is chosen.
 *
 * A profile's cache key holds, besides the device's identity and the
 * workload, what else changes the device's speed (profile_key.c); a profile
 * read from the cache is checked against the first steps, and measured again
 * when it is off (profile_check.c, through hg__profile_remeasure).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "engine_internal.h"
#include "hostcache.h"
#include "calib_rules.h"
#include "path_ops.h"
#include "profile_key.h"

#define REPEATS 5
#define BATCH_REPEATS 11 /* runs of each size when fitted at the batch (measure) */
#define MAX_RACE_REPS 32 /* at least hg__race_plan's per */
#define TARGET_MS 100.0
#define WARM_MS 150.0    /* runs before the cost model of a device no race just ran on */
#define WARM_RUN_MS 5.0  /* ... each about this long */

/* The backend by name: cache keys must not change when the enum is renumbered. */
static const char *gemm_name(hg_gemm_backend g)
{
    switch (g) {
    case HG_GEMM_AUTO:    return "auto";
    case HG_GEMM_CLBLAST: return "clblast";
    case HG_GEMM_NAIVE:   return "naive";
    case HG_GEMM_OWN:     return "own";
    }
    return "unknown";
}

/* Workload signature: what the timings depend on besides the device. */
static char *signature(const hg_engine *eng)
{
    const hg_model_desc *m = &eng->model;
    char hidden[HG_MAX_HIDDEN * 12 + 1] = "";
    size_t k = 0;
    for (size_t i = 0; m->kind == HG_MODEL_MLP && i < m->nhidden; i++)
        k += (size_t)snprintf(hidden + k, sizeof hidden - k, "%s%zu", i ? "," : "", m->hidden[i]);
    unsigned long long src = m->kind == HG_MODEL_CUSTOM
                                 ? (unsigned long long)hg__fnv1a(HG__FNV_INIT, m->custom_source,
                                                                 strlen(m->custom_source))
                                 : 0ull;
    /* hetgrad's own kernel sources: a profile names kernels built from them */
    uint64_t kernels = HG__FNV_INIT;
    for (size_t i = 0; i < hg__kernel_count(); i++) {
        size_t len = 0;
        const char *name = hg__kernel_name(i), *text = hg__kernel_source(name, &len);
        kernels = hg__fnv1a(kernels, name, strlen(name) + 1);
        kernels = hg__fnv1a(kernels, text ? text : "", text ? len : 0);
    }
    /* the batch size the kernels were raced at; absent when unknown, so that
       such profiles keep the keys they had before the option existed */
    char batch[48] = "";
    if (eng->batch_rows) /* fit=step: the cost model fitted at the batch (measure) */
        snprintf(batch, sizeof batch, ";batch=%zu;fit=step", eng->batch_rows);
    return hg__asprintf("model=%d;in=%zu;out=%zu;hidden=%s;gemm=%s;det=%zu;src=%016llx;"
                        "chunk=%zu;kernels=%016llx;sparse=%zu;v=4%s", (int)m->kind, m->inputs,
                        m->outputs, hidden, gemm_name(eng->gemm), eng->block_rows, src,
                        eng->dev[0].chunk_rows, (unsigned long long)kernels,
                        eng->sparse ? eng->sparse_nnz : 0, batch);
}

/* Small non-zero parameters (malloc'ed; NULL when out of memory): realistic work
   without overflow, for calibration and the gradient checks. */
static float *check_params(const hg_engine *eng)
{
    float *params = calloc(eng->nparams ? eng->nparams : 1, sizeof *params);
    for (size_t k = 0; params && k < eng->nparams; k++)
        params[k] = (float)((double)((k * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.01f;
    return params;
}

/*
 * Time device i on n rows of its window: one warm-up, then up to repeats
 * runs, appended to rows[] / ms[] at *ns.  settle: stop early once the runs
 * of this call agree (hg__timings_settled: at least 3 within 5%).
 */
static hg_status time_rows(hg_engine *eng, size_t i, size_t n, int repeats, bool settle,
                           const float *params, size_t *rows, double *ms, size_t *ns,
                           hg_error *err)
{
    hg__device *d = &eng->dev[i];
    hg__range piece = {d->win.lo, n};
    hg__dev_plan p = {.pieces = &piece, .npieces = 1, .rows = n};
    size_t first = *ns;
    for (int r = 0; r <= repeats; r++) {
        hg_status st = hg__device_run(eng, d, i, &p, params, false, err);
        if (st != HG_OK)
            return st;
        if (r == 0)
            continue; /* warm-up */
        rows[*ns] = n;
        ms[*ns] = d->stats.host_ms;
        (*ns)++;
        if (settle && hg__timings_settled(ms + first, *ns - first))
            break;
    }
    return HG_OK;
}

static size_t clamp_rows(double n, size_t lo, size_t hi)
{
    if (!(n >= (double)lo))
        return lo;
    if (n >= (double)hi)
        return hi;
    return (size_t)n;
}

/*
 * Device i on n1 and n2 rows in turn, reps pairs after one warm-up pair,
 * appended to rows[] / ms[] at *ns: what drifts while they run (a runtime's
 * threads waking up or going to sleep) hits both sizes alike.
 */
static hg_status time_pairs(hg_engine *eng, size_t i, size_t n1, size_t n2, int reps,
                            const float *params, size_t *rows, double *ms, size_t *ns,
                            hg_error *err)
{
    size_t scratch_rows[2];
    double scratch_ms[2];
    size_t none = 0;
    hg_status st = time_rows(eng, i, n1, 0, false, params, scratch_rows, scratch_ms, &none, err);
    for (int r = 0; r < reps && st == HG_OK; r++) {
        st = time_rows(eng, i, n1, 1, false, params, rows, ms, ns, err);
        if (st == HG_OK)
            st = time_rows(eng, i, n2, 1, false, params, rows, ms, ns, err);
    }
    return st;
}

/* The model through the samples (hg__cost_fit); where noise hid the growth (a
   slow device measured on few rows), the conservative model through the
   origin, from the largest size's median. */
static hg_status fit(hg_engine *eng, const hg__device *d, const size_t *rows, const double *ms,
                     size_t ns, hg__cost_model *out, hg_error *err)
{
    hg_status st = hg__cost_fit(rows, ms, ns, out, err);
    if (st != HG_INVALID_ARGUMENT || ns == 0)
        return st;
    size_t big = 0, k = 0;
    double med[2 * BATCH_REPEATS];
    for (size_t j = 0; j < ns; j++)
        big = rows[j] > big ? rows[j] : big;
    for (size_t j = 0; j < ns && k < sizeof med / sizeof med[0]; j++)
        if (rows[j] == big)
            med[k++] = ms[j];
    double m = hg__cost_median(med, k);
    hg__log(&eng->log, HG_LOG_INFO, "%s: %s; using %.3g ms/row", d->what, err->message,
            m / (double)big);
    *out = (hg__cost_model){0, m / (double)big, ns, 0, m > 0};
    hg_error_clear(err);
    return out->valid ? HG_OK : HG_INVALID_ARGUMENT;
}

/*
 * Sizes adapt to the device: a probe run on 8 rows says roughly how fast it
 * is, and the small size is what it would run in about 10 ms.  The large size
 * is what the small size's median says takes about 100 ms (at least 4 times
 * more rows; at most the rows it holds or a batch): the probe's time is
 * mostly the fixed cost, so sizing the large one from it measured a fast
 * device on small batches and extrapolated from there (POCL's pthread
 * device, 65,536-row steps: predicted 20 ms, ran in 13).  A GPU is measured
 * on thousands of rows and Oclgrind on a handful, and calibration stays
 * well under a second per device.
 *
 * With a known step size (hg_engine_options.batch_rows) of at least 16 rows
 * that the probe says the device runs within 100 ms, the model is fitted
 * where the steps are instead: on an eighth of a batch and on a whole one
 * (the most a device gets of a step), BATCH_REPEATS runs each, in turn
 * (time_pairs).  Fitted on 10 to 100 ms of rows, a model of a 128-row
 * softmax step on POCL's basic device said fixed 0 ms and 0.457 us a row,
 * where its steps took 17.6 us on one row and 52 us on 128; on pthread it
 * said 54 us fixed, where one row took 83 us (2026-12-04): with the rows in
 * cache a row costs less, and the line through the large sizes misses the
 * fixed cost.
 */
static hg_status measure(hg_engine *eng, size_t i, const float *params, hg__cost_model *out,
                         hg_error *err)
{
    hg__device *d = &eng->dev[i];
    size_t have = d->win.hi - d->win.lo;
    size_t cap = have < d->chunk_rows ? have : d->chunk_rows;
    size_t rows[2 * BATCH_REPEATS];
    double ms[2 * BATCH_REPEATS];
    size_t ns = 0;
    size_t probe = cap < 8 ? cap : 8;
    hg_status st = time_rows(eng, i, probe, 1, false, params, rows, ms, &ns, err);
    if (st != HG_OK)
        return st;
    double per_row = ms[0] / (double)probe;
    ns = 0;
    size_t nb = eng->batch_rows < cap ? eng->batch_rows : cap;
    if (nb >= 16 && per_row * (double)nb <= TARGET_MS) {
        hg__log(&eng->log, HG_LOG_DEBUG, "%s: cost model on %zu and %zu rows (the batch size)",
                d->what, nb / 8, nb);
        /* twice: the host waits for a device by polling for as long as its
           model predicts, blocking without one (devwait.h), and a blocked wait
           costs POCL pthread's wake-up (30-40 us): a first fit, in place while
           the second pass is timed, makes the waits those of the steps */
        st = time_pairs(eng, i, nb / 8, nb, REPEATS, params, rows, ms, &ns, err);
        if (st == HG_OK)
            st = fit(eng, d, rows, ms, ns, out, err);
        if (st != HG_OK)
            return st;
        hg__cost_model before = d->model;
        hg__waiter waited = d->wait;
        d->model = *out;
        d->wait.misses = d->wait.resting = 0;
        ns = 0;
        st = time_pairs(eng, i, nb / 8, nb, BATCH_REPEATS, params, rows, ms, &ns, err);
        d->model = before;
        d->wait = waited;
        return st == HG_OK ? fit(eng, d, rows, ms, ns, out, err) : st;
    }
    size_t n1 = clamp_rows(10.0 / (per_row > 1e-9 ? per_row : 1e-9), 1, cap);
    st = time_rows(eng, i, n1, per_row * (double)n1 > 50.0 ? 3 : REPEATS, true, params, rows,
                   ms, &ns, err);
    if (st != HG_OK)
        return st;
    double small[REPEATS];
    memcpy(small, ms, ns * sizeof *ms);
    double small_ms = hg__cost_median(small, ns);
    per_row = small_ms / (double)n1;
    size_t n2 = clamp_rows(TARGET_MS / (per_row > 1e-9 ? per_row : 1e-9),
                           n1 * 4 > 16 ? n1 * 4 : 16, cap);
    hg__log(&eng->log, HG_LOG_DEBUG, "%s: cost model on %zu rows (median %.6g ms) and %zu "
            "rows (at most %zu)", d->what, n1, small_ms, n2, cap);
    if (n2 > n1)
        st = time_rows(eng, i, n2, per_row * (double)n2 > 50.0 ? 3 : REPEATS, true, params,
                       rows, ms, &ns, err);
    return st == HG_OK ? fit(eng, d, rows, ms, ns, out, err) : st;
}

/*
 * Keep device i computing for about WARM_MS before its cost model, in runs
 * of about WARM_RUN_MS (or one run, when even one row takes
 * HG__REWARM_BELOW_MS or more): a race warms a device up, and one that did not race
 * just before measured slower at first.  POCL's pthread device beside
 * Oclgrind (this 2-vCPU machine, 2026-12-04) was predicted 1.39-2.04 ms for a
 * step of 4096 rows on its default kernels without a warm-up, 0.86-0.91 ms
 * after 100-300 ms of runs, and 0.83-0.94 ms after its race: a fair
 * comparison of two views of the same hardware (duplicates.c) needs the
 * same warm-up on both.
 */
static hg_status warm_up(hg_engine *eng, size_t i, const float *params, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    size_t have = d->win.hi - d->win.lo;
    size_t cap = have < d->chunk_rows ? have : d->chunk_rows;
    size_t rows[1], ns = 0, n = cap < 8 ? cap : 8;
    double ms[1], t0 = hg__now_ms();
    if (n == 0)
        return HG_OK;
    hg_status st = time_rows(eng, i, n, 1, false, params, rows, ms, &ns, err);
    double per_row = st == HG_OK ? ms[0] / (double)n : 0;
    n = clamp_rows(WARM_RUN_MS / (per_row > 1e-9 ? per_row : 1e-9), 1, cap);
    /* repeats 0: one untimed run; a run of HG__REWARM_BELOW_MS or more is long
       enough not to need warming (calib_rules.h): Oclgrind's one row takes
       about 30 ms, and its warm-up is the one run */
    bool more = st == HG_OK;
    while (more) {
        st = time_rows(eng, i, n, 0, false, params, rows, ms, &ns, err);
        more = st == HG_OK && hg__now_ms() - t0 < WARM_MS &&
               !(d->stats.host_ms >= HG__REWARM_BELOW_MS);
    }
    return st;
}

/* Cache payload: text, so that it is readable and portable. */
static bool parse_model(const char *buf, size_t len, hg__cost_model *m, hg__kchoice *k,
                        char *note, size_t note_n)
{
    char tmp[HG_ERROR_MESSAGE_MAX + 256];
    if (len == 0 || len >= sizeof tmp)
        return false;
    memcpy(tmp, buf, len);
    tmp[len] = '\0';
    double a = 0, b = 0;
    unsigned long s = 0, r = 0;
    unsigned path = 0, ka = 0, kb = 0, kc = 0;
    int used = 0;
    if (sscanf(tmp, "a_ms=%lg b_ms_per_row=%lg samples=%lu rejected=%lu kernel=%u:%u:%u:%u%n",
               &a, &b, &s, &r, &path, &ka, &kb, &kc, &used) != 8)
        return false;
    if (!(a >= 0) || !(b > 0) || a > 1e9 || b > 1e9 || path > HG__PATH_CUSTOM || ka > 64 ||
        kb > 64 || kc > 64)
        return false;
    *m = (hg__cost_model){a, b, (size_t)s, (size_t)r, true};
    /* the fused slabs' kind, written after the kernel since batch_rows exists */
    unsigned ks = 0, one = 0;
    int more = 0;
    const char *n = strstr(tmp + used, "note=");
    if (strncmp(tmp + used, " slabs=", 7) == 0 &&
        (sscanf(tmp + used, " slabs=%u%n", &ks, &more) != 1 || ks > 2))
        return false;
    /* the one-kernel variant, written after the slabs since it exists */
    if (more && strncmp(tmp + used + more, " one=", 5) == 0 &&
        (sscanf(tmp + used + more, " one=%u", &one) != 1 || one > 1))
        return false;
    *k = (hg__kchoice){(hg__path)path, ka, kb, kc, ks, one};
    snprintf(note, note_n, "%s", n ? n + 5 : "");
    char *nl = strchr(note, '\n');
    if (nl)
        *nl = '\0';
    return true;
}

/*
 * Device i's gradient on its check rows (host copies of the first rows of its
 * window) against the double host reference: false, with why, when they
 * disagree beyond what float arithmetic explains.
 */
static bool gradient_right(hg_engine *eng, size_t i, const float *params, char *why,
                           size_t why_n)
{
    hg__device *d = &eng->dev[i];
    size_t n = d->chk_n, P = eng->nparams;
    double *pd = malloc((P ? P : 1) * sizeof *pd), *ref = calloc(P ? P : 1, sizeof *ref);
    double *got = calloc(P ? P : 1, sizeof *got);
    bool ok = false;
    if (!pd || !ref || !got) {
        snprintf(why, why_n, "out of memory checking it");
        goto out;
    }
    for (size_t k = 0; k < P; k++)
        pd[k] = params[k];
    hg_dataset_desc ds = {n, eng->model.inputs, d->chk_x, d->chk_y, d->chk_l};
    double lref = 0, lgot = 0;
    hg_error e;
    if (hg__reference_loss_grad_d(&eng->model, pd, &ds, 0, n, NULL, &lref, ref, &e) != HG_OK) {
        snprintf(why, why_n, "no reference: %.120s", e.message);
        goto out;
    }
    hg__range piece = {d->win.lo, n};
    hg__dev_plan p = {.pieces = &piece, .npieces = 1, .rows = n};
    if (hg__device_run(eng, d, i, &p, params, false, &e) != HG_OK) {
        snprintf(why, why_n, "failed: %.120s", e.message);
        goto out;
    }
    for (size_t r = 0; r < d->npieces_run; r++)
        hg__accumulate(eng, d->res + r * d->res_stride, 0, got, &lgot);
    double dmax = 0, rmax = 0;
    for (size_t k = 0; k < P; k++) {
        double diff = fabs(got[k] - ref[k]);
        if (!(diff <= dmax))
            dmax = isnan(diff) ? INFINITY : diff;
        if (fabs(ref[k]) > rmax)
            rmax = fabs(ref[k]);
    }
    double gerr = dmax / (rmax > 1e-30 ? rmax : 1e-30);
    double lerr = fabs(lgot - lref) / (fabs(lref) > 1e-30 ? fabs(lref) : 1e-30);
    ok = gerr <= 1e-3 && lerr <= 1e-3;
    if (!ok)
        snprintf(why, why_n, "wrong gradient on %zu rows (relative error %.2g, loss %.2g)", n,
                 gerr, lerr);
out:
    free(pd);
    free(ref);
    free(got);
    return ok;
}

bool hg__check_pending(const hg_engine *eng, const hg__device *d)
{
    return !d->kc_checked && d->chk_n > 0 && !eng->sparse &&
           eng->model.kind != HG_MODEL_CUSTOM;
}

/*
 * gradient_right for device i's current kernels; when they are wrong and some
 * of their programs came from the program cache, those programs are rebuilt
 * from source (replacing their entries) and checked again.  Right then: the
 * cache held wrong binaries -- logged, and d->cache_suspect set so that the
 * device's cached profile is not reused.  why: the first failure.
 */
static bool kernels_right(hg_engine *eng, size_t i, const float *params, char *why,
                          size_t why_n)
{
    hg__device *d = &eng->dev[i];
    if (gradient_right(eng, i, params, why, why_n))
        return true;
    if (d->offline || (d->prog_origin != HG__PROGRAM_CACHE && !d->kc_from_cache))
        return false; /* built from source in this process, or prebuilt: nothing to redo */
    char name[48], again[160];
    hg__kchoice_name(&d->kc, name, sizeof name);
    hg__log(&eng->log, HG_LOG_WARN, "%s: kernel %s computed a wrong gradient with programs "
            "from the program cache (%s); rebuilding them from source", d->what, name, why);
    hg_error e;
    if (hg__device_rebuild(eng, d, &e) != HG_OK) {
        hg__log(&eng->log, HG_LOG_WARN, "%s: %s", d->what, e.message);
        return false;
    }
    if (!gradient_right(eng, i, params, again, sizeof again))
        return false;
    d->cache_suspect = true;
    hg__log(&eng->log, HG_LOG_WARN, "%s: kernel %s is right when built from source: the "
            "program cache held wrong binaries for it, now replaced; the device's profile "
            "will be measured again", d->what, name);
    return true;
}

/* Median host time of device i on n rows: one warm-up, then repeats runs. */
static hg_status median_ms(hg_engine *eng, size_t i, size_t n, int repeats,
                           const float *params, double *out, hg_error *err)
{
    size_t rows[REPEATS];
    double ms[REPEATS];
    size_t ns = 0;
    hg_status st = time_rows(eng, i, n, repeats, false, params, rows, ms, &ns, err);
    if (st != HG_OK)
        return st;
    *out = hg__cost_median(ms, ns);
    return HG_OK;
}

/*
 * Device i's probe on its first np rows into *out: one run to warm it up, then one
 * timed, but where its kernels were checked on those same rows already (nothing left
 * to compile) and the first run took long enough to need no warming, that run is the
 * probe (hg__probe_again): on Oclgrind the second run was 0.12 s of a cold
 * calibration.
 */
static hg_status probe_ms(hg_engine *eng, size_t i, size_t np, const float *params,
                          double *out, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    char why[160];
    /* kernels not yet checked in this process, first: the race checks every candidate
       it times, so a wrong one only goes without a probe */
    if (hg__check_pending(eng, d)) {
        if (!kernels_right(eng, i, params, why, sizeof why))
            return hg__error_set(err, HG_DEVICE_FAILED, 0, "%s: %s", d->what, why);
        d->kc_checked = true;
    }
    size_t ns = 0; /* repeats 0: one untimed run each, its time in d->stats */
    hg_status st = time_rows(eng, i, np, 0, false, params, NULL, NULL, &ns, err);
    if (st == HG_OK && hg__probe_again(d->kc_checked && np == d->chk_n, d->stats.host_ms))
        st = time_rows(eng, i, np, 0, false, params, NULL, NULL, &ns, err);
    *out = d->stats.host_ms;
    return st;
}

/* A second probe of np rows on device i, and the faster of it and *probe into
   *probe: one slow run is not the device's speed.  Fails as probe_ms does. */
static hg_status probe_again_faster(hg_engine *eng, size_t i, size_t np, const float *params,
                                    double *probe, hg_error *err)
{
    double again = 0;
    hg_status st = probe_ms(eng, i, np, params, &again, err);
    if (st == HG_OK)
        *probe = fmin(*probe, again);
    return st;
}

/* What the race's note gives for each timed candidate. */
#define NOTE_KEY "rows/s; * out after a round"

/*
 * The name a candidate is listed under in the race's note: without its path
 * word ("fused r4/b8/k5" as "r4/b8/k5") when the entry before it had the same
 * one (path holds that word; updated here), so that the note of every
 * candidate (fourteen for a small batch of the softmax) fits the profile's
 * HG_ERROR_MESSAGE_MAX bytes.  A name without a path word ("clblast") is
 * listed whole.
 */
static const char *elide_path(const char *name, char *path, size_t path_len)
{
    const char *sp = strchr(name, ' ');
    size_t len = sp ? (size_t)(sp - name) : strlen(name);
    bool same = sp && strlen(path) == len && strncmp(path, name, len) == 0;
    snprintf(path, path_len, "%.*s", (int)len, name);
    return same ? sp + 1 : name;
}

/*
 * Append candidate `name`'s entry to the race's note (used bytes of note_len
 * used; returns the new count, at most note_len - 1): its rows/s (rate > 0;
 * "*" when it dropped out, racing false), "the only one working" (rate 0),
 * or why it was excluded (ok false).
 */
static size_t note_entry(char *note, size_t note_len, size_t used, const char *name, bool ok,
                         bool racing, double rate, const char *why)
{
    size_t room = used < note_len ? note_len - used : 0;
    const char *sep = used ? "; " : "";
    if (ok && rate > 0)
        used += (size_t)snprintf(note + used, room, "%s%s %.3g%s%s", sep, name,
                                 rate >= 1e6 ? rate / 1e6 : rate >= 1e3 ? rate / 1e3 : rate,
                                 rate >= 1e6 ? "M" : rate >= 1e3 ? "k" : "", racing ? "" : "*");
    else if (ok)
        used += (size_t)snprintf(note + used, room, "%s%s the only one working", sep, name);
    else
        used += (size_t)snprintf(note + used, room, "%s%s excluded (%s)", sep, name, why);
    return used >= note_len ? note_len - 1 : used;
}

/* The median of a candidate's times over the n sweeps (those that timed it). */
static double timed_median(const double *ms, size_t n)
{
    double v[HG__RACE_MAX_SWEEPS];
    size_t m = 0;
    for (size_t s = 0; s < n && s < HG__RACE_MAX_SWEEPS; s++)
        if (isfinite(ms[s]))
            v[m++] = ms[s];
    return m ? hg__cost_median(v, m) : 0.0;
}

/*
 * One visit's time of device i's current kernel in the race r (*out, ms):
 * a warm-up on r->warm rows, then at each of r->rows the median of r->per
 * runs, summed over the sizes.
 */
static hg_status race_time(hg_engine *eng, size_t i, const hg__race *r, const float *params,
                           double *out, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    hg__range piece = {d->win.lo, r->warm};
    hg__dev_plan p = {.pieces = &piece, .npieces = 1, .rows = r->warm};
    hg_status st = hg__device_run(eng, d, i, &p, params, false, err);
    double ms[MAX_RACE_REPS], sum = 0;
    for (size_t s = 0; s < 2 && r->rows[s] && st == HG_OK; s++) {
        piece.count = p.rows = r->rows[s];
        int n = 0;
        for (; n < r->per && n < MAX_RACE_REPS && st == HG_OK; n++) {
            st = hg__device_run(eng, d, i, &p, params, false, err);
            ms[n] = d->stats.host_ms;
        }
        if (st == HG_OK)
            sum += hg__cost_median(ms, (size_t)n);
    }
    if (st == HG_OK)
        *out = sum;
    return st;
}

/*
 * Choose device i's kernel among its candidates: each is built and checked
 * on the check rows (from source when d->cache_suspect), then the correct
 * ones race at hg__race_plan's rows (about 50 ms' worth, or the device's rows
 * of a step of the engine's batch size; recorded in d->kc_rows).  A round is
 * hg__race_plan's sweeps, and in each sweep every candidate still in has a
 * visit in turn (race_time), every other sweep in the opposite order, so that
 * a stretch of time in which the machine runs slow hits them alike; each
 * candidate's score is the median of its times over each sweep's fastest
 * (hg__race_scores).  After each round, once HG__RACE_PRUNE_SWEEPS sweeps have
 * run, a candidate whose score is more than HG__RACE_MARGIN times the best
 * one's is out (hg__race_prune); the race ends after three rounds (one on
 * slow devices) or when one candidate is left.  The best score among those
 * still in wins (the lower median time on a tie), and counts as checked.
 * exclude (may be NULL) is a candidate already found wrong, for the reason
 * excluded_why: not tried again.  Fails only when no candidate works
 * (or on out-of-memory); the device then keeps working kernels if it had any.
 */
/*
 * A device too slow to matter is not raced (hg__race_skip, calib_rules.h):
 * it can take a small share of any step at most, and racing its candidates
 * costs seconds on a simulator (Oclgrind: 1.9 s of a 2.8 s calibration).
 * Its kernels in place are kept when they compute the right gradient.
 */

/* Probes of the devices about to be measured: the fastest (0: unknown). */
typedef struct race_hint {
    double probe_ms;   /* this device's probe on probe_rows rows, 0: not yet */
    size_t probe_rows;
    double fastest_ms; /* the fastest device's on as many rows, 0: unknown */
} race_hint;

/* Keep device i's kernels unraced (the hint says it is too slow to matter);
   false when they compute a wrong gradient (then they race as usual). */
static bool keep_unraced(hg_engine *eng, size_t i, const float *params, const race_hint *h)
{
    hg__device *d = &eng->dev[i];
    char why[160], name[48];
    /* checked already in this process (by its probe, probe_ms) */
    if (!d->kc_checked && !kernels_right(eng, i, params, why, sizeof why))
        return false;
    d->kc_checked = true;
    d->kc_measured = false;
    d->kc_rows[0] = h->probe_rows;
    d->kc_rows[1] = 0;
    hg__kchoice_name(&d->kc, name, sizeof name);
    snprintf(d->kc_note, sizeof d->kc_note, "not raced: %zu rows took %.3g ms, %.0f times the "
             "fastest device's %.3g ms, too slow to take more than a small share of a step",
             h->probe_rows, h->probe_ms, h->probe_ms / h->fastest_ms, h->fastest_ms);
    hg__log(&eng->log, HG_LOG_INFO, "%s computes with %s (%s)", d->what, name, d->kc_note);
    return true;
}

/*
 * The candidates' paths during a race (hg__kchoice_parked): slot[k] holds
 * candidate k's while the device does not, slot[nc] the path the device held
 * before the race until a candidate takes it or the race ends; held is the
 * slot the device holds (SIZE_MAX: none, after a failed build).
 */
typedef struct race_paths {
    hg__kchoice_parked slot[HG__MAX_CANDIDATES + 1];
    size_t             held;
    hg__kchoice        before;
} race_paths;

/* Make slot k (held or non-empty) the device's path. */
static void hold(hg__device *d, race_paths *rp, size_t k)
{
    if (rp->held == k)
        return;
    if (rp->held != SIZE_MAX)
        hg__kchoice_park(d, &rp->slot[rp->held]);
    hg__kchoice_unpark(d, &rp->slot[k]);
    rp->held = k;
}

/*
 * Make candidate c (index k of nc) the device's path: the path it held
 * before the race when that is c, the cache is not suspect and no test hook
 * breaks c (hg__kchoice_break acts when a program is built), else built
 * (from source when the cache is suspect: then every entry is, and this
 * replaces them).
 */
static hg_status build_candidate(hg_engine *eng, hg__device *d, race_paths *rp, size_t k,
                                 size_t nc, const hg__kchoice *c, hg_error *err)
{
    bool before_there = rp->held == nc || rp->slot[nc].ops;
    if (!d->cache_suspect && before_there && hg__kchoice_same(&rp->before, c) &&
        !hg__path_broken_option(eng, c)[0]) {
        if (rp->held != nc) {
            rp->slot[k] = rp->slot[nc];
            rp->slot[nc] = (hg__kchoice_parked){0};
            hold(d, rp, k);
        }
        rp->held = k;
        return HG_OK;
    }
    if (rp->held != SIZE_MAX)
        hg__kchoice_park(d, &rp->slot[rp->held]);
    rp->held = SIZE_MAX;
    d->rebuild = d->cache_suspect;
    hg_status st = hg__kchoice_apply(eng, d, d->li, c, err);
    d->rebuild = false;
    if (st == HG_OK)
        rp->held = k;
    return st;
}

/*
 * End of a race: the device holds candidate best's path, or (best SIZE_MAX)
 * the one it held before; every other path is released.
 */
static void end_race(hg_engine *eng, hg__device *d, race_paths *rp, const hg__kchoice *c,
                     size_t nc, size_t best)
{
    size_t at = best;
    for (size_t k = 0; k <= nc && at == SIZE_MAX; k++) /* the path held before, wherever */
        if ((rp->held == k || rp->slot[k].ops) &&
            (k == nc || hg__kchoice_same(&rp->before, &c[k])))
            at = k;
    if (at != SIZE_MAX) {
        hold(d, rp, at);
    } else {
        hg_error e;
        if (hg__kchoice_apply(eng, d, d->li, &rp->before, &e) != HG_OK)
            hg__log(&eng->log, HG_LOG_WARN, "%s: %s", d->what, e.message);
    }
    for (size_t k = 0; k <= nc; k++)
        if (k != rp->held)
            hg__kchoice_parked_release(d, &rp->slot[k]);
}

/*
 * job_steps: the steps of the whole job (eng->work_rows rows; 0: unknown), each of
 * batch_rows rows (unknown: one step), and their rows into *rows.  job_ms: its
 * predicted time on device i's kernels in place, from a probe of np rows that took
 * probe_ms: each step taken as probe_ms times its rows over np, and no less than
 * probe_ms, which overestimates a step of more than np rows (the fixed cost counted
 * again for every np rows) and of fewer: short jobs err towards a race.  NAN when
 * the job's rows are unknown.
 */
static double job_steps(const hg_engine *eng, size_t *rows)
{
    *rows = eng->batch_rows && eng->batch_rows < eng->work_rows ? eng->batch_rows
                                                                : eng->work_rows;
    return *rows ? ceil((double)eng->work_rows / (double)*rows) : 0;
}

static double job_ms(const hg_engine *eng, double probe_ms, size_t np)
{
    size_t b;
    double steps = job_steps(eng, &b);
    if (!eng->work_rows || np == 0 || !(probe_ms >= 0))
        return NAN;
    return steps * probe_ms * fmax(1.0, (double)b / (double)np);
}

double hg__job_predicted_ms(const hg_engine *eng, const hg__cost_model *model)
{
    size_t b;
    double steps = job_steps(eng, &b);
    if (!eng->work_rows || !model->valid)
        return NAN;
    return steps * hg__cost_predict(model, b);
}

bool hg__keep_for_short_job(hg_engine *eng, size_t i)
{
    hg__device *d = &eng->dev[i];
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(eng, d, c);
    double job = hg__job_predicted_ms(eng, &d->model);
    char name[48];
    if (!d->kc_checked || !hg__race_short_job(job, nc))
        return false;
    d->kc_measured = false;
    hg__kchoice_name(&d->kc, name, sizeof name);
    snprintf(d->kc_note, sizeof d->kc_note, "%s%zu rows predicted at %.3g ms on these "
             "kernels (their cost model), under the least racing %zu candidates costs (%.0f ms "
             "each but this one)", HG__NOTE_SHORT_JOB, eng->work_rows, job, nc,
             HG__RACE_CANDIDATE_MS);
    hg__log(&eng->log, HG_LOG_INFO, "%s computes with %s (%s)", d->what, name, d->kc_note);
    return true;
}

/*
 * Device i keeps its kernels in place, unraced, when the job is too short to
 * repay racing its nc candidates (hg__race_short_job on job_ms, from a probe of
 * np rows, and from the faster of two where the first says the job is long: a
 * run the machine slowed would start a race of seconds for a job of a few
 * milliseconds) and they compute the right gradient: *kept true.  *kept false when the
 * job is long enough or unknown, or the kernels are wrong (they race as usual).
 * *probe: the probe's time that decided (0: none ran), which the race starts from.
 * Fails only as the probe does.
 */
static hg_status keep_for_short_job(hg_engine *eng, size_t i, const float *params, size_t np,
                                    size_t nc, bool *kept, double *probe, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    char why[160], name[48];
    *kept = false;
    *probe = 0;
    if (!eng->work_rows || np == 0)
        return HG_OK;
    if (!d->kc_checked && !kernels_right(eng, i, params, why, sizeof why))
        return HG_OK;
    d->kc_checked = true;
    hg_status st = probe_ms(eng, i, np, params, probe, err);
    *probe += eng->slow_probe_ms; /* tests: a run the machine slowed */
    double job = job_ms(eng, *probe, np);
    if (st == HG_OK && isfinite(job) && !hg__race_short_job(job, nc)) {
        st = probe_again_faster(eng, i, np, params, probe, err); /* before racing */
        job = job_ms(eng, *probe, np);
    }
    if (st != HG_OK || !hg__race_short_job(job, nc))
        return st;
    d->kc_measured = false;
    d->kc_rows[0] = np;
    d->kc_rows[1] = 0;
    hg__kchoice_name(&d->kc, name, sizeof name);
    snprintf(d->kc_note, sizeof d->kc_note, "%s%zu rows predicted at %.3g ms on these "
             "kernels (%zu rows took %.3g ms), under the least racing %zu candidates costs "
             "(%.0f ms each but this one)", HG__NOTE_SHORT_JOB, eng->work_rows, job, np,
             *probe, nc, HG__RACE_CANDIDATE_MS);
    hg__log(&eng->log, HG_LOG_INFO, "%s computes with %s (%s)", d->what, name, d->kc_note);
    *kept = true;
    return HG_OK;
}

static hg_status race(hg_engine *eng, size_t i, const float *params,
                      const hg__kchoice *exclude, const char *excluded_why,
                      const race_hint *hint, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(eng, d, c);
    if (nc < 2 && exclude && hg__kchoice_same(exclude, &c[0])) {
        char name[48];
        hg__kchoice_name(&c[0], name, sizeof name);
        return hg__error_set(err, HG_DEVICE_FAILED, 0, "%s: its only kernel, %s, computes a "
                             "wrong gradient (%s)", d->what, name, excluded_why);
    }
    if (nc < 2)
        return HG_OK;
    size_t have = d->win.hi - d->win.lo;
    size_t cap = have < d->chunk_rows ? have : d->chunk_rows;
    double probe = 0;
    size_t np = cap < 64 ? cap : 64;
    bool kept = false;
    hg_status st = exclude ? HG_OK
                           : keep_for_short_job(eng, i, params, np, nc, &kept, &probe, err);
    if (st != HG_OK || kept)
        return st;
    /* the probe: the short-job decision's, else the hint's, else one run now */
    st = probe > 0 ? HG_OK
         : hint && hint->probe_ms > 0 && hint->probe_rows == np
             ? (probe = hint->probe_ms, HG_OK)
             : median_ms(eng, i, np, 1, params, &probe, err);
    if (st != HG_OK)
        return st;
    if (hint && !exclude && hg__race_skip(probe, hint->fastest_ms)) {
        st = probe_again_faster(eng, i, np, params, &probe, err);
        if (st != HG_OK)
            return st;
        race_hint h = {probe, np, hint->fastest_ms};
        if (hg__race_skip(h.probe_ms, h.fastest_ms) && keep_unraced(eng, i, params, &h))
            return HG_OK;
    }
    hg__race race;
    hg__race_plan(eng, i, cap, probe / (double)np, &race);
    size_t n = race.rows[0] + race.rows[1];
    int rounds = race.rounds;
    d->kc_rows[0] = race.rows[0];
    d->kc_rows[1] = race.rows[1];

    char note[HG_ERROR_MESSAGE_MAX] = "";
    char why[HG__MAX_CANDIDATES][160];
    bool ok[HG__MAX_CANDIDATES], racing[HG__MAX_CANDIDATES];
    /* each candidate's time in each sweep (NAN: not timed there), and its score */
    double ms[HG__MAX_CANDIDATES][HG__RACE_MAX_SWEEPS], score[HG__MAX_CANDIDATES];
    int timed[HG__MAX_CANDIDATES];
    size_t used = 0, best = SIZE_MAX;
    double best_score = INFINITY, best_ms = INFINITY;
    race_paths rp = {.held = nc, .before = d->kc}; /* every slot empty */
    /* 1. each candidate builds (build_candidate) and computes the right gradient */
    for (size_t k = 0; k < nc; k++) {
        hg_error e;
        why[k][0] = '\0';
        timed[k] = 0;
        score[k] = INFINITY;
        if (exclude && hg__kchoice_same(exclude, &c[k])) {
            ok[k] = false;
            snprintf(why[k], sizeof why[k], "%.150s", excluded_why);
            continue;
        }
        ok[k] = build_candidate(eng, d, &rp, k, nc, &c[k], &e) == HG_OK;
        if (!ok[k])
            snprintf(why[k], sizeof why[k], "%.120s", e.message);
        else if (!kernels_right(eng, i, params, why[k], sizeof why[k]))
            ok[k] = false;
    }
    /* 2. the race: sweep after sweep, each candidate still in timed in turn, the
       clearly slower ones dropping out after each round */
    size_t left = 0, ns = 0;
    for (size_t k = 0; k < nc; k++)
        left += racing[k] = ok[k];
    for (int r = 0; r < rounds && left > 1; r++) {
        for (int v = 0; v < race.sweeps && ns < HG__RACE_MAX_SWEEPS; v++, ns++) {
            for (size_t j = 0; j < nc; j++) {
                /* every other sweep backwards, starting with the kernels in place */
                size_t k = ns % 2 ? j : nc - 1 - j;
                hg_error e;
                ms[k][ns] = NAN;
                if (!racing[k])
                    continue;
                hold(d, &rp, k);
                if (race_time(eng, i, &race, params, &ms[k][ns], &e) != HG_OK) {
                    snprintf(why[k], sizeof why[k], "%.120s", e.message);
                    ok[k] = racing[k] = false;
                    continue;
                }
                timed[k]++;
            }
        }
        hg__race_scores(&ms[0][0], HG__RACE_MAX_SWEEPS, nc, ns, ok, score);
        if (ns >= HG__RACE_PRUNE_SWEEPS)
            left = hg__race_prune(score, racing, nc);
    }
    for (size_t k = 0; k < nc; k++)
        if (racing[k] && timed[k] == 0) { /* the only one working: it wins untimed */
            timed[k] = 1;
            ms[k][0] = 0;
            score[k] = 1;
        }
    char path[48] = ""; /* the last listed entry's path word ("fused", "tiled", ...) */
    for (size_t k = 0; k < nc; k++) {
        char name[48];
        hg__kchoice_name(&c[k], name, sizeof name);
        const char *shown = elide_path(name, path, sizeof path);
        double m = 0;
        if (ok[k] && timed[k] > 0) {
            m = timed_median(ms[k], ns);
            if (racing[k] && (score[k] < best_score || (score[k] == best_score && m < best_ms))) {
                best_score = score[k];
                best_ms = m;
                best = k;
            }
        }
        double rate = m > 0 ? (double)n / m * 1e3 : 0.0;
        const char *listed = ok[k] && rate > 0 ? shown : name;
        used = note_entry(note, sizeof note, used, listed, ok[k], racing[k], rate, why[k]);
        if (!ok[k])
            hg__log(&eng->log, HG_LOG_WARN, "%s: kernel %s excluded: %s", d->what, name,
                    why[k]);
    }
    end_race(eng, d, &rp, c, nc, best);
    if (best == SIZE_MAX)
        return hg__error_set(err, HG_BUILD, 0, "%s: no kernel candidate works (%s)", d->what,
                             note);
    d->kc_checked = true; /* this choice passed step 1 in this process */
    char name[48];
    hg__kchoice_name(&c[best], name, sizeof name);
    if (race.rows[1])
        snprintf(d->kc_note, sizeof d->kc_note, "fastest of %zu on %zu + %zu rows (%s): %.400s",
                 nc, race.rows[0], race.rows[1], NOTE_KEY, note);
    else
        snprintf(d->kc_note, sizeof d->kc_note, "fastest of %zu on %zu rows (%s): %.410s", nc, n,
                 NOTE_KEY, note);
    d->kc_measured = true;
    hg__log(&eng->log, HG_LOG_INFO, "%s computes with %s (%s)", d->what, name, d->kc_note);
    return HG_OK;
}

/*
 * Device i keeps its current kernels without a race when they compute the
 * right gradient here (then note is its kc_note): kernels of another view of
 * the same hardware and compiler (d->kc_view, switched to first), which ranks
 * the same shapes, or its defaults while such views are compared
 * (d->defer_race; duplicates.c).  False, with both cleared, when they do
 * not: a race follows.
 */
static bool keep_without_race(hg_engine *eng, size_t i, const float *params, const char *note)
{
    hg__device *d = &eng->dev[i];
    char why[160], name[48];
    hg__kchoice_name(&d->kc, name, sizeof name);
    if (!d->kc_checked && !kernels_right(eng, i, params, why, sizeof why)) {
        hg__log(&eng->log, HG_LOG_WARN, "%s: kernel %s computes a wrong gradient (%s); "
                "racing its candidates", d->what, name, why);
        d->kc_view = NULL;
        d->defer_race = false;
        return false;
    }
    d->kc_checked = true;
    d->kc_measured = false;
    snprintf(d->kc_note, sizeof d->kc_note, "%s", note);
    hg__log(&eng->log, HG_LOG_INFO, "%s computes with %s (%s)", d->what, name, d->kc_note);
    return true;
}

/* Whether device i keeps its kernels unraced (keep_without_race) for the duplicates
   phase, which compares the views of its hardware first. */
static bool unraced_for_views(hg_engine *eng, size_t i, const float *params)
{
    hg__device *d = &eng->dev[i];
    char note[HG_ERROR_MESSAGE_MAX];
    hg_error e;
    if (d->kc_view && !hg__kchoice_same(&d->kc, &d->kc_view_choice) &&
        hg__kchoice_apply(eng, d, d->li, &d->kc_view_choice, &e) != HG_OK) {
        hg__log(&eng->log, HG_LOG_WARN, "%s: the kernels of %s: %s; racing its candidates",
                d->what, d->kc_view, e.message);
        d->kc_view = NULL;
    }
    if (d->kc_view)
        snprintf(note, sizeof note, "%s%s, a view of the same hardware with the same "
                 "compiler (%s %s)", HG__NOTE_VIEWS_CHOICE, d->kc_view,
                 d->info->platform_name, d->info->driver_version);
    else if (d->defer_race)
        snprintf(note, sizeof note, "%sthe views of this hardware with the same compiler "
                 "are compared on these kernels first, and the one kept races",
                 HG__NOTE_RACE_DEFERRED);
    else
        return false;
    return keep_without_race(eng, i, params, note);
}

static hg_status choose_kernel(hg_engine *eng, size_t i, const float *params,
                               const hg__kchoice *exclude, const char *excluded_why,
                               const race_hint *hint, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    d->defer_store = eng->pcache.dir != NULL;
    hg_status st = !exclude && unraced_for_views(eng, i, params)
                       ? HG_OK
                       : race(eng, i, params, exclude, excluded_why, hint, err);
    hg__kchoice_keep_programs(eng, d);
    return st;
}

hg_status hg__verify_kernels(hg_engine *eng, size_t i, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    if (!hg__check_pending(eng, d))
        return HG_OK;
    float *params = check_params(eng);
    if (!params)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "checking %s", d->what);
    char why[160];
    hg_status st = HG_OK;
    if (kernels_right(eng, i, params, why, sizeof why)) {
        d->kc_checked = true;
    } else {
        hg__kchoice bad = d->kc;
        char name[48];
        hg__kchoice_name(&bad, name, sizeof name);
        hg__log(&eng->log, HG_LOG_WARN, "%s: kernel %s computes a wrong gradient (%s): "
                "dropped; choosing another", d->what, name, why);
        st = choose_kernel(eng, i, params, &bad, why, NULL, err);
    }
    free(params);
    return st;
}

/*
 * Whether a cached profile with kernel note note may stand for this engine's job:
 * true unless the note says its kernels were kept unraced for a short job
 * (HG__NOTE_SHORT_JOB) and this job, predicted on the profile's model (its work_rows
 * in steps of batch_rows; unknown: not short), is not short too.
 */
static bool short_job_still(const hg_engine *eng, const hg__device *d,
                            const hg__cost_model *model, const char *note)
{
    if (!hg__kchoice_short_job(note))
        return true;
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(eng, d, c);
    return hg__race_short_job(hg__job_predicted_ms(eng, model), nc);
}

/*
 * Device i's profile from the cache, when its entry is sound: its kernel
 * choice one of the device's candidates and buildable.  Anything else is
 * logged and false (calibrate measures again and rewrites the entry).  Its
 * kernels' gradient is checked before their first rows (hg__calibrate_pending):
 * a device no plan gives rows is never checked.
 */
static bool cached_profile(hg_engine *eng, size_t i, const char *const *key, size_t nkey)
{
    hg__device *d = &eng->dev[i];
    void *buf = NULL;
    size_t len = 0;
    bool found = false;
    const char *why = NULL;
    hg_error cerr;
    if (hg__cache_load(eng->profile_cache_dir, key, nkey, 4096, &buf, &len, &found, &why,
                       &cerr) != HG_OK) {
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: %s; calibrating %s", cerr.message,
                d->what);
        return false;
    }
    if (!found) {
        if (why)
            hg__log(&eng->log, HG_LOG_WARN, "profile cache: bad entry for %s (%s); "
                    "recalibrating", d->what, why);
        return false;
    }
    hg__cost_model model;
    hg__kchoice kc;
    char note[HG_ERROR_MESSAGE_MAX], name[48];
    bool parsed = parse_model(buf, len, &model, &kc, note, sizeof note);
    free(buf);
    if (!parsed) {
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: unreadable entry for %s; "
                "recalibrating", d->what);
        return false;
    }
    hg__kchoice_name(&kc, name, sizeof name);
    if (!short_job_still(eng, d, &model, note)) {
        hg__log(&eng->log, HG_LOG_INFO, "profile cache: the entry for %s kept %s unraced "
                "for a short job; this job is not as short: racing", d->what, name);
        return false;
    }
    hg_error e;
    if (!hg__kchoice_same(&kc, &d->kc) && hg__kchoice_apply(eng, d, d->li, &kc, &e) != HG_OK) {
        /* not a candidate, or its programs fail: the current kernels stay */
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: the entry for %s names kernel %s "
                "(%u:%u:%u:%u), which cannot be used: %s; recalibrating", d->what, name,
                (unsigned)kc.path, kc.a, kc.b, kc.c, e.message);
        return false;
    }
    if (d->cache_suspect) /* right only after a rebuild: the profile is not trusted either */
        return false;
    d->model = model;
    snprintf(d->kc_note, sizeof d->kc_note, "%s", note);
    /* not raced when the note says so (keep_without_race) */
    d->kc_measured = !hg__kchoice_unraced(note);
    return true;
}

#define KEY_FIELDS 7

/*
 * The cache key of device i's profile into key[KEY_FIELDS]: kind, platform,
 * device name, driver version, id, what else changes the device's speed
 * (profile_key.c) with its batch cap and its kernel candidates
 * (hg__kchoice_signature), and the workload signature sig.
 * Returns the one field it allocated (the caller frees it when done with
 * key); NULL when out of memory.
 */
static char *profile_key(const hg_engine *eng, size_t i, const char *sig, long cpus,
                         const char **key)
{
    const hg__device *d = &eng->dev[i];
    char *dev = hg__profile_device_key(d->info, cpus);
    char *field = dev ? hg__asprintf("%s;chunk=%zu;kernels=%016llx", dev, d->chunk_rows,
                                     (unsigned long long)hg__kchoice_signature(eng, d))
                      : NULL;
    free(dev);
    key[0] = "profile";
    key[1] = d->info->platform_name;
    key[2] = d->info->name;
    key[3] = d->info->driver_version;
    key[4] = d->info->id;
    key[5] = field ? field : "";
    key[6] = sig;
    return field;
}

/* Write device d's model and kernel choice under key (a failure is logged). */
static void store_profile(hg_engine *eng, const hg__device *d, const char *const *key,
                          size_t nkey)
{
    char slabs[32] = "";
    if (d->kc.s || d->kc.one)
        snprintf(slabs, sizeof slabs, " slabs=%u%s", d->kc.s, d->kc.one ? " one=1" : "");
    char *text = hg__asprintf("a_ms=%.17g b_ms_per_row=%.17g samples=%zu rejected=%zu "
                              "kernel=%u:%u:%u:%u%s note=%s\n", d->model.a_ms,
                              d->model.b_ms_per_row, d->model.samples, d->model.rejected,
                              (unsigned)d->kc.path, d->kc.a, d->kc.b, d->kc.c, slabs,
                              d->kc_note);
    hg_error cerr;
    if (!text)
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: out of memory storing %s", d->what);
    else if (hg__cache_store(eng->profile_cache_dir, key, nkey, text, strlen(text),
                             &cerr) != HG_OK)
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: %s", cerr.message);
    free(text);
}

/*
 * Measure device i from scratch: choose its kernel (exclude: a candidate
 * already found wrong, for the reason excluded_why; may be NULL), fit its
 * cost model into d->model and store both in the profile cache under key
 * (when the engine has one).  HG_OK; on failure d->model is invalid and the
 * status says why: HG_OUT_OF_MEMORY, or a device failure (the caller
 * quarantines it).
 */
static hg_status measure_device(hg_engine *eng, size_t i, const float *params,
                                const hg__kchoice *exclude, const char *excluded_why,
                                const race_hint *hint, const char *const *key, size_t nkey,
                                hg_error *err)
{
    hg__device *d = &eng->dev[i];
    d->model = (hg__cost_model){0};
    double t0 = hg__now_ms();
    /* CSR data has one kernel (sparse_exec.c), checked when the data was set */
    hg_status st = eng->sparse ? HG_OK
                               : choose_kernel(eng, i, params, exclude, excluded_why, hint,
                                               err);
    double t1 = hg__now_ms();
    if (st == HG_OK && !d->kc_measured) /* no race just ran on it */
        st = warm_up(eng, i, params, err);
    if (st == HG_OK)
        st = measure(eng, i, params, &d->model, err);
    if (st != HG_OK) {
        d->model.valid = false;
        return st;
    }
    hg__log(&eng->log, HG_LOG_INFO, "%s calibrated in %.0f ms: kernel choice %.0f ms, cost "
            "model %.0f ms (%zu samples)", d->what, hg__now_ms() - t0, t1 - t0,
            hg__now_ms() - t1, d->model.samples + d->model.rejected);
    d->cache_suspect = false; /* measured, and every candidate rebuilt */
    if (eng->profile_cache_dir && !d->sub) /* the key describes the whole device */
        store_profile(eng, d, key, nkey);
    return HG_OK;
}

/* What measuring device i must avoid, and its probe. */
typedef struct solo_state {
    bool        have_bad;     /* its cached choice was wrong even built from source */
    hg__kchoice bad;
    char        bad_why[160];
    race_hint   hint;
} solo_state;

/*
 * Device i's cached profile, when its entry is sound (then d->model_from_cache
 * and *hit), with the workload signature sig and the usable CPUs cpus.  HG_OK
 * or HG_OUT_OF_MEMORY.
 */
static hg_status read_cached(hg_engine *eng, size_t i, const char *sig, long cpus, bool *hit,
                             hg_error *err)
{
    hg__device *d = &eng->dev[i];
    d->model = (hg__cost_model){0};
    d->model_from_cache = false;
    *hit = false;
    const char *key[KEY_FIELDS];
    char *owned = profile_key(eng, i, sig, cpus, key);
    if (!owned)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "calibrating");
    if (eng->profile_cache_dir && !d->cache_suspect && !d->sub)
        d->model_from_cache = cached_profile(eng, i, key, KEY_FIELDS);
    free(owned);
    *hit = d->model_from_cache;
    return HG_OK;
}

/* Measure device i (its cache had nothing sound: s); fails as measure_device. */
static hg_status measure_solo(hg_engine *eng, size_t i, const char *sig, long cpus,
                              const float *params, const solo_state *s, hg_error *err)
{
    const char *key[KEY_FIELDS];
    char *owned = profile_key(eng, i, sig, cpus, key);
    if (!owned)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "calibrating");
    hg_status st = measure_device(eng, i, params, s->have_bad ? &s->bad : NULL, s->bad_why,
                                  &s->hint, key, KEY_FIELDS, err);
    free(owned);
    return st;
}

/*
 * Device i's kernel choice and cost model, alone, or its cached profile.
 * *from_cache: read from the cache.  HG_OK; HG_OUT_OF_MEMORY; or a device
 * failure (d->model invalid; the caller decides whether to quarantine).
 */
static hg_status calibrate_device(hg_engine *eng, size_t i, const char *sig, long cpus,
                                  const float *params, bool measure, bool *from_cache,
                                  hg_error *err)
{
    solo_state s = {0};
    *from_cache = false;
    hg_status st = measure ? HG_OK
                           : read_cached(eng, i, sig, cpus, from_cache, err);
    if (st == HG_OK && !*from_cache)
        st = measure_solo(eng, i, sig, cpus, params, &s, err);
    return st;
}

hg_status hg__calibrate_one(hg_engine *eng, size_t i, const float *params, bool measure,
                            bool *from_cache, hg_error *err)
{
    char *sig = signature(eng);
    hg_status st = sig ? calibrate_device(eng, i, sig, hg__usable_cpus(), params, measure,
                                          from_cache, err)
                       : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "calibrating");
    free(sig);
    return st;
}

/* Rows of device i's probe: its first 64 (fewer when it holds or batches fewer). */
static size_t probe_rows(const hg__device *d)
{
    size_t have = d->win.hi - d->win.lo;
    size_t cap = have < d->chunk_rows ? have : d->chunk_rows;
    return cap < 64 ? cap : 64;
}

/*
 * The probes of the devices to measure (todo[i]), on their kernels in place,
 * and the fastest of them and of the cached devices' predictions, into each
 * one's hint (choose_kernel: a device far slower is not raced).  Only when
 * there are two devices or more to compare.  A probe that fails leaves its
 * hint empty: measuring the device reports the failure.
 */
static void probe_all(hg_engine *eng, const bool *todo, const float *params, solo_state *ss)
{
    if (eng->sparse) /* CSR data has one kernel: nothing is raced (measure_device) */
        return;
    size_t n = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        n += todo[i] || (eng->dev[i].model_from_cache && eng->dev[i].model.valid);
    if (n < 2)
        return;
    double fastest = INFINITY;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        size_t np = probe_rows(d);
        hg_error e;
        if (todo[i] && np > 0 && probe_ms(eng, i, np, params, &ss[i].hint.probe_ms, &e) ==
                                     HG_OK) {
            ss[i].hint.probe_rows = np;
            fastest = fmin(fastest, ss[i].hint.probe_ms);
        } else if (!todo[i] && d->model_from_cache && d->model.valid && np > 0) {
            fastest = fmin(fastest, hg__cost_predict(&d->model, np));
        }
    }
    for (size_t i = 0; isfinite(fastest) && fastest > 0 && i < eng->ndev; i++)
        ss[i].hint.fastest_ms = todo[i] ? fastest : 0;
}

/*
 * The solo phase of hg_engine_calibrate (calibrate.c): every healthy device's
 * kernel choice and cost model, alone, or its cached profile.  The cache is
 * read first, then the devices left to measure are probed, so that one far
 * slower than the others is not raced (choose_kernel).  A device that cannot
 * be measured is quarantined.  *measured: some device was measured rather
 * than read from the cache.  Fails only with HG_OUT_OF_MEMORY.
 */
hg_status hg__calibrate_solo(hg_engine *eng, const float *params, bool *measured,
                             hg_error *err)
{
    char *sig = signature(eng);
    solo_state *ss = calloc(eng->ndev ? eng->ndev : 1, sizeof *ss);
    bool *todo = calloc(eng->ndev ? eng->ndev : 1, sizeof *todo);
    hg_status st = sig && ss && todo ? HG_OK
                                     : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "calibrating");
    long cpus = hg__usable_cpus();
    *measured = false;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        hg__device *d = &eng->dev[i];
        d->model = (hg__cost_model){0};
        d->model_from_cache = false;
        if (d->quarantined || d->win.hi == d->win.lo)
            continue;
        bool hit = false;
        st = read_cached(eng, i, sig, cpus, &hit, err);
        todo[i] = st == HG_OK && !hit;
    }
    if (st == HG_OK)
        probe_all(eng, todo, params, ss);
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        if (!todo[i])
            continue;
        hg_error e;
        hg_status ds = measure_solo(eng, i, sig, cpus, params, &ss[i], &e);
        *measured |= ds == HG_OK;
        if (ds == HG_OUT_OF_MEMORY)
            st = hg__error_set(err, ds, 0, "%s", e.message);
        else if (ds != HG_OK)
            hg__quarantine(eng, i, &e);
    }
    free(todo);
    free(ss);
    free(sig);
    return st;
}

/*
 * The check a cached profile's kernels wait for (cached_profile), on device i:
 * right, the device is checked; wrong even from source, or right only after a
 * rebuild (the program cache held wrong binaries), the device is measured
 * again, as when its cached profile is unsound (*remeasured).  Fails as
 * measure_device.
 */
static hg_status settle(hg_engine *eng, size_t i, const char *sig, long cpus,
                        const float *params, bool *remeasured, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    solo_state s = {0};
    char name[48];
    *remeasured = false;
    if (!hg__check_pending(eng, d))
        return HG_OK;
    bool right = kernels_right(eng, i, params, s.bad_why, sizeof s.bad_why);
    if (right && !d->cache_suspect) {
        d->kc_checked = true;
        return HG_OK;
    }
    hg__kchoice_name(&d->kc, name, sizeof name);
    if (!right)
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: the entry for %s names kernel %s, "
                "which computes a wrong gradient (%s); recalibrating", d->what, name,
                s.bad_why);
    s.have_bad = !right;
    s.bad = d->kc;
    d->model_from_cache = false;
    *remeasured = true;
    return measure_solo(eng, i, sig, cpus, params, &s, err);
}

hg_status hg__calibrate_pending(hg_engine *eng, bool with_rows, bool *changed, hg_error *err)
{
    char *sig = signature(eng);
    float *params = check_params(eng);
    hg_status st = sig && params ? HG_OK
                                 : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "checking kernels");
    long cpus = hg__usable_cpus();
    bool warming = eng->warming;
    eng->warming = true; /* no fault injection, as in calibration */
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        hg__device *d = &eng->dev[i];
        if (d->quarantined || !d->model.valid || d->win.hi == d->win.lo ||
            (with_rows && (d->corun.excluded || eng->weight[i] <= 0)))
            continue;
        bool again = false;
        hg_error e;
        hg_status ds = settle(eng, i, sig, cpus, params, &again, &e);
        if (changed)
            *changed |= again || ds != HG_OK;
        if (ds == HG_OUT_OF_MEMORY)
            st = hg__error_set(err, ds, 0, "%s", e.message);
        else if (ds != HG_OK)
            hg__quarantine(eng, i, &e);
    }
    eng->warming = warming;
    free(params);
    free(sig);
    return st;
}

float *hg__check_params(const hg_engine *eng)
{
    return check_params(eng);
}

hg_status hg__profile_remeasure(hg_engine *eng, size_t i, hg__cost_model *model,
                                hg_error *err)
{
    float *params = check_params(eng);
    if (!params)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "measuring %s again",
                             eng->dev[i].what);
    bool warming = eng->warming;
    eng->warming = true; /* no fault injection, as in calibration */
    hg_status st = measure(eng, i, params, model, err);
    eng->warming = warming;
    free(params);
    return st;
}

void hg__profile_store(hg_engine *eng, size_t i)
{
    if (!eng->profile_cache_dir || eng->dev[i].sub) /* the key describes the whole device */
        return;
    hg__device *d = &eng->dev[i];
    char *sig = signature(eng);
    const char *key[KEY_FIELDS];
    char *owned = sig ? profile_key(eng, i, sig, hg__usable_cpus(), key) : NULL;
    if (owned)
        store_profile(eng, d, key, KEY_FIELDS);
    else
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: out of memory storing %s", d->what);
    free(owned);
    free(sig);
}

/* Untimed runs of device i on n rows while hg__rewarm_more says so. */
static hg_status rewarm(hg_engine *eng, size_t i, size_t n, const float *params,
                        hg_error *err)
{
    hg_status st = HG_OK;
    double spent = 0;
    for (size_t calls = 0; st == HG_OK && hg__rewarm_more(spent, calls); calls++) {
        size_t ns = 0;
        st = time_rows(eng, i, n, 0, false, params, NULL, NULL, &ns, err);
        spent += eng->dev[i].stats.host_ms;
    }
    return st;
}

/* hg__profile_time, after untimed runs while hg__rewarm_more says so when warm_first
   (hg__profile_time_warmed); one set of parameters for all the runs. */
static hg_status alone_runs(hg_engine *eng, size_t i, size_t n, int repeats, bool warm_first,
                            double *ms, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    float *params = check_params(eng);
    if (!params)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "timing %s", d->what);
    bool warming = eng->warming;
    eng->warming = true;
    hg_status st = warm_first ? rewarm(eng, i, n, params, err) : HG_OK;
    if (st == HG_OK)
        st = median_ms(eng, i, n, repeats, params, ms, err);
    eng->warming = warming;
    free(params);
    return st;
}

hg_status hg__profile_time(hg_engine *eng, size_t i, size_t n, int repeats, double *ms,
                           hg_error *err)
{
    return alone_runs(eng, i, n, repeats, false, ms, err);
}

hg_status hg__profile_time_warmed(hg_engine *eng, size_t i, size_t n, int repeats,
                                  double *ms, hg_error *err)
{
    return alone_runs(eng, i, n, repeats, true, ms, err);
}

/* hg_device_profile as first released (0.2.0) ends with kernel_note. */
#define DEVICE_PROFILE_MIN_SIZE HG__FIELD_END(hg_device_profile, kernel_note)

hg_status hg_engine_device_profile_sized(const hg_engine *eng, size_t i,
                                         hg_device_profile *out_user, size_t out_size)
{
    if (!eng || !out_user || out_size < DEVICE_PROFILE_MIN_SIZE)
        return HG_INVALID_ARGUMENT;
    if (i >= eng->ndev)
        return HG_RANGE;
    /* The model alone (planned as fixed_ms + corun_factor * ms_per_row * rows); in the
       dynamic split, the balancer's current planning model. */
    const hg__cost_model cur = eng->split == HG_SPLIT_DYNAMIC ? hg__sched_model(eng->sched, i)
                                                             : eng->dev[i].model;
    const hg__cost_model *m = &cur;
    hg_device_profile p, *out = &p;
    memset(out, 0, sizeof *out);
    hg__kchoice_name(&eng->dev[i].kc, out->kernel, sizeof out->kernel);
    snprintf(out->kernel_note, sizeof out->kernel_note, "%s", eng->dev[i].kc_note);
    if (eng->sparse) { /* CSR data: one kernel (sparse_exec.c) */
        snprintf(out->kernel, sizeof out->kernel, "sparse csr");
        snprintf(out->kernel_note, sizeof out->kernel_note, "the only kernel for CSR data");
    }
    out->dispatch_floor_ms = eng->dev[i].dispatch_floor_ms;
    if (m && m->valid) {
        out->valid = true;
        out->fixed_ms = m->a_ms;
        out->ms_per_row = m->b_ms_per_row;
        out->rows_per_s = m->b_ms_per_row > 0 ? 1000.0 / m->b_ms_per_row : 0;
        out->samples = m->samples;
        out->rejected = m->rejected;
        out->from_cache = eng->dev[i].model_from_cache;
        out->corun_factor = eng->corun_rows ? eng->dev[i].corun.slow : 0;
        out->excluded = eng->dev[i].corun.excluded;
        snprintf(out->excluded_why, sizeof out->excluded_why, "%s", eng->dev[i].corun.reason);
    }
    hg__sized_write(out_user, out_size, &p, sizeof p, DEVICE_PROFILE_MIN_SIZE);
    return HG_OK;
}

hg_status hg_engine_set_split(hg_engine *eng, hg_split split, hg_error *err)
{
    hg_error_clear(err);
    if (!eng)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_split: NULL");
    if (split != HG_SPLIT_WEIGHTS && split != HG_SPLIT_MODEL && split != HG_SPLIT_DYNAMIC)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_split: unknown "
                             "split %d", (int)split);
    if (split != HG_SPLIT_WEIGHTS && !eng->calibrated)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "this split needs a calibrated engine (hg_engine_calibrate)");
    /* DYNAMIC starts again from the calibrated models; the solo guard is cleared. */
    hg__policy p = split == HG_SPLIT_DYNAMIC ? HG__POLICY_DYNAMIC
                   : split == HG_SPLIT_MODEL ? HG__POLICY_MODEL
                                             : HG__POLICY_WEIGHTS;
    hg_status st = hg__sched_set_policy(eng->sched, p, err);
    if (st != HG_OK)
        return st;
    eng->split = split;
    return HG_OK;
}
