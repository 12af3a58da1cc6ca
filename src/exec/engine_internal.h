/* SPDX-License-Identifier: MIT */
/*
 * engine_internal.h - the engine's internal state, shared by engine.c (API,
 * data, steps), plan.c (who computes which rows) and pipeline.c (what one
 * device enqueues for a batch of rows).
 */
#ifndef HG_ENGINE_INTERNAL_H
#define HG_ENGINE_INTERNAL_H

#include <pthread.h>

#include "clutil.h"
#include "devwait.h"
#include "hetgrad/engine.h"
#include "layers.h"
#include "program.h"
#include "sched/partition.h"
#include "sched/sched.h"
#include "sched/corun.h"

#define HG__MAX_LAYERS (HG_MAX_HIDDEN + 1)
#define HG__COLSUM_BLOCK 256u  /* rows per block of hg_colsum_partial */
#define HG__COLSUM_GROUPS 4u   /* its blocks of 16 columns a work-item (HG_CS_GROUPS) */
#define HG__SLAB_MIN 512u      /* rows per work-item of hg_fused_grad: the least, and
                                  always in deterministic mode */
#define HG__SLAB_MAX 8192u     /* ... the most (fast mode; bounds float rounding) */
#define HG__DEFAULT_BLOCK_ROWS 4096u /* deterministic mode: rows per block */

/* ---- plan (plan.c): pure ------------------------------------------------ */

/* Rows one device computes in a step: ranges of global rows, or an index list. */
typedef struct hg__dev_plan {
    hg__range *pieces;     /* range steps: global row ranges, in order */
    size_t    npieces, cap_pieces;
    size_t   *idx;        /* index steps: global row indices */
    size_t    nidx, cap_idx;
    size_t    rows;       /* total rows */
    /*
     * Deterministic mode: the plan is a list of fixed blocks, each computed
     * as one record.  bkey: the block's global number (the host adds
     * records in key order); blen: its rows; bfirst: its first row (range
     * steps) or its first position in the step's index list (index steps,
     * whose idx then holds the blocks' rows one block after another).
     */
    size_t   *bkey, *bfirst, *blen;
    size_t    nblk, cap_blk;
} hg__dev_plan;

/* A block of a deterministic step: rows [first, first + count) (range
   steps) or positions [first, first + count) of the step's index list. */
typedef struct hg__block {
    size_t key, first, count;
} hg__block;

/* A device's resident rows, [lo, hi); full when it holds the whole data set. */
typedef struct hg__window {
    size_t lo, hi;
    bool   full;
} hg__window;

/*
 * Place a step's rows: device i computes counts[i] of them (the scheduler's
 * counts, sched/sched.h: they add up to the step's rows and each is within
 * hg__plan_caps' cap).  Range steps: rows [first, first + count); index
 * steps: idx[0..count).  out[i] receives device i's rows.  HG_INTERNAL when
 * the counts do not add up or exceed a cap; HG_OUT_OF_MEMORY.
 */
hg_status hg__plan_range(size_t first, size_t count, const size_t *counts, size_t ndev,
                         const hg__window *win, hg__dev_plan *out, hg_error *err);
hg_status hg__plan_rows(const size_t *idx, size_t count, const size_t *counts, size_t ndev,
                        const hg__window *win, hg__dev_plan *out, hg_error *err);
/*
 * Rows of a step each device can take: all (SIZE_MAX) with a full copy,
 * else those of [first, first + count) (idx NULL) or of idx[0..count) inside
 * its window.
 */
void hg__plan_caps(const hg__window *win, size_t ndev, size_t first, size_t count,
                   const size_t *idx, size_t *caps);
/*
 * Deterministic steps, in whole blocks.  hg__plan_block_caps: the blocks of
 * blk[0..nblk) each device holds all the rows of (idx: the step's index
 * list, NULL for range blocks), into caps[0..ndev); HG_INVALID_ARGUMENT when
 * some block is held by no device with usable[i].  hg__plan_blocks: device i
 * computes counts[i] blocks (the scheduler's counts, in blocks), each one it
 * holds; fails as hg__plan_range does.
 */
hg_status hg__plan_block_caps(const hg__block *blk, size_t nblk, const size_t *idx,
                              const bool *usable, size_t ndev, const hg__window *win,
                              size_t *caps, hg_error *err);
hg_status hg__plan_blocks(const hg__block *blk, size_t nblk, const size_t *idx,
                          const size_t *counts, size_t ndev, const hg__window *win,
                          hg__dev_plan *out, hg_error *err);
/* The blocks of a step: range [first, first + count) cut at multiples of
   block_rows; index steps: positions cut every block_rows. *out malloc'ed. */
hg_status hg__step_blocks(size_t first, size_t count, bool index, size_t block_rows,
                          hg__block **out, size_t *nblk, hg_error *err);
void hg__plan_reset(hg__dev_plan *p);
void hg__plan_free(hg__dev_plan *p);
/* Units of plan p, the sequence work stealing claims from (steal.h): its
   blocks (deterministic steps), else its index positions, else its rows. */
size_t hg__plan_units(const hg__dev_plan *p);
/*
 * Append units [a, b) of src (b <= hg__plan_units(src)) to dst, whose kind
 * (blocks, index list, ranges) is src's, or which is empty; false when out
 * of memory (dst then holds a prefix of them).
 */
bool hg__plan_append(hg__dev_plan *dst, const hg__dev_plan *src, size_t a, size_t b);
/*
 * Plan a step's rows onto the engine's devices into out[] (plan.c): the caps (the rows
 * each device holds, 0 for a device joint calibration excluded: hg__corun_caps), the
 * scheduler's counts for them (hg__sched_plan; a recovery: hg__sched_plan_recovery),
 * placed exactly as counted.  The rows: [first, first + count) (idx NULL) or
 * idx[0..count); in deterministic mode the blocks blk[0..nblk) (positions in idx when
 * idx is not NULL), counted in whole blocks.  HG_NO_DEVICE when every device with a
 * weight is quarantined; the scheduler's and hg__plan_range's failures.
 */
hg_status hg__plan_step(hg_engine *eng, bool recovery, size_t first, size_t count,
                        const size_t *idx, const hg__block *blk, size_t nblk,
                        hg__dev_plan *out, hg_error *err);

/* ---- kernel choice (kchoice.c) ------------------------------------------------ */

/* Who computes a device's part of a step. */
typedef enum hg__path {
    HG__PATH_CLBLAST = 0, /* CLBlast GEMMs + our element-wise kernels */
    HG__PATH_NAIVE   = 1, /* our plain GEMM (hg_gemm_naive) + element-wise kernels */
    HG__PATH_OWN     = 2, /* linear / softmax: the one-pass fused kernel (fused.cl);
                             MLP: the register-tiled GEMM (gemm.cl) with fused epilogues */
    HG__PATH_CUSTOM  = 3  /* the user's kernel */
} hg__path;

