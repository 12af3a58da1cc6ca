/* SPDX-License-Identifier: MIT */
/*
 * sched.c - the scheduler's one interface over its policies (sched.h): user weights
 * (partition.c), the affine model (planner.c), and dynamic rebalancing (balance.c) with
 * the solo guard; and the recovery plan of a step whose devices failed.
 *
 * The solo guard and its trials (DYNAMIC, unless hg__sched_options.solo_guard is off) live
 * in guard.c: which steps run on one device alone, and why (guard.h).
 *
 * Pure: no OpenCL, no globals, no logging (hg__sched_note tells the caller what to log).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "guard.h"
#include "partition.h"
#include "planner.h"
#include "sched.h"

struct hg__sched {
    size_t             ndev;
    hg__sched_device  *dev;
    hg__sched_options  opt;
    hg__balancer      *bal;   /* DYNAMIC only; its models are per unit */
    hg__guard         *guard; /* the solo guard (guard.c); reset by every switch of policy */
};

hg__sched_device hg__sched_device_default(void)
{
    hg__sched_device d;
    memset(&d, 0, sizeof d);
    d.weight = 1.0;
    return d;
}

void hg__sched_options_init(hg__sched_options *o)
{
    if (!o)
        return;
    *o = (hg__sched_options){.policy = HG__POLICY_WEIGHTS, .solo_guard = true,
                             .unit_rows = 1};
}

static hg_status check_model(const hg__cost_model *m, size_t i, const char *what,
                             hg_error *err)
{
    if (m->valid && !(isfinite(m->a_ms) && m->a_ms >= 0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "scheduler: device %zu's %s model has a_ms %g (must be finite "
                             "and >= 0)", i, what, m->a_ms);
    if (m->valid && !(isfinite(m->b_ms_per_row) && m->b_ms_per_row > 0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "scheduler: device %zu's %s model has b_ms_per_row %g (must be "
                             "finite and > 0)", i, what, m->b_ms_per_row);
    return HG_OK;
}

static hg_status check_device(const hg__sched_device *d, size_t i, hg_error *err)
{
    if (!(isfinite(d->weight) && d->weight >= 0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "scheduler: device %zu's weight is %g (must be finite and >= 0)",
                             i, d->weight);
    hg_status st = check_model(&d->model, i, "planning", err);
    return st == HG_OK ? check_model(&d->alone, i, "alone", err) : st;
}

/* m priced per unit of u rows. */
static hg__cost_model per_unit(const hg__cost_model *m, size_t u)
{
    hg__cost_model r = *m;
    r.b_ms_per_row *= (double)u;
    return r;
}

static bool may_take(const hg__sched_device *d)
{
    return !d->excluded && d->weight > 0;
}

/* The caps a plan obeys: the caller's, 0 for devices that may not take rows. */
static void effective_caps(const hg__sched *s, const size_t *caps, size_t *cap)
{
    for (size_t i = 0; i < s->ndev; i++)
        cap[i] = !may_take(&s->dev[i]) ? 0 : caps ? caps[i] : SIZE_MAX;
}

static hg_status make_balancer(const hg__sched *s, hg__balancer **out, hg_error *err)
{
    hg__cost_model *m = calloc(s->ndev, sizeof *m);
    if (!m)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "scheduler: starting the balancer");
    for (size_t i = 0; i < s->ndev; i++)
        m[i] = per_unit(&s->dev[i].model, s->opt.unit_rows);
    hg_status st = hg__balancer_create(s->ndev, m, NULL, out, err);
    free(m);
    return st;
}

hg_status hg__sched_create(size_t ndev, const hg__sched_device *dev,
                          const hg__sched_options *opt, hg__sched **out, hg_error *err)
{
    hg_error_clear(err);
    if (out)
        *out = NULL;
    hg__sched_options o;
    hg__sched_options_init(&o);
    if (opt)
        o = *opt;
    if (!out || ndev == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_create: %s",
                             !out ? "out is NULL" : "no devices");
    if (o.policy != HG__POLICY_WEIGHTS && o.policy != HG__POLICY_MODEL &&
        o.policy != HG__POLICY_DYNAMIC)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_create: unknown policy "
                             "%d", (int)o.policy);
    if (o.unit_rows == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_create: unit_rows is 0");
    for (size_t i = 0; dev && i < ndev; i++) {
        hg_status st = check_device(&dev[i], i, err);
        if (st != HG_OK)
            return st;
    }
    hg__sched *s = calloc(1, sizeof *s);
    if (!s || !(s->dev = calloc(ndev, sizeof *s->dev))) {
        free(s);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "creating a scheduler");
    }
    s->ndev = ndev;
    s->opt = o;
    for (size_t i = 0; i < ndev; i++) {
        s->dev[i] = dev ? dev[i] : hg__sched_device_default();
        s->dev[i].why[HG__SCHED_WHY_MAX - 1] = '\0';
    }
    hg_status gst = hg__guard_create(ndev, &s->guard, err);
    if (gst != HG_OK) {
        hg__sched_destroy(s);
        return gst;
    }
    if (o.policy == HG__POLICY_DYNAMIC) {
        hg_status st = make_balancer(s, &s->bal, err);
        if (st != HG_OK) {
            hg__sched_destroy(s);
            return st;
        }
    }
    *out = s;
    return HG_OK;
}

void hg__sched_destroy(hg__sched *s)
{
    if (!s)
        return;
    hg__balancer_destroy(s->bal);
    hg__guard_destroy(s->guard);
    free(s->dev);
    free(s);
}

size_t hg__sched_count(const hg__sched *s)
{
    return s ? s->ndev : 0;
}

const hg__sched_device *hg__sched_device_get(const hg__sched *s, size_t i)
{
    return s && i < s->ndev ? &s->dev[i] : NULL;
}

static bool same_model(const hg__cost_model *a, const hg__cost_model *b)
{
    return a->valid == b->valid &&
           (!a->valid || (a->a_ms == b->a_ms && a->b_ms_per_row == b->b_ms_per_row));
}

hg_status hg__sched_set_device(hg__sched *s, size_t i, const hg__sched_device *dev,
                              hg_error *err)
{
    hg_error_clear(err);
    if (!s || !dev || i >= (s ? s->ndev : 0))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_set_device: %s",
                             !s ? "s is NULL" : !dev ? "dev is NULL" : "no such device");
    hg_status st = check_device(dev, i, err);
    if (st != HG_OK)
        return st;
    if (s->bal && !same_model(&s->dev[i].model, &dev->model)) {
        hg__cost_model m = per_unit(&dev->model, s->opt.unit_rows);
        if ((st = hg__balancer_recalibrate(s->bal, i, &m, err)) != HG_OK)
            return st;
    }
    s->dev[i] = *dev;
    s->dev[i].why[HG__SCHED_WHY_MAX - 1] = '\0';
    return HG_OK;
}

