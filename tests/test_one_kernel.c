/* SPDX-License-Identifier: MIT */
/*
 * test_one_kernel.c - the fused path's one-kernel variant (kchoice one = 1,
 * cl/fused.cl's hg_fused_one: W^T in local memory, the last slab of a record
 * adds the record's partials): the gradient against the double host
 * reference on every test device, the same bits as the three-kernel path of
 * the same shape and slabs (so deterministic mode's promise holds with it),
 * offered where it belongs, raced by calibration at the batch size, kept
 * whole by the profile cache, and excluded when it computes a wrong
 * gradient.  Checked through the engine's internals, never through timings.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "kchoice_shapes.h"
#include "test_expect.h"

#define ROWS 1100 /* deterministic blocks of 1024 rows: two 512-row slabs in one */
#define F 20
#define K 4

typedef struct problem {
    hg_model_desc m;
    float *x, *y;
    int32_t *l;
    float *params;
    size_t P, f, k; /* features, classes */
} problem;

/* The problem of f features and k classes (or targets). */
static void make_problem_shape(problem *p, hg_model_kind kind, size_t f, size_t k)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->k = k;
    p->m = (hg_model_desc){.kind = kind, .inputs = f, .outputs = k};
    p->P = hg_model_param_count(&p->m);
    p->x = malloc(ROWS * f * sizeof *p->x);
    p->y = malloc(ROWS * k * sizeof *p->y);
    p->l = malloc(ROWS * sizeof *p->l);
    p->params = malloc(p->P * sizeof *p->params);
    uint32_t s = 777u;
    for (size_t i = 0; i < ROWS * f; i++) {
        s = s * 1664525u + 1013904223u;
        p->x[i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
    }
    for (size_t i = 0; i < ROWS * k; i++)
        p->y[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (size_t i = 0; i < ROWS; i++)
        p->l[i] = (int32_t)((i * 13) % k);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)((double)((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.2f;
}

static void make_problem(problem *p, hg_model_kind kind)
{
    make_problem_shape(p, kind, F, K);
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
    return (hg_dataset_desc){ROWS, p->f, p->x, p->m.kind == HG_MODEL_LINEAR ? p->y : NULL,
                             p->m.kind == HG_MODEL_LINEAR ? NULL : p->l};
}

/* Every test device (POCL's two, Oclgrind where built with it); devices:
   a selection, NULL for all. */
static hg_engine *make_engine(problem *p, size_t batch, bool det, const char *devices)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = devices;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    o.batch_rows = batch;
    o.deterministic = det;
    if (det)
        o.block_rows = 1024;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p->m, &e, &err) == HG_OK, "%s", err.message);
    hg_dataset_desc ds = dataset(p);
    ck_assert_msg(hg_engine_set_data(e, &ds, &err) == HG_OK, "%s", err.message);
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

/* The engine's mean gradient and loss on rows [first, first + count), checked
   against the reference (the tolerance of test_small_batch). */
static void expect_reference(problem *p, hg_engine *e, size_t first, size_t count,
                             float *grad, double *loss, const char *how)
{
    double rloss = 0;
    double *ref = calloc(p->P, sizeof *ref);
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, p->params, first, count, grad, loss, &err) == HG_OK,
                  "%s: %s", how, err.message);
    hg_dataset_desc ds = dataset(p);
    ck_assert(hg_reference_loss_grad(&p->m, p->params, &ds, first, count, NULL, &rloss, ref,
                                     &err) == HG_OK);
    double dmax = 0, rmax = 0;
    for (size_t k = 0; k < p->P; k++) {
        double r = ref[k] / (double)count;
        double d = fabs((double)grad[k] - r);
        dmax = d > dmax || isnan(d) ? d : dmax;
        rmax = fabs(r) > rmax ? fabs(r) : rmax;
    }
    ck_assert_msg(dmax <= 1e-5 * (rmax > 1 ? rmax : 1), "%s: gradient off by %g (max %g)", how,
                  dmax, rmax);
    ck_assert_msg(fabs(*loss - rloss / (double)count) <=
                      1e-5 * fabs(rloss / (double)count) + 1e-7,
                  "%s: loss %g, reference %g", how, *loss, rloss / (double)count);
    free(ref);
}

