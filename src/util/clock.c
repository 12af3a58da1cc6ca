/* SPDX-License-Identifier: MIT */
/*
 * clock.c - the host clock (CLOCK_MONOTONIC) and timed waits on it.
 *
 * Every interval hetgrad measures (step and batch times, calibration) and
 * every deadline it enforces comes from hg__now_ms(), so a change of the
 * wall clock can neither fire nor delay a deadline.  Dates that must mean
 * something outside the process (cache entries' ages) use CLOCK_REALTIME
 * where they are taken, not this clock.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */
#include <math.h>
#include <time.h>

#include "clock.h"
#include "internal.h"

double hg__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int hg__cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

struct timespec hg__monotonic_timespec(double ms)
{
    struct timespec ts;
    if (!(ms > 0))
        ms = 0;
    double sec = floor(ms / 1e3);
    ts.tv_sec = (time_t)sec;
    long ns = (long)((ms - sec * 1e3) * 1e6);
    ts.tv_nsec = ns < 0 ? 0 : ns > 999999999L ? 999999999L : ns;
    return ts;
}
