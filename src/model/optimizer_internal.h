/* SPDX-License-Identifier: MIT */
/*
 * optimizer_internal.h - what the engine's training step (hg_engine_step_rows,
 * exec/engine.c) needs of hg_optimizer beyond the public API.
 */
#ifndef HG_OPTIMIZER_INTERNAL_H
#define HG_OPTIMIZER_INTERNAL_H

#include <stddef.h>

#include "hetgrad/train.h"

/*
 * hg_optimizer_step(o, params, grad) on a step's mean gradient given by what it is the
 * mean of, count rows: grad[i] = (float)((0.0 + (double)rec[i]) / count) from the
 * step's only record (rec, as hg__vec_mean1_f32 takes it), else (float)(sums[i] /
 * count) from the records' double sums (sums, as hg__vec_mean_f32).  The same bits in
 * params and o's state, without a gradient array: the mean is taken a block at a time,
 * each block applied while it is in cache.
 */
void hg__optimizer_step_mean(hg_optimizer *o, float *params, const float *rec,
                             const double *sums, double count);

/* The parameters o was created for. */
size_t hg__optimizer_count(const hg_optimizer *o);

#endif /* HG_OPTIMIZER_INTERNAL_H */
