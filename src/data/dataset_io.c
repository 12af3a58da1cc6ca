/* SPDX-License-Identifier: MIT */
/*
 * dataset_io.c - loaders of CSV, LIBSVM/SVMlight and IDX (MNIST) files into an owned
 * dense hg_dataset (hetgrad/data.h documents the formats, limits and statuses).
 *
 * Guarantees:
 *   - Streaming: text files are read through a source (data_source.h: plain, or gzip
 *     detected by its signature and inflated) in CHUNK-byte pieces and assembled one
 *     line at a time into a buffer of at most HG_DATA_MAX_LINE + 1 bytes; the text is
 *     never held twice.  IDX files are read through a source too, a block of images
 *     at a time.
 *   - Untrusted sizes never drive an allocation: arrays grow geometrically with what was
 *     actually read, so a lying IDX header or a huge LIBSVM index costs nothing before
 *     the data is there.  Every size product is checked for overflow.
 *   - On failure nothing leaks, *out stays NULL and err names the file, the 1-based line
 *     (IDX: byte offset) and the problem.  Every input is parsed without undefined
 *     behaviour (fuzzed with tests/fuzz/).
 *   - Numbers are parsed in the C locale via a per-thread uselocale(); setlocale() is
 *     never called.  No global state.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "data_source.h"
#include "hetgrad/data.h"
#include "data_csr.h"
#include "internal.h"

#define LINE_LIMIT    HG_DATA_MAX_LINE
#define FEATURE_LIMIT HG_DATA_MAX_FEATURES
#define ROW_LIMIT     HG_DATA_MAX_ROWS
#define CHUNK         ((size_t)64 * 1024)
#define QUOTE_MAX     40 /* bytes of a bad token quoted in a message */

/* ---- C locale for the duration of a call -------------------------------------- */

typedef struct c_locale {
    locale_t c;   /* our "C" LC_NUMERIC locale, or (locale_t)0 if newlocale failed */
    locale_t old; /* the thread's locale before */
} c_locale;

static void c_locale_enter(c_locale *l)
{
    l->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    l->old = l->c ? uselocale(l->c) : (locale_t)0;
}

static void c_locale_leave(c_locale *l)
{
    if (l->c) {
        uselocale(l->old);
        freelocale(l->c);
    }
}

/* ---- messages ----------------------------------------------------------------- */

typedef struct quoted {
    char s[1 + QUOTE_MAX * 4 + 1 + 3 + 1];
} quoted;

/* tok[0..len) in double quotes, at most QUOTE_MAX bytes, other than printable ASCII
 * escaped as \xHH, "..." appended when cut. */
static const char *quote(quoted *q, const char *tok, size_t len)
{
    size_t o = 0;
    size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;
    q->s[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c >= 0x20 && c < 0x7f) {
            q->s[o++] = (char)c;
        } else {
            static const char hex[] = "0123456789abcdef";
            q->s[o++] = '\\';
            q->s[o++] = 'x';
            q->s[o++] = hex[c >> 4];
            q->s[o++] = hex[c & 15];
        }
    }
    q->s[o++] = '"';
    if (len > QUOTE_MAX) {
        memcpy(q->s + o, "...", 3);
        o += 3;
    }
    q->s[o] = '\0';
    return q->s;
}

/* ---- line reader over a file or a buffer -------------------------------------- */

typedef struct reader {
    const char *name;     /* for messages */
    hg__source *src;      /* a file, or gzip in memory (owned); NULL: plain memory text */
    char       *buf;      /* src: CHUNK-byte read buffer (owned) */
    const char *data;     /* bytes not yet consumed: buf, or the caller's text */
    size_t      len, pos; /* data[pos..len) is unread */
    char       *line;     /* the current line, NUL-terminated (owned) */
    size_t      line_cap;
    size_t      lineno;   /* 1-based number of the current line */
} reader;

/* The file at path, gzip-compressed or not (data_source.h). */
static hg_status reader_open_file(reader *r, const char *path, hg_error *err)
{
    memset(r, 0, sizeof *r);
    r->name = path;
    hg_status st = hg__source_open_file(&r->src, path, err);
    if (st != HG_OK)
        return st;
    r->buf = malloc(CHUNK);
    if (!r->buf) {
        hg__source_close(r->src);
        r->src = NULL;
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", path);
    }
    return HG_OK;
}

/* text[0..len): read in place, or through a source when it is gzip (1f 8b). */
static hg_status reader_open_memory(reader *r, const char *name, const char *text,
                                    size_t len, hg_error *err)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    if (len >= 2 && (unsigned char)text[0] == 0x1f && (unsigned char)text[1] == 0x8b) {
        hg_status st = hg__source_open_memory(&r->src, name, text, len, err);
        if (st != HG_OK)
            return st;
        r->buf = malloc(CHUNK);
        if (!r->buf) {
            hg__source_close(r->src);
            r->src = NULL;
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", name);
        }
        return HG_OK;
    }
    r->data = text;
    r->len = len;
    return HG_OK;
}

static void reader_close(reader *r)
{
    hg__source_close(r->src);
    free(r->buf);
    free(r->line);
    memset(r, 0, sizeof *r);
}

/* More bytes into data: 1 got some, 0 end of input, -1 read error (*st, err set). */
static int reader_refill(reader *r, hg_status *st, hg_error *err)
{
    if (!r->src)
        return 0;
    size_t got;
    hg_error e;
    if (hg__source_read(r->src, r->buf, CHUNK, &got, &e) != HG_OK) {
        /* the line being read when the (decompressed) data failed */
        *st = hg__error_set(err, e.status, 0, "%s:%zu: %s", r->name, r->lineno + 1,
                            e.message);
        return -1;
    }
    if (got == 0)
        return 0;
    r->data = r->buf;
    r->len = got;
    r->pos = 0;
    return 1;
}

/*
 * The next line into r->line (NUL-terminated, *len bytes, '\n' removed, may contain
 * NULs).  1: a line, 0: end of input, -1: error (*st and err set).  A line longer than
 * LINE_LIMIT is HG_RANGE.
 */
static int reader_next(reader *r, size_t *len, hg_status *st, hg_error *err)
{
    size_t n = 0;
    bool any = false;
    for (;;) {
        if (r->pos == r->len) {
            int rc = reader_refill(r, st, err);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                if (!any)
                    return 0;
                break;
            }
        }
        const char *p = r->data + r->pos;
        size_t avail = r->len - r->pos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        any = true;
        if (take > LINE_LIMIT - n) {
            *st = hg__error_set(err, HG_RANGE, 0,
                                "%s:%zu: line longer than 1 MiB (%zu bytes); not a "
                                "data file, or a bad line ending?",
                                r->name, r->lineno + 1, LINE_LIMIT);
            return -1;
        }
        if (n + take + 1 > r->line_cap) {
            size_t cap = r->line_cap ? r->line_cap : 256;
            while (cap < n + take + 1)
                cap *= 2;
            if (cap > LINE_LIMIT + 1)
                cap = LINE_LIMIT + 1;
            char *grown = realloc(r->line, cap);
            if (!grown) {
                *st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s:%zu: out of memory",
                                    r->name, r->lineno + 1);
                return -1;
            }
            r->line = grown;
            r->line_cap = cap;
        }
        memcpy(r->line + n, p, take);
        n += take;
        r->pos += take + (nl != NULL);
        if (nl)
            break;
    }
    if (!r->line) { /* an empty last line without a newline cannot happen, but be safe */
        r->line = malloc(1);
        if (!r->line) {
            *st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", r->name);
            return -1;
        }
        r->line_cap = 1;
    }
    r->line[n] = '\0';
    r->lineno++;
    *len = n;
    return 1;
}

static bool is_blank_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the UTF-8 sequence (a non-ASCII lead byte) at s, or 0 when invalid:
 * a stray continuation byte, an overlong form, a surrogate, above U+10FFFF, cut short. */
