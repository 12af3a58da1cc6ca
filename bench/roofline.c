/* SPDX-License-Identifier: MIT */
/*
 * roofline.c - the limits a gradient kernel is measured against, taken in the
 * same run as the benchmark: the host's read bandwidth (every core summing
 * its slice of a buffer far larger than the caches, with software prefetch,
 * on the default pages and on 2 MiB pages: the better), an OpenCL device's FP32
 * peak (an FMA loop with independent float16 accumulators) and, for a device
 * with memory of its own, that memory's read bandwidth (a summing kernel).
 */
#define _DEFAULT_SOURCE /* madvise */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include "roofline.h"

#include <CL/cl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct slice {
    const float *p;
    size_t       n;
    float        sum;
} slice;

/* 64 bytes as one vector (GCC's and clang's vector extension: whatever the
   target's vector width, several of its registers) */
typedef float hg__v16 __attribute__((vector_size(64)));

/* Bytes ahead of the loads that each core's sum prefetches (its hardware
   prefetcher alone stops at every 4 KiB page). */
#define READ_AHEAD 512

static void *sum_slice(void *arg)
{
    slice *s = arg;
    /* four independent vector sums and software prefetch: bound by the loads,
       not by add latency or scalar instructions.  On the 2-core KVM Xeon
       (2026-12-06) a standalone copy of the scalar loop of 16 sums this
       replaced read 17.8 GB/s on 4 KiB pages and 29.9 on 2 MiB pages (23.9 and
       35.5 with prefetch); this loop in bench_gradient 21.5-22.4 and 34.0-34.6 */
    hg__v16 acc[4] = {{0}};
    size_t i = 0;
    for (; i + 64 <= s->n; i += 64) {
        __builtin_prefetch(s->p + i + READ_AHEAD, 0, 3);
        __builtin_prefetch(s->p + i + READ_AHEAD + 16, 0, 3);
        __builtin_prefetch(s->p + i + READ_AHEAD + 32, 0, 3);
        __builtin_prefetch(s->p + i + READ_AHEAD + 48, 0, 3);
        for (int k = 0; k < 4; k++) {
            hg__v16 v;
            memcpy(&v, s->p + i + 16 * (size_t)k, sizeof v);
            acc[k] += v;
        }
    }
    float t = 0;
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 16; l++)
            t += acc[k][l];
    for (; i < s->n; i++)
        t += s->p[i];
    s->sum = t;
    return NULL;
}

/* Every core summing its slice of buf (n floats), best of repeats, GB/s. */
static double read_best(const float *buf, size_t n, size_t nt, pthread_t *th, slice *sl,
                        int repeats)
{
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_s();
        for (size_t t = 0; t < nt; t++) {
            sl[t] = (slice){buf + n / nt * t, t + 1 == nt ? n - n / nt * t : n / nt, 0};
            if (pthread_create(&th[t], NULL, sum_slice, &sl[t]) != 0)
                sum_slice(&sl[t]), th[t] = 0;
        }
        for (size_t t = 0; t < nt; t++) {
            if (th[t])
                pthread_join(th[t], NULL);
            sink += sl[t].sum;
        }
        double gbs = (double)(n * sizeof(float)) / (now_s() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    (void)sink;
    return best;
}

/* The best of repeats on a buffer of bytes with the system's default pages
   (huge false) or, where the kernel has transparent huge pages, 2 MiB pages
   asked for by madvise (MADV_HUGEPAGE); 0 when it cannot be made. */
static double read_gbs_pages(size_t bytes, int repeats, bool huge, size_t nt)
{
    const size_t align = (size_t)2 << 20;
    size_t n = bytes / sizeof(float), size = (n * sizeof(float) + align - 1) / align * align;
    float *buf = aligned_alloc(align, size);
    pthread_t *th = malloc(nt * sizeof *th);
    slice *sl = malloc(nt * sizeof *sl);
    double gbs = 0;
    bool asked = !huge;
#ifdef MADV_HUGEPAGE
    if (buf && huge)
        asked = madvise(buf, size, MADV_HUGEPAGE) == 0;
#endif
    if (buf && th && sl && asked) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (float)(i & 1023) * 1e-3f; /* touch every page */
        gbs = read_best(buf, n, nt, th, sl, repeats);
    }
    free(buf);
    free(th);
    free(sl);
    return gbs;
}

double hg__bench_read_gbs(size_t bytes, int repeats, hg__bench_read *how)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = ncpu > 0 && ncpu < 256 ? (size_t)ncpu : 1;
    hg__bench_read r = {read_gbs_pages(bytes, repeats, false, nt),
                        read_gbs_pages(bytes, repeats, true, nt)};
    if (how)
        *how = r;
    return r.huge_pages_gbs > r.default_pages_gbs ? r.huge_pages_gbs : r.default_pages_gbs;
}

