/* SPDX-License-Identifier: MIT */
/*
 * test_joint.c - joint calibration (src/calib/joint.c, src/sched/corun.c) on the
 * real test devices: POCL's pthread and basic devices, and Oclgrind on a tiny
 * shape where the set has it.  Run twice by CTest: with POCL's pthread device
 * on one thread (POCL_MAX_PTHREAD_COUNT=1, two devices that barely share a
 * core) and with its default threads (two views of the same cores).
 *
 * What is checked holds whatever the timings (no timing is a threshold):
 * every device calibrated gets a co-run factor; at least one device is kept;
 * an excluded device has a reason naming the times measured and computes no
 * rows in model and dynamic steps, and still computes rows when the user's
 * weights ask for it; every step's gradient matches the double reference; a
 * second engine on the same profile cache reads the same decisions back
 * without measuring; a serial engine, and a single device, get no factor;
 * the tests' knob keeps every device in.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_entry.h"
#include "engine_internal.h"
#include "sched/planner.h"
#include "engine_knobs.h"
#include "internal.h"
#include "test_expect.h"
#include "test_problem.h"

static char cache[256];

enum { D = 48, C = 6, P = D * C + C, NROWS = 24000 };
static float *x, params[P];
static int32_t *labels;
static const hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};

static void setup(void)
{
    test_dir_make(cache, sizeof cache, "joint");
    x = malloc((size_t)NROWS * D * sizeof *x);
    labels = malloc(NROWS * sizeof *labels);
    test_fill_centred(x, (size_t)NROWS * D, 7);
    test_cyclic_labels(labels, NROWS, C);
    test_fixed_params(params, P);
}

static void teardown(void)
{
    test_dir_remove(cache);
    free(x);
    free(labels);
}

typedef struct setup_opts {
    const char *devices;
    size_t      rows;      /* data set rows */
    bool        no_cache;
    bool        serial;
    bool        keep_all;  /* the knob no_solo_guard */
    test_log   *log;
} setup_opts;

static hg_engine *engine(const setup_opts *so)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = so->devices;
    dev.log_level = so->log ? HG_LOG_INFO : HG_LOG_ERROR;
    dev.log = so->log ? test_log_fn : NULL;
    dev.log_user = so->log;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.cache_dir = cache;
    o.no_profile_cache = so->no_cache;
    /* steal off: model steps are checked to run exactly the plan on the co-run models
       (stealing, steal.c, moves unstarted rows at the end of a round, by design off it) */
    const hg__engine_knobs k = {.serial = so->serial, .no_solo_guard = so->keep_all,
                                .steal = "off"};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &model, &e, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc d = {so->rows, D, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &d, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    return e;
}

/* One step of count rows, against the double reference. */
static void exact_step(hg_engine *e, size_t count)
{
    float g[P];
    double ref[P], rl, loss;
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, params, 0, count, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc d = {count, D, x, NULL, labels};
    ck_assert_int_eq(hg_reference_loss_grad(&model, params, &d, 0, count, NULL, &rl, ref,
                                            &err), HG_OK);
    double md = 0, mr = 0;
    for (int i = 0; i < P; i++) {
        md = fmax(md, fabs(g[i] - ref[i] / (double)count));
        mr = fmax(mr, fabs(ref[i] / (double)count));
    }
    ck_assert_msg(md <= 1e-4 * mr, "gradient error %g of %g", md, mr);
    ck_assert_msg(fabs(loss - rl / (double)count) <= 1e-5 * fabs(rl / (double)count),
                  "loss %g vs %g", loss, rl / (double)count);
}

static hg_device_profile profile(hg_engine *e, size_t i)
{
    hg_device_profile p;
    ck_assert_int_eq(hg_engine_device_profile(e, i, &p), HG_OK);
    return p;
}

/* The decisions' invariants; returns how many devices were excluded. */
static size_t check_decisions(hg_engine *e, const char *what)
{
    size_t n = hg_engine_device_count(e), kept = 0, excluded = 0;
    for (size_t i = 0; i < n; i++) {
        hg_device_profile p = profile(e, i);
        ck_assert_msg(p.valid, "%s: device %zu not calibrated", what, i);
        ck_assert_msg(p.corun_factor > 0 && isfinite(p.corun_factor), "%s: device %zu: "
                      "factor %g", what, i, p.corun_factor);
        printf("%s: %s: %.3g ms + %.4g ms/row, co-run x%.3f%s%s\n", what,
               hg_engine_device(e, i)->name, p.fixed_ms, p.ms_per_row, p.corun_factor,
               p.excluded ? "; excluded: " : "", p.excluded ? p.excluded_why : "");
        if (p.excluded) {
            excluded++;
            ck_assert_msg((strstr(p.excluded_why, "does not pay for itself") &&
                           strstr(p.excluded_why, " ms without it")) ||
                              (strstr(p.excluded_why, "not worth its fixed cost") &&
                               strstr(p.excluded_why, " device(s) kept")),
                          "%s: reason '%s'", what, p.excluded_why);
        } else {
            kept++;
            ck_assert_str_eq(p.excluded_why, "");
        }
    }
    ck_assert_msg(kept >= 1, "%s: every device excluded", what);
    return excluded;
}

