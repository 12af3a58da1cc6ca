/* SPDX-License-Identifier: MIT */
/*
 * test_engine.c - the gradient engine on the real test devices, against the
 * double-precision host reference.
 *
 * Tolerance: the engine computes in float on the devices and sums in double
 * on the host; it must match the reference to a normwise relative error
 *   max_i |g_i - ref_i| / max_i |ref_i|  <=  1e-4
 * and the mean loss to a relative 1e-5.  Shapes are tiny: Oclgrind simulates
 * every work-item.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_knobs.h"
#include "internal.h"
#include "kchoice_shapes.h"
#include "path_ops.h"
#include "test_problem.h"

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5

/* ---- data ------------------------------------------------------------------ */

static test_rng rng = {42};
static double uniform(void)
{
    return test_uniform(&rng);
}

typedef test_problem problem;

/* Blobs: class c centred at +2 on feature c (test_problem.h). */
static void make_problem(problem *p, hg_model_kind kind, size_t rows, size_t inputs,
                         size_t outputs)
{
    const test_problem_spec spec = {
        .kind = kind, .rows = rows, .inputs = inputs, .outputs = outputs,
        .nhidden = 2, .hidden = {6, 4}, .seed = 42 + (uint64_t)kind * 7 + rows,
        .shift = 2.0, .param_scale = 1.0};
    test_problem_make(p, &spec);
}

static void free_problem(problem *p)
{
    test_problem_free(p);
}

/* HG_TEST_GEMM: naive, own, clblast; unset: the default (measured per device). */
static hg_gemm_backend test_gemm(void)
{
    const char *g = getenv("HG_TEST_GEMM");
    if (!g)
        return HG_GEMM_AUTO;
    if (!strcmp(g, "naive"))
        return HG_GEMM_NAIVE;
    if (!strcmp(g, "own"))
        return HG_GEMM_OWN;
    if (strcmp(g, "clblast") != 0) { /* also called from main: no ck_assert */
        fprintf(stderr, "HG_TEST_GEMM=%s: naive, own or clblast\n", g);
        exit(2);
    }
    return HG_GEMM_CLBLAST;
}

static hg_engine *make_engine(const hg_model_desc *m, size_t mem_limit)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true; /* all three test devices */
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.device_mem_limit = mem_limit;
    o.gemm = test_gemm();
    /* the runs with hetgrad's kernels on Oclgrind use its uninitialised-value
       plugin, which crashes when a second host thread drives the device */
    const hg__engine_knobs k = {.serial = o.gemm == HG_GEMM_NAIVE || o.gemm == HG_GEMM_OWN};
    hg_engine *e = NULL;
    hg_error err;
    hg_status st = hg__engine_create_knobs(&o, &k, m, &e, &err);
    ck_assert_msg(st == HG_OK, "hg_engine_create: %s", err.message);
    return e;
}

/* Compare the engine's gradient with the reference over the same rows. */
static void expect_reference(hg_engine *e, const problem *p, size_t first, size_t count,
                             const size_t *idx, const char *what)
{
    float *g = malloc(p->P * sizeof *g);
    double *ref = calloc(p->P, sizeof *ref);
    double loss = 0, rloss = 0;
    hg_error err;
    hg_status st = idx ? hg_engine_gradient_rows(e, p->params, idx, count, g, &loss, &err)
                       : hg_engine_gradient(e, p->params, first, count, g, &loss, &err);
    ck_assert_msg(st == HG_OK, "%s: %s", what, err.message);
    hg_model_desc rm = p->m;
    if (rm.kind == HG_MODEL_CUSTOM) { /* the custom test kernel is linear regression */
        rm.kind = HG_MODEL_LINEAR;
        rm.custom_source = rm.custom_kernel = NULL;
    }
    st = hg_reference_loss_grad(&rm, p->params, &p->d, first, count, idx, &rloss, ref, &err);
    ck_assert_msg(st == HG_OK, "reference: %s", err.message);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < p->P; i++) {
        ref[i] /= (double)count;
        maxref = fmax(maxref, fabs(ref[i]));
        maxdiff = fmax(maxdiff, fabs((double)g[i] - ref[i]));
    }
    rloss /= (double)count;
    ck_assert_msg(maxdiff <= GRAD_TOL * maxref, "%s: gradient error %.3g (max |ref| %.3g)",
                  what, maxdiff, maxref);
    ck_assert_msg(fabs(loss - rloss) <= LOSS_TOL * fabs(rloss), "%s: loss %.9g, reference %.9g",
                  what, loss, rloss);
    free(g);
    free(ref);
}

