/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - several engines, each in its own host thread, at once.
 *
 * Every thread owns one engine on its own data and checks every step's
 * gradient against the double host reference (src/model/reference.c), to the
 * tolerance of test_engine.c.  Oclgrind is not thread-safe (upstream issue
 * 28): without hetgrad's per-platform serialisation, engines driving it from
 * several threads got wrong gradients with HG_OK.  POCL and Intel's CPU
 * runtime are thread-safe and must keep running engines in parallel.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "internal.h"
#include "platlock.h"

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5
#define THREADS 4

/* True when the test device set includes a device whose name contains what. */
static bool expected(const char *what)
{
    const char *e = getenv("HG_TEST_EXPECT");
    return e && hg__icontains(e, what);
}

/* ---- one thread's work ----------------------------------------------------- */

typedef struct job {
    /* in */
    int              seed;
    const char      *devices;   /* selection expression */
    hg_model_kind    kind;
    hg_gemm_backend  gemm;
    size_t           rows, steps;
    /* out */
    bool             serialised;/* every device of the engine behind its platform's lock */
    bool             parallel;  /* no device of the engine behind one */
    size_t           wrong;     /* steps whose gradient or loss was off */
    hg_status        st;        /* first failure of the engine, HG_OK if none */
    char             msg[HG_ERROR_MESSAGE_MAX + 64];
} job;

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 11;
}

static double uniform(uint64_t *s)
{
    return (double)next(s) / 9007199254740992.0;
}

static void job_failed(job *j, hg_status st, const char *what, const hg_error *err)
{
    if (j->st != HG_OK)
        return;
    j->st = st;
    snprintf(j->msg, sizeof j->msg, "%s: %s", what, err->message);
}

static void *run_job(void *arg)
{
    job *j = arg;
    uint64_t s = 1000 + (uint64_t)j->seed * 7919;
    hg_model_desc m = {.kind = j->kind, .inputs = 5, .outputs = 3};
    if (j->kind == HG_MODEL_MLP) {
        m.nhidden = 1;
        m.hidden[0] = 4;
    }
    size_t n = j->rows, P = hg_model_param_count(&m);
    float *x = malloc(n * m.inputs * sizeof *x), *params = malloc(P * sizeof *params);
    float *g = malloc(P * sizeof *g);
    int32_t *l = malloc(n * sizeof *l);
    double *ref = malloc(P * sizeof *ref);
    hg_engine *e = NULL;
    hg_error err;
    if (!x || !params || !g || !l || !ref) {
        j->st = HG_OUT_OF_MEMORY;
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        l[r] = (int32_t)(next(&s) % m.outputs);
        for (size_t c = 0; c < m.inputs; c++)
            x[r * m.inputs + c] = (float)(uniform(&s) * 2 - 1 + (c == (size_t)l[r] ? 1.5 : 0));
    }
    hg_dataset_desc d = {n, m.inputs, x, NULL, l};

    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = j->devices;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.gemm = j->gemm;
    hg_status st = hg_engine_create(&o, &m, &e, &err);
    if (st != HG_OK) {
        job_failed(j, st, "hg_engine_create", &err);
        goto out;
    }
    j->serialised = j->parallel = true;
    for (size_t i = 0; i < e->ndev; i++) {
        j->serialised &= e->dev[i].serial != NULL;
        j->parallel &= e->dev[i].serial == NULL;
    }
    st = hg_engine_set_data(e, &d, &err);
    if (st != HG_OK) {
        job_failed(j, st, "hg_engine_set_data", &err);
        goto out;
    }
    for (size_t step = 0; step < j->steps; step++) {
        for (size_t i = 0; i < P; i++)
            params[i] = (float)(uniform(&s) - 0.5);
        double loss = 0, rloss = 0;
        st = hg_engine_gradient(e, params, 0, n, g, &loss, &err);
        if (st != HG_OK) {
            job_failed(j, st, "hg_engine_gradient", &err);
            goto out;
        }
        st = hg_reference_loss_grad(&m, params, &d, 0, n, NULL, &rloss, ref, &err);
        if (st != HG_OK) {
            job_failed(j, st, "reference", &err);
            goto out;
        }
        double maxref = 0, maxdiff = 0;
        for (size_t i = 0; i < P; i++) {
            maxref = fmax(maxref, fabs(ref[i] / (double)n));
            maxdiff = fmax(maxdiff, fabs((double)g[i] - ref[i] / (double)n));
        }
        rloss /= (double)n;
        bool bad = !(maxdiff <= GRAD_TOL * maxref) || !(fabs(loss - rloss) <= LOSS_TOL * fabs(rloss));
        if (bad && j->wrong++ == 0)
            snprintf(j->msg, sizeof j->msg,
                     "step %zu: gradient error %.3g (max |ref| %.3g), loss %.9g vs %.9g",
                     step, maxdiff, maxref, loss, rloss);
    }
out:
    hg_engine_destroy(e);
    free(x);
    free(params);
    free(g);
    free(l);
    free(ref);
    return NULL;
}

