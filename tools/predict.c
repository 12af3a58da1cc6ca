/* SPDX-License-Identifier: MIT */
/*
 * predict.c - hetgrad-train's evaluation and predictions on the devices
 * (predict.h).  The model math is the library's (hg_engine_evaluate,
 * hg_engine_predict); this file only moves rows in and CSV out.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "predict.h"

/* Linear models: rows whose first predicted value is within 0.5 of the target. */
static bool linear_accuracy(hg_engine *e, const predict_job *j, double *acc, char *msg,
                            size_t n)
{
    const hg_dataset_desc *t = j->test;
    size_t K = j->model->outputs;
    float *out = malloc(t->rows * K * sizeof *out);
    if (!out) {
        snprintf(msg, n, "out of memory predicting %zu rows", t->rows);
        return false;
    }
    hg_error err;
    bool ok = hg_engine_predict(e, j->params, t, NULL, out, &err) == HG_OK;
    if (!ok) {
        snprintf(msg, n, "%s: %.400s", hg_status_name(err.status), err.message);
    } else {
        size_t right = 0;
        for (size_t r = 0; r < t->rows; r++)
            right += fabs((double)out[r * K] - (double)t->targets[r * K]) < 0.5;
        *acc = (double)right / (double)t->rows;
    }
    free(out);
    return ok;
}

/* The CSV of predictions (docs/train.md) to f. */
static bool write_csv(FILE *f, const predict_job *j, const int32_t *cls, const float *out)
{
    const hg_model_desc *m = j->model;
    size_t K = m->outputs;
    bool linear = m->kind == HG_MODEL_LINEAR;
    if (linear) {
        if (K == 1)
            fputs("value", f);
        for (size_t k = 0; K > 1 && k < K; k++)
            fprintf(f, "%svalue_%zu", k ? "," : "", k);
    } else {
        fprintf(f, "class");
        for (size_t k = 0; k < K; k++)
            fprintf(f, ",p_%d", j->classes ? (int)j->classes[k] : (int)k);
    }
    fputc('\n', f);
    for (size_t r = 0; r < j->predict->rows; r++) {
        if (!linear) {
            int32_t c = cls[r];
            fprintf(f, "%d,", j->classes ? (int)j->classes[c] : (int)c);
        }
        for (size_t k = 0; k < K; k++)
            fprintf(f, "%s%.9g", k ? "," : "", (double)out[r * K + k]);
        fputc('\n', f);
    }
    return !ferror(f);
}

/* Predictions of job->predict into job->out, through a temporary file beside it. */
static bool predict_to_csv(hg_engine *e, const predict_job *j, char *msg, size_t n)
{
    const hg_dataset_desc *p = j->predict;
    size_t K = j->model->outputs;
    bool linear = j->model->kind == HG_MODEL_LINEAR;
    float *out = malloc(p->rows * K * sizeof *out);
    int32_t *cls = linear ? NULL : malloc(p->rows * sizeof *cls);
    size_t tn = strlen(j->out) + 64;
    char *tmp = malloc(tn);
    bool ok = false;
    FILE *f = NULL;
    if (!out || (!linear && !cls) || !tmp) {
        snprintf(msg, n, "out of memory predicting %zu rows", p->rows);
        goto out;
    }
    hg_error err;
    if (hg_engine_predict(e, j->params, p, cls, out, &err) != HG_OK) {
        snprintf(msg, n, "%s: %.400s", hg_status_name(err.status), err.message);
        goto out;
    }
    snprintf(tmp, tn, "%s.%ld.tmp", j->out, (long)getpid());
    f = fopen(tmp, "w");
    if (!f) {
        snprintf(msg, n, "%.300s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    bool written = write_csv(f, j, cls, out);
    int saved = errno;
    if (fclose(f) != 0 && written) {
        written = false;
        saved = errno;
    }
    f = NULL;
    if (!written || rename(tmp, j->out) != 0) {
        if (written)
            saved = errno;
        snprintf(msg, n, "%.300s: cannot write the predictions: %s", j->out, strerror(saved));
        remove(tmp);
        goto out;
    }
    ok = true;
out:
    free(tmp);
    free(cls);
    free(out);
    return ok;
}

bool predict_job_run(predict_job *job, char *msg, size_t n)
{
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = job->devices;
    hg_engine *e = job->engine;
    hg_error err;
    if (!e && hg_engine_create(&eo, job->model, &e, &err) != HG_OK) {
        snprintf(msg, n, "%s: %.400s", hg_status_name(err.status), err.message);
        return false;
    }
    bool ok = true;
    job->loss = job->accuracy = NAN;
    if (job->test) {
        bool linear = job->model->kind == HG_MODEL_LINEAR;
        ok = hg_engine_evaluate(e, job->params, job->test, &job->loss,
                                linear ? NULL : &job->accuracy, &err) == HG_OK;
        if (!ok)
            snprintf(msg, n, "%s: %.400s", hg_status_name(err.status), err.message);
        if (ok && linear)
            ok = linear_accuracy(e, job, &job->accuracy, msg, n);
    }
    if (ok && job->predict)
        ok = predict_to_csv(e, job, msg, n);
    if (e != job->engine)
        hg_engine_destroy(e);
    return ok;
}