/* A kernel candidate: the path and its compile-time shape. */
typedef struct hg__kchoice {
    hg__path path;
    unsigned a, b, c;     /* fused: rows per forward pass, per backward pass, classes
                             per pass; tiled GEMM: rows x columns per work-item */
    unsigned s;           /* fused, fast mode: 0 the usual slabs (512 to 8192 rows,
                             about four per compute unit); 1 or 2: small-batch slabs,
                             that many per compute unit, of 16 rows or more
                             (hg__fused_slab_rows).  MLP (c == 0): 0 the tiled
                             path; 1 the small-batch path (mlp_small.c), its
                             forward GEMM tiled a x b */
    unsigned one;         /* fused: 1 the one-kernel variant (hg_fused_one: W^T in
                             local memory, the last slab adds the partials), 0 the
                             three kernels (prep, grad, finish) */
} hg__kchoice;

#define HG__MAX_CANDIDATES 16

/* "clblast", "naive", "fused r8/b8/k2", "tiled 16x16", "custom". */
void hg__kchoice_name(const hg__kchoice *k, char *buf, size_t n);

/* ---- a cached profile on probation (profile_check.c) ---------------------- */

#define HG__PROBATION_STEPS 3 /* steps a cached profile is checked against */

typedef struct hg__probation {
    bool   on;          /* the profile came from the cache and is not confirmed yet */
    size_t steps;       /* steps watched (the device had a weight in them) */
    size_t n;           /* of those, steps it computed rows in: ratio[0..n) */
    double ratio[HG__PROBATION_STEPS]; /* measured / predicted time of each */
} hg__probation;

/* ---- double-buffered read-back of records (readback.c) ------------------- */

/*
 * A device's records come back through two slots: batch k's kernels write
 * slot k % 2 on the device, and its records are read into the slot's host
 * buffer without blocking while batch k + 1 is enqueued.  The host waits for
 * a slot's read (its event) only when it needs those records (the end of the
 * device's run) or the slot again (batch k + 2), and then moves the records
 * into hg__device.res, in batch order.
 */
typedef struct hg__readback {
    cl_mem    all;        /* both slots in one buffer (readback.c says why) */
    cl_mem    dev[2];     /* the record slots on the device: sub-buffers of all,
                             cap_recs x (P + 1) floats each */
    float    *host[2];    /* host buffers they are read into, the same size; with
                             block, its halves (all's own memory) */
    char     *block;      /* devices with host-unified memory: all is created on
                             this block (CL_MEM_USE_HOST_PTR), so the kernels write
                             the records where the read leaves them and the read
                             copies nothing; NULL: all is the device's memory */
    bool      svm;        /* block is shared (shared_mem.h): no read is enqueued,
                             a slot's event is its batch's last command's */
    uint64_t  mark;       /* d->ncmds when the batch being enqueued began */
    bool      borrowed;   /* d->res is host[lent], not an allocation of its own */
    unsigned  lent;
    float    *spare;      /* while borrowed: d->res's own allocation */
    size_t    spare_cap;  /* its floats */
    size_t   *keys[2];    /* keys of the records pending in each (cap_recs each) */
    bool      keyed[2];   /* keys given (deterministic mode); else the records' order */
    size_t    nrec[2];    /* records pending in each slot; 0: none */
    cl_event  ev[2];      /* the pending read of each slot (owned); NULL: none */
    unsigned  next;       /* the slot the next batch writes */
} hg__readback;

/* ---- a step's events, for its timing (enqueue.c) ------------------------- */

typedef struct hg__event_log {
    cl_event *ev;         /* tracked events, owned until hg__collect_events */
    bool     *transfer;   /* ev[i] moved data (counts as transfer time) */
    size_t    n, cap;
} hg__event_log;

/* ---- per-device state (pipeline.c) --------------------------------------- */

