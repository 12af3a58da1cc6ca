/* SPDX-License-Identifier: MIT */
/*
 * calibrate.c - hg_engine_calibrate: the phases of a calibration, in order.
 *
 *   1. solo (profile.c): every device's kernel choice and cost model, alone,
 *      or its cached profile;
 *   1b. duplicates (duplicates.c): a view of the same hardware that the
 *      device list set aside is calibrated alone in the kept device's place,
 *      and the faster of the two is kept.  Views with the same compiler are
 *      compared on the same kernels (the kept device's race waits: its
 *      defer_race), and the one kept races its own;
 *   2. fission (fission.c): a CPU device beside others may do better with a
 *      compute unit fewer (not on a warm start: every profile from the cache);
 *      the kernels a cached profile named are checked first (hg__calibrate_pending),
 *      since its trial runs the other devices;
 *   3. joint (joint.c): the devices run together on planned splits; each
 *      gets a co-run factor, and the subset of devices that measures fastest
 *      is kept (the others are excluded, with the reason).  Kernels a cached
 *      profile named are checked before they run here (hg__calibrate_pending);
 *      when the result comes from the cache, only the kept devices' are, after
 *      it: a device that gets no rows is not checked before it does;
 *   4. the scheduler plans on the co-run models from now on (each device's
 *      model alone is the solo guard's reference); cached profiles of kept
 *      devices go on probation (profile_check.c judges them against the first
 *      steps).
 *
 * This file sits above profile.c and fission.c, so neither depends on the
 * other's caller (tests/link_graph.py).
 */
#include <stdlib.h>

#include "dispatch_floor.h"
#include "engine_internal.h"

hg_status hg_engine_calibrate(hg_engine *eng, hg_error *err)
{
    hg_error_clear(err);
    if (!eng)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_calibrate: NULL engine");
    if (!eng->has_data)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_calibrate: no data set (call hg_engine_set_data)");
    float *params = hg__check_params(eng);
    if (!params)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "calibrating");
    bool measured = false;
    eng->warming = true; /* no fault injection during calibration */
    /* a device whose views of the same hardware all share its compiler races
       after they are compared on its default kernels: only the one kept */
    for (size_t i = 0; i < eng->ndev; i++)
        eng->dev[i].defer_race = hg__duplicates_defer_race(eng, i);
    hg_status st = hg__calibrate_solo(eng, params, &measured, err);
    /* the other views of the same hardware that the list set aside: the faster stays */
    if (st == HG_OK)
        st = hg__duplicates_calibrate(eng, params, err);
    for (size_t i = 0; i < eng->ndev; i++)
        eng->dev[i].defer_race = false;
    /* host threads are a resource: a CPU device may do better with a core fewer
       beside the others (not on a warm start: every profile from the cache) */
    if (st == HG_OK && measured) /* its trial runs the others: their kernels checked */
        st = hg__calibrate_pending(eng, false, NULL, err);
    if (st == HG_OK && measured)
        st = hg__fission_calibrate(eng, params, err);
    eng->warming = false;
    free(params);
    hg__kchoice_store_pending(eng); /* the programs of the kernels kept (kchoice.c) */
    if (st == HG_OK)
        st = hg__joint_calibrate(eng, err);
    /* the devices that may take rows, on kernels a cached profile named: checked before
       their first rows (a device measured again comes back with its own programs) */
    if (st == HG_OK)
        st = hg__calibrate_pending(eng, true, NULL, err);
    hg__kchoice_store_pending(eng);
    if (st != HG_OK)
        return st;
    for (size_t i = 0; i < eng->ndev; i++) {
        hg__device *d = &eng->dev[i];
        /* a device joint calibration excluded is not planned on its model */
        d->probation = (hg__probation){.on = d->model_from_cache && d->model.valid &&
                                             !d->corun.excluded};
    }
    for (size_t i = 0; i < eng->ndev; i++) {
        /* the runtime's own launch + wait, for reading fixed_ms against (not fatal) */
        hg_error fe;
        if (!eng->dev[i].quarantined && hg__device_dispatch_floor(&eng->dev[i], &fe) != HG_OK)
            hg__log(&eng->log, HG_LOG_WARN, "%s: no dispatch floor: %s", eng->dev[i].what,
                    fe.message);
    }
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++)
        st = hg__sched_push_model(eng, i, err);
    if (st == HG_OK)
        st = hg__sched_set_policy(eng->sched, HG__POLICY_MODEL, err);
    if (st == HG_OK) {
        eng->calibrated = true;
        eng->split = HG_SPLIT_MODEL;
    }
    return st;
}
