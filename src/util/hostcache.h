/* SPDX-License-Identifier: MIT */
/*
 * hostcache.h - the host CPU as the engine sizes its work by it (hostcache.c):
 * the CPUs this process may use, and the size of a core's L2 cache.
 *
 * OpenCL reports one "global memory cache" size, and CPU runtimes fill it
 * with the last level (POCL: the 32 MiB L3 of an AMD EPYC whose cores have
 * 512 KiB of L2 each).  The GEMM blocks its K dimension to the L2 of the
 * core that runs it (gemm_call.c), and on a CPU OpenCL device that core is
 * the host's.
 */
#ifndef HG_HOSTCACHE_H
#define HG_HOSTCACHE_H

#include <stddef.h>

/*
 * A cache size as Linux's sysfs writes it ("512K", "1024K", "32M", "48"
 * bytes; a trailing newline allowed) in bytes; 0 when s is not one.
 */
size_t hg__cache_size_parse(const char *s);

/*
 * The L2 (a unified or data cache of level 2) of CPU 0 from
 * /sys/devices/system/cpu/cpu0/cache, else sysconf(_SC_LEVEL2_CACHE_SIZE);
 * 0 when neither says.
 */
size_t hg__host_l2_bytes(void);

/* CPUs this process may run on (its affinity mask), else those online; -1 if unknown. */
long hg__usable_cpus(void);

#endif
