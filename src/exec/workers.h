/* SPDX-License-Identifier: MIT */
/*
 * workers.h - one persistent host thread per engine device (workers.c).
 *
 * Used by the engine's rounds (round.c), predictions (forward.c) and the
 * fission trial (fission.c): each posts a job to the worker of every device
 * with rows, then waits for them.  Not thread-safe for posters: one engine is
 * used from one thread at a time (docs/engine.md), and so is its pool.
 * In a child made by fork() a copied pool runs nothing: every job is refused
 * and runs on the caller's thread (workers.c).
 */
#ifndef HG_WORKERS_H
#define HG_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hg__workers hg__workers;

/* A job: runs on the worker's thread, owns nothing of the pool. */
typedef void (*hg__job_fn)(void *arg);

/*
 * A pool of n workers (n >= 1), none started: a worker's thread is created
 * by the first job posted to it.  NULL when out of memory or a mutex or
 * condition variable cannot be made.
 */
hg__workers *hg__workers_create(size_t n);

/*
 * Stop every worker and join its thread; a worker still inside a job (a
 * device that overran its deadline, stalled in its driver) is waited for,
 * however long that takes.  A job posted and not yet taken still runs first.
 * NULL: no-op.
 */
void hg__workers_destroy(hg__workers *p);

/*
 * Run fn(arg) on worker i's thread, creating the thread on first use.  False
 * (nothing posted) when i is out of range, worker i is still busy with an
 * earlier job, or its thread cannot be created: the caller then runs
 * fn(arg) itself.
 */
bool hg__workers_post(hg__workers *p, size_t i, hg__job_fn fn, void *arg);

/* Whether worker i has a job posted or running.  Once false, every write of
   the job is visible to the caller. */
bool hg__workers_busy(hg__workers *p, size_t i);

/* Jobs finished so far, for hg__workers_wait. */
uint64_t hg__workers_finished(hg__workers *p);

/*
 * Block until a job finishes after hg__workers_finished returned seen, or
 * until hg__now_ms() reaches until_ms (INFINITY: no limit).  Returns at once
 * when a job finished in between; may return early (the caller rechecks).
 */
void hg__workers_wait(hg__workers *p, uint64_t seen, double until_ms);

/* Block until worker i is not busy (no limit). */
void hg__workers_wait_idle(hg__workers *p, size_t i);

/* Threads created over the pool's life (tests: one per worker at most). */
size_t hg__workers_threads(hg__workers *p);

#endif
