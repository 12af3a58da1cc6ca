/* SPDX-License-Identifier: MIT */
/*
 * test_programs.c - the program cache and prebuilt binaries on the real test
 * devices: compile once and load from the cache afterwards; a corrupt cache
 * entry is rebuilt; exported binaries run with the compiler forced off; a
 * missing binary is a clear error naming the file.  And what the caches must
 * not trust: forged entries (right key, valid checksum, wrong binary), FIFOs
 * named like entries, directories others can write to or that others own.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_entry.h"
#include "engine_internal.h"
#include "engine_knobs.h"
#include "internal.h"
#include "kchoice_shapes.h"
#include "path_ops.h"
#include "test_expect.h"

static char cache[256], bins[256];

static void make_dirs(void)
{
    snprintf(cache, sizeof cache, "/tmp/hg-test-cache-XXXXXX");
    snprintf(bins, sizeof bins, "/tmp/hg-test-bins-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cache));
    ck_assert_ptr_nonnull(mkdtemp(bins));
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

enum { N = 40, D = 4, C = 3, P = D * C + C };
static float x[N * D], params[P];
static int32_t labels[N];
static const hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};

static void make_data(void)
{
    for (int i = 0; i < N * D; i++)
        x[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
    for (int i = 0; i < N; i++)
        labels[i] = i % C;
    for (int i = 0; i < P; i++)
        params[i] = (float)((i * 13) % 7) / 10.0f - 0.3f;
}

/* An engine on every test device with knobs k, reading HETGRAD_* when env,
   with the status want. */
static hg_engine *make_engine(const hg__engine_knobs *k, bool env, bool no_cache,
                              hg_status want, hg_error *err)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = env;
    dev.keep_duplicates = true;
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.cache_dir = cache;
    o.no_program_cache = no_cache;
    o.binary_dir = bins;
    hg_engine *e = NULL;
    hg_status st = hg__engine_create_knobs(&o, k, &model, &e, err);
    ck_assert_msg(st == want, "hg_engine_create: %s (%s)", hg_status_name(st), err->message);
    return e;
}

static hg_engine *engine(bool offline, bool no_cache, hg_status want, hg_error *err)
{
    /* every program stored, also POCL's (which caches them itself) */
    const hg__engine_knobs k = {.offline = offline, .store_programs = true};
    return make_engine(&k, false, no_cache, want, err);
}

/* As hg_engine_create (no knobs), reading HETGRAD_* when env. */
static hg_engine *plain_engine(bool env, hg_status want, hg_error *err)
{
    const hg__engine_knobs none = {0};
    return make_engine(&none, env, false, want, err);
}

/* The engine's gradient and loss over the whole of data equal the double
   reference's, for model m with the np parameters p. */
static void expect_model(hg_engine *e, const hg_model_desc *m, const float *p, size_t np,
                         const hg_dataset_desc *data)
{
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, data, &err) == HG_OK, "%s", err.message);
    float *g = malloc(np * sizeof *g);
    double *ref = malloc(np * sizeof *ref), loss, rl;
    ck_assert(g && ref);
    const size_t n = data->rows;
    ck_assert_msg(hg_engine_gradient(e, p, 0, n, g, &loss, &err) == HG_OK, "%s", err.message);
    ck_assert_int_eq(hg_reference_loss_grad(m, p, data, 0, n, NULL, &rl, ref, &err), HG_OK);
    double maxd = 0, maxr = 0;
    for (size_t i = 0; i < np; i++) {
        maxd = fmax(maxd, fabs(g[i] - ref[i] / (double)n));
        maxr = fmax(maxr, fabs(ref[i] / (double)n));
    }
    ck_assert_msg(maxd <= 1e-4 * maxr, "gradient error %g of %g", maxd, maxr);
    ck_assert_msg(fabs(loss - rl / (double)n) <= 1e-4 * fabs(rl / (double)n), "loss %g, want %g",
                  loss, rl / (double)n);
    free(g);
    free(ref);
}

/* The engine's gradient equals the double reference. */
static void check_gradient(hg_engine *e)
{
    hg_dataset_desc data = {N, D, x, NULL, labels};
    expect_model(e, &model, params, P, &data);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Programs the engine built on its devices whose driver caches programs
   itself (POCL: program.h) when pocl, on the others when !pocl: each
   device's model program and those of the kernel it computes with (fused:
   one; tiled GEMM: two). */
