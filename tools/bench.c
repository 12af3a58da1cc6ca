/* SPDX-License-Identifier: MIT */
/*
 * hetgrad-bench - how well hetgrad splits a gradient step across devices.
 *
 * On the same devices, in one run: each device alone, an equal split, the
 * calibrated affine plan ("weighted") and dynamic rebalancing.  For each:
 * rows/s (median step), the ratio to the best single device, and the balance
 * efficiency, sum of device busy time / (active devices x step makespan).
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
 * device that slow is measured on fewer rows instead.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hetgrad.h>

#include "cli.h"
#include "json_out.h"

typedef struct bench_opts {
    hg_model_kind kind;
    size_t rows, steps, features, classes, hidden;
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
} result;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const hg_error *err)
{
    fprintf(stderr, "hetgrad-bench: %s: %s: %s\n", what, hg_status_name(err->status),
            err->message);
    exit(3);
}

/* Run steps+1 full-batch steps (the first is a warm-up) over rows. */
static void run_config(hg_engine *e, const float *params, float *grad, size_t rows,
                       size_t steps, result *r)
{
    size_t nd = hg_engine_device_count(e);
    double *ms = calloc(steps, sizeof *ms), *bal = calloc(steps, sizeof *bal);
    hg_error err;
    for (size_t s = 0; s <= steps; s++) {
        if (hg_engine_gradient(e, params, 0, rows, grad, NULL, &err) != HG_OK)
            die(r->name, &err);
        if (s == 0)
            continue;
        double make = hg_engine_last_step_ms(e), busy = 0;
        size_t active = 0;
        for (size_t i = 0; i < nd; i++) {
            hg_device_step st;
            hg_engine_last_step(e, i, &st);
            if (st.rows) {
                active++;
                busy += st.host_ms;
            }
            if (i < 16)
                r->share[i] = (double)st.rows / (double)rows;
        }
        ms[s - 1] = make;
        bal[s - 1] = active && make > 0 ? busy / ((double)active * make) : NAN;
    }
    r->measured = true;
    r->rows = rows;
    r->ms = median(ms, steps);
    r->rows_per_s = r->ms > 0 ? (double)rows / (r->ms / 1e3) : 0;
    r->balance = median(bal, steps);
    free(ms);
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
         .range = "[1,4294967296]", .help = "timed steps per configuration, after one\n"
                                            "warm-up (default 7)"},
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
    if (o->kind != HG_MODEL_LINEAR && o->classes < 2)
        return cli_usage_error(cmd, "--classes must be at least 2 for --model %s",
                               model_names[model]);
    return CLI_CONTINUE;
}

