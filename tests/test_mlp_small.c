/* SPDX-License-Identifier: MIT */
/*
 * test_mlp_small.c - the MLP's small-batch path (src/exec/mlp_small.c,
 * cl/mlp_small.cl): against the double host reference on every test device
 * (POCL pthread and basic; Oclgrind is not offered it: kchoice.c), the tiled path's bits
 * exactly for every tile it is offered with (fast and deterministic mode,
 * several records a batch, index steps read in place), offered only where it
 * fits (a known batch size, one hidden layer, at most 64 classes), one
 * candidate per tiled shape, raced by calibration at the batch size, a broken
 * build of it excluded, and a prediction on it running on its GEMM with the
 * tiled bits; and the order a GEMM hands out its blocks in (gemm.cl's flag
 * 16) and the first weight gradient on X^T or on X in place changing no bits.  Checked through the engine's internals, never through
 * timings.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_knobs.h"
#include "path_ops.h"
#include "program.h"
#include "test_expect.h"

#define ROWS 300
#define F 20
#define H 24 /* one 16-wide tile and a partial one */
#define K 4

typedef struct problem {
    hg_model_desc m;
    float *x;
    int32_t *l;
    float *params;
    size_t P;
} problem;

static void make_problem(problem *p, size_t hidden, size_t classes)
{
    memset(p, 0, sizeof *p);
    p->m = (hg_model_desc){.kind = HG_MODEL_MLP, .inputs = F, .outputs = classes};
    p->m.nhidden = 1;
    p->m.hidden[0] = hidden;
    p->P = hg_model_param_count(&p->m);
    p->x = malloc(ROWS * F * sizeof *p->x);
    p->l = malloc(ROWS * sizeof *p->l);
    p->params = malloc(p->P * sizeof *p->params);
    uint32_t s = 777u;
    for (size_t i = 0; i < ROWS * F; i++) {
        s = s * 1664525u + 1013904223u;
        p->x[i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
    }
    for (size_t i = 0; i < ROWS; i++)
        p->l[i] = (int32_t)((i * 13) % classes);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)((double)((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.4f;
}

static void free_problem(problem *p)
{
    free(p->x);
    free(p->l);
    free(p->params);
}

/* An engine on devices (NULL: all) for batches of batch rows with knobs, loading
   and exporting prebuilt binaries in bins (NULL: none), its data set p's. */
static hg_engine *make_engine_bins(problem *p, size_t batch, bool det, const char *devices,
                                    const hg__engine_knobs *knobs, const char *bins)
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
        o.block_rows = 64;
    o.binary_dir = bins;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, knobs, &p->m, &e, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc ds = {ROWS, F, p->x, NULL, p->l};
    ck_assert_msg(hg_engine_set_data(e, &ds, &err) == HG_OK, "%s", err.message);
    return e;
}

static hg_engine *make_engine_knobs(problem *p, size_t batch, bool det, const char *devices,
                                     const hg__engine_knobs *knobs)
{
    return make_engine_bins(p, batch, det, devices, knobs, NULL);
}

static hg_engine *make_engine(problem *p, size_t batch, bool det, const char *devices)
{
    return make_engine_knobs(p, batch, det, devices, NULL);
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

/* The tiled shapes, in kchoice.c's order: the small-batch path is offered with each.
   A CPU device with 8-float vectors (AVX2) is offered the second list only. */
static const unsigned all_shapes[][2] = {{16, 16}, {24, 16}, {8, 16}, {8, 32}, {12, 32}, {6, 16}};
static const unsigned avx2_shapes[][2] = {{6, 16}, {8, 16}};

/* Device i's tiled shapes into *s, their count returned (written from the devices'
   own properties, not through kchoice.c's predicate). */
static size_t shapes_of(const hg_engine *e, size_t i, const unsigned (**s)[2])
{
    const hg__device *d = &e->dev[i];
    bool avx2 = d->info->type == HG_DEVICE_CPU && !test_on_oclgrind(e, i) && d->float_width == 8;
    *s = avx2 ? avx2_shapes : all_shapes;
    return avx2 ? sizeof avx2_shapes / sizeof avx2_shapes[0]
                : sizeof all_shapes / sizeof all_shapes[0];
}

/* The small-batch candidates of device i (kchoice s = 1 with c = 0). */
static size_t small_candidates(hg_engine *e, size_t i, hg__kchoice *out)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(e, &e->dev[i], c), n = 0;
    for (size_t k = 0; k < nc; k++)
        if (c[k].path == HG__PATH_OWN && c[k].c == 0 && c[k].s)
            out[n++] = c[k];
    return n;
}

static void use(hg_engine *e, size_t i, const hg__kchoice *k)
{
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    hg_error err;
    ck_assert_msg(hg__kchoice_apply(e, &e->dev[i], e->dev[i].li, k, &err) == HG_OK, "%s: %s",
                  name, err.message);
}

/* The step was computed by candidate k on the small-batch path, not by a kernel
   that replaced it after its first-use check (the tiled path's bits, which it
   must equal, would hide that). */
static void still_small(const hg_engine *e, size_t i, const hg__kchoice *k, const char *how)
{
    ck_assert_msg(e->dev[i].ops == &hg__ops_mlp_small && hg__kchoice_same(&e->dev[i].kc, k),
                  "%s: replaced", how);
}

/* The engine's mean gradient on rows [first, first + count) against the reference
   (the tolerances of test_engine.c). */
static void expect_reference(problem *p, hg_engine *e, size_t first, size_t count, float *grad,
                             const char *how)
{
    double loss = 0, rloss = 0;
    double *ref = calloc(p->P, sizeof *ref);
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, p->params, first, count, grad, &loss, &err) == HG_OK,
                  "%s: %s", how, err.message);
    hg_dataset_desc ds = {ROWS, F, p->x, NULL, p->l};
    ck_assert(hg_reference_loss_grad(&p->m, p->params, &ds, first, count, NULL, &rloss, ref,
                                     &err) == HG_OK);
    double dmax = 0, rmax = 0;
    for (size_t k = 0; k < p->P; k++) {
        double r = ref[k] / (double)count;
        double d = fabs((double)grad[k] - r);
        dmax = d > dmax || isnan(d) ? d : dmax;
        rmax = fabs(r) > rmax ? fabs(r) : rmax;
    }
    ck_assert_msg(dmax <= 1e-4 * rmax, "%s: gradient off by %g (max %g)", how, dmax, rmax);
    ck_assert_msg(fabs(loss - rloss / (double)count) <= 1e-5 * fabs(rloss / (double)count),
                  "%s: loss %g, reference %g", how, loss, rloss / (double)count);
    free(ref);
}

static const size_t steps[][2] = {{0, 40}, {3, 37}, {10, 7}, {1, 1}, {0, ROWS}};
#define NSTEPS (sizeof steps / sizeof steps[0])

