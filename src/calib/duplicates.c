/* SPDX-License-Identifier: MIT */
/*
 * duplicates.c - duplicate runtimes kept by measured speed.
 *
 * The device list keeps one view of each piece of hardware (dedup.c) before
 * anything is measured: for the host's cores, the view the user named first,
 * else the one with the most compute units, else the first listed.  Which
 * runtime is faster depends on the workload (issue 16: Intel's CPU runtime
 * beat POCL on softmax and lost to it on an MLP), so after the solo fits,
 * calibration measures the views the list set aside by compute units or list
 * order (not a view the user ranked below the kept one), one at a time, in the
 * kept device's place:
 *
 *   1. the view is opened (context, queue, programs) and the kept device's
 *      resident rows are uploaded to it, read back from the kept device;
 *   2. a screen: one timed run of SCREEN_ROWS rows (after a warm-up) with the
 *      view's default kernels.  When it takes more than SCREEN_MARGIN times
 *      what the kept device's solo model predicts for a whole step, the view
 *      cannot win (a step's time grows with its rows; the margin covers a
 *      busy machine's noise and a better kernel) and is not calibrated:
 *      Oclgrind beside POCL costs a run of 64 rows, not a calibration of tens
 *      of seconds;
 *   3. otherwise it is calibrated alone as the solo phase calibrates a device
 *      (kernel choice and cost model, or its cached profile); a view with the
 *      kept device's compiler (same_compiler) is measured on the kept
 *      device's kernels without a race (adopt_choice);
 *   4. the faster view at the step size is kept: the engine's step size when
 *      the caller said it (hg_engine_options.batch_rows), else min(rows, 65536)
 *      rows (joint calibration's step; hg__decision_rows).  Two views of the
 *      same compiler take turns in the slot, timed back to back on those rows
 *      (scaled down to a few milliseconds), each warmed again first,
 *      HG__DEDUP_TURNS rounds, and the median of the rounds' ratios decides
 *      (take_turns, hg__dedup_turns): the solo models were fitted one after
 *      the other, and another process that took a core for a second during
 *      one fit made the slower view predict the faster step (POCL's basic kept
 *      over pthread: bench_train's 128-row MLP step then took 1.35 times
 *      pthread's, and the verdict was cached).  When those rounds are within
 *      HG__DEDUP_CLOSE of a tie (hg__dedup_turns_close), HG__DEDUP_ROUNDS_MAX
 *      rounds in all decide instead (three rounds on the MLP's 128-row step
 *      once kept basic by 1.07 times, pthread's step at 1.19 ms where it took
 *      0.69-0.87 ms in most calibrations; docs/engine.md).  Views of other
 *      compilers, and
 *      views without two valid models, are judged by the solo models
 *      (hg__dedup_faster; judge says why).  The other view is closed and gets
 *      no rows;
 *   5. the device kept, when it computes with kernels it did not race (its
 *      race deferred, or another view's kernels), races its own (race_kept).
 *      On a later start, when one of the two profiles comes from the cache
 *      unraced and the other raced, the turns check that verdict, which stands
 *      unless the loser is faster by a margin (judge, hg__dedup_recheck).
 *
 * A job too short to repay a trial (hg_engine_options.work_rows, predicted on the
 * kept device's solo model under HG__TRIAL_MS: short_job_skips_views)
 * tries no view: the kept device stays, its kernels unraced (race_kept keeps them
 * with hg__keep_for_short_job, without measuring again).
 *
 * Views with the same compiler are thus compared on the same kernels, and
 * only the one kept races: when every view a device will be tried against
 * shares its compiler, the solo phase does not race it (defer_race,
 * hg__duplicates_defer_race; calibrate.c sets it).  A shape ranks the same
 * on both, since their threads differ and their code does not.
 *
 * The decision and its figures are the device's dup_note
 * (hg_engine_duplicate_note, hetgrad-probe --profile, hetgrad-bench).  A
 * failure of a trial is a note and the kept device stays.  Not tried for CSR
 * data (the trial uploads dense rows), nor for a fissioned device.  With
 * hg_options.keep_duplicates every view is a device of the engine already:
 * joint calibration decides which of them pay (joint.c), and nothing here runs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "calib_rules.h"
#include "dedup_speed.h"
#include "engine_internal.h"

#define STEP_MAX_ROWS 65536u /* joint.c's JOINT_MAX_ROWS: the step decisions hold for */
#define SCREEN_ROWS 64u
#define SCREEN_MARGIN 4.0 /* a screen longer than this times the kept device's step: out */
#define TURN_RUNS 3       /* timed runs of a view in its turn, their median, after it
                             is warm again (hg__profile_time_warmed) */

