/* SPDX-License-Identifier: MIT */
/*
 * test_fission.c - device fission (fission.c) on POCL's two CPU devices: the
 * pthread device opened as a sub-device of one compute unit fewer computes
 * the same gradient as the double host reference, in every split, and is
 * released with the engine; the knob and HETGRAD_FISSION=off keep it whole, and so
 * does basic beside it, another view of the same cores (without the tests' knob).
 * Whether fission pays is timing, and never a pass/fail threshold here: the
 * decision rule itself is tested on scripted figures (test_calib_rules.c).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_knobs.h"

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5

typedef struct problem {
    hg_model_desc   m;
    float          *x, *params;
    int32_t        *l;
    hg_dataset_desc d;
    size_t          P;
} problem;

static void make_problem(problem *p, size_t rows, size_t inputs, size_t classes)
{
    memset(p, 0, sizeof *p);
    uint64_t s = 7;
    p->m = (hg_model_desc){.kind = HG_MODEL_SOFTMAX, .inputs = inputs, .outputs = classes};
    p->x = malloc(rows * inputs * sizeof *p->x);
    p->l = malloc(rows * sizeof *p->l);
    ck_assert(p->x && p->l);
    for (size_t r = 0; r < rows; r++) {
        p->l[r] = (int32_t)(r % classes);
        for (size_t j = 0; j < inputs; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            p->x[r * inputs + j] = (float)((double)(s >> 40) / 16777216.0 - 0.5) +
                                   (j == (size_t)p->l[r] ? 1.0f : 0.0f);
        }
    }
    p->d = (hg_dataset_desc){rows, inputs, p->x, NULL, p->l};
    p->P = hg_model_param_count(&p->m);
    p->params = malloc(p->P * sizeof *p->params);
    ck_assert(p->params);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)((double)((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.1f;
}

static void free_problem(problem *p)
{
    free(p->x);
    free(p->l);
    free(p->params);
}

/* POCL's pthread and basic devices (both kept), no profile cache. */
static hg_engine *engine(const problem *p, const hg__engine_knobs *k)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = "platform:Portable"; /* POCL's two: not another CPU runtime (Intel's) */
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, k, &p->m, &e, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_set_data(e, &p->d, &err) == HG_OK, "%s", err.message);
    return e;
}

static size_t pthread_device(const hg_engine *e)
{
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        if (strstr(hg_engine_device(e, i)->name, "pthread"))
            return i;
    ck_abort_msg("no POCL pthread device");
    return SIZE_MAX;
}

/* In the last step, device t computed rows (exactly rows when not 0) and did
   not fail: no rows of its recomputed by the other device with the reference's
   result (docs/testing.md). */
static void computed(const hg_engine *e, size_t t, size_t rows, const char *what)
{
    hg_device_step s;
    ck_assert_int_eq(hg_engine_last_step(e, t, &s), HG_OK);
    ck_assert_msg(rows ? s.rows == rows : s.rows > 0, "%s: %zu rows on the device", what,
                  s.rows);
    ck_assert_msg(!s.failed && !hg_engine_quarantined(e, t, NULL) &&
                      hg_engine_recovered_steps(e) == 0,
                  "%s: the device failed", what);
}

static void expect_reference(hg_engine *e, const problem *p, size_t first, size_t count,
                             const char *what)
{
    float *g = malloc(p->P * sizeof *g);
    double *ref = calloc(p->P, sizeof *ref);
    double loss = 0, rloss = 0, maxref = 0, maxdiff = 0;
    hg_error err;
    ck_assert(g && ref);
    ck_assert_msg(hg_engine_gradient(e, p->params, first, count, g, &loss, &err) == HG_OK,
                  "%s: %s", what, err.message);
    ck_assert_msg(hg_reference_loss_grad(&p->m, p->params, &p->d, first, count, NULL, &rloss,
                                         ref, &err) == HG_OK, "reference: %s", err.message);
    for (size_t i = 0; i < p->P; i++) {
        ref[i] /= (double)count;
        maxref = fmax(maxref, fabs(ref[i]));
        maxdiff = fmax(maxdiff, fabs((double)g[i] - ref[i]));
    }
    rloss /= (double)count;
    ck_assert_msg(maxdiff <= GRAD_TOL * maxref, "%s: gradient error %.3g (max |ref| %.3g)",
                  what, maxdiff, maxref);
    ck_assert_msg(fabs(loss - rloss) <= LOSS_TOL * fabs(rloss), "%s: loss %.9g, reference %.9g",
                  what, loss, rloss);
    free(g);
    free(ref);
}

