/* SPDX-License-Identifier: MIT */
/*
 * devwait.h - how the host waits for a device's command (devwait.c): a
 * bounded poll of the command's event, then a blocking wait.
 *
 * Blocking in clWaitForEvents costs a runtime's wake-up on top of the
 * command's own time: on POCL's pthread device a trivial kernel's round
 * trip is ~45-75 us blocking and ~35 us polled (docs/engine.md, "Waiting for
 * a device").  So the host may poll the event's execution status for a
 * short, bounded time before it blocks.  The bound keeps a spinning host
 * thread from taking a core from the devices for long on a small machine:
 * at most cap_us of polling per wait (or the time the device's cost model
 * predicts is left, when that is longer but still short), none when it
 * says the command is far from done, and under the auto policy none on a
 * device whose polls keep running out (measured, never guessed from its
 * name).  Runtimes that execute commands in the flushing thread (POCL
 * basic, Oclgrind) are complete at the first poll.
 */
#ifndef HG_DEVWAIT_H
#define HG_DEVWAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "clutil.h"

typedef enum hg__wait_policy {
    HG__WAIT_AUTO  = 0, /* poll up to the cap where polls have been completing,
                           else block (the default) */
    HG__WAIT_BLOCK = 1, /* clWaitForEvents only, as before this file existed */
    HG__WAIT_POLL  = 2  /* always poll up to the cap first, then block */
} hg__wait_policy;

#define HG__WAIT_POLL_US 50.0   /* the most a wait polls before it blocks (us) */
#define HG__WAIT_FAR_MS 0.2     /* predicted time left over this: block at once */
#define HG__WAIT_AUTO_MISSES 8u /* auto: consecutive polls that ran out before
                                   polling is switched off for the device ... */
#define HG__WAIT_AUTO_RETRY 64u /* ... and blocking waits before it is tried again */

/* One device's waiting: the policy and what its polls have seen.  Zeroed is
   the auto policy with the default cap (cap_us 0 means HG__WAIT_POLL_US). */
typedef struct hg__waiter {
    hg__wait_policy policy;
    double   cap_us;      /* polling bound per wait (us); 0: HG__WAIT_POLL_US */
    unsigned misses;      /* auto: consecutive polls that ran out */
    unsigned resting;     /* auto, polling off: blocking waits left before retrying */
    uint64_t polled;      /* waits that completed by polling */
    uint64_t fell_back;   /* waits that polled up to the cap, then blocked */
    uint64_t blocked;     /* waits that blocked without polling */
    /* tests: called once just before a wait that polled falls back to
       clWaitForEvents (NULL: none) */
    void   (*before_block)(void *user);
    void    *before_block_user;
} hg__waiter;

/* "auto", "block", "poll" -> *out; false (and *out untouched) for anything else. */
bool hg__wait_policy_parse(const char *s, hg__wait_policy *out);
/* "auto", "block", "poll"; "?" for a value out of range. */
const char *hg__wait_policy_name(hg__wait_policy p);

/*
 * Wait until ev's command has completed.  q: the queue it was enqueued on,
 * flushed before polling (NULL: a user event, nothing to flush).  left_ms:
 * the device's predicted time until the command completes (< 0: unknown or
 * overdue); over HG__WAIT_FAR_MS the wait blocks without polling, else it
 * polls for up to the cap or left_ms + half the cap, the longer.  w (not NULL) chooses
 * the policy and keeps its counts; it is not shared between threads.  what
 * names the command and the device for messages ("gradient read-back on
 * device ...").  The caller keeps ev (not released here).
 *
 * HG_OK when the command completed; HG_OPENCL with the command's own
 * (negative) execution status when it failed, or with the status of the
 * OpenCL call that failed (clFlush, clGetEventInfo, clWaitForEvents).
 */
hg_status hg__wait_event(hg__waiter *w, cl_command_queue q, cl_event ev, double left_ms,
                         const char *what, hg_error *err);

/*
 * The dispatch floor of queue q's device: the median, over reps (>= 1) round
 * trips after two unmeasured ones, of enqueueing kernel k (which must do no
 * work: 1 work-item, its arguments set) and waiting for it through w, in ms.
 * The runtime's own cost of a step's launch and wait, for comparison with a
 * calibrated fixed cost.  Fails as hg__wait_event or with the enqueue's
 * status; *ms is then unchanged.
 */
hg_status hg__dispatch_floor(hg__waiter *w, cl_command_queue q, cl_kernel k, size_t reps,
                             const char *what, double *ms, hg_error *err);

#endif /* HG_DEVWAIT_H */
