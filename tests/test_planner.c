/* SPDX-License-Identifier: MIT */
/*
 * test_planner.c - affine, memory-aware planning (planner.c), no device.
 *
 * Hand-checked plans (equal devices, a device with a large fixed overhead left out of small
 * steps and used for large ones, caps, one device, invalid models), huge row counts, every
 * error, and a randomised comparison with brute force over every integer split (rows <= 20,
 * ndev <= 3, a in [0, 5], b in [0.1, 3], random caps and invalid models, plus integer costs
 * that make ties common).  For every random case:
 *   - the status is HG_OK exactly when some split exists, HG_RANGE / HG_INVALID_ARGUMENT as
 *     documented otherwise;
 *   - counts add up to rows exactly, respect the caps, give invalid models 0 rows;
 *   - the makespan equals the brute-force optimum (within 1e-9; in fact exactly) and
 *     hg__plan_makespan of the counts;
 *   - every device given rows is needed: the other devices given rows cannot match the
 *     makespan without it;
 *   - the same arguments give the same plan.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sched/planner.h"

enum { MAXDEV = 8 };

#define REQUIRE_MSG(cond, ...)                                                          \
    do {                                                                                \
        if (!(cond))                                                                    \
            ck_abort_msg(__VA_ARGS__);                                                  \
    } while (0)
#define REQUIRE(cond) REQUIRE_MSG(cond, "%s:%d: %s", __FILE__, __LINE__, #cond)

/* ---- helpers ----------------------------------------------------------- */

static hg__cost_model mk(double a, double b)
{
    return (hg__cost_model){a, b, 1, 0, true};
}

static size_t cap_at(const size_t *cap, size_t i)
{
    return cap ? cap[i] : SIZE_MAX;
}

/* Plan, assert success and the structural properties; counts into c, makespan returned. */
static double plan_ok(size_t rows, const hg__cost_model *m, size_t n, const size_t *cap,
                      size_t *c)
{
    hg_error e;
    double ms = -1.0;
    hg_status st = hg__plan_affine(rows, m, n, cap, c, &ms, &e);
    REQUIRE_MSG(st == HG_OK, "plan of %zu rows: %s: %s", rows, hg_status_name(st), e.message);
    REQUIRE(e.status == HG_OK && e.message[0] == '\0');
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        REQUIRE_MSG(c[i] <= cap_at(cap, i), "device %zu: %zu rows over cap %zu", i, c[i],
                    cap_at(cap, i));
        if (!m[i].valid)
            REQUIRE_MSG(c[i] == 0, "invalid device %zu got %zu rows", i, c[i]);
        REQUIRE(c[i] <= rows - sum);
        sum += c[i];
    }
    REQUIRE_MSG(sum == rows, "counts add up to %zu, not %zu", sum, rows);
    REQUIRE_MSG(ms == hg__plan_makespan(m, n, c), "makespan %.17g, counts give %.17g", ms,
                hg__plan_makespan(m, n, c));
    return ms;
}

static void expect_plan(size_t rows, const hg__cost_model *m, size_t n, const size_t *cap,
                        const size_t *want, double want_ms)
{
    size_t c[MAXDEV];
    double ms = plan_ok(rows, m, n, cap, c);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c[i] == want[i], "%zu rows: device %zu got %zu, want %zu", rows, i, c[i],
                      want[i]);
    ck_assert_msg(fabs(ms - want_ms) <= 1e-12 * want_ms,
                  "%zu rows: makespan %.17g, want %.17g", rows, ms, want_ms);
}

static hg_status plan_err(size_t rows, const hg__cost_model *m, size_t n, const size_t *cap,
                          hg_error *e)
{
    size_t c[MAXDEV];
    double ms = 77.0;
    for (size_t i = 0; i < MAXDEV; i++)
        c[i] = 77;
    hg_status st = hg__plan_affine(rows, m, n, cap, n ? c : NULL, &ms, e);
    ck_assert_int_ne(st, HG_OK);
    ck_assert_int_eq(e->status, st);
    for (size_t i = 0; i < MAXDEV; i++) /* written only on success */
        ck_assert(c[i] == 77);
    ck_assert(ms == 77.0);
    ck_assert_msg(strstr(e->message, "hg__plan_affine: ") == e->message, "message \"%s\"",
                  e->message);
    return st;
}

