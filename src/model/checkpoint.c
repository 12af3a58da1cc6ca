/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.c - parameter files and checkpoints (hetgrad/checkpoint.h; the
 * format is in docs/checkpoint.md).  Encoded to and decoded from memory; the
 * bytes reach the disk through hg__atomic_write.
 *
 * Version 3 (written with training state):
 *   "HGPARAM3", the version 2 body (below) without its checksum, then
 *   u64 epoch, u64 steps, u64 rng state, u64 rng inc, f64 best loss,
 *   u64 epochs since best, u32 optimizer kind, f64 lr, momentum, beta1, beta2,
 *   epsilon, weight decay, u64 S, f64 state[S], u64 N, u64 order[N],
 *   u64 FNV-1a 64 of every byte before it.
 * Version 2 (written without): "HGPARAM2", u32 kind, inputs, outputs, H,
 *   u32 hidden[H], u32 K, i32 classes[K], u64 P, f32 params[P], u64 FNV-1a 64
 *   of every byte before it.
 * Version 1 (still read): "HGPARAM1", u32 kind, inputs, outputs, H,
 *   u32 hidden[H], u64 P, f32 params[P], u64 FNV-1a 64 of the parameter bytes.
 * All little-endian.  K is outputs for softmax regression and MLPs, 0 for
 * linear regression.
 *
 * Pure host code: no OpenCL calls, no global state.
 */
#define _POSIX_C_SOURCE 200809L /* fileno */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "internal.h"

struct hg_checkpoint {
    unsigned      version;
    hg_model_desc model;
    int32_t      *classes;          /* outputs values; NULL for linear */
    bool          classes_recorded;
    float        *params;
    size_t        count;
    /* training state (has_training) */
    bool          has_training;
    uint64_t      epoch, steps, since_best;
    hg_rng        rng;
    double        best_loss;
    hg_optimizer_options opt;
    double       *state;
    size_t        nstate;
    size_t       *order;
    size_t        norder;
};

/* ---- models ------------------------------------------------------------------- */

void hg_model_describe(const hg_model_desc *m, char *buf, size_t n)
{
    if (!buf || !n)
        return;
    if (!m) {
        snprintf(buf, n, "no model");
        return;
    }
    size_t o = 0;
    const char *kind = m->kind == HG_MODEL_MLP      ? "MLP"
                       : m->kind == HG_MODEL_LINEAR ? "linear regression"
                       : m->kind == HG_MODEL_CUSTOM ? "custom model"
                                                    : "softmax regression";
    o += (size_t)snprintf(buf, n, "%s (%zu inputs", kind, m->inputs);
    if (m->kind == HG_MODEL_MLP) {
        for (size_t h = 0; h < m->nhidden && h < HG_MAX_HIDDEN && o < n; h++)
            o += (size_t)snprintf(buf + o, n - o, "%s%zu", h ? "," : ", hidden ", m->hidden[h]);
    }
    if (o < n) {
        if (m->kind == HG_MODEL_LINEAR)
            snprintf(buf + o, n - o, ")");
        else
            snprintf(buf + o, n - o, ", %zu %s)", m->outputs,
                     m->kind == HG_MODEL_CUSTOM ? "outputs" : "classes");
    }
}

bool hg_model_same(const hg_model_desc *a, const hg_model_desc *b)
{
    if (!a || !b || a->kind != b->kind || a->inputs != b->inputs || a->outputs != b->outputs)
        return false;
    if (a->kind != HG_MODEL_MLP)
        return true;
    if (a->nhidden != b->nhidden || a->nhidden > HG_MAX_HIDDEN)
        return false;
    for (size_t h = 0; h < a->nhidden; h++)
        if (a->hidden[h] != b->hidden[h])
            return false;
    return true;
}

/* ---- building ------------------------------------------------------------------- */

void hg_checkpoint_destroy(hg_checkpoint *ck)
{
    if (!ck)
        return;
    free(ck->classes);
    free(ck->params);
    free(ck->state);
    free(ck->order);
    free(ck);
}

/* Whether classes[0..n) has a value twice; *dup receives it. */
static bool repeated(const int32_t *classes, size_t n, int32_t *dup)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (classes[i] == classes[j]) {
                *dup = classes[i];
                return true;
            }
    return false;
}

