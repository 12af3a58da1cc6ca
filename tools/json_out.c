/* SPDX-License-Identifier: MIT */
/* json_out.c - see json_out.h. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "json_out.h"

void json_init(json_out *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->is_object[0] = false;
    j->first[0] = true;
    j->after_key = false;
    j->done = false;
    j->misused = false;
    j->one_line = false;
}

void json_init_line(json_out *j, FILE *f)
{
    json_init(j, f);
    j->one_line = true;
}

/* Before an element or a closing bracket: a new line and the indentation (nothing on one line). */
static void newline_indent(json_out *j)
{
    if (j->one_line)
        return;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

/*
 * Make room for a value: after its key in an object, as the next element of
 * an array (comma, new line, indentation), or as the one top-level value.
 * False, with the writer marked misused, where no value may go.
 */
static bool value_slot(json_out *j)
{
    if (j->misused)
        return false;
    if (j->after_key) {
        j->after_key = false;
        return true;
    }
    if (j->depth == 0) {
        if (j->done) {
            j->misused = true;
            return false;
        }
        return true;
    }
    if (j->is_object[j->depth]) { /* a value inside an object needs its key */
        j->misused = true;
        return false;
    }
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    newline_indent(j);
    return true;
}

/* After a complete value: at the top level the document ends. */
static void value_done(json_out *j)
{
    if (j->depth == 0) {
        j->done = true;
        fputc('\n', j->f);
    }
}

static void open_level(json_out *j, bool object)
{
    if (!value_slot(j))
        return;
    if (j->depth == JSON_MAX_DEPTH) {
        j->misused = true;
        return;
    }
    fputc(object ? '{' : '[', j->f);
    j->depth++;
    j->is_object[j->depth] = object;
    j->first[j->depth] = true;
}

static void close_level(json_out *j, bool object)
{
    if (j->misused)
        return;
    if (j->depth == 0 || j->is_object[j->depth] != object || j->after_key) {
        j->misused = true;
        return;
    }
    bool empty = j->first[j->depth];
    j->depth--;
    if (!empty)
        newline_indent(j);
    fputc(object ? '}' : ']', j->f);
    value_done(j);
}

void json_begin_object(json_out *j) { open_level(j, true); }
void json_end_object(json_out *j) { close_level(j, true); }
void json_begin_array(json_out *j) { open_level(j, false); }
void json_end_array(json_out *j) { close_level(j, false); }

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p[0] does not
   start one: overlong forms, surrogates, code points over U+10FFFF and
   sequences cut short (by a NUL or another byte) are not valid. */
static int utf8_len(const unsigned char *p)
{
    int n;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) { n = 2; cp = p[0] & 0x1f; }
    else if ((p[0] & 0xf0) == 0xe0) { n = 3; cp = p[0] & 0x0f; }
    else if ((p[0] & 0xf8) == 0xf0) { n = 4; cp = p[0] & 0x07; }
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static void write_string(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        const char *named = NULL;
        switch (c) {
        case '"':  named = "\\\""; break;
        case '\\': named = "\\\\"; break;
        case '\b': named = "\\b"; break;
        case '\f': named = "\\f"; break;
        case '\n': named = "\\n"; break;
        case '\r': named = "\\r"; break;
        case '\t': named = "\\t"; break;
        default: break;
        }
        if (named) {
            fputs(named, f);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) { /* not UTF-8: the byte as the Latin-1 character */
                fprintf(f, "\\u%04x", c);
                p++;
            } else {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            }
        }
    }
    fputc('"', f);
}

void json_key(json_out *j, const char *key)
{
    if (j->misused)
        return;
    if (j->after_key || j->depth == 0 || !j->is_object[j->depth] || !key) {
        j->misused = true;
        return;
    }
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    newline_indent(j);
    write_string(j->f, key);
    fputs(j->one_line ? ":" : ": ", j->f);
    j->after_key = true;
}

void json_string(json_out *j, const char *s)
{
    if (!value_slot(j))
        return;
    if (s)
        write_string(j->f, s);
    else
        fputs("null", j->f);
    value_done(j);
}

void json_u64(json_out *j, uint64_t v)
{
    if (!value_slot(j))
        return;
    fprintf(j->f, "%" PRIu64, v);
    value_done(j);
}

/* The shortest %.Ng (N = 15, 16 or 17) that reads back as v: 0.1 stays
   "0.1", and no double loses a bit.  The tools never call setlocale(), so
   the decimal point is '.'. */
void json_double(json_out *j, double v)
{
    if (!value_slot(j))
        return;
    if (isfinite(v)) {
        char buf[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
        fputs(buf, j->f);
    } else {
        fputs("null", j->f);
    }
    value_done(j);
}

void json_bool(json_out *j, bool v)
{
    if (!value_slot(j))
        return;
    fputs(v ? "true" : "false", j->f);
    value_done(j);
}

void json_null(json_out *j)
{
    if (!value_slot(j))
        return;
    fputs("null", j->f);
    value_done(j);
}

bool json_finish(json_out *j)
{
    bool stream_ok = fflush(j->f) == 0 && !ferror(j->f);
    return stream_ok && !j->misused && j->done && j->depth == 0 && !j->after_key;
}
