/* SPDX-License-Identifier: MIT */
/*
 * data_npy.c - NumPy .npy files (X and y) into an owned hg_dataset (hetgrad/data.h).
 *
 * The format (numpy.lib.format): the magic string "\x93NUMPY", a major and a minor
 * version byte, the header's length (little-endian u16 for 1.0, u32 for 2.0 and 3.0),
 * the header (a Python dict literal such as
 * {'descr': '<f8', 'fortran_order': False, 'shape': (100, 4), } padded with spaces and
 * ended by a newline), then the array's values in the dtype and byte order of descr,
 * in C (row-major) or Fortran (column-major) order.
 *
 * Guarantees, as for the other loaders (dataset_io.c):
 *   - Both files are read through a source (data_source.h), so either may be gzip.
 *   - A header's shape never drives an allocation by itself: X's values are read in
 *     blocks into an array that grows with what was actually read; y, read after X,
 *     is at most X's (already read) row count.
 *   - Every header, shape and dtype problem and every bad value is an error naming the
 *     file and the byte offset (decompressed); nothing leaks, *out stays NULL.
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "data_source.h"
#include "hetgrad/data.h"
#include "internal.h"

#define NPY_MAGIC      "\x93NUMPY"
#define NPY_MAX_HEADER ((size_t)65536) /* bytes; an honest header is under 200 */
#define NPY_MAX_DIMS   32              /* numpy's own limit */
#define BLOCK_VALUES   ((size_t)8192)  /* values read at a time (64 KiB of float64) */

typedef struct npy_dtype {
    char   kind;     /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool; else unsupported */
    size_t size;     /* bytes per value */
    bool   swap;     /* the file's byte order is not this machine's */
    char   text[24]; /* descr as written, for messages */
} npy_dtype;

typedef struct npy_file {
    const char        *name;  /* for messages */
    hg__source        *src;
    unsigned long long off;   /* (decompressed) bytes read so far */
    npy_dtype          dt;
    bool               fortran;
    size_t             ndim;
    uint64_t           shape[NPY_MAX_DIMS];
    size_t             shape_off; /* byte offset of the shape's '(' */
    size_t             descr_off; /* byte offset of descr's opening quote */
    size_t             data_off;  /* byte offset of the first value */
} npy_file;

/* ---- reading ------------------------------------------------------------------ */

static bool host_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Up to n bytes; *got < n only at the end.  Errors name the file and the offset. */
static hg_status npy_read(npy_file *f, void *buf, size_t n, size_t *got, hg_error *err)
{
    *got = 0;
    while (*got < n) {
        size_t k;
        hg_error e;
        if (hg__source_read(f->src, (unsigned char *)buf + *got, n - *got, &k, &e) != HG_OK)
            return hg__error_set(err, e.status, 0, "%s: byte offset %llu: %s", f->name,
                                 f->off, e.message);
        if (k == 0)
            break;
        *got += k;
        f->off += k;
    }
    return HG_OK;
}

/* ---- the header --------------------------------------------------------------- */

typedef struct hparse {
    npy_file   *f;
    const char *s;    /* the header text */
    size_t      n, i; /* length, position */
    size_t      base; /* byte offset of s[0] in the file */
} hparse;

