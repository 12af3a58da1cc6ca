/* SPDX-License-Identifier: MIT */
/*
 * test_small_batch.c - kernels chosen for the engine's batch size
 * (hg_engine_options.batch_rows): the small-batch candidates of the fused
 * kernel (kchoice s = 1, 2: several slabs per compute unit, combined in slab
 * order) against the double host reference on POCL's devices (Oclgrind does
 * not offer them: kchoice.c), the same bits run after run, offered only where they belong
 * (fast mode with a known batch size), and calibration racing the candidates
 * at the rows a device gets of such a step (race_rows.c), checked through the
 * engine's internals, never through timings.
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

#define ROWS 300
#define F 20
#define K 4

typedef struct problem {
    hg_model_desc m;
    float *x, *y;
    int32_t *l;
    float *params;
    size_t P;
} problem;

static void make_problem(problem *p, hg_model_kind kind)
{
    memset(p, 0, sizeof *p);
    p->m = (hg_model_desc){.kind = kind, .inputs = F, .outputs = K};
    p->P = hg_model_param_count(&p->m);
    p->x = malloc(ROWS * F * sizeof *p->x);
    p->y = malloc(ROWS * K * sizeof *p->y);
    p->l = malloc(ROWS * sizeof *p->l);
    p->params = malloc(p->P * sizeof *p->params);
    uint32_t s = 12345u;
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

static void free_problem(problem *p)
{
    free(p->x);
    free(p->y);
    free(p->l);
    free(p->params);
}

static hg_engine *make_engine(problem *p, size_t batch, bool det)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    o.batch_rows = batch;
    o.deterministic = det;
    if (det)
        o.block_rows = 64;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &p->m, &e, &err) == HG_OK, "%s", err.message);
    hg_dataset_desc ds = {ROWS, F, p->x, p->m.kind == HG_MODEL_LINEAR ? p->y : NULL,
                          p->m.kind == HG_MODEL_LINEAR ? NULL : p->l};
    ck_assert_msg(hg_engine_set_data(e, &ds, &err) == HG_OK, "%s", err.message);
    return e;
}

/* Only device i computes (weights split). */
static void only(hg_engine *e, size_t i)
{
    size_t n = hg_engine_device_count(e);
    double w[16] = {0};
    ck_assert_uint_le(n, 16);
    w[i] = 1;
    hg_error err;
    ck_assert_msg(hg_engine_set_weights(e, w, n, &err) == HG_OK, "%s", err.message);
}

/* The engine's mean gradient on rows [first, first + count) against the reference. */
static void expect_reference(problem *p, hg_engine *e, size_t first, size_t count,
                             float *grad, const char *how)
{
    double loss = 0, rloss = 0;
    double *ref = calloc(p->P, sizeof *ref);
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, p->params, first, count, grad, &loss, &err) == HG_OK,
                  "%s: %s", how, err.message);
    hg_dataset_desc ds = {ROWS, F, p->x, p->m.kind == HG_MODEL_LINEAR ? p->y : NULL,
                          p->m.kind == HG_MODEL_LINEAR ? NULL : p->l};
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
    ck_assert_msg(fabs(loss - rloss / (double)count) <= 1e-5 * fabs(rloss / (double)count) + 1e-7,
                  "%s: loss %g, reference %g", how, loss, rloss / (double)count);
    free(ref);
}

static size_t small_candidates(hg_engine *e, size_t i, hg__kchoice *out)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(e, &e->dev[i], c), n = 0;
    for (size_t k = 0; k < nc; k++)
        if (c[k].c && c[k].s && !c[k].one) /* the fused ones (test_one_kernel.c: the
                                               one-kernel ones, test_mlp_small.c: the MLP's) */
            out[n++] = c[k];
    return n;
}

/* Every small-batch candidate on every device, on steps of several sizes (one
   slab, an odd tail, more rows than slabs per unit at 16 rows), matches the
   reference and gives the same bits twice. */
