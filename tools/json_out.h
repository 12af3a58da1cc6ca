/*
 * json_out.h - a minimal streaming JSON writer for the tools.
 *
 * Keeps track of commas; strings are escaped and always valid UTF-8 (bytes
 * that are not valid UTF-8 are written as the Latin-1 character \u00XX).
 */
#ifndef HG_JSON_OUT_H
#define HG_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_out {
    FILE *f;
    int   depth;
    bool  first[JSON_MAX_DEPTH]; /* no element written yet at this depth */
    bool  after_key;             /* a key was just written */
} json_out;

void json_init(json_out *j, FILE *f);
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

#endif /* HG_JSON_OUT_H */
