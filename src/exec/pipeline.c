/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - one device's part of a step: its context, queue, model
 * program and buffers, and the batches it runs.
 *
 * A device computes with the compute path of its kernel choice (kchoice.c,
 * path_ops.h): CLBlast or naive GEMMs (dense.c), the fused kernel for the
 * linear and softmax models (fused.c), the tiled GEMM for the MLP (tiled.c),
 * or the user's kernel (custom.c).  This file sizes the workspace, writes
 * index steps' row lists (and gathers their rows for the paths that do not
 * read them in place), and runs each batch through the path's table.
 *
 * A batch yields records of P floats + 1 for the loss: one per batch, or in
 * deterministic mode one per block of the batch.  They come back through
 * two slots without stopping the device (readback.c) and the host adds them
 * (engine.c).  Rows beyond chunk_rows are run as several batches, so
 * workspace stays bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "path_ops.h"
#include "platlock.h"
#include "program.h"
#include "readback.h"
#include "shared_mem.h"
#include "sparse_exec.h"
#include "steal.h"

/* ---- buffers ------------------------------------------------------------------ */

/*
 * Workspace for batches of up to rows rows.  The first call sizes it for the
 * largest batch the device can be given (chunk_rows, or its whole window when
 * smaller), so it is allocated once per data set and never re-created between
 * steps.  (Re-creating buffers of another size also confuses Oclgrind's
 * uninitialised-value plugin, which keeps the shadow size of a freed buffer.)
 */
static hg_status ensure_workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    if (rows <= d->cap_rows)
        return HG_OK;
    size_t window = d->win.hi - d->win.lo;
    size_t want = d->chunk_rows < window ? d->chunk_rows : window;
    if (rows < want)
        rows = want;
    const size_t f = sizeof(float);
    const hg_model_desc *m = &eng->model;
    if (!d->ops) /* hg__device_open gives every open device a path */
        return hg__error_set(err, HG_INTERNAL, 0, "%s: no compute path", d->what);
    d->cap_rows = 0;
    size_t recs = eng->det ? (rows + eng->block_rows - 1) / eng->block_rows : 1;
    const size_t P = eng->nparams;
    if (recs * (P + 1) > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0,
                             "%s: %zu records of %zu parameters exceed 2^32 floats; use "
                             "smaller blocks", d->what, recs, P);
    hg_status st = HG_OK;
    if (recs > d->cap_recs || !d->grad)
        st = hg__readback_alloc(eng, d, recs, err);
    if (st == HG_OK)
        st = d->ops->workspace(eng, d, rows, err);
    /* gathered rows: for paths that do not read index steps' rows in place
       (an earlier choice's are let go: memory counts on small devices) */
    bool gathers = !d->ops->indexed;
    if (!gathers) {
        hg__release_mem(&d->xb);
        hg__release_mem(&d->yb);
        hg__release_mem(&d->lb);
    }
    if (st == HG_OK && gathers)
        st = hg__alloc_mem(d, &d->xb, rows * m->inputs * f, "gathered rows", err);
    if (st == HG_OK && gathers && (m->kind == HG_MODEL_LINEAR || m->kind == HG_MODEL_CUSTOM))
        st = hg__alloc_mem(d, &d->yb, rows * m->outputs * f, "gathered targets", err);
    if (st == HG_OK && gathers && (m->kind == HG_MODEL_SOFTMAX || m->kind == HG_MODEL_MLP))
        st = hg__alloc_mem(d, &d->lb, rows * sizeof(cl_int), "gathered labels", err);
    if (st == HG_OK)
        st = hg__shared_alloc(d, &d->idxb, (void **)&d->idxb_host, rows * sizeof(cl_uint),
                              "row indices", err);
    if (st == HG_OK)
        d->cap_rows = rows;
    return st;
}

/* ---- open / close ---------------------------------------------------------------- */

static hg_status build(hg_engine *eng, hg__device *d, size_t li, const char *src,
                       size_t len, const char *label, cl_program *prog,
                       hg__program_origin *origin, hg_error *err)

