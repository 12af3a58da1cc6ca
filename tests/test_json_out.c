/* SPDX-License-Identifier: MIT */
/*
 * test_json_out.c - the tools' one JSON writer (tools/json_out.c): escaping,
 * UTF-8 passthrough and repair, numbers, layout, and misuse and stream errors
 * reported by json_finish().  No device.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

/* A writer on a temporary file; read() returns everything written so far. */
typedef struct sink {
    FILE    *f;
    json_out j;
    char     text[4096];
} sink;

static void sink_open(sink *s)
{
    s->f = tmpfile();
    ck_assert_ptr_nonnull(s->f);
    json_init(&s->j, s->f);
}

static const char *sink_read(sink *s)
{
    fflush(s->f);
    long n = ftell(s->f);
    ck_assert_int_ge(n, 0);
    ck_assert_int_lt(n, (long)sizeof s->text);
    rewind(s->f);
    size_t got = fread(s->text, 1, (size_t)n, s->f);
    ck_assert_uint_eq(got, (size_t)n);
    s->text[n] = '\0';
    fseek(s->f, 0, SEEK_END);
    return s->text;
}

static void sink_close(sink *s)
{
    fclose(s->f);
}

/* The document for one top-level string. */
static const char *one_string(sink *s, const char *v)
{
    sink_open(s);
    json_string(&s->j, v);
    ck_assert(json_finish(&s->j));
    return sink_read(s);
}

/* The text json_double gives for v (without the final newline). */
static const char *one_double(sink *s, double v)
{
    sink_open(s);
    json_double(&s->j, v);
    ck_assert(json_finish(&s->j));
    const char *t = sink_read(s);
    s->text[strlen(t) - 1] = '\0';
    return s->text;
}

START_TEST(escapes_quote_backslash_and_controls)
{
    sink s;
    ck_assert_str_eq(one_string(&s, "a\"b\\c/d"), "\"a\\\"b\\\\c/d\"\n");
    sink_close(&s);
    ck_assert_str_eq(one_string(&s, "\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"\n");
    sink_close(&s);
    ck_assert_str_eq(one_string(&s, "\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"\n");
    sink_close(&s);
    ck_assert_str_eq(one_string(&s, ""), "\"\"\n");
    sink_close(&s);
}
END_TEST

START_TEST(valid_utf8_passes_through)
{
    sink s;
    /* two, three and four bytes; the largest code point U+10FFFF */
    const char *v = "G\xc3\xbc \xe6\x97\xa5 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
    char want[64];
    snprintf(want, sizeof want, "\"%s\"\n", v);
    ck_assert_str_eq(one_string(&s, v), want);
    sink_close(&s);
}
END_TEST

START_TEST(invalid_utf8_becomes_latin1_escapes)
{
    sink s;
    /* a byte never valid in UTF-8 */
    ck_assert_str_eq(one_string(&s, "a\xff" "b"), "\"a\\u00ffb\"\n");
    sink_close(&s);
    /* a lone continuation byte */
    ck_assert_str_eq(one_string(&s, "\x80"), "\"\\u0080\"\n");
    sink_close(&s);
    /* a sequence cut short by another byte, and by the end of the string */
    ck_assert_str_eq(one_string(&s, "\xe6\x97 x"), "\"\\u00e6\\u0097 x\"\n");
    sink_close(&s);
    ck_assert_str_eq(one_string(&s, "x\xe6\x97"), "\"x\\u00e6\\u0097\"\n");
    sink_close(&s);
    /* an overlong '/', a UTF-16 surrogate, a code point over U+10FFFF */
    ck_assert_str_eq(one_string(&s, "\xc0\xaf"), "\"\\u00c0\\u00af\"\n");
    sink_close(&s);
    ck_assert_str_eq(one_string(&s, "\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\"\n");
    sink_close(&s);
    ck_assert_str_eq(one_string(&s, "\xf4\x90\x80\x80"),
                     "\"\\u00f4\\u0090\\u0080\\u0080\"\n");
    sink_close(&s);
    /* a valid character right after a repaired byte is kept whole */
    ck_assert_str_eq(one_string(&s, "\xff\xc3\xbc"), "\"\\u00ff\xc3\xbc\"\n");
    sink_close(&s);
}
END_TEST

START_TEST(null_string_is_null)
{
    sink s;
    ck_assert_str_eq(one_string(&s, NULL), "null\n");
    sink_close(&s);
}
END_TEST

START_TEST(numbers)
{
    sink s;
    ck_assert_str_eq(one_double(&s, NAN), "null");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, INFINITY), "null");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, -INFINITY), "null");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, 0.1), "0.1");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, 0.1 + 0.2), "0.30000000000000004");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, 1e300), "1e+300");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, 123456), "123456");
    sink_close(&s);
    ck_assert_str_eq(one_double(&s, -0.0), "-0");
    sink_close(&s);
    /* every double reads back exactly */
    const double vals[] = {1.0 / 3.0, 2.0 / 3.0, 5e-324, 1.7976931348623157e308, 3.14159e-7};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        ck_assert(strtod(one_double(&s, vals[i]), NULL) == vals[i]);
        sink_close(&s);
    }
    sink_open(&s);
    json_u64(&s.j, UINT64_MAX);
    ck_assert(json_finish(&s.j));
    ck_assert_str_eq(sink_read(&s), "18446744073709551615\n");
    sink_close(&s);
}
END_TEST

