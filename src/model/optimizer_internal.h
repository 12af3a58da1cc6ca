/* SPDX-License-Identifier: MIT */
/*
 * optimizer_internal.h - what the engine's training step (hg_engine_step_rows,
 * exec/engine.c) needs of hg_optimizer beyond the public API.
 */
#ifndef HG_OPTIMIZER_INTERNAL_H
#define HG_OPTIMIZER_INTERNAL_H

#include <stddef.h>

#include "hetgrad/train.h"
#include "hostvec.h"

/*
 * hg_optimizer_step(o, params, grad) in two parts, on a step's mean gradient given by
 * what it is the mean of, count rows: grad[i] = (float)((0.0 + (double)rec[i]) /
 * count) from the step's only record (rec, as hg__vec_mean1_f32 takes it), else
 * (float)(sums[i] / count) from the records' double sums (sums, as hg__vec_mean_f32).
 *
 * hg__optimizer_begin counts the step and gives its constants (*k); then
 * hg__optimizer_mean_range updates parameters [lo, hi) and their state.  Ranges that
 * cover [0, hg__optimizer_count(o)) once, in any order and on any threads at once (no
 * two share an element), give the bits of hg_optimizer_step: every element's update
 * depends on its own gradient and state only.  No gradient array: the mean is taken a
 * block at a time, each block applied while it is in cache.
 */
void hg__optimizer_begin(hg_optimizer *o, hg__adam_k *k);
void hg__optimizer_mean_range(hg_optimizer *o, const hg__adam_k *k, float *params,
                              const float *rec, const double *sums, double count, size_t lo,
                              size_t hi);

/* The parameters o was created for. */
size_t hg__optimizer_count(const hg_optimizer *o);

/* o's kind (SGD or Adam). */
hg_optimizer_kind hg__optimizer_kind(const hg_optimizer *o);

#endif /* HG_OPTIMIZER_INTERNAL_H */
