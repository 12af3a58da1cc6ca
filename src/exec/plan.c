/* SPDX-License-Identifier: MIT */
/*
 * plan.c - which device computes which rows in one step.
 *
 * No OpenCL.  A step's plan starts here (hg__plan_step): the caps (the rows
 * each device holds), the scheduler's counts for them (sched/sched.h), and
 * the rows.  The rows each device computes are exactly the counts the
 * scheduler planned, within the caps hg__plan_caps (or, for
 * blocks, hg__plan_block_caps) reported for the step: a device with a full
 * copy can take any row; a device with a window [lo, hi) (its memory could
 * not hold the whole data set) only rows inside it.  Windows of partial
 * devices do not overlap (engine.c lays them out one after another).  This
 * file only decides *which* rows: the counts run as they are.
 *
 * Range steps [first, first + count): a windowed device takes one range at
 * the start of (window ∩ step); full-copy devices, in device order, fill the
 * rest of the step from its start, possibly in several pieces around the
 * windowed ranges.  Index steps: a windowed device takes the first of the
 * step's indices that fall in its window; full-copy devices take the
 * remaining indices in order.  Every row of the step is assigned exactly once.
 *
 * Deterministic steps are planned in whole blocks: the scheduler's counts
 * are blocks (it plans in units of block_rows rows), and hg__plan_blocks
 * decides which device computes which block.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

void hg__plan_reset(hg__dev_plan *p)
{
    p->npieces = 0;
    p->nidx = 0;
    p->rows = 0;
    p->nblk = 0;
}

void hg__plan_free(hg__dev_plan *p)
{
    free(p->pieces);
    free(p->idx);
    free(p->bkey);
    free(p->bfirst);
    free(p->blen);
    memset(p, 0, sizeof *p);
}

static bool add_piece(hg__dev_plan *p, size_t first, size_t count)
{
    if (count == 0)
        return true;
    if (p->npieces && p->pieces[p->npieces - 1].first + p->pieces[p->npieces - 1].count == first) {
        p->pieces[p->npieces - 1].count += count;
        p->rows += count;
        return true;
    }
    if (p->npieces == p->cap_pieces) {
        size_t cap = p->cap_pieces ? 2 * p->cap_pieces : 4;
        hg__range *n = realloc(p->pieces, cap * sizeof *n);
        if (!n)
            return false;
        p->pieces = n;
        p->cap_pieces = cap;
    }
    p->pieces[p->npieces++] = (hg__range){first, count};
    p->rows += count;
    return true;
}

static size_t overlap(size_t a, size_t b, size_t lo, size_t hi)
{
    size_t s = a > lo ? a : lo, e = b < hi ? b : hi;
    return e > s ? e - s : 0;
}

void hg__plan_caps(const hg__window *win, size_t ndev, size_t first, size_t count,
                   const size_t *idx, size_t *caps)
{
    for (size_t i = 0; i < ndev; i++) {
        caps[i] = 0;
        if (win[i].full)
            caps[i] = SIZE_MAX;
        else if (!idx)
            caps[i] = overlap(first, first + count, win[i].lo, win[i].hi);
    }
    for (size_t r = 0; idx && r < count; r++)
        for (size_t i = 0; i < ndev; i++)
            if (!win[i].full && idx[r] >= win[i].lo && idx[r] < win[i].hi)
                caps[i]++;
}

/*
 * The counts a plan is given must be runnable: they add up to total and each
 * is within its device's cap.  HG_INTERNAL otherwise (the scheduler broke
 * its contract), naming the device.
 */
static hg_status check_counts(const size_t *counts, size_t ndev, const size_t *cap,
                              size_t total, const char *unit, hg_error *err)
{
    size_t sum = 0;
    for (size_t i = 0; i < ndev; i++) {
        if (counts[i] > cap[i])
            return hg__error_set(err, HG_INTERNAL, 0, "plan: device %zu was given %zu %s; "
                                 "it holds %zu of the step's", i, counts[i], unit, cap[i]);
        sum += counts[i];
    }
    if (sum != total)
        return hg__error_set(err, HG_INTERNAL, 0, "plan: counts add up to %zu %s, the step "
                             "has %zu", sum, unit, total);
    return HG_OK;
}

