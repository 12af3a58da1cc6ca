/* SPDX-License-Identifier: MIT */
/*
 * dedup_speed.c - of two views of the same hardware, the one that measures faster
 * (dedup_speed.h).  Pure: no OpenCL, no globals.
 */
#include "dedup_speed.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

size_t hg__dedup_turn_rows(size_t rows, double pk, double pd, size_t have)
{
    double longer = pk > pd ? pk : pd; /* NAN when neither is a number */
    size_t n = rows < have ? rows : have;
    if (longer > HG__DEDUP_TURN_MS) /* INFINITY: one row */
        n = (size_t)((double)n * (HG__DEDUP_TURN_MS / longer));
    return n ? n : 1;
}

/* The rounds of a/b (times of two views, rounds of them) with two valid times, at most
   HG__DEDUP_ROUNDS_MAX, copied to ta/tb; their count. */
static size_t valid_rounds(const double *a, const double *b, size_t rounds, double *ta,
                           double *tb)
{
    size_t m = 0;
    for (size_t r = 0; r < rounds && m < HG__DEDUP_ROUNDS_MAX; r++) {
        if (isfinite(a[r]) && a[r] > 0 && isfinite(b[r]) && b[r] > 0) {
            ta[m] = a[r];
            tb[m] = b[r];
            m++;
        }
    }
    return m;
}

/* The median over m rounds of num[r] / den[r]; num and den are left as they are. */
static double median_ratio(const double *num, const double *den, size_t m)
{
    double q[HG__DEDUP_ROUNDS_MAX];
    for (size_t r = 0; r < m; r++)
        q[r] = num[r] / den[r];
    return hg__cost_median(q, m);
}

/* "timed in turn on R rows, N rounds, LOSE took a median Q times as long as WIN
   (medians L ms and W ms)" into buf (n bytes): lose_ms and win_ms, m valid rounds. */
static void turns_words(char *buf, size_t n, size_t turn_rows, size_t m,
                        const hg_device_info *lose, const double *lose_ms,
                        const hg_device_info *win, const double *win_ms)
{
    double q = median_ratio(lose_ms, win_ms, m);
    double l[HG__DEDUP_ROUNDS_MAX], w[HG__DEDUP_ROUNDS_MAX];
    memcpy(l, lose_ms, m * sizeof *l);
    memcpy(w, win_ms, m * sizeof *w);
    snprintf(buf, n, "timed in turn on %zu row%s, %zu round%s, %s took a median %.3g times "
             "as long as %s (medians %.3g ms and %.3g ms)", turn_rows,
             turn_rows == 1 ? "" : "s", m, m == 1 ? "" : "s", lose->id, q, win->id,
             hg__cost_median(l, m), hg__cost_median(w, m));
}

bool hg__dedup_turns(const hg_device_info *kept, const hg__cost_model *km,
                     const double *kept_ms, const hg_device_info *dup,
                     const hg__cost_model *dm, const double *dup_ms, size_t rounds,
                     size_t turn_rows, size_t rows, char *why, size_t n)
{
    double tk[HG__DEDUP_ROUNDS_MAX], td[HG__DEDUP_ROUNDS_MAX];
    size_t m = valid_rounds(kept_ms, dup_ms, rounds, tk, td);
    if (m == 0)
        return hg__dedup_faster(kept, km, dup, dm, rows, why, n);
    bool replace = median_ratio(td, tk, m) < 1.0;
    if (!why || n == 0)
        return replace;
    const hg_device_info *win = replace ? dup : kept, *lose = replace ? kept : dup;
    const hg__cost_model *wm = replace ? dm : km, *lm = replace ? km : dm;
    char turns[200];
    turns_words(turns, sizeof turns, turn_rows, m, lose, replace ? tk : td, win,
                replace ? td : tk);
    hg__dedup_reason(why, n, win, replace, lose, "%s; alone, a step of %zu rows was "
                     "predicted to take %.3g ms on %s, %.3g ms on %s; %s gets no rows", turns,
                     rows, predict(wm, rows), win->id, predict(lm, rows), lose->id, lose->id);
    return replace;
}

bool hg__dedup_turns_close(const double *kept_ms, const double *dup_ms, size_t rounds)
{
    double tk[HG__DEDUP_ROUNDS_MAX], td[HG__DEDUP_ROUNDS_MAX];
    size_t m = valid_rounds(kept_ms, dup_ms, rounds, tk, td);
    if (rounds >= HG__DEDUP_ROUNDS_MAX)
        return false; /* no more rounds are read */
    if (m == 0)
        return true;
    double q = median_ratio(td, tk, m);
    return q * HG__DEDUP_CLOSE > 1.0 && q < HG__DEDUP_CLOSE;
}

bool hg__dedup_recheck(const hg_device_info *kept, const double *kept_ms,
                       const hg_device_info *dup, const double *dup_ms, bool dup_won,
                       size_t rounds, size_t turn_rows, char *why, size_t n)
{
    /* e: the earlier winner, l: the earlier loser */
    const hg_device_info *e = dup_won ? dup : kept, *l = dup_won ? kept : dup;
    double te[HG__DEDUP_ROUNDS_MAX], tl[HG__DEDUP_ROUNDS_MAX];
    size_t m = valid_rounds(dup_won ? dup_ms : kept_ms, dup_won ? kept_ms : dup_ms, rounds,
                            te, tl);
    bool overturn = m > 0 && median_ratio(tl, te, m) * HG__DEDUP_OVERTURN < 1.0;
    bool replace = overturn != dup_won; /* dup computes */
    if (!why || n == 0)
        return replace;
    char turns[200] = "no round of the turns timed both";
    if (m > 0 && overturn)
        turns_words(turns, sizeof turns, turn_rows, m, e, te, l, tl);
    else if (m > 0)
        turns_words(turns, sizeof turns, turn_rows, m, l, tl, e, te);
    if (overturn)
        hg__dedup_reason(why, n, l, replace, e, "%s had lost to %s when both were measured "
                         "on the same kernels, but now, %s, more than %.3g times: the earlier "
                         "verdict is overturned; %s gets no rows", l->id, e->id, turns,
                         HG__DEDUP_OVERTURN, e->id);
    else
        hg__dedup_reason(why, n, e, replace, l, "%s lost to %s when both were measured on "
                         "the same kernels (its profile, from the cache, was not raced "
                         "after), and now, %s; the verdict stands unless %s takes under 1/%.3g "
                         "of %s's time; %s gets no rows", l->id, e->id, turns, l->id,
                         HG__DEDUP_OVERTURN, e->id, l->id);
    return replace;
}
