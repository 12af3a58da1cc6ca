/* SPDX-License-Identifier: MIT */
/*
 * test_sparse.c - CSR data (hetgrad/sparse.h): the LIBSVM CSR loader against
 * the dense loader, and the engine's sparse gradients on every test device
 * against a float64 oracle written here (independent of the library's own
 * reference), in every split the engine makes: each device alone, uneven
 * weights, sub-ranges, minibatches with repeated rows, memory windows,
 * calibrated plans and deterministic mode, where every split must give the
 * same bits.  The host evaluation of CSR rows (hg_model_evaluate_host_csr)
 * against the dense one on the same rows densified.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_internal.h"
#include "engine_knobs.h"
#include "hetgrad/data.h"
#include "hetgrad/sparse.h"
#include "hetgrad/train.h"

#define ROWS 700    /* deterministic blocks of 128: five full ones and a short one */
#define FEATURES 1000
#define GRAD_TOL 1e-4

static uint64_t lcg_state = 11;
static double uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

/* A random sparse problem: about 1% density, some empty rows. */
typedef struct problem {
    hg_model_desc m;
    hg_csr_desc   d;
    size_t       *ptr;
    uint32_t     *cols;
    float        *vals, *t, *params;
    int32_t      *l;
    size_t        P;
} problem;

static void make_problem(problem *p, hg_model_kind kind, size_t rows, size_t features)
{
    memset(p, 0, sizeof *p);
    lcg_state = 11 + (uint64_t)kind;
    size_t K = kind == HG_MODEL_LINEAR ? 2 : 3;
    p->m = (hg_model_desc){.kind = kind, .inputs = features, .outputs = K};
    p->ptr = malloc((rows + 1) * sizeof *p->ptr);
    size_t cap = rows * (features / 50 + 2);
    p->cols = malloc(cap * sizeof *p->cols);
    p->vals = malloc(cap * sizeof *p->vals);
    p->t = malloc(rows * K * sizeof *p->t);
    p->l = malloc(rows * sizeof *p->l);
    size_t nnz = 0;
    p->ptr[0] = 0;
    for (size_t r = 0; r < rows; r++) {
        p->l[r] = (int32_t)(r % K);
        double sum = 0;
        if (r % 97 != 5) { /* every 97th row is empty */
            for (size_t j = (size_t)(uniform() * 30); j < features; j += 1 + (size_t)(uniform() * 180)) {
                p->cols[nnz] = (uint32_t)j;
                p->vals[nnz] = (float)(uniform() * 2 - 1 + (j % K == r % K ? 1.0 : 0.0));
                sum += p->vals[nnz];
                nnz++;
            }
        }
        p->ptr[r + 1] = nnz;
        for (size_t k = 0; k < K; k++)
            p->t[r * K + k] = (float)(0.1 * sum + uniform() - 0.5);
    }
    hg_csr_desc_init(&p->d);
    p->d.rows = rows;
    p->d.inputs = features;
    p->d.row_ptr = p->ptr;
    p->d.cols = p->cols;
    p->d.vals = p->vals;
    p->d.targets = kind == HG_MODEL_LINEAR ? p->t : NULL;
    p->d.labels = kind == HG_MODEL_SOFTMAX ? p->l : NULL;
    p->P = hg_model_param_count(&p->m);
    p->params = malloc(p->P * sizeof *p->params);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)(uniform() - 0.5) * 0.2f;
}

static void free_problem(problem *p)
{
    free(p->ptr);
    free(p->cols);
    free(p->vals);
    free(p->t);
    free(p->l);
    free(p->params);
}

/*
 * The oracle: mean loss and mean gradient in double over rows [first, first
 * + count) or idx[0..count), written from the model's definition (model.h).
 */