/* Device i's candidates with one = want. */
static size_t candidates(hg_engine *e, size_t i, unsigned want, hg__kchoice *out)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(e, &e->dev[i], c), n = 0;
    for (size_t k = 0; k < nc; k++)
        if (c[k].one == want)
            out[n++] = c[k];
    return n;
}

static void apply(hg_engine *e, size_t i, const hg__kchoice *k)
{
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    hg_error err;
    ck_assert_msg(hg__kchoice_apply(e, &e->dev[i], e->dev[i].li, k, &err) == HG_OK, "%s: %s",
                  name, err.message);
}

/*
 * On every device that offers it, every one-kernel candidate matches the
 * reference on steps of several sizes (one slab, an odd tail, several slabs
 * to a record, several records) and gives the same bits as the three-kernel
 * candidate of the same shape and slabs, and as itself run again.
 */
static void check_shape(hg_model_kind kind, bool det, size_t batch, size_t f, size_t k)
{
    problem p;
    make_problem_shape(&p, kind, f, k);
    hg_engine *e = make_engine(&p, batch, det, NULL);
    size_t P = p.P;
    float *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2), *g3 = malloc(P * sizeof *g3);
    const size_t steps[][2] = {{0, 40}, {3, 37}, {10, 7}, {0, 128}, {5, ROWS - 5}};
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg__kchoice c[HG__MAX_CANDIDATES];
        size_t nc = candidates(e, i, 1, c);
        if (test_on_oclgrind(e, i)) { /* not offered there (kchoice.c) */
            ck_assert_uint_eq(nc, 0);
            continue;
        }
        ck_assert_uint_ge(nc, 1);
        only(e, i);
        for (size_t q = 0; q < nc; q++) {
            hg__kchoice three = c[q];
            three.one = 0;
            char name[48], how[200];
            hg__kchoice_name(&c[q], name, sizeof name);
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                double l1, l2, l3;
                snprintf(how, sizeof how, "%s on %s%s, rows %zu+%zu", name,
                         hg_engine_device(e, i)->name, det ? " (deterministic)" : "",
                         steps[s][0], steps[s][1]);
                apply(e, i, &three);
                expect_reference(&p, e, steps[s][0], steps[s][1], g3, &l3, how);
                apply(e, i, &c[q]);
                expect_reference(&p, e, steps[s][0], steps[s][1], g1, &l1, how);
                expect_reference(&p, e, steps[s][0], steps[s][1], g2, &l2, how);
                /* computed by the candidate, not by one that replaced it after
                   its first-use check (deterministic mode's bits would hide that) */
                ck_assert_msg(hg__kchoice_same(&e->dev[i].kc, &c[q]), "%s: replaced", how);
                ck_assert_msg(memcmp(g1, g2, P * sizeof *g1) == 0 && l1 == l2,
                              "%s: bits differ run to run", how);
                ck_assert_msg(memcmp(g1, g3, P * sizeof *g1) == 0 && l1 == l3,
                              "%s: bits differ from the three kernels'", how);
            }
            tried++;
        }
    }
    ck_assert_uint_ge(tried, 1);
    free(g1);
    free(g2);
    free(g3);
    hg_engine_destroy(e);
    free_problem(&p);
}

static void check_variant(hg_model_kind kind, bool det, size_t batch)
{
    check_shape(kind, det, batch, F, K);
}

START_TEST(one_kernel_softmax) { check_variant(HG_MODEL_SOFTMAX, false, 128); }
END_TEST

START_TEST(one_kernel_linear) { check_variant(HG_MODEL_LINEAR, false, 128); }
END_TEST

START_TEST(one_kernel_softmax_det) { check_variant(HG_MODEL_SOFTMAX, true, 128); }
END_TEST

START_TEST(one_kernel_linear_det) { check_variant(HG_MODEL_LINEAR, true, 128); }
END_TEST

