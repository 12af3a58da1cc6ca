/* SPDX-License-Identifier: MIT */
/*
 * readback.c - a device's records come back without stopping it: two record
 * slots on the device, each read into its own host buffer by a non-blocking
 * read with an event, so that batch k's records travel while batch k + 1 is
 * enqueued and run.  The host waits for a slot's event only when it needs
 * the slot again (batch k + 2) or the records (the end of the run), and then
 * appends them to hg__device.res in batch order, so the records, their keys
 * and the host's sum are those of one batch after another.  A run's first
 * records are not copied: the slot's host buffer becomes hg__device.res and
 * the slot takes res's old one (at least a slot's size), so a step of one
 * batch reads its records once, into the buffer the host sums from.
 *
 * On a device whose memory is the host's (CL_DEVICE_HOST_UNIFIED_MEMORY: CPU
 * devices, integrated GPUs) the slots' buffer is created on a host block
 * (CL_MEM_USE_HOST_PTR) and each slot is read into its own part of that
 * block, the read OpenCL defines for such buffers: the kernels write the
 * records where the read leaves them, and POCL's read copies nothing
 * (0.3 against 17 us for the MLP's 814 KB record on POCL's basic device,
 * measured in a standalone program).  The slot's memory cannot change hands
 * then: a run's first records are lent instead (hg__device.res points into
 * the slot, rb->spare keeps res's own buffer) until the run appends more
 * records or a batch is about to write that slot again; only then are they
 * copied out.  A step of one batch copies none.
 *
 * Where the device also shares fine-grained SVM buffers (shared_mem.h), the
 * block is shared and nothing is read at all: a slot's event is its batch's
 * last command's, and once that has completed the records are in the block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readback.h"
#include "shared_mem.h"

/* Give d->res its own buffer back, with the run's records when keep (the
   spare is at least a slot's size: no allocation). */
static void unborrow(hg__device *d, bool keep)
{
    hg__readback *rb = &d->readback;
    if (!rb->borrowed)
        return;
    if (keep && d->npieces_run)
        memcpy(rb->spare, d->res, d->npieces_run * d->res_stride * sizeof(float));
    d->res = rb->spare;
    d->res_cap = rb->spare_cap;
    rb->spare = NULL;
    rb->spare_cap = 0;
    rb->borrowed = false;
}

float *hg__next_records(hg_engine *eng, hg__device *d, size_t n)
{
    unborrow(d, true);
    size_t stride = hg__result_stride(eng);
    size_t need = (d->npieces_run + n) * stride;
    if (need > d->res_cap) {
        size_t cap = d->res_cap ? 2 * d->res_cap : stride * 4;
        while (cap < need)
            cap *= 2;
        float *r = realloc(d->res, cap * sizeof *r);
        if (!r)
            return NULL;
        d->res = r;
        size_t *k = realloc(d->res_key, cap / stride * sizeof *k);
        if (!k)
            return NULL;
        d->res_key = k;
        d->res_cap = cap;
    }
    d->res_stride = stride;
    return d->res + d->npieces_run * stride;
}

void hg__readback_discard(hg__device *d)
{
    hg__readback *rb = &d->readback;
    for (int s = 0; s < 2; s++) {
        if (rb->ev[s])
            clReleaseEvent(rb->ev[s]);
        rb->ev[s] = NULL;
        rb->nrec[s] = 0;
    }
    rb->next = 0;
}

void hg__readback_free(hg__device *d)
{
    hg__readback *rb = &d->readback;
    unborrow(d, true);
    hg__readback_discard(d);
    for (int s = 0; s < 2; s++) {
        hg__release_mem(&rb->dev[s]);
        if (!rb->block)
            free(rb->host[s]);
        free(rb->keys[s]);
        rb->host[s] = NULL;
        rb->keys[s] = NULL;
    }
    if (rb->svm) { /* its commands have run (discard): then its block */
        hg__shared_release(d, &rb->all, (void **)&rb->block);
    } else {
        hg__release_mem(&rb->all);
        free(rb->block);
        rb->block = NULL;
    }
    rb->svm = false;
    d->grad = NULL;
    d->cap_recs = 0;
}

/* Bytes one slot takes in rb->all: its records, rounded up to the device's
   base address alignment (where a sub-buffer must start). */
static hg_status slot_bytes(hg__device *d, size_t floats, size_t *bytes, hg_error *err)
{
    cl_uint bits = 0;
    cl_int rc = clGetDeviceInfo(d->cl_dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits,
                                NULL);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clGetDeviceInfo(CL_DEVICE_MEM_BASE_ADDR_ALIGN) on %s",
                           d->what);
    size_t align = bits >= 8 ? bits / 8 : 1;
    *bytes = (floats * sizeof(float) + align - 1) / align * align;
    return HG_OK;
}

