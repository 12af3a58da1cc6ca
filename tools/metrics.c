/* SPDX-License-Identifier: MIT */
/* metrics.c - see metrics.h; the records' keys are described in docs/json.md. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "metrics.h"

static char *copy(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *c = strdup(s);
    if (!c)
        *ok = false;
    return c;
}

static bool sum_alloc(metrics_sum *s, size_t ndev)
{
    s->dev_rows = calloc(ndev ? ndev : 1, sizeof *s->dev_rows);
    s->dev_busy = calloc(ndev ? ndev : 1, sizeof *s->dev_busy);
    return s->dev_rows && s->dev_busy;
}

static void sum_free(metrics_sum *s)
{
    free(s->dev_rows);
    free(s->dev_busy);
    memset(s, 0, sizeof *s);
}

/* Back to no steps (the device arrays kept). */
static void sum_reset(metrics_sum *s, size_t ndev)
{
    s->steps = 0;
    s->rows = 0;
    s->loss_sum = 0;
    s->wall_ms = 0;
    memset(s->host, 0, sizeof s->host);
    memset(s->dev_rows, 0, ndev * sizeof *s->dev_rows);
    memset(s->dev_busy, 0, ndev * sizeof *s->dev_busy);
}

bool metrics_open(metrics *m, const char *path, uint64_t every, char *msg, size_t n)
{
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    if (!m->path) {
        snprintf(msg, n, "out of memory");
        return false;
    }
    m->f = fopen(path, "w");
    if (!m->f) {
        snprintf(msg, n, "%.300s: %s", path, strerror(errno));
        free(m->path);
        m->path = NULL;
        return false;
    }
    m->every = every;
    return true;
}

bool metrics_begin(metrics *m, const metrics_device *dev, size_t ndev, char *msg, size_t n)
{
    if (!m->f)
        return true;
    bool ok = true;
    m->dev = calloc(ndev ? ndev : 1, sizeof *m->dev);
    if (m->dev) {
        m->ndev = ndev;
        for (size_t i = 0; i < ndev; i++) {
            m->dev[i].name = copy(dev[i].name, &ok);
            m->dev[i].id = copy(dev[i].id, &ok);
            m->dev[i].kernel = copy(dev[i].kernel, &ok);
            m->dev[i].rank = dev[i].rank;
        }
    }
    if (!m->dev || !ok || !sum_alloc(&m->since_record, ndev) || !sum_alloc(&m->this_epoch, ndev)) {
        snprintf(msg, n, "out of memory");
        return false;
    }
    return true;
}

void metrics_device_step(metrics *m, size_t i, const hg_device_step *st)
{
    if (!m->f || i >= m->ndev || !m->since_record.dev_rows)
        return;
    metrics_sum *sums[2] = {&m->since_record, &m->this_epoch};
    for (int k = 0; k < 2; k++) {
        sums[k]->dev_rows[i] += st->rows;
        sums[k]->dev_busy[i] += st->host_ms;
    }
}

