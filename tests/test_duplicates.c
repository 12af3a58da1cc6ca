/* SPDX-License-Identifier: MIT */
/*
 * test_duplicates.c - duplicate runtimes kept by measured speed
 * (src/calib/duplicates.c) on POCL's pthread and basic devices, two views of
 * the host's cores.  The device list keeps pthread (more compute units) and
 * sets basic aside; calibration measures basic in pthread's place and keeps
 * the faster, the two timed in turn.  Which one wins depends on the machine, so
 * what is checked holds whatever the timings: the engine computes on exactly one
 * of the two, the turns decided it;
 * its note names the other, says it gets no rows, and says "replaces" exactly
 * when the engine's device is not the one the list kept; gradients are right
 * after the trial; a second engine on the same profile cache times the two in
 * turn again and keeps the decision unless the other view is faster by a margin; a
 * user's selection that names pthread first, and keep_duplicates,
 * run no trial.  The rule itself, with scripted speeds: tests/test_dedup.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedup_speed.h"
#include "engine_internal.h"
#include "engine_knobs.h"
#include "internal.h"
#include "test_problem.h"

static char cache[256];

enum { D = 32, C = 4, P = D * C + C, NROWS = 6000 };
static float *x, params[P];
static int32_t *labels;
static const hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};

static void setup(void)
{
    test_dir_make(cache, sizeof cache, "dup");
    x = malloc((size_t)NROWS * D * sizeof *x);
    labels = malloc(NROWS * sizeof *labels);
    test_fill_centred(x, (size_t)NROWS * D, 11);
    test_cyclic_labels(labels, NROWS, C);
    test_fixed_params(params, P);
}

static void teardown(void)
{
    test_dir_remove(cache);
    free(x);
    free(labels);
}

/* POCL's two views of the host CPU: "cpu" would add another CPU runtime's view
   (Intel's, in the opt-in Intel test stage). */
#define POCL "platform:Portable"

/* A calibrated engine on the POCL devices (selection sel), keeping duplicates or not,
   for steps of batch rows (0: unknown) and a job of work rows (0: unknown), with test
   knobs k (NULL: none). */
static hg_engine *engine_job(const char *sel, bool keep, size_t batch, size_t work,
                             const hg__engine_knobs *k)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = keep;
    dev.devices = sel;
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.cache_dir = cache;
    o.batch_rows = batch;
    o.work_rows = work;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, k, &model, &e, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc d = {NROWS, D, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &d, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    return e;
}

static hg_engine *engine_knobs(const char *sel, bool keep, size_t batch,
                               const hg__engine_knobs *k)
{
    return engine_job(sel, keep, batch, 0, k);
}

static hg_engine *engine_for(const char *sel, bool keep, size_t batch)
{
    return engine_knobs(sel, keep, batch, NULL);
}

static hg_engine *engine(const char *sel, bool keep)
{
    return engine_for(sel, keep, 0);
}

/* One step against the double reference. */
static void exact_step(hg_engine *e)
{
    float g[P];
    double ref[P], rl, loss;
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, params, 0, NROWS, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc d = {NROWS, D, x, NULL, labels};
    ck_assert_int_eq(hg_reference_loss_grad(&model, params, &d, 0, NROWS, NULL, &rl, ref,
                                            &err), HG_OK);
    double md = 0, mr = 0;
    for (int i = 0; i < P; i++) {
        md = fmax(md, fabs(g[i] - ref[i] / (double)NROWS));
        mr = fmax(mr, fabs(ref[i] / (double)NROWS));
    }
    ck_assert_msg(md <= 1e-4 * mr, "gradient error %g of %g", md, mr);
}

/* The engine's POCL CPU device (the only one with a selection of POCL). */
static size_t cpu_index(const hg_engine *e)
{
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        if (hg_engine_device(e, i)->type == HG_DEVICE_CPU)
            return i;
    ck_abort_msg("no CPU device");
    return 0;
}

/*
 * A second engine e2 on the first one's caches, where the first kept view win over view
 * lose (both ids): e2 times the two in turn again (duplicates.c, hg__dedup_recheck), the
 * winner on its raced kernels and the loser on those it was compared on.  The verdict
 * stands unless the loser is faster by a margin, and the note says which; a loser that
 * wins now races its kernels before it computes.  Returns whether the verdict stood.
 */
