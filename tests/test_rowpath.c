/* SPDX-License-Identifier: MIT */
/*
 * test_rowpath.c - the rows a device computes in a step are exactly the
 * scheduler's counts (issue 16: a step's row count passes through at most 3
 * files: plan.c asks sched.c, whose policy's solver returns the counts, and
 * plan.c places exactly those).  On POCL's pthread and basic devices, both
 * kept: for steps of several sizes under the user's weights and under the
 * cost models, the counts hg__sched_plan returns for the step's caps (what
 * hg__plan_step asks it) equal every device's rows in hg_engine_last_step().
 * The weights and model policies plan without side effects, so asking the
 * scheduler again gives the counts the step ran.
 *
 * The files themselves.  This test is linked with --wrap (tests/CMakeLists.txt)
 * around every function by which a step's row count crosses from one file to
 * another on its way to the counts: plan.c's hg__plan_step, sched.c's
 * hg__sched_plan and hg__sched_plan_recovery, planner.c's hg__plan_affine,
 * hg__plan_dynamic and hg__plan_makespan, balance.c's hg__balancer_plan and
 * partition.c's hg__partition_split.  A call inside one file is not wrapped
 * (the linker wraps only references to another object's symbol), so the
 * wrappers see exactly the files the count enters.  During every step, under
 * the weights, the cost models and the dynamic policy, the files entered are
 * plan.c, sched.c and at most one solver file, and the counts sched.c returned
 * inside the step are the rows each device ran (the dynamic policy's plan has
 * side effects: it is not asked again).  Timings never matter here.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_knobs.h"
#include "internal.h"
#include "sched/balance.h"
#include "sched/planner.h"

/* ---- the files a step's row count enters (the --wrap wrappers) ------------------ */

enum { F_PLAN, F_SCHED, F_PLANNER, F_BALANCE, F_PARTITION, NFILES };
static const char *const file_name[NFILES] = {"plan.c", "sched.c", "planner.c", "balance.c",
                                              "partition.c"};
static bool in_step;            /* inside hg__plan_step */
static bool entered[NFILES];    /* files entered since the step's plan began */
static size_t step_counts[8];   /* what hg__sched_plan returned inside the step */
static size_t step_ndev;

static void enter(int f)
{
    if (in_step)
        entered[f] = true;
}

hg_status __real_hg__plan_step(hg_engine *, bool, size_t, size_t, const size_t *,
                               const hg__block *, size_t, hg__dev_plan *, hg_error *);
hg_status __wrap_hg__plan_step(hg_engine *, bool, size_t, size_t, const size_t *,
                               const hg__block *, size_t, hg__dev_plan *, hg_error *);
hg_status __wrap_hg__plan_step(hg_engine *eng, bool recovery, size_t first, size_t count,
                               const size_t *idx, const hg__block *blk, size_t nblk,
                               hg__dev_plan *out, hg_error *err)
{
    memset(entered, 0, sizeof entered);
    in_step = true;
    enter(F_PLAN);
    hg_status st = __real_hg__plan_step(eng, recovery, first, count, idx, blk, nblk, out, err);
    in_step = false;
    return st;
}

hg_status __real_hg__sched_plan(hg__sched *, size_t, const size_t *, size_t *, hg_error *);
hg_status __wrap_hg__sched_plan(hg__sched *, size_t, const size_t *, size_t *, hg_error *);
hg_status __wrap_hg__sched_plan(hg__sched *s, size_t total, const size_t *caps,
                                size_t *counts, hg_error *err)
{
    enter(F_SCHED);
    hg_status st = __real_hg__sched_plan(s, total, caps, counts, err);
    if (in_step && st == HG_OK) {
        step_ndev = hg__sched_count(s);
        ck_assert_uint_le(step_ndev, 8);
        memcpy(step_counts, counts, step_ndev * sizeof *counts);
    }
    return st;
}

hg_status __real_hg__sched_plan_recovery(const hg__sched *, size_t, const size_t *, size_t *,
                                         hg_error *);
hg_status __wrap_hg__sched_plan_recovery(const hg__sched *, size_t, const size_t *, size_t *,
                                         hg_error *);