/* Kept fissioned: one compute unit fewer, and the same gradient as the reference. */
START_TEST(fissioned_pthread_computes_the_reference)
{
    problem p;
    make_problem(&p, 3000, 40, 5);
    hg__engine_knobs k = {.keep_fission = true};
    hg_engine *e = engine(&p, &k);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    size_t t = pthread_device(e);
    const hg__device *d = &e->dev[t];
    const char *note = hg_engine_fission_note(e, t);
    ck_assert_msg(note && strncmp(note, "fissioned to ", 13) == 0, "note: %s", note);
    /* the whole device alone was timed on the step's rows (its window holds them
       all), not predicted from its solo model */
    const char *alone = strstr(note, "and the whole device alone took ");
    ck_assert_msg(alone != NULL, "note: %s", note);
    double alone_ms = atof(alone + strlen("and the whole device alone took "));
    ck_assert_msg(alone_ms > 0 && alone_ms < 60000, "note: %s", note);
    ck_assert_ptr_nonnull(d->sub);
    ck_assert_uint_ge(d->sub_units, 1);
    cl_uint cu = 0;
    ck_assert_int_eq(clGetDeviceInfo(d->cl_dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu,
                                     NULL), CL_SUCCESS);
    ck_assert_uint_eq(cu, d->sub_units);
    ck_assert_uint_eq(cu + 1, d->info->compute_units);
    ck_assert(!hg_engine_quarantined(e, t, NULL));
    hg_device_profile pf;
    ck_assert_int_eq(hg_engine_device_profile(e, t, &pf), HG_OK);
    ck_assert(pf.valid && !pf.from_cache);
    expect_reference(e, &p, 0, 3000, "calibrated split, fissioned pthread");
    /* the fissioned device alone, then sharing equally */
    double w[2] = {0, 0};
    w[t] = 1;
    ck_assert(hg_engine_set_weights(e, w, 2, &err) == HG_OK);
    ck_assert(hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err) == HG_OK);
    expect_reference(e, &p, 17, 2500, "fissioned pthread alone");
    computed(e, t, 2500, "fissioned pthread alone");
    w[0] = w[1] = 1;
    ck_assert(hg_engine_set_weights(e, w, 2, &err) == HG_OK);
    expect_reference(e, &p, 0, 3000, "equal split, fissioned pthread");
    computed(e, t, 0, "equal split, fissioned pthread");
    /* a second calibration keeps the sub-device (and its note) */
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    ck_assert_ptr_nonnull(e->dev[t].sub);
    expect_reference(e, &p, 0, 3000, "recalibrated, fissioned pthread");
    /* and computes on it (the calibrated plan may give it no rows) */
    ck_assert(hg_engine_set_weights(e, w, 2, &err) == HG_OK);
    ck_assert(hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err) == HG_OK);
    expect_reference(e, &p, 0, 3000, "recalibrated, equal split, fissioned pthread");
    computed(e, t, 0, "recalibrated, equal split, fissioned pthread");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* The sub-device opens on the whole device's kernels: one build, not the default's
   and then those.  The default shape is broken (a wrong gradient), so that the race
   keeps another and a build of the default first would count. */