static void set_weights(hg_engine *e, const double *w)
{
    hg_error err;
    ck_assert_msg(hg_engine_set_weights(e, w, hg_engine_device_count(e), &err) == HG_OK, "%s",
                  err.message);
}

/* Every split the issue names, for one model. */
static void check_model(hg_model_kind kind, size_t outputs)
{
    problem p;
    size_t n = 97;
    make_problem(&p, kind, n, 5, outputs);
    hg_engine *e = make_engine(&p.m, 0);
    size_t nd = hg_engine_device_count(e);
    ck_assert_uint_ge(nd, 2);
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);

    double w[8];
    for (size_t i = 0; i < nd; i++)
        w[i] = 1;
    set_weights(e, w);
    expect_reference(e, &p, 0, n, NULL, "equal split");

    /* One row on device 0, the rest on device 1, nothing on the others. */
    for (size_t i = 0; i < nd; i++)
        w[i] = 0;
    w[0] = 1;
    w[1] = (double)(n - 1);
    set_weights(e, w);
    expect_reference(e, &p, 0, n, NULL, "1 row + rest");
    hg_device_step s0, s1;
    ck_assert_int_eq(hg_engine_last_step(e, 0, &s0), HG_OK);
    ck_assert_int_eq(hg_engine_last_step(e, 1, &s1), HG_OK);
    ck_assert_uint_eq(s0.rows, 1);
    ck_assert_uint_eq(s1.rows, n - 1);
    ck_assert(s1.device_ms > 0 && s1.host_ms > 0);

    /* Each device alone. */
    for (size_t k = 0; k < nd; k++) {
        for (size_t i = 0; i < nd; i++)
            w[i] = i == k ? 1 : 0;
        set_weights(e, w);
        char what[64];
        snprintf(what, sizeof what, "device %zu alone", k);
        expect_reference(e, &p, 0, n, NULL, what);
        for (size_t i = 0; i < nd; i++) {
            hg_device_step s;
            ck_assert_int_eq(hg_engine_last_step(e, i, &s), HG_OK);
            ck_assert_uint_eq(s.rows, i == k ? n : 0);
        }
    }

    /* Uneven weights, a sub-range and a minibatch with repeats. */
    for (size_t i = 0; i < nd; i++)
        w[i] = 1.0 + 2.0 * (double)i;
    set_weights(e, w);
    expect_reference(e, &p, 13, 41, NULL, "sub-range");
    size_t idx[23];
    for (size_t i = 0; i < 23; i++)
        idx[i] = (i * 37 + 5) % n;
    idx[7] = idx[3];
    expect_reference(e, &p, 0, 23, idx, "minibatch");
    expect_reference(e, &p, 0, 1, idx, "one row");
    /* no device failed and had its rows recomputed by the others */
    ck_assert_uint_eq(hg_engine_recovered_steps(e), 0);
    hg_engine_destroy(e);
    free_problem(&p);
}

START_TEST(linear_matches_reference) { check_model(HG_MODEL_LINEAR, 2); }
END_TEST
START_TEST(softmax_matches_reference) { check_model(HG_MODEL_SOFTMAX, 3); }
END_TEST
START_TEST(mlp_matches_reference) { check_model(HG_MODEL_MLP, 3); }
END_TEST

/*
 * The custom-kernel test's linear regression kernel (docs/custom-kernels.md),
 * with room for a prelude and the accumulator's starting value, so that the
 * real-fault test can make the same kernel ask for too much local memory.
 */