static bool earlier_verdict_checked(const hg_engine *e2, size_t i2, const char *win,
                                    const char *lose)
{
    const char *note = hg_engine_duplicate_note(e2, i2), *id = e2->dev[i2].info->id;
    char stood[256], overturned[256];
    snprintf(stood, sizeof stood, "%s lost to %s when both were measured on the same kernels "
             "(its profile, from the cache, was not raced after), and now, timed in turn on ",
             lose, win);
    snprintf(overturned, sizeof overturned, "%s had lost to %s when both were measured on the "
             "same kernels, but now, timed in turn on ", lose, win);
    bool stands = strcmp(id, win) == 0;
    printf("second engine: the earlier verdict %s: %s\n", stands ? "stood" : "was overturned",
           note);
    if (stands) {
        ck_assert_msg(strstr(note, stood) && strstr(note, "; the verdict stands unless ") &&
                      !strstr(note, "then raced"), "%s", note);
    } else {
        ck_assert_str_eq(id, lose);
        ck_assert_msg(strstr(note, overturned) &&
                      strstr(note, ": the earlier verdict is overturned; ") &&
                      strstr(note, "then raced its kernels"), "%s", note);
        ck_assert_msg(e2->dev[i2].kc_measured && strstr(e2->dev[i2].kc_note, "fastest of"),
                      "%s", e2->dev[i2].kc_note);
    }
    return stands;
}

START_TEST(the_faster_view_is_kept)
{
    hg_engine *e = engine(POCL, false);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    size_t i = cpu_index(e);
    const hg_device_info *d = hg_engine_device(e, i);
    const char *note = hg_engine_duplicate_note(e, i);
    printf("computing on %s (%s): %s\n", d->name, d->id, note);
    ck_assert_ptr_nonnull(note);
    ck_assert_msg(strstr(note, "the same hardware") && strstr(note, "gets no rows"), "%s",
                  note);
    /* a cold decision: the two views timed in turn decided it (dedup_speed.h) */
    ck_assert_msg(strstr(note, "timed in turn on ") && strstr(note, " rounds, "), "%s", note);
    /* the note names the other view, and "replaces" exactly when the list kept it */
    const hg_device_info *other = NULL; /* the other CPU view in the engine's list */
    for (size_t k = 0; k < hg_device_list_count(e->list); k++) {
        const hg_device_info *w = hg_device_list_get(e->list, k);
        if (w->type == HG_DEVICE_CPU && w->selected && w != d)
            other = w;
    }
    ck_assert_ptr_nonnull(other);
    ck_assert_msg(strstr(note, other->id), "%s does not name %s", note, other->id);
    /* two views: one decision, each view tried once */
    const char *again = strstr(note, "gets no rows");
    ck_assert_ptr_null(strstr(again + 1, "gets no rows"));
    /* "<device> replaces <other> ..." or "<device> kept over <other> ..." */
    size_t idlen = strlen(d->id);
    ck_assert_msg(strncmp(note, d->id, idlen) == 0, "%s", note);
    bool replaced = strncmp(note + idlen, " replaces ", 10) == 0;
    ck_assert_int_eq(replaced, !d->kept);
    ck_assert(replaced || strncmp(note + idlen, " kept over ", 11) == 0);
    exact_step(e);
    /* a second engine on the same caches: both profiles are read back and timed in turn;
       the choice stands, or is overturned by a margin */
    hg_engine *e2 = engine(POCL, false);
    earlier_verdict_checked(e2, cpu_index(e2), d->id, other->id);
    exact_step(e2);
    hg_engine_destroy(e2);
    ck_assert_ptr_null(hg_engine_duplicate_note(e, 5));
    ck_assert_ptr_null(hg_engine_duplicate_note(NULL, 0));
    hg_engine_destroy(e);
}
END_TEST

/* Whether device d computes with kernels it did not race (duplicates.c). */
static bool views_choice(const hg__device *d)
{
    return hg__kchoice_unraced(d->kc_note);
}

