/* SPDX-License-Identifier: MIT */
/*
 * context.c - the MPI layer's context: one engine per rank, the rank balancer, and the
 * global step (hetgrad/mpi.h).
 *
 * A step on every rank, with the same arguments everywhere:
 *   1. plan: the rank balancer (sched/balance.c over one affine model per rank) cuts the count
 *      rows into one consecutive piece per rank, in rank order; every rank computes the
 *      same plan from the same inputs (the initial models exchanged at creation, then the
 *      exchanged step times), and each record carries a hash of the plan its sender used,
 *      so a rank that planned differently is caught rather than silently double counting;
 *   2. compute: the rank's engine gives the mean gradient and loss of its piece, turned
 *      back into sums in double (mean * rows);
 *   3. exchange: every rank sends one record to every other rank (exchange.c):
 *        head    304 bytes: status, step number, rows, plan hash, loss sum, step time,
 *                a message (its error, when it failed)
 *        devices 40 bytes per device of the sender: rows, time, start, end, failed
 *        sums    8 P bytes: the gradient sums, double (the record exchange only)
 *   4. reduce, when every record says the step succeeded:
 *        sliced exchange (the default): reduce.c, an all-to-all of parameter slices
 *          (posted before the records' exchange, by every rank, so that it overlaps it),
 *          a rank-order sum of its slice on each rank and an allgather of the float slices;
 *        record exchange (HETGRAD_MPI_EXCHANGE=allgather): every rank adds the records'
 *          sums in rank order, in double, divides by the step's rows and rounds to float;
 *      both compute every element by the same operations on the same doubles
 *      (hg__rank_mean): the same bits on every rank, whichever exchange;
 *   5. rebalance: the balancer observes every rank's (rows, time).
 * A rank whose arguments are bad or whose engine fails still sends its record, with its
 * status, so every rank fails the step with that rank's message instead of waiting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "hetgrad/mpi.h"
#include "mpi_comm.h"

#define DEFAULT_TIMEOUT_S 120.0
#define UNCALIBRATED_ROWS_PER_S 1000.0 /* per device, for engines without profiles */
#define NAME_LEN 128                   /* bytes per device name in the creation exchange */
#define STEP_MSG 256
#define TAG_CREATE 11
#define TAG_NAMES 12
#define TAG_STEP 13
#define TAG_CHECK 14
#define EXCHANGE_ENV "HETGRAD_MPI_EXCHANGE"

/* How a step's gradient sums travel (docs/mpi.md); every rank must use the same. */
typedef enum exchange_kind {
    EXCHANGE_SLICES = 0,  /* "reduce-scatter" (default): reduce.c, O(P) bytes per rank */
    EXCHANGE_RECORDS = 1, /* "allgather": the sums in every record, (N - 1) 8 P per rank */
} exchange_kind;

static const char *const exchange_kinds[] = {"reduce-scatter", "allgather"};

/* Creation record, one per rank. */
typedef struct hello_rec {
    int32_t  status;
    uint32_t ndev;
    uint64_t nparams;
    uint64_t model_hash;
    uint32_t exchange; /* exchange_kind */
    uint32_t reserved;
    double   a_ms, b_ms;
    char     host[64];
    char     msg[HG_ERROR_MESSAGE_MAX];
} hello_rec;

/* Head of a step record (see the top of the file). */
typedef struct step_head {
    int32_t  status;
    uint32_t ndev;
    uint64_t step;
    uint64_t rows;
    uint64_t plan_hash;
    double   loss_sum;
    double   compute_ms;
    char     msg[STEP_MSG];
} step_head;

/* One device of a rank in a step record. */
typedef struct dev_rec {
    double rows, host_ms, start_ms, end_ms, failed;
} dev_rec;

