/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/checkpoint.h - parameter files and checkpoints: a model's
 * description, its classes and its parameters, and optionally the state of
 * the training loop (optimizer, epoch, step, generator, row order, early
 * stopping), in one portable, checksummed, little-endian format
 * (docs/checkpoint.md).
 *
 * A checkpoint without training state is saved as version 2 (HGPARAM2, what
 * hetgrad-train --save has written since 0.2), one with it as version 3
 * (HGPARAM3).  Versions 1, 2 and 3 are read.
 *
 * Saving is atomic: the bytes go to a temporary file beside the target, which
 * is flushed, synced and renamed over it, and the directory is synced; a
 * failure or a kill at any moment leaves the previous file as it was (a kill
 * may leave the temporary file, named .NAME.PID.N.tmp, behind).
 *
 * Failures return a status with a message in err that names the file.  No
 * global state; a checkpoint is not shared between threads while one of them
 * changes it.
 */
#ifndef HETGRAD_CHECKPOINT_H
#define HETGRAD_CHECKPOINT_H

#include "common.h"
#include "model.h"
#include "status.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_checkpoint hg_checkpoint;

/*
 * A checkpoint of a LINEAR, SOFTMAX or MLP model, holding copies of its
 * parameters (hg_model_param_count floats, finite) and its classes: the label
 * value of each output for SOFTMAX and MLP (distinct; NULL: 0, 1, ...,
 * outputs - 1), ignored for LINEAR.  No training state yet.
 * HG_INVALID_ARGUMENT (NULL, invalid or CUSTOM model, a non-finite parameter,
 * a repeated class), HG_OUT_OF_MEMORY.
 */
HG_EXTERN hg_status hg_checkpoint_create(const hg_model_desc *model, const float *params,
                                         const int32_t *classes, hg_checkpoint **out,
                                         hg_error *err);

HG_EXTERN void hg_checkpoint_destroy(hg_checkpoint *ck);

/*
 * Record the state of a training loop (it is then saved as version 3): the
 * optimizer's options, steps and state (copied now), the epochs done, the
 * generator after them, the row order the loop shuffles (norder values, each
 * below 2^63; NULL with 0 for none), and early stopping's best validation
 * loss (NAN: none yet) with the epochs since it improved.  The optimizer must
 * belong to the checkpoint's model.  HG_INVALID_ARGUMENT, HG_OUT_OF_MEMORY;
 * on failure the checkpoint is unchanged.
 */
HG_EXTERN hg_status hg_checkpoint_set_training(hg_checkpoint *ck, const hg_optimizer *opt,
                                               uint64_t epoch, const hg_rng *rng,
                                               const size_t *order, size_t norder,
                                               double best_loss, uint64_t since_best,
                                               hg_error *err);

/* Save atomically (see above).  An existing target keeps its permission
   bits; a new one gets 0666 less the umask.  HG_INVALID_ARGUMENT, HG_IO. */
HG_EXTERN hg_status hg_checkpoint_save(const hg_checkpoint *ck, const char *path,
                                       hg_error *err);

/*
 * Whether a save to path can be carried out, without saving: the target
 * (through symbolic links) is absent or a regular file, and a file can be
 * created in its directory (one is created and removed).  A device
 * (/dev/full), a directory, a dangling link or a read-only directory fail
 * with HG_IO.
 */
HG_EXTERN hg_status hg_checkpoint_check_target(const char *path, hg_error *err);

/*
 * Read and check path whole: magic, header, classes, counts, checksum, finite
 * values, nothing after the checksum.  A short file is "truncated" with the
 * offset where it ends; sizes in the header never drive an allocation beyond
 * the file's size.  HG_INVALID_ARGUMENT (NULL), HG_IO (cannot read; a damaged
 * or foreign file), HG_OUT_OF_MEMORY.
 */
HG_EXTERN hg_status hg_checkpoint_load(const char *path, hg_checkpoint **out, hg_error *err);

/* ---- what a checkpoint holds (pointers live as long as ck) --------------- */

/* 1, 2 or 3 for a loaded file (the version it had); 2 or 3 for a created one
   (the version a save writes). */
HG_EXTERN unsigned hg_checkpoint_version(const hg_checkpoint *ck);

HG_EXTERN const hg_model_desc *hg_checkpoint_model(const hg_checkpoint *ck);

/* The parameters; *count (may be NULL) receives their number. */
HG_EXTERN const float *hg_checkpoint_params(const hg_checkpoint *ck, size_t *count);

/* The classes (model outputs values) of a SOFTMAX or MLP model, NULL for
   LINEAR; *recorded (may be NULL): whether the file recorded them (version 1
   does not, they are then 0, 1, ...). */
HG_EXTERN const int32_t *hg_checkpoint_classes(const hg_checkpoint *ck, bool *recorded);

/* Whether it holds training state (version 3). */
HG_EXTERN bool hg_checkpoint_has_training(const hg_checkpoint *ck);

/*
 * The training state: epochs done, optimizer steps, generator, row order
 * (*norder values; NULL when none), best validation loss and the epochs since
 * it.  Any output may be NULL.  HG_INVALID_ARGUMENT when there is none.
 */
HG_EXTERN hg_status hg_checkpoint_training(const hg_checkpoint *ck, uint64_t *epoch,
                                           uint64_t *steps, hg_rng *rng,
                                           const size_t **order, size_t *norder,
                                           double *best_loss, uint64_t *since_best,
                                           hg_error *err);

/*
 * A new optimizer with the checkpoint's options, steps and state, for its
 * model.  HG_INVALID_ARGUMENT when there is no training state.
 */
HG_EXTERN hg_status hg_checkpoint_optimizer(const hg_checkpoint *ck, hg_optimizer **out,
                                            hg_error *err);

/* ---- describing models (messages) ------------------------------------------ */

/* "softmax regression (64 inputs, 10 classes)", "MLP (64 inputs, hidden 32,16,
   10 classes)", "linear regression (2 inputs)" into buf (n bytes). */
HG_EXTERN void hg_model_describe(const hg_model_desc *m, char *buf, size_t n);

/* Whether a and b are the same LINEAR, SOFTMAX or MLP model (kind, inputs,
   outputs, hidden layers). */
HG_EXTERN bool hg_model_same(const hg_model_desc *a, const hg_model_desc *b);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_CHECKPOINT_H */