/* More classes than one pass of the record's write takes (16 at a time: 16
   and 4) and features past the whole vectors (40 = 2 x 16 + 8). */
START_TEST(one_kernel_softmax_wide) { check_shape(HG_MODEL_SOFTMAX, false, 128, 40, 20); }
END_TEST

START_TEST(one_kernel_softmax_wide_det) { check_shape(HG_MODEL_SOFTMAX, true, 128, 40, 20); }
END_TEST

/* Deterministic mode's promise with the variant: the same bits on every
   device, one kernel or three, alone or split. */
START_TEST(deterministic_bits_across_devices)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_engine *e = make_engine(&p, 128, true, NULL);
    size_t n = hg_engine_device_count(e), P = p.P;
    float *want = malloc(P * sizeof *want), *g = malloc(P * sizeof *g);
    double lw = 0, l = 0;
    hg_error err;
    ck_assert(hg_engine_gradient(e, p.params, 7, 100, want, &lw, &err) == HG_OK);
    for (size_t i = 0; i < n; i++) {
        hg__kchoice c[HG__MAX_CANDIDATES];
        size_t nc = candidates(e, i, 1, c);
        ck_assert_uint_ge(nc, test_on_oclgrind(e, i) ? 0 : 1);
        for (size_t q = 0; q < nc; q++) {
            apply(e, i, &c[q]);
            only(e, i);
            ck_assert(hg_engine_gradient(e, p.params, 7, 100, g, &l, &err) == HG_OK);
            ck_assert_msg(memcmp(g, want, P * sizeof *g) == 0 && l == lw,
                          "device %zu, candidate %zu: other bits", i, q);
            ck_assert_msg(hg__kchoice_same(&e->dev[i].kc, &c[q]),
                          "device %zu, candidate %zu: replaced", i, q);
        }
    }
    double w[16];
    for (size_t i = 0; i < n && i < 16; i++)
        w[i] = 1;
    ck_assert(hg_engine_set_weights(e, w, n, &err) == HG_OK);
    ck_assert(hg_engine_gradient(e, p.params, 7, 100, g, &l, &err) == HG_OK);
    ck_assert(memcmp(g, want, P * sizeof *g) == 0 && l == lw);
    /* split: the whole set is two blocks (1024 rows and 76), which equal
       weights give to POCL's two devices (rows 7-106 are one block: one
       device).  Not to Oclgrind, which is not offered the variant: its
       uninitialised-value plugin needs one host thread (test_determinism's
       engines are serial for it), and given rows in this split, where the
       device's worker thread drives it, the step crashed inside the plugin (a
       segfault in MemoryPool::alloc under hostMemoryStore, 2026-12-07) */
    float *whole = malloc(P * sizeof *whole);
    double lwhole = 0;
    only(e, 0);
    ck_assert(hg_engine_gradient(e, p.params, 0, ROWS, whole, &lwhole, &err) == HG_OK);
    for (size_t i = 0; i < n && i < 16; i++)
        w[i] = test_on_oclgrind(e, i) ? 0 : 1;
    ck_assert(hg_engine_set_weights(e, w, n, &err) == HG_OK);
    ck_assert(hg_engine_gradient(e, p.params, 0, ROWS, g, &l, &err) == HG_OK);
    size_t busy = 0;
    for (size_t i = 0; i < n; i++)
        busy += e->dev[i].stats.rows > 0 && !e->dev[i].stats.failed;
    ck_assert_uint_ge(busy, 2);
    ck_assert_msg(memcmp(g, whole, P * sizeof *g) == 0 && l == lwhole,
                  "the whole set split: other bits");
    free(whole);
    free(want);
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* Offered with a known batch size, not on Oclgrind: in fast mode s = 2 for
   every shape and s = 1 for the first, in deterministic mode every shape with
   its slabs; never with the batch unknown, never for the MLP. */