#define LINEAR_KERNEL(name, prelude, acc0)                                                  \
    "__kernel void " name "(__global const float *x, __global const float *y,\n"            \
    "        __global const float *params, const uint first, const uint count,\n"           \
    "        const uint inputs, const uint outputs,\n"                                      \
    "        __global float *partial, __local float *scratch)\n"                            \
    "{\n" prelude                                                                           \
    "    const uint P = inputs + 1;\n"                                                      \
    "    size_t lid = get_local_id(0), lsz = get_local_size(0);\n"                          \
    "    for (uint p = 0; p <= P; p++) {\n"                                                 \
    "        float acc = " acc0 ";\n"                                                       \
    "        for (size_t r = get_global_id(0); r < count; r += get_global_size(0)) {\n"     \
    "            __global const float *xr = x + (size_t)(first + r) * inputs;\n"           \
    "            float pred = params[inputs];\n"                                            \
    "            for (uint j = 0; j < inputs; j++)\n"                                       \
    "                pred += xr[j] * params[j];\n"                                          \
    "            float e = pred - y[(size_t)(first + r) * outputs];\n"                     \
    "            acc += p < inputs ? e * xr[p] : p == inputs ? e : 0.5f * e * e;\n"         \
    "        }\n"                                                                           \
    "        scratch[lid] = acc;\n"                                                         \
    "        barrier(CLK_LOCAL_MEM_FENCE);\n"                                               \
    "        for (size_t s = lsz / 2; s > 0; s >>= 1) {\n"                                  \
    "            if (lid < s)\n"                                                            \
    "                scratch[lid] += scratch[lid + s];\n"                                   \
    "            barrier(CLK_LOCAL_MEM_FENCE);\n"                                           \
    "        }\n"                                                                           \
    "        if (lid == 0)\n"                                                               \
    "            partial[get_group_id(0) * (P + 1) + p] = scratch[0];\n"                    \
    "        barrier(CLK_LOCAL_MEM_FENCE);\n"                                               \
    "    }\n"                                                                               \
    "}\n"

static const char *custom_src = LINEAR_KERNEL("my_linear", "", "0.0f");