static void oracle(const problem *p, size_t first, size_t count, const size_t *idx,
                   double *grad, double *loss)
{
    size_t F = p->m.inputs, K = p->m.outputs;
    memset(grad, 0, p->P * sizeof *grad);
    *loss = 0;
    for (size_t s = 0; s < count; s++) {
        size_t r = idx ? idx[s] : first + s;
        double z[8] = {0};
        for (size_t k = 0; k < K; k++) {
            z[k] = p->params[F * K + k];
            for (size_t e = p->ptr[r]; e < p->ptr[r + 1]; e++)
                z[k] += (double)p->vals[e] * (double)p->params[p->cols[e] * K + k];
        }
        double dz[8] = {0};
        if (p->m.kind == HG_MODEL_SOFTMAX) {
            double mx = z[0], se = 0;
            for (size_t k = 1; k < K; k++)
                mx = fmax(mx, z[k]);
            for (size_t k = 0; k < K; k++)
                se += exp(z[k] - mx);
            for (size_t k = 0; k < K; k++)
                dz[k] = exp(z[k] - mx) / se - (k == (size_t)p->l[r] ? 1.0 : 0.0);
            *loss += -(z[p->l[r]] - mx - log(se));
        } else {
            for (size_t k = 0; k < K; k++) {
                dz[k] = z[k] - p->t[r * K + k];
                *loss += 0.5 * dz[k] * dz[k];
            }
        }
        for (size_t e = p->ptr[r]; e < p->ptr[r + 1]; e++)
            for (size_t k = 0; k < K; k++)
                grad[p->cols[e] * K + k] += (double)p->vals[e] * dz[k];
        for (size_t k = 0; k < K; k++)
            grad[F * K + k] += dz[k];
    }
    for (size_t i = 0; i < p->P; i++)
        grad[i] /= (double)count;
    *loss /= (double)count;
}

static void expect_oracle(const problem *p, size_t first, size_t count, const size_t *idx,
                          const float *g, double loss, const char *what)
{
    double *ref = malloc(p->P * sizeof *ref), rloss;
    oracle(p, first, count, idx, ref, &rloss);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < p->P; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        maxdiff = fmax(maxdiff, fabs((double)g[i] - ref[i]));
    }
    ck_assert_msg(maxdiff <= GRAD_TOL * maxref, "%s: gradient error %.3g (max |ref| %.3g)",
                  what, maxdiff, maxref);
    ck_assert_msg(fabs(loss - rloss) <= 1e-5 * fabs(rloss), "%s: loss %.9g vs %.9g", what,
                  loss, rloss);
    free(ref);
}

static size_t expected_devices(void)
{
    const char *e = getenv("HG_TEST_EXPECT");
    ck_assert_msg(e && *e, "HG_TEST_EXPECT is not set: the test needs to know its devices");
    size_t n = 1;
    for (const char *c = e; *c; c++)
        n += *c == ',';
    return n;
}

static hg_engine *make_engine(const problem *p, bool det, size_t block, size_t mem_limit)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.deterministic = det;
    o.block_rows = block;
    o.device_mem_limit = mem_limit;
    o.no_profile_cache = true;
    const hg__engine_knobs k = {.serial = true}; /* Oclgrind's plugin: one host thread */
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &p->m, &e, &err) == HG_OK, "create: %s",
                  err.message);
    ck_assert_uint_eq(hg_engine_device_count(e), expected_devices());
    ck_assert_msg(hg_engine_set_data_csr(e, &p->d, &err) == HG_OK, "set_data_csr: %s",
                  err.message);
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        ck_assert_msg(!hg_engine_quarantined(e, i, NULL), "device %zu quarantined", i);
    return e;
}

static void step(hg_engine *e, const problem *p, size_t first, size_t count, const size_t *idx,
                 float *g, double *loss)
{
    hg_error err;
    hg_status st = idx ? hg_engine_gradient_rows(e, p->params, idx, count, g, loss, &err)
                       : hg_engine_gradient(e, p->params, first, count, g, loss, &err);
    ck_assert_msg(st == HG_OK, "step: %s", err.message);
}

static void set_weights(hg_engine *e, const double *w)
{
    hg_error err;
    ck_assert_msg(hg_engine_set_weights(e, w, hg_engine_device_count(e), &err) == HG_OK, "%s",
                  err.message);
}

