/* SPDX-License-Identifier: MIT */
/*
 * test_dataset_io.c - the CSV, LIBSVM and IDX loaders (hetgrad/data.h), no device.
 *
 * Every file is written under one mkdtemp directory in /tmp, created before the tests and
 * removed after them (unchecked fixture).  Every error case checks the status and that
 * the message names the file, the line (byte offset for IDX) and the problem.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "hetgrad/data.h"
#include "internal.h"

static char root[64]; /* the mkdtemp directory */

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/hg-dataset-io-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_root(void)
{
    if (!root[0])
        return;
    DIR *d = opendir(root);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *sub = hg__asprintf("%s/%s", root, e->d_name);
            if (sub)
                unlink(sub);
            free(sub);
        }
        closedir(d);
    }
    rmdir(root);
}

/* Write len bytes to <root>/<name>; returns the malloc'ed path. */
static char *put(const char *name, const void *bytes, size_t len)
{
    char *path = hg__asprintf("%s/%s", root, name);
    ck_assert_ptr_nonnull(path);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static char *puts_(const char *name, const char *text)
{
    return put(name, text, strlen(text));
}

/* Write len bytes gzip-compressed to <root>/<name>; returns the malloc'ed path. */
static char *put_gz(const char *name, const void *bytes, size_t len)
{
    char *path = hg__asprintf("%s/%s", root, name);
    ck_assert_ptr_nonnull(path);
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    if (len)
        ck_assert_int_eq(gzwrite(g, bytes, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(g), Z_OK);
    return path;
}

/* The status is want and the message holds every one of the NULL-terminated words. */
static void expect_error(hg_status got, const hg_error *e, hg_status want, ...)
{
    ck_assert_msg(got == want, "status %s, want %s (%s)", hg_status_name(got),
                  hg_status_name(want), e->message);
    ck_assert_int_eq(e->status, want);
    va_list ap;
    va_start(ap, want);
    const char *w;
    while ((w = va_arg(ap, const char *)) != NULL)
        ck_assert_msg(strstr(e->message, w) != NULL, "message \"%s\" lacks \"%s\"",
                      e->message, w);
    va_end(ap);
}

/* "<path>:<line>:" */
static char *at(const char *path, int line)
{
    char *s = hg__asprintf("%s:%d:", path, line);
    ck_assert_ptr_nonnull(s);
    return s;
}

static hg_status csv(const char *name, const char *text, const hg_csv_options *o,
                     hg_dataset **d, hg_error *e, char **path)
{
    *path = puts_(name, text);
    return hg_dataset_load_csv(*path, o, d, e);
}

/* CSV text that must fail with status want, the message naming file:line and word. */
static void csv_fails(const char *text, const hg_csv_options *o, hg_status want, int line,
                      const char *word)
{
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    char *path;
    hg_status st = csv("bad.csv", text, o, &d, &e, &path);
    char *where = at(path, line);
    expect_error(st, &e, want, where, word, (const char *)NULL);
    ck_assert_ptr_null(d);
    free(where);
    free(path);
}

static void libsvm_fails(const char *text, size_t features, hg_status want, int line,
                         const char *word)
{
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    char *path = puts_("bad.svm", text);
    hg_status st = hg_dataset_load_libsvm(path, features, &d, &e);
    char *where = at(path, line);
    expect_error(st, &e, want, where, word, (const char *)NULL);
    ck_assert_ptr_null(d);
    free(where);
    free(path);
}

static void expect_floats(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "[%zu] = %g, want %g", i, (double)got[i],
                      (double)want[i]);
}

static void expect_labels(const int32_t *got, const int32_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "label[%zu] = %d, want %d", i, got[i], want[i]);
}

/* ---- CSV ------------------------------------------------------------------------ */

START_TEST(csv_no_header)
{
    hg_dataset *d;
    hg_error e;
    char *path;
    ck_assert_int_eq(csv("a.csv", "1,2,0\n3.5,-4e-1,2\n", NULL, &d, &e, &path), HG_OK);
    ck_assert_int_eq(e.status, HG_OK);
    ck_assert_str_eq(e.message, "");
    ck_assert_uint_eq(d->rows, 2);
    ck_assert_uint_eq(d->features, 2);
    ck_assert_uint_eq(d->classes, 3);
    expect_floats(d->x, (const float[]){1, 2, 3.5f, -0.4f}, 4);
    expect_labels(d->labels, (const int32_t[]){0, 2}, 2);
    expect_floats(d->targets, (const float[]){0, 2}, 2);
    hg_dataset_free(d);
    free(path);
}
END_TEST

START_TEST(csv_header_and_label_columns)
{
    hg_csv_options o;
    hg_csv_options_init(&o);
    o.header = true;
    hg_dataset *d;
    hg_error e;
    char *path;
    const char *text = "sepal,petal,class\n1,2,1\n3,4,0\n";
    ck_assert_int_eq(csv("h.csv", text, &o, &d, &e, &path), HG_OK);
    ck_assert_uint_eq(d->rows, 2);
    expect_floats(d->x, (const float[]){1, 2, 3, 4}, 4);
    expect_labels(d->labels, (const int32_t[]){1, 0}, 2);
    hg_dataset_free(d);
    free(path);

    o.label_column = 0; /* first */
    ck_assert_int_eq(csv("h.csv", "y,a,b\n5,1,2\n0,3,4\n", &o, &d, &e, &path), HG_OK);
    ck_assert_uint_eq(d->classes, 6);
    expect_floats(d->x, (const float[]){1, 2, 3, 4}, 4);
    expect_labels(d->labels, (const int32_t[]){5, 0}, 2);
    hg_dataset_free(d);
    free(path);

    o.label_column = 1; /* middle */
    o.header = false;
    ck_assert_int_eq(csv("m.csv", "1,7,2\n3,1,4\n", &o, &d, &e, &path), HG_OK);
    expect_floats(d->x, (const float[]){1, 2, 3, 4}, 4);
    expect_labels(d->labels, (const int32_t[]){7, 1}, 2);
    ck_assert_uint_eq(d->classes, 8);
    hg_dataset_free(d);
    free(path);
}
END_TEST

