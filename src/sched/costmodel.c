/* SPDX-License-Identifier: MIT */
/*
 * costmodel.c - fit the affine cost model t(n) = a + b*n of one device to timed steps.
 *
 * Groups.  Samples are sorted by (rows, ms) and grouped by distinct row count, so each
 * group's times are sorted.  A group of m samples is reduced to one value:
 *
 *   med = median of the m times, MAD = median of |t - med|;
 *   keep the samples with |t - med| <= 3 * 1.4826 * MAD (1.4826 * MAD estimates the standard
 *   deviation of normal noise), or, when MAD == 0 (more than half the samples equal med),
 *   those with |t - med| <= 0.01 * med;
 *   the group value is the median of the kept samples.
 *
 * The kept samples are those nearest med, so they are a contiguous run of the sorted group
 * and always include the samples equal to med.  At least half the samples are kept (those
 * within MAD of med).
 *
 * Robustness.  The median and the MAD of m >= 3 samples do not depend on how far one sample
 * lies from the others: one wild spike moves med and MAD at most to neighbouring order
 * statistics of the other samples, so it cannot widen the threshold that judges it.  A
 * spike farther than 3 scaled MADs is rejected and the group value is the median of the
 * other repeats; a 100x spike in one of >= 3 repeats that agree within a few percent moves
 * the fit by well under 1% (tests/test_costmodel.c).  Two repeats give no protection: both
 * lie exactly 1 MAD from their mean.
 *
 * Line.  With G >= 2 groups (x_g = rows, y_g = group value) a and b are the ordinary least
 * squares line through the G points, each group weighing the same however many samples it
 * had (computed about the means, which keeps large row counts accurate):
 *
 *   b = sum (x_g - mx)(y_g - my) / sum (x_g - mx)^2,  a = my - b * mx.
 *
 * A negative intercept is not a cost: a is then set to 0 and b refitted through the origin,
 * b = sum x_g y_g / sum x_g^2 (the least-squares slope under a = 0).  With one group a = 0
 * and b = y / rows.  b must come out > 0: times that do not grow with rows cannot be split
 * by rows.  Noiseless affine data is recovered exactly up to rounding.
 *
 * Pure: no OpenCL calls, no globals.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "costmodel.h"

#define MAD_SCALE 1.4826  /* MAD -> standard deviation of normal noise */
#define MAD_LIMIT 3.0     /* reject beyond this many scaled MADs */
#define ZERO_MAD_REL 0.01 /* MAD == 0: reject beyond 1% of the median */

typedef struct sample {
    size_t rows;
    double ms;
} sample;