int main(int argc, char **argv)
{
    bench_opts o = {HG_MODEL_SOFTMAX, 8192, 7, 784, 10, 256, NULL, false, false, false, 20.0};
    cli cmd;
    int rc = parse_args(argc, argv, &o, &cmd);
    if (rc != CLI_CONTINUE)
        return rc;

    hg_model_desc m = {.kind = o.kind, .inputs = o.features, .outputs = o.classes};
    if (o.kind == HG_MODEL_MLP) {
        m.nhidden = 1;
        m.hidden[0] = o.hidden;
    }
    size_t P = hg_model_param_count(&m);
    double flop_row = 0;
    if (o.kind == HG_MODEL_MLP)
        flop_row = 2.0 * (2.0 * (double)(o.features * o.hidden) +
                          3.0 * (double)(o.hidden * o.classes));
    else
        flop_row = 4.0 * (double)(o.features * o.classes);

    /* Synthetic data: fixed seed, classes separable along the first features. */
    float *x = malloc(o.rows * o.features * sizeof *x), *t = malloc(o.rows * o.classes * sizeof *t);
    int32_t *l = malloc(o.rows * sizeof *l);
    float *params = calloc(P, sizeof *params), *grad = malloc(P * sizeof *grad);
    if (!x || !t || !l || !params || !grad) {
        fprintf(stderr, "hetgrad-bench: out of memory\n");
        return 3;
    }
    uint64_t st = 12345;
    for (size_t i = 0; i < o.rows * o.features; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(st >> 40) / 16777216.0 - 0.5);
    }
    for (size_t r = 0; r < o.rows; r++) {
        l[r] = (int32_t)(r % o.classes);
        x[r * o.features + (size_t)l[r] % o.features] += 1.0f;
        for (size_t j = 0; j < o.classes; j++)
            t[r * o.classes + j] = x[r * o.features + j % o.features];
    }
    for (size_t i = 0; i < P; i++)
        params[i] = (float)(((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.02f;

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
    hg_engine *e = NULL;
    hg_error err;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hg_engine_create(&eo, &m, &e, &err) != HG_OK)
        die("creating the engine", &err);
    hg_dataset_desc data = {o.rows, o.features, x, o.kind == HG_MODEL_LINEAR ? t : NULL,
                            o.kind == HG_MODEL_LINEAR ? NULL : l};
    if (hg_engine_set_data(e, &data, &err) != HG_OK)
        die("uploading the data", &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (hg_engine_calibrate(e, &err) != HG_OK)
        die("calibrating", &err);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double setup_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    double calib_ms = (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;

    if (o.drill) {
        rc = drill(e, &fault, params, P, o.rows);
        hg_engine_destroy(e);
        free(x); free(t); free(l); free(params); free(grad);
        return rc;
    }
    size_t nd = hg_engine_device_count(e);
    hg_device_profile prof[16];
    double *w = calloc(nd, sizeof *w);
    result *res = calloc(nd + 3, sizeof *res);
    size_t nres = 0;
    if (!w || !res || nd > 16) {
        fprintf(stderr, "hetgrad-bench: too many devices or out of memory\n");
        return 3;
    }
    /* as loaded or measured by the calibration (the profiles may change after the first
       steps: see below) */
    bool cached[16];
    double cached_rate[16];
    for (size_t i = 0; i < nd; i++) {
        hg_engine_device_profile(e, i, &prof[i]);
        cached[i] = prof[i].valid && prof[i].from_cache;
        cached_rate[i] = prof[i].rows_per_s;
    }

    /* Each device alone. */
    double best_solo = 0;
    for (size_t i = 0; i < nd; i++) {
        if (hg_engine_quarantined(e, i, NULL) || !prof[i].valid)
            continue;
        result *r = &res[nres++];
        snprintf(r->name, sizeof r->name, "solo:%s", hg_engine_device(e, i)->name);
        for (size_t k = 0; k < nd; k++)
            w[k] = k == i ? 1 : 0;
        if (hg_engine_set_weights(e, w, nd, &err) != HG_OK ||
            hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err) != HG_OK)
            die(r->name, &err);
        double pred_s = (prof[i].fixed_ms + prof[i].ms_per_row * (double)o.rows) / 1e3;
        size_t rows = o.rows;
        size_t steps = o.steps;
        if (pred_s > o.max_step_s / 4) { /* a slow device: fewer rows, fewer steps */
            double room = o.max_step_s / 4 * 1e3 - prof[i].fixed_ms;
            rows = room > prof[i].ms_per_row ? (size_t)(room / prof[i].ms_per_row) : 1;
            if (rows > o.rows)
                rows = o.rows;
            steps = 2;
        }
        run_config(e, params, grad, rows, steps, r);
        if (r->rows_per_s > best_solo)
            best_solo = r->rows_per_s;
    }

    /* All devices, equal split: predicted when it would take too long. */
    for (size_t i = 0; i < nd; i++)
        hg_engine_device_profile(e, i, &prof[i]); /* a stale cached one is measured again */
    {
        result *r = &res[nres++];
        snprintf(r->name, sizeof r->name, "equal");
        double pred = 0;
        size_t healthy = 0;
        for (size_t i = 0; i < nd; i++)
            healthy += !hg_engine_quarantined(e, i, NULL) && prof[i].valid;
        for (size_t i = 0; i < nd; i++) {
            w[i] = 1;
            if (hg_engine_quarantined(e, i, NULL) || !prof[i].valid)
                continue;
            double p = prof[i].fixed_ms + prof[i].ms_per_row * (double)o.rows / (double)healthy;
            pred = p > pred ? p : pred;
            r->share[i] = 1.0 / (double)healthy;
        }
        if (hg_engine_set_weights(e, w, nd, &err) != HG_OK ||
            hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err) != HG_OK)
            die("equal", &err);
        if (pred / 1e3 <= o.max_step_s) {
            run_config(e, params, grad, o.rows, o.steps, r);
        } else {
            r->measured = false;
            r->rows = o.rows;
            r->ms = pred;
            r->rows_per_s = (double)o.rows / (pred / 1e3);
            r->balance = NAN;
        }
    }

    /* The calibrated plan, then dynamic rebalancing. */
    const struct { const char *name; hg_split split; } plans[2] = {
        {"weighted", HG_SPLIT_MODEL}, {"dynamic", HG_SPLIT_DYNAMIC}};
    for (size_t k = 0; k < 2; k++) {
        result *r = &res[nres++];
        snprintf(r->name, sizeof r->name, "%s", plans[k].name);
        if (hg_engine_set_split(e, plans[k].split, &err) != HG_OK)
            die(r->name, &err);
        run_config(e, params, grad, o.rows, o.steps, r);
    }

    /* The profiles as they stand after the runs: a cached one that the first steps found
       stale was measured again (docs/engine.md).  The calibrated models, not the
       balancer's. */
    hg_device_profile final[16];
    bool stale[16];
    if (hg_engine_set_split(e, HG_SPLIT_MODEL, &err) != HG_OK)
        die("reading the profiles", &err);
    for (size_t i = 0; i < nd; i++) {
        hg_engine_device_profile(e, i, &final[i]);
        stale[i] = cached[i] && final[i].valid && !final[i].from_cache;
    }

    const char *model_name = o.kind == HG_MODEL_MLP ? "mlp"
                             : o.kind == HG_MODEL_LINEAR ? "linear" : "softmax";
    rc = 0;
    if (o.json) {
        json_out j;
        json_init(&j, stdout);
        json_begin_object(&j);
        json_key(&j, "schema"); json_string(&j, "hetgrad-bench/1");
        json_key(&j, "model"); json_string(&j, model_name);
        json_key(&j, "rows"); json_u64(&j, o.rows);
        json_key(&j, "features"); json_u64(&j, o.features);
        json_key(&j, "classes"); json_u64(&j, o.classes);
        json_key(&j, "steps"); json_u64(&j, o.steps);
        json_key(&j, "setup_ms"); json_double(&j, setup_ms);
        json_key(&j, "calibration_ms"); json_double(&j, calib_ms);
        json_key(&j, "devices");
        json_begin_array(&j);
        for (size_t i = 0; i < nd; i++) {
            json_begin_object(&j);
            json_key(&j, "name"); json_string(&j, hg_engine_device(e, i)->name);
            json_key(&j, "id"); json_string(&j, hg_engine_device(e, i)->id);
            json_key(&j, "fixed_ms"); json_double(&j, final[i].valid ? final[i].fixed_ms : NAN);
            json_key(&j, "rows_per_s"); json_double(&j, final[i].valid ? final[i].rows_per_s : NAN);
            json_key(&j, "profile_from_cache"); json_bool(&j, final[i].from_cache);
            json_key(&j, "profile_stale"); json_bool(&j, stale[i]);
            json_key(&j, "kernel"); json_string(&j, final[i].kernel);
            json_key(&j, "kernel_why"); json_string(&j, final[i].kernel_note);
            json_key(&j, "corun_factor");
            json_double(&j, final[i].corun_factor > 0 ? final[i].corun_factor : NAN);
            json_key(&j, "excluded");
            json_string(&j, final[i].excluded ? final[i].excluded_why : NULL);
            const char *fis = hg_engine_fission_note(e, i);
            json_key(&j, "fission"); json_string(&j, fis && fis[0] ? fis : NULL);
            const char *why = NULL;
            json_key(&j, "quarantined"); json_bool(&j, hg_engine_quarantined(e, i, &why));
            json_key(&j, "quarantine_reason"); json_string(&j, why);
            json_end_object(&j);
        }
        json_end_array(&j);
        json_key(&j, "configs");
        json_begin_array(&j);
        for (size_t k = 0; k < nres; k++) {
            result *r = &res[k];
            json_begin_object(&j);
            json_key(&j, "name"); json_string(&j, r->name);
            json_key(&j, "measured"); json_bool(&j, r->measured);
            json_key(&j, "rows"); json_u64(&j, r->rows);
            json_key(&j, "ms_per_step"); json_double(&j, r->ms);
            json_key(&j, "rows_per_s"); json_double(&j, r->rows_per_s);
            json_key(&j, "gflops"); json_double(&j, r->rows_per_s * flop_row / 1e9);
            json_key(&j, "vs_best_solo"); json_double(&j, best_solo > 0 ? r->rows_per_s / best_solo : NAN);
            json_key(&j, "balance_efficiency"); json_double(&j, r->balance);
            json_key(&j, "shares");
            json_begin_array(&j);
            for (size_t i = 0; i < nd; i++)
                json_double(&j, r->share[i]);
            json_end_array(&j);
            json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        if (!json_finish(&j)) {
            fprintf(stderr, "hetgrad-bench: writing the JSON to stdout failed\n");
            rc = 1;
        }
    } else {
        printf("hetgrad-bench: %s, %zu rows x %zu features, %zu classes; median of %zu steps\n",
               model_name, o.rows, o.features, o.classes, o.steps);
        printf("set-up %.0f ms, calibration %.0f ms\n\n", setup_ms, calib_ms);
        printf("%-36s %10s %12s %s\n", "device", "fixed ms", "rows/s", "profile");
        for (size_t i = 0; i < nd; i++) {
            const char *why = NULL;
            bool q = hg_engine_quarantined(e, i, &why);
            char was[64] = "";
            if (stale[i])
                snprintf(was, sizeof was, " (the cache's was stale: %.0f rows/s)",
                         cached_rate[i]);
            printf("%-36.36s %10.3f %12.0f %s%s%s%s\n", hg_engine_device(e, i)->name,
                   final[i].fixed_ms, final[i].rows_per_s,
                   final[i].valid ? (final[i].from_cache ? "cached" : "measured") : "none", was,
                   q ? "; quarantined: " : "", q ? why : "");
            printf("%-36s kernel %s: %s\n", "", final[i].kernel, final[i].kernel_note);
            if (final[i].excluded)
                printf("%-36s no rows: %s\n", "", final[i].excluded_why);
            else if (final[i].corun_factor > 0)
                printf("%-36s joint: %.2fx its cost per row alone, beside the others\n", "",
                       final[i].corun_factor);
            const char *fis = hg_engine_fission_note(e, i);
            if (fis && fis[0])
                printf("%-36s fission: %s\n", "", fis);
        }
        printf("\n%-44s %12s %10s %8s %8s  %s\n", "config", "rows/s", "ms/step", "/solo",
               "balance", "shares");
        for (size_t k = 0; k < nres; k++) {
            result *r = &res[k];
            printf("%-44.44s %12.0f %10.2f %8.3f ", r->name, r->rows_per_s, r->ms,
                   best_solo > 0 ? r->rows_per_s / best_solo : NAN);
            if (isnan(r->balance))
                printf("%8s ", "-");
            else
                printf("%8.3f ", r->balance);
            for (size_t i = 0; i < nd; i++)
                printf(" %.3f", r->share[i]);
            if (!r->measured)
                printf("  (predicted: would take %.0f s a step)", r->ms / 1e3);
            else if (r->rows != o.rows)
                printf("  (measured on %zu rows)", r->rows);
            printf("\n");
        }
    }
    hg_engine_destroy(e);
    free(x); free(t); free(l); free(params); free(grad); free(w); free(res);
    return rc;
}
