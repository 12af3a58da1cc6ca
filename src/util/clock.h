/* SPDX-License-Identifier: MIT */
/*
 * clock.h - timed waits on the host's monotonic clock (clock.c).
 *
 * hg__now_ms() (internal.h) reads CLOCK_MONOTONIC.  A deadline computed from
 * it must be waited for on a condition variable that measures the same
 * clock: pthread_cond_timedwait() reads its absolute time on the clock the
 * condition variable was created with, CLOCK_REALTIME unless told otherwise.
 * Mixing the two makes a wait return at once (a busy loop) or sleep for the
 * difference between the clocks (decades).
 */
#ifndef HG_CLOCK_H
#define HG_CLOCK_H

#include <pthread.h>
#include <time.h>

/*
 * Initialise *cond to measure its timed waits on CLOCK_MONOTONIC.  Returns
 * pthread_cond_init's result (0, or an errno value: *cond is then unusable).
 */
int hg__cond_init_monotonic(pthread_cond_t *cond);

/* The absolute time ms (on hg__now_ms's clock) as a timespec for
   pthread_cond_timedwait on a condition variable from hg__cond_init_monotonic.
   ms below 0 is taken as 0. */
struct timespec hg__monotonic_timespec(double ms);

#endif
