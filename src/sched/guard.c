/* SPDX-License-Identifier: MIT */
/*
 * guard.c - the dynamic policy's solo guard and trials (guard.h has the rules).
 *
 * Pure: no OpenCL, no globals, no logging (the hg__sched_note tells the caller what to log).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "guard.h"

#define GUARD_MARGIN 1.03   /* a step slower than this times the best alone is slow */
#define GUARD_AFTER 2       /* slow steps in a row that start a hold */
#define GUARD_STEPS 16      /* plans of the first hold ... */
#define GUARD_DOUBLINGS 4   /* ... doubled at most this often (256) */
#define TRIAL_STEPS 2       /* steps of a trial; the last is the device's observation */
#define TRIAL_SLOWED 1.25   /* a device this much slower a row than alone contends */
#define TRIAL_RATIO 2.0     /* contending: tried when predicted alone within this x the step */
#define TRIAL_RATIO_ONE 1.25 /* one device's steps: another tried within this x its time */
#define TRIAL_FIRST 4       /* planned steps before the first trial is due */
#define TRIAL_EVERY 64      /* ... then this many, doubled after each trial ... */
#define TRIAL_EVERY_MAX 4096 /* ... up to this */
#define TRIAL_FRESH 64      /* a device observed alone within this many plans is not tried */

typedef enum plan_kind { PLAN_BALANCER = 0, PLAN_HOLD, PLAN_TRIAL } plan_kind;

#define OBS_KEEP 4          /* observations alone kept per device */

/* Device i's last OBS_KEEP observations alone (ring; n of them valid). */
typedef struct alone_obs {
    double ms[OBS_KEEP];
    size_t rows[OBS_KEEP];
    size_t n, next;
    size_t stamp; /* the plan count at the last one */
    bool   valid; /* n > 0 */
} alone_obs;

struct hg__guard {
    size_t     ndev;
    alone_obs *obs;
    bool      *usable;    /* may take rows in the last plan (its cap > 0) */
    bool      *candidate; /* may be tried, by the last judged step */
    double    *scratch;   /* ndev predictions */
    size_t     plans;     /* plans made */
    int        over;      /* judged steps in a row that were slow */
    int        streak;    /* holds started with no judged step between that was not slow */
    int        hold;      /* plans left on the best device alone */
    size_t     trial_dev;
    int        trial_left;  /* steps of the trial under way still to plan */
    size_t     trial_wait;  /* balancer plans until a trial is due */
    size_t     trial_every; /* the wait after the next trial */
    plan_kind  last;        /* what the last plan was */
    size_t     last_single; /* the device of the last step observed if it ran alone */
};

hg_status hg__guard_create(size_t ndev, hg__guard **out, hg_error *err)
{
    *out = NULL;
    hg__guard *g = calloc(1, sizeof *g);
    size_t n = ndev ? ndev : 1;
    if (!g || !(g->obs = calloc(n, sizeof *g->obs)) ||
        !(g->usable = calloc(n, sizeof *g->usable)) ||
        !(g->candidate = calloc(n, sizeof *g->candidate)) ||
        !(g->scratch = calloc(n, sizeof *g->scratch))) {
        hg__guard_destroy(g);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "scheduler: creating the solo guard");
    }
    g->ndev = ndev;
    hg__guard_reset(g);
    *out = g;
    return HG_OK;
}

void hg__guard_destroy(hg__guard *g)
{
    if (!g)
        return;
    free(g->obs);
    free(g->usable);
    free(g->candidate);
    free(g->scratch);
    free(g);
}

void hg__guard_reset(hg__guard *g)
{
    for (size_t i = 0; i < g->ndev; i++) {
        g->obs[i] = (alone_obs){0};
        g->usable[i] = true;
        g->candidate[i] = false;
    }
    g->plans = 0;
    g->over = g->streak = g->hold = g->trial_left = 0;
    g->trial_dev = SIZE_MAX;
    g->trial_wait = TRIAL_FIRST;
    g->trial_every = TRIAL_EVERY;
    g->last = PLAN_BALANCER;
    g->last_single = SIZE_MAX;
}