static size_t utf8_length(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        k = 2;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        k = 3;
        if (u[0] == 0xE0)
            lo = 0xA0;
        else if (u[0] == 0xED)
            hi = 0x9F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        k = 4;
        if (u[0] == 0xF0)
            lo = 0x90;
        else if (u[0] == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < k || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (u[i] < 0x80 || u[i] > 0xBF)
            return 0;
    return k;
}

/*
 * Common preparation of a text line: drop a UTF-8 BOM on line 1, reject binary bytes
 * (HG_IO "looks binary").  On return *s, *n are the line without BOM.
 */
static hg_status text_line(reader *r, char **s, size_t *n, hg_error *err)
{
    char *p = r->line;
    size_t len = *n;
    if (r->lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
        len -= 3;
    }
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\r' && c != '\v' && c != '\f') || c == 0x7f)
                return hg__error_set(err, HG_IO, 0,
                                     "%s:%zu: looks binary (control byte 0x%02x at position "
                                     "%zu of the line), not a text file",
                                     r->name, r->lineno, c, i + 1);
            i++;
            continue;
        }
        size_t k = utf8_length(p + i, len - i);
        if (k == 0)
            return hg__error_set(err, HG_IO, 0,
                                 "%s:%zu: looks binary (byte 0x%02x at position %zu of the "
                                 "line is not valid UTF-8), not a UTF-8 text file",
                                 r->name, r->lineno, c, i + 1);
        i += k;
    }
    *s = p;
    *n = len;
    return HG_OK;
}

/* ---- numbers ------------------------------------------------------------------ */

typedef enum num_result { NUM_OK, NUM_TEXT, NUM_NONFINITE, NUM_OVERFLOW, NUM_HEX } num_result;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Whether tok (NUL-terminated) is a whole decimal number: an optional sign, digits with
 * an optional '.' (at least one digit), an optional exponent.  strtod alone would also
 * take "0x1p3", "inf", "nan(...)" and leading white space.
 */
static bool is_decimal(const char *tok)
{
    const char *p = tok;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    while (is_digit(*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            return false;
        while (is_digit(*p))
            p++;
    }
    return *p == '\0';
}

/* Whether s starts with the lower-case ASCII word w, in any case; its length or 0. */
static size_t starts_with_word(const char *s, const char *w)
{
    size_t k = 0;
    while (w[k] && s[k] && (s[k] | 0x20) == w[k])
        k++;
    return w[k] ? 0 : k;
}

/*
 * Why a token that is not decimal was refused: a hexadecimal number ("0x..."), one of
 * strtod's NaN and Inf spellings ("nan", "nan(...)", "inf", "infinity", any case), or
 * text.
 */
static num_result not_decimal(const char *tok)
{
    const char *p = tok + (*tok == '+' || *tok == '-');
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return NUM_HEX;
    size_t k;
    if ((k = starts_with_word(p, "infinity")) || (k = starts_with_word(p, "inf")))
        return p[k] ? NUM_TEXT : NUM_NONFINITE;
    if ((k = starts_with_word(p, "nan")) != 0) {
        if (!p[k])
            return NUM_NONFINITE;
        size_t n = strlen(p);
        return p[k] == '(' && p[n - 1] == ')' ? NUM_NONFINITE : NUM_TEXT;
    }
    return NUM_TEXT;
}

/* A whole NUL-terminated token as a finite float. */
static num_result parse_float(const char *tok, float *out)
{
    if (!is_decimal(tok))
        return *tok ? not_decimal(tok) : NUM_TEXT;
    errno = 0;
    float v = strtof(tok, NULL);
    if (isinf(v))
        return NUM_OVERFLOW; /* a decimal number is never NaN or Inf but by overflow */
    *out = v; /* ERANGE with a finite value: underflow, accepted rounded */
    return NUM_OK;
}

/* A whole decimal token as an integer-valued double in [lo, hi]. */
static bool parse_integer(const char *tok, double lo, double hi, int32_t *out)
{
    if (!is_decimal(tok))
        return false;
    double v = strtod(tok, NULL);
    if (!(v >= lo && v <= hi) || v != floor(v))
        return false;
    *out = (int32_t)v;
    return true;
}

/* ---- schemas: the features and classes a file must conform to ----------------- */

/* hg_data_schema as first released (0.2.0) ends with source. */
#define SCHEMA_MIN_SIZE HG__FIELD_END(hg_data_schema, source)

void hg_data_schema_init_sized(hg_data_schema *s, size_t size)
{
    hg__sized_init(s, size); /* every field's default is its zero */
}

void hg_dataset_schema_sized(const hg_dataset *d, hg_data_schema *s_user, size_t size)
{
    if (!s_user || size < SCHEMA_MIN_SIZE)
        return;
    hg_data_schema s;
    hg_data_schema_init(&s);
    if (d) {
        s.features = d->features;
        if (d->labels && d->class_labels) {
            s.classes = d->class_labels;
            s.nclasses = d->classes;
        }
    }
    hg__sized_write(s_user, size, &s, sizeof s, SCHEMA_MIN_SIZE);
    s_user->struct_size = size; /* a whole struct of the caller's size: usable as input */
}

/*
 * The caller's schema (NULL: none) as this library's whole struct in *use; *schema is
 * pointed at *use, or stays NULL.  HG_INVALID_ARGUMENT naming the file for a bad
 * struct_size or unknown options set (hg__sized_read).
 */
static hg_status schema_read(const hg_data_schema **schema, hg_data_schema *use,
                             const char *name, hg_error *err)
{
    if (!*schema)
        return HG_OK;
    hg_data_schema_init(use);
    hg_error e;
    if (hg__sized_read(use, sizeof *use, *schema, (*schema)->struct_size, SCHEMA_MIN_SIZE,
                       "hg_data_schema", "hg_data_schema_init", &e) != HG_OK)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s", name, e.message);
    *schema = use;
    return HG_OK;
}

/* data_internal.h's class map, shared with data_npy.c */
typedef hg__class_pair class_pair;
typedef hg__class_map  class_map;

static int cmp_pair(const void *a, const void *b)
{
    int32_t x = ((const class_pair *)a)->value, y = ((const class_pair *)b)->value;
    return (x > y) - (x < y);
}

static const char *schema_source(const class_map *m)
{
    return m->schema && m->schema->source ? m->schema->source : "the schema";
}

/*
 * Check schema (may be NULL) for a file named name and build its class map.
 * with_classes: the file has labels a schema's classes can apply to.  HG_INVALID_ARGUMENT
 * or HG_RANGE for a bad schema, HG_OUT_OF_MEMORY; m is then empty.
 */
static hg_status class_map_init(class_map *m, const hg_data_schema *schema, const char *name,
                                bool with_classes, hg_error *err)
{
    memset(m, 0, sizeof *m);
    if (!schema)
        return HG_OK;
    if (schema->features > FEATURE_LIMIT)
        return hg__error_set(err, HG_RANGE, 0, "%s: the schema asks for %zu features, more "
                             "than the limit of %zu", name, schema->features, FEATURE_LIMIT);
    if (!schema->classes != !schema->nclasses)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: schema classes %s with "
                             "nclasses %zu", name, schema->classes ? "set" : "NULL",
                             schema->nclasses);
    m->schema = schema;
    if (!schema->classes)
        return HG_OK;
    if (!with_classes)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: the schema has classes but "
                             "the file is read without class labels", name);
    if (schema->nclasses > HG_DATA_MAX_CLASSES)
        return hg__error_set(err, HG_RANGE, 0, "%s: the schema has %zu classes, more than "
                             "the limit of %zu", name, schema->nclasses, HG_DATA_MAX_CLASSES);
    m->sorted = malloc(schema->nclasses * sizeof *m->sorted);
    if (!m->sorted)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", name);
    for (size_t k = 0; k < schema->nclasses; k++) {
        m->sorted[k].value = schema->classes[k];
        m->sorted[k].index = (int32_t)k;
    }
    m->n = schema->nclasses;
    qsort(m->sorted, m->n, sizeof *m->sorted, cmp_pair);
    for (size_t k = 1; k < m->n; k++)
        if (m->sorted[k].value == m->sorted[k - 1].value) {
            int32_t v = m->sorted[k].value;
            free(m->sorted);
            memset(m, 0, sizeof *m);
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: the schema's classes "
                                 "hold label %d twice", name, (int)v);
        }
    return HG_OK;
}