START_TEST(csv_delimiters)
{
    hg_csv_options o;
    hg_csv_options_init(&o);
    hg_dataset *d;
    hg_error e;
    char *path;
    o.delimiter = ';';
    ck_assert_int_eq(csv("s.csv", "1.5;2;1\n3;4;0\n", &o, &d, &e, &path), HG_OK);
    expect_floats(d->x, (const float[]){1.5f, 2, 3, 4}, 4);
    hg_dataset_free(d);
    free(path);

    o.delimiter = '\t';
    ck_assert_int_eq(csv("t.tsv", "1\t 2 \t1\n3\t4\t0\t\n", &o, &d, &e, &path), HG_IO);
    ck_assert_ptr_nonnull(strstr(e.message, "expected 3 columns"));
    free(path);
    ck_assert_int_eq(csv("t.tsv", "1\t 2 \t1  \n3\t4\t0\n", &o, &d, &e, &path), HG_OK);
    expect_floats(d->x, (const float[]){1, 2, 3, 4}, 4);
    hg_dataset_free(d);
    free(path);

    o.delimiter = ':';
    ck_assert_int_eq(csv("p.csv", "1:2\n", &o, &d, &e, &path), HG_INVALID_ARGUMENT);
    free(path);
    hg_csv_options_init(&o);
    o.label_column = -2;
    ck_assert_int_eq(csv("p.csv", "1,2\n", &o, &d, &e, &path), HG_INVALID_ARGUMENT);
    free(path);
}
END_TEST

START_TEST(csv_crlf_bom_blank_quotes)
{
    hg_csv_options o;
    hg_csv_options_init(&o);
    o.header = true;
    hg_dataset *d;
    hg_error e;
    char *path;
    const char *text = "\xEF\xBB\xBF\"x, one\",x2,y\r\n"
                       "\r\n"
                       "  1 , \"2\" ,3 \t\r\n"
                       "   \r\n"
                       "4,5,6"; /* no final newline */
    ck_assert_int_eq(csv("crlf.csv", text, &o, &d, &e, &path), HG_OK);
    ck_assert_uint_eq(d->rows, 2);
    expect_floats(d->x, (const float[]){1, 2, 4, 5}, 4);
    expect_labels(d->labels, (const int32_t[]){3, 6}, 2);
    ck_assert_uint_eq(d->classes, 7);
    hg_dataset_free(d);
    free(path);

    /* a BOM on a file with no header, and 3.0 as a label */
    ck_assert_int_eq(csv("bom.csv", "\xEF\xBB\xBF" "1,3.0\n", NULL, &d, &e, &path), HG_OK);
    expect_labels(d->labels, (const int32_t[]){3}, 1);
    hg_dataset_free(d);
    free(path);
}
END_TEST

START_TEST(csv_float_targets)
{
    hg_csv_options o;
    hg_csv_options_init(&o);
    o.labels_are_classes = false;
    hg_dataset *d;
    hg_error e;
    char *path;
    ck_assert_int_eq(csv("r.csv", "1,-0.25\n2,1e-50\n", &o, &d, &e, &path), HG_OK);
    ck_assert_ptr_null(d->labels);
    ck_assert_uint_eq(d->classes, 0);
    expect_floats(d->targets, (const float[]){-0.25f, 0}, 2);
    hg_dataset_free(d);
    free(path);
    csv_fails("1,2\n1,nan\n", &o, HG_IO, 2, "NaN or Inf");
}
END_TEST

START_TEST(csv_memory)
{
    const char buf[] = "1,2,1\n3,4,0\nGARBAGE";
    hg_dataset *d;
    hg_error e;
    /* not NUL-terminated: only the first 12 bytes */
    ck_assert_int_eq(hg_dataset_load_memory_csv("embedded", buf, 12, NULL, &d, &e), HG_OK);
    ck_assert_uint_eq(d->rows, 2);
    expect_floats(d->x, (const float[]){1, 2, 3, 4}, 4);
    hg_dataset_free(d);

    ck_assert_int_eq(hg_dataset_load_memory_csv("embedded", buf, sizeof buf - 1, NULL, &d,
                                                &e), HG_IO);
    expect_error(HG_IO, &e, HG_IO, "embedded:3:", "expected 3 columns", "got 1",
                 (const char *)NULL);
    ck_assert_ptr_null(d);

    const char nul[] = "1,2\n3,\0,4\n";
    ck_assert_int_eq(hg_dataset_load_memory_csv(NULL, nul, sizeof nul - 1, NULL, &d, &e),
                     HG_IO);
    expect_error(HG_IO, &e, HG_IO, "<memory>:2:", "looks binary", (const char *)NULL);

    ck_assert_int_eq(hg_dataset_load_memory_csv("m", "", 0, NULL, &d, &e), HG_IO);
    expect_error(HG_IO, &e, HG_IO, "m:1:", "empty", (const char *)NULL);
    ck_assert_int_eq(hg_dataset_load_memory_csv("m", NULL, 0, NULL, &d, &e), HG_IO);
    ck_assert_int_eq(hg_dataset_load_memory_csv("m", NULL, 5, NULL, &d, &e),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_dataset_load_memory_csv("m", "1,2", 3, NULL, NULL, &e),
                     HG_INVALID_ARGUMENT);
}
END_TEST

