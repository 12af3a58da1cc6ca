/* SPDX-License-Identifier: MIT */
/*
 * sparse.cl - gradients of the linear and softmax models on CSR rows
 * (hetgrad/sparse.h, src/exec/sparse_exec.c).  Prepended with detmath.cl.
 *
 * Parameters: W (F x K, row-major) then b (K); P = F*K + K, and a record is
 * P + 1 floats: the gradient sums then the loss sum.
 *
 * hg_sp_slab: one work-item per slab of `slab` consecutive rows of a wave.
 * For each of its rows in order it computes z = x W + b (the row's non-zeros
 * in column order), turns z into dLoss/dz and the row's loss, and adds
 * x^T dLoss/dz, dLoss/dz and the loss into its own partial record (zeroed
 * beforehand).  hg_sp_reduce then adds the wave's partial records in slab
 * order into the record (or onto it, for a later wave of the same record).
 * Every sum runs in a fixed order with FP_CONTRACT off and the detmath exp
 * and log, so a record has the same bits on every conformant device.
 */
#pragma OPENCL FP_CONTRACT OFF

__kernel void hg_sp_slab(__global const uint *row_ptr, __global const uint *cols,
                         __global const float *vals, __global const float *y,
                         __global const int *labels, __global const uint *list,
                         const uint use_list, const uint first, const uint n,
                         const uint slab, __global const float *params, const uint F,
                         const uint K, const uint softmax, __global float *zbuf,
                         __global float *part)
{
    uint s = get_global_id(0);
    uint r0 = s * slab;
    if (r0 >= n)
        return;
    uint r1 = min(r0 + slab, n);
    size_t WK = (size_t)F * K, P = WK + K;
    __global float *acc = part + (size_t)s * (P + 1);
    __global float *z = zbuf + (size_t)s * K;
    __global const float *b = params + WK;
    for (uint p = r0; p < r1; p++) {
        uint g = use_list ? list[p] : first + p; /* row in the resident window */
        uint e0 = row_ptr[g], e1 = row_ptr[g + 1];
        for (uint k = 0; k < K; k++)
            z[k] = b[k];
        for (uint e = e0; e < e1; e++) {
            float x = vals[e];
            __global const float *w = params + (size_t)cols[e] * K;
            for (uint k = 0; k < K; k++)
                z[k] = z[k] + x * w[k];
        }
        float loss = 0.0f;
        if (softmax) {
            float m = -INFINITY;
            for (uint k = 0; k < K; k++)
                m = z[k] > m ? z[k] : m;
            float sum = 0.0f;
            for (uint k = 0; k < K; k++)
                sum = sum + hg_exp1(z[k] - m);
            float lse = m + hg_log1(sum);
            int label = labels[g];
            loss = lse - z[label];
            for (uint k = 0; k < K; k++)
                z[k] = hg_exp1(z[k] - lse) - (k == (uint)label ? 1.0f : 0.0f);
        } else {
            for (uint k = 0; k < K; k++) {
                float d = z[k] - y[(size_t)g * K + k];
                z[k] = d;
                loss = loss + 0.5f * d * d;
            }
        }
        for (uint e = e0; e < e1; e++) {
            float x = vals[e];
            __global float *a = acc + (size_t)cols[e] * K;
            for (uint k = 0; k < K; k++)
                a[k] = a[k] + x * z[k];
        }
        for (uint k = 0; k < K; k++)
            acc[WK + k] = acc[WK + k] + z[k];
        acc[P] = acc[P] + loss;
    }
}

/* part[0..n) = 0 (a kernel, not clEnqueueFillBuffer: Oclgrind's
   uninitialised-value plugin does not see fills). */
__kernel void hg_sp_zero(__global float *part, const uint n)
{
    uint i = get_global_id(0);
    if (i < n)
        part[i] = 0.0f;
}

/* rec[i] = (add ? rec[i] : 0) + part[0][i] + part[1][i] + ... in slab order. */
__kernel void hg_sp_reduce(__global const float *part, const uint nslab, const uint P1,
                           __global float *rec, const uint add)
{
    uint i = get_global_id(0);
    if (i >= P1)
        return;
    float a = add ? rec[i] : 0.0f;
    for (uint s = 0; s < nslab; s++)
        a = a + part[(size_t)s * P1 + i];
    rec[i] = a;
}
