/* SPDX-License-Identifier: MIT */
/*
 * sparse_exec.c - the engine on CSR data: hg_engine_set_data_csr (check,
 * place and upload the rows, check each device's kernel) and each device's
 * part of a step (hg__sparse_run, called through hg__device_run).
 *
 * What a device holds: the CSR rows of its window (offsets rebased to the
 * window, columns, values) and their targets or labels; never a dense row.
 * What it runs for a record (a batch of rows, or in deterministic mode a
 * block): waves of up to max_slabs slabs of `slab` rows.  For each wave it
 * zeroes max_slabs partial records, runs hg_sp_slab (one work-item per
 * slab: forward, dLoss/dz and the scatter of x^T dLoss/dz into the slab's
 * partial record) and hg_sp_reduce (adds the slabs in order into the
 * record).  The record is read back and the host adds the records exactly
 * as for dense data (engine.c), in device and row order, or in block order
 * in deterministic mode.
 *
 * Determinism: a block's slabs start at multiples of `slab` from the block's
 * first row (slab = the engine's det_slab, which divides block_rows), every
 * sum runs in a fixed order and the kernels use detmath's exp and log with
 * FP_CONTRACT off.  So a block's record has the same bits whichever device
 * computed it and whatever else was in the wave, and the step's result has
 * the same bits whatever the split.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_csr.h"
#include "platlock.h"
#include "path_ops.h"
#include "readback.h"
#include "shared_mem.h"
#include "sparse_exec.h"

#define SPARSE_MAX_SLABS 64u     /* slabs per wave at most */
#define SPARSE_CHECK_ROWS 64u    /* rows a device's kernel is checked on */
#define SPARSE_MAX_PART_BYTES (256.0 * 1024 * 1024) /* partial records, at most */

/* ---- program ------------------------------------------------------------------ */

/* detmath.cl followed by sparse.cl (malloc'ed), or NULL when out of memory. */
static char *sparse_source(size_t *len)
{
    size_t l1 = 0, l2 = 0;
    const char *a = hg__kernel_source("detmath", &l1), *b = hg__kernel_source("sparse", &l2);
    char *s = a && b ? malloc(l1 + l2 + 2) : NULL;
    if (!s)
        return NULL;
    memcpy(s, a, l1);
    s[l1] = '\n';
    memcpy(s + l1 + 1, b, l2);
    s[l1 + 1 + l2] = '\0';
    *len = l1 + 1 + l2;
    return s;
}

/* Build the sparse program and kernels of device d once (d->sp must exist). */
static hg_status build_program(hg_engine *eng, hg__device *d, hg_error *err)
{
    hg__sparse_dev *sp = d->sp;
    if (sp->prog)
        return HG_OK;
    size_t len = 0;
    char *src = sparse_source(&len);
    if (!src)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "kernel source 'sparse'");
    hg__program_origin origin;
    hg_status st = hg__program_build(d->ctx, hg__list_cl_device(eng->list, d->li), d->info,
                                     d->what, "sparse", src, len, "-cl-std=CL1.2",
                                     &eng->pcache, &sp->prog, &origin, err);
    free(src);
    if (st == HG_OK)
        st = hg__make_kernel(d, sp->prog, "hg_sp_zero", &sp->k_zero, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, sp->prog, "hg_sp_slab", &sp->k_slab, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, sp->prog, "hg_sp_reduce", &sp->k_reduce, err);
    return st;
}

static void release_data(hg__sparse_dev *sp)
{
    cl_mem *mems[] = {&sp->ptr, &sp->cols, &sp->vals, &sp->y, &sp->labels,
                      &sp->list, &sp->z, &sp->part, &sp->rec};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        hg__release_mem(mems[i]);
}

void hg__sparse_release(hg__device *d)
{
    hg__sparse_dev *sp = d->sp;
    if (!sp)
        return;
    release_data(sp);
    if (sp->k_zero)
        clReleaseKernel(sp->k_zero);
    if (sp->k_slab)
        clReleaseKernel(sp->k_slab);
    if (sp->k_reduce)
        clReleaseKernel(sp->k_reduce);
    if (sp->prog)
        clReleaseProgram(sp->prog);
    free(sp);
    d->sp = NULL;
}

