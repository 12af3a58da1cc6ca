/* SPDX-License-Identifier: MIT */
/*
 * enqueue.c - the small helpers every device path uses to enqueue work:
 * buffers, kernel arguments, launches with fixed local sizes, and the
 * events a step is timed by.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

bool hg__track(hg__device *d, cl_event ev, bool transfer)
{
    d->idle = false; /* a command was enqueued, tracked or not */
    if (!ev)
        return true;
    if (d->timing.n == d->timing.cap) {
        size_t cap = d->timing.cap ? 2 * d->timing.cap : 64;
        cl_event *e = realloc(d->timing.ev, cap * sizeof *e);
        if (e)
            d->timing.ev = e;
        bool *t = realloc(d->timing.transfer, cap * sizeof *t);
        if (t)
            d->timing.transfer = t;
        if (!e || !t) {
            clReleaseEvent(ev);
            return false;
        }
        d->timing.cap = cap;
    }
    d->timing.ev[d->timing.n] = ev;
    d->timing.transfer[d->timing.n] = transfer;
    d->timing.n++;
    d->ncmds++;
    d->last_ev = ev;
    return true;
}

hg_status hg__tracked(hg__device *d, cl_event ev, bool transfer, hg_error *err)
{
    if (!hg__track(d, ev, transfer))
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "tracking events on %s", d->what);
    return HG_OK;
}

hg_status hg__queue_settle(hg__device *d, hg_error *err)
{
    if (d->idle)
        return HG_OK;
    cl_int rc = clFinish(d->queue);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clFinish before writing a shared buffer on %s", d->what);
    d->idle = true;
    return HG_OK;
}

hg_status hg__upload_params(const hg_engine *eng, hg__device *d, const float *params,
                            bool append, hg_error *err)
{
    /* Every round of a step (run_step: the first, then recovery rounds with append) runs
       with the same parameters; any other run (calibration, probes) passes append false
       and uploads, and a step's number is new, so a stale tag never matches. */
    if (append && d->params_step == eng->step && eng->step > 0)
        return HG_OK;
    if (d->params_pre == eng->step && eng->step > 0) {
        /* the step's call copied these parameters in while checking them */
        d->params_pre = 0;
        d->params_step = eng->step;
        d->precopied++;
        return HG_OK;
    }
    d->params_pre = 0; /* anything else written overwrites that copy */
    d->params_step = 0;
    if (d->params_host) { /* shared (shared_mem.h): written in place once nothing reads it */
        hg_status st = hg__queue_settle(d, err);
        if (st != HG_OK)
            return st;
        memcpy(d->params_host, params, eng->nparams * sizeof(float));
        d->params_step = eng->step;
        return HG_OK;
    }
    cl_event ev = NULL;
    cl_int rc = clEnqueueWriteBuffer(d->queue, d->params, CL_FALSE, 0,
                                     eng->nparams * sizeof(float), params, 0, NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueWriteBuffer(parameters) on %s", d->what);
    hg_status st = hg__tracked(d, ev, true, err);
    if (st == HG_OK)
        d->params_step = eng->step;
    return st;
}

void hg__collect_events(hg__device *d)
{
    for (size_t i = 0; i < d->timing.n; i++) {
        cl_ulong s = 0, e = 0;
        if (clGetEventProfilingInfo(d->timing.ev[i], CL_PROFILING_COMMAND_START, sizeof s, &s,
                                    NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(d->timing.ev[i], CL_PROFILING_COMMAND_END, sizeof e, &e,
                                    NULL) == CL_SUCCESS &&
            e >= s) {
            double ms = (double)(e - s) / 1e6;
            d->stats.device_ms += ms;
            if (d->timing.transfer[i])
                d->stats.transfer_ms += ms;
        }
        clReleaseEvent(d->timing.ev[i]);
    }
    d->timing.n = 0;
    d->last_ev = NULL; /* its reference was timing's */
}

void hg__events_free(hg__device *d)
{
    for (size_t i = 0; i < d->timing.n; i++)
        clReleaseEvent(d->timing.ev[i]);
    free(d->timing.ev);
    free(d->timing.transfer);
    memset(&d->timing, 0, sizeof d->timing);
    d->last_ev = NULL;
}

hg_status hg__set_args(hg__device *d, cl_kernel k, const char *name, const hg__karg *args,
                       size_t n, hg_error *err)
{
    for (size_t i = 0; i < n; i++) {
        cl_int rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
        if (rc != CL_SUCCESS)
            return hg__cl_fail(err, rc, "clSetKernelArg(%s, %zu) on %s", name, i, d->what);
    }
    return HG_OK;
}

hg_status hg__launch(hg__device *d, cl_kernel k, cl_uint dims, const size_t *gws,
                     const size_t *lws_in, const char *name, hg_error *err)
{
    /*
     * Fixed local sizes, global sizes rounded up (every kernel checks its
     * bounds): a driver-chosen local size follows the global size, and POCL
     * compiles a new work-group function for every new local size, hundreds
     * of milliseconds each time the rows per device change.
     */
    size_t lws[2], g[2];
    size_t maxwg = d->info->max_work_group_size ? d->info->max_work_group_size : 1;
    if (lws_in) {
        for (cl_uint i = 0; i < dims; i++)
            lws[i] = lws_in[i];
    } else if (dims == 1) {
        lws[0] = maxwg < 64 ? maxwg : 64;
    } else {
        lws[0] = maxwg < 8 ? maxwg : 8;
        lws[1] = maxwg / lws[0] < 8 ? maxwg / lws[0] : 8;
        if (lws[1] == 0)
            lws[1] = 1;
    }
    for (cl_uint i = 0; i < dims; i++)
        g[i] = (gws[i] + lws[i] - 1) / lws[i] * lws[i];
    cl_event ev = NULL;
    cl_int rc = clEnqueueNDRangeKernel(d->queue, k, dims, NULL, g, lws, 0, NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueNDRangeKernel(%s) on %s", name, d->what);
    return hg__tracked(d, ev, false, err);
}

void hg__release_mem(cl_mem *m)
{
    if (*m)
        clReleaseMemObject(*m);
    *m = NULL;
}

hg_status hg__alloc_size(const hg__device *d, size_t *bytes, const char *what, hg_error *err)
{
    if (*bytes == 0)
        *bytes = sizeof(float);
    if (*bytes > d->info->max_alloc_bytes)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "%s on %s: %zu bytes exceed CL_DEVICE_MAX_MEM_ALLOC_SIZE (%llu)",
                             what, d->what, *bytes,
                             (unsigned long long)d->info->max_alloc_bytes);
    return HG_OK;
}

hg_status hg__alloc_mem(hg__device *d, cl_mem *m, size_t bytes, const char *what,
                        hg_error *err)
{
    hg__release_mem(m);
    hg_status st = hg__alloc_size(d, &bytes, what, err);
    if (st != HG_OK)
        return st;
    cl_int rc = CL_SUCCESS;
    *m = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS || !*m) {
        *m = NULL;
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_MEM_OBJECT_ALLOCATION_FAILURE,
                           "clCreateBuffer(%s, %zu bytes) on %s", what, bytes, d->what);
    }
    return HG_OK;
}