static void class_map_free(class_map *m)
{
    free(m->sorted);
    memset(m, 0, sizeof *m);
}

/* Whether labels are mapped through the schema's classes. */
static bool class_map_active(const class_map *m)
{
    return m->n > 0;
}

/* The class of label value v: true and *index, or false when v is not a class. */
static bool class_map_find(const class_map *m, int32_t v, int32_t *index)
{
    class_pair key = {v, 0};
    const class_pair *hit = bsearch(&key, m->sorted, m->n, sizeof *m->sorted, cmp_pair);
    if (!hit)
        return false;
    *index = hit->index;
    return true;
}

/* HG_IO: label v (at where: "file:line", "file: byte offset N") is not a class. */
static hg_status class_map_unseen(const class_map *m, const char *where, int32_t v,
                                  hg_error *err)
{
    /* the classes in class order: all of up to 12, else the first 8 and the last */
    char list[160];
    size_t o = 0, n = m->schema->nclasses;
    const int32_t *c = m->schema->classes;
    for (size_t k = 0; k < n && o < sizeof list; k++) {
        if (n > 12 && k == 8) {
            o += (size_t)snprintf(list + o, sizeof list - o, ", ...");
            k = n - 1;
        }
        if (o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", k ? ", " : "",
                                  (int)c[k]);
    }
    return hg__error_set(err, HG_IO, 0, "%s: label %d is not one of the %zu classes of "
                         "%s (%s)", where, (int)v, n, schema_source(m), list);
}

/* data_internal.h: the schema and class map helpers for the other loaders */

hg_status hg__data_schema_read(const hg_data_schema **schema, hg_data_schema *use,
                               const char *name, hg_error *err)
{
    return schema_read(schema, use, name, err);
}

hg_status hg__class_map_init(hg__class_map *m, const hg_data_schema *schema,
                             const char *name, bool with_classes, hg_error *err)
{
    return class_map_init(m, schema, name, with_classes, err);
}

void hg__class_map_free(hg__class_map *m)
{
    class_map_free(m);
}

bool hg__class_map_find(const hg__class_map *m, int32_t v, int32_t *index)
{
    return class_map_find(m, v, index);
}

hg_status hg__class_map_unseen(const hg__class_map *m, const char *where, int32_t v,
                               hg_error *err)
{
    return class_map_unseen(m, where, v, err);
}

const char *hg__class_map_source(const hg__class_map *m)
{
    return schema_source(m);
}

/* ---- dense builder -------------------------------------------------------------- */

typedef struct builder {
    size_t   features;
    size_t   rows, cap;   /* rows filled, rows allocated */
    size_t   max_rows;    /* never allocate beyond this many rows */
    bool     with_labels; /* allocate labels */
    bool     with_targets;
    float   *x;
    float   *targets;
    int32_t *labels;
    int32_t  max_label;   /* -1 before any */
} builder;

static void builder_init(builder *b, size_t features, size_t max_rows, bool with_labels,
                         bool with_targets)
{
    memset(b, 0, sizeof *b);
    b->features = features;
    b->max_rows = max_rows;
    b->with_labels = with_labels;
    b->with_targets = with_targets;
    b->max_label = -1;
}

static void builder_free(builder *b)
{
    free(b->x);
    free(b->targets);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

/* Room for one more row; name and line (0: none) locate the problem in messages. */
static hg_status builder_reserve(builder *b, const char *name, size_t line, hg_error *err)
{
    if (b->rows < b->cap)
        return HG_OK;
    char where[HG_ERROR_MESSAGE_MAX];
    if (line)
        snprintf(where, sizeof where, "%s:%zu", name, line);
    else
        snprintf(where, sizeof where, "%s", name);
    if (b->rows >= b->max_rows)
        return hg__error_set(err, HG_RANGE, 0, "%s: more than %zu rows", where, b->max_rows);
    size_t cap;
    if (b->cap == 0) {
        size_t row_bytes = b->features * sizeof(float);
        cap = row_bytes ? CHUNK / row_bytes : 1024;
        if (cap < 1)
            cap = 1;
        if (cap > 1024)
            cap = 1024;
    } else {
        cap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
    }
    if (cap > b->max_rows)
        cap = b->max_rows;
    if (b->features && cap > SIZE_MAX / sizeof(float) / b->features)
        return hg__error_set(err, HG_RANGE, 0, "%s: %zu rows x %zu features overflows size_t",
                             where, cap, b->features);
    if (b->features) {
        float *x = realloc(b->x, cap * b->features * sizeof(float));
        if (!x)
            goto oom;
        b->x = x;
    }
    if (b->with_targets) {
        float *t = realloc(b->targets, cap * sizeof(float));
        if (!t)
            goto oom;
        b->targets = t;
    }
    if (b->with_labels) {
        int32_t *l = realloc(b->labels, cap * sizeof(int32_t));
        if (!l)
            goto oom;
        b->labels = l;
    }
    b->cap = cap;
    return HG_OK;
oom:
    return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory for %zu rows of %zu "
                         "features", where, cap, b->features);
}

/*
 * Hand the arrays over to a new hg_dataset (shrunk to size); the builder is emptied.
 * With labels, the classes are the schema's when map is active (labels already hold
 * class indices), else 0 .. max_label (labels hold the values themselves).
 */
static hg_status builder_finish(builder *b, const class_map *map, const char *name,
                                hg_dataset **out, hg_error *err)
{
    hg_dataset *d = calloc(1, sizeof *d);
    size_t classes = !b->labels ? 0 : class_map_active(map) ? map->n
                                                            : (size_t)(b->max_label + 1);
    int32_t *class_labels = NULL;
    if (classes) {
        class_labels = malloc(classes * sizeof *class_labels);
        if (class_labels && class_map_active(map))
            memcpy(class_labels, map->schema->classes, classes * sizeof *class_labels);
        else if (class_labels)
            for (size_t k = 0; k < classes; k++)
                class_labels[k] = (int32_t)k;
    }
    if (!d || (classes && !class_labels)) {
        free(d);
        free(class_labels);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", name);
    }
    if (b->rows < b->cap) {
        if (b->x && b->rows * b->features > 0) {
            float *x = realloc(b->x, b->rows * b->features * sizeof(float));
            if (x)
                b->x = x;
        }
        if (b->targets) {
            float *t = realloc(b->targets, b->rows * sizeof(float));
            if (t)
                b->targets = t;
        }
        if (b->labels) {
            int32_t *l = realloc(b->labels, b->rows * sizeof(int32_t));
            if (l)
                b->labels = l;
        }
    }
    d->rows = b->rows;
    d->features = b->features;
    d->x = b->x;
    d->targets = b->targets;
    d->labels = b->labels;
    d->classes = classes;
    d->class_labels = class_labels;
    b->x = NULL;
    b->targets = NULL;
    b->labels = NULL;
    *out = d;
    return HG_OK;
}

void hg_dataset_free(hg_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->labels);
    free(d->targets);
    free(d->class_labels);
    free(d);
}

/* ---- CSV ---------------------------------------------------------------------- */

/* hg_csv_options as first released (0.2.0) ends with labels_are_classes. */
#define CSV_OPTIONS_MIN_SIZE HG__FIELD_END(hg_csv_options, labels_are_classes)

