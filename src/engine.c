/*
 * engine.c - the gradient engine's API: devices, resident data, weights, and
 * the step (plan, run every device at once, reduce on the host).
 *
 * A step runs one host thread per device with rows to compute; each thread
 * enqueues on its own device's in-order queue and reads back its result
 * records.  The host then adds every record in double, in device order and
 * within a device in row order, and divides by the step's row count.  With
 * the same split the result is therefore the same bits every time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

void hg_engine_options_init(hg_engine_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    hg_options_init(&opt->devices);
    opt->device_mem_limit = 0;
    opt->gemm = HG_GEMM_CLBLAST;
}

void hg_engine_destroy(hg_engine *eng)
{
    if (!eng)
        return;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device_close(&eng->dev[i]);
        if (eng->plan)
            hg__plan_free(&eng->plan[i]);
    }
    free(eng->dev);
    free(eng->plan);
    free(eng->weight);
    free(eng->custom_source);
    free(eng->custom_kernel);
    hg_device_list_destroy(eng->list);
    pthread_mutex_destroy(&eng->clblast_lock);
    free(eng);
}

hg_status hg_engine_create(const hg_engine_options *opt_in, const hg_model_desc *model,
                           hg_engine **out, hg_error *err)
{
    hg_error_clear(err);
    if (!out || !model)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_create: NULL %s",
                             out ? "model" : "out");
    *out = NULL;
    hg_status st = hg_model_validate(model, err);
    if (st != HG_OK)
        return st;
    hg_engine_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        hg_engine_options_init(&opt);
    if (opt.gemm != HG_GEMM_CLBLAST && opt.gemm != HG_GEMM_NAIVE)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_options.gemm is %d",
                             (int)opt.gemm);

    hg_engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "allocating the engine");
    pthread_mutex_init(&eng->clblast_lock, NULL);
    eng->model = *model;
    eng->mem_limit = opt.device_mem_limit;
    eng->gemm = opt.gemm;
    eng->serial = opt.serial;
    eng->log = (hg__logger){opt.devices.log, opt.devices.log_user, opt.devices.log_level};
    if (model->kind == HG_MODEL_CUSTOM) {
        eng->custom_source = hg__strdup(model->custom_source);
        eng->custom_kernel = hg__strdup(model->custom_kernel);
        if (!eng->custom_source || !eng->custom_kernel) {
            hg_engine_destroy(eng);
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "copying the custom kernel");
        }
        eng->model.custom_source = eng->custom_source;
        eng->model.custom_kernel = eng->custom_kernel;
    } else {
        eng->model.custom_source = eng->model.custom_kernel = NULL;
        eng->nlayers = hg__model_layers(&eng->model, eng->layers);
        for (size_t l = 0; l + 1 < eng->nlayers; l++)
            if (eng->layers[l].out > eng->widest_hidden)
                eng->widest_hidden = eng->layers[l].out;
    }
    eng->nparams = hg_model_param_count(&eng->model);

    st = hg_device_list_create(&opt.devices, &eng->list, err);
    if (st != HG_OK) {
        hg_engine_destroy(eng);
        return st;
    }
    size_t nkept = hg_device_list_kept_count(eng->list);
    if (nkept == 0) {
        size_t found = hg_device_list_count(eng->list);
        hg_engine_destroy(eng);
        return hg__error_set(err, HG_NO_DEVICE, 0,
                             "no OpenCL device is selected (%zu found; see HETGRAD_DEVICES "
                             "and hetgrad-probe --all)", found);
    }
    eng->dev = calloc(nkept, sizeof *eng->dev);
    eng->plan = calloc(nkept, sizeof *eng->plan);
    eng->weight = malloc(nkept * sizeof *eng->weight);
    if (!eng->dev || !eng->plan || !eng->weight) {
        hg_engine_destroy(eng);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "allocating %zu devices", nkept);
    }
    for (size_t i = 0; i < hg_device_list_count(eng->list) && st == HG_OK; i++) {
        if (!hg_device_list_get(eng->list, i)->kept)
            continue;
        size_t k = eng->ndev++;
        eng->weight[k] = 1.0;
        st = hg__device_open(eng, &eng->dev[k], i, err);
    }
    if (st != HG_OK) {
        hg_engine_destroy(eng);
        return st;
    }
    *out = eng;
    return HG_OK;
}

size_t hg_engine_device_count(const hg_engine *eng)
{
    return eng ? eng->ndev : 0;
}

const hg_device_info *hg_engine_device(const hg_engine *eng, size_t i)
{
    return eng && i < eng->ndev ? eng->dev[i].info : NULL;
}

/* ---- data ----------------------------------------------------------------------- */

