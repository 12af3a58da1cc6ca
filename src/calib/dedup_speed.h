/* SPDX-License-Identifier: MIT */
/*
 * dedup_speed.h - of two views of the same hardware, keep the one that measures faster
 * for the workload (pure, no OpenCL).
 *
 * The device list (dedup.c) keeps one view of each piece of hardware before anything is
 * measured: for CPU devices, the one named first in a selection, else the one with the
 * most compute units, else the first listed.  Which runtime is faster depends on the
 * workload (Intel's CPU runtime beat POCL on softmax and lost on an MLP, issue 16), so
 * calibration measures the views set aside, each alone, and keeps the faster at the step
 * size: views of one compiler timed in turn with the kept device, others by their solo
 * models (duplicates.c).  This file is the rule and its words.
 */
#ifndef HG_DEDUP_SPEED_H
#define HG_DEDUP_SPEED_H

#include <stdbool.h>
#include <stddef.h>

#include "sched/costmodel.h"
#include "internal.h"

/*
 * Should dup replace kept, both views of the same hardware, for steps of rows rows?  Each
 * one's time is predicted by its solo model (km, dm); dup replaces kept only when its
 * prediction is strictly shorter, or when kept's model is invalid and dup's valid.  An
 * invalid dup model never replaces.  why (n bytes, may be NULL) receives the reason, which
 * names the device that stays, then the other (id, name, platform, compute units) and
 * both predictions, e.g.
 *
 *   "cpu1 replaces cpu0 (Fake CPU A, Fake Platform A, 16 compute units), the same
 *    hardware: alone, a step of 65536 rows is predicted to take 10 ms on cpu1, 20 ms on
 *    cpu0; cpu0 gets no rows"
 *
 * ("cpu0 kept over cpu1 ..." when kept stays; "..., the same hardware: it could not be
 * calibrated; ..." when the other has no model).  kept, dup and the models must not be NULL.
 */
bool hg__dedup_faster(const hg_device_info *kept, const hg__cost_model *km,
                      const hg_device_info *dup, const hg__cost_model *dm, size_t rows,
                      char *why, size_t n);

/*
 * The turns of a trial (duplicates.c): both views timed back to back on the same rows,
 * round after round, so that what the machine does meanwhile (another process taking a
 * core for a second) hits both alike, where the solo models were fitted one after the
 * other.  HG__DEDUP_TURNS rounds, HG__DEDUP_ROUNDS_MAX in all when those are close
 * (hg__dedup_turns_close); each view's step at most about HG__DEDUP_TURN_MS, and each
 * view warmed again before its turn (about 12 ms of untimed runs: three rounds cost
 * 108-118 ms for the MLP's 128-row step).  The rules below read at most
 * HG__DEDUP_ROUNDS_MAX rounds.
 */
#define HG__DEDUP_TURNS 3u
#define HG__DEDUP_RECHECK_TURNS 1u /* a warm start's check (hg__dedup_recheck): its
                                      margin covers the noise of one round */
#define HG__DEDUP_ROUNDS_MAX 8u
#define HG__DEDUP_TURN_MS 5.0

/* The rows the turns time: rows, scaled down so that the longer of the two predicted
   steps (pk, pd, ms: the solo models' for rows rows) takes about HG__DEDUP_TURN_MS, at
   most have (the rows both views hold) and at least 1. */
size_t hg__dedup_turn_rows(size_t rows, double pk, double pd, size_t have);

