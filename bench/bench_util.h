/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - the small helpers every benchmark program in bench/ uses
 * (bench_util.c): a monotonic clock, sorting and the median of doubles, an
 * allocation that cannot fail silently, and a case-blind substring test.
 * No OpenCL, no globals.
 */
#ifndef HG_BENCH_UTIL_H
#define HG_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <hetgrad.h>

/* CLOCK_MONOTONIC in milliseconds. */
double bench_now_ms(void);

/* qsort comparator of doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/* The median of v[0..n) (n >= 1): sorts v; the mean of the middle two for even n. */
double bench_median(double *v, size_t n);

/* calloc(n, size) (n 0: one element); out of memory: "PROG: out of memory (...)" on
   stderr and exit status 3 (every benchmark's "a call failed"). */
void *bench_xcalloc(const char *prog, size_t n, size_t size);

/* A failed hetgrad call: "PROG: WHAT failed: message (STATUS)" on stderr, exit status 3. */
void bench_die_hg(const char *prog, const char *what, const hg_error *err);

/* Whether needle occurs in hay, ignoring ASCII case (an empty needle: true). */
bool bench_contains_nocase(const char *hay, const char *needle);

#endif /* HG_BENCH_UTIL_H */
