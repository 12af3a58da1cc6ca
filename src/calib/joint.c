/* SPDX-License-Identifier: MIT */
/*
 * joint.c - joint calibration on the engine's devices: after each device has
 * been calibrated alone (profile.c), run them together on planned splits,
 * through the engine's own concurrent rounds, and let sched/corun.c fit what
 * co-running costs each device and choose the devices worth running.
 *
 * Step size.  The joint steps have the engine's step size when the caller
 * said it (hg_engine_options.batch_rows: hetgrad-train's --batch), else
 * min(data rows, JOINT_MAX_ROWS) rows: the whole data set for full-batch
 * training and the benchmark, and a typical large step otherwise
 * (hg__decision_rows).  When the solo models predict such a step to take
 * longer than JOINT_TARGET_MS on every usable device together, it is scaled
 * down to about that (a slow model on a big data set: calibration stays
 * bounded; the factor is one on b, so it carries over to larger steps).
 *
 * Each device computes its rows from the start of its resident window: the
 * joint steps are timed, not reduced: a device's time runs from the round's
 * start to its end.  A joint step shorter than 20 ms is run 5 times and the
 * run of median makespan kept whole.  One warm-up step on the solo models'
 * plan comes first.  The result is cached in the profile cache under the
 * devices' identities and their solo models as stored (a,b to 17 digits): it
 * is reused exactly while every device's profile is, and measured again as
 * soon as one of them is.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_rules.h"
#include "diskcache.h"
#include "engine_internal.h"
#include "hostcache.h"
#include "profile_key.h"
#include "sched/planner.h"

#define JOINT_MAX_ROWS 65536u
#define JOINT_TARGET_MS 250.0
#define JOINT_SHORT_MS 20.0 /* a joint step shorter than this is run JOINT_REPEATS times */
#define JOINT_REPEATS 5

hg__cost_model hg__plan_model(const hg_engine *eng, size_t i)
{
    return hg__corun_model(&eng->dev[i].model, &eng->dev[i].corun);
}

/* The callback's state: the engine, calibration's parameters, one plan per device. */
typedef struct joint_run {
    hg_engine   *eng;
    const float *params;
    hg__dev_plan *plans;
    hg__range   *pieces;
    size_t       failed;   /* the device that failed (SIZE_MAX: none) */
} joint_run;

static hg_status run_once(joint_run *j, const size_t *counts, double *ms, hg_error *err)
{
    hg_engine *eng = j->eng;
    for (size_t i = 0; i < eng->ndev; i++) {
        j->pieces[i] = (hg__range){eng->dev[i].win.lo, counts[i]};
        j->plans[i] = (hg__dev_plan){.pieces = &j->pieces[i], .npieces = counts[i] > 0,
                                     .rows = counts[i]};
    }
    /* each device's time is from the round's start to its end (stats.end_ms): its own
       work and how late its worker started, which a step pays too */
    eng->step_t0 = hg__now_ms();
    hg__run_round(eng, j->plans, j->params);
    for (size_t i = 0; i < eng->ndev; i++) {
        if (counts[i] == 0)
            continue;
        if (eng->workers[i].st != HG_OK) {
            j->failed = i;
            return hg__error_set(err, eng->workers[i].st, 0, "%s", eng->workers[i].err.message);
        }
        const hg_device_step *st = &eng->dev[i].stats;
        ms[i] = st->end_ms > st->host_ms ? st->end_ms : st->host_ms;
    }
    return HG_OK;
}

/* The makespan of a run's device times ms (devices with counts only). */
static double makespan(const size_t *counts, const double *ms, size_t n)
{
    double span = 0;
    for (size_t i = 0; i < n; i++)
        span = counts[i] && ms[i] > span ? ms[i] : span;
    return span;
}

/*
 * The callback: one joint step; a short one (under JOINT_SHORT_MS) is
 * re-warmed (that first run and more, untimed, while hg__rewarm_more says so:
 * a short step right after another plan's runs slow for several steps), then
 * run JOINT_REPEATS times and the run of median makespan kept (every device's
 * time from that one run), so that a thread's wake-up does not pass for its
 * cost per row, and the makespan is one that a step had: medians taken
 * device by device come from different runs, and their largest is below the
 * median step when the devices take turns being late (three CPU runtimes on
 * two cores: a plan kept for 5.8 ms in calibration ran at 6.4-7.6 ms a step).
 */