START_TEST(csv_errors)
{
    hg_csv_options hdr;
    hg_csv_options_init(&hdr);
    hdr.header = true;
    csv_fails("1,2,3\n4,5\n", NULL, HG_IO, 2, "expected 3 columns (as on line 1), got 2");
    csv_fails("a,b,c\n\n4,5,6,7\n", &hdr, HG_IO, 3, "expected 3 columns");
    csv_fails("1,2,0\n1,abc,0\n", NULL, HG_IO, 2, "column 2: \"abc\" is not a number");
    csv_fails("1,2,0\n1,2.5x,0\n", NULL, HG_IO, 2, "\"2.5x\" is not a number");
    csv_fails("1,,0\n", NULL, HG_IO, 1, "column 2 is empty");
    csv_fails("1,2,0,\n", NULL, HG_IO, 1, "column 4 is empty"); /* trailing delimiter */
    csv_fails("1,NaN,0\n", NULL, HG_IO, 1, "column 2: NaN or Inf");
    csv_fails("inf,1,0\n", NULL, HG_IO, 1, "column 1: NaN or Inf");
    csv_fails("1,2,0\n-Infinity,1,0\n", NULL, HG_IO, 2, "NaN or Inf");
    csv_fails("1,1e39,0\n", NULL, HG_IO, 1, "overflows float");
    csv_fails("1,2,-1\n", NULL, HG_IO, 1, "label \"-1\" is not a non-negative integer");
    csv_fails("1,2,0\n1,2,2.5\n", NULL, HG_IO, 2, "not a non-negative integer");
    csv_fails("1,2,cat\n", NULL, HG_IO, 1, "label \"cat\"");
    csv_fails("1,2,nan\n", NULL, HG_IO, 1, "not a non-negative integer");
    csv_fails("1,2,99999999999\n", NULL, HG_IO, 1, "not a non-negative integer");
    csv_fails("", NULL, HG_IO, 1, "empty file");
    csv_fails("\n  \r\n\n", NULL, HG_IO, 3, "empty file");
    csv_fails("a,b,c\n\n", &hdr, HG_IO, 2, "no data rows");
    csv_fails("1;2;3\n", NULL, HG_IO, 1, "need at least 2");
    csv_fails("1,2,0\n1,\"2,0\n", NULL, HG_IO, 2, "unterminated quote");
    csv_fails("1,\"2\"x,0\n", NULL, HG_IO, 1, "after a closing quote");

    hg_csv_options far;
    hg_csv_options_init(&far);
    far.label_column = 3;
    csv_fails("1,2,0\n", &far, HG_RANGE, 1, "label_column 3");

    /* a 40-byte cut of a long token */
    char longtok[200];
    memset(longtok, 'z', 100);
    snprintf(longtok + 100, sizeof longtok - 100, ",1,0\n");
    csv_fails(longtok, NULL, HG_IO, 1, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"...");
}
END_TEST

START_TEST(csv_binary)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};
    hg_dataset *d = NULL;
    hg_error e;
    char *path = put("image.csv", png, sizeof png);
    ck_assert_int_eq(hg_dataset_load_csv(path, NULL, &d, &e), HG_IO);
    char *where = at(path, 1);
    expect_error(HG_IO, &e, HG_IO, where, "looks binary", (const char *)NULL);
    free(where);
    free(path);
    ck_assert_ptr_null(d);

    /* UTF-8 text is fine, Latin-1 or a cut sequence is not */
    hg_csv_options o;
    hg_csv_options_init(&o);
    o.header = true;
    ck_assert_int_eq(csv("u.csv", "caf\xC3\xA9,\xE2\x82\xAC\n1,0\n", &o, &d, &e, &path),
                     HG_OK);
    hg_dataset_free(d);
    free(path);
    csv_fails("caf\xE9,x\n1,0\n", &o, HG_IO, 1, "not valid UTF-8");
    csv_fails("1,0\n2,0\xC3\n", NULL, HG_IO, 2, "looks binary");
    csv_fails("1,0\n2,\xED\xA0\x80\n", NULL, HG_IO, 2, "looks binary"); /* surrogate */
}
END_TEST

START_TEST(csv_long_line)
{
    size_t n = HG_DATA_MAX_LINE + 10;
    char *text = malloc(n + 1);
    ck_assert_ptr_nonnull(text);
    memcpy(text, "1,2\n", 4);
    memset(text + 4, '1', n - 4);
    text[n] = '\0';
    csv_fails(text, NULL, HG_RANGE, 2, "longer than 1 MiB");
    free(text);

    /* exactly at the limit is fine (and is one huge number: not a number error) */
    n = HG_DATA_MAX_LINE;
    text = malloc(n + 2);
    ck_assert_ptr_nonnull(text);
    memset(text, '1', n);
    text[n - 2] = ',';
    text[n] = '\n';
    text[n + 1] = '\0';
    csv_fails(text, NULL, HG_IO, 1, "overflows float");
    free(text);
}
END_TEST

START_TEST(csv_many_rows)
{
    /* growth across several reallocations and read chunks */
    size_t rows = 20000;
    char *text = malloc(rows * 16 + 1);
    ck_assert_ptr_nonnull(text);
    size_t o = 0;
    for (size_t i = 0; i < rows; i++)
        o += (size_t)sprintf(text + o, "%zu,%zu.5,%zu\n", i, i % 7, i % 3);
    hg_dataset *d;
    hg_error e;
    char *path;
    ck_assert_int_eq(csv("big.csv", text, NULL, &d, &e, &path), HG_OK);
    ck_assert_uint_eq(d->rows, rows);
    ck_assert_uint_eq(d->classes, 3);
    ck_assert(d->x[2 * 12345] == 12345.0f);
    ck_assert(d->x[2 * 12345 + 1] == 12345 % 7 + 0.5f);
    ck_assert_int_eq(d->labels[19999], 19999 % 3);
    hg_dataset_free(d);
    free(path);
    free(text);
}
END_TEST

