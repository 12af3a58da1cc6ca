/* SPDX-License-Identifier: MIT */
/*
 * test_train_step.c - hg_engine_step[_rows], one training step in one call: on every
 * test device alone (one record: its mean goes straight into the update,
 * hg__step_update), on all of them together and in deterministic mode
 * (several records: the mean of their double sums does), with SGD and Adam, weight
 * decay on, a step of 100 rows (a mean that divides) and one of 128 (one that
 * multiplies), each step must leave the same bits in the parameters, the loss and the
 * optimizer's state as hg_engine_gradient_rows followed by hg_optimizer_step, also
 * with the update split over the caller's thread and device workers (update.c: 2 to 4
 * parts).  A call that fails (no optimizer, another model's, a NaN parameter, a row
 * outside the data) changes neither the parameters nor the optimizer.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_knobs.h"
#include "test_problem.h"
#include "workers.h"

#define ROWS 600
#define STEPS 3

/*
 * Every test device, driven by one host thread (serial): Oclgrind's uninitialised-value
 * plugin crashes when a second host thread drives it (docs/testing.md), and the
 * several-records case runs every device in one step.
 */
static hg_engine *make_engine_parts(const test_problem *p, bool det, unsigned parts)
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
        o.block_rows = 32; /* several records to a step */
    hg_engine *e = NULL;
    hg_error err;
    const hg__engine_knobs k = {.serial = true, .update_parts = parts};
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &p->m, &e, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_msg(hg_engine_set_data(e, &p->d, &err) == HG_OK, "%s", err.message);
    return e;
}

/* The update on the caller's thread alone, as this model's size has it (update.c). */
static hg_engine *make_engine(const test_problem *p, bool det)
{
    return make_engine_parts(p, det, 0);
}

/* Weight 1 on device i, 0 on the others; i == SIZE_MAX: 1 on every device. */
static void weights(hg_engine *e, size_t i)
{
    size_t n = hg_engine_device_count(e);
    double w[16];
    ck_assert_uint_le(n, 16);
    for (size_t k = 0; k < n; k++)
        w[k] = i == SIZE_MAX || k == i ? 1 : 0;
    hg_error err;
    ck_assert_msg(hg_engine_set_weights(e, w, n, &err) == HG_OK, "%s", err.message);
}

static hg_optimizer *optimizer(const hg_model_desc *m, hg_optimizer_kind kind)
{
    hg_optimizer_options oo;
    hg_optimizer_options_init(&oo);
    oo.kind = kind;
    oo.lr = kind == HG_OPTIMIZER_ADAM ? 0.01 : 0.05;
    oo.weight_decay = 0.01;
    hg_optimizer *o = NULL;
    hg_error err;
    ck_assert_msg(hg_optimizer_create(&oo, m, &o, &err) == HG_OK, "%s", err.message);
    return o;
}

static void same_state(const hg_optimizer *a, const hg_optimizer *b, const char *what)
{
    size_t n = hg_optimizer_state_count(a);
    ck_assert_uint_eq(n, hg_optimizer_state_count(b));
    ck_assert(hg_optimizer_steps(a) == hg_optimizer_steps(b));
    double *sa = malloc(n * sizeof *sa), *sb = malloc(n * sizeof *sb);
    ck_assert(sa && sb);
    hg_optimizer_get_state(a, sa);
    hg_optimizer_get_state(b, sb);
    ck_assert_msg(memcmp(sa, sb, n * sizeof *sa) == 0, "%s: optimizer state differs", what);
    free(sa);
    free(sb);
}

/* The minibatch of step s: n rows from all over the data set, out of order. */
static void minibatch(size_t *idx, size_t n, size_t s)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = (i * 389 + s * 97 + 5) % ROWS;
}

/* The records of e's last step, over its devices. */
static size_t records(const hg_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->ndev; i++)
        n += e->dev[i].npieces_run;
    return n;
}

/*
 * STEPS steps of n rows on e as it is split now, both ways, from p's parameters:
 * the same bits.  Returns the most records a step of hg_engine_step had (one: the
 * record's mean went straight into the update; more: the double sums' mean did).
 */