static int cmp_sample(const void *pa, const void *pb)
{
    const sample *a = pa, *b = pb;
    if (a->rows != b->rows)
        return a->rows < b->rows ? -1 : 1;
    return (a->ms > b->ms) - (a->ms < b->ms);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Median of n >= 1 sorted values. */
static double median_sorted(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double hg__cost_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return median_sorted(v, n);
}

static double median_of_samples(const sample *s, size_t n)
{
    return n % 2 ? s[n / 2].ms : 0.5 * (s[n / 2 - 1].ms + s[n / 2].ms);
}

/*
 * Reduce one group s[0..m) (sorted by ms) to its value; dev is scratch for m doubles.
 * *kept receives the number of samples kept (>= 1).
 */
static double group_value(const sample *s, size_t m, double *dev, size_t *kept)
{
    double med = median_of_samples(s, m);
    for (size_t i = 0; i < m; i++)
        dev[i] = fabs(s[i].ms - med);
    qsort(dev, m, sizeof *dev, cmp_double);
    double mad = median_sorted(dev, m);
    double limit = mad > 0.0 ? MAD_LIMIT * MAD_SCALE * mad : ZERO_MAD_REL * med;
    size_t lo = 0, hi = m; /* kept: s[lo..hi), contiguous around med */
    while (lo < hi && fabs(s[lo].ms - med) > limit)
        lo++;
    while (hi > lo && fabs(s[hi - 1].ms - med) > limit)
        hi--;
    /* At least the samples within MAD of med survive; lo < hi always holds. */
    *kept = hi - lo;
    return median_of_samples(s + lo, hi - lo);
}

static hg_status fail(hg_error *err, hg__cost_model *out, hg_status st, const char *what,
                      double x1, double x2)
{
    if (out)
        *out = (hg__cost_model){0.0, 0.0, 0, 0, false};
    return hg__error_set(err, st, 0, "hg__cost_fit: %s (%g, %g)", what, x1, x2);
}

hg_status hg__cost_fit(const size_t *rows, const double *ms, size_t nsamples,
                      hg__cost_model *out, hg_error *err)
{
    static const char fn[] = "hg__cost_fit";
    hg_error_clear(err);
    if (out)
        *out = (hg__cost_model){0.0, 0.0, 0, 0, false};
    if (!rows || !ms || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL", fn,
                             !rows ? "rows" : !ms ? "ms" : "out");
    if (nsamples == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: no samples", fn);
    for (size_t i = 0; i < nsamples; i++) {
        if (rows[i] == 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: sample %zu has 0 rows; every sample needs rows > 0", fn,
                                 i);
        if (!isfinite(ms[i]) || ms[i] < 0.0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: sample %zu took %g ms; times must be finite and >= 0",
                                 fn, i, ms[i]);
    }

    /* One block: the samples, then 3 doubles per sample (group deviations, x, y). */
    const size_t per = sizeof(sample) + 3 * sizeof(double);
    sample *s = nsamples > SIZE_MAX / per ? NULL : malloc(nsamples * per);
    if (!s)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "%s: out of memory for %zu samples' working state", fn, nsamples);
    double *dev = (double *)(void *)(s + nsamples);
    double *gx = dev + nsamples, *gy = gx + nsamples;
    for (size_t i = 0; i < nsamples; i++)
        s[i] = (sample){rows[i], ms[i]};
    qsort(s, nsamples, sizeof *s, cmp_sample);

    size_t ngroups = 0, kept_total = 0;
    for (size_t first = 0; first < nsamples;) {
        size_t end = first + 1;
        while (end < nsamples && s[end].rows == s[first].rows)
            end++;
        size_t kept;
        gx[ngroups] = (double)s[first].rows;
        gy[ngroups] = group_value(s + first, end - first, dev, &kept);
        kept_total += kept;
        ngroups++;
        first = end;
    }

    double a = 0.0, b;
    if (ngroups == 1) {
        b = gy[0] / gx[0];
    } else {
        double mx = 0.0, my = 0.0;
        for (size_t g = 0; g < ngroups; g++) {
            mx += gx[g];
            my += gy[g];
        }
        mx /= (double)ngroups;
        my /= (double)ngroups;
        double sxx = 0.0, sxy = 0.0;
        for (size_t g = 0; g < ngroups; g++) {
            sxx += (gx[g] - mx) * (gx[g] - mx);
            sxy += (gx[g] - mx) * (gy[g] - my);
        }
        b = sxy / sxx; /* sxx > 0: the row counts are distinct */
        a = my - b * mx;
        if (a < 0.0) {
            double sx2 = 0.0, sxy0 = 0.0;
            for (size_t g = 0; g < ngroups; g++) {
                sx2 += gx[g] * gx[g];
                sxy0 += gx[g] * gy[g];
            }
            a = 0.0;
            b = sxy0 / sx2;
        }
    }
    free(s);

    if (!isfinite(a) || !isfinite(b))
        return fail(err, out, HG_INVALID_ARGUMENT, "the fit overflows: a, b =", a, b);
    if (!(b > 0.0))
        return fail(err, out, HG_INVALID_ARGUMENT,
                    "times do not grow with rows: fitted a, b =", a, b);
    *out = (hg__cost_model){a, b, kept_total, nsamples - kept_total, true};
    return HG_OK;
}

double hg__cost_predict(const hg__cost_model *m, size_t rows)
{
    if (rows == 0)
        return 0.0;
    if (!m || !m->valid)
        return INFINITY;
    return m->a_ms + m->b_ms_per_row * (double)rows;
}
