/* SPDX-License-Identifier: MIT */
/*
 * partition.h - split rows across devices in proportion to weights (pure, no OpenCL).
 *
 * The algorithm, the rounding rule and the deviation bound are described at the top of
 * partition.c.  In short: device i's ideal share is rows * w_i / sum(w), water-filled under
 * max_rows; the integer counts are handed out one granule at a time to the device furthest
 * below its ideal, and the few rows too small for anyone's granule go to one device.
 */
#ifndef HG_PARTITION_H
#define HG_PARTITION_H

#include <stddef.h>

#include "internal.h"

/* Rows [first, first + count) of a split. */
typedef struct hg__range {
    size_t first;
    size_t count;
} hg__range;

/*
 * Split `rows` rows among ndev devices in proportion to weight[i].
 *
 *   weight[i]       >= 0 and finite.  A device is usable when weight[i] > 0 and its cap is
 *                   > 0; unusable devices get 0 rows.
 *   granularity[i]  NULL means 1 for every device; otherwise >= 1.  Every count is a multiple
 *                   of its device's granularity except for the remainder (see partition.c):
 *                   fewer rows than the granularity of any usable device with cap room for a
 *                   whole granule, all given to the device furthest below its ideal share
 *                   among those with room for all of it (spread over several devices only
 *                   when caps leave no single device that room).
 *   max_rows[i]     NULL means no caps; SIZE_MAX means uncapped.  count <= max_rows[i].
 *
 * On success out[i] holds consecutive ranges in device order starting at row 0 whose counts
 * sum to rows exactly.  out is written only on success.  The result depends only on the
 * arguments.
 *
 * Fails (message names the device or the numbers involved) with
 *   HG_INVALID_ARGUMENT  ndev == 0 while rows > 0; weight or out NULL while ndev > 0; a
 *                        negative, NaN or infinite weight; a granularity of 0; rows > 0 and
 *                        no usable device (all weights 0, or every weighted device capped
 *                        at 0);
 *   HG_RANGE             the usable devices' caps add up to fewer than rows;
 *   HG_OUT_OF_MEMORY     scratch space (ndev doubles) could not be allocated.
 * rows == 0 succeeds with all counts 0 whatever the weights (after the checks above that do
 * not involve rows).
 */
hg_status hg__partition_split(size_t rows, const double *weight, size_t ndev,
                             const size_t *granularity, const size_t *max_rows,
                             hg__range *out, hg_error *err);

/*
 * The real-valued ideal shares hg__partition_split rounds: ideal[i] = rows * w_i / sum(w)
 * over usable devices, water-filled under max_rows (a device whose share would exceed its
 * cap gets exactly its cap and the excess is shared among the others in proportion to their
 * weights, until no share exceeds its cap).  Unusable devices get 0.  The shares add up to
 * rows up to floating-point rounding.  Same arguments and failures as hg__partition_split
 * (no granularity; HG_OUT_OF_MEMORY cannot happen); ideal is written only on success.
 */
hg_status hg__partition_ideal(size_t rows, const double *weight, size_t ndev,
                             const size_t *max_rows, double *ideal, hg_error *err);

#endif /* HG_PARTITION_H */
