/* SPDX-License-Identifier: MIT */
/*
 * starpu_softmax.c - the softmax-regression gradient through StarPU's OpenCL
 * workers (see starpu_softmax.h), written the way StarPU's own examples are:
 * data registered once and partitioned with filters, one task per block, the
 * scratch buffers as STARPU_SCRATCH handles, a history-based performance
 * model per codelet, synchronous OpenCL codelets (the codelet waits for its
 * kernels with clFinish, as StarPU's vector_scal example does).
 *
 * The kernel is hetgrad's (cl/detmath.cl + cl/fused.cl, embedded at build
 * time) with the same build options hetgrad uses, and the same slab sizes,
 * so the two systems run identical device code and differ only in how the
 * work is split, scheduled and reduced.
 *
 * StarPU is process-wide state, so a session is too (one at a time); the
 * codelet finds the session through the task's cl_arg, never a global.
 */
#define _POSIX_C_SOURCE 200809L
#include "starpu_softmax.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <starpu.h>

/* Embedded by bench/CMakeLists.txt (cmake/embed_file.cmake). */
extern const unsigned char bench_detmath_cl[];
extern const size_t        bench_detmath_cl_len;
extern const unsigned char bench_fused_cl[];
extern const size_t        bench_fused_cl_len;

#define SLAB_MIN 512u  /* as HG__SLAB_MIN in src/exec/engine_internal.h */
#define SLAB_MAX 8192u /* as HG__SLAB_MAX */

enum { H_X, H_LABELS, H_PARAMS, H_OUT, H_WT, H_PART, NHANDLES };

/* One built program: a kernel shape on every device. */
typedef struct sp_program {
    sp_shape                    shape;
    struct starpu_opencl_program prog;
    bool                        loaded;
} sp_program;

/* What one OpenCL worker computes with. */
typedef struct sp_worker {
    int           id;       /* StarPU worker id */
    int           devid;    /* StarPU OpenCL device id */
    unsigned      node;     /* its memory node */
    char          name[160];
    char          kernel[48];
    size_t        cu;       /* compute units */
    size_t        maxwg;    /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    unsigned      kp;       /* classes padded to the shape's kc */
    cl_kernel     prep, grad, finish;
    _Atomic uint64_t tasks; /* tasks run since the last sp_take_task_counts */
} sp_worker;

