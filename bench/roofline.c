/* SPDX-License-Identifier: MIT */
/*
 * roofline.c - the limits a gradient kernel is measured against, taken in the
 * same run as the benchmark: the host's read bandwidth (every core summing
 * its slice of a buffer far larger than the caches) and an OpenCL device's
 * FP32 peak (an FMA loop with independent float16 accumulators).
 */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120
#include "roofline.h"

#include <CL/cl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void *sum_slice(void *arg)
{
    slice *s = arg;
    /* 16 independent sums: the loop is bound by loads, not by add latency */
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= s->n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += s->p[i + k];
    for (; i < s->n; i++)
        acc[0] += s->p[i];
    float t = 0;
    for (int k = 0; k < 16; k++)
        t += acc[k];
    s->sum = t;
    return NULL;
}

double hg__bench_read_gbs(size_t bytes, int repeats)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = ncpu > 0 && ncpu < 256 ? (size_t)ncpu : 1;
    size_t n = bytes / sizeof(float);
    float *buf = malloc(n * sizeof *buf);
    pthread_t *th = malloc(nt * sizeof *th);
    slice *sl = malloc(nt * sizeof *sl);
    if (!buf || !th || !sl) {
        free(buf);
        free(th);
        free(sl);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)(i & 1023) * 1e-3f; /* touch every page */
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
    free(buf);
    free(th);
    free(sl);
    return best;
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