static void expect_message(const hg_error *e, const char *part)
{
    ck_assert_msg(strstr(e->message, part) != NULL, "message \"%s\" lacks \"%s\"", e->message,
                  part);
}

/* ---- hand-checked plans ------------------------------------------------ */

START_TEST(equal_devices)
{
    const hg__cost_model m2[] = {mk(1, 1), mk(1, 1)};
    expect_plan(10, m2, 2, NULL, (const size_t[]){5, 5}, 6.0);
    /* 11 rows: 6 + 5; the row finishing at 7 goes to the lower index */
    expect_plan(11, m2, 2, NULL, (const size_t[]){6, 5}, 7.0);
    /* 1 row: the second device's overhead buys nothing, it is left out */
    expect_plan(1, m2, 2, NULL, (const size_t[]){1, 0}, 2.0);
    const hg__cost_model m3[] = {mk(0, 2), mk(0, 2), mk(0, 2)};
    expect_plan(9, m3, 3, NULL, (const size_t[]){3, 3, 3}, 6.0);
    /* 4 rows: 2 + 2 finishes at 4 like 2 + 1 + 1, with one device fewer */
    expect_plan(4, m3, 3, NULL, (const size_t[]){2, 2, 0}, 4.0);
    /* unequal per-row costs, no overhead: 3:1 */
    expect_plan(100, (const hg__cost_model[]){mk(0, 1), mk(0, 3)}, 2, NULL,
                (const size_t[]){75, 25}, 75.0);
}
END_TEST

START_TEST(large_overhead)
{
    /* device 1: 100 ms to start, then 10x faster per row */
    const hg__cost_model m[] = {mk(0, 1), mk(100, 0.1)};
    expect_plan(10, m, 2, NULL, (const size_t[]){10, 0}, 10.0);
    expect_plan(100, m, 2, NULL, (const size_t[]){100, 0}, 100.0);
    /* 110 rows: alone 110 ms; with device 1 (first row done at 100.1) the least makespan
       is 101: 101 + 9 or 100 + 10 rows; the row finishing at 101 goes to the smaller b */
    expect_plan(110, m, 2, NULL, (const size_t[]){100, 10}, 101.0);
    /* large step: T = 1000 with 1000 + 9000 rows */
    expect_plan(10000, m, 2, NULL, (const size_t[]){1000, 9000}, 1000.0);
    /* a device whose overhead equals the other's whole step is not needed */
    expect_plan(10, (const hg__cost_model[]){mk(0, 1), mk(9, 1)}, 2, NULL,
                (const size_t[]){10, 0}, 10.0);
    /* three devices: the one with overhead joins only when the step is long enough */
    const hg__cost_model m3[] = {mk(0, 1), mk(0, 1), mk(50, 0.5)};
    expect_plan(60, m3, 3, NULL, (const size_t[]){30, 30, 0}, 30.0);
    expect_plan(300, m3, 3, NULL, (const size_t[]){100, 100, 100}, 100.0);
}
END_TEST

START_TEST(caps)
{
    const hg__cost_model m2[] = {mk(1, 1), mk(1, 1)};
    expect_plan(10, m2, 2, (const size_t[]){3, SIZE_MAX}, (const size_t[]){3, 7}, 8.0);
    expect_plan(10, m2, 2, (const size_t[]){0, SIZE_MAX}, (const size_t[]){0, 10}, 11.0);
    expect_plan(10, m2, 2, (const size_t[]){5, 5}, (const size_t[]){5, 5}, 6.0);
    /* the fast device is capped, the slow one takes the rest */
    expect_plan(100, (const hg__cost_model[]){mk(0, 1), mk(0, 3)}, 2, (const size_t[]){40, 100},
                (const size_t[]){40, 60}, 180.0);
    /* a cap forces in a device the optimum would otherwise leave out */
    expect_plan(10, (const hg__cost_model[]){mk(0, 1), mk(100, 1)}, 2, (const size_t[]){8, 100},
                (const size_t[]){8, 2}, 102.0);
}
END_TEST