void hg_csv_options_init_sized(hg_csv_options *o, size_t size)
{
    if (!hg__sized_init(o, size))
        return;
    if (HG__SIZED_HAS(hg_csv_options, label_column, size))
        o->label_column = -1;
    if (HG__SIZED_HAS(hg_csv_options, delimiter, size))
        o->delimiter = ',';
    if (HG__SIZED_HAS(hg_csv_options, labels_are_classes, size))
        o->labels_are_classes = true;
}

typedef struct field {
    char  *s;   /* NUL-terminated in the line buffer */
    size_t len;
} field;

typedef struct fields {
    field *f;
    size_t n, cap;
} fields;

static hg_status fields_push(fields *fv, char *s, size_t len, const reader *r,
                             hg_error *err)
{
    if (fv->n == fv->cap) {
        if (fv->cap > FEATURE_LIMIT)
            return hg__error_set(err, HG_RANGE, 0, "%s:%zu: more than %zu columns",
                                 r->name, r->lineno, FEATURE_LIMIT + 1);
        size_t cap = fv->cap ? fv->cap * 2 : 16;
        field *g = realloc(fv->f, cap * sizeof *g);
        if (!g)
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s:%zu: out of memory", r->name,
                                 r->lineno);
        fv->f = g;
        fv->cap = cap;
    }
    s[len] = '\0';
    fv->f[fv->n].s = s;
    fv->f[fv->n].len = len;
    fv->n++;
    return HG_OK;
}

/* Split s[0..n) (s[n] == '\0') in place into fv. */
static hg_status csv_split(char *s, size_t n, char delim, fields *fv, const reader *r,
                           hg_error *err)
{
    char *p = s, *end = s + n;
    fv->n = 0;
    for (;;) {
        while (p < end && *p != delim && is_blank_byte(*p))
            p++;
        char *start, *fend;
        if (p < end && *p == '"') {
            char *w = p;
            start = w;
            p++;
            for (;;) {
                if (p == end)
                    return hg__error_set(err, HG_IO, 0,
                                         "%s:%zu: column %zu: unterminated quote (quoted "
                                         "fields cannot span lines)",
                                         r->name, r->lineno, fv->n + 1);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            fend = w;
            while (p < end && *p != delim && is_blank_byte(*p))
                p++;
            if (p < end && *p != delim) {
                quoted q;
                return hg__error_set(err, HG_IO, 0,
                                     "%s:%zu: column %zu: text %s after a closing quote",
                                     r->name, r->lineno, fv->n + 1,
                                     quote(&q, p, (size_t)(end - p)));
            }
        } else {
            start = p;
            while (p < end && *p != delim)
                p++;
            fend = p;
            while (fend > start && is_blank_byte(fend[-1]))
                fend--;
        }
        bool more = p < end; /* then *p == delim */
        hg_status st = fields_push(fv, start, (size_t)(fend - start), r, err);
        if (st != HG_OK)
            return st;
        if (!more)
            return HG_OK;
        p++;
    }
}

static hg_status csv_value_error(const reader *r, size_t col, const field *f,
                                 num_result nr, hg_error *err)
{
    quoted q;
    switch (nr) {
    case NUM_NONFINITE:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu: NaN or Inf value %s "
                             "(not allowed)", r->name, r->lineno, col,
                             quote(&q, f->s, f->len));
    case NUM_OVERFLOW:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu: value %s overflows float "
                             "(out of range)", r->name, r->lineno, col,
                             quote(&q, f->s, f->len));
    case NUM_HEX:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu: hexadecimal number %s "
                             "(not allowed: write numbers in decimal)", r->name, r->lineno,
                             col, quote(&q, f->s, f->len));
    default:
        if (f->len == 0)
            return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu is empty, expected a "
                                 "number", r->name, r->lineno, col);
        return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu: %s is not a number",
                             r->name, r->lineno, col, quote(&q, f->s, f->len));
    }
}

/* The label in field f (column col) of the current line into b's row; mapped by map. */
static hg_status csv_label(reader *r, const class_map *map, size_t col, const field *f,
                           builder *b, hg_error *err)
{
    quoted q;
    int32_t lab;
    if (class_map_active(map)) {
        if (!parse_integer(f->s, (double)INT32_MIN, (double)INT32_MAX, &lab))
            return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu: label %s is not an "
                                 "integer", r->name, r->lineno, col, quote(&q, f->s, f->len));
        int32_t k;
        if (!class_map_find(map, lab, &k)) {
            char where[HG_ERROR_MESSAGE_MAX];
            snprintf(where, sizeof where, "%s:%zu: column %zu", r->name, r->lineno, col);
            return class_map_unseen(map, where, lab, err);
        }
        b->labels[b->rows] = k;
        b->targets[b->rows] = (float)lab;
        return HG_OK;
    }
    if (!parse_integer(f->s, 0.0, (double)INT32_MAX, &lab))
        return hg__error_set(err, HG_IO, 0, "%s:%zu: column %zu: label %s is not a "
                             "non-negative integer", r->name, r->lineno, col,
                             quote(&q, f->s, f->len));
    if ((size_t)lab >= HG_DATA_MAX_CLASSES)
        return hg__error_set(err, HG_RANGE, 0, "%s:%zu: column %zu: label %d is above the "
                             "limit of %zu classes (labels 0 to %zu)", r->name, r->lineno,
                             col, (int)lab, HG_DATA_MAX_CLASSES, HG_DATA_MAX_CLASSES - 1);
    b->labels[b->rows] = lab;
    b->targets[b->rows] = (float)lab;
    if (lab > b->max_label)
        b->max_label = lab;
    return HG_OK;
}

static hg_status csv_parse(reader *r, const hg_csv_options *o, const class_map *map,
                           hg_dataset **out, hg_error *err)
{
    hg_status st = HG_OK;
    fields fv = {0};
    builder b;
    size_t ncols = 0, cols_line = 0, label_col = 0, last_line = 0;
    bool header_done = !o->header, any_text = false;
    builder_init(&b, 0, ROW_LIMIT, o->labels_are_classes, true);

    for (;;) {
        size_t n;
        int rc = reader_next(r, &n, &st, err);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        last_line = r->lineno;
        char *s;
        if ((st = text_line(r, &s, &n, err)) != HG_OK)
            goto done;
        bool blank = true;
        for (size_t i = 0; i < n && blank; i++)
            blank = is_blank_byte(s[i]);
        if (blank)
            continue;
        any_text = true;
        /* trailing white space other than the delimiter (CR of CRLF included) */
        while (n > 0 && s[n - 1] != o->delimiter && is_blank_byte(s[n - 1]))
            n--;
        s[n] = '\0';
        if ((st = csv_split(s, n, o->delimiter, &fv, r, err)) != HG_OK)
            goto done;

        if (ncols == 0) {
            ncols = fv.n;
            cols_line = r->lineno;
            if (ncols < 2) {
                st = hg__error_set(err, HG_IO, 0, "%s:%zu: %zu column, need at least 2 "
                                   "(features and a label); wrong delimiter?",
                                   r->name, r->lineno, ncols);
                goto done;
            }
            if (ncols - 1 > FEATURE_LIMIT) {
                st = hg__error_set(err, HG_RANGE, 0, "%s:%zu: %zu features, more than "
                                   "the limit of %zu", r->name, r->lineno, ncols - 1,
                                   FEATURE_LIMIT);
                goto done;
            }
            if (o->label_column >= 0 && (unsigned long)o->label_column >= ncols) {
                st = hg__error_set(err, HG_RANGE, 0, "%s:%zu: label_column %ld (0-based) "
                                   "but the line has %zu columns",
                                   r->name, r->lineno, o->label_column, ncols);
                goto done;
            }
            label_col = o->label_column < 0 ? ncols - 1 : (size_t)o->label_column;
            b.features = ncols - 1;
            if (map->schema && map->schema->features && b.features != map->schema->features) {
                st = hg__error_set(err, HG_IO, 0, "%s:%zu: %zu features (%zu columns less "
                                   "the label), but %s has %zu", r->name, r->lineno,
                                   b.features, ncols, schema_source(map),
                                   map->schema->features);
                goto done;
            }
        }
        if (!header_done) {
            header_done = true;
            continue;
        }
        if (fv.n != ncols) {
            st = hg__error_set(err, HG_IO, 0, "%s:%zu: expected %zu columns (as on line "
                               "%zu), got %zu", r->name, r->lineno, ncols, cols_line, fv.n);
            goto done;
        }
        if ((st = builder_reserve(&b, r->name, r->lineno, err)) != HG_OK)
            goto done;
        float *xr = b.x + b.rows * b.features;
        size_t j = 0;
        for (size_t c = 0; c < ncols; c++) {
            const field *f = &fv.f[c];
            if (f->len == 0) {
                st = csv_value_error(r, c + 1, f, NUM_TEXT, err);
                goto done;
            }
            if (c == label_col) {
                if (o->labels_are_classes) {
                    if ((st = csv_label(r, map, c + 1, f, &b, err)) != HG_OK)
                        goto done;
                } else {
                    num_result nr = parse_float(f->s, &b.targets[b.rows]);
                    if (nr != NUM_OK) {
                        st = csv_value_error(r, c + 1, f, nr, err);
                        goto done;
                    }
                }
            } else {
                num_result nr = parse_float(f->s, &xr[j++]);
                if (nr != NUM_OK) {
                    st = csv_value_error(r, c + 1, f, nr, err);
                    goto done;
                }
            }
        }
        b.rows++;
    }

    if (!any_text) {
        st = hg__error_set(err, HG_IO, 0, "%s:%zu: empty file: no data rows", r->name,
                           last_line ? last_line : 1);
        goto done;
    }
    if (b.rows == 0) {
        st = hg__error_set(err, HG_IO, 0, "%s:%zu: no data rows (only a header)", r->name,
                           last_line);
        goto done;
    }
    st = builder_finish(&b, map, r->name, out, err);
done:
    free(fv.f);
    builder_free(&b);
    return st;
}