static size_t both_ways(hg_engine *e, const test_problem *p, hg_optimizer_kind kind, size_t n,
                      const char *what)
{
    size_t P = p->P;
    float *pa = malloc(P * sizeof *pa), *pb = malloc(P * sizeof *pb), *g = malloc(P * sizeof *g);
    size_t idx[128];
    ck_assert(pa && pb && g && n <= 128);
    memcpy(pa, p->params, P * sizeof *pa);
    memcpy(pb, p->params, P * sizeof *pb);
    hg_optimizer *oa = optimizer(&p->m, kind), *ob = optimizer(&p->m, kind);
    size_t most = 0;
    for (size_t s = 0; s < STEPS; s++) {
        minibatch(idx, n, s);
        double la = NAN, lb = NAN;
        hg_error err;
        ck_assert_msg(hg_engine_gradient_rows(e, pa, idx, n, g, &la, &err) == HG_OK, "%s: %s",
                      what, err.message);
        hg_optimizer_step(oa, pa, g);
        ck_assert_msg(hg_engine_step_rows(e, ob, pb, idx, n, &lb, &err) == HG_OK, "%s: %s",
                      what, err.message);
        most = records(e) > most ? records(e) : most;
        ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "%s, step %zu: loss %.17g against "
                      "%.17g", what, s, lb, la);
        ck_assert_msg(memcmp(pa, pb, P * sizeof *pa) == 0, "%s, step %zu: parameters differ",
                      what, s);
        same_state(oa, ob, what);
    }
    /* the range form: rows [7, 7 + n) */
    double la = NAN, lb = NAN;
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, pa, 7, n, g, &la, &err) == HG_OK, "%s", err.message);
    hg_optimizer_step(oa, pa, g);
    ck_assert_msg(hg_engine_step(e, ob, pb, 7, n, &lb, &err) == HG_OK, "%s", err.message);
    most = records(e) > most ? records(e) : most;
    ck_assert(memcmp(&la, &lb, sizeof la) == 0);
    ck_assert_msg(memcmp(pa, pb, P * sizeof *pa) == 0, "%s, range step: parameters differ",
                  what);
    same_state(oa, ob, what);
    hg_optimizer_destroy(oa);
    hg_optimizer_destroy(ob);
    free(pa);
    free(pb);
    free(g);
    return most;
}

static void check_model(hg_model_kind kind)
{
    test_problem p;
    test_problem_spec spec = {.kind = kind, .rows = ROWS, .inputs = 20, .outputs = 4,
                              .nhidden = kind == HG_MODEL_MLP, .hidden = {16},
                              .seed = 5, .shift = 1.5, .param_scale = 0.4};
    test_problem_make(&p, &spec);
    hg_engine *e = make_engine(&p, false);
    size_t nd = hg_engine_device_count(e);
    const hg_optimizer_kind kinds[2] = {HG_OPTIMIZER_SGD, HG_OPTIMIZER_ADAM};
    const size_t sizes[2] = {100, 128};
    char what[160];
    for (size_t i = 0; i < nd; i++) {
        weights(e, i);
        for (int k = 0; k < 2; k++)
            for (int z = 0; z < 2; z++) {
                snprintf(what, sizeof what, "%s alone, %s, %zu rows",
                         hg_engine_device(e, i)->name, k ? "Adam" : "SGD", sizes[z]);
                ck_assert_msg(both_ways(e, &p, kinds[k], sizes[z], what) == 1,
                              "%s: more than one record a step", what);
            }
    }
    if (nd > 1) {
        weights(e, SIZE_MAX);
        for (int k = 0; k < 2; k++) {
            snprintf(what, sizeof what, "%zu devices, %s", nd, k ? "Adam" : "SGD");
            ck_assert_msg(both_ways(e, &p, kinds[k], 128, what) > 1, "%s: one record", what);
        }
    }
    hg_engine_destroy(e);
    /* deterministic mode: blocks of 32, so several records even on one device */
    e = make_engine(&p, true);
    weights(e, 0);
    ck_assert(both_ways(e, &p, HG_OPTIMIZER_ADAM, 100, "deterministic, blocks of 32") > 1);
    hg_engine_destroy(e);
    test_problem_free(&p);
}

START_TEST(softmax_steps_match_gradient_then_update)
{
    check_model(HG_MODEL_SOFTMAX);
}
END_TEST

START_TEST(mlp_steps_match_gradient_then_update)
{
    check_model(HG_MODEL_MLP);
}
END_TEST

/* An MLP of 20 x 16 + 16 + 16 x 4 + 4 = 404 parameters (the update tests). */
static const test_problem_spec SMALL_MLP = {.kind = HG_MODEL_MLP, .rows = ROWS, .inputs = 20,
                                            .outputs = 4, .nhidden = 1, .hidden = {16},
                                            .seed = 7, .shift = 1.5, .param_scale = 0.4};