{
    hg__program_cache pc = eng->pcache;
    pc.refresh = d->rebuild;
    (void)li;
    char opt[64];
    snprintf(opt, sizeof opt, "-cl-std=CL1.2%s", hg__gt_scalar_option(d));
    return hg__program_build(d->ctx, d->cl_dev, d->info, d->what,
                             label, src, len, opt, &pc, prog, origin, err);
}

/* The model program's kernels, as device fields. */
static cl_kernel *model_kernel(hg__device *d, size_t i, const char **name)
{
    static const char *const names[] = {"hg_bias_act",      "hg_linear_out",
                                        "hg_softmax_out",   "hg_relu_backward",
                                        "hg_colsum_partial", "hg_colsum_finish",
                                        "hg_gather",        "hg_gemm_naive",
                                        "hg_gather_t"};
    cl_kernel *ks[] = {&d->k_bias_act, &d->k_linear_out, &d->k_softmax_out,
                       &d->k_relu_backward, &d->k_colsum, &d->k_finish,
                       &d->k_gather, &d->k_gemm, &d->k_gather_t};
    *name = names[i];
    return ks[i];
}
#define MODEL_KERNELS 9
/* From this index on, a model program loaded from a prebuilt binary may lack the
   kernel: a binary made from an older model.cl (hg_gather_t joined it on
   2026-12-05).  The device then computes without the paths that need it (the
   tiled GEMM's and the small-batch MLP's open fails, and a race leaves them out),
   not without any kernel. */
#define MODEL_KERNELS_REQUIRED 8

/* Whether built program prog has a kernel called name (CL_PROGRAM_KERNEL_NAMES: asking
   clCreateKernel for a missing one is an API error that Oclgrind's checks report). */
static bool program_has_kernel(cl_program prog, const char *name)
{
    size_t n = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return true; /* not known: clCreateKernel will say */
    char *names = malloc(n + 1);
    if (!names)
        return true;
    bool found = false;
    if (clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, n, names, NULL) == CL_SUCCESS) {
        names[n] = '\0';
        size_t len = strlen(name);
        for (const char *p = names; *p;) {
            size_t k = strcspn(p, ";");
            found |= k == len && strncmp(p, name, len) == 0;
            p += k + (p[k] == ';');
        }
    }
    free(names);
    return found;
}

/*
 * Build the model program (cl/model.cl; from source with d->rebuild) and its
 * kernels, and make them d's, releasing the earlier ones.  All or nothing:
 * on failure d keeps its current program and kernels.
 */
static hg_status build_model(hg_engine *eng, hg__device *d, hg_error *err)
{
    size_t len = 0;
    char *src = hg__model_source(&len);
    if (!src)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "kernel source 'model'");
    cl_program prog = NULL;
    hg__program_origin origin = HG__PROGRAM_SOURCE;
    cl_kernel ks[MODEL_KERNELS] = {NULL};
    hg_status st = build(eng, d, d->li, src, len, "model", &prog, &origin, err);
    free(src);
    const char *name;
    for (size_t i = 0; i < MODEL_KERNELS && st == HG_OK; i++) {
        model_kernel(d, i, &name);
        if (i >= MODEL_KERNELS_REQUIRED && origin == HG__PROGRAM_PREBUILT &&
            !program_has_kernel(prog, name)) {
            hg__log(&eng->log, HG_LOG_WARN, "%s: its prebuilt model program has no %s "
                    "(made from an older model.cl): the MLP's tiled and small-batch paths "
                    "are left out until its binaries are exported again", d->what, name);
            continue;
        }
        st = hg__make_kernel(d, prog, name, &ks[i], err); /* into ks: d's stay as they are */
    }
    if (st != HG_OK) {
        for (size_t i = 0; i < MODEL_KERNELS; i++)
            if (ks[i])
                clReleaseKernel(ks[i]);
        if (prog)
            clReleaseProgram(prog);
        return st;
    }
    for (size_t i = 0; i < MODEL_KERNELS; i++) {
        cl_kernel *k = model_kernel(d, i, &name);
        if (*k)
            clReleaseKernel(*k);
        *k = ks[i];
    }
    if (d->prog)
        clReleaseProgram(d->prog);
    d->prog = prog;
    d->prog_origin = origin;
    return HG_OK;
}

