/* SPDX-License-Identifier: MIT */
/*
 * partition.c - split rows across devices in proportion to their weights.
 *
 * Ideal shares.  Usable devices (weight > 0 and cap > 0) share the rows in proportion to
 * their weights: s_i = rows * w_i / sum(w).  Caps are met by water-filling: every device
 * whose share exceeds its cap is fixed at exactly its cap, the rows left are shared among
 * the others in proportion to their weights, and this repeats until no share exceeds its
 * cap.  Shares are doubles; weights are first divided by the largest, so no sum overflows.
 *
 * Counts.  From here on the arithmetic is integer, so the counts add up to rows exactly and
 * meet every cap and granularity however the shares were rounded.  The deficit of device i
 * is s_i - count_i.  Starting from all counts 0:
 *
 *   1. Granules.  While some usable device can take a whole granule -- its granularity is
 *      at most the rows left, and its cap has room for one more granule -- one granule goes
 *      to the device with the largest deficit among those that can; ties go to the larger
 *      weight, then to the lower device index.
 *   2. Remainder.  The r rows now left are fewer than the granularity of every usable device
 *      with cap room for a granule.  All r go to the usable device with the largest deficit
 *      (same tie-break) among those whose cap has room for all r.  Only when no single
 *      device has that room (caps that are not multiples of the granularities) are they
 *      spread: the same choice, repeated, each device taking as many as its cap allows.
 *
 * With every granularity 1, step 1 is the largest-remainder (Hamilton) method: every count
 * is the floor or the ceiling of its share, and the devices rounded up are those with the
 * largest fractional parts, which minimises max |count_i - s_i| over all integer splits.
 * Caps keep the floor-or-ceiling property (a capped device's share is its cap, an integer).
 *
 * Deviation bound, asserted by tests/test_partition.c over random inputs rather than proved:
 * with G the largest and S the sum of the granularities of the usable devices, every device
 * has s_i - count_i < G and count_i - s_i < S.  The excess can pass G when granules or caps
 * leave rows that only a fine-grained device can take: caps of 7 on three devices of
 * granularity 8 push all their 21 rows onto a fourth device of granularity 1.  Above 2^53
 * rows the shares also carry rounding errors of order rows * 2^-52 (the tests allow
 * rows * 2^-40 above 2^52 rows).
 *
 * Step 1 done one granule at a time could take rows / granularity iterations, so it runs in
 * bulk.  The granule a device would take next has a "bid": its deficit before taking it.
 * The greedy accepts bids in decreasing order, so the granules it hands out next are those
 * whose bids exceed some threshold L.  A bisection over L (over the ordered bit patterns of
 * doubles: at most 64 rounds) finds the lowest L whose granules fit in the rows left; the
 * greedy would hand out exactly those granules next (each device still has the rows for its
 * granule when the greedy reaches it), so they are given at once.  Single greedy steps
 * continue where no bulk step fits.  Bids are computed the same way in both (share minus
 * count, as doubles), so the bulk steps change nothing in the result, which the tests check
 * against a one-granule-at-a-time greedy.
 *
 * Pure: no OpenCL calls, no globals.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "partition.h"

_Static_assert(sizeof(double) == sizeof(uint64_t), "partition.c assumes 64-bit doubles");

typedef struct split_state {
    const double *w;     /* weights */
    const size_t *gran;  /* NULL: all 1 */
    const size_t *cap;   /* NULL: all SIZE_MAX */
    const double *ideal; /* water-filled shares s_i */
    size_t       *count; /* rows given so far */
    size_t        n;     /* devices */
    size_t        left;  /* rows not given yet */
} split_state;

static size_t gran_of(const size_t *gran, size_t i)
{
    return gran ? gran[i] : 1;
}

static size_t cap_of(const size_t *cap, size_t i)
{
    return cap ? cap[i] : SIZE_MAX;
}

static bool usable(const double *w, const size_t *cap, size_t i)
{
    return w[i] > 0.0 && cap_of(cap, i) > 0;
}

