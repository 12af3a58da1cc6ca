/* SPDX-License-Identifier: MIT */
/*
 * test_mpi_reduce.c - the sliced exchange (src/mpi/reduce.c, docs/mpi.md) on any number
 * of ranks, run by mpirun with 2, 3 and 4 ranks (tests/mpi.cmake), every rank on POCL's
 * pthread device.
 *
 * Every rank runs every test in the same order (Check without fork: CK_FORK=no), since
 * the calls are collective.  Checked:
 *   - hg__mpi_reduce_mean gives, on every rank, exactly the bits of the rank-order sum
 *     computed here from every rank's values, for P not divisible by the ranks, P below
 *     the ranks (empty slices) and P = 1.  The values make the order matter (from 3
 *     ranks; two doubles add the same either way): the test first checks that every
 *     other rotation of the rank order, and the reverse order, would give other bits; and
 *     the result buffer is poisoned before each call, so a slice not delivered fails;
 *   - through hg_mpi: the sliced exchange and the record exchange
 *     (HETGRAD_MPI_EXCHANGE=allgather) give the same gradient and loss bits, the same on
 *     every rank, and the bits the rank-order sum of each rank's piece gives when this
 *     rank computes every piece itself (deterministic engines, an even split);
 *   - ranks that choose different exchanges, or an unknown one, are refused on every
 *     rank; a failing rank fails the step on every rank, and the next step works.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hetgrad.h>
#include <hetgrad/mpi.h>

#include "mpi_comm.h"

enum { ROWS = 1500, IN = 13, OUT = 7 };

static struct {
    int rank, size;
    hg_model_desc model;
    hg_dataset_desc data;
    float *x;
    int32_t *y;
    float *params;
    size_t P;
    hg_engine *eng;
} F;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/*
 * Rank r's sum for parameter k of p, known to every rank.  From 3 ranks, three of them
 * hold 2^53, 1 and -2^53 (which ones turns with k), so the order of the additions decides
 * whether the 1 survives; the others hold small values, some inexact (0.1 steps).
 */
static double value(size_t r, size_t k, size_t n)
{
    const double big = 9007199254740992.0; /* 2^53: 2^53 + 1 rounds back to it */
    if (n >= 3) {
        if (r == k % n)
            return big;
        if (r == (k + 1) % n)
            return 1.0;
        if (r == (k + 2) % n)
            return -big;
    }
    return (double)((r * 7 + k * 3) % 11) * 0.1 - 0.5 + (double)r;
}

/* The mean over ranks taken in the order order[0..n), as the rank-order sum does it. */
static void mean_in_order(const size_t *order, size_t n, size_t p, size_t rows, float *out)
{
    for (size_t k = 0; k < p; k++) {
        double acc = 0;
        for (size_t i = 0; i < n; i++)
            acc += value(order[i], k, n);
        out[k] = (float)(acc / (double)rows);
    }
}

/* How many elements of a and b differ in their bits. */
static size_t differing(const float *a, const float *b, size_t p)
{
    size_t d = 0;
    for (size_t k = 0; k < p; k++)
        d += memcmp(&a[k], &b[k], sizeof *a) != 0;
    return d;
}

/* The test's own data is adversarial: every other order of the ranks changes some bits. */
static void check_order_matters(size_t n, size_t p, size_t rows, const float *want)
{
    size_t *order = malloc(n * sizeof *order);
    float *other = malloc(p * sizeof *other);
    ck_assert(order && other);
    for (size_t start = 1; start < n; start++) { /* rotations: "my rank first" and others */
        for (size_t i = 0; i < n; i++)
            order[i] = (start + i) % n;
        mean_in_order(order, n, p, rows, other);
        ck_assert_msg(differing(want, other, p) > 0, "starting at rank %zu gives the same "
                      "bits: the values do not test the order", start);
    }
    for (size_t i = 0; i < n; i++)
        order[i] = n - 1 - i;
    mean_in_order(order, n, p, rows, other);
    ck_assert_msg(differing(want, other, p) > 0, "the reverse order gives the same bits");
    free(order);
    free(other);
}

