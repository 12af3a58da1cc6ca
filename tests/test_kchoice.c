/* SPDX-License-Identifier: MIT */
/*
 * test_kchoice.c - which kernel candidates a device gets (kchoice.c), on the
 * test set's real devices: with HG_GEMM_AUTO, CLBlast is no candidate for any
 * built-in model on devices that compute on the host's cores (POCL's CPU
 * devices, Oclgrind), and stays one on the others (GPUs); HG_GEMM_OWN never
 * offers it; HG_GEMM_CLBLAST forces it.  Such a device starts on hetgrad's
 * own kernels.  Calibration races every device's candidates but those of a
 * device more than 100 times slower than the fastest (Oclgrind, where the
 * set has it), which keeps its kernels in place once they are checked.
 * The fused shapes come from one of two lists by the device's native float
 * vector width (16: AVX-512; 8 or less: AVX2, SSE, NEON), on CPU devices
 * only, and a device's candidate list is part of its profile's cache key.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_entry.h"
#include "engine_internal.h"
#include "engine_knobs.h"
#include "test_expect.h"

/* An engine for a small model of kind on every test device (duplicates kept),
   in deterministic mode or not, told the batch size (0: unknown). */
static hg_engine *engine_for(hg_model_kind kind, hg_gemm_backend gemm, bool det,
                             size_t batch)
{
    hg_model_desc m = {.kind = kind, .inputs = 20, .outputs = 4};
    if (kind == HG_MODEL_MLP) {
        m.nhidden = 1;
        m.hidden[0] = 16;
    }
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = gemm;
    o.no_profile_cache = true;
    o.deterministic = det;
    o.batch_rows = batch;
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg_engine_create(&o, &m, &e, &err) == HG_OK, "%s", err.message);
    return e;
}

static hg_engine *engine(hg_model_kind kind, hg_gemm_backend gemm)
{
    return engine_for(kind, gemm, false, 0);
}

static bool has_clblast(hg_engine *e, size_t i, size_t *n)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    *n = hg__kchoice_candidates(e, &e->dev[i], c);
    for (size_t k = 0; k < *n; k++)
        if (c[k].path == HG__PATH_CLBLAST)
            return true;
    return false;
}

static bool on_host(const hg_engine *e, size_t i)
{
    const hg_device_info *d = hg_engine_device(e, i);
    return (d->cl_type & CL_DEVICE_TYPE_CPU) || strstr(d->platform_name, "Oclgrind");
}

START_TEST(one_layer_models_on_host_cores)
{
    const hg_model_kind kinds[2] = {HG_MODEL_SOFTMAX, HG_MODEL_LINEAR};
    for (size_t k = 0; k < 2; k++) {
        hg_engine *e = engine(kinds[k], HG_GEMM_AUTO);
        size_t host = 0;
        for (size_t i = 0; i < hg_engine_device_count(e); i++) {
            size_t n = 0;
            bool cb = has_clblast(e, i, &n);
            if (!on_host(e, i))
                continue;
            host++;
            ck_assert_msg(!cb, "%s offers CLBlast", hg_engine_device(e, i)->name);
            ck_assert_uint_eq(n, 3); /* the fused shapes but the small-batch one */
            ck_assert_int_eq(e->dev[i].kc.path, HG__PATH_OWN); /* starts on ours */
        }
        ck_assert_uint_ge(host, 2); /* POCL's pthread and basic at least */
        hg_engine_destroy(e);
    }
}
END_TEST

START_TEST(mlp_offers_clblast_off_host_cores)
{
    hg_engine *e = engine(HG_MODEL_MLP, HG_GEMM_AUTO);
    size_t host = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        size_t n = 0;
        bool cb = has_clblast(e, i, &n);
        if (on_host(e, i)) {
            host++;
            ck_assert_msg(!cb, "%s offers CLBlast for the MLP", hg_engine_device(e, i)->name);
            /* the six tiled shapes; two with AVX2's 8-float vectors */
            const hg__device *d = &e->dev[i];
            bool avx2 = (d->info->cl_type & CL_DEVICE_TYPE_CPU) && d->float_width == 8 &&
                        !strstr(d->info->platform_name, "Oclgrind");
            ck_assert_uint_eq(n, avx2 ? 2 : 6);
            ck_assert_int_eq(e->dev[i].kc.path, HG__PATH_OWN); /* starts on ours */
        } else {
            ck_assert_msg(cb || e->dev[i].offline, "%s", hg_engine_device(e, i)->name);
            ck_assert_uint_eq(n, 7); /* six tiled shapes and CLBlast */
        }
    }
    ck_assert_uint_ge(host, 2); /* POCL's pthread and basic at least */
    hg_engine_destroy(e);
}
END_TEST