hg_status hg_checkpoint_create(const hg_model_desc *model, const float *params,
                               const int32_t *classes, hg_checkpoint **out, hg_error *err)
{
    if (!out || !model || !params)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_checkpoint_create: NULL %s",
                             !out ? "out" : !model ? "model" : "params");
    *out = NULL;
    hg_status st = hg_model_validate(model, err);
    if (st != HG_OK)
        return st;
    if (model->kind == HG_MODEL_CUSTOM)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_checkpoint_create: a custom model cannot be described in a "
                             "parameter file");
    size_t P = hg_model_param_count(model);
    for (size_t i = 0; i < P; i++)
        if (!isfinite(params[i]))
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg_checkpoint_create: parameter %zu is not finite", i);
    bool linear = model->kind == HG_MODEL_LINEAR;
    int32_t dup;
    if (!linear && classes && repeated(classes, model->outputs, &dup))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_checkpoint_create: class label %d appears twice", (int)dup);
    hg_checkpoint *ck = calloc(1, sizeof *ck);
    if (ck) {
        ck->params = malloc(P * sizeof *ck->params);
        ck->classes = linear ? NULL : malloc(model->outputs * sizeof *ck->classes);
    }
    if (!ck || !ck->params || (!linear && !ck->classes)) {
        hg_checkpoint_destroy(ck);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "hg_checkpoint_create: out of memory for %zu parameters", P);
    }
    ck->version = 2;
    ck->model = *model;
    ck->model.custom_source = ck->model.custom_kernel = NULL;
    ck->model.custom_params = 0;
    if (model->kind != HG_MODEL_MLP) {
        ck->model.nhidden = 0;
        memset(ck->model.hidden, 0, sizeof ck->model.hidden);
    }
    memcpy(ck->params, params, P * sizeof *params);
    ck->count = P;
    for (size_t k = 0; !linear && k < model->outputs; k++)
        ck->classes[k] = classes ? classes[k] : (int32_t)k;
    ck->classes_recorded = true;
    *out = ck;
    hg_error_clear(err);
    return HG_OK;
}

/* Whether order[0..n) is a permutation of 0..n-1; *bad receives the first index that
   breaks it.  false with *bad = n when out of memory. */
static bool is_permutation(const size_t *order, size_t n, size_t *bad)
{
    unsigned char *seen = calloc(n ? n : 1, 1);
    if (!seen) {
        *bad = n;
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (order[i] >= n || seen[order[i]]) {
            *bad = i;
            free(seen);
            return false;
        }
        seen[order[i]] = 1;
    }
    free(seen);
    return true;
}

hg_status hg_checkpoint_set_training(hg_checkpoint *ck, const hg_optimizer *opt,
                                     uint64_t epoch, const hg_rng *rng, const size_t *order,
                                     size_t norder, double best_loss, uint64_t since_best,
                                     hg_error *err)
{
    if (!ck || !opt || !rng || (norder && !order))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_checkpoint_set_training: NULL %s",
                             !ck ? "checkpoint" : !opt ? "optimizer" : !rng ? "rng" : "order");
    size_t S = hg_optimizer_state_count(opt);
    bool adam;
    {
        hg_optimizer_options o;
        hg_optimizer_options_init(&o);
        hg_optimizer_get_options(opt, &o);
        adam = o.kind == HG_OPTIMIZER_ADAM;
        if (S != (adam ? 2 : 1) * ck->count)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "hg_checkpoint_set_training: the optimizer is for %zu "
                                 "parameters, the model has %zu", S / (adam ? 2 : 1),
                                 ck->count);
        ck->opt = o;
    }
    size_t bad;
    if (!is_permutation(order, norder, &bad))
        return bad == norder
                   ? hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                                   "hg_checkpoint_set_training: out of memory")
                   : hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                   "hg_checkpoint_set_training: order[%zu] = %zu: the order "
                                   "is no permutation of 0..%zu", bad, order[bad],
                                   norder ? norder - 1 : 0);
    double *state = malloc((S ? S : 1) * sizeof *state);
    size_t *ord = malloc((norder ? norder : 1) * sizeof *ord);
    if (!state || !ord) {
        free(state);
        free(ord);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "hg_checkpoint_set_training: out of memory");
    }
    hg_optimizer_get_state(opt, state);
    if (norder)
        memcpy(ord, order, norder * sizeof *ord);
    free(ck->state);
    free(ck->order);
    ck->state = state;
    ck->nstate = S;
    ck->order = ord;
    ck->norder = norder;
    ck->steps = hg_optimizer_steps(opt);
    ck->epoch = epoch;
    ck->rng = *rng;
    ck->best_loss = best_loss;
    ck->since_best = since_best;
    ck->has_training = true;
    ck->version = 3;
    hg_error_clear(err);
    return HG_OK;
}