void hg__sparse_forget(hg_engine *eng)
{
    eng->sparse = false;
    eng->sparse_nnz = 0;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        if (!d->sp)
            continue;
        hg__platform_enter(d->serial);
        hg__sparse_release(d);
        hg__platform_leave(d->serial);
    }
}

/* The dense data and workspace of device d: not needed while it holds CSR rows. */
static void drop_dense(hg__device *d)
{
    cl_mem *mems[] = {&d->x, &d->y, &d->labels, &d->pingpong[0], &d->pingpong[1],
                      &d->loss, &d->xb, &d->yb, &d->lb};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        hg__release_mem(mems[i]);
    hg__shared_release(d, &d->idxb, (void **)&d->idxb_host);
    hg__readback_free(d);
    if (d->ops)
        d->ops->drop_workspace(d->ps);
    for (size_t l = 0; l < HG__MAX_LAYERS; l++) {
        hg__release_mem(&d->act[l]);
        hg__release_mem(&d->partial[l]);
    }
    d->cap_rows = d->cap_recs = 0;
    free(d->chk_x);
    free(d->chk_y);
    free(d->chk_l);
    d->chk_x = d->chk_y = NULL;
    d->chk_l = NULL;
    d->chk_n = 0;
}

/* ---- placement ---------------------------------------------------------------- */

/* Bytes device memory needs for rows [lo, hi) of x. */
static double window_bytes(const hg_engine *eng, const hg_csr_desc *x, size_t lo, size_t hi)
{
    double per_row = eng->model.kind == HG_MODEL_LINEAR ? 4.0 * (double)eng->model.outputs : 4;
    return 4.0 * (double)(hi - lo + 1) + 8.0 * (double)(x->row_ptr[hi] - x->row_ptr[lo]) +
           per_row * (double)(hi - lo);
}

static double device_mem(const hg_engine *eng, const hg__device *d)
{
    double mem = (double)d->info->global_mem_bytes;
    if (eng->mem_limit && (double)eng->mem_limit < mem)
        mem = (double)eng->mem_limit;
    return mem;
}

/* Whether rows [lo, hi) fit device d: 60% of its memory, each buffer one allocation. */
static bool window_fits(const hg_engine *eng, const hg__device *d, const hg_csr_desc *x,
                        size_t lo, size_t hi)
{
    double alloc = (double)d->info->max_alloc_bytes;
    double nnz = (double)(x->row_ptr[hi] - x->row_ptr[lo]);
    return window_bytes(eng, x, lo, hi) <= 0.6 * device_mem(eng, d) && 4.0 * nnz <= alloc &&
           4.0 * (double)(hi - lo + 1) <= alloc;
}

/*
 * Windows: [lo[i], hi[i]) per device.  A full copy where the whole set fits;
 * the other devices take consecutive, disjoint windows (whole blocks in
 * deterministic mode).  HG_OUT_OF_MEMORY when neither covers every row.
 */
static hg_status place(hg_engine *eng, const hg_csr_desc *x, size_t *lo, size_t *hi,
                       hg_error *err)
{
    size_t n = x->rows, next = 0, B = eng->det ? eng->block_rows : 1;
    bool any_full = false;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        lo[i] = hi[i] = 0;
        if (d->quarantined)
            continue;
        if (window_fits(eng, d, x, 0, n)) {
            hi[i] = n;
            any_full = true;
            continue;
        }
        /* the longest run of rows from next that fits, by bisection */
        size_t a = next, lo_n = 0, hi_n = n - next;
        while (lo_n < hi_n) {
            size_t mid = lo_n + (hi_n - lo_n + 1) / 2;
            if (window_fits(eng, d, x, a, a + mid))
                lo_n = mid;
            else
                hi_n = mid - 1;
        }
        if (a + lo_n < n)
            lo_n = lo_n / B * B;
        lo[i] = a;
        hi[i] = a + lo_n;
        next = hi[i];
        if (lo_n)
            hg__log(&eng->log, HG_LOG_INFO, "%s holds rows %zu..%zu of %zu (memory)", d->what,
                    lo[i], hi[i], n);
    }
    if (!any_full && next < n)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "the sparse data set (%zu rows, %zu non-zeros) does not fit in "
                             "the devices' memory (room for %zu rows)", n, x->row_ptr[n], next);
    return HG_OK;
}