START_TEST(custom_kernel_matches_reference)
{
    problem p;
    size_t n = 83;
    make_problem(&p, HG_MODEL_LINEAR, n, 4, 1);
    p.m.kind = HG_MODEL_CUSTOM;
    p.m.custom_source = custom_src;
    p.m.custom_kernel = "my_linear";
    p.m.custom_params = 5;
    ck_assert_uint_eq(hg_model_param_count(&p.m), 5);
    hg_engine *e = make_engine(&p.m, 0);
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    expect_reference(e, &p, 0, n, NULL, "custom, equal split");
    double w[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    w[hg_engine_device_count(e) - 1] = 5;
    set_weights(e, w);
    expect_reference(e, &p, 3, 70, NULL, "custom, uneven");
    size_t idx[9] = {1, 80, 3, 3, 50, 60, 0, 82, 41};
    expect_reference(e, &p, 0, 9, idx, "custom, minibatch");
    hg_engine_destroy(e);

    /* Errors on the POCL devices only: Oclgrind would (rightly) report the
       failing API calls, and this test provokes them on purpose. */
    p.m.custom_kernel = "no_such_kernel";
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.device_types = HG_DEVICE_CPU;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    hg_engine *bad = NULL;
    ck_assert_int_eq(hg_engine_create(&o, &p.m, &bad, &err), HG_OPENCL);
    ck_assert_ptr_nonnull(strstr(err.message, "no_such_kernel"));
    p.m.custom_source = "__kernel void my_linear( syntax error";
    ck_assert_int_eq(hg_engine_create(&o, &p.m, &bad, &err), HG_BUILD);
    ck_assert_ptr_null(bad);
    free_problem(&p);
}
END_TEST

/* Devices that hold only a window of the rows (forced by a memory limit). */
START_TEST(partial_copies)
{
    problem p;
    size_t n = 300;
    make_problem(&p, HG_MODEL_SOFTMAX, n, 5, 3);
    /* 36 bytes a row, 60% of the limit for data: each device holds a bit more
       than its part of the rows, nobody holds them all. */
    hg_engine *probe = make_engine(&p.m, 0);
    size_t ndev = hg_engine_device_count(probe);
    hg_engine_destroy(probe);
    size_t per = n / ndev + 10;
    hg_engine *e = make_engine(&p.m, (size_t)((double)per * 36 / 0.6) + 1);
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    size_t nd = hg_engine_device_count(e), covered = 0;
    for (size_t i = 0; i < nd; i++) {
        size_t f, c;
        ck_assert_int_eq(hg_engine_resident_rows(e, i, &f, &c), HG_OK);
        ck_assert_uint_lt(c, n);
        covered += c;
    }
    if (covered < n) {
        hg_engine_destroy(e);
        free_problem(&p);
        ck_abort_msg("windows cover %zu of %zu rows", covered, n);
    }
    expect_reference(e, &p, 0, n, NULL, "windows, full range");
    expect_reference(e, &p, 150, 100, NULL, "windows, sub-range");
    size_t idx[40];
    for (size_t i = 0; i < 40; i++)
        idx[i] = (i * 71) % n;
    expect_reference(e, &p, 0, 40, idx, "windows, minibatch");
    hg_engine_destroy(e);

    /* Too little memory for the data set: a clear error, nothing lost. */
    e = make_engine(&p.m, 600);
    ck_assert_int_eq(hg_engine_set_data(e, &p.d, &err), HG_OUT_OF_MEMORY);
    ck_assert_ptr_nonnull(strstr(err.message, "does not fit"));
    float g[18];
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, 10, g, NULL, &err), HG_INVALID_ARGUMENT);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* Full-batch gradient descent with every device working reaches the accuracy. */
START_TEST(sgd_trains_with_all_devices)
{
    problem p;
    size_t n = 240;
    make_problem(&p, HG_MODEL_SOFTMAX, n, 5, 3);
    memset(p.params, 0, p.P * sizeof *p.params);
    hg_engine *e = make_engine(&p.m, 0);
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    float g[18];
    double loss0 = 0, loss = 0;
    for (int step = 0; step < 60; step++) {
        ck_assert_msg(hg_engine_gradient(e, p.params, 0, n, g, &loss, &err) == HG_OK, "%s",
                      err.message);
        if (step == 0)
            loss0 = loss;
        for (size_t i = 0; i < p.P; i++)
            p.params[i] -= 0.5f * g[i];
        for (size_t i = 0; i < hg_engine_device_count(e); i++) {
            hg_device_step s;
            ck_assert_int_eq(hg_engine_last_step(e, i, &s), HG_OK);
            ck_assert_uint_gt(s.rows, 0); /* everyone worked */
        }
    }
    size_t correct = 0;
    for (size_t r = 0; r < n; r++) {
        int best = 0;
        double bz = -INFINITY;
        for (int c = 0; c < 3; c++) {
            double z = p.params[15 + c];
            for (int j = 0; j < 5; j++)
                z += p.x[r * 5 + j] * p.params[j * 3 + c];
            if (z > bz) {
                bz = z;
                best = c;
            }
        }
        correct += best == p.l[r];
    }
    ck_assert_msg(loss < 0.5 * loss0, "loss %g from %g", loss, loss0);
    ck_assert_msg(correct >= n * 9 / 10, "accuracy %zu/%zu", correct, n);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/*
 * Calibration excludes a kernel candidate that does not build and one that
 * computes a wrong gradient (test hooks break them on purpose), says so in
 * the device's kernel note, and computes with a working one.
 */
START_TEST(broken_candidates_are_excluded)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX, 600, 20, 4);
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = "cpu"; /* not Oclgrind (an accelerator): CLBlast builds there for 15 s */
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.no_profile_cache = true;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p.m, &e, &err) == HG_OK, "%s", err.message);
    /* the first fused shape (every device here is a CPU of this host: the same shapes)
       does not build; the second computes a wrong gradient */
    char name[2][48], excluded[2][96];
    for (size_t k = 0; k < 2; k++) {
        hg__kchoice c = test_fused_shape(e, &e->dev[0], k, 0, 0);
        hg__kchoice_name(&c, name[k], sizeof name[k]);
        snprintf(excluded[k], sizeof excluded[k], "%s excluded%s", name[k],
                 k ? " (wrong gradient" : "");
    }
    hg__kchoice_break(e, name[0], 1); /* does not build */
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &pf), HG_OK);
        ck_assert_msg(strcmp(pf.kernel, name[0]) != 0, "device %zu kept the broken "
                      "candidate", i);
        ck_assert_msg(strstr(pf.kernel_note, excluded[0]) != NULL, "note: %s", pf.kernel_note);
    }
    expect_reference(e, &p, 0, 600, NULL, "after excluding a candidate that does not build");

    hg__kchoice_break(e, name[1], 2); /* computes a wrong gradient */
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &pf), HG_OK);
        ck_assert_msg(strcmp(pf.kernel, name[1]) != 0, "device %zu kept the wrong "
                      "candidate", i);
        ck_assert_msg(strstr(pf.kernel_note, excluded[1]) != NULL, "note: %s", pf.kernel_note);
    }
    expect_reference(e, &p, 0, 600, NULL, "after excluding a wrong candidate");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