/*
 * hg__dedup_faster, judged by the turns instead: kept_ms[r] and dup_ms[r] are round r's
 * times of the two views on turn_rows rows (rounds of them, at most HG__DEDUP_ROUNDS_MAX
 * read).  dup replaces kept only when the median over the rounds of dup_ms[r] /
 * kept_ms[r] is under 1 (a tie keeps the list's choice).  A round with a time that is
 * not a finite positive number is left out; with none left the solo models decide
 * (hg__dedup_faster, and its reason).  The models' predictions for rows rows follow the
 * turns in the reason, e.g.
 *
 *   "cpu0 kept over cpu1 (Fake CPU B, Fake Platform A, 1 compute unit), the same
 *    hardware: timed in turn on 128 rows, 5 rounds, cpu1 took a median 1.65 times as
 *    long as cpu0 (medians 1.41 ms and 0.86 ms); alone, a step of 128 rows was
 *    predicted to take 1.26 ms on cpu0, 0.628 ms on cpu1; cpu1 gets no rows"
 *
 * (the models, fitted one after the other, can be misled by another process that takes
 * a core during one fit; the turns compare the two in the same moments).
 */
bool hg__dedup_turns(const hg_device_info *kept, const hg__cost_model *km,
                     const double *kept_ms, const hg_device_info *dup,
                     const hg__cost_model *dm, const double *dup_ms, size_t rounds,
                     size_t turn_rows, size_t rows, char *why, size_t n);

/*
 * Whether the turns so far are too close to decide on (duplicates.c then takes
 * HG__DEDUP_ROUNDS_MAX rounds in all, and those decide): the median over the valid
 * rounds (as hg__dedup_turns reads them) of dup_ms[r] / kept_ms[r] is within
 * HG__DEDUP_CLOSE of 1 either way, or no round is valid, while fewer than
 * HG__DEDUP_ROUNDS_MAX rounds were read.  Three rounds of POCL's pthread and basic
 * devices on the MLP's 128-row step (the tiled path, then the default kernels) once
 * measured them at 1.19 and 1.2 ms, where pthread's step took 0.69-0.87 ms in most
 * calibrations: a median ratio of 1/1.07, and basic replaced pthread (bench_gradient,
 * 2026-12-07; in another run that kept basic so, its steps took 1.09 ms where
 * pthread's take 0.62-0.70).
 */
#define HG__DEDUP_CLOSE 1.2
bool hg__dedup_turns_close(const double *kept_ms, const double *dup_ms, size_t rounds);

/*
 * An earlier verdict between two views, checked by turns (kept_ms, dup_ms, as for
 * hg__dedup_turns): dup_won says whether dup won it.  It is overturned only when the
 * earlier loser's median time over the earlier winner's is under 1 / HG__DEDUP_OVERTURN.
 * Returns whether dup computes now.  A verdict made while another process took a core
 * is undone on a later start, and two views within the margin keep the same one start
 * after start.  why (n bytes, may be NULL): with the turns' words of hg__dedup_turns,
 * e.g. "cpu0 kept over cpu1 (...), the same hardware: cpu1 lost to cpu0 when both were
 * measured on the same kernels (its profile, from the cache, was not raced after), and
 * now, timed in turn on 128 rows, 5 rounds, cpu1 took a median 0.95 times as long as cpu0
 * (medians ...); the verdict stands unless cpu1 takes under 1/1.1 of cpu0's time; cpu1
 * gets no rows", or "cpu1 replaces cpu0 (...), the same hardware: cpu1 had lost to cpu0
 * when both were measured on the same kernels, but now, timed in turn ..., cpu0 took a
 * median 1.3 times as long as cpu1 (...), more than 1.1 times: the earlier verdict is
 * overturned; cpu0 gets no rows".
 */
#define HG__DEDUP_OVERTURN 1.1
bool hg__dedup_recheck(const hg_device_info *kept, const double *kept_ms,
                       const hg_device_info *dup, const double *dup_ms, bool dup_won,
                       size_t rounds, size_t turn_rows, char *why, size_t n);

/*
 * The head of every such reason: "WIN replaces|kept over LOSE (name, platform, N compute
 * units), the same hardware: " into why (n bytes), then the rest as printf's fmt and its
 * arguments.  The words of hg__dedup_faster's reasons and of duplicates.c's notes.
 */
void hg__dedup_reason(char *why, size_t n, const hg_device_info *win, bool replaces,
                      const hg_device_info *lose, const char *fmt, ...)
    HG__PRINTF(6, 7);

#endif /* HG_DEDUP_SPEED_H */