/* ---- upload ------------------------------------------------------------------- */

static hg_status write_buf(hg__device *d, cl_mem m, size_t bytes, const void *src,
                           const char *what, hg_error *err)
{
    if (bytes == 0)
        return HG_OK;
    cl_int rc = clEnqueueWriteBuffer(d->queue, m, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueWriteBuffer(%s, %zu bytes) on %s", what, bytes,
                           d->what);
    return HG_OK;
}

/* Rows [lo, hi) of x onto device d, and the workspace. */
static hg_status upload(hg_engine *eng, hg__device *d, const hg_csr_desc *x, size_t lo,
                        size_t hi, hg_error *err)
{
    hg__sparse_dev *sp = d->sp;
    const hg_model_desc *m = &eng->model;
    size_t n = hi - lo, e0 = x->row_ptr[lo], nnz = x->row_ptr[hi] - e0;
    const size_t f = sizeof(float), P1 = eng->nparams + 1;
    release_data(sp);
    d->win = (hg__window){0, 0, false};
    uint32_t *ptr = malloc((n + 1) * sizeof *ptr);
    if (!ptr)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "row offsets for %s", d->what);
    for (size_t r = 0; r <= n; r++)
        ptr[r] = (uint32_t)(x->row_ptr[lo + r] - e0);
    hg_status st = hg__alloc_mem(d, &sp->ptr, (n + 1) * sizeof *ptr, "row offsets", err);
    if (st == HG_OK)
        st = write_buf(d, sp->ptr, (n + 1) * sizeof *ptr, ptr, "row offsets", err);
    free(ptr);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &sp->cols, nnz * sizeof(uint32_t), "resident columns", err);
    if (st == HG_OK)
        st = write_buf(d, sp->cols, nnz * sizeof(uint32_t), x->cols + e0, "resident columns",
                       err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &sp->vals, nnz * f, "resident values", err);
    if (st == HG_OK)
        st = write_buf(d, sp->vals, nnz * f, x->vals + e0, "resident values", err);
    if (st == HG_OK && m->kind == HG_MODEL_LINEAR) {
        st = hg__alloc_mem(d, &sp->y, n * m->outputs * f, "resident targets", err);
        if (st == HG_OK)
            st = write_buf(d, sp->y, n * m->outputs * f, x->targets + lo * m->outputs,
                           "resident targets", err);
    }
    if (st == HG_OK && m->kind == HG_MODEL_SOFTMAX) {
        st = hg__alloc_mem(d, &sp->labels, n * sizeof(cl_int), "resident labels", err);
        if (st == HG_OK)
            st = write_buf(d, sp->labels, n * sizeof(cl_int), x->labels + lo,
                           "resident labels", err);
    }
    /* workspace: partial records within 20% of the memory, 256 MiB and one allocation */
    double room = 0.2 * device_mem(eng, d);
    if (room > SPARSE_MAX_PART_BYTES)
        room = SPARSE_MAX_PART_BYTES;
    if (room > (double)d->info->max_alloc_bytes)
        room = (double)d->info->max_alloc_bytes;
    double fit = room / ((double)P1 * (double)f);
    sp->max_slabs = fit >= SPARSE_MAX_SLABS ? SPARSE_MAX_SLABS : fit >= 1 ? (size_t)fit : 1;
    sp->slab = eng->det ? eng->det_slab : HG__SLAB_MIN;
    d->chunk_rows = sp->max_slabs * sp->slab;
    if (st == HG_OK)
        st = hg__alloc_mem(d, &sp->part, sp->max_slabs * P1 * f, "partial records", err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &sp->rec, P1 * f, "gradient record", err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &sp->z, sp->max_slabs * m->outputs * f, "row outputs", err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &sp->list, d->chunk_rows * sizeof(cl_uint), "row list", err);
    if (st != HG_OK) {
        release_data(sp);
        return st;
    }
    d->win = (hg__window){lo, hi, lo == 0 && hi == x->rows};
    return HG_OK;
}