struct sp_session {
    sp_options              o;
    size_t                  P;        /* parameters: features x classes + classes */
    size_t                  nblocks;
    size_t                  max_slabs;
    struct starpu_perfmodel model;
    struct starpu_codelet   cl;
    sp_program              prog[SP_MAX_WORKERS];
    size_t                  nprog;
    sp_worker               w[SP_MAX_WORKERS];
    unsigned                nw;
    sp_worker              *by_devid[STARPU_MAXOPENCLDEVS];
    float                  *params;   /* StarPU's home copy of the parameters */
    float                  *out;      /* nblocks x (P + 1): each block's sums */
    starpu_data_handle_t    hx, hlabels, hparams, hout, hwt, hpart;
    bool                    registered, partitioned, pinned;
    pthread_mutex_t         fail_lock;
    char                    fail[SP_ERR_MAX]; /* the first codelet failure */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void seterr(char err[SP_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SP_ERR_MAX, fmt, ap);
    va_end(ap);
}

/* Record the first codelet failure (any worker thread). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void codelet_fail(sp_session *s, const char *fmt, ...);
static void codelet_fail(sp_session *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->fail_lock);
    if (!s->fail[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->fail, sizeof s->fail, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->fail_lock);
}

/* Rows per work-item of hg_fused_grad for a block of rows on cu compute
   units: hetgrad's fast-mode rule (src/exec/fused.c, slab_rows). */
static size_t slab_rows(size_t cu, size_t rows)
{
    size_t want = (rows + 4 * cu - 1) / (4 * cu);
    want = (want + SLAB_MIN - 1) / SLAB_MIN * SLAB_MIN;
    return want < SLAB_MIN ? SLAB_MIN : want > SLAB_MAX ? SLAB_MAX : want;
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* One kernel argument: its size and where its value is. */
typedef struct karg {
    size_t      size;
    const void *value;
} karg;

/*
 * Set k's n arguments and enqueue it with the global size rounded up to the
 * local size (every kernel checks its bounds).  The first failing call's
 * OpenCL status, or CL_SUCCESS.
 */
static cl_int run_kernel(cl_command_queue q, cl_kernel k, const karg *args, cl_uint n,
                         cl_uint dims, const size_t *gws, const size_t *lws)
{
    for (cl_uint i = 0; i < n; i++) {
        cl_int rc = clSetKernelArg(k, i, args[i].size, args[i].value);
        if (rc != CL_SUCCESS)
            return rc;
    }
    size_t g[2];
    for (cl_uint i = 0; i < dims; i++)
        g[i] = round_up(gws[i], lws[i]);
    return clEnqueueNDRangeKernel(q, k, dims, NULL, g, lws, 0, NULL, NULL);
}

/*
 * The OpenCL codelet: hetgrad's three fused kernels over one block, then
 * clFinish.  buffers: x block (matrix), labels block, params, the block's
 * output record, scratch Wt, scratch slab partials.
 */
static void grad_opencl(void *buffers[], void *arg)
{
    sp_session *s = arg;
    int devid = starpu_worker_get_devid(starpu_worker_get_id_check());
    sp_worker *w = devid >= 0 && devid < STARPU_MAXOPENCLDEVS ? s->by_devid[devid] : NULL;
    if (!w) {
        codelet_fail(s, "a task ran on OpenCL device %d, which has no kernels", devid);
        return;
    }
    const size_t F = s->o.features, K = s->o.classes, P = s->P;
    size_t rows = STARPU_MATRIX_GET_NY(buffers[H_X]);
    size_t xoff = STARPU_MATRIX_GET_OFFSET(buffers[H_X]);
    size_t loff = STARPU_VECTOR_GET_OFFSET(buffers[H_LABELS]);
    /* The kernel indexes x and labels with one row0: the two must agree, and
       every other buffer must start at its beginning. */
    if (STARPU_MATRIX_GET_LD(buffers[H_X]) != F || xoff % (F * sizeof(float)) != 0 ||
        loff % sizeof(int32_t) != 0 || xoff / (F * sizeof(float)) != loff / sizeof(int32_t) ||
        STARPU_VECTOR_GET_OFFSET(buffers[H_PARAMS]) != 0 ||
        STARPU_VECTOR_GET_OFFSET(buffers[H_OUT]) != 0 ||
        STARPU_VECTOR_GET_OFFSET(buffers[H_WT]) != 0 ||
        STARPU_VECTOR_GET_OFFSET(buffers[H_PART]) != 0) {
        codelet_fail(s, "unexpected buffer layout on %s (x ld %zu offset %zu, labels offset "
                     "%zu): the kernel needs whole rows at matching offsets",
                     w->name, (size_t)STARPU_MATRIX_GET_LD(buffers[H_X]), xoff, loff);
        return;
    }
    cl_mem x = (cl_mem)STARPU_MATRIX_GET_DEV_HANDLE(buffers[H_X]);
    cl_mem labels = (cl_mem)STARPU_VECTOR_GET_DEV_HANDLE(buffers[H_LABELS]);
    cl_mem params = (cl_mem)STARPU_VECTOR_GET_DEV_HANDLE(buffers[H_PARAMS]);
    cl_mem out = (cl_mem)STARPU_VECTOR_GET_DEV_HANDLE(buffers[H_OUT]);
    cl_mem wt = (cl_mem)STARPU_VECTOR_GET_DEV_HANDLE(buffers[H_WT]);
    cl_mem part = (cl_mem)STARPU_VECTOR_GET_DEV_HANDLE(buffers[H_PART]);

    size_t slab = slab_rows(w->cu, rows);
    size_t nslabs = (rows + slab - 1) / slab;
    if (nslabs > s->max_slabs) {
        codelet_fail(s, "%zu slabs exceed the scratch buffer (%zu)", nslabs, s->max_slabs);
        return;
    }
    cl_uint w_off = 0, b_off = (cl_uint)(F * K), uP = (cl_uint)P;
    cl_uint row0 = (cl_uint)(xoff / (F * sizeof(float))), urows = (cl_uint)rows;
    cl_uint us = (cl_uint)slab, uns = (cl_uint)nslabs, one = 1;
    cl_command_queue q;
    starpu_opencl_get_current_queue(&q);

    const karg prep_args[] = {{sizeof params, &params}, {sizeof w_off, &w_off},
                              {sizeof wt, &wt}};
    cl_uint base = 0, indexed = 0; /* consecutive rows: no index list */
    const karg grad_args[] = {{sizeof x, &x},           {sizeof row0, &row0},
                              {sizeof urows, &urows},   {sizeof x, &x} /* idx: not read */,
                              {sizeof base, &base},     {sizeof indexed, &indexed},
                              {sizeof labels, &labels},
                              {sizeof x, &x} /* y: unused by softmax */,
                              {sizeof wt, &wt},         {sizeof params, &params},
                              {sizeof b_off, &b_off},   {sizeof us, &us},
                              {sizeof uns, &uns},       {sizeof part, &part}};
    const karg finish_args[] = {{sizeof part, &part},   {sizeof uns, &uns} /* per: all slabs */,
                                {sizeof uns, &uns},     {sizeof out, &out},
                                {sizeof one, &one} /* one record */,
                                {sizeof w_off, &w_off}, {sizeof b_off, &b_off},
                                {sizeof uP, &uP}};
    size_t l_prep[2] = {w->maxwg < 8 ? w->maxwg : 8, 1};
    l_prep[1] = w->maxwg / l_prep[0] < 8 ? w->maxwg / l_prep[0] : 8;
    if (l_prep[1] == 0)
        l_prep[1] = 1;
    size_t g_prep[2] = {F, w->kp}, g_grad = nslabs, l_grad = 1;
    size_t g_fin[2] = {K * F + K + 1, 1}, l_fin[2] = {w->maxwg < 64 ? w->maxwg : 64, 1};

    const char *what = "hg_fused_prep";
    cl_int rc = run_kernel(q, w->prep, prep_args, 3, 2, g_prep, l_prep);
    if (rc == CL_SUCCESS) {
        what = "hg_fused_grad";
        rc = run_kernel(q, w->grad, grad_args, 14, 1, &g_grad, &l_grad);
    }
    if (rc == CL_SUCCESS) {
        what = "hg_fused_finish";
        rc = run_kernel(q, w->finish, finish_args, 8, 2, g_fin, l_fin);
    }
    if (rc == CL_SUCCESS && !s->o.async) {
        what = "clFinish";
        rc = clFinish(q);
    }
    if (rc != CL_SUCCESS) {
        codelet_fail(s, "%s on %s: OpenCL status %d", what, w->name, (int)rc);
        return;
    }
    atomic_fetch_add(&w->tasks, 1);
}

/* The shape for a device name: the caller's, else {8, 8, 2} clipped to K. */
static sp_shape shape_for(const sp_options *o, const char *device)
{
    for (size_t i = 0; i < o->nshapes; i++)
        if (o->shape_device[i] && strcmp(o->shape_device[i], device) == 0)
            return o->shape[i];
    sp_shape d = {8, 8, 2};
    if (d.kc > o->classes)
        d.kc = (unsigned)o->classes;
    return d;
}

/* detmath.cl, a newline, fused.cl: what hetgrad builds (src/calib/kchoice.c). */
static char *kernel_source(void)
{
    size_t l1 = bench_detmath_cl_len, l2 = bench_fused_cl_len;
    char *src = malloc(l1 + l2 + 2);
    if (!src)
        return NULL;
    memcpy(src, bench_detmath_cl, l1);
    src[l1] = '\n';
    memcpy(src + l1 + 1, bench_fused_cl, l2);
    src[l1 + 1 + l2] = '\0';
    return src;
}

/* Find the workers, their devices and shapes; build one program per shape. */
static int setup_workers(sp_session *s, char err[SP_ERR_MAX])
{
    int ids[SP_MAX_WORKERS];
    int n = starpu_worker_get_ids_by_type(STARPU_OPENCL_WORKER, ids, SP_MAX_WORKERS);
    unsigned total = starpu_worker_get_count();
    if (n != (int)s->o.nopencl || total != s->o.nopencl) {
        seterr(err, "StarPU started %d OpenCL worker(s) and %u worker(s) in all; this "
               "configuration needs exactly %u OpenCL workers (is STARPU_OPENCL_ON_CPUS=1 "
               "set, and do POCL_DEVICES name that many devices?)", n, total, s->o.nopencl);
        return -1;
    }
    s->nw = (unsigned)n;
    for (unsigned i = 0; i < s->nw; i++) {
        sp_worker *w = &s->w[i];
        w->id = ids[i];
        w->devid = starpu_worker_get_devid(ids[i]);
        w->node = starpu_worker_get_memory_node((unsigned)ids[i]);
        atomic_init(&w->tasks, 0);
        if (w->devid < 0 || w->devid >= STARPU_MAXOPENCLDEVS) {
            seterr(err, "OpenCL worker %d has device id %d", ids[i], w->devid);
            return -1;
        }
        s->by_devid[w->devid] = w;
        cl_device_id dev;
        starpu_opencl_get_device(w->devid, &dev);
        cl_uint cu = 0;
        size_t maxwg = 0;
        cl_int rc = clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof w->name - 1, w->name, NULL);
        if (rc == CL_SUCCESS)
            rc = clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
        if (rc == CL_SUCCESS)
            rc = clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof maxwg, &maxwg, NULL);
        if (rc != CL_SUCCESS) {
            seterr(err, "clGetDeviceInfo on StarPU OpenCL device %d: status %d", w->devid,
                   (int)rc);
            return -1;
        }
        w->cu = cu ? cu : 1;
        w->maxwg = maxwg ? maxwg : 1;
    }

