/* SPDX-License-Identifier: MIT */
/*
 * train_trace.c - hetgrad-train's report columns (one per device, every rank's with
 * MPI) and its timeline, a Chrome / Perfetto trace-event file (train_trace.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "train_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the devices a run reports: this engine's, or every rank's (MPI) --------- */

bool cols_init(cols *c, hg_engine *e, hg_mpi *ctx)
{
    c->e = e;
    c->ctx = ctx;
    c->n = 0;
    int nr = 1;
#ifdef HG_HAVE_MPI
    if (ctx)
        nr = hg_mpi_size(ctx);
#endif
    size_t total = 0;
    for (int r = 0; r < nr; r++) {
        size_t nd = hg_engine_device_count(e);
#ifdef HG_HAVE_MPI
        hg_mpi_rank_info in;
        if (ctx && hg_mpi_rank_info_get(ctx, r, &in) == HG_OK)
            nd = in.devices;
#endif
        total += nd;
    }
    c->rank = calloc(total ? total : 1, sizeof *c->rank);
    c->dev = calloc(total ? total : 1, sizeof *c->dev);
    if (!c->rank || !c->dev)
        return false;
    for (int r = 0; r < nr; r++) {
        size_t nd = hg_engine_device_count(e);
#ifdef HG_HAVE_MPI
        hg_mpi_rank_info in;
        if (ctx && hg_mpi_rank_info_get(ctx, r, &in) == HG_OK)
            nd = in.devices;
#endif
        for (size_t i = 0; i < nd; i++) {
            c->rank[c->n] = r;
            c->dev[c->n++] = i;
        }
    }
    return true;
}

void cols_free(cols *c)
{
    free(c->rank);
    free(c->dev);
}

/* Column k's device name. */
const char *cols_name(const cols *c, size_t k)
{
#ifdef HG_HAVE_MPI
    if (c->ctx) {
        const char *n = hg_mpi_device_name(c->ctx, c->rank[k], c->dev[k]);
        return n ? n : "?";
    }
#endif
    return hg_engine_device(c->e, c->dev[k])->name;
}

/* Column k's label: "[i]" alone, "[r:i]" (rank r's device i) with MPI. */
void cols_label(const cols *c, size_t k, char *buf, size_t n)
{
    if (c->ctx)
        snprintf(buf, n, "[%d:%zu]", c->rank[k], c->dev[k]);
    else
        snprintf(buf, n, "[%zu]", c->dev[k]);
}

/* What column k's device did in the last step. */
void cols_step(const cols *c, size_t k, hg_device_step *st)
{
    memset(st, 0, sizeof *st);
#ifdef HG_HAVE_MPI
    if (c->ctx) {
        hg_mpi_device_step(c->ctx, c->rank[k], c->dev[k], st);
        return;
    }
#endif
    hg_engine_last_step(c->e, c->dev[k], st);
}

/* ---- the timeline: Chrome / Perfetto trace-event JSON ----------------------- */

static void trace_event(trace *t, const char *name, const char *ph, size_t tid, double ts_ms,
                        double dur_ms)
{
    json_begin_object(&t->j);
    json_key(&t->j, "name"); json_string(&t->j, name);
    json_key(&t->j, "ph"); json_string(&t->j, ph);
    json_key(&t->j, "pid"); json_u64(&t->j, 1);
    json_key(&t->j, "tid"); json_u64(&t->j, tid);
    json_key(&t->j, "ts"); json_double(&t->j, (ts_ms - t->origin_ms) * 1e3);
    if (ph[0] == 'X') {
        json_key(&t->j, "dur"); json_double(&t->j, dur_ms * 1e3);
    }
    if (ph[0] == 'i') {
        json_key(&t->j, "s"); json_string(&t->j, "t");
    }
}

/* Create the file (before the run starts, so that a bad path stops it at once). */
bool trace_open(trace *t, const char *path)
{
    t->f = fopen(path, "w");
    return t->f != NULL;
}