/* A model step's counts: the affine planner's on the co-run models, excluded devices out. */
static void expect_corun_plan(hg_engine *e, size_t rows, const char *what)
{
    size_t n = hg_engine_device_count(e);
    hg__cost_model m[TEST_EXPECT_MAX];
    size_t want[TEST_EXPECT_MAX];
    for (size_t i = 0; i < n; i++) {
        m[i] = hg__plan_model(e, i);
        m[i].valid &= !e->dev[i].corun.excluded;
    }
    hg_error err;
    ck_assert_int_eq(hg__plan_affine(rows, m, n, NULL, want, NULL, &err), HG_OK);
    for (size_t i = 0; i < n; i++) {
        hg_device_step st;
        ck_assert_int_eq(hg_engine_last_step(e, i, &st), HG_OK);
        ck_assert_msg(st.rows == want[i], "%s: device %zu computed %zu rows, the plan on the "
                      "co-run models gives %zu", what, i, st.rows, want[i]);
    }
}

/* Model and dynamic steps: right gradients, no rows on excluded devices. */
static void check_steps(hg_engine *e, size_t rows, const char *what)
{
    hg_error err;
    const hg_split splits[2] = {HG_SPLIT_MODEL, HG_SPLIT_DYNAMIC};
    for (size_t s = 0; s < 2; s++) {
        ck_assert_int_eq(hg_engine_set_split(e, splits[s], &err), HG_OK);
        for (int k = 0; k < 3; k++) {
            exact_step(e, rows);
            size_t sum = 0;
            for (size_t i = 0; i < hg_engine_device_count(e); i++) {
                hg_device_step st;
                ck_assert_int_eq(hg_engine_last_step(e, i, &st), HG_OK);
                sum += st.rows;
                if (profile(e, i).excluded)
                    ck_assert_msg(st.rows == 0, "%s: excluded device %zu computed %zu rows",
                                  what, i, st.rows);
            }
            ck_assert_uint_eq(sum, rows);
            if (splits[s] == HG_SPLIT_MODEL)
                expect_corun_plan(e, rows, what);
        }
    }
}

/* The user's weights still reach an excluded device. */
static void check_weights_reach_all(hg_engine *e, size_t rows)
{
    hg_error err;
    size_t n = hg_engine_device_count(e);
    double w[TEST_EXPECT_MAX];
    for (size_t i = 0; i < n; i++)
        w[i] = 1;
    ck_assert_int_eq(hg_engine_set_weights(e, w, n, &err), HG_OK);
    ck_assert_int_eq(hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err), HG_OK);
    exact_step(e, rows);
    for (size_t i = 0; i < n; i++) {
        hg_device_step st;
        ck_assert_int_eq(hg_engine_last_step(e, i, &st), HG_OK);
        ck_assert_msg(st.rows > 0, "device %zu: no rows with equal weights", i);
    }
    /* only an excluded device weighted: it is all there is, and it computes */
    for (size_t i = 0; i < n; i++) {
        if (!profile(e, i).excluded)
            continue;
        for (size_t k = 0; k < n; k++)
            w[k] = k == i;
        ck_assert_int_eq(hg_engine_set_weights(e, w, n, &err), HG_OK);
        ck_assert_int_eq(hg_engine_set_split(e, HG_SPLIT_MODEL, &err), HG_OK);
        exact_step(e, rows);
        hg_device_step st;
        ck_assert_int_eq(hg_engine_last_step(e, i, &st), HG_OK);
        ck_assert_uint_eq(st.rows, rows);
    }
    for (size_t i = 0; i < n; i++)
        w[i] = 1;
    ck_assert_int_eq(hg_engine_set_weights(e, w, n, &err), HG_OK);
}