START_TEST(single_and_invalid)
{
    expect_plan(1000, (const hg__cost_model[]){mk(3, 0.5)}, 1, NULL, (const size_t[]){1000},
                503.0);
    /* invalid models get nothing */
    hg__cost_model m[] = {mk(0, 1), mk(0, 1), mk(0, 1)};
    m[1].valid = false;
    m[1].b_ms_per_row = NAN; /* not looked at */
    expect_plan(10, m, 3, NULL, (const size_t[]){5, 0, 5}, 5.0);
    /* rows == 0 */
    expect_plan(0, m, 3, NULL, (const size_t[]){0, 0, 0}, 0.0);
    expect_plan(0, m, 3, (const size_t[]){0, 0, 0}, (const size_t[]){0, 0, 0}, 0.0);
    double ms = -1;
    ck_assert_int_eq(hg__plan_affine(0, NULL, 0, NULL, NULL, &ms, NULL), HG_OK);
    ck_assert(ms == 0.0);
    ck_assert_int_eq(hg__plan_affine(0, m, 3, NULL, (size_t[3]){0}, NULL, NULL), HG_OK);
}
END_TEST

START_TEST(huge_rows)
{
    const hg__cost_model m[] = {mk(0, 1e-9), mk(2, 2e-9), mk(0, 4e-9)};
    size_t c[3];
    size_t rows = SIZE_MAX / 2;
    double ms = plan_ok(rows, m, 3, NULL, c);
    /* shares close to 4:2:1 */
    ck_assert(fabs((double)c[0] / (double)rows - 4.0 / 7.0) < 1e-9);
    ck_assert(fabs((double)c[2] / (double)rows - 1.0 / 7.0) < 1e-9);
    ck_assert(ms > 0.0 && isfinite(ms));
    /* every cap SIZE_MAX - 1: sums of capacities saturate */
    ms = plan_ok(SIZE_MAX, m, 3, (const size_t[]){SIZE_MAX - 1, SIZE_MAX - 1, SIZE_MAX - 1},
                 c);
    ck_assert(isfinite(ms));
    /* absorbed per-row cost: a + b*k is flat for thousands of k */
    const hg__cost_model flat[] = {mk(1e6, 1e-12), mk(1e6, 1e-12)};
    ms = plan_ok(123457, flat, 2, NULL, c);
    ck_assert(ms >= 1e6 + 1e-12 * 61728.0 && ms <= 1e6 + 1e-12 * 61730.0);
    ck_assert(c[0] + c[1] == 123457);
}
END_TEST

START_TEST(makespan_fn)
{
    const hg__cost_model m[] = {mk(1, 2), mk(0, 1), {0, 0, 0, 0, false}};
    ck_assert(hg__plan_makespan(m, 3, (const size_t[]){0, 0, 0}) == 0.0);
    ck_assert(hg__plan_makespan(m, 3, (const size_t[]){2, 3, 0}) == 5.0);
    ck_assert(hg__plan_makespan(m, 3, (const size_t[]){2, 7, 0}) == 7.0);
    ck_assert(isinf(hg__plan_makespan(m, 3, (const size_t[]){2, 7, 1})));
    ck_assert(isnan(hg__plan_makespan(NULL, 3, (const size_t[]){1, 1, 1})));
    ck_assert(isnan(hg__plan_makespan(m, 3, NULL)));
    ck_assert(hg__plan_makespan(NULL, 0, NULL) == 0.0);
}
END_TEST