/*
 * The update in 2, 3 and 4 parts at once (as far as the engine has workers: one a
 * device), the caller's and the workers' (a serial engine creates no worker for its
 * devices: each thread the pool has is the update's): the bits of hg_optimizer_step on
 * one thread, one record a step (one device) and several (every device).  The MLP has
 * 20 x 16 + 16 + 16 x 4 + 4 = 404 parameters: ranges of 256 and 148 (64-parameter
 * boundaries), and a third range empty.
 */
START_TEST(update_parts_same_bits)
{
    test_problem p;
    test_problem_make(&p, &SMALL_MLP);
    const hg_optimizer_kind kinds[2] = {HG_OPTIMIZER_SGD, HG_OPTIMIZER_ADAM};
    char what[160];
    for (unsigned parts = 2; parts <= 4; parts++) {
        hg_engine *e = make_engine_parts(&p, false, parts);
        size_t nd = hg_engine_device_count(e);
        for (size_t w = 0; w < (nd > 1 ? 2u : 1u); w++) {
            weights(e, w ? SIZE_MAX : 0);
            for (int k = 0; k < 2; k++) {
                snprintf(what, sizeof what, "update in %u parts, %s, %s", parts,
                         w ? "every device" : "one device", k ? "Adam" : "SGD");
                both_ways(e, &p, kinds[k], 128, what);
            }
        }
        ck_assert_msg(hg__workers_threads(e->pool) >= 1, "%u parts: no worker took one",
                      parts);
        hg_engine_destroy(e);
    }
    test_problem_free(&p);
}
END_TEST

/* A POCL device of e (every test set has one): the trial below needs its speed. */
static size_t pocl_device(hg_engine *e)
{
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        if (strstr(hg_engine_device(e, i)->platform_name, "Portable"))
            return i;
    ck_abort_msg("no POCL device");
    return 0;
}

/*
 * n Adam steps of 128 rows on e's POCL device alone, through hg_engine_step_rows and
 * through hg_engine_gradient_rows + hg_optimizer_step: the same parameters at the end.
 */
static void adam_steps(hg_engine *e, const test_problem *p, size_t n)
{
    weights(e, pocl_device(e));
    float *pa = malloc(p->P * sizeof *pa), *pb = malloc(p->P * sizeof *pb),
          *g = malloc(p->P * sizeof *g);
    ck_assert(pa && pb && g);
    memcpy(pa, p->params, p->P * sizeof *pa);
    memcpy(pb, p->params, p->P * sizeof *pb);
    hg_optimizer *oa = optimizer(&p->m, HG_OPTIMIZER_ADAM),
                 *ob = optimizer(&p->m, HG_OPTIMIZER_ADAM);
    size_t idx[128];
    hg_error err;
    double loss;
    for (size_t s = 0; s < n; s++) {
        minibatch(idx, 128, s);
        ck_assert_msg(hg_engine_gradient_rows(e, pa, idx, 128, g, &loss, &err) == HG_OK, "%s",
                      err.message);
        hg_optimizer_step(oa, pa, g);
        ck_assert_msg(hg_engine_step_rows(e, ob, pb, idx, 128, &loss, &err) == HG_OK, "%s",
                      err.message);
    }
    ck_assert_msg(memcmp(pa, pb, p->P * sizeof *pa) == 0, "%zu steps: parameters differ", n);
    same_state(oa, ob, "Adam steps");
    hg_optimizer_destroy(oa);
    hg_optimizer_destroy(ob);
    free(pa);
    free(pb);
    free(g);
}

/*
 * The measured split (update.c), without the knob: a model under 65,536 parameters is
 * never split, so 100 updates start no worker (a serial engine starts none for its
 * devices); one over it (20 inputs, 4,000 hidden units, 4 classes: 100,004 parameters)
 * is tried after 64 updates for 24, in blocks of 4 split and not, 9 steps of each
 * timed, and then holds a verdict, one part or all, until its next trial 1,024 updates
 * on.  On a host with one usable CPU nothing is ever split.  The bits are
 * hg_optimizer_step's throughout.
 */
