/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the gradient engine's API: devices, resident data, weights, and
 * the step (plan, run every device at once, reduce on the host).
 *
 * A step runs every device with rows at once, each on its own persistent
 * worker thread (round.c, workers.c); each enqueues on its own device's
 * in-order queue and reads back its result records.  The host then adds every record in double, in device order and
 * within a device in row order, and divides by the step's row count.  With
 * the same split the result is therefore the same bits every time.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diskcache.h"
#include "engine_internal.h"
#include "engine_knobs.h"
#include "hostcache.h"
#include "hostvec.h"
#include "optimizer_internal.h"
#include "path_ops.h"
#include "platlock.h"
#include "shared_mem.h"
#include "sparse_exec.h"
#include "steal.h"
#include "workers.h"

/* hg_engine_options as first released (0.2.0) ends with fault_user. */
#define ENGINE_OPTIONS_MIN_SIZE HG__FIELD_END(hg_engine_options, fault_user)

void hg_engine_options_init_sized(hg_engine_options *opt, size_t size)
{
    /* Every field's default is its zero (HG_GEMM_AUTO is 0; devices NULL means
       hg_options_init()'s defaults). */
    hg__sized_init(opt, size);
}

bool hg_engine_quarantined(const hg_engine *eng, size_t i, const char **reason)
{
    if (!eng || i >= eng->ndev)
        return false;
    if (reason)
        *reason = eng->dev[i].quarantined ? eng->dev[i].quarantine_reason : NULL;
    return eng->dev[i].quarantined;
}

uint64_t hg_engine_recovered_steps(const hg_engine *eng)
{
    return eng ? eng->recovered_steps : 0;
}

void hg_engine_destroy(hg_engine *eng)
{
    if (!eng)
        return;
    hg__workers_destroy(eng->pool); /* joins every worker, a stalled one too */
    eng->pool = NULL;
    hg__steal_destroy(eng->steal); /* no worker left to claim from it */
    /* CLBlast's programs first (the last engine out clears its cache), then
       the contexts they were built in. */
    if (eng->counted)
        hg__clblast_engine_out();
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__forward_release(&eng->dev[i]);
        hg__device_close(&eng->dev[i]);
        if (eng->plan)
            hg__plan_free(&eng->plan[i]);
        if (eng->recovery)
            hg__plan_free(&eng->recovery[i]);
    }
    free(eng->dev);
    free(eng->plan);
    free(eng->recovery);
    free(eng->sums);
    free(eng->workers);
    free(eng->weight);
    hg__sched_destroy(eng->sched);
    free(eng->profile_cache_dir);
    free(eng->cache_dir);
    free(eng->binary_dir);
    free(eng->custom_source);
    free(eng->custom_kernel);
    hg_device_list_destroy(eng->list);
    free(eng);
}

hg_status hg_engine_create(const hg_engine_options *opt, const hg_model_desc *model,
                           hg_engine **out, hg_error *err)
{
    return hg__engine_create_knobs(opt, NULL, model, out, err);
}

/* The options' own consistency: a known GEMM back end, and what deterministic mode
   needs (built-in models, hetgrad's kernels, a block size it can plan in). */
static hg_status check_options(const hg_engine_options *opt, const hg_model_desc *model,
                               hg_error *err)
{
    if (opt->gemm != HG_GEMM_CLBLAST && opt->gemm != HG_GEMM_NAIVE &&
        opt->gemm != HG_GEMM_AUTO && opt->gemm != HG_GEMM_OWN)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_options.gemm is %d",
                             (int)opt->gemm);
    if (opt->deterministic) {
        if (model->kind == HG_MODEL_CUSTOM)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "deterministic mode covers the built-in models, not custom "
                                 "kernels (whose reduction order hetgrad cannot fix)");
        if (opt->gemm == HG_GEMM_CLBLAST)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "deterministic mode needs hetgrad's own kernels: CLBlast's "
                                 "GEMMs add in a device-dependent order (use HG_GEMM_AUTO "
                                 "or HG_GEMM_OWN)");
        if (opt->gemm == HG_GEMM_NAIVE && model->kind != HG_MODEL_MLP)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "deterministic mode computes the linear and softmax models "
                                 "with the fused kernel; HG_GEMM_NAIVE is for MLPs only");
        size_t b = opt->block_rows ? opt->block_rows : HG__DEFAULT_BLOCK_ROWS;
        bool pow2 = b >= 16 && b <= HG__SLAB_MIN && (b & (b - 1)) == 0;
        if (!(pow2 || b % HG__SLAB_MIN == 0) || b > 65536)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg_engine_options.block_rows is %zu: it must be a power of "
                                 "two from 16 to %u, or a multiple of %u up to 65536",
                                 opt->block_rows, HG__SLAB_MIN, HG__SLAB_MIN);
    }
    return HG_OK;
}

/* The program and profile cache directories (NULL: none), dropped both when the
   directory is not safe to use. */
static void open_caches(hg_engine *eng, const hg_engine_options *opt)
{
    if (!opt->no_program_cache) {
        hg_error cerr;
        eng->cache_dir = hg__cache_dir(opt->cache_dir, &cerr);
        if (!eng->cache_dir)
            hg__log(&eng->log, HG_LOG_WARN, "no program cache: %s", cerr.message);
    }
    if (!opt->no_profile_cache) {
        hg_error cerr;
        eng->profile_cache_dir = hg__cache_dir(opt->cache_dir, &cerr);
    }
    /* A directory others could write to (or own) is not used at all, as ssh does. */
    const char *cdir = eng->cache_dir ? eng->cache_dir : eng->profile_cache_dir;
    hg_error terr;
    if (cdir && hg__cache_check_dir(cdir, &terr) != HG_OK) {
        hg__log(&eng->log, HG_LOG_WARN, "%s; running without the program and profile caches",
                terr.message);
        free(eng->cache_dir);
        free(eng->profile_cache_dir);
        eng->cache_dir = eng->profile_cache_dir = NULL;
    }
}

