/* SPDX-License-Identifier: MIT */
/*
 * race_rows.c - at which row counts calibration races a device's kernel
 * candidates (profile.c's race), and how many timed runs each round takes.
 *
 * With the batch size unknown (hg_engine_options.batch_rows 0) the race runs
 * on about 50 ms' worth of rows, one timed run per candidate and round, as it
 * always did.  With a batch size B the kernels are timed at the rows the
 * device will compute of such a step: its expected share of B (by the
 * engine's weights over the devices that may take rows, in whole blocks in
 * deterministic mode) and, when that differs, the whole of B (the device
 * computing alone: joint calibration may leave the others out), with enough
 * runs to fill about 20 ms a round, since a 128-row step takes tens of
 * microseconds and one run of it is mostly noise.  A batch that takes the
 * device over 200 ms (Oclgrind on thousands of rows) is raced as an unknown
 * one: at its size one race took 40-70 s of a calibration.
 *
 * A round's runs are taken in sweeps (profile.c's race): in each sweep every
 * candidate in turn has a visit of one warm-up run and up to 3 timed runs a
 * size (the visit's time: the sum over the sizes of their medians), so that
 * every candidate is timed in every stretch of the round, not each in its own
 * (calib_rules.h, hg__race_scores).  The sweeps' warm-ups fit in the time a
 * round took when each candidate had one warm-up and its runs in a row:
 * sweeps x (per + 1) runs is about the 20 ms' runs + 1.
 */
#include "calib_rules.h"
#include "engine_internal.h"

#define RACE_MS 50.0      /* unknown batch: rows timed per run */
#define REP_MS 20.0       /* known batch: time filled by one round's runs */
#define MAX_REPS 25
#define SLOW_MS 200.0     /* a round longer than this: one round only */
#define VISIT_RUNS 3      /* the most timed runs a size in one visit */

static size_t clamp(double n, size_t lo, size_t hi)
{
    if (!(n >= (double)lo))
        return lo;
    if (n >= (double)hi)
        return hi;
    return (size_t)n;
}

size_t hg__batch_share(const hg_engine *eng, size_t i, size_t batch)
{
    double sum = 0;
    for (size_t k = 0; k < eng->ndev; k++)
        if (!eng->dev[k].quarantined && eng->weight[k] > 0)
            sum += eng->weight[k];
    double w = eng->dev[i].quarantined ? 0 : eng->weight[i];
    if (!(sum > 0) || !(w > 0))
        return batch;
    size_t share = (size_t)((double)batch * w / sum + 0.5);
    if (eng->det && eng->block_rows) { /* shares are whole blocks */
        size_t b = eng->block_rows;
        share = (share + b - 1) / b * b;
    }
    if (share < 1)
        share = 1;
    return share < batch ? share : batch;
}

void hg__race_plan(const hg_engine *eng, size_t i, size_t cap, double per_row, hg__race *out)
{
    double pr = per_row > 1e-9 ? per_row : 1e-9;
    size_t np = cap < 64 ? cap : 64;
    *out = (hg__race){.reps = 1, .per = 1, .sweeps = 1, .rounds = 3};
    size_t whole = eng->batch_rows < cap ? eng->batch_rows : cap;
    size_t share = hg__batch_share(eng, i, eng->batch_rows);
    share = share < cap ? share : cap;
    /* A batch the device needs more than SLOW_MS for (a simulator, a slow device
       given a large batch) is no small batch: its kernels are raced as with the
       batch unknown, on about RACE_MS of rows, or one race would take seconds */
    if (eng->batch_rows == 0 || pr * (double)(share + (whole != share ? whole : 0)) > SLOW_MS) {
        size_t n = clamp(RACE_MS / pr, np, cap);
        out->rows[0] = n;
        out->rounds = pr * (double)n > SLOW_MS ? 1 : 3;
        /* the warm-up that starts each visit: 64 rows, or an eighth of the timed
           rows where that is less (Oclgrind, timed on tens of rows) */
        out->warm = n / 8 < np ? (n / 8 ? n / 8 : 1) : np;
        return;
    }
    out->rows[0] = share;
    out->rows[1] = whole != share ? whole : 0;
    double one = pr * (double)(out->rows[0] + out->rows[1]);
    int budget = (int)clamp(REP_MS / one, 1, MAX_REPS);
    out->rounds = one * budget > SLOW_MS ? 1 : 3;
    out->per = budget < VISIT_RUNS ? budget : VISIT_RUNS;
    out->sweeps = (budget + 1) / (out->per + 1);
    int most = HG__RACE_MAX_SWEEPS / out->rounds;
    out->sweeps = out->sweeps < 1 ? 1 : out->sweeps > most ? most : out->sweeps;
    out->reps = out->sweeps * out->per;
    out->warm = share;
}