/* Weights: split s of n devices (s < n: device s alone; then equal; then uneven). */
static void split_weights(size_t s, size_t n, double *w)
{
    for (size_t j = 0; j < n; j++)
        w[j] = s < n ? (j == s ? 1.0 : 0.0) : s == n ? 1.0 : 0.2 + 3.0 * (double)j;
}

/* Minibatch rows with repeats, spread over the data set. */
static size_t *minibatch(size_t count, size_t rows)
{
    size_t *idx = malloc(count * sizeof *idx);
    for (size_t i = 0; i < count; i++)
        idx[i] = (i * 7919 + 13) % rows;
    idx[count - 1] = idx[0];
    return idx;
}

static void check_model(hg_model_kind kind)
{
    problem p;
    make_problem(&p, kind, ROWS, FEATURES);
    hg_engine *e = make_engine(&p, false, 0, 0);
    size_t n = hg_engine_device_count(e);
    float *g = malloc(p.P * sizeof *g);
    double loss, w[8];
    size_t *idx = minibatch(200, ROWS);
    for (size_t s = 0; s < n + 2; s++) {
        split_weights(s, n, w);
        set_weights(e, w);
        char what[64];
        snprintf(what, sizeof what, "split %zu, all rows", s);
        step(e, &p, 0, ROWS, NULL, g, &loss);
        expect_oracle(&p, 0, ROWS, NULL, g, loss, what);
        snprintf(what, sizeof what, "split %zu, rows 97..630", s);
        step(e, &p, 97, 533, NULL, g, &loss);
        expect_oracle(&p, 97, 533, NULL, g, loss, what);
        snprintf(what, sizeof what, "split %zu, minibatch", s);
        step(e, &p, 0, 200, idx, g, &loss);
        expect_oracle(&p, 0, 200, idx, g, loss, what);
    }
    /* one row, an empty one */
    step(e, &p, 5, 1, NULL, g, &loss);
    expect_oracle(&p, 5, 1, NULL, g, loss, "the empty row 5");
    free(idx);
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);
}

START_TEST(linear_matches_oracle)
{
    check_model(HG_MODEL_LINEAR);
}
END_TEST

START_TEST(softmax_matches_oracle)
{
    check_model(HG_MODEL_SOFTMAX);
}
END_TEST

