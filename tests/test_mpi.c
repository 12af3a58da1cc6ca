/* SPDX-License-Identifier: MIT */
/*
 * test_mpi.c - the MPI layer (hetgrad/mpi.h) on real devices, run by mpirun with 2 ranks
 * (tests/mpi.cmake): each rank has its own POCL device (HETGRAD_DEVICES per rank), and
 * HG_TEST_MPI_NAMES lists, rank by rank, a substring of the device each must have.
 *
 * Every rank runs every test in the same order (Check without fork: CK_FORK=no), since
 * the calls are collective.  Checked:
 *   - hg_mpi_gradient / _rows against this rank's engine alone (the single-process
 *     gradient) and the double host reference: normwise 1e-4, loss 1e-5;
 *   - every rank gets the same bits (hg_mpi_check_same over the gradient);
 *   - the rows add up, and with an even split (uncalibrated, no rebalancing) both ranks
 *     compute half of them;
 *   - a failure on one rank (a row out of range in its slice, NULL arguments) fails the
 *     step on every rank with a message naming it, and the context stays usable;
 *   - hg_mpi_agree and hg_mpi_check_same name the rank that differs;
 *   - hg_mpi_create refuses ranks with different models.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hetgrad.h>
#include <hetgrad/mpi.h>

enum { ROWS = 2000, IN = 20, OUT = 5 };

/* Shared by the tests of this program (set up once in main, as MPI is). */
typedef struct fixture {
    int rank, size;
    hg_model_desc model;
    hg_dataset_desc data;
    float *x;
    int32_t *y;
    float *params;
    size_t P;
    hg_engine *eng;
    hg_mpi *ctx;
} fixture;

static fixture F;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Normwise relative error of g against a double reference (sums / rows). */
static double norm_err(const float *g, const double *ref_sum, size_t n, double rows)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double r = ref_sum[i] / rows;
        md = fmax(md, fabs(g[i] - r));
        mr = fmax(mr, fabs(r));
    }
    return md / mr;
}

static double norm_err_f(const float *g, const float *h, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)g[i] - h[i]));
        mr = fmax(mr, fabs((double)h[i]));
    }
    return md / mr;
}

/*
 * One global step on ctx checked against the local engine, the reference and the other
 * ranks.  even: the context splits evenly (uncalibrated engines, no rebalancing), so both
 * ranks must compute half the rows; otherwise the calibrated balancer may leave a rank out.
 */
static void check_step_on(hg_mpi *ctx, bool even, size_t first, size_t count,
                          const size_t *idx)
{
    float *g = malloc(F.P * sizeof *g), *local = malloc(F.P * sizeof *local);
    double *ref = malloc(F.P * sizeof *ref), loss = 0, lloss = 0, rloss = 0;
    ck_assert(g && local && ref);
    hg_error err;
    hg_status st = idx ? hg_mpi_gradient_rows(ctx, F.params, idx, count, g, &loss, &err)
                       : hg_mpi_gradient(ctx, F.params, first, count, g, &loss, &err);
    ck_assert_msg(st == HG_OK, "%s", err.message);
    st = idx ? hg_engine_gradient_rows(F.eng, F.params, idx, count, local, &lloss, &err)
             : hg_engine_gradient(F.eng, F.params, first, count, local, &lloss, &err);
    ck_assert_msg(st == HG_OK, "%s", err.message);
    ck_assert_int_eq(hg_reference_loss_grad(&F.model, F.params, &F.data, first, count, idx,
                                            &rloss, ref, &err), HG_OK);
    double e_local = norm_err_f(g, local, F.P), e_ref = norm_err(g, ref, F.P, (double)count);
    ck_assert_msg(e_local <= 1e-4, "vs single process: %g", e_local);
    ck_assert_msg(e_ref <= 1e-4, "vs reference: %g", e_ref);
    ck_assert_msg(fabs(loss - rloss / (double)count) <= 1e-5 * fabs(rloss / (double)count),
                  "loss %g vs %g", loss, rloss / (double)count);
    uint64_t h = 0;
    ck_assert_msg(hg_mpi_check_same(ctx, "gradient", g, F.P * sizeof *g, &h, &err) == HG_OK,
                  "%s", err.message);
    ck_assert_msg(hg_mpi_check_same(ctx, "loss", &loss, sizeof loss, NULL, &err) == HG_OK,
                  "%s", err.message);
    /* The rows add up; with an even split both ranks took half. */
    size_t rows = 0;
    for (int r = 0; r < F.size; r++) {
        hg_mpi_rank_info in;
        ck_assert_int_eq(hg_mpi_rank_info_get(ctx, r, &in), HG_OK);
        ck_assert_msg(!even || in.rows == count / 2 || in.rows == count - count / 2,
                      "rank %d got %zu rows of %zu", r, in.rows, count);
        rows += in.rows;
        hg_device_step ds;
        ck_assert_int_eq(hg_mpi_device_step(ctx, r, 0, &ds), HG_OK);
        ck_assert_uint_eq(ds.rows, in.rows);
    }
    ck_assert_uint_eq(rows, count);
    free(g);
    free(local);
    free(ref);
}

