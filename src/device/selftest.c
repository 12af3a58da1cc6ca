/* SPDX-License-Identifier: MIT */
/*
 * selftest.c - prove a device computes: build the embedded self-test program,
 * run an affine update and a work-group reduction on a small problem, and
 * check every element on the host.
 *
 * Sizes are small (a few thousand floats) so that the test finishes quickly
 * even on Oclgrind, which is thousands of times slower than a CPU device.
 * The data are small integers, so the reduction is exact in any order and the
 * affine update (a, b powers of two) is exact with or without FMA.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clutil.h"
#include "platlock.h"

#define SELFTEST_N 3001u /* not a multiple of any local size: tests the bounds check */

typedef struct selftest {
    cl_context       ctx;
    cl_command_queue queue;
    cl_program       prog;
    cl_kernel        affine, reduce;
    cl_mem           x, y, partial;
} selftest;

static void selftest_release(selftest *t)
{
    if (t->x) clReleaseMemObject(t->x);
    if (t->y) clReleaseMemObject(t->y);
    if (t->partial) clReleaseMemObject(t->partial);
    if (t->affine) clReleaseKernel(t->affine);
    if (t->reduce) clReleaseKernel(t->reduce);
    if (t->prog) clReleaseProgram(t->prog);
    if (t->queue) clReleaseCommandQueue(t->queue);
    if (t->ctx) clReleaseContext(t->ctx);
}

/* Build the program; HG_BUILD carries the first line of the build log. */
static hg_status build(selftest *t, cl_device_id dev, const char *what, hg_error *err)
{
    size_t len = 0;
    const char *src = hg__kernel_source("selftest", &len);
    if (!src)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'selftest' missing");
    cl_int rc;
    t->prog = clCreateProgramWithSource(t->ctx, 1, &src, &len, &rc);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clCreateProgramWithSource(selftest) for %s", what);
    rc = clBuildProgram(t->prog, 1, &dev, "-cl-std=CL1.2", NULL, NULL);
    if (rc != CL_SUCCESS) {
        char *log = hg__build_log(t->prog, dev);
        hg_status st = hg__error_set(err, rc == CL_BUILD_PROGRAM_FAILURE ? HG_BUILD : HG_OPENCL,
                                     rc, "clBuildProgram(selftest) for %s: %s (%d)%s%s", what,
                                     hg_cl_error_name(rc), (int)rc, log ? ": " : "",
                                     log ? log : "");
        free(log);
        return st;
    }
    t->affine = clCreateKernel(t->prog, "hg_selftest_affine", &rc);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clCreateKernel(hg_selftest_affine) for %s", what);
    t->reduce = clCreateKernel(t->prog, "hg_selftest_reduce", &rc);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clCreateKernel(hg_selftest_reduce) for %s", what);
    return HG_OK;
}

/* Largest power of two <= limit, at most 64. */
static size_t local_size(cl_kernel k, cl_device_id dev, size_t dev_max)
{
    size_t kmax = 0;
    if (clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                                 NULL) != CL_SUCCESS || kmax == 0)
        kmax = 1;
    size_t limit = kmax < dev_max ? kmax : dev_max;
    size_t l = 1;
    while (l * 2 <= limit && l < 64)
        l *= 2;
    return l;
}

