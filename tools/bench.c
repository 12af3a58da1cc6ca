/* SPDX-License-Identifier: MIT */
/*
 * hetgrad-bench - how well hetgrad splits a gradient step across devices.
 *
 * On the same devices, in one run: each device alone, an equal split, the
 * calibrated affine plan ("weighted") and dynamic rebalancing.  For each:
 * rows/s (median step), the spread of its steps, the ratio to the best single
 * device, and the balance efficiency, sum of device busy time / (active
 * devices x step makespan).
 *
 * The configurations are timed by the benchmark harness (tools/harness.h):
 * each is warmed up, then rounds each run every configuration once, in an
 * order that changes every round: --steps S rounds exactly, or by default 7,
 * and more (up to STEPS_MAX, while STEPS_BUDGET_S lasts) while a
 * configuration's spread is too wide to compare.  solo, equal and weighted share one
 * engine (their weights and split are set before each step, untimed: those
 * splits keep no state); dynamic has an engine of its own, so its balancer
 * learns from its own previous step although the others ran in between.  A
 * configuration whose steps spread over 10% (IQR/median) is flagged as too
 * noisy to compare.
 *
 *   hetgrad-bench [--model softmax|linear|mlp] [--rows N] [--steps S]
 *                 [--features D] [--classes C] [--hidden H]
 *                 [--devices EXPR] [--keep-duplicates] [--max-step-s T] [--json]
 *
 * Options and exit status: main()'s tables, man/hetgrad-bench.1, docs/tools.md.
 *
 * --drill runs a fault drill instead: dynamic steps with fixed parameters in
 * which the busiest device fails in step 3; every gradient is compared with
 * the first (exit status 1 if recovery changed it).
 *
 * A configuration whose predicted step (from the calibrated models) exceeds
 * --max-step-s (default 20 s; Oclgrind given an equal share) is not run: its
 * figures are the models' prediction and say so ("measured": false).  A solo
 * device that slow is measured on fewer rows instead.  A step under
 * REWARM_MS is timed right after untimed steps of its own configuration
 * that take HARNESS_REWARM_SPAN_MS in all (harness_plan.rewarm_ms and
 * rewarm_span_ms), and a configuration predicted far slower than the fastest
 * device alone is timed in rounds of its own, after the others (run_configs).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hetgrad.h>

#include "cli.h"
#include "pocl_pin.h"
#include "harness.h"
#include "harness_json.h"
#include "json_out.h"

#define STEPS_DEFAULT 7
#define STEPS_MAX 31         /* rounds at the most when --steps is not given */
#define STEPS_BUDGET_S 20.0  /* no extra round starts after this long */
#define REWARM_MS 1000.0     /* steps under this long: each timed step right after
                                untimed ones of its own configuration, for
                                HARNESS_REWARM_SPAN_MS in all (tools/harness.h) */
#define APART_MS 100.0       /* a configuration predicted over this long a step, and */
#define APART_FACTOR 10.0    /* over this many times the fastest device alone's step,
                                is timed in two rounds of its own after the others */

typedef struct bench_opts {
    hg_model_kind kind;
    size_t rows, steps, features, classes, hidden;
    size_t steps_max; /* 0: exactly `steps` rounds; else more while a spread is wide */
    const char *devices;
    bool keep_dups, json, drill;
    double max_step_s;
} bench_opts;

/* --drill: the device that fails, and in which step. */
typedef struct drill_fault {
    size_t   device;
    uint64_t step;  /* 0: armed for the next step device runs in */
    uint64_t fired; /* the engine step in which it fired; 0: not yet */
} drill_fault;

static bool drill_hook(void *user, size_t device, uint64_t step, hg_fault_point point)
{
    drill_fault *f = user;
    /* armed when f->step == 0; fires once */
    if (point == HG_FAULT_WAIT && device == f->device && f->step == 0) {
        f->step = UINT64_MAX;
        f->fired = step;
        return true;
    }
    return false;
}

/*
 * A fault drill: dynamic steps with the same parameters, and in one of them
 * the busiest device fails after enqueueing its work.  Every step's gradient
 * is compared with the first one's: recovery must not change it.
 */
