/* SPDX-License-Identifier: MIT */
/*
 * harness.c - interleaved, warmed-up benchmark rounds and their robust
 * statistics (harness.h has the contract and the definitions).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void harness_plan_init(harness_plan *p)
{
    memset(p, 0, sizeof *p);
    p->warmup = 1;
    p->warmup_max = 4;
    p->warmup_settle = 0.25;
    p->spread_limit = HARNESS_SPREAD_LIMIT;
    p->seed = 1;
}

double harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *harness_flag_name(harness_flag f)
{
    switch (f) {
    case HARNESS_OK: return "ok";
    case HARNESS_FEW: return "few";
    case HARNESS_WIDE: return "wide";
    }
    return "unknown";
}

/* splitmix64: a well-mixed 64-bit sequence from any seed (Steele et al.). */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Reverse order[lo .. hi-1]. */
static void reverse(size_t *order, size_t lo, size_t hi)
{
    while (lo + 1 < hi) {
        size_t t = order[lo];
        order[lo++] = order[--hi];
        order[hi] = t;
    }
}

void harness_order(size_t n, size_t round, uint64_t seed, size_t *order)
{
    if (n == 0)
        return;
    uint64_t st = seed ^ ((uint64_t)round * 0xD1B54A32D192ED03ull);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    /* Fisher-Yates; the modulo bias of n << 2^64 is immaterial here */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(splitmix64(&st) % (uint64_t)(i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* rotate left by the position of round % n (three reversals, in place) */
    size_t first = round % n, at = 0;
    while (order[at] != first)
        at++;
    reverse(order, 0, at);
    reverse(order, at, n);
    reverse(order, 0, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p quantile of sorted v[0 .. n-1], n >= 1: linear interpolation at p (n - 1). */
static double quantile(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return v[n - 1];
    double frac = pos - (double)lo;
    return frac == 0.0 ? v[lo] : v[lo] + frac * (v[lo + 1] - v[lo]);
}

void harness_stats_of(double *v, size_t n, double spread_limit, harness_stats *out)
{
    out->n = n;
    if (n == 0) {
        out->median = out->q1 = out->q3 = out->min = out->max = out->spread = NAN;
        out->flag = HARNESS_FEW;
        return;
    }
    qsort(v, n, sizeof *v, cmp_double);
    out->min = v[0];
    out->max = v[n - 1];
    out->median = quantile(v, n, 0.5);
    out->q1 = quantile(v, n, 0.25);
    out->q3 = quantile(v, n, 0.75);
    bool usable = isfinite(out->median) && out->median > 0.0;
    out->spread = usable ? (out->q3 - out->q1) / out->median : NAN;
    if (n < HARNESS_MIN_SAMPLES)
        out->flag = usable ? HARNESS_FEW : HARNESS_WIDE;
    else
        out->flag = usable && out->spread <= spread_limit ? HARNESS_OK : HARNESS_WIDE;
}

void harness_result_free(harness_result *r)
{
    if (!r)
        return;
    free(r->samples);
    free(r->warmups);
    free(r->stats);
    r->samples = NULL;
    r->warmups = NULL;
    r->stats = NULL;
}

static bool plan_valid(const harness_plan *p)
{
    size_t most = p && p->rounds_max > p->rounds ? p->rounds_max : p ? p->rounds : 0;
    return p && p->sample && p->nconfigs >= 1 && p->rounds >= 1 && p->warmup >= 1 &&
           (p->rounds_max == 0 || p->rounds_max >= p->rounds) && p->budget_ms >= 0.0 &&
           p->warmup_max >= p->warmup && p->warmup_settle >= 0.0 && p->rewarm_ms >= 0.0 &&
           p->rewarm_span_ms >= 0.0 &&
           p->spread_limit > 0.0 &&
           p->nconfigs <= SIZE_MAX / most / sizeof(double);
}

/* Warm-up calls of config c until the plan's rule is met, the last one's time
   in *last; 0 or the sample's code. */
static int warm_up(const harness_plan *p, size_t c, size_t *calls, double *last_ms)
{
    double prev = NAN, last = NAN;
    size_t k = 0;
    for (;;) {
        int rc = p->sample(p->ctx, c, HARNESS_WARMUP, &last);
        if (rc != 0)
            return rc;
        k++;
        if (k >= p->warmup_max)
            break;
        if (k >= p->warmup && k >= 2 &&
            fabs(last - prev) <= p->warmup_settle * fmin(last, prev))
            break;
        prev = last;
    }
    *calls = k;
    *last_ms = last;
    return 0;
}

/* Config c's timed call of round r into *ms, after untimed calls of c when its
   previous call (*last) took less than p->rewarm_ms: one, then more while their
   times add up to less than p->rewarm_span_ms (HARNESS_REWARM_CALLS_MAX at the
   most); *last updated. */
static int timed_call(const harness_plan *p, size_t c, size_t r, double *last, double *ms)
{
    if (*last < p->rewarm_ms) { /* NAN (no time): not re-warmed */
        double spent = 0;
        for (size_t k = 0; k < HARNESS_REWARM_CALLS_MAX; k++) {
            int rc = p->sample(p->ctx, c, HARNESS_WARMUP, last);
            if (rc != 0)
                return rc;
            spent += *last;
            if (!(spent < p->rewarm_span_ms)) /* NAN: one call */
                break;
        }
    }
    int rc = p->sample(p->ctx, c, r, ms);
    *last = *ms;
    return rc;
}

/* Whether some config's first n of its `stride` samples are WIDE (scratch: n doubles). */
static bool some_wide(const harness_result *out, size_t stride, size_t n, double *scratch)
{
    for (size_t c = 0; c < out->nconfigs; c++) {
        harness_stats st;
        memcpy(scratch, out->samples + c * stride, n * sizeof *scratch);
        harness_stats_of(scratch, n, out->spread_limit, &st);
        if (st.flag == HARNESS_WIDE)
            return true;
    }
    return false;
}

/* Whether round r (>= p->rounds) is to run: an extra round (harness_plan). */
static bool extra_round(const harness_plan *p, const harness_result *out, size_t stride,
                        size_t r, double t0, double *scratch)
{
    if (r >= stride || (p->budget_ms > 0 && harness_now_ms() - t0 >= p->budget_ms))
        return false;
    return some_wide(out, stride, r, scratch);
}

int harness_run(const harness_plan *p, harness_result *out)
{
    if (!out)
        return HARNESS_EINVAL;
    memset(out, 0, sizeof *out);
    if (!plan_valid(p))
        return HARNESS_EINVAL;
    const size_t nc = p->nconfigs;
    /* samples are laid out [config * most + round] while running, compacted after */
    const size_t most = p->rounds_max > p->rounds ? p->rounds_max : p->rounds;
    out->nconfigs = nc;
    out->spread_limit = p->spread_limit;
    out->samples = calloc(nc * most, sizeof *out->samples);
    out->warmups = calloc(nc, sizeof *out->warmups);
    out->stats = calloc(nc, sizeof *out->stats);
    size_t *order = calloc(nc, sizeof *order);
    double *scratch = calloc(most, sizeof *scratch);
    double *last = calloc(nc, sizeof *last); /* each config's last call, ms */
    int rc = 0;
    if (!out->samples || !out->warmups || !out->stats || !order || !scratch || !last) {
        rc = HARNESS_ENOMEM;
        goto out_release;
    }
    harness_order(nc, 0, p->seed, order);
    for (size_t i = 0; i < nc && rc == 0; i++)
        rc = warm_up(p, order[i], &out->warmups[order[i]], &last[order[i]]);
    size_t nr = 0;
    double t0 = harness_now_ms();
    while (rc == 0 && (nr < p->rounds || extra_round(p, out, most, nr, t0, scratch))) {
        harness_order(nc, nr, p->seed, order);
        for (size_t i = 0; i < nc && rc == 0; i++)
            rc = timed_call(p, order[i], nr, &last[order[i]],
                            &out->samples[order[i] * most + nr]);
        nr++;
    }
    if (rc != 0)
        goto out_release;
    out->rounds = nr;
    for (size_t c = 1; c < nc && nr < most; c++)
        memmove(out->samples + c * nr, out->samples + c * most, nr * sizeof *out->samples);
    for (size_t c = 0; c < nc; c++) {
        memcpy(scratch, out->samples + c * nr, nr * sizeof *scratch);
        harness_stats_of(scratch, nr, p->spread_limit, &out->stats[c]);
        out->wide = out->wide || out->stats[c].flag == HARNESS_WIDE;
    }
    free(order);
    free(scratch);
    free(last);
    return 0;

out_release:
    free(order);
    free(scratch);
    free(last);
    harness_result_free(out);
    return rc;
}

int harness_paired_ratio(const harness_result *r, size_t num, size_t den, harness_stats *out)
{
    if (!r || !r->samples || num >= r->nconfigs || den >= r->nconfigs || !out)
        return HARNESS_EINVAL;
    double *v = calloc(r->rounds, sizeof *v);
    if (!v)
        return HARNESS_ENOMEM;
    for (size_t i = 0; i < r->rounds; i++)
        v[i] = r->samples[num * r->rounds + i] / r->samples[den * r->rounds + i];
    harness_stats_of(v, r->rounds, r->spread_limit, out);
    free(v);
    return 0;
}