START_TEST(errors)
{
    hg_error e;
    const hg__cost_model m2[] = {mk(0, 1), mk(0, 1)};
    size_t c[2];
    ck_assert_int_eq(hg__plan_affine(5, NULL, 2, NULL, c, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "model is NULL with 2 devices");
    ck_assert_int_eq(hg__plan_affine(5, m2, 2, NULL, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "counts is NULL");
    ck_assert_int_eq(hg__plan_affine(0, m2, 2, NULL, NULL, NULL, &e), HG_INVALID_ARGUMENT);

    ck_assert_int_eq(plan_err(5, m2, 0, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "5 rows to plan but no devices");

    /* bad valid models, even with nothing to plan */
    const double bad_a[] = {-1.0, NAN, INFINITY};
    for (size_t k = 0; k < 3; k++) {
        const hg__cost_model m[] = {mk(0, 1), mk(bad_a[k], 1)};
        ck_assert_int_eq(plan_err(5, m, 2, NULL, &e), HG_INVALID_ARGUMENT);
        expect_message(&e, "model of device 1");
        ck_assert_int_eq(plan_err(0, m, 2, NULL, &e), HG_INVALID_ARGUMENT);
    }
    const double bad_b[] = {0.0, -1.0, NAN, INFINITY};
    for (size_t k = 0; k < 4; k++) {
        const hg__cost_model m[] = {mk(0, bad_b[k]), mk(0, 1)};
        ck_assert_int_eq(plan_err(5, m, 2, NULL, &e), HG_INVALID_ARGUMENT);
        expect_message(&e, "model of device 0");
    }

    hg__cost_model inv[] = {mk(0, 1), mk(0, 1)};
    inv[0].valid = inv[1].valid = false;
    ck_assert_int_eq(plan_err(5, inv, 2, NULL, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "none of the 2 devices has a valid cost model");
    ck_assert_int_eq(plan_err(5, m2, 2, (const size_t[]){0, 0}, &e), HG_INVALID_ARGUMENT);
    expect_message(&e, "cap 0");

    ck_assert_int_eq(plan_err(10, m2, 2, (const size_t[]){3, 4}, &e), HG_RANGE);
    expect_message(&e, "at most 7 rows");
    expect_message(&e, "3 of the 10 rows cannot be placed");
    /* an invalid device's cap does not count */
    inv[0].valid = true;
    ck_assert_int_eq(plan_err(10, inv, 2, (const size_t[]){3, 100}, &e), HG_RANGE);
    expect_message(&e, "7 of the 10 rows");

    /* the least makespan overflows */
    ck_assert_int_eq(plan_err(10, (const hg__cost_model[]){mk(0, 1e308)}, 1, NULL, &e),
                     HG_RANGE);
    expect_message(&e, "overflows");

    /* err may be NULL */
    ck_assert_int_eq(hg__plan_affine(10, m2, 2, (const size_t[]){1, 1}, c, NULL, NULL),
                     HG_RANGE);
}
END_TEST

/* ---- brute force ------------------------------------------------------- */

typedef struct lcg {
    uint64_t state;
} lcg;

static uint64_t lcg_next(lcg *r)
{
    r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return r->state >> 11;
}

static uint64_t lcg_below(lcg *r, uint64_t n)
{
    return lcg_next(r) % n;
}

static double lcg_unit(lcg *r)
{
    return (double)(lcg_next(r) >> 1) / 4503599627370496.0; /* [0, 1) */
}

/* Least makespan over every split of `left` rows on devices i.. (INFINITY: none). */
static double brute(const hg__cost_model *m, size_t n, const size_t *cap, size_t i,
                    size_t left, double worst)
{
    if (i == n)
        return left == 0 ? worst : INFINITY;
    double best = INFINITY;
    size_t kmax = m[i].valid ? cap_at(cap, i) : 0;
    for (size_t k = 0; k <= left && k <= kmax; k++) {
        double t = k ? m[i].a_ms + m[i].b_ms_per_row * (double)k : 0.0;
        double r = brute(m, n, cap, i + 1, left - k, t > worst ? t : worst);
        best = r < best ? r : best;
    }
    return best;
}

/* Random draws are sequenced one statement at a time, so every compiler makes the same. */
static hg__cost_model random_model(lcg *r, bool integral)
{
    if (lcg_below(r, 8) == 0) {
        hg__cost_model m = {0.0, 0.0, 0, 0, false};
        m.a_ms = lcg_unit(r);
        m.b_ms_per_row = lcg_unit(r);
        return m;
    }
    if (integral) {
        double a = (double)lcg_below(r, 6);
        return mk(a, (double)(1 + lcg_below(r, 3)) / 2.0);
    }
    double a = lcg_below(r, 5) == 0 ? 0.0 : 5.0 * lcg_unit(r);
    return mk(a, 0.1 + 2.9 * lcg_unit(r));
}

/* "case 7: 3 devices, 12 rows: (a, b, cap) ..." for failure messages. */
static const char *describe(char *buf, size_t len, int iter, const hg__cost_model *m,
                            size_t n, const size_t *cap, size_t rows)
{
    int k = snprintf(buf, len, "case %d: %zu rows:", iter, rows);
    for (size_t i = 0; i < n && k > 0 && (size_t)k < len; i++)
        k += snprintf(buf + k, len - (size_t)k, " (%s%.17g, %.17g, cap %zu)",
                      m[i].valid ? "" : "invalid ", m[i].a_ms, m[i].b_ms_per_row,
                      cap_at(cap, i));
    return buf;
}

static size_t random_cap(lcg *r, size_t rows)
{
    switch (lcg_below(r, 5)) {
    case 0:
        return 0;
    case 1:
    case 2:
        return (size_t)lcg_below(r, rows + 2);
    default:
        return SIZE_MAX;
    }
}

START_TEST(brute_force)
{
    lcg r = {UINT64_C(0xb00f)};
    size_t cases = 0, refused = 0, left_out = 0;
    for (int iter = 0; iter < 30000; iter++) {
        size_t n = 1 + (size_t)lcg_below(&r, 3);
        size_t rows = (size_t)lcg_below(&r, 21);
        bool integral = lcg_below(&r, 3) == 0, use_cap = lcg_below(&r, 2) == 0;
        hg__cost_model m[3];
        size_t cap[3];
        for (size_t i = 0; i < n; i++) {
            m[i] = random_model(&r, integral);
            cap[i] = random_cap(&r, rows);
        }
        const size_t *cp = use_cap ? cap : NULL;
        double best = brute(m, n, cp, 0, rows, 0.0);

        size_t c[3];
        double ms = -1.0;
        hg_error e;
        hg_status st = hg__plan_affine(rows, m, n, cp, c, &ms, &e);
        if (isinf(best)) {
            bool any = false;
            for (size_t i = 0; i < n; i++)
                any = any || (m[i].valid && cap_at(cp, i) > 0);
            REQUIRE_MSG(st == (any ? HG_RANGE : HG_INVALID_ARGUMENT), "case %d: %s", iter,
                        hg_status_name(st));
            refused++;
            continue;
        }
        REQUIRE_MSG(st == HG_OK, "case %d: %s", iter, e.message);
        ms = plan_ok(rows, m, n, cp, c);
        REQUIRE_MSG(fabs(ms - best) <= 1e-9, "case %d: %zu rows on %zu devices: makespan "
                    "%.17g, brute force %.17g", iter, rows, n, ms, best);
        REQUIRE(ms == best); /* exact, in fact */

        /* every device given rows is needed by the others given rows */
        for (size_t d = 0; d < n; d++) {
            if (c[d] == 0) {
                if (m[d].valid && cap_at(cp, d) > 0 && rows > 0)
                    left_out++;
                continue;
            }
            size_t cap2[3];
            for (size_t i = 0; i < n; i++)
                cap2[i] = i == d || c[i] == 0 ? 0 : cap_at(cp, i);
            double without = brute(m, n, cap2, 0, rows, 0.0);
            char buf[512];
            REQUIRE_MSG(without > ms, "%s: device %zu has %zu rows (makespan %.17g) but the "
                        "others finish by %.17g without it",
                        describe(buf, sizeof buf, iter, m, n, cp, rows), d, c[d], ms, without);
        }

        size_t again[3];
        plan_ok(rows, m, n, cp, again);
        for (size_t i = 0; i < n; i++)
            REQUIRE(again[i] == c[i]);
        cases++;
    }
    REQUIRE(cases > 20000 && refused > 1000 && left_out > 1000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("planner");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, equal_devices);
    tcase_add_test(tc, large_overhead);
    tcase_add_test(tc, caps);
    tcase_add_test(tc, single_and_invalid);
    tcase_add_test(tc, huge_rows);
    tcase_add_test(tc, makespan_fn);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, brute_force);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
