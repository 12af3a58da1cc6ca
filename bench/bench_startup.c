/*
 * bench_startup.c - what hetgrad costs before the first gradient: building
 * the device list (enumeration, property snapshot, selection) and, per kept
 * device, building and running the self-test program.
 *
 *   bench_startup [--repeats N] [--json] [--devices EXPR] [--keep-duplicates]
 *
 * Each figure is the median (and min / max) of N runs in this process; the
 * first self-test build per device also shows the cold cost (empty OpenCL
 * compiler cache) when the cache is empty.
 */
#define _POSIX_C_SOURCE 200809L
#include <hetgrad.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double min, median, max;
} stats;

static stats summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stats s = {v[0], n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[n - 1]};
    return s;
}

static const cli_exit startup_exits[] = {
    {0, "success"},
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
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices.devices = devices;
    eo.devices.keep_duplicates = keep_dups;
    cli_apply_log(&cmd, &eo.devices);

    double *t = calloc((size_t)repeats, sizeof *t);
    double *b = calloc((size_t)repeats, sizeof *b);
    double *r = calloc((size_t)repeats, sizeof *r);
    if (!t || !b || !r)
        return 3;
    hg_device_list *l = NULL;
    hg_error err;
    for (int i = 0; i < repeats; i++) {
        hg_device_list_destroy(l);
        l = NULL;
        double t0 = now_ms();
        hg_status st = hg_device_list_create(&eo.devices, &l, &err);
        t[i] = now_ms() - t0;
        if (st != HG_OK) {
            fprintf(stderr, "bench_startup: %s\n", err.message);
            return 3;
        }
    }
    double list_first = t[0]; /* includes the loader opening every driver */
    stats list = summarize(t, repeats);
    if (json)
        printf("{\"schema\": \"hetgrad-bench-startup/1\", \"repeats\": %d,\n"
               " \"device_list_ms\": {\"first\": %.3f, \"min\": %.3f, \"median\": %.3f, "
               "\"max\": %.3f},\n \"devices\": [",
               repeats, list_first, list.min, list.median, list.max);
    else
        printf("device list (enumerate + snapshot + select), %d runs: first %.2f ms "
               "(the loader opens every driver), then median %.3f ms\n\n"
               "%-36s %12s %14s %14s\n", repeats, list_first, list.median,
               "kept device", "first build", "build (median)", "run (median)");

    int first = 1;
    for (size_t d = 0; d < hg_device_list_count(l); d++) {
        const hg_device_info *info = hg_device_list_get(l, d);
        if (!info->kept)
            continue;
        double first_build = 0;
        int ok = 1;
        for (int i = 0; i < repeats; i++) {
            hg_selftest_result res;
            if (hg_device_selftest(l, d, &res, &err) != HG_OK) {
                fprintf(stderr, "bench_startup: %s: %s\n", info->name, err.message);
                ok = 0;
                break;
            }
            if (i == 0)
                first_build = res.build_ms;
            b[i] = res.build_ms;
            r[i] = res.run_ms;
        }
        if (!ok)
            continue;
        stats sb = summarize(b, repeats), sr = summarize(r, repeats);
        if (json) {
            printf("%s\n  {\"id\": \"%s\", \"name\": \"%s\", \"first_build_ms\": %.3f, "
                   "\"build_ms_median\": %.3f, \"run_ms_median\": %.3f}",
                   first ? "" : ",", info->id, info->name, first_build, sb.median, sr.median);
        } else {
            printf("%-36.36s %9.1f ms %11.1f ms %11.2f ms\n", info->name, first_build,
                   sb.median, sr.median);
        }
        first = 0;
    }
    /* Start-up to the first gradient: engine, data, calibration, one step
       (softmax 784x10 on 4096 rows, every kept device).  The second time in
       a process the OpenCL compilers' and hetgrad's caches are warm. */
    const size_t n = 4096, dd = 784, cc = 10;
    float *x = malloc(n * dd * sizeof *x), *p = calloc(dd * cc + cc, sizeof *p),
          *g = malloc((dd * cc + cc) * sizeof *g);
    int32_t *lab = malloc(n * sizeof *lab);
    double first_ms[2] = {0, 0};
    for (size_t i = 0; x && i < n * dd; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t row = 0; lab && row < n; row++)
        lab[row] = (int32_t)(row % cc);
    for (int round = 0; round < 2 && x && p && g && lab; round++) {
        hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = dd, .outputs = cc};
        hg_dataset_desc data = {n, dd, x, NULL, lab};
        hg_engine *e = NULL;
        double t0 = now_ms();
        if (hg_engine_create(&eo, &m, &e, &err) != HG_OK ||
            hg_engine_set_data(e, &data, &err) != HG_OK ||
            hg_engine_calibrate(e, &err) != HG_OK ||
            hg_engine_gradient(e, p, 0, n, g, NULL, &err) != HG_OK) {
            fprintf(stderr, "bench_startup: first gradient: %s\n", err.message);
            hg_engine_destroy(e);
            break;
        }
        first_ms[round] = now_ms() - t0;
        hg_engine_destroy(e);
    }
    free(x);
    free(p);
    free(g);
    free(lab);
    if (json)
        printf("\n], \"first_gradient_ms\": {\"first\": %.3f, \"again\": %.3f}}\n",
               first_ms[0], first_ms[1]);
    else
        printf("\nstart-up to the first gradient (engine, data, calibration, one step; softmax "
               "784x10, 4096 rows):\n  first in this process %.1f ms, again %.1f ms\n",
               first_ms[0], first_ms[1]);
    hg_device_list_destroy(l);
    free(t);
    free(b);
    free(r);
    return 0;
}