/* HG_IO "name: byte offset N: header: ..." at the parser's position. */
static hg_status HG__PRINTF(3, 4) hdr_error(const hparse *p, hg_error *err, const char *fmt,
                                            ...)
{
    char why[HG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return hg__error_set(err, HG_IO, 0, "%s: byte offset %zu: header: %s", p->f->name,
                         p->base + p->i, why);
}

static void skip_ws(hparse *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

/* What is at the position, quoted for messages ("end of header" at the end). */
static const char *here(const hparse *p, char *buf, size_t size)
{
    if (p->i >= p->n)
        return "the end of the header";
    size_t k = 0;
    while (p->i + k < p->n && k < 12 && p->s[p->i + k] >= 0x20 && p->s[p->i + k] < 0x7f)
        k++;
    if (k == 0)
        snprintf(buf, size, "byte 0x%02x", (unsigned char)p->s[p->i]);
    else
        snprintf(buf, size, "\"%.*s%s\"", (int)k, p->s + p->i, p->i + k < p->n ? "..." : "");
    return buf;
}

static hg_status expect(hparse *p, char c, const char *what, hg_error *err)
{
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return HG_OK;
    }
    char b[40];
    return hdr_error(p, err, "expected %s, found %s", what, here(p, b, sizeof b));
}

/* A '...' or "..." literal without escapes, into out (at most size - 1 bytes). */
static hg_status parse_string(hparse *p, char *out, size_t size, hg_error *err)
{
    skip_ws(p);
    char b[40];
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
        return hdr_error(p, err, "expected a quoted string, found %s", here(p, b, sizeof b));
    char q = p->s[p->i];
    size_t start = p->i++;
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '\\' || c < 0x20 || c >= 0x7f) {
            return hdr_error(p, err, "unsupported byte 0x%02x in a string (an escape or "
                             "not printable ASCII)", c);
        }
        if (k + 1 >= size) {
            p->i = start;
            return hdr_error(p, err, "string longer than %zu bytes", size - 1);
        }
        out[k++] = (char)c;
        p->i++;
    }
    if (p->i >= p->n) {
        p->i = start;
        return hdr_error(p, err, "unterminated string");
    }
    p->i++;
    out[k] = '\0';
    return HG_OK;
}

/* dtype from descr text (the opening quote at offset at). */
static hg_status parse_dtype(hparse *p, const char *t, size_t at, npy_dtype *dt,
                             hg_error *err)
{
    snprintf(dt->text, sizeof dt->text, "'%s'", t);
    char order = '=';
    if (*t == '<' || *t == '>' || *t == '|' || *t == '=')
        order = *t++;
    size_t save = p->i;
    p->i = at - p->base;
    if (*t == '?' && t[1] == '\0') {
        dt->kind = 'b';
        dt->size = 1;
    } else if (*t && strchr("fiubcOUSMmVa", *t)) {
        dt->kind = *t++;
        dt->size = 0;
        if (*t < '1' || *t > '9') {
            if (*t == '\0' && dt->kind == 'O')
                return hdr_error(p, err, "dtype %s holds Python objects (pickled): not "
                                 "supported", dt->text);
            return hdr_error(p, err, "dtype %s has no item size", dt->text);
        }
        while (*t >= '0' && *t <= '9' && dt->size < 1000000)
            dt->size = dt->size * 10 + (size_t)(*t++ - '0');
        if (*t == '[' || *t == '(')
            return hdr_error(p, err, "dtype %s with a unit or a shape is not supported",
                             dt->text);
        if (*t)
            return hdr_error(p, err, "dtype %s is not a numpy type string", dt->text);
    } else {
        return hdr_error(p, err, "dtype %s is not a numpy type string", dt->text);
    }
    if (order == '|' && dt->size > 1)
        return hdr_error(p, err, "dtype %s: byte order '|' (not applicable) for a %zu-byte "
                         "type", dt->text, dt->size);
    bool little = host_little();
    dt->swap = (order == '<' && !little) || (order == '>' && little);
    p->i = save;
    return HG_OK;
}

/* A decimal integer (Python 2 files may end it with L). */
static hg_status parse_int(hparse *p, uint64_t *v, hg_error *err)
{
    skip_ws(p);
    char b[40];
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return hdr_error(p, err, "expected a dimension (a non-negative integer), found %s",
                         here(p, b, sizeof b));
    size_t start = p->i;
    *v = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = (unsigned)(p->s[p->i] - '0');
        if (*v > (UINT64_MAX - d) / 10) {
            p->i = start;
            return hdr_error(p, err, "dimension too large");
        }
        *v = *v * 10 + d;
        p->i++;
    }
    if (p->i < p->n && p->s[p->i] == 'L')
        p->i++;
    return HG_OK;
}

