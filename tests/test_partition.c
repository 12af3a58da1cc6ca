/* SPDX-License-Identifier: MIT */
/*
 * test_partition.c - splitting rows across devices (partition.c), no device.
 *
 * Hand-checked splits, every error, the edge cases, and a randomised property test with a
 * fixed-seed LCG.  The properties asserted for every random split (U = usable devices, those
 * with weight > 0 and cap > 0; s_i = water-filled ideal share; G / S = largest / sum of the
 * granularities over U):
 *   - counts add up to rows, ranges are consecutive from 0, counts <= caps, 0 outside U;
 *   - granularity rule: the rows that are not whole granules (r = sum of count_i mod g_i)
 *     are fewer than the granularity of every usable device with cap room for one more
 *     granule; they sit on one device -- the one with the largest deficit (then larger
 *     weight, then lower index) among those with room for all r -- unless no device had that
 *     room;
 *   - deviation bound: s_i - count_i < G and count_i - s_i < S; with every granularity 1,
 *     |count_i - s_i| < 1 (floor or ceiling of the share); plus rows * 2^-40 slack above 2^52
 *     rows for the rounding of the shares;
 *   - the ideal shares are a water-filling: they add up to rows, stay within caps, and are
 *     proportional to the weights among the devices below their caps, whose common ratio is
 *     at least cap_i / w_i for every capped device;
 *   - the bulk implementation gives exactly the counts of a one-granule-at-a-time greedy;
 *   - on tiny uncapped cases with granularity 1 the split attains the brute-force minimum of
 *     max_i |count_i - s_i|;
 *   - the same arguments give the same split.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sched/partition.h"

enum { MAXDEV = 8 };

/*
 * Check's ck_assert records a mark point on every call, which the random test's millions of
 * checks would pay for; these call into Check only on failure.
 */
#define REQUIRE_MSG(cond, ...)                                                          \
    do {                                                                                \
        if (!(cond))                                                                    \
            ck_abort_msg(__VA_ARGS__);                                                  \
    } while (0)
#define REQUIRE(cond) REQUIRE_MSG(cond, "%s:%d: %s", __FILE__, __LINE__, #cond)

/* ---- helpers ----------------------------------------------------------- */

static size_t g_of(const size_t *g, size_t i)
{
    return g ? g[i] : 1;
}

static size_t cap_at(const size_t *cap, size_t i)
{
    return cap ? cap[i] : SIZE_MAX;
}

static bool is_usable(const double *w, const size_t *cap, size_t i)
{
    return w[i] > 0.0 && cap_at(cap, i) > 0;
}

/* Split, assert success and the structural properties; counts into c. */
static void split_ok(size_t rows, const double *w, size_t n, const size_t *g,
                     const size_t *cap, size_t *c)
{
    hg__range out[MAXDEV];
    hg_error e;
    hg_status st = hg__partition_split(rows, w, n, g, cap, out, &e);
    REQUIRE_MSG(st == HG_OK, "split of %zu rows: %s: %s", rows, hg_status_name(st),
                e.message);
    REQUIRE(e.status == HG_OK);
    REQUIRE(e.message[0] == '\0');
    size_t first = 0;
    for (size_t i = 0; i < n; i++) {
        REQUIRE_MSG(out[i].first == first, "device %zu starts at %zu, want %zu", i,
                    out[i].first, first);
        REQUIRE_MSG(out[i].count <= cap_at(cap, i), "device %zu: %zu rows over cap %zu", i,
                    out[i].count, cap_at(cap, i));
        if (!is_usable(w, cap, i))
            REQUIRE_MSG(out[i].count == 0, "unusable device %zu got %zu rows", i,
                        out[i].count);
        REQUIRE_MSG(out[i].count <= rows - first, "counts exceed rows");
        first += out[i].count;
        c[i] = out[i].count;
    }
    REQUIRE_MSG(first == rows, "counts add up to %zu, not %zu", first, rows);
}

static void expect_counts(size_t rows, const double *w, size_t n, const size_t *g,
                          const size_t *cap, const size_t *want)
{
    size_t c[MAXDEV];
    split_ok(rows, w, n, g, cap, c);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c[i] == want[i], "%zu rows: device %zu got %zu, want %zu", rows, i, c[i],
                      want[i]);
}

