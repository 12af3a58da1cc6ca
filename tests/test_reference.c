/* SPDX-License-Identifier: MIT */
/*
 * test_reference.c - model descriptions (parameter count, layers, validation)
 * and the double-precision host reference, no device.
 *
 * The reference's gradients are checked against central finite differences
 * of its own double loss (hg__reference_loss_grad_d).  Step H = 1e-5: the
 * truncation error is about H^2/6 * |f'''| ~ 1e-11 and the rounding error
 * about eps * |loss| / H ~ 1e-10 relative for these sizes, so FD_TOL = 1e-7
 * (normwise relative, and per coordinate relative to the gradient's norm)
 * leaves three orders of margin while any wrong term (a missed bias, a wrong
 * ReLU mask, a transposed weight) is off by O(1e-2) or more.  For the MLP the
 * data are drawn until every hidden pre-activation is at least MARGIN = 1e-3
 * from the ReLU kink (100 steps away), with both signs present.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

#define H      1e-5
#define FD_TOL 1e-7
#define MARGIN 1e-3
#define SUM_TOL 1e-12

/* ---- data ------------------------------------------------------------- */

/* 64-bit LCG (Knuth's MMIX constants); uniform doubles from the top 53 bits. */
typedef struct lcg {
    uint64_t s;
} lcg;

static double uniform(lcg *g, double lo, double hi)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(g->s >> 11) * 0x1p-53;
}

static hg_model_desc linear(size_t d, size_t k)
{
    hg_model_desc m = {.kind = HG_MODEL_LINEAR, .inputs = d, .outputs = k};
    return m;
}

static hg_model_desc softmax(size_t d, size_t c)
{
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = d, .outputs = c};
    return m;
}

static hg_model_desc mlp(size_t d, size_t c, size_t nh, const size_t *widths)
{
    hg_model_desc m = {.kind = HG_MODEL_MLP, .inputs = d, .outputs = c, .nhidden = nh};
    for (size_t i = 0; i < nh; i++)
        m.hidden[i] = widths[i];
    return m;
}

/* A random data set for m (x, targets and labels all filled) and parameters. */
typedef struct problem {
    hg_model_desc   m;
    size_t          rows, nparams;
    float          *x, *y;
    int32_t        *labels;
    double         *p;
    hg_dataset_desc data;
} problem;

static problem make_problem(hg_model_desc m, size_t rows, uint64_t seed)
{
    problem pb = {.m = m, .rows = rows, .nparams = hg_model_param_count(&m)};
    ck_assert_uint_gt(pb.nparams, 0);
    lcg g = {seed};
    pb.x = malloc(rows * m.inputs * sizeof *pb.x);
    pb.y = malloc(rows * m.outputs * sizeof *pb.y);
    pb.labels = malloc(rows * sizeof *pb.labels);
    pb.p = malloc(pb.nparams * sizeof *pb.p);
    ck_assert(pb.x && pb.y && pb.labels && pb.p);
    for (size_t i = 0; i < rows * m.inputs; i++)
        pb.x[i] = (float)uniform(&g, -1.0, 1.0);
    for (size_t i = 0; i < rows * m.outputs; i++)
        pb.y[i] = (float)uniform(&g, -2.0, 2.0);
    for (size_t r = 0; r < rows; r++)
        pb.labels[r] = (int32_t)(uniform(&g, 0.0, (double)m.outputs));
    for (size_t i = 0; i < pb.nparams; i++)
        pb.p[i] = uniform(&g, -1.0, 1.0);
    pb.data = (hg_dataset_desc){rows, m.inputs, pb.x, pb.y, pb.labels};
    return pb;
}

static void free_problem(problem *pb)
{
    free(pb->x);
    free(pb->y);
    free(pb->labels);
    free(pb->p);
}

static double loss_d(const problem *pb, const double *p, double *grad)
{
    double loss = -1.0;
    hg_error e;
    ck_assert_msg(hg__reference_loss_grad_d(&pb->m, p, &pb->data, 0, pb->rows, NULL, &loss,
                                            grad, &e) == HG_OK, "%s", e.message);
    return loss;
}