double hg__bench_roof_best(double a, double b)
{
    a = a > 0 ? a : 0; /* NaN and negatives: not measured */
    b = b > 0 ? b : 0;
    return a > b ? a : b;
}

bool hg__bench_roof_steady(double a, double b)
{
    if (!(a > 0) || !(b > 0))
        return true;
    double lo = a < b ? a : b, hi = a < b ? b : a;
    return lo >= HG_BENCH_ROOF_AGREE * hi;
}

/* NACC independent float16 accumulators (built with -DNACC=4..8).  How many a
   device needs to reach its peak depends on its registers: AVX-512's 32 hold
   8 (16 lanes each, 8 chains to cover 2 pipes x 4 cycles of latency); AVX2's
   16 hold 8 float16 only as all 16 registers, and the loop's two constants
   then spill (on an AMD EPYC, 2026-12-03: the MLP's GEMMs measured above that
   "peak").  So each count is run and the best kept. */
static const char *fma_src =
    "#define F(x) x = fma(x, a, b)\n"
    "__kernel void peak(__global float *out, const uint iters, const float a) {\n"
    "  float16 x0 = (float16)(get_global_id(0) * 1e-9f), x1 = x0 + 1e-3f, x2 = x0 + 2e-3f,\n"
    "          x3 = x0 + 3e-3f, x4 = x0 + 4e-3f, x5 = x0 + 5e-3f, x6 = x0 + 6e-3f,\n"
    "          x7 = x0 + 7e-3f;\n"
    "  const float16 b = (float16)(1e-7f);\n"
    "  for (uint i = 0; i < iters; i++) {\n"
    "    F(x0); F(x1); F(x2); F(x3);\n"
    "#if NACC > 4\n"
    "    F(x4);\n"
    "#endif\n"
    "#if NACC > 5\n"
    "    F(x5);\n"
    "#endif\n"
    "#if NACC > 6\n"
    "    F(x6);\n"
    "#endif\n"
    "#if NACC > 7\n"
    "    F(x7);\n"
    "#endif\n"
    "  }\n"
    "  float16 s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;\n"
    "  out[get_global_id(0)] = s.s0 + s.s5 + s.sa + s.sf;\n"
    "}\n";

/* The best of 5 timed runs (after one that includes the work-group build) of
   the FMA loop with nacc accumulators on items work-items, GFLOP/s; 0 with *rc
   set on an OpenCL error. */
static double fma_run(cl_context ctx, cl_device_id dev, cl_command_queue q, cl_mem out,
                      size_t items, int nacc, cl_int *rc)
{
    const cl_uint iters = 200000; /* ~30 ms a run at 200 GFLOP/s: launch costs vanish */
    const float a = 0.999999f;
    char opts[64];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DNACC=%d", nacc);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &fma_src, NULL, rc);
    cl_kernel k = NULL;
    double best = 0;
    size_t one = 1;
    if (*rc == CL_SUCCESS)
        *rc = clBuildProgram(prog, 1, &dev, opts, NULL, NULL);
    if (*rc == CL_SUCCESS)
        k = clCreateKernel(prog, "peak", rc);
    if (*rc == CL_SUCCESS)
        *rc = clSetKernelArg(k, 0, sizeof out, &out);
    if (*rc == CL_SUCCESS)
        *rc = clSetKernelArg(k, 1, sizeof iters, &iters);
    if (*rc == CL_SUCCESS)
        *rc = clSetKernelArg(k, 2, sizeof a, &a);
    /* local size 1: one work-item per group, the loop vectorised by float16 */
    for (int r = 0; r < 6 && *rc == CL_SUCCESS; r++) {
        double t0 = now_s();
        *rc = clEnqueueNDRangeKernel(q, k, 1, NULL, &items, &one, 0, NULL, NULL);
        if (*rc == CL_SUCCESS)
            *rc = clFinish(q);
        double s = now_s() - t0;
        /* nacc accumulators x 16 lanes x 2 flops per iteration and work-item */
        double gf = (double)items * iters * nacc * 16 * 2 / s / 1e9;
        if (r > 0 && gf > best) /* the first run includes the work-group build */
            best = gf;
    }
    if (k)
        clReleaseKernel(k);
    if (prog)
        clReleaseProgram(prog);
    return *rc == CL_SUCCESS ? best : 0;
}