START_TEST(csv_missing_file)
{
    hg_dataset *d = NULL;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_csv("/nonexistent/x.csv", NULL, &d, &e), HG_IO);
    expect_error(HG_IO, &e, HG_IO, "/nonexistent/x.csv", "cannot open", (const char *)NULL);
    ck_assert_int_eq(hg_dataset_load_csv(NULL, NULL, &d, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_dataset_load_csv("x", NULL, NULL, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_dataset_load_csv(root, NULL, &d, &e), HG_IO); /* a directory */
    ck_assert_ptr_null(d);
    hg_dataset_free(NULL);
}
END_TEST

START_TEST(csv_locale_independent)
{
    /* only meaningful where a comma-decimal locale is installed */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_memory_csv("l", "1.5,0\n", 6, NULL, &d, &e), HG_OK);
    ck_assert(d->x[0] == 1.5f);
    hg_dataset_free(d);
    if (got) /* the process locale is left as the caller set it */
        ck_assert_str_eq(setlocale(LC_NUMERIC, NULL), got);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

/* ---- LIBSVM --------------------------------------------------------------------- */

START_TEST(libsvm_sparse_inferred)
{
    const char *text = "# a comment line\n"
                       "+1 1:0.5 3:2\n"
                       "\n"
                       "-1 qid:7 2:1.25 # trailing comment\r\n"
                       "1\n"
                       "-1\t4:-3\t\n";
    char *path = puts_("a.svm", text);
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_libsvm(path, 0, &d, &e), HG_OK);
    ck_assert_uint_eq(d->rows, 4);
    ck_assert_uint_eq(d->features, 4);
    expect_floats(d->x, (const float[]){0.5f, 0, 2, 0,
                                        0, 1.25f, 0, 0,
                                        0, 0, 0, 0,
                                        0, 0, 0, -3}, 16);
    expect_labels(d->labels, (const int32_t[]){1, 0, 1, 0}, 4); /* -1 -> 0, +1 -> 1 */
    expect_floats(d->targets, (const float[]){1, -1, 1, -1}, 4);
    ck_assert_uint_eq(d->classes, 2);
    hg_dataset_free(d);

    /* explicit features: wider than the largest index */
    ck_assert_int_eq(hg_dataset_load_libsvm(path, 6, &d, &e), HG_OK);
    ck_assert_uint_eq(d->features, 6);
    ck_assert(d->x[6 * 3 + 3] == -3.0f);
    ck_assert(d->x[6 * 3 + 5] == 0.0f);
    hg_dataset_free(d);
    free(path);
}
END_TEST

START_TEST(libsvm_label_ranks)
{
    char *path = puts_("m.svm", "3 1:1\n1 1:2\n7 1:3\n3 1:4\n-2 1:5\n");
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_libsvm(path, 0, &d, &e), HG_OK);
    ck_assert_uint_eq(d->classes, 4);
    expect_labels(d->labels, (const int32_t[]){2, 1, 3, 2, 0}, 5);
    expect_floats(d->targets, (const float[]){3, 1, 7, 3, -2}, 5);
    hg_dataset_free(d);
    free(path);

    path = puts_("z.svm", "\xEF\xBB\xBF" "0 2:1\n1 1:1\n"); /* 0/1 unchanged, BOM */
    ck_assert_int_eq(hg_dataset_load_libsvm(path, 0, &d, &e), HG_OK);
    expect_labels(d->labels, (const int32_t[]){0, 1}, 2);
    hg_dataset_free(d);
    free(path);
}
END_TEST

START_TEST(libsvm_errors)
{
    libsvm_fails("1 1:1\n1 3:1 2:1\n", 0, HG_IO, 2, "out of order");
    libsvm_fails("1 2:1 2:1\n", 0, HG_IO, 1, "out of order");
    libsvm_fails("1 0:1\n", 0, HG_IO, 1, "below 1");
    libsvm_fails("1 -3:1\n", 0, HG_IO, 1, "not a positive integer");
    libsvm_fails("1 1:1\n1 5:1\n", 4, HG_RANGE, 2, "above the 4 features");
    libsvm_fails("1 1000001:1\n", 0, HG_RANGE, 1, "limit");
    libsvm_fails("1 99999999999999999999999:1\n", 0, HG_RANGE, 1, "limit");
    libsvm_fails("1 1:1e39\n", 0, HG_IO, 1, "overflows float");
    libsvm_fails("1 1:nan\n", 0, HG_IO, 1, "NaN or Inf");
    libsvm_fails("1 1:abc\n", 0, HG_IO, 1, "\"abc\" is not a number");
    libsvm_fails("1 1:\n", 0, HG_IO, 1, "is not a number");
    libsvm_fails("1 1:1 junk\n", 0, HG_IO, 1, "expected index:value, got \"junk\"");
    libsvm_fails("0.5 1:1\n", 0, HG_IO, 1, "label \"0.5\" is not an integer");
    libsvm_fails("yes 1:1\n", 0, HG_IO, 1, "not an integer");
    libsvm_fails("", 0, HG_IO, 1, "empty file");
    libsvm_fails("# only comments\n\n", 0, HG_IO, 2, "empty file");
    libsvm_fails("1\n-1\n", 0, HG_IO, 2, "no feature index");
    libsvm_fails("1 1:1\n\x01\x02\x03\n", 0, HG_IO, 2, "looks binary");

    hg_dataset *d = NULL;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_libsvm("x.svm", 1000001, &d, &e), HG_RANGE);
    ck_assert_ptr_nonnull(strstr(e.message, "limit"));
    ck_assert_int_eq(hg_dataset_load_libsvm("/nonexistent.svm", 0, &d, &e), HG_IO);
    ck_assert_ptr_nonnull(strstr(e.message, "/nonexistent.svm"));
    ck_assert_int_eq(hg_dataset_load_libsvm(NULL, 0, &d, &e), HG_INVALID_ARGUMENT);
    ck_assert_ptr_null(d);
}
END_TEST