/* ---- encoding ----------------------------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t         len, cap;
    bool           oom;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put32(buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 4);
}

static void put64(buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 8);
}

static void putf64(buf *b, double v)
{
    uint64_t u = 0;
    memcpy(&u, &v, 8);
    put64(b, u);
}

static void encode(const hg_checkpoint *ck, buf *b)
{
    const hg_model_desc *m = &ck->model;
    put(b, ck->has_training ? "HGPARAM3" : "HGPARAM2", 8);
    put32(b, (uint32_t)m->kind);
    put32(b, (uint32_t)m->inputs);
    put32(b, (uint32_t)m->outputs);
    put32(b, (uint32_t)(m->kind == HG_MODEL_MLP ? m->nhidden : 0));
    for (size_t h = 0; m->kind == HG_MODEL_MLP && h < m->nhidden; h++)
        put32(b, (uint32_t)m->hidden[h]);
    size_t k = m->kind == HG_MODEL_LINEAR ? 0 : m->outputs;
    put32(b, (uint32_t)k);
    for (size_t i = 0; i < k; i++)
        put32(b, (uint32_t)ck->classes[i]);
    put64(b, ck->count);
    for (size_t i = 0; i < ck->count; i++) {
        uint32_t u = 0;
        memcpy(&u, &ck->params[i], 4);
        put32(b, u);
    }
    if (ck->has_training) {
        put64(b, ck->epoch);
        put64(b, ck->steps);
        put64(b, ck->rng.state);
        put64(b, ck->rng.inc);
        putf64(b, ck->best_loss);
        put64(b, ck->since_best);
        put32(b, (uint32_t)ck->opt.kind);
        putf64(b, ck->opt.lr);
        putf64(b, ck->opt.momentum);
        putf64(b, ck->opt.beta1);
        putf64(b, ck->opt.beta2);
        putf64(b, ck->opt.epsilon);
        putf64(b, ck->opt.weight_decay);
        put64(b, ck->nstate);
        for (size_t i = 0; i < ck->nstate; i++)
            putf64(b, ck->state[i]);
        put64(b, ck->norder);
        for (size_t i = 0; i < ck->norder; i++)
            put64(b, ck->order[i]);
    }
    if (!b->oom)
        put64(b, hg_fnv1a64(b->p, b->len));
}

hg_status hg_checkpoint_save(const hg_checkpoint *ck, const char *path, hg_error *err)
{
    if (!ck || !path)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_checkpoint_save: NULL %s",
                             ck ? "path" : "checkpoint");
    buf b = {0};
    encode(ck, &b);
    if (b.oom) {
        free(b.p);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory encoding %zu "
                             "parameters", path, ck->count);
    }
    hg_status st = hg__atomic_write(path, b.p, b.len, err);
    free(b.p);
    return st;
}

hg_status hg_checkpoint_check_target(const char *path, hg_error *err)
{
    if (!path)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_checkpoint_check_target: "
                             "NULL path");
    hg_status st = hg__atomic_check_target(path, err);
    if (st == HG_OK)
        hg_error_clear(err);
    return st;
}

/* ---- decoding ------------------------------------------------------------------------ */

typedef struct cursor {
    const unsigned char *p;
    size_t               len, off;
    const char          *path;
    hg_error            *err;
} cursor;

/* The next n bytes of what (for messages); NULL with "truncated" when the file ends
   first. */
static const unsigned char *take(cursor *c, size_t n, const char *what)
{
    if (n > c->len - c->off) {
        hg__error_set(c->err, HG_IO, 0, "%s: truncated: the file ends at byte %zu, inside "
                      "%s (%zu bytes at offset %zu)", c->path, c->len, what, n, c->off);
        return NULL;
    }
    const unsigned char *q = c->p + c->off;
    c->off += n;
    return q;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const unsigned char *b)
{
    return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32;
}

static bool get32(cursor *c, uint32_t *v, const char *what)
{
    const unsigned char *q = take(c, 4, what);
    if (q)
        *v = le32(q);
    return q != NULL;
}

static bool get64(cursor *c, uint64_t *v, const char *what)
{
    const unsigned char *q = take(c, 8, what);
    if (q)
        *v = le64(q);
    return q != NULL;
}