/*
 * Checks shared by both entry points.  out is the output array (only tested for NULL),
 * out_name its parameter name for messages.  Returns HG_OK or the failure, with err filled.
 */
static hg_status check_args(const char *fn, size_t rows, const double *weight, size_t ndev,
                            const size_t *granularity, const size_t *max_rows,
                            const void *out, const char *out_name, hg_error *err)
{
    if (ndev == 0) {
        if (rows > 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: %zu rows to split but no devices", fn, rows);
        return HG_OK;
    }
    if (!weight)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: weight is NULL with %zu devices", fn, ndev);
    if (!out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s is NULL with %zu devices",
                             fn, out_name, ndev);
    for (size_t i = 0; i < ndev; i++) {
        if (!isfinite(weight[i]) || weight[i] < 0.0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: weight of device %zu is %g; weights must be finite and "
                                 ">= 0", fn, i, weight[i]);
        if (granularity && granularity[i] == 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s: granularity of device %zu is 0; it must be at least 1",
                                 fn, i);
    }
    if (rows == 0)
        return HG_OK;

    bool any_weight = false, any_usable = false;
    size_t room = 0; /* sum of the usable devices' caps, saturating */
    for (size_t i = 0; i < ndev; i++) {
        if (!(weight[i] > 0.0))
            continue;
        any_weight = true;
        size_t c = cap_of(max_rows, i);
        if (c == 0)
            continue;
        any_usable = true;
        room = c > SIZE_MAX - room ? SIZE_MAX : room + c;
    }
    if (!any_weight)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: all %zu device weights are 0; cannot split %zu rows", fn,
                             ndev, rows);
    if (!any_usable)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: every device with a nonzero weight has max_rows 0; cannot "
                             "split %zu rows", fn, rows);
    if (room < rows)
        return hg__error_set(err, HG_RANGE, 0,
                             "%s: the devices with nonzero weight can take at most %zu rows "
                             "under max_rows; %zu of the %zu rows cannot be placed", fn, room,
                             rows - room, rows);
    return HG_OK;
}

/*
 * Water-filled shares of rows into ideal[0..n) (arguments already checked).  While it runs,
 * ideal[i] < 0 marks a usable device whose share is not fixed yet.
 */
static void water_fill(size_t rows, const double *w, size_t n, const size_t *cap,
                       double *ideal)
{
    size_t left = rows; /* rows not taken by devices fixed at their caps */
    for (size_t i = 0; i < n; i++)
        ideal[i] = usable(w, cap, i) ? -1.0 : 0.0;
    for (;;) {
        double wmax = 0.0;
        for (size_t i = 0; i < n; i++)
            if (ideal[i] < 0.0 && w[i] > wmax)
                wmax = w[i];
        if (wmax == 0.0)
            return; /* every usable device is at its cap */
        double wsum = 0.0; /* >= 1: the largest weight contributes 1 */
        for (size_t i = 0; i < n; i++)
            if (ideal[i] < 0.0)
                wsum += w[i] / wmax;
        double avail = (double)left;
        bool clamped = false;
        for (size_t i = 0; i < n; i++) {
            if (!(ideal[i] < 0.0))
                continue;
            double share = avail * (w[i] / wmax) / wsum;
            size_t c = cap_of(cap, i);
            /* c > left only through rounding (share <= avail); leave such a device open. */
            if (share > (double)c && c <= left) {
                ideal[i] = (double)c;
                left -= c;
                clamped = true;
            }
        }
        if (!clamped) {
            for (size_t i = 0; i < n; i++)
                if (ideal[i] < 0.0)
                    ideal[i] = avail * (w[i] / wmax) / wsum;
            return;
        }
    }
}

static size_t room_of(const split_state *s, size_t i)
{
    return cap_of(s->cap, i) - s->count[i];
}

/* Can device i take a whole granule from `left` rows? */
static bool eligible(const split_state *s, size_t i, size_t left)
{
    size_t g = gran_of(s->gran, i);
    return usable(s->w, s->cap, i) && g <= left && g <= room_of(s, i);
}

