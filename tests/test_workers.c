/* SPDX-License-Identifier: MIT */
/*
 * test_workers.c - the engine's persistent per-device workers (workers.c,
 * round.c) and the clock their deadlines use (clock.c).
 *
 * - Timed waits: hg__now_ms() is CLOCK_MONOTONIC, and a condition variable
 *   from hg__cond_init_monotonic waits until a deadline on that clock (not
 *   at once, not for the gap between the wall clock and the monotonic one).
 * - The pool on its own: one thread per worker however many jobs, a busy
 *   worker refuses a job, destroy waits for a job still running.
 * - Engines (POCL's pthread and basic devices, and Oclgrind beside POCL's
 *   pthread device): an engine that is never stepped starts no thread; N
 *   steps on two devices start one thread (the last device with rows runs
 *   on the caller's thread when no deadline is watched; with deadlines, two
 *   threads: the stalled-device test); one device with rows runs on the
 *   caller's thread; an engine stepped from two successive threads gives
 *   the same bits; a device that stalls past its deadline is failed in that
 *   step, while its worker still sleeps, and destroy joins it.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine_internal.h"
#include "engine_knobs.h"
#include "internal.h"
#include "workers.h"
#include "test_problem.h"

enum { D = 16, C = 4, P = D * C + C, NROWS = 6000 };
static float x[NROWS * D], params[P];
static int32_t labels[NROWS];
static const hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};

static void make_data(void)
{
    test_fill_centred(x, (size_t)NROWS * D, 11);
    test_cyclic_labels(labels, NROWS, C);
    for (int i = 0; i < P; i++)
        params[i] = (float)((i * 5) % 11) / 40.0f - 0.1f;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- the clock ------------------------------------------------------------------- */

START_TEST(now_ms_is_the_monotonic_clock)
{
    for (int k = 0; k < 100; k++) {
        double a = mono_ms(), n = hg__now_ms(), b = mono_ms();
        ck_assert_msg(a <= n + 1e-3 && n <= b + 1e-3,
                      "hg__now_ms() %.3f is not between two CLOCK_MONOTONIC readings "
                      "%.3f and %.3f", n, a, b);
    }
}
END_TEST

/*
 * A timed wait ends at its deadline on hg__now_ms's clock: not before (a
 * condition variable on the wall clock reads a monotonic deadline as long
 * past and returns at once), and not decades later (a wall-clock deadline
 * on a monotonic condition variable; Check's timeout catches that).
 */
START_TEST(a_timed_wait_ends_at_its_monotonic_deadline)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    ck_assert_int_eq(hg__cond_init_monotonic(&c), 0);
    double t0 = hg__now_ms(), until = t0 + 200;
    struct timespec ts = hg__monotonic_timespec(until);
    pthread_mutex_lock(&m);
    int rc;
    int spurious = 0;
    while ((rc = pthread_cond_timedwait(&c, &m, &ts)) == 0)
        spurious++; /* nobody signals: a return without ETIMEDOUT is spurious */
    pthread_mutex_unlock(&m);
    double t1 = hg__now_ms();
    ck_assert_int_eq(rc, ETIMEDOUT);
    ck_assert_msg(t1 >= until - 1.0, "the wait ended %.1f ms after it began, its deadline "
                  "was 200 ms (%d spurious wake-ups)", t1 - t0, spurious);
    pthread_cond_destroy(&c);
    /* the timespec itself: the same instant, in whole seconds and nanoseconds */
    struct timespec z = hg__monotonic_timespec(-5), h = hg__monotonic_timespec(1500.25);
    ck_assert(z.tv_sec == 0 && z.tv_nsec == 0);
    ck_assert(h.tv_sec == 1 && labs(h.tv_nsec - 500250000L) <= 1);
}
END_TEST

/* ---- the pool on its own ----------------------------------------------------------- */

typedef struct gate {
    pthread_mutex_t m;
    pthread_cond_t  c;
    bool            open;
    atomic_int      runs;
    atomic_int      entered;
    _Atomic(pthread_t) self;
} gate;

static void count_job(void *arg)
{
    gate *g = arg;
    atomic_store(&g->self, pthread_self());
    atomic_fetch_add(&g->runs, 1);
}

/* Runs until the gate opens. */
static void gated_job(void *arg)
{
    gate *g = arg;
    atomic_fetch_add(&g->entered, 1);
    pthread_mutex_lock(&g->m);
    while (!g->open)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
    atomic_fetch_add(&g->runs, 1);
}

