/* SPDX-License-Identifier: MIT */
/*
 * test_predict.c - the forward pass on the devices (hg_engine_predict,
 * hg_engine_evaluate) on the real test devices, against a double-precision
 * host forward pass written here from include/hetgrad/model.h.
 *
 * Tolerance: probabilities and predicted values within 1e-5 (absolute for
 * probabilities, relative to the largest value for linear outputs) of the
 * double reference; the mean loss within a relative 1e-5 of
 * hg_reference_loss_grad's.  Shapes are tiny: Oclgrind simulates every
 * work-item.
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
#include "test_expect.h"
#include "test_problem.h"

#define PRED_TOL 1e-5
#define LOSS_TOL 1e-5


typedef test_problem problem;

static void make_problem(problem *p, hg_model_kind kind, size_t rows, size_t inputs,
                         size_t outputs)
{
    const test_problem_spec spec = {
        .kind = kind, .rows = rows, .inputs = inputs, .outputs = outputs,
        .nhidden = 2, .hidden = {6, 4}, .seed = 7 + (uint64_t)kind * 11 + rows,
        .shift = 1.5, .param_scale = 1.5};
    test_problem_make(p, &spec);
}

static void free_problem(problem *p)
{
    test_problem_free(p);
}

/*
 * The double reference: out (rows x outputs) = the probabilities (softmax,
 * MLP) or values (linear) of model.h's layout, computed layer by layer.
 */
static void reference_forward(const problem *p, double *out)
{
    const hg_model_desc *m = &p->m;
    size_t widths[HG_MAX_HIDDEN + 2], L = 0;
    widths[L++] = m->inputs;
    for (size_t h = 0; m->kind == HG_MODEL_MLP && h < m->nhidden; h++)
        widths[L++] = m->hidden[h];
    widths[L++] = m->outputs;
    size_t widest = 0;
    for (size_t l = 0; l < L; l++)
        widest = widths[l] > widest ? widths[l] : widest;
    double *a = malloc(widest * sizeof *a), *z = malloc(widest * sizeof *z);
    for (size_t r = 0; r < p->d.rows; r++) {
        for (size_t j = 0; j < m->inputs; j++)
            a[j] = p->x[r * m->inputs + j];
        size_t off = 0;
        for (size_t l = 0; l + 1 < L; l++) {
            size_t in = widths[l], o = widths[l + 1];
            for (size_t c = 0; c < o; c++) {
                double s = p->params[off + in * o + c];
                for (size_t k = 0; k < in; k++)
                    s += a[k] * (double)p->params[off + k * o + c];
                z[c] = l + 2 < L && s < 0 ? 0 : s; /* ReLU on hidden layers */
            }
            off += in * o + o;
            memcpy(a, z, o * sizeof *a);
        }
        double *dst = out + r * m->outputs;
        if (m->kind == HG_MODEL_LINEAR) {
            memcpy(dst, a, m->outputs * sizeof *dst);
            continue;
        }
        double mx = a[0], s = 0;
        for (size_t c = 1; c < m->outputs; c++)
            mx = fmax(mx, a[c]);
        for (size_t c = 0; c < m->outputs; c++)
            s += exp(a[c] - mx);
        for (size_t c = 0; c < m->outputs; c++)
            dst[c] = exp(a[c] - mx) / s;
    }
    free(a);
    free(z);
}

typedef struct fault_plan {
    size_t         device;
    hg_fault_point point;
    bool           on;
} fault_plan;

static bool fault_hook(void *user, size_t device, uint64_t step, hg_fault_point point)
{
    (void)step;
    const fault_plan *f = user;
    return f->on && device == f->device && point == f->point;
}

/*
 * serial: one host thread drives every device.  The forward pass runs
 * hetgrad's plain kernels on Oclgrind, whose uninitialised-value plugin
 * crashes when a second host thread drives it (docs/testing.md); engines
 * with threads here give Oclgrind no rows.
 */