static size_t programs_on(const hg_engine *e, bool pocl)
{
    size_t n = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        if (hg__driver_caches_programs(hg_engine_device(e, i)) != pocl)
            continue;
        hg_device_profile p;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &p), HG_OK);
        n += 1 + (!strncmp(p.kernel, "fused", 5) ? 1 : !strncmp(p.kernel, "tiled", 5) ? 2 : 0);
    }
    return n;
}

/* Every program the engine built. */
static size_t programs(const hg_engine *e)
{
    return programs_on(e, true) + programs_on(e, false);
}

static void expect_origin(hg_engine *e, const char *origin)
{
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        ck_assert_msg(!strcmp(hg_engine_program_origin(e, i), origin), "%s: %s, want %s",
                      hg_engine_device(e, i)->name, hg_engine_program_origin(e, i), origin);
}

START_TEST(compiled_once_then_cached)
{
    make_dirs();
    make_data();
    hg_error err;
    hg_engine *e = engine(false, false, HG_OK, &err);
    expect_origin(e, "source");
    check_gradient(e);
    hg_engine_destroy(e);
    ck_assert_uint_eq(count_files(cache), programs(e = engine(false, false, HG_OK, &err)));
    expect_origin(e, "cache");
    check_gradient(e);
    hg_engine_destroy(e);

    /* Corrupt every entry: detected, rebuilt, replaced. */
    DIR *d = opendir(cache);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", cache, de->d_name);
        FILE *f = fopen(path, "r+b");
        ck_assert_ptr_nonnull(f);
        fseek(f, -5, SEEK_END);
        fputc(0x5a, f);
        fclose(f);
    }
    closedir(d);
    e = engine(false, false, HG_OK, &err);
    expect_origin(e, "source");
    check_gradient(e);
    hg_engine_destroy(e);
    e = engine(false, false, HG_OK, &err);
    expect_origin(e, "cache");
    hg_engine_destroy(e);

    /* No cache: always compiled. */
    e = engine(false, true, HG_OK, &err);
    expect_origin(e, "source");
    hg_engine_destroy(e);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