START_TEST(forced_backends)
{
    hg_engine *own = engine(HG_MODEL_SOFTMAX, HG_GEMM_OWN);
    hg_engine *cb = engine(HG_MODEL_SOFTMAX, HG_GEMM_CLBLAST);
    for (size_t i = 0; i < hg_engine_device_count(own); i++) {
        size_t n = 0;
        ck_assert(!has_clblast(own, i, &n));
        ck_assert_uint_eq(n, 3);
    }
    for (size_t i = 0; i < hg_engine_device_count(cb); i++) {
        size_t n = 0;
        ck_assert(has_clblast(cb, i, &n) || cb->dev[i].offline);
        ck_assert_uint_eq(n, 1);
    }
    hg_engine_destroy(own);
    hg_engine_destroy(cb);
}
END_TEST

/* An MLP's default kernels: at a small batch, the small-batch path's first tile on a
   CPU device that is offered it (deterministic mode too); the first candidate where
   it is not offered (Oclgrind, or no batch size given). */
START_TEST(mlp_small_batch_starts_on_the_small_batch_path)
{
    for (int det = 0; det < 2; det++)
        for (size_t batch = 0; batch <= 128; batch += 128) {
            hg_engine *e = engine_for(HG_MODEL_MLP, HG_GEMM_AUTO, det, batch);
            size_t small_first = 0; /* devices that start on the small-batch path */
            for (size_t i = 0; i < hg_engine_device_count(e); i++) {
                const hg__device *d = &e->dev[i];
                hg__kchoice c[HG__MAX_CANDIDATES], def = hg__kchoice_default(e, d);
                size_t n = hg__kchoice_candidates(e, d, c), q = 0;
                while (q < n && !(c[q].path == HG__PATH_OWN && c[q].c == 0 && c[q].s))
                    q++;
                bool cpu = d->info->type == HG_DEVICE_CPU;
                char name[48];
                hg__kchoice_name(&def, name, sizeof name);
                ck_assert_msg(hg__kchoice_same(&def, q < n && cpu ? &c[q] : &c[0]),
                              "%s, batch %zu, det %d: starts on %s", d->what, batch, det,
                              name);
                small_first += q < n && cpu;
                ck_assert(batch || q == n); /* no batch size: no small-batch path */
            }
            /* POCL's two devices are offered it at 128 rows */
            ck_assert_uint_ge(small_first, batch ? 2 : 0);
            hg_engine_destroy(e);
        }
}
END_TEST

/* A separable data set of ROWS rows of IN features in OUT classes for engine()'s
   model; free(ds.x) and free((void *)ds.labels) when done. */
enum { ROWS = 2048, IN = 20, OUT = 4 };
static hg_dataset_desc make_data(void)
{
    float *xs = malloc(ROWS * IN * sizeof *xs);
    int32_t *l = malloc(ROWS * sizeof *l);
    ck_assert(xs && l);
    for (size_t r = 0; r < ROWS; r++) {
        l[r] = (int32_t)(r % OUT);
        for (size_t j = 0; j < IN; j++)
            xs[r * IN + j] = (float)((r * 7 + j * 13) % 17) / 17.0f - 0.5f + (j == r % OUT);
    }
    return (hg_dataset_desc){ROWS, IN, xs, NULL, l};
}

static void free_data(hg_dataset_desc *ds)
{
    free((void *)ds->x);
    free((void *)ds->labels);
}