static bool may_take(const hg__sched_device *d)
{
    return !d->excluded && d->weight > 0;
}

hg__cost_model hg__guard_alone(const hg__guard *g, const hg__sched_device *dev, size_t i)
{
    const hg__sched_device *d = &dev[i];
    hg__cost_model m = d->alone.valid ? d->alone : d->model;
    const alone_obs *o = &g->obs[i];
    if (!m.valid || !o->valid)
        return m;
    /* the fastest of the observations kept: what slows a step (another process, a cold
       start) only adds time.  The model's fixed cost, unless one took less than twice it */
    double a = m.a_ms, best = INFINITY;
    for (size_t k = 0; k < o->n; k++)
        a = fmin(a, o->ms[k] / 2);
    for (size_t k = 0; k < o->n; k++)
        best = fmin(best, (o->ms[k] - a) / (double)o->rows[k]);
    if (isfinite(best) && best > 0) {
        m.a_ms = a;
        m.b_ms_per_row = best;
    }
    return m;
}

/*
 * The device that would finish the step soonest alone, among those that may take rows,
 * were usable in the last plan and can hold it (alone_ms[i] finite: predicted by
 * hg__guard_alone); SIZE_MAX if none.  *ms: its predicted time.
 */
static size_t best_alone(const hg__guard *g, const hg__sched_device *dev,
                         const double *alone_ms, double *ms)
{
    size_t best = SIZE_MAX;
    double t = INFINITY;
    for (size_t i = 0; i < g->ndev; i++) {
        if (!may_take(&dev[i]) || !g->usable[i] || !(alone_ms[i] < t))
            continue;
        t = alone_ms[i];
        best = i;
    }
    *ms = t;
    return best;
}

/* The candidate to try that can hold the step, observed alone longest ago (never first;
   then the fastest alone) and not within TRIAL_FRESH plans; SIZE_MAX if none. */
static size_t trial_pick(const hg__guard *g, const hg__guard_option *opt)
{
    size_t pick = SIZE_MAX, oldest = SIZE_MAX;
    double fastest = INFINITY;
    for (size_t i = 0; i < g->ndev; i++) {
        const alone_obs *o = &g->obs[i];
        size_t stamp = o->valid ? o->stamp + 1 : 0;
        if (!g->candidate[i] || !opt[i].usable || !isfinite(opt[i].alone_ms) ||
            (o->valid && g->plans - o->stamp < TRIAL_FRESH))
            continue;
        if (stamp < oldest || (stamp == oldest && opt[i].alone_ms < fastest)) {
            oldest = stamp;
            fastest = opt[i].alone_ms;
            pick = i;
        }
    }
    return pick;
}

size_t hg__guard_plan(hg__guard *g, const hg__sched_device *dev,
                      const hg__guard_option *opt)
{
    g->plans++;
    double *alone_ms = g->scratch;
    for (size_t i = 0; i < g->ndev; i++) {
        g->usable[i] = opt[i].usable;
        alone_ms[i] = opt[i].usable ? opt[i].alone_ms : INFINITY;
    }
    if (g->hold > 0) {
        double ms;
        size_t b = best_alone(g, dev, alone_ms, &ms);
        if (b != SIZE_MAX) {
            g->hold--;
            g->last = PLAN_HOLD;
            return b;
        }
        g->last = PLAN_BALANCER; /* none can take it whole: shared; no hold step spent */
        return SIZE_MAX;
    }
    if (g->trial_left > 0) {
        size_t t = g->trial_dev;
        if (opt[t].usable && isfinite(opt[t].alone_ms)) {
            g->trial_left--;
            g->last = PLAN_TRIAL;
            return t;
        }
        g->trial_left = 0; /* it cannot take this step: the trial is over */
    }
    if (g->trial_wait > 0) {
        g->trial_wait--;
    } else {
        size_t t = trial_pick(g, opt);
        if (t != SIZE_MAX) {
            g->trial_dev = t;
            g->trial_left = TRIAL_STEPS - 1;
            g->trial_wait = g->trial_every;
            g->trial_every = g->trial_every * 2 > TRIAL_EVERY_MAX ? TRIAL_EVERY_MAX
                                                                  : g->trial_every * 2;
            g->last = PLAN_TRIAL;
            return t;
        }
    }
    g->last = PLAN_BALANCER;
    return SIZE_MAX;
}