typedef struct hg__device {
    const hg_device_info *info;
    pthread_mutex_t  *serial;         /* its platform's lock (platlock.h); NULL:
                                         the platform is thread-safe */
    size_t            li;             /* its index in the engine's device list */
    char              what[160];      /* "device \"name\" (id)" for messages */
    cl_device_id      cl_dev;         /* what ctx was made on: the list's device, or sub */
    cl_device_id      sub;            /* owned sub-device with fewer compute units
                                         (fission.c), released at close; NULL: none */
    cl_uint           sub_units;      /* its compute units; 0: no sub-device */
    cl_uint           float_width;    /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: picks
                                         the fused kernels' shapes (kchoice.c) */
    size_t            gemm_kblock;    /* the most bytes of B one GEMM call reads
                                         (hg__gemm_call splits K to keep it in a
                                         core's L2); 0: no limit */
    unsigned          first_wgrad;    /* the small-batch path's first weight gradient:
                                         1 on X^T, 2 on X in place (a knob); 0: by
                                         the device (hg__mlp_small_in_place) */
    unsigned          gemm_order;     /* 1: its GEMMs hand out C by block rows, 2: by
                                         block columns (a knob); 0: by the device and
                                         the shape (hg__gemm_by_columns) */
    unsigned          gemm_pack;      /* 1: no GEMM reads B packed, 2: every one that
                                         can (a knob); 0: by the device and the shape
                                         (hg__gemm_packs) */
    uint64_t          packs;          /* hg_pack_b launches so far (tests) */
    char              fission_note[256]; /* what calibration decided about fission
                                            for this device and why; "": not considered */
    char              dup_note[1024]; /* what calibration decided between this device
                                         and its set-aside duplicates (duplicates.c);
                                         "": none was considered */
    cl_context        ctx;
    cl_command_queue  queue;
    cl_program        prog;           /* cl/model.cl */
    cl_kernel         k_bias_act, k_linear_out, k_softmax_out, k_relu_backward,
                      k_colsum, k_finish, k_gather, k_gemm,
                      k_gather_t; /* the transposes of the GEMM paths (gemm_call.c) */
    /* the compute path of the current kernel choice (kchoice.c, path_ops.h) */
    hg__kchoice       kc;
    const struct hg__path_ops *ops;   /* its ops table; NULL before the first choice */
    void             *ps;             /* its own state (programs, kernels, private
                                         buffers), opaque outside its file; owned:
                                         released by hg__kchoice_release */
    char              kc_note[HG_ERROR_MESSAGE_MAX]; /* why this kernel (calibration) */
    bool              kc_measured;    /* chosen by timing the candidates (on this
                                         device: not another view's, kc_view) */
    const char       *kc_view;        /* the id of the view of the same hardware and
                                         compiler whose kernels (kc_view_choice)
                                         this device computes with, measured
                                         without a race, when its profile is not
                                         in the cache (duplicates.c); NULL: none */
    hg__kchoice       kc_view_choice;
    bool              defer_race;     /* its race waits until the views of its
                                         hardware with the same compiler are
                                         compared on its default kernels
                                         (duplicates.c); calibration only */
    size_t            kc_rows[2];     /* the row counts the last race timed at
                                         (hg__race_rows; [1] 0: one size) */
    bool              kc_checked;     /* the current kernels' gradient was checked against
                                         the host reference in this process (profile.c) */
    bool              kc_from_cache;  /* a program of the current choice came from the
                                         program cache */
    size_t            path_builds;    /* programs of kernel choices built (hg__path_build,
                                         from source or a cache): a race builds each
                                         candidate once (tests) */
    bool              rebuild;        /* build programs from source, replacing their
                                         cache entries (hg__program_cache.refresh) */
    bool              cache_suspect;  /* a cached binary computed a wrong gradient: its
                                         cached profile is not reused, calibration
                                         builds every candidate from source */
    bool              offline;        /* loads prebuilt binaries, never compiles */
    bool              defer_store;    /* a kernel race is on: programs compiled from
                                         source wait in pending, and only the kept
                                         candidate's are cached (profile.c) */
    hg__program_pending pending;      /* those programs (program.h) */
    hg__cost_model     model;          /* calibrated cost model */
    bool              model_from_cache; /* model read from the profile cache (false again
                                          once measured anew: profile_check.c) */
    hg__probation     probation;      /* checks of a cached model against the steps */
    hg__corun_dev     corun;          /* joint calibration (joint.c): its co-run factor on
                                         b, and whether it was measured not to pay for
                                         itself (then it gets no rows from the models) */
    hg__program_origin prog_origin;   /* where the model program came from */

    /* resident data */
    hg__window        win;
    cl_mem            x, y, labels;   /* win rows */
    /* the first rows of the window on the host, to check kernel candidates */
    float            *chk_x, *chk_y;
    int32_t          *chk_l;
    size_t            chk_n;

    /* parameters and results */
    cl_mem            params;         /* P floats */
    float            *params_host;    /* its memory, written by the host, where shared
                                         (shared_mem.h); NULL: written by a command */
    cl_uint          *idxb_host;      /* the same for idxb */
    bool              shared;         /* params, idxb and the record slots are shared
                                         buffers (shared_mem.h), fixed at open */
    bool              refuse_svm;     /* tests: its SVM allocations count as refused */
    bool              idle;           /* its queue has run every command: nothing
                                         enqueued since a clFinish (hg__queue_settle) */
    uint64_t          params_pre;     /* the step (hg_engine.step) whose parameters the
                                         step's call copied into params_host while
                                         checking them (hg__shared_step_target); 0:
                                         none, or overwritten since */
    uint64_t          precopied;      /* steps whose upload that copy saved (tests) */
    uint64_t          ncmds;          /* commands tracked since open (hg__track) */
    cl_event          last_ev;        /* the last of them (a reference of timing's) */
    cl_mem            grad;           /* the record slot the batch being enqueued writes:
                                         one of readback.dev (not owned) */
    size_t            cap_recs;       /* records of P + 1 floats per slot */
    hg__readback      readback;       /* double-buffered records (readback.c) */
    /* workspace for batches of up to cap_rows rows */
    size_t            cap_rows;       /* allocated */
    size_t            chunk_rows;     /* most rows run at once (memory bound) */
    cl_mem            act[HG__MAX_LAYERS]; /* layer outputs, cap_rows x out_l */
    cl_mem            pingpong[2];    /* backprop gradients, cap_rows x widest hidden */
    cl_mem            loss;           /* cap_rows */
    cl_mem            partial[HG__MAX_LAYERS]; /* blocks x (out_l + 1); custom: groups x (P+1) */
    cl_mem            xb, yb, lb, idxb; /* gathered batch */

    struct hg__sparse_dev *sp;        /* CSR data (sparse_exec.h); NULL: dense data */
    struct hg__fwd   *fwd;            /* hg_engine_predict's workspace (forward.c), made
                                         on first use; freed by hg__forward_release */

    /* health */
    bool              quarantined;
    char              quarantine_reason[HG_ERROR_MESSAGE_MAX];

    /* per-step results, host side */
    float            *res;            /* records x res_stride floats */
    size_t           *res_key;        /* deterministic mode: each record's block */
    size_t            res_cap;        /* floats allocated */
    size_t            res_stride;
    size_t            npieces_run;
    size_t            run_index;      /* its position in the engine (fault hook) */
    uint64_t          params_step;    /* the step (hg_engine.step) whose parameters its
                                         params buffer holds, 0: unknown (hg__upload_params) */
    hg_device_step    stats;
    uint64_t          steal_gen;      /* set by the round (round.c) for its next run: the
                                         generation of the round's work-stealing board,
                                         0: it runs its plan as planned */
    hg__dev_plan      claim;          /* its current claim of the board (steal.h) */

    hg__event_log     timing;         /* events of the step (enqueue.c) */

    /* waiting for the device (devwait.h) */
    hg__waiter        wait;           /* the engine's policy and this device's polls */
    double            run_due_ms;     /* host time (hg__now_ms) its run in progress is
                                         predicted to end (cost model); 0: unknown */
    double            dispatch_floor_ms; /* one empty kernel's round trip through
                                         wait, measured by calibration; 0: not yet */
} hg__device;

/* When the devices steal each other's work within a step (steal.h). */
typedef enum hg__steal_mode {
    HG__STEAL_AUTO, /* under the fixed plans (weights, cost models), not under the dynamic
                       split, which follows the devices from step to step itself */
    HG__STEAL_ON,   /* under every split */
    HG__STEAL_OFF,  /* never: every plan runs as counted */
} hg__steal_mode;

#define HG__UPDATE_SAMPLES 9 /* steps timed per setting in a trial (update.c) */

/* Whether a training step's update is split over idle workers: measured (update.c),
   for each optimizer kind apart. */
typedef struct hg__update_trials {
    uint64_t updates;     /* updates of this kind run so far */
    uint64_t next_trial;  /* the update that starts the next trial */
    size_t   parts;       /* parts outside a trial: 1 until a trial finds more faster;
                             0: no update of this kind yet */
    unsigned n[2];        /* a running trial's samples: [0] one part, [1] split */
    double   ms[2][HG__UPDATE_SAMPLES];
} hg__update_trials;

/* One device's part of a round (round.c): its job and its outcome. */
typedef struct hg__worker {
    struct hg_engine   *eng;
    size_t              i;
    const hg__dev_plan *plan;
    const float        *params;
    bool                append;
    hg_status           st;
    hg_error            err;
    bool                posted;       /* handed to the device's worker (workers.c),
                                         not yet seen finished */
    bool                zombie;       /* overran its deadline; its job still runs */
    bool                overran;      /* overran in this round; cleared once handled */
    hg_device_step      shown;        /* a zombie's statistics, for its step of failure
                                         (rows assigned, failed) and then zeros */
    double              deadline_ms;  /* 0: none */
    hg_error            overrun_err;
} hg__worker;

