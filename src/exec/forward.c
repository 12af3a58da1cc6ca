/* SPDX-License-Identifier: MIT */
/*
 * forward.c - the forward pass on the devices: hg_engine_predict and
 * hg_engine_evaluate.
 *
 * The rows of the caller's data set are split across the engine's healthy
 * devices as a gradient step's rows are (the cost models after calibration,
 * else the weights), each device computing its share on its own host thread,
 * a chunk of rows at a time:
 *   upload the chunk's features (and targets or labels, for the loss);
 *   per layer Z = A W + b, ReLU on hidden layers (the MLP on a device that
 *   computes with the tiled GEMM: that GEMM with its epilogue; otherwise the
 *   plain hg_gemm_naive and hg_bias_act: the same bits either way, on every
 *   device); then hg_predict_out: probabilities and the most probable class
 *   (softmax, MLP) or the values (linear), and a loss per row;
 *   read the outputs back into the caller's arrays at the rows' positions.
 * A device that fails is quarantined, as in a step, and its rows are
 * recomputed by the others within the same call.
 *
 * The host then adds the per-row losses in double, in row order, and counts
 * the rows whose class is the label: whatever the split, the same rows give
 * the same sum.  The data set is the caller's and is not kept: the engine's
 * resident data (hg_engine_set_data) and its last step's statistics are left
 * as they are.  Custom models have no forward pass.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "platlock.h"
#include "workers.h"

/* Most rows a device runs at once (bounds its buffers). */
#define FWD_MAX_CHUNK 65536u

/* What a call computes, shared (read-only) by every device's worker. */
typedef struct fwd_call {
    hg_engine             *eng;
    const float           *params;
    const hg_dataset_desc *data;
    bool                   truth;   /* compute the loss: targets / labels given */
    int32_t               *classes; /* rows (classifiers), or NULL (linear) */
    float                 *outputs; /* rows x outputs, or NULL: not wanted */
    float                 *loss;    /* rows, or NULL when !truth */
} fwd_call;

/* One device's part: the row ranges of its plan. */
typedef struct fwd_worker {
    const fwd_call     *call;
    size_t              i;
    const hg__dev_plan *plan;
    hg_status           st;
    hg_error            err;
    bool                posted;   /* handed to the device's worker (workers.c) */
} fwd_worker;

/*
 * A device's forward workspace for chunks of up to rows rows, made on its
 * first prediction and kept until the device is closed: always the same
 * sizes, so buffers are never re-created with another size (Oclgrind's
 * uninitialised-value plugin keeps the shadow size of a freed buffer).
 */
struct hg__fwd {
    size_t    rows;
    cl_mem    x, act[2], y, labels, cls, loss;
    cl_kernel k_out;
};

static bool softmax_model(const hg_engine *eng)
{
    return eng->model.kind != HG_MODEL_LINEAR;
}

/* Widest layer output (activations per row). */
static size_t widest_layer(const hg_engine *eng)
{
    size_t widest = 1;
    for (size_t l = 0; l < eng->nlayers; l++)
        if (eng->layers[l].out > widest)
            widest = eng->layers[l].out;
    return widest;
}

/* Rows per chunk on device d: its workspace within 10% of its memory and each
   buffer within one allocation, at most FWD_MAX_CHUNK. */
static size_t chunk_rows(const hg_engine *eng, const hg__device *d)
{
    const double f = sizeof(float);
    size_t widest = widest_layer(eng), in = eng->model.inputs;
    double per_row = f * (double)(in + 2 * widest + eng->model.outputs + 3);
    double mem = (double)d->info->global_mem_bytes;
    if (eng->mem_limit && (double)eng->mem_limit < mem)
        mem = (double)eng->mem_limit;
    double c = 0.1 * mem / per_row;
    double c_alloc = (double)d->info->max_alloc_bytes / (f * (double)(in > widest ? in : widest));
    if (c_alloc < c)
        c = c_alloc;
    if (c > FWD_MAX_CHUNK)
        c = FWD_MAX_CHUNK;
    return c < 1 ? 1 : (size_t)c;
}

void hg__forward_release(hg__device *d)
{
    struct hg__fwd *b = d->fwd;
    if (!b)
        return;
    cl_mem *mems[] = {&b->x, &b->act[0], &b->act[1], &b->y, &b->labels, &b->cls, &b->loss};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        hg__release_mem(mems[i]);
    if (b->k_out)
        clReleaseKernel(b->k_out);
    free(b);
    d->fwd = NULL;
}

