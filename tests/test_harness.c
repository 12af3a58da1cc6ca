/* SPDX-License-Identifier: MIT */
/*
 * test_harness.c - the benchmark harness (tools/harness.c): quantiles, spread
 * and flags with exact expectations (one sample, even and odd counts,
 * identical samples, a single outlier, the limit itself), the interleaving
 * order, the warm-up rule, the re-warm before each timed step, the run's
 * call sequence and its failures, and the paired ratio.  Sample functions
 * here are scripted: no clock, no device.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ck_assert_exact(a, b) ck_assert_msg((a) == (b), "%s == %.17g, expected %.17g", #a, \
                                            (double)(a), (double)(b))

static harness_stats stats_of(const double *v, size_t n, double limit)
{
    double copy[64];
    if (n)
        memcpy(copy, v, n * sizeof *v);
    harness_stats s;
    harness_stats_of(copy, n, limit, &s);
    return s;
}

START_TEST(no_sample)
{
    harness_stats s = stats_of(NULL, 0, 0.1);
    ck_assert_uint_eq(s.n, 0);
    ck_assert(isnan(s.median) && isnan(s.q1) && isnan(s.q3) && isnan(s.min) && isnan(s.max));
    ck_assert(isnan(s.spread));
    ck_assert_int_eq(s.flag, HARNESS_FEW);
}
END_TEST

START_TEST(one_sample)
{
    harness_stats s = stats_of((double[]){5.0}, 1, 0.1);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_exact(s.median, 5.0);
    ck_assert_exact(s.q1, 5.0);
    ck_assert_exact(s.q3, 5.0);
    ck_assert_exact(s.min, 5.0);
    ck_assert_exact(s.max, 5.0);
    ck_assert_exact(s.spread, 0.0);
    ck_assert_int_eq(s.flag, HARNESS_FEW); /* no spread is claimed from one sample */
}
END_TEST

START_TEST(two_samples)
{
    harness_stats s = stats_of((double[]){3.0, 1.0}, 2, 0.1);
    ck_assert_exact(s.median, 2.0);
    ck_assert_exact(s.q1, 1.5);
    ck_assert_exact(s.q3, 2.5);
    ck_assert_int_eq(s.flag, HARNESS_FEW);
}
END_TEST

START_TEST(odd_count)
{
    const double v[] = {3.0, 1.0, 2.0, 5.0, 4.0};
    harness_stats s = stats_of(v, 5, 0.1);
    ck_assert_exact(s.median, 3.0);
    ck_assert_exact(s.q1, 2.0);   /* position 0.25 x 4 = 1 */
    ck_assert_exact(s.q3, 4.0);   /* position 3 */
    ck_assert_exact(s.min, 1.0);
    ck_assert_exact(s.max, 5.0);
    ck_assert_exact(s.spread, 2.0 / 3.0);
    ck_assert_int_eq(s.flag, HARNESS_WIDE);
    ck_assert_int_eq(stats_of(v, 5, 1.0).flag, HARNESS_OK);
}
END_TEST

START_TEST(even_count)
{
    const double v[] = {4.0, 1.0, 3.0, 2.0};
    harness_stats s = stats_of(v, 4, 0.1);
    ck_assert_exact(s.median, 2.5);  /* the mean of the two middle samples */
    ck_assert_exact(s.q1, 1.75);     /* position 0.75 */
    ck_assert_exact(s.q3, 3.25);     /* position 2.25 */
    ck_assert_exact(s.spread, 1.5 / 2.5);
    ck_assert_int_eq(s.flag, HARNESS_WIDE);
}
END_TEST

START_TEST(identical_samples)
{
    harness_stats s = stats_of((double[]){7.0, 7.0, 7.0, 7.0}, 4, 0.1);
    ck_assert_exact(s.median, 7.0);
    ck_assert_exact(s.spread, 0.0);
    ck_assert_int_eq(s.flag, HARNESS_OK);
}
END_TEST

START_TEST(single_outlier)
{
    /* one spike (another process, a page fault storm) moves neither the
       median nor the quartiles; it shows only in max */
    const double v[] = {10, 10, 10, 1000, 10, 10, 10, 10, 10};
    harness_stats s = stats_of(v, 9, 0.1);
    ck_assert_exact(s.median, 10.0);
    ck_assert_exact(s.q1, 10.0);
    ck_assert_exact(s.q3, 10.0);
    ck_assert_exact(s.max, 1000.0);
    ck_assert_exact(s.spread, 0.0);
    ck_assert_int_eq(s.flag, HARNESS_OK);
}
END_TEST