/* ---- a device's part of a step ------------------------------------------------- */

/*
 * One record: n rows, window rows first.. (list NULL) or list[0..n) (global
 * rows), as waves of at most max_slabs slabs; read back with key.
 */
static hg_status run_record(hg_engine *eng, hg__device *d, size_t first, const size_t *list,
                            size_t n, size_t key, hg_error *err)
{
    hg__sparse_dev *sp = d->sp;
    const hg_model_desc *m = &eng->model;
    /*
     * Fast mode: about two slabs per compute unit (each slab zeroes and adds a
     * whole partial record, which dominates for wide models), 512 to 8192 rows
     * each.  Deterministic mode: the engine's slab, which fixes the bits.
     */
    size_t slab = sp->slab;
    if (!eng->det) {
        size_t cu = d->info->compute_units ? d->info->compute_units : 1;
        slab = (n + 2 * cu - 1) / (2 * cu);
        slab = slab < HG__SLAB_MIN ? HG__SLAB_MIN : slab > HG__SLAB_MAX ? HG__SLAB_MAX : slab;
    }
    const size_t P1 = eng->nparams + 1, wave = sp->max_slabs * slab;
    cl_uint *wl = list ? malloc((n < wave ? n : wave) * sizeof *wl) : NULL;
    if (list && !wl)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "row list for %s", d->what);
    hg_status st = HG_OK;
    for (size_t w0 = 0; w0 < n && st == HG_OK; w0 += wave) {
        size_t wn = n - w0 < wave ? n - w0 : wave, nslab = (wn + slab - 1) / slab;
        cl_event ev = NULL;
        cl_int rc;
        if (list) {
            for (size_t r = 0; r < wn; r++)
                wl[r] = (cl_uint)(list[w0 + r] - d->win.lo);
            rc = clEnqueueWriteBuffer(d->queue, sp->list, CL_TRUE, 0, wn * sizeof *wl, wl, 0,
                                      NULL, &ev);
            if (rc != CL_SUCCESS) {
                st = hg__cl_fail(err, rc, "clEnqueueWriteBuffer(row list) on %s", d->what);
                break;
            }
            if ((st = hg__tracked(d, ev, true, err)) != HG_OK)
                break;
        }
        size_t nz = nslab * P1;
        cl_uint unz = (cl_uint)nz;
        hg__karg za[] = {HG_MEM(sp->part), HG_U32(unz)};
        if ((st = hg__set_args(d, sp->k_zero, "hg_sp_zero", za, 2, err)) != HG_OK ||
            (st = hg__launch(d, sp->k_zero, 1, &nz, NULL, "hg_sp_zero", err)) != HG_OK)
            break;
        cl_uint use_list = list != NULL, ufirst = (cl_uint)(list ? 0 : first + w0 - d->win.lo);
        cl_uint un = (cl_uint)wn, uslab = (cl_uint)slab, F = (cl_uint)m->inputs;
        cl_uint K = (cl_uint)m->outputs, softmax = m->kind == HG_MODEL_SOFTMAX;
        cl_mem y = sp->y ? sp->y : sp->ptr, lab = sp->labels ? sp->labels : sp->ptr;
        hg__karg a[] = {HG_MEM(sp->ptr), HG_MEM(sp->cols), HG_MEM(sp->vals), HG_MEM(y),
                        HG_MEM(lab), HG_MEM(sp->list), HG_U32(use_list), HG_U32(ufirst),
                        HG_U32(un), HG_U32(uslab), HG_MEM(d->params), HG_U32(F), HG_U32(K),
                        HG_U32(softmax), HG_MEM(sp->z), HG_MEM(sp->part)};
        st = hg__set_args(d, sp->k_slab, "hg_sp_slab", a, sizeof a / sizeof a[0], err);
        if (st == HG_OK)
            st = hg__launch(d, sp->k_slab, 1, &nslab, NULL, "hg_sp_slab", err);
        cl_uint uns = (cl_uint)nslab, up = (cl_uint)P1, add = w0 > 0;
        hg__karg b[] = {HG_MEM(sp->part), HG_U32(uns), HG_U32(up), HG_MEM(sp->rec),
                        HG_U32(add)};
        if (st == HG_OK)
            st = hg__set_args(d, sp->k_reduce, "hg_sp_reduce", b, 5, err);
        if (st == HG_OK)
            st = hg__launch(d, sp->k_reduce, 1, &P1, NULL, "hg_sp_reduce", err);
    }
    free(wl);
    if (st != HG_OK)
        return st;
    /* the record back, and the host waits for it as for a dense batch's (devwait.h):
       the queue is in order, so the batch's kernels are done with it */
    float *rec = hg__next_records(eng, d, 1);
    if (!rec)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "result records on %s", d->what);
    cl_event ev = NULL;
    cl_int rc = clEnqueueReadBuffer(d->queue, sp->rec, CL_FALSE, 0, P1 * sizeof(float), rec, 0,
                                    NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueReadBuffer(gradient) on %s", d->what);
    rc = clRetainEvent(ev); /* one reference to wait on, one for the step's timing */
    if (rc != CL_SUCCESS) {
        clReleaseEvent(ev);
        return hg__cl_fail(err, rc, "clRetainEvent(gradient read-back) on %s", d->what);
    }
    char what[200];
    snprintf(what, sizeof what, "gradient read-back on %s", d->what);
    st = hg__wait_event(&d->wait, d->queue, ev, hg__run_left_ms(d), what, err);
    clReleaseEvent(ev);
    hg_error te; /* a failed wait's error stays the one reported */
    hg_status ts = hg__tracked(d, ev, true, st == HG_OK ? err : &te);
    if (st == HG_OK)
        st = ts;
    if (st == HG_OK)
        st = hg__fault_injected(eng, d, d->run_index, HG_FAULT_WAIT, err);
    if (st != HG_OK)
        return st;
    d->res_key[d->npieces_run++] = key;
    return HG_OK;
}

