/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the benchmark harness of hetgrad's benchmarks: configurations
 * timed interleaved over rounds, each warmed up first, summarised by robust
 * statistics and flagged when their spread is too wide to compare.
 *
 * Why: timing configuration A's repeats and then B's lets a slow phase of the
 * machine (another process, a frequency change, a cache or allocator state)
 * land on one configuration only.  One bench_gradient run with one device
 * timed "solo" at 3.81 ms and "equal"/"weighted" at 2.92/2.79 ms: the same
 * device, rows and kernel.  The harness instead runs, in round r, every
 * configuration once, in an order that changes from round to round, so drift
 * lands on every configuration alike; the paired per-round ratio removes most
 * of what is left.
 *
 * Use (pure C, no OpenCL, no globals; tools/harness.c):
 *
 *     harness_plan p;
 *     harness_plan_init(&p);          // defaults below
 *     p.nconfigs = 3; p.rounds = 9; p.sample = my_sample; p.ctx = &state;
 *     harness_result r;
 *     int rc = harness_run(&p, &r);   // warm-up, then rounds x configs calls
 *     ... r.stats[c].median, r.stats[c].flag, harness_paired_ratio(&r, a, b, &s) ...
 *     harness_result_free(&r);
 *
 * The sample function does one unit of work (one step) and reports its time
 * in milliseconds; it times itself (harness_now_ms()), so it can leave set-up
 * (setting weights, a parameter upload it does not want to count) outside.
 * A configuration that needs feedback from its previous step (a dynamic
 * scheduler) keeps its own state between calls: its steps stay in order,
 * only other configurations' steps come in between.
 *
 * Statistics (harness_stats_of): quartiles by linear interpolation between
 * order statistics (position p * (n - 1) in the sorted samples, numpy's and
 * R's default, type 7), so the median of an even count is the mean of the
 * two middle samples.  spread = (q3 - q1) / median.  The flag:
 *   HARNESS_FEW   fewer than HARNESS_MIN_SAMPLES samples: the spread is not
 *                 known, the median may be compared only with care;
 *   HARNESS_WIDE  spread > the plan's spread_limit (default
 *                 HARNESS_SPREAD_LIMIT, 10%), or a median <= 0 or not finite:
 *                 too noisy to compare with another configuration;
 *   HARNESS_OK    otherwise.
 * A run is flagged (harness_result.wide) when any configuration is WIDE.
 *
 * Re-warming (rewarm_ms): interleaving has a cost of its own.  A step that
 * follows another configuration's step starts cold: the other step evicted
 * its rows from the caches, or left threads busy.  In hetgrad-bench's
 * POCL pthread + basic + Oclgrind mix (8,192 rows, 25.7 MB of rows that stay
 * in a 32 MB L3 from step to step), a step run right after Oclgrind's
 * multi-second step took 5.5-7.2 ms where the same configuration otherwise
 * took 3.9-4.2 ms, and the best device alone's spread was 56-58%.  A training
 * loop runs one configuration step after step, so with rewarm_ms each timed
 * call comes right after an untimed call of its own configuration; calls
 * slower than rewarm_ms (where a cold start is a small part) are not doubled.
 * One untimed call is not enough for a step of a millisecond or two: on the
 * 2-vCPU development machine (2026-12-04), a configuration of POCL pthread
 * on 8,192 rows, interleaved with three others (that device alone, POCL basic
 * alone, both), took 2.00-2.08 ms a step on average after one untimed step
 * of its own and 1.52-1.58 ms after eight, while the pthread device alone
 * took 1.46-1.60 ms; POCL basic alone went from 3.94-3.97 ms to 2.52-2.64 ms.
 * So rewarm_span_ms makes a re-warm last a time, not a count of calls.
 */
#ifndef HG_HARNESS_H
#define HG_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Interquartile range over median above which a configuration is WIDE. */
#define HARNESS_SPREAD_LIMIT 0.10
/* The most untimed calls of one re-warm (harness_plan.rewarm_span_ms), and the span the
   benchmarks use (hetgrad-bench, bench_gradient). */
#define HARNESS_REWARM_CALLS_MAX 16
#define HARNESS_REWARM_SPAN_MS 12.0
/* Fewer samples than this: no spread is claimed (HARNESS_FEW). */
#define HARNESS_MIN_SAMPLES 3

/* harness_run()'s own failures (a sample function's failure is its positive code). */
#define HARNESS_EINVAL (-1) /* a plan field out of range */
#define HARNESS_ENOMEM (-2) /* an allocation failed */

typedef enum harness_flag {
    HARNESS_OK = 0,
    HARNESS_FEW,
    HARNESS_WIDE,
} harness_flag;

/* The summary of one set of samples (milliseconds, or ratios). */
typedef struct harness_stats {
    size_t n;           /* samples summarised; 0: every other field NAN, flag FEW */
    double median;      /* the 0.5 quantile */
    double q1, q3;      /* the 0.25 and 0.75 quantiles */
    double min, max;
    double spread;      /* (q3 - q1) / median; NAN when median <= 0 or not finite */
    harness_flag flag;  /* see the file comment */
} harness_stats;