struct hg_mpi {
    MPI_Comm          comm;     /* our duplicate, MPI_ERRORS_RETURN */
    int               rank, size;
    hg_engine        *eng;      /* not owned */
    size_t            nparams;
    hg_mpi_options    opt;
    hg__sched         *bal;      /* the scheduler (sched.h), one device per rank: DYNAMIC
                                    without the solo guard */
    hg_mpi_rank_info *info;     /* per rank */
    char            **names;    /* per rank: info[r].devices * NAME_LEN bytes */
    size_t           *rec_len;  /* per rank: bytes of its step record */
    unsigned char    *mine;     /* this rank's step record */
    unsigned char    *all;      /* every rank's step record, rank order */
    double           *sums;     /* record exchange: size x nparams sums, rank order */
    double           *loss_sum; /* per rank */
    size_t           *counts;   /* per rank: rows of the current step */
    double           *ms;       /* per rank: measured step time */
    float            *local;    /* this rank's engine result (mean over its rows) */
    exchange_kind     exchange; /* the same on every rank (checked at creation) */
    double           *my_sums;  /* sliced exchange: this rank's P gradient sums */
    hg__mpi_reduce    rd;       /* sliced exchange: its buffers */
    dev_rec          *devs;     /* last step's device records, every rank's, rank order */
    size_t           *dev_off;  /* per rank: index of its first device in devs */
    uint64_t          step;     /* steps tried so far (the same on every rank) */
    bool              stepped;  /* a step succeeded (devs valid) */
    bool              broken;   /* an exchange failed: MPI state unknown, every call fails */
    char              why[HG_ERROR_MESSAGE_MAX];
};

/* hg_mpi_options as first released (0.2.0) ends with no_rebalance. */
#define MPI_OPTIONS_MIN_SIZE HG__FIELD_END(hg_mpi_options, no_rebalance)

void hg_mpi_options_init_sized(hg_mpi_options *opt, size_t size)
{
    if (!hg__sized_init(opt, size))
        return;
    if (HG__SIZED_HAS(hg_mpi_options, timeout_s, size))
        opt->timeout_s = DEFAULT_TIMEOUT_S;
}

int hg_mpi_rank(const hg_mpi *ctx)
{
    return ctx ? ctx->rank : -1;
}

int hg_mpi_size(const hg_mpi *ctx)
{
    return ctx ? ctx->size : 0;
}

static uint64_t model_hash(const hg_model_desc *m)
{
    uint64_t v[4 + HG_MAX_HIDDEN] = {(uint64_t)m->kind, m->inputs, m->outputs, m->nhidden};
    for (size_t h = 0; h < m->nhidden && h < HG_MAX_HIDDEN; h++)
        v[4 + h] = m->hidden[h];
    uint64_t x = hg__mpi_fnv(v, sizeof v);
    if (m->kind == HG_MODEL_CUSTOM && m->custom_source)
        x ^= hg__mpi_fnv(m->custom_source, strlen(m->custom_source)) * 31u;
    return x;
}

/*
 * The exchange HETGRAD_MPI_EXCHANGE names into *out: unset or empty, the sliced one.
 * HG_INVALID_ARGUMENT for any other value.
 */
static hg_status exchange_from_env(uint32_t *out, hg_error *err)
{
    const char *v = getenv(EXCHANGE_ENV);
    *out = EXCHANGE_SLICES;
    if (!v || !*v)
        return HG_OK;
    for (uint32_t k = 0; k < sizeof exchange_kinds / sizeof *exchange_kinds; k++)
        if (!strcmp(v, exchange_kinds[k])) {
            *out = k;
            return HG_OK;
        }
    return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_mpi_create: %s=%.60s: expected "
                         "reduce-scatter (the default) or allgather", EXCHANGE_ENV, v);
}

static const char *exchange_name(uint32_t k)
{
    return k < sizeof exchange_kinds / sizeof *exchange_kinds ? exchange_kinds[k] : "unknown";
}

/*
 * This rank's creation record; a local failure (opt_err: the options could not be read,
 * or NULL) goes into the record, not the return.
 */
