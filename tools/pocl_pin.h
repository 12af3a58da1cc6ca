/* SPDX-License-Identifier: MIT */
/*
 * pocl_pin.h - the tools pin POCL's CPU threads to cores (pocl_pin.c).
 */
#ifndef HG_POCL_PIN_H
#define HG_POCL_PIN_H

#include <stdbool.h>

/*
 * Set POCL_AFFINITY=1 in the environment, so that POCL's pthread device
 * pins its worker thread k to CPU k, unless POCL_AFFINITY is set already
 * (the user's choice, "0" included) or this process may not run on every
 * online CPU (taskset, a cgroup's cpuset: POCL would pin a thread where the
 * process may not run).  Call it first in main(), before anything loads an
 * OpenCL runtime: POCL reads the variable once, when it starts.  Returns
 * whether it set the variable.  Linux only; elsewhere it does nothing.
 */
bool tool_pin_pocl_threads(void);

#endif
