/* SPDX-License-Identifier: MIT */
/*
 * test_readback.c - many batches per device: the records of batch k come
 * back (readback.c) while batch k + 1 runs, through two slots on the device
 * and two host buffers.  Each device alone computes a step as many small
 * batches (d->chunk_rows cut to one block), and the result must be:
 * - in deterministic mode, bit for bit the step computed as one batch;
 * - otherwise, the double host reference within the engine's tolerance.
 * A slot used again before its read was waited for gives a batch's records
 * twice and another's never, which both checks catch.  The fault hook's
 * wait point is still asked once per batch, with the device done.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_knobs.h"

#define ROWS 300   /* 9 blocks of 32 and a short one of 12 */
#define BLOCK 32
#define GRAD_TOL 1e-4
#define FAST_BATCH 28 /* fast mode: batches unaligned to blocks */

static uint64_t lcg_state = 11;
static double uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

typedef struct problem {
    hg_model_desc   m;
    hg_dataset_desc d;
    float          *x, *params;
    int32_t        *l;
    size_t          P;
} problem;

static void make_problem(problem *p, hg_model_kind kind)
{
    memset(p, 0, sizeof *p);
    lcg_state = 11 + (uint64_t)kind;
    size_t in = 13, out = 3;
    p->m = (hg_model_desc){.kind = kind, .inputs = in, .outputs = out};
    if (kind == HG_MODEL_MLP) {
        p->m.nhidden = 1;
        p->m.hidden[0] = 20; /* the wide GEMM program, and the narrow one for 3 */
    }
    p->x = malloc(ROWS * in * sizeof *p->x);
    p->l = malloc(ROWS * sizeof *p->l);
    ck_assert(p->x && p->l);
    for (size_t r = 0; r < ROWS; r++) {
        p->l[r] = (int32_t)(r % out);
        for (size_t j = 0; j < in; j++)
            p->x[r * in + j] = (float)(uniform() * 2 - 1 + (j == r % out ? 1.5 : 0.0));
    }
    p->d = (hg_dataset_desc){ROWS, in, p->x, NULL, p->l};
    p->P = hg_model_param_count(&p->m);
    p->params = malloc(p->P * sizeof *p->params);
    ck_assert(p->params);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)(uniform() - 0.5) * 0.5f;
}

static void free_problem(problem *p)
{
    free(p->x);
    free(p->l);
    free(p->params);
}

/* Wait points asked per device (a hook that never fails). */
typedef struct counter {
    size_t waits[8];
} counter;

static bool count_hook(void *user, size_t device, uint64_t step, hg_fault_point point)
{
    (void)step;
    counter *c = user;
    if (point == HG_FAULT_WAIT && device < 8)
        c->waits[device]++;
    return false;
}

static hg_engine *make_engine(const problem *p, bool det)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.deterministic = det;
    o.block_rows = BLOCK;
    /* Oclgrind's uninitialised-value plugin needs one host thread */
    const hg__engine_knobs k = {.serial = true, .no_joint = true, .no_fission = true};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &p->m, &e, &err) == HG_OK, "create: %s",
                  err.message);
    ck_assert_msg(hg_engine_set_data(e, &p->d, &err) == HG_OK, "set_data: %s", err.message);
    ck_assert_uint_le(hg_engine_device_count(e), 8);
    return e;
}

/* Device i alone computes the whole set (range step) or idx (index step). */
static void step_alone(hg_engine *e, const problem *p, size_t i, const size_t *idx, size_t n,
                       float *g, double *loss)
{
    double w[8] = {0};
    w[i] = 1.0;
    hg_error err;
    ck_assert(hg_engine_set_weights(e, w, hg_engine_device_count(e), &err) == HG_OK);
    hg_status st = idx ? hg_engine_gradient_rows(e, p->params, idx, n, g, loss, &err)
                       : hg_engine_gradient(e, p->params, 0, n, g, loss, &err);
    ck_assert_msg(st == HG_OK, "step on device %zu: %s", i, err.message);
}