/* basic and pthread: one compiler on the same cores.  They are compared on the
   same kernels, pthread's defaults, neither racing; the one kept (pthread, by the
   knob) races its own after the decision.  A second engine, without the knob,
   reads both profiles from the cache (basic's on the kernels it was compared on,
   pthread's raced) and keeps the earlier verdict. */
START_TEST(a_view_with_the_same_compiler_is_not_raced)
{
    hg__engine_knobs k = {.views_verdict = -1}; /* pthread stays */
    hg_engine *e = engine_knobs(POCL, false, 0, &k);
    size_t i = cpu_index(e);
    const hg__device *d = &e->dev[i];
    const char *note = hg_engine_duplicate_note(e, i);
    ck_assert_msg(d->info->kept && strstr(d->info->name, "pthread"), "%s", d->info->name);
    const hg_device_info *basic = NULL;
    for (size_t j = 0; j < hg_device_list_count(e->list); j++)
        if (strstr(hg_device_list_get(e->list, j)->name, "basic"))
            basic = hg_device_list_get(e->list, j);
    ck_assert_ptr_nonnull(basic);
    char compared[256], raced[256], kname[48];
    hg__kchoice def = hg__kchoice_default(e, d);
    hg__kchoice_name(&def, kname, sizeof kname);
    snprintf(compared, sizeof compared, "%s ran %s without a race of its own, the kernels %s "
             "ran when they were compared", basic->id, kname, d->info->id);
    hg__kchoice_name(&d->kc, kname, sizeof kname);
    snprintf(raced, sizeof raced, "%s, kept, then raced its kernels: %s", d->info->id, kname);
    ck_assert_msg(strstr(note, compared), "%s\nlacks: %s", note, compared);
    ck_assert_msg(strstr(note, raced), "%s\nlacks: %s", note, raced);
    ck_assert_msg(d->kc_measured && !views_choice(d) && strstr(d->kc_note, "fastest of"),
                  "%s", d->kc_note);
    /* measured this time (no knob): the turns check the verdict the knob gave, basic on
       the kernels it was compared on (basic is often faster on steps this small, and
       then overturns it) */
    hg_engine *e2 = engine(POCL, false);
    size_t i2 = cpu_index(e2);
    const char *note2 = hg_engine_duplicate_note(e2, i2);
    ck_assert_msg(strstr(note2, compared), "%s", note2);
    if (earlier_verdict_checked(e2, i2, d->info->id, basic->id)) {
        ck_assert(e2->dev[i2].model_from_cache && e2->dev[i2].kc_measured);
        ck_assert_str_eq(e2->dev[i2].kc_note, d->kc_note);
    }
    exact_step(e2);
    hg_engine_destroy(e2);
    hg_engine_destroy(e);
}
END_TEST

/*
 * A view whose candidates are a subset of the kept device's is compared on the
 * kept device's kernels too, without a race of its own: at a step of four
 * slabs per basic compute unit, POCL's pthread device, with more units, is
 * offered the small-batch shapes as well and basic is not (kchoice.c), and
 * basic used to race all of its own before it lost (duplicates.c,
 * candidates_within).
 */