/* The engine's mean gradient and loss on an index step (rows idx[0 .. n)). */
static void index_step(problem *p, hg_engine *e, const size_t *idx, size_t n, float *grad,
                       double *loss, const char *how)
{
    hg_error err;
    ck_assert_msg(hg_engine_gradient_rows(e, p->params, idx, n, grad, loss, &err) == HG_OK,
                  "%s: %s", how, err.message);
}

/*
 * On every device and for every tile it is offered with: the small-batch
 * path matches the reference on steps of several sizes, and gives the tiled
 * path's bits with the same tile (the same operations in the same order),
 * on consecutive rows and on an index step (rows read in place), in fast
 * mode and in deterministic mode (blocks of 64 rows: several records a
 * batch, an unaligned range).  og: on Oclgrind only, offered the path by the
 * small_on_oclgrind knob (without it, Oclgrind is offered none).
 */
static void check_against_tiled_on(bool det, size_t hidden, size_t classes, bool og)
{
    problem p;
    make_problem(&p, hidden, classes);
    const hg__engine_knobs knobs = {.small_on_oclgrind = og};
    hg_engine *e = make_engine_knobs(&p, 40, det, NULL, &knobs);
    float *gs = malloc(p.P * sizeof *gs), *gt = malloc(p.P * sizeof *gt);
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg__kchoice c[HG__MAX_CANDIDATES];
        if (test_on_oclgrind(e, i) != og) {
            if (!og) /* not offered there (kchoice.c says why) */
                ck_assert_uint_eq(small_candidates(e, i, c), 0);
            continue;
        }
        const unsigned (*shapes)[2];
        size_t nc = small_candidates(e, i, c);
        ck_assert_uint_eq(nc, shapes_of(e, i, &shapes));
        only(e, i);
        for (size_t t = 0; t < nc; t++) {
            hg__kchoice tiled = {HG__PATH_OWN, c[t].a, c[t].b, 0, 0, 0};
            for (size_t s = 0; s < NSTEPS; s++) {
                char how[200];
                snprintf(how, sizeof how, "mlp-small %ux%u on %s (%s, %zux%zu), rows %zu+%zu",
                         c[t].a, c[t].b, hg_engine_device(e, i)->name,
                         det ? "deterministic" : "fast", hidden, classes, steps[s][0],
                         steps[s][1]);
                use(e, i, &c[t]);
                ck_assert(e->dev[i].ops == &hg__ops_mlp_small);
                expect_reference(&p, e, steps[s][0], steps[s][1], gs, how);
                still_small(e, i, &c[t], how);
                use(e, i, &tiled);
                ck_assert(e->dev[i].ops == &hg__ops_tiled);
                expect_reference(&p, e, steps[s][0], steps[s][1], gt, how);
                ck_assert_msg(memcmp(gs, gt, p.P * sizeof *gs) == 0, "%s: not the tiled bits",
                              how);
            }
            /* an index step, its rows read in place: out of order, repeated,
               more than one 16-row block and a partial one */
            size_t idx[70];
            for (size_t r = 0; r < 70; r++)
                idx[r] = (r * 37 + 11) % ROWS;
            idx[5] = idx[4];
            double ls = 0, lt = 0;
            char how[200];
            snprintf(how, sizeof how, "mlp-small %ux%u on %s (%s), index step",
                     c[t].a, c[t].b, hg_engine_device(e, i)->name,
                     det ? "deterministic" : "fast");
            use(e, i, &c[t]);
            index_step(&p, e, idx, 70, gs, &ls, how);
            still_small(e, i, &c[t], how);
            use(e, i, &tiled);
            index_step(&p, e, idx, 70, gt, &lt, how);
            ck_assert_msg(memcmp(gs, gt, p.P * sizeof *gs) == 0 && ls == lt,
                          "%s: not the tiled bits", how);
        }
        tried++;
    }
    if (og) { /* Oclgrind where the test set promises it, and then it ran */
        test_expect x;
        test_expect_load(&x);
        ck_assert_uint_eq(tried, test_expect_has(&x, "oclgrind") ? 1 : 0);
    } else {
        ck_assert_uint_ge(tried, 2);
    }
    free(gs);
    free(gt);
    hg_engine_destroy(e);
    free_problem(&p);
}

static void check_against_tiled(bool det, size_t hidden, size_t classes)
{
    check_against_tiled_on(det, hidden, classes, false);
}

START_TEST(fast_mode_matches_reference_and_tiled) { check_against_tiled(false, H, K); }
END_TEST

START_TEST(deterministic_mode_gives_tiled_bits) { check_against_tiled(true, H, K); }
END_TEST

/* A narrow hidden layer (8: no full 16-wide tile) and 17 classes (one full
   tile of classes and one partial). */
START_TEST(narrow_hidden_many_classes) { check_against_tiled(false, 8, 17); }
END_TEST

/* A hidden layer wider than one 64-column bias block and not a multiple of
   it (80: the tail's b1 sums, in hg_mlps_wgrad, in two work-items, the second
   partial), and 3 classes (W2's rows loaded with clamps near the end of the
   parameters). */
START_TEST(wide_hidden_few_classes) { check_against_tiled(true, 80, 3); }
END_TEST

/*
 * On Oclgrind, offered the path by the small_on_oclgrind knob: the same
 * comparisons, under Oclgrind's bounds, race and API checks (this case's
 * ctest runs without the uninitialised-value plugin: kchoice.c says why the
 * path is not offered there), with the weight gradient on X^T (Oclgrind's
 * own choice: not a CPU device) and, in deterministic mode, several records
 * a batch.  Registered only where the test set has Oclgrind; the count of
 * devices it ran on is checked against the set either way.
 */
START_TEST(kernels_checked_on_oclgrind) { check_against_tiled_on(false, H, K, true); }
END_TEST

START_TEST(kernels_checked_on_oclgrind_det) { check_against_tiled_on(true, H, K, true); }
END_TEST

/*
 * A batch record is three commands on the small-batch path: the forward GEMM,
 * the head and hg_mlps_wgrad (dW1 and the rest of the record in one launch).
 * On each POCL device, its parameters and records shared with the host (no
 * command moves them: shared_mem.h), W1 not packed (the gemm_pack knob at 1),
 * on X^T and in place (the first_wgrad knob): a step of 40 consecutive rows
 * (the engine's batch: one batch of one record, in fast mode) takes 3.
 * (Records in deterministic mode: the bits tests above.)
 */
