/* SPDX-License-Identifier: MIT */
/*
 * test_costmodel.c - the affine cost model fit (costmodel.c), no device.
 *
 * Exact recovery of a and b from noiseless data; noisy data (fixed-seed LCG, +/-3%) within
 * tolerance; a 100x spike in one repeat of a group of >= 3 leaves the fit within 1% (checked
 * over many seeds, spike positions and groups); the rejection rule with MAD > 0 and
 * MAD == 0; the intercept clamp; one distinct size; hg__cost_predict; every error.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sched/costmodel.h"

enum { MAXS = 64 };

/* ---- helpers ----------------------------------------------------------- */

typedef struct lcg {
    uint64_t state;
} lcg;

static uint64_t lcg_next(lcg *r)
{
    r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return r->state >> 11;
}

static double lcg_unit(lcg *r)
{
    return (double)(lcg_next(r) >> 1) / 4503599627370496.0; /* [0, 1) */
}

/* Multiplicative noise in [1 - rel, 1 + rel). */
static double noise(lcg *r, double rel)
{
    return 1.0 + rel * (2.0 * lcg_unit(r) - 1.0);
}

static hg__cost_model fit_ok(const size_t *rows, const double *ms, size_t n)
{
    hg__cost_model m;
    hg_error e;
    hg_status st = hg__cost_fit(rows, ms, n, &m, &e);
    ck_assert_msg(st == HG_OK, "fit: %s: %s", hg_status_name(st), e.message);
    ck_assert_int_eq(e.status, HG_OK);
    ck_assert(e.message[0] == '\0');
    ck_assert(m.valid);
    ck_assert(m.a_ms >= 0.0 && isfinite(m.a_ms));
    ck_assert(m.b_ms_per_row > 0.0 && isfinite(m.b_ms_per_row));
    ck_assert_uint_eq(m.samples + m.rejected, n);
    return m;
}

static void close_rel(double got, double want, double rel, const char *what)
{
    ck_assert_msg(fabs(got - want) <= rel * fabs(want), "%s: %.17g, want %.17g (rel %g)",
                  what, got, want, rel);
}

/* Largest relative difference of the two models' predictions over the sizes. */
static double fit_change(const hg__cost_model *x, const hg__cost_model *y, const size_t *sizes,
                         size_t nsizes)
{
    double worst = 0.0;
    for (size_t i = 0; i < nsizes; i++) {
        double px = hg__cost_predict(x, sizes[i]), py = hg__cost_predict(y, sizes[i]);
        worst = fmax(worst, fabs(px - py) / py);
    }
    return worst;
}

