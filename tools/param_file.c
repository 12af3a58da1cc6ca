/* SPDX-License-Identifier: MIT */
/*
 * param_file.c - hetgrad-train's parameter files: an atomic writer and a checking reader
 * (param_file.h; the format is in docs/train.md).
 *
 * Version 2 (written):
 *   "HGPARAM2", u32 kind, inputs, outputs, H, u32 hidden[H], u32 K, i32 classes[K],
 *   u64 P, f32 params[P], u64 FNV-1a 64 of every byte before it.
 * Version 1 (still read): "HGPARAM1", u32 kind, inputs, outputs, H, u32 hidden[H],
 *   u64 P, f32 params[P], u64 FNV-1a 64 of the parameter bytes only.
 * All little-endian.  K is outputs for softmax regression and MLPs, 0 for linear
 * regression.
 *
 * Test hook (tests/train_check.py, not an interface): HG_TEST_SAVE_HANG_AFTER=N makes the
 * writer stop for good once N bytes of the temporary file are written and flushed,
 * after saying so on stderr, so that a test can kill the process in the middle of a
 * save.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "param_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FNV_INIT  0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_update(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

static void le32_put(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t le32_get(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void le64_put(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le64_get(const unsigned char *b)
{
    return (uint64_t)le32_get(b) | (uint64_t)le32_get(b + 4) << 32;
}

/* ---- describing models ------------------------------------------------------------ */

void param_file_describe(const hg_model_desc *m, char *buf, size_t n)
{
    size_t o = 0;
    const char *kind = m->kind == HG_MODEL_MLP      ? "MLP"
                       : m->kind == HG_MODEL_LINEAR ? "linear regression"
                                                    : "softmax regression";
    o += (size_t)snprintf(buf, n, "%s (%zu inputs", kind, m->inputs);
    if (m->kind == HG_MODEL_MLP) {
        for (size_t h = 0; h < m->nhidden && o < n; h++)
            o += (size_t)snprintf(buf + o, n - o, "%s%zu", h ? "," : ", hidden ", m->hidden[h]);
    }
    if (o < n) {
        if (m->kind == HG_MODEL_LINEAR)
            snprintf(buf + o, n - o, ")");
        else
            snprintf(buf + o, n - o, ", %zu classes)", m->outputs);
    }
}

bool param_file_same_model(const hg_model_desc *a, const hg_model_desc *b)
{
    if (a->kind != b->kind || a->inputs != b->inputs || a->outputs != b->outputs)
        return false;
    if (a->kind != HG_MODEL_MLP)
        return true;
    if (a->nhidden != b->nhidden)
        return false;
    for (size_t h = 0; h < a->nhidden; h++)
        if (a->hidden[h] != b->hidden[h])
            return false;
    return true;
}

void param_file_classes_text(const int32_t *classes, size_t n, char *buf, size_t bufn)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && o < bufn; k++) {
        if (n > 12 && k == 8) {
            o += (size_t)snprintf(buf + o, bufn - o, ", ...");
            k = n - 1;
        }
        if (o < bufn)
            o += (size_t)snprintf(buf + o, bufn - o, "%s%d", k ? ", " : "", (int)classes[k]);
    }
}

/* ---- reading ------------------------------------------------------------------------ */

typedef struct reader {
    FILE       *f;
    const char *path;
    uint64_t    off;  /* bytes read so far */
    uint64_t    sum;  /* FNV-1a of them */
    char       *msg;
    size_t      msgn;
} reader;

/* n bytes of what (for messages) into p; false when the file ends first or fails. */
static bool get(reader *r, void *p, size_t n, const char *what)
{
    size_t got = fread(p, 1, n, r->f);
    if (got != n) {
        if (ferror(r->f))
            snprintf(r->msg, r->msgn, "%s: read error at byte offset %llu: %s", r->path,
                     (unsigned long long)(r->off + got), strerror(errno));
        else
            snprintf(r->msg, r->msgn, "%s: truncated: the file ends at byte %llu, inside "
                     "%s (%zu bytes at offset %llu)", r->path,
                     (unsigned long long)(r->off + got), what, n,
                     (unsigned long long)r->off);
        return false;
    }
    r->sum = fnv_update(r->sum, p, n);
    r->off += n;
    return true;
}