static void hello_fill(hello_rec *h, hg_engine *eng, const hg_model_desc *model,
                       const hg_mpi_options *opt, const hg_error *opt_err)
{
    hg_error e;
    hg_error_clear(&e);
    memset(h, 0, sizeof *h);
    hg__mpi_host(h->host, sizeof h->host);
    if (opt_err)
        hg__error_set(&e, opt_err->status, 0, "hg_mpi_create: %s", opt_err->message);
    else if (!eng || !model || !opt)
        hg__error_set(&e, HG_INVALID_ARGUMENT, 0, "hg_mpi_create: %s is NULL",
                      !eng ? "engine" : !model ? "model" : "options");
    else if (!isfinite(opt->timeout_s) || opt->timeout_s <= 0)
        hg__error_set(&e, HG_INVALID_ARGUMENT, 0,
                      "hg_mpi_create: timeout_s %g is not a positive number of seconds",
                      opt->timeout_s);
    else if (hg_model_validate(model, &e) == HG_OK) {
        size_t nd = hg_engine_device_count(eng);
        bool *valid = calloc(nd ? nd : 1, sizeof *valid);
        double *a = calloc(nd ? nd : 1, sizeof *a), *b = calloc(nd ? nd : 1, sizeof *b);
        if (!valid || !a || !b)
            hg__error_set(&e, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
        for (size_t i = 0; valid && a && b && i < nd; i++) {
            hg_device_profile p;
            bool q = hg_engine_quarantined(eng, i, NULL);
            if (hg_engine_device_profile(eng, i, &p) == HG_OK && p.valid && !q) {
                valid[i] = true;
                a[i] = p.fixed_ms;
                b[i] = p.ms_per_row;
            }
        }
        hg__cost_model cm;
        if (e.status == HG_OK && hg__rank_model(valid, a, b, nd, UNCALIBRATED_ROWS_PER_S, &cm,
                                                &e) == HG_OK) {
            h->ndev = (uint32_t)nd;
            h->a_ms = cm.a_ms;
            h->b_ms = cm.b_ms_per_row;
        }
        free(valid);
        free(a);
        free(b);
        h->nparams = hg_model_param_count(model);
        h->model_hash = model_hash(model);
    }
    if (e.status == HG_OK)
        exchange_from_env(&h->exchange, &e);
    h->status = (int32_t)e.status;
    if (e.status != HG_OK)
        snprintf(h->msg, sizeof h->msg, "%s", e.message);
}

void hg_mpi_destroy(hg_mpi *ctx)
{
    if (!ctx)
        return;
    if (!ctx->broken) {
        /* After a failed exchange MPI may still read or write these: they are left. */
        free(ctx->mine);
        free(ctx->all);
        free(ctx->my_sums);
        hg__mpi_reduce_free(&ctx->rd);
        if (ctx->comm != MPI_COMM_NULL)
            MPI_Comm_free(&ctx->comm);
    }
    hg__sched_destroy(ctx->bal);
    for (int r = 0; ctx->names && r < ctx->size; r++)
        free(ctx->names[r]);
    free(ctx->names);
    free(ctx->info);
    free(ctx->rec_len);
    free(ctx->sums);
    free(ctx->loss_sum);
    free(ctx->counts);
    free(ctx->ms);
    free(ctx->local);
    free(ctx->devs);
    free(ctx->dev_off);
    free(ctx);
}

/* Allocate the per-rank arrays once the ranks' records are known. */
static hg_status setup_arrays(hg_mpi *c, const hello_rec *all, hg_error *err)
{
    size_t n = (size_t)c->size, P = c->nparams, ndev_total = 0;
    bool records = c->exchange == EXCHANGE_RECORDS;
    for (size_t r = 0; r < n; r++)
        ndev_total += all[r].ndev;
    hg_error re;
    if (!records && hg__mpi_reduce_init(&c->rd, n, (size_t)c->rank, P, &re) != HG_OK)
        return hg__error_set(err, re.status, 0, "hg_mpi_create: %s", re.message);
    c->info = calloc(n, sizeof *c->info);
    c->names = calloc(n, sizeof *c->names);
    c->rec_len = calloc(n, sizeof *c->rec_len);
    /* The sums: every rank's (records) or this rank's own (slices). */
    c->sums = records ? calloc(n * P + 1, sizeof *c->sums) : NULL;
    c->my_sums = records ? NULL : calloc(P + 1, sizeof *c->my_sums);
    c->loss_sum = calloc(n, sizeof *c->loss_sum);
    c->counts = calloc(n, sizeof *c->counts);
    c->ms = calloc(n, sizeof *c->ms);
    c->local = calloc(P, sizeof *c->local);
    c->devs = calloc(ndev_total ? ndev_total : 1, sizeof *c->devs);
    c->dev_off = calloc(n, sizeof *c->dev_off);
    if (!c->info || !c->names || !c->rec_len || !(c->sums || c->my_sums) || !c->loss_sum ||
        !c->counts || !c->ms || !c->local || !c->devs || !c->dev_off)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory for %zu "
                             "ranks and %zu parameters", n, P);
    size_t total = 0, off = 0;
    for (size_t r = 0; r < n; r++) {
        c->rec_len[r] = sizeof(step_head) + all[r].ndev * sizeof(dev_rec) +
                        (records ? P * sizeof(double) : 0);
        total += c->rec_len[r];
        c->dev_off[r] = off;
        off += all[r].ndev;
        hg_mpi_rank_info *in = &c->info[r];
        snprintf(in->host, sizeof in->host, "%.63s", all[r].host);
        in->devices = all[r].ndev;
        in->fixed_ms = all[r].a_ms;
        in->rows_per_s = 1000.0 / all[r].b_ms;
        in->model_rows_per_s = in->rows_per_s;
    }
    c->mine = calloc(1, c->rec_len[c->rank]);
    c->all = calloc(1, total);
    if (!c->mine || !c->all)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory for the "
                             "step records (%zu bytes)", total);
    return HG_OK;
}

