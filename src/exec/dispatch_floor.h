/* SPDX-License-Identifier: MIT */
/*
 * dispatch_floor.h - a device's dispatch floor (dispatch_floor.c): what one
 * empty kernel's round trip, enqueue and wait, costs on its runtime, with
 * the wait policy its steps use (devwait.h).  It is the part of a
 * calibrated fixed cost (hg_device_profile.fixed_ms) that no kernel or
 * host change can remove: hetgrad-bench and hetgrad-probe --profile show it
 * beside fixed_ms (docs/engine.md, "Waiting for a device").
 */
#ifndef HG_DISPATCH_FLOOR_H
#define HG_DISPATCH_FLOOR_H

#include "engine_internal.h"

#define HG__FLOOR_REPS 15 /* round trips measured (after two warm-ups) */

/*
 * Measure device d's dispatch floor into d->dispatch_floor_ms (the median
 * of HG__FLOOR_REPS round trips of a one-work-item kernel that does
 * nothing), under its platform lock, through d->wait.  On failure
 * d->dispatch_floor_ms is 0 and the status says which call failed
 * (HG_OPENCL) or HG_OUT_OF_MEMORY; the device itself is left as it was.
 */
hg_status hg__device_dispatch_floor(hg__device *d, hg_error *err);

#endif /* HG_DISPATCH_FLOOR_H */