hg_status hg__make_kernel(hg__device *d, cl_program prog, const char *name, cl_kernel *k,
                          hg_error *err)
{
    cl_int rc = CL_SUCCESS;
    *k = clCreateKernel(prog, name, &rc);
    if (rc != CL_SUCCESS || !*k) {
        *k = NULL;
        return hg__cl_fail(err, rc, "clCreateKernel(%s) on %s", name, d->what);
    }
    return HG_OK;
}

/* Ask the fault hook whether device index fails at point (engine_internal.h). */
hg_status hg__fault_injected_during(const hg_engine *eng, const hg__device *d, size_t index,
                                    hg_fault_point point, const char *during, hg_error *err)
{
    if (!eng->fault_hook || eng->warming ||
        !eng->fault_hook(eng->fault_user, index, eng->step, point))
        return HG_OK;
    const char *where = point == HG_FAULT_ENQUEUE ? "before enqueue" : "before wait";
    if (during)
        return hg__error_set(err, HG_DEVICE_FAILED, 0, "%s: injected fault %s (%s)", d->what,
                             where, during);
    return hg__error_set(err, HG_DEVICE_FAILED, 0, "%s: injected fault %s in step %llu",
                         d->what, where, (unsigned long long)eng->step);
}

hg_status hg__fault_injected(const hg_engine *eng, const hg__device *d, size_t index,
                             hg_fault_point point, hg_error *err)
{
    return hg__fault_injected_during(eng, d, index, point, NULL, err);
}

bool hg__part_begin(hg_engine *eng, hg__device *d, const hg__dev_plan *plan, bool append,
                    double *t0, double *host_before)
{
    *t0 = hg__now_ms();
    *host_before = append ? d->stats.host_ms : 0;
    if (!append) {
        memset(&d->stats, 0, sizeof d->stats);
        d->stats.start_ms = *t0 - eng->step_t0;
        d->npieces_run = 0;
        d->stats.rows = plan->rows;
    } else {
        d->stats.rows += plan->rows;
        d->stats.recovered_rows += plan->rows;
    }
    return plan->rows > 0;
}

void hg__part_end(hg_engine *eng, hg__device *d, double t0, double host_before)
{
    hg__collect_events(d);
    double t1 = hg__now_ms();
    d->stats.host_ms = host_before + (t1 - t0);
    d->stats.end_ms = t1 - eng->step_t0;
}