static void *open_later(void *arg)
{
    gate *g = arg;
    sleep_ms(300);
    pthread_mutex_lock(&g->m);
    g->open = true;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
    return NULL;
}

static void gate_init(gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
}

START_TEST(a_worker_runs_every_job_on_one_thread)
{
    hg__workers *p = hg__workers_create(3);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(hg__workers_threads(p), 0);
    gate g;
    gate_init(&g);
    pthread_t first = 0;
    for (int k = 0; k < 200; k++) {
        ck_assert(hg__workers_post(p, 1, count_job, &g));
        hg__workers_wait_idle(p, 1);
        ck_assert(!hg__workers_busy(p, 1));
        ck_assert_int_eq(atomic_load(&g.runs), k + 1); /* visible once idle */
        if (k == 0)
            first = atomic_load(&g.self);
        ck_assert_msg(pthread_equal(first, atomic_load(&g.self)),
                      "job %d ran on another thread", k);
    }
    ck_assert_msg(!pthread_equal(first, pthread_self()), "the job ran on the caller's thread");
    ck_assert_uint_eq(hg__workers_threads(p), 1); /* workers 0 and 2: never used */
    ck_assert(!hg__workers_post(p, 3, count_job, &g)); /* no such worker */
    hg__workers_destroy(p);
    hg__workers_destroy(NULL);
}
END_TEST

/*
 * A busy worker refuses a second job; a wait with a deadline returns at
 * that deadline (not before) while the job runs on; destroy joins the job
 * still running (it finishes first).
 */
START_TEST(a_busy_worker_is_waited_for_and_joined)
{
    hg__workers *p = hg__workers_create(2);
    ck_assert_ptr_nonnull(p);
    gate g;
    gate_init(&g);
    ck_assert(hg__workers_post(p, 0, gated_job, &g));
    ck_assert(hg__workers_busy(p, 0));
    ck_assert(!hg__workers_post(p, 0, count_job, &g));
    uint64_t seen = hg__workers_finished(p);
    double t0 = hg__now_ms();
    hg__workers_wait(p, seen, t0 + 150);
    double t1 = hg__now_ms();
    ck_assert_msg(t1 >= t0 + 149, "the wait returned after %.1f ms, before its 150 ms",
                  t1 - t0);
    ck_assert(hg__workers_busy(p, 0));
    ck_assert_int_eq(atomic_load(&g.runs), 0);
    pthread_t opener;
    ck_assert_int_eq(pthread_create(&opener, NULL, open_later, &g), 0);
    hg__workers_destroy(p); /* blocks until the gate opens and the job returns */
    ck_assert_int_eq(atomic_load(&g.runs), 1);
    pthread_join(opener, NULL);
}
END_TEST

/*
 * A pool copied by fork(): in the child its worker threads do not exist, so
 * a job is refused (the caller runs it) and destroy returns instead of
 * joining a thread that is not there or waiting on a lock held at the fork.
 */
START_TEST(a_forked_pool_runs_nothing_and_frees)
{
    hg__workers *p = hg__workers_create(2);
    ck_assert_ptr_nonnull(p);
    gate g;
    gate_init(&g);
    ck_assert(hg__workers_post(p, 0, count_job, &g));
    hg__workers_wait_idle(p, 0);
    ck_assert(hg__workers_post(p, 1, gated_job, &g)); /* busy across the fork */
    while (atomic_load(&g.entered) == 0)
        sleep_ms(1);
    pid_t child = fork();
    ck_assert_int_ne(child, -1);
    if (child == 0) {
        int bad = hg__workers_post(p, 0, count_job, &g) ? 1 : 0;
        bad |= hg__workers_busy(p, 1) ? 2 : 0;
        hg__workers_wait_idle(p, 1);
        hg__workers_destroy(p);
        _exit(bad);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child's copy of the pool: status %d", status);
    pthread_t opener;
    ck_assert_int_eq(pthread_create(&opener, NULL, open_later, &g), 0);
    hg__workers_destroy(p);
    pthread_join(opener, NULL);
    ck_assert_int_eq(atomic_load(&g.runs), 2);
}
END_TEST

/* ---- engines ------------------------------------------------------------------------ */

/* The fault: device `device` sleeps stall_ms at HG_FAULT_WAIT in step `step`. */
typedef struct stall {
    _Atomic long     device;
    _Atomic uint64_t step;
    int              stall_ms;
    atomic_bool      over;     /* the stall has ended */
} stall;

static bool hook(void *user, size_t device, uint64_t step, hg_fault_point point)
{
    stall *s = user;
    if (point == HG_FAULT_WAIT && (long)device == atomic_load(&s->device) &&
        step == atomic_load(&s->step)) {
        sleep_ms(s->stall_ms);
        atomic_store(&s->over, true);
    }
    return false;
}

static hg_engine *engine(const char *devices, stall *s, double deadline)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    dev.devices = devices;
    dev.log_level = HG_LOG_ERROR;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.no_profile_cache = true;
    o.fault_hook = s ? hook : NULL;
    o.fault_user = s;
    o.deadline_factor = deadline;
    /* every device keeps its rows: no solo guard, no joint-calibration exclusion */
    const hg__engine_knobs k = {.no_solo_guard = true};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &model, &e, &err) == HG_OK, "%s",
                  err.message);
    ck_assert_uint_eq(hg_engine_device_count(e), 2);
    hg_dataset_desc d = {NROWS, D, x, NULL, labels};
    ck_assert_msg(hg_engine_set_data(e, &d, &err) == HG_OK, "%s", err.message);
    return e;
}