static int cmp_range(const void *pa, const void *pb)
{
    const hg__range *a = pa, *b = pb;
    return (a->first > b->first) - (a->first < b->first);
}

hg_status hg__plan_range(size_t first, size_t count, const size_t *counts, size_t ndev,
                         const hg__window *win, hg__dev_plan *out, hg_error *err)
{
    size_t *cap = calloc(ndev ? ndev : 1, sizeof *cap);
    hg__range *taken = malloc((ndev ? ndev : 1) * sizeof *taken);
    hg_status st = HG_OK;
    if (!cap || !taken) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
        goto out_free;
    }
    for (size_t i = 0; i < ndev; i++)
        hg__plan_reset(&out[i]);
    hg__plan_caps(win, ndev, first, count, NULL, cap);
    st = check_counts(counts, ndev, cap, count, "rows", err);
    if (st != HG_OK)
        goto out_free;

    /* Windowed devices: one range at the start of window ∩ step. */
    size_t ntaken = 0;
    for (size_t i = 0; i < ndev; i++) {
        if (win[i].full || counts[i] == 0)
            continue;
        size_t s = first > win[i].lo ? first : win[i].lo;
        taken[ntaken++] = (hg__range){s, counts[i]};
        if (!add_piece(&out[i], s, counts[i])) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
            goto out_free;
        }
    }
    qsort(taken, ntaken, sizeof *taken, cmp_range);

    /* Full-copy devices fill the gaps, in device order. */
    size_t pos = first, t = 0, end = first + count;
    for (size_t i = 0; i < ndev; i++) {
        if (!win[i].full)
            continue;
        size_t need = counts[i];
        while (need > 0 && pos < end) {
            while (t < ntaken && taken[t].first + taken[t].count <= pos)
                t++;
            if (t < ntaken && taken[t].first <= pos) {
                pos = taken[t].first + taken[t].count;
                continue;
            }
            size_t gap_end = t < ntaken ? taken[t].first : end;
            size_t n = gap_end - pos < need ? gap_end - pos : need;
            if (!add_piece(&out[i], pos, n)) {
                st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
                goto out_free;
            }
            pos += n;
            need -= n;
        }
        if (need > 0) {
            st = hg__error_set(err, HG_INTERNAL, 0, "plan: %zu rows left unplaced", need);
            goto out_free;
        }
    }

out_free:
    free(cap);
    free(taken);
    return st;
}

hg_status hg__plan_rows(const size_t *idx, size_t count, const size_t *counts, size_t ndev,
                        const hg__window *win, hg__dev_plan *out, hg_error *err)
{
    size_t *cap = calloc(ndev ? ndev : 1, sizeof *cap);
    bool *used = calloc(count ? count : 1, sizeof *used);
    hg_status st = HG_OK;
    if (!cap || !used) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
        goto out_free;
    }
    for (size_t i = 0; i < ndev; i++) {
        hg__plan_reset(&out[i]);
        free(out[i].idx);
        out[i].idx = NULL;
        out[i].cap_idx = 0;
    }
    hg__plan_caps(win, ndev, 0, count, idx, cap);
    st = check_counts(counts, ndev, cap, count, "rows", err);
    if (st != HG_OK)
        goto out_free;
    for (size_t i = 0; i < ndev; i++) {
        if (counts[i] == 0)
            continue;
        out[i].idx = malloc(counts[i] * sizeof *out[i].idx);
        if (!out[i].idx) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
            goto out_free;
        }
        out[i].cap_idx = counts[i];
    }
    /* Windowed devices first: the first indices inside their windows. */
    for (size_t i = 0; i < ndev; i++) {
        if (win[i].full)
            continue;
        for (size_t r = 0; r < count && out[i].nidx < counts[i]; r++) {
            if (!used[r] && idx[r] >= win[i].lo && idx[r] < win[i].hi) {
                out[i].idx[out[i].nidx++] = idx[r];
                used[r] = true;
            }
        }
    }
    /* Full-copy devices: the rest, in order. */
    size_t r = 0;
    for (size_t i = 0; i < ndev; i++) {
        if (!win[i].full)
            continue;
        while (out[i].nidx < counts[i] && r < count) {
            if (!used[r]) {
                out[i].idx[out[i].nidx++] = idx[r];
                used[r] = true;
            }
            r++;
        }
    }
    for (size_t i = 0; i < ndev; i++) {
        if (out[i].nidx != counts[i]) {
            st = hg__error_set(err, HG_INTERNAL, 0, "plan: device %zu got %zu of %zu rows", i,
                               out[i].nidx, counts[i]);
            goto out_free;
        }
        out[i].rows = out[i].nidx;
    }