START_TEST(offered_where_it_belongs)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg__kchoice c[HG__MAX_CANDIDATES];
    hg_engine *fast = make_engine(&p, 128, false, NULL), *det = make_engine(&p, 128, true, NULL);
    hg_engine *unknown = make_engine(&p, 0, false, NULL);
    hg_engine *unknown_det = make_engine(&p, 0, true, NULL);
    for (size_t i = 0; i < hg_engine_device_count(fast); i++) {
        size_t nf = candidates(fast, i, 1, c);
        ck_assert_uint_eq(nf, test_on_oclgrind(fast, i) ? 0 : 5);
        for (size_t q = 0; q < nf; q++)
            ck_assert_uint_ne(c[q].s, 0);
        size_t nd = candidates(det, i, 1, c);
        ck_assert_uint_eq(nd, test_on_oclgrind(det, i) ? 0 : 4);
        for (size_t q = 0; q < nd; q++)
            ck_assert_uint_eq(c[q].s, 0);
        ck_assert_uint_eq(candidates(unknown, i, 1, c), 0);
        ck_assert_uint_eq(candidates(unknown_det, i, 1, c), 0);
        hg__kchoice one = test_fused_shape(unknown, &unknown->dev[i], 0, 2, 1);
        ck_assert(hg__kchoice_valid(fast, &fast->dev[i], &one) == !test_on_oclgrind(fast, i));
        ck_assert(!hg__kchoice_valid(unknown, &unknown->dev[i], &one));
        ck_assert(!hg__kchoice_valid(det, &det->dev[i], &one)); /* det: its own slabs */
        char name[48];
        hg__kchoice lit = {HG__PATH_OWN, 8, 8, 2, 2, 1};
        hg__kchoice_name(&lit, name, sizeof name);
        ck_assert_str_eq(name, "fused r8/b8/k2/s2/one");
    }
    hg_engine_destroy(fast);
    hg_engine_destroy(det);
    hg_engine_destroy(unknown);
    hg_engine_destroy(unknown_det);
    problem q;
    make_problem(&q, HG_MODEL_MLP);
    q.m.nhidden = 1;
    q.m.hidden[0] = 8;
    q.P = hg_model_param_count(&q.m);
    hg_engine *mlp = make_engine(&q, 128, false, NULL);
    for (size_t i = 0; i < hg_engine_device_count(mlp); i++)
        ck_assert_uint_eq(candidates(mlp, i, 1, c), 0);
    hg_engine_destroy(mlp);
    free_problem(&q);
    free_problem(&p);
}
END_TEST

/* W^T that does not fit a work-group's local memory, or a device that is no
   CPU: not offered (K = 4 classes: every shape pads W^T to 4 x F floats). */
START_TEST(not_offered_beyond_local_memory)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_engine *e = make_engine(&p, 128, true, NULL);
    hg__kchoice c[HG__MAX_CANDIDATES];
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        if (test_on_oclgrind(e, i))
            continue;
        const hg_device_info *orig = e->dev[i].info;
        hg_device_info small = *orig;
        e->dev[i].info = &small;
        small.local_mem_bytes = 4 * F * sizeof(float);
        size_t fits = candidates(e, i, 1, c);
        small.local_mem_bytes = 4 * F * sizeof(float) - 1;
        size_t short_by_one = candidates(e, i, 1, c);
        small.local_mem_bytes = orig->local_mem_bytes;
        small.cl_type = CL_DEVICE_TYPE_GPU; /* not a CPU device: not offered */
        size_t gpu = candidates(e, i, 1, c);
        e->dev[i].info = orig;
        ck_assert_uint_eq(fits, 4);
        ck_assert_uint_eq(short_by_one, 0);
        ck_assert_uint_eq(gpu, 0);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* POCL's pthread device alone, calibrated for steps of batch rows; cache: the
   profile cache's directory, NULL for none. */