struct hg_engine {
    hg_device_list  *list;
    hg_model_desc    model;
    char            *custom_source, *custom_kernel; /* owned copies */
    hg__layer        layers[HG__MAX_LAYERS];
    size_t           nlayers;
    size_t           nparams;
    size_t           widest_hidden;
    hg__device      *dev;
    size_t           ndev;
    double          *weight;
    size_t           mem_limit;
    hg_gemm_backend  gemm;
    bool             serial;
    bool             det;             /* deterministic mode */
    size_t           block_rows;      /* deterministic mode: rows per block */
    size_t           det_slab;        /* ... rows per fused slab: min(512, block_rows) */
    bool             counted;         /* counted in by hg__clblast_engine_in */
    hg__logger       log;

    /* data set */
    size_t           rows;            /* 0: none */
    bool             has_data;
    bool             sparse;          /* CSR data (hg_engine_set_data_csr, sparse_exec.c) */
    size_t           sparse_nnz;      /* ... its non-zeros */

    /* plan of the current step */
    hg__dev_plan    *plan;
    hg__dev_plan    *recovery;        /* rows of failed devices, re-planned */
    double           last_ms;
    double           step_t0;         /* host clock at the step's start (ms) */
    bool             stepped;
    uint64_t         step;            /* steps run so far */
    double          *sums;            /* a step's gradient sums, nparams doubles, kept
                                         from step to step (run_step zeroes them);
                                         NULL until the first step */
    uint64_t         recovered_steps;
    bool             warming;         /* inside set_data's warm-up: no fault hook */
    hg__worker      *workers;         /* ndev: each device's part of the current round */
    struct hg__workers *pool;         /* ndev persistent threads (workers.c), started
                                         by the first round that needs them */
    double           deadline_factor; /* 0: no deadline */
    hg__steal_mode   steal_mode;      /* whether devices steal each other's work within
                                         a step's first round (steal.h; HETGRAD_STEAL) */
    struct hg__steal_board *steal;    /* its board; NULL with HG__STEAL_OFF */
    double           steal_grain_ms;  /* > 0: every device's smallest claim (a knob) */
    size_t           gemm_kblock;     /* > 0: every device's gemm_kblock (a knob);
                                         0: a CPU device's from host_l2 */
    size_t           host_l2;         /* the host's L2 in bytes (hostcache.h); 0:
                                         unknown */
    unsigned         first_wgrad;     /* > 0: every device's first_wgrad (a knob); 0:
                                         by the device */
    unsigned         gemm_order;      /* > 0: every device's gemm_order (a knob); 0:
                                         by the device and the shape */
    unsigned         gemm_pack;       /* > 0: every device's gemm_pack (a knob); 0: by
                                         the device and the shape */
    unsigned         head_rows;       /* > 0: the small-batch MLP head's rows a pass
                                         on every device (a knob); 0: by the device */
    unsigned         fused_cols;      /* > 0: the fused kernels' column blocks on every
                                         device, 1 for none (a knob); 0: by the device */
    bool             all_tiles;       /* every device offered every tiled GEMM block (a
                                         knob; kchoice.c) */
    bool             small_on_oclgrind; /* Oclgrind offered the small-batch MLP path
                                           (a knob; kchoice.c) */
    bool             no_prefetch;     /* the fused kernels fetch no rows ahead on CPU
                                         devices, nor gemm.cl's blocks their lines of
                                         C (a knob; fused.c, gemm_call.c) */
    unsigned         update_parts;    /* > 0: a training step's update in this many
                                         parts (a knob); 0: measured (update.c) */
    hg__update_trials upd[2];         /* the measured split of the updates (update.c):
                                         [0] SGD's, [1] Adam's */
    long             host_cpus;       /* CPUs this process may use (hostcache.h); -1:
                                         unknown */
    size_t           last_stolen;     /* units stolen in the last step's first round */
    hg__program_cache pcache;
    char            *cache_dir;       /* owned; NULL: no program cache */
    char            *profile_cache_dir; /* owned; NULL: no profile cache */
    hg__sched       *sched;           /* how many rows each device computes
                                         (sched/sched.h): weights, models, policy */
    bool             calibrated;
    size_t           corun_rows;      /* rows of the joint calibration's steps (0: none) */
    bool             corun_cached;    /* its result came from the profile cache */
    hg_split         split;
    bool             no_joint;        /* knob no_joint or HETGRAD_JOINT=off: no joint
                                         calibration (joint.c) */
    bool             keep_all;        /* tests (knob no_solo_guard): joint calibration
                                         excludes no device */
    bool             fission;         /* calibration may give a CPU device one compute
                                         unit fewer (fission.c); off: knob no_fission
                                         or HETGRAD_FISSION=off */
    bool             keep_fission;    /* tests: keep the sub-device whatever it measures */
    int              views_verdict;   /* tests: > 0 a duplicate view replaces the kept
                                         one, < 0 it does not, whatever the two
                                         measure (duplicates.c); 0: measured */
    bool             views_close;     /* tests: the views' first turns count as too
                                         close to call (duplicates.c) */
    double           slow_probe_ms;   /* tests: added to the short-job decision's first
                                         run (profile.c, keep_for_short_job) */
    char            *binary_dir;      /* owned copy of the option */
    hg_fault_hook    fault_hook;
    void            *fault_user;
    hg__wait_policy  wait_policy;     /* how the host waits for the devices (devwait.h):
                                         knob wait, else HETGRAD_WAIT, else auto */
    bool             refuse_svm;      /* tests (a knob): hg__shared_alloc falls back */
    bool             no_shared;       /* knob no_shared_memory or
                                         HETGRAD_SHARED_MEMORY=off: every device copies
                                         parameters, indices and records by commands
                                         (shared_mem.h) */
    size_t           batch_rows;      /* the caller's step size (0: unknown): the rows
                                         calibration races kernels at (kchoice_rows.c) */
    size_t           work_rows;       /* rows of the whole job (0: unknown): a short one
                                         is not raced (profile.c, hg__race_short_job) */
    /* tests: a kernel candidate to break (hg__kchoice_break) */
    char             broken_kernel[48];
    int              broken_how;
};

/* ---- enqueueing (enqueue.c) ---------------------------------------------- */

typedef struct hg__karg {
    size_t      size;
    const void *value;
} hg__karg;

#define HG_MEM(x) {sizeof(cl_mem), &(x)}
#define HG_U32(x) {sizeof(cl_uint), &(x)}
#define HG_LOCAL(bytes) {(bytes), NULL}

/* Keep ev for the step's timing (transfer: counts as transfer time); every
   command enqueued on d->queue comes here (d->idle, d->ncmds, d->last_ev). */
bool hg__track(hg__device *d, cl_event ev, bool transfer);
/* hg__track, HG_OUT_OF_MEMORY on failure. */
hg_status hg__tracked(hg__device *d, cl_event ev, bool transfer, hg_error *err);

/*
 * Make d's queue idle: clFinish unless nothing was enqueued since it last was
 * (d->idle, cleared by hg__track), so that the host may write a shared
 * buffer (shared_mem.h) a command could still be reading.
 */
hg_status hg__queue_settle(hg__device *d, hg_error *err);