/* Open every kept device of the list; a device that cannot be set up is quarantined
   and the others carry on.  HG_OK while one device is healthy; the first device's
   error when none is; HG_OUT_OF_MEMORY when the host runs out. */
static hg_status open_devices(hg_engine *eng, hg_error *err)
{
    hg_status st = HG_OK;
    hg_error first_err;
    hg_status first_st = HG_OK;
    size_t healthy = 0;
    for (size_t i = 0; i < hg_device_list_count(eng->list) && st == HG_OK; i++) {
        if (!hg_device_list_get(eng->list, i)->kept)
            continue;
        size_t k = eng->ndev++;
        eng->weight[k] = 1.0;
        hg_error e;
        hg_status ds = hg__device_open(eng, &eng->dev[k], i, &e);
        if (ds == HG_OUT_OF_MEMORY && !eng->dev[k].ctx) {
            st = hg__error_set(err, ds, 0, "%s", e.message);
        } else if (ds != HG_OK) {
            if (first_st == HG_OK) {
                first_st = ds;
                first_err = e;
            }
            hg__quarantine(eng, k, &e);
        } else {
            healthy++;
        }
    }
    if (st == HG_OK && healthy == 0) {
        st = first_st;
        if (err)
            *err = first_err;
    }
    return st;
}

/*
 * Work stealing within a step (steal.h): knob (NULL: HETGRAD_STEAL when env,
 * else auto), "auto", "on"/"1" or "off"/"0"; unless off, makes the engine's
 * board.  HG_INVALID_ARGUMENT for another value, HG_OUT_OF_MEMORY.
 */
/*
 * HETGRAD_PROGRAM_CACHE: "auto" (the default: no binaries for a driver that
 * caches programs itself, program.h) or "all" (every device's, POCL's too:
 * faster warm starts, slower first runs; docs/programs.md).
 */
static hg_status program_cache_option(hg_engine *eng, bool env, hg_error *err)
{
    const char *v = env ? getenv("HETGRAD_PROGRAM_CACHE") : NULL;
    if (v && *v && strcmp(v, "auto") != 0 && strcmp(v, "all") != 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "HETGRAD_PROGRAM_CACHE is \"%s\": use auto or all", v);
    if (v && !strcmp(v, "all"))
        eng->pcache.store_all = true;
    return HG_OK;
}

static hg_status steal_option(hg_engine *eng, const char *knob, bool env, hg_error *err)
{
    const char *v = knob ? knob : env ? getenv("HETGRAD_STEAL") : NULL;
    if (!v || !*v || !strcmp(v, "auto"))
        eng->steal_mode = HG__STEAL_AUTO;
    else if (!strcmp(v, "on") || !strcmp(v, "1"))
        eng->steal_mode = HG__STEAL_ON;
    else if (!strcmp(v, "off") || !strcmp(v, "0"))
        eng->steal_mode = HG__STEAL_OFF;
    else
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s is \"%s\": use auto, on or off",
                             knob ? "the steal knob" : "HETGRAD_STEAL", v);
    if (eng->steal_mode != HG__STEAL_OFF && !(eng->steal = hg__steal_create()))
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "the work-stealing board");
    return HG_OK;
}

/*
 * HETGRAD_SHARED_MEMORY (when env): "auto" (the default: shared buffers where a
 * device can take them, shared_mem.h) or "off"/"0" (copies by commands
 * everywhere, as the no_shared_memory knob).  HG_INVALID_ARGUMENT otherwise.
 */
static hg_status shared_option(hg_engine *eng, bool knob, bool env, hg_error *err)
{
    const char *v = env ? getenv("HETGRAD_SHARED_MEMORY") : NULL;
    if (v && *v && strcmp(v, "auto") != 0 && strcmp(v, "off") != 0 && strcmp(v, "0") != 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "HETGRAD_SHARED_MEMORY is \"%s\": use auto or off", v);
    eng->no_shared = knob || (v && (!strcmp(v, "off") || !strcmp(v, "0")));
    return HG_OK;
}

/* The engine's copy of the model (eng->model, already a copy of *model): a
   custom kernel's strings its own, or the layers and their widest hidden one;
   and its parameter count.  HG_OUT_OF_MEMORY. */
static hg_status own_model(hg_engine *eng, const hg_model_desc *model, hg_error *err)
{
    if (model->kind == HG_MODEL_CUSTOM) {
        eng->custom_source = hg__strdup(model->custom_source);
        eng->custom_kernel = hg__strdup(model->custom_kernel);
        if (!eng->custom_source || !eng->custom_kernel)
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "copying the custom kernel");
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
    return HG_OK;
}

/* The test knobs' values that have a range (engine_knobs.h). */
static hg_status check_knobs(const hg__engine_knobs *knobs, hg_error *err)
{
    if (knobs->head_rows && (knobs->head_rows > 16 || 16 % knobs->head_rows))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "the head_rows knob is %u: use 1, "
                             "2, 4, 8 or 16", knobs->head_rows);
    if (knobs->first_wgrad > 2)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "the first_wgrad knob is %u: use 0 "
                             "(by the device), 1 (on X^T) or 2 (on X in place)",
                             knobs->first_wgrad);
    if (knobs->gemm_order > 2)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "the gemm_order knob is %u: use 0 "
                             "(by the device), 1 (block rows) or 2 (block columns)",
                             knobs->gemm_order);
    if (knobs->gemm_pack > 2)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "the gemm_pack knob is %u: use 0 "
                             "(by the device), 1 (never) or 2 (wherever possible)",
                             knobs->gemm_pack);
    if (knobs->fused_cols > 1 && knobs->fused_cols != 16 && knobs->fused_cols != 32 &&
        knobs->fused_cols != 64)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "the fused_cols knob is %u: use 1, "
                             "16, 32 or 64", knobs->fused_cols);
    return HG_OK;
}