static void expect_fail(const size_t *rows, const double *ms, size_t n, hg_status want,
                        const char *part)
{
    hg__cost_model m = {1.0, 1.0, 3, 3, true};
    hg_error e;
    hg_status st = hg__cost_fit(rows, ms, n, &m, &e);
    ck_assert_msg(st == want, "got %s, want %s (%s)", hg_status_name(st), hg_status_name(want),
                  e.message);
    ck_assert_int_eq(e.status, st);
    ck_assert_msg(strstr(e.message, part) != NULL, "message \"%s\" lacks \"%s\"", e.message,
                  part);
    ck_assert_msg(strstr(e.message, "hg__cost_fit: ") == e.message, "message \"%s\"",
                  e.message);
    /* out becomes an invalid model */
    ck_assert(!m.valid && m.a_ms == 0.0 && m.b_ms_per_row == 0.0 && m.samples == 0 &&
              m.rejected == 0);
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(exact_recovery)
{
    const size_t sizes[] = {100, 200, 400, 800, 1600};
    size_t rows[MAXS];
    double ms[MAXS];
    size_t n = 0;
    for (int rep = 0; rep < 3; rep++)
        for (size_t s = 0; s < 5; s++) {
            rows[n] = sizes[s];
            ms[n] = 2.0 + 0.05 * (double)sizes[s];
            n++;
        }
    hg__cost_model m = fit_ok(rows, ms, n);
    close_rel(m.a_ms, 2.0, 1e-12, "a");
    close_rel(m.b_ms_per_row, 0.05, 1e-12, "b");
    ck_assert_uint_eq(m.samples, 15);
    ck_assert_uint_eq(m.rejected, 0);

    /* two sizes, one sample each; large row counts */
    const size_t r2[] = {1000000000, 3000000000};
    const double m2[] = {7.0 + 1e-6 * 1e9, 7.0 + 1e-6 * 3e9};
    m = fit_ok(r2, m2, 2);
    close_rel(m.a_ms, 7.0, 1e-9, "a (large rows)");
    close_rel(m.b_ms_per_row, 1e-6, 1e-12, "b (large rows)");

    /* a == 0 exactly */
    const size_t r3[] = {10, 20, 30};
    const double m3[] = {1.0, 2.0, 3.0};
    m = fit_ok(r3, m3, 3);
    ck_assert(fabs(m.a_ms) <= 1e-12);
    close_rel(m.b_ms_per_row, 0.1, 1e-12, "b (a == 0)");
}
END_TEST

START_TEST(noisy_data)
{
    const size_t sizes[] = {1000, 2000, 4000, 8000, 16000};
    lcg r = {UINT64_C(0x0c057)};
    double worst = 0.0;
    for (int trial = 0; trial < 200; trial++) {
        size_t rows[MAXS];
        double ms[MAXS];
        size_t n = 0;
        for (int rep = 0; rep < 5; rep++)
            for (size_t s = 0; s < 5; s++) {
                rows[n] = sizes[s];
                ms[n] = (5.0 + 0.01 * (double)sizes[s]) * noise(&r, 0.03);
                n++;
            }
        hg__cost_model m = fit_ok(rows, ms, n);
        close_rel(m.b_ms_per_row, 0.01, 0.03, "b (noisy)");
        ck_assert_msg(fabs(m.a_ms - 5.0) <= 3.0, "a %g", m.a_ms);
        hg__cost_model truth = {5.0, 0.01, 0, 0, true};
        double ch = fit_change(&m, &truth, sizes, 5);
        worst = fmax(worst, ch);
    }
    /* Noise of +/-3% on every sample: the slope within 3%, the predictions within 8% (the
       intercept, extrapolated from the larger sizes, carries most of the error). */
    ck_assert_msg(worst <= 0.08, "predictions off by %g", worst);
}
END_TEST

/*
 * A 100x (and a 0.01x) spike replacing one repeat, for every group and repeat position,
 * over many noise draws.  Repeats agree within +/-1% (timings of one size on an idle device
 * typically do), and within +/-3% with 5 repeats.  The fit with the spike is compared with
 * the fit of the same data without the spike sample.
 */
static double worst_spike_change(lcg *r, size_t reps, double rel, double factor)
{
    const size_t sizes[] = {1000, 2000, 4000, 8000};
    double worst = 0.0;
    for (int trial = 0; trial < 50; trial++) {
        size_t rows[MAXS];
        double ms[MAXS];
        size_t n = 0;
        for (size_t s = 0; s < 4; s++)
            for (size_t rep = 0; rep < reps; rep++) {
                rows[n] = sizes[s];
                ms[n] = (3.0 + 0.02 * (double)sizes[s]) * noise(r, rel);
                n++;
            }
        for (size_t k = 0; k < n; k++) {
            double spiked[MAXS];
            memcpy(spiked, ms, n * sizeof *ms);
            spiked[k] *= factor;
            hg__cost_model with = fit_ok(rows, spiked, n);
            ck_assert_uint_ge(with.rejected, 1);
            size_t rows_wo[MAXS];
            double ms_wo[MAXS];
            size_t m = 0;
            for (size_t j = 0; j < n; j++)
                if (j != k) {
                    rows_wo[m] = rows[j];
                    ms_wo[m] = ms[j];
                    m++;
                }
            hg__cost_model without = fit_ok(rows_wo, ms_wo, m);
            worst = fmax(worst, fit_change(&with, &without, sizes, 4));
        }
    }
    return worst;
}

START_TEST(spike_rejected)
{
    lcg r = {UINT64_C(0x5b1ce)};
    double w3 = worst_spike_change(&r, 3, 0.01, 100.0);
    double w3low = worst_spike_change(&r, 3, 0.01, 0.01);
    double w5 = worst_spike_change(&r, 5, 0.03, 100.0);
    double w5low = worst_spike_change(&r, 5, 0.03, 0.01);
    ck_assert_msg(w3 < 1e-12 && w3low < 1e-12, "3 repeats: %g %g", w3, w3low);
    /* with 5 noisier repeats the spike's presence can shift the MAD enough to drop one
       clean extreme as well: the group value moves by up to half a gap between repeats */
    ck_assert_msg(w5 < 0.01 && w5low < 0.01, "5 repeats: %g %g", w5, w5low);

    /*
     * Against the fit of the clean data: a spike added to a group of 3 repeats (+/-3%), and a
     * spike replacing one of 3 repeats that agree within +/-0.5% (replacing a repeat loses
     * its information, so the group value moves by up to half the repeats' spread whatever
     * the rejection does).
     */
    const size_t sizes[] = {1000, 2000, 4000, 8000};
    double worst_add = 0.0, worst_rep = 0.0;
    for (int trial = 0; trial < 100; trial++) {
        size_t rows[MAXS];
        double ms[MAXS], tight[MAXS];
        size_t n = 0;
        for (size_t s = 0; s < 4; s++)
            for (size_t rep = 0; rep < 3; rep++) {
                rows[n] = sizes[s];
                ms[n] = (3.0 + 0.02 * (double)sizes[s]) * noise(&r, 0.03);
                tight[n] = (3.0 + 0.02 * (double)sizes[s]) * noise(&r, 0.005);
                n++;
            }
        hg__cost_model clean = fit_ok(rows, ms, n), clean_tight = fit_ok(rows, tight, n);
        for (size_t k = 0; k < n; k++) {
            size_t rows_add[MAXS];
            double ms_add[MAXS], ms_rep[MAXS];
            memcpy(rows_add, rows, n * sizeof *rows);
            memcpy(ms_add, ms, n * sizeof *ms);
            memcpy(ms_rep, tight, n * sizeof *ms);
            rows_add[n] = rows[k];
            ms_add[n] = 100.0 * ms[k];
            ms_rep[k] *= 100.0;
            hg__cost_model added = fit_ok(rows_add, ms_add, n + 1);
            hg__cost_model replaced = fit_ok(rows, ms_rep, n);
            worst_add = fmax(worst_add, fit_change(&added, &clean, sizes, 4));
            worst_rep = fmax(worst_rep, fit_change(&replaced, &clean_tight, sizes, 4));
        }
    }
    ck_assert_msg(worst_add < 0.01, "an added 100x spike moved the fit by %g", worst_add);
    ck_assert_msg(worst_rep < 0.01, "a 100x spike replacing a repeat moved the fit by %g",
                  worst_rep);

    /* Noiseless repeats (MAD 0 without the spike): the spike changes nothing. */
    const size_t r3[] = {100, 100, 100, 200, 200, 200};
    const double m3[] = {12.0, 1200.0, 12.0, 22.0, 22.0, 22.0};
    hg__cost_model m = fit_ok(r3, m3, 6);
    close_rel(m.a_ms, 2.0, 1e-12, "a (spike)");
    close_rel(m.b_ms_per_row, 0.1, 1e-12, "b (spike)");
    ck_assert_uint_eq(m.rejected, 1);
    ck_assert_uint_eq(m.samples, 5);
}
END_TEST

START_TEST(rejection_rule)
{
    /* MAD == 0: keep within 1% of the median */
    const size_t r1[] = {50, 50, 50, 50, 50};
    const double m1[] = {10.0, 10.0, 10.0, 10.09, 12.0};
    hg__cost_model m = fit_ok(r1, m1, 5);
    ck_assert_uint_eq(m.rejected, 1);
    ck_assert_uint_eq(m.samples, 4);
    close_rel(m.b_ms_per_row, 10.0 / 50.0, 1e-15, "b (MAD 0)");

    /* MAD > 0: med 10, deviations {1, 0, 0, 0, 1, 5, 20}, MAD 1, limit 4.4478 */
    const size_t r7[] = {50, 50, 50, 50, 50, 50, 50};
    const double m2[] = {9.0, 10.0, 10.0, 10.0, 11.0, 15.0, 30.0};
    m = fit_ok(r7, m2, 7);
    ck_assert_uint_eq(m.rejected, 2);
    ck_assert_uint_eq(m.samples, 5);
    close_rel(m.b_ms_per_row, 10.0 / 50.0, 1e-15, "b (MAD 1)");
    /* 14.4 is inside the limit: kept {9, 10, 10, 10, 11, 14.4} */
    const double m3[] = {9.0, 10.0, 10.0, 10.0, 11.0, 14.4, 30.0};
    m = fit_ok(r7, m3, 7);
    ck_assert_uint_eq(m.rejected, 1);
    close_rel(m.b_ms_per_row, 10.0 / 50.0, 1e-15, "b (MAD 1, 6 kept)");
    /* even count: med (10 + 12) / 2 = 11, deviations {3, 1, 1, 1, 1, 29}, MAD 1: 40 goes */
    const double m4e[] = {8.0, 10.0, 10.0, 12.0, 12.0, 40.0};
    m = fit_ok(r7, m4e, 6);
    ck_assert_uint_eq(m.rejected, 1);
    close_rel(m.b_ms_per_row, 10.0 / 50.0, 1e-15, "b (even count)"); /* kept 8..12 */

    /* Groups weigh the same whatever their sample counts: 1 sample vs 9 */
    size_t r4[10];
    double m4[10];
    r4[0] = 10;
    m4[0] = 3.0;
    for (int i = 1; i < 10; i++) {
        r4[i] = 20;
        m4[i] = 5.0;
    }
    m = fit_ok(r4, m4, 10);
    close_rel(m.a_ms, 1.0, 1e-12, "a (weights)");
    close_rel(m.b_ms_per_row, 0.2, 1e-12, "b (weights)");
}
END_TEST

START_TEST(intercept_clamp)
{
    /* LS line 10 rows -> 0.5, 20 -> 2.5, 30 -> 4.5: b = 0.2, a = -1.5 < 0 */
    const size_t r[] = {10, 20, 30};
    const double ms[] = {0.5, 2.5, 4.5};
    hg__cost_model m = fit_ok(r, ms, 3);
    ck_assert(m.a_ms == 0.0);
    /* through the origin: (5 + 50 + 135) / (100 + 400 + 900) */
    close_rel(m.b_ms_per_row, 190.0 / 1400.0, 1e-14, "b (origin)");
}
END_TEST

START_TEST(one_size)
{
    const size_t r[] = {500, 500, 500};
    const double ms[] = {10.0, 10.2, 9.9};
    hg__cost_model m = fit_ok(r, ms, 3);
    ck_assert(m.a_ms == 0.0);
    close_rel(m.b_ms_per_row, 10.0 / 500.0, 1e-15, "b (one size)");
    const size_t r1[] = {7};
    const double m1[] = {3.5};
    m = fit_ok(r1, m1, 1);
    ck_assert(m.a_ms == 0.0 && m.b_ms_per_row == 0.5);
    ck_assert_uint_eq(m.samples, 1);
}
END_TEST

START_TEST(predict)
{
    hg__cost_model m = {2.0, 0.5, 4, 0, true};
    ck_assert(hg__cost_predict(&m, 0) == 0.0);
    ck_assert(hg__cost_predict(&m, 1) == 2.5);
    ck_assert(hg__cost_predict(&m, 10) == 7.0);
    hg__cost_model bad = {2.0, 0.5, 4, 0, false};
    ck_assert(hg__cost_predict(&bad, 0) == 0.0);
    ck_assert(isinf(hg__cost_predict(&bad, 3)));
    ck_assert(isinf(hg__cost_predict(NULL, 3)));
    ck_assert(hg__cost_predict(NULL, 0) == 0.0);
}
END_TEST

START_TEST(errors)
{
    const size_t r[] = {10, 20, 30};
    const double ms[] = {1.0, 2.0, 3.0};
    hg__cost_model m;
    hg_error e;
    ck_assert_int_eq(hg__cost_fit(NULL, ms, 3, &m, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "rows is NULL") && !m.valid);
    ck_assert_int_eq(hg__cost_fit(r, NULL, 3, &m, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "ms is NULL"));
    ck_assert_int_eq(hg__cost_fit(r, ms, 3, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "out is NULL"));
    expect_fail(r, ms, 0, HG_INVALID_ARGUMENT, "no samples");
    expect_fail((const size_t[]){10, 0, 30}, ms, 3, HG_INVALID_ARGUMENT,
                "sample 1 has 0 rows");
    expect_fail(r, (const double[]){1.0, NAN, 3.0}, 3, HG_INVALID_ARGUMENT, "sample 1 took");
    expect_fail(r, (const double[]){1.0, 2.0, INFINITY}, 3, HG_INVALID_ARGUMENT,
                "sample 2 took inf ms");
    expect_fail(r, (const double[]){-1.0, 2.0, 3.0}, 3, HG_INVALID_ARGUMENT,
                "sample 0 took -1 ms");
    expect_fail(r, (const double[]){-0.0 - 1e-300, 2.0, 3.0}, 3, HG_INVALID_ARGUMENT,
                "finite and >= 0");
    /* times that shrink or stay flat */
    expect_fail(r, (const double[]){3.0, 2.0, 1.0}, 3, HG_INVALID_ARGUMENT,
                "times do not grow with rows");
    expect_fail(r, (const double[]){2.0, 2.0, 2.0}, 3, HG_INVALID_ARGUMENT,
                "times do not grow with rows");
    expect_fail((const size_t[]){5, 5}, (const double[]){0.0, 0.0}, 2, HG_INVALID_ARGUMENT,
                "times do not grow with rows");
    /* overflow */
    expect_fail((const size_t[]){1, 2}, (const double[]){0.0, 1.7e308}, 2,
                HG_INVALID_ARGUMENT, "overflows");
    /* err may be NULL */
    ck_assert_int_eq(hg__cost_fit(r, ms, 0, &m, NULL), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__cost_fit(r, ms, 3, &m, NULL), HG_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("costmodel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exact_recovery);
    tcase_add_test(tc, noisy_data);
    tcase_add_test(tc, spike_rejected);
    tcase_add_test(tc, rejection_rule);
    tcase_add_test(tc, intercept_clamp);
    tcase_add_test(tc, one_size);
    tcase_add_test(tc, predict);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
