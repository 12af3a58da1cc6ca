/* SPDX-License-Identifier: MIT */
/*
 * engine_knobs.h - engine settings for tests and experiments only.  Not part
 * of the public API: hg__engine_create_knobs has hidden visibility, so only
 * code linked with the library's objects (the unit tests, through the static
 * hetgrad_internal library) can reach it.  Programs built on the installed
 * library use hg_engine_create().
 */
#ifndef HG_ENGINE_KNOBS_H
#define HG_ENGINE_KNOBS_H

#include <stdbool.h>

#include "hetgrad/engine.h"

typedef struct hg__engine_knobs {
    bool serial;        /* run the devices one after another in the calling thread
                           instead of all at once: Oclgrind's uninitialised-value
                           plugin crashes when its device is driven from a second
                           host thread */
    bool offline;       /* every device loads prebuilt binaries only, as if none had
                           a compiler (docs/programs.md) */
    bool store_programs; /* the program cache stores binaries for every device, also
                            where the driver caches programs itself (POCL: program.h),
                            so that a test can watch the cache on POCL */
    bool no_fission;    /* calibration never gives a CPU device a compute unit fewer
                           (fission.c), as HETGRAD_FISSION=off */
    bool keep_fission;  /* calibration keeps a fissioned device whatever the joint
                           steps measure, so a test can check what it computes */
    int views_verdict;  /* > 0: calibration replaces the device the list kept by each
                           other view of the same hardware that calibrates, < 0: by none,
                           whatever the two measure (duplicates.c), so a test can check
                           a view that wins and one that loses; 0: measured */
    bool views_close;   /* the views' first turns count as too close to call, so that
                           HG__DEDUP_ROUNDS_MAX rounds decide (duplicates.c), so a
                           test can watch the extra rounds */
    bool no_joint;      /* calibration does not run the devices together: every device
                           is planned on its model alone (as HETGRAD_JOINT=off), so a
                           test can watch what the solo models alone do */
    bool no_solo_guard; /* dynamic split: never fall back to the best device alone
                           when sharing measures slower (docs/engine.md), and joint
                           calibration excludes no device (it still fits their
                           co-run factors), so a test can watch shares move
                           between devices */
    const char *wait;   /* how the host waits for a device: "auto", "block" or
                           "poll" (devwait.h); NULL: HETGRAD_WAIT, else auto */
    bool no_shared_memory; /* every device copies the parameters, row indices and
                              records by commands, also where it could share them
                              with the host (shared_mem.h), as
                              HETGRAD_SHARED_MEMORY=off (tests: both give the same
                              bits) */
    bool refuse_svm;    /* tests: every SVM allocation counts as refused, so that a
                           device able to share takes the ordinary buffers
                           hg__shared_alloc falls back to (shared_mem.h) */
    const char *steal;  /* work stealing within a step (steal.h): "auto", "on" or
                           "off"; NULL: HETGRAD_STEAL, else auto */
    double steal_grain_ms; /* > 0: the smallest claim of work stealing, in predicted
                              ms, for every device (tests: steal on small data);
                              0: each device's own (round.c) */
    size_t gemm_kblock;    /* > 0: every device's GEMMs in calls whose block of B
                              (K rows of it) holds at most this many bytes, or 16
                              rows where fewer would (tests: 1 gives several
                              blocks on small layers); 0: each device's own
                              (gemm_call.c) */
    unsigned gemm_order;   /* 1: every GEMM on every device hands out its output
                              by block rows (each thread of a CPU device a share of
                              A's rows), 2: by block columns (a share of B's
                              columns; tests: both give the same bits); 0: by the
                              device and the shape (gemm_call.c) */
    unsigned gemm_pack;    /* 1: no GEMM reads its B packed in strips, 2: every
                              GEMM that can does (tests: both give the same bits,
                              also on Oclgrind); 0: by the device and the shape
                              (hg__gemm_packs) */
    unsigned first_wgrad;  /* 1: the small-batch MLP path takes the first layer's
                              weight gradient on the batch transposed first, 2: on
                              its rows in place (tests: both give the same bits);
                              0: by the device (mlp_small.c) */
    unsigned head_rows;    /* 1, 2, 4, 8 or 16: the rows a pass of the small-batch
                              MLP's head kernel on every device (mlp_small.cl's
                              HG_HR; tests: every value gives the same bits); 0:
                              each device's own (mlp_small.c) */
    unsigned fused_cols;   /* 16, 32 or 64: the rows of the fused kernels' column
                              blocks on every device (fused.cl's HG_RBB); 1: none;
                              0: each device's own (fused.c) */
    bool no_prefetch;      /* the fused kernels fetch no rows ahead (fused.cl's
                              HG_PREFETCH, on CPU devices) and gemm.cl's blocks no
                              lines of C (HG_PREFETCH_C; tests: both give the
                              same bits) */
    bool all_tiles;        /* every device is offered every tiled GEMM block,
                              also a CPU with AVX2's registers, which races two
                              (kchoice.c; tests: every block's bits on every
                              device) */
    bool small_on_oclgrind; /* Oclgrind is offered the small-batch MLP path too
                               (kchoice.c says why it is not), so that a test can
                               run its kernels under Oclgrind's bounds and race
                               checks */
    unsigned update_parts; /* > 0: a training step's optimizer update in this many
                              parts at once, the caller's and up to 3 device workers'
                              (as many as the engine has devices; tests: any number
                              gives the same bits); 0: by the model's size and the
                              host's CPUs (update.c) */
    double slow_probe_ms;  /* > 0: the first run that decides whether a job is too
                              short to race its kernels counts this much slower, as
                              one the machine slowed (profile.c), so that a test can
                              watch the second run decide */
} hg__engine_knobs;

/*
 * hg_engine_create() with knobs; knobs NULL means all false, which is exactly
 * hg_engine_create().  Same statuses and ownership.
 */
hg_status hg__engine_create_knobs(const hg_engine_options *opt, const hg__engine_knobs *knobs,
                                  const hg_model_desc *model, hg_engine **out, hg_error *err);

#endif /* HG_ENGINE_KNOBS_H */