static hg_status check_data(const hg_engine *eng, const hg_dataset_desc *data, hg_error *err)
{
    const hg_model_desc *m = &eng->model;
    if (!data || (!data->x && data->rows))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_data: NULL %s",
                             data ? "data->x" : "data");
    if (data->rows == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_data: no rows");
    if (data->inputs != m->inputs)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "data set has %zu features per row, the model %zu inputs",
                             data->inputs, m->inputs);
    if (data->rows > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "data set has %zu rows; at most 2^32-1",
                             data->rows);
    bool want_targets = m->kind == HG_MODEL_LINEAR || m->kind == HG_MODEL_CUSTOM;
    if (want_targets && !data->targets)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "this model needs targets (data->targets is NULL)");
    if (!want_targets && !data->labels)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "this model needs class labels (data->labels is NULL)");
    for (size_t r = 0; r < data->rows; r++) {
        for (size_t j = 0; j < m->inputs; j++)
            if (!isfinite(data->x[r * m->inputs + j]))
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                     "feature %zu of row %zu is %s", j, r,
                                     isnan(data->x[r * m->inputs + j]) ? "NaN" : "infinite");
        if (want_targets) {
            for (size_t j = 0; j < m->outputs; j++)
                if (!isfinite(data->targets[r * m->outputs + j]))
                    return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                         "target %zu of row %zu is not finite", j, r);
        } else if (data->labels[r] < 0 || (size_t)data->labels[r] >= m->outputs) {
            return hg__error_set(err, HG_RANGE, 0,
                                 "label of row %zu is %d; the model has %zu classes (0..%zu)",
                                 r, (int)data->labels[r], m->outputs, m->outputs - 1);
        }
    }
    return HG_OK;
}

/* Rows of data device d can hold, and rows per batch (bounded workspace). */
static void device_capacity(const hg_engine *eng, const hg__device *d, size_t *rows_fit,
                            size_t *chunk)
{
    const hg_model_desc *m = &eng->model;
    const double f = sizeof(float);
    double row_bytes = f * (double)(m->inputs + m->outputs) + 4;
    double mem = (double)d->info->global_mem_bytes;
    double alloc = (double)d->info->max_alloc_bytes;
    if (eng->mem_limit && (double)eng->mem_limit < mem)
        mem = (double)eng->mem_limit;
    /* data: up to 60% of global memory, each buffer within one allocation */
    double fit = 0.6 * mem / row_bytes;
    double by_alloc = alloc / (f * (double)m->inputs);
    *rows_fit = (size_t)(fit < by_alloc ? fit : by_alloc);

    /* workspace per batch row */
    double ws = f * (double)(m->inputs + m->outputs + 2) + 4;
    size_t widest = m->inputs;
    for (size_t l = 0; l < eng->nlayers; l++) {
        ws += f * (double)eng->layers[l].out * (1.0 + 1.0 / HG__COLSUM_BLOCK);
        if (eng->layers[l].out > widest)
            widest = eng->layers[l].out;
    }
    ws += 2 * f * (double)eng->widest_hidden;
    double c = 0.2 * mem / ws;
    double c_alloc = alloc / (f * (double)widest);
    if (c_alloc < c)
        c = c_alloc;
    if (c > 65536)
        c = 65536;
    *chunk = c < 1 ? 1 : (size_t)c;
}

/*
 * Compile CLBlast's GEMM kernels now, one device at a time: CLBlast picks a
 * "direct" kernel for small products and an "indirect" one for large, and
 * compiles each on first use, which is slow (seconds on POCL) and not
 * thread-safe in CLBlast 1.5.3.  One tiny batch and one larger batch per
 * device, with zero parameters, cover both.
 */
