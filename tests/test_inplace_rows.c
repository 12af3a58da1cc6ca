/* SPDX-License-Identifier: MIT */
/*
 * test_inplace_rows.c - index steps (minibatches picked from the data set by
 * an index list) read in place by the fused path (hg__path_ops.indexed):
 * on every test device and every fused candidate, a minibatch of shuffled
 * and repeated rows gives the same bits as the same rows copied into a data
 * set of their own and stepped over as consecutive rows, matches the double
 * reference, and leaves nothing gathered (no gathered copy is allocated).
 * A path that cannot read in place (the MLP's GEMMs) still gathers, with
 * the same promise.  Checked through the engine's internals.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "path_ops.h"

#define ROWS 600
#define F 20
#define K 4
#define N 131 /* rows of the minibatch: a 128-row batch and a tail */

typedef struct problem {
    hg_model_desc m;
    size_t rows;
    float *x, *y;
    int32_t *l;
    float *params;
    size_t P;
} problem;

static void alloc_problem(problem *p, const hg_model_desc *m, size_t rows)
{
    memset(p, 0, sizeof *p);
    p->m = *m;
    p->rows = rows;
    p->P = hg_model_param_count(&p->m);
    p->x = malloc(rows * F * sizeof *p->x);
    p->y = malloc(rows * K * sizeof *p->y);
    p->l = malloc(rows * sizeof *p->l);
    p->params = malloc(p->P * sizeof *p->params);
    ck_assert(p->x && p->y && p->l && p->params);
}