START_TEST(update_trial)
{
    test_problem p;
    test_problem_make(&p, &SMALL_MLP);
    hg_engine *e = make_engine(&p, false);
    adam_steps(e, &p, 100);
    ck_assert_uint_eq(hg__workers_threads(e->pool), 0);
    hg_engine_destroy(e);
    test_problem_free(&p);

    test_problem_spec large = SMALL_MLP;
    large.hidden[0] = 4000;
    test_problem_make(&p, &large);
    ck_assert_uint_eq(p.P, 100004);
    e = make_engine(&p, false);
    adam_steps(e, &p, 64 + 24);
    const hg__update_trials *u = &e->upd[1]; /* Adam's */
    ck_assert(u->updates == 64 + 24);
    if (e->host_cpus >= 2) {
        ck_assert_uint_ge(hg__workers_threads(e->pool), 1);
        ck_assert_uint_eq(u->n[0], HG__UPDATE_SAMPLES);
        ck_assert_uint_eq(u->n[1], HG__UPDATE_SAMPLES);
        ck_assert(u->next_trial == 64 + 1024);
        size_t most = e->ndev + 1 < 4 ? e->ndev + 1 : 4;
        most = (size_t)e->host_cpus < most ? (size_t)e->host_cpus : most;
        ck_assert_msg(u->parts == 1 || u->parts == most, "verdict %zu parts", u->parts);
    } else {
        ck_assert_uint_eq(hg__workers_threads(e->pool), 0);
    }
    ck_assert(e->upd[0].updates == 0); /* SGD's: untouched */
    hg_engine_destroy(e);
    test_problem_free(&p);
}
END_TEST

/* A failed call leaves the parameters and the optimizer as they were. */
START_TEST(failures_change_nothing)
{
    test_problem p;
    test_problem_spec spec = {.kind = HG_MODEL_SOFTMAX, .rows = ROWS, .inputs = 20,
                              .outputs = 4, .seed = 9, .shift = 1.5, .param_scale = 0.4};
    test_problem_make(&p, &spec);
    hg_engine *e = make_engine(&p, false);
    weights(e, 0);
    hg_optimizer *o = optimizer(&p.m, HG_OPTIMIZER_ADAM);
    hg_model_desc other = p.m;
    other.outputs = 5;
    hg_optimizer *wrong = optimizer(&other, HG_OPTIMIZER_SGD);
    float *params = malloc(p.P * sizeof *params), *keep = malloc(p.P * sizeof *keep);
    ck_assert(params && keep);
    memcpy(params, p.params, p.P * sizeof *params);
    size_t idx[4] = {0, 1, 2, ROWS}, good[4] = {0, 1, 2, 3};
    hg_error err;
    double loss = 123;
    /* one good step first: the optimizer has state to lose */
    ck_assert_msg(hg_engine_step_rows(e, o, params, good, 4, &loss, &err) == HG_OK, "%s",
                  err.message);
    memcpy(keep, params, p.P * sizeof *keep);
    ck_assert(hg_optimizer_steps(o) == 1);
    loss = 123;
    ck_assert_int_eq(hg_engine_step_rows(e, NULL, params, good, 4, &loss, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "NULL optimizer"), "%s", err.message);
    ck_assert_int_eq(hg_engine_step_rows(e, wrong, params, good, 4, &loss, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "optimizer was made for 105 parameters"), "%s",
                  err.message);
    ck_assert_int_eq(hg_engine_step_rows(e, o, params, idx, 4, &loss, &err), HG_RANGE);
    ck_assert_int_eq(hg_engine_step(e, o, params, ROWS - 2, 4, &loss, &err), HG_RANGE);
    ck_assert_int_eq(hg_engine_step_rows(e, o, params, NULL, 4, &loss, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_step_rows(e, o, NULL, good, 4, &loss, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_step_rows(NULL, o, params, good, 4, &loss, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_engine_step_rows(e, o, params, good, 0, &loss, &err),
                     HG_INVALID_ARGUMENT);
    params[3] = NAN;
    ck_assert_int_eq(hg_engine_step_rows(e, o, params, good, 4, &loss, &err),
                     HG_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "params[3] is NaN"), "%s", err.message);
    params[3] = keep[3];
    ck_assert(memcmp(params, keep, p.P * sizeof *params) == 0);
    ck_assert(hg_optimizer_steps(o) == 1);
    ck_assert(loss == 123);
    /* and the engine still steps */
    ck_assert_msg(hg_engine_step_rows(e, o, params, good, 4, &loss, &err) == HG_OK, "%s",
                  err.message);
    ck_assert(hg_optimizer_steps(o) == 2 && isfinite(loss));
    free(params);
    free(keep);
    hg_optimizer_destroy(o);
    hg_optimizer_destroy(wrong);
    hg_engine_destroy(e);
    test_problem_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_step");
    TCase *tc = tcase_create("devices");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, softmax_steps_match_gradient_then_update);
    tcase_add_test(tc, mlp_steps_match_gradient_then_update);
    tcase_add_test(tc, failures_change_nothing);
    tcase_add_test(tc, update_parts_same_bits);
    tcase_add_test(tc, update_trial);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