static hg_engine *make_engine_threads(const hg_model_desc *m, fault_plan *f, bool serial)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true; /* all three test devices */
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    if (f) {
        o.fault_hook = fault_hook;
        o.fault_user = f;
    }
    hg_engine *e = NULL;
    hg_error err;
    const hg__engine_knobs k = {.serial = serial};
    hg_status st = hg__engine_create_knobs(&o, &k, m, &e, &err);
    ck_assert_msg(st == HG_OK, "hg_engine_create: %s", err.message);
    return e;
}

static hg_engine *make_engine(const hg_model_desc *m, fault_plan *f)
{
    return make_engine_threads(m, f, true);
}

/* The engine's predictions of p's rows against the reference. */
static void expect_predictions(hg_engine *e, const problem *p, const char *what)
{
    const size_t n = p->d.rows, K = p->m.outputs;
    bool cls = p->m.kind != HG_MODEL_LINEAR;
    float *out = malloc(n * K * sizeof *out);
    int32_t *c = malloc(n * sizeof *c);
    double *ref = malloc(n * K * sizeof *ref);
    for (size_t r = 0; r < n; r++)
        c[r] = -7;
    hg_error err;
    hg_status st = hg_engine_predict(e, p->params, &p->d, cls ? c : NULL, out, &err);
    ck_assert_msg(st == HG_OK, "%s: %s", what, err.message);
    reference_forward(p, ref);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < n * K; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        maxdiff = fmax(maxdiff, fabs((double)out[i] - ref[i]));
    }
    double tol = cls ? PRED_TOL : PRED_TOL * maxref;
    ck_assert_msg(maxdiff <= tol, "%s: outputs off by %.3g (tolerance %.3g)", what, maxdiff,
                  tol);
    size_t right = 0;
    for (size_t r = 0; cls && r < n; r++) {
        const double *pr = ref + r * K;
        ck_assert_msg(c[r] >= 0 && (size_t)c[r] < K, "%s: class %d", what, (int)c[r]);
        for (size_t k = 0; k < K; k++) /* the predicted class is a most probable one */
            ck_assert_msg(pr[c[r]] >= pr[k] - PRED_TOL, "%s: row %zu: class %d, p %.6f < %.6f",
                          what, r, (int)c[r], pr[c[r]], pr[k]);
        right += c[r] == p->l[r];
    }

    /* Evaluation: the mean loss of the reference, the accuracy of the classes. */
    double loss = -1, acc = -1, rloss = 0;
    st = hg_engine_evaluate(e, p->params, &p->d, &loss, &acc, &err);
    ck_assert_msg(st == HG_OK, "%s: evaluate: %s", what, err.message);
    double *g = malloc(p->P * sizeof *g);
    ck_assert_int_eq(hg_reference_loss_grad(&p->m, p->params, &p->d, 0, n, NULL, &rloss, g,
                                            &err), HG_OK);
    rloss /= (double)n;
    ck_assert_msg(fabs(loss - rloss) <= LOSS_TOL * fabs(rloss), "%s: loss %.9g, reference %.9g",
                  what, loss, rloss);
    if (cls)
        ck_assert_msg(acc == (double)right / (double)n, "%s: accuracy %.6f, classes say %.6f",
                      what, acc, (double)right / (double)n);
    else
        ck_assert(isnan(acc));
    free(g);
    free(out);
    free(c);
    free(ref);
}

static void set_weights(hg_engine *e, const double *w)
{
    hg_error err;
    ck_assert_msg(hg_engine_set_weights(e, w, hg_engine_device_count(e), &err) == HG_OK, "%s",
                  err.message);
}