/* One reduction of p parameters over every rank, checked bit for bit. */
static void check_reduce(size_t p, size_t rows)
{
    size_t n = (size_t)F.size;
    hg__mpi_reduce rd;
    hg_error err;
    ck_assert_msg(hg__mpi_reduce_init(&rd, n, (size_t)F.rank, p, &err) == HG_OK, "%s",
                  err.message);
    double *sums = malloc((p + 1) * sizeof *sums);
    float *want = malloc((p + 1) * sizeof *want);
    size_t *order = malloc(n * sizeof *order);
    ck_assert(sums && want && order);
    for (size_t k = 0; k < p; k++)
        sums[k] = value((size_t)F.rank, k, n);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    mean_in_order(order, n, p, rows, want);
    if (n >= 3 && p >= n)
        check_order_matters(n, p, rows, want);
    memset(rd.mean, 0xff, p * sizeof *rd.mean); /* NaN: a slice not delivered shows */
    ck_assert_msg(hg__mpi_reduce_post(&rd, MPI_COMM_WORLD, sums, "test", &err) == HG_OK, "%s",
                  err.message);
    ck_assert_msg(hg__mpi_reduce_wait(&rd, 30, "test", &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg__mpi_reduce_mean(&rd, MPI_COMM_WORLD, rows, 30, "test", &err) == HG_OK,
                  "%s", err.message);
    for (size_t k = 0; k < p; k++)
        ck_assert_msg(!memcmp(&rd.mean[k], &want[k], sizeof want[k]),
                      "rank %d of %zu, P %zu: element %zu is %a, the rank-order sum %a",
                      F.rank, n, p, k, (double)rd.mean[k], (double)want[k]);
    hg__mpi_reduce_free(&rd);
    free(sums);
    free(want);
    free(order);
}

START_TEST(t_reduce_bits)
{
    size_t n = (size_t)F.size;
    check_reduce(1001, 3);  /* 1001 is divisible by none of 2, 3, 4 */
    check_reduce(n - 1 ? n - 1 : 1, 5); /* fewer parameters than ranks: empty slices */
    check_reduce(1, 7);
    check_reduce(4096 + n, 1);
}
END_TEST

/* A context over F.eng with the exchange HETGRAD_MPI_EXCHANGE names (NULL: unset). */
static hg_status make_ctx(const char *exchange, hg_mpi **out, hg_error *err)
{
    if (exchange)
        setenv("HETGRAD_MPI_EXCHANGE", exchange, 1);
    else
        unsetenv("HETGRAD_MPI_EXCHANGE");
    hg_mpi_options o;
    hg_mpi_options_init(&o);
    o.no_rebalance = true; /* uncalibrated engines: an even split, the same every step */
    o.timeout_s = 60;
    hg_status s = hg_mpi_create(MPI_COMM_WORLD, F.eng, &F.model, &o, out, err);
    unsetenv("HETGRAD_MPI_EXCHANGE");
    return s;
}

/* The rank-order sum of every rank's piece, each computed here on this rank's engine. */
static void expected_mean(hg_mpi *ctx, size_t first, size_t count, const size_t *idx,
                          float *want, double *want_loss)
{
    double *acc = calloc(F.P, sizeof *acc), lacc = 0;
    float *g = malloc(F.P * sizeof *g);
    ck_assert(acc && g);
    size_t off = 0;
    for (int r = 0; r < F.size; r++) {
        hg_mpi_rank_info in;
        ck_assert_int_eq(hg_mpi_rank_info_get(ctx, r, &in), HG_OK);
        if (in.rows) {
            double l = 0;
            hg_error err;
            hg_status s = idx ? hg_engine_gradient_rows(F.eng, F.params, idx + off, in.rows,
                                                        g, &l, &err)
                              : hg_engine_gradient(F.eng, F.params, first + off, in.rows, g,
                                                   &l, &err);
            ck_assert_msg(s == HG_OK, "%s", err.message);
            for (size_t k = 0; k < F.P; k++)
                acc[k] += (double)g[k] * (double)in.rows;
            lacc += l * (double)in.rows;
        }
        off += in.rows;
    }
    ck_assert_uint_eq(off, count);
    for (size_t k = 0; k < F.P; k++)
        want[k] = (float)(acc[k] / (double)count);
    *want_loss = lacc / (double)count;
    free(acc);
    free(g);
}

/* One step on both contexts: the same bits from both, on every rank, and as expected. */
static void check_both(hg_mpi *slices, hg_mpi *records, size_t first, size_t count,
                       const size_t *idx)
{
    float *a = malloc(F.P * sizeof *a), *b = malloc(F.P * sizeof *b);
    float *want = malloc(F.P * sizeof *want);
    ck_assert(a && b && want);
    double la = 0, lb = 0, lw = 0;
    hg_error err;
    hg_status s = idx ? hg_mpi_gradient_rows(slices, F.params, idx, count, a, &la, &err)
                      : hg_mpi_gradient(slices, F.params, first, count, a, &la, &err);
    ck_assert_msg(s == HG_OK, "sliced: %s", err.message);
    s = idx ? hg_mpi_gradient_rows(records, F.params, idx, count, b, &lb, &err)
            : hg_mpi_gradient(records, F.params, first, count, b, &lb, &err);
    ck_assert_msg(s == HG_OK, "records: %s", err.message);
    ck_assert_msg(differing(a, b, F.P) == 0, "the exchanges differ in %zu of %zu elements",
                  differing(a, b, F.P), F.P);
    ck_assert_msg(!memcmp(&la, &lb, sizeof la), "loss %a vs %a", la, lb);
    expected_mean(slices, first, count, idx, want, &lw);
    ck_assert_msg(differing(a, want, F.P) == 0, "rank %d: %zu of %zu elements differ from "
                  "the rank-order sum", F.rank, differing(a, want, F.P), F.P);
    ck_assert_msg(!memcmp(&la, &lw, sizeof la), "loss %a, expected %a", la, lw);
    ck_assert_msg(hg_mpi_check_same(slices, "gradient", a, F.P * sizeof *a, NULL, &err) ==
                  HG_OK, "%s", err.message);
    ck_assert_msg(hg_mpi_check_same(records, "loss", &la, sizeof la, NULL, &err) == HG_OK,
                  "%s", err.message);
    free(a);
    free(b);
    free(want);
}

START_TEST(t_exchanges_agree)
{
    hg_mpi *slices = NULL, *records = NULL;
    hg_error err;
    ck_assert_msg(make_ctx(NULL, &slices, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(make_ctx("allgather", &records, &err) == HG_OK, "%s", err.message);
    size_t idx[700];
    uint64_t s = 5;
    for (size_t i = 0; i < 700; i++)
        idx[i] = (size_t)(lcg(&s) % ROWS);
    check_both(slices, records, 0, ROWS, NULL);
    check_both(slices, records, 37, 1001, NULL);
    check_both(slices, records, 0, 700, idx);
    check_both(slices, records, ROWS - 2, 2, NULL); /* ranks without rows send zeros */
    hg_mpi_destroy(records);
    /* The explicit name of the default works too. */
    ck_assert_msg(make_ctx("reduce-scatter", &records, &err) == HG_OK, "%s", err.message);
    check_both(slices, records, 11, 999, NULL);
    hg_mpi_destroy(records);
    hg_mpi_destroy(slices);
}
END_TEST

START_TEST(t_refusals)
{
    hg_mpi *c = NULL;
    hg_error err;
    /* Rank 0 asks for the record exchange, the others for the sliced one. */
    ck_assert_int_eq(make_ctx(F.rank == 0 ? "allgather" : NULL, &c, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.message, "rank 1 ") && strstr(err.message, "reduce-scatter") &&
                  strstr(err.message, "HETGRAD_MPI_EXCHANGE"), "%s", err.message);
    /* An unknown exchange on the last rank only: refused everywhere, naming it. */
    ck_assert_int_eq(make_ctx(F.rank == F.size - 1 ? "ring" : NULL, &c, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    char who[32];
    snprintf(who, sizeof who, "rank %d of %d", F.size - 1, F.size);
    ck_assert_msg(strstr(err.message, who) && strstr(err.message, "HETGRAD_MPI_EXCHANGE=ring"),
                  "%s", err.message);
    /* A failing rank fails the sliced step everywhere; the next step works. */
    ck_assert_msg(make_ctx(NULL, &c, &err) == HG_OK, "%s", err.message);
    size_t idx[600];
    for (size_t i = 0; i < 600; i++)
        idx[i] = i;
    idx[599] = ROWS + 3; /* in the last rank's piece */
    float *g = calloc(F.P, sizeof *g);
    ck_assert(g);
    double loss;
    ck_assert_int_ne(hg_mpi_gradient_rows(c, F.params, idx, 600, g, &loss, &err), HG_OK);
    ck_assert_msg(strstr(err.message, who), "%s", err.message);
    for (size_t k = 0; k < F.P; k++)
        ck_assert(g[k] == 0); /* untouched */
    ck_assert_msg(hg_mpi_gradient(c, F.params, 0, ROWS, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    free(g);
    hg_mpi_destroy(c);
}
END_TEST

static bool setup(void)
{
    F.model = (hg_model_desc){.kind = HG_MODEL_SOFTMAX, .inputs = IN, .outputs = OUT};
    F.P = hg_model_param_count(&F.model);
    F.x = malloc((size_t)ROWS * IN * sizeof *F.x);
    F.y = malloc(ROWS * sizeof *F.y);
    F.params = malloc(F.P * sizeof *F.params);
    if (!F.x || !F.y || !F.params)
        return false;
    uint64_t s = 777; /* the same data and parameters on every rank */
    for (size_t i = 0; i < (size_t)ROWS * IN; i++)
        F.x[i] = (float)(lcg(&s) % 1000) / 300.0f - 1.5f;
    for (size_t r = 0; r < ROWS; r++)
        F.y[r] = (int32_t)(lcg(&s) % OUT);
    for (size_t k = 0; k < F.P; k++)
        F.params[k] = (float)(lcg(&s) % 1000) / 2000.0f - 0.25f;
    F.data = (hg_dataset_desc){.rows = ROWS, .inputs = IN, .x = F.x, .labels = F.y};
    hg_engine_options eo;
    hg_engine_options_init(&eo); /* HETGRAD_DEVICES=pthread, set by the test */
    eo.deterministic = true;     /* a piece's bits do not depend on who computes it */
    eo.block_rows = 64;
    hg_error err, local;
    hg_error_clear(&local);
    if (hg_engine_create(&eo, &F.model, &F.eng, &local) == HG_OK)
        hg_engine_set_data(F.eng, &F.data, &local);
    if (hg_mpi_agree(MPI_COMM_WORLD, &local, 60, &err) != HG_OK) {
        fprintf(stderr, "test_mpi_reduce: rank %d: start-up: %s\n", F.rank, err.message);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &F.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &F.size);
    int failed = 1;
    if (F.size < 2) {
        fprintf(stderr, "test_mpi_reduce: run with 2 or more ranks, not %d\n", F.size);
    } else if (setup()) {
        Suite *s = suite_create("mpi_reduce");
        TCase *tc = tcase_create("ranks");
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, t_reduce_bits);
        tcase_add_test(tc, t_exchanges_agree);
        tcase_add_test(tc, t_refusals);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_NOFORK); /* collective calls: one process per rank */
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    hg_engine_destroy(F.eng);
    free(F.x);
    free(F.y);
    free(F.params);
    MPI_Finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