static void expect_reference(const problem *p, const size_t *idx, size_t n, const float *g,
                             double loss, const char *what)
{
    double *ref = calloc(p->P, sizeof *ref), rloss = 0;
    hg_error err;
    ck_assert(ref);
    ck_assert(hg_reference_loss_grad(&p->m, p->params, &p->d, 0, n, idx, &rloss, ref, &err) ==
              HG_OK);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < p->P; i++) {
        maxref = fmax(maxref, fabs(ref[i] / (double)n));
        maxdiff = fmax(maxdiff, fabs((double)g[i] - ref[i] / (double)n));
    }
    ck_assert_msg(maxdiff <= GRAD_TOL * maxref, "%s: gradient error %.3g (max |ref| %.3g)",
                  what, maxdiff, maxref);
    ck_assert_msg(fabs(loss - rloss / (double)n) <= 1e-5 * fabs(rloss / (double)n),
                  "%s: loss %.9g vs %.9g", what, loss, rloss / (double)n);
    free(ref);
}

/* Every device computes its steps in batches of at most `rows` rows from now on
   (SIZE_MAX: as many as set_data planned, more than ROWS). */
static void batch_rows(hg_engine *e, const size_t *planned, size_t rows)
{
    for (size_t i = 0; i < e->ndev; i++)
        e->dev[i].chunk_rows = rows == SIZE_MAX ? planned[i] : rows;
}

/*
 * Each device alone: range and index steps in many batches, against the
 * reference, and in deterministic mode bit for bit against the same step in
 * one batch.  Then once more with a fault hook that never fails: its wait
 * point asked once per batch, and the same result.
 */
static void check_model(hg_model_kind kind, bool det)
{
    problem p;
    make_problem(&p, kind);
    hg_engine *e = make_engine(&p, det);
    size_t planned[8], small = det ? BLOCK : FAST_BATCH, batches = ROWS / small + 1;
    for (size_t i = 0; i < e->ndev; i++) {
        planned[i] = e->dev[i].chunk_rows;
        ck_assert_uint_ge(planned[i], ROWS);
    }
    size_t *idx = malloc(ROWS * sizeof *idx);
    float *g1 = malloc(p.P * sizeof *g1), *gm = malloc(p.P * sizeof *gm);
    ck_assert(idx && g1 && gm);
    for (size_t r = 0; r < ROWS; r++)
        idx[r] = (r * 89 + 7) % ROWS; /* every row once, shuffled */
    counter c;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        for (int k = 0; k < 3; k++) {
            const size_t *ix = k == 1 ? idx : NULL;
            bool hooked = k == 2;
            char what[256];
            snprintf(what, sizeof what, "%s, %s step%s, %s", e->dev[i].what,
                     ix ? "index" : "range", hooked ? " with a fault hook" : "",
                     det ? "deterministic" : "fast");
            e->fault_hook = hooked ? count_hook : NULL;
            e->fault_user = hooked ? &c : NULL;
            double l1 = 0, lm = 0;
            size_t before = c.waits[i];
            batch_rows(e, planned, small);
            step_alone(e, &p, i, ix, ROWS, gm, &lm);
            hg_device_step ds;
            ck_assert(hg_engine_last_step(e, i, &ds) == HG_OK);
            ck_assert_msg(ds.pieces == batches, "%s: %zu records for %zu batches", what,
                          ds.pieces, batches);
            ck_assert_msg(c.waits[i] - before == (hooked ? batches : 0),
                          "%s: %zu wait points for %zu batches", what, c.waits[i] - before,
                          batches);
            expect_reference(&p, ix, ROWS, gm, lm, what);
            if (!det)
                continue;
            batch_rows(e, planned, SIZE_MAX);
            step_alone(e, &p, i, ix, ROWS, g1, &l1);
            ck_assert_msg(memcmp(g1, gm, p.P * sizeof *g1) == 0 && l1 == lm,
                          "%s: %zu batches are not bit-identical to one (loss %.17g vs %.17g)",
                          what, batches, lm, l1);
        }
    }
    e->fault_hook = NULL;
    free(g1);
    free(gm);
    free(idx);
    hg_engine_destroy(e);
    free_problem(&p);
}

