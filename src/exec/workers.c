/* SPDX-License-Identifier: MIT */
/*
 * workers.c - one persistent host thread per engine device.
 *
 * Design.  A pool has one worker per device.  A worker's thread is created
 * by the first job posted to it (an engine that never runs devices in
 * parallel creates none) and lives until the pool is destroyed, so a step
 * costs a wake-up per device instead of a pthread_create and a join.
 *
 * The queue is one job slot per worker: a device computes one thing at a
 * time, and a poster that finds its worker busy runs the job itself.  All
 * state is under one mutex (the pool's lock); each worker sleeps on its own
 * condition variable `go` (signalled when a job is posted or the pool
 * stops), and the poster sleeps on `done` (broadcast when any job finishes),
 * counting finished jobs so that a wake-up between its check and its wait
 * is never lost.  `done` measures CLOCK_MONOTONIC, the clock of hg__now_ms()
 * from which deadlines are computed (clock.h).
 *
 * A worker whose job overruns a deadline is simply left alone: its slot stays
 * busy until the job returns, nothing is posted to it meanwhile, and
 * hg__workers_destroy joins it after it returns.
 *
 * A pool copied into a child by fork() has no threads there, and its lock
 * and condition variables may be caught mid-use: there it touches neither,
 * refuses every job (the caller runs it itself), reports every worker idle,
 * and destroy only frees its memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "workers.h"

typedef struct worker {
    struct hg__workers *pool;
    pthread_t           thread;
    pthread_cond_t      go;         /* a job posted, or the pool stopping */
    bool                has_thread; /* created, not joined */
    hg__job_fn          fn;         /* posted, not yet taken (NULL: none) */
    void               *arg;
    bool                busy;       /* posted or running */
} worker;

struct hg__workers {
    pthread_mutex_t lock;     /* everything below, and every worker's fields */
    pthread_cond_t  done;     /* CLOCK_MONOTONIC: a job finished */
    uint64_t        finished; /* jobs finished so far */
    size_t          threads;  /* threads created so far */
    bool            quit;     /* destroying: workers return once idle */
    size_t          n;
    size_t          ngo;      /* workers whose `go` is initialised */
    pid_t           pid;      /* the process whose threads these are */
    worker         *w;        /* n */
};

/* A copy of the pool in a fork()ed child. */
static bool forked(const hg__workers *p)
{
    return getpid() != p->pid;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    hg__workers *p = w->pool;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!w->fn && !p->quit)
            pthread_cond_wait(&w->go, &p->lock);
        if (!w->fn)
            break; /* stopping, nothing left to run */
        hg__job_fn fn = w->fn;
        void *a = w->arg;
        w->fn = NULL;
        pthread_mutex_unlock(&p->lock);
        fn(a);
        pthread_mutex_lock(&p->lock);
        w->busy = false;
        p->finished++;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

hg__workers *hg__workers_create(size_t n)
{
    hg__workers *p = n ? calloc(1, sizeof *p) : NULL;
    if (p)
        p->w = calloc(n, sizeof *p->w);
    if (!p || !p->w || pthread_mutex_init(&p->lock, NULL) != 0)
        goto out_free;
    if (hg__cond_init_monotonic(&p->done) != 0)
        goto out_mutex;
    p->n = n;
    p->pid = getpid();
    for (; p->ngo < n; p->ngo++) {
        p->w[p->ngo].pool = p;
        /* waited on without a time limit: the default clock will do */
        if (pthread_cond_init(&p->w[p->ngo].go, NULL) != 0) {
            hg__workers_destroy(p);
            return NULL;
        }
    }
    return p;
out_mutex:
    pthread_mutex_destroy(&p->lock);
out_free:
    if (p)
        free(p->w);
    free(p);
    return NULL;
}

void hg__workers_destroy(hg__workers *p)
{
    if (!p)
        return;
    if (forked(p)) {
        free(p->w);
        free(p);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    for (size_t i = 0; i < p->ngo; i++)
        pthread_cond_signal(&p->w[i].go);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->ngo; i++) {
        if (p->w[i].has_thread)
            pthread_join(p->w[i].thread, NULL);
        pthread_cond_destroy(&p->w[i].go);
    }
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->w);
    free(p);
}

bool hg__workers_post(hg__workers *p, size_t i, hg__job_fn fn, void *arg)
{
    if (!p || i >= p->n || !fn || forked(p))
        return false;
    worker *w = &p->w[i];
    pthread_mutex_lock(&p->lock);
    bool ok = !w->busy && !p->quit;
    if (ok && !w->has_thread) {
        ok = pthread_create(&w->thread, NULL, worker_main, w) == 0;
        w->has_thread = ok;
        p->threads += ok;
    }
    if (ok) {
        w->fn = fn;
        w->arg = arg;
        w->busy = true;
        pthread_cond_signal(&w->go);
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

bool hg__workers_busy(hg__workers *p, size_t i)
{
    if (!p || i >= p->n || forked(p))
        return false;
    pthread_mutex_lock(&p->lock);
    bool busy = p->w[i].busy;
    pthread_mutex_unlock(&p->lock);
    return busy;
}

uint64_t hg__workers_finished(hg__workers *p)
{
    if (!p || forked(p))
        return 0;
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->finished;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void hg__workers_wait(hg__workers *p, uint64_t seen, double until_ms)
{
    if (!p || forked(p))
        return;
    pthread_mutex_lock(&p->lock);
    while (p->finished == seen) {
        if (isinf(until_ms)) {
            pthread_cond_wait(&p->done, &p->lock);
            continue;
        }
        if (hg__now_ms() >= until_ms)
            break;
        struct timespec ts = hg__monotonic_timespec(until_ms);
        int rc = pthread_cond_timedwait(&p->done, &p->lock, &ts);
        if (rc != 0 && rc != ETIMEDOUT && rc != EINTR)
            break; /* EINVAL cannot happen with a valid timespec: do not spin */
    }
    pthread_mutex_unlock(&p->lock);
}

void hg__workers_wait_idle(hg__workers *p, size_t i)
{
    if (!p || i >= p->n || forked(p))
        return;
    pthread_mutex_lock(&p->lock);
    while (p->w[i].busy)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

size_t hg__workers_threads(hg__workers *p)
{
    if (!p || forked(p))
        return 0;
    pthread_mutex_lock(&p->lock);
    size_t n = p->threads;
    pthread_mutex_unlock(&p->lock);
    return n;
}