hg_status hg__sparse_run(hg_engine *eng, hg__device *d, size_t index, const hg__dev_plan *plan,
                         const float *params, bool append, hg_error *err)
{
    double t0, host_before;
    if (!hg__part_begin(eng, d, plan, append, &t0, &host_before))
        return HG_OK;
    d->run_index = index;
    hg_status st = d->sp && d->sp->k_slab
                       ? hg__fault_injected(eng, d, index, HG_FAULT_ENQUEUE, err)
                       : hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s holds no sparse data",
                                       d->what);
    if (st != HG_OK)
        goto out;
    if ((st = hg__upload_params(eng, d, params, append, err)) != HG_OK) /* once per step */
        goto out;
    size_t chunk = d->chunk_rows ? d->chunk_rows : 1;
    if (plan->nblk) {
        /* deterministic: one record per block, whatever its size */
        for (size_t k = 0, pos = 0; k < plan->nblk && st == HG_OK; k++) {
            st = plan->nidx ? run_record(eng, d, 0, plan->idx + pos, plan->blen[k],
                                         plan->bkey[k], err)
                            : run_record(eng, d, plan->bfirst[k], NULL, plan->blen[k],
                                         plan->bkey[k], err);
            pos += plan->blen[k];
        }
    } else if (plan->nidx) {
        for (size_t s = 0; s < plan->nidx && st == HG_OK; s += chunk)
            st = run_record(eng, d, 0, plan->idx + s,
                            plan->nidx - s < chunk ? plan->nidx - s : chunk, d->npieces_run,
                            err);
    } else {
        for (size_t p = 0; p < plan->npieces && st == HG_OK; p++) {
            const hg__range *pc = &plan->pieces[p];
            for (size_t s = 0; s < pc->count && st == HG_OK; s += chunk)
                st = run_record(eng, d, pc->first + s, NULL,
                                pc->count - s < chunk ? pc->count - s : chunk,
                                d->npieces_run, err);
        }
    }
    d->stats.pieces = d->npieces_run;
