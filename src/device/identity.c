/* SPDX-License-Identifier: MIT */
/*
 * identity.c - stable device identities.
 *
 * ocl-icd does not keep platforms in a fixed order, so a position is never an
 * identity.  A device's id is a 64-bit FNV-1a hash of what names the device
 * and its driver (platform name, device name, vendor, vendor id, driver
 * version) and, when the device exposes it, where it sits (PCI address) or
 * what it is (UUID).  Two devices that hash alike (two identical cards without
 * PCI or UUID information) are told apart by an ordinal in list order, and
 * since the list is sorted by platform name first, that order does not depend
 * on the loader either.
 *
 * Pure: no OpenCL calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t hash_str(uint64_t h, const char *s)
{
    /* The NUL separates fields: ("ab","c") and ("a","bc") differ. */
    return hg__fnv1a(h, s, strlen(s) + 1);
}

static uint64_t hash_u32(uint64_t h, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    return hg__fnv1a(h, b, sizeof b);
}

static uint64_t device_hash(const hg_device_info *d)
{
    uint64_t h = HG__FNV_INIT;
    h = hash_str(h, d->platform_name);
    h = hash_str(h, d->name);
    h = hash_str(h, d->vendor);
    h = hash_u32(h, d->vendor_id);
    h = hash_str(h, d->driver_version);
    if (d->has_pci) {
        h = hash_str(h, "pci");
        h = hash_u32(h, d->pci.domain);
        h = hash_u32(h, d->pci.bus);
        h = hash_u32(h, d->pci.device);
        h = hash_u32(h, d->pci.function);
    } else if (d->has_uuid) {
        h = hash_str(h, "uuid");
        h = hg__fnv1a(h, d->uuid, sizeof d->uuid);
    }
    return h;
}

hg_status hg__assign_ids(hg_device_info *devs, size_t n, char **ids)
{
    uint64_t *hash = calloc(n ? n : 1, sizeof *hash);
    if (!hash)
        return HG_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++)
        hash[i] = device_hash(&devs[i]);
    for (size_t i = 0; i < n; i++) {
        uint32_t ordinal = 0;
        for (size_t j = 0; j < i; j++)
            if (hash[j] == hash[i])
                ordinal++;
        uint64_t h = ordinal ? hash_u32(hash[i], ordinal) : hash[i];
        ids[i] = hg__asprintf("hg-%016llx", (unsigned long long)h);
        if (!ids[i]) {
            free(hash);
            return HG_OUT_OF_MEMORY;
        }
        devs[i].id = ids[i];
    }
    free(hash);
    return HG_OK;
}