out_free:
    free(cap);
    free(used);
    return st;
}

/* ---- deterministic steps: whole blocks ------------------------------------------ */

hg_status hg__step_blocks(size_t first, size_t count, bool index, size_t block_rows,
                          hg__block **out, size_t *nblk, hg_error *err)
{
    *out = NULL;
    *nblk = 0;
    if (count == 0 || block_rows == 0)
        return HG_OK;
    /* range steps: blocks at absolute multiples of block_rows, so a block is the
       same rows whatever the step around it; index steps: positions */
    size_t start = index ? 0 : first, end = start + count;
    size_t k0 = start / block_rows, k1 = (end - 1) / block_rows;
    size_t n = k1 - k0 + 1;
    hg__block *b = malloc(n * sizeof *b);
    if (!b)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
    for (size_t k = k0; k <= k1; k++) {
        size_t lo = k * block_rows > start ? k * block_rows : start;
        size_t hi = (k + 1) * block_rows < end ? (k + 1) * block_rows : end;
        b[k - k0] = (hg__block){k, lo, hi - lo};
    }
    *out = b;
    *nblk = n;
    return HG_OK;
}

/* Room in p->idx for more entries after its nidx. */
static bool reserve_idx(hg__dev_plan *p, size_t more)
{
    if (p->nidx + more <= p->cap_idx)
        return true;
    size_t cap = p->cap_idx ? 2 * p->cap_idx : 64;
    while (cap < p->nidx + more)
        cap *= 2;
    size_t *n = realloc(p->idx, cap * sizeof *n);
    if (!n)
        return false;
    p->idx = n;
    p->cap_idx = cap;
    return true;
}

/* Append block b to p; rows: its rows (index steps, room reserved), NULL for range steps. */
static bool add_block(hg__dev_plan *p, const hg__block *b, const size_t *rows)
{
    if (p->nblk == p->cap_blk) {
        size_t cap = p->cap_blk ? 2 * p->cap_blk : 8;
        size_t *k = realloc(p->bkey, cap * sizeof *k);
        if (k)
            p->bkey = k;
        size_t *f = realloc(p->bfirst, cap * sizeof *f);
        if (f)
            p->bfirst = f;
        size_t *l = realloc(p->blen, cap * sizeof *l);
        if (l)
            p->blen = l;
        if (!k || !f || !l)
            return false;
        p->cap_blk = cap;
    }
    p->bkey[p->nblk] = b->key;
    p->bfirst[p->nblk] = b->first;
    p->blen[p->nblk] = b->count;
    p->nblk++;
    if (!rows)
        return add_piece(p, b->first, b->count);
    memcpy(p->idx + p->nidx, rows, b->count * sizeof *rows);
    p->nidx += b->count;
    p->rows += b->count;
    return true;
}

/* Does device window w hold every row of block b? */
static bool holds(const hg__window *w, const hg__block *b, const size_t *idx)
{
    if (w->full)
        return true;
    if (!idx)
        return b->first >= w->lo && b->first + b->count <= w->hi;
    for (size_t r = b->first; r < b->first + b->count; r++)
        if (idx[r] < w->lo || idx[r] >= w->hi)
            return false;
    return true;
}