static void check_step(size_t first, size_t count, const size_t *idx)
{
    check_step_on(F.ctx, false, first, count, idx);
}

/* Uncalibrated engines and no rebalancing: an even split, so both ranks compute. */
START_TEST(t_even_split)
{
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&eo, &F.model, &e, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_set_data(e, &F.data, &err) == HG_OK, "%s", err.message);
    hg_mpi_options o;
    hg_mpi_options_init(&o);
    o.no_rebalance = true;
    o.timeout_s = 60;
    hg_mpi *c = NULL;
    ck_assert_msg(hg_mpi_create(MPI_COMM_WORLD, e, &F.model, &o, &c, &err) == HG_OK, "%s",
                  err.message);
    hg_engine *keep = F.eng;
    F.eng = e; /* the single-process comparison on the same engine */
    size_t idx[700];
    uint64_t s = 11;
    for (size_t i = 0; i < 700; i++)
        idx[i] = (size_t)(lcg(&s) % ROWS);
    check_step_on(c, true, 0, ROWS, NULL);
    check_step_on(c, true, 123, 1001, NULL);
    check_step_on(c, true, 0, 700, idx);
    F.eng = keep;
    hg_mpi_destroy(c);
    hg_engine_destroy(e);
}
END_TEST

START_TEST(t_range)
{
    check_step(0, ROWS, NULL);
    check_step(37, 1111, NULL);
    check_step(ROWS - 1, 1, NULL); /* one row: one rank computes, the others send zeros */
}
END_TEST

START_TEST(t_rows)
{
    size_t idx[900];
    uint64_t s = 7;
    for (size_t i = 0; i < 900; i++)
        idx[i] = (size_t)(lcg(&s) % 300); /* many repeats */
    for (int rep = 0; rep < 6; rep++)     /* the balancer moves rows meanwhile */
        check_step(0, 900, idx);
}
END_TEST

START_TEST(t_names_and_info)
{
    const char *want = getenv("HG_TEST_MPI_NAMES");
    ck_assert_msg(want != NULL, "HG_TEST_MPI_NAMES is not set");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", want);
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    for (int r = 0; r < F.size; r++, tok = strtok_r(NULL, ",", &save)) {
        ck_assert_msg(tok != NULL, "HG_TEST_MPI_NAMES names fewer than %d ranks", F.size);
        hg_mpi_rank_info in;
        ck_assert_int_eq(hg_mpi_rank_info_get(F.ctx, r, &in), HG_OK);
        ck_assert_uint_eq(in.devices, 1);
        ck_assert(in.rows_per_s > 0 && isfinite(in.rows_per_s));
        const char *name = hg_mpi_device_name(F.ctx, r, 0);
        ck_assert_msg(name && strstr(name, tok), "rank %d: device '%s', expected '%s'", r,
                      name ? name : "(none)", tok);
    }
    ck_assert_str_eq(hg_mpi_device_name(F.ctx, F.rank, 0), hg_engine_device(F.eng, 0)->name);
    ck_assert_ptr_null(hg_mpi_device_name(F.ctx, F.size, 0));
    ck_assert_ptr_null(hg_mpi_device_name(F.ctx, 0, 1));
    hg_mpi_rank_info in;
    ck_assert_int_eq(hg_mpi_rank_info_get(F.ctx, -1, &in), HG_RANGE);
    ck_assert_int_eq(hg_mpi_rank_info_get(NULL, 0, &in), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_mpi_rank(F.ctx), F.rank);
    ck_assert_int_eq(hg_mpi_size(F.ctx), F.size);
}
END_TEST

