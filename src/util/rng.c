/* SPDX-License-Identifier: MIT */
/*
 * rng.c - PCG32 (hetgrad/train.h) and the public FNV-1a 64: the one generator
 * and the one checksum of the training code, so that a seed and a file mean
 * the same everywhere.
 *
 * Pure: no OpenCL calls, no global state.
 */
#include "internal.h"

/* FNV-1a 64 continued from h over n bytes (internal.h). */
uint64_t hg__fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t hg_fnv1a64(const void *data, size_t n)
{
    return hg__fnv1a(HG__FNV_INIT, data, n);
}

uint32_t hg_rng_next(hg_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ull + r->inc;
    uint32_t xs = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xs >> rot) | (xs << ((32 - rot) & 31));
}

void hg_rng_seed(hg_rng *r, uint64_t seed)
{
    r->state = 0;
    r->inc = (seed << 1u) | 1u;
    hg_rng_next(r);
    r->state += seed;
    hg_rng_next(r);
}

size_t hg_rng_below(hg_rng *r, size_t n)
{
    return (size_t)(((uint64_t)hg_rng_next(r) * n) >> 32);
}

void hg_rng_shuffle(hg_rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = hg_rng_below(r, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