hg_status hg__plan_block_caps(const hg__block *blk, size_t nblk, const size_t *idx,
                              const bool *usable, size_t ndev, const hg__window *win,
                              size_t *caps, hg_error *err)
{
    for (size_t i = 0; i < ndev; i++)
        caps[i] = 0;
    for (size_t k = 0; k < nblk; k++) {
        bool any = false;
        for (size_t i = 0; i < ndev; i++) {
            if (holds(&win[i], &blk[k], idx)) {
                caps[i]++;
                any |= usable[i];
            }
        }
        if (!any)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "deterministic mode: the rows of block %zu are not all "
                                 "resident on any one device in use (partial copies); use "
                                 "range steps or a smaller data set", blk[k].key);
    }
    return HG_OK;
}

hg_status hg__plan_blocks(const hg__block *blk, size_t nblk, const size_t *idx,
                          const size_t *counts, size_t ndev, const hg__window *win,
                          hg__dev_plan *out, hg_error *err)
{
    size_t *cap = calloc(ndev ? ndev : 1, sizeof *cap);
    size_t *owner = malloc((nblk ? nblk : 1) * sizeof *owner);
    hg_status st = HG_OK;
    if (!cap || !owner) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
        goto out_free;
    }
    for (size_t i = 0; i < ndev; i++) {
        hg__plan_reset(&out[i]);
        out[i].nblk = 0;
    }
    for (size_t k = 0; k < nblk; k++)
        for (size_t i = 0; i < ndev; i++)
            cap[i] += holds(&win[i], &blk[k], idx);
    st = check_counts(counts, ndev, cap, nblk, "blocks", err);
    if (st != HG_OK)
        goto out_free;
    /* Windowed devices first: their first blocks; then full copies, in order. */
    for (size_t k = 0; k < nblk; k++)
        owner[k] = SIZE_MAX;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ndev; i++) {
            if (win[i].full != (pass == 1))
                continue;
            size_t want = counts[i];
            for (size_t k = 0; k < nblk && want > 0; k++) {
                if (owner[k] == SIZE_MAX && holds(&win[i], &blk[k], idx)) {
                    owner[k] = i;
                    want--;
                }
            }
        }
    }
    for (size_t i = 0; i < ndev; i++) {
        free(out[i].idx);
        out[i].idx = NULL;
        out[i].cap_idx = 0;
        if (!idx)
            continue;
        size_t rows = 0;
        for (size_t k = 0; k < nblk; k++)
            rows += owner[k] == i ? blk[k].count : 0;
        if (rows && !(out[i].idx = malloc(rows * sizeof *out[i].idx))) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
            goto out_free;
        }
        out[i].cap_idx = rows;
    }
    for (size_t k = 0; k < nblk; k++) {
        if (owner[k] == SIZE_MAX) {
            st = hg__error_set(err, HG_INTERNAL, 0, "plan: block %zu left unplaced", blk[k].key);
            goto out_free;
        }
        if (!add_block(&out[owner[k]], &blk[k], idx ? idx + blk[k].first : NULL)) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
            goto out_free;
        }
    }

out_free:
    free(cap);
    free(owner);
    return st;
}

/* ---- a plan as a sequence of units (work stealing, steal.h) ----------------------- */

size_t hg__plan_units(const hg__dev_plan *p)
{
    return p->nblk ? p->nblk : p->nidx ? p->nidx : p->rows;
}