/* d's workspace (d->fwd), made on first use; all or nothing. */
static hg_status workspace(const hg_engine *eng, hg__device *d, hg_error *err)
{
    if (d->fwd)
        return HG_OK;
    struct hg__fwd *b = calloc(1, sizeof *b);
    if (!b)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "forward workspace for %s", d->what);
    d->fwd = b;
    const size_t f = sizeof(float), rows = chunk_rows(eng, d), widest = widest_layer(eng);
    b->rows = rows;
    hg_status st = hg__alloc_mem(d, &b->x, rows * eng->model.inputs * f, "rows to predict",
                                 err);
    for (size_t k = 0; k < 2 && st == HG_OK; k++)
        st = hg__alloc_mem(d, &b->act[k], rows * widest * f, "activations", err);
    if (st == HG_OK && !softmax_model(eng))
        st = hg__alloc_mem(d, &b->y, rows * eng->model.outputs * f, "targets", err);
    if (st == HG_OK && softmax_model(eng))
        st = hg__alloc_mem(d, &b->labels, rows * sizeof(cl_int), "labels", err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &b->cls, rows * sizeof(cl_int), "classes", err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &b->loss, rows * f, "row losses", err);
    if (st == HG_OK)
        st = hg__make_kernel(d, d->prog, "hg_predict_out", &b->k_out, err);
    if (st != HG_OK)
        hg__forward_release(d);
    return st;
}

static hg_status write_async(hg__device *d, cl_mem m, size_t bytes, const void *src,
                             const char *what, hg_error *err)
{
    cl_event ev = NULL;
    cl_int rc = clEnqueueWriteBuffer(d->queue, m, CL_FALSE, 0, bytes, src, 0, NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueWriteBuffer(%s, %zu bytes) on %s", what, bytes,
                           d->what);
    return hg__tracked(d, ev, true, err);
}

static hg_status read_blocking(hg__device *d, cl_mem m, size_t bytes, void *dst,
                               const char *what, hg_error *err)
{
    cl_int rc = clEnqueueReadBuffer(d->queue, m, CL_TRUE, 0, bytes, dst, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueReadBuffer(%s, %zu bytes) on %s", what, bytes,
                           d->what);
    return HG_OK;
}

/* Ask the fault hook whether device index fails at point (as a step does,
   with the number of the last gradient step). */
static hg_status injected(const hg_engine *eng, const hg__device *d, size_t index,
                          hg_fault_point point, hg_error *err)
{
    return hg__fault_injected_during(eng, d, index, point, "predict", err);
}

/* Rows [first, first + n) of the call's data through the model on d. */
const char *hg__forward_gemm_name(const hg__device *d)
{
    return hg__tiled_ready(d) ? "tiled" : hg__mlp_small_ready(d) ? "mlp-small" : "naive";
}