START_TEST(a_device_far_slower_is_not_raced)
{
    test_expect x;
    test_expect_load(&x);
    hg_dataset_desc d = make_data();
    hg_engine *e = engine(HG_MODEL_SOFTMAX, HG_GEMM_OWN);
    hg_error err;
    ck_assert_msg(hg_engine_set_data(e, &d, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    size_t sims = 0;
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        const hg__device *dv = &e->dev[i];
        bool sim = strstr(hg_engine_device(e, i)->name, "Oclgrind") != NULL;
        sims += sim;
        ck_assert_msg(!dv->quarantined, "%s: %s", dv->what, dv->quarantine_reason);
        ck_assert_msg(strncmp(dv->kc_note, sim ? "not raced: " : "fastest of ", 11) == 0,
                      "%s: %s", dv->what, dv->kc_note);
        ck_assert(dv->kc_checked); /* raced or not, its gradient was checked */
        ck_assert(dv->kc_measured == !sim);
    }
    ck_assert_uint_eq(sims, test_expect_has(&x, "oclgrind") ? 1 : 0);
    hg_engine_destroy(e);
    free_data(&d);
}
END_TEST

/* The first fused candidate of device i with its vector width set to w. */
static hg__kchoice first_with_width(hg_engine *e, size_t i, cl_uint w, uint64_t *sig)
{
    hg__device *d = &e->dev[i];
    cl_uint real = d->float_width;
    d->float_width = w;
    hg__kchoice c[HG__MAX_CANDIDATES];
    ck_assert_uint_gt(hg__kchoice_candidates(e, d, c), 0);
    *sig = hg__kchoice_signature(e, d);
    d->float_width = real;
    return c[0];
}

START_TEST(fused_shapes_follow_the_vector_width)
{
    const hg_model_kind kinds[2] = {HG_MODEL_SOFTMAX, HG_MODEL_LINEAR};
    for (size_t k = 0; k < 2; k++) {
        hg_engine *e = engine(kinds[k], HG_GEMM_OWN);
        const unsigned want_c = 2; /* 4 outputs: no clipping */
        for (size_t i = 0; i < hg_engine_device_count(e); i++) {
            const hg__device *d = &e->dev[i];
            cl_uint w = 0;
            ck_assert_int_eq(clGetDeviceInfo(d->cl_dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT,
                                             sizeof w, &w, NULL), CL_SUCCESS);
            ck_assert_uint_eq(d->float_width, w); /* read at open */
            bool narrow_ok = (d->info->cl_type & CL_DEVICE_TYPE_CPU) &&
                             !strstr(d->info->platform_name, "Oclgrind");
            uint64_t s16, s8, s4, s0, s16b;
            hg__kchoice wide = first_with_width(e, i, 16, &s16);
            hg__kchoice unknown = first_with_width(e, i, 0, &s0);
            hg__kchoice avx2 = first_with_width(e, i, 8, &s8);
            hg__kchoice sse = first_with_width(e, i, 4, &s4);
            (void)first_with_width(e, i, 16, &s16b);
            /* AVX-512 and an unknown width: 8 rows x 2 classes a forward pass */
            ck_assert(wide.a == 8 && wide.b == 8 && wide.c == want_c);
            ck_assert(unknown.a == 8 && unknown.b == 8 && unknown.c == want_c);
            ck_assert_uint_eq(s0, s16);
            ck_assert_uint_eq(s16b, s16); /* the same list, the same key */
            /* 8 or 4 floats: 4 rows x 1 class on a CPU device, the wide list elsewhere */
            if (narrow_ok) {
                ck_assert_msg(avx2.a == 4 && avx2.b == 8 && avx2.c == 1, "%s: r%u/b%u/k%u",
                              d->what, avx2.a, avx2.b, avx2.c);
                ck_assert(sse.a == 4 && sse.b == 8 && sse.c == 1);
                ck_assert_uint_ne(s8, s16); /* another list, another cache key */
            } else {
                ck_assert(avx2.a == 8 && avx2.b == 8 && avx2.c == want_c);
                ck_assert(sse.a == 8 && sse.b == 8 && sse.c == want_c);
                ck_assert_uint_eq(s8, s16);
            }
            ck_assert_uint_eq(s8, s4);
        }
        hg_engine_destroy(e);
    }
}
END_TEST

/* POCL's pthread device alone, softmax, profiles cached in dir, warnings into lg;
   work_rows: the job's rows (0: unknown). */
static hg_engine *pthread_job(const char *dir, const hg_dataset_desc *ds, test_log *lg,
                              size_t work_rows, double slow_probe_ms)
{
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = IN, .outputs = OUT};
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.devices = "name:pthread";
    dev.log = test_log_fn;
    dev.log_user = lg;
    dev.log_level = HG_LOG_WARN;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.cache_dir = dir;
    o.batch_rows = 128;
    o.work_rows = work_rows;
    hg__engine_knobs k = {.slow_probe_ms = slow_probe_ms};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &m, &e, &err) == HG_OK, "%s", err.message);
    ck_assert_msg(hg_engine_set_data(e, ds, &err) == HG_OK, "%s", err.message);
    return e;
}

/* A test of cached profiles: its data set, its own cache directory, its log. */
typedef struct cache_case {
    hg_dataset_desc ds;
    char            dir[32];
    test_log        lg;
} cache_case;

static void cache_case_open(cache_case *c)
{
    c->ds = make_data();
    snprintf(c->dir, sizeof c->dir, "/tmp/hg-test-kchoice-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(c->dir));
    test_log_init(&c->lg);
}

static void cache_case_close(cache_case *c)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    ck_assert_int_eq(system(cmd), 0);
    free_data(&c->ds);
}