static hg_status parse_shape(hparse *p, npy_file *f, hg_error *err)
{
    skip_ws(p);
    f->shape_off = p->base + p->i;
    hg_status st = expect(p, '(', "the shape, a tuple such as (100, 4)", err);
    if (st != HG_OK)
        return st;
    f->ndim = 0;
    for (;;) {
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ')') {
            p->i++;
            return HG_OK;
        }
        if (f->ndim == NPY_MAX_DIMS)
            return hdr_error(p, err, "more than %d dimensions", NPY_MAX_DIMS);
        if ((st = parse_int(p, &f->shape[f->ndim], err)) != HG_OK)
            return st;
        f->ndim++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (f->ndim == 1 && p->i < p->n && p->s[p->i] == ')')
            return hdr_error(p, err, "(n) is not a tuple: a 1-D shape is written (n,)");
        if ((st = expect(p, ')', "',' or ')' in the shape", err)) != HG_OK)
            return st;
        return HG_OK;
    }
}

static hg_status parse_bool(hparse *p, bool *v, hg_error *err)
{
    skip_ws(p);
    if (p->n - p->i >= 4 && memcmp(p->s + p->i, "True", 4) == 0) {
        *v = true;
        p->i += 4;
        return HG_OK;
    }
    if (p->n - p->i >= 5 && memcmp(p->s + p->i, "False", 5) == 0) {
        *v = false;
        p->i += 5;
        return HG_OK;
    }
    char b[40];
    return hdr_error(p, err, "fortran_order must be True or False, found %s",
                     here(p, b, sizeof b));
}

/* The dict: exactly the keys descr, fortran_order and shape, in any order. */
static hg_status parse_dict(hparse *p, npy_file *f, hg_error *err)
{
    hg_status st = expect(p, '{', "'{' (the header is a Python dict)", err);
    if (st != HG_OK)
        return st;
    bool have_descr = false, have_order = false, have_shape = false;
    for (;;) {
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            break;
        }
        size_t key_at = p->i;
        char key[32];
        if ((st = parse_string(p, key, sizeof key, err)) != HG_OK)
            return st;
        if ((st = expect(p, ':', "':' after a key", err)) != HG_OK)
            return st;
        skip_ws(p);
        bool *seen = !strcmp(key, "descr") ? &have_descr
                     : !strcmp(key, "fortran_order") ? &have_order
                     : !strcmp(key, "shape") ? &have_shape : NULL;
        if (!seen) {
            p->i = key_at;
            return hdr_error(p, err, "unknown key '%s' (a .npy header has descr, "
                             "fortran_order and shape)", key);
        }
        if (*seen) {
            p->i = key_at;
            return hdr_error(p, err, "key '%s' given twice", key);
        }
        *seen = true;
        if (seen == &have_descr) {
            if (p->i < p->n && (p->s[p->i] == '[' || p->s[p->i] == '{'))
                return hdr_error(p, err, "a structured dtype (named fields) is not "
                                 "supported: X must be float32 or float64, y integers");
            char t[20];
            f->descr_off = p->base + p->i;
            if ((st = parse_string(p, t, sizeof t, err)) != HG_OK)
                return st;
            if ((st = parse_dtype(p, t, f->descr_off, &f->dt, err)) != HG_OK)
                return st;
        } else if (seen == &have_order) {
            if ((st = parse_bool(p, &f->fortran, err)) != HG_OK)
                return st;
        } else if ((st = parse_shape(p, f, err)) != HG_OK) {
            return st;
        }
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if ((st = expect(p, '}', "',' or '}'", err)) != HG_OK)
            return st;
        break;
    }
    skip_ws(p);
    if (p->i < p->n) {
        char b[40];
        return hdr_error(p, err, "%s after the dict's closing '}'", here(p, b, sizeof b));
    }
    const char *missing = !have_descr ? "descr" : !have_order ? "fortran_order"
                          : !have_shape ? "shape" : NULL;
    if (missing)
        return hdr_error(p, err, "no '%s' key", missing);
    return HG_OK;
}

static uint32_t le_u32(const unsigned char *b, size_t n)
{
    uint32_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | b[i];
    return v;
}