hg_status hg__sched_set_model(hg__sched *s, size_t i, const hg__cost_model *model,
                             hg_error *err)
{
    const hg__sched_device *cur = hg__sched_device_get(s, i);
    if (!cur || !model)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_set_model: %s",
                             !cur ? "no such device" : "model is NULL");
    hg__sched_device d = *cur;
    d.model = *model;
    d.alone = (hg__cost_model){0};
    return hg__sched_set_device(s, i, &d, err);
}

hg_status hg__sched_set_weight(hg__sched *s, size_t i, double weight, hg_error *err)
{
    const hg__sched_device *cur = hg__sched_device_get(s, i);
    if (!cur)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_set_weight: no such "
                             "device");
    hg__sched_device d = *cur;
    d.weight = weight;
    return hg__sched_set_device(s, i, &d, err);
}

hg_status hg__sched_exclude(hg__sched *s, size_t i, const char *why, hg_error *err)
{
    const hg__sched_device *cur = hg__sched_device_get(s, i);
    if (!cur)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_exclude: no such "
                             "device");
    hg__sched_device d = *cur;
    d.excluded = true;
    snprintf(d.why, sizeof d.why, "%s", why ? why : "");
    return hg__sched_set_device(s, i, &d, err);
}

hg_status hg__sched_set_policy(hg__sched *s, hg__policy p, hg_error *err)
{
    hg_error_clear(err);
    if (!s)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_set_policy: s is NULL");
    if (p != HG__POLICY_WEIGHTS && p != HG__POLICY_MODEL && p != HG__POLICY_DYNAMIC)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_set_policy: unknown "
                             "policy %d", (int)p);
    hg__balancer *b = NULL;
    if (p == HG__POLICY_DYNAMIC) {
        hg_status st = make_balancer(s, &b, err);
        if (st != HG_OK)
            return st;
    }
    hg__balancer_destroy(s->bal);
    s->bal = b;
    s->opt.policy = p;
    hg__guard_reset(s->guard);
    return HG_OK;
}