/* Deterministic mode: every split gives the first split's bits, range and index steps. */
START_TEST(deterministic_same_bits)
{
    problem p;
    make_problem(&p, _i ? HG_MODEL_LINEAR : HG_MODEL_SOFTMAX, ROWS, FEATURES);
    hg_engine *e = make_engine(&p, true, 128, 0);
    size_t n = hg_engine_device_count(e);
    float *base_r = malloc(p.P * sizeof *base_r), *base_i = malloc(p.P * sizeof *base_i);
    float *g = malloc(p.P * sizeof *g);
    double lr = 0, li = 0, loss, w[8];
    size_t *idx = minibatch(400, ROWS);
    for (size_t s = 0; s < n + 2; s++) {
        split_weights(s, n, w);
        set_weights(e, w);
        if (s == 0) {
            step(e, &p, 3, ROWS - 3, NULL, base_r, &lr);
            expect_oracle(&p, 3, ROWS - 3, NULL, base_r, lr, "deterministic range");
            step(e, &p, 0, 400, idx, base_i, &li);
            expect_oracle(&p, 0, 400, idx, base_i, li, "deterministic minibatch");
            continue;
        }
        step(e, &p, 3, ROWS - 3, NULL, g, &loss);
        ck_assert_msg(memcmp(g, base_r, p.P * sizeof *g) == 0 && loss == lr,
                      "split %zu: range step not bit-identical", s);
        step(e, &p, 0, 400, idx, g, &loss);
        ck_assert_msg(memcmp(g, base_i, p.P * sizeof *g) == 0 && loss == li,
                      "split %zu: minibatch not bit-identical", s);
        /* no device failed and had its rows recomputed by the others (the same bits) */
        ck_assert_msg(hg_engine_recovered_steps(e) == 0, "split %zu: a device failed", s);
    }
    free(idx);
    free(g);
    free(base_r);
    free(base_i);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* Calibration on sparse steps, then model-planned steps. */
START_TEST(calibrated_plan)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX, ROWS, FEATURES);
    hg_engine *e = make_engine(&p, false, 0, 0);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "calibrate: %s", err.message);
    size_t calibrated = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile pr;
        ck_assert(hg_engine_device_profile(e, i, &pr) == HG_OK);
        calibrated += pr.valid;
        ck_assert_str_eq(pr.kernel, "sparse csr");
    }
    ck_assert_uint_gt(calibrated, 0);
    float *g = malloc(p.P * sizeof *g);
    double loss;
    for (int split = HG_SPLIT_MODEL; split <= HG_SPLIT_DYNAMIC; split++) {
        ck_assert(hg_engine_set_split(e, (hg_split)split, &err) == HG_OK);
        for (int k = 0; k < 3; k++) {
            step(e, &p, 0, ROWS, NULL, g, &loss);
            expect_oracle(&p, 0, ROWS, NULL, g, loss, "calibrated");
        }
    }
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* A memory limit below the data set: devices hold windows of rows. */
START_TEST(memory_windows)
{
    problem p;
    make_problem(&p, HG_MODEL_LINEAR, ROWS, FEATURES);
    size_t nnz = p.ptr[ROWS];
    /* 60% of the limit holds a bit over half the rows' bytes */
    size_t limit = (size_t)((double)(nnz * 8 + ROWS * 12) / 0.6 * 0.55);
    hg_engine *e = make_engine(&p, false, 0, limit);
    size_t n = hg_engine_device_count(e), first, count, covered = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(hg_engine_resident_rows(e, i, &first, &count) == HG_OK);
        ck_assert_uint_lt(count, ROWS);
        covered += count;
    }
    ck_assert_uint_ge(covered, ROWS);
    float *g = malloc(p.P * sizeof *g);
    double loss;
    size_t *idx = minibatch(300, ROWS);
    step(e, &p, 0, ROWS, NULL, g, &loss);
    expect_oracle(&p, 0, ROWS, NULL, g, loss, "windows, all rows");
    step(e, &p, 0, 300, idx, g, &loss);
    expect_oracle(&p, 0, 300, idx, g, loss, "windows, minibatch");
    free(idx);
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* Bad descriptions are refused with the data kept; dense data replaces sparse. */
START_TEST(bad_input_and_switch)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX, 200, 500);
    /* deterministic: the dense rows below run hetgrad's own kernels, not CLBlast's,
       whose GEMMs trip Oclgrind's uninitialised-value plugin (tests/CMakeLists.txt) */
    hg_engine *e = make_engine(&p, true, 64, 0);
    hg_error err;
    hg_csr_desc bad = p.d;
    bad.struct_size = 0;
    ck_assert_int_eq(hg_engine_set_data_csr(e, &bad, &err), HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "hg_csr_desc_init"), "%s", err.message);
    bad = p.d;
    bad.inputs = 499;
    ck_assert_int_eq(hg_engine_set_data_csr(e, &bad, &err), HG_INVALID_ARGUMENT);
    uint32_t c = p.cols[1];
    p.cols[1] = p.cols[0]; /* not ascending */
    ck_assert_int_eq(hg_engine_set_data_csr(e, &p.d, &err), HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "ascend"), "%s", err.message);
    p.cols[1] = c;
    float v = p.vals[2];
    p.vals[2] = NAN;
    ck_assert_int_eq(hg_engine_set_data_csr(e, &p.d, &err), HG_INVALID_ARGUMENT);
    p.vals[2] = v;
    p.l[3] = 3;
    ck_assert_int_eq(hg_engine_set_data_csr(e, &p.d, &err), HG_RANGE);
    p.l[3] = 0;
    /* the data are still there */
    float *g = malloc(p.P * sizeof *g);
    double loss;
    step(e, &p, 0, 200, NULL, g, &loss);
    expect_oracle(&p, 0, 200, NULL, g, loss, "after refused data");

    /* dense rows of the same data replace the CSR rows */
    float *x = calloc(200 * 500, sizeof *x);
    for (size_t r = 0; r < 200; r++)
        for (size_t e2 = p.ptr[r]; e2 < p.ptr[r + 1]; e2++)
            x[r * 500 + p.cols[e2]] = p.vals[e2];
    hg_dataset_desc dd = {200, 500, x, NULL, p.l};
    ck_assert_msg(hg_engine_set_data(e, &dd, &err) == HG_OK, "%s", err.message);
    step(e, &p, 0, 200, NULL, g, &loss);
    expect_oracle(&p, 0, 200, NULL, g, loss, "dense after sparse");
    /* and back */
    ck_assert_msg(hg_engine_set_data_csr(e, &p.d, &err) == HG_OK, "%s", err.message);
    step(e, &p, 0, 200, NULL, g, &loss);
    expect_oracle(&p, 0, 200, NULL, g, loss, "sparse after dense");
    free(x);
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);

    /* the MLP has no sparse kernel */
    hg_model_desc mlp = {.kind = HG_MODEL_MLP, .inputs = 500, .outputs = 3, .nhidden = 1,
                         .hidden = {4}};
    hg_engine *m = NULL;
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    ck_assert(hg_engine_create(&o, &mlp, &m, &err) == HG_OK);
    make_problem(&p, HG_MODEL_SOFTMAX, 10, 500);
    ck_assert_int_eq(hg_engine_set_data_csr(m, &p.d, &err), HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "linear or softmax"), "%s", err.message);
    hg_engine_destroy(m);
    free_problem(&p);
}
END_TEST