static hg_status split_err(size_t rows, const double *w, size_t n, const size_t *g,
                           const size_t *cap, hg_error *e)
{
    hg__range out[MAXDEV];
    for (size_t i = 0; i < MAXDEV; i++)
        out[i] = (hg__range){77, 77};
    hg_status st = hg__partition_split(rows, w, n, g, cap, out, e);
    ck_assert_int_ne(st, HG_OK);
    ck_assert_int_eq(e->status, st);
    for (size_t i = 0; i < MAXDEV; i++) /* out is written only on success */
        ck_assert(out[i].first == 77 && out[i].count == 77);
    return st;
}

static void expect_message(const hg_error *e, const char *part)
{
    ck_assert_msg(strstr(e->message, part) != NULL, "message \"%s\" lacks \"%s\"", e->message,
                  part);
}

/* ---- hand-checked splits ---------------------------------------------- */

START_TEST(equal_weights)
{
    const double w2[] = {1, 1};
    expect_counts(10, w2, 2, NULL, NULL, (const size_t[]){5, 5});
    expect_counts(11, w2, 2, NULL, NULL, (const size_t[]){6, 5}); /* tie: lower index */
    const double w3[] = {1, 1, 1};
    expect_counts(10, w3, 3, NULL, NULL, (const size_t[]){4, 3, 3});
    expect_counts(11, w3, 3, NULL, NULL, (const size_t[]){4, 4, 3});
}
END_TEST

START_TEST(unequal_weights)
{
    /* 7.5 / 2.5: both fractions .5, the tie goes to the larger weight */
    expect_counts(10, (const double[]){3, 1}, 2, NULL, NULL, (const size_t[]){8, 2});
    expect_counts(10, (const double[]){1, 3}, 2, NULL, NULL, (const size_t[]){2, 8});
    expect_counts(7, (const double[]){1, 2, 4}, 3, NULL, NULL, (const size_t[]){1, 2, 4});
    /* 100 * {0.2, 0.3, 0.5} exactly; 10 * {1/6, 2/6, 3/6} = 1.67, 3.33, 5 -> 2, 3, 5 */
    expect_counts(100, (const double[]){2, 3, 5}, 3, NULL, NULL, (const size_t[]){20, 30, 50});
    expect_counts(10, (const double[]){1, 2, 3}, 3, NULL, NULL, (const size_t[]){2, 3, 5});
    /* scale does not matter */
    expect_counts(10, (const double[]){3e300, 1e300}, 2, NULL, NULL, (const size_t[]){8, 2});
    expect_counts(10, (const double[]){3e-300, 1e-300}, 2, NULL, NULL, (const size_t[]){8, 2});
}
END_TEST

START_TEST(granularity)
{
    const double w2[] = {1, 1};
    /* granules of 4: 4 each, then 2 rows left, fewer than a granule: to device 0 (deficits
     * tie at 1, weights tie, lower index) */
    expect_counts(10, w2, 2, (const size_t[]){4, 4}, NULL, (const size_t[]){6, 4});
    expect_counts(8, w2, 2, (const size_t[]){4, 4}, NULL, (const size_t[]){4, 4});
    expect_counts(16, w2, 2, (const size_t[]){4, 4}, NULL, (const size_t[]){8, 8});
    /* mixed: device 1 (granularity 1) absorbs what device 0's granules leave */
    expect_counts(10, w2, 2, (const size_t[]){4, 1}, NULL, (const size_t[]){4, 6});
    expect_counts(15, w2, 2, (const size_t[]){8, 1}, NULL, (const size_t[]){8, 7});
    expect_counts(14, w2, 2, (const size_t[]){8, 1}, NULL, (const size_t[]){8, 6});
    /* 11.33 / 5.67 with granules of 4: 12 and 4, then the 1 left goes to the device
     * furthest below its share (device 1), not to the heavier one */
    expect_counts(17, (const double[]){2, 1}, 2, (const size_t[]){4, 4}, NULL,
                  (const size_t[]){12, 5});
    /* fewer rows than any granule: all to one device */
    expect_counts(3, w2, 2, (const size_t[]){4, 4}, NULL, (const size_t[]){3, 0});
    expect_counts(3, (const double[]){1, 2}, 2, (const size_t[]){4, 4}, NULL,
                  (const size_t[]){0, 3});
    /* one device: whole granules, then the remainder on the same device */
    expect_counts(1000, (const double[]){5}, 1, (const size_t[]){7}, NULL,
                  (const size_t[]){1000});
}
END_TEST