hg_status hg__engine_create_knobs(const hg_engine_options *opt_in, const hg__engine_knobs *knobs,
                                  const hg_model_desc *model, hg_engine **out, hg_error *err)
{
    hg_error_clear(err);
    if (!out || !model)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_create: NULL %s",
                             out ? "model" : "out");
    *out = NULL;
    hg_status st = hg_model_validate(model, err);
    if (st != HG_OK)
        return st;
    const hg__engine_knobs no_knobs = {0};
    if (!knobs)
        knobs = &no_knobs;
    if ((st = check_knobs(knobs, err)) != HG_OK)
        return st;
    hg_engine_options opt;
    hg_engine_options_init(&opt);
    if (opt_in && (st = hg__sized_read(&opt, sizeof opt, opt_in, opt_in->struct_size,
                                       ENGINE_OPTIONS_MIN_SIZE, "hg_engine_options",
                                       "hg_engine_options_init", err)) != HG_OK)
        return st;
    hg_options devopt;
    if ((st = hg__options_read(opt.devices, &devopt, err)) != HG_OK)
        return st;
    if ((st = check_options(&opt, model, err)) != HG_OK)
        return st;

    hg_engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "allocating the engine");
    hg__clblast_engine_in();
    eng->counted = true;
    eng->model = *model;
    eng->mem_limit = opt.device_mem_limit;
    eng->gemm = opt.gemm;
    eng->serial = knobs->serial;
    eng->det = opt.deterministic;
    eng->block_rows = opt.deterministic
                          ? (opt.block_rows ? opt.block_rows : HG__DEFAULT_BLOCK_ROWS)
                          : 0;
    eng->det_slab = eng->block_rows < HG__SLAB_MIN ? eng->block_rows : HG__SLAB_MIN;
    eng->log = (hg__logger){devopt.log, devopt.log_user, devopt.log_level};
    open_caches(eng, &opt);
    if (opt.binary_dir && !(eng->binary_dir = hg__strdup(opt.binary_dir))) {
        hg_engine_destroy(eng);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "copying binary_dir");
    }
    eng->pcache = (hg__program_cache){.dir = eng->cache_dir, .binary_dir = eng->binary_dir,
                                      .offline = knobs->offline,
                                      .store_all = knobs->store_programs, .log = &eng->log};
    eng->deadline_factor = opt.deadline_factor;
    /* HETGRAD_FISSION: "off" or "0" never fissions, "force" keeps a fissioned
       device whatever the joint steps measure (to benchmark it) */
    const char *fission_env = devopt.use_environment ? getenv("HETGRAD_FISSION") : NULL;
    /* HETGRAD_JOINT: "off" or "0" plans every device on its model alone */
    const char *joint_env = devopt.use_environment ? getenv("HETGRAD_JOINT") : NULL;
    eng->no_joint = knobs->no_joint ||
                    (joint_env && (!strcmp(joint_env, "off") || !strcmp(joint_env, "0")));
    eng->keep_fission = knobs->keep_fission || (fission_env && !strcmp(fission_env, "force"));
    eng->views_verdict = knobs->views_verdict;
    eng->views_close = knobs->views_close;
    eng->slow_probe_ms = knobs->slow_probe_ms > 0 ? knobs->slow_probe_ms : 0;
    eng->fission = !knobs->no_fission &&
                   !(fission_env && (!strcmp(fission_env, "off") || !strcmp(fission_env, "0")));
    /* HETGRAD_WAIT: how the host waits for a device, "auto", "block" or "poll" */
    const char *wait = knobs->wait ? knobs->wait
                                   : devopt.use_environment ? getenv("HETGRAD_WAIT") : NULL;
    if (wait && *wait && !hg__wait_policy_parse(wait, &eng->wait_policy)) {
        hg_engine_destroy(eng);
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s is \"%s\": use auto, block or "
                             "poll", knobs->wait ? "the wait knob" : "HETGRAD_WAIT", wait);
    }
    eng->steal_grain_ms = knobs->steal_grain_ms > 0 ? knobs->steal_grain_ms : 0;
    eng->gemm_kblock = knobs->gemm_kblock;
    eng->gemm_order = knobs->gemm_order;
    eng->gemm_pack = knobs->gemm_pack;
    eng->first_wgrad = knobs->first_wgrad;
    eng->refuse_svm = knobs->refuse_svm;
    eng->head_rows = knobs->head_rows;
    eng->fused_cols = knobs->fused_cols;
    eng->no_prefetch = knobs->no_prefetch;
    eng->all_tiles = knobs->all_tiles;
    eng->small_on_oclgrind = knobs->small_on_oclgrind;
    eng->update_parts = knobs->update_parts;
    eng->host_cpus = hg__usable_cpus();
    eng->host_l2 = hg__host_l2_bytes();
    if ((st = program_cache_option(eng, devopt.use_environment, err)) != HG_OK ||
        (st = steal_option(eng, knobs->steal, devopt.use_environment, err)) != HG_OK ||
        (st = shared_option(eng, knobs->no_shared_memory, devopt.use_environment, err)) !=
            HG_OK) {
        hg_engine_destroy(eng);
        return st;
    }
    if (!(opt.deadline_factor >= 0) || opt.deadline_factor > 1e6) {
        hg_engine_destroy(eng);
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_options.deadline_factor is %g", opt.deadline_factor);
    }
    eng->fault_hook = opt.fault_hook;
    eng->fault_user = opt.fault_user;
    eng->batch_rows = opt.batch_rows;
    eng->work_rows = opt.work_rows;
    if ((st = own_model(eng, model, err)) != HG_OK) {
        hg_engine_destroy(eng);
        return st;
    }

    st = hg_device_list_create(&devopt, &eng->list, err);
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
    eng->recovery = calloc(nkept, sizeof *eng->recovery);
    eng->workers = calloc(nkept, sizeof *eng->workers);
    eng->weight = malloc(nkept * sizeof *eng->weight);
    eng->pool = hg__workers_create(nkept); /* no thread until a round needs one */
    if (!eng->dev || !eng->plan || !eng->recovery || !eng->workers || !eng->weight ||
        !eng->pool) {
        hg_engine_destroy(eng);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "allocating %zu devices", nkept);
    }
    /* The scheduler: weight 1 each, no models until calibration; deterministic
       steps are planned in whole blocks. */
    hg__sched_options so;
    hg__sched_options_init(&so);
    so.solo_guard = !knobs->no_solo_guard;
    eng->keep_all = knobs->no_solo_guard; /* tests: joint calibration excludes nobody */
    so.unit_rows = eng->det ? eng->block_rows : 1;
    if ((st = hg__sched_create(nkept, NULL, &so, &eng->sched, err)) != HG_OK) {
        hg_engine_destroy(eng);
        return st;
    }
    if ((st = open_devices(eng, err)) != HG_OK) {
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
void hg__device_capacity(const hg_engine *eng, const hg__device *d, size_t *rows_fit,
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
        ws += f * (double)eng->layers[l].out * (1.0 + 1.0 / (double)hg__colsum_block(eng));
        if (eng->layers[l].out > widest)
            widest = eng->layers[l].out;
    }
    ws += 2 * f * (double)eng->widest_hidden;
    if (hg__mlp_small_fits(eng)) /* the small-batch path's X^T (mlp_small.c) */
        ws += f * (double)m->inputs;
    double c = 0.2 * mem / ws;
    double c_alloc = alloc / (f * (double)widest);
    if (c_alloc < c)
        c = c_alloc;
    if (c > 65536)
        c = 65536;
    *chunk = c < 1 ? 1 : (size_t)c;
}