START_TEST(t_rank_failure)
{
    /* A row out of range at the end: the last rank with rows fails; every rank must say
       so, naming it, and the next step works. */
    size_t idx[1000];
    for (size_t i = 0; i < 1000; i++)
        idx[i] = i;
    idx[999] = ROWS + 5;
    float *g = calloc(F.P, sizeof *g);
    double loss;
    hg_error err;
    hg_status st = hg_mpi_gradient_rows(F.ctx, F.params, idx, 1000, g, &loss, &err);
    ck_assert_int_ne(st, HG_OK);
    ck_assert_msg(strstr(err.message, "rank ") && strstr(err.message, " of 2"), "%s",
                  err.message);
    for (size_t k = 0; k < F.P; k++)
        ck_assert(g[k] == 0); /* untouched */
    /* NULL parameters: every rank reports, naming rank 0 (the first). */
    st = hg_mpi_gradient(F.ctx, NULL, 0, 10, g, &loss, &err);
    ck_assert_int_eq(st, HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "rank 0 of 2") && strstr(err.message, "params"), "%s",
                  err.message);
    st = hg_mpi_gradient(F.ctx, F.params, 0, 0, g, &loss, &err);
    ck_assert_int_eq(st, HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_mpi_gradient(NULL, F.params, 0, 1, g, &loss, &err), HG_INVALID_ARGUMENT);
    free(g);
    check_step(0, ROWS, NULL);
}
END_TEST

START_TEST(t_agree_and_check)
{
    hg_error local, err;
    hg_error_clear(&local);
    ck_assert_int_eq(hg_mpi_agree(MPI_COMM_WORLD, &local, 30, &err), HG_OK);
    ck_assert_int_eq(hg_mpi_agree(MPI_COMM_WORLD, NULL, 30, &err), HG_OK);
    if (F.rank == 1) {
        local.status = HG_NO_DEVICE;
        snprintf(local.message, sizeof local.message, "nothing matches 'gpu'");
    }
    ck_assert_int_eq(hg_mpi_agree(MPI_COMM_WORLD, &local, 30, &err), HG_NO_DEVICE);
    ck_assert_msg(strstr(err.message, "rank 1 of 2") && strstr(err.message, "HG_NO_DEVICE") &&
                  strstr(err.message, "nothing matches 'gpu'"), "%s", err.message);
    int mine = F.rank == 1 ? 42 : 41;
    ck_assert_int_eq(hg_mpi_check_same(F.ctx, "the answer", &mine, sizeof mine, NULL, &err),
                     HG_DEVICE_FAILED);
    ck_assert_msg(strstr(err.message, "rank 1") && strstr(err.message, "the answer"), "%s",
                  err.message);
    mine = 7;
    ck_assert_int_eq(hg_mpi_check_same(F.ctx, "seven", &mine, sizeof mine, NULL, &err), HG_OK);
}
END_TEST