/*
 * Smallest |pre-activation| of any hidden unit over all rows; *neg and *pos
 * count the negative and positive ones.  Independent of reference.c's code.
 */
static double min_abs_preact(const problem *pb, size_t *neg, size_t *pos)
{
    hg__layer L[HG_MAX_HIDDEN + 1];
    size_t nl = hg__model_layers(&pb->m, L);
    double best = INFINITY;
    double a[64], z[64];
    *neg = *pos = 0;
    for (size_t r = 0; r < pb->rows; r++) {
        for (size_t i = 0; i < pb->m.inputs; i++)
            a[i] = pb->x[r * pb->m.inputs + i];
        for (size_t l = 0; l + 1 < nl; l++) {
            ck_assert_uint_le(L[l].out, 64);
            for (size_t j = 0; j < L[l].out; j++) {
                z[j] = pb->p[L[l].b_off + j];
                for (size_t i = 0; i < L[l].in; i++)
                    z[j] += a[i] * pb->p[L[l].w_off + i * L[l].out + j];
                best = fmin(best, fabs(z[j]));
                *neg += z[j] < 0;
                *pos += z[j] > 0;
            }
            for (size_t j = 0; j < L[l].out; j++)
                a[j] = z[j] > 0 ? z[j] : 0;
        }
    }
    return best;
}

/* Compare the reference gradient with central differences of its loss. */
static void check_fd(const problem *pb)
{
    size_t n = pb->nparams;
    double *g = malloc(n * sizeof *g), *gfd = malloc(n * sizeof *gfd);
    double *pp = malloc(n * sizeof *pp), *scratch = malloc(n * sizeof *scratch);
    ck_assert(g && gfd && pp && scratch);
    loss_d(pb, pb->p, g);
    memcpy(pp, pb->p, n * sizeof *pp);
    for (size_t k = 0; k < n; k++) {
        pp[k] = pb->p[k] + H;
        double lp = loss_d(pb, pp, scratch);
        pp[k] = pb->p[k] - H;
        double lm = loss_d(pb, pp, scratch);
        pp[k] = pb->p[k];
        gfd[k] = (lp - lm) / (2.0 * H);
    }
    double diff = 0.0, norm = 0.0;
    for (size_t k = 0; k < n; k++) {
        diff += (gfd[k] - g[k]) * (gfd[k] - g[k]);
        norm += g[k] * g[k];
    }
    diff = sqrt(diff);
    norm = sqrt(norm);
    ck_assert(norm > 0.0);
    ck_assert_msg(diff <= FD_TOL * norm, "kind %d: ||fd - g|| / ||g|| = %g > %g",
                  (int)pb->m.kind, diff / norm, FD_TOL);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(fabs(gfd[k] - g[k]) <= FD_TOL * norm,
                      "kind %d: param %zu: fd %.12g vs grad %.12g", (int)pb->m.kind, k,
                      gfd[k], g[k]);
    free(g);
    free(gfd);
    free(pp);
    free(scratch);
}

static bool has(const hg_error *e, const char *what)
{
    return strstr(e->message, what) != NULL;
}

#define ASSERT_HAS(e, what) \
    ck_assert_msg(has(&(e), (what)), "message \"%s\" lacks \"%s\"", (e).message, (what))

/* ---- descriptions ------------------------------------------------------ */

START_TEST(param_counts)
{
    hg_model_desc m = linear(3, 2);
    ck_assert_uint_eq(hg_model_param_count(&m), 8);
    m = softmax(4, 3);
    ck_assert_uint_eq(hg_model_param_count(&m), 15);
    m = mlp(4, 2, 2, (size_t[]){5, 3});
    ck_assert_uint_eq(hg_model_param_count(&m), 4 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2);
    m = mlp(1, 2, 1, (size_t[]){1});
    ck_assert_uint_eq(hg_model_param_count(&m), 1 + 1 + 2 + 2);
    hg_model_desc c = {.kind = HG_MODEL_CUSTOM, .inputs = 2, .outputs = 1,
                       .custom_source = "kernel void k() {}", .custom_kernel = "k",
                       .custom_params = 77};
    ck_assert_uint_eq(hg_model_param_count(&c), 77);
    /* invalid: 0 */
    ck_assert_uint_eq(hg_model_param_count(NULL), 0);
    m = softmax(4, 1);
    ck_assert_uint_eq(hg_model_param_count(&m), 0);
}
END_TEST

