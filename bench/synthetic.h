/* SPDX-License-Identifier: MIT */
/*
 * synthetic.h - the benchmarks' synthetic data (synthetic.c), so that every
 * benchmark that compares with another one computes on the same inputs.
 *
 * A fixed-seed LCG (Knuth's MMIX constants; the top 24 bits of the state make
 * a float in [0, 1)).  bench_gradient and bench_starpu both use it.
 */
#ifndef HG_BENCH_SYNTHETIC_H
#define HG_BENCH_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

/*
 * The benchmark data set, generated in this order from the seed "hetgrad1":
 * x (rows x features) uniform in [0, 1); targets (rows x outputs, may be
 * NULL: then they are still drawn, so that the labels stay the same) uniform
 * in [-1, 1); labels uniform in [0, classes).  The caller owns the arrays.
 */
void hg_bench_synth_data(size_t rows, size_t features, size_t outputs, size_t classes,
                         float *x, float *targets, int32_t *labels);

/*
 * n parameters uniform in [-0.05, 0.05] from the seed 0x5eed0000 + kind
 * (kind: the hg_model_kind value, so each model gets its own draw).
 */
void hg_bench_synth_params(unsigned kind, size_t n, float *params);

#endif /* HG_BENCH_SYNTHETIC_H */