/*
 * One timed (or warm-up) call: run configuration `config` once and store its
 * time in ms in *ms.  round is the timed round (0 .. rounds-1), or
 * HARNESS_WARMUP for a warm-up call, whose time only decides whether more
 * warm-up is needed.  Return 0, or a positive code to stop the run:
 * harness_run() then returns that code.
 */
#define HARNESS_WARMUP SIZE_MAX
typedef int (*harness_sample_fn)(void *ctx, size_t config, size_t round, double *ms);

typedef struct harness_plan {
    size_t   nconfigs;      /* >= 1 */
    size_t   rounds;        /* timed rounds, >= 1: each config runs once per round */
    size_t   rounds_max;    /* 0 (default): exactly `rounds` rounds; otherwise >= rounds:
                               after `rounds` rounds, while some config is HARNESS_WIDE,
                               one more round at a time, up to rounds_max rounds in all
                               and while budget_ms allows */
    double   budget_ms;     /* >= 0 (default 0: no limit): no extra round starts once this
                               long has passed since round 0 started */
    size_t   warmup;        /* untimed calls per config before round 0, >= 1 (default 1) */
    size_t   warmup_max;    /* >= warmup (default 4): after `warmup` calls, more (up to
                               warmup_max) while the config has not settled: its last two
                               calls differ by more than warmup_settle x the faster of
                               them (one call alone has not settled, so warmup_max >= 2
                               means at least two calls) */
    double   warmup_settle; /* >= 0 (default 0.25) */
    double   rewarm_ms;     /* >= 0 (default 0: off): before each timed call of a config
                               whose previous call (warm-up or timed) took less than this
                               long, one untimed call of the same config (HARNESS_WARMUP),
                               so that the timed call starts from the caches and state its
                               own step leaves, not from another config's (see above) */
    double   rewarm_span_ms; /* >= 0 (default 0: one call): a re-warm goes on, call after
                               call, until its calls add up to this long (at most
                               HARNESS_REWARM_CALLS_MAX calls), so that a short step is
                               timed after several milliseconds of its own (see above) */
    double   spread_limit;  /* > 0 (default HARNESS_SPREAD_LIMIT) */
    uint64_t seed;          /* the per-round order's seed (default 1) */
    harness_sample_fn sample;
    void    *ctx;           /* passed to sample; not owned */
} harness_plan;

/* Owned by the caller after harness_run(); release with harness_result_free(). */
typedef struct harness_result {
    size_t nconfigs, rounds;
    double *samples;        /* [config * rounds + round], ms */
    size_t *warmups;        /* [config]: warm-up calls made */
    harness_stats *stats;   /* [config] */
    bool   wide;            /* some configuration is HARNESS_WIDE */
    double spread_limit;    /* the plan's */
} harness_result;

/* The defaults above; nconfigs, rounds, sample and ctx zero. */
void harness_plan_init(harness_plan *p);

/* CLOCK_MONOTONIC in milliseconds (for sample functions). */
double harness_now_ms(void);

/*
 * The order of round `round` into order[0 .. n-1]: a permutation of 0..n-1,
 * shuffled from (seed, round), then rotated so that order[0] == round % n
 * (every configuration runs first equally often; who follows whom changes).
 * The same (n, round, seed) always gives the same order.  n == 0: nothing.
 */
void harness_order(size_t n, size_t round, uint64_t seed, size_t *order);

/*
 * Summary of v[0 .. n-1] into *out, flagged against spread_limit.  Sorts v in
 * place (pass a copy to keep the order).  n == 0 gives n 0, NAN fields and
 * flag FEW.
 */
void harness_stats_of(double *v, size_t n, double spread_limit, harness_stats *out);

/*
 * The plan's run: warm-up (each config in turn, harness_order's order of
 * round 0, until its warm-up rule is met), then p->rounds rounds of every
 * config once in harness_order(nconfigs, round, seed)'s order, and extra
 * rounds while some config is WIDE (rounds_max, budget_ms); then the
 * statistics over every round run (out->rounds says how many).  Returns 0 with *out filled; HARNESS_EINVAL or HARNESS_ENOMEM
 * (nothing to free); or the sample function's positive code (out is
 * released: nothing to free).
 */
int harness_run(const harness_plan *p, harness_result *out);

/* Release what harness_run() allocated; NULL or a released result: no-op. */
void harness_result_free(harness_result *r);

/*
 * Per-round paired ratio samples[num][r] / samples[den][r], summarised into
 * *out (with the result's spread_limit).  Under drift between rounds its
 * median is steadier than the ratio of medians.  Returns 0, HARNESS_EINVAL
 * for a config out of range, HARNESS_ENOMEM.
 */
int harness_paired_ratio(const harness_result *r, size_t num, size_t den, harness_stats *out);

/* "ok", "few" or "wide". */
const char *harness_flag_name(harness_flag f);

#endif /* HG_HARNESS_H */
