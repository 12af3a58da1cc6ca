/* SPDX-License-Identifier: MIT */
/*
 * pocl_pin.c - the tools pin POCL's CPU threads to cores (pocl_pin.h).
 *
 * Why.  POCL's pthread device runs a kernel on one worker thread per core;
 * unpinned, the Linux scheduler can put two of them on one core for many
 * steps (a woken thread goes to the waker's core), and the device then runs
 * at half speed.  On the 2-vCPU development machine (POCL 3.1, 2026-12-04),
 * 8,192-row softmax steps of POCL pthread alone (after its first 5 steps)
 * ran over 2.3 ms in 31 of 275 steps (five runs of 55) where the rest took
 * about 1.5 ms, and in 1 of 275 with POCL_AFFINITY=1; calibration, which
 * times such steps, measured the device at 2.9-5.7 M rows/s over five cold
 * runs unpinned and at 5.6-6.4 M pinned, so that which devices shared a step
 * changed from run to run.  docs/engine.md, "Pinning POCL's threads", has
 * the figures and how to turn it off (POCL_AFFINITY=0).
 */
#define _GNU_SOURCE
#include "pocl_pin.h"

#include <stdlib.h>

#ifdef __linux__
#include <sched.h>
#include <unistd.h>
#endif

bool tool_pin_pocl_threads(void)
{
    if (getenv("POCL_AFFINITY"))
        return false; /* the user's choice */
#ifdef __linux__
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (n < 1 || n > CPU_SETSIZE || sched_getaffinity(0, sizeof set, &set) != 0)
        return false;
    for (long c = 0; c < n; c++)
        if (!CPU_ISSET((int)c, &set))
            return false; /* POCL pins thread k to CPU k: it must be one this process has */
    return setenv("POCL_AFFINITY", "1", 0) == 0;
#else
    return false;
#endif
}
