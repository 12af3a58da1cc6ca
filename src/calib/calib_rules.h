/* SPDX-License-Identifier: MIT */
/*
 * calib_rules.h - the pure decisions of calibration (no OpenCL): when a
 * kernel candidate is out of the timing race, when a size has been timed
 * often enough, and whether a fissioned CPU device pays (fission.c).  Kept
 * apart so that the unit tests can give them scripted figures and expect
 * exact answers.
 */
#ifndef HG_CALIB_RULES_H
#define HG_CALIB_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* A candidate whose fastest time is more than this times the fastest
   candidate's fastest time is out of the race: clearly slower. */
#define HG__RACE_MARGIN 1.5

/*
 * One round of a kernel-choice race is over: fastest[k] is candidate k's
 * cost so far (lower is better: its score, hg__race_scores), alive[k]
 * whether it is still timed.  Clears alive[k] for every live candidate whose
 * fastest[k] exceeds HG__RACE_MARGIN times the smallest fastest[] among the
 * live ones (a NaN or negative cost also drops it).  Returns how many stay
 * alive (0 only when none was).
 */
size_t hg__race_prune(const double *fastest, bool *alive, size_t n);

/* The most sweeps a race keeps times of (hg__race_plan: rounds x sweeps). */
#define HG__RACE_MAX_SWEEPS 24
/* Candidates are put out (hg__race_prune on their scores) only once this many sweeps
   have timed them: a race of one sweep a round (a batch unknown, or long runs) put
   out after its first round a candidate whose one visit fell in a slow stretch
   (docs/kernels.md, "Racing in sweeps"). */
#define HG__RACE_PRUNE_SWEEPS 2

/*
 * The candidates' scores after ns sweeps of a race (profile.c).  In a sweep every
 * racing candidate is timed once in turn, so the sweep's times share the machine's
 * state of that moment: t[k * stride + s] is candidate k's time in sweep s (ms; not a
 * positive finite number: not timed there).  A sweep's reference is the least time
 * of the counted candidates timed in it (counted[k]: its times count, NULL: all),
 * and score[k] the median over the sweeps that timed k of its time over the
 * reference (1: the fastest of every sweep); INFINITY for a candidate never timed or
 * not counted.  A machine that is twice as slow for a while (another process, a
 * virtual CPU descheduled, POCL's threads sharing one core) slows a whole sweep
 * alike, and the ratios cancel it, where the times of candidates timed one after
 * another each in its own stretch of time did not: on the 2-vCPU AMD EPYC with
 * POCL's threads unpinned, such races ranked the MLP's 12 candidates at random
 * (docs/kernels.md, "Racing in sweeps").
 */
void hg__race_scores(const double *t, size_t stride, size_t nc, size_t ns,
                     const bool *counted, double *score);

/* Spread below which a size's timings are settled: (max - min) / median. */
#define HG__SETTLED_SPREAD 0.05

/*
 * Whether the n timings ms[0..n) of one size are settled enough to stop
 * repeating: n >= 3 and (max - min) <= HG__SETTLED_SPREAD * median.  Does not
 * reorder ms.  false for n < 3 or any non-finite or negative time.
 */
bool hg__timings_settled(const double *ms, size_t n);

/*
 * Re-warming before a timed joint step.  A step of a millisecond or two that
 * follows other work (another plan, another device set) runs slow for
 * several steps, not one: on the 2-vCPU development machine (2026-12-04) POCL
 * pthread's 8,192-row step took 2.00-2.08 ms on average after one step of its
 * own and 1.52-1.58 ms after eight (tools/harness.h).  Calibration compares
 * such steps in turn (fission.c, and the subsets of joint.c), so each timed
 * step that is shorter than HG__REWARM_BELOW_MS comes after untimed steps of
 * its own plan: one, then more while hg__rewarm_more says so.
 */
#define HG__REWARM_BELOW_MS 20.0
#define HG__REWARM_SPAN_MS 12.0
#define HG__REWARM_CALLS_MAX 16

/* Whether to run one more untimed step, after `calls` of them that took spent_ms in all:
   true for the first, then while spent_ms < HG__REWARM_SPAN_MS, for at most
   HG__REWARM_CALLS_MAX calls.  false once spent_ms is not a number. */
bool hg__rewarm_more(double spent_ms, size_t calls);

/*
 * A device's probe (profile.c): its first run was the warm-up, and a second one is
 * timed, unless its kernels ran on the same rows before (their check: nothing left to
 * compile) and that first run took HG__REWARM_BELOW_MS or more, long enough to need
 * no warming: then it is the probe.  first_ms not a number: a second run.
 */
bool hg__probe_again(bool ran_these_rows, double first_ms);

/* A fissioned device is kept when the joint step is faster by more than this
   fraction of the full device's joint step (the rest is noise). */