/*
 * Enqueue params (eng->nparams floats) into d's params buffer, a tracked transfer
 * (where shared, shared_mem.h: copy them in once the queue is idle, no command),
 * unless this is a recovery round of the current step (append) and d already received
 * this step's parameters in an earlier round: each device gets the parameters once per
 * step.  HG_OK, or the failed enqueue's status (d->params_step then unknown).
 */
hg_status hg__upload_params(const hg_engine *eng, hg__device *d, const float *params,
                            bool append, hg_error *err);
/*
 * A training step's update: opt's step on params with the mean gradient of count rows
 * (rec: the step's only record, else sums: the records' double sums; as
 * hg__optimizer_mean_range), on the caller's thread and, for a large model, idle
 * device workers at once (update.c).  The bits of one thread.
 */
void hg__step_update(hg_engine *eng, hg_optimizer *opt, float *params, const float *rec,
                     const double *sums, double count);
/* Sum the tracked events' times into d->stats and release them. */
void hg__collect_events(hg__device *d);

/*
 * A device's part of a step, its statistics (enqueue.c; both the dense and the sparse
 * path).  hg__part_begin: at the start of the part, *t0 its start (hg__now_ms) and
 * *host_before the host time it already spent in this step (append: recovery rows added
 * to a part it ran: counted as recovered); false when the plan gives it no rows (nothing
 * to run).  hg__part_end: the tracked events collected and host_ms / end_ms set.
 */
bool hg__part_begin(hg_engine *eng, hg__device *d, const hg__dev_plan *plan, bool append,
                    double *t0, double *host_before);
void hg__part_end(hg_engine *eng, hg__device *d, double t0, double host_before);
/* Release the tracked events without timing them, and the log's arrays. */
void hg__events_free(hg__device *d);
hg_status hg__set_args(hg__device *d, cl_kernel k, const char *name, const hg__karg *args,
                       size_t n, hg_error *err);
/*
 * Enqueue a 1-D or 2-D kernel; lws NULL: a fixed local size (64, or 8 x 8),
 * global sizes rounded up to it (kernels check their bounds).
 */
hg_status hg__launch(hg__device *d, cl_kernel k, cl_uint dims, const size_t *gws,
                     const size_t *lws, const char *name, hg_error *err);
/* *bytes (0 becomes one float) within CL_DEVICE_MAX_MEM_ALLOC_SIZE, else
   HG_OUT_OF_MEMORY naming what: the check of every buffer d allocates. */
hg_status hg__alloc_size(const hg__device *d, size_t *bytes, const char *what, hg_error *err);
hg_status hg__alloc_mem(hg__device *d, cl_mem *m, size_t bytes, const char *what,
                        hg_error *err);
void hg__release_mem(cl_mem *m);
hg_status hg__make_kernel(hg__device *d, cl_program prog, const char *name, cl_kernel *k,
                          hg_error *err);

/* ---- hetgrad's own kernels (kchoice.c, fused.c, tiled.c) -------------------- */

/* Where a batch's rows are: a buffer of rows x inputs features and its targets,
   and the records it yields (deterministic mode: one per block). */
typedef struct hg__batch {
    cl_mem x, y, labels;
    size_t row;        /* first row of the batch in those buffers */
    size_t rows;
    size_t nrec;       /* records: blocks of block_rows rows, the last may be short */
    size_t block_rows;
    /* A path that reads rows in place (hg__path_ops.indexed): non-NULL when
       the batch's row r is row idx[r] - base of x / y / labels (row unused),
       an index step's rows; NULL: rows row, row + 1, ... */
    cl_mem idx;
    size_t base;
} hg__batch;

/* Candidates for device d (in the order they are tried), and the default (kernels
   kept unraced: before a race, for a short job, and for comparing views of one
   compiler; on a CPU, an MLP's small batch starts on the small-batch path). */
size_t hg__kchoice_candidates(const hg_engine *eng, const hg__device *d, hg__kchoice *out);
hg__kchoice hg__kchoice_default(const hg_engine *eng, const hg__device *d);
/* A hash of device d's candidate list (every field of each, in order): part of
   its profile's cache key, so that a profile raced among other candidates
   (another release's shapes) is measured again rather than reused. */
uint64_t hg__kchoice_signature(const hg_engine *eng, const hg__device *d);
/*
 * Whether device d computes on the host's cores (a CPU device, not Oclgrind)
 * with native float vectors 1 to 8 wide (AVX2: 16 registers of 8 floats;
 * SSE, NEON: 4), where kernels keep fewer vector accumulators than AVX-512's
 * 32 registers of 16 floats hold: the fused shape list (kchoice.c), the
 * fused kernels' column blocks (fused.c), the MLP head's rows a pass
 * (mlp_small.c).  OpenCL tells no register count; POCL sets the width from
 * the host's features.  narrow_cpu.c.
 */
bool hg__narrow_cpu(const hg__device *d);
/* Whether device d is a CPU device that computes on the host's cores for real: not
   Oclgrind, which reports the CPU type among others and simulates (narrow_cpu.c). */
bool hg__real_cpu(const hg__device *d);
/* Whether k is one of device d's candidates (every field: path and shape). */
bool hg__kchoice_valid(const hg_engine *eng, const hg__device *d, const hg__kchoice *k);
/* The start of the kc_note of kernels kept without a race (profile.c,
   duplicates.c): another view's, or the defaults while the views of the same
   hardware and compiler are compared.  In a cached profile too, they say the
   device did not race them. */
#define HG__NOTE_VIEWS_CHOICE "not raced here: the kernels of "
#define HG__NOTE_RACE_DEFERRED "not raced yet: "
/* ... or the defaults of a job too short to repay a race (hg__race_short_job):
   a cached profile with it is raced again for a longer job. */
#define HG__NOTE_SHORT_JOB "not raced: a short job: "
/* Whether kernel note note starts with one of the three above. */
bool hg__kchoice_unraced(const char *note);
/* Whether kernel note note starts with HG__NOTE_SHORT_JOB. */
bool hg__kchoice_short_job(const char *note);
/* The predicted time of the engine's whole job (hg_engine_options.work_rows, in steps
   of batch_rows) on cost model model; NAN when either is unknown (profile.c). */
double hg__job_predicted_ms(const hg_engine *eng, const hg__cost_model *model);
/* Device i, its kernels checked and its cost model fitted on them, keeps them unraced
   when that model predicts a job too short to repay a race (hg__race_short_job): its
   kc_note says so.  false, and nothing changed, otherwise (profile.c). */
bool hg__keep_for_short_job(hg_engine *eng, size_t i);
/* Whether x and y are the same choice (every field: path and shape). */
bool hg__kchoice_same(const hg__kchoice *x, const hg__kchoice *y);
/*
 * Build the programs and kernels of choice k on device d (list index li) and
 * make them the device's current ones, releasing those of the earlier choice
 * (and the workspace, which depends on the choice); d->kc_checked becomes
 * false.  All or nothing: on failure -- HG_INVALID_ARGUMENT when k is not
 * one of d's candidates (hg__kchoice_valid), HG_BUILD and others when its
 * programs cannot be built -- d keeps its current choice, kernels and
 * workspace untouched.
 */