START_TEST(three_commands_a_record)
{
    problem p;
    make_problem(&p, H, K);
    float *g = malloc(p.P * sizeof *g);
    ck_assert(g);
    size_t tried = 0;
    for (unsigned wg = 1; wg <= 2; wg++) {
        const hg__engine_knobs kn = {.gemm_pack = 1, .first_wgrad = wg};
        hg_engine *e = make_engine_knobs(&p, 40, false, "platform:Portable", &kn);
        for (size_t i = 0; i < hg_engine_device_count(e); i++) {
            hg__device *d = &e->dev[i];
            hg__kchoice c[HG__MAX_CANDIDATES];
            ck_assert_uint_gt(small_candidates(e, i, c), 0);
            only(e, i);
            use(e, i, &c[0]);
            hg_error err;
            double loss;
            uint64_t cmds[2];
            for (int s = 0; s < 3; s++) { /* the first step checks the kernels */
                uint64_t before = d->ncmds;
                ck_assert_msg(hg_engine_gradient(e, p.params, 3, 40, g, &loss, &err) == HG_OK,
                              "%s: %s", d->what, err.message);
                if (s)
                    cmds[s - 1] = d->ncmds - before;
            }
            still_small(e, i, &c[0], d->what);
            ck_assert_ptr_nonnull(d->params_host);
            for (int s = 0; s < 2; s++)
                ck_assert_msg(cmds[s] == 3, "%s (%s): %llu commands a step, not 3", d->what,
                              wg == 1 ? "X^T" : "in place", (unsigned long long)cmds[s]);
            tried++;
        }
        hg_engine_destroy(e);
    }
    ck_assert_uint_ge(tried, 4); /* POCL's two devices, both ways */
    free(g);
    free_problem(&p);
}
END_TEST

/*
 * The gradient of rows [3, 40) and of an index step (out of order, a row
 * twice) on device i with choice k, into g[0 .. P) and g[P .. 2P), the
 * losses into l[0], l[1].
 */
static void two_steps(problem *p, hg_engine *e, size_t i, const hg__kchoice *k, float *g,
                      double *l, const char *how)
{
    only(e, i);
    use(e, i, k);
    ck_assert(e->dev[i].ops == (k->s ? &hg__ops_mlp_small : &hg__ops_tiled));
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, p->params, 3, 37, g, &l[0], &err) == HG_OK, "%s: %s",
                  how, err.message);
    size_t idx[37];
    for (size_t r = 0; r < 37; r++)
        idx[r] = (r * 41 + 7) % ROWS;
    idx[9] = idx[2];
    index_step(p, e, idx, 37, g + p->P, &l[1], how);
}

/*
 * The head kernel's rows a pass (mlp_small.cl's HG_HR: 4 on CPUs with AVX2's
 * registers, 16 elsewhere) order its work and nothing else: with each of 1,
 * 4 and 16 (the head_rows knob) every device (its first small-batch
 * shape) gives the tiled path's bits, on 37 consecutive rows (16-row blocks
 * of 16, 16 and 5: a partial pass) and on an index step.  Any other value of
 * the knob is refused (knob_values_refused).
 */
START_TEST(head_rows_same_bits)
{
    /* each value is a build on every device: three of them (ASan's CI stage
       ran this program past its 600 s timeout with five, 2026-12-04) */
    static const unsigned hr[] = {1, 4, 16};
    problem p;
    make_problem(&p, H, K);
    float *gt = malloc(2 * p.P * sizeof *gt), *gs = malloc(2 * p.P * sizeof *gs);
    ck_assert(gt && gs);
    /* POCL's devices only: Oclgrind is not offered the path, and its builds cost time */
    hg_engine *ref = make_engine(&p, 40, false, "platform:Portable");
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(ref); i++) {
        hg__kchoice c[HG__MAX_CANDIDATES];
        if (test_on_oclgrind(ref, i) || small_candidates(ref, i, c) == 0)
            continue;
        hg__kchoice tiled = {HG__PATH_OWN, c[0].a, c[0].b, 0, 0, 0};
        double lt[2], ls[2];
        two_steps(&p, ref, i, &tiled, gt, lt, "tiled");
        ck_assert_msg(hg__kchoice_same(&ref->dev[i].kc, &tiled), "tiled: replaced");
        for (size_t v = 0; v < sizeof hr / sizeof hr[0]; v++) {
            const hg__engine_knobs kn = {.head_rows = hr[v]};
            hg_engine *e = make_engine_knobs(&p, 40, false, "platform:Portable", &kn);
            char how[160];
            snprintf(how, sizeof how, "mlp-small on %s, %u head rows a pass",
                     hg_engine_device(e, i)->name, hr[v]);
            two_steps(&p, e, i, &c[0], gs, ls, how);
            still_small(e, i, &c[0], how);
            ck_assert_msg(memcmp(gs, gt, 2 * p.P * sizeof *gs) == 0 && ls[0] == lt[0] &&
                              ls[1] == lt[1],
                          "%s: not the tiled bits", how);
            hg_engine_destroy(e);
        }
        tried++;
    }
    ck_assert_uint_ge(tried, 2);
    hg_engine_destroy(ref);
    free(gt);
    free(gs);
    free_problem(&p);
}
END_TEST

/* The gradients of device i with choice k on rows [3, 103), rows [3, 19) and an
   index step, into g (3 P floats) and l (3 losses). */
static void three_steps(problem *p, hg_engine *e, size_t i, const hg__kchoice *k, float *g,
                        double *l, const char *how)
{
    only(e, i);
    use(e, i, k);
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, p->params, 3, 100, g, &l[0], &err) == HG_OK,
                  "%s: %s", how, err.message);
    ck_assert_msg(hg_engine_gradient(e, p->params, 3, 16, g + p->P, &l[1], &err) == HG_OK,
                  "%s: %s", how, err.message);
    size_t idx[37];
    for (size_t r = 0; r < 37; r++)
        idx[r] = (r * 41 + 7) % ROWS;
    idx[9] = idx[2];
    index_step(p, e, idx, 37, g + 2 * p->P, &l[2], how);
}

/* three_steps' gradients g and losses l are exactly ref's and lref's (P floats
   a step), else the message "how: what". */
static void expect_same_steps(const problem *p, const float *g, const double *l,
                              const float *ref, const double *lref, const char *how,
                              const char *what)
{
    ck_assert_msg(memcmp(g, ref, 3 * p->P * sizeof *g) == 0 && l[0] == lref[0] &&
                      l[1] == lref[1] && l[2] == lref[2],
                  "%s: %s", how, what);
}

/* The first small-batch candidate of device i on engines a and b (the same devices,
   other knobs): three_steps' gradients and losses the same bits, else "how: what";
   ga, gb: 3 P floats each. */