hg_status hg__device_rebuild(hg_engine *eng, hg__device *d, hg_error *err)
{
    hg__platform_enter(d->serial);
    d->rebuild = true;
    hg_status st = build_model(eng, d, err);
    if (st == HG_OK && d->kc.path != HG__PATH_CUSTOM) /* the user's program: not checked */
        st = hg__kchoice_apply(eng, d, d->li, &d->kc, err);
    d->rebuild = false;
    hg__platform_leave(d->serial);
    return st;
}

/*
 * Device d's first kernel choice (open_device): start when it is one of d's
 * candidates and builds, else the default; offline, the naive kernels when
 * ours have no prebuilt binary.  Sets d->kc_note.
 */
static hg_status first_choice(hg_engine *eng, hg__device *d, size_t li,
                              const hg__kchoice *start, hg_error *err)
{
    bool started = start && hg__kchoice_valid(eng, d, start);
    hg__kchoice kc = started ? *start : hg__kchoice_default(eng, d);
    hg_status st = hg__kchoice_apply(eng, d, li, &kc, err);
    if (st != HG_OK && st != HG_OUT_OF_MEMORY && started) {
        /* the choice it was offered fails here: the default, as without one */
        hg__log(&eng->log, HG_LOG_INFO, "%s: %s; opening with the default kernels", d->what,
                err ? err->message : "the kernels it was offered fail");
        started = false;
        kc = hg__kchoice_default(eng, d);
        st = hg__kchoice_apply(eng, d, li, &kc, err);
    }
    if (st != HG_OK && d->offline && !eng->det && kc.path == HG__PATH_OWN &&
        eng->gemm == HG_GEMM_AUTO) {
        /* no prebuilt binary of our kernels: the plain path, from "model" */
        hg__log(&eng->log, HG_LOG_INFO, "%s: %s; using the naive kernels", d->what,
                err ? err->message : "no prebuilt binary");
        kc = (hg__kchoice){HG__PATH_NAIVE, 0, 0, 0, 0, 0};
        st = hg__kchoice_apply(eng, d, li, &kc, err);
    }
    if (st == HG_OK && started && hg__kchoice_same(&d->kc, start)) {
        snprintf(d->kc_note, sizeof d->kc_note, "not measured yet: the choice it was opened "
                 "with");
    } else if (st == HG_OK) {
        snprintf(d->kc_note, sizeof d->kc_note, "%s", kc.path == HG__PATH_CUSTOM
                 ? "the user's kernel"
                 : eng->gemm == HG_GEMM_AUTO && !eng->det
                 ? (kc.path == HG__PATH_OWN
                        ? "not measured yet: hetgrad's own kernels on a CPU device, or "
                          "where CLBlast is no candidate"
                        : kc.path == HG__PATH_CLBLAST
                        ? "not measured yet: CLBlast on a non-CPU device"
                        : "not measured yet: the naive kernels (no prebuilt binary of ours)")
                 : "chosen by the engine options");
    }
    return st;
}