static void check_small_slabs(hg_model_kind kind)
{
    problem p;
    make_problem(&p, kind);
    hg_engine *e = make_engine(&p, 40, false);
    float *g1 = malloc(p.P * sizeof *g1), *g2 = malloc(p.P * sizeof *g2);
    const size_t steps[][2] = {{0, 40}, {3, 37}, {10, 7}, {0, ROWS}};
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg__kchoice c[HG__MAX_CANDIDATES];
        size_t nc = small_candidates(e, i, c);
        if (test_on_oclgrind(e, i)) { /* not offered there (kchoice.c says why) */
            ck_assert_uint_eq(nc, 0);
            continue;
        }
        ck_assert_uint_ge(nc, 2); /* s = 2 for each shape, s = 1 for the first */
        only(e, i);
        for (size_t q = 0; q < nc; q++) {
            char name[48], how[160];
            hg__kchoice_name(&c[q], name, sizeof name);
            hg_error err;
            ck_assert_msg(hg__kchoice_apply(e, &e->dev[i], e->dev[i].li, &c[q], &err) == HG_OK,
                          "%s: %s", name, err.message);
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                snprintf(how, sizeof how, "%s on %s, rows %zu+%zu", name,
                         hg_engine_device(e, i)->name, steps[s][0], steps[s][1]);
                expect_reference(&p, e, steps[s][0], steps[s][1], g1, how);
                expect_reference(&p, e, steps[s][0], steps[s][1], g2, how);
                ck_assert_msg(memcmp(g1, g2, p.P * sizeof *g1) == 0, "%s: bits differ", how);
                /* computed by the candidate, not by one that replaced it after its
                   first-use check (docs/testing.md) */
                ck_assert_msg(hg__kchoice_same(&e->dev[i].kc, &c[q]), "%s: replaced", how);
                size_t slab = hg__fused_slab_rows(e, &e->dev[i], steps[s][1]);
                ck_assert_uint_ge(slab, 16);
                ck_assert_uint_eq(slab % 16, 0);
                size_t nslabs = (steps[s][1] + slab - 1) / slab;
                ck_assert_uint_le(nslabs, hg__fused_max_slabs(e, &e->dev[i], steps[s][1]));
            }
            tried++;
        }
    }
    ck_assert_uint_ge(tried, 2);
    free(g1);
    free(g2);
    hg_engine_destroy(e);
    free_problem(&p);
}

START_TEST(small_slabs_softmax) { check_small_slabs(HG_MODEL_SOFTMAX); }
END_TEST

START_TEST(small_slabs_linear) { check_small_slabs(HG_MODEL_LINEAR); }
END_TEST

/* Where they belong: fast mode with a known batch size; not with the batch
   unknown (today's candidates and profile keys), not in deterministic mode
   (whose slabs are part of its bits), not for the MLP. */
/* Candidates of device i beyond the plain ones: a small slab count or one kernel (fused)
   or the MLP's three-launch path (s on a tiled shape). */
static size_t beyond_plain(hg_engine *e, size_t i)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(e, &e->dev[i], c), n = 0;
    for (size_t k = 0; k < nc; k++)
        n += c[k].s != 0 || c[k].one != 0;
    return n;
}

START_TEST(offered_where_they_belong)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg__kchoice c[HG__MAX_CANDIDATES];
    hg_engine *known = make_engine(&p, 128, false), *unknown = make_engine(&p, 0, false);
    hg_engine *det = make_engine(&p, 128, true);
    for (size_t i = 0; i < hg_engine_device_count(known); i++) {
        ck_assert_uint_eq(small_candidates(known, i, c), test_on_oclgrind(known, i) ? 0 : 5);
        ck_assert_uint_eq(small_candidates(unknown, i, c), 0);
        ck_assert_uint_eq(small_candidates(det, i, c), 0);
        /* a small-slab choice is not valid without a batch size */
        hg__kchoice s = test_fused_shape(unknown, &unknown->dev[i], 0, 2, 0);
        ck_assert(hg__kchoice_valid(known, &known->dev[i], &s) == !test_on_oclgrind(known, i));
        ck_assert(!hg__kchoice_valid(unknown, &unknown->dev[i], &s));
        ck_assert(!hg__kchoice_valid(det, &det->dev[i], &s));
    }
    hg_engine_destroy(known);
    hg_engine_destroy(unknown);
    hg_engine_destroy(det);
    /* a batch of four usual slabs a compute unit or more is not small: nothing of the
       small-batch kind, fast or deterministic (kchoice.c's small_batch) */
    hg_engine *big = make_engine(&p, 1u << 20, false), *big_det = make_engine(&p, 1u << 20, true);
    for (size_t i = 0; i < hg_engine_device_count(big); i++) {
        ck_assert_uint_eq(beyond_plain(big, i), 0);
        ck_assert_uint_eq(beyond_plain(big_det, i), 0);
    }
    hg_engine_destroy(big);
    hg_engine_destroy(big_det);
    problem q;
    make_problem(&q, HG_MODEL_MLP);
    q.m.nhidden = 1;
    q.m.hidden[0] = 8;
    q.P = hg_model_param_count(&q.m);
    hg_engine *mlp = make_engine(&q, 128, false);
    for (size_t i = 0; i < hg_engine_device_count(mlp); i++)
        ck_assert_uint_eq(small_candidates(mlp, i, c), 0);
    hg_engine_destroy(mlp);
    hg_engine *mlp_big = make_engine(&q, 1u << 20, false);
    for (size_t i = 0; i < hg_engine_device_count(mlp_big); i++)
        ck_assert_uint_eq(beyond_plain(mlp_big, i), 0); /* no mlp-small */
    hg_engine_destroy(mlp_big);
    free_problem(&q);
    free_problem(&p);
}
END_TEST