static int drill(hg_engine *e, drill_fault *f, const float *params, size_t P, size_t rows)
{
    size_t nd = hg_engine_device_count(e);
    float *g0 = malloc(P * sizeof *g0), *g = malloc(P * sizeof *g);
    hg_error err;
    int bad = 0;
    if (!g0 || !g || hg_engine_set_split(e, HG_SPLIT_DYNAMIC, &err) != HG_OK) {
        fprintf(stderr, "hetgrad-bench: drill: cannot start\n");
        return 3;
    }
    printf("fault drill: %zu rows, dynamic split; the busiest device fails in step 3\n", rows);
    uint64_t fired_at = 0; /* drill step in which the fault fired */
    size_t victim = SIZE_MAX;
    for (uint64_t s = 1; s <= 6; s++) {
        /* Arm in step 3; if the device it chose got no rows (the balancer
           moved them), arm again for the next step's busiest device. */
        if (s >= 3 && s <= 5 && !f->fired) {
            if (s > 3)
                printf("step %llu: the fault did not fire (device [%zu] got no rows); "
                       "arming it again\n", (unsigned long long)(s - 1), f->device);
            size_t most = 0, busiest = 0;
            for (size_t i = 0; i < nd; i++) {
                hg_device_step st;
                hg_engine_last_step(e, i, &st);
                if (st.rows > most) {
                    most = st.rows;
                    busiest = i;
                }
            }
            f->device = busiest;
            f->step = 0; /* arm: fail in this step */
        }
        uint64_t fired_before = f->fired;
        hg_status st = hg_engine_gradient(e, params, 0, rows, s == 1 ? g0 : g, NULL, &err);
        if (!fired_before && f->fired) {
            fired_at = s;
            victim = f->device;
        }
        if (st != HG_OK) {
            printf("step %llu: %s: %s\n", (unsigned long long)s, hg_status_name(st), err.message);
            bad = 1;
            break;
        }
        double maxd = 0, maxr = 0;
        for (size_t k = 0; s > 1 && k < P; k++) {
            maxd = fmax(maxd, fabs((double)g[k] - (double)g0[k]));
            maxr = fmax(maxr, fabs((double)g0[k]));
        }
        printf("step %llu: %6.1f ms;", (unsigned long long)s, hg_engine_last_step_ms(e));
        for (size_t i = 0; i < nd; i++) {
            hg_device_step ds;
            hg_engine_last_step(e, i, &ds);
            printf("  [%zu] %zu rows%s%s", i, ds.rows,
                   ds.recovered_rows ? " (recovered)" : "", ds.failed ? " FAILED" : "");
        }
        if (s > 1)
            printf(";  |g - g1|/|g1| = %.2e", maxr > 0 ? maxd / maxr : maxd);
        printf("\n");
        if (s > 1 && maxd > 1e-4 * maxr)
            bad = 1;
    }
    for (size_t i = 0; i < nd; i++) {
        const char *why = NULL;
        if (hg_engine_quarantined(e, i, &why))
            printf("quarantined [%zu] %s\n", i, why);
    }
    uint64_t recovered = hg_engine_recovered_steps(e);
    printf("steps recovered: %llu; %s\n", (unsigned long long)recovered,
           bad ? "GRADIENT CHANGED" : "every gradient equal to step 1's within 1e-4");
    /* A drill in which nothing failed proves nothing: say so, loudly. */
    if (!fired_at) {
        printf("DRILL FAILED: the fault never fired (the armed device got no rows in "
               "steps 3 to 5)\n");
        bad = 1;
    } else if (recovered != 1 || !hg_engine_quarantined(e, victim, NULL)) {
        printf("DRILL FAILED: the fault fired in step %llu on device [%zu], but the engine "
               "recovered %llu steps and %s the device\n", (unsigned long long)fired_at,
               victim, (unsigned long long)recovered,
               hg_engine_quarantined(e, victim, NULL) ? "quarantined" : "did not quarantine");
        bad = 1;
    }
    free(g0);
    free(g);
    return bad;
}

typedef struct result {
    char   name[160];
    bool   measured;
    size_t rows;          /* rows per step it ran with */
    double ms;            /* median step */
    double rows_per_s;
    double balance;       /* median balance efficiency; NAN for predictions */
    double share[16];     /* rows per device, last step, as fractions */
    bool   timed;         /* st and warmups hold its harness figures */
    bool   apart;         /* timed in rounds of its own (run_configs) */
    harness_stats st;     /* its steps (the harness, tools/harness.h) */
    size_t warmups;       /* untimed steps before them */
    double paired_solo;   /* median over rounds of rows/s over the best solo's; NAN */
} result;

static void die(const char *what, const hg_error *err)
{
    fprintf(stderr, "hetgrad-bench: %s: %s: %s\n", what, hg_status_name(err->status),
            err->message);
    exit(3);
}

/* One configuration the harness times. */
typedef struct bconfig {
    result    *r;        /* where its figures go (not owned) */
    hg_engine *e;        /* not owned */
    hg_split   split;    /* HG_SPLIT_DYNAMIC: e is the dynamic engine, split set once */
    double     w[16];    /* its weights (HG_SPLIT_MODEL: all 1) */
    size_t     rows;     /* rows per step */
    double    *bal;      /* [rounds]: balance efficiency of each timed step */
} bconfig;

/* harness_sample_fn's ctx. */
typedef struct bsession {
    bconfig     *cfg;
    const float *params;
    float       *grad;
} bsession;

/*
 * One step of configuration c: its split and weights set first (untimed; the
 * weights and model splits have no state to lose), then the engine's own
 * step time.  The model split gets weight 1 on every device: under it a
 * device of weight 0 takes no rows (engine.h), and the solo configurations
 * that share its engine leave weight 0 on all devices but one, so without
 * this `weighted` ran on one device whenever a solo step came before it in
 * the round.  A failed call exits 3.
 */
static int bench_sample(void *ctx, size_t c, size_t round, double *ms)
{
    bsession *s = ctx;
    bconfig *g = &s->cfg[c];
    size_t nd = hg_engine_device_count(g->e);
    hg_error err;
    if (g->split != HG_SPLIT_DYNAMIC &&
        (hg_engine_set_weights(g->e, g->w, nd, &err) != HG_OK ||
         hg_engine_set_split(g->e, g->split, &err) != HG_OK))
        die(g->r->name, &err);
    if (hg_engine_gradient(g->e, s->params, 0, g->rows, s->grad, NULL, &err) != HG_OK)
        die(g->r->name, &err);
    double make = hg_engine_last_step_ms(g->e), busy = 0;
    *ms = make;
    if (round == HARNESS_WARMUP)
        return 0;
    size_t active = 0;
    for (size_t i = 0; i < nd; i++) {
        hg_device_step st;
        hg_engine_last_step(g->e, i, &st);
        if (st.rows) {
            active++;
            busy += st.host_ms;
        }
        if (i < 16)
            g->r->share[i] = (double)st.rows / (double)g->rows;
    }
    g->bal[round] = active && make > 0 ? busy / ((double)active * make) : NAN;
    return 0;
}