START_TEST(prebuilt_binaries_without_compiler)
{
    make_dirs();
    make_data();
    hg_error err;
    /* Nothing exported yet: a clear error naming the file looked for. */
    hg_engine *e = engine(true, false, HG_BUILD, &err);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(strstr(err.message, bins));
    ck_assert_ptr_nonnull(strstr(err.message, "model.bin"));
    ck_assert_ptr_nonnull(strstr(err.message, "offline"));

    e = engine(false, false, HG_OK, &err);
    ck_assert_msg(hg_engine_export_binaries(e, bins, &err) == HG_OK, "%s", err.message);
    hg_engine_destroy(e);

    e = engine(true, false, HG_OK, &err);
    expect_origin(e, "prebuilt");
    check_gradient(e); /* runs with hetgrad's own GEMM: no CLBlast without a compiler */
    hg_engine_destroy(e);
    ck_assert_int_eq(hg_engine_export_binaries(NULL, bins, &err), HG_INVALID_ARGUMENT);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/*
 * A prebuilt model program made from model.cl as it was before hg_gather_t
 * joined it (2026-12-05), beside current binaries of the tiled GEMM: each
 * device opens with a warning naming the missing kernel, leaves out the
 * paths that need it (the tiled GEMM) and computes the MLP with the plain
 * GEMM of its model program, the gradient right.
 */
enum { MN = 48, MD = 6, MH = 5, MC = 3, MP = MD * MH + MH + MH * MC + MC };

/* model.cl's source as it was: the embedded one up to the transposes. */
static char *older_model_source(size_t *len)
{
    char *src = hg__model_source(len);
    ck_assert_ptr_nonnull(src);
    char *cut = strstr(src, "/*\n * dst[doff + j * ldd + i] = A[row i][j]");
    ck_assert_ptr_nonnull(cut);
    *cut = '\0';
    *len = (size_t)(cut - src);
    return src;
}

/* Overwrite device d's exported model.bin with src built for it. */
static void write_model_bin(const hg__device *d, const char *src, size_t len)
{
    cl_int rc = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(d->ctx, 1, &src, &len, &rc);
    ck_assert_int_eq(rc, CL_SUCCESS);
    ck_assert_int_eq(clBuildProgram(p, 1, &d->cl_dev, "-cl-std=CL1.2", NULL, NULL),
                     CL_SUCCESS);
    size_t n = 0;
    ck_assert_int_eq(clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL),
                     CL_SUCCESS);
    ck_assert_uint_gt(n, 0);
    unsigned char *bin = malloc(n);
    ck_assert_ptr_nonnull(bin);
    ck_assert_int_eq(clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL),
                     CL_SUCCESS);
    char *path = hg__prebuilt_path(bins, d->info, "model");
    ck_assert_ptr_nonnull(path);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert_uint_eq(fwrite(bin, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    free(path);
    free(bin);
    clReleaseProgram(p);
}

START_TEST(an_older_prebuilt_model_program_still_computes)
{
    make_dirs();
    static float mx[MN * MD], mp[MP];
    static int32_t ml[MN];
    for (int i = 0; i < MN * MD; i++)
        mx[i] = (float)((i * 29) % 13) / 9.0f - 0.7f;
    for (int i = 0; i < MN; i++)
        ml[i] = i % MC;
    for (int i = 0; i < MP; i++)
        mp[i] = (float)((i * 17) % 11) / 20.0f - 0.25f;
    const hg_model_desc mlp = {.kind = HG_MODEL_MLP, .inputs = MD, .outputs = MC,
                               .nhidden = 1, .hidden = {MH}};
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    test_log lg;
    test_log_init(&lg);
    dev.log = test_log_fn;
    dev.log_user = &lg;
    dev.log_level = HG_LOG_WARN;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.cache_dir = cache;
    o.binary_dir = bins;
    hg_error err;
    hg_engine *e = NULL;
    const hg__engine_knobs online = {.store_programs = true};
    ck_assert_msg(hg__engine_create_knobs(&o, &online, &mlp, &e, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_msg(hg_engine_export_binaries(e, bins, &err) == HG_OK, "%s", err.message);
    size_t len = 0;
    char *old = older_model_source(&len);
    ck_assert_ptr_null(strstr(old, "void hg_gather_t")); /* no such kernel */
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        write_model_bin(&e->dev[i], old, len);
    free(old);
    size_t ndev = hg_engine_device_count(e);
    hg_engine_destroy(e);

    const hg__engine_knobs offline = {.offline = true};
    o.gemm = HG_GEMM_AUTO;
    ck_assert_msg(hg__engine_create_knobs(&o, &offline, &mlp, &e, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_uint_eq(hg_engine_device_count(e), ndev);
    ck_assert_uint_eq(test_log_count(&lg, "its prebuilt model program has no hg_gather_t"),
                      ndev);
    for (size_t i = 0; i < ndev; i++) {
        ck_assert_ptr_null(e->dev[i].k_gather_t);
        ck_assert_msg(!e->dev[i].quarantined, "%s", e->dev[i].what);
        ck_assert_int_eq(e->dev[i].kc.path, HG__PATH_NAIVE);
    }
    hg_dataset_desc data = {MN, MD, mx, NULL, ml};
    expect_model(e, &mlp, mp, MP, &data);
    hg_engine_destroy(e);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/* ---- what the caches must not trust ---------------------------------------------- */

/* The CPU devices of the test set (tests/test_expect.h). */
static size_t expected_cpus(void)
{
    test_expect ex;
    test_expect_load(&ex);
    return test_expect_cpus(&ex);
}

/* An engine on the test set's CPU devices with hetgrad's own kernels, logging to lg. */
static hg_engine *cpu_engine(const char *dir, bool profile_cache, test_log *lg)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = "cpu";
    dev.log = lg ? test_log_fn : NULL;
    dev.log_user = lg;
    dev.log_level = lg ? HG_LOG_WARN : HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = HG_GEMM_OWN;
    o.cache_dir = dir;
    o.no_profile_cache = !profile_cache;
    hg_engine *e = NULL;
    hg_error err;
    const hg__engine_knobs k = {.store_programs = true}; /* as engine() */
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &model, &e, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_uint_eq(hg_engine_device_count(e), expected_cpus());
    return e;
}

/* The engine's gradient over all rows equals the reference (data already set). */
static void expect_reference(hg_engine *e, const char *when)
{
    hg_error err;
    hg_dataset_desc data = {N, D, x, NULL, labels};
    float g[P];
    double loss, rl, ref[P];
    ck_assert_msg(hg_engine_gradient(e, params, 0, N, g, &loss, &err) == HG_OK, "%s: %s", when,
                  err.message);
    ck_assert_int_eq(hg_reference_loss_grad(&model, params, &data, 0, N, NULL, &rl, ref, &err),
                     HG_OK);
    double maxd = 0, maxr = 0;
    for (int i = 0; i < P; i++) {
        maxd = fmax(maxd, fabs(g[i] - ref[i] / N));
        maxr = fmax(maxr, fabs(ref[i] / N));
    }
    ck_assert_msg(maxd <= 1e-4 * maxr, "%s: gradient error %g of %g", when, maxd, maxr);
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        ck_assert_msg(!hg_engine_quarantined(e, i, NULL), "%s: device %zu quarantined", when, i);
}

static void set_data(hg_engine *e)
{
    hg_error err;
    hg_dataset_desc data = {N, D, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &data, &err) == HG_OK, "%s", err.message);
}

/* Every file of dir whose name starts with prefix, as full paths (NULL-terminated). */
static char **entries(const char *dir, const char *prefix)
{
    size_t n = 0, cap = 8;
    char **v = calloc(cap, sizeof *v);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n + 1 >= cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = hg__asprintf("%s/%s", dir, de->d_name);
        v[n] = NULL;
    }
    closedir(d);
    return v;
}

static void free_entries(char **v)
{
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

#define BROKEN_OPTION " -DHG_TEST_BROKEN_RESULT"

/*
 * Forge the program cache: every binary built with the test hook that makes a kernel
 * compute a wrong gradient is stored under the key of the same kernel built right (its
 * options without the hook), through the cache's own writer, so the checksum is valid.
 * Returns how many entries were forged; the payloads are kept in *kept (n of them) to
 * forge again later.
 */
static size_t forge_programs(const char *dir, test_entry **kept)
{
    char **v = entries(dir, "program-");
    size_t n = 0;
    *kept = NULL;
    for (size_t i = 0; v[i]; i++) {
        test_entry en;
        ck_assert_msg(test_entry_read(v[i], &en), "cannot parse %s", v[i]);
        char *hook = NULL;
        for (size_t k = 1; k < en.nkey && !hook; k++)
            hook = strstr(en.key[k], BROKEN_OPTION);
        if (!hook) {
            test_entry_free(&en);
            continue;
        }
        memmove(hook, hook + strlen(BROKEN_OPTION), strlen(hook + strlen(BROKEN_OPTION)) + 1);
        hg_error err;
        ck_assert_msg(test_entry_store(dir, &en, en.payload, en.len, &err) == HG_OK, "%s",
                      err.message);
        ck_assert_int_eq(unlink(v[i]), 0);
        *kept = realloc(*kept, (n + 1) * sizeof **kept);
        (*kept)[n++] = en;
    }
    free_entries(v);
    return n;
}

/* Store those kept forged entries again whose label contains label. */
static void forge_again(const char *dir, test_entry *kept, size_t n, const char *label)
{
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        bool match = false;
        for (size_t k = 1; k < kept[i].nkey; k++)
            match |= strstr(kept[i].key[k], label) != NULL;
        if (!match)
            continue;
        done++;
        hg_error err;
        ck_assert_msg(test_entry_store(dir, &kept[i], kept[i].payload, kept[i].len, &err) ==
                      HG_OK, "%s", err.message);
    }
    ck_assert_uint_eq(done, expected_cpus()); /* one per device */
}

/* Rewrite every profile entry's kernel choice to choice ("2:4:8:3"), checksum valid. */
static void forge_profiles(const char *dir, const char *choice)
{
    char **v = entries(dir, "profile-");
    size_t n = 0;
    for (; v[n]; n++) {
        test_entry en;
        ck_assert(test_entry_read(v[n], &en));
        char *text = calloc(en.len + 64, 1);
        memcpy(text, en.payload, en.len);
        char *k = strstr(text, "kernel=");
        ck_assert_ptr_nonnull(k);
        char *end = strchr(k, ' ');
        ck_assert_ptr_nonnull(end);
        char *forged = hg__asprintf("%.*skernel=%s%s", (int)(k - text), text, choice, end);
        hg_error err;
        ck_assert_msg(test_entry_store(dir, &en, forged, strlen(forged), &err) == HG_OK, "%s",
                      err.message);
        free(forged);
        free(text);
        test_entry_free(&en);
    }
    ck_assert_uint_eq(n, expected_cpus());
    free_entries(v);
}

/*
 * A forged program cache entry -- the right key, a valid checksum, the binary of a
 * kernel that computes a wrong gradient -- is caught by the check every kernel gets on
 * its first use in a process (the cached profile does not skip it), rebuilt from source,
 * and replaced; the log says what was rejected.
 */
START_TEST(forged_entries_are_caught)
{
    make_dirs();
    make_data();
    hg_error err;
    test_log lg;
    test_log_init(&lg);

    /* 1. Binaries of wrong kernels: the default one (the first fused shape) and
       another (the second); every device here is a CPU of this host, with the
       same shapes.  A race caches only the programs of the kernels it keeps
       (kchoice.c), so the broken ones are applied after calibration, when a
       build is cached at once */
    hg_engine *e = cpu_engine(cache, false, NULL);
    set_data(e);
    char first[48], second[48], wrong[96];
    hg__kchoice k0 = test_fused_shape(e, &e->dev[0], 0, 0, 0);
    hg__kchoice k1 = test_fused_shape(e, &e->dev[0], 1, 0, 0);
    hg__kchoice_name(&k0, first, sizeof first);
    hg__kchoice_name(&k1, second, sizeof second);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    const char *names[2] = {first, second};
    const hg__kchoice ks[2] = {k0, k1};
    for (size_t b = 0; b < 2; b++) {
        hg__kchoice_break(e, names[b], 2);
        for (size_t i = 0; i < e->ndev; i++) {
            ck_assert(!e->dev[i].defer_store && e->dev[i].pending.n == 0);
            ck_assert_msg(hg__kchoice_apply(e, &e->dev[i], e->dev[i].li, &ks[b], &err) ==
                              HG_OK, "%s", err.message);
        }
    }
    hg__kchoice_break(e, NULL, 0);
    hg_engine_destroy(e);
    test_entry *kept = NULL;
    size_t nforged = forge_programs(cache, &kept);
    ck_assert_uint_eq(nforged, 2 * expected_cpus()); /* two kernels on every device */

    /* 2. A fresh process's engine loads the forged default kernel at creation. */
    e = cpu_engine(cache, true, &lg);
    set_data(e);
    expect_reference(e, "forged default kernel, uncalibrated");
    snprintf(wrong, sizeof wrong, "%s computed a wrong gradient", first);
    ck_assert_msg(test_log_count(&lg, wrong) == expected_cpus(),
                  "log:\n%s", lg.text);
    ck_assert_msg(test_log_count(&lg, "the program cache held wrong binaries") ==
                      expected_cpus(),
                  "log:\n%s", lg.text);
    /* calibration rebuilds the other candidates from source too (the cache was wrong for
       this device): the forged second shape is not excluded as if the kernel were wrong */
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    expect_reference(e, "forged entries, calibrated");
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &pf), HG_OK);
        ck_assert_msg(strstr(pf.kernel_note, "excluded") == NULL, "note: %s", pf.kernel_note);
    }
    hg_engine_destroy(e);

    /* 3. The entries were rewritten: no warning, everything from the cache. */
    test_log_clear(&lg);
    e = cpu_engine(cache, true, &lg);
    expect_origin(e, "cache");
    set_data(e);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    expect_reference(e, "rewritten entries");
    ck_assert_msg(lg.used == 0, "log:\n%s", lg.text);
    hg_engine_destroy(e);

    /* 4. A cached profile naming a kernel whose cached binary is forged: the check is not
       skipped; the device is recalibrated and its profile rewritten -- in calibration
       for a device that may take rows, on its first rows for one that joint calibration
       (from the cache) excluded: it is not checked before. */
    char label[32], choice[32];
    snprintf(label, sizeof label, "r%ub%uk%u", k1.a, k1.b, k1.c);
    snprintf(choice, sizeof choice, "%u:%u:%u:%u", (unsigned)HG__PATH_OWN, k1.a, k1.b, k1.c);
    forge_again(cache, kept, nforged, label);
    forge_profiles(cache, choice);
    test_log_clear(&lg);
    e = cpu_engine(cache, true, &lg);
    set_data(e); /* the default kernel's entries are right now */
    ck_assert_msg(lg.used == 0, "log:\n%s", lg.text);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    expect_reference(e, "cached profile naming a forged kernel");
    snprintf(wrong, sizeof wrong, "%s computed a wrong gradient", second);
    size_t checked_now = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &pf), HG_OK);
        /* joint calibration, when it runs, checks every device before it runs them */
        bool checked = !pf.excluded || !e->corun_cached;
        checked_now += checked;
        ck_assert_msg(pf.valid && pf.from_cache == !checked, "device %zu: from the cache "
                      "%d, excluded %d, joint from the cache %d", i, pf.from_cache,
                      pf.excluded, e->corun_cached);
        ck_assert_msg(e->dev[i].kc_checked == checked, "device %zu: checked %d", i,
                      e->dev[i].kc_checked);
    }
    ck_assert_msg(test_log_count(&lg, wrong) == checked_now, "log:\n%s", lg.text);
    /* every device weighted: each is checked on its first rows */
    double w[TEST_EXPECT_MAX];
    for (size_t i = 0; i < hg_engine_device_count(e); i++)
        w[i] = 1;
    ck_assert_int_eq(hg_engine_set_weights(e, w, hg_engine_device_count(e), &err), HG_OK);
    ck_assert_int_eq(hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err), HG_OK);
    expect_reference(e, "every device, first rows of the excluded");
    ck_assert_msg(test_log_count(&lg, wrong) == expected_cpus(), "log:\n%s", lg.text);
    hg_engine_destroy(e);
    test_log_clear(&lg);
    e = cpu_engine(cache, true, &lg);
    set_data(e);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &pf), HG_OK);
        ck_assert_msg(pf.valid && pf.from_cache, "device %zu: profile not rewritten", i);
    }
    expect_reference(e, "rewritten profile");
    ck_assert_msg(lg.used == 0, "log:\n%s", lg.text);
    hg_engine_destroy(e);

    for (size_t i = 0; i < nforged; i++)
        test_entry_free(&kept[i]);
    free(kept);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/*
 * FIFOs named like every program and profile entry: the engine neither hangs (the
 * alarm fails the test if it does) nor replaces them, and says why it ran uncached.
 */