static void set_weights(hg_engine *e, double w0, double w1)
{
    double w[2] = {w0, w1};
    hg_error err;
    ck_assert_int_eq(hg_engine_set_weights(e, w, 2, &err), HG_OK);
}

/* A step over rows [first, first + n), checked against the double host reference. */
static void exact_step(hg_engine *e, size_t first, size_t n, float *g)
{
    double ref[P], rl, loss;
    hg_error err;
    ck_assert_msg(hg_engine_gradient(e, params, first, n, g, &loss, &err) == HG_OK, "%s",
                  err.message);
    hg_dataset_desc d = {NROWS, D, x, NULL, labels};
    ck_assert_int_eq(hg_reference_loss_grad(&model, params, &d, first, n, NULL, &rl, ref, &err),
                     HG_OK);
    double md = 0, mr = 0;
    for (int i = 0; i < P; i++) {
        md = fmax(md, fabs(g[i] - ref[i] / (double)n));
        mr = fmax(mr, fabs(ref[i] / (double)n));
    }
    ck_assert_msg(md <= 1e-4 * mr, "gradient off by %g (max %g)", md, mr);
}

/* Both devices computed rows in the last step. */
static void both_ran(hg_engine *e)
{
    hg_device_step s0, s1;
    hg_engine_last_step(e, 0, &s0);
    hg_engine_last_step(e, 1, &s1);
    ck_assert_msg(s0.rows > 0 && s1.rows > 0, "rows: %zu and %zu", s0.rows, s1.rows);
}

static void steps_start_one_thread_per_device(const char *devices, int steps, size_t rows)
{
    hg_engine *e = engine(devices, NULL, 0);
    ck_assert_uint_eq(hg__worker_threads(e), 0); /* created and loaded, never stepped */
    set_weights(e, 1, 1);
    float g[P];
    for (int k = 0; k < steps; k++) {
        exact_step(e, (size_t)k * 97 % (NROWS / 2), rows, g);
        both_ran(e);
        /* the last device runs on the caller's thread (no deadline): one worker */
        ck_assert_msg(hg__worker_threads(e) == 1, "after %d steps on 2 devices: %zu threads",
                      k + 1, hg__worker_threads(e));
    }
    /* One device with rows: on the caller's thread, no new thread either way. */
    set_weights(e, 0, 1);
    exact_step(e, 0, 256, g);
    ck_assert_uint_eq(hg__worker_threads(e), 1);
    hg_engine_destroy(e);
}

START_TEST(steps_start_one_thread_per_device_pocl)
{
    steps_start_one_thread_per_device("pthread,basic", 40, NROWS / 2);
}
END_TEST

START_TEST(steps_start_one_thread_per_device_oclgrind)
{
    steps_start_one_thread_per_device("pthread,oclgrind", 3, 256);
}
END_TEST

START_TEST(one_device_with_rows_starts_no_thread)
{
    hg_engine *e = engine("pthread,basic", NULL, 0);
    set_weights(e, 1, 0);
    float g[P];
    for (int k = 0; k < 10; k++)
        exact_step(e, 0, 512, g);
    ck_assert_uint_eq(hg__worker_threads(e), 0);
    hg_engine_destroy(e);
}
END_TEST

typedef struct stepper {
    hg_engine *e;
    float      g[P];
    double     loss;
    hg_status  st;
    hg_error   err;
} stepper;