static bool getf64(cursor *c, double *v, const char *what)
{
    uint64_t u = 0;
    if (!get64(c, &u, what))
        return false;
    memcpy(v, &u, 8);
    return true;
}

static bool damaged(cursor *c, const char *fmt, ...) HG__PRINTF(2, 3);

static bool damaged(cursor *c, const char *fmt, ...)
{
    char what[HG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    hg__error_set(c->err, HG_IO, 0, "%s: damaged file: %s", c->path, what);
    return false;
}

/* The count of a table of n items of size bytes each: false ("truncated") when the
   rest of the file cannot hold it, so that no allocation exceeds the file. */
static bool fits(cursor *c, uint64_t n, size_t size, const char *what)
{
    if (n > (c->len - c->off) / size) {
        hg__error_set(c->err, HG_IO, 0, "%s: truncated: the file ends at byte %zu, its "
                      "header promises %llu %s (%llu bytes from offset %zu)", c->path,
                      c->len, (unsigned long long)n, what,
                      (unsigned long long)(n * size), c->off);
        return false;
    }
    return true;
}

static bool read_model(cursor *c, hg_model_desc *m)
{
    const unsigned char *h = take(c, 16, "the model header");
    if (!h)
        return false;
    uint32_t kind = le32(h), in = le32(h + 4), out = le32(h + 8), nh = le32(h + 12);
    if ((kind != HG_MODEL_LINEAR && kind != HG_MODEL_SOFTMAX && kind != HG_MODEL_MLP) ||
        (kind == HG_MODEL_MLP ? nh == 0 || nh > HG_MAX_HIDDEN : nh != 0)) {
        hg__error_set(c->err, HG_IO, 0, "%s: damaged header at offset 8: model kind %u "
                      "with %u hidden layers is no model hetgrad writes", c->path,
                      (unsigned)kind, (unsigned)nh);
        return false;
    }
    memset(m, 0, sizeof *m);
    m->kind = (hg_model_kind)kind;
    m->inputs = in;
    m->outputs = out;
    m->nhidden = nh;
    for (size_t i = 0; i < nh; i++) {
        uint32_t w = 0;
        if (!get32(c, &w, "the hidden layer widths"))
            return false;
        m->hidden[i] = w;
    }
    hg_error e;
    if (hg_model_validate(m, &e) != HG_OK) {
        hg__error_set(c->err, HG_IO, 0, "%s: damaged header at offset 8: %.300s", c->path,
                      e.message);
        return false;
    }
    return true;
}

static bool read_classes(cursor *c, hg_checkpoint *ck)
{
    uint32_t k = 0;
    size_t at = c->off;
    if (!get32(c, &k, "the class count"))
        return false;
    size_t want = ck->model.kind == HG_MODEL_LINEAR ? 0 : ck->model.outputs;
    if (k != want)
        return damaged(c, "%u classes at offset %zu, the model has %zu", (unsigned)k, at,
                       want);
    if (!k)
        return true;
    if (!fits(c, k, 4, "class labels"))
        return false;
    for (size_t i = 0; i < k; i++) {
        uint32_t v = 0;
        get32(c, &v, "the class labels");
        ck->classes[i] = (int32_t)v;
    }
    int32_t dup;
    if (repeated(ck->classes, k, &dup))
        return damaged(c, "class label %d appears twice", (int)dup);
    ck->classes_recorded = true;
    return true;
}

static bool read_training(cursor *c, hg_checkpoint *ck)
{
    uint32_t kind = 0;
    uint64_t nstate, norder;
    hg_optimizer_options *o = &ck->opt;
    hg_optimizer_options_init(o);
    if (!get64(c, &ck->epoch, "the epoch") || !get64(c, &ck->steps, "the step count") ||
        !get64(c, &ck->rng.state, "the generator") || !get64(c, &ck->rng.inc, "the generator") ||
        !getf64(c, &ck->best_loss, "the best loss") ||
        !get64(c, &ck->since_best, "the epochs since the best loss") ||
        !get32(c, &kind, "the optimizer") || !getf64(c, &o->lr, "the optimizer") ||
        !getf64(c, &o->momentum, "the optimizer") || !getf64(c, &o->beta1, "the optimizer") ||
        !getf64(c, &o->beta2, "the optimizer") || !getf64(c, &o->epsilon, "the optimizer") ||
        !getf64(c, &o->weight_decay, "the optimizer"))
        return false;
    o->kind = (hg_optimizer_kind)kind;
    if (!(ck->rng.inc & 1))
        return damaged(c, "the generator's increment is even");
    if (!get64(c, &nstate, "the optimizer state count") ||
        !fits(c, nstate, 8, "optimizer state values"))
        return false;
    ck->state = malloc((nstate ? nstate : 1) * sizeof *ck->state);
    if (!ck->state)
        return hg__error_set(c->err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", c->path),
               false;
    ck->nstate = nstate;
    for (size_t i = 0; i < nstate; i++)
        getf64(c, &ck->state[i], "the optimizer state");
    if (!get64(c, &norder, "the row order count") || !fits(c, norder, 8, "row indices"))
        return false;
    ck->order = malloc((norder ? norder : 1) * sizeof *ck->order);
    if (!ck->order)
        return hg__error_set(c->err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", c->path),
               false;
    ck->norder = norder;
    for (size_t i = 0; i < norder; i++) {
        uint64_t v = 0;
        get64(c, &v, "the row order");
        ck->order[i] = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
    }
    ck->has_training = true;
    return true;
}

/* What read_training read, checked once the checksum has matched. */
static bool check_training(cursor *c, hg_checkpoint *ck)
{
    hg_optimizer *opt;
    hg_error e;
    if (hg_checkpoint_optimizer(ck, &opt, &e) != HG_OK)
        return damaged(c, "%.400s", e.message);
    hg_optimizer_destroy(opt);
    size_t bad;
    if (!is_permutation(ck->order, ck->norder, &bad))
        return bad == ck->norder
                   ? (hg__error_set(c->err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", c->path),
                      false)
                   : damaged(c, "the row order is no permutation of 0..%zu (entry %zu)",
                             ck->norder - 1, bad);
    return true;
}

static bool decode(cursor *c, hg_checkpoint *ck)
{
    if (c->len < 8 || (memcmp(c->p, "HGPARAM1", 8) != 0 && memcmp(c->p, "HGPARAM2", 8) != 0 &&
                       memcmp(c->p, "HGPARAM3", 8) != 0)) {
        hg__error_set(c->err, HG_IO, 0, "%s: not a hetgrad parameter file (%s at offset 0)",
                      c->path, c->len == 0 ? "empty: no magic" : "bad magic");
        return false;
    }
    c->off = 8;
    ck->version = (unsigned)(c->p[7] - '0');
    if (!read_model(c, &ck->model))
        return false;
    bool linear = ck->model.kind == HG_MODEL_LINEAR;
    if (!linear) {
        ck->classes = malloc(ck->model.outputs * sizeof *ck->classes);
        if (!ck->classes)
            return hg__error_set(c->err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", c->path),
                   false;
        for (size_t k = 0; k < ck->model.outputs; k++)
            ck->classes[k] = (int32_t)k;
    }
    if (ck->version >= 2 && !read_classes(c, ck))
        return false;
    uint64_t count = 0;
    size_t at = c->off;
    if (!get64(c, &count, "the parameter count"))
        return false;
    size_t want = hg_model_param_count(&ck->model);
    if (count != want)
        return damaged(c, "holds %llu parameters (offset %zu), its model has %zu",
                       (unsigned long long)count, at, want);
    if (!fits(c, count, 4, "parameters"))
        return false;
    ck->params = malloc(want * sizeof *ck->params);
    if (!ck->params)
        return hg__error_set(c->err, HG_OUT_OF_MEMORY, 0, "%s: out of memory for %zu "
                             "parameters", c->path, want), false;
    ck->count = want;
    size_t params_at = c->off;
    for (size_t i = 0; i < want; i++) {
        uint32_t u = 0;
        get32(c, &u, "the parameters");
        memcpy(&ck->params[i], &u, 4);
    }
    if (ck->version == 3 && !read_training(c, ck))
        return false;
    uint64_t expect = ck->version == 1 ? hg_fnv1a64(c->p + params_at, 4 * want)
                                       : hg_fnv1a64(c->p, c->off);
    uint64_t sum = 0;
    if (!get64(c, &sum, "the checksum"))
        return false;
    if (sum != expect) {
        hg__error_set(c->err, HG_IO, 0, "%s: checksum mismatch (the file is damaged)",
                      c->path);
        return false;
    }
    for (size_t i = 0; i < want; i++)
        if (!isfinite(ck->params[i]))
            return hg__error_set(c->err, HG_IO, 0, "%s: parameter %zu is not finite",
                                 c->path, i), false;
    if (c->off != c->len) {
        hg__error_set(c->err, HG_IO, 0, "%s: trailing bytes after the checksum (offset %zu)",
                      c->path, c->off);
        return false;
    }
    return !ck->has_training || check_training(c, ck);
}

/* The whole file into *data (malloc'ed); HG_IO / HG_OUT_OF_MEMORY with err. */
static hg_status slurp(const char *path, unsigned char **data, size_t *len, hg_error *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return hg__error_set(err, HG_IO, 0, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    unsigned char *p = malloc(cap);
    for (;;) {
        if (!p) {
            fclose(f);
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory reading it",
                                 path);
        }
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        unsigned char *q = realloc(p, cap * 2);
        if (!q)
            free(p);
        p = q;
        cap *= 2;
    }
    bool bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        free(p);
        return hg__error_set(err, HG_IO, 0, "%s: read error at byte offset %zu: %s", path, n,
                             strerror(e));
    }
    *data = p;
    *len = n;
    return HG_OK;
}

hg_status hg_checkpoint_load(const char *path, hg_checkpoint **out, hg_error *err)
{
    if (!path || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_checkpoint_load: NULL %s",
                             path ? "out" : "path");
    *out = NULL;
    unsigned char *data;
    size_t len = 0;
    hg_status st = slurp(path, &data, &len, err);
    if (st != HG_OK)
        return st;
    hg_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        free(data);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", path);
    }
    cursor c = {data, len, 0, path, err};
    bool ok = decode(&c, ck);
    free(data);
    if (!ok) {
        hg_checkpoint_destroy(ck);
        return err ? err->status : HG_IO;
    }
    *out = ck;
    hg_error_clear(err);
    return HG_OK;
}

/* ---- accessors ----------------------------------------------------------------------- */

unsigned hg_checkpoint_version(const hg_checkpoint *ck)
{
    return ck ? ck->version : 0;
}

const hg_model_desc *hg_checkpoint_model(const hg_checkpoint *ck)
{
    return ck ? &ck->model : NULL;
}

const float *hg_checkpoint_params(const hg_checkpoint *ck, size_t *count)
{
    if (count)
        *count = ck ? ck->count : 0;
    return ck ? ck->params : NULL;
}

const int32_t *hg_checkpoint_classes(const hg_checkpoint *ck, bool *recorded)
{
    if (recorded)
        *recorded = ck && ck->classes_recorded;
    return ck ? ck->classes : NULL;
}

bool hg_checkpoint_has_training(const hg_checkpoint *ck)
{
    return ck && ck->has_training;
}

hg_status hg_checkpoint_training(const hg_checkpoint *ck, uint64_t *epoch, uint64_t *steps,
                                 hg_rng *rng, const size_t **order, size_t *norder,
                                 double *best_loss, uint64_t *since_best, hg_error *err)
{
    if (!ck || !ck->has_training)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_checkpoint_training: %s", ck ? "the checkpoint holds no "
                             "training state (a parameter file)" : "NULL checkpoint");
    if (epoch)
        *epoch = ck->epoch;
    if (steps)
        *steps = ck->steps;
    if (rng)
        *rng = ck->rng;
    if (order)
        *order = ck->norder ? ck->order : NULL;
    if (norder)
        *norder = ck->norder;
    if (best_loss)
        *best_loss = ck->best_loss;
    if (since_best)
        *since_best = ck->since_best;
    hg_error_clear(err);
    return HG_OK;
}

hg_status hg_checkpoint_optimizer(const hg_checkpoint *ck, hg_optimizer **out, hg_error *err)
{
    if (!out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_checkpoint_optimizer: NULL out");
    *out = NULL;
    if (!ck || !ck->has_training)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_checkpoint_optimizer: %s", ck ? "the checkpoint holds no "
                             "training state (a parameter file)" : "NULL checkpoint");
    hg_optimizer *opt;
    hg_status st = hg_optimizer_create(&ck->opt, &ck->model, &opt, err);
    if (st == HG_OK &&
        (st = hg_optimizer_set_state(opt, ck->steps, ck->state, ck->nstate, err)) != HG_OK) {
        hg_optimizer_destroy(opt);
        return st;
    }
    if (st == HG_OK)
        *out = opt;
    return st;
}