/* ---- numbers: decimal only ------------------------------------------------------- */

START_TEST(numbers_decimal_only)
{
    hg_dataset *d;
    hg_error e;
    char *path;
    ck_assert_int_eq(csv("dec.csv", "+.5,2.,1E+2,0\n-0,1e-3,6.02e23,1\n", NULL, &d, &e, &path),
                     HG_OK);
    expect_floats(d->x, (const float[]){0.5f, 2, 100, 0, 0.001f, 6.02e23f}, 6);
    hg_dataset_free(d);
    free(path);

    /* strtod's other spellings are refused, quoting the field */
    csv_fails("0x1p3,1,0\n", NULL, HG_IO, 1, "column 1: hexadecimal number \"0x1p3\"");
    csv_fails("1,2,0\n1,-0X10,0\n", NULL, HG_IO, 2, "column 2: hexadecimal number \"-0X10\"");
    csv_fails("1,infinity,0\n", NULL, HG_IO, 1, "column 2: NaN or Inf value \"infinity\"");
    csv_fails("1,INF,0\n", NULL, HG_IO, 1, "NaN or Inf value \"INF\"");
    csv_fails("1,nan(123),0\n", NULL, HG_IO, 1, "NaN or Inf value \"nan(123)\"");
    csv_fails("1,information,0\n", NULL, HG_IO, 1, "\"information\" is not a number");
    csv_fails("1,1e,0\n", NULL, HG_IO, 1, "\"1e\" is not a number");
    csv_fails("1,.,0\n", NULL, HG_IO, 1, "\".\" is not a number");
    csv_fails("1,2,0x1\n", NULL, HG_IO, 1, "label \"0x1\" is not a non-negative integer");
    csv_fails("1,2,1048576\n", NULL, HG_RANGE, 1, "label 1048576 is above the limit");
    libsvm_fails("1 1:0x1p3\n", 0, HG_IO, 1, "feature index 1: hexadecimal number \"0x1p3\"");
    libsvm_fails("1 1:-Infinity\n", 0, HG_IO, 1, "NaN or Inf");
    libsvm_fails("0x1 1:1\n", 0, HG_IO, 1, "label \"0x1\" is not an integer");
}
END_TEST

/* ---- class labels and schemas ------------------------------------------------------ */

START_TEST(class_labels_of_plain_loads)
{
    hg_dataset *d;
    hg_error e;
    char *path;
    ck_assert_int_eq(csv("c.csv", "1,2,0\n3,4,2\n", NULL, &d, &e, &path), HG_OK);
    ck_assert_uint_eq(d->classes, 3);
    expect_labels(d->class_labels, (const int32_t[]){0, 1, 2}, 3);
    hg_data_schema s;
    hg_dataset_schema(d, &s);
    ck_assert_uint_eq(s.features, 2);
    ck_assert_ptr_eq(s.classes, d->class_labels);
    ck_assert_uint_eq(s.nclasses, 3);
    ck_assert_ptr_null(s.source);
    hg_dataset_free(d);
    free(path);

    hg_csv_options t;
    hg_csv_options_init(&t);
    t.labels_are_classes = false;
    ck_assert_int_eq(csv("t.csv", "1,2,0.5\n", &t, &d, &e, &path), HG_OK);
    ck_assert_ptr_null(d->class_labels);
    hg_dataset_schema(d, &s);
    ck_assert_ptr_null(s.classes);
    ck_assert_uint_eq(s.nclasses, 0);
    hg_dataset_free(d);
    free(path);

    path = puts_("r.svm", "3 1:1\n1 1:2\n7 1:3\n-2 1:5\n");
    ck_assert_int_eq(hg_dataset_load_libsvm(path, 0, &d, &e), HG_OK);
    expect_labels(d->class_labels, (const int32_t[]){-2, 1, 3, 7}, 4);
    hg_dataset_free(d);
    free(path);
}
END_TEST

/* The defect: a LIBSVM test file lacking a class re-ranked its labels, and one whose
   largest index was lower than the training file's came out narrower. */
START_TEST(libsvm_schema)
{
    char *train = puts_("train.svm", "3 1:1\n1 2:1\n7 3:1\n");
    char *test = puts_("test.svm", "7 1:1\n3 2:2\n");
    hg_dataset *tr, *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_libsvm(train, 0, &tr, &e), HG_OK);
    hg_data_schema s;
    hg_dataset_schema(tr, &s);
    s.source = "train.svm";
    ck_assert_int_eq(hg_dataset_load_libsvm_as(test, &s, &d, &e), HG_OK);
    ck_assert_uint_eq(d->features, 3);
    ck_assert_uint_eq(d->classes, 3);
    expect_labels(d->labels, (const int32_t[]){2, 1}, 2); /* 7 and 3 among 1, 3, 7 */
    expect_labels(d->class_labels, (const int32_t[]){1, 3, 7}, 3);
    expect_floats(d->targets, (const float[]){7, 3}, 2);
    expect_floats(d->x, (const float[]){1, 0, 0, 0, 2, 0}, 6);
    hg_dataset_free(d);

    /* a label the training file lacks; an index above its features */
    char *bad = puts_("unseen.svm", "7 1:1\n\n5 1:1\n");
    char *where = at(bad, 3);
    d = (hg_dataset *)1;
    expect_error(hg_dataset_load_libsvm_as(bad, &s, &d, &e), &e, HG_IO, where,
                 "label 5 is not one of the 3 classes of train.svm (1, 3, 7)",
                 (const char *)NULL);
    ck_assert_ptr_null(d);
    free(where);
    free(bad);
    bad = puts_("wide.svm", "7 1:1\n3 4:1\n");
    where = at(bad, 2);
    expect_error(hg_dataset_load_libsvm_as(bad, &s, &d, &e), &e, HG_RANGE, where,
                 "feature index 4 out of range: above the 3 features of train.svm",
                 (const char *)NULL);
    free(where);
    free(bad);

    /* classes only (features inferred), in any order */
    s.features = 0;
    s.classes = (const int32_t[]){1, -1};
    s.nclasses = 2;
    ck_assert_int_eq(hg_dataset_load_libsvm_as(test, &s, &d, &e), HG_IO);
    s.classes = (const int32_t[]){7, 3};
    ck_assert_int_eq(hg_dataset_load_libsvm_as(test, &s, &d, &e), HG_OK);
    ck_assert_uint_eq(d->features, 2);
    expect_labels(d->labels, (const int32_t[]){0, 1}, 2);
    expect_labels(d->class_labels, (const int32_t[]){7, 3}, 2);
    hg_dataset_free(d);

    hg_dataset_free(tr);
    free(train);
    free(test);
}
END_TEST

