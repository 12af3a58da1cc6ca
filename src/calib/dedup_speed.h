/* SPDX-License-Identifier: MIT */
/*
 * dedup_speed.h - of two views of the same hardware, keep the one that measures faster
 * for the workload (pure, no OpenCL).
 *
 * The device list (dedup.c) keeps one view of each piece of hardware before anything is
 * measured: for CPU devices, the one named first in a selection, else the one with the
 * most compute units, else the first listed.  Which runtime is faster depends on the
 * workload (Intel's CPU runtime beat POCL on softmax and lost on an MLP, issue 16), so
 * calibration measures the views set aside, each alone, and keeps the one whose solo
 * model predicts the shorter step (duplicates.c).  This file is the rule and its words.
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
 * The head of every such reason: "WIN replaces|kept over LOSE (name, platform, N compute
 * units), the same hardware: " into why (n bytes), then the rest as printf's fmt and its
 * arguments.  The words of hg__dedup_faster's reasons and of duplicates.c's notes.
 */
void hg__dedup_reason(char *why, size_t n, const hg_device_info *win, bool replaces,
                      const hg_device_info *lose, const char *fmt, ...)
    HG__PRINTF(6, 7);

#endif /* HG_DEDUP_SPEED_H */