/*
 * Warm each device's kernels up.  Our own paths' kernels wait for their
 * check (hg__verify_kernels) until their first rows, which also warms them:
 * a device that no plan gives rows costs nothing (on a warm start, Oclgrind
 * beside POCL: 0.13 s).  A device on CLBlast's path is checked now, then
 * CLBlast's GEMM kernels are compiled, one device at a time: CLBlast picks a
 * "direct" kernel for small products and an "indirect" one for large, and
 * compiles each (and, for the indirect one, its padding kernels) on first
 * use, which is slow (seconds on POCL) and not thread-safe in CLBlast 1.5.3.
 * Batches of 1, 512 and 8192 rows per device (the last only where 512 rows
 * took under half a second), with zero parameters, cover them.  Our own
 * paths build every kernel when they open and launch with fixed local sizes
 * (hg__launch), so a batch of any size runs the same compiled code: the
 * check (or one row, when there was nothing to check) warms them, and the
 * larger batches are for CLBlast's path only (on Oclgrind, 512 rows of the
 * fused path took about a second of a 5.6 s cold start).
 */
static hg_status warm_up(hg_engine *eng, hg_error *err)
{
    float *zero = calloc(eng->nparams ? eng->nparams : 1, sizeof *zero);
    if (!zero)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "warming up");
    hg_status st = HG_OK;
    eng->warming = true;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        hg__device *d = &eng->dev[i];
        if (d->quarantined)
            continue;
        size_t have = d->win.hi - d->win.lo;
        size_t cap = have < d->chunk_rows ? have : d->chunk_rows;
        size_t sizes[3] = {1, cap < 512 ? cap : 512, cap < 8192 ? cap : 8192};
        hg_error e;
        /* CLBlast compiles by size; our kernels are warmed by their check */
        bool clblast = d->ops == &hg__ops_clblast;
        if (!clblast && hg__check_pending(eng, d))
            continue;
        /* nothing from a cache is trusted: the kernels' gradient first */
        hg_status ds = hg__verify_kernels(eng, i, &e);
        size_t nsizes = clblast ? 3 : 1;
        for (size_t k = 0; k < nsizes && ds == HG_OK; k++) {
            if (sizes[k] == 0 || (k > 0 && sizes[k] <= sizes[k - 1]))
                continue;
            /* The large size only on devices that did 512 rows quickly. */
            if (k == 2 && d->stats.host_ms > 500.0)
                continue;
            hg__range piece = {d->win.lo, sizes[k]};
            hg__dev_plan p = {.pieces = &piece, .npieces = 1, .rows = sizes[k]};
            ds = hg__device_run(eng, d, i, &p, zero, false, &e);
        }
        if (ds == HG_OUT_OF_MEMORY && !eng->fault_hook)
            st = hg__error_set(err, ds, 0, "%s", e.message);
        else if (ds != HG_OK)
            hg__quarantine(eng, i, &e);
    }
    eng->warming = false;
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
    hg__sparse_forget(eng); /* dense rows replace any CSR rows */

    /* Full copies where they fit; otherwise consecutive, disjoint windows. */
    size_t n = data->rows, next = 0;
    bool any_full = false;
    size_t *fit = malloc(eng->ndev * sizeof *fit);
    if (!fit)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning the upload");
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device_capacity(eng, &eng->dev[i], &fit[i], &eng->dev[i].chunk_rows);
        if (eng->dev[i].quarantined)
            fit[i] = 0;
        if (eng->det) {
            /* whole blocks: windows and batches at multiples of block_rows */
            size_t B = eng->block_rows, *chunk = &eng->dev[i].chunk_rows;
            if (fit[i] < n)
                fit[i] = fit[i] / B * B;
            *chunk = *chunk < B ? B : *chunk / B * B;
        }
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
    eng->calibrated = false;
    eng->split = HG_SPLIT_WEIGHTS;
    if ((st = hg__sched_set_policy(eng->sched, HG__POLICY_WEIGHTS, err)) != HG_OK) {
        free(fit);
        return st;
    }
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        size_t lo = 0, hi = n;
        if (eng->dev[i].quarantined)
            continue;
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
    for (size_t i = 0; i < n; i++) {
        hg_status st = hg__sched_set_weight(eng->sched, i, w[i], err);
        if (st != HG_OK)
            return st; /* checked above: cannot happen */
    }
    memcpy(eng->weight, w, n * sizeof *w);
    return HG_OK;
}