bool hg__plan_append(hg__dev_plan *dst, const hg__dev_plan *src, size_t a, size_t b)
{
    if (src->nblk) {
        size_t off = 0; /* index steps: where block k's rows start in src->idx */
        for (size_t k = 0; src->nidx && k < a; k++)
            off += src->blen[k];
        for (size_t k = a; k < b; k++) {
            hg__block blk = {src->bkey[k], src->bfirst[k], src->blen[k]};
            if (src->nidx && !reserve_idx(dst, blk.count))
                return false;
            if (!add_block(dst, &blk, src->nidx ? src->idx + off : NULL))
                return false;
            off += blk.count;
        }
        return true;
    }
    if (src->nidx) {
        if (b > a && !reserve_idx(dst, b - a))
            return false;
        memcpy(dst->idx + dst->nidx, src->idx + a, (b - a) * sizeof *src->idx);
        dst->nidx += b - a;
        dst->rows += b - a;
        return true;
    }
    size_t pos = 0; /* units before piece k */
    for (size_t k = 0; k < src->npieces && pos < b; k++) {
        size_t lo = a > pos ? a - pos : 0, cnt = src->pieces[k].count;
        size_t hi = b - pos < cnt ? b - pos : cnt;
        if (lo < hi && !add_piece(dst, src->pieces[k].first + lo, hi - lo))
            return false;
        pos += cnt;
    }
    return true;
}

/* ---- a step: counts from the scheduler, placed ------------------------------------ */

/*
 * The devices' windows, for planning; HG_NO_DEVICE when no device with a
 * weight is left (every one quarantined).  usable (may be NULL): devices
 * that may take rows (not quarantined, weight > 0).
 */
static hg_status effective(const hg_engine *eng, hg__window *win, bool *usable, hg_error *err)
{
    bool any = false;
    for (size_t i = 0; i < eng->ndev; i++) {
        bool u = !eng->dev[i].quarantined && eng->weight[i] > 0;
        any |= u;
        win[i] = eng->dev[i].win;
        if (usable)
            usable[i] = u;
    }
    if (!any)
        return hg__error_set(err, HG_NO_DEVICE, 0,
                             "no device left to compute on: every device with a weight is "
                             "quarantined (see hg_engine_quarantined)");
    return HG_OK;
}

/*
 * A step's plan (engine_internal.h): the caps, the scheduler's counts, the rows.  This
 * is the whole path of a step's row count: here -> sched.c (the policy) -> the policy's
 * solver in src/sched/ -> counts, placed here exactly as counted; docs/engine.md, "The
 * scheduler".
 */
hg_status hg__plan_step(hg_engine *eng, bool recovery, size_t first, size_t count,
                        const size_t *idx, const hg__block *blk, size_t nblk,
                        hg__dev_plan *out, hg_error *err)
{
    size_t n = eng->ndev, total = eng->det ? nblk : count;
    hg__window *win = malloc(n * sizeof *win);
    bool *usable = malloc(n * sizeof *usable);
    size_t *caps = malloc(n * sizeof *caps);
    size_t *counts = malloc(n * sizeof *counts);
    hg_status st = win && usable && caps && counts
                       ? HG_OK
                       : hg__error_set(err, HG_OUT_OF_MEMORY, 0, "planning a step");
    if (st == HG_OK)
        st = effective(eng, win, usable, err);
    if (st == HG_OK && eng->det)
        st = hg__plan_block_caps(blk, nblk, idx, usable, n, win, caps, err);
    else if (st == HG_OK)
        hg__plan_caps(win, n, first, count, idx, caps);
    if (st == HG_OK)
        hg__corun_caps(eng, caps); /* joint calibration's subset */
    if (st == HG_OK)
        st = recovery ? hg__sched_plan_recovery(eng->sched, total, caps, counts, err)
                      : hg__sched_plan(eng->sched, total, caps, counts, err);
    for (size_t i = 0; st == HG_OK && recovery && i < n; i++)
        if (counts[i] > 0 && hg__sched_policy(eng->sched) != HG__POLICY_WEIGHTS)
            hg__log(&eng->log, HG_LOG_INFO, "recovery: %s recomputes %zu of %zu %s",
                    eng->dev[i].what, counts[i], total, eng->det ? "blocks" : "rows");
    if (st == HG_OK && eng->det)
        st = hg__plan_blocks(blk, nblk, idx, counts, n, win, out, err);
    else if (st == HG_OK)
        st = idx ? hg__plan_rows(idx, count, counts, n, win, out, err)
                 : hg__plan_range(first, count, counts, n, win, out, err);
    free(counts);
    free(caps);
    free(usable);
    free(win);
    return st;
}
