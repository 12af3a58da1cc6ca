/* SPDX-License-Identifier: MIT */
/*
 * test_shared_mem.c - buffers the host reads and writes without a command
 * (src/exec/shared_mem.c): the parameters, a run's first index list and the
 * record slots of a device with host-unified memory and fine-grained SVM
 * buffers.  Checked through the engine's internals, never through timings:
 * - which devices share (POCL's do, Oclgrind's OpenCL 1.2 device cannot) and
 *   that the no_shared_memory knob and HETGRAD_SHARED_MEMORY=off turn it off
 *   (another value of the variable is refused);
 * - that a shared device's step enqueues its kernels and nothing else: the
 *   copying engine's step, with the same kernels, tracks exactly two commands
 *   more on a range step (the parameters' write, the records' read) and three
 *   on an index step (the indices' write);
 * - that sharing changes no bits: gradient steps of one batch and of several
 *   (later batches' indices then go by command, the queue being busy), range
 *   and index steps, fast and deterministic mode, softmax (the fused path) and
 *   MLP, and training steps whose parameters change every step, against an
 *   engine that copies, with the same kernel choice on each device.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_knobs.h"
#include "path_ops.h"
#include "shared_mem.h"
#include "test_problem.h"

#define ROWS 200
#define F 20
#define K 4
#define NIDX 37
#define SMALL 16 /* rows a batch in the several-batch steps */
#define FIRST 64 /* the range steps' first row: a whole block's (deterministic mode's
                    blocks of 32), so that their 100 rows are one batch */

static void make_problem(test_problem *p, hg_model_kind kind)
{
    test_problem_spec spec = {.kind = kind, .rows = ROWS, .inputs = F, .outputs = K,
                              .seed = 4242, .shift = 1.0, .param_scale = 0.4};
    if (kind == HG_MODEL_MLP) {
        spec.nhidden = 1;
        spec.hidden[0] = 24;
    }
    test_problem_make(p, &spec);
}

/* An engine on the test's devices (devices: a selection, NULL all); shared false:
   the no_shared_memory knob; refuse: the refuse_svm knob.  Serial: Oclgrind's
   uninitialised-value plugin needs one host thread. */
static hg_engine *make_engine_svm(const test_problem *p, const char *devices, bool det,
                                  bool shared, bool refuse)
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
    o.batch_rows = 100;
    o.deterministic = det;
    if (det)
        o.block_rows = 32;
    const hg__engine_knobs k = {.serial = true, .no_joint = true, .no_fission = true,
                                .no_shared_memory = !shared, .refuse_svm = refuse};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &p->m, &e, &err) == HG_OK, "create: %s",
                  err.message);
    ck_assert_msg(hg_engine_set_data(e, &p->d, &err) == HG_OK, "set_data: %s", err.message);
    return e;
}