/* ---- the loader ---------------------------------------------------------------- */

static const char sample[] = "# a comment line\n"
                             "+1 3:0.5 7:-2 qid:4 12:1e-3\n"
                             "-1 1:1\n"
                             "\n"
                             "2 # no features\r\n"
                             "-1 2:2.5 12:4 # trailing comment\n";

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/hg_test_sparse_XXXXXX");
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* hg_model_evaluate_host_csr: the figures of hg_model_evaluate_host on the rows
   densified, over every row, a subset with repeats, and none; bad input refused. */
START_TEST(host_evaluation_matches_dense)
{
    const hg_model_kind kinds[] = {HG_MODEL_LINEAR, HG_MODEL_SOFTMAX};
    for (size_t t = 0; t < 2; t++) {
        problem p;
        make_problem(&p, kinds[t], 300, 400);
        size_t R = p.d.rows, F = p.m.inputs;
        float *x = calloc(R * F, sizeof *x);
        for (size_t r = 0; r < R; r++)
            for (size_t e = p.ptr[r]; e < p.ptr[r + 1]; e++)
                x[r * F + p.cols[e]] = p.vals[e];
        hg_dataset_desc dense = {R, F, x, p.d.targets, p.d.labels};
        size_t idx[] = {7, 5, 299, 7, 0, 102, 194}; /* rows 5 and 102 are empty */
        struct { const size_t *idx; size_t n; } cases[] = {{NULL, R}, {idx, 7}, {NULL, 0}};
        for (size_t c = 0; c < 3; c++) {
            double ld = -1, ls = -1;
            size_t cd = 99, cs = 99;
            hg_error err;
            ck_assert_int_eq(hg_model_evaluate_host(&p.m, p.params, &dense, cases[c].idx,
                                                    cases[c].n, &ld, &cd, &err), HG_OK);
            ck_assert_int_eq(hg_model_evaluate_host_csr(&p.m, p.params, &p.d, cases[c].idx,
                                                        cases[c].n, &ls, &cs, &err), HG_OK);
            ck_assert_msg(fabs(ls - ld) <= 1e-12 * fmax(1.0, fabs(ld)),
                          "kind %d case %zu: loss %.17g, dense %.17g", (int)kinds[t], c, ls, ld);
            ck_assert_uint_eq(cs, cd);
            if (c == 0) { /* the independent oracle's mean loss too */
                double *g = malloc(p.P * sizeof *g), lo;
                oracle(&p, 0, R, NULL, g, &lo);
                ck_assert_msg(fabs(ls / (double)R - lo) <= 1e-9 * fabs(lo), "%.17g vs %.17g",
                              ls / (double)R, lo);
                ck_assert_uint_gt(cs, 0);
                free(g);
            }
        }
        double l;
        size_t n;
        hg_error err;
        size_t out = R;
        ck_assert_int_eq(hg_model_evaluate_host_csr(&p.m, p.params, &p.d, &out, 1, &l, &n, &err),
                         HG_RANGE);
        ck_assert_ptr_nonnull(strstr(err.message, "hg_model_evaluate_host_csr"));
        ck_assert_int_eq(hg_model_evaluate_host_csr(&p.m, p.params, NULL, NULL, 0, &l, &n, &err),
                         HG_INVALID_ARGUMENT);
        ck_assert_int_eq(hg_model_evaluate_host_csr(&p.m, NULL, &p.d, NULL, 0, &l, &n, &err),
                         HG_INVALID_ARGUMENT);
        uint32_t keep = p.cols[p.ptr[1] - 1];
        p.cols[p.ptr[1] - 1] = (uint32_t)F; /* a column out of range */
        ck_assert_int_eq(hg_model_evaluate_host_csr(&p.m, p.params, &p.d, NULL, 1, &l, &n, &err),
                         HG_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(err.message, "out of range"));
        p.cols[p.ptr[1] - 1] = keep;
        hg_model_desc mlp = {.kind = HG_MODEL_MLP, .inputs = F, .outputs = 3, .nhidden = 1,
                             .hidden = {4}};
        ck_assert_int_eq(hg_model_evaluate_host_csr(&mlp, p.params, &p.d, NULL, 1, &l, &n, &err),
                         HG_INVALID_ARGUMENT);
        free(x);
        free_problem(&p);
    }
}
END_TEST