START_TEST(a_view_with_fewer_candidates_is_not_raced)
{
    hg__engine_knobs k = {.views_verdict = -1}; /* pthread stays */
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.devices = POCL;
    o.log_level = HG_LOG_ERROR;
    hg_device_list *list = NULL;
    hg_error err;
    ck_assert_msg(hg_device_list_create(&o, &list, &err) == HG_OK, "%s", err.message);
    char basic_id[64] = "";
    size_t bu = 0, pu = 0;
    for (size_t j = 0; j < hg_device_list_count(list); j++) {
        const hg_device_info *c = hg_device_list_get(list, j);
        if (strstr(c->name, "basic")) {
            snprintf(basic_id, sizeof basic_id, "%s", c->id);
            bu = c->compute_units ? c->compute_units : 1;
        } else if (strstr(c->name, "pthread")) {
            pu = c->compute_units;
        }
    }
    hg_device_list_destroy(list);
    ck_assert_msg(basic_id[0] && pu > 0, "POCL's basic and pthread devices");
    size_t batch = 4 * HG__SLAB_MIN * bu; /* not a small batch for basic */
    ck_assert_uint_le(batch, NROWS);
    hg_engine *e = engine_knobs(POCL, false, batch, &k);
    size_t i = cpu_index(e);
    const hg__device *d = &e->dev[i];
    ck_assert_msg(strstr(d->info->name, "pthread"), "%s", d->info->name);
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(e, d, c), small = 0;
    for (size_t q = 0; q < nc; q++)
        small += c[q].s != 0;
    /* the case this test is for, where pthread has more units than basic */
    ck_assert_msg(pu <= bu || small > 0, "pthread (%zu units) has no small-batch shape at %zu "
                  "rows", pu, batch);
    char compared[256], kname[48];
    hg__kchoice def = hg__kchoice_default(e, d);
    hg__kchoice_name(&def, kname, sizeof kname);
    snprintf(compared, sizeof compared, "%s ran %s without a race of its own, the kernels %s "
             "ran when they were compared", basic_id, kname, d->info->id);
    const char *note = hg_engine_duplicate_note(e, i);
    ck_assert_msg(strstr(note, compared), "%s\nlacks: %s", note, compared);
    ck_assert_msg(d->kc_measured && strstr(d->kc_note, "fastest of"), "%s", d->kc_note);
    exact_step(e);
    hg_engine_destroy(e);
}
END_TEST

/* A view that wins (forced by the knob) races its own kernels after the decision,
   before it computes, and its profile comes back from the cache as raced; a
   second engine, without the knob, keeps the earlier verdict. */
START_TEST(a_winning_view_races_its_own_kernels)
{
    hg__engine_knobs k = {.views_verdict = 1};
    hg_engine *e = engine_knobs(POCL, false, 0, &k);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    const hg__device *d = &e->dev[0];
    ck_assert_msg(!d->info->kept && strstr(d->info->name, "basic"), "%s", d->info->name);
    ck_assert_msg(d->kc_measured && !views_choice(d) && strstr(d->kc_note, "fastest of"),
                  "%s", d->kc_note);
    ck_assert_ptr_null(d->kc_view);
    exact_step(e);
    hg_engine *e2 = engine(POCL, false); /* measured: the turns check the verdict */
    const hg__device *d2 = &e2->dev[0];
    const char *pthread_id = NULL;
    for (size_t j = 0; j < hg_device_list_count(e->list); j++)
        if (strstr(hg_device_list_get(e->list, j)->name, "pthread"))
            pthread_id = hg_device_list_get(e->list, j)->id;
    ck_assert_ptr_nonnull(pthread_id);
    if (earlier_verdict_checked(e2, 0, d->info->id, pthread_id)) {
        ck_assert(d2->model_from_cache && d2->kc_measured);
        ck_assert_str_eq(d2->kc_note, d->kc_note);
    }
    exact_step(e2);
    hg_engine_destroy(e2);
    hg_engine_destroy(e);
}
END_TEST

/* First turns too close to call (forced by the knob) take HG__DEDUP_ROUNDS_MAX
   rounds in all, and the note says how many decided and why; without the knob, a
   first verdict is taken on HG__DEDUP_TURNS rounds unless those were close. */
START_TEST(close_turns_take_more_rounds)
{
    hg__engine_knobs k = {.views_close = true};
    hg_engine *e = engine_knobs(POCL, false, 128, &k);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    const char *note = hg_engine_duplicate_note(e, 0);
    char rounds[64], why[160];
    snprintf(rounds, sizeof rounds, "timed in turn on 128 rows, %u rounds, ",
             HG__DEDUP_ROUNDS_MAX);
    snprintf(why, sizeof why, "the first %u rounds were within %.3g times either way: %u "
             "rounds in all", HG__DEDUP_TURNS, HG__DEDUP_CLOSE, HG__DEDUP_ROUNDS_MAX);
    ck_assert_msg(strstr(note, rounds) && strstr(note, why), "%s", note);
    exact_step(e);
    hg_engine_destroy(e);
    /* measured, a fresh cache: three rounds, or all of them when those were close */
    test_dir_remove(cache);
    test_dir_make(cache, sizeof cache, "dup");
    e = engine_for(POCL, false, 128);
    note = hg_engine_duplicate_note(e, 0);
    snprintf(rounds, sizeof rounds, "timed in turn on 128 rows, %u rounds, ", HG__DEDUP_TURNS);
    printf("measured: %s\n", note);
    ck_assert_msg(strstr(note, rounds) ? !strstr(note, why) : strstr(note, why) != NULL, "%s",
                  note);
    hg_engine_destroy(e);
}
END_TEST