/* The list index of the device the list kept for d's hardware. */
static size_t group_keeper(const hg_device_info *info, size_t li)
{
    return info->kept || info->duplicate_of < 0 ? li : (size_t)info->duplicate_of;
}

/*
 * May list device j stand in for d, the device in an engine slot?  It is
 * another selected view of d's hardware that the list did not keep for the
 * engine (keep_duplicates keeps every view: none qualifies), and the user did
 * not rank it differently from the view the list kept.
 */
static bool eligible(const hg_engine *eng, const hg__device *d, size_t j)
{
    const hg_device_info *c = hg_device_list_get(eng->list, j);
    size_t k = group_keeper(d->info, d->li);
    if (!c || j == d->li || !c->selected)
        return false;
    bool view = j == k ? !hg_device_list_get(eng->list, d->li)->kept
                       : !c->kept && c->duplicate_of == (long)k;
    return view && hg__list_rank(eng->list, j) == hg__list_rank(eng->list, k);
}

/*
 * Whether views a and c of the same hardware compile alike: the same platform
 * and driver (POCL's pthread and basic devices: one compiler, one kernel
 * library, the same cores).  Then a kernel shape ranks the same on both,
 * whose threads differ, not their code.
 */
static bool same_compiler(const hg_device_info *a, const hg_device_info *c)
{
    return strcmp(a->platform_name, c->platform_name) == 0 &&
           strcmp(a->driver_version, c->driver_version) == 0 && a->cl_type == c->cl_type;
}

bool hg__duplicates_defer_race(const hg_engine *eng, size_t i)
{
    const hg__device *d = &eng->dev[i];
    if (d->quarantined || d->sub || eng->sparse || d->win.hi == d->win.lo)
        return false;
    size_t views = 0;
    for (size_t j = 0; j < hg_device_list_count(eng->list); j++) {
        if (!eligible(eng, d, j))
            continue;
        if (!same_compiler(d->info, hg_device_list_get(eng->list, j)))
            return false; /* another compiler races its own: d's must be raced to compare */
        views++;
    }
    return views > 0;
}

/*
 * View v, just opened, is measured on whole's kernels without a race of its
 * own when every candidate of v's is one of whole's and whole's kernels are
 * one of v's (else its race would rank shapes whole never tried, and it
 * races): profile.c switches it to them, one build, when its profile is not
 * in the cache, and checks their gradient.  It opened on its default
 * kernels, which are whole's in a cold calibration (whole's race waits:
 * defer_race) and are in the driver's cache on a warm one.  Fewer candidates
 * than whole's is the usual case for an MLP: the small-batch path is offered
 * below four slabs per compute unit (kchoice.c), so POCL's pthread device (two
 * units here) has it at 2,048 rows and basic (one) does not; requiring the
 * same candidates made basic race all six tiled shapes, 4.7 s of a 14 s cold
 * calibration, before it lost the comparison (docs/engine.md).
 */
static bool candidates_within(const hg_engine *eng, const hg__device *v,
                              const hg__device *whole)
{
    hg__kchoice vc[HG__MAX_CANDIDATES], wc[HG__MAX_CANDIDATES];
    size_t nv = hg__kchoice_candidates(eng, v, vc), nw = hg__kchoice_candidates(eng, whole, wc);
    bool has_whole_kc = false;
    for (size_t k = 0; k < nv; k++) {
        bool in_whole = false;
        for (size_t j = 0; j < nw && !in_whole; j++)
            in_whole = hg__kchoice_same(&vc[k], &wc[j]);
        if (!in_whole)
            return false;
        has_whole_kc |= hg__kchoice_same(&vc[k], &whole->kc);
    }
    return has_whole_kc;
}