#define HG__FISSION_MARGIN 0.03

/*
 * The compute units to give a CPU device of `units` units when other
 * devices are in use beside it (others: how many): one fewer, so that the
 * host threads that feed the others (a GPU queue, POCL basic, Oclgrind) get
 * a core.  0 (do not fission) when units < 2 or others == 0.
 */
unsigned hg__fission_units(unsigned units, size_t others);

/*
 * The rows of the step that calibration's decisions are made for (which of
 * two views of the same hardware to keep, which devices run together): the
 * engine's step size when the caller said it (batch_rows > 0, e.g.
 * hetgrad-train's --batch), else min(data_rows, max_rows); never more than
 * data_rows.  A device's fixed cost weighs on a 128-row step as it does not
 * on a 65,536-row one, so the answer differs (docs/engine.md).
 */
size_t hg__decision_rows(size_t data_rows, size_t batch_rows, size_t max_rows);

/*
 * Whether a device whose probe (its first 64 rows, one run) took probe_ms is
 * too slow to race its kernel candidates, against the fastest device's
 * fastest_ms (0: unknown, never): more than HG__RACE_SKIP_RATIO times it and at
 * least HG__RACE_SKIP_MS.  A fast device's probe is tens of microseconds, so
 * one descheduled run is 100 times that: the floor keeps such a run from
 * counting, and the caller asks a second run to agree.
 */
#define HG__RACE_SKIP_RATIO 100.0
#define HG__RACE_SKIP_MS 10.0
bool hg__race_skip(double probe_ms, double fastest_ms);

/*
 * Whether a job predicted to take job_ms with a device's default kernels is too
 * short to race its candidates (of them, the default included): less than
 * HG__RACE_CANDIDATE_MS for each candidate but the default, which is about the
 * least building, checking and timing one costs: with every compiler cache warm
 * (POCL on an AMD EPYC raced 14 softmax candidates in 0.83 s with its kernel cache
 * warm and 5.2 s cold, docs/kernels.md).  Such a race costs more than the whole
 * job, which it could at best make a few times faster.  false when job_ms is not
 * finite and >= 0 (unknown: race) or candidates < 2.
 */
#define HG__RACE_CANDIDATE_MS 60.0
bool hg__race_short_job(double job_ms, size_t candidates);

/*
 * Whether a job predicted to take job_ms on the device the list kept is too short to
 * try the other views of its hardware (duplicates.c): less than HG__TRIAL_MS, about
 * the least a trial costs (the view opened, its programs built, its cost model
 * fitted: that alone takes about 150 ms; measured on an AMD EPYC, 2026-12-06, a
 * trial of POCL's basic beside pthread cost 0.34-0.43 s with POCL's kernel cache
 * warm).  false when job_ms is not finite and >= 0 (unknown: try).
 */
#define HG__TRIAL_MS 200.0
bool hg__trial_short_job(double job_ms);

/*
 * Whether the fissioned device pays: the joint step with it (fissioned_ms)
 * is faster by more than HG__FISSION_MARGIN than both the joint step with
 * the full device (full_ms) and the full device alone on the same rows
 * (alone_ms, timed beside them, or predicted by its solo model; not finite
 * or <= 0: unknown, not compared), which is what the devices are measured against afterwards: a
 * fissioned device beside others that are together slower than the whole
 * device alone would be kept for a split that should not exist.  false when
 * full_ms or fissioned_ms is not finite and positive.
 */
bool hg__fission_pays(double full_ms, double fissioned_ms, double alone_ms);

/*
 * The fission trial's decision over n rounds, each timing the joint step with the full
 * device, with it fissioned and the full device alone, one after another (alone[r] not
 * finite: unknown): the fissioned device pays when hg__fission_pays holds for a round's
 * own three times in more than half of the rounds.  Comparing within a round cancels a
 * drift of the machine's speed between rounds, which medians taken apart do not: on
 * POCL's shared cores, medians of 16.3 ms fissioned against 16.9 ms alone kept a
 * fissioned device that then ran 7% slower than the device whole and alone.
 * *won: the rounds in which it paid.  false for n == 0.
 */
bool hg__fission_pays_rounds(const double *full_ms, const double *fissioned_ms,
                             const double *alone_ms, size_t n, size_t *won);

/*
 * Of n runs of the same joint step whose makespans are span[0..n), the one to keep:
 * the run of median makespan (the upper median for an even n; of equal makespans the
 * last), so that every device's time comes from one run that a step had.  Per-device
 * medians come from different runs, and their largest is below the median step when
 * the devices take turns being late.  0 when n is 0.
 */
size_t hg__median_run(const double *span, size_t n);

#endif /* HG_CALIB_RULES_H */
