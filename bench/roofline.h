/* SPDX-License-Identifier: MIT */
/*
 * roofline.h - limits measured in the benchmark's own run (roofline.c).
 */
#ifndef HG_BENCH_ROOFLINE_H
#define HG_BENCH_ROOFLINE_H

#include <stdbool.h>
#include <stddef.h>

/* The host's read bandwidth on each kind of page, GB/s (0: not measured). */
typedef struct hg__bench_read {
    double default_pages_gbs; /* the system's default pages (4 KiB on x86-64 Linux) */
    double huge_pages_gbs;    /* 2 MiB pages asked for with madvise(MADV_HUGEPAGE): what a
                                 program gets that asks for them, as the system's
                                 transparent huge pages allow; 0 where madvise refuses */
} hg__bench_read;

/*
 * Host read bandwidth, GB/s: all cores summing a buffer of bytes, with software
 * prefetch, best of repeats; on the default pages and on 2 MiB pages, the
 * better of the two (each into *how when not NULL).  The limit of a kernel that
 * reads the host's memory: on a virtual machine with 4 KiB pages a read stream
 * also walks the page tables of the host's and of the guest's (a 2-core KVM Xeon,
 * 2026-12-06: 21.5-22.4 GB/s on 4 KiB pages, 34.0-34.6 on 2 MiB).
 */
double hg__bench_read_gbs(size_t bytes, int repeats, hg__bench_read *how);

/*
 * FP32 peak of the OpenCL device named device_name, GFLOP/s: an FMA loop
 * with independent float16 accumulators; 0 (and why) when it cannot run.
 */
double hg__bench_fma_gflops(const char *device_name, char *why, size_t why_n);

/*
 * Global-memory read bandwidth of the OpenCL device named device_name, GB/s:
 * a kernel summing a buffer of bytes (made on the device) into one partial
 * per work-item, timed by its profiling events, best of repeats; the host
 * checks the sum, so every byte was read.  Only for a device with memory of
 * its own (CL_DEVICE_HOST_UNIFIED_MEMORY false: a discrete GPU, an FPGA card):
 * for one that shares the host's memory it returns 0 and says so, and the
 * host read bandwidth is its limit, unless even_unified (the tests, on CPU
 * devices).  0 (and why) when it cannot run; bytes is cut to a quarter of the
 * device's largest allocation.
 */
double hg__bench_device_read_gbs(const char *device_name, size_t bytes, int repeats,
                                 bool even_unified, char *why, size_t why_n);

/*
 * A roof is measured at a run's start and again at its end (bench_gradient):
 * a busy moment on the machine (another process, a core taken by the
 * hypervisor) only lowers a measurement, and one such moment would otherwise
 * halve every "of the roofline" figure of the run.  The run's roof is the
 * better of the two (hg__bench_roof_best, 0 for one not measured); the two
 * agree when the lower is at least HG_BENCH_ROOF_AGREE of the higher, or
 * either is 0 (hg__bench_roof_steady).  Measured on the 2-vCPU AMD EPYC,
 * 2026-12-07 02:17 UTC: POCL pthread's FMA peak came out at 102.3 GFLOP/s in
 * one run, 180-201 in nine others.
 */
#define HG_BENCH_ROOF_AGREE 0.9
double hg__bench_roof_best(double a, double b);
bool hg__bench_roof_steady(double a, double b);

#endif /* HG_BENCH_ROOFLINE_H */