/* The OpenCL device whose CL_DEVICE_NAME is name (first match), or NULL. */
static cl_device_id find_device(const char *name)
{
    cl_platform_id pl[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, pl, &np) != CL_SUCCESS)
        return NULL;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id dv[32];
        cl_uint nd = 0;
        if (clGetDeviceIDs(pl[p], CL_DEVICE_TYPE_ALL, 32, dv, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < 32; d++) {
            char n[256] = "";
            if (clGetDeviceInfo(dv[d], CL_DEVICE_NAME, sizeof n, n, NULL) == CL_SUCCESS &&
                !strcmp(n, name))
                return dv[d];
        }
    }
    return NULL;
}

double hg__bench_fma_gflops(const char *device_name, char *why, size_t why_n)
{
    cl_device_id dev = find_device(device_name);
    if (!dev) {
        snprintf(why, why_n, "no OpenCL device named \"%s\"", device_name);
        return 0;
    }
    cl_int rc = CL_SUCCESS;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &rc);
    cl_command_queue q = NULL;
    cl_mem out = NULL;
    double best = 0;
    cl_uint cu = 1;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    size_t items = (size_t)(cu ? cu : 1) * 64;
    if (rc == CL_SUCCESS)
        q = clCreateCommandQueue(ctx, dev, 0, &rc);
    if (rc == CL_SUCCESS)
        out = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, items * sizeof(float), NULL, &rc);
    static const int counts[] = {8, 5}; /* AVX-512's, AVX2's (fma_src) */
    for (size_t c = 0; c < sizeof counts / sizeof counts[0] && rc == CL_SUCCESS; c++) {
        double gf = fma_run(ctx, dev, q, out, items, counts[c], &rc);
        if (gf > best)
            best = gf;
    }
    if (rc != CL_SUCCESS)
        snprintf(why, why_n, "OpenCL error %d measuring the FMA peak", (int)rc);
    if (out)
        clReleaseMemObject(out);
    if (q)
        clReleaseCommandQueue(q);
    if (ctx)
        clReleaseContext(ctx);
    return rc == CL_SUCCESS ? best : 0;
}

/* x[i] = (i & 1023) / 1024, then a grid-stride sum into one partial per
   work-item: consecutive work-items read consecutive float4s.  Each float4's
   lanes are added into a float: Oclgrind 21.10's uninitialised-value check
   crashed on a float4 accumulator (docs/testing.md, test_roofline). */
static const char *read_src =
    "__kernel void fill(__global float *x) {\n"
    "  uint i = get_global_id(0);\n"
    "  x[i] = (float)(i & 1023u) / 1024.0f;\n"
    "}\n"
    "__kernel void rd(__global const float4 *x, const uint n4, __global float *part) {\n"
    "  float s = 0.0f;\n"
    "  for (uint i = get_global_id(0); i < n4; i += get_global_size(0)) {\n"
    "    float4 v = x[i];\n"
    "    s += (v.x + v.y) + (v.z + v.w);\n"
    "  }\n"
    "  part[get_global_id(0)] = s;\n"
    "}\n";

typedef struct read_bench {
    cl_context       ctx;
    cl_command_queue q;
    cl_program       prog;
    cl_kernel        fill, rd;
    cl_mem           x, part;
    float           *host_part;
} read_bench;

static void read_bench_release(read_bench *r)
{
    if (r->fill)
        clReleaseKernel(r->fill);
    if (r->rd)
        clReleaseKernel(r->rd);
    if (r->prog)
        clReleaseProgram(r->prog);
    if (r->x)
        clReleaseMemObject(r->x);
    if (r->part)
        clReleaseMemObject(r->part);
    if (r->q)
        clReleaseCommandQueue(r->q);
    if (r->ctx)
        clReleaseContext(r->ctx);
    free(r->host_part);
}

/* One timed read of the n4 float4s by items work-items: seconds from the
   kernel's profiling events, the partials' sum in *sum; <0 on an error. */
static double read_once(read_bench *r, cl_uint n4, size_t items, double *sum, cl_int *rc)
{
    cl_event ev = NULL;
    cl_ulong t0 = 0, t1 = 0;
    *rc = clSetKernelArg(r->rd, 0, sizeof r->x, &r->x);
    if (*rc == CL_SUCCESS)
        *rc = clSetKernelArg(r->rd, 1, sizeof n4, &n4);
    if (*rc == CL_SUCCESS)
        *rc = clSetKernelArg(r->rd, 2, sizeof r->part, &r->part);
    if (*rc == CL_SUCCESS)
        *rc = clEnqueueNDRangeKernel(r->q, r->rd, 1, NULL, &items, NULL, 0, NULL, &ev);
    if (*rc == CL_SUCCESS)
        *rc = clEnqueueReadBuffer(r->q, r->part, CL_TRUE, 0, items * sizeof(float),
                                  r->host_part, 0, NULL, NULL);
    if (*rc == CL_SUCCESS)
        *rc = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    if (*rc == CL_SUCCESS)
        *rc = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    if (ev)
        clReleaseEvent(ev);
    if (*rc != CL_SUCCESS || t1 <= t0)
        return -1;
    double s = 0;
    for (size_t i = 0; i < items; i++)
        s += r->host_part[i];
    *sum = s;
    return (double)(t1 - t0) * 1e-9;
}

