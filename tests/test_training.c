/* SPDX-License-Identifier: MIT */
/*
 * test_training.c - the training utilities of hetgrad/train.h and the checkpoint files
 * of hetgrad/checkpoint.h, no device.
 *
 * PCG32 against the reference generator's published outputs; initialisation by its
 * documented rule; the host forward pass against the double reference's loss; SGD and
 * Adam against the update formulas computed here by hand; an optimizer restored from
 * its state continuing to the bits of one never interrupted; schedules at known
 * epochs; checkpoints written and read back whole, and every truncation and every
 * flipped byte of a file refused without a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hetgrad.h>

static const hg_model_desc SOFTMAX = {.kind = HG_MODEL_SOFTMAX, .inputs = 3, .outputs = 4};
static const hg_model_desc LINEAR = {.kind = HG_MODEL_LINEAR, .inputs = 3, .outputs = 1};

static hg_model_desc mlp(void)
{
    hg_model_desc m = {.kind = HG_MODEL_MLP, .inputs = 3, .outputs = 4, .nhidden = 2};
    m.hidden[0] = 5;
    m.hidden[1] = 2;
    return m;
}

/* A temporary path in the test's directory; the caller unlinks it. */
static void temp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/test_training.%ld.%s", (long)getpid(), name);
}

/* ---- PCG32 -------------------------------------------------------------------------- */

START_TEST(pcg32_reference_outputs)
{
    /* pcg32_srandom_r(&rng, 42, 54) of the PCG reference, then its first outputs */
    hg_rng r = {0, (54u << 1u) | 1u};
    hg_rng_next(&r);
    r.state += 42;
    hg_rng_next(&r);
    const uint32_t want[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                              0x83d2f293, 0xbfa4784b, 0xcbed606e};
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(hg_rng_next(&r), want[i]);
    /* hg_rng_seed(s) is that seeding with initstate = initseq = s */
    hg_rng a, b = {0, (12345u << 1u) | 1u};
    hg_rng_seed(&a, 12345);
    hg_rng_next(&b);
    b.state += 12345;
    hg_rng_next(&b);
    ck_assert(a.state == b.state && a.inc == b.inc);
}
END_TEST