static bool get32(reader *r, uint32_t *v, const char *what)
{
    unsigned char b[4];
    if (!get(r, b, 4, what))
        return false;
    *v = le32_get(b);
    return true;
}

/* The model header after the magic: kind, sizes, hidden widths; checked. */
static bool read_model(reader *r, hg_model_desc *m)
{
    unsigned char h[16];
    if (!get(r, h, sizeof h, "the model header"))
        return false;
    uint32_t kind = le32_get(h), in = le32_get(h + 4), out = le32_get(h + 8),
             nh = le32_get(h + 12);
    if ((kind != HG_MODEL_LINEAR && kind != HG_MODEL_SOFTMAX && kind != HG_MODEL_MLP) ||
        (kind == HG_MODEL_MLP ? nh == 0 || nh > HG_MAX_HIDDEN : nh != 0)) {
        snprintf(r->msg, r->msgn, "%s: damaged header at offset 8: model kind %u with %u "
                 "hidden layers is no model hetgrad-train writes", r->path, (unsigned)kind,
                 (unsigned)nh);
        return false;
    }
    memset(m, 0, sizeof *m);
    m->kind = (hg_model_kind)kind;
    m->inputs = in;
    m->outputs = out;
    m->nhidden = nh;
    for (size_t i = 0; i < nh; i++) {
        uint32_t w;
        if (!get32(r, &w, "the hidden layer widths"))
            return false;
        m->hidden[i] = w;
    }
    hg_error err;
    if (hg_model_validate(m, &err) != HG_OK) {
        snprintf(r->msg, r->msgn, "%s: damaged header at offset 8: %.300s", r->path,
                 err.message);
        return false;
    }
    return true;
}

/* Version 2's class table: outputs distinct values (softmax, MLP) or none (linear). */
static bool read_classes(reader *r, param_file *pf)
{
    uint32_t k;
    unsigned long long at = r->off;
    if (!get32(r, &k, "the class count"))
        return false;
    size_t want = pf->model.kind == HG_MODEL_LINEAR ? 0 : pf->model.outputs;
    if (k != want) {
        snprintf(r->msg, r->msgn, "%s: damaged file: %u classes at offset %llu, the model "
                 "has %zu", r->path, (unsigned)k, at, want);
        return false;
    }
    if (!k)
        return true;
    pf->classes = malloc(k * sizeof *pf->classes);
    if (!pf->classes) {
        snprintf(r->msg, r->msgn, "%s: out of memory", r->path);
        return false;
    }
    for (size_t i = 0; i < k; i++) {
        uint32_t v;
        if (!get32(r, &v, "the class labels"))
            return false;
        pf->classes[i] = (int32_t)v;
        for (size_t j = 0; j < i; j++)
            if (pf->classes[j] == pf->classes[i]) {
                snprintf(r->msg, r->msgn, "%s: damaged file: class label %d appears twice",
                         r->path, (int)pf->classes[i]);
                return false;
            }
    }
    pf->classes_recorded = true;
    return true;
}