/* Magic, version, header length and header of f (opened); f's dtype, order and shape. */
static hg_status read_header(npy_file *f, hg_error *err)
{
    unsigned char pre[12];
    size_t got;
    hg_status st = npy_read(f, pre, 8, &got, err);
    if (st != HG_OK)
        return st;
    if (got == 0)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 0: empty file, not a .npy file",
                             f->name);
    if (memcmp(pre, NPY_MAGIC, got < 6 ? got : 6) != 0)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 0: not a .npy file (it does not "
                             "start with \"\\x93NUMPY\")", f->name);
    if (got < 8)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %zu: file ends inside the "
                             "8-byte magic string and version", f->name, got);
    unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 6: format version %u.%u is not "
                             "supported (1.0, 2.0 and 3.0 are)", f->name, major, minor);
    size_t lb = major == 1 ? 2 : 4;
    if ((st = npy_read(f, pre + 8, lb, &got, err)) != HG_OK)
        return st;
    if (got < lb)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends inside the "
                             "header length", f->name, f->off);
    size_t hlen = le_u32(pre + 8, lb);
    if (hlen > NPY_MAX_HEADER)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 8: a header of %zu bytes, more "
                             "than %zu: not a header numpy writes", f->name, hlen,
                             NPY_MAX_HEADER);
    char *h = malloc(hlen + 1);
    if (!h)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", f->name);
    size_t base = (size_t)f->off;
    if ((st = npy_read(f, h, hlen, &got, err)) != HG_OK) {
        free(h);
        return st;
    }
    if (got < hlen) {
        free(h);
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends inside the "
                             "%zu-byte header", f->name, f->off, hlen);
    }
    h[hlen] = '\0';
    hparse p = {f, h, hlen, 0, base};
    st = parse_dict(&p, f, err);
    free(h);
    f->data_off = base + hlen;
    return st;
}

/* "(3, 4)" */
static const char *shape_text(const npy_file *f, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "(");
    for (size_t d = 0; d < f->ndim && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%" PRIu64, d ? ", " : "", f->shape[d]);
    if (o < size)
        snprintf(buf + o, size - o, f->ndim == 1 ? ",)" : ")");
    return buf;
}

/* ---- roles: X and y ----------------------------------------------------------- */

static hg_status at_error(const npy_file *f, size_t off, hg_status st, hg_error *err,
                          const char *fmt, ...) HG__PRINTF(5, 6);

