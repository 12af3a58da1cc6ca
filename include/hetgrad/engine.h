/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/engine.h - gradients on every kept device at once.
 *
 * An engine owns one OpenCL context and one in-order queue per device, the
 * compiled kernels, and the data set resident on the devices.  A step
 * broadcasts the parameters, lets every device compute the partial gradient
 * of its share of the rows (shares in proportion to the device weights, within
 * each device's memory), and sums the partial results on the host in a fixed
 * order, in double, divided by the step's total row count: the mean gradient
 * a single device would give.
 *
 * An engine is used from one thread at a time.  Several engines may be used
 * from several threads at once: calls into a platform that is not
 * thread-safe (Oclgrind) are serialised across the process, and CLBlast's
 * process-wide program cache is emptied when the last engine is destroyed
 * (docs/engine.md, "Threads and engines").
 */
#ifndef HETGRAD_ENGINE_H
#define HETGRAD_ENGINE_H

#include <stdbool.h>

#include "common.h"
#include "device.h"
#include "model.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_engine hg_engine;

/*
 * Which kernels compute the built-in models (docs/kernels.md).
 *
 * AUTO (the default, and zero) measures: hg_engine_calibrate() times every
 * candidate on each device -- CLBlast and hetgrad's own kernels in a few
 * shapes; not CLBlast on devices that compute on the host's cores (CPUs,
 * Oclgrind), where it measured 3 to 53 times slower -- and keeps the fastest one whose gradient is
 * right, per device; the choice is cached with the device's profile.  Before
 * calibration a CPU device starts on hetgrad's own kernels, and so does a
 * device without CLBlast among its candidates; any other device on CLBlast.
 */
typedef enum hg_gemm_backend {
    HG_GEMM_AUTO    = 0, /* measure, per device (default) */
    HG_GEMM_CLBLAST = 1, /* CLBlast's GEMMs and our element-wise kernels */
    HG_GEMM_NAIVE   = 2, /* hetgrad's plain kernel: one work-item per output element.
                            Slow; for devices CLBlast does not serve and for checking
                            our other kernels with Oclgrind's uninitialised-value
                            plugin, which CLBlast's GEMM kernels trip */
    HG_GEMM_OWN     = 3  /* hetgrad's own kernels: one-pass fused gradients for the
                            linear and softmax models, a register-tiled GEMM with
                            fused bias / ReLU epilogues for the MLP (the shape is
                            still chosen by calibration) */
} hg_gemm_backend;

/* Where a fault hook is asked whether to fail (hg_engine_options.fault_hook). */
typedef enum hg_fault_point {
    HG_FAULT_ENQUEUE = 0, /* before a device enqueues its share of a step */
    HG_FAULT_WAIT    = 1  /* after a batch's kernels ran, before its results are
                             read back */
} hg_fault_point;

/*
 * Fault injection, for drills (hetgrad-bench --drill) and tests: called by
 * each device's worker at each point of every step.  Return true to make
 * that device fail there as a real driver error would.  May sleep to simulate
 * a slow device.  Called from worker threads: it must be thread-safe.
 */
typedef bool (*hg_fault_hook)(void *user, size_t device, uint64_t step, hg_fault_point point);

/*
 * Options for creating an engine.  Always start from hg_engine_options_init(),
 * which sets struct_size; later versions only append fields, and the library
 * reads only the first struct_size bytes (defaults for the rest), so a program
 * built against older headers keeps working (docs/abi.md).
 *
 * The device options are held by pointer, not embedded: an embedded
 * hg_options would move every field after it whenever hg_options grows.  By
 * pointer, each struct carries its own struct_size and grows on its own.
 */
typedef struct hg_engine_options {
    size_t          struct_size;     /* sizeof(hg_engine_options) as the caller was
                                        compiled: set by hg_engine_options_init();
                                        0 (not initialised) is HG_INVALID_ARGUMENT */
    const hg_options *devices;       /* which devices (selection, de-duplication, log),
                                        read during hg_engine_create only; NULL: the
                                        defaults of hg_options_init() */
    size_t          device_mem_limit;/* bytes of data per device; 0 = what the device
                                        allows.  A device whose limit is below the
                                        data set holds a window of rows */
    hg_gemm_backend gemm;            /* default HG_GEMM_AUTO (0) */
    bool            deterministic;   /* same bits whatever the split and the devices
                                        (docs/kernels.md): rows are cut into fixed
                                        blocks of block_rows, each computed in a fixed
                                        order by hetgrad's own kernels, and the host
                                        adds the blocks in block order; the weights
                                        only decide which device computes which
                                        blocks.  Needs HG_GEMM_AUTO or HG_GEMM_OWN
                                        (or NAIVE for the MLP) */
    size_t          block_rows;      /* deterministic mode: rows per block: a power of
                                        two from 16 to 512 or a multiple of 512 up to
                                        65536; 0 = 4096.  Part of the result: the same
                                        block_rows gives the same bits.  A step's
                                        blocks are what the devices share, so a
                                        minibatch of B rows keeps n devices busy with
                                        block_rows <= B / n */
    const char     *cache_dir;       /* program cache directory; NULL: $HETGRAD_CACHE_DIR,
                                        else $XDG_CACHE_HOME/hetgrad, else
                                        ~/.cache/hetgrad.  Used only when owned by
                                        the user (or root) and writable by nobody
                                        else, as ssh's StrictModes; otherwise one
                                        warning and no cache (docs/programs.md) */
    bool            no_program_cache;/* compile every time, cache nothing */
    bool            no_profile_cache;/* calibrate every time, cache nothing */
    const char     *binary_dir;      /* prebuilt binaries for devices without an
                                        online compiler (docs/programs.md) */
    double          deadline_factor; /* a device still running this many times its
                                        predicted time (calibrated engines, at least
                                        50 ms) has failed: its rows are recomputed by
                                        the others and it is quarantined; 0 (default)
                                        turns deadlines off */
    hg_fault_hook   fault_hook;      /* NULL: none */
    void           *fault_user;      /* passed to fault_hook */
    /* Appended after 0.2.0. */
    size_t          batch_rows;      /* rows of one step the caller will compute (its
                                        minibatch); 0 = unknown.  Calibration then
                                        races the kernel candidates at the rows each
                                        device gets of such a step (its expected
                                        share, and the whole batch for a device
                                        alone) instead of at about 50 ms of rows, so
                                        the kernels kept are the fastest at that
                                        size; part of the profile cache key.  Any
                                        step size still works with any value */
    size_t          work_rows;       /* rows the caller expects to compute in all
                                        (steps x rows a step: epochs x training
                                        rows); 0 = unknown.  Where the whole job is
                                        predicted to take less than the least a
                                        race of the kernel candidates costs (60 ms
                                        a candidate, warm caches), a device keeps
                                        its default kernels, checked, unraced
                                        (docs/kernels.md, "A short job is not
                                        raced").  Not part of the profile cache
                                        key: a longer job races where such a
                                        profile was cached */
} hg_engine_options;

/*
 * Defaults: devices NULL (hg_options_init()'s defaults), no memory limit,
 * kernels chosen by measurement (HG_GEMM_AUTO), fast (not deterministic) mode,
 * the default program cache, no deadline, no fault hook, batch size unknown.
 * Fills the first size
 * bytes (zero past the fields this library knows) and sets struct_size = size;
 * call it through hg_engine_options_init(), which passes the size the caller
 * was compiled with.  NULL or a size below sizeof(size_t) is a no-op.
 */
HG_EXTERN void hg_engine_options_init_sized(hg_engine_options *opt, size_t size);

static inline void hg_engine_options_init(hg_engine_options *opt)
{
    hg_engine_options_init_sized(opt, sizeof *opt);
}

/*
 * Create an engine for model on every kept device: contexts, queues, kernels
 * (CLBlast's GEMM kernels are compiled on first use).  opt may be NULL (the
 * defaults).  Fails with HG_INVALID_ARGUMENT (bad model, bad options: a
 * struct_size of 0 or below the first released layout, in opt or in
 * *opt->devices, or non-zero fields past the ones this library knows),
 * HG_NO_DEVICE (nothing kept), HG_BUILD, HG_OPENCL, HG_OUT_OF_MEMORY; *out is
 * NULL then.
 */
HG_EXTERN hg_status hg_engine_create(const hg_engine_options *opt, const hg_model_desc *model,
                                     hg_engine **out, hg_error *err);

/* Release everything; NULL is a no-op.  Joins the engine's worker threads,
   waiting for one still inside a device that overran its deadline (as long
   as its driver keeps it).  The last engine of the process to be
   destroyed also empties CLBlast's program cache (CLBlastClearCache), so no
   other thread may be calling CLBlast directly meanwhile. */
HG_EXTERN void hg_engine_destroy(hg_engine *eng);

/* Devices the engine computes on (the kept devices, in list order). */
HG_EXTERN size_t hg_engine_device_count(const hg_engine *eng);
HG_EXTERN const hg_device_info *hg_engine_device(const hg_engine *eng, size_t i);

/*
 * Upload a data set: every device gets a full copy when it fits its memory
 * (one buffer at most CL_DEVICE_MAX_MEM_ALLOC_SIZE, and well within global
 * memory), otherwise a window of consecutive rows.  Replaces any earlier data.
 * The data are checked first: non-finite features or targets, labels out of
 * range and shape mismatches are HG_INVALID_ARGUMENT / HG_RANGE with the row
 * and column; the engine then keeps its previous data.  Each device's
 * kernels are checked on their first use in the process, before they compute
 * rows (in hg_engine_calibrate, or the first step that gives the device rows;
 * here for a device on CLBlast's path): their gradient on the first 64 rows it
 * holds against the double host reference; programs from the cache that fail
 * are rebuilt from source, a kernel wrong even so is replaced by another
 * candidate or its device quarantined.  A device that never gets rows is never
 * checked.  Also compiles CLBlast's kernels for the shapes the engine will use.
 */
HG_EXTERN hg_status hg_engine_set_data(hg_engine *eng, const hg_dataset_desc *data,
                                       hg_error *err);

/* Rows of device i's resident window: [*first, *first + *count). */
HG_EXTERN hg_status hg_engine_resident_rows(const hg_engine *eng, size_t i, size_t *first,
                                            size_t *count);

/*
 * Relative work weights, one per engine device (>= 0, finite, not all 0).
 * Default: equal.  A device with weight 0 gets no rows.
 */
HG_EXTERN hg_status hg_engine_set_weights(hg_engine *eng, const double *weights, size_t n,
                                          hg_error *err);

/*
 * One gradient step over rows [first, first + count) (range) or idx[0..count)
 * (a minibatch; rows may repeat).  params: hg_model_param_count() floats,
 * all finite.  grad (same length) receives the mean gradient and *loss (may be
 * NULL) the mean loss.  On failure grad is untouched and the engine stays
 * usable.
 */
HG_EXTERN hg_status hg_engine_gradient(hg_engine *eng, const float *params, size_t first,
                                       size_t count, float *grad, double *loss, hg_error *err);
HG_EXTERN hg_status hg_engine_gradient_rows(hg_engine *eng, const float *params,
                                            const size_t *idx, size_t count, float *grad,
                                            double *loss, hg_error *err);

/*
 * One training step: the gradient step above over rows [first, first + count)
 * or idx[0..count), then hg_optimizer_step(opt, params, gradient), the same
 * bits in params, in opt's state and in *loss as those two calls, without a
 * gradient array of the caller's.  When the step's partial results are one
 * record (one device computed the whole step in one batch), its mean is taken
 * a block at a time and applied while the block is in cache: one pass over the
 * parameters' memory fewer.  opt: created for the engine's model.  On failure
 * params and opt are untouched.
 */
HG_EXTERN hg_status hg_engine_step(hg_engine *eng, hg_optimizer *opt, float *params,
                                   size_t first, size_t count, double *loss, hg_error *err);
HG_EXTERN hg_status hg_engine_step_rows(hg_engine *eng, hg_optimizer *opt, float *params,
                                        const size_t *idx, size_t count, double *loss,
                                        hg_error *err);

/*
 * The forward pass on the devices (docs/engine.md, "Prediction and
 * evaluation"): data's rows (data->x; the caller's rows, not the resident data
 * set, which stays as it is) through the model with params (all finite),
 * split across the healthy devices as a step's rows are (the weights, or the
 * cost models after calibration).  A device that fails is quarantined and its
 * rows are recomputed by the others.  Not a step: hg_engine_last_step() and
 * deadlines are not involved; the fault hook is asked with the last step's
 * number.  Custom models have no forward pass (HG_INVALID_ARGUMENT).
 *
 * hg_engine_predict: classes (softmax, MLP; NULL for a linear model) receives
 * data->rows class indices, the most probable class of each row (the first
 * one on a tie); outputs (may be NULL, not both) receives data->rows x outputs
 * floats: the class probabilities (softmax, MLP) or the predicted values
 * (linear).  Targets and labels are not read.
 *
 * hg_engine_evaluate: *loss (may be NULL) receives the mean loss of
 * include/hetgrad/model.h over data's rows (needs data->labels or
 * data->targets), *accuracy (may be NULL, not both) the fraction of rows whose
 * most probable class is the label (NaN for a linear model).  The host adds
 * the rows' losses in double in row order: the same rows give the same bits
 * whatever the split.
 *
 * Failures: HG_INVALID_ARGUMENT (NULL, shape, non-finite parameters or
 * features or targets, nothing to return), HG_RANGE (a label out of range,
 * more than 2^32-1 rows), HG_NO_DEVICE (no healthy device left),
 * HG_OUT_OF_MEMORY, HG_OPENCL; the outputs are then unspecified.
 */
HG_EXTERN hg_status hg_engine_predict(hg_engine *eng, const float *params,
                                      const hg_dataset_desc *data, int32_t *classes,
                                      float *outputs, hg_error *err);
HG_EXTERN hg_status hg_engine_evaluate(hg_engine *eng, const float *params,
                                       const hg_dataset_desc *data, double *loss,
                                       double *accuracy, hg_error *err);

/* What one device did in the last step.  Fields may be appended in later versions. */
typedef struct hg_device_step {
    size_t rows;         /* rows it computed */
    size_t pieces;       /* row ranges (or gathered batches) it ran */
    double host_ms;      /* its worker's wall time: upload, compute, read back */
    double device_ms;    /* sum of its OpenCL events' execution times */
    double transfer_ms;  /* of which parameter upload and result read-back */
    size_t recovered_rows; /* rows it recomputed for a failed device */
    bool   failed;       /* it failed in this step (and is now quarantined) */
    double start_ms;     /* when its worker started, from the step's start (ms) */
    double end_ms;       /* when its worker finished, from the step's start (ms) */
} hg_device_step;

/*
 * Fault recovery.  A device whose enqueue or wait fails during a step, or
 * that cannot be set up when the engine is created, is quarantined: its rows
 * of that step are recomputed by the remaining devices within the same step
 * (the step's result is the same as without the fault, within the engine's
 * tolerance), and it gets no rows afterwards.  The step fails only when no
 * device is left.  True when device i is quarantined; *reason (may be NULL)
 * receives why (valid until the engine is destroyed).
 */
HG_EXTERN bool hg_engine_quarantined(const hg_engine *eng, size_t i, const char **reason);

/*
 * Where device i's model program came from: "source" (compiled), "cache"
 * (the program cache) or "prebuilt" (binary_dir); NULL out of range.  On
 * POCL's devices it is "source" on every run while POCL's own kernel cache is
 * on, unless HETGRAD_PROGRAM_CACHE=all: hetgrad then stores no binary for
 * them, and POCL finds the program in its cache (docs/programs.md).
 */
HG_EXTERN const char *hg_engine_program_origin(const hg_engine *eng, size_t i);

/*
 * What calibration decided about device fission for device i, and on which
 * figures (docs/engine.md#host-threads-and-device-fission): "" when the device
 * was not considered; e.g. "fissioned to 1 of 2 compute units: a joint step of
 * 65536 rows took 20.1 ms, against 23.4 ms whole" or "kept whole (2 compute
 * units): ...".  NULL out of range.  Valid until the next calibration or the
 * engine's destruction.
 */
HG_EXTERN const char *hg_engine_fission_note(const hg_engine *eng, size_t i);

/*
 * What calibration decided between device i and the other views of the same
 * hardware that the device list set aside (docs/engine.md#duplicate-runtimes):
 * "" when there were none to consider; e.g. "hg-1 replaces hg-0 (..., 2 compute
 * units), the same hardware: alone, a step of 65536 rows is predicted to take
 * 10.2 ms on hg-1, 14.9 ms on hg-0; hg-0 gets no rows" or "hg-0 kept over ...".
 * Several views, tried in list order: their notes joined by "; " (each names
 * the device that stayed at that trial).  NULL out of range.  Valid until the next
 * calibration or the engine's destruction.
 */
HG_EXTERN const char *hg_engine_duplicate_note(const hg_engine *eng, size_t i);

/*
 * Write every healthy device's compiled programs to dir in the prebuilt
 * layout (dir/<device name>/<label>.bin, docs/programs.md), for devices or
 * machines that must not compile.  Creates the directories.
 */
HG_EXTERN hg_status hg_engine_export_binaries(const hg_engine *eng, const char *dir,
                                              hg_error *err);

/*
 * A device's calibrated cost model for the current model and data set.
 * Fields may be appended in later versions.
 */
typedef struct hg_device_profile {
    bool   valid;       /* calibrated (hg_engine_calibrate) */
    double fixed_ms;    /* a: fixed cost of a step on this device (launches, transfers) */
    double ms_per_row;  /* b: cost of one more row */
    double rows_per_s;  /* 1000 / b */
    size_t samples;     /* timings kept */
    size_t rejected;    /* timings rejected as outliers */
    bool   from_cache;  /* read from the profile cache rather than measured;
                           false again once the first steps found it stale and
                           the device was measured again (hg_engine_calibrate) */
    char   kernel[48];  /* the kernel it computes with: "clblast", "naive",
                           "fused r8/b8/k2" (rows per forward / backward pass,
                           classes per pass), "tiled 16x16" (C block per
                           work-item), "custom"; set before calibration too */
    char   kernel_note[HG_ERROR_MESSAGE_MAX]; /* why: each candidate's measured
                           rows/s, or the rule that chose it */
    /* Appended after 0.2.0: joint calibration (docs/engine.md). */
    double corun_factor; /* its cost per row running beside the other devices,
                           over its cost alone (ms_per_row): steps are planned
                           with fixed_ms + corun_factor * ms_per_row * rows
                           (under HG_SPLIT_DYNAMIC the model shown is the
                           balancer's, which already includes it).
                           0: not measured (one device, a serial engine) */
    bool   excluded;    /* measured not to pay for itself: the devices were
                           faster without it, and steps planned on the models
                           (HG_SPLIT_MODEL, HG_SPLIT_DYNAMIC) give it no rows */
    char   excluded_why[256]; /* why, with the times measured; "" if kept */
    /* Appended after 0.2.0: the runtime's own cost (docs/engine.md). */
    double dispatch_floor_ms; /* one empty kernel's round trip on this device,
                           enqueue + wait, with the wait the steps use (the
                           median of 15, measured by hg_engine_calibrate): the
                           part of fixed_ms the runtime itself costs.
                           0: not measured */
} hg_device_profile;

/*
 * Calibrate every healthy device on the current model and data set: run the
 * real gradient at two batch sizes after a warm-up, with repeats, and fit
 * t(n) = a + b*n with robust statistics (docs/engine.md).  Profiles are cached
 * beside the program cache, keyed by platform, device, driver, workload,
 * kernel sources, the device's speed-related properties, the CPUs the process
 * may use and the driver's speed variables; a corrupt or stale entry, or one
 * whose kernel choice is not a candidate, cannot be built or computes a wrong
 * gradient, is recalibrated and rewritten (the device is not quarantined for
 * it).  A profile read from the cache is checked against the first 3 steps:
 * a device more than 25% off its prediction, also when timed alone, is
 * measured again between two steps and its entry rewritten.  Afterwards every
 * step is planned on these models: rows go where the step finishes soonest,
 * and a device whose fixed cost does not pay for itself gets none.  Needs
 * data (hg_engine_set_data); recalibrate after changing it.
 */
HG_EXTERN hg_status hg_engine_calibrate(hg_engine *eng, hg_error *err);

/*
 * Device i's current model (updated by dynamic rebalancing).  HG_RANGE for i
 * out of range, HG_INVALID_ARGUMENT for NULL or out_size too small.  Writes
 * out_size bytes at most (zeros past the fields this library knows): call it
 * through hg_engine_device_profile(), which passes sizeof *out.
 */
HG_EXTERN hg_status hg_engine_device_profile_sized(const hg_engine *eng, size_t i,
                                                   hg_device_profile *out, size_t out_size);

static inline hg_status hg_engine_device_profile(const hg_engine *eng, size_t i,
                                                 hg_device_profile *out)
{
    return hg_engine_device_profile_sized(eng, i, out, sizeof *out);
}

/* How a step's rows are split across the devices. */
typedef enum hg_split {
    HG_SPLIT_WEIGHTS = 0, /* in proportion to hg_engine_set_weights (the default
                             before calibration) */
    HG_SPLIT_MODEL   = 1, /* minimise the step's predicted time on the calibrated
                             cost models (the default after calibration) */
    HG_SPLIT_DYNAMIC = 2  /* as MODEL, and after every step each device's model
                             is updated from its measured time, with smoothing and
                             hysteresis, so the next step's rows follow (starts
                             again from the calibrated models when selected); a
                             step may also go whole to one device: where that
                             device measured alone beats sharing, or for two
                             steps now and then to measure it alone
                             (docs/engine.md, "Splits") */
} hg_split;

/*
 * Choose the split.  MODEL and DYNAMIC need hg_engine_calibrate; in every
 * mode a device with weight 0 or in quarantine gets no rows.
 */
HG_EXTERN hg_status hg_engine_set_split(hg_engine *eng, hg_split split, hg_error *err);

/* Number of steps so far in which a device failed and its rows were recovered. */
HG_EXTERN uint64_t hg_engine_recovered_steps(const hg_engine *eng);

/*
 * Device i's statistics of the last step.  HG_RANGE when i is out of range or
 * no step ran, HG_INVALID_ARGUMENT for NULL or out_size too small.  Writes
 * out_size bytes at most (zeros past the fields this library knows): call it
 * through hg_engine_last_step(), which passes sizeof *out.
 */
HG_EXTERN hg_status hg_engine_last_step_sized(const hg_engine *eng, size_t i,
                                              hg_device_step *out, size_t out_size);

static inline hg_status hg_engine_last_step(const hg_engine *eng, size_t i,
                                            hg_device_step *out)
{
    return hg_engine_last_step_sized(eng, i, out, sizeof *out);
}

/* Wall time of the last step, host side, including the reduction (and, for
   hg_engine_step, the optimizer's update) (ms). */
HG_EXTERN double hg_engine_last_step_ms(const hg_engine *eng);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_ENGINE_H */