START_TEST(pocl_pair)
{
    test_log lg;
    test_log_init(&lg);
    setup_opts so = {.devices = "pthread,basic", .rows = NROWS, .log = &lg};
    hg_engine *e = engine(&so);
    ck_assert_uint_eq(hg_engine_device_count(e), 2);
    check_decisions(e, "POCL");
    ck_assert_msg(strstr(lg.text, "joint calibration: ") != NULL, "log: %s", lg.text);
    check_steps(e, NROWS, "POCL");
    check_weights_reach_all(e, NROWS);
    /* The same rules whatever calibration decided: device 1 excluded by hand (a
       weight on it alone still reaches it; with equal weights it gets no rows
       in model steps). */
    bool was = e->dev[1].corun.excluded;
    e->dev[1].corun.excluded = true;
    check_weights_reach_all(e, NROWS);
    hg_error herr;
    ck_assert_int_eq(hg_engine_set_split(e, HG_SPLIT_MODEL, &herr), HG_OK);
    if (!e->dev[0].corun.excluded) {
        exact_step(e, NROWS);
        hg_device_step hst;
        ck_assert_int_eq(hg_engine_last_step(e, 1, &hst), HG_OK);
        ck_assert_uint_eq(hst.rows, 0);
    }
    e->dev[1].corun.excluded = was;
    hg_device_profile first[2] = {profile(e, 0), profile(e, 1)};
    hg_engine_destroy(e);

    /* The same devices and cached profiles: the decisions are read back --
       unless the first steps found a cached profile stale and rewrote it
       (timings on a loaded machine), or fission changed a device (fission.c,
       decided on a cold start only): then the joint calibration is measured
       again. */
    bool rewritten = strstr(lg.text, "was stale") != NULL ||
                     strstr(lg.text, "fissioned to") != NULL;
    test_log again;
    test_log_init(&again);
    so.log = &again;
    e = engine(&so);
    for (size_t i = 0; !rewritten && i < 2; i++) {
        hg_device_profile p = profile(e, i);
        ck_assert(p.from_cache);
        ck_assert_msg(p.corun_factor == first[i].corun_factor, "device %zu: %.17g, was %.17g; "
                      "first log:\n%s\nsecond log:\n%s", i, p.corun_factor,
                      first[i].corun_factor, lg.text, again.text);
        ck_assert(p.excluded == first[i].excluded);
        ck_assert_str_eq(p.excluded_why, first[i].excluded_why);
        /* a cached profile's kernels are checked before their first rows: those of a
           device that gets none, not at all */
        ck_assert_msg(e->dev[i].kc_checked == !p.excluded, "device %zu: checked %d, "
                      "excluded %d", i, e->dev[i].kc_checked, p.excluded);
    }
    ck_assert_msg(rewritten || (strstr(again.text, "joint calibration: ") == NULL &&
                                strstr(again.text, "(cached)") != NULL), "log: %s",
                  again.text);
    exact_step(e, NROWS);
    /* The checks that wait (hg__calibrate_pending): with rows only, an excluded device's
       wait; otherwise every calibrated device's is done */
    for (size_t i = 0; i < 2; i++) {
        e->dev[i].kc_checked = false;
        e->dev[i].corun.excluded = i == 1;
    }
    bool changed = false; /* right kernels: nobody measured again */
    ck_assert_int_eq(hg__calibrate_pending(e, true, &changed, &herr), HG_OK);
    ck_assert(e->dev[0].kc_checked && !e->dev[1].kc_checked);
    ck_assert_int_eq(hg__calibrate_pending(e, false, &changed, &herr), HG_OK);
    ck_assert(e->dev[0].kc_checked && e->dev[1].kc_checked && !changed);
    hg_engine_destroy(e);
}
END_TEST

/* The tests' knob: factors fitted, nobody left out. */
START_TEST(keep_all_knob)
{
    setup_opts so = {.devices = "pthread,basic", .rows = NROWS, .no_cache = true,
                     .keep_all = true};
    hg_engine *e = engine(&so);
    ck_assert_uint_eq(check_decisions(e, "knob"), 0);
    check_steps(e, NROWS, "knob");
    hg_engine_destroy(e);
}
END_TEST

/* Nothing runs together: no factor. */
START_TEST(serial_and_single)
{
    setup_opts so = {.devices = "pthread,basic", .rows = 4000, .no_cache = true,
                     .serial = true};
    hg_engine *e = engine(&so);
    for (size_t i = 0; i < 2; i++) {
        hg_device_profile p = profile(e, i);
        ck_assert(p.valid && p.corun_factor == 0 && !p.excluded);
    }
    exact_step(e, 4000);
    hg_engine_destroy(e);
    setup_opts one = {.devices = "basic", .rows = 4000, .no_cache = true};
    e = engine(&one);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    hg_device_profile p = profile(e, 0);
    ck_assert(p.valid && p.corun_factor == 0 && !p.excluded);
    exact_step(e, 4000);
    hg_engine_destroy(e);
}
END_TEST

/* With Oclgrind beside them, on a tiny data set. */
START_TEST(with_oclgrind)
{
    test_expect ex;
    test_expect_load(&ex);
    if (!test_expect_has(&ex, "oclgrind"))
        return; /* the set has no Oclgrind: pocl_pair covers the rest */
    setup_opts so = {.devices = "pthread,basic,oclgrind", .rows = 512, .no_cache = true};
    hg_engine *e = engine(&so);
    ck_assert_uint_eq(hg_engine_device_count(e), 3);
    check_decisions(e, "POCL+Oclgrind");
    check_steps(e, 512, "POCL+Oclgrind");
    hg_engine_destroy(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("joint");
    TCase *tc = tcase_create("devices");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, pocl_pair);
    tcase_add_test(tc, keep_all_knob);
    tcase_add_test(tc, serial_and_single);
    tcase_add_test(tc, with_oclgrind);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
