/* SPDX-License-Identifier: MIT */
/*
 * fission.c - host threads are a resource.  A GPU or accelerator queue needs
 * a host thread to feed it; POCL's basic device runs its kernels on the
 * calling host thread; Oclgrind simulates on host threads.  A CPU OpenCL
 * device that takes every core starves them.  So, after the solo fits, when
 * other devices take rows beside a CPU device of two or more compute units,
 * calibration tries that device with one unit fewer, as a sub-device
 * (clCreateSubDevices, by counts or equally), and keeps it only when the
 * joint step at the planned split measures faster (hg__fission_pays).
 *
 * The trial, for the first such device:
 *   1. plan a step on the solo models (hg__plan_affine), of the data set's
 *      rows or fewer, so that it is predicted to take about 100 ms;
 *   2. open the device again on the sub-device (context, queue, programs,
 *      the same kernel choice), upload its window again (read back from the
 *      whole device), check its gradient against the host reference, and fit
 *      its cost model alone; plan again with that model;
 *   3. time the joint step, every device at once, with the device whole and
 *      fissioned in turn (both stay open meanwhile), and the whole device
 *      alone on the same rows: a warm-up round, then the median of 3 rounds
 *      each (a step under HG__REWARM_BELOW_MS after untimed ones of its own);
 *   4. keep the faster: the other is closed and released.  The fissioned
 *      device must also beat the whole device alone on the step's rows
 *      (timed, or its solo model's prediction when its window is smaller
 *      than the step): when that is faster than either joint step, the
 *      others are about to be measured not to pay for themselves, and a
 *      device fissioned for their sake would be left with a core idle.
 * The device's fission_note says what was decided and on which figures.
 * A fissioned device's model is never written to the profile cache (its key
 * describes the whole device), and a calibration that read every profile
 * from the cache does not run the trial (warm starts stay fast).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_rules.h"
#include "engine_internal.h"
#include "platlock.h"
#include "sched/planner.h"
#include "workers.h"

#define JOINT_TARGET_MS 100.0
#define JOINT_RUNS 3

/*
 * A sub-device of dev with units compute units, into *out (the caller
 * releases it with clReleaseDevice).  By counts where the driver offers it,
 * else equally (the first of the sub-devices; the others are released).
 * HG_INVALID_ARGUMENT when the device offers neither; HG_OPENCL when a call
 * fails.
 */
static hg_status sub_device(cl_device_id dev, cl_uint units, const char *what,
                            cl_device_id *out, hg_error *err)
{
    cl_device_partition_property props[8] = {0};
    size_t size = 0;
    cl_int rc = clGetDeviceInfo(dev, CL_DEVICE_PARTITION_PROPERTIES, sizeof props, props,
                                &size);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clGetDeviceInfo(CL_DEVICE_PARTITION_PROPERTIES) on %s",
                           what);
    bool counts = false, equally = false;
    for (size_t k = 0; k < size / sizeof props[0] && k < 8; k++) {
        counts |= props[k] == CL_DEVICE_PARTITION_BY_COUNTS;
        equally |= props[k] == CL_DEVICE_PARTITION_EQUALLY;
    }
    if (counts) {
        const cl_device_partition_property by[] = {CL_DEVICE_PARTITION_BY_COUNTS, units,
                                                   CL_DEVICE_PARTITION_BY_COUNTS_LIST_END, 0};
        cl_uint n = 0;
        rc = clCreateSubDevices(dev, by, 1, out, &n);
        if (rc == CL_SUCCESS && n == 1)
            return HG_OK;
        if (rc == CL_SUCCESS)
            clReleaseDevice(*out);
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_INVALID_VALUE,
                           "clCreateSubDevices(by counts: %u) on %s", (unsigned)units, what);
    }
    if (!equally)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s cannot be partitioned by counts "
                             "or equally", what);
    const cl_device_partition_property eq[] = {CL_DEVICE_PARTITION_EQUALLY, units, 0};
    cl_uint n = 0;
    rc = clCreateSubDevices(dev, eq, 0, NULL, &n);
    if (rc != CL_SUCCESS || n == 0)
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_INVALID_VALUE,
                           "clCreateSubDevices(equally: %u) on %s", (unsigned)units, what);
    cl_device_id *all = calloc(n, sizeof *all);
    if (!all)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "sub-devices of %s", what);
    rc = clCreateSubDevices(dev, eq, n, all, NULL);
    if (rc != CL_SUCCESS) {
        free(all);
        return hg__cl_fail(err, rc, "clCreateSubDevices(equally: %u) on %s", (unsigned)units,
                           what);
    }
    *out = all[0];
    for (cl_uint k = 1; k < n; k++)
        clReleaseDevice(all[k]);
    free(all);
    return HG_OK;
}