START_TEST(limit_is_inclusive)
{
    const double v[] = {11.0, 9.0, 10.0, 10.0};
    harness_stats s = stats_of(v, 4, 0.05);
    ck_assert_exact(s.q1, 9.75);
    ck_assert_exact(s.q3, 10.25);
    ck_assert_exact(s.spread, 0.05);
    ck_assert_int_eq(s.flag, HARNESS_OK);
    ck_assert_int_eq(stats_of(v, 4, 0.0499).flag, HARNESS_WIDE);
}
END_TEST

START_TEST(unusable_median)
{
    harness_stats s = stats_of((double[]){0.0, 0.0, 0.0}, 3, 0.1);
    ck_assert(isnan(s.spread));
    ck_assert_int_eq(s.flag, HARNESS_WIDE);
    s = stats_of((double[]){-1.0, -1.0}, 2, 0.1);
    ck_assert_int_eq(s.flag, HARNESS_WIDE);
}
END_TEST

/* ---- the interleaving order ---------------------------------------------------- */

static bool is_permutation(const size_t *o, size_t n)
{
    bool seen[64] = {false};
    for (size_t i = 0; i < n; i++) {
        if (o[i] >= n || seen[o[i]])
            return false;
        seen[o[i]] = true;
    }
    return true;
}

START_TEST(order_permutes_and_rotates)
{
    for (size_t n = 1; n <= 12; n++) {
        size_t firsts[64] = {0};
        for (size_t r = 0; r < 3 * n; r++) {
            size_t o[64], again[64];
            harness_order(n, r, 42, o);
            ck_assert(is_permutation(o, n));
            ck_assert_uint_eq(o[0], r % n);
            harness_order(n, r, 42, again);
            ck_assert_mem_eq(o, again, n * sizeof *o);
            firsts[o[0]]++;
        }
        for (size_t c = 0; c < n; c++)
            ck_assert_uint_eq(firsts[c], 3); /* each config first exactly once per n rounds */
    }
    size_t one = 99;
    harness_order(1, 7, 3, &one);
    ck_assert_uint_eq(one, 0);
}
END_TEST

START_TEST(order_varies)
{
    /* who follows whom changes between rounds, and the seed matters */
    const size_t n = 5;
    size_t o[5], follows[5][5] = {{0}};
    bool seed_differs = false;
    for (size_t r = 0; r < 20; r++) {
        size_t other[5];
        harness_order(n, r, 1, o);
        harness_order(n, r, 2, other);
        seed_differs = seed_differs || memcmp(o, other, sizeof o) != 0;
        for (size_t i = 0; i + 1 < n; i++)
            follows[o[i]][o[i + 1]]++;
    }
    ck_assert(seed_differs);
    size_t pairs_seen = 0;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            pairs_seen += follows[a][b] > 0;
    ck_assert_uint_gt(pairs_seen, n); /* a fixed rotation would give exactly n pairs */
}
END_TEST

/* ---- harness_run with a scripted sample function ------------------------------ */

#define MAX_CALLS 256
typedef struct script {
    size_t ncalls;
    size_t config[MAX_CALLS], round[MAX_CALLS];
    size_t warm_seen[8];
    const double *warm_times[8]; /* per config: its warm-up times, in call order */
    double per_round;            /* ms added per round */
    double drift;                /* relative slow-down per call so far */
    size_t fail_config, fail_round;
    int    fail_code;
    const double *round_times[8]; /* per config: its time in each timed round (or NULL) */
} script;

static int scripted(void *ctx, size_t config, size_t round, double *ms)
{
    script *s = ctx;
    ck_assert_uint_lt(s->ncalls, MAX_CALLS);
    s->config[s->ncalls] = config;
    s->round[s->ncalls] = round;
    if (s->fail_code && config == s->fail_config && round == s->fail_round)
        return s->fail_code;
    if (round == HARNESS_WARMUP)
        *ms = s->warm_times[config] ? s->warm_times[config][s->warm_seen[config]++] : 1.0;
    else if (s->round_times[config])
        *ms = s->round_times[config][round];
    else
        *ms = (10.0 * (double)(config + 1) + s->per_round * (double)round) *
              (1.0 + s->drift * (double)s->ncalls);
    s->ncalls++;
    return 0;
}