static void *step_in_thread(void *arg)
{
    stepper *s = arg;
    s->st = hg_engine_gradient(s->e, params, 100, NROWS - 200, s->g, &s->loss, &s->err);
    return NULL;
}

/* The Python binding's pattern: one engine, stepped from one thread, then another. */
START_TEST(an_engine_stepped_from_successive_threads)
{
    hg_engine *e = engine("pthread,basic", NULL, 0);
    set_weights(e, 1, 1);
    stepper s[3] = {{.e = e}, {.e = e}, {.e = e}};
    for (int t = 0; t < 3; t++) {
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, step_in_thread, &s[t]), 0);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_msg(s[t].st == HG_OK, "thread %d: %s", t, s[t].err.message);
        both_ran(e);
    }
    step_in_thread(&s[0]); /* and the creating thread again */
    ck_assert_msg(s[0].st == HG_OK, "%s", s[0].err.message);
    /* The same split every time: the same bits (docs/engine.md). */
    for (int t = 1; t < 3; t++)
        ck_assert_msg(memcmp(s[0].g, s[t].g, sizeof s[0].g) == 0 &&
                          memcmp(&s[0].loss, &s[t].loss, sizeof s[0].loss) == 0,
                      "the step from thread %d differs", t);
    ck_assert_uint_eq(hg__worker_threads(e), 1); /* device 1 ran on each stepping thread */
    hg_engine_destroy(e);
}
END_TEST

/*
 * A device that stalls at HG_FAULT_WAIT for seconds, with a deadline of 100x
 * its prediction (at least 50 ms; generous, so that on a loaded machine the
 * healthy device does not miss its own): the step returns the right gradient while the stalled
 * worker still sleeps; the device is quarantined for its deadline; later
 * steps run without it and without a new thread; destroy, called while the
 * worker still sleeps, waits for it and returns.
 */
START_TEST(a_stalled_device_misses_its_deadline_and_is_joined)
{
    stall s = {.device = -1, .step = 0, .stall_ms = 4000};
    hg_engine *e = engine("pthread,basic", &s, 100.0);
    hg_error err;
    ck_assert_msg(hg_engine_calibrate(e, &err) == HG_OK, "%s", err.message);
    set_weights(e, 1, 1);
    ck_assert_msg(hg_engine_set_split(e, HG_SPLIT_WEIGHTS, &err) == HG_OK, "%s", err.message);
    float g[P];
    exact_step(e, 0, NROWS, g);
    both_ran(e);
    size_t threads = hg__worker_threads(e);
    ck_assert_uint_eq(threads, 2);

    atomic_store(&s.step, e->step + 1);
    atomic_store(&s.device, 0);
    exact_step(e, 0, NROWS, g);
    ck_assert_msg(!atomic_load(&s.over), "the step waited for the stalled device");
    const char *why = NULL;
    ck_assert(hg_engine_quarantined(e, 0, &why));
    ck_assert_ptr_nonnull(strstr(why, "deadline"));
    ck_assert_uint_eq(hg_engine_recovered_steps(e), 1);
    hg_device_step st;
    hg_engine_last_step(e, 0, &st);
    ck_assert(st.failed && st.rows > 0);

    exact_step(e, 0, NROWS, g); /* device 1 alone, inline */
    hg_engine_last_step(e, 0, &st);
    ck_assert(!st.failed && st.rows == 0);
    ck_assert_uint_eq(hg__worker_threads(e), threads);
    ck_assert_msg(!atomic_load(&s.over), "the stall ended before destroy: no test of it");
    hg_engine_destroy(e); /* joins the sleeping worker */
    ck_assert(atomic_load(&s.over));
}
END_TEST

int main(void)
{
    make_data();
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, now_ms_is_the_monotonic_clock);
    tcase_add_test(tc, a_timed_wait_ends_at_its_monotonic_deadline);
    tcase_add_test(tc, a_worker_runs_every_job_on_one_thread);
    tcase_add_test(tc, a_busy_worker_is_waited_for_and_joined);
    tcase_add_test(tc, a_forked_pool_runs_nothing_and_frees);
    tcase_add_test(tc, one_device_with_rows_starts_no_thread);
    tcase_add_test(tc, steps_start_one_thread_per_device_pocl);
    tcase_add_test(tc, an_engine_stepped_from_successive_threads);
    tcase_add_test(tc, a_stalled_device_misses_its_deadline_and_is_joined);
    const char *expect = getenv("HG_TEST_EXPECT");
    if (expect && hg__icontains(expect, "oclgrind"))
        tcase_add_test(tc, steps_start_one_thread_per_device_oclgrind);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
