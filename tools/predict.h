/* SPDX-License-Identifier: MIT */
/*
 * predict.h - hetgrad-train's evaluation and predictions on the devices
 * (--epochs 0 --load F --test T; --predict FILE --out PRED.csv), through
 * hg_engine_evaluate and hg_engine_predict.  The CSV format is in docs/train.md.
 *
 * Failures return false with a message in msg.  No global state.
 */
#ifndef HG_TOOLS_PREDICT_H
#define HG_TOOLS_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hetgrad.h>

typedef struct predict_job {
    /* in */
    hg_engine             *engine;  /* an engine for model to use; NULL: one is created
                                       on devices and destroyed at the end */
    const hg_options      *devices; /* device selection; NULL: the defaults */
    const hg_model_desc   *model;   /* linear, softmax or MLP */
    const float           *params;  /* hg_model_param_count(model) finite floats */
    const int32_t         *classes; /* model->outputs label values (the class of each
                                       output); NULL: 0, 1, ... (linear: unused) */
    const hg_dataset_desc *test;    /* rows to evaluate (labels or targets); NULL: none */
    const hg_dataset_desc *predict; /* rows to predict; NULL: none */
    const char            *out;     /* where the predictions go (CSV, written atomically:
                                       a temporary file beside it, renamed over it) */
    /* out: the test rows' mean loss and accuracy (classifiers: the fraction of
       rows whose most probable class is the label; linear: of rows whose first
       predicted value is within 0.5 of the target, as the host evaluation did) */
    double                 loss, accuracy;
} predict_job;

/*
 * Evaluate job->test and write the predictions of job->predict to job->out,
 * on job->engine or on an engine created on the selected devices for this.
 */
bool predict_job_run(predict_job *job, char *msg, size_t n);

#endif /* HG_TOOLS_PREDICT_H */