static hg_status run_counts(void *user, const size_t *counts, double *ms, hg_error *err)
{
    joint_run *j = user;
    size_t n = j->eng->ndev;
    hg_status st = run_once(j, counts, ms, err);
    double span = makespan(counts, ms, n);
    if (st != HG_OK || span >= JOINT_SHORT_MS)
        return st;
    double spent = span;
    for (size_t calls = 1; st == HG_OK && hg__rewarm_more(spent, calls); calls++) {
        st = run_once(j, counts, ms, err);
        spent += makespan(counts, ms, n);
    }
    if (st == HG_OK)
        st = run_once(j, counts, ms, err);
    span = makespan(counts, ms, n);
    if (st != HG_OK)
        return st;
    double *all = calloc(n * JOINT_REPEATS, sizeof *all), *one = calloc(n, sizeof *one);
    if (!all || !one) {
        free(all);
        free(one);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "joint calibration");
    }
    /* all: run r's times at all[r * n ...]; spans[r]: its makespan */
    double spans[JOINT_REPEATS];
    memcpy(all, ms, n * sizeof *all);
    spans[0] = span;
    for (int r = 1; r < JOINT_REPEATS && st == HG_OK; r++) {
        st = run_once(j, counts, one, err);
        for (size_t i = 0; i < n; i++)
            all[(size_t)r * n + i] = counts[i] ? one[i] : 0;
        spans[r] = makespan(counts, one, n);
    }
    if (st == HG_OK) {
        size_t pick = hg__median_run(spans, JOINT_REPEATS);
        for (size_t i = 0; i < n; i++)
            if (counts[i])
                ms[i] = all[pick * n + i];
    }
    free(all);
    free(one);
    return st;
}

/* The cache key's device field: every device's identity and solo model; NULL: out of memory. */
static char *corun_key(const hg_engine *eng, const hg__corun_options *o)
{
    long cpus = hg__usable_cpus();
    char *key = hg__asprintf("rows=%zu;model=%d;in=%zu;out=%zu;det=%zu;keep_all=%d;v=2",
                             o->rows, (int)eng->model.kind, eng->model.inputs,
                             eng->model.outputs, eng->block_rows, (int)eng->keep_all);
    for (size_t i = 0; key && i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        char *dev = hg__profile_device_key(d->info, cpus);
        char *next = !dev ? NULL
                     : d->quarantined || !d->model.valid
                         ? hg__asprintf("%s|-", key)
                         : hg__asprintf("%s|%s;%s;%s;%s;%s;chunk=%zu;win=%zu+%zu;a=%.17g;"
                                        "b=%.17g;k=%u:%u:%u:%u", key, d->info->platform_name,
                                        d->info->name, d->info->driver_version, d->info->id,
                                        dev, d->chunk_rows, d->win.lo, d->win.hi - d->win.lo,
                                        d->model.a_ms, d->model.b_ms_per_row,
                                        (unsigned)d->kc.path, d->kc.a, d->kc.b, d->kc.c);
        free(dev);
        free(key);
        key = next;
    }
    return key;
}

/* Read a cached result into c[ndev]: false when it does not parse. */
static bool parse_corun(const char *buf, size_t len, size_t ndev, hg__corun_dev *c)
{
    const char *p = buf, *end = buf + len;
    for (size_t i = 0; i < ndev; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return false;
        char line[HG__CORUN_REASON_MAX + 128];
        size_t n = (size_t)(nl - p);
        if (n >= sizeof line)
            return false;
        memcpy(line, p, n);
        line[n] = '\0';
        double slow = 0;
        int excluded = 0, used = 0;
        double slow_all = 0, alone = 0;
        if (sscanf(line, "slow=%lg slow_all=%lg slow_alone=%lg excluded=%d reason=%n", &slow,
                   &slow_all, &alone, &excluded, &used) != 4 || used == 0 || !(slow > 0) ||
            !isfinite(slow) || !(slow_all > 0) || !isfinite(slow_all) || !(alone > 0) ||
            !isfinite(alone) || (excluded != 0 && excluded != 1))
            return false;
        c[i] = (hg__corun_dev){.slow = slow, .slow_all = slow_all, .slow_alone = alone,
                               .excluded = excluded};
        snprintf(c[i].reason, sizeof c[i].reason, "%s", line + used);
        p = nl + 1;
    }
    return p == end;
}