START_TEST(caps)
{
    const double w2[] = {1, 1};
    expect_counts(10, w2, 2, NULL, (const size_t[]){3, SIZE_MAX}, (const size_t[]){3, 7});
    expect_counts(10, w2, 2, NULL, (const size_t[]){5, 5}, (const size_t[]){5, 5});
    expect_counts(10, w2, 2, NULL, (const size_t[]){10, 0}, (const size_t[]){10, 0});
    /* water-filling: 50 > 20, so device 0 is fixed at 20 and 80 are shared 1:1 */
    expect_counts(100, (const double[]){2, 1, 1}, 3, NULL,
                  (const size_t[]){20, SIZE_MAX, SIZE_MAX}, (const size_t[]){20, 40, 40});
    /* two rounds: 40 > 10 fixes device 0; then 45 > 30 fixes device 1; device 2 takes 60 */
    expect_counts(100, (const double[]){4, 3, 3}, 3, NULL, (const size_t[]){10, 30, SIZE_MAX},
                  (const size_t[]){10, 30, 60});
    /* the excess is shared in proportion to the remaining weights (1:3) */
    expect_counts(100, (const double[]){8, 1, 3}, 3, NULL, (const size_t[]){4, 100, 100},
                  (const size_t[]){4, 24, 72});
    /* caps below the granularity: devices 0-2 cannot take a granule of 8, so device 3
     * takes their 21 rows too (the example in partition.c) */
    expect_counts(30, (const double[]){1, 1, 1, 0.001}, 4, (const size_t[]){8, 8, 8, 1},
                  (const size_t[]){7, 7, 7, SIZE_MAX}, (const size_t[]){0, 0, 0, 30});
    /* no device has room for the whole remainder: it is spread, each filled to its cap */
    expect_counts(6, (const double[]){1, 1, 1}, 3, (const size_t[]){4, 4, 4},
                  (const size_t[]){2, 2, 2}, (const size_t[]){2, 2, 2});
    expect_counts(5, (const double[]){1, 1, 3}, 3, (const size_t[]){4, 4, 4},
                  (const size_t[]){2, 2, 2}, (const size_t[]){2, 1, 2});
    /* exactly enough room */
    expect_counts(9, (const double[]){1, 1, 1}, 3, (const size_t[]){2, 2, 2},
                  (const size_t[]){3, 3, 3}, (const size_t[]){3, 3, 3});
}
END_TEST

START_TEST(edge_cases)
{
    hg_error e;
    hg__range out[4];
    /* rows == 0: all counts 0, even with all-zero weights */
    expect_counts(0, (const double[]){1, 2}, 2, NULL, NULL, (const size_t[]){0, 0});
    expect_counts(0, (const double[]){0, 0, 0}, 3, NULL, NULL, (const size_t[]){0, 0, 0});
    expect_counts(0, (const double[]){1, 1}, 2, (const size_t[]){4, 4}, (const size_t[]){0, 0},
                  (const size_t[]){0, 0});
    ck_assert_int_eq(hg__partition_split(0, NULL, 0, NULL, NULL, NULL, &e), HG_OK);
    ck_assert_int_eq(hg__partition_split(0, NULL, 0, NULL, NULL, NULL, NULL), HG_OK);
    /* fewer rows than devices */
    expect_counts(2, (const double[]){1, 1, 1, 1}, 4, NULL, NULL, (const size_t[]){1, 1, 0, 0});
    expect_counts(1, (const double[]){1, 1, 2}, 3, NULL, NULL, (const size_t[]){0, 0, 1});
    /* a single device */
    expect_counts(12345, (const double[]){0.25}, 1, NULL, NULL, (const size_t[]){12345});
    /* zero-weight devices get nothing */
    expect_counts(9, (const double[]){0, 1, 0, 1}, 4, NULL, NULL, (const size_t[]){0, 5, 0, 4});
    expect_counts(9, (const double[]){-0.0, 1}, 2, NULL, NULL, (const size_t[]){0, 9});
    /* weights too small to matter next to the largest still take part */
    expect_counts(3, (const double[]){DBL_MAX, 4.9e-324}, 2, NULL, NULL, (const size_t[]){3, 0});
    expect_counts(3, (const double[]){4.9e-324, 4.9e-324}, 2, NULL, NULL,
                  (const size_t[]){2, 1});
    /* error is cleared on success */
    e.status = HG_IO;
    strcpy(e.message, "stale");
    ck_assert_int_eq(hg__partition_split(4, (const double[]){1}, 1, NULL, NULL, out, &e), HG_OK);
    ck_assert_int_eq(e.status, HG_OK);
    ck_assert_str_eq(e.message, "");
    ck_assert_uint_eq(out[0].count, 4);
}
END_TEST