/* A sample function whose call is slow right after another config's call:
   each config's rows cached, or its threads awake, only after its own step. */
typedef struct coldwarm {
    size_t ncalls, last_config;
    size_t config[MAX_CALLS], round[MAX_CALLS];
    double cold[3], warm[3];
} coldwarm;

static int cold_after_others(void *ctx, size_t config, size_t round, double *ms)
{
    coldwarm *s = ctx;
    ck_assert_uint_lt(s->ncalls, MAX_CALLS);
    *ms = s->ncalls && s->last_config == config ? s->warm[config] : s->cold[config];
    s->config[s->ncalls] = config;
    s->round[s->ncalls++] = round;
    s->last_config = config;
    return 0;
}

START_TEST(rewarm_before_each_timed_step)
{
    /* configs 0 and 1 take 5 and 6 ms cold, 1 and 2 ms after their own call;
       config 2 takes 2 s either way: over rewarm_ms, it is not re-warmed */
    coldwarm s = {.cold = {5.0, 6.0, 2000.0}, .warm = {1.0, 2.0, 2000.0}};
    harness_plan p;
    harness_plan_init(&p);
    ck_assert_exact(p.rewarm_ms, 0.0); /* off by default */
    p.nconfigs = 3;
    p.rounds = 6;
    p.warmup_max = 1;
    p.rewarm_ms = 1000.0;
    p.sample = cold_after_others;
    p.ctx = &s;
    harness_result r;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(s.ncalls, 3 + 6 * (3 + 2)); /* warm-up, then 2 re-warms a round */
    size_t own_warmups[3] = {0};
    for (size_t i = 0; i < s.ncalls; i++) {
        if (s.round[i] == HARNESS_WARMUP) {
            own_warmups[s.config[i]]++;
            continue;
        }
        bool rewarmed = s.round[i - 1] == HARNESS_WARMUP && s.config[i - 1] == s.config[i];
        ck_assert_msg(i < 3 || rewarmed == (s.config[i] != 2),
                      "call %zu (config %zu, round %zu): re-warmed %d", i, s.config[i],
                      s.round[i], rewarmed);
    }
    ck_assert_uint_eq(own_warmups[0], 1 + 6);
    ck_assert_uint_eq(own_warmups[1], 1 + 6);
    ck_assert_uint_eq(own_warmups[2], 1);
    for (size_t rd = 0; rd < 6; rd++) {
        ck_assert_exact(r.samples[0 * 6 + rd], 1.0);
        ck_assert_exact(r.samples[1 * 6 + rd], 2.0);
        ck_assert_exact(r.samples[2 * 6 + rd], 2000.0);
    }
    ck_assert(!r.wide);
    harness_result_free(&r);

    /* without it, the same script times cold steps: some rounds 5 ms, wide */
    s.ncalls = 0;
    s.last_config = 0;
    p.rewarm_ms = 0.0;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(s.ncalls, 3 + 6 * 3);
    ck_assert_exact(r.stats[0].max, 5.0);
    harness_result_free(&r);
}
END_TEST

/* A sample function whose call settles only after `settle` calls of its own in a row:
   a cold start that lasts several short steps (tools/harness.h, rewarm_span_ms). */
typedef struct slowsettle {
    size_t ncalls, last_config, run; /* run: calls of last_config in a row before this one */
    size_t settle;
    size_t config[MAX_CALLS], round[MAX_CALLS];
} slowsettle;

static int settles_after_own_calls(void *ctx, size_t config, size_t round, double *ms)
{
    slowsettle *s = ctx;
    ck_assert_uint_lt(s->ncalls, MAX_CALLS);
    s->run = s->ncalls && s->last_config == config ? s->run + 1 : 0;
    *ms = s->run >= s->settle ? 1.0 : 5.0;
    s->config[s->ncalls] = config;
    s->round[s->ncalls++] = round;
    s->last_config = config;
    return 0;
}

