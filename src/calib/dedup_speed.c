/* SPDX-License-Identifier: MIT */
/*
 * dedup_speed.c - of two views of the same hardware, the one that measures faster
 * (dedup_speed.h).  Pure: no OpenCL, no globals.
 */
#include "dedup_speed.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* Predicted ms of m for rows rows; INFINITY for an invalid model. */
static double predict(const hg__cost_model *m, size_t rows)
{
    return m->valid ? hg__cost_predict(m, rows) : INFINITY;
}

void hg__dedup_reason(char *why, size_t n, const hg_device_info *win, bool replaces,
                      const hg_device_info *lose, const char *fmt, ...)
{
    if (!why || n == 0)
        return;
    int k = snprintf(why, n, "%s %s %s (%s, %s, %u compute unit%s), the same hardware: ",
                     win->id, replaces ? "replaces" : "kept over", lose->id, lose->name,
                     lose->platform_name, (unsigned)lose->compute_units,
                     lose->compute_units == 1 ? "" : "s");
    if (k < 0 || (size_t)k >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + k, n - (size_t)k, fmt, ap);
    va_end(ap);
}

bool hg__dedup_faster(const hg_device_info *kept, const hg__cost_model *km,
                      const hg_device_info *dup, const hg__cost_model *dm, size_t rows,
                      char *why, size_t n)
{
    double tk = predict(km, rows), td = predict(dm, rows);
    bool replace = dm->valid && td < tk;
    const hg_device_info *win = replace ? dup : kept, *lose = replace ? kept : dup;
    double tw = replace ? td : tk, tl = replace ? tk : td;
    if (!why || n == 0)
        return replace;
    if (!isfinite(tl))
        hg__dedup_reason(why, n, win, false, lose,
                         "it could not be calibrated; %s gets no rows", lose->id);
    else
        hg__dedup_reason(why, n, win, replace, lose,
                         "alone, a step of %zu rows is predicted to take %.3g ms on %s, "
                         "%.3g ms on %s; %s gets no rows", rows, tw, win->id, tl, lose->id,
                         lose->id);
    return replace;
}
