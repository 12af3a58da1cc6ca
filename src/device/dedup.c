/* SPDX-License-Identifier: MIT */
/*
 * dedup.c - one device per piece of hardware.
 *
 * Several OpenCL devices can be views of the same hardware: every CPU-type
 * device is the host's cores (POCL's pthread and basic devices, Intel's CPU
 * runtime, a second POCL), and one GPU can appear under two platforms (a
 * vendor driver and Rusticl or POCL-CUDA).  Running two views at once only
 * oversubscribes the hardware, so by default one view is kept:
 *
 *   CPU class: all selected CPU devices are one group.  Kept: the one the
 *     user prefers (lowest selection rank), then the one with the most compute
 *     units, then the first listed.
 *   Other classes: two devices are the same hardware when both expose a PCI
 *     address and the addresses are equal, or else when both expose a UUID
 *     and the UUIDs are equal.  Devices are visited by preference (rank, then
 *     list order); the first of each group is kept.
 *
 * Pure: no OpenCL calls.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool same_pci(const hg_device_info *a, const hg_device_info *b)
{
    return a->has_pci && b->has_pci && a->pci.domain == b->pci.domain &&
           a->pci.bus == b->pci.bus && a->pci.device == b->pci.device &&
           a->pci.function == b->pci.function;
}

static bool same_uuid(const hg_device_info *a, const hg_device_info *b)
{
    return a->has_uuid && b->has_uuid && memcmp(a->uuid, b->uuid, sizeof a->uuid) == 0;
}

/* Does a come before b in preference order? */
static bool prefer(const hg_device_info *devs, const size_t *rank, size_t a, size_t b,
                   bool by_units)
{
    if (rank[a] != rank[b])
        return rank[a] < rank[b];
    if (by_units && devs[a].compute_units != devs[b].compute_units)
        return devs[a].compute_units > devs[b].compute_units;
    return a < b;
}

static void uuid_text(const uint8_t *u, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = '\0';
}

static char *same_hw_reason(const hg_device_info *d, const hg_device_info *keeper,
                            bool keep_all)
{
    char key[64];
    if (same_pci(d, keeper)) {
        snprintf(key, sizeof key, "PCI %04x:%02x:%02x.%x", (unsigned)d->pci.domain,
                 (unsigned)d->pci.bus, (unsigned)d->pci.device, (unsigned)d->pci.function);
    } else {
        char u[37];
        uuid_text(d->uuid, u);
        snprintf(key, sizeof key, "UUID %s", u);
    }
    return hg__asprintf("%s same hardware as %s (%s, %s): %s",
                        keep_all ? "kept (duplicates kept on request), but the"
                                 : "set aside: the",
                        keeper->id, keeper->name, keeper->platform_name, key);
}

hg_status hg__dedup(hg_device_info *devs, size_t n, const size_t *rank,
                    bool keep_all, char **reasons)
{
    for (size_t i = 0; i < n; i++) {
        reasons[i] = NULL;
        devs[i].kept = false;
        devs[i].duplicate_of = -1;
        devs[i].reason = "";
    }

    /* CPU group: find the preferred CPU device. */
    size_t cpu_best = SIZE_MAX, ncpu = 0;
    for (size_t i = 0; i < n; i++) {
        if (!devs[i].selected || devs[i].type != HG_DEVICE_CPU)
            continue;
        ncpu++;
        if (cpu_best == SIZE_MAX || prefer(devs, rank, i, cpu_best, true))
            cpu_best = i;
    }

    /* Visiting order for the other classes: preference order. */
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return HG_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++) { /* insertion sort: n is small */
        size_t v = order[i], j = i;
        while (j > 0 && prefer(devs, rank, v, order[j - 1], false)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }

    hg_status st = HG_OK;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        hg_device_info *d = &devs[i];
        if (!d->selected)
            continue;
        char *why = NULL;
        if (d->type == HG_DEVICE_CPU) {
            if (i == cpu_best) {
                d->kept = true;
                if (ncpu == 1)
                    why = hg__asprintf("kept: the only selected view of the host CPU");
                else
                    why = hg__asprintf("kept: preferred of %zu views of the host CPU (%s)",
                                       ncpu,
                                       rank[i] != SIZE_MAX ? "named first in the selection"
                                                           : "most compute units, then first listed");
            } else {
                const hg_device_info *b = &devs[cpu_best];
                d->kept = keep_all;
                d->duplicate_of = (long)cpu_best;
                why = hg__asprintf("%s host CPU with %s (%s, %s); both at once only "
                                   "oversubscribe the cores",
                                   keep_all ? "kept (duplicates kept on request), but shares the"
                                            : "set aside: shares the",
                                   b->id, b->name, b->platform_name);
            }
        } else {
            long keeper = -1;
            for (size_t q = 0; q < k && keeper < 0; q++) {
                size_t j = order[q];
                if (devs[j].selected && devs[j].duplicate_of < 0 &&
                    devs[j].type != HG_DEVICE_CPU &&
                    (same_pci(d, &devs[j]) || same_uuid(d, &devs[j])))
                    keeper = (long)j;
            }
            if (keeper < 0) {
                d->kept = true;
                why = hg__asprintf("kept: %s", d->has_pci || d->has_uuid
                                                  ? "no other device has its PCI address or UUID"
                                                  : "no PCI address or UUID to match, "
                                                    "so treated as distinct hardware");
            } else {
                d->kept = keep_all;
                d->duplicate_of = keeper;
                why = same_hw_reason(d, &devs[keeper], keep_all);
            }
        }
        if (!why) {
            st = HG_OUT_OF_MEMORY;
            break;
        }
        reasons[i] = why;
        d->reason = why;
    }
    free(order);
    return st;
}