hg_status hg__kchoice_apply(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                            hg_error *err);
void hg__kchoice_release(hg__device *d);
/*
 * A device's path set aside, to be put back without building it again: a
 * kernel race holds every candidate it built this way, so that switching
 * between them round after round compiles nothing (on POCL each rebuild
 * from source costs its preprocessor and a cache lookup, 70 to 100 ms under strace for a
 * fused program).  Empty when ops is NULL.
 */
typedef struct hg__kchoice_parked {
    const struct hg__path_ops *ops;
    void       *ps;
    hg__kchoice kc;
    bool        from_cache;
} hg__kchoice_parked;
/* Move d's current path (if any) into the empty *p, its workspace dropped;
   d is left with no path (d->ops NULL) until one is applied or put back. */
void hg__kchoice_park(hg__device *d, hg__kchoice_parked *p);
/* Make the non-empty *p d's current path, releasing d's current one (and
   the workspace); d->kc_checked becomes false; *p is left empty. */
void hg__kchoice_unpark(hg__device *d, hg__kchoice_parked *p);
/* Release what *p holds (nothing when empty); *p is left empty. */
void hg__kchoice_parked_release(hg__device *d, hg__kchoice_parked *p);
/*
 * End of a kernel race on d (d->defer_store set while it ran): the pending
 * programs (program.h) of the path d computes with are cached, the others
 * dropped; d->defer_store is cleared.  Fetching a binary from POCL compiles
 * every kernel of the program again (2.6 to 4.5 s for one gemm.cl tile), so
 * the losers' binaries are never fetched.
 */
void hg__kchoice_keep_programs(hg_engine *eng, hg__device *d);
/*
 * hg__kchoice_keep_programs on every device with programs pending: the
 * default choice's, built at hg_engine_create, wait so that a race that
 * follows need not have fetched their binaries; they are stored at the end
 * of hg_engine_calibrate, or before the first gradient step of an engine
 * that is not calibrated.  NULL eng: nothing.
 */
void hg__kchoice_store_pending(hg_engine *eng);
/*
 * Tests only: build candidate `name` ("fused r8/b8/k2") broken -- how 1: it
 * fails to build; how 2: it computes a wrong gradient -- to check that
 * calibration excludes it.  NULL name: none.
 */
void hg__kchoice_break(hg_engine *eng, const char *name, int how);
/* detmath.cl + model.cl (malloc'ed): the model program's source. */
char *hg__model_source(size_t *len);
/* Records of size P + 1 the fused path of device d's choice needs workspace
   for, per row cap. */
size_t hg__fused_max_slabs(const hg_engine *eng, const hg__device *d, size_t rows);
/* Rows per slab of the fused gradient on device d for a batch of rows rows. */
size_t hg__fused_slab_rows(const hg_engine *eng, const hg__device *d, size_t rows);
/* Rows per hg_colsum_partial block: 256, or a smaller deterministic block (epilogue.c). */
size_t hg__colsum_block(const hg_engine *eng);
/* hg_colsum_partial blocks of a batch of rows rows (epilogue.c). */
size_t hg__colsum_blocks(const hg_engine *eng, size_t rows);
/* hg_colsum_partial's work-items a block of cols columns: HG__COLSUM_GROUPS
   blocks of 16 columns each, and one for the loss (epilogue.c). */
size_t hg__colsum_items(size_t cols);
/*
 * Enqueue hg_colsum_finish on device d: the nb partial column sums of width
 * columns at partial + poff into d->grad at ooff (loss_index: the loss's
 * record slot, 0xffffffff for none) (epilogue.c).
 */
hg_status hg__finish_sums(hg__device *d, cl_mem partial, size_t poff, size_t nb,
                          size_t width, size_t ooff, cl_uint loss_index, hg_error *err);
/*
 * One forward layer on the tiled GEMM (tiled.c; d's current choice must be it):
 * C (m x n) = A (m x k) W + b, ReLU when relu, with W at w_off and b at b_off
 * of d->params.  The same bits as hg_gemm_naive followed by hg_bias_act.
 */
hg_status hg__tiled_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, cl_mem c,
                            size_t w_off, size_t b_off, bool relu, hg_error *err);
/* Whether d computes with the tiled path and its kernels are built (tiled.c). */
bool hg__tiled_ready(const hg__device *d);
/* As hg__tiled_forward and hg__tiled_ready, on the small-batch MLP path's GEMM
   (mlp_small.c: gemm.cl with the choice's tile, for any layer): the same bits. */
hg_status hg__mlp_small_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a,
                                cl_mem c, size_t w_off, size_t b_off, bool relu, hg_error *err);
bool hg__mlp_small_ready(const hg__device *d);
/* The GEMM a prediction on d runs (forward.c): "tiled", "mlp-small" or "naive". */
const char *hg__forward_gemm_name(const hg__device *d);
/* Whether the model fits the small-batch MLP path (mlp_small.c): an MLP with
   one hidden layer and at most HG__MLP_SMALL_MAX_CLASSES classes. */
#define HG__MLP_SMALL_MAX_CLASSES 64
bool hg__mlp_small_fits(const hg_engine *eng);
/* Whether d's small-batch path takes the first weight gradient on the batch's
   rows in place (hg_gemm_tn) rather than on X^T, a transpose kernel's output
   (mlp_small.c says when). */
bool hg__mlp_small_in_place(const hg__device *d);
/* HG_OK when head, hg_mlps_head of the program labelled label on d, takes this
   hetgrad's arguments; HG_BUILD (naming the label) for one of a prebuilt binary
   made by an older hetgrad, whose head took other arguments. */
hg_status hg__mlp_small_check_head(const hg__device *d, cl_kernel head, const char *label,
                                   hg_error *err);
/* Output layer (epilogue.c): Z -> dLoss/dZ in place and a loss per row. */
hg_status hg__run_output(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err);
/*
 * Bias gradient of layer li (column sums of G, rows x cols) and, for the
 * output layer, the loss, into each record of batch b (epilogue.c).
 */
hg_status hg__column_sums(hg_engine *eng, hg__device *d, const hg__batch *b, cl_mem g,
                          size_t cols, size_t li, hg_error *err);

/*
 * C (m x n) = A (m x k) B (k x n, at element boff), row-major, with the plain
 * hg_gemm_naive whatever d's path (a sequential fma chain per element: the same
 * bits on every device): the forward pass of hg_engine_predict (forward.c).
 * Enqueued, not waited for.
 */
hg_status hg__forward_gemm(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, cl_mem b,
                           size_t boff, cl_mem c, hg_error *err);

/* Release device d's forward workspace (forward.c); none is a no-op. */
void hg__forward_release(hg__device *d);

/* Device setup and teardown (pipeline.c).  These, hg__device_run and
   hg__kchoice_apply hold d->serial (platlock.h) while they work. */