static hg_status warm_up(hg_engine *eng, hg_error *err)
{
    float *zero = calloc(eng->nparams ? eng->nparams : 1, sizeof *zero);
    if (!zero)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "warming up");
    hg_status st = HG_OK;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        hg__device *d = &eng->dev[i];
        size_t have = d->win.hi - d->win.lo;
        size_t sizes[2] = {1, have < 512 ? have : 512};
        for (size_t k = 0; k < 2 && st == HG_OK; k++) {
            if (sizes[k] == 0 || (k == 1 && sizes[1] == 1))
                continue;
            hg_range piece = {d->win.lo, sizes[k]};
            hg__dev_plan p = {.pieces = &piece, .npieces = 1, .rows = sizes[k]};
            st = hg__device_run(eng, d, &p, zero, err);
        }
    }
    free(zero);
    return st;
}

hg_status hg_engine_set_data(hg_engine *eng, const hg_dataset_desc *data, hg_error *err)
{
    hg_error_clear(err);
    if (!eng)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_data: NULL engine");
    hg_status st = check_data(eng, data, err);
    if (st != HG_OK)
        return st;

    /* Full copies where they fit; otherwise consecutive, disjoint windows. */
    size_t n = data->rows, next = 0;
    bool any_full = false;
    size_t *fit = malloc(eng->ndev * sizeof *fit);
    if (!fit)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning the upload");
    for (size_t i = 0; i < eng->ndev; i++) {
        device_capacity(eng, &eng->dev[i], &fit[i], &eng->dev[i].chunk_rows);
        any_full |= fit[i] >= n;
    }
    size_t windowed = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        if (fit[i] < n)
            windowed += fit[i];
    if (!any_full && windowed < n) {
        free(fit);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "the data set (%zu rows) does not fit in the devices' memory "
                             "(room for %zu rows)", n, windowed);
    }
    eng->has_data = false;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        size_t lo = 0, hi = n;
        if (fit[i] < n) {
            lo = next < n ? next : n;
            hi = lo + fit[i] < n ? lo + fit[i] : n;
            next = hi;
            hg__log(&eng->log, HG_LOG_INFO, "%s holds rows %zu..%zu of %zu (memory)",
                    eng->dev[i].what, lo, hi, n);
        }
        st = hg__device_upload(eng, &eng->dev[i], data, lo, hi, err);
    }
    free(fit);
    if (st == HG_OK)
        st = warm_up(eng, err);
    if (st != HG_OK)
        return st;
    eng->rows = n;
    eng->has_data = true;
    return HG_OK;
}

hg_status hg_engine_resident_rows(const hg_engine *eng, size_t i, size_t *first, size_t *count)
{
    if (!eng || i >= eng->ndev || !first || !count)
        return HG_INVALID_ARGUMENT;
    *first = eng->dev[i].win.lo;
    *count = eng->dev[i].win.hi - eng->dev[i].win.lo;
    return HG_OK;
}

hg_status hg_engine_set_weights(hg_engine *eng, const double *w, size_t n, hg_error *err)
{
    hg_error_clear(err);
    if (!eng || !w)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_weights: NULL %s",
                             eng ? "weights" : "engine");
    if (n != eng->ndev)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%zu weights for %zu devices", n, eng->ndev);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "weight %zu (%s) is %g; weights must be finite and >= 0", i,
                                 eng->dev[i].info->name, w[i]);
        any |= w[i] > 0;
    }
    if (!any)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "every weight is 0");
    memcpy(eng->weight, w, n * sizeof *w);
    return HG_OK;
}

/* ---- a step ------------------------------------------------------------------------ */

typedef struct worker {
    hg_engine   *eng;
    size_t       i;
    const float *params;
    hg_status    st;
    hg_error     err;
    pthread_t    thread;
    bool         started;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->st = hg__device_run(w->eng, &w->eng->dev[w->i], &w->eng->plan[w->i], w->params, &w->err);
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static hg_status check_step(const hg_engine *eng, const float *params, size_t count,
                            const float *grad, hg_error *err)
{
    if (!eng || !params || !grad)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "gradient step: NULL %s",
                             !eng ? "engine" : !params ? "params" : "grad");
    if (!eng->has_data)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "gradient step: no data set (call hg_engine_set_data first)");
    if (count == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "gradient step over 0 rows");
    for (size_t i = 0; i < eng->nparams; i++)
        if (!isfinite(params[i]))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "params[%zu] is %s", i,
                                 isnan(params[i]) ? "NaN" : "infinite");
    return HG_OK;
}