/* The engine's step size known (a training run's minibatch): the views are
   compared on a step of that many rows, not on the whole data set. */
START_TEST(views_compared_at_the_step_size)
{
    hg_engine *e = engine_for(POCL, false, 128);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    const char *note = hg_engine_duplicate_note(e, 0);
    ck_assert_msg(strstr(note, "a step of 128 rows"), "%s", note);
    hg_engine_destroy(e);
    e = engine(POCL, false);
    note = hg_engine_duplicate_note(e, 0);
    ck_assert_msg(strstr(note, "a step of 6000 rows"), "%s", note);
    hg_engine_destroy(e);
}
END_TEST

/* A job too short to repay a trial (hg_engine_options.work_rows) keeps the view the
   list kept, untried, on its default kernels unraced; a long one tries the other. */
START_TEST(a_short_job_tries_no_view)
{
    hg_engine *e = engine_job(POCL, false, 128, 10 * 128, NULL);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    const hg__device *d = &e->dev[0];
    const char *note = hg_engine_duplicate_note(e, 0);
    ck_assert_msg(d->info->kept && strstr(note, "kept without a trial of the 1 other view"),
                  "%s: %s", d->info->name, note);
    ck_assert_msg(!d->kc_measured && strncmp(d->kc_note, HG__NOTE_SHORT_JOB,
                                             strlen(HG__NOTE_SHORT_JOB)) == 0,
                  "%s", d->kc_note);
    exact_step(e);
    hg_engine_destroy(e);
    e = engine_job(POCL, false, 128, (size_t)1 << 40, NULL);
    d = &e->dev[0];
    note = hg_engine_duplicate_note(e, 0);
    ck_assert_msg(!strstr(note, "without a trial") && strstr(note, "the same hardware"),
                  "%s", note);
    ck_assert_msg(d->kc_measured && strstr(d->kc_note, "fastest of"), "%s", d->kc_note);
    exact_step(e);
    hg_engine_destroy(e);
}
END_TEST

/* The user named pthread first: its preference stands, no trial. */
START_TEST(a_named_preference_is_not_measured_away)
{
    hg_engine *e = engine("pthread,basic", false);
    ck_assert_uint_eq(hg_engine_device_count(e), 1);
    ck_assert_ptr_nonnull(strstr(hg_engine_device(e, 0)->name, "pthread"));
    ck_assert_str_eq(hg_engine_duplicate_note(e, 0), "");
    hg_engine_destroy(e);
}
END_TEST

/* keep_duplicates: both views are devices of the engine; joint calibration decides. */
START_TEST(kept_duplicates_are_not_traded)
{
    hg_engine *e = engine(POCL, true);
    ck_assert_uint_eq(hg_engine_device_count(e), 2);
    for (size_t i = 0; i < 2; i++)
        ck_assert_str_eq(hg_engine_duplicate_note(e, i), "");
    exact_step(e);
    hg_engine_destroy(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("duplicates");
    TCase *tc = tcase_create("pocl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, the_faster_view_is_kept);
    tcase_add_test(tc, a_named_preference_is_not_measured_away);
    tcase_add_test(tc, views_compared_at_the_step_size);
    tcase_add_test(tc, close_turns_take_more_rounds);
    tcase_add_test(tc, a_short_job_tries_no_view);
    tcase_add_test(tc, kept_duplicates_are_not_traded);
    tcase_add_test(tc, a_view_with_the_same_compiler_is_not_raced);
    tcase_add_test(tc, a_view_with_fewer_candidates_is_not_raced);
    tcase_add_test(tc, a_winning_view_races_its_own_kernels);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