static hg_status open_device(hg_engine *eng, hg__device *d, size_t li,
                             const hg__kchoice *start, hg_error *err)
{
    hg_status st = hg__create_queue(hg__list_cl_platform(eng->list, li), d->cl_dev, d->what,
                                    &d->ctx, &d->queue, err);
    if (st != HG_OK)
        return st;
    d->wait = (hg__waiter){.policy = eng->wait_policy};
    d->shared = !eng->no_shared && hg__shared_capable(d);
    d->refuse_svm = eng->refuse_svm;
    cl_int rc = clGetDeviceInfo(d->cl_dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT,
                                sizeof d->float_width, &d->float_width, NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clGetDeviceInfo(CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT) on %s",
                           d->what);
    /* a CPU device's GEMMs read B in blocks that fit half its core's L2, the
       other half left to A's rows and C (docs/kernels.md, "The GEMM's K
       blocks"); 256 KiB when the host does not say */
    if (eng->gemm_kblock)
        d->gemm_kblock = eng->gemm_kblock;
    else if (d->info->type == HG_DEVICE_CPU)
        d->gemm_kblock = eng->host_l2 ? eng->host_l2 / 2 : (size_t)256 << 10;
    d->offline = eng->pcache.offline || !d->info->compiler_available;
    d->gemm_order = eng->gemm_order;
    d->gemm_pack = eng->gemm_pack;
    d->first_wgrad = eng->first_wgrad;
    st = build_model(eng, d, err);
    if (st != HG_OK)
        return st;

    /* its programs are cached once the choice is settled (calibration or the
       first step: hg__kchoice_store_pending), not before a race replaces it */
    d->defer_store = eng->pcache.dir != NULL;
    st = first_choice(eng, d, li, start, err);
    if (st == HG_OK)
        st = hg__shared_alloc(d, &d->params, (void **)&d->params_host,
                              eng->nparams * sizeof(float), "parameters", err);
    return st;
}

hg_status hg__device_open(hg_engine *eng, hg__device *d, size_t li, hg_error *err)
{
    return hg__device_open_sub(eng, d, li, NULL, 0, NULL, err);
}

hg_status hg__device_open_sub(hg_engine *eng, hg__device *d, size_t li, cl_device_id sub,
                              cl_uint units, const hg__kchoice *start, hg_error *err)
{
    memset(d, 0, sizeof *d);
    d->li = li;
    d->cl_dev = sub ? sub : hg__list_cl_device(eng->list, li);
    d->sub = sub;
    d->sub_units = sub ? units : 0;
    d->info = hg_device_list_get(eng->list, li);
    d->serial = hg__platform_lock(d->info->platform_name);
    snprintf(d->what, sizeof d->what, "device \"%s\" (%s)", d->info->name, d->info->id);
    if (d->serial)
        hg__log(&eng->log, HG_LOG_INFO, "%s: its platform is not thread-safe; every call "
                "into it is serialised (%s)", d->what,
                hg__platform_unsafe_reason(d->info->platform_name));
    hg__platform_enter(d->serial);
    hg_status st = open_device(eng, d, li, start, err);
    hg__platform_leave(d->serial);
    return st;
}

void hg__device_close(hg__device *d)
{
    if (!d->info)
        return;
    pthread_mutex_t *serial = d->serial;
    hg__platform_enter(serial);
    if (d->queue)
        clFinish(d->queue);
    hg__events_free(d);
    hg__readback_free(d); /* first: d->res may be a slot's, lent (readback.c) */
    free(d->res);
    free(d->res_key);
    free(d->chk_x);
    free(d->chk_y);
    free(d->chk_l);
    hg__kchoice_release(d);
    hg__program_pending_clear(&d->pending);
    hg__sparse_release(d);
    hg__plan_free(&d->claim);
    hg__shared_release(d, &d->params, (void **)&d->params_host);
    hg__shared_release(d, &d->idxb, (void **)&d->idxb_host);
    cl_mem *mems[] = {&d->x, &d->y, &d->labels, &d->pingpong[0], &d->pingpong[1],
                      &d->loss, &d->xb, &d->yb, &d->lb};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        hg__release_mem(mems[i]);
    for (size_t l = 0; l < HG__MAX_LAYERS; l++) {
        hg__release_mem(&d->act[l]);
        hg__release_mem(&d->partial[l]);
    }
    cl_kernel ks[] = {d->k_bias_act, d->k_linear_out, d->k_softmax_out, d->k_relu_backward,
                      d->k_colsum, d->k_finish, d->k_gather, d->k_gemm, d->k_gather_t};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    if (d->prog)
        clReleaseProgram(d->prog);
    if (d->queue)
        clReleaseCommandQueue(d->queue);
    if (d->ctx)
        clReleaseContext(d->ctx);
    if (d->sub)
        clReleaseDevice(d->sub);
    memset(d, 0, sizeof *d);
    hg__platform_leave(serial);
}

/* ---- resident data ------------------------------------------------------------ */