START_TEST(layers)
{
    hg__layer L[HG_MAX_HIDDEN + 1];
    hg_model_desc m = mlp(4, 2, 2, (size_t[]){5, 3});
    ck_assert_uint_eq(hg__model_layers(&m, L), 3);
    const size_t want[3][4] = {{4, 5, 0, 20}, {5, 3, 25, 40}, {3, 2, 43, 49}};
    for (size_t l = 0; l < 3; l++) {
        ck_assert_uint_eq(L[l].in, want[l][0]);
        ck_assert_uint_eq(L[l].out, want[l][1]);
        ck_assert_uint_eq(L[l].w_off, want[l][2]);
        ck_assert_uint_eq(L[l].b_off, want[l][3]);
        ck_assert(L[l].relu == (l < 2));
    }
    ck_assert_uint_eq(L[2].b_off + L[2].out, hg_model_param_count(&m));

    m = linear(3, 2);
    ck_assert_uint_eq(hg__model_layers(&m, L), 1);
    ck_assert_uint_eq(L[0].in, 3);
    ck_assert_uint_eq(L[0].out, 2);
    ck_assert_uint_eq(L[0].w_off, 0);
    ck_assert_uint_eq(L[0].b_off, 6);
    ck_assert(!L[0].relu);
    m = softmax(4, 3);
    ck_assert_uint_eq(hg__model_layers(&m, L), 1);
    ck_assert_uint_eq(L[0].b_off, 12);
    ck_assert(!L[0].relu);

    size_t w[HG_MAX_HIDDEN];
    for (size_t i = 0; i < HG_MAX_HIDDEN; i++)
        w[i] = 2;
    m = mlp(3, 2, HG_MAX_HIDDEN, w);
    ck_assert_uint_eq(hg__model_layers(&m, L), HG_MAX_HIDDEN + 1);

    hg_model_desc c = {.kind = HG_MODEL_CUSTOM, .inputs = 2, .outputs = 1,
                       .custom_source = "x", .custom_kernel = "k", .custom_params = 3};
    ck_assert_uint_eq(hg__model_layers(&c, L), 0);
    m = linear(0, 2);
    ck_assert_uint_eq(hg__model_layers(&m, L), 0);
    ck_assert_uint_eq(hg__model_layers(NULL, L), 0);
}
END_TEST