/* The program cache's entries (program-*), as parsed entries; *n of them. */
static test_entry *program_entries(size_t *n)
{
    char **v = entries(cache, "program-");
    test_entry *es = NULL;
    *n = 0;
    for (size_t i = 0; v[i]; i++) {
        es = realloc(es, (*n + 1) * sizeof *es);
        ck_assert_msg(test_entry_read(v[i], &es[*n]), "cannot parse %s", v[i]);
        ++*n;
    }
    free_entries(v);
    return es;
}

/* How many program entries the cache holds. */
static size_t program_count(void)
{
    char **v = entries(cache, "program-");
    size_t n = 0;
    while (v[n])
        n++;
    free_entries(v);
    return n;
}

/* Every program entry is one of a device's programs now: "model", or one of
   the kernels it computes with; and there are programs(e) of them. */
static void expect_kept_programs(const hg_engine *e)
{
    size_t n = 0;
    test_entry *es = program_entries(&n);
    for (size_t j = 0; j < n; j++) {
        ck_assert_uint_eq(es[j].nkey, 8); /* program, platform, name, id, driver, label, ... */
        bool found = false;
        for (size_t i = 0; i < e->ndev && !found; i++) {
            const hg__device *d = &e->dev[i];
            if (strcmp(es[j].key[3], d->info->id) != 0)
                continue;
            found = !strcmp(es[j].key[5], "model");
            cl_program prog;
            const char *label;
            for (size_t k = 0; !found && d->ops->program(d->ps, k, &prog, &label); k++)
                found = !strcmp(es[j].key[5], label);
        }
        ck_assert_msg(found, "cached program '%s' of %s is not a kernel the device kept",
                      es[j].key[5], es[j].key[2]);
        test_entry_free(&es[j]);
    }
    free(es);
    ck_assert_uint_eq(n, programs(e));
}