static hg_status csv_options(const hg_csv_options *o, hg_csv_options *use, const char *name,
                             hg_error *err)
{
    hg_csv_options_init(use);
    if (!o)
        return HG_OK;
    hg_error e;
    if (hg__sized_read(use, sizeof *use, o, o->struct_size, CSV_OPTIONS_MIN_SIZE,
                       "hg_csv_options", "hg_csv_options_init", &e) != HG_OK)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: %s", name, e.message);
    if (use->delimiter != ',' && use->delimiter != ';' && use->delimiter != '\t' &&
        use->delimiter != '|')
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: CSV delimiter 0x%02x is not "
                             "',', ';', '|' or tab", name, (unsigned char)use->delimiter);
    if (use->label_column < -1)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: label_column %ld (0-based; "
                             "-1 = last)", name, use->label_column);
    return HG_OK;
}

hg_status hg_dataset_load_csv_as(const char *path, const hg_csv_options *o,
                                 const hg_data_schema *schema, hg_dataset **out,
                                 hg_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_dataset_load_csv: NULL %s", path ? "out" : "path");
    hg_error_clear(err);
    hg_csv_options use;
    hg_status st = csv_options(o, &use, path, err);
    if (st != HG_OK)
        return st;
    hg_data_schema schema_use;
    if ((st = schema_read(&schema, &schema_use, path, err)) != HG_OK)
        return st;
    class_map map;
    if ((st = class_map_init(&map, schema, path, use.labels_are_classes, err)) != HG_OK)
        return st;
    reader r;
    if ((st = reader_open_file(&r, path, err)) != HG_OK) {
        class_map_free(&map);
        return st;
    }
    c_locale loc;
    c_locale_enter(&loc);
    st = csv_parse(&r, &use, &map, out, err);
    c_locale_leave(&loc);
    reader_close(&r);
    class_map_free(&map);
    return st;
}

hg_status hg_dataset_load_csv(const char *path, const hg_csv_options *o, hg_dataset **out,
                              hg_error *err)
{
    return hg_dataset_load_csv_as(path, o, NULL, out, err);
}

hg_status hg_dataset_load_memory_csv(const char *name, const char *text, size_t len,
                                     const hg_csv_options *o, hg_dataset **out,
                                     hg_error *err)
{
    if (out)
        *out = NULL;
    if (!name)
        name = "<memory>";
    if ((!text && len) || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_dataset_load_memory_csv(%s): NULL %s", name,
                             out ? "text" : "out");
    hg_error_clear(err);
    hg_csv_options use;
    hg_status st = csv_options(o, &use, name, err);
    if (st != HG_OK)
        return st;
    reader r;
    if ((st = reader_open_memory(&r, name, text, len, err)) != HG_OK)
        return st;
    class_map none = {0};
    c_locale loc;
    c_locale_enter(&loc);
    st = csv_parse(&r, &use, &none, out, err);
    c_locale_leave(&loc);
    reader_close(&r);
    return st;
}

/* ---- LIBSVM ------------------------------------------------------------------- */

typedef struct sparse {
    size_t   rows, row_cap;
    size_t  *start;   /* row_cap + 1: entries of row i are [start[i], start[i+1]) */
    int32_t *label;   /* row_cap */
    size_t   nnz, nnz_cap;
    uint32_t *idx;    /* 0-based feature column */
    float   *val;
    size_t   max_idx; /* largest 1-based index seen */
} sparse;

static void sparse_free(sparse *sp)
{
    free(sp->start);
    free(sp->label);
    free(sp->idx);
    free(sp->val);
    memset(sp, 0, sizeof *sp);
}

static hg_status sparse_new_row(sparse *sp, const reader *r, hg_error *err)
{
    if (sp->rows == sp->row_cap) {
        if (sp->rows >= ROW_LIMIT)
            return hg__error_set(err, HG_RANGE, 0, "%s:%zu: more than %zu rows", r->name,
                                 r->lineno, ROW_LIMIT);
        size_t cap = sp->row_cap ? sp->row_cap * 2 : 256;
        if (cap > ROW_LIMIT)
            cap = ROW_LIMIT;
        size_t *s = realloc(sp->start, (cap + 1) * sizeof *s);
        if (!s)
            goto oom;
        sp->start = s;
        int32_t *l = realloc(sp->label, cap * sizeof *l);
        if (!l)
            goto oom;
        sp->label = l;
        sp->row_cap = cap;
        if (sp->rows == 0)
            sp->start[0] = 0;
    }
    return HG_OK;
oom:
    return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s:%zu: out of memory", r->name,
                         r->lineno);
}

static hg_status sparse_push(sparse *sp, uint32_t col, float v, const reader *r,
                             hg_error *err)
{
    if (sp->nnz == sp->nnz_cap) {
        size_t cap = sp->nnz_cap ? sp->nnz_cap * 2 : 1024;
        if (cap > SIZE_MAX / sizeof(float))
            return hg__error_set(err, HG_RANGE, 0, "%s:%zu: too many values", r->name,
                                 r->lineno);
        uint32_t *i = realloc(sp->idx, cap * sizeof *i);
        if (!i)
            goto oom;
        sp->idx = i;
        float *f = realloc(sp->val, cap * sizeof *f);
        if (!f)
            goto oom;
        sp->val = f;
        sp->nnz_cap = cap;
    }
    sp->idx[sp->nnz] = col;
    sp->val[sp->nnz] = v;
    sp->nnz++;
    return HG_OK;
oom:
    return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s:%zu: out of memory", r->name,
                         r->lineno);
}

