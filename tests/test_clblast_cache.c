/* SPDX-License-Identifier: MIT */
/*
 * test_clblast_cache.c - what an engine leaves in CLBlast's process-wide
 * program cache (src/device/clblast_guard.c).
 *
 * CLBlast 1.5.3 keeps the programs it compiles, keyed by context, until
 * CLBlastClearCache(); each cached program holds a reference to its context.
 * The test keeps one reference of its own to each of an engine's contexts,
 * destroys the engine, and reads CL_CONTEXT_REFERENCE_COUNT: 1 (the test's
 * own) when nothing else holds the context, more when CLBlast's cache still
 * does.  This counts the cache's hold deterministically, where memory use
 * would be noisy.  Runs on the POCL devices, which every test set has.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine_internal.h"
#include "internal.h"

enum { ROWS = 300, IN = 6, OUT = 3 };
static float x[ROWS * IN];
static int32_t labels[ROWS];
static const hg_model_desc mlp = {
    .kind = HG_MODEL_MLP, .inputs = IN, .outputs = OUT, .nhidden = 1, .hidden = {5}};

/* An engine computing with CLBlast on the CPU devices, data uploaded (the
   warm-up runs CLBlast) and one step run. */
static hg_engine *clblast_engine(void)
{
    for (int i = 0; i < ROWS * IN; i++)
        x[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
    for (int i = 0; i < ROWS; i++)
        labels[i] = i % OUT;
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.device_types = HG_DEVICE_CPU;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_CLBLAST;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &mlp, &e, &err) == HG_OK, "%s", err.message);
    hg_dataset_desc d = {ROWS, IN, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &d, &err) == HG_OK, "%s", err.message);
    size_t P = hg_model_param_count(&mlp);
    float *params = calloc(P, sizeof *params), *g = malloc(P * sizeof *g);
    ck_assert_ptr_nonnull(params);
    ck_assert_ptr_nonnull(g);
    for (size_t i = 0; i < P; i++)
        params[i] = (float)((i * 13) % 7) / 10.0f - 0.3f;
    ck_assert_msg(hg_engine_gradient(e, params, 0, ROWS, g, NULL, &err) == HG_OK, "%s",
                  err.message);
    for (size_t i = 0; i < e->ndev; i++)
        ck_assert_msg(!e->dev[i].quarantined && e->dev[i].kc.path == HG__PATH_CLBLAST,
                      "%s does not compute with CLBlast", e->dev[i].what);
    free(params);
    free(g);
    return e;
}

/* Keep a reference to each of e's contexts in ctx[0..*n). */
static void hold_contexts(const hg_engine *e, cl_context *ctx, size_t *n)
{
    for (size_t i = 0; i < e->ndev; i++) {
        ck_assert_int_eq(clRetainContext(e->dev[i].ctx), CL_SUCCESS);
        ctx[(*n)++] = e->dev[i].ctx;
    }
}

/* References to ctx besides the test's own one. */
static cl_uint others_now(cl_context ctx)
{
    cl_uint rc = 0;
    ck_assert_int_eq(clGetContextInfo(ctx, CL_CONTEXT_REFERENCE_COUNT, sizeof rc, &rc, NULL),
                     CL_SUCCESS);
    return rc - 1;
}

/*
 * The same once they have settled: a runtime's own threads may drop the
 * references of finished commands a moment after the engine is gone (one CI
 * run saw 4 left right after a destroy on POCL, under load), while CLBlast's
 * cache holds its programs until it is cleared.  So the count is read again,
 * every millisecond for up to 2 s, until it is 0.
 */
static cl_uint others(cl_context ctx)
{
    struct timespec ms = {0, 1000000};
    cl_uint held = others_now(ctx);
    for (int i = 0; i < 2000 && held > 0; i++) {
        nanosleep(&ms, NULL);
        held = others_now(ctx);
    }
    return held;
}

/*
 * Two engines live at once; after the last one is destroyed, CLBlast holds
 * none of their contexts (the last one out cleared its cache).
 */
START_TEST(cache_released_by_last_engine)
{
    ck_assert_uint_eq(hg__clblast_engines(), 0);
    hg_engine *a = clblast_engine(), *b = clblast_engine();
    ck_assert_uint_eq(hg__clblast_engines(), 2);
    cl_context ctx[16];
    size_t n = 0;
    hold_contexts(a, ctx, &n);
    hold_contexts(b, ctx, &n);
    hg_engine_destroy(a);
    ck_assert_uint_eq(hg__clblast_engines(), 1);
    hg_engine_destroy(b);
    ck_assert_uint_eq(hg__clblast_engines(), 0);
    for (size_t i = 0; i < n; i++) {
        cl_uint held = others(ctx[i]);
        ck_assert_msg(held == 0, "context %zu of %zu still has %u references after its "
                      "engine was destroyed (CLBlast's program cache)", i, n, held);
        clReleaseContext(ctx[i]);
    }
}
END_TEST

/* Engines created and destroyed one after another leave nothing behind. */
START_TEST(cycles_leave_nothing)
{
    for (int cycle = 0; cycle < 5; cycle++) {
        hg_engine *e = clblast_engine();
        cl_context ctx[8];
        size_t n = 0;
        hold_contexts(e, ctx, &n);
        hg_engine_destroy(e);
        for (size_t i = 0; i < n; i++) {
            cl_uint held = others(ctx[i]);
            ck_assert_msg(held == 0, "cycle %d: context %zu still has %u references after "
                          "its engine was destroyed", cycle, i, held);
            clReleaseContext(ctx[i]);
        }
    }
    ck_assert_uint_eq(hg__clblast_engines(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clblast_cache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, cache_released_by_last_engine);
    tcase_add_test(tc, cycles_leave_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