/* A profile raced among one shape list is not reused where the device has
   the other (another vector width, as if another release's shapes): its
   key differs, so it is not even read (no warning that its kernel is no
   candidate). */
START_TEST(cached_profile_is_keyed_on_the_candidates)
{
    cache_case cc;
    cache_case_open(&cc);
    test_log *lg = &cc.lg;
    hg_error err;
    for (int run = 0; run < 3; run++) {
        hg_engine *e = pthread_job(cc.dir, &cc.ds, lg, 0, 0);
        hg__device *d = &e->dev[0];
        if (run == 2) /* the other list: 16 floats where there were 8 or fewer, or 8 */
            d->float_width = d->float_width <= 8 ? 16 : 8;
        ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
        ck_assert_msg(d->model_from_cache == (run == 1), "run %d: from the cache %d", run,
                      (int)d->model_from_cache);
        ck_assert(hg__kchoice_valid(e, d, &d->kc));
        ck_assert_msg(lg->used == 0, "run %d: log:\n%s", run, lg->text);
        hg_engine_destroy(e);
    }
    cache_case_close(&cc);
}
END_TEST

/*
 * A job shorter than a race could cost keeps the default kernels, checked and
 * unraced, and says so; its cached profile serves another short job but not a
 * longer one (nor one of unknown length), which races and replaces it.
 */
START_TEST(a_short_job_is_not_raced)
{
    cache_case cc;
    cache_case_open(&cc);
    test_log *lg = &cc.lg;
    hg_error err;
    /* rows of each run's job, whether it races, whether its profile is the cache's,
       and how much slower the first run deciding that counts (slow_probe_ms) */
    const struct { size_t work; bool raced, cached; double slow; } runs[] = {
        /* short: the defaults, stored; the first run deciding it counts 10 s slower,
           which alone would say "race", and a second one decides */
        {10 * ROWS, false, false, 1e4},
        {20 * ROWS, false, true, 0},  /* short too: the stored profile */
        {0, true, false, 0},          /* unknown: raced (the entry was a short job's) */
        {10 * ROWS, true, true, 0},   /* short: the raced profile serves it as well */
        {(size_t)1 << 40, true, true, 0},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        hg_engine *e = pthread_job(cc.dir, &cc.ds, lg, runs[r].work, runs[r].slow);
        hg__device *d = &e->dev[0];
        hg__kchoice first[HG__MAX_CANDIDATES];
        size_t nc = hg__kchoice_candidates(e, d, first);
        ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
        ck_assert_msg(d->model_from_cache == runs[r].cached, "run %zu: from the cache %d", r,
                      (int)d->model_from_cache);
        bool short_note = strncmp(d->kc_note, HG__NOTE_SHORT_JOB,
                                  strlen(HG__NOTE_SHORT_JOB)) == 0;
        ck_assert_msg(short_note == !runs[r].raced, "run %zu: %s", r, d->kc_note);
        ck_assert_msg(d->kc_measured == runs[r].raced, "run %zu: measured %d", r,
                      (int)d->kc_measured);
        if (runs[r].raced)
            ck_assert_msg(strncmp(d->kc_note, "fastest of ", 11) == 0, "run %zu: %s", r,
                          d->kc_note);
        else /* the device's first candidate, its gradient checked */
            ck_assert_msg(nc > 1 && hg__kchoice_same(&d->kc, &first[0]) && d->kc_checked,
                          "run %zu: %zu candidates", r, nc);
        ck_assert_msg(lg->used == 0, "run %zu: log:\n%s", r, lg->text);
        double loss;
        float *p = calloc(e->nparams, sizeof *p), *g = malloc(e->nparams * sizeof *g);
        ck_assert(p && g);
        ck_assert_msg(hg_engine_gradient(e, p, 0, 128, g, &loss, &err) == HG_OK, "%s",
                      err.message);
        ck_assert(loss > 0);
        free(p);
        free(g);
        hg_engine_destroy(e);
    }
    cache_case_close(&cc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kchoice");
    TCase *tc = tcase_create("devices");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, one_layer_models_on_host_cores);
    tcase_add_test(tc, mlp_offers_clblast_off_host_cores);
    tcase_add_test(tc, forced_backends);
    tcase_add_test(tc, mlp_small_batch_starts_on_the_small_batch_path);
    tcase_add_test(tc, a_device_far_slower_is_not_raced);
    tcase_add_test(tc, fused_shapes_follow_the_vector_width);
    tcase_add_test(tc, cached_profile_is_keyed_on_the_candidates);
    tcase_add_test(tc, a_short_job_is_not_raced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