out:
    if (d->queue)
        clFinish(d->queue);
    hg__part_end(eng, d, t0, host_before);
    return st;
}

/* ---- the first-use check ------------------------------------------------------- */

/*
 * The double host reference on rows [first, first + n) of x: loss and
 * gradient sums (grad: P doubles, zeroed here).  false when out of memory.
 */
static bool reference(const hg_model_desc *m, const float *params, const hg_csr_desc *x,
                      size_t first, size_t n, double *loss, double *grad, size_t P)
{
    size_t F = m->inputs, K = m->outputs;
    double *z = malloc(K * sizeof *z);
    if (!z)
        return false;
    memset(grad, 0, P * sizeof *grad);
    *loss = 0;
    for (size_t r = first; r < first + n; r++) {
        for (size_t k = 0; k < K; k++)
            z[k] = params[F * K + k];
        for (size_t e = x->row_ptr[r]; e < x->row_ptr[r + 1]; e++)
            for (size_t k = 0; k < K; k++)
                z[k] += (double)x->vals[e] * params[(size_t)x->cols[e] * K + k];
        if (m->kind == HG_MODEL_SOFTMAX) {
            double mx = z[0], s = 0;
            for (size_t k = 1; k < K; k++)
                mx = z[k] > mx ? z[k] : mx;
            for (size_t k = 0; k < K; k++)
                s += exp(z[k] - mx);
            double lse = mx + log(s);
            size_t lab = (size_t)x->labels[r];
            *loss += lse - z[lab];
            for (size_t k = 0; k < K; k++)
                z[k] = exp(z[k] - lse) - (k == lab ? 1.0 : 0.0);
        } else {
            for (size_t k = 0; k < K; k++) {
                z[k] -= x->targets[r * K + k];
                *loss += 0.5 * z[k] * z[k];
            }
        }
        for (size_t e = x->row_ptr[r]; e < x->row_ptr[r + 1]; e++)
            for (size_t k = 0; k < K; k++)
                grad[(size_t)x->cols[e] * K + k] += (double)x->vals[e] * z[k];
        for (size_t k = 0; k < K; k++)
            grad[F * K + k] += z[k];
    }
    free(z);
    return true;
}

/*
 * Device i's sparse gradient on the first rows of its window against the
 * double host reference (the criterion of profile.c's check): HG_OK, or
 * HG_DEVICE_FAILED naming the error (the caller quarantines the device).
 */
static hg_status check_device(hg_engine *eng, size_t i, const hg_csr_desc *x, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    size_t n = d->win.hi - d->win.lo, P = eng->nparams;
    if (n > SPARSE_CHECK_ROWS)
        n = SPARSE_CHECK_ROWS;
    if (n == 0)
        return HG_OK;
    float *params = malloc(P * sizeof *params);
    double *ref = malloc(P * sizeof *ref), *got = calloc(P, sizeof *got);
    hg_status st = HG_OK;
    double lref = 0, lgot = 0;
    if (!params || !ref || !got) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "checking %s", d->what);
        goto out;
    }
    for (size_t k = 0; k < P; k++) /* as profile.c's check parameters */
        params[k] = (float)((double)((k * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.01f;
    if (!reference(&eng->model, params, x, d->win.lo, n, &lref, ref, P)) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "checking %s", d->what);
        goto out;
    }
    hg__range piece = {d->win.lo, n};
    hg__dev_plan p = {.pieces = &piece, .npieces = 1, .rows = n};
    hg__platform_enter(d->serial);
    st = hg__sparse_run(eng, d, i, &p, params, false, err);
    hg__platform_leave(d->serial);
    if (st != HG_OK)
        goto out;
    for (size_t r = 0; r < d->npieces_run; r++)
        hg__accumulate(eng, d->res + r * d->res_stride, 0, got, &lgot);
    double dmax = 0, rmax = 0;
    for (size_t k = 0; k < P; k++) {
        double diff = fabs(got[k] - ref[k]);
        if (!(diff <= dmax))
            dmax = isnan(diff) ? INFINITY : diff;
        rmax = fabs(ref[k]) > rmax ? fabs(ref[k]) : rmax;
    }
    double gerr = dmax / (rmax > 1e-30 ? rmax : 1e-30);
    double lerr = fabs(lgot - lref) / (fabs(lref) > 1e-30 ? fabs(lref) : 1e-30);
    if (!(gerr <= 1e-3 && lerr <= 1e-3))
        st = hg__error_set(err, HG_DEVICE_FAILED, 0,
                           "%s: the sparse kernel computes a wrong gradient on %zu rows "
                           "(relative error %.2g, loss %.2g)", d->what, n, gerr, lerr);
out:
    free(params);
    free(ref);
    free(got);
    return st;
}