/* ---- a step ------------------------------------------------------------------------ */

/*
 * Where a step's mean gradient goes: into grad (hg_engine_gradient), or, with opt,
 * into params through opt's update (hg_engine_step; grad NULL).
 */
typedef struct step_out {
    bool          train; /* hg_engine_step: opt updates params */
    float        *grad;
    hg_optimizer *opt;
    float        *params;
} step_out;

/* The step's arguments, and params all finite: checked while they are copied
   into pre's shared parameters where pre is not NULL (shared_mem.h). */
static hg_status check_step(const hg_engine *eng, const float *params, size_t count,
                            const step_out *out, hg__device *pre, hg_error *err)
{
    if (!eng || !params || (!out->train && !out->grad))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "gradient step: NULL %s",
                             !eng ? "engine" : !params ? "params" : "grad");
    if (out->train && !out->opt)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "training step: NULL optimizer");
    if (out->train && hg__optimizer_count(out->opt) != eng->nparams)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "training step: the optimizer was "
                             "made for %zu parameters, the engine's model has %zu",
                             hg__optimizer_count(out->opt), eng->nparams);
    if (!eng->has_data)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "gradient step: no data set (call hg_engine_set_data first)");
    if (count == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "gradient step over 0 rows");
    bool finite = pre ? hg__vec_copy_finite(pre->params_host, params, eng->nparams)
                      : hg__vec_all_finite(params, eng->nparams);
    if (!finite) /* the vectorised check, then which */
        for (size_t i = 0; i < eng->nparams; i++)
            if (!isfinite(params[i]))
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "params[%zu] is %s", i,
                                     isnan(params[i]) ? "NaN" : "infinite");
    return HG_OK;
}

/* Rows of a failed device's plan, appended to *rows (an index list). */
static bool collect_rows(const hg__dev_plan *p, size_t **rows, size_t *n, size_t *cap)
{
    size_t add = p->nidx;
    for (size_t k = 0; k < p->npieces; k++)
        add += p->pieces[k].count;
    if (*n + add > *cap) {
        size_t c = (*n + add) * 2;
        size_t *r = realloc(*rows, c * sizeof *r);
        if (!r)
            return false;
        *rows = r;
        *cap = c;
    }
    for (size_t k = 0; k < p->nidx; k++)
        (*rows)[(*n)++] = p->idx[k];
    for (size_t k = 0; k < p->npieces; k++)
        for (size_t r = 0; r < p->pieces[k].count; r++)
            (*rows)[(*n)++] = p->pieces[k].first + r;
    return true;
}

/*
 * Run the planned step on every device at once.  Devices that fail are
 * quarantined and their rows re-planned, as an index list, on the others,
 * within this step, until every row is done or no device is left.  Then the
 * records of the devices that did not fail are added in device order.
 */
/* Deterministic mode: the blocks of device plan p, appended to *blk. */
static bool collect_blocks(const hg__dev_plan *p, hg__block **blk, size_t *n, size_t *cap)
{
    if (*n + p->nblk > *cap) {
        size_t c = (*n + p->nblk) * 2;
        hg__block *b = realloc(*blk, c * sizeof *b);
        if (!b)
            return false;
        *blk = b;
        *cap = c;
    }
    for (size_t k = 0; k < p->nblk; k++)
        (*blk)[(*n)++] = (hg__block){p->bkey[k], p->bfirst[k], p->blen[k]};
    return true;
}

typedef struct keyed {
    size_t       key;
    const float *rec;
} keyed;

static int cmp_keyed(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    return (a->key > b->key) - (a->key < b->key);
}

/*
 * Add the records of the devices that did not fail into acc and *lsum:
 * in device order, or in deterministic mode in block order (every block's
 * record exactly once, whichever device computed it).
 */
static hg_status reduce(hg_engine *eng, const bool *failed, double *acc, double *lsum,
                        hg_error *err)
{
    if (!eng->det) {
        for (size_t i = 0; i < eng->ndev; i++) {
            const hg__device *d = &eng->dev[i];
            if (failed[i])
                continue;
            for (size_t p = 0; p < d->npieces_run; p++)
                hg__accumulate(eng, d->res + p * d->res_stride, 0, acc, lsum);
        }
        return HG_OK;
    }
    size_t n = 0;
    for (size_t i = 0; i < eng->ndev; i++)
        n += failed[i] ? 0 : eng->dev[i].npieces_run;
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (!k)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "ordering the step's blocks");
    n = 0;
    for (size_t i = 0; i < eng->ndev; i++) {
        const hg__device *d = &eng->dev[i];
        for (size_t p = 0; !failed[i] && p < d->npieces_run; p++)
            k[n++] = (keyed){d->res_key[p], d->res + p * d->res_stride};
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t p = 0; p < n; p++)
        hg__accumulate(eng, k[p].rec, 0, acc, lsum);
    free(k);
    return HG_OK;
}

