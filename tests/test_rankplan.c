/* SPDX-License-Identifier: MIT */
/*
 * test_rankplan.c - the pure arithmetic of the MPI layer (src/mpi/rankplan.c), no MPI:
 * a rank's model from its devices' profiles, slices of a step and of the parameters (the
 * sliced exchange), the rank-order mean, and the rank balancer (balance.c over rank
 * models) following a rank that slows down and recovers.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/balance.h"
#include "mpi_internal.h"

START_TEST(t_rank_model)
{
    bool valid[3] = {true, true, false};
    double a[3] = {2.0, 5.0, 0}, b[3] = {0.01, 0.03, 0};
    hg__cost_model m;
    hg_error err;
    ck_assert_int_eq(hg__rank_model(valid, a, b, 2, 1000, &m, &err), HG_OK);
    /* 100 + 33.3 rows/ms together; the larger fixed cost. */
    ck_assert(fabs(1.0 / m.b_ms_per_row - (100.0 + 100.0 / 3.0)) < 1e-9);
    ck_assert(m.a_ms == 5.0 && m.valid);
    /* An uncalibrated device counts as the default speed, no fixed cost. */
    ck_assert_int_eq(hg__rank_model(valid, a, b, 3, 1000, &m, &err), HG_OK);
    ck_assert(fabs(1.0 / m.b_ms_per_row - (100.0 + 100.0 / 3.0 + 1.0)) < 1e-9);
    bool none[2] = {false, false};
    ck_assert_int_eq(hg__rank_model(none, a, b, 2, 500, &m, &err), HG_OK);
    ck_assert(fabs(m.b_ms_per_row - 1.0) < 1e-12 && m.a_ms == 0);
    /* Errors. */
    ck_assert_int_eq(hg__rank_model(valid, a, b, 0, 1000, &m, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__rank_model(valid, a, b, 2, 0, &m, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__rank_model(NULL, a, b, 2, 1000, &m, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__rank_model(valid, a, b, 2, 1000, NULL, &err), HG_INVALID_ARGUMENT);
    double bad[2] = {0.01, -1};
    ck_assert_int_eq(hg__rank_model(valid, a, bad, 2, 1000, &m, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "device 1"));
}
END_TEST

START_TEST(t_slice)
{
    size_t counts[3] = {5, 0, 7}, first = 99;
    hg_error err;
    ck_assert_int_eq(hg__rank_slice(counts, 3, 0, 12, &first, &err), HG_OK);
    ck_assert_uint_eq(first, 0);
    ck_assert_int_eq(hg__rank_slice(counts, 3, 1, 12, &first, &err), HG_OK);
    ck_assert_uint_eq(first, 5);
    ck_assert_int_eq(hg__rank_slice(counts, 3, 2, 12, &first, &err), HG_OK);
    ck_assert_uint_eq(first, 5);
    ck_assert_int_eq(hg__rank_slice(counts, 3, 2, 13, &first, &err), HG_RANGE);
    ck_assert_int_eq(hg__rank_slice(counts, 3, 3, 12, &first, &err), HG_INVALID_ARGUMENT);
    size_t huge[2] = {SIZE_MAX, 2};
    ck_assert_int_eq(hg__rank_slice(huge, 2, 1, 1, &first, &err), HG_RANGE);
}
END_TEST

START_TEST(t_mean_is_rank_order)
{
    /* Three ranks, two parameters; sums chosen so that another order rounds differently. */
    double sums[6] = {1e16, 1.0, 1.0, 2.0, -1e16, 3.0};
    double loss[3] = {1.5, 2.5, 4.0};
    float out[2];
    double lm;
    hg__rank_mean(sums, 2, 3, 2, loss, 4, out, &lm);
    double acc = 0;
    acc += 1e16;
    acc += 1.0;
    acc += -1e16; /* the 1.0 is (partly) absorbed in this order: not the exact 1 */
    ck_assert(out[0] == (float)(acc / 4));
    ck_assert(out[1] == (float)(6.0 / 4));
    ck_assert(lm == 8.0 / 4);
    ck_assert_uint_eq(hg__mpi_fnv("", 0), HG__FNV_INIT);
    ck_assert(hg__mpi_fnv("a", 1) != hg__mpi_fnv("b", 1));
}
END_TEST

START_TEST(t_param_slice)
{
    /* Every (P, n): the slices cover 0..P-1 once, in rank order, lengths within one. */
    size_t ps[] = {0, 1, 2, 3, 7, 10, 1001, 4096, 203530};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        for (size_t n = 1; n <= 9; n++) {
            size_t next = 0, lo = SIZE_MAX, hi = 0;
            for (size_t r = 0; r < n; r++) {
                size_t first = 99, len = 99;
                hg_error err;
                ck_assert_int_eq(hg__param_slice(ps[i], n, r, &first, &len, &err), HG_OK);
                ck_assert_msg(first == next, "P %zu, n %zu: rank %zu starts at %zu, not %zu",
                              ps[i], n, r, first, next);
                next += len;
                lo = len < lo ? len : lo;
                hi = len > hi ? len : hi;
            }
            ck_assert_msg(next == ps[i], "P %zu, n %zu: the slices cover %zu", ps[i], n, next);
            ck_assert_msg(hi - lo <= 1, "P %zu, n %zu: lengths %zu to %zu", ps[i], n, lo, hi);
        }
    /* The longer slices come first: 10 over 4 ranks is 3, 3, 2, 2. */
    size_t first, len;
    hg_error err;
    ck_assert_int_eq(hg__param_slice(10, 4, 1, &first, &len, &err), HG_OK);
    ck_assert(first == 3 && len == 3);
    ck_assert_int_eq(hg__param_slice(10, 4, 3, &first, &len, &err), HG_OK);
    ck_assert(first == 8 && len == 2);
    ck_assert_int_eq(hg__param_slice(2, 3, 2, &first, &len, &err), HG_OK);
    ck_assert(first == 2 && len == 0);
    ck_assert_int_eq(hg__param_slice(10, 0, 0, &first, &len, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__param_slice(10, 4, 4, &first, &len, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__param_slice(10, 4, 0, NULL, &len, &err), HG_INVALID_ARGUMENT);
}
END_TEST

START_TEST(t_sliced_mean_is_whole_mean)
{
    /* The sliced exchange's arithmetic without MPI: each owner sums its slice's copies
       with hg__rank_mean; put together, the bits of hg__rank_mean over whole vectors. */
    enum { N = 3, P = 11 };
    double sums[N * P];
    for (size_t i = 0; i < N * P; i++)
        sums[i] = (i % 3 == 0 ? 1e16 : i % 3 == 1 ? 1.0 + (double)i / 7 : -1e16) *
                  (i % 2 ? 1 : -1);
    float whole[P], sliced[P];
    hg__rank_mean(sums, P, N, P, NULL, 3, whole, NULL);
    for (size_t r = 0; r < N; r++) {
        size_t first, len;
        ck_assert_int_eq(hg__param_slice(P, N, r, &first, &len, NULL), HG_OK);
        double copies[N * P];
        for (size_t q = 0; q < N; q++)
            memcpy(copies + q * len, sums + q * P + first, len * sizeof *copies);
        hg__rank_mean(copies, len, N, len, NULL, 3, sliced + first, NULL);
    }
    ck_assert_int_eq(memcmp(whole, sliced, sizeof whole), 0);
    /* The loss alone (no gradient). */
    double loss[N] = {1.0, 2.0, 4.5}, lm = 0;
    hg__rank_mean(NULL, 0, N, 0, loss, 5, NULL, &lm);
    ck_assert(lm == 7.5 / 5);
}
END_TEST

/* Two ranks, 3:1 capacity; rank 0 slows 4x at step 10, recovers at step 20. */
START_TEST(t_rank_balancer_follows)
{
    hg__cost_model m[2] = {{.a_ms = 1, .b_ms_per_row = 0.01, .valid = true},
                          {.a_ms = 1, .b_ms_per_row = 0.03, .valid = true}};
    hg__balancer *b;
    hg_error err;
    ck_assert_int_eq(hg__balancer_create(2, m, NULL, &b, &err), HG_OK);
    size_t counts[2];
    double slow = 1;
    for (int step = 0; step < 30; step++) {
        if (step == 10)
            slow = 4;
        if (step == 20)
            slow = 1;
        ck_assert_int_eq(hg__balancer_plan(b, 4000, NULL, counts, NULL, &err), HG_OK);
        ck_assert_uint_eq(counts[0] + counts[1], 4000);
        double ms[2] = {1 + 0.01 * slow * (double)counts[0], 1 + 0.03 * (double)counts[1]};
        if (step == 9 || step == 29) /* settled at 3:1 */
            ck_assert(fabs((double)counts[0] / 4000.0 - 0.75) < 0.02);
        if (step == 13) /* within 3 steps of the slowdown: 3:4 */
            ck_assert(fabs((double)counts[0] / 4000.0 - 3.0 / 7.0) < 0.05);
        ck_assert_int_eq(hg__balancer_observe(b, counts, ms, &err), HG_OK);
    }
    hg__balancer_destroy(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rankplan");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, t_rank_model);
    tcase_add_test(tc, t_slice);
    tcase_add_test(tc, t_mean_is_rank_order);
    tcase_add_test(tc, t_param_slice);
    tcase_add_test(tc, t_sliced_mean_is_whole_mean);
    tcase_add_test(tc, t_rank_balancer_follows);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