static void store_corun(hg_engine *eng, const char *const *key)
{
    size_t cap = eng->ndev * (HG__CORUN_REASON_MAX + 128) + 1, n = 0;
    char *text = malloc(cap);
    for (size_t i = 0; text && i < eng->ndev; i++) {
        const hg__corun_dev *c = &eng->dev[i].corun;
        n += (size_t)snprintf(text + n, cap - n, "slow=%.17g slow_all=%.17g slow_alone=%.17g "
                              "excluded=%d reason=%s\n", c->slow, c->slow_all, c->slow_alone,
                              (int)c->excluded,
                              c->reason);
    }
    hg_error e;
    if (!text)
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: out of memory storing the joint "
                "calibration");
    else if (hg__cache_store(eng->profile_cache_dir, key, 2, text, n, &e) != HG_OK)
        hg__log(&eng->log, HG_LOG_WARN, "profile cache: %s", e.message);
    free(text);
}

/* The cached result for key, into the devices; false on a miss. */
static bool load_corun(hg_engine *eng, const char *const *key)
{
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    const char *why = NULL;
    hg_error e;
    hg__corun_dev *c = calloc(eng->ndev, sizeof *c);
    bool ok = c && hg__cache_load(eng->profile_cache_dir, key, 2, 1u << 20, &data, &len,
                                  &found, &why, &e) == HG_OK && found &&
              parse_corun(data, len, eng->ndev, c);
    if (why)
        hg__log(&eng->log, HG_LOG_INFO, "profile cache: joint calibration entry %s; "
                "measuring again", why);
    for (size_t i = 0; ok && i < eng->ndev; i++)
        eng->dev[i].corun = c[i];
    free(data);
    free(c);
    return ok;
}

/* The rows of the joint steps (see the top of this file); 0: no plan. */
static size_t joint_rows(const hg_engine *eng, const hg__cost_model *solo, const size_t *cap)
{
    size_t rows = hg__decision_rows(eng->rows, eng->batch_rows, JOINT_MAX_ROWS);
    size_t *counts = calloc(eng->ndev, sizeof *counts);
    double ms = 0;
    hg_error e;
    if (!counts || hg__plan_affine(rows, solo, eng->ndev, cap, counts, &ms, &e) != HG_OK)
        rows = 0;
    else if (ms > JOINT_TARGET_MS)
        rows = (size_t)fmax(16.0, (double)rows * JOINT_TARGET_MS / ms);
    free(counts);
    return rows < eng->rows ? rows : eng->rows;
}

static void log_result(hg_engine *eng, const hg__corun_summary *s, bool cached)
{
    for (size_t i = 0; i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        if (d->quarantined || !d->model.valid)
            continue;
        if (d->corun.excluded)
            hg__log(&eng->log, HG_LOG_INFO, "%s gets no rows: %s", d->what, d->corun.reason);
        else
            hg__log(&eng->log, HG_LOG_INFO, "%s: %.3g x its per-row cost alone when running "
                    "with the others%s", d->what, d->corun.slow, cached ? " (cached)" : "");
    }
    if (!cached)
        hg__log(&eng->log, HG_LOG_INFO, "joint calibration: %zu joint steps of %zu rows on "
                "%zu device sets; every device %.3g ms, the chosen %zu %.3g ms", s->runs,
                s->rows, s->subsets, s->all_ms, s->chosen, s->chosen_ms);
}

/* A device joint calibration would run whose kernels wait for their check (profile.c). */
static bool any_check_pending(const hg_engine *eng)
{
    for (size_t i = 0; i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        if (!d->quarantined && d->model.valid && d->win.hi > d->win.lo &&
            hg__check_pending(eng, d))
            return true;
    }
    return false;
}

/*
 * Joint calibration from the cache, or run.  With *pending (may be NULL: run),
 * it stops before the runs when a device's kernels wait for their check, and
 * says so in *pending.
 */
