/* SPDX-License-Identifier: MIT */
/*
 * roofline.h - limits measured in the benchmark's own run (roofline.c).
 */
#ifndef HG_BENCH_ROOFLINE_H
#define HG_BENCH_ROOFLINE_H

#include <stddef.h>

/* Host read bandwidth, GB/s: all cores summing a buffer of bytes; best of repeats. */
double hg__bench_read_gbs(size_t bytes, int repeats);

/*
 * FP32 peak of the OpenCL device named device_name, GFLOP/s: an FMA loop
 * with independent float16 accumulators; 0 (and why) when it cannot run.
 */
double hg__bench_fma_gflops(const char *device_name, char *why, size_t why_n);

#endif /* HG_BENCH_ROOFLINE_H */