static void expect_same_small(problem *p, hg_engine *a, hg_engine *b, size_t i, float *ga,
                              float *gb, const char *how, const char *what)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    ck_assert_uint_gt(small_candidates(a, i, c), 0);
    double la[3], lb[3];
    three_steps(p, a, i, &c[0], ga, la, how);
    three_steps(p, b, i, &c[0], gb, lb, how);
    still_small(a, i, &c[0], how);
    still_small(b, i, &c[0], how);
    expect_same_steps(p, gb, lb, ga, la, how, what);
}

/*
 * hg__gemm_k_rows: the GEMM's K blocks bound the operand that is read again
 * for every block of the other, B (k x n) where C goes out by block rows, A
 * (m x k) where it goes out by block columns.  The MLP's first layer at a
 * batch of 128 (128 x 784 by 784 x 256): by block rows, B's 802,816 bytes
 * fit a budget of that many and not one byte less (two blocks of 392); by
 * block columns, A's 401,408 bytes decide.  Without a budget, or with K of 16
 * rows or fewer, one call; with a budget of one byte, blocks of 16 rows;
 * with 100,352 bytes by block columns (196 rows of A), four blocks of 196.
 */
START_TEST(k_blocks_follow_the_order)
{
    problem p;
    make_problem(&p, H, K);
    const hg__engine_knobs rows = {.gemm_order = 1}, cols = {.gemm_order = 2};
    hg_engine *er = make_engine_knobs(&p, 40, false, NULL, &rows);
    hg_engine *ec = make_engine_knobs(&p, 40, false, NULL, &cols);
    const hg__gemm_args g = {.m = 128, .n = 256, .k = 784}, g16 = {.m = 128, .n = 256, .k = 16};
    for (size_t i = 0; i < hg_engine_device_count(er); i++) {
        hg__device r = er->dev[i], c = ec->dev[i];
        const struct {
            hg__device *d;
            size_t kblock, want;
        } cases[] = {
            {&r, 802816, 784}, {&r, 802815, 392}, {&r, 401408, 392}, {&r, 0, 784},
            {&r, 1, 16},       {&c, 401408, 784}, {&c, 401407, 392}, {&c, 100352, 196},
            {&c, 0, 784},      {&c, 1, 16},
        };
        for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++) {
            cases[j].d->gemm_kblock = cases[j].kblock;
            ck_assert_msg(hg__gemm_k_rows(cases[j].d, &g) == cases[j].want,
                          "%s by block %s, a budget of %zu bytes: K in blocks of %zu rows, "
                          "not %zu", r.what, cases[j].d == &r ? "rows" : "columns",
                          cases[j].kblock, hg__gemm_k_rows(cases[j].d, &g), cases[j].want);
            ck_assert_uint_eq(hg__gemm_k_rows(cases[j].d, &g16), 16);
        }
    }
    hg_engine_destroy(er);
    hg_engine_destroy(ec);
    free_problem(&p);
}
END_TEST

/*
 * The weight gradient's GEMM in K blocks (gemm_kblock knob at 1: blocks of
 * about 16 rows, each call going on from the last) gives the bits of one
 * call; hg_mlps_wgrad runs the rest of the record with the first block's
 * call and the others are plain GEMMs (gemm_call.c).  On each POCL device,
 * on X^T and in place, in fast and deterministic mode.
 */
START_TEST(k_blocks_same_bits)
{
    problem p;
    make_problem(&p, H, K);
    float *ga = malloc(3 * p.P * sizeof *ga), *gb = malloc(3 * p.P * sizeof *gb);
    ck_assert(ga && gb);
    size_t tried = 0;
    for (unsigned wg = 1; wg <= 2; wg++) {
        const hg__engine_knobs one = {.first_wgrad = wg},
                               blocks = {.first_wgrad = wg, .gemm_kblock = 1};
        for (int det = 0; det < 2; det++) {
            hg_engine *e1 = make_engine_knobs(&p, 40, det, "platform:Portable", &one);
            hg_engine *eb = make_engine_knobs(&p, 40, det, "platform:Portable", &blocks);
            for (size_t i = 0; i < hg_engine_device_count(e1); i++) {
                /* dW1 of the 100-row step: K blocks with the knob, one call without */
                const hg__gemm_args g = {.ta = wg == 2, .m = F, .n = H, .k = 100};
                ck_assert_uint_lt(hg__gemm_k_rows(&eb->dev[i], &g), 100);
                ck_assert_uint_eq(hg__gemm_k_rows(&e1->dev[i], &g), 100);
                char how[200];
                snprintf(how, sizeof how, "mlp-small on %s (%s, %s)",
                         hg_engine_device(e1, i)->name, det ? "deterministic" : "fast",
                         wg == 1 ? "X^T" : "in place");
                expect_same_small(&p, e1, eb, i, ga, gb, how,
                                  "in K blocks, not the bits of one call");
                tried++;
            }
            hg_engine_destroy(e1);
            hg_engine_destroy(eb);
        }
    }
    ck_assert_uint_ge(tried, 8); /* POCL's two devices, both ways, both modes */
    free(ga);
    free(gb);
    free_problem(&p);
}
END_TEST

/*
 * Binaries exported before the weight gradient had a program of its own
 * (docs/programs.md): on each POCL device, the small-batch path's programs
 * exported (its first candidate), then its mlp-wgrad-... binary removed, a
 * device that must load prebuilt binaries (the offline knob) refuses the
 * path ("missing", HG_BUILD), and calibration gives it another path from the
 * same export, which computes the reference's gradient.
 */
START_TEST(export_without_wgrad_refused)
{
    problem p;
    make_problem(&p, H, K);
    char bins[64];
    snprintf(bins, sizeof bins, "/tmp/hg-test-bins-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(bins));
    float *g = malloc(p.P * sizeof *g);
    ck_assert(g);
    const hg__engine_knobs online = {.store_programs = true}, offline = {.offline = true};
    hg_engine *e = make_engine_bins(&p, 40, false, "platform:Portable", &online, bins);
    hg_error err;
    size_t n = hg_engine_device_count(e);
    hg__kchoice c[16][HG__MAX_CANDIDATES];
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_gt(small_candidates(e, i, c[i]), 0);
        use(e, i, &c[i][0]);
    }
    ck_assert_msg(hg_engine_export_binaries(e, bins, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof label, "mlp-wgrad-k%u-%ux%u", K, c[i][0].a, c[i][0].b);
        char *path = hg__prebuilt_path(bins, e->dev[i].info, label);
        ck_assert_ptr_nonnull(path);
        ck_assert_msg(remove(path) == 0, "%s: no %s to remove", e->dev[i].what, path);
        free(path);
    }
    hg_engine_destroy(e);
    e = make_engine_bins(&p, 40, false, "platform:Portable", &offline, bins);
    ck_assert_uint_eq(hg_engine_device_count(e), n);
    for (size_t i = 0; i < n; i++) {
        hg__device *d = &e->dev[i];
        ck_assert_int_eq(hg__kchoice_apply(e, d, d->li, &c[i][0], &err), HG_BUILD);
        ck_assert_msg(strstr(err.message, "mlp-wgrad") && strstr(err.message, "missing"), "%s",
                      err.message);
    }
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < n; i++) {
        hg__device *d = &e->dev[i];
        ck_assert_msg(d->ops != &hg__ops_mlp_small && !d->quarantined, "%s", d->what);
        only(e, i);
        expect_reference(&p, e, 3, 37, g, d->what);
    }
    hg_engine_destroy(e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bins);
    ck_assert_int_eq(system(cmd), 0);
    free(g);
    free_problem(&p);
}
END_TEST