static hg_status joint(hg_engine *eng, bool *pending, hg_error *err)
{
    size_t usable = 0;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        d->corun = (hg__corun_dev){.slow = 1.0, .slow_all = 1.0, .slow_alone = 1.0};
        usable += !d->quarantined && d->model.valid && d->win.hi > d->win.lo;
    }
    eng->corun_rows = 0;
    eng->corun_cached = false;
    if (usable < 2 || eng->serial || eng->no_joint || eng->ndev > HG__CORUN_MAX_DEVICES)
        return HG_OK; /* nothing runs together */

    hg_status st = HG_OK;
    hg__cost_model *solo = calloc(eng->ndev, sizeof *solo);
    size_t *cap = calloc(eng->ndev, sizeof *cap);
    hg__corun_dev *out = calloc(eng->ndev, sizeof *out);
    hg__dev_plan *plans = calloc(eng->ndev, sizeof *plans);
    hg__range *pieces = calloc(eng->ndev, sizeof *pieces);
    size_t *counts = calloc(eng->ndev, sizeof *counts);
    float *params = calloc(eng->nparams ? eng->nparams : 1, sizeof *params);
    char *dkey = NULL;
    if (!solo || !cap || !out || !plans || !pieces || !counts || !params) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "joint calibration");
        goto out;
    }
    for (size_t k = 0; k < eng->nparams; k++) /* as profile.c's: small, realistic */
        params[k] = (float)((double)((k * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.01f;
    for (size_t i = 0; i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        bool use = !d->quarantined && d->model.valid;
        solo[i] = use ? d->model : (hg__cost_model){.valid = false};
        cap[i] = use ? d->win.hi - d->win.lo : 0;
    }
    hg__corun_options o;
    hg__corun_options_init(&o);
    o.rows = joint_rows(eng, solo, cap);
    if (o.rows == 0)
        goto out;
    eng->corun_rows = o.rows;

    const char *key[2] = {"corun", NULL};
    if (eng->profile_cache_dir) {
        dkey = corun_key(eng, &o);
        if (!dkey) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "joint calibration");
            goto out;
        }
        key[1] = dkey;
        if (load_corun(eng, key)) {
            eng->corun_cached = true;
            log_result(eng, NULL, true);
            goto out;
        }
    }
    if (pending && (*pending = any_check_pending(eng)))
        goto out; /* checked first, then run on the models the checks leave */

    joint_run j = {.eng = eng, .params = params, .plans = plans, .pieces = pieces,
                   .failed = SIZE_MAX};
    double *ms = calloc(eng->ndev, sizeof *ms);
    hg_error e;
    hg__corun_summary sum;
    bool warming = eng->warming;
    eng->warming = true; /* no fault injection, as in calibration */
    double span = 0;
    st = ms ? hg__plan_affine(o.rows, solo, eng->ndev, cap, counts, &span, &e)
            : hg__error_set(&e, HG_OUT_OF_MEMORY, 0, "joint calibration");
    if (st == HG_OK)
        st = run_counts(&j, counts, ms, &e); /* warm-up */
    if (st == HG_OK)
        st = hg__corun_calibrate(eng->ndev, solo, cap, &o, run_counts, &j, out, &sum, &e);
    eng->warming = warming;
    free(ms);
    if (st == HG_OUT_OF_MEMORY) {
        st = hg__error_set(err, st, 0, "joint calibration: %s", e.message);
        goto out;
    }
    if (st != HG_OK) {
        /* A device failed: it is quarantined, and the others are planned on
           their solo models. */
        if (j.failed != SIZE_MAX)
            hg__quarantine(eng, j.failed, &e);
        else
            hg__log(&eng->log, HG_LOG_WARN, "joint calibration: %s; planning on the "
                    "models measured alone", e.message);
        st = HG_OK;
        goto out;
    }
    for (size_t i = 0; i < eng->ndev; i++) {
        eng->dev[i].corun = out[i];
        if (eng->keep_all) { /* tests: every device stays in (engine_knobs.h) */
            eng->dev[i].corun.slow = out[i].slow_all;
            eng->dev[i].corun.excluded = false;
            eng->dev[i].corun.reason[0] = '\0';
        }
    }
    log_result(eng, &sum, false);
    if (eng->profile_cache_dir)
        store_corun(eng, key);
out:
    free(dkey);
    free(params);
    free(counts);
    free(pieces);
    free(plans);
    free(out);
    free(cap);
    free(solo);
    return st;
}

hg_status hg__joint_calibrate(hg_engine *eng, hg_error *err)
{
    bool pending = false;
    hg_status st = joint(eng, &pending, err);
    if (st == HG_OK && pending)
        st = hg__calibrate_pending(eng, false, NULL, err);
    if (st == HG_OK && pending)
        st = joint(eng, NULL, err);
    return st;
}