/* Equal split, each device alone, uneven weights; before and after set_data. */
static void check_model(hg_model_kind kind, size_t outputs)
{
    problem p;
    size_t n = 53;
    make_problem(&p, kind, n, 5, outputs);
    hg_engine *e = make_engine(&p.m, NULL);
    size_t nd = hg_engine_device_count(e);
    ck_assert_uint_ge(nd, 2);
    expect_predictions(e, &p, "no resident data, equal split");

    double w[8], loss_all = 0, loss_k = 0;
    hg_error err;
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &loss_all, NULL, &err), HG_OK);
    /* The plain GEMM and detmath.cl on every device: the same bits whichever
       device computes a row, so the same loss bits whatever the split. */
    float *out0 = malloc(n * outputs * sizeof *out0), *outk = malloc(n * outputs * sizeof *outk);
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, NULL, out0, &err), HG_OK);
    for (size_t k = 0; k < nd; k++) {
        for (size_t i = 0; i < nd; i++)
            w[i] = i == k ? 1 : 0;
        set_weights(e, w);
        char what[64];
        snprintf(what, sizeof what, "device %zu alone", k);
        expect_predictions(e, &p, what);
        ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &loss_k, NULL, &err), HG_OK);
        ck_assert_msg(loss_k == loss_all, "%s: loss %.17g, all devices %.17g", what, loss_k,
                      loss_all);
        ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, NULL, outk, &err), HG_OK);
        ck_assert_msg(memcmp(outk, out0, n * outputs * sizeof *outk) == 0,
                      "%s: other bits than with every device", what);
    }
    free(out0);
    free(outk);
    for (size_t i = 0; i < nd; i++)
        w[i] = 1.0 + 3.0 * (double)i;
    set_weights(e, w);
    expect_predictions(e, &p, "uneven weights");

    hg_engine_destroy(e);

    /* One thread per device (the POCL devices: Oclgrind gets no rows). */
    e = make_engine_threads(&p.m, NULL, false);
    for (size_t i = 0; i < nd; i++)
        w[i] = test_on_oclgrind(e, i) ? 0 : 1.0 + (double)i;
    set_weights(e, w);
    expect_predictions(e, &p, "threads");

    /* The resident data set and the gradient agree with the evaluation, and a
       prediction leaves the resident data as it was. */
    ck_assert_msg(hg_engine_set_data(e, &p.d, &err) == HG_OK, "%s", err.message);
    problem q;
    make_problem(&q, kind, 9, 5, outputs);
    memcpy(q.params, p.params, p.P * sizeof *q.params);
    expect_predictions(e, &q, "other rows than the resident ones");
    float *g = malloc(p.P * sizeof *g);
    double gloss = 0, eloss = 0;
    ck_assert_int_eq(hg_engine_gradient(e, p.params, 0, n, g, &gloss, &err), HG_OK);
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &eloss, NULL, &err), HG_OK);
    ck_assert_msg(fabs(gloss - eloss) <= LOSS_TOL * fabs(gloss), "gradient loss %.9g, "
                  "evaluated %.9g", gloss, eloss);
    free(g);
    free_problem(&q);
    hg_engine_destroy(e);
    free_problem(&p);
}

START_TEST(linear_predicts) { check_model(HG_MODEL_LINEAR, 2); }
END_TEST
START_TEST(softmax_predicts) { check_model(HG_MODEL_SOFTMAX, 3); }
END_TEST
START_TEST(mlp_predicts) { check_model(HG_MODEL_MLP, 3); }
END_TEST