START_TEST(csv_schema)
{
    hg_data_schema s;
    hg_data_schema_init(&s);
    s.features = 2;
    s.classes = (const int32_t[]){0, 1, 2};
    s.nclasses = 3;
    s.source = "train.csv";
    hg_dataset *d;
    hg_error e;
    char *path = puts_("t.csv", "1,2,2\n3,4,0\n");
    ck_assert_int_eq(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), HG_OK);
    ck_assert_uint_eq(d->classes, 3); /* not 1 + the largest label of this file */
    expect_labels(d->labels, (const int32_t[]){2, 0}, 2);
    expect_labels(d->class_labels, (const int32_t[]){0, 1, 2}, 3);
    hg_dataset_free(d);
    free(path);

    /* the defect: a label the training never saw widened the classes */
    path = puts_("ten.csv", "1,2,0\n1,2,3\n");
    char *where = at(path, 2);
    d = (hg_dataset *)1;
    expect_error(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), &e, HG_IO, where,
                 "column 3: label 3 is not one of the 3 classes of train.csv (0, 1, 2)",
                 (const char *)NULL);
    ck_assert_ptr_null(d);
    free(where);
    free(path);

    /* another feature count: on the first line, the header's with a header */
    hg_csv_options h;
    hg_csv_options_init(&h);
    h.header = true;
    path = puts_("wide.csv", "a,b,c,y\n1,2,3,0\n");
    where = at(path, 1);
    expect_error(hg_dataset_load_csv_as(path, &h, &s, &d, &e), &e, HG_IO, where,
                 "3 features (4 columns less the label), but train.csv has 2",
                 (const char *)NULL);
    free(where);
    free(path);

    /* negative labels with classes that have them (a LIBSVM training file's) */
    s.classes = (const int32_t[]){-1, 1};
    s.nclasses = 2;
    path = puts_("pm.csv", "1,2,1\n1,2,-1\n1,2,+1.0\n");
    ck_assert_int_eq(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), HG_OK);
    expect_labels(d->labels, (const int32_t[]){1, 0, 1}, 3);
    expect_floats(d->targets, (const float[]){1, -1, 1}, 3);
    hg_dataset_free(d);
    free(path);
    path = puts_("half.csv", "1,2,0.5\n");
    where = at(path, 1);
    expect_error(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), &e, HG_IO, where,
                 "label \"0.5\" is not an integer", (const char *)NULL);
    free(where);
    free(path);

    /* many classes: the list is cut */
    int32_t many[20];
    for (int32_t k = 0; k < 20; k++)
        many[k] = k;
    s.classes = many;
    s.nclasses = 20;
    path = puts_("m.csv", "1,2,20\n");
    expect_error(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), &e, HG_IO,
                 "label 20 is not one of the 20 classes of train.csv (0, 1, 2, 3, 4, 5, 6, 7, "
                 "..., 19)", (const char *)NULL);
    free(path);
}
END_TEST

START_TEST(schema_checked)
{
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    char *path = puts_("ok.csv", "1,2,0\n");
    hg_data_schema s;
    hg_data_schema_init(&s);
    s.classes = (const int32_t[]){0, 3, 0};
    s.nclasses = 3;
    expect_error(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), &e, HG_INVALID_ARGUMENT,
                 "label 0 twice", (const char *)NULL);
    ck_assert_ptr_null(d);
    s.classes = NULL;
    expect_error(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), &e, HG_INVALID_ARGUMENT,
                 "nclasses 3", (const char *)NULL);
    s.classes = (const int32_t[]){0, 1};
    s.nclasses = 2;
    hg_csv_options t;
    hg_csv_options_init(&t);
    t.labels_are_classes = false;
    expect_error(hg_dataset_load_csv_as(path, &t, &s, &d, &e), &e, HG_INVALID_ARGUMENT,
                 "without class labels", (const char *)NULL);
    s.classes = NULL;
    s.nclasses = 0;
    s.features = HG_DATA_MAX_FEATURES + 1;
    expect_error(hg_dataset_load_csv_as(path, NULL, &s, &d, &e), &e, HG_RANGE, "limit",
                 (const char *)NULL);
    expect_error(hg_dataset_load_libsvm_as(path, &s, &d, &e), &e, HG_RANGE, "limit",
                 (const char *)NULL);
    /* NULL schema: as the plain loaders */
    ck_assert_int_eq(hg_dataset_load_csv_as(path, NULL, NULL, &d, &e), HG_OK);
    ck_assert_uint_eq(d->classes, 1);
    hg_dataset_free(d);
    free(path);
}
END_TEST

