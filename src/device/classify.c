/* SPDX-License-Identifier: MIT */
/*
 * classify.c - a device's primary class from its CL_DEVICE_TYPE bits.
 *
 * Pure: no OpenCL calls.  The bit values are OpenCL's (cl.h), repeated here so
 * that this file and its tests need no OpenCL headers.
 */
#include "internal.h"

#define CL_BIT_CPU         (1u << 1)
#define CL_BIT_GPU         (1u << 2)
#define CL_BIT_ACCELERATOR (1u << 3)
#define CL_BIT_CUSTOM      (1u << 4)

hg_device_type hg__classify(uint64_t bits)
{
    /* Priority: the rarest, most specific claim first (see device.h). */
    if (bits & CL_BIT_ACCELERATOR)
        return HG_DEVICE_ACCELERATOR;
    if (bits & CL_BIT_GPU)
        return HG_DEVICE_GPU;
    if (bits & CL_BIT_CPU)
        return HG_DEVICE_CPU;
    /* CUSTOM, or only DEFAULT, or nothing we know: a custom device. */
    return HG_DEVICE_CUSTOM;
}

const char *hg_device_type_name(hg_device_type type)
{
    switch (type) {
    case HG_DEVICE_CPU:         return "cpu";
    case HG_DEVICE_GPU:         return "gpu";
    case HG_DEVICE_ACCELERATOR: return "accelerator";
    case HG_DEVICE_CUSTOM:      return "custom";
    case HG_DEVICE_ALL:         break;
    }
    return "unknown";
}