/* The POCL pthread device alone (fast to calibrate); cache: the profile
   cache's directory, NULL for none. */
static hg_engine *pthread_engine_in(problem *p, size_t batch, const char *cache)
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
    hg_dataset_desc ds = {ROWS, F, p->x, NULL, p->l};
    ck_assert_msg(hg_engine_set_data(e, &ds, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    return e;
}

static hg_engine *pthread_engine(problem *p, size_t batch)
{
    return pthread_engine_in(p, batch, NULL);
}

/* A small-batch choice goes through the profile cache whole (its slabs
   field included), under a key that holds the batch size. */
START_TEST(profile_cache_keeps_the_slabs)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    char dir[] = "/tmp/hg-test-small-batch-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    hg_engine *e = pthread_engine_in(&p, 40, dir);
    /* the second shape's small slabs: a candidate, and unlikely to be the race's winner */
    hg__kchoice s2 = test_fused_shape(e, &e->dev[0], 1, 2, 0);
    hg_error err;
    ck_assert_msg(hg__kchoice_apply(e, &e->dev[0], e->dev[0].li, &s2, &err) == HG_OK, "%s",
                  err.message);
    hg__profile_store(e, 0);
    hg_engine_destroy(e);
    hg_engine *f = pthread_engine_in(&p, 40, dir);
    ck_assert(f->dev[0].model_from_cache);
    ck_assert_int_eq(f->dev[0].kc.path, HG__PATH_OWN);
    ck_assert_uint_eq(f->dev[0].kc.a, s2.a);
    ck_assert_uint_eq(f->dev[0].kc.b, s2.b);
    ck_assert_uint_eq(f->dev[0].kc.c, s2.c);
    ck_assert_uint_eq(f->dev[0].kc.s, 2);
    hg_engine_destroy(f);
    hg_engine *g = pthread_engine_in(&p, 41, dir); /* another batch: another key */
    ck_assert(!g->dev[0].model_from_cache);
    ck_assert_uint_eq(g->dev[0].kc_rows[0], 41);
    hg_engine_destroy(g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free_problem(&p);
}
END_TEST

/* Calibration races the candidates at the batch's rows: a device alone gets
   the whole batch (one size), clipped to the rows it holds; and the winner is
   one of the candidates at that size, small-batch ones included where the batch is small. */
START_TEST(calibration_races_at_the_batch_size)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    const size_t batches[] = {40, 128, 100000};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        hg_engine *e = pthread_engine(&p, batches[b]);
        ck_assert_uint_eq(hg_engine_device_count(e), 1);
        hg__device *d = &e->dev[0];
        size_t want = batches[b] < ROWS ? batches[b] : ROWS;
        ck_assert_uint_eq(d->kc_rows[0], want);
        ck_assert_uint_eq(d->kc_rows[1], 0);
        ck_assert(d->kc_measured);
        ck_assert(hg__kchoice_valid(e, d, &d->kc));
        char want_note[64]; /* a large batch: the three plain shapes only (kchoice.c) */
        size_t units = d->info->compute_units ? d->info->compute_units : 1;
        snprintf(want_note, sizeof want_note, "fastest of %d on %zu rows",
                 batches[b] < 4 * 512 * units ? 14 : 3, want);
        ck_assert_msg(strstr(d->kc_note, want_note), "%s", d->kc_note);
        hg_engine_destroy(e);
    }
    free_problem(&p);
}
END_TEST

/* The cost model is fitted where the steps are when the batch is known, at
   least 16 rows and fast on the device (profile.c, measure): 11 pairs of an
   eighth of the batch and the whole one, after a first fit of 5 pairs; with
   no batch, or a smaller one, on about 10 and 100 ms of rows, at most 5
   runs of each size.  Counted through the model's samples, never timed. */
