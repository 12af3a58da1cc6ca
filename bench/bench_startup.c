/* SPDX-License-Identifier: MIT */
/*
 * bench_startup.c - what hetgrad costs before the first gradient: building
 * the device list (enumeration, property snapshot, selection) and, per kept
 * device, building and running the self-test program.
 *
 *   bench_startup [--repeats N] [--json] [--devices EXPR] [--keep-duplicates]
 *
 * --json writes the figures as JSON (docs/json.md).  Exit status: 0 when every
 * figure was measured, 1 when a device's self-test or the first gradient
 * failed (the figure is then missing, JSON null, and stderr says why), 2 for
 * bad usage, 3 when the device list could not be built.
 *
 * Each figure is the median (and min / max) of N runs in this process; the
 * first self-test build per device also shows the cold cost (empty OpenCL
 * compiler cache) when the cache is empty.
 */
#define _POSIX_C_SOURCE 200809L
#include <hetgrad.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cli.h"
#include "json_out.h"

#define PROG "bench_startup" /* in messages */

typedef struct stats {
    double min, median, max;
} stats;

static stats summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    stats s = {v[0], n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[n - 1]};
    return s;
}

/* A status name and a library message. */
#define MESSAGE_MAX (HG_ERROR_MESSAGE_MAX + 48)

/* One kept device's self-test figures; error[0] != '\0' when it failed. */
typedef struct device_result {
    const hg_device_info *info;
    double first_build_ms, build_ms_median, run_ms_median;
    char error[MESSAGE_MAX];
} device_result;

/* The self-test, repeats times, on list entry d: medians in *out. */
static void time_selftest(const hg_device_list *l, size_t d, int repeats, double *b, double *r,
                          device_result *out)
{
    hg_error err;
    out->info = hg_device_list_get(l, d);
    out->error[0] = '\0';
    for (int i = 0; i < repeats; i++) {
        hg_selftest_result res;
        if (hg_device_selftest(l, d, &res, &err) != HG_OK) {
            snprintf(out->error, sizeof out->error, "%s: %s", hg_status_name(err.status),
                     err.message);
            return;
        }
        if (i == 0)
            out->first_build_ms = res.build_ms;
        b[i] = res.build_ms;
        r[i] = res.run_ms;
    }
    out->build_ms_median = summarize(b, repeats).median;
    out->run_ms_median = summarize(r, repeats).median;
}

/*
 * Start-up to the first gradient: engine, data, calibration, one step
 * (softmax 784x10 on 4096 rows, the devices eo selects), twice; the second time in
 * a process the OpenCL compilers' and hetgrad's caches are warm.  ms[k] is NaN
 * when round k failed (the message is in fail).
 */
static void time_first_gradient(const hg_engine_options *eo, double ms[2], char *fail,
                                size_t failn)
{
    const size_t n = 4096, dd = 784, cc = 10;
    float *x = malloc(n * dd * sizeof *x), *p = calloc(dd * cc + cc, sizeof *p),
          *g = malloc((dd * cc + cc) * sizeof *g);
    int32_t *lab = malloc(n * sizeof *lab);
    hg_error err;
    ms[0] = ms[1] = NAN;
    fail[0] = '\0';
    if (!x || !p || !g || !lab) {
        snprintf(fail, failn, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n * dd; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t row = 0; row < n; row++)
        lab[row] = (int32_t)(row % cc);
    for (int round = 0; round < 2; round++) {
        hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = dd, .outputs = cc};
        hg_dataset_desc data = {n, dd, x, NULL, lab};
        hg_engine *e = NULL;
        double t0 = bench_now_ms();
        if (hg_engine_create(eo, &m, &e, &err) != HG_OK ||
            hg_engine_set_data(e, &data, &err) != HG_OK ||
            hg_engine_calibrate(e, &err) != HG_OK ||
            hg_engine_gradient(e, p, 0, n, g, NULL, &err) != HG_OK) {
            snprintf(fail, failn, "%s: %s", hg_status_name(err.status), err.message);
            hg_engine_destroy(e);
            break;
        }
        ms[round] = bench_now_ms() - t0;
        hg_engine_destroy(e);
    }
out:
    free(x);
    free(p);
    free(g);
    free(lab);
}

/* The JSON document (docs/json.md, docs/schemas/hetgrad-bench-startup-1.schema.json);
   false when it could not be written in full. */
static bool print_json(int repeats, double list_first, stats list, const device_result *dev,
                       size_t ndev, const double first_ms[2])
{
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-bench-startup/1");
    json_key(&j, "repeats"); json_u64(&j, (uint64_t)repeats);
    json_key(&j, "device_list_ms");
    json_begin_object(&j);
    json_key(&j, "first"); json_double(&j, list_first);
    json_key(&j, "min"); json_double(&j, list.min);
    json_key(&j, "median"); json_double(&j, list.median);
    json_key(&j, "max"); json_double(&j, list.max);
    json_end_object(&j);
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t i = 0; i < ndev; i++) {
        const device_result *d = &dev[i];
        bool ok = d->error[0] == '\0';
        json_begin_object(&j);
        json_key(&j, "id"); json_string(&j, d->info->id);
        json_key(&j, "name"); json_string(&j, d->info->name);
        json_key(&j, "first_build_ms"); json_double(&j, ok ? d->first_build_ms : NAN);
        json_key(&j, "build_ms_median"); json_double(&j, ok ? d->build_ms_median : NAN);
        json_key(&j, "run_ms_median"); json_double(&j, ok ? d->run_ms_median : NAN);
        json_key(&j, "error"); json_string(&j, ok ? NULL : d->error);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_key(&j, "first_gradient_ms");
    json_begin_object(&j);
    json_key(&j, "first"); json_double(&j, first_ms[0]);
    json_key(&j, "again"); json_double(&j, first_ms[1]);
    json_end_object(&j);
    json_end_object(&j);
    return json_finish(&j);
}

