/* SPDX-License-Identifier: MIT */
/*
 * accumulate.c - a piece's result record (engine_internal.h): its size
 * (hg__result_stride) and its addition to the host's double sums (hg__accumulate).
 * Its own file so that the dense pipeline (pipeline.c) and the sparse one
 * (sparse_exec.c), which pipeline.c dispatches to, both use them without depending on
 * each other in a cycle (tests/link_graph.py).
 */
#include "engine_internal.h"
#include "hostvec.h"

size_t hg__result_stride(const hg_engine *eng)
{
    return eng->nparams + 1;
}

void hg__accumulate(const hg_engine *eng, const float *rec, size_t rows, double *grad,
                    double *loss)
{
    (void)rows;
    hg__vec_add_f32(grad, rec, eng->nparams); /* grad[i] += (double)rec[i], vectorised */
    *loss += (double)rec[eng->nparams];
}
