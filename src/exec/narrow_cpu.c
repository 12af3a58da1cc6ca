/* SPDX-License-Identifier: MIT */
/*
 * narrow_cpu.c - whether a device computes on the host's cores for real, and
 * whether its kernels should keep few vector
 * accumulators: a CPU device whose registers hold fewer floats than
 * AVX-512's.  The shape lists (kchoice.c), the fused kernels' column blocks
 * (fused.c) and the MLP head's rows a pass (mlp_small.c) follow it.  Reads
 * the device's snapshot only: no OpenCL calls.
 */
#include <string.h>

#include "engine_internal.h"

bool hg__real_cpu(const hg__device *d)
{
    /* Oclgrind reports the CPU type among others, and simulates */
    return (d->info->cl_type & CL_DEVICE_TYPE_CPU) != 0 &&
           strstr(d->info->platform_name, "Oclgrind") == NULL;
}

bool hg__narrow_cpu(const hg__device *d)
{
    return hg__real_cpu(d) && d->float_width >= 1 && d->float_width <= 8;
}