hg_status hg__device_open(hg_engine *eng, hg__device *d, size_t list_index, hg_error *err);
/*
 * hg__device_open on sub, a sub-device of the list's device with units
 * compute units (fission.c), or (sub NULL) on the list's device itself; d
 * owns sub from the call on, even on failure (hg__device_close releases it).
 * start: the kernel choice to open with instead of the default, when it is
 * one of d's candidates (another view's or the whole device's choice: one
 * build instead of the default's and then that one's); NULL: the default.
 */
hg_status hg__device_open_sub(hg_engine *eng, hg__device *d, size_t list_index,
                              cl_device_id sub, cl_uint units, const hg__kchoice *start,
                              hg_error *err);
/*
 * Rebuild d's model program and the programs of its current kernel choice
 * from source, replacing their program cache entries (they computed a wrong
 * gradient).  All or nothing per program: on failure d keeps working
 * kernels.  Custom programs are not rebuilt (their gradient is not checked).
 */
hg_status hg__device_rebuild(hg_engine *eng, hg__device *d, hg_error *err);
void hg__device_close(hg__device *d);
/* Upload rows [lo, hi) of data as the resident window. */
hg_status hg__device_upload(hg_engine *eng, hg__device *d, const hg_dataset_desc *data,
                            size_t lo, size_t hi, hg_error *err);
/*
 * Run device d's plan for one step; results in d->res (see pipeline.c).
 * append: keep the records (and statistics) of an earlier run in this step
 * (recovery rounds).  index: the device's position, for the fault hook.
 */
hg_status hg__device_run(hg_engine *eng, hg__device *d, size_t index, const hg__dev_plan *plan,
                         const float *params, bool append, hg_error *err);
/* Floats of one piece's result record. */
size_t hg__result_stride(const hg_engine *eng);
/* Add one piece's result record to grad (double) and *loss, in a fixed order. */
void hg__accumulate(const hg_engine *eng, const float *rec, size_t rows, double *grad,
                    double *loss);

/*
 * CLBlast's process-wide state (clblast_guard.c).  Every CLBlast call is made
 * between hg__clblast_lock() and hg__clblast_unlock() (taken after any
 * platform lock, platlock.h).  An engine calls hg__clblast_engine_in() when it
 * is created and hg__clblast_engine_out() before it releases its devices; the
 * last one out clears CLBlast's program cache.  hg__clblast_engines(): the
 * engines counted in (tests).
 */
void hg__clblast_lock(void);
void hg__clblast_unlock(void);
void hg__clblast_engine_in(void);
void hg__clblast_engine_out(void);
size_t hg__clblast_engines(void);

/* How calibration races kernel candidates (race_rows.c). */
typedef struct hg__race {
    size_t rows[2];   /* row counts each candidate is timed at; [1] 0: one size */
    size_t warm;      /* rows of the warm-up run that starts each visit */
    int    reps;      /* timed runs per size and round in all: sweeps x per */
    int    per;       /* timed runs per size in one visit (their median counts) */
    int    sweeps;    /* sweeps a round: a visit to every candidate in turn */
    int    rounds;    /* rounds at most (hg__race_prune ends it sooner) */
} hg__race;
/*
 * Device i's expected rows of a step of batch rows: batch times its weight's
 * share among the devices that may take rows (not quarantined, weight > 0),
 * whole blocks in deterministic mode, at least 1 and at most batch.
 */
size_t hg__batch_share(const hg_engine *eng, size_t i, size_t batch);
/*
 * The race for device i (cap: the most rows it can run at once and holds;
 * per_row: a probe's ms per row): about 50 ms of rows when the engine's
 * batch_rows is 0; else its share of a batch and, when different, the whole
 * batch (each clipped to cap), with enough runs to fill ~20 ms a round (at most 25),
 * taken in sweeps of up to 3 runs a visit (race_rows.c).
 */
void hg__race_plan(const hg_engine *eng, size_t i, size_t cap, double per_row, hg__race *out);

/* Profiles (profile.c). */
/*
 * Check device i's current kernels on their first use in this process, before
 * they compute a step's rows (engine.c) or a trial's (fission.c): their
 * gradient on the check rows (the first rows of its window) against the
 * double host reference, as calibration checks every candidate.  Programs
 * from the cache that compute a wrong gradient are rebuilt from source; a
 * kernel wrong even so is dropped for another candidate (calibration's
 * choice).  HG_OK when the device has right kernels, or nothing to check
 * (already checked, no rows, custom models: no host reference);
 * HG_DEVICE_FAILED (or HG_BUILD) when no candidate is right: the caller
 * quarantines the device; HG_OUT_OF_MEMORY.
 */
hg_status hg__verify_kernels(hg_engine *eng, size_t i, hg_error *err);
/* Device d's kernels wait for their check (profile.c): not checked in this process, and
   check rows and a host reference to check them on (not CSR data, not a custom model). */
bool hg__check_pending(const hg_engine *eng, const hg__device *d);
/*
 * The checks cached profiles' kernels wait for (profile.c), in calibration:
 * every calibrated device not yet checked, or with with_rows only those that may
 * take rows (not excluded by joint calibration, weight > 0).  A device whose
 * kernels are wrong, or right only once rebuilt from source, is measured
 * again (its profile rewritten); one that fails is quarantined.  *changed
 * (may be NULL) is set when a device was measured again or quarantined.  No
 * fault injection meanwhile.  Fails only with HG_OUT_OF_MEMORY.
 */
hg_status hg__calibrate_pending(hg_engine *eng, bool with_rows, bool *changed, hg_error *err);
/*
 * Joint calibration (joint.c), after every device has its solo model: runs
 * the devices together on planned splits and sets each device's corun (a
 * factor on b, or excluded with a reason), from the profile cache when it
 * holds a result for exactly these devices and solo models.  A device that
 * fails meanwhile is quarantined and the others keep their solo models.
 * Fails only with HG_OUT_OF_MEMORY.
 */
hg_status hg__joint_calibrate(hg_engine *eng, hg_error *err);
/* The model device i is planned with: its solo model with its co-run factor. */
hg__cost_model hg__plan_model(const hg_engine *eng, size_t i);
/*
 * Run plans[i] on every device with rows, all at once (engine.c's step
 * rounds, no deadline, nothing appended); each worker's status in
 * eng->workers[i].st and its statistics in eng->dev[i].stats.
 */
void hg__run_round(hg_engine *eng, hg__dev_plan *plans, const float *params);
/*
 * A step's round (round.c): as hg__run_round, but append (keep the records
 * of devices without rows) and with deadlines when deadline is true.  A
 * device that overruns its deadline is marked (eng->workers[i].zombie,
 * .overran, .overrun_err) and left to finish on its own.  With steal (and
 * not append), devices steal each other's work within the round (steal.h)
 * when the engine allows it, and plans[] are then rewritten to the rows each
 * device was responsible for (a failed device's: every row to recompute).
 * HG_OUT_OF_MEMORY when that rewrite ran out of memory: the plans then do
 * not describe the round, and the step must fail.
 */