/* Blocking read of bytes of m into a new host buffer *out (malloc'ed). */
static hg_status read_back(hg__device *d, cl_mem m, size_t bytes, void **out, hg_error *err)
{
    *out = malloc(bytes ? bytes : 1);
    if (!*out)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "reading back %s's rows", d->what);
    if (!bytes)
        return HG_OK;
    cl_int rc = clEnqueueReadBuffer(d->queue, m, CL_TRUE, 0, bytes, *out, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueReadBuffer(resident rows, %zu bytes) on %s",
                           bytes, d->what);
    return HG_OK;
}

/* Upload whole's resident window to nd (opened, same engine): read back from whole. */
hg_status hg__device_copy_window(hg_engine *eng, hg__device *whole, hg__device *nd, hg_error *err)
{
    const hg_model_desc *m = &eng->model;
    size_t n = whole->win.hi - whole->win.lo;
    void *x = NULL, *y = NULL, *l = NULL;
    hg__platform_enter(whole->serial);
    hg_status st = read_back(whole, whole->x, n * m->inputs * sizeof(float), &x, err);
    if (st == HG_OK && whole->y)
        st = read_back(whole, whole->y, n * m->outputs * sizeof(float), &y, err);
    if (st == HG_OK && whole->labels)
        st = read_back(whole, whole->labels, n * sizeof(int32_t), &l, err);
    hg__platform_leave(whole->serial);
    if (st == HG_OK) {
        hg_dataset_desc ds = {n, m->inputs, x, y, l};
        st = hg__device_upload(eng, nd, &ds, 0, n, err);
    }
    if (st == HG_OK)
        nd->win = whole->win; /* the same rows of the data set */
    free(x);
    free(y);
    free(l);
    return st;
}

/* ---- the joint step ---------------------------------------------------- */

typedef struct joint_run {
    hg_engine  *eng;
    size_t      i;
    hg__range   piece;
    hg__dev_plan plan;
    const float *params;
    hg_status   st;
    hg_error    err;
} joint_run;

static void joint_main(void *arg)
{
    joint_run *r = arg;
    r->st = hg__device_run(r->eng, &r->eng->dev[r->i], r->i, &r->plan, r->params, false,
                           &r->err);
}

/*
 * Wall time (*ms) of one step in which every device computes counts[i] rows
 * of its window at once, each on its engine worker thread (workers.c), as a
 * step runs them.  A device failure is returned with the device named.
 */
static hg_status joint_once(hg_engine *eng, const size_t *counts, const float *params,
                            double *ms, hg_error *err)
{
    joint_run *run = calloc(eng->ndev, sizeof *run);
    bool *posted = calloc(eng->ndev, sizeof *posted);
    hg_status st = run && posted ? HG_OK
                   : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "timing a joint step");
    double t0 = hg__now_ms();
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        run[i] = (joint_run){.eng = eng, .i = i, .piece = {eng->dev[i].win.lo, counts[i]},
                             .params = params, .st = HG_OK};
        run[i].plan = (hg__dev_plan){.pieces = &run[i].piece, .npieces = 1,
                                     .rows = counts[i]};
        posted[i] = counts[i] > 0 && hg__workers_post(eng->pool, i, joint_main, &run[i]);
        if (counts[i] > 0 && !posted[i])
            joint_main(&run[i]); /* no thread: inline, as a step would */
    }
    for (size_t i = 0; st == HG_OK && i < eng->ndev; i++)
        if (posted[i])
            hg__workers_wait_idle(eng->pool, i);
    *ms = hg__now_ms() - t0;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++)
        if (counts[i] > 0 && run[i].st != HG_OK) {
            st = run[i].st;
            if (err)
                *err = run[i].err;
        }
    free(run);
    free(posted);
    return st;
}