/*
 * The order in which a GEMM hands out its blocks of C (gemm.cl's flag 16:
 * by block rows or by block columns; the gemm_order knob forces one) changes
 * no bits.  On every device, with the tiled path (and, where it is offered,
 * the small-batch path), on 100 and on 16 consecutive rows and on an index
 * step, block columns everywhere give the bits of block rows everywhere, and
 * so does each device's own choice.  16 rows are fewer than the hidden
 * layer's 24 and the 20 inputs are too: the first layer's GEMMs are wider
 * than tall, where a CPU device with several compute units hands out block
 * columns (hg__gemm_by_columns), and a device with one never does.
 */
START_TEST(gemm_order_same_bits)
{
    problem p;
    make_problem(&p, H, K);
    const hg__engine_knobs rows = {.gemm_order = 1}, cols = {.gemm_order = 2};
    hg_engine *er = make_engine_knobs(&p, 40, false, NULL, &rows);
    hg_engine *ec = make_engine_knobs(&p, 40, false, NULL, &cols);
    hg_engine *eo = make_engine(&p, 40, false, NULL);
    float *gr = malloc(3 * p.P * sizeof *gr), *g = malloc(3 * p.P * sizeof *g);
    ck_assert(gr && g);
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(er); i++) {
        const hg__device *d = &eo->dev[i];
        ck_assert(!hg__gemm_by_columns(&er->dev[i], 16, 24));
        ck_assert(hg__gemm_by_columns(&ec->dev[i], 37, 24));
        bool several = d->info->type == HG_DEVICE_CPU && d->info->compute_units > 1 &&
                       !d->offline;
        ck_assert(hg__gemm_by_columns(d, 16, 24) == several);
        ck_assert(!hg__gemm_by_columns(d, 24, 24) && !hg__gemm_by_columns(d, 37, 24));
        hg__kchoice k[2] = {{HG__PATH_OWN, 8, 16, 0, 0, 0}};
        size_t nk = 1;
        hg__kchoice c[HG__MAX_CANDIDATES];
        if (small_candidates(er, i, c) > 0)
            k[nk++] = c[0];
        for (size_t j = 0; j < nk; j++) {
            char how[200];
            snprintf(how, sizeof how, "%s on %s", k[j].s ? "mlp-small" : "tiled 8x16",
                     hg_engine_device(er, i)->name);
            double lr[3], l[3];
            three_steps(&p, er, i, &k[j], gr, lr, how);
            ck_assert_msg(hg__kchoice_same(&er->dev[i].kc, &k[j]), "%s: replaced", how);
            hg_engine *other[2] = {ec, eo};
            for (size_t o = 0; o < 2; o++) {
                three_steps(&p, other[o], i, &k[j], g, l, how);
                ck_assert_msg(hg__kchoice_same(&other[o]->dev[i].kc, &k[j]), "%s: replaced",
                              how);
                expect_same_steps(&p, g, l, gr, lr, how,
                                  o ? "the device's own order, not the bits of block rows"
                                    : "block columns, not the bits of block rows");
            }
            tried++;
        }
    }
    ck_assert_uint_ge(tried, 3); /* POCL's two devices, each with both paths */
    hg_engine_destroy(er);
    hg_engine_destroy(ec);
    hg_engine_destroy(eo);
    free(gr);
    free(g);
    free_problem(&p);
}
END_TEST

/*
 * The small-batch path's first weight gradient on X^T (a transpose kernel
 * first, then hg_gemm_nn) and on X's rows in place (hg_gemm_tn) give the same
 * bits: on each POCL device (Oclgrind is not offered the path), with the
 * first_wgrad knob forcing each, on 100 and 16 consecutive rows and an index
 * step, in fast mode and in deterministic mode (blocks of 64 rows: several
 * records a batch, each from its own first row).  A device takes it in place
 * exactly where it is a CPU with several compute units and native float
 * vectors wider than 8 (AVX-512's 16; with AVX2's 8 the transpose).
 */
START_TEST(first_wgrad_same_bits)
{
    problem p;
    make_problem(&p, H, K);
    const hg__engine_knobs xt = {.first_wgrad = 1}, inplace = {.first_wgrad = 2};
    float *ga = malloc(3 * p.P * sizeof *ga), *gb = malloc(3 * p.P * sizeof *gb);
    ck_assert(ga && gb);
    size_t tried = 0;
    for (int det = 0; det < 2; det++) {
        hg_engine *ex = make_engine_knobs(&p, 40, det, "platform:Portable", &xt);
        hg_engine *ei = make_engine_knobs(&p, 40, det, "platform:Portable", &inplace);
        for (size_t i = 0; i < hg_engine_device_count(ex); i++) {
            const hg__device *d = &ex->dev[i];
            ck_assert(!hg__mlp_small_in_place(d) && hg__mlp_small_in_place(&ei->dev[i]));
            hg__device own = *d;
            own.first_wgrad = 0;
            ck_assert(hg__mlp_small_in_place(&own) ==
                      (d->info->type == HG_DEVICE_CPU && d->info->compute_units > 1 &&
                       d->float_width > 8));
            char how[200];
            snprintf(how, sizeof how, "mlp-small on %s (%s)", hg_engine_device(ex, i)->name,
                     det ? "deterministic" : "fast");
            expect_same_small(&p, ex, ei, i, ga, gb, how, "in place, not the bits on X^T");
            tried++;
        }
        hg_engine_destroy(ex);
        hg_engine_destroy(ei);
    }
    ck_assert_uint_ge(tried, 4); /* POCL's two devices, both modes */
    free(ga);
    free(gb);
    free_problem(&p);
}
END_TEST

/* Whether device i's programs with gemm.cl's blocks (the small-batch path's GEMM and
   weight-gradient programs) were built with -DHG_PREFETCH_C: all of them when want,
   none when not. */