static void expect_invalid(const hg_model_desc *m, const char *field)
{
    hg_error e;
    ck_assert_int_eq(hg_model_validate(m, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(e.status, HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, field);
    ck_assert_uint_eq(hg_model_param_count(m), 0);
    ck_assert_int_eq(hg_model_validate(m, NULL), HG_INVALID_ARGUMENT);
}

START_TEST(validate)
{
    hg_error e;
    hg_model_desc m = linear(3, 1);
    e.status = HG_INTERNAL;
    strcpy(e.message, "stale");
    ck_assert_int_eq(hg_model_validate(&m, &e), HG_OK);
    ck_assert_int_eq(e.status, HG_OK);
    ck_assert_str_eq(e.message, "");
    m.nhidden = 99; /* MLP fields are ignored by other kinds */
    ck_assert_int_eq(hg_model_validate(&m, &e), HG_OK);

    ck_assert_int_eq(hg_model_validate(NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "model");

    m = linear(3, 1);
    m.kind = (hg_model_kind)0;
    expect_invalid(&m, "model.kind");
    m.kind = (hg_model_kind)99;
    expect_invalid(&m, "model.kind");
    m = linear(0, 1);
    expect_invalid(&m, "model.inputs");
    m = linear(3, 0);
    expect_invalid(&m, "model.outputs");
    m = softmax(3, 1);
    expect_invalid(&m, "model.outputs");
    m = mlp(3, 1, 1, (size_t[]){4});
    expect_invalid(&m, "model.outputs");
    m = mlp(3, 2, 0, NULL);
    expect_invalid(&m, "model.nhidden");
    m.nhidden = HG_MAX_HIDDEN + 1;
    expect_invalid(&m, "model.nhidden");
    m = mlp(3, 2, 3, (size_t[]){4, 0, 2});
    expect_invalid(&m, "model.hidden[1]");

    hg_model_desc c = {.kind = HG_MODEL_CUSTOM, .inputs = 2, .outputs = 1,
                       .custom_source = "kernel void k() {}", .custom_kernel = "k",
                       .custom_params = 5};
    ck_assert_int_eq(hg_model_validate(&c, &e), HG_OK);
    hg_model_desc bad = c;
    bad.custom_source = NULL;
    expect_invalid(&bad, "model.custom_source");
    bad = c;
    bad.custom_source = "";
    expect_invalid(&bad, "model.custom_source");
    bad = c;
    bad.custom_kernel = NULL;
    expect_invalid(&bad, "model.custom_kernel");
    bad = c;
    bad.custom_kernel = "";
    expect_invalid(&bad, "model.custom_kernel");
    bad = c;
    bad.custom_params = 0;
    expect_invalid(&bad, "model.custom_params");
    bad.custom_params = ((size_t)1 << 31) + 1;
    expect_invalid(&bad, "model.custom_params");
    bad = c;
    bad.inputs = 0;
    expect_invalid(&bad, "model.inputs");
}
END_TEST

START_TEST(param_count_limit)
{
    const size_t max = (size_t)1 << 31;
    hg_model_desc m = linear(max - 1, 1); /* (2^31 - 1) * 1 + 1 = 2^31: the largest */
    ck_assert_uint_eq(hg_model_param_count(&m), max);
    m = linear(max, 1);
    expect_invalid(&m, "2^31");
    m = linear(SIZE_MAX, 2);
    expect_invalid(&m, "2^31");
    m = linear(2, SIZE_MAX);
    expect_invalid(&m, "2^31");
    m = softmax(SIZE_MAX / 2, SIZE_MAX / 2);
    expect_invalid(&m, "2^31");
    m = mlp(4, 2, 2, (size_t[]){(size_t)1 << 20, (size_t)1 << 20}); /* 2^40 */
    expect_invalid(&m, "2^31");
    /* each layer fits, the sum does not */
    m = mlp(1, 2, 2, (size_t[]){(size_t)1 << 29, (size_t)1 << 29});
    expect_invalid(&m, "2^31");
}
END_TEST

/* ---- gradients ------------------------------------------------------- */

START_TEST(fd_linear)
{
    problem pb = make_problem(linear(3, 2), 7, 1);
    check_fd(&pb);
    free_problem(&pb);
}
END_TEST

START_TEST(fd_softmax)
{
    problem pb = make_problem(softmax(4, 3), 7, 2);
    check_fd(&pb);
    free_problem(&pb);
}
END_TEST

START_TEST(fd_mlp)
{
    const size_t widths[2][3] = {{5, 3}, {4, 6, 3}};
    const size_t nh[2] = {2, 3};
    for (size_t t = 0; t < 2; t++) {
        hg_model_desc m = mlp(4, 3, nh[t], widths[t]);
        /* draw until no pre-activation is near the ReLU kink */
        for (uint64_t seed = 100;; seed++) {
            ck_assert_uint_lt(seed, 200);
            problem pb = make_problem(m, 8, seed);
            size_t neg, pos;
            double gap = min_abs_preact(&pb, &neg, &pos);
            if (gap < MARGIN || neg == 0 || pos == 0) {
                free_problem(&pb);
                continue;
            }
            check_fd(&pb);
            free_problem(&pb);
            break;
        }
    }
}
END_TEST

START_TEST(float_entry_matches_double)
{
    const hg_model_desc models[3] = {linear(3, 2), softmax(4, 3),
                                     mlp(4, 3, 2, (size_t[]){5, 3})};
    for (size_t t = 0; t < 3; t++) {
        problem pb = make_problem(models[t], 6, 10 + t);
        float *pf = malloc(pb.nparams * sizeof *pf);
        double *g1 = malloc(pb.nparams * sizeof *g1), *g2 = malloc(pb.nparams * sizeof *g2);
        ck_assert(pf && g1 && g2);
        for (size_t i = 0; i < pb.nparams; i++) {
            pf[i] = (float)pb.p[i];
            pb.p[i] = pf[i];
        }
        double l1 = loss_d(&pb, pb.p, g1), l2 = 0.0;
        hg_error e;
        ck_assert_int_eq(hg_reference_loss_grad(&pb.m, pf, &pb.data, 0, pb.rows, NULL, &l2,
                                                g2, &e), HG_OK);
        ck_assert(l1 == l2);
        ck_assert(memcmp(g1, g2, pb.nparams * sizeof *g1) == 0);
        free(pf);
        free(g1);
        free(g2);
        free_problem(&pb);
    }
}
END_TEST

/* ---- row selection ------------------------------------------------------ */

static bool close_rel(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b)));
}