static hg_status run(selftest *t, const hg_device_info *info, cl_device_id dev,
                     const char *what, size_t *checked, hg_error *err)
{
    const cl_uint n = SELFTEST_N;
    size_t lsz = local_size(t->reduce, dev, info->max_work_group_size ? info->max_work_group_size : 1);
    size_t groups = (n + lsz - 1) / lsz;
    size_t gsz = groups * lsz;
    float *x = malloc(n * sizeof *x);
    float *y = malloc(n * sizeof *y);
    float *partial = malloc(groups * sizeof *partial);
    hg_status st = HG_OK;
    cl_int rc;
    if (!x || !y || !partial) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "self-test buffers for %s", what);
        goto out_free;
    }
    for (cl_uint i = 0; i < n; i++)
        x[i] = (float)((int)(i % 97) - 48);

    t->x = clCreateBuffer(t->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * sizeof *x, x, &rc);
    if (rc == CL_SUCCESS)
        t->y = clCreateBuffer(t->ctx, CL_MEM_WRITE_ONLY, n * sizeof *y, NULL, &rc);
    if (rc == CL_SUCCESS)
        t->partial = clCreateBuffer(t->ctx, CL_MEM_WRITE_ONLY, groups * sizeof *partial, NULL, &rc);
    if (rc != CL_SUCCESS) {
        st = hg__cl_fail(err, rc, "clCreateBuffer (self-test) for %s", what);
        goto out_free;
    }

    const cl_float a = 0.5f, b = 4.0f;
    rc = clSetKernelArg(t->affine, 0, sizeof t->x, &t->x);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->affine, 1, sizeof t->y, &t->y);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->affine, 2, sizeof a, &a);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->affine, 3, sizeof b, &b);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->affine, 4, sizeof n, &n);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->reduce, 0, sizeof t->x, &t->x);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->reduce, 1, sizeof t->partial, &t->partial);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->reduce, 2, lsz * sizeof(cl_float), NULL);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(t->reduce, 3, sizeof n, &n);
    if (rc != CL_SUCCESS) {
        st = hg__cl_fail(err, rc, "clSetKernelArg (self-test) for %s", what);
        goto out_free;
    }
    rc = clEnqueueNDRangeKernel(t->queue, t->affine, 1, NULL, &gsz, &lsz, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        st = hg__cl_fail(err, rc, "clEnqueueNDRangeKernel(hg_selftest_affine) for %s", what);
        goto out_free;
    }
    rc = clEnqueueNDRangeKernel(t->queue, t->reduce, 1, NULL, &gsz, &lsz, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        st = hg__cl_fail(err, rc, "clEnqueueNDRangeKernel(hg_selftest_reduce) for %s", what);
        goto out_free;
    }
    rc = clEnqueueReadBuffer(t->queue, t->y, CL_TRUE, 0, n * sizeof *y, y, 0, NULL, NULL);
    if (rc == CL_SUCCESS)
        rc = clEnqueueReadBuffer(t->queue, t->partial, CL_TRUE, 0, groups * sizeof *partial,
                                 partial, 0, NULL, NULL);
    if (rc == CL_SUCCESS)
        rc = clFinish(t->queue);
    if (rc != CL_SUCCESS) {
        st = hg__cl_fail(err, rc, "reading self-test results from %s", what);
        goto out_free;
    }

    for (cl_uint i = 0; i < n; i++) {
        float want = a * x[i] + b;
        if (y[i] != want) {
            st = hg__error_set(err, HG_DEVICE_FAILED, 0,
                               "self-test on %s: affine element %u is %.9g, expected %.9g",
                               what, (unsigned)i, (double)y[i], (double)want);
            goto out_free;
        }
    }
    for (size_t g = 0; g < groups; g++) {
        double want = 0;
        for (size_t i = g * lsz; i < (g + 1) * lsz && i < n; i++)
            want += x[i];
        if ((double)partial[g] != want) {
            st = hg__error_set(err, HG_DEVICE_FAILED, 0,
                               "self-test on %s: work-group %zu sum is %.9g, expected %.9g "
                               "(local size %zu)", what, g, (double)partial[g], want, lsz);
            goto out_free;
        }
    }
    *checked = n + groups;

out_free:
    free(x);
    free(y);
    free(partial);
    return st;
}

/* hg_selftest_result as first released (0.2.0) ends with elements. */
#define SELFTEST_RESULT_MIN_SIZE HG__FIELD_END(hg_selftest_result, elements)

hg_status hg_device_selftest_sized(const hg_device_list *list, size_t i,
                                   hg_selftest_result *res_user, size_t res_size,
                                   hg_error *err)
{
    hg_error_clear(err);
    hg_selftest_result zero = {0};
    if (res_user && !hg__sized_write(res_user, res_size, &zero, sizeof zero,
                                     SELFTEST_RESULT_MIN_SIZE))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_device_selftest: result size %zu is below the %zu bytes "
                             "of hg_selftest_result's first version",
                             res_size, (size_t)SELFTEST_RESULT_MIN_SIZE);
    const hg_device_info *info = hg_device_list_get(list, i);
    if (!info)
        return hg__error_set(err, list ? HG_RANGE : HG_INVALID_ARGUMENT, 0,
                             "hg_device_selftest: device %zu does not exist (%zu devices)",
                             i, hg_device_list_count(list));
    hg_selftest_result r = {0}, *res = res_user ? &r : NULL;
    char what[160];
    snprintf(what, sizeof what, "device \"%s\" (%s)", info->name, info->id);

    cl_device_id dev = hg__list_cl_device(list, i);
    selftest t = {0};
    pthread_mutex_t *serial = hg__platform_lock(info->platform_name);
    hg__platform_enter(serial);
    double t0 = hg__now_ms();
    hg_status st = hg__create_queue(hg__list_cl_platform(list, i), dev, what, &t.ctx,
                                    &t.queue, err);
    if (st == HG_OK && !info->compiler_available && hg_device_prop_ok(info, HG_PROP_COMPILER_AVAILABLE))
        st = hg__error_set(err, HG_BUILD, CL_COMPILER_NOT_AVAILABLE,
                           "%s has no online compiler; the self-test needs one", what);
    if (st == HG_OK)
        st = build(&t, dev, what, err);
    double t1 = hg__now_ms();
    size_t checked = 0;
    if (st == HG_OK)
        st = run(&t, info, dev, what, &checked, err);
    double t2 = hg__now_ms();
    selftest_release(&t);
    hg__platform_leave(serial);
    if (st == HG_OK && res) {
        res->build_ms = t1 - t0;
        res->run_ms = t2 - t1;
        res->elements = checked;
        hg__sized_write(res_user, res_size, res, sizeof *res, SELFTEST_RESULT_MIN_SIZE);
    }
    return st;
}