/* ---- the API ------------------------------------------------------------------- */

hg_status hg_engine_set_data_csr(hg_engine *eng, const hg_csr_desc *data, hg_error *err)
{
    hg_error_clear(err);
    if (!eng)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_set_data_csr: NULL engine");
    hg_csr_desc x;
    hg_status st = hg__csr_check(data, &eng->model, &x, err);
    if (st != HG_OK)
        return st;
    size_t *lo = calloc(eng->ndev, sizeof *lo), *hi = calloc(eng->ndev, sizeof *hi);
    if (!lo || !hi) {
        free(lo);
        free(hi);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning the upload");
    }
    st = place(eng, &x, lo, hi, err);
    if (st != HG_OK) {
        free(lo);
        free(hi);
        return st;
    }
    eng->has_data = false;
    eng->calibrated = false;
    eng->split = HG_SPLIT_WEIGHTS;
    eng->sparse = true;
    eng->sparse_nnz = x.row_ptr[x.rows];
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        hg__device *d = &eng->dev[i];
        if (d->quarantined)
            continue;
        hg__platform_enter(d->serial);
        drop_dense(d);
        if (!d->sp && !(d->sp = calloc(1, sizeof *d->sp)))
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "sparse state of %s", d->what);
        hg_error e;
        hg_status ds = st == HG_OK ? build_program(eng, d, &e) : st;
        if (ds == HG_OK)
            ds = upload(eng, d, &x, lo[i], hi[i], &e);
        hg__platform_leave(d->serial);
        if (ds == HG_OUT_OF_MEMORY)
            st = hg__error_set(err, ds, 0, "%s", e.message);
        else if (ds != HG_OK)
            hg__quarantine(eng, i, &e); /* another device may hold its rows */
    }
    free(lo);
    free(hi);
    /* every kernel's gradient on its device's first rows, before any step */
    eng->warming = true;
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        if (eng->dev[i].quarantined)
            continue;
        hg_error e;
        hg_status ds = check_device(eng, i, &x, &e);
        if (ds == HG_OUT_OF_MEMORY)
            st = hg__error_set(err, ds, 0, "%s", e.message);
        else if (ds != HG_OK)
            hg__quarantine(eng, i, &e);
    }
    eng->warming = false;
    if (st != HG_OK)
        return st;
    /* the rows of a quarantined window must still be held by some device */
    bool whole = false;
    size_t covered = 0;
    for (size_t i = 0; i < eng->ndev; i++) {
        if (eng->dev[i].quarantined)
            continue;
        whole |= eng->dev[i].win.full;
        covered += eng->dev[i].win.hi - eng->dev[i].win.lo;
    }
    if (!whole && covered < x.rows)
        return hg__error_set(err, HG_NO_DEVICE, 0,
                             "no healthy device holds every row of the sparse data set "
                             "(see hg_engine_quarantined)");
    eng->rows = x.rows;
    eng->has_data = true;
    return HG_OK;
}