/*
 * Time cfg[0 .. n-1] interleaved over `rounds` rounds (warm-up: up to
 * warmup_max steps each) and fill their results.  Exits 3 on failure.
 */
static void time_configs(bsession *s, bconfig *cfg, size_t n, size_t rounds,
                         size_t rounds_max, size_t warmup_max, harness_result *hr)
{
    if (n == 0) {
        memset(hr, 0, sizeof *hr);
        return;
    }
    harness_plan p;
    harness_plan_init(&p);
    p.nconfigs = n;
    p.rounds = rounds;
    p.rounds_max = rounds_max;
    p.budget_ms = rounds_max ? STEPS_BUDGET_S * 1e3 : 0;
    p.warmup_max = warmup_max;
    p.rewarm_ms = REWARM_MS;
    p.rewarm_span_ms = HARNESS_REWARM_SPAN_MS;
    p.sample = bench_sample;
    s->cfg = cfg;
    p.ctx = s;
    int rc = harness_run(&p, hr);
    if (rc != 0) {
        fprintf(stderr, "hetgrad-bench: the benchmark harness failed (%s)\n",
                rc == HARNESS_ENOMEM ? "out of memory" : "bad plan");
        exit(3);
    }
    for (size_t c = 0; c < n; c++) {
        result *r = cfg[c].r;
        r->measured = r->timed = true;
        r->rows = cfg[c].rows;
        r->st = hr->stats[c];
        r->warmups = hr->warmups[c];
        r->ms = r->st.median;
        r->rows_per_s = r->ms > 0 ? (double)r->rows / (r->ms / 1e3) : 0;
        harness_stats b;
        harness_stats_of(cfg[c].bal, hr->rounds, hr->spread_limit, &b);
        r->balance = b.median;
    }
}

/* The engine's devices that can run alone: healthy, with a cost model. */
static bool usable(hg_engine *e, const hg_device_profile *prof, size_t i)
{
    return !hg_engine_quarantined(e, i, NULL) && prof[i].valid;
}

/* The run's configurations and figures (results in the order they print). */
typedef struct bench_run {
    result *res;
    size_t  nres;
    double  best_solo;    /* rows/s */
    bool    wide;         /* a timed configuration's spread is over the limit */
    double  spread_limit;
    size_t  rounds;       /* timed rounds run (the harness may add rounds: --steps) */
} bench_run;

/* Whether calibration fissioned device i of e (its fission note). */
static bool fissioned(const hg_engine *e, size_t i)
{
    const char *note = hg_engine_fission_note(e, i);
    return note && strncmp(note, "fissioned to ", 13) == 0;
}

/* A configuration of one device alone: solo:NAME, or whole:NAME (the whole device
   of a fissioned one, on the engine without fission). */
static bool alone_config(const char *name)
{
    return !strncmp(name, "solo:", 5) || !strncmp(name, "whole:", 6);
}

/*
 * Every configuration: each usable device alone, equal, weighted (engine e)
 * and dynamic (engine ed, its own, so its balancer keeps its feedback while
 * the others run between its steps), and, with ew (an engine calibrated with
 * fission off), each device that e fissioned alone as a whole device,
 * interleaved over o->steps rounds or more.  A device alone too slow for
 * --max-step-s / 4 runs on fewer rows in a second, two-round run of its own;
 * so does, on all the rows, a device alone or equal whose step is predicted
 * over APART_MS and over APART_FACTOR times the fastest device alone's (a
 * multi-second Oclgrind step between the others' millisecond steps left them
 * up to 87% slower right after it; tools/harness.h); equal too slow for
 * --max-step-s is predicted.
 */