START_TEST(rewarm_lasts_a_span_of_time)
{
    /* two configs, each 5 ms until two calls of its own came just before, then 1 ms */
    slowsettle s = {.settle = 2};
    harness_plan p;
    harness_plan_init(&p);
    ck_assert_exact(p.rewarm_span_ms, 0.0); /* one call by default */
    p.nconfigs = 2;
    p.rounds = 5;
    p.warmup_max = 1;
    p.rewarm_ms = 1000.0;
    p.sample = settles_after_own_calls;
    p.ctx = &s;
    harness_result r;
    /* one untimed call: every timed call is the second in a row, still cold */
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(s.ncalls, 2 + 5 * 2 * 2);
    for (size_t c = 0; c < 2; c++)
        ck_assert_exact(r.stats[c].median, 5.0);
    harness_result_free(&r);

    /* re-warms of 8 ms: after the other config, 5 + 5 ms (two calls), then the timed
       call is warm; right after its own timed call (the round order changes), eight
       warm calls of 1 ms */
    s = (slowsettle){.settle = 2};
    p.rewarm_span_ms = 8.0;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    for (size_t c = 0; c < 2; c++) {
        ck_assert_exact(r.stats[c].max, 1.0);
        ck_assert_uint_eq(r.warmups[c], 1); /* the warm-up phase's, not the re-warms */
    }
    size_t timed = 0, after_other = 0;
    for (size_t i = 2; i < s.ncalls; i++) {
        if (s.round[i] == HARNESS_WARMUP)
            continue;
        timed++;
        size_t k = 0; /* untimed calls of its own just before it */
        while (k < i && s.round[i - 1 - k] == HARNESS_WARMUP && s.config[i - 1 - k] == s.config[i])
            k++;
        bool own_before = k < i && s.config[i - 1 - k] == s.config[i];
        ck_assert_msg(k == (own_before ? 8u : 2u), "timed call %zu after %zu of its own", i, k);
        after_other += !own_before;
    }
    ck_assert_uint_eq(timed, 5 * 2);
    ck_assert_uint_ge(after_other, 5); /* at least one config a round follows the other */
    harness_result_free(&r);

    /* a span no calls reach: HARNESS_REWARM_CALLS_MAX untimed calls before each timed one */
    s = (slowsettle){.settle = 2};
    p.rounds = 2;
    p.rewarm_span_ms = 1e9;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(s.ncalls, 2 + 2 * 2 * (HARNESS_REWARM_CALLS_MAX + 1));
    harness_result_free(&r);

    /* out of range */
    p.rewarm_span_ms = -1.0;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
    p.rewarm_span_ms = NAN;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
}
END_TEST

START_TEST(run_interleaves_after_warmup)
{
    script s;
    memset(&s, 0, sizeof s);
    const double cold[] = {100.0, 10.0, 10.0};      /* settles at the third call */
    const double jumpy[] = {10.0, 20.0, 10.0, 20.0}; /* never settles: warmup_max */
    const double steady[] = {10.0, 11.0};            /* within 25% at the second */
    s.warm_times[0] = cold;
    s.warm_times[1] = jumpy;
    s.warm_times[2] = steady;
    s.per_round = 1.0;
    harness_plan p;
    harness_plan_init(&p);
    p.nconfigs = 3;
    p.rounds = 5;
    p.sample = scripted;
    p.ctx = &s;
    harness_result r;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.warmups[0], 3);
    ck_assert_uint_eq(r.warmups[1], 4);
    ck_assert_uint_eq(r.warmups[2], 2);
    size_t nwarm = 9;
    ck_assert_uint_eq(s.ncalls, nwarm + 15);
    for (size_t i = 0; i < nwarm; i++)
        ck_assert_uint_eq(s.round[i], HARNESS_WARMUP);
    for (size_t rd = 0; rd < 5; rd++) {
        size_t o[3];
        harness_order(3, rd, p.seed, o);
        for (size_t i = 0; i < 3; i++) {
            ck_assert_uint_eq(s.round[nwarm + rd * 3 + i], rd);
            ck_assert_uint_eq(s.config[nwarm + rd * 3 + i], o[i]);
        }
    }
    for (size_t c = 0; c < 3; c++) {
        for (size_t rd = 0; rd < 5; rd++)
            ck_assert_exact(r.samples[c * 5 + rd], 10.0 * (double)(c + 1) + (double)rd);
        ck_assert_exact(r.stats[c].median, 10.0 * (double)(c + 1) + 2.0);
        ck_assert_exact(r.stats[c].min, 10.0 * (double)(c + 1));
    }
    /* config 0: 10..14, IQR 2 over 12 > 10%: wide; configs 1 and 2 are not */
    ck_assert_int_eq(r.stats[0].flag, HARNESS_WIDE);
    ck_assert_int_eq(r.stats[1].flag, HARNESS_OK);
    ck_assert_int_eq(r.stats[2].flag, HARNESS_OK);
    ck_assert(r.wide);
    harness_result_free(&r);
    ck_assert_ptr_null(r.samples);
    harness_result_free(&r); /* twice: no-op */
    harness_result_free(NULL);
}
END_TEST