START_TEST(loader_matches_dense)
{
    char *path = write_temp(sample);
    hg_dataset *d = NULL;
    hg_csr_dataset *c = NULL, *m = NULL;
    hg_error err;
    ck_assert_msg(hg_dataset_load_libsvm(path, 0, &d, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_dataset_load_libsvm_csr(path, 0, &c, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_dataset_load_memory_libsvm_csr("mem", sample, strlen(sample), NULL, &m,
                                                    &err) == HG_OK, "%s", err.message);
    ck_assert_uint_eq(c->rows, 4);
    ck_assert_uint_eq(c->features, 12);
    ck_assert_uint_eq(c->nnz, 6);
    ck_assert_uint_eq(c->classes, 3);
    const hg_csr_dataset *both[2] = {c, m};
    for (size_t k = 0; k < 2; k++) {
        const hg_csr_dataset *s = both[k];
        ck_assert_uint_eq(s->rows, d->rows);
        ck_assert_uint_eq(s->features, d->features);
        ck_assert_uint_eq(s->classes, d->classes);
        ck_assert(memcmp(s->labels, d->labels, d->rows * sizeof *d->labels) == 0);
        ck_assert(memcmp(s->targets, d->targets, d->rows * sizeof *d->targets) == 0);
        ck_assert(memcmp(s->class_labels, d->class_labels, d->classes * sizeof(int32_t)) == 0);
        for (size_t r = 0; r < d->rows; r++) {
            size_t e = s->row_ptr[r];
            for (size_t j = 0; j < d->features; j++) {
                float v = 0;
                if (e < s->row_ptr[r + 1] && s->cols[e] == j)
                    v = s->vals[e++];
                ck_assert_msg(v == d->x[r * d->features + j], "row %zu column %zu", r, j);
            }
            ck_assert_uint_eq(e, s->row_ptr[r + 1]);
        }
    }
    /* a test file read with the training file's schema */
    hg_data_schema sc;
    hg_csr_dataset_schema(c, &sc);
    ck_assert_uint_eq(sc.features, 12);
    ck_assert_uint_eq(sc.nclasses, 3);
    hg_csr_dataset *t = NULL;
    const char test[] = "2 1:1\n-1 4:2\n";
    ck_assert_msg(hg_dataset_load_memory_libsvm_csr("test", test, strlen(test), &sc, &t,
                                                    &err) == HG_OK, "%s", err.message);
    ck_assert_uint_eq(t->features, 12);
    ck_assert_int_eq(t->labels[0], 2);
    ck_assert_int_eq(t->labels[1], 0);
    /* the description */
    hg_csr_desc desc;
    hg_csr_desc_of(t, &desc);
    ck_assert_uint_eq(desc.struct_size, sizeof desc);
    ck_assert_uint_eq(desc.rows, 2);
    ck_assert_ptr_eq(desc.labels, t->labels);
    hg_csr_dataset_free(t);
    hg_dataset_free(d);
    hg_csr_dataset_free(c);
    hg_csr_dataset_free(m);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(loader_errors_and_wide_rows)
{
    hg_csr_dataset *c = NULL;
    hg_error err;
    const char unordered[] = "1 5:1 3:2\n";
    ck_assert_int_eq(hg_dataset_load_memory_libsvm_csr("u.svm", unordered, strlen(unordered),
                                                       NULL, &c, &err), HG_IO);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.message, "u.svm:1") && strstr(err.message, "out of order"), "%s",
                  err.message);
    const char over[] = "1 1000001:1\n";
    ck_assert_int_eq(hg_dataset_load_memory_libsvm_csr("o.svm", over, strlen(over), NULL, &c,
                                                       &err), HG_RANGE);
    hg_data_schema sc;
    hg_data_schema_init(&sc);
    sc.features = 10;
    const char big[] = "1 11:1\n";
    ck_assert_int_eq(hg_dataset_load_memory_libsvm_csr("b.svm", big, strlen(big), &sc, &c,
                                                       &err), HG_RANGE);
    ck_assert_int_eq(hg_dataset_load_memory_libsvm_csr("e", "", 0, NULL, &c, &err), HG_IO);
    ck_assert_int_eq(hg_dataset_load_libsvm_csr("/nonexistent/x.svm", 0, &c, &err), HG_IO);
    ck_assert_int_eq(hg_dataset_load_libsvm_csr(NULL, 0, &c, &err), HG_INVALID_ARGUMENT);
    /*
     * A million features over many rows: the dense loader refuses to densify
     * 4 GB of zeros; the CSR loader holds only the non-zeros.
     */
    size_t rows = 1100;
    char *text = malloc(rows * 40), *q = text;
    for (size_t r = 0; r < rows; r++)
        q += sprintf(q, "%d %zu:1 1000000:0.5\n", (int)(r % 2), 1 + r * 7);
    hg_dataset *d = NULL;
    char *path = write_temp(text);
    ck_assert_int_eq(hg_dataset_load_libsvm(path, 0, &d, &err), HG_RANGE);
    ck_assert_msg(hg_dataset_load_libsvm_csr(path, 0, &c, &err) == HG_OK, "%s", err.message);
    ck_assert_uint_eq(c->rows, rows);
    ck_assert_uint_eq(c->features, 1000000);
    ck_assert_uint_eq(c->nnz, 2 * rows);
    ck_assert_uint_eq(c->cols[1], 999999);
    hg_csr_dataset_free(c);
    unlink(path);
    free(path);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sparse");
    TCase *tc = tcase_create("sparse");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, loader_matches_dense);
    tcase_add_test(tc, host_evaluation_matches_dense);
    tcase_add_test(tc, loader_errors_and_wide_rows);
    tcase_add_test(tc, linear_matches_oracle);
    tcase_add_test(tc, softmax_matches_oracle);
    tcase_add_loop_test(tc, deterministic_same_bits, 0, 2);
    tcase_add_test(tc, calibrated_plan);
    tcase_add_test(tc, memory_windows);
    tcase_add_test(tc, bad_input_and_switch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