static hg_engine *make_engine(const test_problem *p, bool det, bool shared)
{
    return make_engine_svm(p, NULL, det, shared, false);
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

static bool pocl(const hg__device *d)
{
    return strstr(d->info->platform_name, "Portable") != NULL;
}

/* The device's own answer: CL_DEVICE_SVM_FINE_GRAIN_BUFFER (a failed query, as on
   an OpenCL 1.2 device: no). */
static bool fine_grained(cl_device_id dev)
{
    cl_device_svm_capabilities caps = 0;
    return clGetDeviceInfo(dev, CL_DEVICE_SVM_CAPABILITIES, sizeof caps, &caps, NULL) ==
               CL_SUCCESS &&
           (caps & CL_DEVICE_SVM_FINE_GRAIN_BUFFER);
}

/* d's buffers are shared exactly when want, and then all of them. */
static void expect_sharing(const hg__device *d, bool want, const char *how)
{
    ck_assert_msg(d->shared == want && (d->params_host != NULL) == want &&
                      (d->idxb_host != NULL) == want && d->readback.svm == want,
                  "%s: %s: shared %d, parameters %p, indices %p, records %d; want %d", how,
                  d->what, d->shared, (void *)d->params_host, (void *)d->idxb_host,
                  d->readback.svm, want);
}

START_TEST(shared_where_capable)
{
    test_problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_engine *es = make_engine(&p, false, true), *ec = make_engine(&p, false, false);
    size_t shared = 0;
    float *g = malloc(p.P * sizeof *g);
    ck_assert(g);
    for (size_t i = 0; i < hg_engine_device_count(es); i++) {
        hg_engine *both[2] = {es, ec};
        for (int b = 0; b < 2; b++) { /* an index step: every buffer made */
            only(both[b], i);
            size_t idx[3] = {5, 1, 9};
            double loss = 0;
            hg_error err;
            ck_assert_msg(hg_engine_gradient_rows(both[b], p.params, idx, 3, g, &loss, &err) ==
                              HG_OK, "%s", err.message);
        }
        const hg__device *d = &es->dev[i];
        bool can = hg__shared_capable(d);
        ck_assert_msg(can == (d->info->host_unified_memory && fine_grained(d->cl_dev)),
                      "%s: capable %d", d->what, can);
        /* POCL 3 and later (Debian 12's is 3.1, the test environment's): OpenCL
           3.0, fine-grained buffer SVM, the host's memory */
        if (pocl(d) && atoi(d->info->driver_version) >= 3)
            ck_assert_msg(can, "%s (POCL %s) cannot share", d->what, d->info->driver_version);
        if (strstr(d->info->platform_name, "Oclgrind")) /* OpenCL 1.2: no SVM */
            ck_assert_msg(!can, "%s can share", d->what);
        expect_sharing(d, can, "by default");
        expect_sharing(&ec->dev[i], false, "with the no_shared_memory knob");
        shared += can;
    }
    ck_assert_uint_ge(shared, 1); /* every test environment has POCL 3.1 */
    free(g);
    hg_engine_destroy(es);
    hg_engine_destroy(ec);
    test_problem_free(&p);
}
END_TEST

/* HETGRAD_SHARED_MEMORY: off (and 0) shares nothing, auto as by default, another
   value refused with HG_INVALID_ARGUMENT naming it. */
START_TEST(environment_variable)
{
    test_problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = true;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    const hg__engine_knobs k = {.serial = true};
    const char *values[] = {"off", "0", "auto"};
    for (size_t v = 0; v < 3; v++) {
        ck_assert(setenv("HETGRAD_SHARED_MEMORY", values[v], 1) == 0);
        hg_engine *e = NULL;
        hg_error err;
        ck_assert_msg(hg__engine_create_knobs(&o, &k, &p.m, &e, &err) == HG_OK, "%s: %s", values[v],
                      err.message);
        for (size_t i = 0; i < hg_engine_device_count(e); i++)
            ck_assert_msg(e->dev[i].shared == (v == 2 && hg__shared_capable(&e->dev[i])),
                          "HETGRAD_SHARED_MEMORY=%s: %s shared %d", values[v], e->dev[i].what,
                          e->dev[i].shared);
        hg_engine_destroy(e);
    }
    ck_assert(setenv("HETGRAD_SHARED_MEMORY", "sometimes", 1) == 0);
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_int_eq(hg__engine_create_knobs(&o, &k, &p.m, &e, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(e);
    ck_assert_msg(strstr(err.message, "HETGRAD_SHARED_MEMORY") &&
                      strstr(err.message, "sometimes"), "%s", err.message);
    unsetenv("HETGRAD_SHARED_MEMORY");
    test_problem_free(&p);
}
END_TEST

/* The index list of the index steps: shuffled, one row twice. */
static void shuffled(size_t *idx)
{
    for (size_t r = 0; r < NIDX; r++)
        idx[r] = (r * 41 + 7) % ROWS;
    idx[9] = idx[2];
}

/*
 * Device i alone: a range step of 100 rows from FIRST and an index step, each in one
 * batch and in batches of SMALL rows; g: 4 P floats, l: 4 losses, cmds: the
 * commands each of the one-batch steps tracked.
 */
static void four_steps(const test_problem *p, hg_engine *e, size_t i, float *g, double *l,
                       uint64_t *cmds, const char *how)
{
    only(e, i);
    hg__device *d = &e->dev[i];
    size_t idx[NIDX], planned = d->chunk_rows;
    shuffled(idx);
    hg_error err;
    for (int k = -2; k < 4; k++) { /* two steps first (a device's first steps check
                                      its kernels), then the four */
        d->chunk_rows = k < 2 ? planned : SMALL;
        uint64_t before = d->ncmds;
        int at = k < 0 ? k + 2 : k;
        hg_status st = at % 2 ? hg_engine_gradient_rows(e, p->params, idx, NIDX,
                                                        g + at * p->P, &l[at], &err)
                              : hg_engine_gradient(e, p->params, FIRST, 100, g + at * p->P,
                                                   &l[at], &err);
        ck_assert_msg(st == HG_OK, "%s, step %d: %s", how, k, err.message);
        if (k >= 0 && k < 2)
            cmds[k] = d->ncmds - before;
    }
    d->chunk_rows = planned;
}

/* Three training steps of device i alone (SGD with momentum: every step's
   parameters differ), from p->params; out: the parameters after each. */
static void train_steps(const test_problem *p, hg_engine *e, size_t i, float *out, double *l,
                        const char *how)
{
    only(e, i);
    hg_optimizer_options oo;
    hg_optimizer_options_init(&oo);
    oo.kind = HG_OPTIMIZER_SGD;
    oo.lr = 0.5;
    hg_optimizer *opt = NULL;
    hg_error err;
    ck_assert(hg_optimizer_create(&oo, &p->m, &opt, &err) == HG_OK);
    float *w = malloc(p->P * sizeof *w);
    ck_assert(w);
    memcpy(w, p->params, p->P * sizeof *w);
    size_t idx[NIDX];
    shuffled(idx);
    for (int s = 0; s < 3; s++) {
        hg_status st = s == 1 ? hg_engine_step_rows(e, opt, w, idx, NIDX, &l[s], &err)
                              : hg_engine_step(e, opt, w, 20 * (size_t)s, 90, &l[s], &err);
        ck_assert_msg(st == HG_OK, "%s, training step %d: %s", how, s, err.message);
        memcpy(out + (size_t)s * p->P, w, p->P * sizeof *w);
    }
    free(w);
    hg_optimizer_destroy(opt);
}

/* The gradient of four_steps' first step against the double host reference. */
static void expect_reference(const test_problem *p, const float *g, const char *how)
{
    double *ref = calloc(p->P, sizeof *ref), rloss = 0, dmax = 0, rmax = 0;
    ck_assert(ref);
    hg_error err;
    ck_assert(hg_reference_loss_grad(&p->m, p->params, &p->d, FIRST, 100, NULL, &rloss, ref, &err) ==
              HG_OK);
    for (size_t j = 0; j < p->P; j++) {
        dmax = fmax(dmax, fabs((double)g[j] - ref[j] / 100.0));
        rmax = fmax(rmax, fabs(ref[j] / 100.0));
    }
    ck_assert_msg(dmax <= 1e-4 * rmax, "%s: gradient off the reference by %g (max %g)", how,
                  dmax, rmax);
    free(ref);
}

static void check_same_bits(hg_model_kind kind, bool det)
{
    test_problem p;
    make_problem(&p, kind);
    hg_engine *es = make_engine(&p, det, true), *ec = make_engine(&p, det, false);
    const size_t P = p.P;
    float *gs = malloc(4 * P * sizeof *gs), *gc = malloc(4 * P * sizeof *gc);
    float *ws = malloc(3 * P * sizeof *ws), *wc = malloc(3 * P * sizeof *wc);
    ck_assert(gs && gc && ws && wc);
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(es); i++) {
        if (!es->dev[i].shared)
            continue;
        hg_error err;
        /* the same kernels on both (a first step may race its candidates) */
        hg__kchoice kc = es->dev[i].kc;
        ck_assert_msg(hg__kchoice_apply(es, &es->dev[i], es->dev[i].li, &kc, &err) == HG_OK,
                      "%s", err.message);
        ck_assert_msg(hg__kchoice_apply(ec, &ec->dev[i], ec->dev[i].li, &kc, &err) == HG_OK,
                      "%s", err.message);
        char how[300];
        snprintf(how, sizeof how, "%s, %s, %s", es->dev[i].what,
                 kind == HG_MODEL_MLP ? "MLP" : "softmax", det ? "deterministic" : "fast");
        double ls[4], lc[4];
        uint64_t cs[2], cc[2];
        four_steps(&p, es, i, gs, ls, cs, how);
        four_steps(&p, ec, i, gc, lc, cc, how);
        expect_reference(&p, gs, how);
        for (int k = 0; k < 4; k++)
            ck_assert_msg(memcmp(gs + k * P, gc + k * P, P * sizeof *gs) == 0 && ls[k] == lc[k],
                          "%s: step %d's bits differ shared and copied", how, k);
        ck_assert_msg(cc[0] == cs[0] + 2 && cc[1] == cs[1] + 3,
                      "%s: commands shared %llu and %llu, copied %llu and %llu", how,
                      (unsigned long long)cs[0], (unsigned long long)cs[1],
                      (unsigned long long)cc[0], (unsigned long long)cc[1]);
        char name[2][48];
        hg__kchoice_name(&kc, name[0], sizeof name[0]);
        hg__kchoice_name(&ec->dev[i].kc, name[1], sizeof name[1]);
        ck_assert_msg(!strcmp(name[0], name[1]), "%s: kernels %s and %s", how, name[0],
                      name[1]);
        train_steps(&p, es, i, ws, ls, how);
        train_steps(&p, ec, i, wc, lc, how);
        for (int s = 0; s < 3; s++)
            ck_assert_msg(memcmp(ws + s * P, wc + s * P, P * sizeof *ws) == 0 && ls[s] == lc[s],
                          "%s: training step %d's bits differ shared and copied", how, s);
        ck_assert_msg(memcmp(ws + 2 * P, p.params, P * sizeof *ws) != 0, "%s: no training",
                      how);
        tried++;
    }
    ck_assert_uint_ge(tried, 1);
    hg_engine_destroy(es);
    hg_engine_destroy(ec);
    free(gs);
    free(gc);
    free(ws);
    free(wc);
    test_problem_free(&p);
}

START_TEST(softmax_same_bits_fast) { check_same_bits(HG_MODEL_SOFTMAX, false); }
END_TEST

START_TEST(softmax_same_bits_deterministic) { check_same_bits(HG_MODEL_SOFTMAX, true); }
END_TEST

START_TEST(mlp_same_bits_fast) { check_same_bits(HG_MODEL_MLP, false); }
END_TEST

START_TEST(mlp_same_bits_deterministic) { check_same_bits(HG_MODEL_MLP, true); }
END_TEST

/*
 * A device that can share but whose runtime refuses the SVM allocations (the
 * refuse_svm knob) gets ordinary buffers and copies by commands: the copying
 * engine's bits and exactly its commands, on every step of four_steps.
 */
START_TEST(refused_svm_copies)
{
    test_problem p;
    make_problem(&p, HG_MODEL_SOFTMAX);
    hg_engine *er = make_engine_svm(&p, NULL, false, true, true), *ec = make_engine(&p, false, false);
    const size_t P = p.P;
    float *gr = malloc(4 * P * sizeof *gr), *gc = malloc(4 * P * sizeof *gc);
    ck_assert(gr && gc);
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(er); i++) {
        hg__device *d = &er->dev[i];
        if (!d->shared)
            continue;
        hg_error err;
        hg__kchoice kc = d->kc;
        ck_assert(hg__kchoice_apply(ec, &ec->dev[i], ec->dev[i].li, &kc, &err) == HG_OK);
        double lr[4], lc[4];
        uint64_t cr[2], cc[2];
        four_steps(&p, er, i, gr, lr, cr, d->what);
        four_steps(&p, ec, i, gc, lc, cc, d->what);
        ck_assert_msg(!d->params_host && !d->idxb_host && !d->readback.svm,
                      "%s: shared buffers although refused", d->what);
        ck_assert_msg(memcmp(gr, gc, 4 * P * sizeof *gr) == 0 && !memcmp(lr, lc, sizeof lr),
                      "%s: refused SVM, not the copying engine's bits", d->what);
        ck_assert_msg(cr[0] == cc[0] && cr[1] == cc[1], "%s: commands %llu and %llu, copying "
                      "%llu and %llu", d->what, (unsigned long long)cr[0],
                      (unsigned long long)cr[1], (unsigned long long)cc[0],
                      (unsigned long long)cc[1]);
        tried++;
    }
    ck_assert_uint_ge(tried, 1);
    hg_engine_destroy(er);
    hg_engine_destroy(ec);
    free(gr);
    free(gc);
    test_problem_free(&p);
}
END_TEST

/* An engine of device i of e's list alone (devices "id:hg-...": a name would also select
   another implementation's view of the same CPU, whose name holds this one's, as
   POCL's "pthread-haswell-AMD EPYC ..." holds Intel's "AMD EPYC ..."): shared or
   copying. */
static hg_engine *make_alone(const test_problem *p, const hg_engine *e, size_t i, bool shared)
{
    char expr[300];
    snprintf(expr, sizeof expr, "id:%s", hg_engine_device(e, i)->id);
    hg_engine *a = make_engine_svm(p, expr, false, shared, false);
    ck_assert_uint_eq(hg_engine_device_count(a), 1);
    return a;
}

/* A range step of 100 rows from FIRST on a: its gradient into g, its loss into *l. */
static hg_status range_step(hg_engine *a, const float *params, float *g, double *l,
                            hg_error *err)
{
    return hg_engine_gradient(a, params, FIRST, 100, g, l, err);
}

/*
 * An engine of one sharing device copies the step's parameters into the
 * device while it checks them, and the step's upload then copies nothing
 * (hg__shared_step_target): the same bits as an engine of that device that
 * copies by commands, from the first step on (whose kernel check first runs
 * the device on parameters of its own, so that the step's upload copies
 * again), on
 * gradient and training steps; a parameter that is NaN is refused as before
 * (HG_INVALID_ARGUMENT naming it), and the next step has its own parameters.
 */
START_TEST(one_device_copies_while_checking)
{
    test_problem p;
    make_problem(&p, HG_MODEL_MLP);
    hg_engine *all = make_engine(&p, false, true);
    const size_t P = p.P;
    float *gs = malloc(4 * P * sizeof *gs), *gc = malloc(4 * P * sizeof *gc);
    float *ws = malloc(3 * P * sizeof *ws), *wc = malloc(3 * P * sizeof *wc);
    float *bad = malloc(P * sizeof *bad);
    ck_assert(gs && gc && ws && wc && bad);
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(all); i++) {
        if (!all->dev[i].shared)
            continue;
        hg_engine *es = make_alone(&p, all, i, true), *ec = make_alone(&p, all, i, false);
        hg_error err;
        hg__kchoice kc = es->dev[0].kc;
        ck_assert(hg__kchoice_apply(ec, &ec->dev[0], ec->dev[0].li, &kc, &err) == HG_OK);
        const char *how = es->dev[0].what;
        double ls[4], lc[4];
        ck_assert_msg(range_step(es, p.params, gs, &ls[0], &err) == HG_OK, "%s: %s", how,
                      err.message);
        ck_assert_msg(range_step(ec, p.params, gc, &lc[0], &err) == HG_OK, "%s: %s", how,
                      err.message);
        ck_assert_msg(memcmp(gs, gc, P * sizeof *gs) == 0 && ls[0] == lc[0],
                      "%s: the first step's bits differ copied while checked", how);
        /* the kernel check ran the device on its own parameters in between: copied
           again by the step's upload */
        ck_assert_uint_eq(es->dev[0].precopied, 0);
        expect_reference(&p, gs, how);
        memcpy(bad, p.params, P * sizeof *bad);
        bad[17] = NAN;
        ck_assert_int_eq(range_step(es, bad, gs, &ls[1], &err), HG_INVALID_ARGUMENT);
        ck_assert_msg(strstr(err.message, "params[17] is NaN"), "%s: %s", how, err.message);
        bad[17] = p.params[17] * 0.5f; /* other parameters: the step must not reuse any */
        ck_assert(range_step(es, bad, gs, &ls[1], &err) == HG_OK);
        ck_assert(range_step(ec, bad, gc, &lc[1], &err) == HG_OK);
        ck_assert_msg(memcmp(gs, gc, P * sizeof *gs) == 0 && ls[1] == lc[1],
                      "%s: the step after a refused one differs", how);
        ck_assert_uint_eq(es->dev[0].precopied, 1);
        uint64_t before = es->dev[0].precopied;
        train_steps(&p, es, 0, ws, ls, how);
        train_steps(&p, ec, 0, wc, lc, how);
        for (int s = 0; s < 3; s++)
            ck_assert_msg(memcmp(ws + s * P, wc + s * P, P * sizeof *ws) == 0 && ls[s] == lc[s],
                          "%s: training step %d's bits differ copied while checked", how, s);
        ck_assert_uint_eq(es->dev[0].precopied - before, 3);
        ck_assert_uint_eq(ec->dev[0].precopied, 0);
        hg_engine_destroy(es);
        hg_engine_destroy(ec);
        tried++;
    }
    ck_assert_uint_ge(tried, 1);
    /* an engine of several devices: every device's upload copies */
    for (size_t i = 0; i < hg_engine_device_count(all); i++)
        ck_assert_uint_eq(all->dev[i].precopied, 0);
    hg_engine_destroy(all);
    free(gs);
    free(gc);
    free(ws);
    free(wc);
    free(bad);
    test_problem_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shared_mem");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, shared_where_capable);
    tcase_add_test(tc, environment_variable);
    tcase_add_test(tc, softmax_same_bits_fast);
    tcase_add_test(tc, softmax_same_bits_deterministic);
    tcase_add_test(tc, mlp_same_bits_fast);
    tcase_add_test(tc, mlp_same_bits_deterministic);
    tcase_add_test(tc, one_device_copies_while_checking);
    tcase_add_test(tc, refused_svm_copies);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