START_TEST(layout)
{
    sink s;
    sink_open(&s);
    json_begin_object(&s.j);
    json_key(&s.j, "a");
    json_u64(&s.j, 1);
    json_key(&s.j, "k\"ey");
    json_begin_array(&s.j);
    json_bool(&s.j, true);
    json_null(&s.j);
    json_begin_object(&s.j);
    json_end_object(&s.j);
    json_begin_array(&s.j);
    json_end_array(&s.j);
    json_end_array(&s.j);
    json_end_object(&s.j);
    ck_assert(json_finish(&s.j));
    ck_assert_str_eq(sink_read(&s), "{\n"
                                    "  \"a\": 1,\n"
                                    "  \"k\\\"ey\": [\n"
                                    "    true,\n"
                                    "    null,\n"
                                    "    {},\n"
                                    "    []\n"
                                    "  ]\n"
                                    "}\n");
    sink_close(&s);
}
END_TEST

/* json_init_line(): the same document on one line, for JSON Lines files; a second
   document on the same stream follows on its own line. */
START_TEST(one_line_layout)
{
    sink s;
    sink_open(&s);
    json_init_line(&s.j, s.f);
    json_begin_object(&s.j);
    json_key(&s.j, "a");
    json_u64(&s.j, 1);
    json_key(&s.j, "k\"ey");
    json_begin_array(&s.j);
    json_bool(&s.j, true);
    json_string(&s.j, "x\ny");
    json_begin_object(&s.j);
    json_end_object(&s.j);
    json_begin_object(&s.j);
    json_key(&s.j, "b");
    json_double(&s.j, 0.5);
    json_end_object(&s.j);
    json_end_array(&s.j);
    json_end_object(&s.j);
    ck_assert(json_finish(&s.j));
    json_init_line(&s.j, s.f);
    json_begin_array(&s.j);
    json_null(&s.j);
    json_u64(&s.j, 2);
    json_end_array(&s.j);
    ck_assert(json_finish(&s.j));
    ck_assert_str_eq(sink_read(&s), "{\"a\":1,\"k\\\"ey\":[true,\"x\\ny\",{},{\"b\":0.5}]}\n"
                                    "[null,2]\n");
    /* the same rules: a misuse is reported on one line too */
    json_init_line(&s.j, s.f);
    json_begin_object(&s.j);
    json_u64(&s.j, 1);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
}
END_TEST

/* Each misuse: json_finish() says false, and nothing follows the misuse. */
START_TEST(misuse_is_reported)
{
    sink s;
    /* a value without its key inside an object */
    sink_open(&s);
    json_begin_object(&s.j);
    json_u64(&s.j, 1);
    json_end_object(&s.j);
    ck_assert(!json_finish(&s.j));
    ck_assert_str_eq(sink_read(&s), "{");
    sink_close(&s);
    /* a key inside an array, and a key at the top level */
    sink_open(&s);
    json_begin_array(&s.j);
    json_key(&s.j, "k");
    json_end_array(&s.j);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    sink_open(&s);
    json_key(&s.j, "k");
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    /* two keys in a row, and a key without a value before the close */
    sink_open(&s);
    json_begin_object(&s.j);
    json_key(&s.j, "a");
    json_key(&s.j, "b");
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    sink_open(&s);
    json_begin_object(&s.j);
    json_key(&s.j, "a");
    json_end_object(&s.j);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    /* a close that does not match, and one too many */
    sink_open(&s);
    json_begin_object(&s.j);
    json_end_array(&s.j);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    sink_open(&s);
    json_end_object(&s.j);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    /* a document left open */
    sink_open(&s);
    json_begin_array(&s.j);
    json_u64(&s.j, 1);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    /* nothing written */
    sink_open(&s);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
    /* a second top-level value */
    sink_open(&s);
    json_u64(&s.j, 1);
    json_u64(&s.j, 2);
    ck_assert(!json_finish(&s.j));
    ck_assert_str_eq(sink_read(&s), "1\n");
    sink_close(&s);
    /* nesting deeper than JSON_MAX_DEPTH; exactly JSON_MAX_DEPTH is fine */
    sink_open(&s);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_begin_array(&s.j);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_end_array(&s.j);
    ck_assert(json_finish(&s.j));
    sink_close(&s);
    sink_open(&s);
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        json_begin_array(&s.j);
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        json_end_array(&s.j);
    ck_assert(!json_finish(&s.j));
    sink_close(&s);
}
END_TEST

/* A stream that cannot be written (a full disk): json_finish() says false. */
START_TEST(stream_error_is_reported)
{
    FILE *f = fopen("/dev/full", "w");
    ck_assert_msg(f != NULL, "cannot open /dev/full");
    json_out j;
    json_init(&j, f);
    json_begin_object(&j);
    json_key(&j, "k");
    json_string(&j, "v");
    json_end_object(&j);
    ck_assert(!json_finish(&j));
    fclose(f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("json_out");
    TCase *t = tcase_create("writer");
    tcase_add_test(t, escapes_quote_backslash_and_controls);
    tcase_add_test(t, valid_utf8_passes_through);
    tcase_add_test(t, invalid_utf8_becomes_latin1_escapes);
    tcase_add_test(t, null_string_is_null);
    tcase_add_test(t, numbers);
    tcase_add_test(t, layout);
    tcase_add_test(t, one_line_layout);
    tcase_add_test(t, misuse_is_reported);
    tcase_add_test(t, stream_error_is_reported);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