static hg_status write_buf(hg__device *d, cl_mem m, size_t bytes, const void *src,
                           const char *what, hg_error *err)
{
    cl_int rc = clEnqueueWriteBuffer(d->queue, m, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueWriteBuffer(%s, %zu bytes) on %s", what, bytes,
                           d->what);
    return HG_OK;
}

static hg_status upload(hg_engine *eng, hg__device *d, const hg_dataset_desc *data,
                        size_t lo, size_t hi, hg_error *err)
{
    const hg_model_desc *m = &eng->model;
    size_t n = hi - lo;
    hg__release_mem(&d->x);
    hg__release_mem(&d->y);
    hg__release_mem(&d->labels);
    d->win.lo = d->win.hi = 0;
    hg_status st = hg__alloc_mem(d, &d->x, n * m->inputs * sizeof(float), "resident rows", err);
    if (st == HG_OK && n)
        st = write_buf(d, d->x, n * m->inputs * sizeof(float), data->x + lo * m->inputs,
                       "resident rows", err);
    if (st == HG_OK && data->targets && (m->kind == HG_MODEL_LINEAR || m->kind == HG_MODEL_CUSTOM)) {
        st = hg__alloc_mem(d, &d->y, n * m->outputs * sizeof(float), "resident targets", err);
        if (st == HG_OK && n)
            st = write_buf(d, d->y, n * m->outputs * sizeof(float),
                           data->targets + lo * m->outputs, "resident targets", err);
    }
    if (st == HG_OK && data->labels && (m->kind == HG_MODEL_SOFTMAX || m->kind == HG_MODEL_MLP)) {
        st = hg__alloc_mem(d, &d->labels, n * sizeof(cl_int), "resident labels", err);
        if (st == HG_OK && n)
            st = write_buf(d, d->labels, n * sizeof(cl_int), data->labels + lo,
                           "resident labels", err);
    }
    if (st != HG_OK) {
        hg__release_mem(&d->x);
        hg__release_mem(&d->y);
        hg__release_mem(&d->labels);
        return st;
    }
    d->win.lo = lo;
    d->win.hi = hi;
    d->win.full = lo == 0 && hi == data->rows;
    /* a few rows kept on the host: candidates' gradients are checked on them */
    free(d->chk_x);
    free(d->chk_y);
    free(d->chk_l);
    d->chk_x = d->chk_y = NULL;
    d->chk_l = NULL;
    d->chk_n = n < 64 ? n : 64;
    d->chk_x = malloc((d->chk_n ? d->chk_n : 1) * m->inputs * sizeof(float));
    if (d->chk_x)
        memcpy(d->chk_x, data->x + lo * m->inputs, d->chk_n * m->inputs * sizeof(float));
    if (data->targets && (d->chk_y = malloc((d->chk_n ? d->chk_n : 1) * m->outputs *
                                            sizeof(float))))
        memcpy(d->chk_y, data->targets + lo * m->outputs,
               d->chk_n * m->outputs * sizeof(float));
    if (data->labels && (d->chk_l = malloc((d->chk_n ? d->chk_n : 1) * sizeof(int32_t))))
        memcpy(d->chk_l, data->labels + lo, d->chk_n * sizeof(int32_t));
    if (!d->chk_x || (data->targets && !d->chk_y) || (data->labels && !d->chk_l)) {
        d->chk_n = 0;
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "check rows for %s", d->what);
    }
    return HG_OK;
}

hg_status hg__device_upload(hg_engine *eng, hg__device *d, const hg_dataset_desc *data,
                            size_t lo, size_t hi, hg_error *err)
{
    hg__platform_enter(d->serial);
    hg_status st = upload(eng, d, data, lo, hi, err);
    hg__platform_leave(d->serial);
    return st;
}

/* ---- one batch -------------------------------------------------------------------- */

/*
 * At the fault hook's wait point (a gradient step with a hook): the batch's
 * kernels, and every command before them, have finished (a marker's event,
 * the queue being in order), so the device counts as done and a hook that
 * sleeps adds to its real compute time.  Without a hook nothing waits.
 */