/* ---- IDX ------------------------------------------------------------------------ */

static void be32w(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* n images of r x c: pixel (i, j) = (i * 16 + j) mod 256; extra bytes appended. */
static unsigned char *idx_images(uint32_t n, uint32_t r, uint32_t c, size_t extra,
                                 size_t *len)
{
    size_t f = (size_t)r * c;
    *len = 16 + n * f + extra;
    unsigned char *b = calloc(1, *len);
    ck_assert_ptr_nonnull(b);
    be32w(b, 0x803);
    be32w(b + 4, n);
    be32w(b + 8, r);
    be32w(b + 12, c);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < f; j++)
            b[16 + i * f + j] = (unsigned char)(i * 16 + j);
    return b;
}

static unsigned char *idx_labels(uint32_t n, size_t *len)
{
    *len = 8 + n;
    unsigned char *b = calloc(1, *len);
    ck_assert_ptr_nonnull(b);
    be32w(b, 0x801);
    be32w(b + 4, n);
    for (size_t i = 0; i < n; i++)
        b[8 + i] = (unsigned char)(i % 10);
    return b;
}

static void check_idx(const hg_dataset *d, uint32_t n, size_t f, bool with_labels)
{
    ck_assert_uint_eq(d->rows, n);
    ck_assert_uint_eq(d->features, f);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < f; j++)
            ck_assert(d->x[i * f + j] == (float)(unsigned char)(i * 16 + j) / 255.0f);
    if (with_labels) {
        ck_assert_uint_eq(d->classes, n < 10 ? n : 10);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(d->labels[i], (int32_t)(i % 10));
            ck_assert(d->targets[i] == (float)(i % 10));
        }
    } else {
        ck_assert_ptr_null(d->labels);
        ck_assert_ptr_null(d->targets);
    }
}

START_TEST(idx_raw_and_gzip)
{
    size_t il, ll;
    unsigned char *img = idx_images(300, 28, 28, 0, &il);
    unsigned char *lab = idx_labels(300, &ll);
    char *ip = put("img.idx", img, il), *lp = put("lab.idx", lab, ll);
    char *igz = put_gz("img.idx.gz", img, il), *lgz = put_gz("lab.idx.gz", lab, ll);
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_idx(ip, lp, &d, &e), HG_OK);
    check_idx(d, 300, 784, true);
    ck_assert(d->x[0] == 0.0f);
    hg_dataset_free(d);
    ck_assert_int_eq(hg_dataset_load_idx(igz, lgz, &d, &e), HG_OK);
    check_idx(d, 300, 784, true);
    hg_dataset_free(d);
    ck_assert_int_eq(hg_dataset_load_idx(igz, lp, &d, &e), HG_OK); /* mixed */
    check_idx(d, 300, 784, true);
    hg_dataset_free(d);
    ck_assert_int_eq(hg_dataset_load_idx(ip, NULL, &d, &e), HG_OK); /* images only */
    check_idx(d, 300, 784, false);
    hg_dataset_free(d);
    free(img);
    free(lab);
    free(ip);
    free(lp);
    free(igz);
    free(lgz);

    /* 255 is exactly 1 */
    unsigned char one[17] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 255};
    ip = put("one.idx", one, sizeof one);
    ck_assert_int_eq(hg_dataset_load_idx(ip, NULL, &d, &e), HG_OK);
    ck_assert(d->x[0] == 1.0f);
    hg_dataset_free(d);
    free(ip);
}
END_TEST

static void idx_fails(const char *ipath, const char *lpath, hg_status want, const char *file,
                      const char *offset, const char *word)
{
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    hg_status st = hg_dataset_load_idx(ipath, lpath, &d, &e);
    expect_error(st, &e, want, file, offset, word, (const char *)NULL);
    ck_assert_ptr_null(d);
}