hg_status hg__step_round(hg_engine *eng, hg__dev_plan *plans, const float *params, bool append,
                         bool deadline, bool steal);
/* Clear the mark of stalled devices whose job has since returned (round.c). */
void hg__reap_stalled(hg_engine *eng);
/* Worker threads the engine has created so far (tests; round.c). */
size_t hg__worker_threads(const hg_engine *eng);
/*
 * Measure device i's cost model again, as calibration does (with the kernel
 * it computes with), into *model; the device's own model is not touched.  No
 * fault injection meanwhile.  Fails with HG_OUT_OF_MEMORY, or a device
 * failure (the caller quarantines it).  Overwrites d->stats.
 */
/*
 * Device i's description in the scheduler from the engine's state (health.c): its
 * planning model is its co-run model (hg__corun_model: its model alone where joint
 * calibration did not run), its model alone the solo guard's reference; its weight and
 * exclusion are kept.  Fails as hg__sched_set_device does.
 */
hg_status hg__sched_push_model(hg_engine *eng, size_t i, hg_error *err);
/*
 * Joint calibration's subset (health.c): under the model and dynamic splits, a device it
 * excluded (d->corun.excluded) may not take rows (caps[i] = 0) while a device it kept,
 * not quarantined and of weight > 0, may (caps[i] > 0); when none of those can, the excluded devices take
 * the rows (a kept device failed, or holds none of them).  The weights split is the
 * user's: caps unchanged.
 */
void hg__corun_caps(const hg_engine *eng, size_t *caps);
/*
 * Calibration's solo phase (profile.c): each healthy device's kernel choice and
 * cost model alone, or its cached profile; a device that cannot be measured is
 * quarantined.  *measured: some device was measured, not read from the cache.
 * Fails only with HG_OUT_OF_MEMORY.  hg_engine_calibrate (calibrate.c) runs it.
 */
hg_status hg__calibrate_solo(hg_engine *eng, const float *params, bool *measured,
                             hg_error *err);
/* The small parameters calibration and the gradient checks use (malloc'ed;
   NULL when out of memory; profile.c). */
float *hg__check_params(const hg_engine *eng);
hg_status hg__profile_remeasure(hg_engine *eng, size_t i, hg__cost_model *model,
                                hg_error *err);
/*
 * Device fission (fission.c), after the solo fits: when other devices take
 * rows beside a CPU device of two or more compute units, time the joint step
 * with it whole and with it opened as a sub-device of one unit fewer, and keep
 * the faster (hg__fission_pays).  params: calibration's parameters.  Every
 * failure of the trial is a note (eng->dev[i].fission_note), and the device
 * stays whole; HG_OUT_OF_MEMORY is the only error.
 */
hg_status hg__fission_calibrate(hg_engine *eng, const float *params, hg_error *err);
/*
 * Device i alone, as the solo phase calibrates it (profile.c): its kernel choice and
 * cost model, or (unless measure) its cached profile (*from_cache).  HG_OK; HG_OUT_OF_MEMORY; or a
 * device failure (d->model invalid; nothing is quarantined).
 */
hg_status hg__calibrate_one(hg_engine *eng, size_t i, const float *params, bool measure,
                            bool *from_cache, hg_error *err);
/*
 * Duplicate runtimes by measured speed (duplicates.c), after the solo fits: for each
 * device whose other views of the same hardware the device list set aside by compute
 * units or list order (not by the user's selection), each view is opened in turn in the
 * device's place, calibrated alone, and the one whose solo model predicts the shorter
 * step is kept; the other is closed.  eng->dev[i].dup_note says what was decided.  Every
 * failure of a trial is a note, and the device stays as it was; HG_OUT_OF_MEMORY is the
 * only error.
 */
hg_status hg__duplicates_calibrate(hg_engine *eng, const float *params, hg_error *err);
/*
 * Whether device i's race waits for the duplicates phase (d->defer_race):
 * every view of its hardware that phase will try has its compiler (the same
 * platform and driver), so they are compared on the same kernels and only
 * the view kept races.
 */
bool hg__duplicates_defer_race(const hg_engine *eng, size_t i);
/* Rows of data device d can hold, and rows per batch (bounded workspace; engine.c). */
void hg__device_capacity(const hg_engine *eng, const hg__device *d, size_t *rows_fit,
                         size_t *chunk);
/* Upload whole's resident window to nd (opened on the same engine), read back from
   whole (fission.c). */
hg_status hg__device_copy_window(hg_engine *eng, hg__device *whole, hg__device *nd,
                                 hg_error *err);
/* Write device i's model and kernel choice to the profile cache, if the
   engine has one (a failure is logged). */
void hg__profile_store(hg_engine *eng, size_t i);
/*
 * Median host time of device i alone on the first n rows of its window
 * (1 <= n <= its rows), over repeats runs (1 to 5) after one warm-up, with
 * calibration's parameters and no fault injection.  Overwrites d->stats.
 */
hg_status hg__profile_time(hg_engine *eng, size_t i, size_t n, int repeats, double *ms,
                           hg_error *err);
/*
 * hg__profile_time after device i is warm again after other work: first untimed runs
 * on the same rows while hg__rewarm_more says so (calib_rules.h: at least one, then
 * until about HG__REWARM_SPAN_MS have passed).
 */
hg_status hg__profile_time_warmed(hg_engine *eng, size_t i, size_t n, int repeats,
                                  double *ms, hg_error *err);
/*
 * Checking cached profiles against the first steps (profile_check.c).
 * Calibration (profile.c) puts every device whose model came from the cache
 * on probation.  observe: after a step's rounds, records each such
 * device's measured / predicted time.  settle: after the step (its result and
 * statistics final), judges the devices whose probation is over; one that
 * departs from its model by more than 25% is timed alone and, if it departs
 * there too, measured again; if that measurement departs too, it replaces the
 * model and the cache entry.  Failures are logged, never returned: the step
 * has succeeded.
 */
void hg__profile_check_observe(hg_engine *eng);
void hg__profile_check_settle(hg_engine *eng);
/* Device i's statistics of the last step (health.c): a stalled device's own
   are still being written by its thread, so it shows a snapshot. */
const hg_device_step *hg__device_stats(const hg_engine *eng, size_t i);
/* Quarantine device i: for good, with the reason, and excluded from the
   scheduler's plans (health.c). */
void hg__quarantine(hg_engine *eng, size_t i, const hg_error *why);

/* HG_DEVICE_FAILED when the fault hook says device index fails at point in this
   step (never while warming up); HG_OK otherwise (enqueue.c).  The message names the
   step ("in step N"), or, with during not NULL, says during what ("(predict)"). */
hg_status hg__fault_injected(const hg_engine *eng, const hg__device *d, size_t index,
                             hg_fault_point point, hg_error *err);
hg_status hg__fault_injected_during(const hg_engine *eng, const hg__device *d, size_t index,
                                    hg_fault_point point, const char *during, hg_error *err);

#endif /* HG_ENGINE_INTERNAL_H */