/*
 * The step's record when it has exactly one (one device that did not fail
 * ran one batch, or one block in deterministic mode), else NULL: the host
 * then needs no double sums (hg__vec_mean1_f32; on the MLP's 203,530
 * parameters the sums' zeroing, addition and mean were 0.18 ms a step).
 */
static const float *only_record(const hg_engine *eng, const bool *failed)
{
    const float *one = NULL;
    size_t n = 0;
    for (size_t i = 0; i < eng->ndev && n <= 1; i++) {
        const hg__device *d = &eng->dev[i];
        if (failed[i] || d->npieces_run == 0)
            continue;
        n += d->npieces_run;
        one = d->res;
    }
    return n == 1 ? one : NULL;
}

/*
 * Show the scheduler the step's measured per-device times (failed devices:
 * no rows); log what its solo guard did.
 */
static void observe_step(hg_engine *eng)
{
    size_t *rows = calloc(eng->ndev, sizeof *rows);
    double *ms = calloc(eng->ndev, sizeof *ms);
    hg_error e;
    hg__sched_note note;
    if (!rows || !ms) {
        hg__log(&eng->log, HG_LOG_WARN, "rebalancing: out of memory");
    } else {
        for (size_t i = 0; i < eng->ndev; i++) {
            const hg_device_step *s = hg__device_stats(eng, i);
            rows[i] = s->failed ? 0 : s->rows;
            ms[i] = s->failed ? 0 : s->host_ms;
        }
        if (hg__sched_observe(eng->sched, rows, ms, &note, &e) != HG_OK)
            hg__log(&eng->log, HG_LOG_WARN, "rebalancing: %s", e.message);
        else if (note.solo)
            hg__log(&eng->log, HG_LOG_INFO, "a step took %.3g ms, the best device alone "
                    "(%s) %.3g ms: running it alone for %d steps", note.shared_ms,
                    eng->dev[note.solo_dev].what, note.solo_ms, note.solo_steps);
        if (note.trial && note.trial_dev < eng->ndev)
            hg__log(&eng->log, HG_LOG_INFO, "tried %s alone: %zu rows in %.3g ms",
                    eng->dev[note.trial_dev].what, note.trial_rows, note.trial_ms);
    }
    free(rows);
    free(ms);
}

/*
 * The step's mean gradient of count rows from its records (failed: the devices whose
 * records do not count) to out, and *lsum the sum of the rows' losses.  A single
 * record needs no double sums (only_record).  With an optimizer the mean goes straight
 * into the update, a block at a time (hg__step_update): no gradient array.
 */
static hg_status finish_step(hg_engine *eng, const bool *failed, size_t count,
                             const step_out *out, double *lsum, hg_error *err)
{
    const float *one = only_record(eng, failed);
    double n = (double)count;
    if (one) { /* the sums below of one record, in one pass: the same bits */
        *lsum = 0.0 + (double)one[eng->nparams];
        if (out->train)
            hg__step_update(eng, out->opt, out->params, one, NULL, n);
        else
            hg__vec_mean1_f32(out->grad, one, eng->nparams, n);
        return HG_OK;
    }
    *lsum = 0;
    memset(eng->sums, 0, eng->nparams * sizeof *eng->sums);
    hg_status st = reduce(eng, failed, eng->sums, lsum, err);
    if (st == HG_OK && out->train)
        hg__step_update(eng, out->opt, out->params, NULL, eng->sums, n);
    else if (st == HG_OK) /* (float)(acc / count) */
        hg__vec_mean_f32(out->grad, eng->sums, eng->nparams, n);
    return st;
}

/*
 * Kernels given rows by plans[] that were not checked in this process yet (a
 * cached profile's, or a device first given rows) are checked now, before they
 * compute them (hg__verify_kernels, no fault injection).  The check leaves the
 * step's state of the device as it was (its statistics and records; the step's
 * parameters are uploaded again), so that a recovery round can append to it.  A
 * device that fails its check is quarantined and *replan set: the plans no
 * longer hold.  Fails only with HG_OUT_OF_MEMORY.
 */
static hg_status check_first_use(hg_engine *eng, const hg__dev_plan *plans, bool *replan,
                                 hg_error *err)
{
    *replan = false;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        if (plans[i].rows == 0 || d->kc_checked || d->quarantined)
            continue;
        hg_error e;
        bool warming = eng->warming;
        hg_device_step stats = d->stats;
        size_t records = d->npieces_run;
        eng->warming = true;
        hg_status ds = hg__verify_kernels(eng, i, &e);
        eng->warming = warming;
        d->stats = stats;
        d->npieces_run = records;
        d->params_step = 0; /* its buffer holds the check's parameters: uploaded again */
        if (ds == HG_OUT_OF_MEMORY)
            return hg__error_set(err, ds, 0, "%s", e.message);
        if (ds != HG_OK) {
            hg__quarantine(eng, i, &e);
            *replan = true;
        }
    }
    return HG_OK;
}

/*
 * hg__plan_step (a step's plan, or with recovery a recovery round's) into out, every
 * device it gives rows checked first (check_first_use); planned again while a check
 * quarantines a device.
 */
static hg_status plan_checked(hg_engine *eng, bool recovery, size_t first, size_t count,
                              const size_t *idx, const hg__block *blk, size_t nblk,
                              hg__dev_plan *out, hg_error *err)
{
    bool replan = true;
    hg_status st = HG_OK;
    /* each pass that replans has quarantined a device: at most ndev + 1 passes */
    while (st == HG_OK && replan) {
        st = hg__plan_step(eng, recovery, first, count, idx, blk, nblk, out, err);
        if (st == HG_OK)
            st = check_first_use(eng, out, &replan, err);
    }
    return st;
}

