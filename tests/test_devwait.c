/* SPDX-License-Identifier: MIT */
/*
 * test_devwait.c - how the host waits for a device (devwait.c).
 * - Polling alone completes a tiny kernel on every test device (POCL
 *   pthread and basic, Oclgrind): a waiter whose cap is far beyond any
 *   kernel's time must finish by polling, never by blocking.
 * - A poll that runs out falls back to clWaitForEvents and still returns
 *   when the command completes; the auto policy stops polling after
 *   HG__WAIT_AUTO_MISSES such misses and tries again later.
 * - A command that fails (a negative execution status) is HG_OPENCL with
 *   its status, whichever way the wait ends: polled, fallen back, blocked.
 * - Through the engine, every policy gives the same deterministic gradient
 *   bits, and the fault hook's wait point is still asked per batch.
 * No timing is checked: the caps are either far too long or too short to
 * matter, and each fallback is made certain by the before_block hook.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_floor.h"
#include "engine_internal.h"
#include "engine_knobs.h"

#define ROWS 200
#define BLOCK 32
#define FAR_CAP_US 600e6 /* ten minutes: "poll until done" */

typedef struct problem {
    hg_model_desc   m;
    hg_dataset_desc d;
    float          *x, *params;
    int32_t        *l;
    size_t          P;
} problem;

static void make_problem(problem *p)
{
    memset(p, 0, sizeof *p);
    size_t in = 9, out = 3;
    p->m = (hg_model_desc){.kind = HG_MODEL_SOFTMAX, .inputs = in, .outputs = out};
    p->x = malloc(ROWS * in * sizeof *p->x);
    p->l = malloc(ROWS * sizeof *p->l);
    ck_assert(p->x && p->l);
    for (size_t r = 0; r < ROWS; r++) {
        p->l[r] = (int32_t)(r % out);
        for (size_t j = 0; j < in; j++)
            p->x[r * in + j] = (float)((r * 7 + j * 13) % 17) / 17.0f - 0.5f;
    }
    p->d = (hg_dataset_desc){ROWS, in, p->x, NULL, p->l};
    p->P = hg_model_param_count(&p->m);
    p->params = calloc(p->P, sizeof *p->params);
    ck_assert(p->params);
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)((int)(i % 11) - 5) / 20.0f;
}

static void free_problem(problem *p)
{
    free(p->x);
    free(p->l);
    free(p->params);
}

/* A deterministic engine on every test device, one host thread (Oclgrind's
   uninitialised-value plugin), waiting as `wait` says. */
static hg_engine *make_engine(const problem *p, const char *wait, hg_status *st_out,
                              hg_error *err)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    o.deterministic = true;
    o.block_rows = BLOCK;
    const hg__engine_knobs k = {.serial = true, .no_joint = true, .no_fission = true,
                                .wait = wait};
    hg_engine *e = NULL;
    hg_status st = hg__engine_create_knobs(&o, &k, &p->m, &e, err);
    if (st_out)
        *st_out = st;
    if (st != HG_OK)
        return NULL;
    ck_assert_msg(hg_engine_set_data(e, &p->d, err) == HG_OK, "set_data: %s", err->message);
    return e;
}

/* ---- on the devices ------------------------------------------------------------ */

/* An empty kernel on d (hg_relu_backward, n = 0, one work-item), its event in *ev. */
static cl_kernel empty_kernel(hg__device *d)
{
    cl_int rc = CL_SUCCESS;
    cl_kernel k = clCreateKernel(d->prog, "hg_relu_backward", &rc);
    ck_assert_msg(rc == CL_SUCCESS && k, "%s: clCreateKernel: %d", d->what, rc);
    const cl_uint none = 0;
    ck_assert(clSetKernelArg(k, 0, sizeof(cl_mem), &d->params) == CL_SUCCESS);
    ck_assert(clSetKernelArg(k, 1, sizeof(cl_mem), &d->params) == CL_SUCCESS);
    ck_assert(clSetKernelArg(k, 2, sizeof none, &none) == CL_SUCCESS);
    return k;
}