/* Exchange the device names (second creation exchange). */
static hg_status exchange_names(hg_mpi *c, hg_error *err)
{
    size_t n = (size_t)c->size, total = 0;
    size_t *len = calloc(n, sizeof *len);
    if (!len)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
    for (size_t r = 0; r < n; r++) {
        len[r] = c->info[r].devices * NAME_LEN;
        total += len[r];
    }
    size_t nd = c->info[c->rank].devices;
    char *mine = calloc(nd ? nd : 1, NAME_LEN);
    unsigned char *all = calloc(total ? total : 1, 1);
    if (!mine || !all) {
        free(len);
        free(mine);
        free(all);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
    }
    for (size_t i = 0; i < nd; i++)
        snprintf(mine + i * NAME_LEN, NAME_LEN, "%s", hg_engine_device(c->eng, i)->name);
    hg_status s = hg__mpi_exchange(c->comm, TAG_NAMES, mine, len, all, c->opt.timeout_s,
                                   "hg_mpi_create: device names", err);
    if (s != HG_OK) {
        free(len);
        c->broken = true;
        return s;
    }
    size_t off = 0;
    for (size_t r = 0; r < n && s == HG_OK; r++) {
        c->names[r] = malloc(len[r] ? len[r] : 1);
        if (!c->names[r]) {
            s = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
            break;
        }
        memcpy(c->names[r], all + off, len[r]);
        for (size_t i = 0; i < c->info[r].devices; i++)
            c->names[r][i * NAME_LEN + NAME_LEN - 1] = '\0';
        off += len[r];
    }
    free(len);
    free(mine);
    free(all);
    return s;
}

/*
 * The verdict on every rank's creation record, the same on every rank: the first failing
 * rank, then the first rank whose model or exchange differs from rank 0's.  On HG_OK
 * c->nparams and c->exchange are set.
 */
static hg_status hello_verdict(hg_mpi *c, hello_rec *all, hg_error *err)
{
    size_t n = (size_t)c->size;
    int first = -1, others = 0;
    for (size_t r = 0; r < n; r++) {
        all[r].host[sizeof all[r].host - 1] = '\0';
        all[r].msg[sizeof all[r].msg - 1] = '\0';
        if (all[r].status != HG_OK) {
            if (first < 0)
                first = (int)r;
            else
                others++;
        }
    }
    if (first >= 0) {
        hg_status fs = all[first].status > HG_OK && all[first].status < HG_STATUS_COUNT_
                           ? (hg_status)all[first].status : HG_INTERNAL;
        return hg__mpi_rank_failed(err, fs, first, c->size, all[first].host, all[first].msg,
                                   others);
    }
    for (size_t r = 1; r < n; r++) {
        if (all[r].nparams != all[0].nparams || all[r].model_hash != all[0].model_hash)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg_mpi_create: rank %zu (%s) has another model than rank 0 "
                                 "(%llu parameters, rank 0 %llu): every rank must train the "
                                 "same model", r, all[r].host,
                                 (unsigned long long)all[r].nparams,
                                 (unsigned long long)all[0].nparams);
        if (all[r].exchange != all[0].exchange)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg_mpi_create: rank %zu (%s) uses the %s exchange, rank 0 "
                                 "the %s one: set %s alike on every rank", r, all[r].host,
                                 exchange_name(all[r].exchange),
                                 exchange_name(all[0].exchange), EXCHANGE_ENV);
    }
    if (all[0].exchange >= sizeof exchange_kinds / sizeof *exchange_kinds)
        return hg__error_set(err, HG_INTERNAL, 0, "hg_mpi_create: exchange %u is unknown",
                             (unsigned)all[0].exchange);
    c->nparams = (size_t)all[0].nparams;
    c->exchange = (exchange_kind)all[0].exchange;
    return HG_OK;
}

/*
 * The ranks' scheduler: one device per rank, planned from the rank's engine-wide cost model
 * (its hello record) under the DYNAMIC policy, so that observed step times refine it; no
 * solo guard: a rank never hands its rows to another for good.  Fails as hg__sched_create.
 */