static hg_status run_chunk(const fwd_call *c, hg__device *d, size_t index, struct hg__fwd *b,
                           size_t first, size_t n, hg_error *err)
{
    hg_engine *eng = c->eng;
    const hg_model_desc *m = &eng->model;
    const size_t K = m->outputs, L = eng->nlayers;
    hg_status st = write_async(d, b->x, n * m->inputs * sizeof(float),
                               c->data->x + first * m->inputs, "rows to predict", err);
    if (st == HG_OK && c->truth && b->y)
        st = write_async(d, b->y, n * K * sizeof(float), c->data->targets + first * K,
                         "targets", err);
    if (st == HG_OK && c->truth && b->labels)
        st = write_async(d, b->labels, n * sizeof(cl_int), c->data->labels + first, "labels",
                         err);
    cl_uint un = (cl_uint)n;
    /* The MLP on the tiled GEMM where the device computes with it, or on the
       small-batch MLP path's (bias and ReLU in their epilogue), else the plain GEMM
       and hg_bias_act: the same bits. */
    bool tiled = hg__tiled_ready(d), small = !tiled && hg__mlp_small_ready(d);
    for (size_t l = 0; l < L && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        cl_mem in = l == 0 ? b->x : b->act[(l - 1) % 2], out = b->act[l % 2];
        if (tiled || small) {
            st = (tiled ? hg__tiled_forward : hg__mlp_small_forward)(
                d, n, ly->out, ly->in, in, out, ly->w_off, ly->b_off, ly->relu, err);
            continue;
        }
        st = hg__forward_gemm(d, n, ly->out, ly->in, in, d->params, ly->w_off, out, err);
        cl_uint zoff = 0, cols = (cl_uint)ly->out, boff = (cl_uint)ly->b_off, relu = ly->relu;
        hg__karg args[] = {HG_MEM(out), HG_U32(zoff), HG_U32(un), HG_U32(cols),
                           HG_MEM(d->params), HG_U32(boff), HG_U32(relu)};
        if (st == HG_OK)
            st = hg__set_args(d, d->k_bias_act, "hg_bias_act", args, 7, err);
        size_t gws[2] = {ly->out, n};
        if (st == HG_OK)
            st = hg__launch(d, d->k_bias_act, 2, gws, NULL, "hg_bias_act", err);
    }
    cl_mem z = b->act[(L - 1) % 2];
    /* y and labels are not read without truth: any buffer stands in for them */
    cl_mem y = b->y ? b->y : b->loss, lab = b->labels ? b->labels : b->cls;
    cl_uint cols = (cl_uint)K, sm = softmax_model(eng), truth = c->truth;
    hg__karg oa[] = {HG_MEM(z), HG_U32(un), HG_U32(cols), HG_U32(sm), HG_MEM(y), HG_MEM(lab),
                     HG_U32(truth), HG_MEM(b->cls), HG_MEM(b->loss)};
    if (st == HG_OK)
        st = hg__set_args(d, b->k_out, "hg_predict_out", oa, 9, err);
    size_t g1 = n;
    if (st == HG_OK)
        st = hg__launch(d, b->k_out, 1, &g1, NULL, "hg_predict_out", err);
    if (st != HG_OK)
        return st;
    cl_int rc = clFinish(d->queue);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clFinish on %s", d->what);
    st = injected(eng, d, index, HG_FAULT_WAIT, err);
    if (st == HG_OK && c->outputs)
        st = read_blocking(d, z, n * K * sizeof(float), c->outputs + first * K,
                           softmax_model(eng) ? "probabilities" : "predicted values", err);
    if (st == HG_OK && c->classes)
        st = read_blocking(d, b->cls, n * sizeof(cl_int), c->classes + first, "classes", err);
    if (st == HG_OK && c->loss)
        st = read_blocking(d, b->loss, n * sizeof(float), c->loss + first, "row losses", err);
    return st;
}

/* Device index's share of the call.  Holds its platform's lock (platlock.h). */
static hg_status run_device(const fwd_call *c, size_t index, const hg__dev_plan *plan,
                            hg_error *err)
{
    hg_engine *eng = c->eng;
    hg__device *d = &eng->dev[index];
    if (plan->rows == 0)
        return HG_OK;
    hg__platform_enter(d->serial);
    /* The events of this call are released here without counting them in
       the last step's statistics. */
    hg_device_step keep = d->stats;
    hg_status st = injected(eng, d, index, HG_FAULT_ENQUEUE, err);
    if (st == HG_OK)
        st = workspace(eng, d, err);
    struct hg__fwd *b = d->fwd;
    /* d->params: every step uploads its own parameters before using them */
    if (st == HG_OK)
        st = write_async(d, d->params, eng->nparams * sizeof(float), c->params, "parameters",
                         err);
    for (size_t p = 0; p < plan->npieces && st == HG_OK; p++) {
        const hg__range *r = &plan->pieces[p];
        for (size_t s = 0; s < r->count && st == HG_OK; s += b->rows) {
            size_t n = r->count - s < b->rows ? r->count - s : b->rows;
            st = run_chunk(c, d, index, b, r->first + s, n, err);
        }
    }
    if (d->queue)
        clFinish(d->queue);
    hg__collect_events(d);
    d->stats = keep;
    hg__platform_leave(d->serial);
    return st;
}

static void device_job(void *arg)
{
    fwd_worker *w = arg;
    w->st = run_device(w->call, w->i, w->plan, &w->err);
}

/* Run plans[i] on every device with rows, at once (each on its engine
   worker) unless the engine is serial or only one device has rows. */
static void run_round(const fwd_call *c, const hg__dev_plan *plans, fwd_worker *w)
{
    hg_engine *eng = c->eng;
    size_t active = 0;
    for (size_t i = 0; i < eng->ndev; i++) {
        w[i] = (fwd_worker){.call = c, .i = i, .plan = &plans[i], .st = HG_OK};
        hg_error_clear(&w[i].err);
        active += plans[i].rows > 0;
    }
    for (size_t i = 0; i < eng->ndev; i++)
        w[i].posted = plans[i].rows > 0 && !eng->serial && active > 1 &&
                      hg__workers_post(eng->pool, i, device_job, &w[i]);
    for (size_t i = 0; i < eng->ndev; i++)
        if (plans[i].rows > 0 && !w[i].posted)
            device_job(&w[i]);
    for (size_t i = 0; i < eng->ndev; i++)
        if (w[i].posted)
            hg__workers_wait_idle(eng->pool, i);
}