/* st "name: byte offset off: ..." */
static hg_status at_error(const npy_file *f, size_t off, hg_status st, hg_error *err,
                          const char *fmt, ...)
{
    char why[HG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return hg__error_set(err, st, 0, "%s: byte offset %zu: %s", f->name, off, why);
}

static const char *kind_name(const npy_dtype *dt)
{
    switch (dt->kind) {
    case 'f': return dt->size == 2 ? "float16" : dt->size > 8 ? "long double" : "float";
    case 'i': return "signed integer";
    case 'u': return "unsigned integer";
    case 'b': return "bool";
    case 'c': return "complex";
    case 'O': return "Python objects";
    case 'U': return "Unicode text";
    case 'S': case 'a': return "bytes";
    case 'M': return "datetime";
    case 'm': return "timedelta";
    case 'V': return "raw void";
    default: return "unsupported";
    }
}

/* X: float32 or float64, 2-D, within the limits (and the schema's features). */
static hg_status check_x(const npy_file *f, const hg__class_map *map, hg_error *err)
{
    char s[96];
    if (f->dt.kind != 'f' || (f->dt.size != 4 && f->dt.size != 8))
        return at_error(f, f->descr_off, HG_IO, err, "dtype %s (%zu-byte %s): X must be "
                        "float32 ('<f4') or float64 ('<f8'); convert it with "
                        "X.astype(np.float32)", f->dt.text, f->dt.size, kind_name(&f->dt));
    if (f->ndim != 2)
        return at_error(f, f->shape_off, HG_IO, err, "shape %s: X must be 2-D (rows, "
                        "features)%s", shape_text(f, s, sizeof s),
                        f->ndim == 1 ? "; one feature per row: X.reshape(-1, 1)" : "");
    if (f->shape[0] == 0)
        return at_error(f, f->shape_off, HG_IO, err, "shape %s: no data rows",
                        shape_text(f, s, sizeof s));
    if (f->shape[1] == 0)
        return at_error(f, f->shape_off, HG_IO, err, "shape %s: no features",
                        shape_text(f, s, sizeof s));
    if (f->shape[1] > HG_DATA_MAX_FEATURES)
        return at_error(f, f->shape_off, HG_RANGE, err, "shape %s: %" PRIu64 " features, "
                        "more than the limit of %zu", shape_text(f, s, sizeof s),
                        f->shape[1], HG_DATA_MAX_FEATURES);
    if (f->shape[0] > HG_DATA_MAX_ROWS)
        return at_error(f, f->shape_off, HG_RANGE, err, "shape %s: more than %zu rows",
                        shape_text(f, s, sizeof s), HG_DATA_MAX_ROWS);
    if (f->shape[0] > SIZE_MAX / sizeof(double) / f->shape[1])
        return at_error(f, f->shape_off, HG_RANGE, err, "shape %s: rows x features "
                        "overflows size_t", shape_text(f, s, sizeof s));
    const hg_data_schema *sc = map->schema;
    if (sc && sc->features && f->shape[1] != sc->features)
        return at_error(f, f->shape_off, HG_IO, err, "shape %s: %" PRIu64 " features, but "
                        "%s has %zu", shape_text(f, s, sizeof s), f->shape[1],
                        hg__class_map_source(map), sc->features);
    return HG_OK;
}

/* y: integers or bools, 1-D, as many as X has rows. */
static hg_status check_y(const npy_file *f, const npy_file *x, hg_error *err)
{
    char s[96];
    if (f->dt.kind != 'i' && f->dt.kind != 'u' && f->dt.kind != 'b')
        return at_error(f, f->descr_off, HG_IO, err, "dtype %s (%zu-byte %s): y must hold "
                        "integer class labels (any width, signed or unsigned) or bools%s",
                        f->dt.text, f->dt.size, kind_name(&f->dt),
                        f->dt.kind == 'f' ? "; convert it with y.astype(np.int64)" : "");
    if (f->dt.size != 1 && f->dt.size != 2 && f->dt.size != 4 && f->dt.size != 8)
        return at_error(f, f->descr_off, HG_IO, err, "dtype %s: a %zu-byte integer (1, 2, 4 "
                        "or 8 bytes are)", f->dt.text, f->dt.size);
    if (f->dt.kind == 'b' && f->dt.size != 1)
        return at_error(f, f->descr_off, HG_IO, err, "dtype %s: a bool is 1 byte",
                        f->dt.text);
    if (f->ndim != 1)
        return at_error(f, f->shape_off, HG_IO, err, "shape %s: y must be 1-D (rows,)%s",
                        shape_text(f, s, sizeof s),
                        f->ndim == 2 && f->shape[1] == 1 ? "; a column: y.ravel()" : "");
    if (f->shape[0] != x->shape[0])
        return at_error(f, f->shape_off, HG_IO, err, "shape %s: %" PRIu64 " labels, but %s "
                        "has %" PRIu64 " rows", shape_text(f, s, sizeof s), f->shape[0],
                        x->name, x->shape[0]);
    return HG_OK;
}

/* ---- values ------------------------------------------------------------------- */

static uint64_t load_bits(const unsigned char *b, size_t size, bool swap)
{
    uint64_t v = 0;
    unsigned char t[8];
    for (size_t i = 0; i < size; i++)
        t[i] = swap ? b[size - 1 - i] : b[i];
    if (size == 1) {
        v = t[0];
    } else if (size == 2) {
        uint16_t u;
        memcpy(&u, t, 2);
        v = u;
    } else if (size == 4) {
        uint32_t u;
        memcpy(&u, t, 4);
        v = u;
    } else {
        memcpy(&v, t, 8);
    }
    return v;
}

/* The payload is over: anything more is an error. */
static hg_status expect_end(npy_file *f, const char *promise, hg_error *err)
{
    unsigned char extra;
    size_t got;
    unsigned long long at = f->off;
    hg_status st = npy_read(f, &extra, 1, &got, err);
    if (st != HG_OK)
        return st;
    if (got)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: unexpected data after "
                             "the %s the header promises (lying header or trailing bytes)",
                             f->name, at, promise);
    return HG_OK;
}