START_TEST(huge_rows)
{
    size_t c[MAXDEV];
    const size_t half = SIZE_MAX / 2;
    split_ok(half, (const double[]){1, 1, 1}, 3, NULL, NULL, c);
    for (size_t i = 0; i < 3; i++) /* shares are within a few ulp of half / 3 */
        ck_assert(c[i] >= half / 3 - 4096 && c[i] <= half / 3 + 4096);
    split_ok(half, (const double[]){1, 1e-300, 3}, 3, (const size_t[]){64, 1, 3}, NULL, c);
    ck_assert(c[0] >= half / 4 - 8192 && c[0] <= half / 4 + 8192);
    ck_assert(c[1] <= 8192);
    split_ok(SIZE_MAX, (const double[]){1}, 1, NULL, NULL, c);
    ck_assert(c[0] == SIZE_MAX);
    split_ok(SIZE_MAX, (const double[]){1, 1}, 2, (const size_t[]){3, 5}, NULL, c);
    split_ok(SIZE_MAX, (const double[]){1, 1}, 2, NULL,
             (const size_t[]){SIZE_MAX - 10, SIZE_MAX}, c);
    split_ok(half, (const double[]){2, 1, 1}, 3, (const size_t[]){1024, 1, 8},
             (const size_t[]){half / 10, SIZE_MAX, half / 3}, c);
    ck_assert(c[0] >= half / 10 / 1024 * 1024 - 8192 && c[0] <= half / 10);
    ck_assert(c[2] >= half / 3 - 8192 && c[2] <= half / 3);
    /* caps adding up to exactly rows */
    split_ok(half, (const double[]){1, 1}, 2, NULL, (const size_t[]){half - 1000, 1000}, c);
    ck_assert(c[0] == half - 1000 && c[1] == 1000);
}
END_TEST