/* Bid of device i's granule k from now: its deficit before taking it. */
static double bid(const split_state *s, size_t i, size_t k)
{
    return s->ideal[i] - (double)(s->count[i] + k * gran_of(s->gran, i));
}

static double deficit(const split_state *s, size_t i)
{
    return bid(s, i, 0);
}

/* Does device a come before device b (SIZE_MAX: none) in the greedy's order? */
static bool before(const split_state *s, size_t a, size_t b)
{
    if (b == SIZE_MAX)
        return true;
    double da = deficit(s, a), db = deficit(s, b);
    if (da != db)
        return da > db;
    if (s->w[a] != s->w[b])
        return s->w[a] > s->w[b];
    return a < b;
}

/* How many of device i's next granules (at most room / granularity) bid more than L? */
static size_t bids_above(const split_state *s, size_t i, double L)
{
    size_t g = gran_of(s->gran, i), maxb = room_of(s, i) / g;
    /*
     * bid() does not increase with k: find the first granule bidding <= L (maxb if none).
     * Estimate it from the deficit, widen a bracket around the estimate until it holds the
     * answer (rounding makes the estimate only slightly off), then bisect the bracket.
     */
    double est = ceil((deficit(s, i) - L) / (double)g);
    size_t k = !(est > 0.0) ? 0 : est >= (double)maxb ? maxb : (size_t)est;
    size_t lo, hi;
    for (size_t d = 2;; d = d > SIZE_MAX / 2 ? SIZE_MAX : 2 * d) {
        lo = k > d ? k - d : 0;
        hi = maxb - k > d ? k + d : maxb;
        if ((lo == 0 || bid(s, i, lo - 1) > L) && (hi == maxb || !(bid(s, i, hi) > L)))
            break; /* ends at the latest when [lo, hi] = [0, maxb] */
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bid(s, i, mid) > L)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Do the granules of the devices eligible under left0 that bid more than L fit in left0? */
static bool fit_above(const split_state *s, size_t left0, double L)
{
    size_t sum = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!eligible(s, i, left0))
            continue;
        size_t rows = bids_above(s, i, L) * gran_of(s->gran, i); /* <= room, no overflow */
        if (rows > left0 - sum)
            return false;
        sum += rows;
    }
    return true;
}

/*
 * Bulk step: give at once every granule of the devices eligible now that bids above L, the
 * lowest threshold at which all of them fit in the rows left.  The greedy would hand out
 * exactly these next: it takes bids in decreasing order, and when it reaches one of them,
 * of granularity g, the others taken before it leave at least g rows because all of them
 * fit.  Returns the rows given: 0 when the granules bidding the top deficit alone need more
 * than the rows left.
 */
static size_t bulk_step(split_state *s)
{
    size_t left0 = s->left;
    double top = -DBL_MAX; /* largest bid: nothing bids above it */
    for (size_t i = 0; i < s->n; i++)
        if (eligible(s, i, left0) && deficit(s, i) > top)
            top = deficit(s, i);

    double L = -DBL_MAX; /* every bid is >= -2^64 > -DBL_MAX */
    if (!fit_above(s, left0, L)) {
        uint64_t lo = hg__double_key(-DBL_MAX), hi = hg__double_key(top); /* too many / fit */
        while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (fit_above(s, left0, hg__key_double(mid)))
                hi = mid;
            else
                lo = mid;
        }
        L = hg__key_double(hi);
    }

    size_t given = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!eligible(s, i, left0))
            continue; /* only device i's own count changes below, so this stays valid */
        size_t rows = bids_above(s, i, L) * gran_of(s->gran, i);
        s->count[i] += rows;
        given += rows;
    }
    s->left -= given;
    return given;
}