static bool read_all(reader *r, param_file *pf)
{
    char magic[8];
    size_t got = fread(magic, 1, 8, r->f);
    if (got != 8 || (memcmp(magic, "HGPARAM1", 8) != 0 && memcmp(magic, "HGPARAM2", 8) != 0)) {
        snprintf(r->msg, r->msgn, "%s: not a hetgrad parameter file (%s at offset 0)",
                 r->path, got == 0 ? "empty: no magic" : "bad magic");
        return false;
    }
    r->sum = fnv_update(r->sum, magic, 8);
    r->off = 8;
    pf->version = magic[7] == '2' ? 2 : 1;
    if (!read_model(r, &pf->model))
        return false;
    if (pf->version == 2 && !read_classes(r, pf))
        return false;
    if (pf->version == 1 && pf->model.kind != HG_MODEL_LINEAR) {
        pf->classes = malloc(pf->model.outputs * sizeof *pf->classes);
        if (!pf->classes) {
            snprintf(r->msg, r->msgn, "%s: out of memory", r->path);
            return false;
        }
        for (size_t k = 0; k < pf->model.outputs; k++)
            pf->classes[k] = (int32_t)k;
    }
    unsigned char b8[8];
    unsigned long long at = r->off;
    if (!get(r, b8, 8, "the parameter count"))
        return false;
    uint64_t count = le64_get(b8);
    size_t want = hg_model_param_count(&pf->model);
    if (count != want) {
        snprintf(r->msg, r->msgn, "%s: damaged file: holds %llu parameters (offset %llu), "
                 "its model has %zu", r->path, (unsigned long long)count, at, want);
        return false;
    }
    /* the size the header promises, before allocating for it */
    struct stat st;
    uint64_t need = r->off + 4 * count + 8;
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < need) {
        snprintf(r->msg, r->msgn, "%s: truncated: the file ends at byte %llu, its header "
                 "promises %llu parameters (%llu bytes in all)", r->path,
                 (unsigned long long)st.st_size, (unsigned long long)count,
                 (unsigned long long)need);
        return false;
    }
    pf->count = want;
    pf->params = malloc(want * sizeof *pf->params);
    if (!pf->params) {
        snprintf(r->msg, r->msgn, "%s: out of memory for %zu parameters", r->path, want);
        return false;
    }
    uint64_t params_sum = FNV_INIT;
    unsigned char buf[4096];
    for (size_t i = 0; i < want;) {
        size_t k = want - i < sizeof buf / 4 ? want - i : sizeof buf / 4;
        if (!get(r, buf, 4 * k, "the parameters"))
            return false;
        params_sum = fnv_update(params_sum, buf, 4 * k);
        for (size_t j = 0; j < k; j++) {
            uint32_t u = le32_get(buf + 4 * j);
            memcpy(&pf->params[i + j], &u, 4);
        }
        i += k;
    }
    uint64_t expect = pf->version == 2 ? r->sum : params_sum;
    if (!get(r, b8, 8, "the checksum"))
        return false;
    if (le64_get(b8) != expect) {
        snprintf(r->msg, r->msgn, "%s: checksum mismatch (the file is damaged)", r->path);
        return false;
    }
    for (size_t i = 0; i < want; i++)
        if (!isfinite(pf->params[i])) {
            snprintf(r->msg, r->msgn, "%s: parameter %zu is not finite", r->path, i);
            return false;
        }
    if (fgetc(r->f) != EOF) {
        snprintf(r->msg, r->msgn, "%s: trailing bytes after the checksum (offset %llu)",
                 r->path, (unsigned long long)r->off);
        return false;
    }
    return true;
}

bool param_file_read(const char *path, param_file *out, char *msg, size_t msgn)
{
    memset(out, 0, sizeof *out);
    reader r = {fopen(path, "rb"), path, 0, FNV_INIT, msg, msgn};
    if (!r.f) {
        snprintf(msg, msgn, "%s: %s", path, strerror(errno));
        return false;
    }
    bool ok = read_all(&r, out);
    fclose(r.f);
    if (!ok)
        param_file_free(out);
    return ok;
}

void param_file_free(param_file *pf)
{
    if (!pf)
        return;
    free(pf->classes);
    free(pf->params);
    memset(pf, 0, sizeof *pf);
}

/* ---- the target of --save ------------------------------------------------------------ */