static void make_problem(problem *p, const hg_model_desc *m)
{
    alloc_problem(p, m, ROWS);
    uint32_t s = 4242u;
    for (size_t i = 0; i < ROWS * F; i++) {
        s = s * 1664525u + 1013904223u;
        p->x[i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
    }
    for (size_t i = 0; i < ROWS * K; i++)
        p->y[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (size_t i = 0; i < ROWS; i++)
        p->l[i] = (int32_t)((i * 13) % K);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)((double)((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.2f;
}

/* The rows idx[0..n) of p as a data set of their own, in that order. */
static void gathered_problem(problem *q, const problem *p, const size_t *idx, size_t n)
{
    alloc_problem(q, &p->m, n);
    for (size_t i = 0; i < n; i++) {
        memcpy(q->x + i * F, p->x + idx[i] * F, F * sizeof *q->x);
        memcpy(q->y + i * K, p->y + idx[i] * K, K * sizeof *q->y);
        q->l[i] = p->l[idx[i]];
    }
    memcpy(q->params, p->params, p->P * sizeof *q->params);
}

static void free_problem(problem *p)
{
    free(p->x);
    free(p->y);
    free(p->l);
    free(p->params);
}

static hg_dataset_desc dataset(const problem *p)
{
    bool regression = p->m.kind == HG_MODEL_LINEAR;
    return (hg_dataset_desc){p->rows, F, p->x, regression ? p->y : NULL,
                             regression ? NULL : p->l};
}

/* Every test device (POCL's two, Oclgrind where built with it). */
static hg_engine *make_engine(const problem *p, bool det)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    o.batch_rows = 128;
    o.deterministic = det;
    if (det)
        o.block_rows = 64; /* several records to a batch */
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p->m, &e, &err) == HG_OK, "%s", err.message);
    hg_dataset_desc ds = dataset(p);
    ck_assert_msg(hg_engine_set_data(e, &ds, &err) == HG_OK, "%s", err.message);
    return e;
}

static bool oclgrind(const hg_engine *e, size_t i)
{
    return strstr(hg_engine_device(e, i)->platform_name, "Oclgrind") != NULL;
}

/* Only device i computes. */
static void only(hg_engine *e, size_t i)
{
    size_t n = hg_engine_device_count(e);
    double w[16] = {0};
    ck_assert_uint_le(n, 16);
    w[i] = 1;
    hg_error err;
    ck_assert_msg(hg_engine_set_weights(e, w, n, &err) == HG_OK, "%s", err.message);
}

static void apply(hg_engine *e, size_t i, const hg__kchoice *k)
{
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    hg_error err;
    ck_assert_msg(hg__kchoice_apply(e, &e->dev[i], e->dev[i].li, k, &err) == HG_OK, "%s: %s",
                  name, err.message);
}

/* The minibatch: rows from all over the data set, its first and last rows
   among them, out of order, one row three times. */
static void minibatch(size_t *idx)
{
    for (size_t i = 0; i < N; i++)
        idx[i] = (i * 389 + 17) % ROWS;
    idx[0] = ROWS - 1;
    idx[1] = 0;
    idx[40] = idx[41] = idx[100];
}

/* The mean gradient of q's rows (all of them) against the double reference. */
static void expect_reference(const problem *q, const float *g, double loss, const char *how)
{
    double rloss = 0, *ref = calloc(q->P, sizeof *ref);
    hg_error err;
    hg_dataset_desc ds = dataset(q);
    ck_assert(hg_reference_loss_grad(&q->m, q->params, &ds, 0, q->rows, NULL, &rloss, ref,
                                     &err) == HG_OK);
    double dmax = 0, rmax = 0;
    for (size_t k = 0; k < q->P; k++) {
        double r = ref[k] / (double)q->rows, d = fabs((double)g[k] - r);
        dmax = d > dmax || isnan(d) ? d : dmax;
        rmax = fabs(r) > rmax ? fabs(r) : rmax;
    }
    ck_assert_msg(dmax <= 1e-5 * (rmax > 1 ? rmax : 1), "%s: gradient off by %g (max %g)", how,
                  dmax, rmax);
    rloss /= (double)q->rows;
    ck_assert_msg(fabs(loss - rloss) <= 1e-5 * fabs(rloss) + 1e-7, "%s: loss %g, reference %g",
                  how, loss, rloss);
    free(ref);
}

/*
 * On every device and each of its candidates (the first two on Oclgrind,
 * whose kernels run thousands of times slower): the minibatch through the
 * engine over the whole data set, against the same rows as consecutive rows
 * of their own data set, with the same candidate.  Returns how many
 * candidates read in place.
 */
static size_t check_model(const hg_model_desc *m, bool det, bool want_inplace)
{
    problem p, q;
    make_problem(&p, m);
    size_t idx[N];
    minibatch(idx);
    gathered_problem(&q, &p, idx, N);
    hg_engine *a = make_engine(&p, det), *b = make_engine(&q, det);
    ck_assert_uint_eq(hg_engine_device_count(a), hg_engine_device_count(b));
    size_t P = p.P, inplace = 0, tried = 0;
    float *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2);
    hg_error err;
    for (size_t i = 0; i < hg_engine_device_count(a); i++) {
        ck_assert_str_eq(hg_engine_device(a, i)->name, hg_engine_device(b, i)->name);
        only(a, i);
        only(b, i);
        hg__kchoice c[HG__MAX_CANDIDATES];
        size_t nc = hg__kchoice_candidates(a, &a->dev[i], c);
        if (oclgrind(a, i) && nc > 2)
            nc = 2;
        ck_assert_uint_ge(nc, 1);
        for (size_t k = 0; k < nc; k++) {
            char name[48], how[160];
            hg__kchoice_name(&c[k], name, sizeof name);
            snprintf(how, sizeof how, "%s on %s%s", name, hg_engine_device(a, i)->name,
                     det ? " (deterministic)" : "");
            apply(a, i, &c[k]);
            apply(b, i, &c[k]);
            double l1 = 0, l2 = 0;
            ck_assert_msg(hg_engine_gradient_rows(a, p.params, idx, N, g1, &l1, &err) == HG_OK,
                          "%s: %s", how, err.message);
            ck_assert_msg(hg_engine_gradient(b, q.params, 0, N, g2, &l2, &err) == HG_OK,
                          "%s: %s", how, err.message);
            ck_assert_msg(memcmp(g1, g2, P * sizeof *g1) == 0 && l1 == l2,
                          "%s: the minibatch's bits differ from its rows' as a data set", how);
            expect_reference(&q, g1, l1, how);
            const hg__device *d = &a->dev[i];
            ck_assert_uint_eq(d->stats.rows, N);
            if (d->ops->indexed) {
                /* read in place: no gathered copy exists to gather into */
                ck_assert_msg(!d->xb && !d->yb && !d->lb, "%s: gathered buffers allocated",
                              how);
                inplace++;
            } else {
                ck_assert_msg(d->xb != NULL, "%s: its rows were not gathered", how);
            }
            ck_assert(d->ops->indexed == want_inplace);
            tried++;
        }
    }
    ck_assert_uint_ge(tried, hg_engine_device_count(a));
    free(g1);
    free(g2);
    hg_engine_destroy(a);
    hg_engine_destroy(b);
    free_problem(&p);
    free_problem(&q);
    return inplace;
}

static const hg_model_desc softmax = {.kind = HG_MODEL_SOFTMAX, .inputs = F, .outputs = K};
static const hg_model_desc linear = {.kind = HG_MODEL_LINEAR, .inputs = F, .outputs = K};

START_TEST(softmax_in_place) { ck_assert_uint_ge(check_model(&softmax, false, true), 3); }
END_TEST

START_TEST(linear_in_place) { ck_assert_uint_ge(check_model(&linear, false, true), 3); }
END_TEST

START_TEST(softmax_in_place_det) { ck_assert_uint_ge(check_model(&softmax, true, true), 3); }
END_TEST

START_TEST(linear_in_place_det) { ck_assert_uint_ge(check_model(&linear, true, true), 3); }
END_TEST

/* The MLP's paths gather the minibatch first: the same promise. */
START_TEST(mlp_gathers)
{
    hg_model_desc m = {.kind = HG_MODEL_MLP, .inputs = F, .outputs = K, .nhidden = 1};
    m.hidden[0] = 24;
    ck_assert_uint_eq(check_model(&m, false, false), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("inplace_rows");
    TCase *tc = tcase_create("devices");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, softmax_in_place);
    tcase_add_test(tc, linear_in_place);
    tcase_add_test(tc, softmax_in_place_det);
    tcase_add_test(tc, linear_in_place_det);
    tcase_add_test(tc, mlp_gathers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