START_TEST(index_lists_and_splits)
{
    const hg_model_desc models[3] = {linear(3, 2), softmax(4, 3),
                                     mlp(4, 3, 2, (size_t[]){5, 3})};
    for (size_t t = 0; t < 3; t++) {
        problem pb = make_problem(models[t], 9, 20 + t);
        size_t n = pb.nparams;
        double *ga = malloc(n * sizeof *ga), *gb = malloc(n * sizeof *gb);
        double *gc = malloc(n * sizeof *gc);
        ck_assert(ga && gb && gc);
        double la, lb, lc;
        hg_error e;
#define REF(first, count, idx, l, g) \
    ck_assert_int_eq(hg__reference_loss_grad_d(&pb.m, pb.p, &pb.data, (first), (count), \
                                               (idx), &(l), (g), &e), HG_OK)

        /* the same rows in the same order: identical sums */
        const size_t same[4] = {2, 3, 4, 5};
        REF(2, 4, NULL, la, ga);
        REF(99, 4, same, lb, gb); /* first is ignored with idx */
        ck_assert(la == lb);
        ck_assert(memcmp(ga, gb, n * sizeof *ga) == 0);

        /* a permutation: equal to rounding */
        const size_t perm[4] = {5, 2, 4, 3};
        REF(0, 4, perm, lb, gb);
        ck_assert(close_rel(la, lb, SUM_TOL));
        for (size_t i = 0; i < n; i++)
            ck_assert(close_rel(ga[i], gb[i], SUM_TOL));

        /* a repeated row counts twice */
        const size_t twice[2] = {7, 7};
        REF(7, 1, NULL, la, ga);
        REF(0, 2, twice, lb, gb);
        ck_assert(close_rel(2 * la, lb, SUM_TOL));
        for (size_t i = 0; i < n; i++)
            ck_assert(close_rel(2 * ga[i], gb[i], SUM_TOL));

        /* [0, a) + [a, rows) == [0, rows) */
        REF(0, pb.rows, NULL, lc, gc);
        for (size_t a = 0; a <= pb.rows; a++) {
            REF(0, a, NULL, la, ga);
            REF(a, pb.rows - a, NULL, lb, gb);
            ck_assert_msg(close_rel(la + lb, lc, SUM_TOL), "split %zu", a);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(close_rel(ga[i] + gb[i], gc[i], SUM_TOL), "split %zu param %zu",
                              a, i);
        }
#undef REF
        free(ga);
        free(gb);
        free(gc);
        free_problem(&pb);
    }
}
END_TEST

START_TEST(empty_selection_gives_zeros)
{
    problem pb = make_problem(mlp(4, 3, 1, (size_t[]){5}), 4, 30);
    double *g = malloc(pb.nparams * sizeof *g);
    ck_assert(g);
    size_t dummy = 0;
    for (int k = 0; k < 3; k++) {
        double loss = 7.0;
        for (size_t i = 0; i < pb.nparams; i++)
            g[i] = 7.0;
        hg_error e;
        size_t first = k == 1 ? pb.rows : 0; /* first == rows is a valid empty range */
        ck_assert_int_eq(hg__reference_loss_grad_d(&pb.m, pb.p, &pb.data, first, 0,
                                                   k == 2 ? &dummy : NULL, &loss, g, &e),
                         HG_OK);
        ck_assert(loss == 0.0);
        for (size_t i = 0; i < pb.nparams; i++)
            ck_assert(g[i] == 0.0);
    }
    free(g);
    free_problem(&pb);
}
END_TEST