    char *src = kernel_source();
    if (!src) {
        seterr(err, "out of memory for the kernel source");
        return -1;
    }
    int ret = 0;
    for (unsigned i = 0; i < s->nw && ret == 0; i++) {
        sp_worker *w = &s->w[i];
        sp_shape sh = shape_for(&s->o, w->name);
        if (sh.kc == 0 || sh.rf == 0 || sh.rb == 0 || sh.rb % sh.rf != 0) {
            seterr(err, "bad kernel shape r%u/b%u/k%u for %s", sh.rf, sh.rb, sh.kc, w->name);
            ret = -1;
            break;
        }
        snprintf(w->kernel, sizeof w->kernel, "fused r%u/b%u/k%u", sh.rf, sh.rb, sh.kc);
        w->kp = (unsigned)round_up(s->o.classes, sh.kc);
        size_t p = 0;
        while (p < s->nprog && memcmp(&s->prog[p].shape, &sh, sizeof sh) != 0)
            p++;
        if (p == s->nprog) {
            char opt[256];
            snprintf(opt, sizeof opt,
                     "-cl-std=CL1.2 -DHG_F=%zu -DHG_K=%zu -DHG_KP=%u -DHG_KC=%u -DHG_RF=%u "
                     "-DHG_RB=%u -DHG_SOFTMAX", s->o.features, s->o.classes, w->kp, sh.kc,
                     sh.rf, sh.rb);
            s->prog[p].shape = sh;
            int rc = starpu_opencl_load_opencl_from_string(src, &s->prog[p].prog, opt);
            if (rc != 0) {
                seterr(err, "building hetgrad's fused kernel (%s) through StarPU failed: %d",
                       opt, rc);
                ret = -1;
                break;
            }
            s->prog[p].loaded = true;
            s->nprog++;
        }
        struct { const char *name; cl_kernel *k; } ks[3] = {
            {"hg_fused_prep", &w->prep}, {"hg_fused_grad", &w->grad},
            {"hg_fused_finish", &w->finish}};
        for (int k = 0; k < 3 && ret == 0; k++) {
            cl_command_queue q;
            int rc = starpu_opencl_load_kernel(ks[k].k, &q, &s->prog[p].prog, ks[k].name,
                                               w->devid);
            if (rc != CL_SUCCESS) {
                seterr(err, "creating kernel %s on %s: status %d", ks[k].name, w->name, rc);
                *ks[k].k = NULL;
                ret = -1;
            }
        }
    }
    free(src);
    return ret;
}

