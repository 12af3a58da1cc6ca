/* SPDX-License-Identifier: MIT */
/*
 * custom.c - the custom path (path_ops.h): the user's kernel
 * (docs/custom-kernels.md) writes per-work-group partial sums of the
 * gradient and the loss, and the column-sum finish (epilogue.c) adds them
 * into the batch's record.  Its program is built from the engine's copy of
 * the user's source when the path is opened.
 */
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"

/* The custom path's state (hg__device.ps). */
typedef struct custom_state {
    cl_program prog;
    cl_kernel  k;    /* the user's kernel (eng->custom_kernel) */
    size_t     lsz;  /* its local size: a power of two, 1 to 64 */
} custom_state;

/* Groups the kernel runs with for rows rows (1 to 256). */
static size_t custom_groups(const custom_state *cs, size_t rows)
{
    size_t lsz = cs && cs->lsz ? cs->lsz : 1;
    size_t g = (rows + lsz - 1) / lsz;
    return g < 1 ? 1 : g > 256 ? 256 : g;
}

static hg_status run_custom(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    const hg_model_desc *md = &eng->model;
    custom_state *cs = d->ps;
    if (!cs || !cs->k || !cs->lsz) /* hg__kchoice_apply lets no such choice through */
        return hg__error_set(err, HG_INTERNAL, 0, "%s: the custom path without a custom "
                             "kernel", d->what);
    size_t groups = custom_groups(cs, b->rows);
    cl_uint first = (cl_uint)b->row, count = (cl_uint)b->rows, in = (cl_uint)md->inputs,
            outs = (cl_uint)md->outputs;
    hg__karg args[] = {HG_MEM(b->x), HG_MEM(b->y), HG_MEM(d->params), HG_U32(first), HG_U32(count), HG_U32(in),
                   HG_U32(outs), HG_MEM(d->partial[0]), HG_LOCAL(cs->lsz * sizeof(float))};
    hg_status st = hg__set_args(d, cs->k, eng->custom_kernel, args, 9, err);
    if (st != HG_OK)
        return st;
    size_t gws = groups * cs->lsz, lws = cs->lsz;
    cl_event ev = NULL;
    cl_int rc = clEnqueueNDRangeKernel(d->queue, cs->k, 1, NULL, &gws, &lws, 0, NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clEnqueueNDRangeKernel(%s) on %s", eng->custom_kernel,
                           d->what);
    if (!hg__track(d, ev, false))
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "tracking events on %s", d->what);
    return hg__finish_sums(d, d->partial[0], 0, groups, eng->nparams + 1, 0,
                           (cl_uint)eng->nparams, err);
}

static void no_workspace(void *state)
{
    (void)state; /* its partial sums are the shared d->partial[0] */
}

static void release(void *state)
{
    custom_state *cs = state;
    if (!cs)
        return;
    if (cs->k)
        clReleaseKernel(cs->k);
    if (cs->prog)
        clReleaseProgram(cs->prog);
    free(cs);
}

/* The largest power of two up to 64 the kernel and the device allow. */
static size_t local_size(const hg__device *d, cl_kernel k)
{
    size_t kmax = 1, lsz = 1;
    if (clGetKernelWorkGroupInfo(k, d->cl_dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                                 NULL) != CL_SUCCESS || kmax == 0)
        kmax = 1;
    while (lsz * 2 <= kmax && lsz * 2 <= d->info->max_work_group_size && lsz < 64)
        lsz *= 2;
    return lsz;
}

static hg_status open_custom(hg_engine *eng, hg__device *d, const hg__kchoice *k,
                             void **state, hg_error *err)
{
    (void)k;
    *state = NULL;
    if (!eng->custom_source || !eng->custom_kernel)
        return hg__error_set(err, HG_INTERNAL, 0, "%s: the custom path without a custom "
                             "kernel", d->what);
    custom_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "custom kernel on %s", d->what);
    hg__program_origin origin;
    hg__program_cache pc = eng->pcache;
    pc.refresh = d->rebuild;
    hg_status st = hg__program_build(d->ctx, d->cl_dev, d->info, d->what, "custom",
                                     eng->custom_source, strlen(eng->custom_source),
                                     "-cl-std=CL1.2", &pc, &cs->prog, &origin, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, cs->prog, eng->custom_kernel, &cs->k, err);
    if (st != HG_OK) {
        release(cs);
        return st;
    }
    cs->lsz = local_size(d, cs->k);
    *state = cs;
    return HG_OK;
}

/* Its per-work-group partial sums, in the shared d->partial[0]. */
static hg_status workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    return hg__alloc_mem(d, &d->partial[0],
                         custom_groups(d->ps, rows) * (eng->nparams + 1) * sizeof(float),
                         "custom partial sums", err);
}

static bool program(const void *state, size_t i, cl_program *prog, const char **label)
{
    const custom_state *cs = state;
    if (!cs || i > 0 || !cs->prog)
        return false;
    *prog = cs->prog;
    *label = "custom";
    return true;
}

const hg__path_ops hg__ops_custom = {"custom", open_custom, workspace, run_custom,
                                     no_workspace, release, program, false};