/* ---- closed forms ------------------------------------------------------- */

START_TEST(softmax_zero_weights)
{
    enum { D = 3, C = 4, R = 6 };
    problem pb = make_problem(softmax(D, C), R, 40);
    for (size_t i = 0; i < pb.nparams; i++)
        pb.p[i] = 0.0;
    double *g = malloc(pb.nparams * sizeof *g);
    ck_assert(g);
    double loss = loss_d(&pb, pb.p, g);
    ck_assert(close_rel(loss, R * log((double)C), 1e-14));
    for (size_t j = 0; j < C; j++) {
        double gb = 0.0;
        for (size_t r = 0; r < R; r++)
            gb += 1.0 / C - (pb.labels[r] == (int32_t)j);
        ck_assert_msg(close_rel(g[D * C + j], gb, 1e-14), "b[%zu]: %g vs %g", j,
                      g[D * C + j], gb);
        for (size_t i = 0; i < D; i++) {
            double gw = 0.0;
            for (size_t r = 0; r < R; r++)
                gw += (double)pb.x[r * D + i] * (1.0 / C - (pb.labels[r] == (int32_t)j));
            ck_assert(close_rel(g[i * C + j], gw, 1e-14));
        }
    }
    free(g);
    free_problem(&pb);
}
END_TEST

