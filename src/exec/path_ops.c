/* SPDX-License-Identifier: MIT */
/*
 * path_ops.c - which ops table (path_ops.h) computes a kernel choice.  The
 * one place that maps hg__kchoice to a path: adding a path or a variant is a
 * row here and a table in its own file.
 */
#include "path_ops.h"

const hg__path_ops *hg__path_ops_for(const hg__kchoice *k)
{
    switch (k->path) {
    case HG__PATH_CLBLAST: return &hg__ops_clblast;
    case HG__PATH_NAIVE: return &hg__ops_naive;
    case HG__PATH_CUSTOM: return &hg__ops_custom;
    case HG__PATH_OWN:
        return k->c ? &hg__ops_fused : k->s ? &hg__ops_mlp_small : &hg__ops_tiled;
    }
    return &hg__ops_naive; /* not reached: hg__kchoice_valid admits no other path */
}