static hg_status wait_point(hg_engine *eng, hg__device *d, hg_error *err)
{
    if (!eng->fault_hook || eng->warming)
        return HG_OK;
    cl_event done = NULL;
    cl_int rc = clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &done);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueMarkerWithWaitList on %s", d->what);
    char what[200];
    snprintf(what, sizeof what, "batch kernels on %s", d->what);
    hg_status st = hg__wait_event(&d->wait, d->queue, done, hg__run_left_ms(d), what, err);
    clReleaseEvent(done);
    if (st != HG_OK)
        return st;
    return hg__fault_injected(eng, d, d->run_index, HG_FAULT_WAIT, err);
}

/*
 * Run one batch through the device's path and start reading its records
 * back (readback.c: they reach d->res by hg__readback_drain); keys: the
 * records' block numbers (deterministic mode), NULL otherwise.
 */
static hg_status run_batch(hg_engine *eng, hg__device *d, const hg__batch *b,
                           const size_t *keys, hg_error *err)
{
    hg_status st = hg__readback_begin(eng, d, err);
    if (st == HG_OK)
        st = d->ops->run_batch(eng, d, b, err);
    if (st == HG_OK)
        st = wait_point(eng, d, err);
    if (st == HG_OK)
        st = hg__readback_end(eng, d, b->nrec, keys, err);
    return st;
}

/* Write the index list idx[0..n) (global rows inside the window) into the
   device's d->idxb: copied in place where shared and no command is pending
   (shared_mem.h: a run's first batch), else a write not waited for (the
   caller keeps idx alive until the run is done, held_idx below). */
static hg_status put_indices(hg__device *d, const cl_uint *idx, size_t n, hg_error *err)
{
    if (d->idxb_host && d->idle) {
        memcpy(d->idxb_host, idx, n * sizeof *idx);
        return HG_OK;
    }
    cl_event ev = NULL;
    cl_int rc = clEnqueueWriteBuffer(d->queue, d->idxb, CL_FALSE, 0, n * sizeof *idx, idx, 0,
                                     NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueWriteBuffer(row indices) on %s", d->what);
    if (!hg__track(d, ev, true))
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "tracking events on %s", d->what);
    return HG_OK;
}

/* Gather rows idx[0..n) (written to d->idxb) into the batch buffers. */
static hg_status gather(hg_engine *eng, hg__device *d, size_t n, hg_error *err)
{
    const hg_model_desc *md = &eng->model;
    cl_uint un = (cl_uint)n, lo = (cl_uint)d->win.lo, w = (cl_uint)md->inputs;
    /* a whole row a work-item on the host's cores, one float a work-item elsewhere */
    cl_uint per = d->info->type == HG_DEVICE_CPU ? w : 1;
    cl_uint wy = d->y ? (cl_uint)md->outputs : 0, has = (d->y ? 1u : 0u) | (d->labels ? 2u : 0u);
    /* the buffers not gathered (has says which) take any buffer's place */
    cl_mem ys = d->y ? d->y : d->xb, yd = d->y ? d->yb : d->xb;
    cl_mem ls = d->labels ? d->labels : d->xb, ld = d->labels ? d->lb : d->xb;
    hg__karg ga[] = {HG_MEM(d->x), HG_MEM(d->xb), HG_MEM(d->idxb), HG_U32(un), HG_U32(w),
                     HG_U32(lo),   HG_U32(per),   HG_MEM(ys),      HG_MEM(yd), HG_U32(wy),
                     HG_MEM(ls),   HG_MEM(ld),    HG_U32(has)};
    hg_status st = hg__set_args(d, d->k_gather, "hg_gather", ga, 13, err);
    size_t gws[2] = {(md->inputs + per - 1) / per, n};
    if (st == HG_OK)
        st = hg__launch(d, d->k_gather, 2, gws, NULL, "hg_gather", err);
    return st;
}

/*
 * The batch *b of rows idx[0..n) of the window (nrec records of block_rows
 * rows): the list written to the device, then either read in place by the
 * path (hg__path_ops.indexed) or gathered into consecutive rows first.
 */