/* The trial's timed rounds: each round's three times, and their medians. */
typedef struct rounds {
    double whole[JOINT_RUNS], sub[JOINT_RUNS], alone[JOINT_RUNS];
    double whole_ms, sub_ms, alone_ms;
} rounds;

/* One timed joint step on counts into *ms; when the last one (*last, NAN: none yet) was
   short, after untimed ones of its own first (calib_rules.h, re-warming). */
static hg_status timed_joint(hg_engine *eng, const size_t *counts, const float *params,
                             double *last, double *ms, hg_error *err)
{
    hg_status st = HG_OK;
    double spent = 0, t = 0;
    for (size_t calls = 0; st == HG_OK && *last < HG__REWARM_BELOW_MS &&
                           hg__rewarm_more(spent, calls); calls++) {
        st = joint_once(eng, counts, params, &t, err);
        spent += t;
    }
    if (st == HG_OK)
        st = joint_once(eng, counts, params, ms, err);
    *last = *ms;
    return st;
}

/*
 * The joint step with device i whole (*whole, on counts) and fissioned
 * (eng->dev[i], on sub_counts), and, with alone_counts, the whole device
 * alone on the step's rows, in turn, so that a drift in the machine's speed
 * (other processes) hits them alike: a warm-up round, then JOINT_RUNS rounds
 * into *t, with the medians of each (alone: NAN without alone_counts).  After
 * the warm-up round, a step shorter than HG__REWARM_BELOW_MS is timed after
 * untimed steps of its own (timed_joint).
 * *whole and eng->dev[i] are where they were on return.
 */
static hg_status alternate(hg_engine *eng, size_t i, hg__device *whole, const size_t *counts,
                           const size_t *sub_counts, const size_t *alone_counts,
                           const float *params, rounds *t, hg_error *err)
{
    double *tw = t->whole, *ts = t->sub, *ta = t->alone;
    double last[3] = {NAN, NAN, NAN}; /* each plan's last step: whole, alone, fissioned */
    hg_status st = HG_OK;
    for (int r = 0; r <= JOINT_RUNS && st == HG_OK; r++) {
        double a = 0, b = 0, c = NAN;
        hg__device sub = eng->dev[i];
        eng->dev[i] = *whole;
        st = timed_joint(eng, counts, params, &last[0], &a, err);
        if (st == HG_OK && alone_counts)
            st = timed_joint(eng, alone_counts, params, &last[1], &c, err);
        *whole = eng->dev[i];
        eng->dev[i] = sub;
        if (st == HG_OK)
            st = timed_joint(eng, sub_counts, params, &last[2], &b, err);
        if (r > 0) { /* r == 0: warm-up */
            tw[r - 1] = a;
            ts[r - 1] = b;
            ta[r - 1] = c;
        }
    }
    if (st == HG_OK) { /* the medians of copies: the rounds stay paired */
        double w[JOINT_RUNS], b[JOINT_RUNS], a[JOINT_RUNS];
        memcpy(w, tw, sizeof w);
        memcpy(b, ts, sizeof b);
        memcpy(a, ta, sizeof a);
        t->whole_ms = hg__cost_median(w, JOINT_RUNS);
        t->sub_ms = hg__cost_median(b, JOINT_RUNS);
        t->alone_ms = alone_counts ? hg__cost_median(a, JOINT_RUNS) : NAN;
    }
    return st;
}

/*
 * Rows per device for a joint step on the devices' current models: the
 * affine plan of the data set's rows, or of fewer when that is predicted to
 * take longer than JOINT_TARGET_MS.  Devices without a valid model, or
 * quarantined, get none.
 */
