/* SPDX-License-Identifier: MIT */
/*
 * kchoice_shapes.h - test helpers that name a device's fused kernel shapes
 * without knowing them: kchoice.c picks one of two shape lists by the
 * device's vector width (AVX-512 or not, among others), so a test that needs
 * "the first shape" or "a shape other than the first" asks the candidates.
 */
#ifndef HG_TEST_KCHOICE_SHAPES_H
#define HG_TEST_KCHOICE_SHAPES_H

#include <check.h>

#include "engine_internal.h"

/*
 * The n-th distinct fused shape (0: the first, the default before any
 * measurement) among device d's candidates in engine e, with slab kind s
 * and one-kernel flag one filled in; the engine's model must be linear or
 * softmax.  Fails the test when d has fewer than n + 1 fused shapes.
 */
static inline hg__kchoice test_fused_shape(const hg_engine *e, const hg__device *d, size_t n,
                                           unsigned s, unsigned one)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t nc = hg__kchoice_candidates(e, d, c), seen = 0;
    for (size_t k = 0; k < nc; k++) {
        if (c[k].path != HG__PATH_OWN || c[k].s != 0 || c[k].one != 0)
            continue;
        if (seen++ == n) {
            hg__kchoice r = c[k];
            r.s = s;
            r.one = one;
            return r;
        }
    }
    ck_abort_msg("%s has %zu fused shapes, not %zu", d->what, seen, n + 1);
    return c[0]; /* not reached */
}

#endif