/* One record: kind "step" or "epoch", covering the steps in s. */
static void write_record(metrics *m, const char *kind, const metrics_sum *s, uint64_t epoch,
                         uint64_t step, double val_loss, double val_accuracy,
                         double train_accuracy)
{
    json_out j;
    json_init_line(&j, m->f);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-train-metrics/1");
    json_key(&j, "kind"); json_string(&j, kind);
    json_key(&j, "epoch"); json_u64(&j, epoch);
    json_key(&j, "step"); json_u64(&j, step);
    json_key(&j, "steps"); json_u64(&j, s->steps);
    json_key(&j, "rows"); json_u64(&j, s->rows);
    json_key(&j, "train_ms"); json_double(&j, m->train_ms);
    json_key(&j, "loss"); json_double(&j, s->rows ? s->loss_sum / (double)s->rows : NAN);
    json_key(&j, "train_accuracy"); json_double(&j, train_accuracy);
    json_key(&j, "val_loss"); json_double(&j, val_loss);
    json_key(&j, "val_accuracy"); json_double(&j, val_accuracy);
    json_key(&j, "rows_per_s");
    json_double(&j, s->wall_ms > 0 ? (double)s->rows / (s->wall_ms / 1e3) : NAN);
    if (m->host) {
        json_key(&j, "host");
        json_begin_object(&j);
        for (int p = 0; p < HOSTPROF_PARTS; p++) {
            json_key(&j, hostprof_key((hostprof_part)p));
            json_double(&j, s->steps ? s->host[p] / (double)s->steps : NAN);
        }
        json_end_object(&j);
    }
    json_key(&j, "devices");
    json_begin_array(&j);
    uint64_t all = 0;
    for (size_t i = 0; i < m->ndev; i++)
        all += s->dev_rows[i];
    for (size_t i = 0; i < m->ndev; i++) {
        const metrics_dev_copy *d = &m->dev[i];
        json_begin_object(&j);
        json_key(&j, "name"); json_string(&j, d->name);
        json_key(&j, "id"); json_string(&j, d->id);
        if (d->rank >= 0) {
            json_key(&j, "rank"); json_u64(&j, (uint64_t)d->rank);
        }
        json_key(&j, "kernel"); json_string(&j, d->kernel);
        json_key(&j, "rows"); json_u64(&j, s->dev_rows[i]);
        json_key(&j, "share"); json_double(&j, all ? (double)s->dev_rows[i] / (double)all : 0);
        json_key(&j, "busy_ms"); json_double(&j, s->dev_busy[i]);
        json_key(&j, "rows_per_s");
        json_double(&j, s->dev_busy[i] > 0 ? (double)s->dev_rows[i] / (s->dev_busy[i] / 1e3)
                                           : NAN);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    if (!json_finish(&j) && !m->write_errno) /* json_finish flushed the line */
        m->write_errno = errno ? errno : EIO;
}

void metrics_host_step(metrics *m, const double *part)
{
    if (!m->f || !m->since_record.dev_rows)
        return;
    m->host = true;
    for (int p = 0; p < HOSTPROF_PARTS; p++) {
        m->since_record.host[p] += part[p];
        m->this_epoch.host[p] += part[p];
    }
}

void metrics_step(metrics *m, uint64_t epoch, uint64_t step, uint64_t rows, double loss,
                  double wall_ms)
{
    if (!m->f || !m->since_record.dev_rows)
        return;
    m->train_ms += wall_ms;
    metrics_sum *sums[2] = {&m->since_record, &m->this_epoch};
    for (int k = 0; k < 2; k++) {
        sums[k]->steps++;
        sums[k]->rows += rows;
        sums[k]->loss_sum += loss * (double)rows;
        sums[k]->wall_ms += wall_ms;
    }
    if (m->every && step % m->every == 0) {
        errno = 0;
        write_record(m, "step", &m->since_record, epoch, step, NAN, NAN, NAN);
        sum_reset(&m->since_record, m->ndev);
    }
}

void metrics_epoch(metrics *m, uint64_t epoch, uint64_t step, double val_loss,
                   double val_accuracy, double train_accuracy)
{
    if (!m->f || !m->this_epoch.dev_rows)
        return;
    errno = 0;
    write_record(m, "epoch", &m->this_epoch, epoch, step, val_loss, val_accuracy,
                 train_accuracy);
    sum_reset(&m->this_epoch, m->ndev);
}

bool metrics_close(metrics *m, char *msg, size_t n)
{
    if (!m->f) {
        free(m->path);
        m->path = NULL;
        return true;
    }
    errno = 0;
    if (fclose(m->f) != 0 && !m->write_errno)
        m->write_errno = errno ? errno : EIO;
    bool ok = m->write_errno == 0;
    if (!ok)
        snprintf(msg, n, "%.300s: write failed: %s", m->path, strerror(m->write_errno));
    for (size_t i = 0; i < m->ndev; i++) {
        free(m->dev[i].name);
        free(m->dev[i].id);
        free(m->dev[i].kernel);
    }
    free(m->dev);
    free(m->path);
    sum_free(&m->since_record);
    sum_free(&m->this_epoch);
    memset(m, 0, sizeof *m);
    return ok;
}