static void built_c_prefetch(const hg_engine *e, size_t i, bool want)
{
    const hg__device *d = &e->dev[i];
    static const size_t progs[] = {0, 2};
    for (size_t k = 0; k < 2; k++) {
        cl_program prog = NULL;
        const char *label = NULL;
        ck_assert_msg(d->ops && d->ops->program(d->ps, progs[k], &prog, &label),
                      "%s: no program %zu", d->what, progs[k]);
        char opt[1024] = "";
        ck_assert(clGetProgramBuildInfo(prog, d->cl_dev, CL_PROGRAM_BUILD_OPTIONS, sizeof opt,
                                        opt, NULL) == CL_SUCCESS);
        ck_assert_msg((strstr(opt, "-DHG_PREFETCH_C") != NULL) == want,
                      "%s: %s built %s -DHG_PREFETCH_C (%s)", d->what, label,
                      want ? "without" : "with", opt);
    }
}

/*
 * gemm.cl's blocks fetch their lines of C for writing before their K loop on CPU
 * devices (HG_PREFETCH_C; the no_prefetch knob turns it off): the same bits as
 * without, on each POCL device's first small-batch candidate (its forward GEMM, the
 * head and the weight gradient's launch with the tail), in fast and in deterministic
 * mode, on consecutive rows and through an index.  Each build must say whether it
 * fetches, so that no comparison is of a build with itself.
 */
START_TEST(c_prefetch_same_bits)
{
    problem p;
    make_problem(&p, H, K);
    const hg__engine_knobs none = {.no_prefetch = true};
    float *ga = malloc(3 * p.P * sizeof *ga), *gb = malloc(3 * p.P * sizeof *gb);
    ck_assert(ga && gb);
    size_t tried = 0;
    for (int det = 0; det < 2; det++) {
        hg_engine *ef = make_engine(&p, 40, det, "platform:Portable");
        hg_engine *en = make_engine_knobs(&p, 40, det, "platform:Portable", &none);
        for (size_t i = 0; i < hg_engine_device_count(ef); i++) {
            char how[200];
            snprintf(how, sizeof how, "mlp-small on %s (%s)", hg_engine_device(ef, i)->name,
                     det ? "deterministic" : "fast");
            expect_same_small(&p, ef, en, i, ga, gb, how, "fetching C ahead, not the bits");
            built_c_prefetch(ef, i, true);
            built_c_prefetch(en, i, false);
            tried++;
        }
        hg_engine_destroy(ef);
        hg_engine_destroy(en);
    }
    ck_assert_uint_ge(tried, 4); /* POCL's two devices, both modes */
    free(ga);
    free(gb);
    free_problem(&p);
}
END_TEST

/*
 * The small-batch path with W1 and G1 read packed in strips (gemm.cl's flag
 * 64; the gemm_pack knob at 2, where by default only batches of 512 rows or
 * more pack) gives the bits of the row-major GEMMs (the knob at 1): on each
 * POCL device (Oclgrind is not offered the path; test_determinism's pack case
 * runs the packing there), a hidden layer 32 wide (whole strips of 16 and of
 * 32 columns: the first candidate 16 columns wide and the first 32 wide,
 * every tile offered), G1 packed on X^T and not in place (W1 only), in fast mode and in
 * deterministic mode (blocks of 64 rows: the second record starts inside the
 * strips).  The packings are counted: two a batch on X^T, one in place, none
 * with the knob at 1, and none for a hidden layer of 24 (no whole strips).
 */
START_TEST(packed_same_bits)
{
    for (unsigned hid = 24; hid <= 32; hid += 8) {
        problem p;
        make_problem(&p, hid, K);
        float *ga = malloc(3 * p.P * sizeof *ga), *gb = malloc(3 * p.P * sizeof *gb);
        ck_assert(ga && gb);
        size_t tried = 0;
        for (unsigned wg = 1; wg <= 2; wg++)
            for (int det = 0; det < 2; det++) {
                const hg__engine_knobs off = {.gemm_pack = 1, .first_wgrad = wg,
                                              .all_tiles = true},
                                       on = {.gemm_pack = 2, .first_wgrad = wg,
                                             .all_tiles = true};
                hg_engine *eo = make_engine_knobs(&p, 40, det, "platform:Portable", &off);
                hg_engine *ep = make_engine_knobs(&p, 40, det, "platform:Portable", &on);
                for (size_t i = 0; i < hg_engine_device_count(ep); i++) {
                    hg__kchoice c[HG__MAX_CANDIDATES];
                    size_t nc = small_candidates(ep, i, c);
                    for (unsigned width = 16; width <= 32; width += 16) {
                        size_t q = 0; /* the first candidate of this tile width */
                        while (q < nc && c[q].b != width)
                            q++;
                        ck_assert_uint_lt(q, nc);
                        char how[200];
                        snprintf(how, sizeof how, "mlp-small %ux%u on %s, hidden %u, %s, %s",
                                 c[q].a, c[q].b, hg_engine_device(ep, i)->name, hid,
                                 wg == 1 ? "on X^T" : "in place",
                                 det ? "deterministic" : "fast");
                        double la[3], lb[3];
                        three_steps(&p, eo, i, &c[q], ga, la, how);
                        uint64_t before = ep->dev[i].packs;
                        three_steps(&p, ep, i, &c[q], gb, lb, how);
                        expect_same_steps(&p, gb, lb, ga, la, how,
                                          "packed, not the row-major bits");
                        /* still the candidate: a wrong result on first use would
                           have had the engine replace it, and the bits would then
                           be another kernel's */
                        ck_assert_msg(hg__kchoice_same(&ep->dev[i].kc, &c[q]),
                                      "%s: the engine replaced the packed candidate", how);
                        /* per batch: three steps take three to six of them */
                        uint64_t packs = ep->dev[i].packs - before,
                                 per = hid % c[q].b ? 0 : wg == 1 ? 2 : 1;
                        ck_assert_msg(packs >= 3 * per && packs <= 6 * per &&
                                          packs % (per ? per : 1) == 0 &&
                                          eo->dev[i].packs == 0,
                                      "%s: %llu packings in three steps (%llu a batch "
                                      "expected), %llu with the knob at 1", how,
                                      (unsigned long long)packs, (unsigned long long)per,
                                      (unsigned long long)eo->dev[i].packs);
                        tried++;
                    }
                }
                hg_engine_destroy(eo);
                hg_engine_destroy(ep);
            }
        ck_assert_uint_eq(tried, 16); /* two devices, two tile widths, both ways, both modes */
        free(ga);
        free(gb);
        free_problem(&p);
    }
}
END_TEST