static hg_status index_batch(hg_engine *eng, hg__device *d, const cl_uint *idx, size_t n,
                             size_t nrec, size_t block_rows, hg__batch *b, hg_error *err)
{
    hg_status st = put_indices(d, idx, n, err);
    if (st == HG_OK && d->ops->indexed) {
        *b = (hg__batch){d->x, d->y, d->labels, 0, n, nrec, block_rows, d->idxb, d->win.lo};
        return HG_OK;
    }
    if (st == HG_OK)
        st = gather(eng, d, n, err);
    *b = (hg__batch){d->xb, d->yb, d->lb, 0, n, nrec, block_rows, NULL, 0};
    return st;
}

/*
 * Run the batches of part (a device's plan, or a claim of work stealing):
 * in deterministic mode batches of whole blocks, one record per block;
 * index steps' rows read through their index list (gathered first unless the
 * path reads them in place); at most chunk rows a batch.
 */
/*
 * The host copies of index lists a run's gathers read: written to the
 * device by non-blocking writes, so each must outlive its run's commands
 * (freed by held_free after the run's drain or clFinish).
 */
typedef struct held_idx {
    cl_uint **list;
    size_t    n, cap;
} held_idx;

static cl_uint *held_new(held_idx *h, size_t n)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 4;
        cl_uint **l = realloc(h->list, cap * sizeof *l);
        if (!l)
            return NULL;
        h->list = l;
        h->cap = cap;
    }
    cl_uint *u = malloc(n * sizeof *u);
    if (u)
        h->list[h->n++] = u;
    return u;
}

static void held_free(held_idx *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->list[i]);
    free(h->list);
    memset(h, 0, sizeof *h);
}

static hg_status run_part(hg_engine *eng, hg__device *d, const hg__dev_plan *plan, size_t chunk,
                          held_idx *held, hg_error *err)
{
    hg_status st = HG_OK;
    cl_uint *uidx = NULL;
    if (plan->nidx) {
        uidx = held_new(held, plan->nidx);
        if (!uidx)
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "row indices for %s", d->what);
        for (size_t i = 0; i < plan->nidx; i++)
            uidx[i] = (cl_uint)plan->idx[i];
    }
    if (plan->nblk) {
        /*
         * Deterministic: batches of whole blocks (every block but a batch's
         * last one full, so blocks start at multiples of block_rows in the
         * batch), one record per block.
         */
        size_t B = eng->block_rows, pos = 0;
        for (size_t k = 0; k < plan->nblk && st == HG_OK;) {
            size_t nb = 1, rows = plan->blen[k];
            while (k + nb < plan->nblk && plan->blen[k + nb - 1] == B &&
                   rows + plan->blen[k + nb] <= chunk &&
                   (plan->nidx || plan->bfirst[k + nb] == plan->bfirst[k] + rows))
                rows += plan->blen[k + nb++];
            hg__batch b = {d->x, d->y, d->labels, 0, rows, nb, B, NULL, 0};
            if (plan->nidx)
                st = index_batch(eng, d, uidx + pos, rows, nb, B, &b, err);
            else
                b.row = plan->bfirst[k] - d->win.lo;
            if (st == HG_OK)
                st = run_batch(eng, d, &b, plan->bkey + k, err);
            pos += rows;
            k += nb;
        }
    } else if (plan->nidx) {
        for (size_t s = 0; s < plan->nidx && st == HG_OK; s += chunk) {
            size_t n = plan->nidx - s < chunk ? plan->nidx - s : chunk;
            hg__batch b;
            st = index_batch(eng, d, uidx + s, n, 1, n, &b, err);
            if (st == HG_OK)
                st = run_batch(eng, d, &b, NULL, err);
        }
    } else {
        for (size_t p = 0; p < plan->npieces && st == HG_OK; p++) {
            for (size_t s = 0; s < plan->pieces[p].count && st == HG_OK; s += chunk) {
                size_t n = plan->pieces[p].count - s < chunk ? plan->pieces[p].count - s : chunk;
                hg__batch b = {d->x, d->y, d->labels, plan->pieces[p].first + s - d->win.lo, n,
                               1, n, NULL, 0};
                st = run_batch(eng, d, &b, NULL, err);
            }
        }
    }
    return st;
}