START_TEST(pcg32_below_and_shuffle)
{
    hg_rng r;
    hg_rng_seed(&r, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_lt(hg_rng_below(&r, 7), 7);
    size_t v[100];
    for (size_t i = 0; i < 100; i++)
        v[i] = i;
    hg_rng_shuffle(&r, v, 100);
    unsigned char seen[100] = {0};
    size_t moved = 0;
    for (size_t i = 0; i < 100; i++) {
        ck_assert_uint_lt(v[i], 100);
        ck_assert(!seen[v[i]]);
        seen[v[i]] = 1;
        moved += v[i] != i;
    }
    ck_assert_uint_gt(moved, 50);
}
END_TEST

START_TEST(fnv1a64_known_values)
{
    ck_assert(hg_fnv1a64("", 0) == 0xcbf29ce484222325ull);
    ck_assert(hg_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    ck_assert(hg_fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
}
END_TEST

/* ---- initialisation ------------------------------------------------------------------ */

START_TEST(init_params_rule)
{
    hg_model_desc m = mlp();
    size_t P = hg_model_param_count(&m);
    float *p = malloc(P * sizeof *p);
    hg_rng r, check;
    hg_rng_seed(&r, 9);
    hg_rng_seed(&check, 9);
    hg_error err;
    ck_assert_int_eq(hg_model_init_params(&m, &r, p, &err), HG_OK);
    /* layer by layer: W uniform in +-sqrt(6 / in) by the documented formula, b = 0 */
    size_t widths[4] = {3, 5, 2, 4}, off = 0;
    for (int l = 0; l < 3; l++) {
        size_t in = widths[l], out = widths[l + 1];
        double scale = sqrt(6.0 / (double)in);
        for (size_t i = 0; i < in * out; i++) {
            float want = (float)(((double)hg_rng_next(&check) / 4294967296.0 * 2 - 1) * scale);
            ck_assert(p[off + i] == want);
            ck_assert(fabs(p[off + i]) <= scale);
        }
        for (size_t o = 0; o < out; o++)
            ck_assert(p[off + in * out + o] == 0.0f);
        off += in * out + out;
    }
    ck_assert_uint_eq(off, P);
    /* the generator continues where the weights left it */
    ck_assert(r.state == check.state);
    hg_model_desc custom = {.kind = HG_MODEL_CUSTOM, .inputs = 1, .outputs = 1,
                            .custom_source = "k", .custom_kernel = "k", .custom_params = 4};
    ck_assert_int_eq(hg_model_init_params(&custom, &r, p, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_model_init_params(&m, NULL, p, &err), HG_INVALID_ARGUMENT);
    free(p);
}
END_TEST

/* ---- the host forward pass -------------------------------------------------------------- */

/* rows x 3 features, labels in [0, 4) and targets; parameters drawn from the seed */
typedef struct problem {
    float x[40 * 3], targets[40];
    int32_t labels[40];
    hg_dataset_desc d;
} problem;

static void make_problem(problem *pb, uint64_t seed)
{
    hg_rng r;
    hg_rng_seed(&r, seed);
    for (size_t i = 0; i < 40 * 3; i++)
        pb->x[i] = (float)hg_rng_next(&r) / 4294967296.0f * 2 - 1;
    for (size_t i = 0; i < 40; i++) {
        pb->labels[i] = (int32_t)hg_rng_below(&r, 4);
        pb->targets[i] = pb->x[3 * i] * 2 - pb->x[3 * i + 2];
    }
    hg_dataset_desc d = {40, 3, pb->x, pb->targets, pb->labels};
    pb->d = d;
}

START_TEST(evaluate_host_matches_reference_loss)
{
    problem pb;
    make_problem(&pb, 3);
    hg_model_desc models[3] = {SOFTMAX, LINEAR, mlp()};
    for (int k = 0; k < 3; k++) {
        hg_model_desc *m = &models[k];
        size_t P = hg_model_param_count(m);
        float *p = malloc(P * sizeof *p);
        double *g = malloc(P * sizeof *g);
        hg_rng r;
        hg_rng_seed(&r, 11);
        hg_error err;
        ck_assert_int_eq(hg_model_init_params(m, &r, p, &err), HG_OK);
        for (size_t i = 0; i < P; i++) /* biases too */
            p[i] += 0.01f * (float)(i % 5);
        hg_dataset_desc d = pb.d;
        if (m->kind == HG_MODEL_LINEAR)
            d.labels = NULL;
        else
            d.targets = NULL;
        size_t idx[5] = {4, 0, 39, 17, 4};
        double want, got;
        size_t correct;
        ck_assert_int_eq(hg_reference_loss_grad(m, p, &d, 0, 5, idx, &want, g, &err), HG_OK);
        ck_assert_int_eq(hg_model_evaluate_host(m, p, &d, idx, 5, &got, &correct, &err), HG_OK);
        ck_assert_msg(fabs(got - want) <= 1e-9 * fabs(want), "model %d: %.17g vs %.17g", k,
                      got, want);
        ck_assert_uint_le(correct, 5);
        ck_assert_int_eq(hg_reference_loss_grad(m, p, &d, 0, 40, NULL, &want, g, &err), HG_OK);
        ck_assert_int_eq(hg_model_evaluate_host(m, p, &d, NULL, 40, &got, &correct, &err),
                         HG_OK);
        ck_assert(fabs(got - want) <= 1e-9 * fabs(want));
        size_t bad = 40;
        ck_assert_int_eq(hg_model_evaluate_host(m, p, &d, &bad, 1, &got, &correct, &err),
                         HG_RANGE);
        free(p);
        free(g);
    }
}
END_TEST

START_TEST(evaluate_host_counts_correct_rows)
{
    /* softmax with W = identity-like: the prediction is the largest feature's class */
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = 2, .outputs = 2};
    float p[6] = {1, 0, 0, 1, 0, 0};
    float x[6] = {1, 0, 0, 1, 2, 1};
    int32_t y[3] = {0, 0, 0}; /* right, wrong, right */
    hg_dataset_desc d = {3, 2, x, NULL, y};
    double loss;
    size_t correct;
    hg_error err;
    ck_assert_int_eq(hg_model_evaluate_host(&m, p, &d, NULL, 3, &loss, &correct, &err), HG_OK);
    ck_assert_uint_eq(correct, 2);
    double want = 2 * log(1 + exp(-1.0)) + log(1 + exp(1.0));
    ck_assert(fabs(loss - want) < 1e-12);
    y[1] = 2;
    ck_assert_int_eq(hg_model_evaluate_host(&m, p, &d, NULL, 3, &loss, &correct, &err),
                     HG_RANGE);
}
END_TEST

/* ---- optimizers ------------------------------------------------------------------------ */

START_TEST(sgd_momentum_and_decay_by_hand)
{
    /* linear, 1 input, 1 output: W, b */
    hg_model_desc m = {.kind = HG_MODEL_LINEAR, .inputs = 1, .outputs = 1};
    hg_optimizer_options o;
    hg_optimizer_options_init(&o);
    o.kind = HG_OPTIMIZER_SGD;
    o.lr = 0.5;
    o.momentum = 0.25;
    o.weight_decay = 0.125;
    hg_optimizer *opt;
    hg_error err;
    ck_assert_int_eq(hg_optimizer_create(&o, &m, &opt, &err), HG_OK);
    float p[2] = {2, 2}, g[2] = {1, 1};
    hg_optimizer_step(opt, p, g);
    /* W: g = 1 + 0.125 * 2 = 1.25, v = 1.25, p = 2 - 0.625; b: no decay, v = 1, p = 1.5 */
    ck_assert(p[0] == 1.375f && p[1] == 1.5f);
    hg_optimizer_step(opt, p, g);
    /* W: g = 1 + 0.125 * 1.375, v = 0.25 * 1.25 + g */
    double gw = 1 + (double)(float)(0.125 * 1.375);
    ck_assert(p[0] == (float)(1.375 - 0.5 * (0.25 * 1.25 + gw)));
    ck_assert(p[1] == (float)(1.5 - 0.5 * (0.25 + 1)));
    ck_assert_uint_eq(hg_optimizer_steps(opt), 2);
    ck_assert_uint_eq(hg_optimizer_state_count(opt), 2);
    hg_optimizer_options back;
    hg_optimizer_options_init(&back);
    hg_optimizer_get_options(opt, &back);
    ck_assert(back.kind == HG_OPTIMIZER_SGD && back.lr == 0.5 && back.momentum == 0.25);
    hg_optimizer_destroy(opt);
}
END_TEST

START_TEST(adam_first_steps_by_hand)
{
    hg_model_desc m = {.kind = HG_MODEL_LINEAR, .inputs = 1, .outputs = 1};
    hg_optimizer *opt;
    hg_error err;
    ck_assert_int_eq(hg_optimizer_create(NULL, &m, &opt, &err), HG_OK); /* Adam, lr 0.05 */
    float p[2] = {0, 0}, g[2] = {4, -0.5f};
    hg_optimizer_step(opt, p, g);
    /* step 1: m/c1 = g, s/c2 = g^2: p = -lr g / (|g| + eps) */
    ck_assert(p[0] == (float)(-0.05 * 4 / (4 + 1e-8)));
    ck_assert(p[1] == (float)(0.05 * 0.5 / (0.5 + 1e-8)));
    float g2[2] = {2, 0};
    hg_optimizer_step(opt, p, g2);
    double m1 = 0.9 * 0.1 * 4 + 0.1 * 2, s1 = 0.999 * 0.001 * 16 + 0.001 * 4;
    double c1 = 1 - 0.9 * 0.9, c2 = 1 - 0.999 * 0.999;
    float want = (float)(-0.05 * 4 / (4 + 1e-8));
    want -= (float)(0.05 * (m1 / c1) / (sqrt(s1 / c2) + 1e-8));
    ck_assert_msg(p[0] == want, "%.9g vs %.9g", p[0], want);
    hg_optimizer_destroy(opt);
}
END_TEST

START_TEST(optimizer_state_resumes_to_the_same_bits)
{
    hg_model_desc m = mlp();
    size_t P = hg_model_param_count(&m);
    for (int kind = HG_OPTIMIZER_ADAM; kind <= HG_OPTIMIZER_SGD; kind++) {
        hg_optimizer_options o;
        hg_optimizer_options_init(&o);
        o.kind = (hg_optimizer_kind)kind;
        o.weight_decay = 0.01;
        hg_optimizer *a, *b;
        hg_error err;
        ck_assert_int_eq(hg_optimizer_create(&o, &m, &a, &err), HG_OK);
        ck_assert_int_eq(hg_optimizer_create(&o, &m, &b, &err), HG_OK);
        float *pa = calloc(P, sizeof *pa), *pb = calloc(P, sizeof *pb), *g = malloc(P * 4);
        hg_rng r;
        hg_rng_seed(&r, 5);
        for (int step = 0; step < 6; step++) {
            for (size_t i = 0; i < P; i++)
                g[i] = (float)hg_rng_next(&r) / 4294967296.0f - 0.5f;
            hg_optimizer_step(a, pa, g);
            if (step == 2) { /* b takes over a's state and parameters */
                size_t n = hg_optimizer_state_count(a);
                double *st = malloc(n * sizeof *st);
                hg_optimizer_get_state(a, st);
                ck_assert_int_eq(hg_optimizer_set_state(b, hg_optimizer_steps(a), st, n, &err),
                                 HG_OK);
                memcpy(pb, pa, P * sizeof *pb);
                /* refused: another count, a non-finite value, a negative second moment */
                ck_assert_int_eq(hg_optimizer_set_state(b, 0, st, n - 1, &err),
                                 HG_INVALID_ARGUMENT);
                st[0] = NAN;
                ck_assert_int_eq(hg_optimizer_set_state(b, 0, st, n, &err), HG_INVALID_ARGUMENT);
                if (kind == HG_OPTIMIZER_ADAM) {
                    st[0] = 0;
                    st[n - 1] = -1;
                    ck_assert_int_eq(hg_optimizer_set_state(b, 0, st, n, &err),
                                     HG_INVALID_ARGUMENT);
                }
                ck_assert_uint_eq(hg_optimizer_steps(b), 3);
                free(st);
            } else if (step > 2) {
                hg_optimizer_step(b, pb, g);
            }
        }
        ck_assert(memcmp(pa, pb, P * sizeof *pa) == 0);
        hg_optimizer_destroy(a);
        hg_optimizer_destroy(b);
        free(pa);
        free(pb);
        free(g);
    }
}
END_TEST

START_TEST(optimizer_options_checked)
{
    hg_optimizer_options o;
    hg_optimizer *opt = (hg_optimizer *)1;
    hg_error err;
    struct {
        const char *field;
        void (*set)(hg_optimizer_options *);
    } bad[] = {
        {"kind", NULL}, {"lr", NULL}, {"momentum", NULL}, {"beta1", NULL},
        {"beta2", NULL}, {"epsilon", NULL}, {"weight_decay", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hg_optimizer_options_init(&o);
        switch (i) {
        case 0: o.kind = (hg_optimizer_kind)7; break;
        case 1: o.lr = -1; break;
        case 2: o.momentum = 1; break;
        case 3: o.beta1 = 0; break;
        case 4: o.beta2 = 1; break;
        case 5: o.epsilon = 0; break;
        case 6: o.weight_decay = NAN; break;
        }
        ck_assert_int_eq(hg_optimizer_create(&o, &SOFTMAX, &opt, &err), HG_INVALID_ARGUMENT);
        ck_assert_ptr_null(opt);
        ck_assert_msg(strstr(err.message, bad[i].field), "%s", err.message);
    }
    hg_optimizer_options_init(&o);
    o.struct_size = 0; /* never initialised */
    ck_assert_int_eq(hg_optimizer_create(&o, &SOFTMAX, &opt, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_optimizer_create(NULL, &SOFTMAX, &opt, &err), HG_OK);
    ck_assert_int_eq(hg_optimizer_set_lr(opt, 0, &err), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_optimizer_set_lr(opt, 0.5, &err), HG_OK);
    hg_optimizer_destroy(opt);
    hg_optimizer_destroy(NULL);
}
END_TEST

/* ---- schedules ----------------------------------------------------------------------- */

START_TEST(schedules_at_known_epochs)
{
    hg_lr_schedule c = {HG_LR_CONSTANT, 0, 0};
    hg_lr_schedule s = {HG_LR_STEP, 3, 0.5};
    hg_lr_schedule cos_ = {HG_LR_COSINE, 0, 0};
    ck_assert(hg_lr_schedule_rate(&c, 0.1, 7, 10) == 0.1);
    ck_assert(hg_lr_schedule_rate(NULL, 0.1, 7, 10) == 0.1);
    ck_assert(hg_lr_schedule_rate(&s, 0.8, 0, 10) == 0.8);
    ck_assert(hg_lr_schedule_rate(&s, 0.8, 2, 10) == 0.8);
    ck_assert(hg_lr_schedule_rate(&s, 0.8, 3, 10) == 0.4);
    ck_assert(hg_lr_schedule_rate(&s, 0.8, 7, 10) == 0.2);
    ck_assert(hg_lr_schedule_rate(&cos_, 0.8, 0, 4) == 0.8);
    ck_assert(fabs(hg_lr_schedule_rate(&cos_, 0.8, 2, 4) - 0.4) < 1e-15);
    ck_assert(fabs(hg_lr_schedule_rate(&cos_, 0.8, 3, 4) - 0.8 * (1 - sqrt(0.5)) / 2) < 1e-15);
    hg_lr_schedule bad = {HG_LR_STEP, 0, 0.5};
    ck_assert(hg_lr_schedule_rate(&bad, 0.3, 5, 10) == 0.3);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------------------------ */

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void write_all(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* A checkpoint of mlp() with Adam's state after two steps, epoch 5, an order of 6 rows. */
static hg_checkpoint *sample(float *params, hg_rng *rng, hg_optimizer **opt_out)
{
    hg_model_desc m = mlp();
    size_t P = hg_model_param_count(&m);
    hg_error err;
    hg_rng_seed(rng, 21);
    ck_assert_int_eq(hg_model_init_params(&m, rng, params, &err), HG_OK);
    hg_optimizer *opt;
    ck_assert_int_eq(hg_optimizer_create(NULL, &m, &opt, &err), HG_OK);
    float *g = malloc(P * sizeof *g);
    for (size_t i = 0; i < P; i++)
        g[i] = (float)i / (float)P - 0.5f;
    hg_optimizer_step(opt, params, g);
    hg_optimizer_step(opt, params, g);
    free(g);
    int32_t classes[4] = {-1, 5, 9, 2};
    size_t order[6] = {3, 1, 5, 0, 2, 4};
    hg_checkpoint *ck;
    ck_assert_int_eq(hg_checkpoint_create(&m, params, classes, &ck, &err), HG_OK);
    ck_assert_uint_eq(hg_checkpoint_version(ck), 2);
    ck_assert_int_eq(hg_checkpoint_set_training(ck, opt, 5, rng, order, 6, 0.25, 1, &err),
                     HG_OK);
    *opt_out = opt;
    return ck;
}

START_TEST(checkpoint_round_trip)
{
    float params[64];
    hg_rng rng;
    hg_optimizer *opt;
    hg_checkpoint *ck = sample(params, &rng, &opt);
    char path[256];
    temp_path(path, sizeof path, "round.hgc");
    hg_error err;
    ck_assert_int_eq(hg_checkpoint_save(ck, path, &err), HG_OK);
    hg_checkpoint *in;
    ck_assert_int_eq(hg_checkpoint_load(path, &in, &err), HG_OK);
    ck_assert_uint_eq(hg_checkpoint_version(in), 3);
    hg_model_desc m = mlp();
    ck_assert(hg_model_same(hg_checkpoint_model(in), &m));
    size_t count;
    const float *p = hg_checkpoint_params(in, &count);
    ck_assert_uint_eq(count, hg_model_param_count(&m));
    ck_assert(memcmp(p, params, count * sizeof *p) == 0);
    bool recorded;
    const int32_t *cl = hg_checkpoint_classes(in, &recorded);
    ck_assert(recorded && cl[0] == -1 && cl[1] == 5 && cl[2] == 9 && cl[3] == 2);
    uint64_t epoch, steps, since;
    hg_rng r2;
    const size_t *order;
    size_t norder;
    double best;
    ck_assert_int_eq(hg_checkpoint_training(in, &epoch, &steps, &r2, &order, &norder, &best,
                                            &since, &err), HG_OK);
    ck_assert(epoch == 5 && steps == 2 && since == 1 && best == 0.25 && norder == 6);
    ck_assert(r2.state == rng.state && r2.inc == rng.inc);
    ck_assert(order[0] == 3 && order[5] == 4);
    hg_optimizer *o2;
    ck_assert_int_eq(hg_checkpoint_optimizer(in, &o2, &err), HG_OK);
    size_t n = hg_optimizer_state_count(opt);
    double *s1 = malloc(n * sizeof *s1), *s2 = malloc(n * sizeof *s2);
    hg_optimizer_get_state(opt, s1);
    hg_optimizer_get_state(o2, s2);
    ck_assert(memcmp(s1, s2, n * sizeof *s1) == 0);
    ck_assert_uint_eq(hg_optimizer_steps(o2), 2);
    free(s1);
    free(s2);
    /* saved again, the same bytes */
    char again[256];
    temp_path(again, sizeof again, "again.hgc");
    ck_assert_int_eq(hg_checkpoint_save(in, again, &err), HG_OK);
    size_t na, nb;
    unsigned char *a = read_all(path, &na), *b = read_all(again, &nb);
    ck_assert(na == nb && memcmp(a, b, na) == 0);
    free(a);
    free(b);
    unlink(again);
    unlink(path);
    hg_optimizer_destroy(o2);
    hg_optimizer_destroy(opt);
    hg_checkpoint_destroy(in);
    hg_checkpoint_destroy(ck);
}
END_TEST

START_TEST(checkpoint_every_damage_refused)
{
    float params[64];
    hg_rng rng;
    hg_optimizer *opt;
    hg_checkpoint *ck = sample(params, &rng, &opt);
    char path[256], bad[256];
    temp_path(path, sizeof path, "good.hgc");
    temp_path(bad, sizeof bad, "bad.hgc");
    hg_error err;
    ck_assert_int_eq(hg_checkpoint_save(ck, path, &err), HG_OK);
    size_t n;
    unsigned char *b = read_all(path, &n);
    hg_checkpoint *in;
    for (size_t cut = 0; cut < n; cut++) {
        write_all(bad, b, cut);
        ck_assert_int_eq(hg_checkpoint_load(bad, &in, &err), HG_IO);
        ck_assert_ptr_null(in);
        ck_assert_msg(strstr(err.message, cut < 8 ? "magic" : "truncated") &&
                      strstr(err.message, bad), "cut at %zu: %s", cut, err.message);
    }
    for (size_t at = 0; at < n; at++) {
        b[at] ^= 0x10;
        write_all(bad, b, n);
        ck_assert_msg(hg_checkpoint_load(bad, &in, &err) != HG_OK, "byte %zu flipped: loaded",
                      at);
        b[at] ^= 0x10;
    }
    unsigned char *more = malloc(n + 1);
    memcpy(more, b, n);
    more[n] = 0;
    write_all(bad, more, n + 1);
    ck_assert_int_eq(hg_checkpoint_load(bad, &in, &err), HG_IO);
    ck_assert_msg(strstr(err.message, "trailing"), "%s", err.message);
    free(more);
    ck_assert_int_eq(hg_checkpoint_load("/nonexistent/x.hgc", &in, &err), HG_IO);
    unlink(bad);
    unlink(path);
    free(b);
    hg_optimizer_destroy(opt);
    hg_checkpoint_destroy(ck);
}
END_TEST

START_TEST(parameter_files_v1_and_v2)
{
    float p[16];
    for (int i = 0; i < 16; i++)
        p[i] = (float)i * 0.25f - 1;
    hg_checkpoint *ck;
    hg_error err;
    ck_assert_int_eq(hg_checkpoint_create(&SOFTMAX, p, NULL, &ck, &err), HG_OK);
    char path[256];
    temp_path(path, sizeof path, "v2.hgp");
    ck_assert_int_eq(hg_checkpoint_save(ck, path, &err), HG_OK);
    size_t n;
    unsigned char *b = read_all(path, &n);
    /* v2: magic, 4 x u32, K = 4, 4 classes, u64 P, 16 floats, u64 sum */
    ck_assert_uint_eq(n, 8 + 16 + 4 + 16 + 8 + 64 + 8);
    ck_assert(memcmp(b, "HGPARAM2", 8) == 0 && b[24] == 4 && b[28 + 4] == 1);
    ck_assert(hg_fnv1a64(b, n - 8) == (uint64_t)b[n - 8] + ((uint64_t)b[n - 7] << 8) +
              ((uint64_t)b[n - 6] << 16) + ((uint64_t)b[n - 5] << 24) +
              ((uint64_t)b[n - 4] << 32) + ((uint64_t)b[n - 3] << 40) +
              ((uint64_t)b[n - 2] << 48) + ((uint64_t)b[n - 1] << 56));
    /* v1 from it: no class table, the checksum over the parameters only */
    unsigned char v1[8 + 16 + 8 + 64 + 8];
    memcpy(v1, "HGPARAM1", 8);
    memcpy(v1 + 8, b + 8, 16);
    memcpy(v1 + 24, b + 44, 8 + 64);
    uint64_t h = hg_fnv1a64(b + 52, 64);
    for (int i = 0; i < 8; i++)
        v1[96 + i] = (unsigned char)(h >> (8 * i));
    write_all(path, v1, sizeof v1);
    hg_checkpoint *in;
    ck_assert_int_eq(hg_checkpoint_load(path, &in, &err), HG_OK);
    bool recorded;
    const int32_t *cl = hg_checkpoint_classes(in, &recorded);
    ck_assert(!recorded && cl[3] == 3 && hg_checkpoint_version(in) == 1);
    ck_assert(memcmp(hg_checkpoint_params(in, NULL), p, sizeof p) == 0);
    ck_assert(!hg_checkpoint_has_training(in));
    hg_optimizer *o;
    ck_assert_int_eq(hg_checkpoint_optimizer(in, &o, &err), HG_INVALID_ARGUMENT);
    hg_checkpoint_destroy(in);
    /* refused on creation: a NaN, a class twice, a custom model */
    p[3] = NAN;
    ck_assert_int_eq(hg_checkpoint_create(&SOFTMAX, p, NULL, &in, &err), HG_INVALID_ARGUMENT);
    p[3] = 0;
    int32_t twice[4] = {1, 2, 1, 3};
    ck_assert_int_eq(hg_checkpoint_create(&SOFTMAX, p, twice, &in, &err), HG_INVALID_ARGUMENT);
    /* a device is no target: the previous file stays */
    ck_assert_int_eq(hg_checkpoint_check_target("/dev/full", &err), HG_IO);
    ck_assert_int_eq(hg_checkpoint_save(ck, "/dev/full", &err), HG_IO);
    ck_assert_int_eq(hg_checkpoint_check_target(path, &err), HG_OK);
    unlink(path);
    free(b);
    hg_checkpoint_destroy(ck);
}
END_TEST

START_TEST(describe_models)
{
    char buf[200];
    hg_model_desc m = mlp();
    hg_model_describe(&m, buf, sizeof buf);
    ck_assert_str_eq(buf, "MLP (3 inputs, hidden 5,2, 4 classes)");
    hg_model_describe(&LINEAR, buf, sizeof buf);
    ck_assert_str_eq(buf, "linear regression (3 inputs)");
    ck_assert(!hg_model_same(&m, &SOFTMAX) && hg_model_same(&SOFTMAX, &SOFTMAX));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("training");
    TCase *tc = tcase_create("utilities");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pcg32_reference_outputs);
    tcase_add_test(tc, pcg32_below_and_shuffle);
    tcase_add_test(tc, fnv1a64_known_values);
    tcase_add_test(tc, init_params_rule);
    tcase_add_test(tc, evaluate_host_matches_reference_loss);
    tcase_add_test(tc, evaluate_host_counts_correct_rows);
    tcase_add_test(tc, sgd_momentum_and_decay_by_hand);
    tcase_add_test(tc, adam_first_steps_by_hand);
    tcase_add_test(tc, optimizer_state_resumes_to_the_same_bits);
    tcase_add_test(tc, optimizer_options_checked);
    tcase_add_test(tc, schedules_at_known_epochs);
    tcase_add_test(tc, checkpoint_round_trip);
    tcase_add_test(tc, checkpoint_every_damage_refused);
    tcase_add_test(tc, parameter_files_v1_and_v2);
    tcase_add_test(tc, describe_models);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