START_TEST(cost_model_fitted_at_the_batch)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    const size_t batches[] = {128, 0, 8};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        hg_engine *e = pthread_engine(&p, batches[b]);
        const hg__cost_model *m = &e->dev[0].model;
        ck_assert(m->valid);
        size_t n = m->samples + m->rejected;
        if (batches[b] >= 16)
            ck_assert_msg(n == 22, "batch %zu: %zu samples", batches[b], n);
        else
            ck_assert_msg(n >= 2 && n <= 10, "batch %zu: %zu samples", batches[b], n);
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, 0, &pf), HG_OK);
        ck_assert(pf.fixed_ms >= 0 && pf.ms_per_row > 0);
        hg_engine_destroy(e);
    }
    free_problem(&p);
}
END_TEST

/* Two devices of equal weight: each races at its half of the batch and at the
   whole batch; deterministic shares are whole blocks. */
START_TEST(race_sizes_follow_the_share)
{
    problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_engine *e = make_engine(&p, 128, false);
    size_t n = hg_engine_device_count(e);
    ck_assert_uint_ge(n, 2);
    double w[16] = {0};
    w[0] = 1;
    w[1] = 3;
    hg_error err;
    ck_assert(hg_engine_set_weights(e, w, n, &err) == HG_OK);
    ck_assert_uint_eq(hg__batch_share(e, 0, 128), 32);
    ck_assert_uint_eq(hg__batch_share(e, 1, 128), 96);
    hg__race r;
    hg__race_plan(e, 0, ROWS, 1e-3, &r);
    ck_assert_uint_eq(r.rows[0], 32);
    ck_assert_uint_eq(r.rows[1], 128);
    /* 0.16 ms a visit: 25 runs' worth a round, as 6 sweeps of a warm-up and 3 runs */
    ck_assert_int_eq(r.per, 3);
    ck_assert_int_eq(r.sweeps, 6);
    ck_assert_int_eq(r.reps, 18);
    ck_assert_int_eq(r.rounds, 3);
    hg__race_plan(e, 1, 64, 1e-3, &r); /* clipped to what it can hold */
    ck_assert_uint_eq(r.rows[0], 64);
    ck_assert_uint_eq(r.rows[1], 0);
    /* a device that needs over 200 ms for the batch (2 ms a row, as Oclgrind):
       the batch-unknown race, 50 ms of rows, one size, one run */
    hg__race_plan(e, 0, ROWS, 2.0, &r);
    ck_assert_uint_eq(r.rows[0], 64); /* 25 rows: at least the 64-row probe */
    ck_assert_uint_eq(r.rows[1], 0);
    ck_assert_int_eq(r.reps, 1);
    ck_assert_int_eq(r.per, 1);
    ck_assert_int_eq(r.sweeps, 1);
    /* quarantined or weightless devices take no share */
    w[1] = 0;
    ck_assert(hg_engine_set_weights(e, w, n, &err) == HG_OK);
    ck_assert_uint_eq(hg__batch_share(e, 0, 128), 128);
    hg_engine_destroy(e);

    hg_engine *det = make_engine(&p, 200, true); /* blocks of 64 */
    n = hg_engine_device_count(det);
    for (size_t i = 0; i < n; i++)
        w[i] = i < 2 ? 1 : 0;
    ck_assert(hg_engine_set_weights(det, w, n, &err) == HG_OK);
    ck_assert_uint_eq(hg__batch_share(det, 0, 200), 128); /* 100 -> two blocks */
    hg_engine_destroy(det);

    /* batch unknown: about 50 ms of rows, one size, one run a round */
    hg_engine *u = make_engine(&p, 0, false);
    hg__race_plan(u, 0, 100000, 1e-3, &r);
    ck_assert_uint_eq(r.rows[0], 50000);
    ck_assert_uint_eq(r.rows[1], 0);
    ck_assert_int_eq(r.reps, 1);
    hg_engine_destroy(u);
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("small_batch");
    TCase *tc = tcase_create("devices");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, offered_where_they_belong);
    tcase_add_test(tc, race_sizes_follow_the_share);
    tcase_add_test(tc, calibration_races_at_the_batch_size);
    tcase_add_test(tc, cost_model_fitted_at_the_batch);
    tcase_add_test(tc, profile_cache_keeps_the_slabs);
    tcase_add_test(tc, small_slabs_softmax);
    tcase_add_test(tc, small_slabs_linear);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