/* Huge granularities next to fine ones: the bulk steps must keep this fast. */
START_TEST(coarse_and_fine_granularity)
{
    size_t c[MAXDEV];
    const size_t big = (size_t)1 << 40;
    split_ok(((size_t)1 << 45) + 12345, (const double[]){1, 1}, 2, (const size_t[]){big, 1},
             NULL, c);
    ck_assert(c[0] % big == 0);
    split_ok(((size_t)1 << 41) - 1, (const double[]){1, 1, 1}, 3,
             (const size_t[]){big, 1, 3}, NULL, c);
    split_ok(((size_t)1 << 50) + 7, (const double[]){1, 2, 3, 4, 5, 6}, 6,
             (const size_t[]){1, big, 7, big / 3, 1, 2}, NULL, c);
    split_ok(((size_t)1 << 50) + 7, (const double[]){1, 1e-9, 1e9, 4, 0, 6}, 6,
             (const size_t[]){1, 1, 7, 1, 1, 2},
             (const size_t[]){SIZE_MAX, 5, big, 3, 9, SIZE_MAX}, c);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

START_TEST(errors)
{
    hg_error e;
    const double w2[] = {1, 1};
    ck_assert_int_eq(split_err(5, w2, 0, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "5 rows to split but no devices");
    ck_assert_int_eq(split_err(5, NULL, 2, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "weight is NULL");
    ck_assert_int_eq(split_err(0, NULL, 2, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__partition_split(5, w2, 2, NULL, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "out is NULL");

    ck_assert_int_eq(split_err(5, (const double[]){1, 1, -1}, 3, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "weight of device 2 is -1");
    ck_assert_int_eq(split_err(5, (const double[]){1, NAN}, 2, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "weight of device 1 is nan");
    ck_assert_int_eq(split_err(5, (const double[]){INFINITY, 1}, 2, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "weight of device 0 is inf");
    ck_assert_int_eq(split_err(5, (const double[]){-INFINITY}, 1, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    /* bad weights are errors even with nothing to split */
    ck_assert_int_eq(split_err(0, (const double[]){1, -0.5}, 2, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "device 1");

    ck_assert_int_eq(split_err(5, w2, 2, (const size_t[]){4, 0}, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "granularity of device 1 is 0");
    ck_assert_int_eq(split_err(0, w2, 2, (const size_t[]){0, 1}, NULL, &e),
                     HG_INVALID_ARGUMENT);

    ck_assert_int_eq(split_err(5, (const double[]){0, 0, 0}, 3, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "all 3 device weights are 0");
    ck_assert_int_eq(split_err(5, (const double[]){1, 0}, 2, NULL, (const size_t[]){0, 100}, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "max_rows 0");

    ck_assert_int_eq(split_err(10, w2, 2, NULL, (const size_t[]){3, 4}, &e), HG_RANGE);
    expect_message(&e, "at most 7 rows");
    expect_message(&e, "3 of the 10 rows cannot be placed");
    /* a zero-weight device's cap does not count */
    ck_assert_int_eq(split_err(10, (const double[]){1, 0}, 2, NULL, (const size_t[]){3, 100},
                               &e), HG_RANGE);
    expect_message(&e, "7 of the 10 rows cannot be placed");
    ck_assert_int_eq(split_err(SIZE_MAX, w2, 2, NULL, (const size_t[]){SIZE_MAX - 1, 0}, &e),
                     HG_RANGE);
    expect_message(&e, "1 of the");
    /* every message names the function */
    expect_message(&e, "hg__partition_split: ");

    /* err may be NULL */
    ck_assert_int_eq(hg__partition_split(5, w2, 0, NULL, NULL, NULL, NULL), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__partition_split(10, w2, 2, NULL, (const size_t[]){1, 1},
                                        (hg__range[2]){{0, 0}, {0, 0}}, NULL), HG_RANGE);
}
END_TEST

START_TEST(ideal_shares)
{
    hg_error e;
    double s[3];
    ck_assert_int_eq(hg__partition_ideal(10, (const double[]){3, 1, 0}, 3, NULL, s, &e), HG_OK);
    ck_assert(s[0] == 7.5 && s[1] == 2.5 && s[2] == 0.0);
    ck_assert_int_eq(hg__partition_ideal(100, (const double[]){2, 1, 1}, 3,
                                        (const size_t[]){20, SIZE_MAX, SIZE_MAX}, s, &e), HG_OK);
    ck_assert(s[0] == 20.0 && s[1] == 40.0 && s[2] == 40.0);
    ck_assert_int_eq(hg__partition_ideal(0, (const double[]){0, 0, 0}, 3, NULL, s, &e), HG_OK);
    ck_assert(s[0] == 0.0 && s[1] == 0.0 && s[2] == 0.0);
    ck_assert_int_eq(hg__partition_ideal(5, (const double[]){1}, 1, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
    expect_message(&e, "hg__partition_ideal: ideal is NULL");
    ck_assert_int_eq(hg__partition_ideal(5, (const double[]){1, 1}, 2, (const size_t[]){1, 1}, s,
                                        &e), HG_RANGE);
    ck_assert_int_eq(hg__partition_ideal(5, (const double[]){NAN}, 1, NULL, s, &e),
                     HG_INVALID_ARGUMENT);
}
END_TEST

/* ---- random properties ------------------------------------------------- */

typedef struct lcg {
    uint64_t state;
} lcg;

static uint64_t lcg_next(lcg *r)
{
    r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return r->state >> 11; /* the low bits of an LCG are weak */
}

/* Uniform-ish in [0, n) (n > 0). */
static uint64_t lcg_below(lcg *r, uint64_t n)
{
    return lcg_next(r) % n;
}

static double lcg_unit(lcg *r)
{
    return (double)(lcg_next(r) >> 1) / 4503599627370496.0; /* [0, 1) */
}

/* Does a come before b (SIZE_MAX: none) at deficit ideal - count? (the documented order) */
static bool ref_before(const double *s, const size_t *c, const double *w, size_t a, size_t b)
{
    if (b == SIZE_MAX)
        return true;
    double da = s[a] - (double)c[a], db = s[b] - (double)c[b];
    if (da != db)
        return da > db;
    if (w[a] != w[b])
        return w[a] > w[b];
    return a < b;
}

/* The documented rule, one granule at a time. */
static void reference_split(size_t rows, const double *w, size_t n, const size_t *g,
                            const size_t *cap, const double *s, size_t *c)
{
    size_t left = rows;
    for (size_t i = 0; i < n; i++)
        c[i] = 0;
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (is_usable(w, cap, i) && g_of(g, i) <= left &&
                g_of(g, i) <= cap_at(cap, i) - c[i] && ref_before(s, c, w, i, best))
                best = i;
        if (best == SIZE_MAX)
            break;
        c[best] += g_of(g, best);
        left -= g_of(g, best);
    }
    while (left > 0) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (is_usable(w, cap, i) && cap_at(cap, i) - c[i] >= left &&
                ref_before(s, c, w, i, best))
                best = i;
        if (best == SIZE_MAX)
            for (size_t i = 0; i < n; i++)
                if (is_usable(w, cap, i) && cap_at(cap, i) - c[i] > 0 &&
                    ref_before(s, c, w, i, best))
                    best = i;
        REQUIRE(best != SIZE_MAX);
        size_t room = cap_at(cap, best) - c[best];
        size_t take = room < left ? room : left;
        c[best] += take;
        left -= take;
    }
}

/* The shares are a water-filling of rows under the caps. */
static void check_ideal(size_t rows, const double *w, size_t n, const size_t *cap,
                        const double *s)
{
    double sum = 0.0, level = -1.0;
    for (size_t i = 0; i < n; i++) {
        REQUIRE(isfinite(s[i]) && s[i] >= 0.0);
        if (!is_usable(w, cap, i))
            REQUIRE(s[i] == 0.0);
        REQUIRE(s[i] <= (double)cap_at(cap, i));
        sum += s[i];
        if (is_usable(w, cap, i) && s[i] < (double)cap_at(cap, i) && w[i] >= 1e-6 && level < 0.0)
            level = s[i] / w[i];
    }
    REQUIRE_MSG(fabs(sum - (double)rows) <= 1e-9 * (double)rows + 1e-9,
                "shares add up to %.17g, not %zu", sum, rows);
    if (level < 0.0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!is_usable(w, cap, i) || w[i] < 1e-6)
            continue;
        if (s[i] < (double)cap_at(cap, i))
            REQUIRE_MSG(fabs(s[i] / w[i] - level) <= 1e-9 * level + 1e-12,
                        "device %zu: share/weight %.17g, others %.17g", i, s[i] / w[i], level);
        else
            REQUIRE_MSG((double)cap_at(cap, i) <= level * w[i] * (1 + 1e-9) + 1e-9,
                        "device %zu capped at %zu below its share %.17g", i, cap_at(cap, i),
                        level * w[i]);
    }
}

/* The granularity rule (see the top of the file). */
static void check_granularity(size_t rows, const double *w, size_t n, const size_t *g,
                              const size_t *cap, const double *s, const size_t *c)
{
    size_t base[MAXDEV], r = 0, odd = 0, holder = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t part = c[i] % g_of(g, i);
        base[i] = c[i] - part;
        r += part;
        if (part) {
            odd++;
            holder = i;
        }
    }
    REQUIRE(r <= rows);
    if (r == 0)
        return;
    bool one_has_room = false;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!is_usable(w, cap, i))
            continue;
        size_t room = cap_at(cap, i) - base[i];
        REQUIRE_MSG(!(g_of(g, i) <= r && g_of(g, i) <= room),
                    "device %zu could take a granule of %zu from the remainder %zu", i,
                    g_of(g, i), r);
        if (room >= r) {
            one_has_room = true;
            if (ref_before(s, base, w, i, best))
                best = i;
        }
    }
    if (odd > 1) {
        REQUIRE_MSG(!one_has_room, "remainder %zu spread although one device had room", r);
    } else {
        REQUIRE(one_has_room);
        REQUIRE_MSG(holder == best, "remainder %zu on device %zu, want %zu", r, holder, best);
    }
}

static void check_bound(size_t rows, const double *w, size_t n, const size_t *g,
                        const size_t *cap, const double *s, const size_t *c)
{
    size_t gmax = 0, gsum = 0;
    for (size_t i = 0; i < n; i++)
        if (is_usable(w, cap, i)) {
            gmax = g_of(g, i) > gmax ? g_of(g, i) : gmax;
            gsum += g_of(g, i);
        }
    double tol = 1e-9 + ((double)rows > 0x1p52 ? (double)rows * 0x1p-40 : 0.0);
    for (size_t i = 0; i < n; i++) {
        double under = s[i] - (double)c[i], over = (double)c[i] - s[i];
        REQUIRE_MSG(under < (double)gmax + tol, "device %zu: %zu rows, share %.17g, G %zu", i,
                    c[i], s[i], gmax);
        REQUIRE_MSG(over < (double)gsum + tol, "device %zu: %zu rows, share %.17g, S %zu", i,
                    c[i], s[i], gsum);
        if (gmax == 1)
            REQUIRE_MSG(fabs(over) < 1.0 + tol, "device %zu: %zu rows, share %.17g", i, c[i],
                        s[i]);
    }
}

static double random_weight(lcg *r)
{
    switch (lcg_below(r, 9)) {
    case 0:
    case 1:
        return 0.0;
    case 2:
        return 1.0;
    case 3:
        return (double)(1 + lcg_below(r, 9));
    case 4:
        return 0.5;
    case 5:
        return 1e-3 * lcg_unit(r);
    case 6:
        return 1e6 * lcg_unit(r);
    default:
        return 10.0 * lcg_unit(r);
    }
}

static size_t random_rows(lcg *r)
{
    switch (lcg_below(r, 10)) {
    case 0:
    case 1:
    case 2:
        return (size_t)lcg_below(r, 21);
    case 3:
    case 4:
    case 5:
    case 6:
        return (size_t)lcg_below(r, 301);
    case 7:
    case 8:
        return (size_t)lcg_below(r, 100001);
    default:
        return (size_t)(lcg_next(r) % (SIZE_MAX / 2)); /* up to 2^63 */
    }
}

static size_t random_cap(lcg *r, size_t rows, size_t gran)
{
    switch (lcg_below(r, 8)) {
    case 0:
        return 0;
    case 1:
        return gran > 1 ? gran - 1 : 1;
    case 2:
        return rows / 2 + (size_t)lcg_below(r, 3);
    case 3:
        return (size_t)(lcg_next(r) % ((uint64_t)rows + 3));
    default:
        return SIZE_MAX;
    }
}

START_TEST(random_properties)
{
    lcg r = {UINT64_C(0x5eed5eed12345678)};
    size_t cases = 0, compared = 0, refused = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 1 + (size_t)lcg_below(&r, 6);
        double w[MAXDEV];
        size_t gran[MAXDEV], cap[MAXDEV];
        size_t rows = random_rows(&r);
        bool use_gran = lcg_below(&r, 4) != 0, use_cap = lcg_below(&r, 2) != 0;
        for (size_t i = 0; i < n; i++) {
            w[i] = random_weight(&r);
            gran[i] = 1 + (size_t)lcg_below(&r, 8);
            cap[i] = random_cap(&r, rows, gran[i]);
        }
        const size_t *g = use_gran ? gran : NULL;
        const size_t *cp = use_cap ? cap : NULL;

        /* what the checks must say */
        bool any_usable = false;
        size_t room = 0;
        for (size_t i = 0; i < n; i++)
            if (is_usable(w, cp, i)) {
                any_usable = true;
                size_t c = cap_at(cp, i);
                room = c > SIZE_MAX - room ? SIZE_MAX : room + c;
            }
        hg__range out[MAXDEV];
        hg_error e;
        hg_status st = hg__partition_split(rows, w, n, g, cp, out, &e);
        if (rows > 0 && !any_usable) {
            REQUIRE(st == HG_INVALID_ARGUMENT);
            refused++;
            continue;
        }
        if (rows > 0 && room < rows) {
            REQUIRE(st == HG_RANGE);
            refused++;
            continue;
        }
        REQUIRE_MSG(st == HG_OK, "%s", e.message);

        size_t c[MAXDEV], again[MAXDEV], ref[MAXDEV];
        double s[MAXDEV];
        split_ok(rows, w, n, g, cp, c);
        split_ok(rows, w, n, g, cp, again);
        for (size_t i = 0; i < n; i++) {
            REQUIRE(c[i] == again[i]); /* deterministic */
                    REQUIRE(c[i] == out[i].count);
        }
        REQUIRE(hg__partition_ideal(rows, w, n, cp, s, &e) == HG_OK);
        check_ideal(rows, w, n, cp, s);
        check_granularity(rows, w, n, g, cp, s, c);
        check_bound(rows, w, n, g, cp, s, c);
        if (rows <= 5000) {
            reference_split(rows, w, n, g, cp, s, ref);
            for (size_t i = 0; i < n; i++)
                REQUIRE_MSG(c[i] == ref[i], "case %d: device %zu got %zu, greedy %zu", iter,
                            i, c[i], ref[i]);
            compared++;
        }
        cases++;
    }
    /* the generator reaches every kind of case */
    REQUIRE(cases > 10000 && compared > 8000 && refused > 500);
}
END_TEST

/* Least max |count_i - s_i| over every way to put rows on n devices. */
static double brute_min_max(size_t rows, size_t n, const double *s, size_t i, size_t left,
                            double worst)
{
    if (i == n - 1) {
        double d = fabs((double)left - s[i]);
        return d > worst ? d : worst;
    }
    double best = INFINITY;
    for (size_t k = 0; k <= left; k++) {
        double d = fabs((double)k - s[i]);
        double m = brute_min_max(rows, n, s, i + 1, left - k, d > worst ? d : worst);
        best = m < best ? m : best;
    }
    return best;
}

START_TEST(brute_force_optimum)
{
    lcg r = {UINT64_C(42)};
    for (int iter = 0; iter < 4000; iter++) {
        size_t n = 1 + (size_t)lcg_below(&r, 3);
        size_t rows = (size_t)lcg_below(&r, 13);
        double w[3], s[3], wsum = 0.0;
        for (size_t i = 0; i < n; i++) {
            w[i] = lcg_below(&r, 4) == 0 ? 0.0
                   : lcg_below(&r, 2)    ? (double)(1 + lcg_below(&r, 5))
                                         : lcg_unit(&r) + 0.01;
            wsum += w[i];
        }
        if (wsum == 0.0)
            continue;
        for (size_t i = 0; i < n; i++)
            s[i] = (double)rows * w[i] / wsum;
        size_t c[3];
        split_ok(rows, w, n, NULL, NULL, c);
        double got = 0.0;
        for (size_t i = 0; i < n; i++)
            got = fmax(got, fabs((double)c[i] - s[i]));
        double best = brute_min_max(rows, n, s, 0, rows, 0.0);
        REQUIRE_MSG(got <= best + 1e-9, "%zu rows on %zu devices: max deviation %.17g, "
                    "optimum %.17g", rows, n, got, best);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("partition");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, equal_weights);
    tcase_add_test(tc, unequal_weights);
    tcase_add_test(tc, granularity);
    tcase_add_test(tc, caps);
    tcase_add_test(tc, edge_cases);
    tcase_add_test(tc, huge_rows);
    tcase_add_test(tc, coarse_and_fine_granularity);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, ideal_shares);
    tcase_add_test(tc, random_properties);
    tcase_add_test(tc, brute_force_optimum);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
