/* SPDX-License-Identifier: MIT */
/*
 * rankplan.c - the pure arithmetic of the MPI layer: a rank's cost model from its
 * devices' profiles, a rank's slice of a step, a rank's slice of the parameters (the
 * sliced exchange, reduce.c), and the rank-order sum that gives every rank the same bits.
 * No MPI, no OpenCL; tested by tests/test_rankplan.c.
 *
 * The ranks themselves are planned by the scheduler (sched/sched.h; context.c's make_sched),
 * one device per rank under the DYNAMIC policy with no solo guard, one affine model per rank
 * (hg__rank_model), fed with each rank's measured step time: the same smoothing, jump
 * detection, hysteresis and probing as for the devices of one engine (docs/engine.md).
 */
#include <math.h>
#include <stdint.h>

#include "mpi_internal.h"

hg_status hg__rank_model(const bool *valid, const double *fixed_ms, const double *ms_per_row,
                         size_t ndev, double default_rows_per_s, hg__cost_model *out,
                         hg_error *err)
{
    if (!out || ndev == 0 || !valid || !fixed_ms || !ms_per_row)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__rank_model: %s",
                             !out ? "out is NULL" : ndev == 0 ? "no devices"
                                                              : "a NULL profile array");
    if (!isfinite(default_rows_per_s) || default_rows_per_s <= 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg__rank_model: default speed %g rows/s is not > 0",
                             default_rows_per_s);
    double per_ms = 0, a = 0;
    for (size_t i = 0; i < ndev; i++) {
        if (!valid[i]) {
            per_ms += default_rows_per_s / 1000.0;
            continue;
        }
        if (!isfinite(fixed_ms[i]) || fixed_ms[i] < 0 || !isfinite(ms_per_row[i]) ||
            ms_per_row[i] <= 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg__rank_model: device %zu has fixed cost %g ms and %g ms "
                                 "per row", i, fixed_ms[i], ms_per_row[i]);
        per_ms += 1.0 / ms_per_row[i];
        a = fixed_ms[i] > a ? fixed_ms[i] : a;
    }
    double b = 1.0 / per_ms;
    if (!isfinite(b) || b <= 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg__rank_model: combined speed %g rows/ms is not usable", per_ms);
    *out = (hg__cost_model){.a_ms = a, .b_ms_per_row = b, .samples = 0, .rejected = 0,
                           .valid = true};
    return HG_OK;
}

hg_status hg__rank_slice(const size_t *counts, size_t n, size_t r, size_t total,
                         size_t *first, hg_error *err)
{
    if (!counts || !first || r >= n)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__rank_slice: %s",
                             r >= n ? "rank out of range" : "NULL argument");
    size_t sum = 0, mine = 0;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] > SIZE_MAX - sum)
            return hg__error_set(err, HG_RANGE, 0, "hg__rank_slice: counts overflow");
        if (i == r)
            mine = sum;
        sum += counts[i];
    }
    if (sum != total)
        return hg__error_set(err, HG_RANGE, 0,
                             "hg__rank_slice: counts add up to %zu, the step has %zu rows",
                             sum, total);
    *first = mine;
    return HG_OK;
}

void hg__rank_mean(const double *sums, size_t stride, size_t n, size_t p,
                   const double *loss_sum, size_t rows, float *out, double *loss_mean)
{
    for (size_t k = 0; k < p; k++) {
        double acc = 0;
        for (size_t r = 0; r < n; r++)
            acc += sums[r * stride + k];
        out[k] = (float)(acc / (double)rows);
    }
    if (!loss_mean)
        return;
    double l = 0;
    for (size_t r = 0; r < n; r++)
        l += loss_sum[r];
    *loss_mean = l / (double)rows;
}

hg_status hg__param_slice(size_t p, size_t n, size_t r, size_t *first, size_t *len,
                          hg_error *err)
{
    if (n == 0 || r >= n || !first || !len)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__param_slice: %s",
                             n == 0 ? "no ranks" : r >= n ? "rank out of range"
                                                          : "NULL output");
    size_t base = p / n, extra = p % n;
    /* Ranks below extra own base + 1, so rank r starts after r slices of base and
       min(r, extra) extra parameters. */
    *first = r * base + (r < extra ? r : extra);
    *len = base + (r < extra ? 1 : 0);
    return HG_OK;
}

uint64_t hg__mpi_fnv(const void *p, size_t n)
{
    return hg_fnv1a64(p, n);
}