static void release_workers(sp_session *s)
{
    for (unsigned i = 0; i < s->nw; i++) {
        cl_kernel *ks[3] = {&s->w[i].prep, &s->w[i].grad, &s->w[i].finish};
        for (int k = 0; k < 3; k++) {
            if (*ks[k])
                starpu_opencl_release_kernel(*ks[k]);
            *ks[k] = NULL;
        }
    }
    for (size_t p = 0; p < s->nprog; p++)
        if (s->prog[p].loaded)
            starpu_opencl_unload_opencl(&s->prog[p].prog);
    s->nprog = 0;
}

/* Register x, labels, params, the outputs and the scratch buffers; partition. */
static int register_data(sp_session *s, char err[SP_ERR_MAX])
{
    const sp_options *o = &s->o;
    const size_t F = o->features, P = s->P;
    /* As StarPU asks for asynchronous copies: its own allocations for what
       this file owns, the caller's rows pinned. */
    if (starpu_malloc((void **)&s->params, P * sizeof *s->params) != 0)
        s->params = NULL;
    if (starpu_malloc((void **)&s->out, s->nblocks * (P + 1) * sizeof *s->out) != 0)
        s->out = NULL;
    if (!s->params || !s->out) {
        seterr(err, "starpu_malloc: out of memory for %zu block records", s->nblocks);
        return -1;
    }
    memset(s->params, 0, P * sizeof *s->params);
    memset(s->out, 0, s->nblocks * (P + 1) * sizeof *s->out);
    if (starpu_memory_pin((void *)o->x, o->rows * F * sizeof(float)) != 0 ||
        starpu_memory_pin((void *)o->labels, o->rows * sizeof(int32_t)) != 0) {
        seterr(err, "starpu_memory_pin of the rows failed");
        return -1;
    }
    s->pinned = true;
    unsigned kpmax = 0;
    for (unsigned i = 0; i < s->nw; i++)
        kpmax = s->w[i].kp > kpmax ? s->w[i].kp : kpmax;
    s->max_slabs = (o->block_rows + SLAB_MIN - 1) / SLAB_MIN;
    /* fused.cl's HG_STRIDE: a slab's partial, rounded up to 16 floats */
    size_t stride = (o->classes * F + o->classes + 1 + 15) / 16 * 16;

    /* StarPU keeps only pointers: x and labels are read, never written. */
    starpu_matrix_data_register(&s->hx, STARPU_MAIN_RAM, (uintptr_t)o->x, (uint32_t)F,
                                (uint32_t)F, (uint32_t)o->rows, sizeof(float));
    starpu_vector_data_register(&s->hlabels, STARPU_MAIN_RAM, (uintptr_t)o->labels,
                                (uint32_t)o->rows, sizeof(int32_t));
    starpu_vector_data_register(&s->hparams, STARPU_MAIN_RAM, (uintptr_t)s->params,
                                (uint32_t)P, sizeof(float));
    starpu_vector_data_register(&s->hout, STARPU_MAIN_RAM, (uintptr_t)s->out,
                                (uint32_t)(s->nblocks * (P + 1)), sizeof(float));
    starpu_vector_data_register(&s->hwt, -1, 0, (uint32_t)(kpmax * F), sizeof(float));
    starpu_vector_data_register(&s->hpart, -1, 0, (uint32_t)(s->max_slabs * stride),
                                sizeof(float));
    s->registered = true;

    struct starpu_data_filter fx = {.filter_func = starpu_matrix_filter_vertical_block,
                                    .nchildren = (unsigned)s->nblocks};
    struct starpu_data_filter fv = {.filter_func = starpu_vector_filter_block,
                                    .nchildren = (unsigned)s->nblocks};
    starpu_data_partition(s->hx, &fx);
    starpu_data_partition(s->hlabels, &fv);
    starpu_data_partition(s->hout, &fv);
    s->partitioned = true;
    /* Records are written through to main memory as soon as their task ends,
       so the host's in-order acquires find them there. */
    for (size_t b = 0; b < s->nblocks; b++)
        starpu_data_set_wt_mask(starpu_data_get_sub_data(s->hout, 1, (unsigned)b),
                                1u << STARPU_MAIN_RAM);
    return 0;
}

