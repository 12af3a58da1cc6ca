/* SPDX-License-Identifier: MIT */
/*
 * readback.h - a device's double-buffered record read-back (readback.c; the
 * state is hg__readback in engine_internal.h).  A device's run (pipeline.c)
 * calls, per batch: hg__readback_begin, the path's run_batch (writing
 * d->grad), hg__readback_end; then hg__readback_drain once, or
 * hg__readback_discard after a failure.  All under the device's platform lock.
 */
#ifndef HG_READBACK_H
#define HG_READBACK_H

#include "engine_internal.h"

/*
 * Slots for batches of up to recs records: device buffers, host buffers
 * and keys (replacing any, with nothing pending).  Sets d->cap_recs (0 on
 * failure).  HG_RANGE when recs x (P + 1) exceeds 2^32 floats;
 * HG_OUT_OF_MEMORY or HG_OPENCL naming the buffer.
 */
hg_status hg__readback_alloc(hg_engine *eng, hg__device *d, size_t recs, hg_error *err);
/*
 * Before a batch's kernels: point d->grad at the next slot, first waiting
 * for the read still pending in it (two batches ago) and moving its records
 * into d->res.  Fails with the read's OpenCL error or HG_OUT_OF_MEMORY.
 */
hg_status hg__readback_begin(hg_engine *eng, hg__device *d, hg_error *err);
/*
 * After a batch's kernels: read its nrec records from d->grad into the
 * slot's host buffer, not blocking (an event), and submit the queue.
 * keys: the records' block numbers (deterministic mode), NULL: their order.
 */
hg_status hg__readback_end(hg_engine *eng, hg__device *d, size_t nrec, const size_t *keys,
                           hg_error *err);
/* Wait for every pending read and move the records into d->res, oldest first. */
hg_status hg__readback_drain(hg_engine *eng, hg__device *d, hg_error *err);
/*
 * Wait for the oldest pending read only (the queue being in order, every
 * command before it is done) and move its records into d->res; *drained:
 * no read is pending any more (also when none was).
 */
hg_status hg__readback_wait_one(hg_engine *eng, hg__device *d, bool *drained, hg_error *err);
/* Forget pending reads (their records are lost); the queue must have run them
   (clFinish) or never will. */
void hg__readback_discard(hg__device *d);
/* hg__readback_discard and free the slots (d->grad becomes NULL). */
void hg__readback_free(hg__device *d);
/* The predicted ms until d's run in progress ends (d->run_due_ms, set by
   pipeline.c from its cost model), for hg__wait_event; -1: unknown. */
double hg__run_left_ms(const hg__device *d);
/* Make room for n more records in d->res (and their keys); NULL when out of memory. */
float *hg__next_records(hg_engine *eng, hg__device *d, size_t n);

#endif /* HG_READBACK_H */