static void adopt_choice(const hg_engine *eng, hg__device *v, const hg__device *whole)
{
    if (candidates_within(eng, v, whole)) {
        v->kc_view = whole->info->id;
        v->kc_view_choice = whole->kc;
    }
}

/*
 * Open list device j in slot i's place (the device there, *whole, stays
 * open) with whole's resident rows, and screen it (see the top of the file).
 * *screened_ms: the screen's time.  On failure the slot is not touched.
 */
static hg_status open_view(hg_engine *eng, size_t i, size_t j, hg__device *whole,
                           double *screened_ms, hg_error *err)
{
    *whole = eng->dev[i];
    hg__device *d = &eng->dev[i];
    size_t have = whole->win.hi - whole->win.lo, fit = 0, chunk = 0;
    hg_status st = hg__device_open(eng, d, j, err);
    if (st == HG_OK && same_compiler(whole->info, d->info)) /* measured on whole's kernels */
        adopt_choice(eng, d, whole);
    if (st == HG_OK) {
        hg__device_capacity(eng, d, &fit, &chunk);
        if (eng->det) /* whole blocks, as hg_engine_set_data sizes them */
            chunk = chunk < eng->block_rows ? eng->block_rows
                                            : chunk / eng->block_rows * eng->block_rows;
        d->chunk_rows = chunk;
        if (fit < have)
            st = hg__error_set(err, HG_RANGE, 0, "%s holds %zu rows, not the %zu of %s",
                               d->what, fit, have, whole->what);
    }
    if (st == HG_OK)
        st = hg__device_copy_window(eng, whole, d, err);
    if (st == HG_OK)
        st = hg__profile_time(eng, i, have < SCREEN_ROWS ? have : SCREEN_ROWS, 1,
                              screened_ms, err);
    if (st != HG_OK) {
        hg__forward_release(d);
        hg__device_close(d);
        eng->dev[i] = *whole;
    }
    return st;
}

/* Append note to buf (n bytes), after "; " when buf is not empty; truncated to fit. */
static void append(char *buf, size_t n, const char *note)
{
    size_t used = strlen(buf);
    const char *parts[2] = {used ? "; " : "", note};
    for (int p = 0; p < 2; p++) {
        size_t len = strlen(parts[p]), room = n - 1 - used;
        len = len < room ? len : room;
        memcpy(buf + used, parts[p], len);
        used += len;
    }
    buf[used] = '\0';
}

/*
 * Time the device in slot i (other == NULL) or *other put in its place for the run
 * (the view and the device it is tried against take turns in the slot, as in
 * open_view) on n rows: warmed up again after the other's turn, then TURN_RUNS timed
 * runs after one more untimed, their median into *ms (hg__profile_time_warmed).
 */
static hg_status time_in_slot(hg_engine *eng, size_t i, hg__device *other, size_t n,
                              double *ms, hg_error *err)
{
    hg__device here = eng->dev[i];
    if (other)
        eng->dev[i] = *other;
    hg_status st = hg__profile_time_warmed(eng, i, n, TURN_RUNS, ms, err);
    if (other) {
        *other = eng->dev[i];
        eng->dev[i] = here;
    }
    return st;
}

/*
 * The turns (dedup_speed.h): view v, in slot i, and whole timed back to back on the
 * same rows, rounds from .. rounds - 1 (rounds at most HG__DEDUP_ROUNDS_MAX), the first
 * of each pair alternating, into tw[] and tv[]; *m: the rows, rows scaled down to a few
 * milliseconds (hg__dedup_turn_rows).
 */