START_TEST(warmup_minimum_and_single)
{
    script s;
    memset(&s, 0, sizeof s);
    harness_plan p;
    harness_plan_init(&p);
    p.nconfigs = 2;
    p.rounds = 1;
    p.warmup = 3;
    p.warmup_max = 3;
    p.sample = scripted;
    p.ctx = &s;
    harness_result r;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.warmups[0], 3); /* settled at once, but the minimum holds */
    ck_assert_uint_eq(r.warmups[1], 3);
    ck_assert_int_eq(r.stats[0].flag, HARNESS_FEW);
    ck_assert(!r.wide); /* few is not wide */
    harness_result_free(&r);

    memset(&s, 0, sizeof s);
    p.warmup = 1;
    p.warmup_max = 1;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.warmups[0], 1);
    ck_assert_uint_eq(s.ncalls, 4);
    harness_result_free(&r);
}
END_TEST

START_TEST(run_failures)
{
    script s;
    memset(&s, 0, sizeof s);
    harness_plan p;
    harness_plan_init(&p);
    harness_result r;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL); /* no sample, no configs */
    ck_assert_ptr_null(r.samples);
    p.sample = scripted;
    p.ctx = &s;
    p.nconfigs = 2;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL); /* no rounds */
    p.rounds = 4;
    p.warmup = 0;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
    p.warmup = 5;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL); /* warmup_max 4 < 5 */
    p.warmup = 1;
    p.spread_limit = 0.0;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
    p.spread_limit = 0.1;
    p.rewarm_ms = -1.0;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
    p.rewarm_ms = NAN;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
    p.rewarm_ms = 0.0;
    ck_assert_int_eq(harness_run(&p, NULL), HARNESS_EINVAL);
    ck_assert_int_eq(harness_run(NULL, &r), HARNESS_EINVAL);
    ck_assert_uint_eq(s.ncalls, 0);

    s.fail_code = 7;
    s.fail_config = 1;
    s.fail_round = 2;
    ck_assert_int_eq(harness_run(&p, &r), 7);
    ck_assert_ptr_null(r.samples);
    ck_assert_ptr_null(r.stats);
    ck_assert_ptr_null(r.warmups);
    s.ncalls = 0;
    s.fail_round = HARNESS_WARMUP; /* a warm-up call fails */
    ck_assert_int_eq(harness_run(&p, &r), 7);
}
END_TEST

START_TEST(paired_ratio_under_drift)
{
    /* Two configurations whose true costs are 10 and 20 ms (ratio 2) on a
       machine that slows by 5% of its speed every call.  Timed one after the
       other, config 1 would come out ~3x config 0; interleaved, the per-round
       paired ratio stays within 5% of 2. */
    script s;
    memset(&s, 0, sizeof s);
    s.drift = 0.05;
    harness_plan p;
    harness_plan_init(&p);
    p.nconfigs = 2;
    p.rounds = 20;
    p.sample = scripted;
    p.ctx = &s;
    harness_result r;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    harness_stats q;
    ck_assert_int_eq(harness_paired_ratio(&r, 1, 0, &q), 0);
    ck_assert_uint_eq(q.n, 20);
    ck_assert_msg(fabs(q.median - 2.0) < 0.1, "paired ratio %g", q.median);
    ck_assert_int_eq(harness_paired_ratio(&r, 2, 0, &q), HARNESS_EINVAL);
    ck_assert_int_eq(harness_paired_ratio(NULL, 0, 0, &q), HARNESS_EINVAL);
    /* exact: a constant ratio */
    for (size_t i = 0; i < 20; i++) {
        r.samples[i] = 2.0 + (double)i;
        r.samples[20 + i] = 2.0 * (2.0 + (double)i);
    }
    ck_assert_int_eq(harness_paired_ratio(&r, 1, 0, &q), 0);
    ck_assert_exact(q.median, 2.0);
    ck_assert_exact(q.spread, 0.0);
    ck_assert_int_eq(q.flag, HARNESS_OK);
    harness_result_free(&r);
}
END_TEST