static hg_status run_step(hg_engine *eng, const float *params, size_t count, const size_t *idx,
                          const step_out *out, double *loss, double t0, hg_error *err)
{
    hg__worker *w = eng->workers;
    if (!eng->sums) /* kept: a fresh megabyte-sized calloc every step costs page faults */
        eng->sums = malloc((eng->nparams ? eng->nparams : 1) * sizeof *eng->sums);
    double *acc = eng->sums;
    bool *failed = calloc(eng->ndev, sizeof *failed);
    size_t *rows = NULL, nrows = 0, caprows = 0;
    hg__block *blk = NULL;
    size_t nblk = 0, capblk = 0;
    hg_status st = HG_OK;
    if (!acc || !failed) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "starting a step");
        goto out;
    }
    eng->step++;
    eng->step_t0 = t0;
    hg__reap_stalled(eng);
    for (size_t i = 0; i < eng->ndev; i++)
        if (w[i].zombie)
            w[i].shown = (hg_device_step){0}; /* still stalled: no rows this step */
    hg__dev_plan *plans = eng->plan;
    bool append = false, recovered = false;
    for (;;) {
        st = hg__step_round(eng, plans, params, append, !append && eng->deadline_factor > 0,
                            true);
        if (st != HG_OK) {
            st = hg__error_set(err, st, 0, "a step's work stealing: out of memory settling "
                               "which device computed which rows");
            goto out;
        }
        nrows = 0;
        nblk = 0;
        bool any_failed = false;
        for (size_t i = 0; i < eng->ndev; i++) {
            /* An overrun is handled once, in the round it happened; the
               zombie is skipped by later rounds and steps. */
            bool overran = w[i].overran;
            w[i].overran = false;
            if (!overran && (w[i].st == HG_OK || w[i].zombie))
                continue;
            any_failed = true;
            failed[i] = true;
            if (!overran)
                eng->dev[i].stats.failed = true;
            hg__quarantine(eng, i, overran ? &w[i].overrun_err : &w[i].err);
            if (eng->det ? !collect_blocks(&plans[i], &blk, &nblk, &capblk)
                         : !collect_rows(&plans[i], &rows, &nrows, &caprows)) {
                st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "recovering a failed device");
                goto out;
            }
        }
        if (!any_failed)
            break;
        recovered = true;
        /* Re-plan the failed devices' rows on the healthy devices, with the
           same cost models as the step itself (the user's weights only in
           HG_SPLIT_WEIGHTS mode, or when no healthy device is calibrated). */
        hg_error why;
        st = eng->det ? plan_checked(eng, true, 0, 0, idx, blk, nblk, eng->recovery, &why)
                      : plan_checked(eng, true, 0, nrows, rows, NULL, 0, eng->recovery, &why);
        if (st == HG_OUT_OF_MEMORY) {
            st = hg__error_set(err, st, 0, "recovering a failed device: %s", why.message);
            goto out;
        }
        if (st != HG_OK) {
            hg__error_set(err, st == HG_RANGE ? HG_DEVICE_FAILED : st, 0,
                          "a device failed and its %zu %s could not be recomputed: %s",
                          eng->det ? nblk : nrows, eng->det ? "blocks" : "rows", why.message);
            st = err ? err->status : HG_DEVICE_FAILED;
            goto out;
        }
        plans = eng->recovery;
        append = true;
    }
    if (recovered)
        eng->recovered_steps++;
    observe_step(eng);
    hg__profile_check_observe(eng);

    double lsum = 0;
    st = finish_step(eng, failed, count, out, &lsum, err);
    if (st == HG_OK && loss)
        *loss = lsum / (double)count;

out:
    eng->stepped = true;
    eng->last_ms = hg__now_ms() - t0;
    free(rows);
    free(blk);
    free(failed);
    return st;
}

/*
 * Plan a step (rows [first, first + count) when idx is NULL, else idx[0..count))
 * by the scheduler's policy (hg__plan_step, plan.c), then run it.
 */
static hg_status plan_and_run(hg_engine *eng, const float *params, size_t first, size_t count,
                              const size_t *idx, const step_out *out, double *loss, double t0,
                              hg_error *err)
{
    hg_status st;
    if (eng->det) {
        hg__block *blk = NULL;
        size_t nblk = 0;
        st = hg__step_blocks(first, count, idx != NULL, eng->block_rows, &blk, &nblk, err);
        if (st == HG_OK)
            st = plan_checked(eng, false, first, count, idx, blk, nblk, eng->plan, err);
        free(blk);
    } else {
        st = plan_checked(eng, false, first, count, idx, NULL, 0, eng->plan, err);
    }
    if (st != HG_OK)
        return st;
    st = run_step(eng, params, count, idx, out, loss, t0, err);
    if (st == HG_OK)
        hg__profile_check_settle(eng); /* after the step: its time and statistics are final */
    return st;
}

/* The rows of a step: [first, first + count) when idx is NULL, else idx[0..count). */
static hg_status check_rows(const hg_engine *eng, size_t first, const size_t *idx,
                            size_t count, hg_error *err)
{
    if (!idx && (first > eng->rows || count > eng->rows - first))
        return hg__error_set(err, HG_RANGE, 0,
                             "rows %zu..%zu are outside the data set (%zu rows)", first,
                             first + count, eng->rows);
    for (size_t r = 0; idx && r < count; r++)
        if (idx[r] >= eng->rows)
            return hg__error_set(err, HG_RANGE, 0, "idx[%zu] = %zu is outside the data set "
                                 "(%zu rows)", r, idx[r], eng->rows);
    return HG_OK;
}

