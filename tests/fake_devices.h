/* SPDX-License-Identifier: MIT */
/*
 * fake_devices.h - hg_device_info values for the pure-module tests
 * (selection, de-duplication, identity) without any OpenCL device.
 */
#ifndef HG_TEST_FAKE_DEVICES_H
#define HG_TEST_FAKE_DEVICES_H

#include <string.h>

#include "internal.h"

static inline hg_device_info fake_device(size_t index, const char *id, const char *platform,
                                         const char *name, hg_device_type type,
                                         uint32_t units)
{
    hg_device_info d;
    memset(&d, 0, sizeof d);
    d.index = index;
    d.id = id;
    d.platform_name = platform;
    d.name = name;
    d.vendor = "vendor";
    d.driver_version = "1.0";
    d.opencl_version = "OpenCL 3.0";
    d.opencl_c_version = "";
    d.extensions = "";
    d.pci_source = "";
    d.reason = "";
    d.type = type;
    d.compute_units = units;
    d.duplicate_of = -1;
    d.selected = true;
    return d;
}

static inline void fake_pci(hg_device_info *d, uint32_t bus)
{
    d->has_pci = true;
    d->pci = (hg_pci_address){0, bus, 0, 0};
}

static inline void fake_uuid(hg_device_info *d, uint8_t byte)
{
    d->has_uuid = true;
    memset(d->uuid, byte, sizeof d->uuid);
}

#endif
