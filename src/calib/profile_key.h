/* SPDX-License-Identifier: MIT */
/*
 * profile_key.h - the device part of a cost profile's cache key (no OpenCL).
 * What it holds, and why, is described at the top of profile_key.c.
 */
#ifndef HG_PROFILE_KEY_H
#define HG_PROFILE_KEY_H

#include "internal.h"

/*
 * Everything about device d and this process that changes d's speed and is
 * not its identity: its speed-related properties; for devices that run on the
 * host's CPUs (CL_DEVICE_TYPE_CPU among d->cl_type), usable_cpus and the
 * host's L2 size; and the set
 * environment variables d's driver is known to read for speed.  Equal for
 * two calls only when all of those are equal.  malloc'ed; NULL when out of
 * memory.
 */
char *hg__profile_device_key(const hg_device_info *d, long usable_cpus);

#endif /* HG_PROFILE_KEY_H */
