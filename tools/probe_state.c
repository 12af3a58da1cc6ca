/* SPDX-License-Identifier: MIT */
/*
 * probe_state.c - the word hetgrad-probe shows for a device's state (probe_state.h).
 */
#include "probe_state.h"

#include <stdio.h>

/* A view of d's hardware, other than d, the engine computed on; NULL if none. */
static const hg_device_info *computed_view(const hg_device_list *l, const hg_device_info *d,
                                           const bool *computed)
{
    for (size_t k = 0; computed && k < hg_device_list_count(l); k++) {
        const hg_device_info *v = hg_device_list_get(l, k);
        if (k != d->index && computed[k] && v->duplicate_of == (long)d->index)
            return v;
    }
    return NULL;
}

const char *probe_state_word(const hg_device_list *l, size_t i, const bool *computed,
                             char *why, size_t n)
{
    const hg_device_info *d = l ? hg_device_list_get(l, i) : NULL;
    if (why && n)
        why[0] = '\0';
    if (!d)
        return NULL;
    if (!d->selected)
        return "not selected";
    if (computed && computed[i] && !d->kept && d->duplicate_of >= 0) {
        const hg_device_info *k = hg_device_list_get(l, (size_t)d->duplicate_of);
        if (why && n && k)
            snprintf(why, n, "calibration measured it faster than %s (%s, %s), the view of "
                     "the same hardware the device list kept, and computes on it instead "
                     "(its Duplicates line has the figures)", k->id, k->name,
                     k->platform_name);
        return "in use (faster duplicate)";
    }
    const hg_device_info *v = d->kept && computed && !computed[i]
                                  ? computed_view(l, d, computed)
                                  : NULL;
    if (v) {
        if (why && n)
            snprintf(why, n, "the device list kept it, but calibration measured %s (%s, %s), "
                     "another view of the same hardware, faster and computes on that one "
                     "instead; this one gets no rows (the Duplicates line of %s has the "
                     "figures)", v->id, v->name, v->platform_name, v->id);
        return "set aside (slower duplicate)";
    }
    if (d->duplicate_of >= 0)
        return d->kept ? "in use, duplicate" : "set aside";
    return "in use";
}