static hg_status joint_plan(hg_engine *eng, size_t *counts, hg_error *err)
{
    hg__cost_model *models = calloc(eng->ndev, sizeof *models);
    size_t *caps = calloc(eng->ndev, sizeof *caps);
    hg_status st = models && caps ? HG_OK
                   : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a joint step");
    size_t total = eng->rows;
    for (size_t i = 0; st == HG_OK && i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        if (!d->quarantined && d->model.valid) {
            models[i] = d->model;
            caps[i] = d->win.hi - d->win.lo;
        }
    }
    double makespan = 0;
    for (int pass = 0; pass < 2 && st == HG_OK; pass++) {
        st = hg__plan_affine(total, models, eng->ndev, caps, counts, &makespan, err);
        if (st != HG_OK || pass == 1 || makespan <= JOINT_TARGET_MS)
            break;
        size_t fewer = (size_t)((double)total * JOINT_TARGET_MS / makespan);
        total = fewer > 64 * eng->ndev ? fewer : total;
    }
    free(models);
    free(caps);
    return st;
}

static size_t active(const hg_engine *eng, const size_t *counts)
{
    size_t n = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        n += counts[i] > 0;
    return n;
}

/* ---- the trial ----------------------------------------------------------- */

/*
 * The device to try: the first healthy, calibrated CPU device of 2 compute
 * units or more that is not fissioned yet; SIZE_MAX if none.  When the only
 * devices beside it are other CPU-class ones (views of the same cores: no
 * device of another class gets rows in the plan, counts), or the plan gives
 * it no rows or no other device rows beside it, it is not tried (unless
 * eng->keep_fission: tests, HETGRAD_FISSION=force) and its note says why.
 */
static size_t candidate(hg_engine *eng, const size_t *counts, cl_uint *units)
{
    size_t busy = active(eng, counts);
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        if (d->quarantined || !d->model.valid || d->sub ||
            !(d->info->cl_type & CL_DEVICE_TYPE_CPU))
            continue;
        cl_uint cu = 0;
        if (clGetDeviceInfo(d->cl_dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL) !=
                CL_SUCCESS || cu < 2)
            continue;
        size_t others = counts[i] > 0 ? busy - 1 : busy;
        /* CPU-class devices are all views of the host's cores (dedup.c): beside
           them alone, a fissioned device can at best tie the whole device alone
           (the same cores, split otherwise), and any win the trial measures is
           noise (docs/engine.md, "Host threads and device fission").  That holds
           whatever rows the plan gives it and the views, so the note does not
           hang on a plan that a noisy calibration can tip either way. */
        size_t elsewhere = 0, views = 0;
        for (size_t k = 0; k < eng->ndev; k++) {
            const hg__device *o = &eng->dev[k];
            bool cpu = o->info->type == HG_DEVICE_CPU;
            elsewhere += k != i && counts[k] > 0 && !cpu;
            views += k != i && cpu && !o->quarantined && o->model.valid;
        }
        if (views > 0 && elsewhere == 0 && !eng->keep_fission) {
            snprintf(d->fission_note, sizeof d->fission_note, "kept whole (%u compute "
                     "units): the devices beside it are other views of the host's cores, "
                     "so a core fewer gives no other processor a host thread",
                     (unsigned)cu);
            return SIZE_MAX;
        }
        if (eng->keep_fission)
            others = 1;
        *units = hg__fission_units(cu, counts[i] > 0 || eng->keep_fission ? others : 0);
        if (*units > 0)
            return i;
        snprintf(d->fission_note, sizeof d->fission_note, "kept whole (%u compute units): "
                 "the plan gives %s", (unsigned)cu, counts[i] == 0
                 ? "it no rows" : "no other device rows beside it");
        return SIZE_MAX;
    }
    return SIZE_MAX;
}

/*
 * Open device i again as a sub-device of units compute units, in place of
 * eng->dev[i]; *whole receives the whole device, still open.  On failure
 * eng->dev[i] is the whole device again and the sub-device is released.
 */
