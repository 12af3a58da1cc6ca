/* SPDX-License-Identifier: MIT */
/*
 * synthetic.c - the benchmarks' synthetic data (see synthetic.h).
 */
#include "synthetic.h"

typedef struct lcg {
    uint64_t s;
} lcg;

/* Knuth's MMIX LCG; the top 24 bits make a float in [0, 1). */
static float lcg_unit(lcg *g)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(g->s >> 40) / 16777216.0f;
}

void hg_bench_synth_data(size_t rows, size_t features, size_t outputs, size_t classes,
                         float *x, float *targets, int32_t *labels)
{
    lcg g = {0x6865746772616431ull}; /* "hetgrad1" */
    for (size_t i = 0; i < rows * features; i++)
        x[i] = lcg_unit(&g);
    for (size_t i = 0; i < rows * outputs; i++) {
        float t = lcg_unit(&g) * 2.0f - 1.0f;
        if (targets)
            targets[i] = t;
    }
    for (size_t i = 0; i < rows; i++) {
        int32_t c = (int32_t)(lcg_unit(&g) * (float)classes);
        labels[i] = c < (int32_t)classes ? c : (int32_t)classes - 1;
    }
}

void hg_bench_synth_params(unsigned kind, size_t n, float *params)
{
    lcg g = {0x5eed0000u + (uint64_t)kind};
    for (size_t i = 0; i < n; i++)
        params[i] = (lcg_unit(&g) * 2.0f - 1.0f) * 0.05f;
}
