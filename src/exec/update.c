/* SPDX-License-Identifier: MIT */
/*
 * update.c - a training step's optimizer update (hg_engine_step and
 * hg_engine_step_rows), on the caller's thread alone or split over it and the
 * devices' idle workers.
 *
 * The update runs after every device has finished the step, so the devices'
 * worker threads (workers.c) wait for work and, on a CPU device, the cores
 * its runtime computes on are idle.  Every parameter's update depends on its
 * own gradient and optimizer state only (optimizer_internal.h), so the
 * parameters can be cut into ranges, one for the caller and one for each of up
 * to UPDATE_MAX_PARTS - 1 workers, each range giving the bits it would give
 * alone: the same bits as one thread, whatever the split
 * (test_train_step's update_parts_same_bits).
 *
 * Whether the split pays is measured, not guessed.  A worker starts a wake-up
 * after it is posted, and the next step reads the parameters it wrote from
 * another core's cache (the finite check, the upload).  On the 2-core Xeon,
 * bench_train's MLP 784-256-10 (203,530 parameters) with every update split
 * (a build without the trial, 2026-12-05): Adam went from 0.99-1.00 to
 * 1.22-1.23 x the OpenBLAS loop on POCL's pthread device, SGD from 1.00-1.03
 * to 1.12; on POCL's basic device, which runs its kernels on the caller's
 * thread, Adam 1.04-1.06 to 1.07-1.08 but SGD 1.07-1.10 down to 0.93-0.94
 * (docs/engine.md, "A step", has the trial's figures).  So an engine tries
 * both: a trial of 2 x TRIAL_PAIRS blocks of BLOCK updates, split and not
 * in turn, times each step from its start to the update's end (the first
 * step of a block, which pays for the block before it, is not counted) and
 * keeps the split only when its median step is at least TRIAL_MARGIN faster.
 * The trial starts after FIRST_TRIAL updates (the first steps check kernels
 * and settle) and runs again every RETRIAL updates; SGD and Adam (2 and 5
 * arrays a parameter, and Adam's divisions) are tried apart.  Models under
 * UPDATE_MIN_PARAMS parameters, or a process allowed one CPU, are never
 * split.  A worker that
 * cannot take its part (busy: its device stalled past a deadline; or in a
 * child after fork()) leaves it to the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "optimizer_internal.h"
#include "workers.h"

#define UPDATE_MIN_PARAMS 65536u /* fewer: the caller's thread alone, never tried */
#define UPDATE_MAX_PARTS 4u      /* a memory-bound loop: more threads add little */
#define UPDATE_ALIGN 64u         /* range boundaries, in parameters: 256 bytes of
                                    floats, 512 of the state's doubles (no cache line
                                    written by two threads) */
#define BLOCK 4u                 /* updates a block of a trial */
#define TRIAL_PAIRS 3u           /* blocks of each setting a trial */
#define TRIAL_MARGIN 0.98        /* split kept when its median step <= this x one part's */
#define FIRST_TRIAL 64u          /* updates before the first trial */
#define RETRIAL 1024u            /* updates from one trial to the next */

typedef struct update_part {
    hg_optimizer      *opt;
    const hg__adam_k  *k;
    float             *params;
    const float       *rec;
    const double      *sums;
    double             count;
    size_t             lo, hi;
} update_part;

static void run_part(void *arg)
{
    const update_part *u = arg;
    hg__optimizer_mean_range(u->opt, u->k, u->params, u->rec, u->sums, u->count, u->lo,
                             u->hi);
}