static hg_status open_fissioned(hg_engine *eng, size_t i, cl_uint units, hg__device *whole,
                                hg_error *err)
{
    *whole = eng->dev[i];
    cl_device_id sub = NULL;
    hg_status st = sub_device(whole->cl_dev, units, whole->what, &sub, err);
    if (st != HG_OK)
        return st;
    hg__device *d = &eng->dev[i];
    /* d owns sub now; opened on the whole device's kernels (one build) */
    st = hg__device_open_sub(eng, d, whole->li, sub, units, &whole->kc, err);
    if (st == HG_OK) {
        d->chunk_rows = whole->chunk_rows;
        snprintf(d->kc_note, sizeof d->kc_note, "%s", whole->kc_note);
        d->kc_measured = whole->kc_measured;
        if (!hg__kchoice_same(&d->kc, &whole->kc)) /* not a candidate there, or it failed */
            st = hg__kchoice_apply(eng, d, d->li, &whole->kc, err);
    }
    if (st == HG_OK)
        st = hg__device_copy_window(eng, whole, d, err);
    if (st == HG_OK) /* the same gradient as the host reference, on the sub-device */
        st = hg__verify_kernels(eng, i, err);
    if (st == HG_OK && hg__kchoice_same(&d->kc, &whole->kc))
        st = hg__profile_remeasure(eng, i, &d->model, err);
    else if (st == HG_OK) /* another kernel was chosen: not comparable */
        st = hg__error_set(err, HG_DEVICE_FAILED, 0, "%s: its kernel computes a wrong "
                           "gradient as a sub-device", whole->what);
    if (st != HG_OK) {
        hg__forward_release(d);
        hg__device_close(d);
        eng->dev[i] = *whole;
    }
    return st;
}