int sp_start(const sp_options *o, sp_session **out, char err[SP_ERR_MAX])
{
    *out = NULL;
    err[0] = '\0';
    if (!o || !o->x || !o->labels || !o->policy || !o->model_symbol || o->rows == 0 ||
        o->features == 0 || o->classes < 2 || o->block_rows == 0 ||
        o->rows % o->block_rows != 0 || o->nopencl == 0 || o->nopencl > SP_MAX_WORKERS) {
        seterr(err, "sp_start: invalid options (block_rows must divide rows; 1..%d workers)",
               SP_MAX_WORKERS);
        return -1;
    }
    sp_session *s = calloc(1, sizeof *s);
    if (!s) {
        seterr(err, "out of memory");
        return -1;
    }
    s->o = *o;
    s->P = o->features * o->classes + o->classes;
    s->nblocks = o->rows / o->block_rows;
    pthread_mutex_init(&s->fail_lock, NULL);

    s->model.type = STARPU_HISTORY_BASED;
    s->model.symbol = o->model_symbol;
    s->cl.where = STARPU_OPENCL;
    s->cl.opencl_funcs[0] = grad_opencl;
    s->cl.opencl_flags[0] = o->async ? STARPU_OPENCL_ASYNC : 0;
    s->cl.nbuffers = NHANDLES;
    s->cl.modes[H_X] = STARPU_R;
    s->cl.modes[H_LABELS] = STARPU_R;
    s->cl.modes[H_PARAMS] = STARPU_R;
    s->cl.modes[H_OUT] = STARPU_W;
    s->cl.modes[H_WT] = STARPU_SCRATCH;
    s->cl.modes[H_PART] = STARPU_SCRATCH;
    s->cl.model = &s->model;
    s->cl.name = "hetgrad_softmax_fused";

    struct starpu_conf conf;
    starpu_conf_init(&conf);
    conf.sched_policy_name = o->policy;
    conf.ncpus = 0;
    conf.ncuda = 0;
    conf.nopencl = (int)o->nopencl;
    conf.calibrate = o->calibrate;
    conf.precedence_over_environment_variables = 1; /* STARPU_SCHED etc. cannot change it */
    int rc = starpu_init(&conf);
    if (rc != 0) {
        seterr(err, "starpu_init (%s scheduler, %u OpenCL workers) failed: %d (%s)",
               o->policy, o->nopencl, rc, rc == -ENODEV ? "no worker" : "see StarPU's message");
        pthread_mutex_destroy(&s->fail_lock);
        free(s);
        return -1;
    }
    if (setup_workers(s, err) != 0 || register_data(s, err) != 0) {
        sp_stop(s);
        return -1;
    }
    *out = s;
    return 0;
}