/* hg_engine_gradient[_rows] (out->grad) and hg_engine_step[_rows] (out->opt);
   rows: idx_given says whether the caller passed an index list (idx, NULL or not). */
static hg_status step_call(hg_engine *eng, const float *params, size_t first,
                           const size_t *idx, bool idx_given, size_t count,
                           const step_out *out, double *loss, hg_error *err)
{
    hg_error_clear(err);
    hg__kchoice_store_pending(eng); /* before the clock: the default choice's programs */
    double t0 = hg__now_ms();
    hg__device *pre = eng && params ? hg__shared_step_target(eng) : NULL;
    hg_status st = check_step(eng, params, count, out, pre, err);
    if (st == HG_OK && pre)
        pre->params_pre = eng->step + 1; /* run_step's number for this step */
    if (st == HG_OK && idx_given && !idx)
        st = hg__error_set(err, HG_INVALID_ARGUMENT, 0, "gradient step: NULL idx");
    if (st == HG_OK)
        st = check_rows(eng, first, idx, count, err);
    if (st == HG_OK)
        st = plan_and_run(eng, params, first, count, idx, out, loss, t0, err);
    if (pre)
        pre->params_pre = 0; /* used or not, it holds for this call alone */
    return st;
}

hg_status hg_engine_gradient(hg_engine *eng, const float *params, size_t first, size_t count,
                             float *grad, double *loss, hg_error *err)
{
    step_out out = {false, grad, NULL, NULL};
    return step_call(eng, params, first, NULL, false, count, &out, loss, err);
}

hg_status hg_engine_gradient_rows(hg_engine *eng, const float *params, const size_t *idx,
                                  size_t count, float *grad, double *loss, hg_error *err)
{
    step_out out = {false, grad, NULL, NULL};
    return step_call(eng, params, 0, idx, true, count, &out, loss, err);
}

hg_status hg_engine_step(hg_engine *eng, hg_optimizer *opt, float *params, size_t first,
                         size_t count, double *loss, hg_error *err)
{
    step_out out = {true, NULL, opt, params};
    return step_call(eng, params, first, NULL, false, count, &out, loss, err);
}

hg_status hg_engine_step_rows(hg_engine *eng, hg_optimizer *opt, float *params,
                              const size_t *idx, size_t count, double *loss, hg_error *err)
{
    step_out out = {true, NULL, opt, params};
    return step_call(eng, params, 0, idx, true, count, &out, loss, err);
}

/* hg_device_step as first released (0.2.0) ends with end_ms. */
#define DEVICE_STEP_MIN_SIZE HG__FIELD_END(hg_device_step, end_ms)

hg_status hg_engine_last_step_sized(const hg_engine *eng, size_t i, hg_device_step *out,
                                    size_t out_size)
{
    if (!eng || !out || out_size < DEVICE_STEP_MIN_SIZE)
        return HG_INVALID_ARGUMENT;
    if (i >= eng->ndev || !eng->stepped)
        return HG_RANGE;
    const hg_device_step *s = hg__device_stats(eng, i);
    hg__sized_write(out, out_size, s, sizeof *s, DEVICE_STEP_MIN_SIZE);
    return HG_OK;
}

double hg_engine_last_step_ms(const hg_engine *eng)
{
    return eng && eng->stepped ? eng->last_ms : 0.0;
}

const char *hg_engine_program_origin(const hg_engine *eng, size_t i)
{
    if (!eng || i >= eng->ndev || !eng->dev[i].prog)
        return NULL;
    switch (eng->dev[i].prog_origin) {
    case HG__PROGRAM_SOURCE:   return "source";
    case HG__PROGRAM_CACHE:    return "cache";
    case HG__PROGRAM_PREBUILT: return "prebuilt";
    }
    return NULL;
}

/* mkdir -p for the export directory. */
static bool make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        bool ok = mkdir(path, 0755) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok)
            return false;
    }
    return mkdir(path, 0755) == 0 || errno == EEXIST;
}

static hg_status export_one(const hg__device *d, cl_program prog, const char *dir,
                            const char *label, hg_error *err)
{
    char *path = hg__prebuilt_path(dir, d->info, label);
    size_t len = 0;
    unsigned char *bin = prog ? hg__program_binary(prog, &len) : NULL;
    hg_status st = HG_OK;
    if (!path || !bin) {
        st = hg__error_set(err, path ? HG_OPENCL : HG_OUT_OF_MEMORY, 0,
                           "exporting the '%s' binary of %s", label, d->what);
        goto out;
    }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    bool ok = make_dirs(path);
    *slash = '/';
    FILE *f = ok ? fopen(path, "wb") : NULL;
    if (!f || fwrite(bin, 1, len, f) != len) {
        st = hg__error_set(err, HG_IO, 0, "writing %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        goto out;
    }
    if (fclose(f) != 0)
        st = hg__error_set(err, HG_IO, 0, "writing %s: %s", path, strerror(errno));
out:
    free(bin);
    free(path);
    return st;
}

hg_status hg_engine_export_binaries(const hg_engine *eng, const char *dir, hg_error *err)
{
    hg_error_clear(err);
    if (!eng || !dir || !*dir)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_export_binaries: NULL");
    hg_status st = HG_OK;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        const hg__device *d = &eng->dev[i];
        if (d->quarantined)
            continue;
        hg__platform_enter(d->serial);
        st = export_one(d, d->prog, dir, "model", err);
        /* the programs of the path the device computes with (path_ops.h) */
        cl_program prog;
        const char *label;
        for (size_t k = 0; st == HG_OK && d->ops && d->ops->program(d->ps, k, &prog, &label); k++)
            st = export_one(d, prog, dir, label, err);
        hg__platform_leave(d->serial);
    }
    return st;
}