/* The header: one track for the host and one per device (per rank's device with MPI). */
bool trace_begin(trace *t, const cols *c, double origin)
{
    size_t nd = c->n;
    t->last_rows = calloc(nd ? nd : 1, sizeof *t->last_rows);
    if (!t->last_rows)
        return false;
    t->origin_ms = origin;
    json_init(&t->j, t->f);
    json_begin_object(&t->j);
    json_key(&t->j, "displayTimeUnit"); json_string(&t->j, "ms");
    json_key(&t->j, "traceEvents");
    json_begin_array(&t->j);
    for (size_t i = 0; i <= nd; i++) {
        json_begin_object(&t->j);
        json_key(&t->j, "name"); json_string(&t->j, "thread_name");
        json_key(&t->j, "ph"); json_string(&t->j, "M");
        json_key(&t->j, "pid"); json_u64(&t->j, 1);
        json_key(&t->j, "tid"); json_u64(&t->j, i);
        json_key(&t->j, "args");
        json_begin_object(&t->j);
        char label[300], tag[48];
        if (i == 0) {
            snprintf(label, sizeof label, "host (steps, reduction, optimiser, rebalancing)");
        } else if (c->ctx) {
            cols_label(c, i - 1, tag, sizeof tag);
            snprintf(label, sizeof label, "rank %d %s %s", c->rank[i - 1], tag,
                     cols_name(c, i - 1));
        } else {
            cols_label(c, i - 1, tag, sizeof tag);
            snprintf(label, sizeof label, "%s %s", tag, cols_name(c, i - 1));
        }
        json_key(&t->j, "name"); json_string(&t->j, label);
        json_end_object(&t->j);
        json_end_object(&t->j);
    }
    return true;
}

/* One step: a host slice, a slice per device that worked, the host reduction
   after the last device finished, and an instant event when the split moved. */
void trace_step(trace *t, const cols *c, uint64_t step, double t0, double wall_ms,
                       double update_ms)
{
    size_t nd = c->n;
    char name[64];
    snprintf(name, sizeof name, "step %llu", (unsigned long long)step);
    trace_event(t, name, "X", 0, t0, wall_ms);
    json_end_object(&t->j);
    double last_end = 0;
    bool moved = false;
    for (size_t i = 0; i < nd; i++) {
        hg_device_step st;
        cols_step(c, i, &st);
        if (st.rows != t->last_rows[i])
            moved = true;
        t->last_rows[i] = st.rows;
        if (!st.rows && !st.failed)
            continue;
        trace_event(t, st.failed ? "gradient (FAILED)" : "gradient", "X", i + 1,
                    t0 + st.start_ms, st.end_ms - st.start_ms);
        json_key(&t->j, "args");
        json_begin_object(&t->j);
        json_key(&t->j, "rows"); json_u64(&t->j, st.rows);
        json_key(&t->j, "batches"); json_u64(&t->j, st.pieces);
        json_key(&t->j, "opencl_events_ms"); json_double(&t->j, st.device_ms);
        json_key(&t->j, "of_which_transfers_ms"); json_double(&t->j, st.transfer_ms);
        json_key(&t->j, "recovered_rows"); json_u64(&t->j, st.recovered_rows);
        if (c->ctx) {
            json_key(&t->j, "rank"); json_u64(&t->j, (uint64_t)c->rank[i]);
        }
        json_end_object(&t->j);
        json_end_object(&t->j);
        if (st.end_ms > last_end)
            last_end = st.end_ms;
    }
    if (wall_ms > last_end) {
        trace_event(t, "host reduction", "X", 0, t0 + last_end, wall_ms - last_end);
        json_end_object(&t->j);
    }
    trace_event(t, "optimiser update", "X", 0, t0 + wall_ms, update_ms);
    json_end_object(&t->j);
    if (moved) {
        trace_event(t, "rebalance", "i", 0, t0, 0);
        json_key(&t->j, "args");
        json_begin_object(&t->j);
        for (size_t i = 0; i < nd; i++) {
            char key[64];
            if (c->ctx)
                snprintf(key, sizeof key, "rows[%d:%zu]", c->rank[i], c->dev[i]);
            else
                snprintf(key, sizeof key, "rows[%zu]", i);
            json_key(&t->j, key);
            json_u64(&t->j, t->last_rows[i]);
        }
        json_end_object(&t->j);
        json_end_object(&t->j);
    }
}

bool trace_close(trace *t)
{
    if (!t->f)
        return true;
    json_end_array(&t->j);
    json_end_object(&t->j);
    bool ok = json_finish(&t->j);
    if (fclose(t->f) != 0)
        ok = false;
    free(t->last_rows);
    t->last_rows = NULL;
    t->f = NULL;
    return ok;
}