/*
 * The device's part of a round with work stealing (steal.h): claim after
 * claim from the round's board, each run as its own part; when the board
 * says to ask again later, first wait for the oldest batch still queued.
 */
static hg_status run_claims(hg_engine *eng, hg__device *d, size_t index, uint64_t gen,
                            size_t chunk, held_idx *held, hg_error *err)
{
    hg_status st = HG_OK;
    bool oom = false, drained = true;
    for (;;) {
        hg__claim c = hg__steal_claim(eng->steal, gen, index, hg__now_ms(), drained, &d->claim,
                                      &oom);
        if (c == HG__CLAIM_RUN) {
            st = run_part(eng, d, &d->claim, chunk, held, err);
            drained = false;
        } else if (c == HG__CLAIM_LATER) {
            st = hg__readback_wait_one(eng, d, &drained, err);
        } else {
            break;
        }
        if (st != HG_OK)
            return st;
    }
    return oom ? hg__error_set(err, HG_OUT_OF_MEMORY, 0, "claiming work for %s", d->what)
               : HG_OK;
}

static hg_status run_device(hg_engine *eng, hg__device *d, size_t index,
                            const hg__dev_plan *plan, const float *params, bool append,
                            hg_error *err)
{
    double t0, host_before;
    uint64_t steal = d->steal_gen; /* this round's board, read once: 0 runs the plan */
    d->steal_gen = 0;
    held_idx held = {0};
    if (!hg__part_begin(eng, d, plan, append, &t0, &host_before))
        return HG_OK;
    d->run_index = index;
    /* when the run should end: how long a wait may poll (devwait.h) */
    d->run_due_ms = d->model.valid ? t0 + hg__cost_predict(&d->model, plan->rows) : 0;
    hg_status st = hg__fault_injected(eng, d, index, HG_FAULT_ENQUEUE, err);
    if (st != HG_OK)
        goto out;
    size_t chunk = d->chunk_rows ? d->chunk_rows : 1;
    size_t largest = plan->nidx ? plan->nidx : 0;
    for (size_t p = 0; p < plan->npieces; p++)
        if (plan->pieces[p].count > largest)
            largest = plan->pieces[p].count;
    /* stealing may hand it a larger part: the largest batch there is */
    st = ensure_workspace(eng, d, steal || largest > chunk ? chunk : largest, err);
    if (st != HG_OK)
        goto out;

    st = hg__upload_params(eng, d, params, append, err); /* once per step */
    if (st != HG_OK)
        goto out;
    st = steal ? run_claims(eng, d, index, steal, chunk, &held, err)
               : run_part(eng, d, plan, chunk, &held, err);
    if (st == HG_OK) /* every command done: the last read waited for */
        st = hg__readback_drain(eng, d, err);
    d->stats.pieces = d->npieces_run;

out:
    if (st != HG_OK) {
        if (d->queue)
            clFinish(d->queue); /* nothing of the run may still use its buffers */
        hg__readback_discard(d);
    }
    held_free(&held); /* every command is done: drained, or clFinish */
    hg__part_end(eng, d, t0, host_before);
    return st;
}

/* The lock is taken before the clock starts: host_ms is the device's own
   time, not the time spent waiting for another engine on the same platform. */
hg_status hg__device_run(hg_engine *eng, hg__device *d, size_t index, const hg__dev_plan *plan,
                         const float *params, bool append, hg_error *err)
{
    /* CSR data runs sparse_exec.c's commands instead (same records and statistics) */
    hg_status (*run)(hg_engine *, hg__device *, size_t, const hg__dev_plan *, const float *,
                     bool, hg_error *) = eng->sparse ? hg__sparse_run : run_device;
    if (plan->rows == 0)
        return run(eng, d, index, plan, params, append, err);
    hg__platform_enter(d->serial);
    hg_status st = run(eng, d, index, plan, params, append, err);
    hg__platform_leave(d->serial);
    return st;
}