/*
 * One engine per thread, all at once, thread t on the devices devices[t]
 * selects (n threads, at most THREADS); every step of each must be right.
 * serialised: the engines' devices must all be behind their platform's lock
 * (else none may be).
 */
static void run_threads(const char *const *devices, int n, bool serialised,
                        hg_model_kind kind, hg_gemm_backend gemm, size_t rows, size_t steps)
{
    job jobs[THREADS];
    pthread_t th[THREADS];
    ck_assert_int_le(n, THREADS);
    for (int t = 0; t < n; t++) {
        jobs[t] = (job){.seed = t, .devices = devices[t], .kind = kind, .gemm = gemm,
                        .rows = rows, .steps = steps, .st = HG_OK};
        ck_assert_int_eq(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0);
    }
    for (int t = 0; t < n; t++)
        pthread_join(th[t], NULL);
    size_t wrong = 0;
    for (int t = 0; t < n; t++) {
        if (jobs[t].st != HG_OK || jobs[t].wrong)
            fprintf(stderr, "thread %d on '%s': %s, %zu of %zu steps wrong; %s\n", t,
                    devices[t], hg_status_name(jobs[t].st), jobs[t].wrong, steps, jobs[t].msg);
        wrong += jobs[t].wrong;
    }
    for (int t = 0; t < n; t++) {
        ck_assert_msg(jobs[t].st == HG_OK, "thread %d: %s", t, jobs[t].msg);
        ck_assert_msg(serialised ? jobs[t].serialised : jobs[t].parallel,
                      "thread %d: the devices of '%s' are %s serialised", t, devices[t],
                      serialised ? "not all" : "");
    }
    ck_assert_msg(wrong == 0, "%zu of %zu steps had a wrong gradient (see above)", wrong,
                  (size_t)n * steps);
}

/* Entries of HG_TEST_EXPECT: the devices the test set has. */
static size_t expected_devices(void)
{
    const char *e = getenv("HG_TEST_EXPECT");
    size_t n = e && *e ? 1 : 0;
    for (; e && *e; e++)
        n += *e == ',';
    return n;
}

static void *list_devices(void *arg)
{
    size_t *count = arg;
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.keep_duplicates = true;
    hg_device_list *l = NULL;
    hg_error err;
    *count = hg_device_list_create(&o, &l, &err) == HG_OK ? hg_device_list_count(l) : 0;
    hg_device_list_destroy(l);
    return NULL;
}

/*
 * The process's first enumeration, from THREADS threads at once: each sees
 * every device (POCL 3.1 initialises itself unsafely; three threads of four
 * saw one of its two devices).  The first test of the suite, so that its
 * process (forked by Check, or the only one with CK_FORK=no) has not yet
 * touched OpenCL.
 */
START_TEST(first_enumeration_in_threads)
{
    size_t count[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, list_devices, &count[t]), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        ck_assert_msg(count[t] == expected_devices(), "thread %d saw %zu devices of %zu", t,
                      count[t], expected_devices());
}
END_TEST