/* The sum of x[i] = (i & 1023) / 1024 over n floats, exactly as a double. */
static double expected_sum(size_t n)
{
    const double per_block = 1023.0 * 1024.0 / 2.0 / 1024.0; /* 0 + 1 + ... + 1023, / 1024 */
    size_t rest = n % 1024;
    return (double)(n / 1024) * per_block + (double)rest * (double)(rest - 1) / 2.0 / 1024.0;
}

double hg__bench_device_read_gbs(const char *device_name, size_t bytes, int repeats,
                                 bool even_unified, char *why, size_t why_n)
{
    cl_device_id dev = find_device(device_name);
    if (!dev) {
        snprintf(why, why_n, "no OpenCL device named \"%s\"", device_name);
        return 0;
    }
    cl_bool unified = CL_TRUE;
    cl_uint cu = 1;
    cl_ulong max_alloc = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL) !=
            CL_SUCCESS ||
        clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc,
                        NULL) != CL_SUCCESS) {
        snprintf(why, why_n, "its memory could not be queried");
        return 0;
    }
    if (unified && !even_unified) {
        snprintf(why, why_n, "it shares the host's memory");
        return 0;
    }
    if (bytes > max_alloc / 4)
        bytes = (size_t)(max_alloc / 4);
    if (bytes > ((size_t)1 << 32)) /* the kernels index floats with a uint */
        bytes = (size_t)1 << 32;
    size_t n4 = bytes / 16;
    size_t items = (size_t)(cu ? cu : 1) * 2048; /* enough in flight to hide the latency */
    if (items > n4)
        items = n4;
    if (n4 == 0) {
        snprintf(why, why_n, "its largest allocation is too small to measure");
        return 0;
    }
    read_bench r = {0};
    cl_int rc = CL_SUCCESS;
    r.ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &rc);
    if (rc == CL_SUCCESS)
        r.q = clCreateCommandQueue(r.ctx, dev, CL_QUEUE_PROFILING_ENABLE, &rc);
    if (rc == CL_SUCCESS)
        r.x = clCreateBuffer(r.ctx, CL_MEM_READ_WRITE, n4 * 16, NULL, &rc);
    if (rc == CL_SUCCESS)
        r.part = clCreateBuffer(r.ctx, CL_MEM_WRITE_ONLY, items * sizeof(float), NULL, &rc);
    if (rc == CL_SUCCESS)
        r.prog = clCreateProgramWithSource(r.ctx, 1, &read_src, NULL, &rc);
    if (rc == CL_SUCCESS)
        rc = clBuildProgram(r.prog, 1, &dev, "-cl-std=CL1.2", NULL, NULL);
    if (rc == CL_SUCCESS)
        r.fill = clCreateKernel(r.prog, "fill", &rc);
    if (rc == CL_SUCCESS)
        r.rd = clCreateKernel(r.prog, "rd", &rc);
    if (rc == CL_SUCCESS)
        rc = clSetKernelArg(r.fill, 0, sizeof r.x, &r.x);
    if (rc == CL_SUCCESS)
        rc = clEnqueueNDRangeKernel(r.q, r.fill, 1, NULL, &(size_t){n4 * 4}, NULL, 0, NULL, NULL);
    if (rc == CL_SUCCESS && !(r.host_part = malloc(items * sizeof(float))))
        rc = CL_OUT_OF_HOST_MEMORY;
    double best = 0, want = expected_sum(n4 * 4);
    for (int i = 0; i <= repeats && rc == CL_SUCCESS; i++) {
        double sum = 0, s = read_once(&r, (cl_uint)n4, items, &sum, &rc);
        if (rc == CL_SUCCESS && s <= 0) {
            snprintf(why, why_n, "its profiling events gave no time for the read");
            read_bench_release(&r);
            return 0;
        }
        if (rc == CL_SUCCESS && !(fabs(sum - want) <= 1e-3 * want)) {
            snprintf(why, why_n, "the read kernel's sum is %.6g, not %.6g", sum, want);
            read_bench_release(&r);
            return 0;
        }
        if (rc == CL_SUCCESS && i > 0 && (double)(n4 * 16) / s / 1e9 > best)
            best = (double)(n4 * 16) / s / 1e9; /* the first run warms up */
    }
    if (rc != CL_SUCCESS)
        snprintf(why, why_n, "OpenCL error %d measuring its read bandwidth", (int)rc);
    read_bench_release(&r);
    return rc == CL_SUCCESS ? best : 0;
}