hg_status __wrap_hg__sched_plan_recovery(const hg__sched *s, size_t total, const size_t *caps,
                                         size_t *counts, hg_error *err)
{
    enter(F_SCHED);
    return __real_hg__sched_plan_recovery(s, total, caps, counts, err);
}

hg_status __real_hg__plan_affine(size_t, const hg__cost_model *, size_t, const size_t *,
                                 size_t *, double *, hg_error *);
hg_status __wrap_hg__plan_affine(size_t, const hg__cost_model *, size_t, const size_t *,
                                 size_t *, double *, hg_error *);
hg_status __wrap_hg__plan_affine(size_t rows, const hg__cost_model *model, size_t ndev,
                                 const size_t *cap, size_t *counts, double *makespan_ms,
                                 hg_error *err)
{
    enter(F_PLANNER);
    return __real_hg__plan_affine(rows, model, ndev, cap, counts, makespan_ms, err);
}

hg_status __real_hg__plan_dynamic(hg__plan_memory *, size_t, const size_t *, size_t *, bool *,
                                  hg_error *);
hg_status __wrap_hg__plan_dynamic(hg__plan_memory *, size_t, const size_t *, size_t *, bool *,
                                  hg_error *);
hg_status __wrap_hg__plan_dynamic(hg__plan_memory *mem, size_t total, const size_t *cap,
                                  size_t *counts, bool *changed, hg_error *err)
{
    enter(F_PLANNER);
    return __real_hg__plan_dynamic(mem, total, cap, counts, changed, err);
}

double __real_hg__plan_makespan(const hg__cost_model *, size_t, const size_t *);
double __wrap_hg__plan_makespan(const hg__cost_model *, size_t, const size_t *);
double __wrap_hg__plan_makespan(const hg__cost_model *model, size_t ndev, const size_t *counts)
{
    enter(F_PLANNER);
    return __real_hg__plan_makespan(model, ndev, counts);
}

hg_status __real_hg__balancer_plan(hg__balancer *, size_t, const size_t *, size_t *, bool *,
                                   hg_error *);
hg_status __wrap_hg__balancer_plan(hg__balancer *, size_t, const size_t *, size_t *, bool *,
                                   hg_error *);
hg_status __wrap_hg__balancer_plan(hg__balancer *b, size_t total, const size_t *cap,
                                   size_t *counts, bool *changed, hg_error *err)
{
    enter(F_BALANCE);
    return __real_hg__balancer_plan(b, total, cap, counts, changed, err);
}

hg_status __real_hg__partition_split(size_t, const double *, size_t, const size_t *,
                                     const size_t *, hg__range *, hg_error *);
hg_status __wrap_hg__partition_split(size_t, const double *, size_t, const size_t *,
                                     const size_t *, hg__range *, hg_error *);
hg_status __wrap_hg__partition_split(size_t rows, const double *weight, size_t ndev,
                                     const size_t *granularity, const size_t *max_rows,
                                     hg__range *out, hg_error *err)
{
    enter(F_PARTITION);
    return __real_hg__partition_split(rows, weight, ndev, granularity, max_rows, out, err);
}

/*
 * The last step's files: plan.c, sched.c and at most one more, which is solver
 * (-1: none, as when the dynamic policy's solo guard gives one device every
 * row); and the counts sched.c returned in it are the rows each device ran.
 * Returns whether the solver was entered.
 */
static bool step_path_ok(hg_engine *e, int solver, size_t count)
{
    size_t nfiles = 0;
    char names[128] = "";
    for (int f = 0; f < NFILES; f++) {
        if (!entered[f])
            continue;
        nfiles++;
        strncat(names, file_name[f], sizeof names - strlen(names) - 2);
        strncat(names, " ", sizeof names - strlen(names) - 1);
    }
    ck_assert_msg(entered[F_PLAN] && entered[F_SCHED], "step of %zu rows: files %s", count,
                  names);
    for (int f = 0; f < NFILES; f++)
        ck_assert_msg(!entered[f] || f == F_PLAN || f == F_SCHED || f == solver,
                      "step of %zu rows: the row count entered %s (files %s)", count,
                      file_name[f], names);
    ck_assert_msg(nfiles <= 3, "step of %zu rows: the row count passed through %zu files: %s",
                  count, nfiles, names);
    size_t n = hg_engine_device_count(e);
    ck_assert_uint_eq(step_ndev, n);
    for (size_t i = 0; i < n; i++) {
        hg_device_step st;
        ck_assert_int_eq(hg_engine_last_step(e, i, &st), HG_OK);
        ck_assert_msg(st.rows == step_counts[i], "device %zu: %zu rows run, the scheduler "
                      "returned %zu in the step (of %zu)", i, st.rows, step_counts[i], count);
    }
    return solver >= 0 && entered[solver];
}