/* The table: Oclgrind is serialised, whatever the case; POCL is not. */
START_TEST(platform_table)
{
    pthread_mutex_t *o = hg__platform_lock("Oclgrind");
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_eq(hg__platform_lock("oclgrind"), o);
    ck_assert_ptr_nonnull(hg__platform_unsafe_reason("Oclgrind"));
    ck_assert_ptr_null(hg__platform_lock("Portable Computing Language"));
    ck_assert_ptr_null(hg__platform_unsafe_reason("Portable Computing Language"));
    ck_assert_ptr_null(hg__platform_lock("Intel(R) OpenCL"));
    ck_assert_ptr_null(hg__platform_lock(NULL));
    /* recursive: a section may nest in another on the same thread */
    hg__platform_enter(o);
    hg__platform_enter(o);
    hg__platform_leave(o);
    hg__platform_leave(o);
    hg__platform_enter(NULL); /* no-ops */
    hg__platform_leave(NULL);
}
END_TEST

/* Four engines on Oclgrind; tiny shapes: Oclgrind simulates every work-item. */
static const char *const oclgrind4[THREADS] = {"oclgrind", "oclgrind", "oclgrind", "oclgrind"};

START_TEST(oclgrind_engines_in_threads)
{
    run_threads(oclgrind4, THREADS, true, HG_MODEL_SOFTMAX, HG_GEMM_OWN, 24, 5);
}
END_TEST

START_TEST(oclgrind_clblast_engines_in_threads)
{
    run_threads(oclgrind4, THREADS, true, HG_MODEL_MLP, HG_GEMM_CLBLAST, 16, 3);
}
END_TEST

/*
 * POCL is thread-safe enough to stay unserialised: an engine on its pthread
 * device and one on its basic device, at once, stay right.  Not two engines
 * on one POCL device: POCL 3.1 then aborts now and then when both run one
 * kernel at once (docs/engine.md, "Threads and engines").
 */
static const char *const pocl2[2] = {"pthread", "basic"};

START_TEST(pocl_engines_in_threads)
{
    run_threads(pocl2, 2, false, HG_MODEL_MLP, HG_GEMM_AUTO, 300, 5);
}
END_TEST

/* CLBlast on POCL from two engines at once: its calls share one lock. */
START_TEST(pocl_clblast_engines_in_threads)
{
    run_threads(pocl2, 2, false, HG_MODEL_MLP, HG_GEMM_CLBLAST, 300, 5);
}
END_TEST

/*
 * Intel's CPU runtime is thread-safe: four engines on its one device, each in
 * its own thread, stay right and unserialised; so do engines on Intel's
 * device and on both POCL devices at once (two drivers in one process).
 */
#define INTEL "platform:Intel(R) OpenCL"
static const char *const intel4[THREADS] = {INTEL, INTEL, INTEL, INTEL};
static const char *const mixed3[3] = {INTEL, "pthread", "basic"};

START_TEST(intel_engines_in_threads)
{
    run_threads(intel4, THREADS, false, HG_MODEL_MLP, HG_GEMM_AUTO, 300, 5);
    run_threads(mixed3, 3, false, HG_MODEL_SOFTMAX, HG_GEMM_AUTO, 300, 5);
}
END_TEST

START_TEST(intel_clblast_engines_in_threads)
{
    run_threads(intel4, THREADS, false, HG_MODEL_MLP, HG_GEMM_CLBLAST, 300, 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, first_enumeration_in_threads); /* first: a fresh process */
    tcase_add_test(tc, platform_table);
    tcase_add_test(tc, pocl_engines_in_threads);
    tcase_add_test(tc, pocl_clblast_engines_in_threads);
    if (expected("oclgrind")) {
        tcase_add_test(tc, oclgrind_engines_in_threads);
        tcase_add_test(tc, oclgrind_clblast_engines_in_threads);
    }
    if (expected(INTEL)) {
        tcase_add_test(tc, intel_engines_in_threads);
        tcase_add_test(tc, intel_clblast_engines_in_threads);
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
