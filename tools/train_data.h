/* SPDX-License-Identifier: MIT */
/*
 * train_data.h - hetgrad-train's data: the built-in digits and the files of --data and
 * --test (train_data.c).  Every function reports failure by returning false (NULL) with
 * a message in msg that names the file.
 */
#ifndef HG_TOOLS_TRAIN_DATA_H
#define HG_TOOLS_TRAIN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hetgrad.h>

#include "train_opts.h"

typedef struct data {
    size_t rows, features, classes;
    float *x;         /* rows x features, or NULL when csr holds the rows */
    hg_csr_dataset *csr; /* LIBSVM kept sparse (its labels, targets and classes moved
                            to the fields below), or NULL */
    int32_t *labels;
    float *targets;   /* linear regression: one target per row */
    int32_t *class_labels; /* classes entries: the label value of each class (not for
                              linear regression) */
} data;

/* Free what d owns and zero it. */
void data_free(data *d);

/* The built-in digits (1797 x 64, 10 classes), features scaled to [0, 1]. */
bool load_builtin(data *d, char *msg, size_t n);

/*
 * The format of a data file: --format (one of csv, libsvm, idx, npy: the parser checked
 * it), else from its name, a ".gz" after it ignored (the loaders detect gzip by content):
 * .npy: npy; .svm, .libsvm, .svmlight: LIBSVM; a labels file given: IDX; else CSV.  NULL
 * with a usage message when IDX or npy lacks its labels file (labels_opt names that
 * option).
 */
const char *data_format(const train_opts *o, const char *path, const char *labels,
                        const char *labels_opt, char *msg, size_t n);

/*
 * Load a data file in format fmt (data_format) with the loaders of hetgrad/data.h, for a
 * model of this kind.  LIBSVM stays sparse (d->csr, hetgrad/sparse.h) for the linear and
 * softmax models unless --dense.  schema (may be NULL): the features and classes the
 * file must have (a test file: its training data's, or a loaded model's).
 */
bool load_file(const train_opts *o, const char *path, const char *labels, const char *fmt,
               hg_model_kind kind, const hg_data_schema *schema, data *d, char *msg,
               size_t n);

/* load_file with LIBSVM densified (d->csr stays NULL): for the device forward pass
   (tools/predict.c), which reads dense rows. */
bool load_dense_file(const train_opts *o, const char *path, const char *labels,
                     const char *fmt, hg_model_kind kind, const hg_data_schema *schema,
                     data *d, char *msg, size_t n);

#endif /* HG_TOOLS_TRAIN_DATA_H */
