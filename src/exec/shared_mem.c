/* SPDX-License-Identifier: MIT */
/*
 * shared_mem.c - buffers the host reads and writes without a command.
 *
 * A training step on one device used to be four commands on POCL: the
 * parameters' write, the row indices' write, the gradient kernel and the
 * records' read.  On POCL's CPU devices each command wakes the device's
 * threads through a condition variable (tens of microseconds on a VM) and
 * costs the enqueuing thread as much again, while the two writes and the
 * read move 31 KB that the host could have put in place itself.  Where the
 * device's memory is the host's and it shares fine-grained SVM buffers
 * (OpenCL 2.0: CPU devices, integrated GPUs), these buffers are made on a
 * clSVMAlloc'd block (a buffer created with CL_MEM_USE_HOST_PTR on SVM
 * memory has that memory as its storage), and
 * - the host writes the parameters and a run's first index list into them
 *   directly, once the queue is idle (hg__queue_settle); an engine of one
 *   such device copies the parameters in while it checks them, one pass
 *   over them instead of two (hg__shared_step_target);
 * - the host reads a batch's records from its slot once the batch's last
 *   kernel has completed (readback.c), fine-grained SVM making the kernels'
 *   writes visible at that point.
 * A step is then its kernels alone.  Devices without SVM (Oclgrind: OpenCL
 * 1.2), discrete GPUs and HETGRAD_SHARED_MEMORY=off keep the copies.
 */
#include <string.h>

#include "platlock.h"
#include "shared_mem.h"

bool hg__shared_capable(const hg__device *d)
{
    if (!d->info->host_unified_memory)
        return false;
    cl_device_svm_capabilities caps = 0;
    cl_int rc = clGetDeviceInfo(d->cl_dev, CL_DEVICE_SVM_CAPABILITIES, sizeof caps, &caps,
                                NULL);
    return rc == CL_SUCCESS && (caps & CL_DEVICE_SVM_FINE_GRAIN_BUFFER);
}

void hg__shared_release(hg__device *d, cl_mem *m, void **host)
{
    hg__release_mem(m);
    if (*host)
        clSVMFree(d->ctx, *host);
    *host = NULL;
}

hg_status hg__shared_alloc(hg__device *d, cl_mem *m, void **host, size_t bytes,
                           const char *what, hg_error *err)
{
    hg__shared_release(d, m, host);
    if (!d->shared)
        return hg__alloc_mem(d, m, bytes, what, err);
    hg_status st = hg__alloc_size(d, &bytes, what, err);
    if (st != HG_OK)
        return st;
    /* A runtime that reports the capability but refuses the allocation or the
       buffer on it (an SVM pool exhausted) gets an ordinary buffer: *host NULL,
       and the callers copy by commands, as on a device without SVM. */
    *host = d->refuse_svm ? NULL
                          : clSVMAlloc(d->ctx, CL_MEM_READ_WRITE | CL_MEM_SVM_FINE_GRAIN_BUFFER,
                                       bytes, 0);
    if (!*host)
        return hg__alloc_mem(d, m, bytes, what, err);
    memset(*host, 0, bytes);
    cl_int rc = CL_SUCCESS;
    *m = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, *host, &rc);
    if (rc != CL_SUCCESS || !*m) {
        *m = NULL;
        clSVMFree(d->ctx, *host);
        *host = NULL;
        return hg__alloc_mem(d, m, bytes, what, err);
    }
    return HG_OK;
}

hg__device *hg__shared_step_target(hg_engine *eng)
{
    if (eng->ndev != 1 || eng->deadline_factor > 0 || (eng->workers && eng->workers[0].zombie))
        return NULL;
    hg__device *d = &eng->dev[0];
    if (!d->params_host || d->quarantined)
        return NULL;
    hg_error ignored; /* a queue that fails here fails the step's own upload too */
    hg__platform_enter(d->serial);
    hg_status st = hg__queue_settle(d, &ignored);
    hg__platform_leave(d->serial);
    return st == HG_OK ? d : NULL;
}
