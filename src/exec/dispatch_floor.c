/* SPDX-License-Identifier: MIT */
/*
 * dispatch_floor.c - a device's dispatch floor (dispatch_floor.h).  The
 * empty kernel is the model program's hg_relu_backward with n = 0 on one
 * work-item: it returns at once, needs no program of its own (no build, no
 * cache entry) and exists on every device, the custom model's included.
 * It is a kernel object of its own, so the steps' kernels keep their
 * arguments.
 */
#include "dispatch_floor.h"
#include "platlock.h"

static hg_status measure(hg__device *d, hg_error *err)
{
    if (!d->prog || !d->queue || !d->params)
        return hg__error_set(err, HG_INTERNAL, 0, "dispatch floor of %s: not open", d->what);
    cl_int rc = CL_SUCCESS;
    cl_kernel k = clCreateKernel(d->prog, "hg_relu_backward", &rc);
    if (rc != CL_SUCCESS || !k)
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_INVALID_KERNEL,
                           "clCreateKernel(hg_relu_backward) for the dispatch floor of %s",
                           d->what);
    const cl_uint none = 0;
    rc = clSetKernelArg(k, 0, sizeof(cl_mem), &d->params);
    if (rc == CL_SUCCESS)
        rc = clSetKernelArg(k, 1, sizeof(cl_mem), &d->params);
    if (rc == CL_SUCCESS)
        rc = clSetKernelArg(k, 2, sizeof none, &none);
    hg_status st = HG_OK;
    if (rc != CL_SUCCESS)
        st = hg__cl_fail(err, rc, "clSetKernelArg(hg_relu_backward) for the dispatch floor "
                         "of %s", d->what);
    double ms = 0;
    hg__waiter w = d->wait; /* the steps' policy; their counts stay as they are */
    w.before_block = NULL;
    if (st == HG_OK)
        st = hg__dispatch_floor(&w, d->queue, k, HG__FLOOR_REPS, d->what, &ms, err);
    clReleaseKernel(k);
    if (st == HG_OK)
        d->dispatch_floor_ms = ms;
    return st;
}

hg_status hg__device_dispatch_floor(hg__device *d, hg_error *err)
{
    d->dispatch_floor_ms = 0;
    hg__platform_enter(d->serial);
    hg_status st = measure(d, err);
    hg__platform_leave(d->serial);
    return st;
}