static hg_status ends_early(const npy_file *f, hg_error *err)
{
    char s[96];
    return hg__error_set(err, HG_IO, 0, "%s: byte offset %llu: file ends early: the header "
                         "promises shape %s of %s (%llu bytes after the %zu-byte header)",
                         f->name, f->off, shape_text(f, s, sizeof s), f->dt.text,
                         (unsigned long long)(f->ndim == 2 ? f->shape[0] * f->shape[1]
                                                           : f->shape[0]) *
                             (unsigned long long)f->dt.size,
                         f->data_off);
}

/*
 * X's values as a row-major float array (*out, rows x features, malloc'ed).  The array
 * grows with the values read; a Fortran-order file is transposed at the end.
 */
static hg_status read_x(npy_file *f, float **out, hg_error *err)
{
    size_t rows = (size_t)f->shape[0], features = (size_t)f->shape[1];
    size_t total = rows * features, sz = f->dt.size;
    hg_status st = HG_OK;
    unsigned char *raw = malloc(BLOCK_VALUES * sz);
    float *flat = NULL, *x = NULL;
    size_t cap = 0, done = 0;
    if (!raw)
        goto oom;
    while (done < total) {
        size_t k = total - done < BLOCK_VALUES ? total - done : BLOCK_VALUES;
        if (done + k > cap) {
            size_t c = cap ? cap : BLOCK_VALUES * 4;
            while (c < done + k)
                c = c > SIZE_MAX / 2 ? SIZE_MAX : c * 2;
            if (c > total)
                c = total;
            float *g = realloc(flat, c * sizeof *g);
            if (!g)
                goto oom;
            flat = g;
            cap = c;
        }
        size_t got;
        if ((st = npy_read(f, raw, k * sz, &got, err)) != HG_OK)
            goto done;
        if (got < k * sz) {
            st = ends_early(f, err);
            goto done;
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t bits = load_bits(raw + i * sz, sz, f->dt.swap);
            double v;
            if (sz == 4) {
                uint32_t b32 = (uint32_t)bits;
                float fv;
                memcpy(&fv, &b32, 4);
                v = fv;
            } else {
                memcpy(&v, &bits, 8);
            }
            size_t at = done + i;
            size_t r = f->fortran ? at % rows : at / features;
            size_t c = f->fortran ? at / rows : at % features;
            size_t off = f->data_off + at * sz;
            if (!isfinite(v)) {
                st = at_error(f, off, HG_IO, err, "X[%zu, %zu] is %s (not allowed)", r, c,
                              isnan(v) ? "NaN" : "Inf");
                goto done;
            }
            if (fabs(v) > FLT_MAX) {
                st = at_error(f, off, HG_IO, err, "X[%zu, %zu] = %g overflows float (out "
                              "of range)", r, c, v);
                goto done;
            }
            flat[at] = (float)v;
        }
        done += k;
    }
    char promise[96], s[64];
    snprintf(promise, sizeof promise, "%s values of shape %s", f->dt.text,
             shape_text(f, s, sizeof s));
    if ((st = expect_end(f, promise, err)) != HG_OK)
        goto done;
    if (f->fortran && rows > 1 && features > 1) {
        if (!(x = malloc(total * sizeof *x)))
            goto oom;
        for (size_t c = 0; c < features; c++)
            for (size_t r = 0; r < rows; r++)
                x[r * features + c] = flat[c * rows + r];
        free(flat);
        flat = x;
        x = NULL;
    }
    *out = flat;
    flat = NULL;
    goto done;
oom:
    st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory for %zu x %zu values",
                       f->name, rows, features);
done:
    free(raw);
    free(flat);
    free(x);
    return st;
}

/*
 * y's labels into labels and targets (rows entries each, allocated by the caller) and
 * *max_label: class indices through map when it is active, else the values themselves
 * (0 .. 2^20 - 1).
 */