static void run_configs(const bench_opts *o, hg_engine *e, hg_engine *ed, hg_engine *ew,
                        const float *params, float *grad, bench_run *run)
{
    size_t nd = hg_engine_device_count(e);
    hg_device_profile prof[16];
    for (size_t i = 0; i < nd; i++)
        hg_engine_device_profile(e, i, &prof[i]);
    bconfig *cfg = calloc(2 * nd + 3, sizeof *cfg), *slow = calloc(nd + 1, sizeof *slow);
    size_t rounds = o->steps_max > o->steps ? o->steps_max : o->steps > 2 ? o->steps : 2;
    double *bal = calloc((2 * nd + 3) * rounds, sizeof *bal);
    run->res = calloc(2 * nd + 3, sizeof *run->res);
    if (!cfg || !slow || !bal || !run->res) {
        fprintf(stderr, "hetgrad-bench: out of memory\n");
        exit(3);
    }
    size_t n = 0, nslow = 0, healthy = 0;
    double equal_ms = 0, best_ms = INFINITY; /* predicted: equal, the fastest alone */
    for (size_t i = 0; i < nd; i++) {
        healthy += usable(e, prof, i);
        if (usable(e, prof, i))
            best_ms = fmin(best_ms, prof[i].fixed_ms + prof[i].ms_per_row * (double)o->rows);
    }
    /* a step predicted this long is timed apart, after the others */
    const double apart_ms = fmax(APART_MS, APART_FACTOR * best_ms);
    for (size_t i = 0; i < nd; i++) {
        if (!usable(e, prof, i))
            continue;
        result *r = &run->res[run->nres++];
        snprintf(r->name, sizeof r->name, "solo:%s", hg_engine_device(e, i)->name);
        double pred_s = (prof[i].fixed_ms + prof[i].ms_per_row * (double)o->rows) / 1e3;
        bool is_slow = pred_s > o->max_step_s / 4;
        bconfig *g = is_slow || pred_s * 1e3 > apart_ms ? &slow[nslow++] : &cfg[n++];
        *g = (bconfig){.r = r, .e = e, .split = HG_SPLIT_WEIGHTS, .rows = o->rows};
        g->w[i] = 1;
        if (is_slow) { /* fewer rows: a quarter of --max-step-s a step */
            double room = o->max_step_s / 4 * 1e3 - prof[i].fixed_ms;
            g->rows = room > prof[i].ms_per_row ? (size_t)(room / prof[i].ms_per_row) : 1;
            g->rows = g->rows > o->rows ? o->rows : g->rows;
        }
        double p = prof[i].fixed_ms + prof[i].ms_per_row * (double)o->rows / (double)healthy;
        equal_ms = p > equal_ms ? p : equal_ms;
    }
    result *eq = &run->res[run->nres++];
    snprintf(eq->name, sizeof eq->name, "equal");
    if (equal_ms / 1e3 <= o->max_step_s) {
        bconfig *g = equal_ms > apart_ms ? &slow[nslow++] : &cfg[n++];
        *g = (bconfig){.r = eq, .e = e, .split = HG_SPLIT_WEIGHTS, .rows = o->rows};
        for (size_t i = 0; i < nd; i++)
            g->w[i] = 1;
    } else {
        eq->rows = o->rows;
        eq->ms = equal_ms;
        eq->rows_per_s = (double)o->rows / (equal_ms / 1e3);
        eq->balance = NAN;
        for (size_t i = 0; i < nd; i++)
            eq->share[i] = usable(e, prof, i) ? 1.0 / (double)healthy : 0;
    }
    for (size_t i = 0; ew && i < nd; i++) {
        if (!usable(e, prof, i) || !fissioned(e, i))
            continue;
        result *r = &run->res[run->nres++];
        snprintf(r->name, sizeof r->name, "whole:%s", hg_engine_device(ew, i)->name);
        cfg[n] = (bconfig){.r = r, .e = ew, .split = HG_SPLIT_WEIGHTS, .rows = o->rows};
        cfg[n++].w[i] = 1;
    }
    const hg_split splits[2] = {HG_SPLIT_MODEL, HG_SPLIT_DYNAMIC};
    for (size_t k = 0; k < 2; k++) {
        result *r = &run->res[run->nres++];
        snprintf(r->name, sizeof r->name, "%s", k ? "dynamic" : "weighted");
        cfg[n] = (bconfig){.r = r, .e = k ? ed : e, .split = splits[k], .rows = o->rows};
        for (size_t i = 0; i < nd; i++)
            cfg[n].w[i] = 1; /* weighted: every device may take rows (bench_sample) */
        n++;
    }
    for (size_t c = 0; c < n + nslow; c++)
        (c < n ? &cfg[c] : &slow[c - n])->bal = bal + c * rounds;
    bsession s = {.params = params, .grad = grad};
    harness_result hr, hs;
    time_configs(&s, cfg, n, o->steps, o->steps_max, 4, &hr);
    time_configs(&s, slow, nslow, 2, 0, 1, &hs);
    for (size_t c = 0; c < nslow; c++)
        slow[c].r->apart = true;
    run->rounds = hr.rounds;
    run->spread_limit = hr.spread_limit;
    run->wide = hr.wide || hs.wide;
    size_t best = SIZE_MAX;
    for (size_t c = 0; c < n; c++)
        if (alone_config(cfg[c].r->name) &&
            (best == SIZE_MAX || cfg[c].r->rows_per_s > cfg[best].r->rows_per_s))
            best = c;
    for (size_t k = 0; k < run->nres; k++)
        if (alone_config(run->res[k].name) && run->res[k].rows_per_s > run->best_solo)
            run->best_solo = run->res[k].rows_per_s;
    for (size_t k = 0; k < run->nres; k++)
        run->res[k].paired_solo = NAN;
    /* paired only where the best device alone ran in the same rounds, on as many rows */
    for (size_t c = 0; best != SIZE_MAX && c < n; c++) {
        harness_stats q;
        if (cfg[best].r->rows_per_s >= run->best_solo &&
            harness_paired_ratio(&hr, best, c, &q) == 0)
            cfg[c].r->paired_solo = q.median;
    }
    harness_result_free(&hr);
    harness_result_free(&hs);
    free(cfg);
    free(slow);
    free(bal);
}

static const char *const model_names[] = {"softmax", "linear", "mlp", NULL};
static const hg_model_kind model_kinds[] = {HG_MODEL_SOFTMAX, HG_MODEL_LINEAR, HG_MODEL_MLP};

static const cli_exit bench_exits[] = {
    {0, "success"},
    {1, "--drill: no fault fired, or recovery failed or changed a gradient; or the\n"
        "     JSON could not be written in full"},
    {2, "usage error"},
    {3, "a hetgrad call failed (no device, calibration), or out of memory"},
};