static hg_status take_turns(hg_engine *eng, size_t i, hg__device *whole, size_t rows,
                            size_t from, size_t rounds, double *tw, double *tv, size_t *m,
                            hg_error *err)
{
    const hg__device *v = &eng->dev[i];
    *m = hg__dedup_turn_rows(rows, hg__cost_predict(&whole->model, rows),
                             hg__cost_predict(&v->model, rows), whole->win.hi - whole->win.lo);
    hg_status st = HG_OK;
    for (size_t r = from; r < rounds && st == HG_OK; r++) {
        bool whole_first = r % 2 == 0;
        st = time_in_slot(eng, i, whole_first ? whole : NULL, *m,
                          whole_first ? &tw[r] : &tv[r], err);
        if (st == HG_OK)
            st = time_in_slot(eng, i, whole_first ? NULL : whole, *m,
                              whole_first ? &tv[r] : &tw[r], err);
    }
    return st;
}

/*
 * The trial proper (try_view): view c, open in slot i with whole beside it,
 * calibrated alone, then, when both are views of one compiler, timed in turn
 * with whole (take_turns), and the turns decide (hg__dedup_turns; otherwise,
 * or without two valid models, the models: hg__dedup_faster); *replace: c is
 * faster; note (n bytes): what was decided.
 * A view on whole's kernels (adopt_choice) says so.  When one of the two
 * profiles comes from the cache unraced and the other raced, there was an
 * earlier verdict on equal kernels, which the raced one won (race_kept): the
 * turns now run the winner on its raced kernels and the loser on those it was
 * compared on, and the verdict stands unless the loser is faster by a margin
 * (hg__dedup_recheck).  A close cold decision is not undone start after start,
 * and one taken while another process held a core is.
 */
static hg_status judge(hg_engine *eng, size_t i, const hg_device_info *c,
                       hg__device *whole, const float *params, size_t rows,
                       bool *replace, char *note, size_t n, hg_error *err)
{
    hg__device *v = &eng->dev[i];
    bool cached = false;
    hg_status st = hg__calibrate_one(eng, i, params, false, &cached, err);
    /* a cached profile left unraced lost an earlier comparison on equal kernels to
       the other view of its compiler, whose raced profile is cached too (a view of
       another compiler was never compared with it so) */
    bool v_lost = cached && hg__kchoice_unraced(v->kc_note),
         w_lost = whole->model_from_cache && hg__kchoice_unraced(whole->kc_note);
    /* views of one compiler take turns (across vendors, Intel's CPU runtime beside
       POCL, the turns picked no better than the solo models, which still judge
       such views: docs/engine.md, "Duplicate runtimes"); the earlier
       verdict, when there is one, is checked by turns and stands within a margin
       (hg__dedup_recheck); otherwise the turns decide (hg__dedup_turns) */
    bool one_compiler = same_compiler(whole->info, c);
    bool earlier = st == HG_OK && v_lost != w_lost && one_compiler;
    bool faster = false, timed = st == HG_OK && one_compiler &&
                                 (earlier || (whole->model.valid && v->model.valid));
    double tw[HG__DEDUP_ROUNDS_MAX], tv[HG__DEDUP_ROUNDS_MAX];
    size_t m = 0;
    size_t rounds = earlier ? HG__DEDUP_RECHECK_TURNS : HG__DEDUP_TURNS;
    if (timed)
        st = take_turns(eng, i, whole, rows, 0, rounds, tw, tv, &m, err);
    /* a first verdict too close to call (or the test knob) takes more rounds, and all
       of them decide: a few busy rounds no longer outvote the rest */
    bool more = st == HG_OK && timed && !earlier &&
                (eng->views_close || hg__dedup_turns_close(tw, tv, rounds));
    if (more) {
        st = take_turns(eng, i, whole, rows, rounds, HG__DEDUP_ROUNDS_MAX, tw, tv, &m, err);
        rounds = HG__DEDUP_ROUNDS_MAX;
    }
    if (st == HG_OK && timed && earlier)
        faster = hg__dedup_recheck(whole->info, tw, c, tv, w_lost, rounds, m, note, n);
    else if (st == HG_OK && timed)
        faster = hg__dedup_turns(whole->info, &whole->model, tw, c, &v->model, tv, rounds,
                                 m, rows, note, n);
    else if (st == HG_OK)
        faster = hg__dedup_faster(whole->info, &whole->model, c, &v->model, rows, note, n);
    /* the test knob's verdict, when it gives one */
    *replace = st == HG_OK && (eng->views_verdict ? eng->views_verdict > 0 : faster);
    if (st == HG_OK && more) {
        char also[160];
        snprintf(also, sizeof also, "the first %u rounds were within %.3g times either way: "
                 "%u rounds in all", HG__DEDUP_TURNS, HG__DEDUP_CLOSE, HG__DEDUP_ROUNDS_MAX);
        append(note, n, also);
    }
    if (st == HG_OK && strncmp(v->kc_note, HG__NOTE_VIEWS_CHOICE,
                               strlen(HG__NOTE_VIEWS_CHOICE)) == 0) {
        char kname[48], also[256];
        hg__kchoice_name(&v->kc, kname, sizeof kname);
        snprintf(also, sizeof also, "%s ran %s without a race of its own, the kernels %s "
                 "ran when they were compared: the same compiler on the same hardware",
                 c->id, kname, whole->info->id);
        append(note, n, also);
    }
    return st;
}

