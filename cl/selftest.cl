/* SPDX-License-Identifier: MIT */
/*
 * selftest.cl - hetgrad's device self-test (hg_device_selftest).
 *
 * Two small kernels that exercise what the gradient kernels rely on: global
 * loads and stores with a bounds check, local memory, barriers and a
 * work-group tree reduction.  Contraction is off so every conformant device
 * gives the same bits for the affine update.
 */
#pragma OPENCL FP_CONTRACT OFF

/* y[i] = a * x[i] + b for i < n; the global size may exceed n. */
__kernel void hg_selftest_affine(__global const float *x, __global float *y,
                                 const float a, const float b, const uint n)
{
    size_t i = get_global_id(0);
    if (i < n)
        y[i] = a * x[i] + b;
}

/*
 * partial[g] = sum of x[i] over the rows of work-group g (i < n).  The local
 * size must be a power of two; scratch holds one float per work-item.
 */
__kernel void hg_selftest_reduce(__global const float *x, __global float *partial,
                                 __local float *scratch, const uint n)
{
    size_t lid = get_local_id(0);
    size_t gid = get_global_id(0);
    size_t lsz = get_local_size(0);
    scratch[lid] = gid < n ? x[gid] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = lsz / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        partial[get_group_id(0)] = scratch[0];
}
