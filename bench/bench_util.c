/* SPDX-License-Identifier: MIT */
/* bench_util.c - the benchmarks' shared helpers (contract: bench_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void *bench_xcalloc(const char *prog, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%zu x %zu bytes)\n", prog, n, size);
        exit(3);
    }
    return p;
}

void bench_die_hg(const char *prog, const char *what, const hg_error *err)
{
    fprintf(stderr, "%s: %s failed: %s (%s)\n", prog, what, err->message,
            hg_status_name(err->status));
    exit(3);
}

bool bench_contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}