START_TEST(poll_completes_on_every_device)
{
    problem p;
    make_problem(&p);
    hg_error err;
    hg_engine *e = make_engine(&p, "poll", NULL, &err);
    ck_assert_msg(e, "create: %s", err.message);
    ck_assert_uint_ge(e->ndev, 2);
    for (size_t i = 0; i < e->ndev; i++) {
        hg__device *d = &e->dev[i];
        cl_kernel k = empty_kernel(d);
        hg__waiter w = {.policy = HG__WAIT_POLL, .cap_us = FAR_CAP_US};
        const size_t one = 1, n = 5;
        for (size_t r = 0; r < n; r++) {
            cl_event ev = NULL;
            ck_assert(clEnqueueNDRangeKernel(d->queue, k, 1, NULL, &one, NULL, 0, NULL, &ev) ==
                      CL_SUCCESS);
            ck_assert_msg(hg__wait_event(&w, d->queue, ev, -1, "an empty kernel", &err) ==
                          HG_OK, "%s: %s", d->what, err.message);
            cl_int status = CL_QUEUED;
            ck_assert(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                     &status, NULL) == CL_SUCCESS);
            ck_assert_int_eq(status, CL_COMPLETE);
            clReleaseEvent(ev);
        }
        ck_assert_msg(w.polled == n && w.fell_back == 0 && w.blocked == 0,
                      "%s: %llu polled, %llu fell back, %llu blocked of %zu", d->what,
                      (unsigned long long)w.polled, (unsigned long long)w.fell_back,
                      (unsigned long long)w.blocked, n);
        /* the dispatch floor through the same waiter */
        double ms = -1;
        ck_assert_msg(hg__dispatch_floor(&w, d->queue, k, 3, d->what, &ms, &err) == HG_OK,
                      "%s: %s", d->what, err.message);
        ck_assert_msg(ms > 0, "%s: floor %g ms", d->what, ms);
        ck_assert_uint_eq(w.polled, n + 2 + 3);
        clReleaseKernel(k);
        ck_assert(hg__device_dispatch_floor(d, &err) == HG_OK);
        ck_assert(d->dispatch_floor_ms > 0);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* before_block hooks: complete or fail the user event the wait is on. */
typedef struct hook {
    cl_event ev;
    cl_int   status; /* what to set it to */
    int      calls;
} hook;

static void set_user_event(void *user)
{
    hook *h = user;
    h->calls++;
    ck_assert(clSetUserEventStatus(h->ev, h->status) == CL_SUCCESS);
}

static cl_event user_event(cl_context ctx)
{
    cl_int rc = CL_SUCCESS;
    cl_event ev = clCreateUserEvent(ctx, &rc);
    ck_assert(rc == CL_SUCCESS && ev);
    return ev;
}

/* A device's context for user events: not Oclgrind's, whose API check
   reports every failed event on stderr (tests fail on its reports). */
static cl_context quiet_context(hg_engine *e)
{
    for (size_t i = 0; i < e->ndev; i++)
        if (!strstr(e->dev[i].info->platform_name, "Oclgrind"))
            return e->dev[i].ctx;
    ck_abort_msg("no POCL device");
    return NULL;
}

/* A waiter whose polls cannot succeed (1 us, and nothing completes the event
   before before_block) falls back, and blocking returns. */
START_TEST(fallback_blocks_and_returns)
{
    problem p;
    make_problem(&p);
    hg_error err;
    hg_engine *e = make_engine(&p, "poll", NULL, &err);
    ck_assert_msg(e, "create: %s", err.message);
    for (size_t i = 0; i < e->ndev; i++) {
        hg__device *d = &e->dev[i];
        /* Only where a runtime runs commands on threads of its own (POCL's
           pthread device): Oclgrind's clFlush is its clFinish and would wait
           for the user event itself, and POCL 3.1's basic device deadlocks in
           clSetUserEventStatus running the marker that waited on it.  The
           engine never holds a command back with a user event; the other
           devices' fallback is the user event's own (auto_stops_and_retries). */
        if (!strstr(d->info->name, "pthread"))
            continue;
        /* a marker behind a user event: the device's own command, held back */
        hook h = {user_event(d->ctx), CL_COMPLETE, 0};
        cl_event mk = NULL;
        ck_assert(clEnqueueMarkerWithWaitList(d->queue, 1, &h.ev, &mk) == CL_SUCCESS);
        hg__waiter w = {.policy = HG__WAIT_POLL, .cap_us = 1, .before_block = set_user_event,
                        .before_block_user = &h};
        ck_assert_msg(hg__wait_event(&w, d->queue, mk, -1, "a held marker", &err) == HG_OK,
                      "%s: %s", d->what, err.message);
        ck_assert_int_eq(h.calls, 1);
        ck_assert_msg(w.fell_back == 1 && w.polled == 0, "%s: %llu fell back", d->what,
                      (unsigned long long)w.fell_back);
        clReleaseEvent(mk);
        clReleaseEvent(h.ev);
        ck_assert(clFinish(d->queue) == CL_SUCCESS);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* Auto: HG__WAIT_AUTO_MISSES misses switch polling off for HG__WAIT_AUTO_RETRY
   waits; then it polls again.  Block never polls; a far prediction blocks. */
START_TEST(auto_stops_and_retries)
{
    problem p;
    make_problem(&p);
    hg_error err;
    hg_engine *e = make_engine(&p, NULL, NULL, &err);
    ck_assert_msg(e, "create: %s", err.message);
    cl_context ctx = quiet_context(e);
    hg__waiter w = {.policy = HG__WAIT_AUTO, .cap_us = 1, .before_block = set_user_event};
    for (unsigned m = 0; m < HG__WAIT_AUTO_MISSES; m++) {
        hook h = {user_event(ctx), CL_COMPLETE, 0};
        w.before_block_user = &h;
        ck_assert(hg__wait_event(&w, NULL, h.ev, -1, "a user event", &err) == HG_OK);
        ck_assert_int_eq(h.calls, 1);
        clReleaseEvent(h.ev);
    }
    ck_assert_uint_eq(w.fell_back, HG__WAIT_AUTO_MISSES);
    for (unsigned r = 0; r < HG__WAIT_AUTO_RETRY + 1; r++) {
        hook h = {user_event(ctx), CL_COMPLETE, 0};
        ck_assert(clSetUserEventStatus(h.ev, CL_COMPLETE) == CL_SUCCESS);
        w.before_block_user = &h;
        ck_assert(hg__wait_event(&w, NULL, h.ev, -1, "a user event", &err) == HG_OK);
        clReleaseEvent(h.ev);
    }
    /* resting: HG__WAIT_AUTO_RETRY blocked; then one polled (complete at once) */
    ck_assert_uint_eq(w.blocked, HG__WAIT_AUTO_RETRY);
    ck_assert_uint_eq(w.polled, 1);

    hg__waiter b = {.policy = HG__WAIT_BLOCK};
    hg__waiter far = {.policy = HG__WAIT_POLL};
    cl_event ev = user_event(ctx);
    ck_assert(clSetUserEventStatus(ev, CL_COMPLETE) == CL_SUCCESS);
    ck_assert(hg__wait_event(&b, NULL, ev, -1, "a user event", &err) == HG_OK);
    ck_assert(hg__wait_event(&far, NULL, ev, 1e3 * HG__WAIT_FAR_MS, "a user event", &err) ==
              HG_OK);
    ck_assert(b.blocked == 1 && b.polled == 0 && far.blocked == 1 && far.polled == 0);
    clReleaseEvent(ev);
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* A failed command: HG_OPENCL naming it, however the wait ends. */
START_TEST(failed_status_is_an_error)
{
    problem p;
    make_problem(&p);
    hg_error err;
    hg_engine *e = make_engine(&p, NULL, NULL, &err);
    ck_assert_msg(e, "create: %s", err.message);
    cl_context ctx = quiet_context(e);
    const hg__wait_policy pol[] = {HG__WAIT_POLL, HG__WAIT_POLL, HG__WAIT_BLOCK};
    for (int c = 0; c < 3; c++) {
        hook h = {user_event(ctx), CL_OUT_OF_RESOURCES, 0};
        if (c != 1) /* failed before the wait; c == 1: while it blocks */
            ck_assert(clSetUserEventStatus(h.ev, CL_OUT_OF_RESOURCES) == CL_SUCCESS);
        hg__waiter w = {.policy = pol[c], .cap_us = 1, .before_block = set_user_event,
                        .before_block_user = &h};
        hg_status st = hg__wait_event(&w, NULL, h.ev, -1, "the failing command", &err);
        ck_assert_msg(st == HG_OPENCL && err.status == HG_OPENCL && err.cl_code < 0 &&
                          strstr(err.message, "the failing command"),
                      "case %d: %s (%d): %s", c, hg_status_name(st), err.cl_code, err.message);
        if (c == 0)
            ck_assert_int_eq(err.cl_code, CL_OUT_OF_RESOURCES); /* the command's own status */
        ck_assert_int_eq(h.calls, c == 1);
        clReleaseEvent(h.ev);
    }
    hg_engine_destroy(e);
    free_problem(&p);
}
END_TEST

/* ---- through the engine ------------------------------------------------------------ */

static bool count_hook(void *user, size_t device, uint64_t step, hg_fault_point point)
{
    (void)device;
    (void)step;
    if (point == HG_FAULT_WAIT)
        ++*(size_t *)user;
    return false;
}

/* Each device alone, in batches of one block, under each policy: the same bits,
   the fault hook asked once per batch, and the waits counted as the policy says. */
START_TEST(policies_give_the_same_bits)
{
    problem p;
    make_problem(&p);
    const char *const pol[] = {"block", "poll", "auto"};
    float *g[3];
    hg_engine *e[3];
    hg_error err;
    size_t nd = 0;
    for (int k = 0; k < 3; k++) {
        e[k] = make_engine(&p, pol[k], NULL, &err);
        ck_assert_msg(e[k], "create (%s): %s", pol[k], err.message);
        nd = hg_engine_device_count(e[k]);
        g[k] = malloc(nd * p.P * sizeof *g[k]);
        ck_assert(g[k]);
        for (size_t i = 0; i < nd; i++) {
            hg__device *d = &e[k]->dev[i];
            ck_assert_int_eq(d->wait.policy, k == 0 ? HG__WAIT_BLOCK
                                             : k == 1 ? HG__WAIT_POLL : HG__WAIT_AUTO);
            double w[8] = {0};
            ck_assert_uint_le(nd, 8);
            w[i] = 1;
            ck_assert(hg_engine_set_weights(e[k], w, nd, &err) == HG_OK);
            d->chunk_rows = BLOCK;
            size_t waits = 0;
            e[k]->fault_hook = count_hook;
            e[k]->fault_user = &waits;
            hg__waiter before = d->wait;
            double loss = 0;
            ck_assert_msg(hg_engine_gradient(e[k], p.params, 0, ROWS, g[k] + i * p.P, &loss,
                                             &err) == HG_OK, "%s, %s: %s", d->what, pol[k],
                          err.message);
            e[k]->fault_hook = NULL;
            ck_assert_uint_eq(waits, (ROWS + BLOCK - 1) / BLOCK);
            uint64_t polls = d->wait.polled + d->wait.fell_back - before.polled -
                             before.fell_back;
            uint64_t blocks = d->wait.blocked - before.blocked;
            ck_assert_msg(k == 0 ? polls == 0 && blocks > 0 : k == 1 ? polls > 0 : true,
                          "%s, %s: %llu polled waits, %llu blocked", d->what, pol[k],
                          (unsigned long long)polls, (unsigned long long)blocks);
            if (k > 0)
                ck_assert_msg(memcmp(g[k] + i * p.P, g[0] + i * p.P, p.P * sizeof(float)) == 0,
                              "%s: %s and block differ", d->what, pol[k]);
        }
    }
    for (int k = 0; k < 3; k++) {
        hg_engine_destroy(e[k]);
        free(g[k]);
    }
    free_problem(&p);
}
END_TEST

START_TEST(bad_policy_is_refused)
{
    problem p;
    make_problem(&p);
    hg_error err;
    hg_status st = HG_OK;
    ck_assert(make_engine(&p, "spin", &st, &err) == NULL);
    ck_assert_msg(st == HG_INVALID_ARGUMENT && strstr(err.message, "spin") &&
                      strstr(err.message, "auto, block or poll"),
                  "%s: %s", hg_status_name(st), err.message);
    hg__wait_policy w = HG__WAIT_POLL;
    ck_assert(!hg__wait_policy_parse("Poll", &w) && w == HG__WAIT_POLL);
    ck_assert(!hg__wait_policy_parse(NULL, &w) && w == HG__WAIT_POLL);
    ck_assert(hg__wait_policy_parse("block", &w) && w == HG__WAIT_BLOCK);
    ck_assert_str_eq(hg__wait_policy_name(HG__WAIT_AUTO), "auto");
    free_problem(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("devwait");
    TCase *tc = tcase_create("waits");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, poll_completes_on_every_device);
    tcase_add_test(tc, fallback_blocks_and_returns);
    tcase_add_test(tc, auto_stops_and_retries);
    tcase_add_test(tc, failed_status_is_an_error);
    tcase_add_test(tc, policies_give_the_same_bits);
    tcase_add_test(tc, bad_policy_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