/* Run the planned step on every device at once, then reduce. */
static hg_status run_step(hg_engine *eng, const float *params, size_t count, float *grad,
                          double *loss, double t0, hg_error *err)
{
    worker *w = calloc(eng->ndev, sizeof *w);
    double *acc = calloc(eng->nparams ? eng->nparams : 1, sizeof *acc);
    hg_status st = HG_OK;
    if (!w || !acc) {
        free(w);
        free(acc);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "starting a step");
    }
    size_t active = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        active += eng->plan[i].rows > 0;
    for (size_t i = 0; i < eng->ndev; i++) {
        w[i] = (worker){.eng = eng, .i = i, .params = params, .st = HG_OK};
        hg_error_clear(&w[i].err);
        if (!eng->serial && active > 1 && eng->plan[i].rows > 0 &&
            pthread_create(&w[i].thread, NULL, worker_main, &w[i]) == 0)
            w[i].started = true;
        else
            worker_main(&w[i]); /* inline: one device, no rows, or no thread */
    }
    for (size_t i = 0; i < eng->ndev; i++)
        if (w[i].started)
            pthread_join(w[i].thread, NULL);
    for (size_t i = 0; i < eng->ndev; i++) {
        if (w[i].st != HG_OK) {
            st = w[i].st;
            if (err)
                *err = w[i].err;
            break;
        }
    }
    if (st == HG_OK) {
        double lsum = 0;
        for (size_t i = 0; i < eng->ndev; i++) {
            const hg__device *d = &eng->dev[i];
            for (size_t p = 0; p < d->npieces_run; p++)
                hg__accumulate(eng, d->res + p * d->res_stride, 0, acc, &lsum);
        }
        for (size_t i = 0; i < eng->nparams; i++)
            grad[i] = (float)(acc[i] / (double)count);
        if (loss)
            *loss = lsum / (double)count;
    }
    eng->stepped = true;
    eng->last_ms = now_ms() - t0;
    free(w);
    free(acc);
    return st;
}

hg_status hg_engine_gradient(hg_engine *eng, const float *params, size_t first, size_t count,
                             float *grad, double *loss, hg_error *err)
{
    hg_error_clear(err);
    double t0 = now_ms();
    hg_status st = check_step(eng, params, count, grad, err);
    if (st != HG_OK)
        return st;
    if (first > eng->rows || count > eng->rows - first)
        return hg__error_set(err, HG_RANGE, 0,
                             "rows %zu..%zu are outside the data set (%zu rows)", first,
                             first + count, eng->rows);
    hg__window *win = malloc(eng->ndev * sizeof *win);
    if (!win)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
    for (size_t i = 0; i < eng->ndev; i++)
        win[i] = eng->dev[i].win;
    st = hg__plan_range(first, count, eng->weight, eng->ndev, win, eng->plan, err);
    free(win);
    if (st != HG_OK)
        return st;
    return run_step(eng, params, count, grad, loss, t0, err);
}

hg_status hg_engine_gradient_rows(hg_engine *eng, const float *params, const size_t *idx,
                                  size_t count, float *grad, double *loss, hg_error *err)
{
    hg_error_clear(err);
    double t0 = now_ms();
    hg_status st = check_step(eng, params, count, grad, err);
    if (st != HG_OK)
        return st;
    if (!idx)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "gradient step: NULL idx");
    for (size_t r = 0; r < count; r++)
        if (idx[r] >= eng->rows)
            return hg__error_set(err, HG_RANGE, 0, "idx[%zu] = %zu is outside the data set "
                                 "(%zu rows)", r, idx[r], eng->rows);
    hg__window *win = malloc(eng->ndev * sizeof *win);
    if (!win)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
    for (size_t i = 0; i < eng->ndev; i++)
        win[i] = eng->dev[i].win;
    st = hg__plan_rows(idx, count, eng->weight, eng->ndev, win, eng->plan, err);
    free(win);
    if (st != HG_OK)
        return st;
    return run_step(eng, params, count, grad, loss, t0, err);
}

hg_status hg_engine_last_step(const hg_engine *eng, size_t i, hg_device_step *out)
{
    if (!eng || !out)
        return HG_INVALID_ARGUMENT;
    if (i >= eng->ndev || !eng->stepped)
        return HG_RANGE;
    *out = eng->dev[i].stats;
    return HG_OK;
}

double hg_engine_last_step_ms(const hg_engine *eng)
{
    return eng && eng->stepped ? eng->last_ms : 0.0;
}