/* Slot s: the sub-buffer of rb->all at s * bytes. */
static hg_status sub_slot(hg__device *d, unsigned s, size_t bytes, hg_error *err)
{
    hg__readback *rb = &d->readback;
    cl_buffer_region region = {s * bytes, bytes};
    cl_int rc = CL_SUCCESS;
    rb->dev[s] = clCreateSubBuffer(rb->all, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                   &region, &rc);
    if (rc != CL_SUCCESS || !rb->dev[s]) {
        rb->dev[s] = NULL;
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_OUT_OF_RESOURCES,
                           "clCreateSubBuffer(record slot %u, %zu bytes) on %s", s, bytes,
                           d->what);
    }
    return HG_OK;
}

/*
 * rb->all of total bytes: shared (shared_mem.h) where the device can; else on
 * a host block of its own where the device's memory is the host's (readback.c's
 * top comment); else the device's memory.
 */
static hg_status slots_buffer(hg__device *d, size_t total, hg_error *err)
{
    hg__readback *rb = &d->readback;
    if (d->shared) {
        hg_status st = hg__shared_alloc(d, &rb->all, (void **)&rb->block, total,
                                        "gradient records", err);
        rb->svm = rb->block != NULL; /* else a device buffer: read back by commands */
        return st;
    }
    if (!d->info->host_unified_memory)
        return hg__alloc_mem(d, &rb->all, total, "gradient records", err);
    hg_status st = hg__alloc_size(d, &total, "gradient records", err);
    if (st != HG_OK)
        return st;
    const size_t page = 4096;
    size_t rounded = (total + page - 1) / page * page;
    rb->block = aligned_alloc(page, rounded);
    if (!rb->block)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "gradient records on %s (%zu bytes)",
                             d->what, total);
    memset(rb->block, 0, rounded);
    cl_int rc = CL_SUCCESS;
    rb->all = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, total, rb->block,
                             &rc);
    if (rc != CL_SUCCESS || !rb->all) {
        rb->all = NULL;
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_MEM_OBJECT_ALLOCATION_FAILURE,
                           "clCreateBuffer(gradient records, %zu bytes, on the host) on %s",
                           total, d->what);
    }
    return HG_OK;
}

/*
 * The two slots are the halves of one buffer (sub-buffers), so that a device
 * creates as many buffers as it did with one record buffer: Oclgrind's
 * uninitialised-value plugin misreports loads from a buffer created where
 * another was freed (test_sparse's switch from CSR to dense rows reported
 * hundreds with two separate slot buffers, none with these).
 */
hg_status hg__readback_alloc(hg_engine *eng, hg__device *d, size_t recs, hg_error *err)
{
    const size_t floats = recs * (eng->nparams + 1);
    hg__readback_free(d);
    if (floats > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0,
                             "%s: %zu records of %zu parameters exceed 2^32 floats; use "
                             "smaller blocks", d->what, recs, eng->nparams);
    hg__readback *rb = &d->readback;
    size_t bytes = 0;
    hg_status st = slot_bytes(d, floats, &bytes, err);
    if (st == HG_OK)
        st = slots_buffer(d, 2 * bytes, err);
    for (unsigned s = 0; s < 2 && st == HG_OK; s++) {
        st = sub_slot(d, s, bytes, err);
        rb->host[s] = rb->block ? (float *)(rb->block + s * bytes)
                                : malloc(floats * sizeof(float));
        rb->keys[s] = malloc(recs * sizeof(size_t));
        if (st == HG_OK && (!rb->host[s] || !rb->keys[s]))
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "record buffers for %s", d->what);
    }
    if (st != HG_OK) {
        hg__readback_free(d);
        return st;
    }
    d->cap_recs = recs;
    d->grad = rb->dev[0];
    return HG_OK;
}

double hg__run_left_ms(const hg__device *d)
{
    return d->run_due_ms > 0 ? d->run_due_ms - hg__now_ms() : -1;
}

/* Wait for slot s's read and append its records to d->res; none pending: no-op. */
static hg_status consume(hg_engine *eng, hg__device *d, unsigned s, hg_error *err)
{
    hg__readback *rb = &d->readback;
    if (!rb->ev[s])
        return HG_OK;
    char what[200];
    snprintf(what, sizeof what, "gradient read-back on %s", d->what);
    hg_status st = hg__wait_event(&d->wait, d->queue, rb->ev[s], hg__run_left_ms(d), what,
                                  err);
    clReleaseEvent(rb->ev[s]);
    rb->ev[s] = NULL;
    size_t n = rb->nrec[s];
    rb->nrec[s] = 0;
    if (st != HG_OK)
        return st;
    const size_t slot_floats = d->cap_recs * hg__result_stride(eng);
    if (d->npieces_run == 0 && d->res && d->res_cap >= slot_floats && rb->block) {
        /* the run's first records, on the slot's memory: lend it as the
           records (res's own buffer, or the one a last run's loan kept, is
           the spare) */
        if (!rb->borrowed) {
            rb->spare = d->res;
            rb->spare_cap = d->res_cap;
            rb->borrowed = true;
        }
        d->res = rb->host[s];
        d->res_cap = slot_floats;
        d->res_stride = hg__result_stride(eng);
        rb->lent = s;
    } else if (d->npieces_run == 0 && d->res && d->res_cap >= slot_floats) {
        /* the run's first records: hand the slot's buffer over as the records
           and give the slot the records' old buffer (as large as a slot or
           larger), instead of copying (a step's usual single record: P floats) */
        float *old = d->res;
        d->res = rb->host[s];
        d->res_cap = slot_floats;
        d->res_stride = hg__result_stride(eng);
        rb->host[s] = old;
    } else {
        float *rec = hg__next_records(eng, d, n);
        if (!rec)
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "result records on %s", d->what);
        memcpy(rec, rb->host[s], n * hg__result_stride(eng) * sizeof(float));
    }
    for (size_t r = 0; r < n; r++)
        d->res_key[d->npieces_run + r] = rb->keyed[s] ? rb->keys[s][r] : d->npieces_run + r;
    d->npieces_run += n;
    return HG_OK;
}