/*
 * Plan rows [first, first + count) of the call: the healthy devices'
 * weights, or after calibration (split MODEL or DYNAMIC) rows from their
 * cost models through the side-effect-free planner that also plans a step's
 * recovery.  The rows are the caller's, so every device can take any of them.
 */
static hg_status plan(const hg_engine *eng, size_t first, size_t count, hg__dev_plan *plans,
                      hg_error *err)
{
    size_t *caps = malloc(eng->ndev * sizeof *caps);
    hg__window *win = malloc(eng->ndev * sizeof *win);
    hg_status st = HG_OK;
    if (!caps || !win) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a prediction");
        goto out;
    }
    bool any = false;
    for (size_t i = 0; i < eng->ndev; i++) {
        bool may = !eng->dev[i].quarantined && eng->weight[i] > 0;
        caps[i] = may ? SIZE_MAX : 0;
        win[i] = (hg__window){0, first + count, true};
        any |= may;
    }
    if (!any) {
        st = hg__error_set(err, HG_NO_DEVICE, 0, "no device left to compute on: every device "
                           "with a weight is quarantined (see hg_engine_quarantined)");
        goto out;
    }
    /* The scheduler's recovery plan: the step's policy and models, no side
       effects (no hysteresis, no solo guard).  Deterministic engines plan in
       blocks of block_rows rows: whole blocks in device order, the last one
       short. */
    hg__corun_caps(eng, caps); /* joint calibration's subset */
    size_t unit = eng->det && eng->block_rows > 0 ? eng->block_rows : 1;
    size_t units = (count + unit - 1) / unit;
    size_t *counts = malloc(eng->ndev * sizeof *counts);
    st = counts ? hg__sched_plan_recovery(eng->sched, units, caps, counts, err)
                : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a prediction");
    if (st == HG_OK) {
        size_t left = count;
        for (size_t i = 0; i < eng->ndev; i++) {
            size_t r = counts[i] * unit < left ? counts[i] * unit : left;
            counts[i] = r;
            left -= r;
        }
        st = hg__plan_range(first, count, counts, eng->ndev, win, plans, err);
    }
    free(counts);
out:
    free(win);
    free(caps);
    return st;
}

/*
 * Every row of the call through the devices.  Rounds: a device that fails is
 * quarantined and its pieces are queued again for the others, until every
 * row is done or no device is left.
 */
static hg_status run_call(const fwd_call *c, hg_error *err)
{
    hg_engine *eng = c->eng;
    hg__dev_plan *plans = calloc(eng->ndev, sizeof *plans);
    fwd_worker *w = calloc(eng->ndev, sizeof *w);
    hg__range *todo = malloc(sizeof *todo);
    size_t ntodo = 0, cap = 1;
    hg_status st = HG_OK;
    if (!plans || !w || !todo) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "starting a prediction");
        goto out;
    }
    todo[ntodo++] = (hg__range){0, c->data->rows};
    while (ntodo > 0 && st == HG_OK) {
        hg__range r = todo[--ntodo];
        st = plan(eng, r.first, r.count, plans, err);
        if (st != HG_OK)
            break;
        run_round(c, plans, w);
        for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
            if (w[i].st == HG_OK)
                continue;
            hg__quarantine(eng, i, &w[i].err);
            hg__log(&eng->log, HG_LOG_WARN, "predict: %s failed; its %zu rows go to the "
                    "other devices", eng->dev[i].what, plans[i].rows);
            if (ntodo + plans[i].npieces > cap) {
                size_t nc = (ntodo + plans[i].npieces) * 2;
                hg__range *t = realloc(todo, nc * sizeof *t);
                if (!t) {
                    st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "recovering a failed device");
                    break;
                }
                todo = t;
                cap = nc;
            }
            for (size_t p = 0; p < plans[i].npieces; p++)
                todo[ntodo++] = plans[i].pieces[p];
        }
    }
out:
    for (size_t i = 0; plans && i < eng->ndev; i++)
        hg__plan_free(&plans[i]);
    free(plans);
    free(w);
    free(todo);
    return st;
}