static const cli_exit startup_exits[] = {
    {0, "success"},
    {1, "a device's self-test or the first gradient failed"},
    {2, "usage error"},
    {3, "the device list could not be built, or out of memory"},
};

static const cli_env startup_env[] = {
    {"HETGRAD_DEVICES=EXPR", "device selection (docs/devices.md)"},
};

int main(int argc, char **argv)
{
    size_t nrep = 7;
    bool json = false, keep_dups = false;
    const char *devices = NULL;
    const cli_option options[] = {
        {.name = "repeats", .kind = CLI_SIZE, .target = &nrep, .metavar = "N",
         .range = "[1,1000]", .help = "runs of each measurement (default 7)"},
        {.name = "json", .kind = CLI_FLAG, .target = &json, .help = "JSON on stdout"},
        {.name = "devices", .kind = CLI_STRING, .target = &devices, .metavar = "EXPR",
         .help = "device selection (syntax of HETGRAD_DEVICES)"},
        {.name = "keep-duplicates", .kind = CLI_FLAG, .target = &keep_dups,
         .help = "use every view of the same hardware (default:\none view each)"},
    };
    const cli_spec spec = {
        .prog = "bench_startup",
        .synopsis = "[options]",
        .summary = "What hetgrad costs before the first gradient: the device list, the\n"
                   "self-test build and run per device, and an engine's first step.",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .env = startup_env,
        .nenv = sizeof startup_env / sizeof startup_env[0],
        .exits = startup_exits,
        .nexits = sizeof startup_exits / sizeof startup_exits[0],
    };
    cli cmd;
    cli_init(&cmd, &spec);
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    int repeats = (int)nrep;
    hg_options devopt;
    hg_options_init(&devopt);
    devopt.devices = devices;
    devopt.keep_duplicates = keep_dups;
    cli_apply_log(&cmd, &devopt);
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = &devopt;

    rc = 3;
    double *t = calloc((size_t)repeats, sizeof *t);
    double *b = calloc((size_t)repeats, sizeof *b);
    double *r = calloc((size_t)repeats, sizeof *r);
    device_result *dev = NULL;
    hg_device_list *l = NULL;
    hg_error err;
    if (!t || !b || !r) {
        fprintf(stderr, "bench_startup: out of memory\n");
        goto out;
    }
    for (int i = 0; i < repeats; i++) {
        hg_device_list_destroy(l);
        l = NULL;
        double t0 = bench_now_ms();
        hg_status st = hg_device_list_create(&devopt, &l, &err);
        t[i] = bench_now_ms() - t0;
        if (st != HG_OK) {
            fprintf(stderr, "bench_startup: %s\n", err.message);
            goto out;
        }
    }
    double list_first = t[0]; /* includes the loader opening every driver */
    stats list = summarize(t, repeats);

    size_t ndev = 0;
    dev = calloc(hg_device_list_count(l) + 1, sizeof *dev);
    if (!dev) {
        fprintf(stderr, "bench_startup: out of memory\n");
        goto out;
    }
    rc = 0;
    for (size_t d = 0; d < hg_device_list_count(l); d++) {
        if (!hg_device_list_get(l, d)->kept)
            continue;
        time_selftest(l, d, repeats, b, r, &dev[ndev]);
        if (dev[ndev].error[0]) {
            fprintf(stderr, "bench_startup: %s: %s\n", dev[ndev].info->name, dev[ndev].error);
            rc = 1;
        }
        ndev++;
    }
    double first_ms[2];
    char fail[MESSAGE_MAX];
    time_first_gradient(&eo, first_ms, fail, sizeof fail);
    if (fail[0]) {
        fprintf(stderr, "bench_startup: first gradient: %s\n", fail);
        rc = 1;
    }

    if (json) {
        if (!print_json(repeats, list_first, list, dev, ndev, first_ms)) {
            fprintf(stderr, "bench_startup: writing the JSON to stdout failed\n");
            rc = 1;
        }
        goto out;
    }
    printf("device list (enumerate + snapshot + select), %d runs: first %.2f ms "
           "(the loader opens every driver), then median %.3f ms\n\n"
           "%-36s %12s %14s %14s\n", repeats, list_first, list.median,
           "kept device", "first build", "build (median)", "run (median)");
    for (size_t i = 0; i < ndev; i++) {
        if (dev[i].error[0])
            printf("%-36.36s FAILED: %s\n", dev[i].info->name, dev[i].error);
        else
            printf("%-36.36s %9.1f ms %11.1f ms %11.2f ms\n", dev[i].info->name,
                   dev[i].first_build_ms, dev[i].build_ms_median, dev[i].run_ms_median);
    }
    printf("\nstart-up to the first gradient (engine, data, calibration, one step; softmax "
           "784x10, 4096 rows):\n");
    if (fail[0] && isnan(first_ms[0]))
        printf("  FAILED: %s\n", fail);
    else if (fail[0])
        printf("  first in this process %.1f ms, again FAILED: %s\n", first_ms[0], fail);
    else
        printf("  first in this process %.1f ms, again %.1f ms\n", first_ms[0], first_ms[1]);
out:
    hg_device_list_destroy(l);
    free(dev);
    free(t);
    free(b);
    free(r);
    return rc;
}
