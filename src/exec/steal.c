/* SPDX-License-Identifier: MIT */
/*
 * steal.c - work stealing within a step's round (steal.h).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "steal.h"

/* What device t stole: units [a, b) of device v's plan. */
typedef struct steal_seg {
    size_t v, a, b;
} steal_seg;

typedef struct steal_lane {
    hg__steal_dev dev;
    size_t        units;      /* of its own plan */
    size_t        head, tail; /* [0, head) claimed by itself, [tail, units) by thieves */
    double        busy_ms;    /* when its claims so far are predicted to be done
                                 (hg__now_ms's clock; 0: none yet) */
    steal_seg    *seg;        /* what it stole, in order */
    size_t        nseg, cap_seg;
} steal_lane;

struct hg__steal_board {
    pthread_mutex_t     mu;
    uint64_t            gen;    /* of the round open, or of the last one */
    bool                open;
    const hg__dev_plan *plans;
    steal_lane         *lane;
    size_t              n, cap;
};

hg__steal_board *hg__steal_create(void)
{
    hg__steal_board *b = calloc(1, sizeof *b);
    if (b && pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

void hg__steal_destroy(hg__steal_board *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->cap; i++)
        free(b->lane[i].seg);
    free(b->lane);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

uint64_t hg__steal_open(hg__steal_board *b, const hg__dev_plan *plans, const hg__steal_dev *dev,
                        size_t n)
{
    pthread_mutex_lock(&b->mu);
    b->gen++;
    b->open = false;
    if (n > b->cap) {
        steal_lane *l = realloc(b->lane, n * sizeof *l);
        if (!l) {
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
        memset(l + b->cap, 0, (n - b->cap) * sizeof *l);
        b->lane = l;
        b->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        steal_lane *l = &b->lane[i];
        l->dev = dev[i];
        l->units = dev[i].owner ? hg__plan_units(&plans[i]) : 0;
        l->head = 0;
        l->tail = l->units;
        l->busy_ms = 0;
        l->nseg = 0;
    }
    b->plans = plans;
    b->n = n;
    b->open = true;
    uint64_t gen = b->gen;
    pthread_mutex_unlock(&b->mu);
    return gen;
}

/* Units in ms of device l's predicted time, rounded up, at least 1. */
static size_t units_in(const steal_lane *l, double ms)
{
    double u = ceil(ms / l->dev.unit_ms);
    return u < 1 ? 1 : u > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)u;
}

/*
 * The owner's next claim of its rem unclaimed units: the first leaves an
 * eighth (at least a grain) for the end of the round, where a thief may
 * take some; later ones take half of what is left, never under a grain.
 */
static size_t own_claim(const steal_lane *l, size_t rem)
{
    size_t grain = units_in(l, l->dev.grain_ms), n;
    size_t reserve = rem / 8 > grain ? rem / 8 : grain;
    if (rem <= 2 * grain)
        n = rem;
    else if (l->head == 0)
        n = rem > 2 * reserve ? rem - reserve : rem;
    else
        n = (rem + 1) / 2 > grain ? (rem + 1) / 2 : grain;
    return n < l->dev.max_units ? n : l->dev.max_units;
}

/*
 * The thief's claim from victim v, whose rem unclaimed units follow its
 * claimed work (done by v->busy_ms): as many as make both finish together,
 * the thief starting when its own claims are done (busy, >= now):
 * busy + n·u_t = v.busy + (rem - n)·u_v.  0 when that is less than half a
 * grain of the thief's (not worth a batch).
 */
static size_t steal_claim(const steal_lane *t, const steal_lane *v, size_t rem, double busy)
{
    double n = ((v->busy_ms - busy) + (double)rem * v->dev.unit_ms) /
               (t->dev.unit_ms + v->dev.unit_ms);
    if (!(n * t->dev.unit_ms >= 0.5 * t->dev.grain_ms))
        return 0;
    size_t k = n < 1 ? 1 : n > (double)rem ? rem : (size_t)n;
    return k < t->dev.max_units ? k : t->dev.max_units;
}

/* The device other than i predicted to finish last with unclaimed units left; SIZE_MAX: none. */
static size_t victim(const hg__steal_board *b, size_t i, double now)
{
    size_t best = SIZE_MAX;
    double last = 0;
    for (size_t v = 0; v < b->n; v++) {
        const steal_lane *l = &b->lane[v];
        double end = fmax(l->busy_ms, now) + (double)(l->tail - l->head) * l->dev.unit_ms;
        if (v != i && l->dev.owner && l->tail > l->head && end > last) {
            last = end;
            best = v;
        }
    }
    return best;
}

static bool add_seg(steal_lane *l, size_t v, size_t a, size_t b)
{
    if (l->nseg == l->cap_seg) {
        size_t cap = l->cap_seg ? 2 * l->cap_seg : 8;
        steal_seg *s = realloc(l->seg, cap * sizeof *s);
        if (!s)
            return false;
        l->seg = s;
        l->cap_seg = cap;
    }
    l->seg[l->nseg++] = (steal_seg){v, a, b};
    return true;
}

hg__claim hg__steal_claim(hg__steal_board *b, uint64_t gen, size_t i, double now, bool drained,
                          hg__dev_plan *part, bool *oom)
{
    *oom = false;
    hg__plan_reset(part);
    pthread_mutex_lock(&b->mu);
    hg__claim got = HG__CLAIM_DONE;
    if (!b->open || b->gen != gen || i >= b->n)
        goto out;
    steal_lane *l = &b->lane[i];
    double busy = drained || l->busy_ms < now ? now : l->busy_ms;
    if (l->head > 0 && busy - now > 0.5 * l->dev.grain_ms) {
        /* claim late, so that what is left stays free for the others until then */
        got = HG__CLAIM_LATER;
        goto out;
    }
    if (l->head < l->tail) {
        size_t n = own_claim(l, l->tail - l->head);
        if (!hg__plan_append(part, &b->plans[i], l->head, l->head + n)) {
            *oom = true;
            goto out;
        }
        l->head += n;
        l->busy_ms = busy + (double)n * l->dev.unit_ms;
        got = HG__CLAIM_RUN;
        goto out;
    }
    size_t v = l->dev.thief ? victim(b, i, now) : SIZE_MAX;
    if (v == SIZE_MAX)
        goto out;
    steal_lane *vl = &b->lane[v];
    if (vl->busy_ms < now)
        vl->busy_ms = now;
    size_t n = steal_claim(l, vl, vl->tail - vl->head, busy);
    if (n == 0) {
        /* not worth it yet: ask again when its own work is done */
        got = drained ? HG__CLAIM_DONE : HG__CLAIM_LATER;
        goto out;
    }
    if (!add_seg(l, v, vl->tail - n, vl->tail) ||
        !hg__plan_append(part, &b->plans[v], vl->tail - n, vl->tail)) {
        if (l->nseg && l->seg[l->nseg - 1].v == v && l->seg[l->nseg - 1].b == vl->tail)
            l->nseg--;
        hg__plan_reset(part);
        *oom = true;
        goto out;
    }
    vl->tail -= n;
    l->busy_ms = busy + (double)n * l->dev.unit_ms;
    got = HG__CLAIM_RUN;
out:
    pthread_mutex_unlock(&b->mu);
    return got;
}

/* plans[i] as settled (steal.h), built in out: its own [0, tail), then its thefts. */
static bool settled(const hg__steal_board *b, const hg__dev_plan *plans, size_t i,
                    hg__dev_plan *out)
{
    const steal_lane *l = &b->lane[i];
    hg__plan_reset(out);
    if (!hg__plan_append(out, &plans[i], 0, l->dev.owner ? l->tail : hg__plan_units(&plans[i])))
        return false;
    for (size_t s = 0; s < l->nseg; s++)
        if (!hg__plan_append(out, &plans[l->seg[s].v], l->seg[s].a, l->seg[s].b))
            return false;
    return true;
}

size_t hg__steal_settle(hg__steal_board *b, hg__dev_plan *plans, size_t n)
{
    pthread_mutex_lock(&b->mu);
    bool was_open = b->open;
    b->open = false;
    b->gen++; /* a late claim of this round gets nothing */
    size_t stolen = 0;
    for (size_t i = 0; was_open && i < n && i < b->n; i++)
        for (size_t s = 0; s < b->lane[i].nseg; s++)
            stolen += b->lane[i].seg[s].b - b->lane[i].seg[s].a;
    if (stolen == 0)
        goto out;
    /*
     * Each plan is rebuilt from the plans as they were in the round, so the
     * new ones go to the side first: a plan rewritten in place would no
     * longer hold the units a later device stole from it.
     */
    hg__dev_plan *next = calloc(n, sizeof *next);
    bool ok = next != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = settled(b, plans, i, &next[i]);
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            hg__dev_plan old = plans[i];
            plans[i] = next[i];
            next[i] = old; /* freed below, with the plan's old arrays */
        }
    } else {
        stolen = SIZE_MAX;
    }
    for (size_t i = 0; next && i < n; i++)
        hg__plan_free(&next[i]);
    free(next);
out:
    pthread_mutex_unlock(&b->mu);
    return stolen;
}