int sp_prefetch(sp_session *s, char err[SP_ERR_MAX])
{
    /* Pass 0 queues every transfer (asynchronous), pass 1 waits for each. */
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < s->nw; i++) {
            for (size_t b = 0; b < s->nblocks; b++) {
                starpu_data_handle_t hs[2] = {
                    starpu_data_get_sub_data(s->hx, 1, (unsigned)b),
                    starpu_data_get_sub_data(s->hlabels, 1, (unsigned)b)};
                for (int k = 0; k < 2; k++) {
                    int rc = pass == 0 ? starpu_data_prefetch_on_node(hs[k], s->w[i].node, 1)
                                       : starpu_data_fetch_on_node(hs[k], s->w[i].node, 0);
                    if (rc != 0) {
                        seterr(err, "starpu_data_%s_on_node(block %zu, %s): %d",
                               pass == 0 ? "prefetch" : "fetch", b, s->w[i].name, rc);
                        return -1;
                    }
                }
            }
        }
    }
    return 0;
}

int sp_step(sp_session *s, const float *params, size_t first, size_t count, float *grad,
            double *loss, char err[SP_ERR_MAX])
{
    const size_t B = s->o.block_rows, P = s->P;
    if (count == 0 || first % B != 0 || count % B != 0 || first > s->o.rows ||
        count > s->o.rows - first) {
        seterr(err, "sp_step: rows [%zu, %zu) are not whole blocks of %zu inside %zu rows",
               first, first + count, B, s->o.rows);
        return -1;
    }
    /* New parameters: writing StarPU's copy invalidates the devices' copies,
       so every task's device receives them, as every hetgrad step sends them. */
    int rc = starpu_data_acquire(s->hparams, STARPU_W);
    if (rc != 0) {
        seterr(err, "starpu_data_acquire(params, W): %d", rc);
        return -1;
    }
    memcpy(s->params, params, P * sizeof *params);
    starpu_data_release(s->hparams);

    size_t b0 = first / B, nb = count / B;
    for (size_t b = b0; b < b0 + nb; b++) {
        struct starpu_task *t = starpu_task_create();
        t->cl = &s->cl;
        t->cl_arg = s;
        t->cl_arg_size = sizeof *s;
        t->cl_arg_free = 0;
        t->handles[H_X] = starpu_data_get_sub_data(s->hx, 1, (unsigned)b);
        t->handles[H_LABELS] = starpu_data_get_sub_data(s->hlabels, 1, (unsigned)b);
        t->handles[H_PARAMS] = s->hparams;
        t->handles[H_OUT] = starpu_data_get_sub_data(s->hout, 1, (unsigned)b);
        t->handles[H_WT] = s->hwt;
        t->handles[H_PART] = s->hpart;
        rc = starpu_task_submit(t);
        if (rc != 0) {
            seterr(err, "starpu_task_submit (block %zu): %d%s", b, rc,
                   rc == -ENODEV ? " (no worker can run the codelet)" : "");
            starpu_task_wait_for_all();
            return -1;
        }
    }

    double *acc = calloc(P + 1, sizeof *acc);
    if (!acc) {
        starpu_task_wait_for_all();
        seterr(err, "out of memory");
        return -1;
    }
    /* Wait for the tasks first, as StarPU's examples do, then read the
       records, which are at home or on their way (write-through): the reads
       then wait for transfers at most, not for kernels. */
    rc = starpu_task_wait_for_all();
    if (rc != 0) {
        seterr(err, "starpu_task_wait_for_all: %d", rc);
        free(acc);
        return -1;
    }
    /* Blocks in order, each block's record added in double. */
    for (size_t b = b0; b < b0 + nb; b++) {
        starpu_data_handle_t h = starpu_data_get_sub_data(s->hout, 1, (unsigned)b);
        rc = starpu_data_acquire(h, STARPU_R);
        if (rc != 0) {
            seterr(err, "starpu_data_acquire(block %zu record): %d", b, rc);
            free(acc);
            starpu_task_wait_for_all();
            return -1;
        }
        const float *rec = s->out + b * (P + 1);
        for (size_t i = 0; i <= P; i++)
            acc[i] += (double)rec[i];
        starpu_data_release(h);
    }
    pthread_mutex_lock(&s->fail_lock);
    bool failed = s->fail[0] != '\0';
    if (failed) {
        seterr(err, "%s", s->fail);
        s->fail[0] = '\0';
    }
    pthread_mutex_unlock(&s->fail_lock);
    if (!failed) {
        for (size_t i = 0; i < P; i++)
            grad[i] = (float)(acc[i] / (double)count);
        if (loss)
            *loss = acc[P] / (double)count;
    }
    free(acc);
    return failed ? -1 : 0;
}