START_TEST(linear_zero_weights)
{
    enum { D = 3, K = 2, R = 5 };
    problem pb = make_problem(linear(D, K), R, 41);
    for (size_t i = 0; i < pb.nparams; i++)
        pb.p[i] = 0.0;
    double *g = malloc(pb.nparams * sizeof *g);
    ck_assert(g);
    double loss = loss_d(&pb, pb.p, g), want = 0.0;
    for (size_t i = 0; i < R * K; i++)
        want += 0.5 * (double)pb.y[i] * (double)pb.y[i];
    ck_assert(close_rel(loss, want, 1e-14));
    for (size_t j = 0; j < K; j++) {
        double gb = 0.0;
        for (size_t r = 0; r < R; r++)
            gb -= pb.y[r * K + j];
        ck_assert(close_rel(g[D * K + j], gb, 1e-14));
        for (size_t i = 0; i < D; i++) {
            double gw = 0.0;
            for (size_t r = 0; r < R; r++)
                gw -= (double)pb.x[r * D + i] * (double)pb.y[r * K + j];
            ck_assert(close_rel(g[i * K + j], gw, 1e-14));
        }
    }
    free(g);
    free_problem(&pb);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

/* Call the float entry point; the outputs must stay untouched on failure. */
static hg_status call(const hg_model_desc *m, const float *p, const hg_dataset_desc *d,
                      size_t first, size_t count, const size_t *idx, hg_error *e)
{
    double loss = 42.0, g[64];
    for (size_t i = 0; i < 64; i++)
        g[i] = 42.0;
    hg_status st = hg_reference_loss_grad(m, p, d, first, count, idx, &loss, g, e);
    if (st != HG_OK) {
        ck_assert(loss == 42.0);
        for (size_t i = 0; i < 64; i++)
            ck_assert(g[i] == 42.0);
    }
    return st;
}

START_TEST(errors)
{
    problem pb = make_problem(softmax(3, 4), 6, 50);
    float pf[64] = {0};
    ck_assert_uint_le(pb.nparams, 64);
    hg_error e;
    double loss, g[64];

    /* NULL arguments */
    ck_assert_int_eq(call(NULL, pf, &pb.data, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "model");
    ck_assert_int_eq(call(&pb.m, NULL, &pb.data, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "params");
    ck_assert_int_eq(call(&pb.m, pf, NULL, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "data");
    hg_dataset_desc d = pb.data;
    d.x = NULL;
    ck_assert_int_eq(call(&pb.m, pf, &d, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "data->x");
    ck_assert_int_eq(hg_reference_loss_grad(&pb.m, pf, &pb.data, 0, 1, NULL, NULL, g, &e),
                     HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "loss_sum");
    ck_assert_int_eq(hg_reference_loss_grad(&pb.m, pf, &pb.data, 0, 1, NULL, &loss, NULL, &e),
                     HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "grad_sum");
    ck_assert_int_eq(hg__reference_loss_grad_d(&pb.m, NULL, &pb.data, 0, 1, NULL, &loss, g,
                                               &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "params");

    /* data that does not fit the model */
    d = pb.data;
    d.inputs = 2;
    ck_assert_int_eq(call(&pb.m, pf, &d, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "data->inputs = 2");
    d = pb.data;
    d.labels = NULL;
    ck_assert_int_eq(call(&pb.m, pf, &d, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "data->labels");
    hg_model_desc mm = mlp(3, 4, 1, (size_t[]){2});
    ck_assert_int_eq(call(&mm, pf, &d, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "data->labels");
    hg_model_desc lin = linear(3, 4);
    d = pb.data;
    d.targets = NULL;
    ck_assert_int_eq(call(&lin, pf, &d, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "data->targets");
    d.labels = NULL; /* a linear model does not need labels */
    d.targets = pb.y;
    ck_assert_int_eq(call(&lin, pf, &d, 0, 1, NULL, &e), HG_OK);

    /* invalid and custom models */
    hg_model_desc bad = softmax(3, 1);
    ck_assert_int_eq(call(&bad, pf, &pb.data, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "model.outputs");
    hg_model_desc c = {.kind = HG_MODEL_CUSTOM, .inputs = 3, .outputs = 4,
                       .custom_source = "x", .custom_kernel = "k", .custom_params = 4};
    ck_assert_int_eq(call(&c, pf, &pb.data, 0, 1, NULL, &e), HG_INVALID_ARGUMENT);
    ASSERT_HAS(e, "CUSTOM");

    /* rows out of range */
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 4, 3, NULL, &e), HG_RANGE);
    ck_assert_int_eq(e.status, HG_RANGE);
    ASSERT_HAS(e, "row 6");
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 9, 0, NULL, &e), HG_RANGE);
    ASSERT_HAS(e, "row 9");
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 2, SIZE_MAX, NULL, &e), HG_RANGE);
    ASSERT_HAS(e, "row 6");
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, SIZE_MAX, 2, NULL, &e), HG_RANGE);
    const size_t idx[3] = {0, 5, 6};
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 3, idx, &e), HG_RANGE);
    ASSERT_HAS(e, "row 6");
    ASSERT_HAS(e, "idx[2]");
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 2, idx, &e), HG_OK);

    /* labels out of range, named with their row */
    pb.labels[3] = -1;
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 6, NULL, &e), HG_RANGE);
    ASSERT_HAS(e, "row 3");
    ASSERT_HAS(e, "label -1");
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 3, NULL, &e), HG_OK); /* row 3 unused */
    pb.labels[3] = 0;
    pb.labels[5] = 4;
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 6, NULL, &e), HG_RANGE);
    ASSERT_HAS(e, "row 5");
    ASSERT_HAS(e, "label 4");
    const size_t only5[1] = {5};
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 1, only5, &e), HG_RANGE);
    ASSERT_HAS(e, "row 5");

    /* err may be NULL; success clears it */
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 6, NULL, NULL), HG_RANGE);
    ck_assert_int_eq(call(&pb.m, pf, &pb.data, 0, 5, NULL, &e), HG_OK);
    ck_assert_int_eq(e.status, HG_OK);
    ck_assert_str_eq(e.message, "");
    free_problem(&pb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("models");
    tcase_add_test(tc, param_counts);
    tcase_add_test(tc, layers);
    tcase_add_test(tc, validate);
    tcase_add_test(tc, param_count_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_add_test(tc, fd_linear);
    tcase_add_test(tc, fd_softmax);
    tcase_add_test(tc, fd_mlp);
    tcase_add_test(tc, float_entry_matches_double);
    tcase_add_test(tc, index_lists_and_splits);
    tcase_add_test(tc, empty_selection_gives_zeros);
    tcase_add_test(tc, softmax_zero_weights);
    tcase_add_test(tc, linear_zero_weights);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
