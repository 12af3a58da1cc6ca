/* SPDX-License-Identifier: MIT */
/* train_hostprof.c - see train_hostprof.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_hostprof.h"

static const char *const part_keys[HOSTPROF_PARTS] = {
    "plan_ms", "devices_ms", "transfer_ms", "reduce_ms", "update_ms", "other_ms", "step_ms"};

const char *hostprof_key(hostprof_part p)
{
    return p < HOSTPROF_PARTS ? part_keys[p] : NULL;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void hostprof_split(const hg_device_step *st, size_t n, double engine_ms, double *part)
{
    double first = INFINITY, last = -INFINITY, transfer = 0;
    for (size_t i = 0; i < n; i++) {
        if (!st[i].rows)
            continue;
        first = st[i].start_ms < first ? st[i].start_ms : first;
        last = st[i].end_ms > last ? st[i].end_ms : last;
        transfer += st[i].transfer_ms;
    }
    if (!(first <= last)) { /* no device had rows */
        first = last = engine_ms;
        transfer = 0;
    }
    first = clamp(first, 0, engine_ms);
    last = clamp(last, first, engine_ms);
    part[HOSTPROF_PLAN] = first;
    part[HOSTPROF_DEVICES] = last - first;
    part[HOSTPROF_TRANSFER] = transfer;
    part[HOSTPROF_REDUCE] = engine_ms - last;
}

bool hostprof_add(hostprof *h, const double *part)
{
    if (!h->on)
        return true;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        double *v = realloc(h->v, cap * HOSTPROF_PARTS * sizeof *v);
        if (!v) {
            h->lost = true;
            return false;
        }
        h->v = v;
        h->cap = cap;
    }
    memcpy(h->v + h->n * HOSTPROF_PARTS, part, HOSTPROF_PARTS * sizeof *part);
    h->n++;
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void hostprof_print(const hostprof *h, FILE *f)
{
    if (!h->on || !h->n)
        return;
    double *col = malloc(h->n * sizeof *col);
    fprintf(f, "host profile: %zu steps%s, ms per step (mean / median):\n", h->n,
            h->lost ? " (out of memory: later steps not kept)" : "");
    for (int p = 0; p < HOSTPROF_PARTS; p++) {
        double sum = 0;
        for (size_t s = 0; s < h->n; s++)
            sum += h->v[s * HOSTPROF_PARTS + (size_t)p];
        fprintf(f, "  %-12s %9.4f", part_keys[p], sum / (double)h->n);
        if (col) {
            for (size_t s = 0; s < h->n; s++)
                col[s] = h->v[s * HOSTPROF_PARTS + (size_t)p];
            qsort(col, h->n, sizeof *col, cmp_double);
            double med = h->n % 2 ? col[h->n / 2] : (col[h->n / 2 - 1] + col[h->n / 2]) / 2;
            fprintf(f, " / %9.4f", med);
        }
        fprintf(f, "\n");
    }
    free(col);
}

void hostprof_free(hostprof *h)
{
    free(h->v);
    memset(h, 0, sizeof *h);
}