/* Step 1: granules by largest deficit. */
static void give_granules(split_state *s)
{
    size_t failed_with = 0; /* eligible devices when a bulk step last gave nothing; 0: none */
    for (;;) {
        size_t neligible = 0;
        for (size_t i = 0; i < s->n; i++)
            if (eligible(s, i, s->left))
                neligible++;
        if (neligible == 0)
            return;
        /*
         * A bulk step gives nothing when the granules bidding the top deficit need more than
         * the rows left.  Single steps then take those granules; while some are left they
         * still need more than the rows left, so another bulk step would give nothing, until
         * a device can no longer take its granule and the eligible set (which never grows)
         * shrinks.
         */
        if (failed_with == 0 || neligible < failed_with) {
            if (bulk_step(s) > 0) {
                failed_with = 0;
                continue;
            }
            failed_with = neligible;
        }
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < s->n; i++)
            if (eligible(s, i, s->left) && before(s, i, best))
                best = i;
        size_t g = gran_of(s->gran, best);
        s->count[best] += g;
        s->left -= g;
    }
}

/* Step 2: the remainder.  HG_INTERNAL if the caps cannot hold it (check_args rules it out). */
static hg_status give_remainder(split_state *s)
{
    while (s->left > 0) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < s->n; i++)
            if (usable(s->w, s->cap, i) && room_of(s, i) >= s->left && before(s, i, best))
                best = i;
        if (best == SIZE_MAX) {
            for (size_t i = 0; i < s->n; i++)
                if (usable(s->w, s->cap, i) && room_of(s, i) > 0 && before(s, i, best))
                    best = i;
            if (best == SIZE_MAX)
                return HG_INTERNAL;
        }
        size_t take = room_of(s, best) < s->left ? room_of(s, best) : s->left;
        s->count[best] += take;
        s->left -= take;
    }
    return HG_OK;
}

hg_status hg__partition_split(size_t rows, const double *weight, size_t ndev,
                             const size_t *granularity, const size_t *max_rows,
                             hg__range *out, hg_error *err)
{
    static const char fn[] = "hg__partition_split";
    hg_error_clear(err);
    hg_status st = check_args(fn, rows, weight, ndev, granularity, max_rows, out, "out", err);
    if (st != HG_OK || ndev == 0)
        return st;
    if (rows == 0) {
        for (size_t i = 0; i < ndev; i++)
            out[i] = (hg__range){0, 0};
        return HG_OK;
    }

    /* One block: ndev shares, then ndev counts (8-byte doubles keep the counts aligned). */
    const size_t per_dev = sizeof(double) + sizeof(size_t);
    double *ideal = ndev > SIZE_MAX / per_dev ? NULL : malloc(ndev * per_dev);
    if (!ideal)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "%s: out of memory for %zu devices' working state", fn, ndev);
    size_t *count = (size_t *)(void *)(ideal + ndev);
    water_fill(rows, weight, ndev, max_rows, ideal);
    for (size_t i = 0; i < ndev; i++)
        count[i] = 0;

    split_state s = {weight, granularity, max_rows, ideal, count, ndev, rows};
    give_granules(&s);
    st = give_remainder(&s);
    if (st != HG_OK) {
        free(ideal);
        return hg__error_set(err, st, 0, "%s: %zu rows left over after the split (bug)", fn,
                             s.left);
    }
    size_t first = 0;
    for (size_t i = 0; i < ndev; i++) {
        out[i] = (hg__range){first, count[i]};
        first += count[i];
    }
    free(ideal);
    return HG_OK;
}

hg_status hg__partition_ideal(size_t rows, const double *weight, size_t ndev,
                             const size_t *max_rows, double *ideal, hg_error *err)
{
    hg_error_clear(err);
    hg_status st = check_args("hg__partition_ideal", rows, weight, ndev, NULL, max_rows, ideal,
                              "ideal", err);
    if (st != HG_OK || ndev == 0)
        return st;
    if (rows == 0) {
        for (size_t i = 0; i < ndev; i++)
            ideal[i] = 0.0;
        return HG_OK;
    }
    water_fill(rows, weight, ndev, max_rows, ideal);
    return HG_OK;
}