hg_status hg__readback_begin(hg_engine *eng, hg__device *d, hg_error *err)
{
    hg__readback *rb = &d->readback;
    hg_status st = consume(eng, d, rb->next, err);
    if (rb->borrowed && rb->lent == rb->next)
        unborrow(d, true); /* the batch is about to write the lent records */
    d->grad = rb->dev[rb->next];
    rb->mark = d->ncmds;
    return st;
}

/*
 * The event the host waits on for the slot's records, its own reference (the
 * step's timing holds another): the read's, or where the slot is shared the
 * batch's last command's (a marker's if it enqueued none), the kernels having
 * written the records where the host reads them.
 */
static hg_status slot_event(hg_engine *eng, hg__device *d, size_t nrec, cl_event *out,
                            hg_error *err)
{
    hg__readback *rb = &d->readback;
    unsigned s = rb->next;
    cl_event ev = NULL;
    cl_int rc = CL_SUCCESS;
    if (rb->svm && d->ncmds > rb->mark && d->last_ev) {
        ev = d->last_ev;
        rc = clRetainEvent(ev);
        if (rc != CL_SUCCESS)
            return hg__cl_fail(err, rc, "clRetainEvent(a batch's last command) on %s",
                               d->what);
        *out = ev;
        return HG_OK;
    }
    if (rb->svm)
        rc = clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &ev);
    else
        rc = clEnqueueReadBuffer(d->queue, rb->dev[s], CL_FALSE, 0,
                                 nrec * hg__result_stride(eng) * sizeof(float), rb->host[s],
                                 0, NULL, &ev);
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "%s on %s", rb->svm ? "clEnqueueMarkerWithWaitList"
                           : "clEnqueueReadBuffer(gradient)", d->what);
    rc = clRetainEvent(ev); /* one reference to wait on, one for the step's timing */
    if (rc != CL_SUCCESS) {
        clReleaseEvent(ev);
        return hg__cl_fail(err, rc, "clRetainEvent(gradient read-back) on %s", d->what);
    }
    hg_status st = hg__tracked(d, ev, !rb->svm, err);
    if (st != HG_OK) {
        clReleaseEvent(ev); /* hg__track released the other reference */
        return st;
    }
    *out = ev;
    return HG_OK;
}

hg_status hg__readback_end(hg_engine *eng, hg__device *d, size_t nrec, const size_t *keys,
                           hg_error *err)
{
    hg__readback *rb = &d->readback;
    unsigned s = rb->next;
    if (nrec > d->cap_recs || rb->ev[s])
        return hg__error_set(err, HG_INTERNAL, 0, "%s: %zu records for a slot of %zu%s",
                             d->what, nrec, d->cap_recs, rb->ev[s] ? ", still being read" : "");
    cl_event ev = NULL;
    hg_status st = slot_event(eng, d, nrec, &ev, err);
    if (st != HG_OK)
        return st;
    rb->ev[s] = ev;
    rb->nrec[s] = nrec;
    rb->keyed[s] = keys != NULL;
    if (keys)
        memcpy(rb->keys[s], keys, nrec * sizeof *keys);
    rb->next = s ^ 1u;
    cl_int rc = clFlush(d->queue); /* the device starts on the batch while the host goes on */
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clFlush on %s", d->what);
    return HG_OK;
}

hg_status hg__readback_drain(hg_engine *eng, hg__device *d, hg_error *err)
{
    hg__readback *rb = &d->readback;
    unsigned older = rb->next; /* the slot written two batches ago, then the last one */
    hg_status st = consume(eng, d, older, err);
    if (st == HG_OK)
        st = consume(eng, d, older ^ 1u, err);
    return st;
}

hg_status hg__readback_wait_one(hg_engine *eng, hg__device *d, bool *drained, hg_error *err)
{
    hg__readback *rb = &d->readback;
    unsigned older = rb->ev[rb->next] ? rb->next : rb->next ^ 1u;
    hg_status st = consume(eng, d, older, err);
    *drained = !rb->ev[0] && !rb->ev[1];
    return st;
}
