/*
 * engine_internal.h - the engine's internal state, shared by engine.c (API,
 * data, steps), plan.c (who computes which rows) and pipeline.c (what one
 * device enqueues for a batch of rows).
 */
#ifndef HG_ENGINE_INTERNAL_H
#define HG_ENGINE_INTERNAL_H

#include <pthread.h>

#include "clutil.h"
#include "hetgrad/engine.h"
#include "layers.h"
#include "partition.h"
#include "program.h"
#include "balance.h"
#include "costmodel.h"
#include "planner.h"

#define HG__MAX_LAYERS (HG_MAX_HIDDEN + 1)
#define HG__COLSUM_BLOCK 256u  /* rows per block of hg_colsum_partial */

/* ---- plan (plan.c): pure ------------------------------------------------ */

/* Rows one device computes in a step: ranges of global rows, or an index list. */
typedef struct hg__dev_plan {
    hg_range *pieces;     /* range steps: global row ranges, in order */
    size_t    npieces, cap_pieces;
    size_t   *idx;        /* index steps: global row indices */
    size_t    nidx;
    size_t    rows;       /* total rows */
} hg__dev_plan;

/* A device's resident rows, [lo, hi); full when it holds the whole data set. */
typedef struct hg__window {
    size_t lo, hi;
    bool   full;
} hg__window;

hg_status hg__plan_range(size_t first, size_t count, const double *weight, size_t ndev,
                         const hg__window *win, hg__dev_plan *out, hg_error *err);
hg_status hg__plan_rows(const size_t *idx, size_t count, const double *weight, size_t ndev,
                        const hg__window *win, hg__dev_plan *out, hg_error *err);
/*
 * Rows of a step each device can take: all (SIZE_MAX) with a full copy,
 * else those of [first, first + count) (idx NULL) or of idx[0..count) inside
 * its window.
 */
void hg__plan_caps(const hg__window *win, size_t ndev, size_t first, size_t count,
                   const size_t *idx, size_t *caps);
void hg__plan_reset(hg__dev_plan *p);
void hg__plan_free(hg__dev_plan *p);

/* ---- per-device state (pipeline.c) --------------------------------------- */

typedef struct hg__device {
    const hg_device_info *info;
    char              what[160];      /* "device \"name\" (id)" for messages */
    cl_context        ctx;
    cl_command_queue  queue;
    cl_program        prog;           /* cl/model.cl */
    cl_kernel         k_bias_act, k_linear_out, k_softmax_out, k_relu_backward,
                      k_colsum, k_finish, k_gather_f, k_gather_i, k_gemm;
    cl_program        custom_prog;
    cl_kernel         k_custom;
    size_t            custom_lsz;     /* local size for the custom kernel */
    bool              offline;        /* loads prebuilt binaries, never compiles */
    hg_cost_model     model;          /* calibrated cost model */
    bool              model_from_cache;
    hg__program_origin prog_origin;   /* where the model program came from */

    /* resident data */
    hg__window        win;
    cl_mem            x, y, labels;   /* win rows */

    /* parameters and results */
    cl_mem            params, grad;   /* P floats each */
    /* workspace for batches of up to cap_rows rows */
    size_t            cap_rows;       /* allocated */
    size_t            chunk_rows;     /* most rows run at once (memory bound) */
    cl_mem            act[HG__MAX_LAYERS]; /* layer outputs, cap_rows x out_l */
    cl_mem            pingpong[2];    /* backprop gradients, cap_rows x widest hidden */
    cl_mem            loss;           /* cap_rows */
    cl_mem            partial[HG__MAX_LAYERS]; /* blocks x (out_l + 1); custom: groups x (P+1) */
    cl_mem            xb, yb, lb, idxb; /* gathered batch */

    /* health */
    bool              quarantined;
    char              quarantine_reason[HG_ERROR_MESSAGE_MAX];

    /* per-step results, host side */
    float            *res;            /* pieces x res_stride floats */
    size_t            res_cap;        /* floats allocated */
    size_t            res_stride;
    size_t            npieces_run;
    size_t            run_index;      /* its position in the engine (fault hook) */
    hg_device_step    stats;

    /* events of the step, for timing */
    cl_event         *events;
    bool             *event_is_transfer;
    size_t            nevents, cap_events;
} hg__device;

/* One device's host thread in a step; lives as long as the engine. */
typedef struct hg__worker {
    struct hg_engine   *eng;
    size_t              i;
    const hg__dev_plan *plan;
    const float        *params;
    bool                append;
    hg_status           st;
    hg_error            err;
    pthread_t           thread;
    bool                started;      /* thread created, not joined */
    bool                done;         /* finished (under wait_lock) */
    bool                zombie;       /* overran its deadline; joined later */
    bool                overran;      /* the overrun was reported */
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
    pthread_mutex_t  clblast_lock;    /* CLBlast 1.5.3 is not thread-safe on first use */
    hg__logger       log;

    /* data set */
    size_t           rows;            /* 0: none */
    bool             has_data;

    /* plan of the current step */
    hg__dev_plan    *plan;
    hg__dev_plan    *recovery;        /* rows of failed devices, re-planned */
    double           last_ms;
    double           step_t0;         /* host clock at the step's start (ms) */
    bool             stepped;
    uint64_t         step;            /* steps run so far */
    uint64_t         recovered_steps;
    bool             warming;         /* inside set_data's warm-up: no fault hook */
    hg__worker      *workers;         /* ndev */
    pthread_mutex_t  wait_lock;       /* workers' done flags */
    pthread_cond_t   wait_cond;
    double           deadline_factor; /* 0: no deadline */
    hg__program_cache pcache;
    char            *cache_dir;       /* owned; NULL: no program cache */
    char            *profile_cache_dir; /* owned; NULL: no profile cache */
    hg_balancer     *balancer;        /* models after calibration */
    bool             calibrated;
    hg_split         split;
    bool             solo_guard;      /* dynamic: fall back to the best device alone */
    int              guard_over;      /* dynamic: slow shared steps in a row */
    int              guard_hold;      /* dynamic: steps left on the best device alone */
    char            *binary_dir;      /* owned copy of the option */
    hg_fault_hook    fault_hook;
    void            *fault_user;
};

/* Device setup and teardown (pipeline.c). */
hg_status hg__device_open(hg_engine *eng, hg__device *d, size_t list_index, hg_error *err);
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

/* Profiles (profile.c). */
hg_status hg__plan_counts(hg_engine *eng, size_t total, const size_t *caps, double *weights,
                          hg_error *err);
void hg__observe_step(hg_engine *eng);
/* Quarantine device i (engine.c). */
void hg__quarantine(hg_engine *eng, size_t i, const hg_error *why);

#endif /* HG_ENGINE_INTERNAL_H */