START_TEST(subdevice_builds_the_whole_devices_kernels_once)
{
    problem p;
    make_problem(&p, 3000, 40, 5);
    hg__engine_knobs k = {.keep_fission = true};
    hg_engine *e = engine(&p, &k);
    size_t t = pthread_device(e);
    hg__kchoice def = hg__kchoice_default(e, &e->dev[t]);
    char name[48];
    hg__kchoice_name(&def, name, sizeof name);
    hg__kchoice_break(e, name, 2);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    const hg__device *d = &e->dev[t];
    ck_assert_ptr_nonnull(d->sub);
    ck_assert_msg(!hg__kchoice_same(&d->kc, &def), "the broken default %s was kept", name);
    ck_assert_uint_eq(d->path_builds, 1);
    expect_reference(e, &p, 0, 3000, "fissioned pthread, opened on its kernels");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* The trial runs by default and leaves a note, whatever it decides. */
START_TEST(trial_leaves_a_note)
{
    problem p;
    make_problem(&p, 3000, 40, 5);
    hg_engine *e = engine(&p, NULL);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    size_t t = pthread_device(e);
    const char *note = hg_engine_fission_note(e, t);
    bool fissioned = strncmp(note, "fissioned to ", 13) == 0;
    ck_assert_msg(fissioned || strncmp(note, "kept whole (", 12) == 0, "note: %s", note);
    ck_assert(fissioned == (e->dev[t].sub != NULL));
    ck_assert_str_eq(hg_engine_fission_note(e, 1 - t), ""); /* basic: one unit */
    ck_assert_ptr_null(hg_engine_fission_note(e, 2));
    ck_assert_ptr_null(hg_engine_fission_note(NULL, 0));
    expect_reference(e, &p, 0, 3000, "after the trial");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/*
 * Without the tests' knob, POCL's pthread device is not tried beside basic: both are views
 * of the host's cores, so a fissioned pthread and basic could at best tie pthread whole.
 */
START_TEST(not_tried_beside_views_of_the_same_cores)
{
    problem p;
    make_problem(&p, 3000, 40, 5);
    hg__engine_knobs k = {0};
    hg_engine *e = engine(&p, &k);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    size_t t = pthread_device(e);
    const char *note = hg_engine_fission_note(e, t);
    ck_assert_msg(note && strncmp(note, "kept whole (", 12) == 0 &&
                      strstr(note, "): the devices beside it are other views of the host's "
                                   "cores, so a core fewer gives no other processor a host "
                                   "thread") != NULL,
                  "note: %s", note);
    ck_assert_ptr_null(e->dev[t].sub);
    expect_reference(e, &p, 0, 3000, "whole");
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/*
 * The rule holds whatever rows the plan gives: a noisy calibration that leaves pthread
 * or basic without rows must not turn the trial on, nor change the note (CI on
 * 2026-12-05 saw pthread get none and the note say only that).  The models are
 * scripted so that each device in turn gets no rows, then the trial runs again.
 */
START_TEST(views_rule_holds_whatever_the_plan)
{
    problem p;
    make_problem(&p, 3000, 40, 5);
    hg__engine_knobs k = {.no_fission = true};
    hg_engine *e = engine(&p, &k);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    size_t t = pthread_device(e), b = 1 - t;
    ck_assert(e->dev[t].model.valid && e->dev[b].model.valid);
    e->fission = true; /* the knob kept calibrate's trial off; run it here */
    for (int starved = 0; starved < 2; starved++) {
        size_t slow = starved == 0 ? t : b, fast = starved == 0 ? b : t;
        e->dev[slow].model.a_ms = 1e6; /* far beyond a whole step on the other */
        e->dev[fast].model.a_ms = 0.1;
        e->dev[fast].model.b_ms_per_row = 1e-4;
        ck_assert_msg(hg__fission_calibrate(e, p.params, &err) == HG_OK, "%s", err.message);
        const char *note = hg_engine_fission_note(e, t);
        ck_assert_msg(strstr(note, "): the devices beside it are other views of the host's "
                                   "cores") != NULL,
                      "%s without rows; note: %s", slow == t ? "pthread" : "basic", note);
        ck_assert_ptr_null(e->dev[t].sub);
        e->dev[slow].model = e->dev[fast].model;
    }
    /* basic quarantined: no view beside it, so the plan's reason is the note */
    e->dev[b].quarantined = true;
    ck_assert_msg(hg__fission_calibrate(e, p.params, &err) == HG_OK, "%s", err.message);
    const char *note = hg_engine_fission_note(e, t);
    ck_assert_msg(strncmp(note, "kept whole (", 12) == 0 &&
                      strstr(note, "): the plan gives no other device rows beside it"),
                  "note: %s", note);
    e->dev[b].quarantined = false;
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* The knob turns it off: no trial, no note. */
START_TEST(off_means_whole)
{
    problem p;
    make_problem(&p, 2000, 40, 5);
    hg__engine_knobs k = {.no_fission = true, .keep_fission = true};
    hg_engine *e = engine(&p, &k);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        ck_assert_str_eq(hg_engine_fission_note(e, i), "");
        ck_assert_ptr_null(e->dev[i].sub);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fission");
    TCase *tc = tcase_create("pocl");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fissioned_pthread_computes_the_reference);
    tcase_add_test(tc, trial_leaves_a_note);
    tcase_add_test(tc, off_means_whole);
    tcase_add_test(tc, not_tried_beside_views_of_the_same_cores);
    tcase_add_test(tc, views_rule_holds_whatever_the_plan);
    tcase_add_test(tc, subdevice_builds_the_whole_devices_kernels_once);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