START_TEST(idx_errors)
{
    size_t il, ll;
    unsigned char *img = idx_images(10, 4, 5, 0, &il);
    unsigned char *lab = idx_labels(10, &ll);
    char *lp = put("lab.idx", lab, ll);

    /* truncated by 7 bytes */
    char *p = put("trunc.idx", img, il - 7);
    idx_fails(p, NULL, HG_IO, p, "byte offset 209", "ends early");
    free(p);
    p = put_gz("trunc.idx.gz", img, il - 7);
    idx_fails(p, NULL, HG_IO, p, "byte offset 209", "ends early");
    free(p);

    /* trailing bytes: the header lies low */
    unsigned char *more = idx_images(10, 4, 5, 3, &il);
    p = put("more.idx", more, il);
    idx_fails(p, NULL, HG_IO, p, "byte offset 216", "unexpected data after");
    free(p);
    free(more);

    /* a count far above the payload */
    size_t bl;
    unsigned char *big = idx_images(10, 4, 5, 0, &bl);
    be32w(big + 4, 1000000);
    p = put("lie.idx", big, bl);
    idx_fails(p, NULL, HG_IO, p, "byte offset 216", "ends early");
    free(p);
    be32w(big + 4, 0x80000001u);
    p = put("rows.idx", big, bl);
    idx_fails(p, NULL, HG_RANGE, p, "byte offset 4", "limit");
    free(p);
    be32w(big + 4, 0);
    p = put("zero.idx", big, bl);
    idx_fails(p, NULL, HG_IO, p, "byte offset 4", "no data rows");
    free(p);
    be32w(big + 4, 10);
    be32w(big + 8, 2000);
    be32w(big + 12, 1000);
    p = put("wide.idx", big, bl);
    idx_fails(p, NULL, HG_RANGE, p, "byte offset 8", "more than 1000000 features");
    free(p);
    free(big);

    /* wrong magic, short header, empty */
    free(img);
    img = idx_images(10, 4, 5, 0, &il);
    char *ip = put("img.idx", img, il);
    idx_fails(lp, NULL, HG_IO, lp, "byte offset 0", "that is a labels file");
    idx_fails(ip, ip, HG_IO, ip, "byte offset 0", "that is an images file");
    p = put("short.idx", img, 10);
    idx_fails(p, NULL, HG_IO, p, "byte offset 10", "inside the 16-byte");
    free(p);
    p = put("empty.idx", "", 0);
    idx_fails(p, NULL, HG_IO, p, "byte offset 0", "empty file");
    free(p);
    p = put("text.idx", "hello world, this is text\n", 26);
    idx_fails(p, NULL, HG_IO, p, "byte offset 0", "not an IDX file");
    free(p);

    /* labels: count mismatch, truncation, trailing */
    unsigned char *lab9 = idx_labels(9, &ll);
    p = put("lab9.idx", lab9, ll);
    idx_fails(ip, p, HG_IO, p, "byte offset 4", "9 labels but");
    free(p);
    free(lab9);
    p = put("labt.idx", lab, 8 + 10 - 1);
    idx_fails(ip, p, HG_IO, p, "byte offset 17", "ends early");
    free(p);
    unsigned char lab_more[19];
    memcpy(lab_more, lab, 18);
    lab_more[18] = 1;
    p = put("labm.idx", lab_more, sizeof lab_more);
    idx_fails(ip, p, HG_IO, p, "byte offset 18", "unexpected data after");
    free(p);

    /* corrupt gzip: a valid header, then garbage */
    unsigned char badgz[40] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    for (size_t i = 10; i < sizeof badgz; i++)
        badgz[i] = (unsigned char)(0xA5 ^ i);
    p = put("bad.gz", badgz, sizeof badgz);
    idx_fails(p, NULL, HG_IO, p, "byte offset 0", "gzip");
    free(p);

    idx_fails("/nonexistent/img", NULL, HG_IO, "/nonexistent/img", "cannot open", "");
    idx_fails(ip, "/nonexistent/lab", HG_IO, "/nonexistent/lab", "cannot open", "");
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_idx(NULL, NULL, &d, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg_dataset_load_idx(ip, NULL, NULL, &e), HG_INVALID_ARGUMENT);
    free(ip);
    free(lp);
    free(img);
    free(lab);
}
END_TEST


START_TEST(idx_schema)
{
    size_t il, ll;
    unsigned char *img = idx_images(10, 4, 5, 0, &il);
    unsigned char *lab = idx_labels(10, &ll); /* labels i % 10 */
    char *ip = put("s-img.idx", img, il), *lp = put("s-lab.idx", lab, ll);
    hg_data_schema s;
    hg_data_schema_init(&s);
    s.features = 20;
    s.classes = (const int32_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    s.nclasses = 10;
    s.source = "model.hgp";
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_idx_as(ip, lp, &s, &d, &e), HG_OK);
    for (int32_t i = 0; i < 10; i++)
        ck_assert_int_eq(d->labels[i], 9 - i);
    expect_labels(d->class_labels, s.classes, 10);
    hg_dataset_free(d);

    s.classes = (const int32_t[]){4, 3, 2, 1, 0}; /* label 5 (row 5, byte 8 + 5) unseen */
    s.nclasses = 5;
    d = (hg_dataset *)1;
    expect_error(hg_dataset_load_idx_as(ip, lp, &s, &d, &e), &e, HG_IO, lp, "byte offset 13",
                 "label 5 is not one of the 5 classes of model.hgp (4, 3, 2, 1, 0)",
                 (const char *)NULL);
    ck_assert_ptr_null(d);
    s.features = 784;
    expect_error(hg_dataset_load_idx_as(ip, lp, &s, &d, &e), &e, HG_IO, ip, "byte offset 8",
                 "images of 4 x 5 pixels (20 features), but model.hgp has 784",
                 (const char *)NULL);
    s.features = 0;
    expect_error(hg_dataset_load_idx_as(ip, NULL, &s, &d, &e), &e, HG_INVALID_ARGUMENT,
                 "without class labels", (const char *)NULL);
    ck_assert_int_eq(hg_dataset_load_idx(ip, lp, &d, &e), HG_OK);
    expect_labels(d->class_labels, (const int32_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10);
    hg_dataset_free(d);
    free(img);
    free(lab);
    free(ip);
    free(lp);
}
END_TEST

int main(void)
{
    make_root();
    Suite *s = suite_create("dataset_io");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, csv_no_header);
    tcase_add_test(tc, csv_header_and_label_columns);
    tcase_add_test(tc, csv_delimiters);
    tcase_add_test(tc, csv_crlf_bom_blank_quotes);
    tcase_add_test(tc, csv_float_targets);
    tcase_add_test(tc, csv_memory);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, csv_binary);
    tcase_add_test(tc, csv_long_line);
    tcase_add_test(tc, csv_many_rows);
    tcase_add_test(tc, csv_missing_file);
    tcase_add_test(tc, csv_locale_independent);
    tcase_add_test(tc, libsvm_sparse_inferred);
    tcase_add_test(tc, libsvm_label_ranks);
    tcase_add_test(tc, libsvm_errors);
    tcase_add_test(tc, idx_raw_and_gzip);
    tcase_add_test(tc, idx_errors);
    tcase_add_test(tc, numbers_decimal_only);
    tcase_add_test(tc, class_labels_of_plain_loads);
    tcase_add_test(tc, libsvm_schema);
    tcase_add_test(tc, csv_schema);
    tcase_add_test(tc, schema_checked);
    tcase_add_test(tc, idx_schema);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_root();
    return failed ? 1 : 0;
}