/*
 * A step of one batch does not copy its records: the slot's host buffer it
 * was read into becomes the records the host sums (d->res), and the slot
 * takes the records' old buffer.  Steps of one batch after steps of many,
 * alternating slots, each equal to the first one-batch step bit for bit.
 * On a device with host-unified memory the slots are the device buffer's own
 * host block (CL_MEM_USE_HOST_PTR), the records lent from it: a step of many
 * batches after a loan copies the lent records out before a batch writes
 * that slot again (else its bits change), and the next one-batch step lends
 * again.
 */
START_TEST(one_batch_not_copied)
{
    problem p;
    make_problem(&p, HG_MODEL_MLP);
    hg_engine *e = make_engine(&p, true);
    size_t planned[8];
    for (size_t i = 0; i < e->ndev; i++)
        planned[i] = e->dev[i].chunk_rows;
    float *g0 = malloc(p.P * sizeof *g0), *g = malloc(p.P * sizeof *g);
    ck_assert(g0 && g);
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg__device *d = &e->dev[i];
        double l0 = 0, l = 0;
        batch_rows(e, planned, SIZE_MAX);
        step_alone(e, &p, i, NULL, ROWS, g0, &l0);
        expect_reference(&p, NULL, ROWS, g0, l0, d->what);
        for (int k = 0; k < 6; k++) {
            bool many = k == 2; /* a step of many batches in between */
            batch_rows(e, planned, many ? BLOCK : SIZE_MAX);
            const float *slots[2] = {d->readback.host[0], d->readback.host[1]};
            step_alone(e, &p, i, NULL, ROWS, g, &l);
            ck_assert_msg(memcmp(g, g0, p.P * sizeof *g) == 0 && l == l0,
                          "%s, step %d: the bits changed", d->what, k);
            if (!many)
                ck_assert_msg(d->res == slots[0] || d->res == slots[1],
                              "%s, step %d: one batch's records were copied", d->what, k);
            const char *block = d->readback.block;
            if (!d->info->host_unified_memory) {
                ck_assert_msg(!block, "%s: slots on a host block without unified memory",
                              d->what);
                continue;
            }
            ck_assert_msg(block && (const char *)slots[0] == block &&
                              (const char *)slots[1] > block,
                          "%s, step %d: host-unified memory, but the slots are not the "
                          "device buffer's host block", d->what, k);
            ck_assert_msg(many ? !d->readback.borrowed
                               : d->readback.borrowed && d->res == slots[d->readback.lent],
                          "%s, step %d: %s", d->what, k,
                          many ? "records of many batches still lent from a slot"
                               : "one batch's records not lent from its slot");
        }
    }
    free(g0);
    free(g);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

START_TEST(softmax_deterministic) { check_model(HG_MODEL_SOFTMAX, true); }
END_TEST

START_TEST(mlp_deterministic) { check_model(HG_MODEL_MLP, true); }
END_TEST

START_TEST(softmax_fast) { check_model(HG_MODEL_SOFTMAX, false); }
END_TEST

START_TEST(mlp_fast) { check_model(HG_MODEL_MLP, false); }
END_TEST

int main(void)
{
    Suite *s = suite_create("readback");
    TCase *tc = tcase_create("many batches");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, softmax_deterministic);
    tcase_add_test(tc, mlp_deterministic);
    tcase_add_test(tc, softmax_fast);
    tcase_add_test(tc, mlp_fast);
    tcase_add_test(tc, one_batch_not_copied);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
