/* SPDX-License-Identifier: MIT */
/*
 * steal.h - work stealing within a step's round: a device that has run out
 * of its own planned work takes the unstarted tail of another device's part,
 * so that the devices finish together however far a step's times stray from
 * the cost models (docs/engine.md, "Stealing within a step").
 *
 * No OpenCL.  Each device's part of the round is its plan (plan.c), read as
 * a sequence of units: blocks (deterministic steps), positions of its index
 * list (index steps) or rows (range steps).  The owner claims units from the
 * front, in decreasing claims; a thief claims from the back of the device
 * predicted to finish last (its queued work, then its unclaimed units), as
 * many as equalise their predicted finish.  Every unit is claimed exactly once.  A claim is
 * copied, under the board's lock, into the claimer's own part plan, which
 * it then runs.
 *
 * After the round, hg__steal_settle rewrites each device's plan to what it
 * was responsible for: its own units up to where thieves took over, then
 * what it stole, in the order it stole them.  The plans then describe the
 * round exactly (a failed device's plan holds every row to recompute; a
 * device's records follow its plan's order), as if it had been planned so.
 * Deterministic steps steal whole blocks, so their bits do not change.
 *
 * Thread safety: one mutex per board.  hg__steal_claim may be called from
 * any worker; the others from the thread that runs the round.  A claim made
 * with an older generation than the board's (a device that overran its
 * deadline and returns after its round ended) gets nothing.
 */
#ifndef HG_STEAL_H
#define HG_STEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine_internal.h"

typedef struct hg__steal_board hg__steal_board;

/* What the round knows of one device when the board opens. */
typedef struct hg__steal_dev {
    bool   owner;     /* its plan takes part: others may steal from it */
    bool   thief;     /* it may steal (it holds every row: a full copy) */
    double unit_ms;   /* predicted ms per unit of work (> 0 when owner or thief) */
    double grain_ms;  /* the smallest claim worth a batch's fixed cost, in ms */
    size_t max_units; /* most units one claim may take (a batch's rows or blocks) */
} hg__steal_dev;

/* An empty, closed board; NULL when out of memory or a mutex cannot be made. */
hg__steal_board *hg__steal_create(void);
/* Free a board no thread uses any more; NULL: no-op. */
void hg__steal_destroy(hg__steal_board *b);

/*
 * Open the board for a round over plans[0..n) (not changed while the board
 * is open; the caller keeps them alive) with dev[0..n).  Returns the round's
 * generation (for hg__steal_claim), 0 when out of memory (then the board
 * stays closed and every claim gets nothing).
 */
uint64_t hg__steal_open(hg__steal_board *b, const hg__dev_plan *plans, const hg__steal_dev *dev,
                        size_t n);

/* What a claim gives the device. */
typedef enum hg__claim {
    HG__CLAIM_RUN,   /* units to run, in *part */
    HG__CLAIM_LATER, /* nothing now: ask again when its queued work is done */
    HG__CLAIM_DONE,  /* nothing left for it in the round */
} hg__claim;

/*
 * Device i's next claim in the round of generation gen, at time now
 * (hg__now_ms), drained: whether it has nothing queued.  Its own next units
 * while it has any unclaimed; else, when it is a thief, a tail of the
 * device predicted to finish last, as much as makes both finish together
 * (counting what each has queued), or LATER when that is too little to pay
 * for a batch yet while it still has work queued.  The claim replaces
 * *part.  DONE also when the round is over (another generation) or memory
 * ran out (*oom set: the caller fails the device, and its unclaimed units
 * go to the others).
 */
hg__claim hg__steal_claim(hg__steal_board *b, uint64_t gen, size_t i, double now, bool drained,
                          hg__dev_plan *part, bool *oom);

/*
 * Close the round (every later claim gets nothing) and rewrite plans[0..n)
 * to what each device was responsible for (above).  Returns the units
 * stolen in the round; SIZE_MAX when out of memory, leaving the plans as
 * they were, which then no longer describe the round: the caller must fail
 * the step.  A closed board: 0, no change.
 */
size_t hg__steal_settle(hg__steal_board *b, hg__dev_plan *plans, size_t n);

#endif /* HG_STEAL_H */