hg_status hg__fission_calibrate(hg_engine *eng, const float *params, hg_error *err)
{
    /* CSR data (sparse_exec.c): the trial re-uploads dense windows; not tried */
    if (!eng->fission || eng->serial || eng->ndev < 2 || eng->sparse)
        return HG_OK;
    size_t *counts = calloc(eng->ndev, sizeof *counts);
    if (!counts)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "device fission");
    for (size_t k = 0; k < eng->ndev; k++)
        if (!eng->dev[k].sub) /* a fissioned device keeps the note that says why */
            eng->dev[k].fission_note[0] = '\0';
    hg_error e;
    hg_status st = joint_plan(eng, counts, &e);
    cl_uint units = 0;
    size_t i = st == HG_OK ? candidate(eng, counts, &units) : SIZE_MAX;
    if (i == SIZE_MAX) {
        free(counts);
        return st == HG_OUT_OF_MEMORY ? hg__error_set(err, st, 0, "%s", e.message) : HG_OK;
    }
    hg__device *d = &eng->dev[i];
    cl_uint all = units + 1;
    size_t rows = 0;
    for (size_t k = 0; k < eng->ndev; k++)
        rows += counts[k];
    double full_ms = NAN, sub_ms = NAN;
    hg__device whole;
    bool warming = eng->warming;
    eng->warming = true; /* no fault injection */
    st = open_fissioned(eng, i, units, &whole, &e);
    if (st != HG_OK) {
        snprintf(d->fission_note, sizeof d->fission_note, "kept whole (%u compute units): "
                 "the trial failed: %.180s", (unsigned)all, e.message);
        hg__log(&eng->log, HG_LOG_INFO, "%s: fission: %s", d->what, d->fission_note);
        eng->warming = warming;
        free(counts);
        return st == HG_OUT_OF_MEMORY ? hg__error_set(err, st, 0, "%s", e.message) : HG_OK;
    }
    /* eng->dev[i] is the sub-device now; whole is still open */
    d = &eng->dev[i];
    size_t *sub_counts = calloc(eng->ndev, sizeof *sub_counts);
    st = sub_counts ? joint_plan(eng, sub_counts, &e)
                    : hg__error_set(&e, HG_OUT_OF_MEMORY, 0, "device fission");
    /*
     * The whole device alone on the same rows: what the joint steps must
     * beat.  Timed with them where its window holds the step's rows (its
     * solo model can be off by a third at this size: 11.6 and 21.7 ms
     * predicted for the same 65536 rows of POCL pthread in two runs); else
     * its model's prediction.
     */
    size_t *alone_counts = NULL;
    if (st == HG_OK && rows <= whole.win.hi - whole.win.lo) {
        alone_counts = calloc(eng->ndev, sizeof *alone_counts);
        if (alone_counts)
            alone_counts[i] = rows;
    }
    double alone_ms = NAN;
    rounds t = {0};
    if (st == HG_OK)
        st = alternate(eng, i, &whole, counts, sub_counts, alone_counts, params, &t, &e);
    full_ms = t.whole_ms;
    sub_ms = t.sub_ms;
    alone_ms = t.alone_ms;
    eng->warming = warming;
    const char *alone_how = alone_counts ? "took" : "is predicted";
    if (!alone_counts && whole.model.valid) {
        alone_ms = hg__cost_predict(&whole.model, rows);
        for (int r = 0; r < JOINT_RUNS; r++)
            t.alone[r] = alone_ms;
    }
    free(alone_counts);
    /* decided round by round (hg__fission_pays_rounds); the notes give the medians */
    size_t won = 0;
    bool pays = st == HG_OK &&
                hg__fission_pays_rounds(t.whole, t.sub, t.alone, JOINT_RUNS, &won);
    bool keep = st == HG_OK && (pays || eng->keep_fission);
    if (keep) {
        hg__forward_release(&whole);
        hg__device_close(&whole);
        if (isfinite(alone_ms))
            snprintf(d->fission_note, sizeof d->fission_note, "fissioned to %u of %u compute "
                     "units: a joint step of %zu rows took %.1f ms, against %.1f ms whole, "
                     "and the whole device alone %s %.1f ms (medians; faster in %zu of %d "
                     "rounds)", (unsigned)units, (unsigned)all, rows, sub_ms, full_ms,
                     alone_how, alone_ms, won, JOINT_RUNS);
        else
            snprintf(d->fission_note, sizeof d->fission_note, "fissioned to %u of %u compute "
                     "units: a joint step of %zu rows took %.1f ms, against %.1f ms whole",
                     (unsigned)units, (unsigned)all, rows, sub_ms, full_ms);
    } else {
        hg__forward_release(d);
        hg__device_close(d);
        eng->dev[i] = whole;
        d = &eng->dev[i];
        size_t won_whole = 0; /* rounds faster than whole, the device alone aside */
        bool beats_whole = st == HG_OK && hg__fission_pays_rounds(t.whole, t.sub, NULL,
                                                                  JOINT_RUNS, &won_whole);
        if (beats_whole)
            snprintf(d->fission_note, sizeof d->fission_note, "kept whole (%u compute units): "
                     "a joint step of %zu rows took %.1f ms fissioned to %u, %.1f ms whole, "
                     "and the whole device alone %s %.1f ms (medians; faster than whole in "
                     "%zu, than both in %zu of %d rounds)", (unsigned)all, rows, sub_ms,
                     (unsigned)units, full_ms, alone_how, alone_ms, won_whole, won, JOINT_RUNS);
        else if (st == HG_OK)
            snprintf(d->fission_note, sizeof d->fission_note, "kept whole (%u compute units): "
                     "a joint step of %zu rows took %.1f ms, against %.1f ms fissioned to %u "
                     "(medians; fissioned faster in %zu of %d rounds)", (unsigned)all, rows,
                     full_ms, sub_ms, (unsigned)units, won_whole, JOINT_RUNS);
        else
            snprintf(d->fission_note, sizeof d->fission_note, "kept whole (%u compute units): "
                     "the trial failed: %.180s", (unsigned)all, e.message);
    }
    hg__log(&eng->log, HG_LOG_INFO, "%s: fission: %s", d->what, d->fission_note);
    free(sub_counts);
    free(counts);
    return st == HG_OUT_OF_MEMORY ? hg__error_set(err, st, 0, "%s", e.message) : HG_OK;
}

const char *hg_engine_fission_note(const hg_engine *eng, size_t i)
{
    if (!eng || i >= eng->ndev)
        return NULL;
    return eng->dev[i].fission_note;
}
