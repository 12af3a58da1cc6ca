/* SPDX-License-Identifier: MIT */
/*
 * param_file.h - hetgrad-train's parameter files (--save, --load; format in docs/train.md).
 *
 * A file holds a model's description, its classes (the label value of each output) and
 * its parameters, with a checksum.  Saving is atomic: the bytes go to a temporary file
 * beside the target, which is synced and renamed over it, and the directory is synced;
 * a failure or a kill at any moment leaves the previous file as it was (a kill may leave
 * the temporary file, named .NAME.PID.N.tmp, behind).
 *
 * Every function reports failure by returning false with a message in msg that names
 * the file.  No global state.
 */
#ifndef HG_TOOLS_PARAM_FILE_H
#define HG_TOOLS_PARAM_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hetgrad.h>

/* A parameter file read whole.  Free with param_file_free(). */
typedef struct param_file {
    unsigned      version;    /* 1 (HGPARAM1) or 2 (HGPARAM2) */
    hg_model_desc model;      /* kind, inputs, outputs, nhidden, hidden; valid */
    int32_t      *classes;    /* model.outputs label values (softmax, MLP), NULL for
                                 linear regression; owned */
    bool          classes_recorded; /* false for version 1, which does not record them:
                                       classes is then 0, 1, ..., outputs - 1 */
    float        *params;     /* count finite floats; owned */
    size_t        count;      /* hg_model_param_count(&model) */
} param_file;

/*
 * Read and check path whole: magic, header, classes, count, checksum, finite values,
 * nothing after the checksum.  A short file is "truncated" with the offset where it
 * ends; sizes in the header never drive an allocation beyond the file's size.
 */
bool param_file_read(const char *path, param_file *out, char *msg, size_t msgn);

void param_file_free(param_file *pf);

/*
 * Whether --save path can be carried out, checked before any training: the target
 * (through symbolic links) is absent or a regular file, and a file can be created in
 * its directory (one is created and removed).  A device (/dev/full), a directory, a
 * dangling link or a read-only directory fail here.
 */
bool param_file_check_target(const char *path, char *msg, size_t msgn);

/*
 * Save atomically (version 2).  classes: model->outputs label values, NULL for linear
 * regression.  An existing target keeps its permission bits; a new one gets 0666 less
 * the umask.
 */
bool param_file_write(const char *path, const hg_model_desc *model, const int32_t *classes,
                      const float *params, size_t count, char *msg, size_t msgn);

/* "softmax regression (64 inputs, 10 classes)", "MLP (64 inputs, hidden 32,16, 10
   classes)", "linear regression (2 inputs)". */
void param_file_describe(const hg_model_desc *m, char *buf, size_t n);

/* Whether a and b are the same model (kind, inputs, outputs, hidden layers). */
bool param_file_same_model(const hg_model_desc *a, const hg_model_desc *b);

/* The classes as "0, 1, ..., 9" (all of up to 12, else the first 8 and the last). */
void param_file_classes_text(const int32_t *classes, size_t n, char *buf, size_t bufn);

#endif /* HG_TOOLS_PARAM_FILE_H */