START_TEST(bad_arguments)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX, 12, 5, 3);
    hg_engine *e = make_engine(&p.m, NULL);
    float out[12 * 3];
    int32_t c[12];
    double loss, acc;
    hg_error err;
    /* NULLs and nothing to return */
    ck_assert_int_eq(hg_engine_predict(NULL, p.params, &p.d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_predict(e, NULL, &p.d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_predict(e, p.params, NULL, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, NULL, NULL, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "nothing to return"));
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, NULL, NULL, &err),
                     HG_INVALID_ARGUMENT);
    /* NaN and infinite parameters */
    float keep = p.params[4];
    p.params[4] = NAN;
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "params[4] is NaN"));
    p.params[4] = INFINITY;
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &loss, &acc, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "params[4] is infinite"));
    p.params[4] = keep;
    /* wrong sizes, no data */
    hg_dataset_desc d = p.d;
    d.inputs = 4;
    ck_assert_int_eq(hg_engine_predict(e, p.params, &d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "4 features per row"));
    d = p.d;
    d.rows = 0;
    ck_assert_int_eq(hg_engine_predict(e, p.params, &d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "no rows"));
    d = p.d;
    d.x = NULL;
    ck_assert_int_eq(hg_engine_predict(e, p.params, &d, c, out, &err), HG_INVALID_ARGUMENT);
    /* a NaN feature names its row and column */
    keep = p.x[2 * 5 + 3];
    p.x[2 * 5 + 3] = NAN;
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "feature 3 of row 2 is NaN"));
    p.x[2 * 5 + 3] = keep;
    /* evaluation needs labels in range; prediction does not read them */
    d = p.d;
    d.labels = NULL;
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &d, &loss, &acc, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_predict(e, p.params, &d, c, out, &err), HG_OK);
    p.l[5] = 3;
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &loss, &acc, &err), HG_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "label of row 5 is 3"));
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, c, NULL, &err), HG_OK);
    p.l[5] = 2;
    /* the engine is still usable */
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &loss, &acc, &err), HG_OK);
    hg_engine_destroy(e);
    free_problem(&p);

    /* a linear model has no classes, and evaluation needs its targets */
    make_problem(&p, HG_MODEL_LINEAR, 12, 5, 2);
    e = make_engine(&p.m, NULL);
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, c, out, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "no classes"));
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, NULL, out, &err), HG_OK);
    d = p.d;
    d.targets = NULL;
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &d, &loss, NULL, &err),
                     HG_INVALID_ARGUMENT);
    p.t[3] = NAN;
    ck_assert_int_eq(hg_engine_evaluate(e, p.params, &p.d, &loss, NULL, &err),
                     HG_INVALID_ARGUMENT);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* A device that fails is quarantined and its rows recomputed by the others. */
static void check_fault(hg_fault_point point)
{
    problem p;
    make_problem(&p, HG_MODEL_MLP, 31, 5, 3);
    fault_plan f = {1, point, false};
    hg_engine *e = make_engine(&p.m, &f);
    f.on = true;
    expect_predictions(e, &p, point == HG_FAULT_ENQUEUE ? "device 1 fails before enqueue"
                                                        : "device 1 fails before wait");
    ck_assert(hg_engine_quarantined(e, 1, NULL));
    ck_assert(!hg_engine_quarantined(e, 0, NULL));
    /* every device fails: no device left */
    size_t nd = hg_engine_device_count(e);
    float out[31 * 3];
    hg_error err;
    size_t healthy = 0;
    for (size_t k = 0; k < nd; k++)
        healthy += !hg_engine_quarantined(e, k, NULL);
    for (size_t k = 0; k < nd; k++) {
        if (hg_engine_quarantined(e, k, NULL))
            continue; /* device 1, above */
        f.device = k;
        hg_status st = hg_engine_predict(e, p.params, &p.d, NULL, out, &err);
        if (--healthy > 0)
            ck_assert_msg(st == HG_OK, "device %zu fails: %s", k, err.message);
        else
            ck_assert_int_eq(st, HG_NO_DEVICE);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}

START_TEST(device_fails_before_enqueue) { check_fault(HG_FAULT_ENQUEUE); }
END_TEST
START_TEST(device_fails_before_wait) { check_fault(HG_FAULT_WAIT); }
END_TEST

START_TEST(custom_model_has_no_forward_pass)
{
    static const char *src =
        "__kernel void k(__global const float *x, __global const float *y,\n"
        "    __global const float *params, const uint first, const uint count,\n"
        "    const uint inputs, const uint outputs, __global float *partial,\n"
        "    __local float *scratch) { }\n";
    problem p;
    make_problem(&p, HG_MODEL_LINEAR, 4, 5, 1);
    hg_model_desc m = {.kind = HG_MODEL_CUSTOM, .inputs = 5, .outputs = 1,
                       .custom_source = src, .custom_kernel = "k", .custom_params = 6};
    hg_engine *e = make_engine(&m, NULL);
    float out[4];
    hg_error err;
    ck_assert_int_eq(hg_engine_predict(e, p.params, &p.d, NULL, out, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "custom model"));
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("predict");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, linear_predicts);
    tcase_add_test(tc, softmax_predicts);
    tcase_add_test(tc, mlp_predicts);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, device_fails_before_enqueue);
    tcase_add_test(tc, device_fails_before_wait);
    tcase_add_test(tc, custom_model_has_no_forward_pass);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
