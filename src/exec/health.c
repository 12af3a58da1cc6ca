/* SPDX-License-Identifier: MIT */
/*
 * health.c - a device's standing in the engine: quarantine (out of service
 * for good, with the reason) and the statistics of its last step.
 *
 * Below engine.c, profile.c and profile_check.c, which all quarantine devices
 * and read step statistics; it depends on none of them (tests/link_graph.py).
 * A quarantined device is excluded from the scheduler's plans as well.
 */
#include <stdio.h>

#include "engine_internal.h"

/* Take device i out of service for good, keeping why. */
void hg__quarantine(hg_engine *eng, size_t i, const hg_error *why)
{
    hg__device *d = &eng->dev[i];
    if (d->quarantined)
        return;
    d->quarantined = true;
    snprintf(d->quarantine_reason, sizeof d->quarantine_reason, "%s: %.*s",
             hg_status_name(why->status), (int)(sizeof d->quarantine_reason - 40),
             why->message);
    hg__log(&eng->log, HG_LOG_WARN, "quarantined %s", d->quarantine_reason);
    /* the scheduler gives it no rows from now on (a valid index: cannot fail) */
    hg_error e;
    if (eng->sched && hg__sched_exclude(eng->sched, i, d->quarantine_reason, &e) != HG_OK)
        hg__log(&eng->log, HG_LOG_WARN, "quarantine: %s", e.message);
}

const hg_device_step *hg__device_stats(const hg_engine *eng, size_t i)
{
    /* A zombie's thread may still write its device's statistics. */
    if (eng->workers && eng->workers[i].zombie)
        return &eng->workers[i].shown;
    return &eng->dev[i].stats;
}

hg_status hg__sched_push_model(hg_engine *eng, size_t i, hg_error *err)
{
    const hg__device *d = &eng->dev[i];
    const hg__sched_device *cur = hg__sched_device_get(eng->sched, i);
    hg__sched_device sd = cur ? *cur : hg__sched_device_default();
    sd.model = hg__corun_model(&d->model, &d->corun);
    /* alone: as measured alone at the step size in joint calibration, when it was */
    hg__corun_dev alone = {.slow = d->corun.slow_alone};
    sd.alone = hg__corun_model(&d->model, &alone);
    return hg__sched_set_device(eng->sched, i, &sd, err);
}

void hg__corun_caps(const hg_engine *eng, size_t *caps)
{
    if (eng->split == HG_SPLIT_WEIGHTS)
        return; /* the user's weights decide */
    bool kept = false;
    for (size_t i = 0; i < eng->ndev; i++)
        kept |= caps[i] > 0 && eng->weight[i] > 0 && !eng->dev[i].quarantined &&
                !eng->dev[i].corun.excluded;
    for (size_t i = 0; kept && i < eng->ndev; i++)
        if (eng->dev[i].corun.excluded)
            caps[i] = 0;
}