/* One "index:value" token (not qid:) of the current line; map names the features' source. */
static hg_status libsvm_pair(sparse *sp, char *tok, size_t len, size_t features,
                             const class_map *map, size_t *prev, const reader *r,
                             hg_error *err)
{
    quoted q;
    char *colon = memchr(tok, ':', len);
    if (!colon || colon == tok)
        return hg__error_set(err, HG_IO, 0, "%s:%zu: expected index:value, got %s",
                             r->name, r->lineno, quote(&q, tok, len));
    size_t index = 0;
    for (char *d = tok; d < colon; d++) {
        if (*d < '0' || *d > '9')
            return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index %s is not a "
                                 "positive integer", r->name, r->lineno,
                                 quote(&q, tok, (size_t)(colon - tok)));
        if (index <= FEATURE_LIMIT) /* saturate: anything above is an error anyway */
            index = index * 10 + (size_t)(*d - '0');
    }
    if (index < 1)
        return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index 0 is below 1 (LIBSVM "
                             "indices are 1-based)", r->name, r->lineno);
    if (index > FEATURE_LIMIT)
        return hg__error_set(err, HG_RANGE, 0, "%s:%zu: feature index %s above the limit "
                             "of %zu features", r->name, r->lineno,
                             quote(&q, tok, (size_t)(colon - tok)), FEATURE_LIMIT);
    if (features && index > features)
        return hg__error_set(err, HG_RANGE, 0, "%s:%zu: feature index %zu out of range: "
                             "above the %zu features %s%s", r->name, r->lineno, index,
                             features, map->schema && map->schema->source ? "of " : "asked for",
                             map->schema && map->schema->source ? map->schema->source : "");
    if (index <= *prev)
        return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index %zu out of order: not "
                             "above the previous index %zu (indices must ascend)",
                             r->name, r->lineno, index, *prev);
    *prev = index;
    float v;
    char *vs = colon + 1;
    switch (parse_float(vs, &v)) {
    case NUM_OK:
        break;
    case NUM_NONFINITE:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index %zu: NaN or Inf value "
                             "%s (not allowed)", r->name, r->lineno, index,
                             quote(&q, vs, (size_t)(tok + len - vs)));
    case NUM_OVERFLOW:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index %zu: value %s "
                             "overflows float (out of range)", r->name, r->lineno, index,
                             quote(&q, vs, (size_t)(tok + len - vs)));
    case NUM_HEX:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index %zu: hexadecimal "
                             "number %s (not allowed: write numbers in decimal)", r->name,
                             r->lineno, index, quote(&q, vs, (size_t)(tok + len - vs)));
    default:
        return hg__error_set(err, HG_IO, 0, "%s:%zu: feature index %zu: value %s is not a "
                             "number", r->name, r->lineno, index,
                             quote(&q, vs, (size_t)(tok + len - vs)));
    }
    if (index > sp->max_idx)
        sp->max_idx = index;
    return sparse_push(sp, (uint32_t)(index - 1), v, r, err);
}

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * Dense data set from the sparse rows; labels mapped to their rank among the distinct
 * labels, or through map when it is active (every label was found there while parsing).
 */
static hg_status libsvm_finish(sparse *sp, size_t features, const class_map *map,
                               const reader *r, bool dense, hg_dataset **out, hg_error *err)
{
    size_t nf = features ? features : sp->max_idx;
    if (nf == 0)
        return hg__error_set(err, HG_IO, 0, "%s:%zu: no feature index in any row; pass the "
                             "feature count", r->name, r->lineno);
    if (sp->rows > SIZE_MAX / sizeof(float) / nf)
        return hg__error_set(err, HG_RANGE, 0, "%s:%zu: %zu rows x %zu features overflows "
                             "size_t", r->name, r->lineno, sp->rows, nf);
    /*
     * Densifying is the point, but not at any price: more than 1 GiB of dense
     * floats for data that is over 99.9% zeros (a stray huge index, found by
     * fuzzing) is refused rather than attempted.
     */
    double cells = (double)sp->rows * (double)nf;
    if (dense && cells * sizeof(float) > (double)(1u << 30) &&
        cells > 1000.0 * (double)(sp->nnz + sp->rows))
        return hg__error_set(err, HG_RANGE, 0,
                             "%s:%zu: densifying %zu rows x %zu features needs %.1f GiB for "
                             "only %zu non-zero values; pass the real feature count",
                             r->name, r->lineno, sp->rows, nf,
                             cells * sizeof(float) / (double)(1u << 30), sp->nnz);
    hg_dataset *d = calloc(1, sizeof *d);
    /* the distinct labels (rows at most), or the schema's classes */
    int32_t *sorted = malloc((sp->rows > map->n ? sp->rows : map->n) * sizeof *sorted);
    if (d) {
        d->x = dense ? calloc(sp->rows * nf, sizeof(float)) : NULL;
        d->labels = malloc(sp->rows * sizeof(int32_t));
        d->targets = malloc(sp->rows * sizeof(float));
    }
    if (!d || !sorted || (dense && !d->x) || !d->labels || !d->targets) {
        hg_dataset_free(d);
        free(sorted);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory for %zu rows x "
                             "%zu features", r->name, sp->rows, nf);
    }
    d->rows = sp->rows;
    d->features = nf;
    for (size_t i = 0; dense && i < sp->rows; i++) {
        float *xr = d->x + i * nf;
        for (size_t k = sp->start[i]; k < sp->start[i + 1]; k++)
            xr[sp->idx[k]] = sp->val[k];
    }
    if (class_map_active(map)) {
        for (size_t i = 0; i < sp->rows; i++) {
            class_map_find(map, sp->label[i], &d->labels[i]); /* always found */
            d->targets[i] = (float)sp->label[i];
        }
        memcpy(sorted, map->schema->classes, map->n * sizeof *sorted);
        d->classes = map->n;
    } else {
        memcpy(sorted, sp->label, sp->rows * sizeof *sorted);
        qsort(sorted, sp->rows, sizeof *sorted, cmp_int32);
        size_t k = 0;
        for (size_t i = 0; i < sp->rows; i++)
            if (k == 0 || sorted[i] != sorted[k - 1])
                sorted[k++] = sorted[i];
        if (k > HG_DATA_MAX_CLASSES) {
            hg_dataset_free(d);
            free(sorted);
            return hg__error_set(err, HG_RANGE, 0, "%s:%zu: %zu distinct labels, more than "
                                 "the limit of %zu classes", r->name, r->lineno, k,
                                 HG_DATA_MAX_CLASSES);
        }
        for (size_t i = 0; i < sp->rows; i++) {
            const int32_t *hit = bsearch(&sp->label[i], sorted, k, sizeof *sorted, cmp_int32);
            d->labels[i] = (int32_t)(hit - sorted); /* always found */
            d->targets[i] = (float)sp->label[i];
        }
        d->classes = k;
    }
    d->class_labels = malloc(d->classes * sizeof *sorted);
    if (!d->class_labels) {
        hg_dataset_free(d);
        free(sorted);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", r->name);
    }
    memcpy(d->class_labels, sorted, d->classes * sizeof *sorted);
    free(sorted);
    *out = d;
    return HG_OK;
}

/*
 * Parse a LIBSVM file into a dense data set (*out), or, when csr is not NULL, into a
 * CSR one (*csr; out unused): the rows are then handed over without densifying.
 */