/* An engine with knobs kn is refused, the message naming the knob. */
static void expect_knob_refused(problem *p, const hg__engine_knobs *kn, const char *name)
{
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.no_profile_cache = true;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_int_eq(hg__engine_create_knobs(&o, kn, &p->m, &e, &err), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(e);
    ck_assert_msg(strstr(err.message, name), "%s", err.message);
}

/* The kernels' knobs refuse every other value: head_rows anything but 1, 2, 4, 8
   or 16; gemm_order, first_wgrad and gemm_pack anything over 2. */
START_TEST(knob_values_refused)
{
    problem p;
    make_problem(&p, H, K);
    static const unsigned bad[] = {3, 32, 12};
    for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
        const hg__engine_knobs kn = {.head_rows = bad[v]};
        expect_knob_refused(&p, &kn, "head_rows");
    }
    const hg__engine_knobs order = {.gemm_order = 3}, wgrad = {.first_wgrad = 3},
                           pack = {.gemm_pack = 3};
    expect_knob_refused(&p, &order, "gemm_order");
    expect_knob_refused(&p, &wgrad, "first_wgrad");
    expect_knob_refused(&p, &pack, "gemm_pack");
    free_problem(&p);
}
END_TEST

/* Offered where it fits: a known batch size, one hidden layer, at most 64
   classes; in deterministic mode too (it gives the tiled bits). */
/*
 * A prediction on a device that computes with the small-batch path runs on
 * that path's GEMM (not the plain one, 70 times slower on POCL: docs/engine.md),
 * and gives the tiled path's probabilities and classes, bit for bit.
 */
START_TEST(prediction_runs_on_its_gemm)
{
    problem p;
    make_problem(&p, H, K);
    hg_engine *e = make_engine(&p, 40, false, NULL);
    hg_dataset_desc ds = {ROWS, F, p.x, NULL, p.l};
    float *ps = malloc(ROWS * K * sizeof *ps), *pt = malloc(ROWS * K * sizeof *pt);
    int32_t *cs = malloc(ROWS * sizeof *cs), *ct = malloc(ROWS * sizeof *ct);
    ck_assert(ps && pt && cs && ct);
    hg_error err;
    size_t tried = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg__kchoice c[HG__MAX_CANDIDATES];
        if (test_on_oclgrind(e, i))
            continue;
        const unsigned (*shapes)[2];
        ck_assert_uint_eq(small_candidates(e, i, c), shapes_of(e, i, &shapes));
        only(e, i);
        use(e, i, &c[0]);
        ck_assert_msg(hg_engine_predict(e, p.params, &ds, cs, ps, &err) == HG_OK, "%s",
                      err.message);
        ck_assert_str_eq(hg__forward_gemm_name(&e->dev[i]), "mlp-small");
        hg__kchoice tiled = {HG__PATH_OWN, c[0].a, c[0].b, 0, 0, 0};
        use(e, i, &tiled);
        ck_assert_msg(hg_engine_predict(e, p.params, &ds, ct, pt, &err) == HG_OK, "%s",
                      err.message);
        ck_assert_str_eq(hg__forward_gemm_name(&e->dev[i]), "tiled");
        ck_assert_msg(memcmp(ps, pt, ROWS * K * sizeof *ps) == 0 &&
                          memcmp(cs, ct, ROWS * sizeof *cs) == 0,
                      "%s: not the tiled path's predictions", hg_engine_device(e, i)->name);
        tried++;
    }
    ck_assert_uint_ge(tried, 2);
    free(ps);
    free(pt);
    free(cs);
    free(ct);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

START_TEST(offered_where_it_fits)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    problem p;
    make_problem(&p, H, K);
    hg_engine *known = make_engine(&p, 128, false, NULL), *unknown = make_engine(&p, 0, false, NULL);
    hg_engine *det = make_engine(&p, 128, true, NULL);
    hg__kchoice s = {HG__PATH_OWN, 8, 16, 0, 1, 0}; /* in every device's list */
    for (size_t i = 0; i < hg_engine_device_count(known); i++) {
        if (test_on_oclgrind(known, i)) { /* not offered there (kchoice.c says why) */
            ck_assert_uint_eq(small_candidates(known, i, c), 0);
            ck_assert_uint_eq(small_candidates(det, i, c), 0);
            continue;
        }
        const unsigned (*shapes)[2];
        size_t ns = shapes_of(known, i, &shapes);
        ck_assert_uint_eq(small_candidates(known, i, c), ns);
        for (size_t t = 0; t < ns; t++) {
            ck_assert_uint_eq(c[t].a, shapes[t][0]);
            ck_assert_uint_eq(c[t].b, shapes[t][1]);
        }
        char name[48], want[48];
        hg__kchoice_name(&c[0], name, sizeof name);
        snprintf(want, sizeof want, "mlp-small %ux%u", shapes[0][0], shapes[0][1]);
        ck_assert_str_eq(name, want);
        ck_assert_uint_eq(small_candidates(unknown, i, c), 0);
        ck_assert_uint_eq(small_candidates(det, i, c), ns);
        ck_assert(!hg__kchoice_valid(unknown, &unknown->dev[i], &s));
        ck_assert(hg__kchoice_valid(known, &known->dev[i], &s));
        /* without a batch size the choice is refused, the device keeps its own */
        hg_error err;
        ck_assert_int_eq(hg__kchoice_apply(unknown, &unknown->dev[i], unknown->dev[i].li, &s,
                                           &err), HG_INVALID_ARGUMENT);
    }
    hg_engine_destroy(known);
    hg_engine_destroy(unknown);
    hg_engine_destroy(det);
    free_problem(&p);

    problem two; /* two hidden layers: not offered */
    make_problem(&two, H, K);
    two.m.nhidden = 2;
    two.m.hidden[1] = 8;
    two.P = hg_model_param_count(&two.m);
    free(two.params);
    two.params = calloc(two.P, sizeof *two.params);
    hg_engine *e2 = make_engine(&two, 128, false, NULL);
    for (size_t i = 0; i < hg_engine_device_count(e2); i++)
        ck_assert_uint_eq(small_candidates(e2, i, c), 0);
    hg_engine_destroy(e2);
    free_problem(&two);

    problem wide; /* 65 classes: not offered */
    make_problem(&wide, H, 65);
    hg_engine *e3 = make_engine(&wide, 128, false, NULL);
    for (size_t i = 0; i < hg_engine_device_count(e3); i++)
        ck_assert_uint_eq(small_candidates(e3, i, c), 0);
    hg_engine_destroy(e3);
    free_problem(&wide);
}
END_TEST

/* Calibration on POCL pthread with a batch size races it with the others (the
   kernel note names it) and keeps a valid candidate. */