START_TEST(bad_arguments_leave_engine_usable)
{
    problem p;
    size_t n = 50;
    make_problem(&p, HG_MODEL_SOFTMAX, n, 5, 3);
    hg_engine *e = make_engine(&p.m, 0);
    hg_error err;
    float g[18];

    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, n, g, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "no data"));
    ck_assert_int_eq(hg_engine_set_data(e, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_set_data(NULL, &p.d, &err), HG_INVALID_ARGUMENT);

    hg_dataset_desc bad = p.d;
    bad.inputs = 4;
    ck_assert_int_eq(hg_engine_set_data(e, &bad, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "features"));
    bad = p.d;
    bad.labels = NULL;
    ck_assert_int_eq(hg_engine_set_data(e, &bad, &err), HG_INVALID_ARGUMENT);
    p.l[17] = 3;
    ck_assert_int_eq(hg_engine_set_data(e, &p.d, &err), HG_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "row 17"));
    p.l[17] = -1;
    ck_assert_int_eq(hg_engine_set_data(e, &p.d, &err), HG_RANGE);
    p.l[17] = 2;
    float keep = p.x[23];
    p.x[23] = NAN;
    ck_assert_int_eq(hg_engine_set_data(e, &p.d, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "NaN"));
    ck_assert_ptr_nonnull(strstr(err.message, "row 4"));
    p.x[23] = INFINITY;
    ck_assert_int_eq(hg_engine_set_data(e, &p.d, &err), HG_INVALID_ARGUMENT);
    p.x[23] = keep;

    ck_assert_int_eq(hg_engine_set_data(e, &p.d, &err), HG_OK);
    ck_assert_int_eq(hg_engine_gradient(NULL, p.params, 0, n, g, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_gradient(e, NULL, 0, n, g, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, n, NULL, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, 0, g, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 10, n, g, NULL, &err), HG_RANGE);
    ck_assert_int_eq(hg_engine_gradient(e, p.params, n + 1, 1, g, NULL, &err), HG_RANGE);
    size_t idx[2] = {3, n};
    ck_assert_int_eq(hg_engine_gradient_rows(e, p.params, idx, 2, g, NULL, &err), HG_RANGE);
    ck_assert_int_eq(hg_engine_gradient_rows(e, p.params, NULL, 2, g, NULL, &err),
                     HG_INVALID_ARGUMENT);
    p.params[4] = NAN;
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, n, g, NULL, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "params[4]"));
    p.params[4] = 0.25f;

    double w[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    size_t nd = hg_engine_device_count(e);
    ck_assert_int_eq(hg_engine_set_weights(e, w, nd + 1, &err), HG_INVALID_ARGUMENT);
    w[0] = -1;
    ck_assert_int_eq(hg_engine_set_weights(e, w, nd, &err), HG_INVALID_ARGUMENT);
    w[0] = NAN;
    ck_assert_int_eq(hg_engine_set_weights(e, w, nd, &err), HG_INVALID_ARGUMENT);
    for (size_t i = 0; i < nd; i++)
        w[i] = 0;
    ck_assert_int_eq(hg_engine_set_weights(e, w, nd, &err), HG_INVALID_ARGUMENT);

    /* Still usable: the right answer after all of that. */
    expect_reference(e, &p, 0, n, NULL, "after bad arguments");
    hg_device_step s;
    ck_assert_int_eq(hg_engine_last_step(e, 99, &s), HG_RANGE);
    ck_assert_int_eq(hg_engine_last_step(NULL, 0, &s), HG_INVALID_ARGUMENT);
    ck_assert(hg_engine_last_step_ms(e) > 0);
    hg_engine_destroy(e);
    hg_engine_destroy(NULL);

    /* Invalid models and empty selections. */
    hg_model_desc m = p.m;
    m.outputs = 1;
    hg_engine *x = NULL;
    ck_assert_int_eq(hg_engine_create(NULL, &m, &x, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_create(NULL, NULL, &x, &err), HG_INVALID_ARGUMENT);
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    /* a class no test set has (a GPU may be in one: an NVIDIA H200 beside POCL) */
    dev.device_types = HG_DEVICE_CUSTOM;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    ck_assert_int_eq(hg_engine_create(&o, &p.m, &x, &err), HG_NO_DEVICE);
    ck_assert_ptr_null(x);
    hg_engine_options_init(&o);
    o.gemm = (hg_gemm_backend)7;
    ck_assert_int_eq(hg_engine_create(&o, &p.m, &x, &err), HG_INVALID_ARGUMENT);
    free_problem(&p);
}
END_TEST

/*
 * A data set larger than Oclgrind's 128 MiB: it holds only a window of the
 * rows, the POCL devices hold everything, and every step is still exact.
 */
START_TEST(larger_than_oclgrind_memory)
{
    const size_t n = 1300000, d = 31; /* 128 bytes a row: 166 MB */
    problem p;
    memset(&p, 0, sizeof p);
    p.m = (hg_model_desc){.kind = HG_MODEL_LINEAR, .inputs = d, .outputs = 1};
    p.x = malloc(n * d * sizeof *p.x);
    p.t = malloc(n * sizeof *p.t);
    ck_assert(p.x && p.t);
    rng.s = 7;
    for (size_t i = 0; i < n * d; i++)
        p.x[i] = (float)(uniform() - 0.5);
    for (size_t r = 0; r < n; r++)
        p.t[r] = (float)uniform();
    p.d = (hg_dataset_desc){n, d, p.x, p.t, NULL};
    p.P = hg_model_param_count(&p.m);
    p.params = malloc(p.P * sizeof *p.params);
    for (size_t i = 0; i < p.P; i++)
        p.params[i] = (float)(uniform() - 0.5) * 0.1f;

    hg_engine *e = make_engine(&p.m, 0);
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    size_t nd = hg_engine_device_count(e), ocl = SIZE_MAX;
    for (size_t i = 0; i < nd; i++) {
        size_t f, c;
        ck_assert_int_eq(hg_engine_resident_rows(e, i, &f, &c), HG_OK);
        if (hg__icontains(hg_engine_device(e, i)->name, "oclgrind")) {
            ocl = i;
            ck_assert_uint_lt(c, n);          /* only what fits */
            ck_assert_uint_gt(c, n / 4);
            ck_assert_uint_le(c * (d + 1) * sizeof(float), 128u << 20);
        } else {
            ck_assert_uint_eq(c, n);          /* POCL: a full copy */
        }
    }
    /* A small step inside Oclgrind's window: every device takes part. */
    expect_reference(e, &p, 1000, 150, NULL, "inside Oclgrind's window");
    /* Rows Oclgrind does not hold: the others compute them. */
    expect_reference(e, &p, n - 300, 300, NULL, "beyond Oclgrind's window");
    if (ocl != SIZE_MAX) {
        hg_device_step s;
        ck_assert_int_eq(hg_engine_last_step(e, ocl, &s), HG_OK);
        ck_assert_uint_eq(s.rows, 0);
    }
    /* The whole data set, with Oclgrind (thousands of times slower) idle. */
    double w[8];
    for (size_t i = 0; i < nd; i++)
        w[i] = i == ocl ? 0 : 1;
    set_weights(e, w);
    expect_reference(e, &p, 0, n, NULL, "whole data set");
    size_t idx[64];
    for (size_t i = 0; i < 64; i++)
        idx[i] = (i * 20011) % n;
    expect_reference(e, &p, 0, 64, idx, "minibatch across the data set");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* ---- fault recovery ----------------------------------------------------------- */

typedef struct fault_plan {
    size_t         device;   /* which device fails */
    uint64_t       step;     /* in which step (0: every step) */
    hg_fault_point point;
} fault_plan;

static bool fault_hook(void *user, size_t device, uint64_t step, hg_fault_point point)
{
    const fault_plan *f = user;
    return device == f->device && point == f->point && (f->step == 0 || step == f->step);
}

/* An engine for p with the fault plan f (the test hook asks it), p's data set. */
static hg_engine *make_faulty_engine(const problem *p, fault_plan *f)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.fault_hook = fault_hook;
    o.fault_user = f;
    o.gemm = test_gemm();
    const hg__engine_knobs k = {.serial = o.gemm == HG_GEMM_NAIVE || o.gemm == HG_GEMM_OWN};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &p->m, &e, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_msg(hg_engine_set_data(e, &p->d, &err) == HG_OK, "%s", err.message);
    return e;
}

static void check_recovery(hg_fault_point point)
{
    problem p;
    size_t n = 90;
    make_problem(&p, HG_MODEL_MLP, n, 5, 3);
    fault_plan f = {1, 2, point};
    hg_engine *e = make_faulty_engine(&p, &f);
    size_t nd = hg_engine_device_count(e);

    expect_reference(e, &p, 0, n, NULL, "step 1, no fault");
    ck_assert(!hg_engine_quarantined(e, 1, NULL));
    expect_reference(e, &p, 0, n, NULL, "step 2, device 1 fails");
    const char *why = NULL;
    ck_assert(hg_engine_quarantined(e, 1, &why));
    ck_assert_ptr_nonnull(strstr(why, "injected fault"));
    ck_assert_uint_eq(hg_engine_recovered_steps(e), 1);
    hg_device_step s;
    ck_assert_int_eq(hg_engine_last_step(e, 1, &s), HG_OK);
    ck_assert(s.failed);
    size_t recovered = 0;
    for (size_t i = 0; i < nd; i++) {
        ck_assert_int_eq(hg_engine_last_step(e, i, &s), HG_OK);
        recovered += s.recovered_rows;
    }
    ck_assert_uint_gt(recovered, 0);

    /* The run goes on without it. */
    expect_reference(e, &p, 0, n, NULL, "step 3, device 1 quarantined");
    ck_assert_int_eq(hg_engine_last_step(e, 1, &s), HG_OK);
    ck_assert_uint_eq(s.rows, 0);
    size_t idx[11] = {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 3};
    expect_reference(e, &p, 0, 11, idx, "minibatch after the fault");
    ck_assert_uint_eq(hg_engine_recovered_steps(e), 1);
    hg_engine_destroy(e);
    free_problem(&p);
}

/*
 * A device's kernels are checked before their first rows, not before: devices
 * that no plan gives rows are never checked (hg_engine_set_data leaves our own
 * paths' check to the first use; CLBlast's path is checked there).  A device
 * first given rows by a recovery round is checked then, and its check leaves
 * nothing in the step (its rows, its records, the step's parameters).
 */
START_TEST(kernels_checked_before_first_rows)
{
    problem p;
    size_t n = 90;
    make_problem(&p, HG_MODEL_MLP, n, 5, 3);
    fault_plan f = {0, 3, HG_FAULT_WAIT};
    hg_engine *e = make_faulty_engine(&p, &f);
    size_t nd = hg_engine_device_count(e);
    ck_assert_uint_ge(nd, 2);
    for (size_t i = 0; i < nd; i++)
        ck_assert_msg(e->dev[i].kc_checked == (e->dev[i].ops == &hg__ops_clblast),
                      "device %zu: checked %d after set_data", i, e->dev[i].kc_checked);
    /* device 0 takes every row: the others' weights round to no rows, but they may
       recompute a failed device's */
    double w[8];
    for (size_t i = 0; i < nd; i++)
        w[i] = i == 0 ? 1.0 : 1e-6;
    set_weights(e, w);
    for (int step = 1; step <= 2; step++) {
        expect_reference(e, &p, 0, n, NULL, "device 0 alone");
        ck_assert(e->dev[0].kc_checked);
        for (size_t i = 1; i < nd; i++) {
            hg_device_step s;
            ck_assert_int_eq(hg_engine_last_step(e, i, &s), HG_OK);
            ck_assert_uint_eq(s.rows, 0);
            ck_assert_msg(e->dev[i].kc_checked == (e->dev[i].ops == &hg__ops_clblast),
                          "device %zu: checked %d without rows", i, e->dev[i].kc_checked);
        }
    }
    /* step 3: device 0 fails; the others, unchecked, recompute its rows */
    expect_reference(e, &p, 0, n, NULL, "recovered on devices checked in the step");
    ck_assert(hg_engine_quarantined(e, 0, NULL));
    size_t recovered = 0;
    for (size_t i = 1; i < nd; i++) {
        hg_device_step s;
        ck_assert_int_eq(hg_engine_last_step(e, i, &s), HG_OK);
        ck_assert_msg(s.rows == s.recovered_rows, "device %zu: %zu rows, %zu recovered", i,
                      s.rows, s.recovered_rows);
        recovered += s.recovered_rows;
        ck_assert_msg(s.rows == 0 || e->dev[i].kc_checked, "device %zu computed unchecked",
                      i);
    }
    ck_assert_uint_eq(recovered, n);
    expect_reference(e, &p, 0, n, NULL, "after the recovery");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

START_TEST(device_fails_before_enqueue) { check_recovery(HG_FAULT_ENQUEUE); }
END_TEST
START_TEST(device_fails_before_wait) { check_recovery(HG_FAULT_WAIT); }
END_TEST

START_TEST(every_device_fails)
{
    problem p;
    size_t n = 40;
    make_problem(&p, HG_MODEL_SOFTMAX, n, 5, 3);
    fault_plan f = {0, 0, HG_FAULT_ENQUEUE};
    hg_engine *e = make_faulty_engine(&p, &f);
    hg_error err;
    size_t nd = hg_engine_device_count(e);
    float g[18];
    for (size_t k = 0; k < nd; k++) {
        f.device = k; /* one more device dies every step */
        hg_status st = hg_engine_gradient(e, p.params, 0, n, g, NULL, &err);
        if (k + 1 < nd) {
            ck_assert_msg(st == HG_OK, "step %zu: %s", k, err.message);
        } else {
            ck_assert_int_ne(st, HG_OK);
            ck_assert_ptr_nonnull(strstr(err.message, "no device left"));
        }
    }
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, n, g, NULL, &err), HG_NO_DEVICE);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/*
 * A real fault: a custom kernel that needs 256 KiB of local memory plus its
 * scratch.  POCL has 1 MiB and runs it; Oclgrind has 32 KiB and Intel's CPU
 * runtime 256 KiB, and both refuse it (Intel: CL_OUT_OF_RESOURCES at launch).
 * A device that refuses is quarantined and its rows are done by the others;
 * the gradient is exact either way.
 */
#define GREEDY_LOCAL_BYTES (65536 * sizeof(float))
static const char *greedy_src =
    LINEAR_KERNEL("greedy",
                  "    __local float big[65536];\n"
                  "    big[get_local_id(0)] = 0.0f;\n"
                  "    barrier(CLK_LOCAL_MEM_FENCE);\n",
                  "big[lid]");

START_TEST(real_fault_local_memory)
{
    problem p;
    size_t n = 64;
    make_problem(&p, HG_MODEL_LINEAR, n, 4, 1);
    p.m.kind = HG_MODEL_CUSTOM;
    p.m.custom_source = greedy_src;
    p.m.custom_kernel = "greedy";
    p.m.custom_params = 5;
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p.m, &e, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    expect_reference(e, &p, 0, n, NULL, "greedy kernel");
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        const char *why = NULL;
        bool q = hg_engine_quarantined(e, i, &why);
        const hg_device_info *d = hg_engine_device(e, i);
        bool too_small = d->local_mem_bytes <= GREEDY_LOCAL_BYTES;
        ck_assert_msg(q == too_small, "%s (%llu bytes of local memory) quarantined=%d (%s)",
                      d->name, (unsigned long long)d->local_mem_bytes, q, why ? why : "");
        if (q)
            printf("quarantined as expected: %s\n", why);
    }
    expect_reference(e, &p, 0, n, NULL, "greedy kernel, next step");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    if (getenv("HG_TEST_REAL_FAULT")) {
        /* Its own CTest entry: Oclgrind rightly reports the refused launch. */
        tcase_add_test(tc, real_fault_local_memory);
    } else {
        tcase_add_test(tc, linear_matches_reference);
        tcase_add_test(tc, softmax_matches_reference);
        tcase_add_test(tc, mlp_matches_reference);
        tcase_add_test(tc, custom_kernel_matches_reference);
        tcase_add_test(tc, partial_copies);
        tcase_add_test(tc, sgd_trains_with_all_devices);
        tcase_add_test(tc, bad_arguments_leave_engine_usable);
        tcase_add_test(tc, device_fails_before_enqueue);
        tcase_add_test(tc, device_fails_before_wait);
        tcase_add_test(tc, every_device_fails);
        tcase_add_test(tc, kernels_checked_before_first_rows);
        if (test_gemm() == HG_GEMM_AUTO)
            tcase_add_test(tc, broken_candidates_are_excluded);
        /* Large: not in the serial Oclgrind-plugin runs (naive, own). */
        hg_gemm_backend g = test_gemm();
        if (g == HG_GEMM_AUTO || g == HG_GEMM_CLBLAST)
            tcase_add_test(tc, larger_than_oclgrind_memory);
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