static hg_status libsvm_parse(reader *r, size_t features, const class_map *map,
                              hg_dataset **out, hg_csr_dataset **csr, hg_error *err)
{
    hg_status st = HG_OK;
    sparse sp = {0};
    bool any_text = false;
    for (;;) {
        size_t n;
        int rc = reader_next(r, &n, &st, err);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        char *s;
        if ((st = text_line(r, &s, &n, err)) != HG_OK)
            goto done;
        char *hash = memchr(s, '#', n);
        if (hash)
            n = (size_t)(hash - s);
        char *p = s, *end = s + n;
        while (p < end && is_blank_byte(*p))
            p++;
        if (p == end)
            continue;
        any_text = true;
        if ((st = sparse_new_row(&sp, r, err)) != HG_OK)
            goto done;
        bool first = true;
        size_t prev = 0;
        while (p < end) {
            char *tok = p;
            while (p < end && !is_blank_byte(*p))
                p++;
            size_t len = (size_t)(p - tok);
            *p = '\0'; /* p <= end; s[n] is inside the line buffer */
            if (first) {
                int32_t lab;
                if (!parse_integer(tok, (double)INT32_MIN, (double)INT32_MAX, &lab)) {
                    quoted q;
                    st = hg__error_set(err, HG_IO, 0, "%s:%zu: label %s is not an integer",
                                       r->name, r->lineno, quote(&q, tok, len));
                    goto done;
                }
                int32_t k;
                if (class_map_active(map) && !class_map_find(map, lab, &k)) {
                    char where[HG_ERROR_MESSAGE_MAX];
                    snprintf(where, sizeof where, "%s:%zu", r->name, r->lineno);
                    st = class_map_unseen(map, where, lab, err);
                    goto done;
                }
                sp.label[sp.rows] = lab;
                first = false;
            } else if (len >= 4 && memcmp(tok, "qid:", 4) == 0) {
                /* query id: ignored */
            } else if ((st = libsvm_pair(&sp, tok, len, features, map, &prev, r, err)) != HG_OK) {
                goto done;
            }
            if (p < end)
                p++;
            while (p < end && is_blank_byte(*p))
                p++;
        }
        sp.rows++;
        sp.start[sp.rows] = sp.nnz;
    }
    if (!any_text) {
        st = hg__error_set(err, HG_IO, 0, "%s:%zu: empty file: no data rows", r->name,
                           r->lineno ? r->lineno : 1);
        goto done;
    }
    if (!csr) {
        st = libsvm_finish(&sp, features, map, r, true, out, err);
        goto done;
    }
    hg_dataset *lab = NULL;
    st = libsvm_finish(&sp, features, map, r, false, &lab, err);
    if (st == HG_OK) {
        hg__csr_parts parts = {.rows = sp.rows, .features = lab->features, .nnz = sp.nnz,
                               .row_ptr = sp.start, .cols = sp.idx, .vals = sp.val,
                               .labels = lab->labels, .class_labels = lab->class_labels,
                               .targets = lab->targets, .classes = lab->classes};
        st = hg__csr_assemble(&parts, r->name, csr, err);
        /* on success every array now belongs to *csr; on failure they were freed */
        sp.start = NULL;
        sp.idx = NULL;
        sp.val = NULL;
        lab->labels = NULL;
        lab->targets = NULL;
        lab->class_labels = NULL;
        hg_dataset_free(lab);
    }
done:
    sparse_free(&sp);
    return st;
}

hg_status hg_dataset_load_libsvm_as(const char *path, const hg_data_schema *schema,
                                    hg_dataset **out, hg_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_dataset_load_libsvm: NULL %s", path ? "out" : "path");
    hg_data_schema schema_use;
    hg_status st = schema_read(&schema, &schema_use, path, err);
    if (st != HG_OK)
        return st;
    size_t features = schema ? schema->features : 0;
    if (features > FEATURE_LIMIT)
        return hg__error_set(err, HG_RANGE, 0, "%s: %zu features asked for, more than the "
                             "limit of %zu", path, features, FEATURE_LIMIT);
    hg_error_clear(err);
    class_map map;
    st = class_map_init(&map, schema, path, true, err);
    if (st != HG_OK)
        return st;
    reader r;
    if ((st = reader_open_file(&r, path, err)) != HG_OK) {
        class_map_free(&map);
        return st;
    }
    c_locale loc;
    c_locale_enter(&loc);
    st = libsvm_parse(&r, features, &map, out, NULL, err);
    c_locale_leave(&loc);
    reader_close(&r);
    class_map_free(&map);
    return st;
}

hg_status hg_dataset_load_libsvm(const char *path, size_t features, hg_dataset **out,
                                 hg_error *err)
{
    hg_data_schema s;
    hg_data_schema_init(&s);
    s.features = features;
    return hg_dataset_load_libsvm_as(path, &s, out, err);
}

hg_status hg__libsvm_load_csr(const char *path, const char *name, const char *text,
                              size_t len, const hg_data_schema *schema,
                              hg_csr_dataset **out, hg_error *err)
{
    const char *what = path ? path : name ? name : "<memory>";
    hg_data_schema schema_use;
    hg_status st = schema_read(&schema, &schema_use, what, err);
    if (st != HG_OK)
        return st;
    size_t features = schema ? schema->features : 0;
    if (features > FEATURE_LIMIT)
        return hg__error_set(err, HG_RANGE, 0, "%s: %zu features asked for, more than the "
                             "limit of %zu", what, features, FEATURE_LIMIT);
    hg_error_clear(err);
    class_map map;
    if ((st = class_map_init(&map, schema, what, true, err)) != HG_OK)
        return st;
    reader r;
    if (path) {
        if ((st = reader_open_file(&r, path, err)) != HG_OK) {
            class_map_free(&map);
            return st;
        }
    } else if ((st = reader_open_memory(&r, what, text, len, err)) != HG_OK) {
        class_map_free(&map);
        return st;
    }
    c_locale loc;
    c_locale_enter(&loc);
    st = libsvm_parse(&r, features, &map, NULL, out, err);
    c_locale_leave(&loc);
    reader_close(&r);
    class_map_free(&map);
    return st;
}

/* ---- IDX ---------------------------------------------------------------------- */

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u

typedef struct idx_file {
    const char        *path;
    hg__source        *src; /* raw or gzip (offsets count decompressed bytes) */
    unsigned long long off; /* bytes read so far */
} idx_file;

static hg_status idx_open(idx_file *f, const char *path, hg_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    return hg__source_open_file(&f->src, path, err);
}

static void idx_close(idx_file *f)
{
    hg__source_close(f->src);
    f->src = NULL;
}

/*
 * Up to n bytes; *got < n only at the end of the data.  A read error, or a truncated or
 * corrupt gzip stream (or data after it), is HG_IO at the offset where it failed.
 */
static hg_status idx_read(idx_file *f, void *buf, size_t n, size_t *got, hg_error *err)
{
    *got = 0;
    while (*got < n) {
        size_t k;
        hg_error e;
        if (hg__source_read(f->src, (unsigned char *)buf + *got, n - *got, &k, &e) != HG_OK)
            return hg__error_set(err, e.status, 0, "%s: byte offset %llu: %s", f->path,
                                 f->off, e.message);
        if (k == 0)
            break;
        *got += k;
        f->off += k;
    }
    return HG_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Magic and ndims dimensions (ndims <= 3). */
static hg_status idx_header(idx_file *f, uint32_t magic, uint32_t *dims, size_t ndims,
                            hg_error *err)
{
    unsigned char h[12];
    size_t got;
    const char *kind = magic == IDX_IMAGES ? "images" : "labels";
    hg_status st = idx_read(f, h, 4, &got, err);
    if (st != HG_OK)
        return st;
    if (got == 0)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 0: empty file, no IDX %s "
                             "header", f->path, kind);
    if (got < 4)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends inside the "
                             "4-byte IDX magic number", f->path, f->off);
    uint32_t m = be32(h);
    if (m != magic) {
        const char *hint = m == IDX_IMAGES   ? " (that is an images file)"
                           : m == IDX_LABELS ? " (that is a labels file)"
                           : (m >> 8) == 0x08 ? " (only unsigned-byte data is supported)"
                                              : " (not an IDX file)";
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 0: magic number 0x%08x, "
                             "expected 0x%08x for IDX %s%s", f->path, (unsigned)m,
                             (unsigned)magic, kind, hint);
    }
    if ((st = idx_read(f, h, 4 * ndims, &got, err)) != HG_OK)
        return st;
    if (got < 4 * ndims)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends inside the "
                             "%zu-byte IDX %s header", f->path, f->off, 4 + 4 * ndims, kind);
    for (size_t i = 0; i < ndims; i++)
        dims[i] = be32(h + 4 * i);
    return HG_OK;
}