static hg_status read_y(npy_file *f, const hg__class_map *map, int32_t *labels,
                        float *targets, int32_t *max_label, hg_error *err)
{
    size_t n = (size_t)f->shape[0], sz = f->dt.size;
    unsigned char *raw = malloc(BLOCK_VALUES * sz);
    if (!raw)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", f->name);
    hg_status st = HG_OK;
    *max_label = -1;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < BLOCK_VALUES ? n - done : BLOCK_VALUES;
        size_t got;
        if ((st = npy_read(f, raw, k * sz, &got, err)) != HG_OK)
            goto done;
        if (got < k * sz) {
            st = ends_early(f, err);
            goto done;
        }
        for (size_t i = 0; i < k; i++) {
            size_t row = done + i, off = f->data_off + row * sz;
            uint64_t bits = load_bits(raw + i * sz, sz, f->dt.swap);
            char text[32];
            bool neg = false, wide = false; /* wide: outside int32_t */
            int64_t v = 0;
            if (f->dt.kind == 'b') {
                if (bits > 1) {
                    st = at_error(f, off, HG_IO, err, "y[%zu]: bool byte 0x%02x is neither "
                                  "0 nor 1", row, (unsigned)bits);
                    goto done;
                }
                v = (int64_t)bits;
                snprintf(text, sizeof text, "%s", bits ? "True" : "False");
            } else if (f->dt.kind == 'u') {
                wide = bits > (uint64_t)INT32_MAX;
                v = wide ? 0 : (int64_t)bits;
                snprintf(text, sizeof text, "%" PRIu64, bits);
            } else {
                /* sign-extend from sz bytes */
                unsigned shift = (unsigned)(64 - 8 * sz);
                v = shift ? (int64_t)(bits << shift) >> shift : (int64_t)bits;
                neg = v < 0;
                wide = v < INT32_MIN || v > INT32_MAX;
                snprintf(text, sizeof text, "%" PRId64, v);
                if (wide)
                    v = 0;
            }
            int32_t lab = (int32_t)v, cls = lab;
            if (map->n > 0) {
                if (wide || !hg__class_map_find(map, lab, &cls)) {
                    char where[HG_ERROR_MESSAGE_MAX];
                    snprintf(where, sizeof where, "%s: byte offset %zu: y[%zu]", f->name, off,
                             row);
                    if (wide)
                        st = hg__error_set(err, HG_IO, 0, "%s: label %s is not one of the "
                                           "%zu classes of %s", where, text, map->n,
                                           hg__class_map_source(map));
                    else
                        st = hg__class_map_unseen(map, where, lab, err);
                    goto done;
                }
            } else if (neg) {
                st = at_error(f, off, HG_IO, err, "y[%zu] = %s: a negative label (class "
                              "labels are 0, 1, ...; other values need a schema's classes)",
                              row, text);
                goto done;
            } else if (wide || (size_t)lab >= HG_DATA_MAX_CLASSES) {
                st = at_error(f, off, HG_RANGE, err, "y[%zu] = %s is above the limit of %zu "
                              "classes (labels 0 to %zu)", row, text, HG_DATA_MAX_CLASSES,
                              HG_DATA_MAX_CLASSES - 1);
                goto done;
            }
            labels[row] = cls;
            targets[row] = (float)lab;
            if (lab > *max_label)
                *max_label = lab;
        }
        done += k;
    }
    char promise[64];
    snprintf(promise, sizeof promise, "%zu labels", n);
    st = expect_end(f, promise, err);
done:
    free(raw);
    return st;
}

/* ---- the loader ------------------------------------------------------------------ */

typedef struct npy_input {
    const char *name;
    const char *path; /* NULL: memory */
    const void *data;
    size_t      len;
} npy_input;

static hg_status npy_open(npy_file *f, const npy_input *in, hg_error *err)
{
    memset(f, 0, sizeof *f);
    f->name = in->name;
    if (in->path)
        return hg__source_open_file(&f->src, in->path, err);
    return hg__source_open_memory(&f->src, in->name, in->data, in->len, err);
}