static hg_engine *pthread_engine(problem *p, size_t batch, const char *cache)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.devices = "name:pthread";
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = cache == NULL;
    o.cache_dir = cache;
    o.batch_rows = batch;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p->m, &e, &err) == HG_OK, "%s", err.message);
    hg_dataset_desc ds = dataset(p);
    ck_assert_msg(hg_engine_set_data(e, &ds, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    return e;
}

/* Calibration at a batch size races the one-kernel candidates with the rest
   (the note names every candidate it timed) and keeps a valid one. */
START_TEST(calibration_races_it)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_engine *e = pthread_engine(&p, 128, NULL);
    hg__device *d = &e->dev[0];
    ck_assert(d->kc_measured);
    ck_assert(hg__kchoice_valid(e, d, &d->kc));
    ck_assert_msg(strstr(d->kc_note, "fastest of 14 on 128 rows"), "%s", d->kc_note);
    /* listed without the path word the fused candidate before it had (profile.c) */
    hg__kchoice one = test_fused_shape(e, d, 0, 2, 1);
    char name[48], listed[56];
    hg__kchoice_name(&one, name, sizeof name);
    snprintf(listed, sizeof listed, "; %s ", name + strlen("fused "));
    ck_assert_msg(strstr(d->kc_note, listed), "%s in %s", listed, d->kc_note);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* A one-kernel choice goes through the profile cache whole. */
START_TEST(profile_cache_keeps_it)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    char dir[] = "/tmp/hg-test-one-kernel-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t k = 0; k < 2; k++) {
        hg_engine *e = pthread_engine(&p, 40 + k, dir);
        /* the first shape's one slab a compute unit, in one kernel and in three */
        const hg__kchoice kinds[] = {test_fused_shape(e, &e->dev[0], 0, 1, 1),
                                     test_fused_shape(e, &e->dev[0], 0, 1, 0)};
        apply(e, 0, &kinds[k]);
        hg__profile_store(e, 0);
        hg_engine_destroy(e);
        hg_engine *f = pthread_engine(&p, 40 + k, dir);
        ck_assert(f->dev[0].model_from_cache);
        ck_assert_uint_eq(f->dev[0].kc.s, 1);
        ck_assert_uint_eq(f->dev[0].kc.one, kinds[k].one);
        hg_engine_destroy(f);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free_problem(&p);
}
END_TEST

/* A one-kernel candidate that computes a wrong gradient (the test hook
   scales its sums) is excluded by calibration, not used. */
START_TEST(wrong_one_kernel_is_excluded)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.devices = "name:pthread";
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    o.batch_rows = 128;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p.m, &e, &err) == HG_OK, "%s", err.message);
    hg_dataset_desc ds = dataset(&p);
    ck_assert(hg_engine_set_data(e, &ds, &err) == HG_OK);
    hg__device *d = &e->dev[0];
    hg__kchoice broken = test_fused_shape(e, d, 0, 2, 1);
    char name[48], excluded[80];
    hg__kchoice_name(&broken, name, sizeof name);
    hg__kchoice_break(e, name, 2);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    ck_assert(!(d->kc.one && d->kc.s == 2 && d->kc.a == broken.a && d->kc.b == broken.b &&
                d->kc.c == broken.c));
    snprintf(excluded, sizeof excluded, "%s excluded (wrong gradient", name);
    ck_assert_msg(strstr(d->kc_note, excluded), "%s", d->kc_note);
    float *g = malloc(p.P * sizeof *g);
    double loss;
    expect_reference(&p, e, 0, 128, g, &loss, "after excluding the broken candidate");
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("one_kernel");
    TCase *tc = tcase_create("devices");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, offered_where_it_belongs);
    tcase_add_test(tc, not_offered_beyond_local_memory);
    tcase_add_test(tc, one_kernel_softmax);
    tcase_add_test(tc, one_kernel_linear);
    tcase_add_test(tc, one_kernel_softmax_det);
    tcase_add_test(tc, one_kernel_linear_det);
    tcase_add_test(tc, one_kernel_softmax_wide);
    tcase_add_test(tc, one_kernel_softmax_wide_det);
    tcase_add_test(tc, deterministic_bits_across_devices);
    tcase_add_test(tc, calibration_races_it);
    tcase_add_test(tc, profile_cache_keeps_it);
    tcase_add_test(tc, wrong_one_kernel_is_excluded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