/* The file, its directory and its name, and what a new file there needs to copy. */
typedef struct target {
    char  *path;   /* the file itself (a symbolic link resolved); owned */
    char  *dir;    /* its directory; owned */
    char  *base;   /* its name, inside path */
    bool   exists;
    mode_t mode;   /* permission bits of the existing file */
} target;

static void target_free(target *t)
{
    free(t->path);
    free(t->dir);
    memset(t, 0, sizeof *t);
}

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

static bool target_resolve(const char *path, target *t, char *msg, size_t msgn)
{
    memset(t, 0, sizeof *t);
    struct stat st;
    if (!*path) {
        snprintf(msg, msgn, "--save needs a file name");
        return false;
    }
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        t->path = realpath(path, NULL);
        if (!t->path) {
            snprintf(msg, msgn, "%s: a symbolic link that leads nowhere usable: %s", path,
                     strerror(errno));
            return false;
        }
    } else {
        t->path = strdup(path);
    }
    if (!t->path) {
        snprintf(msg, msgn, "%s: out of memory", path);
        return false;
    }
    if (stat(t->path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            snprintf(msg, msgn, "%s: %s, not a regular file: --save writes a new file "
                     "beside the old one and renames it over it", path, file_kind(st.st_mode));
            target_free(t);
            return false;
        }
        t->exists = true;
        t->mode = st.st_mode & 07777;
    } else if (errno != ENOENT) {
        snprintf(msg, msgn, "%s: %s", path, strerror(errno));
        target_free(t);
        return false;
    }
    char *slash = strrchr(t->path, '/');
    t->base = slash ? slash + 1 : t->path;
    if (!*t->base) {
        snprintf(msg, msgn, "%s: names a directory, not a file", path);
        target_free(t);
        return false;
    }
    size_t dl = slash ? (slash == t->path ? 1 : (size_t)(slash - t->path)) : 1;
    t->dir = malloc(dl + 1);
    if (!t->dir) {
        snprintf(msg, msgn, "%s: out of memory", path);
        target_free(t);
        return false;
    }
    memcpy(t->dir, slash ? t->path : ".", dl);
    t->dir[dl] = '\0';
    return true;
}

/* A new file ".BASE.PID.N.tmp" in t's directory, opened for writing (0666 less the
   umask); its fd, and its malloc'ed name in *tmp.  -1 with msg on failure. */
static int temp_create(const target *t, const char *path, char **tmp, char *msg, size_t msgn)
{
    size_t n = strlen(t->dir) + strlen(t->base) + 64;
    *tmp = malloc(n);
    if (!*tmp) {
        snprintf(msg, msgn, "%s: out of memory", path);
        return -1;
    }
    for (unsigned i = 0; i < 1000; i++) {
        snprintf(*tmp, n, "%s/.%s.%ld.%u.tmp", t->dir, t->base, (long)getpid(), i);
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            break;
    }
    snprintf(msg, msgn, "%s: cannot create a file in %s: %s", path, t->dir, strerror(errno));
    free(*tmp);
    *tmp = NULL;
    return -1;
}

bool param_file_check_target(const char *path, char *msg, size_t msgn)
{
    target t;
    if (!target_resolve(path, &t, msg, msgn))
        return false;
    char *tmp;
    int fd = temp_create(&t, path, &tmp, msg, msgn);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
        free(tmp);
    }
    target_free(&t);
    return fd >= 0;
}

/* ---- writing ------------------------------------------------------------------------- */

typedef struct writer {
    FILE              *f;
    uint64_t           sum;
    unsigned long long written;
    unsigned long long hang_after; /* test hook; ULLONG_MAX: none */
    const char        *tmp;
} writer;

static bool put(writer *w, const void *p, size_t n)
{
    if (fwrite(p, 1, n, w->f) != n)
        return false;
    w->sum = fnv_update(w->sum, p, n);
    w->written += n;
    if (w->written >= w->hang_after) {
        fflush(w->f);
        fprintf(stderr, "hetgrad-train: HG_TEST_SAVE_HANG_AFTER: hanging after %llu bytes "
                "written to %s\n", w->written, w->tmp);
        fflush(stderr);
        for (;;)
            pause();
    }
    return true;
}