hg__policy hg__sched_policy(const hg__sched *s)
{
    return s ? s->opt.policy : HG__POLICY_WEIGHTS;
}

hg__cost_model hg__sched_model(const hg__sched *s, size_t i)
{
    if (!s || i >= s->ndev)
        return (hg__cost_model){0};
    if (s->bal) {
        hg__cost_model m = *hg__balancer_model(s->bal, i);
        m.b_ms_per_row /= (double)s->opt.unit_rows;
        return m;
    }
    return s->dev[i].model;
}

/* Counts in proportion to the weights, under cap. */
static hg_status by_weights(const hg__sched *s, size_t total, const size_t *cap,
                            size_t *counts, hg_error *err)
{
    double *w = malloc(s->ndev * sizeof *w);
    hg__range *r = malloc(s->ndev * sizeof *r);
    hg_status st = w && r ? HG_OK
                          : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
    for (size_t i = 0; st == HG_OK && i < s->ndev; i++)
        w[i] = s->dev[i].weight;
    if (st == HG_OK)
        st = hg__partition_split(total, w, s->ndev, NULL, cap, r, err);
    for (size_t i = 0; st == HG_OK && i < s->ndev; i++)
        counts[i] = r[i].count;
    free(w);
    free(r);
    return st;
}

/* Least makespan under models m[] (per unit), under cap. */
static hg_status by_models(const hg__sched *s, size_t total, const hg__cost_model *m,
                           const size_t *cap, size_t *counts, hg_error *err)
{
    return hg__plan_affine(total, m, s->ndev, cap, counts, NULL, err);
}

static hg_status no_device(size_t total, hg_error *err)
{
    return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                         "no device may take the step's %zu rows (every device is excluded, "
                         "has weight 0 or, planning by the cost models, has no model)", total);
}

hg_status hg__sched_plan(hg__sched *s, size_t total, const size_t *caps, size_t *counts,
                        hg_error *err)
{
    hg_error_clear(err);
    if (!s || !counts)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_plan: %s is NULL",
                             !s ? "s" : "counts");
    size_t n = s->ndev;
    size_t *cap = malloc(n * sizeof *cap);
    size_t *out = calloc(n, sizeof *out);
    hg__cost_model *m = calloc(n, sizeof *m);
    hg__guard_option *gopt = calloc(n, sizeof *gopt);
    hg_status st = cap && out && m && gopt
                       ? HG_OK
                       : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
    if (st != HG_OK)
        goto done;
    effective_caps(s, caps, cap);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (s->opt.policy != HG__POLICY_WEIGHTS && !s->dev[i].model.valid)
            cap[i] = 0;
        any |= cap[i] > 0;
    }
    if (total > 0 && !any) {
        st = no_device(total, err);
        goto done;
    }
    switch (s->opt.policy) {
    case HG__POLICY_WEIGHTS:
        st = by_weights(s, total, cap, out, err);
        break;
    case HG__POLICY_MODEL:
        for (size_t i = 0; i < n; i++)
            m[i] = per_unit(&s->dev[i].model, s->opt.unit_rows);
        st = by_models(s, total, m, cap, out, err);
        break;
    case HG__POLICY_DYNAMIC: {
        size_t solo = SIZE_MAX;
        if (s->opt.solo_guard && total > 0) {
            /* what each device can do with the whole step; the count stays here */
            for (size_t i = 0; i < n; i++) {
                hg__cost_model a = hg__guard_alone(s->guard, s->dev, i);
                gopt[i] = (hg__guard_option){
                    cap[i] > 0, cap[i] >= total && a.valid
                                    ? hg__cost_predict(&a, total * s->opt.unit_rows)
                                    : INFINITY};
            }
            solo = hg__guard_plan(s->guard, s->dev, gopt);
        }
        if (solo != SIZE_MAX) {
            out[solo] = total;
        } else {
            /* straight to the solver's file: sched.c -> planner.c, as for MODEL */
            st = hg__plan_dynamic(hg__balancer_memory(s->bal), total, cap, out, NULL, err);
        }
        break;
    }
    }
    if (st == HG_OK)
        memcpy(counts, out, n * sizeof *counts);