/* The devices a judged step makes candidates for a trial (guard.h); alone_ms[i]: device
   i's predicted time alone for the step's rows (INFINITY: none). */
static void mark_candidates(hg__guard *g, const hg__sched_device *dev, const size_t *rows,
                            const double *ms, const double *alone_ms, size_t active,
                            size_t single, double makespan)
{
    bool contend = active >= 2;
    for (size_t i = 0; i < g->ndev && contend; i++) {
        const hg__sched_device *d = &dev[i];
        const hg__cost_model *m = d->alone.valid ? &d->alone : &d->model;
        if (rows[i] == 0)
            continue;
        double b_obs = (ms[i] - (m->valid ? m->a_ms : 0)) / (double)rows[i];
        contend = m->valid && b_obs > TRIAL_SLOWED * m->b_ms_per_row;
    }
    for (size_t i = 0; i < g->ndev; i++) {
        double p = may_take(&dev[i]) && g->usable[i] ? alone_ms[i] : INFINITY;
        if (active >= 2)
            g->candidate[i] = contend && rows[i] > 0 && p <= TRIAL_RATIO * makespan;
        else
            g->candidate[i] = i != single && p <= TRIAL_RATIO_ONE * makespan;
    }
}

void hg__guard_observe(hg__guard *g, const hg__sched_device *dev, const size_t *rows,
                       const double *ms, bool probe_step, hg__sched_note *note)
{
    size_t active = 0, total = 0, single = SIZE_MAX;
    double makespan = 0;
    for (size_t i = 0; i < g->ndev; i++) {
        if (rows[i] == 0)
            continue;
        active++;
        total += rows[i];
        single = i;
        makespan = ms[i] > makespan ? ms[i] : makespan;
    }
    if (active != 1)
        single = SIZE_MAX;
    /* alone, and after a step alone on the same device: warm */
    if (single != SIZE_MAX && single == g->last_single && ms[single] > 0) {
        alone_obs *o = &g->obs[single];
        o->ms[o->next] = ms[single];
        o->rows[o->next] = rows[single];
        o->next = (o->next + 1) % OBS_KEEP;
        o->n += o->n < OBS_KEEP;
        o->stamp = g->plans;
        o->valid = true;
    }
    if (g->last == PLAN_TRIAL && g->trial_left == 0 && single == g->trial_dev) {
        note->trial = true;
        note->trial_dev = single;
        note->trial_ms = ms[single];
        note->trial_rows = rows[single];
    }
    g->last_single = single;
    if (g->last != PLAN_BALANCER || probe_step || active == 0)
        return;
    double *alone_ms = g->scratch, solo_ms;
    for (size_t i = 0; i < g->ndev; i++) {
        hg__cost_model m = hg__guard_alone(g, dev, i);
        alone_ms[i] = m.valid ? hg__cost_predict(&m, total) : INFINITY;
    }
    size_t best = best_alone(g, dev, alone_ms, &solo_ms);
    bool slow = best != SIZE_MAX && best != single && makespan > GUARD_MARGIN * solo_ms;
    mark_candidates(g, dev, rows, ms, alone_ms, active, single, makespan);
    if (!slow) {
        g->over = 0;
        g->streak = 0;
        return;
    }
    if (++g->over < GUARD_AFTER)
        return;
    int doublings = g->streak < GUARD_DOUBLINGS ? g->streak : GUARD_DOUBLINGS;
    g->over = 0;
    g->streak++;
    g->hold = GUARD_STEPS << doublings;
    note->solo = true;
    note->solo_dev = best;
    note->shared_ms = makespan;
    note->solo_ms = solo_ms;
    note->solo_steps = g->hold;
}
