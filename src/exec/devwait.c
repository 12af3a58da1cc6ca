/* SPDX-License-Identifier: MIT */
/*
 * devwait.c - the host waits for a device's command: a bounded poll of the
 * command's execution status, then clWaitForEvents (devwait.h says why and
 * when).  Called for the commands a step waits on (readback.c, pipeline.c)
 * and to measure a device's dispatch floor (calibration).
 */
#include <stdlib.h>
#include <string.h>

#include "devwait.h"

bool hg__wait_policy_parse(const char *s, hg__wait_policy *out)
{
    static const struct {
        const char *name;
        hg__wait_policy p;
    } names[] = {{"auto", HG__WAIT_AUTO}, {"block", HG__WAIT_BLOCK}, {"poll", HG__WAIT_POLL}};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(s, names[i].name)) {
            *out = names[i].p;
            return true;
        }
    }
    return false;
}

const char *hg__wait_policy_name(hg__wait_policy p)
{
    return p == HG__WAIT_AUTO ? "auto" : p == HG__WAIT_BLOCK ? "block"
                                       : p == HG__WAIT_POLL  ? "poll" : "?";
}

/* Whether this wait polls first: the policy, the prediction and (auto) the
   device's recent polls.  Counts a resting auto waiter down. */
static bool should_poll(hg__waiter *w, double left_ms)
{
    if (w->policy == HG__WAIT_BLOCK || (left_ms >= 0 && left_ms > HG__WAIT_FAR_MS))
        return false;
    if (w->policy == HG__WAIT_POLL)
        return true;
    if (w->resting) { /* auto, polling off after HG__WAIT_AUTO_MISSES misses */
        w->resting--;
        if (w->resting == 0)
            w->misses = 0; /* try again */
        return false;
    }
    return true;
}

/* Poll ev's status for up to cap_us: *done true when it completed, *failed
   (a negative status) when the command failed. */
static hg_status poll(cl_event ev, double cap_us, bool *done, cl_int *failed, const char *what,
                      hg_error *err)
{
    const double t0 = hg__now_ms(), cap_ms = cap_us / 1e3;
    *done = false;
    *failed = CL_SUCCESS;
    for (;;) {
        cl_int status = CL_QUEUED;
        cl_int rc = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                   &status, NULL);
        if (rc != CL_SUCCESS)
            return hg__cl_fail(err, rc, "clGetEventInfo(execution status) of %s", what);
        if (status < 0) {
            *failed = status;
            return HG_OK;
        }
        if (status == CL_COMPLETE) {
            *done = true;
            return HG_OK;
        }
        if (hg__now_ms() - t0 >= cap_ms)
            return HG_OK;
    }
}

hg_status hg__wait_event(hg__waiter *w, cl_command_queue q, cl_event ev, double left_ms,
                         const char *what, hg_error *err)
{
    if (!w || !ev)
        return hg__error_set(err, HG_INTERNAL, 0, "waiting for %s: no %s", what,
                             w ? "event" : "waiter");
    if (should_poll(w, left_ms)) {
        if (q) {
            cl_int rc = clFlush(q); /* a runtime may not start what was not submitted */
            if (rc != CL_SUCCESS)
                return hg__cl_fail(err, rc, "clFlush before waiting for %s", what);
        }
        /* the cap, or the predicted time left and half the cap when that is longer
           (it is at most HG__WAIT_FAR_MS: should_poll) */
        double cap_us = w->cap_us > 0 ? w->cap_us : HG__WAIT_POLL_US;
        if (left_ms >= 0 && left_ms * 1e3 + cap_us / 2 > cap_us)
            cap_us = left_ms * 1e3 + cap_us / 2;
        bool done = false;
        cl_int failed = CL_SUCCESS;
        hg_status st = poll(ev, cap_us, &done, &failed, what, err);
        if (st != HG_OK)
            return st;
        if (failed != CL_SUCCESS)
            return hg__cl_fail(err, failed, "%s failed (its execution status)", what);
        if (done) {
            w->polled++;
            w->misses = 0;
            return HG_OK;
        }
        w->fell_back++;
        if (w->policy == HG__WAIT_AUTO && ++w->misses >= HG__WAIT_AUTO_MISSES)
            w->resting = HG__WAIT_AUTO_RETRY;
        if (w->before_block)
            w->before_block(w->before_block_user);
    } else {
        w->blocked++;
    }
    cl_int rc = clWaitForEvents(1, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clWaitForEvents(%s)", what);
    return HG_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

hg_status hg__dispatch_floor(hg__waiter *w, cl_command_queue q, cl_kernel k, size_t reps,
                             const char *what, double *ms, hg_error *err)
{
    if (reps == 0)
        return hg__error_set(err, HG_INTERNAL, 0, "dispatch floor of %s: no repeats", what);
    double *t = malloc(reps * sizeof *t);
    if (!t)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "dispatch floor of %s", what);
    hg_status st = HG_OK;
    const size_t one = 1, warm = 2;
    for (size_t r = 0; r < warm + reps && st == HG_OK; r++) {
        double t0 = hg__now_ms();
        cl_event ev = NULL;
        cl_int rc = clEnqueueNDRangeKernel(q, k, 1, NULL, &one, NULL, 0, NULL, &ev);
        if (rc != CL_SUCCESS) {
            st = hg__cl_fail(err, rc, "clEnqueueNDRangeKernel(empty kernel) on %s", what);
            break;
        }
        st = hg__wait_event(w, q, ev, -1, what, err);
        clReleaseEvent(ev);
        if (r >= warm)
            t[r - warm] = hg__now_ms() - t0;
    }
    if (st == HG_OK) {
        qsort(t, reps, sizeof *t, cmp_double);
        *ms = reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
    }
    free(t);
    return st;
}
