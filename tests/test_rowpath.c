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
 * scheduler again gives the counts the step ran.  Timings never matter here.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "internal.h"

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
    dev.devices = "cpu";
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.no_profile_cache = true;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &model, &e, &err) == HG_OK, "%s", err.message);
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

int main(void)
{
    Suite *s = suite_create("rowpath");
    TCase *tc = tcase_create("pocl");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, counts_run_as_planned);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