/*
 * A kernel race caches the programs of the kernels it keeps, not those of
 * the candidates it timed and dropped (fetching a binary from POCL compiles
 * every kernel of the program again: kchoice.c); the default kernel's
 * programs are cached once the choice settles -- at the end of calibration,
 * or before the first step of an engine that is not calibrated -- not at
 * creation, before a race can replace them.
 */
START_TEST(only_kept_kernels_are_cached)
{
    make_dirs();
    make_data();
    hg_error err;
    hg_engine *e = engine(false, false, HG_OK, &err);
    size_t ndev = hg_engine_device_count(e);
    set_data(e);
    ck_assert_uint_eq(program_count(), ndev); /* the model programs only */
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < ndev; i++) {
        hg_device_profile pf;
        ck_assert_int_eq(hg_engine_device_profile(e, i, &pf), HG_OK);
        ck_assert_msg(strstr(pf.kernel_note, "not raced") || strstr(pf.kernel_note, "fastest of 3"),
                      "%s: %s", e->dev[i].what, pf.kernel_note); /* three candidates raced */
        ck_assert(!e->dev[i].defer_store && e->dev[i].pending.n == 0);
    }
    expect_kept_programs(e);
    hg_engine_destroy(e);
    remove_tree(cache);
    remove_tree(bins);

    /* not calibrated: cached before the first step */
    make_dirs();
    e = engine(false, false, HG_OK, &err);
    set_data(e);
    ck_assert_uint_eq(program_count(), ndev);
    float g[P];
    double loss;
    ck_assert_msg(hg_engine_gradient(e, params, 0, N, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    expect_kept_programs(e);
    hg_engine_destroy(e);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/*
 * By default no binary is stored for a device whose driver keeps the
 * programs it compiles itself (POCL with its kernel cache on: fetching one
 * compiles every kernel of the program again); the other devices' programs
 * are stored as ever.  POCL's devices build from source again next time, and
 * compute the same gradient.
 */
START_TEST(pocl_keeps_its_own_programs)
{
    make_dirs();
    make_data();
    hg_error err;
    for (int run = 0; run < 2; run++) {
        hg_engine *e = plain_engine(false, HG_OK, &err);
        ck_assert_uint_gt(programs_on(e, true), 0); /* the test set has POCL's devices */
        set_data(e);
        ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
        expect_reference(e, run ? "built again" : "first built");
        for (size_t i = 0; i < hg_engine_device_count(e); i++) {
            const hg_device_info *di = hg_engine_device(e, i);
            const char *want = hg__driver_caches_programs(di) || !run ? "source" : "cache";
            ck_assert_msg(!strcmp(hg_engine_program_origin(e, i), want), "run %d, %s: %s, "
                          "want %s", run, di->name, hg_engine_program_origin(e, i), want);
        }
        ck_assert_uint_eq(program_count(), programs_on(e, false));
        hg_engine_destroy(e);
    }
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/*
 * HETGRAD_PROGRAM_CACHE=all stores POCL's programs too (the model programs at
 * creation, as every driver's); "auto" is the default; any other value is
 * an error naming the variable.
 */
START_TEST(program_cache_all_from_the_environment)
{
    make_dirs();
    make_data();
    hg_error err;
    setenv("HETGRAD_PROGRAM_CACHE", "auto", 1);
    hg_engine *e = plain_engine(true, HG_OK, &err);
    size_t others = 0, ndev = hg_engine_device_count(e);
    for (size_t i = 0; i < ndev; i++)
        others += !hg__driver_caches_programs(hg_engine_device(e, i));
    ck_assert_uint_lt(others, ndev); /* POCL's devices are in the test set */
    ck_assert_uint_eq(program_count(), others);
    hg_engine_destroy(e);

    setenv("HETGRAD_PROGRAM_CACHE", "all", 1);
    e = plain_engine(true, HG_OK, &err);
    ck_assert_uint_eq(program_count(), ndev);
    check_gradient(e);
    hg_engine_destroy(e);
    e = plain_engine(true, HG_OK, &err);
    expect_origin(e, "cache");
    hg_engine_destroy(e);

    setenv("HETGRAD_PROGRAM_CACHE", "sometimes", 1);
    ck_assert_ptr_null(plain_engine(true, HG_INVALID_ARGUMENT, &err));
    ck_assert_msg(strstr(err.message, "HETGRAD_PROGRAM_CACHE") && strstr(err.message, "sometimes"),
                  "%s", err.message);
    unsetenv("HETGRAD_PROGRAM_CACHE");
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/*
 * A race builds each candidate once, however many rounds it times them in,
 * and takes the kernel the device starts on as that candidate (softmax: one
 * fused program a candidate); a device not raced builds nothing more.  No
 * fission: a fissioned device is opened again and given the whole device's
 * kernel and note, a build the race did not make.
 */
START_TEST(race_builds_each_candidate_once)
{
    make_dirs();
    make_data();
    hg_error err;
    const hg__engine_knobs k = {.no_fission = true};
    hg_engine *e = make_engine(&k, false, true, HG_OK, &err); /* no program cache */
    set_data(e);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    for (size_t i = 0; i < e->ndev; i++) {
        const hg__device *d = &e->dev[i];
        size_t raced = 0;
        const char *f = strstr(d->kc_note, "fastest of ");
        if (f)
            raced = strtoul(f + strlen("fastest of "), NULL, 10);
        ck_assert_msg(f || strstr(d->kc_note, "not raced"), "%s: %s", d->what, d->kc_note);
        ck_assert_msg(d->path_builds == (raced ? raced : 1), "%s: %zu programs built (%s)",
                      d->what, d->path_builds, d->kc_note);
    }
    hg_engine_destroy(e);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

START_TEST(fifo_entries_do_not_hang)
{
    make_dirs();
    make_data();
    hg_error err;
    hg_engine *e = cpu_engine(cache, true, NULL);
    set_data(e);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    hg_engine_destroy(e);
    char **v = entries(cache, "");
    size_t n = 0;
    for (; v[n]; n++) {
        ck_assert_int_eq(unlink(v[n]), 0);
        ck_assert_int_eq(mkfifo(v[n], 0600), 0);
    }
    ck_assert_uint_ge(n, 4); /* model and kernel programs, profiles */

    test_log lg;
    test_log_init(&lg);
    alarm(120); /* open() on a FIFO with no writer blocks forever */
    e = cpu_engine(cache, true, &lg);
    set_data(e);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    expect_reference(e, "FIFOs in the cache");
    hg_engine_destroy(e);
    alarm(0);
    ck_assert_msg(test_log_count(&lg, "not a regular file") >= n, "log:\n%s", lg.text);
    for (size_t i = 0; v[i]; i++) {
        struct stat st;
        ck_assert_int_eq(lstat(v[i], &st), 0);
        ck_assert_msg(S_ISFIFO(st.st_mode), "%s was replaced", v[i]);
    }
    /* New entries may appear beside them (joint calibration's is keyed by the solo
       models just measured again), but no temporary file is left behind. */
    ck_assert_uint_ge(count_files(cache), n);
    DIR *dir = opendir(cache);
    ck_assert_ptr_nonnull(dir);
    for (struct dirent *de; (de = readdir(dir)) != NULL;)
        ck_assert_msg(!strstr(de->d_name, ".tmp-"), "temporary file %s left", de->d_name);
    closedir(dir);
    free_entries(v);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

/* One engine's life on dir; the directory must stay empty and one warning say why. */
static void expect_untrusted(const char *dir, const char *why)
{
    test_log lg;
    test_log_init(&lg);
    hg_error err;
    hg_engine *e = cpu_engine(dir, true, &lg);
    set_data(e);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    expect_reference(e, why);
    expect_origin(e, "source");
    hg_device_profile pf;
    ck_assert_int_eq(hg_engine_device_profile(e, 0, &pf), HG_OK);
    ck_assert(pf.valid && !pf.from_cache);
    hg_engine_destroy(e);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        ck_assert_msg(!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."),
                      "%s was written to %s (%s)", de->d_name, dir, why);
    closedir(d);
    ck_assert_msg(test_log_count(&lg, dir) == 1 && test_log_count(&lg, why) == 1,
                  "want one warning naming %s and '%s'; log:\n%s", dir, why, lg.text);
}

/*
 * Like ssh's StrictModes: a cache directory writable by group or others, or owned by
 * another user, is not used at all (one warning; nothing read or written).
 */
START_TEST(untrusted_cache_directory_is_not_used)
{
    make_dirs();
    make_data();
    ck_assert_int_eq(chmod(cache, 0777), 0);
    expect_untrusted(cache, "writable by group or others");
    ck_assert_int_eq(chmod(cache, 0775), 0);
    expect_untrusted(cache, "writable by group or others");
    if (geteuid() == 0) {
        ck_assert_int_eq(chmod(cache, 0700), 0);
        ck_assert_int_eq(chown(cache, 65534, 65534), 0);
        expect_untrusted(cache, "owned by uid 65534");
        ck_assert_int_eq(chown(cache, 0, 0), 0);
    } else {
        printf("untrusted_cache_directory_is_not_used: SKIPPED the case of a directory "
               "owned by another user: chown needs root (uid %u)\n", (unsigned)geteuid());
    }
    /* and once it is the user's own again, it is used */
    ck_assert_int_eq(chmod(cache, 0700), 0);
    hg_engine *e = cpu_engine(cache, true, NULL);
    hg_engine_destroy(e);
    ck_assert_uint_gt(count_files(cache), 0);
    remove_tree(cache);
    remove_tree(bins);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("programs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, compiled_once_then_cached);
    tcase_add_test(tc, prebuilt_binaries_without_compiler);
    tcase_add_test(tc, an_older_prebuilt_model_program_still_computes);
    tcase_add_test(tc, forged_entries_are_caught);
    tcase_add_test(tc, only_kept_kernels_are_cached);
    tcase_add_test(tc, pocl_keeps_its_own_programs);
    tcase_add_test(tc, race_builds_each_candidate_once);
    tcase_add_test(tc, program_cache_all_from_the_environment);
    tcase_add_test(tc, fifo_entries_do_not_hang);
    tcase_add_test(tc, untrusted_cache_directory_is_not_used);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