/* Arguments common to both entry points; truth: targets or labels are needed. */
static hg_status check_call(const hg_engine *eng, const float *params,
                            const hg_dataset_desc *data, bool truth, const char *fn,
                            hg_error *err)
{
    if (!eng || !params || !data)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: NULL %s", fn,
                             !eng ? "engine" : !params ? "params" : "data");
    const hg_model_desc *m = &eng->model;
    if (m->kind == HG_MODEL_CUSTOM)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: a custom model has no forward "
                             "pass (its kernel computes gradients only)", fn);
    if (data->rows == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: no rows", fn);
    if (!data->x)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: NULL data->x", fn);
    if (data->inputs != m->inputs)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: data set has %zu features per row, the model %zu inputs",
                             fn, data->inputs, m->inputs);
    if (data->rows > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "%s: data set has %zu rows; at most 2^32-1", fn,
                             data->rows);
    bool classifier = softmax_model(eng);
    if (truth && classifier && !data->labels)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: this model needs class labels (data->labels is NULL)", fn);
    if (truth && !classifier && !data->targets)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: this model needs targets (data->targets is NULL)", fn);
    for (size_t i = 0; i < eng->nparams; i++)
        if (!isfinite(params[i]))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: params[%zu] is %s", fn, i,
                                 isnan(params[i]) ? "NaN" : "infinite");
    for (size_t r = 0; r < data->rows; r++) {
        for (size_t j = 0; j < m->inputs; j++)
            if (!isfinite(data->x[r * m->inputs + j]))
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                     "%s: feature %zu of row %zu is %s", fn, j, r,
                                     isnan(data->x[r * m->inputs + j]) ? "NaN" : "infinite");
        if (truth && !classifier) {
            for (size_t j = 0; j < m->outputs; j++)
                if (!isfinite(data->targets[r * m->outputs + j]))
                    return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                         "%s: target %zu of row %zu is not finite", fn, j, r);
        } else if (truth && (data->labels[r] < 0 || (size_t)data->labels[r] >= m->outputs)) {
            return hg__error_set(err, HG_RANGE, 0,
                                 "%s: label of row %zu is %d; the model has %zu classes "
                                 "(0..%zu)", fn, r, (int)data->labels[r], m->outputs,
                                 m->outputs - 1);
        }
    }
    return HG_OK;
}

hg_status hg_engine_predict(hg_engine *eng, const float *params, const hg_dataset_desc *data,
                            int32_t *classes, float *outputs, hg_error *err)
{
    hg_error_clear(err);
    hg_status st = check_call(eng, params, data, false, "hg_engine_predict", err);
    if (st != HG_OK)
        return st;
    if (!classes && !outputs)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_predict: NULL classes and outputs (nothing to return)");
    if (classes && !softmax_model(eng))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_predict: a linear model has no classes (pass NULL; "
                             "its predictions are the outputs)");
    fwd_call c = {.eng = eng, .params = params, .data = data, .truth = false,
                  .classes = classes, .outputs = outputs, .loss = NULL};
    return run_call(&c, err);
}

hg_status hg_engine_evaluate(hg_engine *eng, const float *params, const hg_dataset_desc *data,
                             double *loss, double *accuracy, hg_error *err)
{
    hg_error_clear(err);
    hg_status st = check_call(eng, params, data, true, "hg_engine_evaluate", err);
    if (st != HG_OK)
        return st;
    if (!loss && !accuracy)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_evaluate: NULL loss and accuracy (nothing to return)");
    bool classifier = softmax_model(eng);
    const size_t n = data->rows;
    float *row_loss = malloc(n * sizeof *row_loss);
    int32_t *cls = classifier ? malloc(n * sizeof *cls) : NULL;
    if (!row_loss || (classifier && !cls)) {
        free(row_loss);
        free(cls);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_engine_evaluate: %zu rows", n);
    }
    fwd_call c = {.eng = eng, .params = params, .data = data, .truth = true,
                  .classes = cls, .outputs = NULL, .loss = row_loss};
    st = run_call(&c, err);
    if (st == HG_OK) {
        /* In row order, in double: the same sum whatever the split. */
        double sum = 0;
        size_t right = 0;
        for (size_t r = 0; r < n; r++) {
            sum += (double)row_loss[r];
            right += classifier && cls[r] == data->labels[r];
        }
        if (loss)
            *loss = sum / (double)n;
        if (accuracy)
            *accuracy = classifier ? (double)right / (double)n : NAN;
    }
    free(row_loss);
    free(cls);
    return st;
}
