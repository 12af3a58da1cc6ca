/* SPDX-License-Identifier: MIT */
/*
 * shared_mem.h - buffers the host reads and writes without a command
 * (shared_mem.c): the parameters, a run's row indices and the record slots
 * of a device whose memory is the host's and that shares fine-grained SVM
 * buffers.  Elsewhere the same calls make ordinary device buffers and the
 * callers enqueue copies, as before.
 */
#ifndef HG_SHARED_MEM_H
#define HG_SHARED_MEM_H

#include "engine_internal.h"

/*
 * Whether d can take shared buffers: host-unified memory and
 * CL_DEVICE_SVM_FINE_GRAIN_BUFFER (a device below OpenCL 2.0, whose query
 * fails, cannot).  Sets nothing; pipeline.c stores the answer in d->shared
 * unless the engine's shared_memory setting is off.
 */
bool hg__shared_capable(const hg__device *d);
/*
 * *m of bytes (at least one float), and *host its memory where d->shared:
 * a fine-grained SVM allocation that *m is created on (CL_MEM_USE_HOST_PTR),
 * so that the host's writes reach the kernels and the kernels' writes the
 * host at the commands' completion, with no copy.  Elsewhere, and where the
 * runtime refuses the SVM allocation or the buffer on it, *m is a device
 * buffer and *host NULL (the callers then copy by commands).  Releases what
 * *m and *host held first (the device must have finished with them).
 * HG_OUT_OF_MEMORY or HG_OPENCL naming what.
 */
hg_status hg__shared_alloc(hg__device *d, cl_mem *m, void **host, size_t bytes,
                           const char *what, hg_error *err);
/* Release *m and free *host (NULL or hg__shared_alloc's); both become NULL.
   The device must have finished every command that uses them. */
void hg__shared_release(hg__device *d, cl_mem *m, void **host);
/*
 * The device a step's call may copy its parameters into while it checks them
 * (one pass instead of a check and, later, a copy): the engine's only device,
 * where its parameters are shared, it is not quarantined and no deadline can
 * leave a worker using it; its queue made idle (under its platform lock).
 * NULL: none (then each device's upload copies, as with several devices).
 * The caller copies with hg__vec_copy_finite and, when every value is
 * finite, sets params_pre to the step's number (hg_engine.step + 1);
 * hg__upload_params of that step then copies nothing.
 */
hg__device *hg__shared_step_target(hg_engine *eng);

#endif /* HG_SHARED_MEM_H */