START_TEST(raced_at_the_batch_size)
{
    problem p;
    make_problem(&p, H, K);
    hg_engine *e = make_engine(&p, 128, false, "name:pthread");
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    hg__device *d = &e->dev[0];
    ck_assert_uint_eq(d->kc_rows[0], 128);
    ck_assert(d->kc_measured);
    ck_assert(hg__kchoice_valid(e, d, &d->kc));
    /* the first listed whole, the others without the path word (profile.c) */
    const char *small = strstr(d->kc_note, "mlp-small ");
    ck_assert_msg(small, "%s: no mlp-small candidate", d->kc_note);
    const unsigned (*shapes)[2];
    size_t ns = shapes_of(e, 0, &shapes);
    for (size_t t = 0; t < ns; t++) {
        char name[48];
        snprintf(name, sizeof name, "%s%ux%u ", t ? "; " : "mlp-small ", shapes[t][0],
                 shapes[t][1]);
        ck_assert_msg(strstr(small, name), "%s: no %s", d->kc_note, name);
    }
    /* each tiled shape twice, tiled and mlp-small: no CLBlast on a CPU device (kchoice.c) */
    char raced[48];
    snprintf(raced, sizeof raced, "fastest of %zu on 128 rows", 2 * ns);
    ck_assert_msg(strstr(d->kc_note, raced), "%s", d->kc_note);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* A broken build of a candidate (test hook) is excluded by calibration, and
   a wrong result is caught by the reference check, never kept. */
static void check_broken(int how)
{
    problem p;
    make_problem(&p, H, K);
    hg_engine *e = make_engine(&p, 128, false, "name:pthread");
    const unsigned (*shapes)[2];
    shapes_of(e, 0, &shapes);
    char broken[48], excluded[64];
    snprintf(broken, sizeof broken, "mlp-small %ux%u", shapes[0][0], shapes[0][1]);
    snprintf(excluded, sizeof excluded, "%s excluded", broken);
    hg__kchoice_break(e, broken, how);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    char kept[48];
    hg__kchoice_name(&e->dev[0].kc, kept, sizeof kept);
    ck_assert_str_ne(kept, broken);
    ck_assert_msg(strstr(e->dev[0].kc_note, excluded), "%s", e->dev[0].kc_note);
    hg_engine_destroy(e);
    free_problem(&p);
}

START_TEST(broken_build_excluded) { check_broken(1); }
END_TEST

START_TEST(wrong_result_excluded) { check_broken(2); }
END_TEST

/*
 * A prebuilt mlp-small program of an older hetgrad (binary_dir), whose head took
 * 16 arguments before it took the transposes itself: refused with HG_BUILD, the
 * message naming the program and what to do; this hetgrad's head passes.  On
 * every test device.
 */
static cl_kernel head_of(const hg__device *d, const char *src)
{
    cl_int rc = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(d->ctx, 1, &src, NULL, &rc);
    ck_assert_int_eq(rc, CL_SUCCESS);
    ck_assert_int_eq(clBuildProgram(p, 1, &d->cl_dev, "-cl-std=CL1.2", NULL, NULL),
                     CL_SUCCESS);
    cl_kernel k = clCreateKernel(p, "hg_mlps_head", &rc);
    ck_assert_int_eq(rc, CL_SUCCESS);
    clReleaseProgram(p); /* the kernel keeps it */
    return k;
}

START_TEST(older_prebuilt_head_refused)
{
    problem p;
    make_problem(&p, H, K);
    hg_engine *e = make_engine(&p, 64, false, NULL);
    static const char older[] =
        "__kernel void hg_mlps_head(__global const float *h, const uint rows, const uint hid,"
        " __global const float *params, const uint w2off, const uint b2off, const uint wend,"
        " __global const float *wt, __global const int *labels, const uint loff,"
        " __global const uint *idx, const uint base, const uint indexed,"
        " __global float *g2, __global float *g1, __global float *loss) {}\n";
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        const hg__device *d = &e->dev[i];
        hg_error err;
        cl_kernel k = head_of(d, older);
        ck_assert_int_eq(hg__mlp_small_check_head(d, k, "mlp-small-k4", &err), HG_BUILD);
        ck_assert_msg(strstr(err.message, "mlp-small-k4 program has an hg_mlps_head of 16 "
                             "arguments, this hetgrad's takes 19") &&
                          strstr(err.message, "export the binaries again"),
                      "%s", err.message);
        clReleaseKernel(k);
        size_t len = 0;
        char *src = hg__path_source_with_transpose("mlp_small", &len);
        ck_assert_ptr_nonnull(src);
        char *full = malloc(len + 64);
        ck_assert_ptr_nonnull(full);
        snprintf(full, len + 64, "#define HG_K 4\n%s", src);
        k = head_of(d, full);
        ck_assert_msg(hg__mlp_small_check_head(d, k, "mlp-small-k4", &err) == HG_OK, "%s",
                      err.message);
        clReleaseKernel(k);
        free(full);
        free(src);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlp_small");
    TCase *tc = tcase_create("devices");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, offered_where_it_fits);
    tcase_add_test(tc, fast_mode_matches_reference_and_tiled);
    tcase_add_test(tc, deterministic_mode_gives_tiled_bits);
    tcase_add_test(tc, prediction_runs_on_its_gemm);
    tcase_add_test(tc, older_prebuilt_head_refused);
    tcase_add_test(tc, three_commands_a_record);
    suite_add_tcase(s, tc);
    /* the other shapes and the race: a ctest of its own (CK_RUN_CASE,
       tests/CMakeLists.txt), as under ASan with Oclgrind the whole took 474 s */
    tc = tcase_create("shapes");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, narrow_hidden_many_classes);
    tcase_add_test(tc, wide_hidden_few_classes);
    tcase_add_test(tc, raced_at_the_batch_size);
    tcase_add_test(tc, broken_build_excluded);
    tcase_add_test(tc, wrong_result_excluded);
    suite_add_tcase(s, tc);
    /* the kernels' test knobs: a ctest of its own (CK_RUN_CASE, tests/CMakeLists.txt) */
    TCase *kn = tcase_create("knobs");
    tcase_set_timeout(kn, 600);
    tcase_add_test(kn, head_rows_same_bits);
    tcase_add_test(kn, gemm_order_same_bits);
    tcase_add_test(kn, k_blocks_follow_the_order);
    tcase_add_test(kn, k_blocks_same_bits);
    tcase_add_test(kn, export_without_wgrad_refused);
    tcase_add_test(kn, first_wgrad_same_bits);
    tcase_add_test(kn, c_prefetch_same_bits);
    tcase_add_test(kn, packed_same_bits);
    tcase_add_test(kn, knob_values_refused);
    suite_add_tcase(s, kn);
    /* the kernels under Oclgrind's checks, without its uninitialised-value plugin: a
       ctest of its own where the test set has Oclgrind (tests/CMakeLists.txt) */
    TCase *og = tcase_create("oclgrind");
    tcase_set_timeout(og, 600);
    tcase_add_test(og, kernels_checked_on_oclgrind);
    tcase_add_test(og, kernels_checked_on_oclgrind_det);
    suite_add_tcase(s, og);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