static hg_status npy_load(const npy_input *xin, const npy_input *yin,
                          const hg_data_schema *schema, hg_dataset **out, hg_error *err)
{
    hg_data_schema schema_use;
    hg_status st = hg__data_schema_read(&schema, &schema_use, xin->name, err);
    if (st != HG_OK)
        return st;
    hg__class_map map;
    if ((st = hg__class_map_init(&map, schema, xin->name, yin != NULL, err)) != HG_OK)
        return st;
    npy_file fx = {0}, fy = {0};
    hg_dataset *d = NULL;
    float *x = NULL;
    int32_t *labels = NULL, *class_labels = NULL;
    float *targets = NULL;

    if ((st = npy_open(&fx, xin, err)) != HG_OK || (st = read_header(&fx, err)) != HG_OK ||
        (st = check_x(&fx, &map, err)) != HG_OK)
        goto done;
    if (yin && ((st = npy_open(&fy, yin, err)) != HG_OK ||
                (st = read_header(&fy, err)) != HG_OK ||
                (st = check_y(&fy, &fx, err)) != HG_OK))
        goto done;
    if ((st = read_x(&fx, &x, err)) != HG_OK)
        goto done;
    size_t rows = (size_t)fx.shape[0], classes = 0;
    if (yin) {
        /* rows is backed by X's values, all read by now */
        labels = malloc(rows * sizeof *labels);
        targets = malloc(rows * sizeof *targets);
        if (!labels || !targets) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", fy.name);
            goto done;
        }
        int32_t max_label = -1;
        if ((st = read_y(&fy, &map, labels, targets, &max_label, err)) != HG_OK)
            goto done;
        classes = map.n > 0 ? map.n : (size_t)max_label + 1;
        if (!(class_labels = malloc(classes * sizeof *class_labels))) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", fy.name);
            goto done;
        }
        for (size_t k = 0; k < classes; k++)
            class_labels[k] = map.n > 0 ? map.schema->classes[k] : (int32_t)k;
    }
    if (!(d = calloc(1, sizeof *d))) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", fx.name);
        goto done;
    }
    d->rows = rows;
    d->features = (size_t)fx.shape[1];
    d->x = x;
    d->labels = labels;
    d->targets = targets;
    d->classes = classes;
    d->class_labels = class_labels;
    x = NULL;
    labels = class_labels = NULL;
    targets = NULL;
    *out = d;
done:
    free(x);
    free(labels);
    free(targets);
    free(class_labels);
    hg__source_close(fx.src);
    hg__source_close(fy.src);
    hg__class_map_free(&map);
    return st;
}

hg_status hg_dataset_load_npy_as(const char *x_path, const char *y_path,
                                 const hg_data_schema *schema, hg_dataset **out,
                                 hg_error *err)
{
    if (out)
        *out = NULL;
    if (!x_path || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_dataset_load_npy: NULL %s",
                             x_path ? "out" : "X path");
    hg_error_clear(err);
    npy_input xin = {x_path, x_path, NULL, 0}, yin = {y_path, y_path, NULL, 0};
    return npy_load(&xin, y_path ? &yin : NULL, schema, out, err);
}

hg_status hg_dataset_load_npy(const char *x_path, const char *y_path, hg_dataset **out,
                              hg_error *err)
{
    return hg_dataset_load_npy_as(x_path, y_path, NULL, out, err);
}

hg_status hg_dataset_load_memory_npy(const char *x_name, const void *x, size_t x_len,
                                     const char *y_name, const void *y, size_t y_len,
                                     hg_dataset **out, hg_error *err)
{
    if (out)
        *out = NULL;
    if (!x_name)
        x_name = "<X>";
    if (!y_name)
        y_name = "<y>";
    if ((!x && x_len) || (!y && y_len) || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_dataset_load_memory_npy(%s): "
                             "NULL %s", x_name, !out ? "out" : !x && x_len ? "X" : "y");
    hg_error_clear(err);
    npy_input xin = {x_name, NULL, x, x_len}, yin = {y_name, NULL, y, y_len};
    return npy_load(&xin, y ? &yin : NULL, NULL, out, err);
}