/*
 * The device in slot i after its trials, when it kept kernels without a race
 * (its race deferred, or another view's kernels, measured now or read from
 * the profile cache): it computes from now on, so it races now, and note (n
 * bytes: the trials' notes) says so when it is not empty.  A failed race leaves the
 * device as it was, with its model, and says why.  HG_OUT_OF_MEMORY is the
 * only error.
 */
static hg_status race_kept(hg_engine *eng, size_t i, const float *params, char *note,
                           size_t n, hg_error *err)
{
    hg__device *d = &eng->dev[i];
    hg__cost_model model = d->model;
    char kept_note[sizeof d->kc_note], also[256], kname[48];
    snprintf(kept_note, sizeof kept_note, "%s", d->kc_note);
    d->kc_view = NULL;
    d->defer_race = false;
    bool cached = false;
    hg_error e;
    /* a job its model says is too short for a race keeps kernels and model as they are */
    bool short_job = hg__keep_for_short_job(eng, i);
    hg_status st = short_job ? HG_OK : hg__calibrate_one(eng, i, params, true, &cached, &e);
    hg__kchoice_name(&d->kc, kname, sizeof kname);
    if (st == HG_OK) {
        short_job = hg__kchoice_short_job(d->kc_note);
        snprintf(also, sizeof also, "%s, kept, then %s: %s", d->info->id,
                 short_job ? "its kernels not raced (a short job)" : "raced its kernels", kname);
        hg__log(&eng->log, HG_LOG_INFO, "%s: %s", d->what, also);
    } else {
        d->model = model;
        snprintf(d->kc_note, sizeof d->kc_note, "%s", kept_note);
        snprintf(also, sizeof also, "%s, kept, could not race its kernels (%.150s)",
                 d->info->id, e.message);
        hg__log(&eng->log, HG_LOG_WARN, "%s: %s", d->what, also);
    }
    if (note[0]) /* after the trials' notes; none ran: nothing to add to */
        append(note, n, also);
    return st == HG_OUT_OF_MEMORY ? hg__error_set(err, st, 0, "%s", e.message) : HG_OK;
}

/* The trial of list device j in slot i (see the top of the file); note (n bytes): what
   was decided. */