/* After the payload: nothing may follow. */
static hg_status idx_expect_end(idx_file *f, const char *promise, hg_error *err)
{
    unsigned char extra;
    size_t got;
    unsigned long long at = f->off;
    hg_status st = idx_read(f, &extra, 1, &got, err);
    if (st != HG_OK)
        return st;
    if (got)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: unexpected data after "
                             "the %s the header promises (lying header or trailing bytes)",
                             f->path, at, promise);
    return HG_OK;
}

/* The images header's promise checked: a count and a size of image within the limits,
   and the features the schema (if any) expects. */
static hg_status idx_check_images(const char *images, const uint32_t idims[3],
                                  const hg_data_schema *schema, const class_map *map,
                                  hg_error *err)
{
    uint64_t feat64 = (uint64_t)idims[1] * idims[2];
    size_t n = idims[0];
    if (feat64 == 0 || feat64 > FEATURE_LIMIT)
        return hg__error_set(err, feat64 ? HG_RANGE : HG_IO, 0, "%s: byte offset 8: images "
                             "of %u x %u pixels: %s", images, (unsigned)idims[1],
                             (unsigned)idims[2], feat64 ? "more than 1000000 features"
                                                        : "no pixels");
    if (n == 0)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 4: the header says 0 images: "
                             "no data rows", images);
    if (n > ROW_LIMIT)
        return hg__error_set(err, HG_RANGE, 0, "%s: byte offset 4: %zu images, more than "
                             "the limit of %zu rows", images, n, ROW_LIMIT);
    if (schema && schema->features && (size_t)feat64 != schema->features)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 8: images of %u x %u pixels "
                             "(%zu features), but %s has %zu", images, (unsigned)idims[1],
                             (unsigned)idims[2], (size_t)feat64, schema_source(map),
                             schema->features);
    return HG_OK;
}

/* Every image's pixels into b (scaled to [0, 1]), block images at a time through tmp,
   then the end of the file. */
static hg_status idx_read_pixels(idx_file *fi, const uint32_t idims[3], builder *b,
                                 unsigned char *tmp, size_t block, hg_error *err)
{
    size_t n = idims[0], features = (size_t)idims[1] * idims[2];
    hg_status st;
    while (b->rows < n) {
        if ((st = builder_reserve(b, fi->path, 0, err)) != HG_OK)
            return st;
        size_t k = b->cap - b->rows;
        if (k > block)
            k = block;
        if (k > n - b->rows)
            k = n - b->rows;
        size_t got;
        if ((st = idx_read(fi, tmp, k * features, &got, err)) != HG_OK)
            return st;
        if (got < k * features)
            return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends early: the "
                                 "header promises %zu images of %u x %u pixels (%llu bytes "
                                 "after the 16-byte header)", fi->path, fi->off, n,
                                 (unsigned)idims[1], (unsigned)idims[2],
                                 (unsigned long long)n * features);
        float *x = b->x + b->rows * features;
        for (size_t i = 0; i < k * features; i++)
            x[i] = (float)tmp[i] / 255.0f;
        b->rows += k;
    }
    char promise[96];
    snprintf(promise, sizeof promise, "%zu images of %u x %u pixels", n, (unsigned)idims[1],
             (unsigned)idims[2]);
    return idx_expect_end(fi, promise, err);
}

/* n labels into b (mapped through map when it is active), tmp_size bytes at a time
   through tmp, then the end of the file. */
static hg_status idx_read_labels(idx_file *fl, size_t n, builder *b, class_map *map,
                                 unsigned char *tmp, size_t tmp_size, hg_error *err)
{
    b->labels = malloc(n * sizeof *b->labels);
    b->targets = malloc(n * sizeof *b->targets);
    if (!b->labels || !b->targets)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", fl->path);
    hg_status st;
    size_t done_rows = 0;
    while (done_rows < n) {
        size_t k = n - done_rows < tmp_size ? n - done_rows : tmp_size;
        size_t got;
        if ((st = idx_read(fl, tmp, k, &got, err)) != HG_OK)
            return st;
        if (got < k)
            return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends early: "
                                 "the header promises %zu labels (%zu bytes after the "
                                 "8-byte header)", fl->path, fl->off, n, n);
        for (size_t i = 0; i < k; i++) {
            int32_t cls = tmp[i];
            if (class_map_active(map) && !class_map_find(map, tmp[i], &cls)) {
                char where[HG_ERROR_MESSAGE_MAX];
                snprintf(where, sizeof where, "%s: byte offset %llu", fl->path,
                         8ull + done_rows + i);
                return class_map_unseen(map, where, tmp[i], err);
            }
            b->labels[done_rows + i] = cls;
            b->targets[done_rows + i] = (float)tmp[i];
            if (tmp[i] > b->max_label)
                b->max_label = tmp[i];
        }
        done_rows += k;
    }
    char promise[96];
    snprintf(promise, sizeof promise, "%zu labels", n);
    return idx_expect_end(fl, promise, err);
}

hg_status hg_dataset_load_idx_as(const char *images, const char *labels,
                                 const hg_data_schema *schema, hg_dataset **out, hg_error *err)
{
    if (out)
        *out = NULL;
    if (!images || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_dataset_load_idx: NULL %s",
                             images ? "out" : "images path");
    hg_error_clear(err);
    hg_data_schema schema_use;
    hg_status st = schema_read(&schema, &schema_use, images, err);
    if (st != HG_OK)
        return st;
    idx_file fi = {0}, fl = {0};
    builder b;
    unsigned char *tmp = NULL;
    uint32_t idims[3] = {0, 0, 0}, ldims[1] = {0};
    builder_init(&b, 0, 0, false, false);
    class_map map;

    st = class_map_init(&map, schema, images, labels != NULL, err);
    if (st != HG_OK)
        return st;
    if ((st = idx_open(&fi, images, err)) != HG_OK)
        goto done;
    if ((st = idx_header(&fi, IDX_IMAGES, idims, 3, err)) != HG_OK)
        goto done;
    if ((st = idx_check_images(images, idims, schema, &map, err)) != HG_OK)
        goto done;
    size_t n = idims[0], features = (size_t)idims[1] * idims[2];
    if (labels) {
        if ((st = idx_open(&fl, labels, err)) != HG_OK)
            goto done;
        if ((st = idx_header(&fl, IDX_LABELS, ldims, 1, err)) != HG_OK)
            goto done;
        if (ldims[0] != n) {
            st = hg__error_set(err, HG_IO, 0, "%s: byte offset 4: the header says %u labels "
                               "but %s says %zu images", labels, (unsigned)ldims[0], images,
                               n);
            goto done;
        }
    }

    /* pixels, a block of images at a time */
    builder_init(&b, features, n, false, false);
    size_t block = CHUNK * 4 / features;
    if (block < 1)
        block = 1;
    tmp = malloc(block * features);
    if (!tmp) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", images);
        goto done;
    }
    if ((st = idx_read_pixels(&fi, idims, &b, tmp, block, err)) != HG_OK)
        goto done;
    if (labels && (st = idx_read_labels(&fl, n, &b, &map, tmp, block * features, err)) != HG_OK)
        goto done;
    st = builder_finish(&b, &map, images, out, err);
done:
    free(tmp);
    builder_free(&b);
    idx_close(&fi);
    idx_close(&fl);
    class_map_free(&map);
    return st;
}

hg_status hg_dataset_load_idx(const char *images, const char *labels, hg_dataset **out,
                              hg_error *err)
{
    return hg_dataset_load_idx_as(images, labels, NULL, out, err);
}