unsigned sp_worker_count(const sp_session *s)
{
    return s->nw;
}

const char *sp_worker_name(const sp_session *s, unsigned i)
{
    return i < s->nw ? s->w[i].name : NULL;
}

const char *sp_worker_kernel(const sp_session *s, unsigned i)
{
    return i < s->nw ? s->w[i].kernel : NULL;
}

double sp_expected_us(sp_session *s, unsigned i)
{
    if (i >= s->nw)
        return NAN;
    struct starpu_task t;
    starpu_task_init(&t);
    t.cl = &s->cl;
    t.handles[H_X] = starpu_data_get_sub_data(s->hx, 1, 0);
    t.handles[H_LABELS] = starpu_data_get_sub_data(s->hlabels, 1, 0);
    t.handles[H_PARAMS] = s->hparams;
    t.handles[H_OUT] = starpu_data_get_sub_data(s->hout, 1, 0);
    t.handles[H_WT] = s->hwt;
    t.handles[H_PART] = s->hpart;
    struct starpu_perfmodel_arch *arch =
        starpu_worker_get_perf_archtype(s->w[i].id, STARPU_NMAX_SCHED_CTXS);
    double us = arch ? starpu_task_expected_length(&t, arch, 0) : NAN;
    starpu_task_clean(&t);
    return isfinite(us) && us > 0 ? us : NAN;
}

