/* SPDX-License-Identifier: MIT */
/*
 * oclgrind_canary.c - runs a kernel that reads one element past its buffer on
 * Oclgrind.  The test passes only when Oclgrind reports "Invalid read": proof
 * that the failure pattern applied to every device test really catches such
 * bugs (a test that cannot fail proves nothing).
 */
#include <CL/cl.h>
#include <stdio.h>

static const char *src =
    "__kernel void oob(__global const float *x, __global float *y)\n"
    "{ size_t i = get_global_id(0); y[i] = x[i + 1]; }\n";

int main(void)
{
    cl_platform_id p;
    cl_device_id d;
    cl_int rc;
    if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS ||
        clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS) {
        fprintf(stderr, "canary: no Oclgrind device\n");
        return 1;
    }
    cl_context ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &rc);
    cl_command_queue q = clCreateCommandQueue(ctx, d, 0, &rc);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &rc);
    if (clBuildProgram(prog, 1, &d, NULL, NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "canary: build failed\n");
        return 1;
    }
    cl_kernel k = clCreateKernel(prog, "oob", &rc);
    cl_mem x = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 16 * sizeof(float), NULL, &rc);
    cl_mem y = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 16 * sizeof(float), NULL, &rc);
    float zero[16] = {0};
    clEnqueueWriteBuffer(q, x, CL_TRUE, 0, sizeof zero, zero, 0, NULL, NULL);
    clSetKernelArg(k, 0, sizeof x, &x);
    clSetKernelArg(k, 1, sizeof y, &y);
    size_t gws = 16;
    rc = clEnqueueNDRangeKernel(q, k, 1, NULL, &gws, NULL, 0, NULL, NULL);
    clFinish(q);
    fflush(stdout);
    printf("canary: kernel enqueued (%d)\n", (int)rc);
    clReleaseMemObject(x);
    clReleaseMemObject(y);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    return 0;
}