static hg_status try_view(hg_engine *eng, size_t i, size_t j, const float *params,
                          size_t rows, char *note, size_t n, hg_error *err)
{
    const hg_device_info *c = hg_device_list_get(eng->list, j);
    hg__device whole;
    double screen_ms = NAN, whole_ms = hg__cost_predict(&eng->dev[i].model, rows);
    hg_error e;
    hg_status st = open_view(eng, i, j, &whole, &screen_ms, &e);
    bool opened = st == HG_OK, replace = false;
    if (st == HG_OK && !(screen_ms > SCREEN_MARGIN * whole_ms))
        st = judge(eng, i, c, &whole, params, rows, &replace, note, n, &e);
    else if (st == HG_OK)
        hg__dedup_reason(note, n, whole.info, false, c, "%u rows alone took %.3g ms on %s, "
                         "more than %.3g times what a step of %zu rows is predicted to take "
                         "on %s (%.3g ms); %s gets no rows", (unsigned)eng->dev[i].stats.rows,
                         screen_ms, c->id, SCREEN_MARGIN, rows, whole.info->id, whole_ms,
                         c->id);
    if (st != HG_OK)
        snprintf(note, n, "%s kept over %s (%s, %s), the same hardware: its trial "
                 "failed: %.160s", whole.info->id, c->id, c->name, c->platform_name,
                 e.message);
    if (opened) { /* j is open in slot i, whole beside it: keep one of the two */
        hg__device *loser = replace ? &whole : &eng->dev[i];
        hg__forward_release(loser);
        hg__device_close(loser);
        if (!replace)
            eng->dev[i] = whole;
    }
    hg__log(&eng->log, HG_LOG_INFO, "%s: duplicates: %s", eng->dev[i].what, note);
    return st == HG_OUT_OF_MEMORY ? hg__error_set(err, st, 0, "%s", e.message) : HG_OK;
}

/*
 * Whether device d keeps its place without a trial of the views the list set aside:
 * the whole job (hg_engine_options.work_rows) is predicted on its solo model to take
 * less than the least a trial costs (hg__trial_short_job: opening a view builds its
 * programs, and it is calibrated).  Then note (n bytes) says so.
 */
static bool short_job_skips_views(hg_engine *eng, const hg__device *d, char *note, size_t n)
{
    double job = hg__job_predicted_ms(eng, &d->model);
    size_t views = 0;
    for (size_t j = 0; j < hg_device_list_count(eng->list); j++)
        views += j != d->li && eligible(eng, d, j);
    if (!views || !hg__trial_short_job(job))
        return false;
    snprintf(note, n, "%s kept without a trial of the %zu other view%s of its hardware: the "
             "whole job (%zu rows) is predicted at %.3g ms on it, under the least a trial costs "
             "(%.0f ms)", d->info->id, views, views == 1 ? "" : "s", eng->work_rows, job,
             HG__TRIAL_MS);
    hg__log(&eng->log, HG_LOG_INFO, "%s: duplicates: %s", d->what, note);
    return true;
}

hg_status hg__duplicates_calibrate(hg_engine *eng, const float *params, hg_error *err)
{
    size_t rows = hg__decision_rows(eng->rows, eng->batch_rows, STEP_MAX_ROWS);
    bool warming = eng->warming;
    hg_status st = HG_OK;
    eng->warming = true; /* no fault injection */
    char all[sizeof eng->dev[0].dup_note], one[sizeof all];
    for (size_t i = 0; i < eng->ndev && st == HG_OK; i++) {
        hg__device *d = &eng->dev[i];
        if (d->quarantined || d->sub || !d->model.valid || eng->sparse)
            continue;
        all[0] = '\0';
        size_t n = hg_device_list_count(eng->list), first = d->li;
        bool skip = short_job_skips_views(eng, d, all, sizeof all);
        /* j: list devices in list order, each tried once against the device in slot i,
           which may change on every trial (first: the one there before any trial) */
        for (size_t j = 0; j < n && st == HG_OK && !skip; j++) {
            if (j == first || !eligible(eng, &eng->dev[i], j))
                continue;
            st = try_view(eng, i, j, params, rows, one, sizeof one, err);
            append(all, sizeof all, one);
        }
        /* the device in slot i now, which may be another view than before (one the
           solo phase kept unraced for a short job has nothing left to decide) */
        const char *kn = eng->dev[i].kc_note;
        if (st == HG_OK && hg__kchoice_unraced(kn) && !hg__kchoice_short_job(kn))
            st = race_kept(eng, i, params, all, sizeof all, err);
        eng->dev[i].defer_race = false;
        snprintf(eng->dev[i].dup_note, sizeof eng->dev[i].dup_note, "%s", all);
    }
    eng->warming = warming;
    return st;
}

const char *hg_engine_duplicate_note(const hg_engine *eng, size_t i)
{
    if (!eng || i >= eng->ndev)
        return NULL;
    return eng->dev[i].dup_note;
}