START_TEST(extra_rounds_while_wide)
{
    /* config 0 is wide after 3 and 4 rounds ({10,10,20}: IQR 5 over 10; {10,10,10,20}:
       2.5 over 10) and settled after 5 (IQR 0); config 1 is steady throughout */
    const double noisy[] = {10, 20, 10, 10, 10, 10, 10, 10, 10, 10};
    const double steady[] = {20, 20, 20, 20, 20, 20, 20, 20, 20, 20};
    const double never[] = {10, 30, 10, 30, 10, 30, 10, 30, 10, 30};
    script s;
    memset(&s, 0, sizeof s);
    s.round_times[0] = noisy;
    s.round_times[1] = steady;
    harness_plan p;
    harness_plan_init(&p);
    p.nconfigs = 2;
    p.rounds = 3;
    p.rounds_max = 10;
    p.sample = scripted;
    p.ctx = &s;
    harness_result r;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.rounds, 5);
    ck_assert(!r.wide);
    for (size_t rd = 0; rd < 5; rd++) { /* compacted: config 1's samples follow at 5 */
        ck_assert_exact(r.samples[rd], noisy[rd]);
        ck_assert_exact(r.samples[5 + rd], 20.0);
    }
    ck_assert_uint_eq(r.stats[0].n, 5);
    ck_assert_exact(r.stats[0].spread, 0.0);
    harness_result_free(&r);

    /* never settles: stops at rounds_max, and stays flagged */
    memset(&s, 0, sizeof s);
    s.round_times[0] = never;
    s.round_times[1] = steady;
    p.rounds_max = 6;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.rounds, 6);
    ck_assert(r.wide);
    harness_result_free(&r);

    /* a spent budget: no extra round */
    memset(&s, 0, sizeof s);
    s.round_times[0] = noisy;
    s.round_times[1] = steady;
    p.rounds_max = 10;
    p.budget_ms = 1e-9;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.rounds, 3);
    ck_assert(r.wide);
    harness_result_free(&r);

    /* rounds_max 0: exactly `rounds` */
    memset(&s, 0, sizeof s);
    s.round_times[0] = noisy;
    s.round_times[1] = steady;
    p.rounds_max = 0;
    p.budget_ms = 0;
    ck_assert_int_eq(harness_run(&p, &r), 0);
    ck_assert_uint_eq(r.rounds, 3);
    harness_result_free(&r);

    p.rounds_max = 2; /* fewer than rounds */
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
    p.rounds_max = 10;
    p.budget_ms = -1.0;
    ck_assert_int_eq(harness_run(&p, &r), HARNESS_EINVAL);
}
END_TEST

START_TEST(flag_names)
{
    ck_assert_str_eq(harness_flag_name(HARNESS_OK), "ok");
    ck_assert_str_eq(harness_flag_name(HARNESS_FEW), "few");
    ck_assert_str_eq(harness_flag_name(HARNESS_WIDE), "wide");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("harness");
    TCase *tc = tcase_create("harness");
    tcase_add_test(tc, no_sample);
    tcase_add_test(tc, one_sample);
    tcase_add_test(tc, two_samples);
    tcase_add_test(tc, odd_count);
    tcase_add_test(tc, even_count);
    tcase_add_test(tc, identical_samples);
    tcase_add_test(tc, single_outlier);
    tcase_add_test(tc, limit_is_inclusive);
    tcase_add_test(tc, unusable_median);
    tcase_add_test(tc, order_permutes_and_rotates);
    tcase_add_test(tc, order_varies);
    tcase_add_test(tc, run_interleaves_after_warmup);
    tcase_add_test(tc, warmup_minimum_and_single);
    tcase_add_test(tc, rewarm_before_each_timed_step);
    tcase_add_test(tc, rewarm_lasts_a_span_of_time);
    tcase_add_test(tc, run_failures);
    tcase_add_test(tc, paired_ratio_under_drift);
    tcase_add_test(tc, extra_rounds_while_wide);
    tcase_add_test(tc, flag_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
