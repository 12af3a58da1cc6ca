/* SPDX-License-Identifier: MIT */
/*
 * test_inplace_rows.c - index steps (minibatches picked from the data set by
 * an index list) read in place by the fused path and the MLP's tiled GEMM
 * path and its small-batch path (hg__path_ops.indexed): on every test
 * device and every candidate, a
 * minibatch of shuffled and repeated rows gives the same bits as the same
 * rows copied into a data set of their own and stepped over as consecutive
 * rows, matches the double reference, and, read in place, leaves nothing
 * gathered (no gathered copy is allocated).  The path that cannot read in
 * place (CLBlast's) still gathers, with the same promise.  Checked through the engine's internals.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "path_ops.h"
#include "test_expect.h"
#include "test_problem.h"

#define ROWS 600
#define F 20
#define K 4
#define N 131 /* rows of the minibatch: a 128-row batch and a tail */

/* The rows idx[0..n) of p as a data set of their own, in that order: its own
   arrays, p's model and a copy of p's parameters (test_problem_free frees them). */
static test_problem gathered(const test_problem *p, const size_t *idx, size_t n)
{
    test_problem q = *p;
    q.x = malloc(n * F * sizeof *q.x);
    q.t = malloc(n * K * sizeof *q.t);
    q.l = malloc(n * sizeof *q.l);
    q.params = malloc(p->P * sizeof *q.params);
    ck_assert(q.x && q.t && q.l && q.params);
    for (size_t i = 0; i < n; i++) {
        memcpy(q.x + i * F, p->x + idx[i] * F, F * sizeof *q.x);
        memcpy(q.t + i * K, p->t + idx[i] * K, K * sizeof *q.t);
        q.l[i] = p->l[idx[i]];
    }
    memcpy(q.params, p->params, p->P * sizeof *q.params);
    q.d = (hg_dataset_desc){n, F, q.x, q.t, q.l};
    return q;
}

/* Every test device (POCL's two, Oclgrind where built with it). */
static hg_engine *make_engine(const test_problem *p, bool det)
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
    ck_assert_msg(hg_engine_set_data(e, &p->d, &err) == HG_OK, "%s", err.message);
    return e;
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
static void expect_reference(const test_problem *q, const float *g, double loss,
                             const char *how)
{
    double rloss = 0, *ref = calloc(q->P, sizeof *ref);
    hg_error err;
    ck_assert(hg_reference_loss_grad(&q->m, q->params, &q->d, 0, q->d.rows, NULL, &rloss, ref,
                                     &err) == HG_OK);
    double dmax = 0, rmax = 0;
    for (size_t k = 0; k < q->P; k++) {
        double r = ref[k] / (double)q->d.rows, d = fabs((double)g[k] - r);
        dmax = d > dmax || isnan(d) ? d : dmax;
        rmax = fabs(r) > rmax ? fabs(r) : rmax;
    }
    ck_assert_msg(dmax <= 1e-5 * (rmax > 1 ? rmax : 1), "%s: gradient off by %g (max %g)", how,
                  dmax, rmax);
    rloss /= (double)q->d.rows;
    ck_assert_msg(fabs(loss - rloss) <= 1e-5 * fabs(rloss) + 1e-7, "%s: loss %g, reference %g",
                  how, loss, rloss);
    free(ref);
}

/* Whether candidate c of a kind model reads index steps in place: the fused
   kernels, the tiled GEMMs and the MLP's small-batch path (CLBlast's path
   gathers). */
static bool reads_in_place(hg_model_kind kind, const hg__kchoice *c)
{
    (void)kind; /* every model's own paths, the MLP's small-batch path too */
    return c->path == HG__PATH_OWN;
}

/*
 * On every device and each of its candidates (the first two on Oclgrind,
 * whose kernels run thousands of times slower): the minibatch through the
 * engine over the whole data set, against the same rows as consecutive rows
 * of their own data set, with the same candidate.  Returns how many
 * candidates read in place.
 */
static size_t check_model(hg_model_kind kind, size_t hidden, bool det)
{
    test_problem p, q;
    test_problem_spec spec = {.kind = kind, .rows = ROWS, .inputs = F, .outputs = K,
                              .nhidden = hidden ? 1 : 0, .hidden = {hidden}, .seed = 4242,
                              .shift = 1.0, .param_scale = 0.2};
    test_problem_make(&p, &spec);
    size_t idx[N];
    minibatch(idx);
    q = gathered(&p, idx, N);
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
        if (test_on_oclgrind(a, i) && nc > 2)
            nc = 2;
        ck_assert_uint_ge(nc, 1);
        for (size_t k = 0; k < nc; k++) {
            if (k > 0 && kind == HG_MODEL_MLP && test_on_oclgrind(a, i)) {
                /* each MLP candidate on engines of its own on Oclgrind: switching
                   one engine's MLP candidate makes its uninitialised-value plugin
                   report reads the gradient's bits show are not (docs/testing.md) */
                hg_engine_destroy(a);
                hg_engine_destroy(b);
                a = make_engine(&p, det);
                b = make_engine(&q, det);
                only(a, i);
                only(b, i);
            }
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
            /* both steps computed by the candidate, not by one that replaced it
               after its first-use check */
            ck_assert_msg(hg__kchoice_same(&a->dev[i].kc, &c[k]) &&
                              hg__kchoice_same(&b->dev[i].kc, &c[k]),
                          "%s: replaced", how);
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
            ck_assert_msg(d->ops->indexed == reads_in_place(kind, &c[k]),
                          "%s: reads in place: %d", how, (int)d->ops->indexed);
            tried++;
        }
    }
    ck_assert_uint_ge(tried, hg_engine_device_count(a));
    free(g1);
    free(g2);
    hg_engine_destroy(a);
    hg_engine_destroy(b);
    test_problem_free(&p);
    test_problem_free(&q);
    return inplace;
}

START_TEST(softmax_in_place) { ck_assert_uint_ge(check_model(HG_MODEL_SOFTMAX, 0, false), 3); }
END_TEST

START_TEST(linear_in_place) { ck_assert_uint_ge(check_model(HG_MODEL_LINEAR, 0, false), 3); }
END_TEST

START_TEST(softmax_in_place_det) { ck_assert_uint_ge(check_model(HG_MODEL_SOFTMAX, 0, true), 3); }
END_TEST

START_TEST(linear_in_place_det) { ck_assert_uint_ge(check_model(HG_MODEL_LINEAR, 0, true), 3); }
END_TEST

/* The MLP: the tiled GEMMs and its small-batch path read in place, CLBlast's
   path gathers (a hidden layer of 40, wider than every block and not a multiple of
   one; docs/testing.md says why not 8).  Deterministic mode: three records a
   batch, each record's weight gradient through its part of the list. */
START_TEST(mlp_in_place) { ck_assert_uint_ge(check_model(HG_MODEL_MLP, 40, false), 3); }
END_TEST

START_TEST(mlp_in_place_det) { ck_assert_uint_ge(check_model(HG_MODEL_MLP, 40, true), 3); }
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
    tcase_add_test(tc, mlp_in_place);
    tcase_add_test(tc, mlp_in_place_det);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