/* The most parts the update of P parameters may take (1: never split). */
static size_t most_parts(const hg_engine *eng, size_t P)
{
    size_t most = eng->ndev + 1; /* a worker per device, and the caller */
    if (most > UPDATE_MAX_PARTS)
        most = UPDATE_MAX_PARTS;
    if (eng->update_parts) /* a knob: exactly that, as far as there are workers */
        return eng->update_parts < most ? eng->update_parts : most;
    if (P < UPDATE_MIN_PARAMS || eng->host_cpus < 2)
        return 1;
    return (size_t)eng->host_cpus < most ? (size_t)eng->host_cpus : most;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Position of the current update in a trial: 0 .. 2 TRIAL_PAIRS BLOCK - 1; -1 outside. */
static long trial_pos(const hg__update_trials *u)
{
    uint64_t len = 2u * TRIAL_PAIRS * BLOCK;
    return u->updates >= u->next_trial && u->updates < u->next_trial + len
               ? (long)(u->updates - u->next_trial)
               : -1;
}

/* The parts of this update: the knob's, a trial's turn, or the last trial's verdict. */
static size_t parts_now(const hg_engine *eng, hg__update_trials *u, size_t most)
{
    if (u->parts == 0) { /* the first update of this kind */
        u->parts = 1;
        u->next_trial = FIRST_TRIAL;
    }
    if (eng->update_parts || most < 2)
        return most;
    long q = trial_pos(u);
    if (q < 0)
        return u->parts < most ? u->parts : most;
    return (q / BLOCK) % 2 == 0 ? most : 1; /* split first, then one part, in turn */
}

/* After a trial's update: its step's time counted; the verdict after the last one. */
static void note_trial(hg_engine *eng, hg__update_trials *u, size_t most)
{
    long q = trial_pos(u);
    if (eng->update_parts || most < 2 || q < 0)
        return;
    if (q == 0)
        memset(u->n, 0, sizeof u->n);
    bool split = (q / BLOCK) % 2 == 0;
    if (q % BLOCK != 0 && u->n[split] < HG__UPDATE_SAMPLES)
        u->ms[split][u->n[split]++] = hg__now_ms() - eng->step_t0;
    if ((uint64_t)q + 1 < 2u * TRIAL_PAIRS * BLOCK || !u->n[0] || !u->n[1])
        return;
    double one = median(u->ms[0], u->n[0]), many = median(u->ms[1], u->n[1]);
    u->parts = many <= TRIAL_MARGIN * one ? most : 1;
    u->next_trial += RETRIAL;
    hg__log(&eng->log, HG_LOG_DEBUG, "training update: a step took %.3g ms (median) with "
            "the update in %zu parts, %.3g ms in one: %zu from now on", many, most, one,
            u->parts);
}

void hg__step_update(hg_engine *eng, hg_optimizer *opt, float *params, const float *rec,
                     const double *sums, double count)
{
    const size_t P = hg__optimizer_count(opt);
    hg__adam_k k;
    hg__optimizer_begin(opt, &k);
    hg__update_trials *u = &eng->upd[hg__optimizer_kind(opt) == HG_OPTIMIZER_ADAM];
    size_t most = most_parts(eng, P), n = parts_now(eng, u, most);
    update_part part[UPDATE_MAX_PARTS];
    bool posted[UPDATE_MAX_PARTS] = {false};
    /* ranges of `each` parameters (UPDATE_ALIGN boundaries), the last one shorter: the
       caller's is the first, as it starts at once and the workers a wake-up later */
    size_t each = (P / n + UPDATE_ALIGN - 1) / UPDATE_ALIGN * UPDATE_ALIGN, at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t hi = i + 1 == n || at + each > P ? P : at + each;
        part[i] = (update_part){opt, &k, params, rec, sums, count, at, hi};
        at = hi;
    }
    for (size_t i = 1; i < n; i++) /* part i on worker i - 1 */
        posted[i] = part[i].lo < part[i].hi &&
                    hg__workers_post(eng->pool, i - 1, run_part, &part[i]);
    run_part(&part[0]);
    for (size_t i = 1; i < n; i++)
        if (!posted[i])
            run_part(&part[i]);
    for (size_t i = 1; i < n; i++)
        if (posted[i])
            hg__workers_wait_idle(eng->pool, i - 1);
    note_trial(eng, u, most);
    u->updates++;
}