void sp_take_task_counts(sp_session *s, uint64_t counts[SP_MAX_WORKERS])
{
    for (unsigned i = 0; i < SP_MAX_WORKERS; i++)
        counts[i] = i < s->nw ? atomic_exchange(&s->w[i].tasks, 0) : 0;
}

void sp_stop(sp_session *s)
{
    if (!s)
        return;
    starpu_task_wait_for_all();
    if (s->partitioned) {
        starpu_data_unpartition(s->hx, STARPU_MAIN_RAM);
        starpu_data_unpartition(s->hlabels, STARPU_MAIN_RAM);
        starpu_data_unpartition(s->hout, STARPU_MAIN_RAM);
    }
    if (s->registered) {
        starpu_data_unregister(s->hx);
        starpu_data_unregister(s->hlabels);
        starpu_data_unregister(s->hparams);
        starpu_data_unregister(s->hout);
        starpu_data_unregister(s->hwt);
        starpu_data_unregister(s->hpart);
    }
    if (s->pinned) {
        starpu_memory_unpin((void *)s->o.x, s->o.rows * s->o.features * sizeof(float));
        starpu_memory_unpin((void *)s->o.labels, s->o.rows * sizeof(int32_t));
    }
    if (s->params)
        starpu_free(s->params);
    if (s->out)
        starpu_free(s->out);
    release_workers(s);
    starpu_shutdown();
    pthread_mutex_destroy(&s->fail_lock);
    free(s);
}