static const cli_env bench_env[] = {
    {"HETGRAD_DEVICES=EXPR", "device selection (docs/devices.md)"},
    {"HETGRAD_CACHE_DIR=DIR", "compiled programs and device profiles"},
    {"POCL_AFFINITY=0|1", "POCL pins its CPU threads to cores; set to 1\n"
                          "when unset (docs/engine.md)"},
};

/* The command line into *o and *cmd (cli.h): CLI_CONTINUE, or the exit status. */
static int parse_args(int argc, char **argv, bench_opts *o, cli *cmd)
{
    int model = 0;
    const cli_option options[] = {
        {.name = "model", .kind = CLI_CHOICE, .target = &model, .choices = model_names,
         .help = "the model's gradient (default softmax)"},
        {.name = "rows", .kind = CLI_SIZE, .target = &o->rows, .metavar = "N",
         .range = "[1,4294967296]", .help = "rows per step (default 8192)"},
        {.name = "steps", .kind = CLI_SIZE, .target = &o->steps, .metavar = "S",
         .range = "[1,4294967296]", .help = "timed rounds: each configuration one step\n"
                                            "a round, interleaved, after warm-up\n"
                                            "(default 7, and up to 31 while a spread\n"
                                            "is over 10%, within 20 s)"},
        {.name = "features", .kind = CLI_SIZE, .target = &o->features, .metavar = "D",
         .range = "[1,4294967296]", .help = "inputs per row (default 784)"},
        {.name = "classes", .kind = CLI_SIZE, .target = &o->classes, .metavar = "C",
         .range = "[1,4294967296]", .help = "outputs (default 10; at least 2 but for\nlinear)"},
        {.name = "hidden", .kind = CLI_SIZE, .target = &o->hidden, .metavar = "H",
         .range = "[1,4294967296]", .help = "the MLP's hidden layer width (default 256)"},
        {.name = "devices", .kind = CLI_STRING, .target = &o->devices, .metavar = "EXPR",
         .help = "device selection (syntax of HETGRAD_DEVICES)"},
        {.name = "keep-duplicates", .kind = CLI_FLAG, .target = &o->keep_dups,
         .help = "use every view of the same hardware (default:\none view each)"},
        {.name = "max-step-s", .kind = CLI_DOUBLE, .target = &o->max_step_s, .metavar = "T",
         .range = "(0,inf)", .help = "predict, not run, a configuration whose step\n"
                                     "would take longer (default 20)"},
        {.name = "json", .kind = CLI_FLAG, .target = &o->json,
         .help = "JSON on stdout (a configs array)"},
        {.name = "drill", .kind = CLI_FLAG, .target = &o->drill,
         .help = "fault drill instead: the busiest device fails\n"
                 "in step 3; every gradient must equal step 1's"},
    };
    const cli_spec spec = {
        .prog = "hetgrad-bench",
        .synopsis = "[options]",
        .summary = "How well hetgrad splits a gradient step across devices: each device\n"
                   "alone, an equal split, the calibrated plan (weighted) and dynamic\n"
                   "rebalancing, with rows/s, the ratio to the best device alone and the\n"
                   "balance efficiency.",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .env = bench_env,
        .nenv = sizeof bench_env / sizeof bench_env[0],
        .exits = bench_exits,
        .nexits = sizeof bench_exits / sizeof bench_exits[0],
    };
    cli_init(cmd, &spec);
    int rc = cli_parse(cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    o->kind = model_kinds[model];
    if (o->steps == 0) { /* not given: the default, extended while too noisy */
        o->steps = STEPS_DEFAULT;
        o->steps_max = STEPS_MAX;
    }
    if (o->kind != HG_MODEL_LINEAR && o->classes < 2)
        return cli_usage_error(cmd, "--classes must be at least 2 for --model %s",
                               model_names[model]);
    return CLI_CONTINUE;
}

/* The synthetic workload: fixed seed, classes separable along the first features. */
typedef struct workload {
    float   *x, *t, *params, *grad;
    int32_t *l;
    size_t   P;
    double   flop_row;
} workload;

static void make_workload(const bench_opts *o, const hg_model_desc *m, workload *w)
{
    w->P = hg_model_param_count(m);
    if (o->kind == HG_MODEL_MLP)
        w->flop_row = 2.0 * (2.0 * (double)(o->features * o->hidden) +
                             3.0 * (double)(o->hidden * o->classes));
    else
        w->flop_row = 4.0 * (double)(o->features * o->classes);
    w->x = malloc(o->rows * o->features * sizeof *w->x);
    w->t = malloc(o->rows * o->classes * sizeof *w->t);
    w->l = malloc(o->rows * sizeof *w->l);
    w->params = calloc(w->P, sizeof *w->params);
    w->grad = malloc(w->P * sizeof *w->grad);
    if (!w->x || !w->t || !w->l || !w->params || !w->grad) {
        fprintf(stderr, "hetgrad-bench: out of memory\n");
        exit(3);
    }
    uint64_t st = 12345;
    for (size_t i = 0; i < o->rows * o->features; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        w->x[i] = (float)((double)(st >> 40) / 16777216.0 - 0.5);
    }
    for (size_t r = 0; r < o->rows; r++) {
        w->l[r] = (int32_t)(r % o->classes);
        w->x[r * o->features + (size_t)w->l[r] % o->features] += 1.0f;
        for (size_t j = 0; j < o->classes; j++)
            w->t[r * o->classes + j] = w->x[r * o->features + j % o->features];
    }
    for (size_t i = 0; i < w->P; i++)
        w->params[i] = (float)(((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.02f;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* An engine with the data, calibrated; *setup_ms and *calib_ms (may be NULL)
   receive the times.  Exits 3 on failure. */
static hg_engine *open_engine(const hg_engine_options *eo, const hg_model_desc *m,
                              const hg_dataset_desc *data, double *setup_ms, double *calib_ms)
{
    hg_engine *e = NULL;
    hg_error err;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hg_engine_create(eo, m, &e, &err) != HG_OK)
        die("creating the engine", &err);
    if (hg_engine_set_data(e, data, &err) != HG_OK)
        die("uploading the data", &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (hg_engine_calibrate(e, &err) != HG_OK)
        die("calibrating", &err);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    if (setup_ms)
        *setup_ms = ms_between(&t0, &t1);
    if (calib_ms)
        *calib_ms = ms_between(&t1, &t2);
    return e;
}

/*
 * The engine of the whole devices: as open_engine, with HETGRAD_FISSION=off for its
 * creation (the variable as it was afterwards).  Its devices must be e's, in order.
 */
static hg_engine *open_whole_engine(const hg_engine_options *eo, const hg_model_desc *m,
                                    const hg_dataset_desc *data, const hg_engine *e)
{
    const char *was = getenv("HETGRAD_FISSION");
    char *saved = was ? strdup(was) : NULL;
    if ((was && !saved) || setenv("HETGRAD_FISSION", "off", 1) != 0) {
        fprintf(stderr, "hetgrad-bench: out of memory\n");
        exit(3);
    }
    hg_engine *ew = open_engine(eo, m, data, NULL, NULL);
    if (saved)
        setenv("HETGRAD_FISSION", saved, 1);
    else
        unsetenv("HETGRAD_FISSION");
    free(saved);
    size_t nd = hg_engine_device_count(e);
    bool same = hg_engine_device_count(ew) == nd;
    for (size_t i = 0; same && i < nd; i++)
        same = !strcmp(hg_engine_device(e, i)->name, hg_engine_device(ew, i)->name);
    if (!same) {
        fprintf(stderr, "hetgrad-bench: the whole devices' engine has other devices than "
                "the calibrated one's\n");
        exit(3);
    }
    return ew;
}

/* The devices' profiles after the run, and which cached ones were found stale. */
typedef struct final_profiles {
    hg_device_profile prof[16];
    bool   stale[16];
    double cached_rate[16];   /* the cache's rows/s, for a stale one */
} final_profiles;

typedef struct bench_doc {
    const bench_opts *o;
    const char *model_name;
    double setup_ms, calib_ms, flop_row;
    hg_engine *e;
    const final_profiles *fp;
    const bench_run *run;
} bench_doc;

/* The JSON document (docs/json.md, hetgrad-bench/1); false when not written in full. */
static bool print_json_doc(const bench_doc *d)
{
    const bench_opts *o = d->o;
    size_t nd = hg_engine_device_count(d->e);
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-bench/1");
    json_key(&j, "model"); json_string(&j, d->model_name);
    json_key(&j, "rows"); json_u64(&j, o->rows);
    json_key(&j, "features"); json_u64(&j, o->features);
    json_key(&j, "classes"); json_u64(&j, o->classes);
    json_key(&j, "steps"); json_u64(&j, d->run->rounds);
    json_key(&j, "spread_limit"); json_double(&j, d->run->spread_limit);
    json_key(&j, "timing_wide"); json_bool(&j, d->run->wide);
    json_key(&j, "setup_ms"); json_double(&j, d->setup_ms);
    json_key(&j, "calibration_ms"); json_double(&j, d->calib_ms);
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t i = 0; i < nd; i++) {
        const hg_device_profile *f = &d->fp->prof[i];
        json_begin_object(&j);
        json_key(&j, "name"); json_string(&j, hg_engine_device(d->e, i)->name);
        json_key(&j, "id"); json_string(&j, hg_engine_device(d->e, i)->id);
        json_key(&j, "fixed_ms"); json_double(&j, f->valid ? f->fixed_ms : NAN);
        json_key(&j, "dispatch_floor_ms");
        json_double(&j, f->dispatch_floor_ms > 0 ? f->dispatch_floor_ms : NAN);
        json_key(&j, "rows_per_s"); json_double(&j, f->valid ? f->rows_per_s : NAN);
        json_key(&j, "profile_from_cache"); json_bool(&j, f->from_cache);
        json_key(&j, "profile_stale"); json_bool(&j, d->fp->stale[i]);
        json_key(&j, "kernel"); json_string(&j, f->kernel);
        json_key(&j, "kernel_why"); json_string(&j, f->kernel_note);
        json_key(&j, "corun_factor");
        json_double(&j, f->corun_factor > 0 ? f->corun_factor : NAN);
        json_key(&j, "excluded");
        json_string(&j, f->excluded ? f->excluded_why : NULL);
        const char *fis = hg_engine_fission_note(d->e, i);
        json_key(&j, "fission"); json_string(&j, fis && fis[0] ? fis : NULL);
        const char *dup = hg_engine_duplicate_note(d->e, i);
        json_key(&j, "duplicates"); json_string(&j, dup && dup[0] ? dup : NULL);
        const char *why = NULL;
        json_key(&j, "quarantined"); json_bool(&j, hg_engine_quarantined(d->e, i, &why));
        json_key(&j, "quarantine_reason"); json_string(&j, why);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_key(&j, "configs");
    json_begin_array(&j);
    double best = d->run->best_solo;
    for (size_t k = 0; k < d->run->nres; k++) {
        const result *r = &d->run->res[k];
        json_begin_object(&j);
        json_key(&j, "name"); json_string(&j, r->name);
        json_key(&j, "measured"); json_bool(&j, r->measured);
        json_key(&j, "rows"); json_u64(&j, r->rows);
        json_key(&j, "ms_per_step"); json_double(&j, r->ms);
        json_key(&j, "rows_per_s"); json_double(&j, r->rows_per_s);
        json_key(&j, "gflops"); json_double(&j, r->rows_per_s * d->flop_row / 1e9);
        json_key(&j, "vs_best_solo"); json_double(&j, best > 0 ? r->rows_per_s / best : NAN);
        json_key(&j, "balance_efficiency"); json_double(&j, r->balance);
        json_key(&j, "shares");
        json_begin_array(&j);
        for (size_t i = 0; i < nd; i++)
            json_double(&j, r->share[i]);
        json_end_array(&j);
        json_key(&j, "timing"); harness_json_timing(&j, r->timed ? &r->st : NULL, r->warmups);
        json_key(&j, "vs_best_solo_paired"); json_double(&j, r->paired_solo);
        json_key(&j, "timed_apart"); json_bool(&j, r->apart);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    return json_finish(&j);
}

/* The devices' table. */
static void print_devices(const bench_doc *d)
{
    size_t nd = hg_engine_device_count(d->e);
    printf("%-36s %10s %10s %12s %s\n", "device", "fixed ms", "floor ms", "rows/s",
           "profile");
    for (size_t i = 0; i < nd; i++) {
        const hg_device_profile *f = &d->fp->prof[i];
        const char *why = NULL;
        bool q = hg_engine_quarantined(d->e, i, &why);
        char was[64] = "";
        if (d->fp->stale[i])
            snprintf(was, sizeof was, " (the cache's was stale: %.0f rows/s)",
                     d->fp->cached_rate[i]);
        printf("%-36.36s %10.3f %10.4f %12.0f %s%s%s%s\n", hg_engine_device(d->e, i)->name,
               f->fixed_ms, f->dispatch_floor_ms, f->rows_per_s,
               f->valid ? (f->from_cache ? "cached" : "measured") : "none", was,
               q ? "; quarantined: " : "", q ? why : "");
        printf("%-36s kernel %s: %s\n", "", f->kernel, f->kernel_note);
        if (f->excluded)
            printf("%-36s no rows: %s\n", "", f->excluded_why);
        else if (f->corun_factor > 0)
            printf("%-36s joint: %.2fx its cost per row alone, beside the others\n", "",
                   f->corun_factor);
        const char *fis = hg_engine_fission_note(d->e, i);
        if (fis && fis[0])
            printf("%-36s fission: %s\n", "", fis);
        const char *dup = hg_engine_duplicate_note(d->e, i);
        if (dup && dup[0])
            printf("%-36s duplicates: %s\n", "", dup);
    }
}

/* The text report. */
static void print_text(const bench_doc *d)
{
    const bench_opts *o = d->o;
    size_t nd = hg_engine_device_count(d->e);
    printf("hetgrad-bench: %s, %zu rows x %zu features, %zu classes; median of %zu interleaved "
           "rounds\n", d->model_name, o->rows, o->features, o->classes, d->run->rounds);
    printf("set-up %.0f ms, calibration %.0f ms\n\n", d->setup_ms, d->calib_ms);
    print_devices(d);
    /* the legend and the flag first: the table's last row ends the output */
    char wide[1024] = "";
    for (size_t k = 0; k < d->run->nres; k++) {
        const result *r = &d->run->res[k];
        if (r->timed && r->st.flag == HARNESS_WIDE) {
            size_t used = strlen(wide);
            snprintf(wide + used, sizeof wide - used, "%s%s", used ? ", " : "", r->name);
        }
    }
    printf("\nspread: (q3 - q1) / median of its steps; ! over %.0f%%: too noisy to compare; "
           "? under %d steps: unknown\n", d->run->spread_limit * 100.0, HARNESS_MIN_SAMPLES);
    if (d->run->wide)
        printf("** TOO NOISY TO COMPARE: %s **\n", wide);
    printf("%-44s %12s %10s %8s %8s %8s  %s\n", "config", "rows/s", "ms/step", "spread",
           "/solo", "balance", "shares");
    for (size_t k = 0; k < d->run->nres; k++) {
        const result *r = &d->run->res[k];
        char spread[16] = "-";
        if (r->timed && isfinite(r->st.spread))
            snprintf(spread, sizeof spread, "%.1f%%%s", r->st.spread * 100.0,
                     r->st.flag == HARNESS_WIDE ? "!" : r->st.flag == HARNESS_FEW ? "?" : "");
        else if (r->timed && r->st.flag == HARNESS_WIDE)
            snprintf(spread, sizeof spread, "-!");
        printf("%-44.44s %12.0f %10.2f %8s %8.3f ", r->name, r->rows_per_s, r->ms, spread,
               d->run->best_solo > 0 ? r->rows_per_s / d->run->best_solo : NAN);
        if (isnan(r->balance))
            printf("%8s ", "-");
        else
            printf("%8.3f ", r->balance);
        for (size_t i = 0; i < nd; i++)
            printf(" %.3f", r->share[i]);
        if (!r->measured)
            printf("  (predicted: would take %.0f s a step)", r->ms / 1e3);
        else if (r->rows != o->rows || r->apart)
            printf("  (measured on %zu rows, %zu rounds of its own)", r->rows, r->st.n);
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    tool_pin_pocl_threads(); /* before any OpenCL runtime loads (tools/pocl_pin.h) */
    bench_opts o = {HG_MODEL_SOFTMAX, 8192, 0, 784, 10, 256, 0, NULL, false, false, false,
                    20.0};
    cli cmd;
    int rc = parse_args(argc, argv, &o, &cmd);
    if (rc != CLI_CONTINUE)
        return rc;

    hg_model_desc m = {.kind = o.kind, .inputs = o.features, .outputs = o.classes};
    if (o.kind == HG_MODEL_MLP) {
        m.nhidden = 1;
        m.hidden[0] = o.hidden;
    }
    workload wl;
    make_workload(&o, &m, &wl);

    drill_fault fault = {.device = SIZE_MAX, .step = UINT64_MAX, .fired = 0};
    hg_options dev;
    hg_options_init(&dev);
    dev.devices = o.devices;
    dev.keep_duplicates = o.keep_dups;
    cli_apply_log(&cmd, &dev);
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = &dev;
    eo.batch_rows = o.rows; /* every step is the whole data set: kernels chosen at its size */
    if (o.drill) {
        eo.fault_hook = drill_hook;
        eo.fault_user = &fault;
    }
    hg_dataset_desc data = {o.rows, o.features, wl.x, o.kind == HG_MODEL_LINEAR ? wl.t : NULL,
                            o.kind == HG_MODEL_LINEAR ? NULL : wl.l};
    bench_doc doc = {.o = &o};
    hg_engine *e = open_engine(&eo, &m, &data, &doc.setup_ms, &doc.calib_ms);
    if (o.drill) {
        rc = drill(e, &fault, wl.params, wl.P, o.rows);
        hg_engine_destroy(e);
        free(wl.x); free(wl.t); free(wl.l); free(wl.params); free(wl.grad);
        return rc;
    }
    size_t nd = hg_engine_device_count(e);
    if (nd > 16) {
        fprintf(stderr, "hetgrad-bench: %zu devices; at most 16 are supported\n", nd);
        return 3;
    }
    /* the profiles as loaded or measured by the calibration (they may change after the
       first steps: see below) */
    final_profiles fp;
    bool cached[16];
    for (size_t i = 0; i < nd; i++) {
        hg_engine_device_profile(e, i, &fp.prof[i]);
        cached[i] = fp.prof[i].valid && fp.prof[i].from_cache;
        fp.cached_rate[i] = fp.prof[i].rows_per_s;
    }
    /* dynamic on an engine of its own, so that its balancer's feedback survives the
       other configurations' steps between its own */
    hg_error err;
    hg_engine *ed = open_engine(&eo, &m, &data, NULL, NULL);
    if (hg_engine_device_count(ed) != nd) {
        fprintf(stderr, "hetgrad-bench: the dynamic configuration's engine has %zu devices, "
                "the others' %zu\n", hg_engine_device_count(ed), nd);
        return 3;
    }
    if (hg_engine_set_split(ed, HG_SPLIT_DYNAMIC, &err) != HG_OK)
        die("dynamic", &err);
    /* a device calibration fissioned is also timed alone whole, on an engine calibrated
       with fission off, so that "best device alone" is the best whole device */
    hg_engine *ew = NULL;
    for (size_t i = 0; i < nd && !ew; i++)
        if (fissioned(e, i))
            ew = open_whole_engine(&eo, &m, &data, e);
    bench_run run = {0};
    run_configs(&o, e, ed, ew, wl.params, wl.grad, &run);
    hg_engine_destroy(ed);
    hg_engine_destroy(ew);

    /* The profiles as they stand after the runs: a cached one that the first steps found
       stale was measured again (docs/engine.md).  The calibrated models, not the
       balancer's. */
    if (hg_engine_set_split(e, HG_SPLIT_MODEL, &err) != HG_OK)
        die("reading the profiles", &err);
    for (size_t i = 0; i < nd; i++) {
        hg_engine_device_profile(e, i, &fp.prof[i]);
        fp.stale[i] = cached[i] && fp.prof[i].valid && !fp.prof[i].from_cache;
    }
    doc.model_name = o.kind == HG_MODEL_MLP ? "mlp" : o.kind == HG_MODEL_LINEAR ? "linear"
                                                                               : "softmax";
    doc.flop_row = wl.flop_row;
    doc.e = e;
    doc.fp = &fp;
    doc.run = &run;
    rc = 0;
    if (o.json) {
        if (!print_json_doc(&doc)) {
            fprintf(stderr, "hetgrad-bench: writing the JSON to stdout failed\n");
            rc = 1;
        }
    } else {
        print_text(&doc);
    }
    hg_engine_destroy(e);
    free(wl.x); free(wl.t); free(wl.l); free(wl.params); free(wl.grad); free(run.res);
    return rc;
}