done:
    free(cap);
    free(out);
    free(m);
    free(gopt);
    return st;
}

hg_status hg__sched_plan_recovery(const hg__sched *s, size_t total, const size_t *caps,
                                 size_t *counts, hg_error *err)
{
    hg_error_clear(err);
    if (!s || !counts)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_plan_recovery: %s is "
                             "NULL", !s ? "s" : "counts");
    size_t n = s->ndev;
    size_t *cap = malloc(n * sizeof *cap);
    size_t *mcap = calloc(n, sizeof *mcap);
    size_t *out = calloc(n, sizeof *out);
    hg__cost_model *m = calloc(n, sizeof *m);
    hg_status st = cap && mcap && out && m
                       ? HG_OK
                       : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a recovery");
    if (st != HG_OK)
        goto done;
    effective_caps(s, caps, cap);
    bool any_cap = false, any_model = false;
    for (size_t i = 0; i < n; i++) {
        any_cap |= cap[i] > 0;
        if (cap[i] > 0 && s->opt.policy != HG__POLICY_WEIGHTS) {
            hg__cost_model cur = hg__sched_model(s, i);
            if (cur.valid) {
                m[i] = per_unit(&cur, s->opt.unit_rows);
                mcap[i] = cap[i];
                any_model = true;
            }
        }
    }
    if (total > 0 && !any_cap)
        st = no_device(total, err);
    else if (any_model)
        st = by_models(s, total, m, mcap, out, err);
    else
        st = by_weights(s, total, cap, out, err);
    if (st == HG_OK)
        memcpy(counts, out, n * sizeof *counts);
done:
    free(cap);
    free(mcap);
    free(out);
    free(m);
    return st;
}

hg_status hg__sched_observe(hg__sched *s, const size_t *rows, const double *ms,
                           hg__sched_note *note, hg_error *err)
{
    hg_error_clear(err);
    if (note)
        *note = (hg__sched_note){.solo_dev = SIZE_MAX, .trial_dev = SIZE_MAX};
    if (!s || !rows || !ms)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_observe: %s is NULL",
                             !s ? "s" : !rows ? "rows" : "ms");
    for (size_t i = 0; i < s->ndev; i++)
        if (rows[i] > 0 && !(isfinite(ms[i]) && ms[i] >= 0))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__sched_observe: device "
                                 "%zu computed %zu rows in %g ms", i, rows[i], ms[i]);
    if (s->opt.policy != HG__POLICY_DYNAMIC)
        return HG_OK;
    size_t n = s->ndev, U = s->opt.unit_rows;
    size_t *units = malloc(n * sizeof *units);
    if (!units)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "observing a step");
    for (size_t i = 0; i < n; i++)
        units[i] = rows[i] / U + (rows[i] % U != 0); /* rounded up: a short block is a block */
    /* a probe's step (balance.c) runs the probe's split, not the plan's: the guard does not
       judge it (a probe of two slow steps would otherwise start the guard by itself) */
    const hg__plan_memory *mem = hg__balancer_memory(s->bal);
    bool probe_step = false;
    for (size_t i = 0; i < n; i++)
        probe_step |= rows[i] > 0 && mem->probe[i] > 0;
    hg_status st = hg__balancer_observe(s->bal, units, ms, err);
    if (st == HG_OK && s->opt.solo_guard) {
        hg__sched_note local = {.solo_dev = SIZE_MAX, .trial_dev = SIZE_MAX};
        hg__guard_observe(s->guard, s->dev, rows, ms, probe_step, note ? note : &local);
    }
    free(units);
    return st;
}