enum { D = 16, C = 3, P = D * C + C, NROWS = 5000 };
static float x[(size_t)NROWS * D], params[P];
static int32_t labels[NROWS];
static const hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};

static hg_engine *engine(void)
{
    for (size_t i = 0; i < (size_t)NROWS * D; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t r = 0; r < NROWS; r++)
        labels[r] = (int32_t)(r % C);
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = "platform:Portable"; /* POCL's two: not another CPU runtime (Intel's) */
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.no_profile_cache = true;
    /* Stealing within a step (steal.c) moves unstarted rows at the end of a round, by
       design away from the scheduler's counts: off, so that the counts are what ran. */
    const hg__engine_knobs k = {.steal = "off"};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &model, &e, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc d = {NROWS, D, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &d, &err) == HG_OK, "%s", err.message);
    return e;
}

/* A range step of count rows from first: the scheduler's counts = the rows run. */
static void same_counts(hg_engine *e, size_t first, size_t count)
{
    size_t n = hg_engine_device_count(e), caps[8], want[8];
    hg__window win[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++)
        win[i] = e->dev[i].win;
    hg__plan_caps(win, n, first, count, NULL, caps);
    hg__corun_caps(e, caps);
    hg_error err;
    ck_assert_msg(hg__sched_plan(e->sched, count, caps, want, &err) == HG_OK, "%s",
                  err.message);
    float g[P];
    double loss;
    ck_assert_msg(hg_engine_gradient(e, params, first, count, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        hg_device_step st;
        ck_assert_int_eq(hg_engine_last_step(e, i, &st), HG_OK);
        ck_assert_msg(st.rows == want[i], "device %zu: %zu rows run, the scheduler said %zu "
                      "(step of %zu)", i, st.rows, want[i], count);
        sum += st.rows;
    }
    ck_assert_uint_eq(sum, count);
    step_path_ok(e, hg__sched_policy(e->sched) == HG__POLICY_WEIGHTS ? F_PARTITION : F_PLANNER,
                 count);
}

START_TEST(counts_run_as_planned)
{
    hg_engine *e = engine();
    ck_assert_uint_eq(hg_engine_device_count(e), 2);
    hg_error err;
    const size_t sizes[] = {1, 7, 100, 1234, NROWS};
    double w[2] = {3.0, 1.0};
    ck_assert_int_eq(hg_engine_set_weights(e, w, 2, &err), HG_OK);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        same_counts(e, NROWS - sizes[k], sizes[k]);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    ck_assert_int_eq(hg__sched_policy(e->sched), HG__POLICY_MODEL);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        same_counts(e, 0, sizes[k]);
    hg_engine_destroy(e);
}
END_TEST

/* The dynamic policy: the same three files, its plan in planner.c (hg__plan_dynamic). */
START_TEST(dynamic_counts_pass_three_files)
{
    hg_engine *e = engine();
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    ck_assert_int_eq(hg_engine_set_split(e, HG_SPLIT_DYNAMIC, &err), HG_OK);
    ck_assert_int_eq(hg__sched_policy(e->sched), HG__POLICY_DYNAMIC);
    const size_t sizes[] = {1, 7, 100, 1234, NROWS, NROWS, NROWS, 100};
    size_t solved = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        float g[P];
        double loss;
        ck_assert_msg(hg_engine_gradient(e, params, 0, sizes[k], g, &loss, &err) == HG_OK,
                      "%s", err.message);
        solved += step_path_ok(e, F_PLANNER, sizes[k]);
    }
    /* the solo guard may give whole steps to one device (no solver), not the first two */
    ck_assert_uint_ge(solved, 2);
    hg_engine_destroy(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rowpath");
    TCase *tc = tcase_create("pocl");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, counts_run_as_planned);
    tcase_add_test(tc, dynamic_counts_pass_three_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
