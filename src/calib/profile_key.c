/* SPDX-License-Identifier: MIT */
/*
 * profile_key.c - what a device's cached cost profile is keyed on besides the
 * workload: what would make the device run at another speed.
 *
 * A profile is a timing.  It may be reused only where the device would time
 * the same, so its key holds, beyond the device's identity (platform, name,
 * driver version, id: profile.c):
 *
 *   - every property the driver reports that changes speed and costs nothing
 *     to read (the device list snapshot holds them): compute units, maximum
 *     clock, device and OpenCL C versions, global memory and its cache,
 *     local memory, largest buffer, largest work-group, unified memory;
 *   - for a device that runs on the host's cores (CL_DEVICE_TYPE_CPU among
 *     its type bits: POCL, Oclgrind, Intel's CPU runtime), how many CPUs this
 *     process may run on (hg__usable_cpus, hostcache.h).  POCL 3.1 still reports both
 *     cores of this machine as compute units under `taskset -c 0`, where its
 *     pthread device's two threads share one core; and the host's L2 size
 *     (hostcache.h), which sets how the device's GEMMs block their K
 *     dimension (gemm_call.c) and which no OpenCL query reports;
 *   - the environment variables a driver is known to read that change its
 *     speed without changing a reported property (ENV below), by platform.
 *     Only variables that are set take part, so an empty environment leaves
 *     the key as it is.  POCL's POCL_MAX_PTHREAD_COUNT also changes the
 *     pthread device's compute units (measured: 2 -> 1 on this machine), so
 *     it is covered twice; POCL_AFFINITY or POCL_WORK_GROUP_METHOD change
 *     nothing a query shows.
 *
 * What the key cannot see (a driver update that keeps its version string, a
 * CPU governor, thermal limits, a profile measured on a busy machine) is
 * caught by checking a loaded profile against the first steps
 * (profile_check.c).
 *
 * No OpenCL calls; reads the environment, the process's CPU affinity and
 * sysfs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcache.h"
#include "profile_key.h"

/* Bit of CL_DEVICE_TYPE_CPU (cl.h), without including OpenCL here. */
#define CL_TYPE_CPU (1u << 1)

/*
 * Environment variables that change a driver's speed and that no device
 * query reflects, per platform (matched as a substring of the platform name,
 * ignoring case).  Read from the libraries' own strings (POCL 3.1's
 * libpocl and pthread driver, Oclgrind 21.10) and their documentation.
 */
static const struct {
    const char *platform;
    const char *const *vars;
} ENV[] = {
    {"Portable Computing Language",
     (const char *const[]){"POCL_MAX_PTHREAD_COUNT", "POCL_PTHREAD_MIN_THREADS",
                           "POCL_CPU_MAX_CU_COUNT", "POCL_AFFINITY", "POCL_WORK_GROUP_METHOD",
                           "POCL_WORK_GROUP_SPECIALIZATION",
                           "POCL_BINARY_SPECIALIZE_WG", "POCL_FORCE_PARALLEL_OUTER_LOOP",
                           "POCL_WILOOPS_MAX_UNROLL_COUNT", "POCL_FULL_REPLICATION_THRESHOLD",
                           "POCL_EXTRA_BUILD_FLAGS", NULL}},
    {"Oclgrind",
     (const char *const[]){"OCLGRIND_NUM_THREADS", "OCLGRIND_PLUGINS", "OCLGRIND_DATA_RACES",
                           "OCLGRIND_UNINITIALIZED", "OCLGRIND_UNIFORM_WRITES",
                           "OCLGRIND_INST_COUNTS", "OCLGRIND_QUICK", "OCLGRIND_CHECK_API",
                           "OCLGRIND_BUILD_OPTIONS", NULL}},
};

/* "NAME=value;..." for the set variables of d's platform in ENV; "" when none. */
static char *env_part(const hg_device_info *d)
{
    char *out = hg__strdup("");
    for (size_t p = 0; out && p < sizeof ENV / sizeof ENV[0]; p++) {
        if (!hg__icontains(d->platform_name, ENV[p].platform))
            continue;
        for (const char *const *v = ENV[p].vars; out && *v; v++) {
            const char *val = getenv(*v);
            if (!val)
                continue;
            char *next = hg__asprintf("%s%s=%s;", out, *v, val);
            free(out);
            out = next;
        }
    }
    return out;
}

char *hg__profile_device_key(const hg_device_info *d, long usable_cpus)
{
    char *env = env_part(d);
    if (!env)
        return NULL;
    char cpus[64] = "";
    if (d->cl_type & CL_TYPE_CPU)
        snprintf(cpus, sizeof cpus, "cpus=%ld;l2=%zu;", usable_cpus, hg__host_l2_bytes());
    char *key = hg__asprintf("cu=%u;mhz=%u;version=%s;c=%s;gmem=%llu;gcache=%llu;lmem=%llu;"
                             "alloc=%llu;wg=%zu;unified=%d;%senv=%s",
                             (unsigned)d->compute_units, (unsigned)d->max_clock_mhz,
                             d->opencl_version, d->opencl_c_version,
                             (unsigned long long)d->global_mem_bytes,
                             (unsigned long long)d->global_mem_cache_bytes,
                             (unsigned long long)d->local_mem_bytes,
                             (unsigned long long)d->max_alloc_bytes, d->max_work_group_size,
                             (int)d->host_unified_memory, cpus, env);
    free(env);
    return key;
}