START_TEST(t_create_refuses_other_model)
{
    hg_model_desc other = F.model;
    if (F.rank == 1)
        other.outputs = OUT + 1;
    hg_mpi *c = NULL;
    hg_error err;
    ck_assert_int_eq(hg_mpi_create(MPI_COMM_WORLD, F.eng, &other, NULL, &c, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.message, "another model"), "%s", err.message);
    /* A bad option on rank 0 only: every rank fails, naming rank 0. */
    hg_mpi_options o;
    hg_mpi_options_init(&o);
    if (F.rank == 0)
        o.timeout_s = -1;
    ck_assert_int_eq(hg_mpi_create(MPI_COMM_WORLD, F.eng, &F.model, &o, &c, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "rank 0 of 2") && strstr(err.message, "timeout"), "%s",
                  err.message);
    /* Options never initialised (struct_size 0) on rank 1 only: refused everywhere. */
    hg_mpi_options_init(&o);
    if (F.rank == 1)
        memset(&o, 0, sizeof o);
    ck_assert_int_eq(hg_mpi_create(MPI_COMM_WORLD, F.eng, &F.model, &o, &c, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.message, "rank 1 of 2") &&
                  strstr(err.message, "hg_mpi_options_init()"), "%s", err.message);
    /* A static split keeps working. */
    hg_mpi_options_init(&o);
    o.no_rebalance = true;
    o.timeout_s = 30;
    ck_assert_int_eq(hg_mpi_create(MPI_COMM_WORLD, F.eng, &F.model, &o, &c, &err), HG_OK);
    float *g = malloc(F.P * sizeof *g);
    double loss;
    size_t rows0 = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hg_mpi_gradient(c, F.params, 0, ROWS, g, &loss, &err), HG_OK);
        hg_mpi_rank_info in;
        hg_mpi_rank_info_get(c, 0, &in);
        if (i == 0)
            rows0 = in.rows;
        ck_assert_uint_eq(in.rows, rows0);
    }
    free(g);
    hg_mpi_destroy(c);
    hg_mpi_destroy(NULL);
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
    uint64_t s = 12345; /* the same data and parameters on every rank */
    for (size_t i = 0; i < (size_t)ROWS * IN; i++)
        F.x[i] = (float)(lcg(&s) % 1000) / 500.0f - 1.0f;
    for (size_t r = 0; r < ROWS; r++)
        F.y[r] = (int32_t)(lcg(&s) % OUT);
    for (size_t k = 0; k < F.P; k++)
        F.params[k] = (float)(lcg(&s) % 1000) / 5000.0f - 0.1f;
    F.data = (hg_dataset_desc){.rows = ROWS, .inputs = IN, .x = F.x, .labels = F.y};
    hg_engine_options eo;
    hg_engine_options_init(&eo); /* HETGRAD_DEVICES, set per rank by the test */
    hg_error err, local;
    hg_error_clear(&local);
    if (hg_engine_create(&eo, &F.model, &F.eng, &local) == HG_OK &&
        hg_engine_set_data(F.eng, &F.data, &local) == HG_OK)
        hg_engine_calibrate(F.eng, &local);
    if (hg_mpi_agree(MPI_COMM_WORLD, &local, 60, &err) != HG_OK) {
        fprintf(stderr, "test_mpi: rank %d: start-up: %s\n", F.rank, err.message);
        return false;
    }
    hg_mpi_options o;
    hg_mpi_options_init(&o);
    o.timeout_s = 60;
    if (hg_mpi_create(MPI_COMM_WORLD, F.eng, &F.model, &o, &F.ctx, &err) != HG_OK) {
        fprintf(stderr, "test_mpi: rank %d: %s\n", F.rank, err.message);
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
    if (F.size != 2) {
        fprintf(stderr, "test_mpi: run with 2 ranks (mpirun -np 2), not %d\n", F.size);
    } else if (setup()) {
        Suite *s = suite_create("mpi");
        TCase *tc = tcase_create("two ranks");
        tcase_add_test(tc, t_names_and_info);
        tcase_add_test(tc, t_even_split);
        tcase_add_test(tc, t_range);
        tcase_add_test(tc, t_rows);
        tcase_add_test(tc, t_rank_failure);
        tcase_add_test(tc, t_agree_and_check);
        tcase_add_test(tc, t_create_refuses_other_model);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_NOFORK); /* collective calls: one process per rank */
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    hg_mpi_destroy(F.ctx);
    hg_engine_destroy(F.eng);
    free(F.x);
    free(F.y);
    free(F.params);
    MPI_Finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