static hg_status make_sched(hg_mpi *c, const hello_rec *all, hg_error *err)
{
    size_t n = (size_t)c->size;
    hg__sched_device *dev = calloc(n, sizeof *dev);
    if (!dev)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
    for (size_t r = 0; r < n; r++) {
        dev[r] = hg__sched_device_default();
        dev[r].model = (hg__cost_model){.a_ms = all[r].a_ms, .b_ms_per_row = all[r].b_ms,
                                        .valid = true};
    }
    hg__sched_options o;
    hg__sched_options_init(&o);
    o.policy = HG__POLICY_DYNAMIC;
    o.solo_guard = false;
    hg_status s = hg__sched_create(n, dev, &o, &c->bal, err);
    free(dev);
    return s;
}

hg_status hg_mpi_create(MPI_Comm comm, hg_engine *eng, const hg_model_desc *model,
                        const hg_mpi_options *opt, hg_mpi **out, hg_error *err)
{
    if (!out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_mpi_create: out is NULL");
    *out = NULL;
    hg_mpi *c = calloc(1, sizeof *c);
    if (!c)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
    c->comm = MPI_COMM_NULL;
    c->eng = eng;
    hg_mpi_options_init(&c->opt);
    hg_error opt_err;
    hg_status opt_st = HG_OK;
    if (opt)
        opt_st = hg__sized_read(&c->opt, sizeof c->opt, opt, opt->struct_size,
                                MPI_OPTIONS_MIN_SIZE, "hg_mpi_options", "hg_mpi_options_init",
                                &opt_err);
    double wait_s = isfinite(c->opt.timeout_s) && c->opt.timeout_s > 0 ? c->opt.timeout_s
                                                                       : DEFAULT_TIMEOUT_S;
    hello_rec mine;
    hello_fill(&mine, eng, model, &c->opt, opt_st != HG_OK ? &opt_err : NULL);
    hg_status s = hg__mpi_dup(comm, wait_s, &c->comm, "hg_mpi_create", err);
    int rc;
    if (s == HG_OK && ((rc = MPI_Comm_rank(c->comm, &c->rank)) != MPI_SUCCESS ||
                       (rc = MPI_Comm_size(c->comm, &c->size)) != MPI_SUCCESS))
        s = hg__mpi_fail(err, rc, "hg_mpi_create");
    if (s != HG_OK) {
        hg_mpi_destroy(c);
        return s;
    }
    size_t n = (size_t)c->size;
    hello_rec *all = calloc(n, sizeof *all);
    size_t *len = calloc(n, sizeof *len);
    if (!all || !len) {
        free(all);
        free(len);
        hg_mpi_destroy(c);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_create: no memory");
    }
    for (size_t r = 0; r < n; r++)
        len[r] = sizeof mine;
    s = hg__mpi_exchange(c->comm, TAG_CREATE, &mine, len, (unsigned char *)all, wait_s,
                         "hg_mpi_create", err);
    free(len);
    if (s != HG_OK) {
        c->broken = true; /* all stays allocated, see hg__mpi_exchange */
        hg_mpi_destroy(c);
        return s;
    }
    s = hello_verdict(c, all, err);
    if (s == HG_OK)
        s = setup_arrays(c, all, err);
    if (s == HG_OK)
        s = make_sched(c, all, err);
    free(all);
    /* Every rank reaches the same verdict from the same records, so all go on or none. */
    if (s == HG_OK)
        s = exchange_names(c, err);
    if (s != HG_OK) {
        hg_mpi_destroy(c);
        return s;
    }
    hg_error_clear(err);
    *out = c;
    return HG_OK;
}

/* The local part of a step: plan, slice, compute, fill this rank's record. */
static void local_part(hg_mpi *c, const float *params, size_t first, const size_t *idx,
                       bool rows_step, size_t count, const float *grad, step_head *h)
{
    hg_error e;
    hg_error_clear(&e);
    size_t P = c->nparams, nd = c->info[c->rank].devices;
    dev_rec *dr = (dev_rec *)(c->mine + sizeof *h);
    double *sums = c->exchange == EXCHANGE_RECORDS
                       ? (double *)(c->mine + sizeof *h + nd * sizeof *dr) : c->my_sums;
    memset(dr, 0, nd * sizeof *dr);
    memset(sums, 0, P * sizeof *sums);
    size_t off = 0, mine = 0;
    if (!params || !grad || (rows_step && !idx))
        hg__error_set(&e, HG_INVALID_ARGUMENT, 0, "hg_mpi_gradient%s: %s is NULL",
                      rows_step ? "_rows" : "", !params ? "params" : !grad ? "grad" : "idx");
    else if (count == 0)
        hg__error_set(&e, HG_INVALID_ARGUMENT, 0, "hg_mpi_gradient%s: a step over 0 rows",
                      rows_step ? "_rows" : "");
    else if (!rows_step && first > SIZE_MAX - count)
        hg__error_set(&e, HG_RANGE, 0, "hg_mpi_gradient: rows %zu + %zu overflow", first,
                      count);
    else if (hg__sched_plan(c->bal, count, NULL, c->counts, &e) == HG_OK &&
             hg__rank_slice(c->counts, (size_t)c->size, (size_t)c->rank, count, &off,
                            &e) == HG_OK) {
        h->plan_hash = hg__mpi_fnv(c->counts, (size_t)c->size * sizeof *c->counts);
        mine = c->counts[c->rank];
    }
    double t0 = MPI_Wtime();
    if (e.status == HG_OK && mine > 0) {
        double l = 0;
        hg_status s = rows_step
            ? hg_engine_gradient_rows(c->eng, params, idx + off, mine, c->local, &l, &e)
            : hg_engine_gradient(c->eng, params, first + off, mine, c->local, &l, &e);
        if (s == HG_OK) {
            for (size_t k = 0; k < P; k++)
                sums[k] = (double)c->local[k] * (double)mine;
            h->loss_sum = l * (double)mine;
            for (size_t i = 0; i < nd; i++) {
                hg_device_step ds;
                if (hg_engine_last_step(c->eng, i, &ds) == HG_OK)
                    dr[i] = (dev_rec){(double)ds.rows, ds.host_ms, ds.start_ms, ds.end_ms,
                                      ds.failed ? 1.0 : 0.0};
            }
        }
    }
    h->compute_ms = (MPI_Wtime() - t0) * 1e3;
    h->rows = e.status == HG_OK ? mine : 0;
    h->status = (int32_t)e.status;
    if (e.status != HG_OK)
        snprintf(h->msg, sizeof h->msg, "%.255s", e.message);
}

/*
 * Every rank's record of the step just exchanged, the same verdict on every rank: the
 * first failing rank's error, or a disagreement on the step number, the split or the
 * rows.  Copies every successful rank's devices, loss sum, rows, time and (record
 * exchange) gradient sums into the context.
 */
static hg_status decode(hg_mpi *c, uint64_t step_no, size_t count, const char *what,
                        hg_error *err)
{
    size_t n = (size_t)c->size, P = c->nparams, off = 0, rows = 0;
    bool records = c->exchange == EXCHANGE_RECORDS;
    int failed = -1, others = 0;
    step_head fh;
    memset(&fh, 0, sizeof fh);
    uint64_t plan = 0;
    bool plan_set = false, plan_differs = false, step_differs = false;
    for (size_t r = 0; r < n; off += c->rec_len[r], r++) {
        step_head rh;
        memcpy(&rh, c->all + off, sizeof rh);
        rh.msg[STEP_MSG - 1] = '\0';
        if (rh.step != step_no)
            step_differs = true;
        if (rh.status != HG_OK) {
            if (failed < 0) {
                failed = (int)r;
                fh = rh;
            } else {
                others++;
            }
            continue;
        }
        if (plan_set && rh.plan_hash != plan)
            plan_differs = true;
        plan = rh.plan_hash;
        plan_set = true;
        size_t dev_bytes = c->info[r].devices * sizeof(dev_rec);
        memcpy(&c->devs[c->dev_off[r]], c->all + off + sizeof rh, dev_bytes);
        if (records)
            memcpy(c->sums + r * P, c->all + off + sizeof rh + dev_bytes, P * sizeof(double));
        c->loss_sum[r] = rh.loss_sum;
        c->counts[r] = (size_t)rh.rows;
        c->ms[r] = rh.compute_ms;
        rows += (size_t)rh.rows;
    }
    if (failed >= 0) {
        hg_status fs = fh.status > HG_OK && fh.status < HG_STATUS_COUNT_ ? (hg_status)fh.status
                                                                         : HG_INTERNAL;
        return hg__mpi_rank_failed(err, fs, failed, c->size, c->info[failed].host, fh.msg,
                                   others);
    }
    if (step_differs || plan_differs || rows != count)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: the ranks disagree on the %s (every rank must make the same "
                             "calls with the same row counts)", what,
                             step_differs ? "step number" : plan_differs ? "split" : "rows");
    return HG_OK;
}

/*
 * The global mean gradient into grad and the mean loss into *loss (may be NULL), after
 * decode passed on every rank.  Record exchange: the rank-order sum of the records' sums
 * here; sliced exchange: the rank-order sum of this rank's slice and the allgather
 * (reduce.c), whose failure leaves the context broken (MPI may still use its buffers).
 */
static hg_status reduce(hg_mpi *c, size_t count, float *grad, double *loss, const char *what,
                        hg_error *err)
{
    size_t n = (size_t)c->size, P = c->nparams;
    double l = 0;
    if (c->exchange == EXCHANGE_RECORDS) {
        hg__rank_mean(c->sums, P, n, P, c->loss_sum, count, grad, &l);
    } else {
        hg_status s = hg__mpi_reduce_mean(&c->rd, c->comm, count, c->opt.timeout_s, what, err);
        if (s != HG_OK) {
            c->broken = true;
            snprintf(c->why, sizeof c->why, "%s", err ? err->message : what);
            return s;
        }
        memcpy(grad, c->rd.mean, P * sizeof *grad);
        hg__rank_mean(NULL, 0, n, 0, c->loss_sum, count, NULL, &l);
    }
    if (loss)
        *loss = l;
    return HG_OK;
}

static hg_status step(hg_mpi *c, const float *params, size_t first, const size_t *idx,
                      bool rows_step, size_t count, float *grad, double *loss, hg_error *err)
{
    const char *fn = rows_step ? "hg_mpi_gradient_rows" : "hg_mpi_gradient";
    if (!c)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: context is NULL", fn);
    if (c->broken)
        return hg__error_set(err, HG_IO, 0, "%s: unusable after an earlier failure: %.400s",
                             fn, c->why);
    step_head h;
    memset(&h, 0, sizeof h);
    h.ndev = (uint32_t)c->info[c->rank].devices;
    h.step = c->step;
    local_part(c, params, first, idx, rows_step, count, grad, &h);
    memcpy(c->mine, &h, sizeof h);
    char what[96];
    snprintf(what, sizeof what, "%s: step %llu", fn, (unsigned long long)c->step + 1);
    c->step++;
    /* Sliced exchange: the all-to-all of the sums moves while the records do. */
    hg_status s = HG_OK;
    if (c->exchange == EXCHANGE_SLICES)
        s = hg__mpi_reduce_post(&c->rd, c->comm, c->my_sums, what, err);
    if (s == HG_OK)
        s = hg__mpi_exchange(c->comm, TAG_STEP, c->mine, c->rec_len, c->all, c->opt.timeout_s,
                             what, err);
    if (s == HG_OK)
        s = hg__mpi_reduce_wait(&c->rd, c->opt.timeout_s, what, err);
    if (s != HG_OK) {
        c->broken = true;
        snprintf(c->why, sizeof c->why, "%s", err ? err->message : what);
        return s;
    }
    s = decode(c, h.step, count, what, err);
    if (s == HG_OK)
        s = reduce(c, count, grad, loss, what, err);
    if (s != HG_OK)
        return s;
    size_t n = (size_t)c->size;
    for (size_t r = 0; r < n; r++) {
        c->info[r].rows = c->counts[r];
        c->info[r].compute_ms = c->ms[r];
    }
    c->stepped = true;
    if (!c->opt.no_rebalance) {
        hg_error e;
        if (hg__sched_observe(c->bal, c->counts, c->ms, NULL, &e) != HG_OK)
            return hg__error_set(err, e.status, 0, "%s: rebalancing: %s", what, e.message);
        for (size_t r = 0; r < n; r++) {
            hg__cost_model m = hg__sched_model(c->bal, r);
            c->info[r].model_rows_per_s = m.valid ? 1000.0 / m.b_ms_per_row : 0;
        }
    }
    hg_error_clear(err);
    return HG_OK;
}

hg_status hg_mpi_gradient(hg_mpi *ctx, const float *params, size_t first, size_t count,
                          float *grad, double *loss, hg_error *err)
{
    return step(ctx, params, first, NULL, false, count, grad, loss, err);
}

hg_status hg_mpi_gradient_rows(hg_mpi *ctx, const float *params, const size_t *idx,
                               size_t count, float *grad, double *loss, hg_error *err)
{
    return step(ctx, params, 0, idx, true, count, grad, loss, err);
}

/* hg_mpi_rank_info as first released (0.2.0) ends with compute_ms. */
#define RANK_INFO_MIN_SIZE HG__FIELD_END(hg_mpi_rank_info, compute_ms)
/* hg_device_step as first released (0.2.0) ends with end_ms. */
#define DEVICE_STEP_MIN_SIZE HG__FIELD_END(hg_device_step, end_ms)

hg_status hg_mpi_rank_info_get_sized(const hg_mpi *ctx, int r, hg_mpi_rank_info *out,
                                     size_t out_size)
{
    if (!ctx || !out || out_size < RANK_INFO_MIN_SIZE)
        return HG_INVALID_ARGUMENT;
    if (r < 0 || r >= ctx->size)
        return HG_RANGE;
    hg__sized_write(out, out_size, &ctx->info[r], sizeof ctx->info[r], RANK_INFO_MIN_SIZE);
    return HG_OK;
}

const char *hg_mpi_device_name(const hg_mpi *ctx, int r, size_t i)
{
    if (!ctx || r < 0 || r >= ctx->size || i >= ctx->info[r].devices || !ctx->names[r])
        return NULL;
    return ctx->names[r] + i * NAME_LEN;
}

hg_status hg_mpi_device_step_sized(const hg_mpi *ctx, int r, size_t i, hg_device_step *out,
                                   size_t out_size)
{
    if (!ctx || !out || out_size < DEVICE_STEP_MIN_SIZE)
        return HG_INVALID_ARGUMENT;
    if (r < 0 || r >= ctx->size || i >= ctx->info[r].devices || !ctx->stepped)
        return HG_RANGE;
    const dev_rec *d = &ctx->devs[ctx->dev_off[r] + i];
    hg_device_step s;
    memset(&s, 0, sizeof s);
    s.rows = (size_t)d->rows;
    s.host_ms = d->host_ms;
    s.start_ms = d->start_ms;
    s.end_ms = d->end_ms;
    s.failed = d->failed != 0;
    hg__sized_write(out, out_size, &s, sizeof s, DEVICE_STEP_MIN_SIZE);
    return HG_OK;
}

/* Check record: a status and a hash. */
typedef struct check_rec {
    int32_t  status;
    int32_t  reserved;
    uint64_t hash;
} check_rec;

hg_status hg_mpi_check_same(hg_mpi *ctx, const char *what, const void *p, size_t n,
                            uint64_t *hash, hg_error *err)
{
    if (!ctx)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_mpi_check_same: NULL context");
    if (ctx->broken)
        return hg__error_set(err, HG_IO, 0, "hg_mpi_check_same: unusable after an earlier "
                             "failure: %.400s", ctx->why);
    if (!what)
        what = "data";
    check_rec mine = {.status = (p || n == 0) ? HG_OK : HG_INVALID_ARGUMENT};
    if (mine.status == HG_OK)
        mine.hash = hg__mpi_fnv(p, n);
    size_t N = (size_t)ctx->size;
    check_rec *all = calloc(N, sizeof *all);
    size_t *len = calloc(N, sizeof *len);
    if (!all || !len) {
        free(all);
        free(len);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_check_same: no memory");
    }
    for (size_t r = 0; r < N; r++)
        len[r] = sizeof mine;
    char ctxs[160];
    snprintf(ctxs, sizeof ctxs, "hg_mpi_check_same (%.100s)", what);
    hg_status s = hg__mpi_exchange(ctx->comm, TAG_CHECK, &mine, len, (unsigned char *)all,
                                   ctx->opt.timeout_s, ctxs, err);
    free(len);
    if (s != HG_OK) {
        ctx->broken = true;
        snprintf(ctx->why, sizeof ctx->why, "%s", err ? err->message : ctxs);
        return s;
    }
    for (size_t r = 0; s == HG_OK && r < N; r++) {
        if (all[r].status != HG_OK)
            s = hg__mpi_rank_failed(err, HG_INVALID_ARGUMENT, (int)r, ctx->size,
                                    ctx->info[r].host, "hg_mpi_check_same: NULL bytes", 0);
        else if (all[r].hash != all[0].hash)
            s = hg__error_set(err, HG_DEVICE_FAILED, 0,
                              "%s differ between ranks: rank %zu (%s) has hash %016llx, rank 0 "
                              "%016llx", what, r, ctx->info[r].host,
                              (unsigned long long)all[r].hash, (unsigned long long)all[0].hash);
    }
    if (s == HG_OK) {
        if (hash)
            *hash = mine.hash;
        hg_error_clear(err);
    }
    free(all);
    return s;
}