static bool put32(writer *w, uint32_t v)
{
    unsigned char b[4];
    le32_put(b, v);
    return put(w, b, 4);
}

static bool write_all(writer *w, const hg_model_desc *m, const int32_t *classes,
                      const float *p, size_t count)
{
    bool ok = put(w, "HGPARAM2", 8) && put32(w, (uint32_t)m->kind) &&
              put32(w, (uint32_t)m->inputs) && put32(w, (uint32_t)m->outputs) &&
              put32(w, (uint32_t)(m->kind == HG_MODEL_MLP ? m->nhidden : 0));
    for (size_t h = 0; ok && m->kind == HG_MODEL_MLP && h < m->nhidden; h++)
        ok = put32(w, (uint32_t)m->hidden[h]);
    size_t k = m->kind == HG_MODEL_LINEAR ? 0 : m->outputs;
    ok = ok && put32(w, (uint32_t)k);
    for (size_t i = 0; ok && i < k; i++)
        ok = put32(w, (uint32_t)classes[i]);
    unsigned char b8[8], buf[4096];
    le64_put(b8, count);
    ok = ok && put(w, b8, 8);
    for (size_t i = 0; ok && i < count;) {
        size_t n = count - i < sizeof buf / 4 ? count - i : sizeof buf / 4;
        for (size_t j = 0; j < n; j++) {
            uint32_t u;
            memcpy(&u, &p[i + j], 4);
            le32_put(buf + 4 * j, u);
        }
        ok = put(w, buf, 4 * n);
        i += n;
    }
    le64_put(b8, w->sum);
    return ok && put(w, b8, 8);
}

bool param_file_write(const char *path, const hg_model_desc *m, const int32_t *classes,
                      const float *params, size_t count, char *msg, size_t msgn)
{
    target t;
    if (!target_resolve(path, &t, msg, msgn))
        return false;
    char *tmp = NULL;
    int fd = temp_create(&t, path, &tmp, msg, msgn);
    if (fd < 0) {
        target_free(&t);
        return false;
    }
    const char *hook = getenv("HG_TEST_SAVE_HANG_AFTER");
    writer w = {NULL, FNV_INIT, 0, hook ? strtoull(hook, NULL, 10) : ULLONG_MAX, tmp};
    const char *step = "write";
    int e = 0; /* errno of the first failure */
    bool ok = true;
    if (t.exists && fchmod(fd, t.mode) != 0) {
        e = errno;
        ok = false;
    }
    if (ok && !(w.f = fdopen(fd, "wb"))) {
        e = errno;
        ok = false;
    }
    if (!w.f)
        close(fd);
    if (ok && (!write_all(&w, m, classes, params, count) || fflush(w.f) != 0)) {
        e = errno;
        ok = false;
    }
    if (ok && fsync(fileno(w.f)) != 0) {
        e = errno;
        step = "sync";
        ok = false;
    }
    if (w.f && fclose(w.f) != 0 && ok) {
        e = errno;
        ok = false;
    }
    if (ok && rename(tmp, t.path) != 0) {
        e = errno;
        step = "rename";
        ok = false;
    }
    if (!ok) {
        snprintf(msg, msgn, "%s: %s failed: %s (the previous file, if any, is unchanged)",
                 path, step, strerror(e));
        unlink(tmp);
    } else {
        /* the rename itself reaches the disk with the directory */
        int dfd = open(t.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
            snprintf(msg, msgn, "%s: written, but syncing its directory %s failed: %s", path,
                     t.dir, strerror(errno));
            ok = false;
        }
        if (dfd >= 0)
            close(dfd);
    }
    free(tmp);
    target_free(&t);
    return ok;
}
