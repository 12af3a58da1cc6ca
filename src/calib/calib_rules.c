/* SPDX-License-Identifier: MIT */
/*
 * calib_rules.c - the pure decisions of calibration (calib_rules.h).
 */
#include <math.h>
#include <stdlib.h>

#include "calib_rules.h"
#include "sched/costmodel.h"

size_t hg__race_prune(const double *fastest, bool *alive, size_t n)
{
    double best = INFINITY;
    for (size_t k = 0; k < n; k++)
        if (alive[k] && fastest[k] >= 0 && fastest[k] < best)
            best = fastest[k];
    size_t left = 0;
    for (size_t k = 0; k < n; k++) {
        if (!alive[k])
            continue;
        alive[k] = fastest[k] >= 0 && fastest[k] <= HG__RACE_MARGIN * best;
        left += alive[k];
    }
    return left;
}

void hg__race_scores(const double *t, size_t stride, size_t nc, size_t ns,
                     const bool *counted, double *score)
{
    double ref[HG__RACE_MAX_SWEEPS], r[HG__RACE_MAX_SWEEPS];
    ns = ns < HG__RACE_MAX_SWEEPS ? ns : HG__RACE_MAX_SWEEPS;
    for (size_t s = 0; s < ns; s++) {
        ref[s] = INFINITY;
        for (size_t k = 0; k < nc; k++) {
            double v = t[k * stride + s];
            if ((!counted || counted[k]) && isfinite(v) && v > 0 && v < ref[s])
                ref[s] = v;
        }
    }
    for (size_t k = 0; k < nc; k++) {
        size_t n = 0;
        for (size_t s = 0; s < ns && (!counted || counted[k]); s++) {
            double v = t[k * stride + s];
            if (isfinite(v) && v > 0)
                r[n++] = v / ref[s];
        }
        score[k] = n == 0 ? INFINITY : hg__cost_median(r, n);
    }
}

bool hg__timings_settled(const double *ms, size_t n)
{
    if (n < 3)
        return false;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(ms[k]) || ms[k] < 0)
            return false;
        lo = ms[k] < lo ? ms[k] : lo;
        hi = ms[k] > hi ? ms[k] : hi;
    }
    /* the median without reordering ms: the value with as many below as above */
    double med = lo;
    for (size_t k = 0; k < n; k++) {
        size_t below = 0, above = 0;
        for (size_t j = 0; j < n; j++) {
            below += ms[j] < ms[k];
            above += ms[j] > ms[k];
        }
        if (below <= n / 2 && above <= n / 2) {
            med = ms[k];
            break;
        }
    }
    return hi - lo <= HG__SETTLED_SPREAD * med;
}

bool hg__rewarm_more(double spent_ms, size_t calls)
{
    if (calls == 0)
        return true;
    return calls < HG__REWARM_CALLS_MAX && spent_ms < HG__REWARM_SPAN_MS;
}

bool hg__probe_again(bool ran_these_rows, double first_ms)
{
    return !(ran_these_rows && first_ms >= HG__REWARM_BELOW_MS);
}

unsigned hg__fission_units(unsigned units, size_t others)
{
    return units >= 2 && others > 0 ? units - 1 : 0;
}

bool hg__fission_pays(double full_ms, double fissioned_ms, double alone_ms)
{
    if (!isfinite(full_ms) || !isfinite(fissioned_ms) || !(full_ms > 0) || !(fissioned_ms > 0))
        return false;
    double best = isfinite(alone_ms) && alone_ms > 0 && alone_ms < full_ms ? alone_ms : full_ms;
    return fissioned_ms < (1.0 - HG__FISSION_MARGIN) * best;
}

bool hg__fission_pays_rounds(const double *full_ms, const double *fissioned_ms,
                             const double *alone_ms, size_t n, size_t *won)
{
    size_t k = 0;
    for (size_t r = 0; r < n; r++)
        k += hg__fission_pays(full_ms[r], fissioned_ms[r], alone_ms ? alone_ms[r] : NAN);
    if (won)
        *won = k;
    return n > 0 && 2 * k > n;
}

size_t hg__median_run(const double *span, size_t n)
{
    /* the run with as many makespans below it as n / 2 allows: rank by counting */
    size_t pick = 0;
    for (size_t r = 0; r < n; r++) {
        size_t below = 0, equal = 0;
        for (size_t q = 0; q < n; q++) {
            below += span[q] < span[r];
            equal += span[q] == span[r];
        }
        if (below <= n / 2 && n / 2 < below + equal)
            pick = r;
    }
    return pick;
}

size_t hg__decision_rows(size_t data_rows, size_t batch_rows, size_t max_rows)
{
    size_t rows = batch_rows ? batch_rows : max_rows;
    return rows < data_rows ? rows : data_rows;
}

bool hg__race_skip(double probe_ms, double fastest_ms)
{
    return isfinite(probe_ms) && fastest_ms > 0 && probe_ms >= HG__RACE_SKIP_MS &&
           probe_ms > HG__RACE_SKIP_RATIO * fastest_ms;
}

bool hg__race_short_job(double job_ms, size_t candidates)
{
    return candidates >= 2 && isfinite(job_ms) && job_ms >= 0 &&
           job_ms < HG__RACE_CANDIDATE_MS * (double)(candidates - 1);
}

bool hg__trial_short_job(double job_ms)
{
    return isfinite(job_ms) && job_ms >= 0 && job_ms < HG__TRIAL_MS;
}
