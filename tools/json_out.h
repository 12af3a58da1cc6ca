/* SPDX-License-Identifier: MIT */
/*
 * json_out.h - the one JSON writer of hetgrad's tools and benchmarks.
 *
 * Every JSON document hetgrad writes (hetgrad-probe, hetgrad-train and its
 * --trace file, hetgrad-bench, bench_gradient, bench_startup) goes through
 * this streaming writer, so every output follows the same rules (docs/json.md):
 *
 *  - strings are always valid JSON and valid UTF-8: '"' and '\' are escaped,
 *    \b \f \n \r \t by name, every other control character and DEL as \u00XX;
 *    valid UTF-8 passes through; a byte that does not start or continue a
 *    valid UTF-8 sequence (0xFF, an overlong form, a surrogate, a sequence cut
 *    short, a code point over U+10FFFF) is written as the Latin-1 character
 *    \u00XX, one byte at a time, so driver strings are never lost or refused;
 *  - numbers that are not finite (NaN, infinities) are written as null;
 *    finite doubles in the shortest form that reads back to the same double;
 *  - commas, indentation (two spaces a level) and a final newline are the
 *    writer's business; json_init_line() writes the document on one line
 *    instead (JSON Lines: no new line or indentation inside, "," and ":"
 *    without spaces), for files that hold one document a line.
 *
 * Misuse (a key outside an object, a value without its key inside an object,
 * a close that does not match, nesting deeper than JSON_MAX_DEPTH, a second
 * top-level value) writes nothing more and is reported by json_finish(), as
 * is a stream error; the document is then incomplete and the caller must
 * say so.  A string NULL writes null.
 */
#ifndef HG_JSON_OUT_H
#define HG_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_out {
    FILE *f;                           /* not owned */
    int   depth;                       /* open containers */
    bool  is_object[JSON_MAX_DEPTH + 1]; /* level d (1..depth) is an object */
    bool  first[JSON_MAX_DEPTH + 1];   /* no element written yet at this level */
    bool  after_key;                   /* a key was just written: a value must follow */
    bool  done;                        /* the top-level value is complete */
    bool  misused;                     /* a call broke the rules above */
    bool  one_line;                    /* json_init_line(): no new lines inside */
} json_out;

/* Start a document on f (not owned; nothing is written yet). */
void json_init(json_out *j, FILE *f);
/* The same, for a document on one line (ended by its newline, like every document). */
void json_init_line(json_out *j, FILE *f);
void json_begin_object(json_out *j);
void json_end_object(json_out *j);
void json_begin_array(json_out *j);
void json_end_array(json_out *j);
void json_key(json_out *j, const char *key);
void json_string(json_out *j, const char *s); /* NULL writes null */
void json_u64(json_out *j, uint64_t v);
void json_double(json_out *j, double v);      /* non-finite writes null */
void json_bool(json_out *j, bool v);
void json_null(json_out *j);

/*
 * Flush f and report: true when exactly one complete top-level value was
 * written, no call broke the rules, and the stream saw no error.  Does not
 * close f.
 */
bool json_finish(json_out *j);

#endif /* HG_JSON_OUT_H */
