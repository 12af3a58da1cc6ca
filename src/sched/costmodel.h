/* SPDX-License-Identifier: MIT */
/*
 * costmodel.h - per-device affine cost model t(n) = a + b*n milliseconds (pure, no OpenCL).
 *
 * The fit, its outlier rejection and its guarantees are described at the top of
 * costmodel.c.  In short: samples are grouped by row count, each group is reduced to the
 * median of the samples within 3 scaled MADs of the group median, and a, b are the least
 * squares line through the group medians, with a clamped to >= 0.
 */
#ifndef HG_COSTMODEL_H
#define HG_COSTMODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* Predicted time of one step of n rows on one device: a_ms + b_ms_per_row * n. */
typedef struct hg__cost_model {
    double a_ms;         /* fixed overhead per step, >= 0 */
    double b_ms_per_row; /* cost per row, > 0 */
    size_t samples;      /* samples kept after outlier rejection */
    size_t rejected;     /* samples rejected as outliers */
    bool   valid;        /* false: no usable model (a failed fit, an unknown device) */
} hg__cost_model;

/*
 * Fit a model to nsamples measurements: one step of rows[i] rows took ms[i] milliseconds.
 *
 * Samples are grouped by distinct row count.  Within a group, samples farther than
 * 3 * 1.4826 * MAD from the group median are rejected (MAD: median absolute deviation; when
 * it is 0, samples farther than 1% of the median are rejected) and the group is represented
 * by the median of the rest.  With two or more groups, a and b are the least-squares line
 * through the group medians, each group weighing the same; a negative intercept is clamped
 * to 0 and b refitted through the origin.  With one group, a = 0 and b = median / rows.
 * out->samples / out->rejected count the samples kept / rejected over all groups.
 *
 * Fails with HG_INVALID_ARGUMENT (message names the sample or the numbers involved) for:
 * rows, ms or out NULL; nsamples 0; a sample with 0 rows; a NaN, infinite or negative time;
 * a fitted b <= 0 ("times do not grow with rows"); a fit that overflows.  HG_OUT_OF_MEMORY
 * when scratch space (about 5 doubles per sample) cannot be allocated.  On failure *out (if
 * not NULL) is set to an invalid model: all zero, valid false.
 */
hg_status hg__cost_fit(const size_t *rows, const double *ms, size_t nsamples,
                      hg__cost_model *out, hg_error *err);

/*
 * Predicted milliseconds of a step of `rows` rows: a_ms + b_ms_per_row * rows.  0 rows
 * predict 0 ms whatever the model (a device with no rows does not run).  With rows > 0, a
 * NULL or invalid model predicts INFINITY.
 */
double hg__cost_predict(const hg__cost_model *m, size_t rows);

/* Median of v[0..n), n >= 1 (the mean of the middle two for even n); sorts v. */
double hg__cost_median(double *v, size_t n);

#endif /* HG_COSTMODEL_H */
