/* SPDX-License-Identifier: MIT */
/*
 * test_data_formats.c - gzip-compressed text files and .npy files (hetgrad/data.h), no
 * device.  (tests/data_check.py checks the same loaders against files written by numpy
 * and Python's gzip module.)
 *
 * Every file is written under one mkdtemp directory in /tmp, created before the tests
 * and removed after them.  Every error case checks the status and that the message names
 * the file, the line (text) or byte offset (.npy) and the problem.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "hetgrad/data.h"
#include "internal.h"

static char root[64];

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/hg-data-formats-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_root(void)
{
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

/* len bytes as one gzip member (malloc'ed, *out_len bytes). */
static unsigned char *gzip_bytes(const void *bytes, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len);
    unsigned char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    z.next_in = (unsigned char *)(uintptr_t)bytes;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
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

static bool same_data(const hg_dataset *a, const hg_dataset *b)
{
    if (a->rows != b->rows || a->features != b->features || a->classes != b->classes)
        return false;
    if (memcmp(a->x, b->x, a->rows * a->features * sizeof(float)) != 0)
        return false;
    if (!a->labels != !b->labels)
        return false;
    return !a->labels || (memcmp(a->labels, b->labels, a->rows * sizeof(int32_t)) == 0 &&
                          memcmp(a->targets, b->targets, a->rows * sizeof(float)) == 0);
}

/* n lines of CSV: "i.5,-i,i%3" */
static char *csv_text(size_t n, size_t *len)
{
    size_t cap = n * 40 + 1, o = 0;
    char *t = malloc(cap);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(t + o, cap - o, "%zu.5,-%zu,%zu\n", i, i, i % 3);
    *len = o;
    return t;
}

/* The number of newlines zlib can decode from the (damaged) gzip bytes g[0..n). */
static size_t decodable_lines(const unsigned char *g, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    unsigned char out[4096];
    size_t lines = 0;
    z.next_in = (unsigned char *)(uintptr_t)g;
    z.avail_in = (uInt)n;
    for (;;) {
        z.next_out = out;
        z.avail_out = sizeof out;
        int zr = inflate(&z, Z_NO_FLUSH);
        for (size_t i = 0; i < sizeof out - z.avail_out; i++)
            lines += out[i] == '\n';
        if (zr != Z_OK)
            break;
    }
    inflateEnd(&z);
    return lines;
}

/* ---- gzip ----------------------------------------------------------------------- */

START_TEST(gzip_csv_and_libsvm)
{
    size_t len, glen;
    char *text = csv_text(5000, &len);
    unsigned char *g = gzip_bytes(text, len, &glen);
    /* the name says nothing: detected by the signature */
    char *plain = put("plain.csv", text, len), *gz = put("compressed.csv", g, glen);
    hg_dataset *a, *b;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_csv(plain, NULL, &a, &e), HG_OK);
    ck_assert_int_eq(hg_dataset_load_csv(gz, NULL, &b, &e), HG_OK);
    ck_assert_uint_eq(b->rows, 5000);
    ck_assert(same_data(a, b));
    hg_dataset_free(b);

    /* from memory too */
    ck_assert_int_eq(hg_dataset_load_memory_csv("mem", (const char *)g, glen, NULL, &b, &e),
                     HG_OK);
    ck_assert(same_data(a, b));
    hg_dataset_free(b);

    /* two members, as `cat a.gz b.gz` makes: every row of both */
    size_t half = 0, lines = 0;
    while (lines < 2500)
        lines += text[half++] == '\n';
    size_t g1len, g2len;
    unsigned char *g1 = gzip_bytes(text, half, &g1len);
    unsigned char *g2 = gzip_bytes(text + half, len - half, &g2len);
    unsigned char *cat = malloc(g1len + g2len);
    ck_assert_ptr_nonnull(cat);
    memcpy(cat, g1, g1len);
    memcpy(cat + g1len, g2, g2len);
    char *two = put("two-members.csv.gz", cat, g1len + g2len);
    ck_assert_int_eq(hg_dataset_load_csv(two, NULL, &b, &e), HG_OK);
    ck_assert(same_data(a, b));
    hg_dataset_free(b);
    hg_dataset_free(a);

    /* LIBSVM */
    const char *svm = "1 1:0.5 3:2\n-1 2:1.5\n1 1:-1 2:2 3:4 # comment\n";
    size_t slen;
    unsigned char *sg = gzip_bytes(svm, strlen(svm), &slen);
    char *sp = put("plain.svm", svm, strlen(svm)), *sgp = put("compressed.svm.gz", sg, slen);
    ck_assert_int_eq(hg_dataset_load_libsvm(sp, 0, &a, &e), HG_OK);
    ck_assert_int_eq(hg_dataset_load_libsvm(sgp, 0, &b, &e), HG_OK);
    ck_assert(same_data(a, b));
    ck_assert_uint_eq(b->features, 3);
    hg_dataset_free(a);
    hg_dataset_free(b);

    free(text);
    free(g);
    free(g1);
    free(g2);
    free(cat);
    free(sg);
    free(plain);
    free(gz);
    free(two);
    free(sp);
    free(sgp);
}
END_TEST

START_TEST(gzip_errors_located)
{
    size_t len, glen;
    char *text = csv_text(20000, &len);
    unsigned char *g = gzip_bytes(text, len, &glen);
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;

    /* truncated: the error names the line that was cut, in the decompressed text */
    size_t cut = glen / 2;
    char *path = put("truncated.csv", g, cut);
    char *where = hg__asprintf("%s:%zu:", path, decodable_lines(g, cut) + 1);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, where, "truncated",
                 (const char *)NULL);
    ck_assert_ptr_null(d);
    ck_assert_uint_gt(decodable_lines(g, cut), 1000);
    free(where);
    free(path);

    /* cut inside the 8-byte trailer: all the text is there, the check is not */
    path = put("no-trailer.csv", g, glen - 3);
    where = hg__asprintf("%s:%d:", path, 20001);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, where, "truncated",
                 (const char *)NULL);
    free(where);
    free(path);

    /* a damaged second member (its first block has the invalid type 3): zlib's reason,
       at the line after the first member's 20000 */
    unsigned char *bad = malloc(2 * glen);
    ck_assert_ptr_nonnull(bad);
    memcpy(bad, g, glen);
    memcpy(bad + glen, g, glen);
    bad[glen + 10] |= 0x06; /* after the 10-byte gzip header: BTYPE = 11 */
    path = put("corrupt.csv", bad, 2 * glen);
    where = hg__asprintf("%s:%d:", path, 20001);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, where,
                 "corrupt gzip data: invalid block type", (const char *)NULL);
    ck_assert_uint_eq(decodable_lines(bad, 2 * glen), 20000);
    free(where);
    free(path);

    /* a wrong CRC: every line decodes, the check at the end fails */
    memcpy(bad, g, glen);
    bad[glen - 8] ^= 1;
    path = put("crc.csv", bad, glen);
    where = hg__asprintf("%s:%d:", path, 20001);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, where,
                 "incorrect data check", (const char *)NULL);
    free(where);
    free(path);

    /* bytes after the stream that are not another member */
    unsigned char *tail = malloc(glen + 4);
    ck_assert_ptr_nonnull(tail);
    memcpy(tail, g, glen);
    memcpy(tail + glen, "junk", 4);
    path = put("trailing.csv", tail, glen + 4);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, path, "not gzip after",
                 (const char *)NULL);
    free(path);

    /* only the signature */
    path = put("stub.csv", "\x1f\x8b", 2);
    where = hg__asprintf("%s:1:", path);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, where, "truncated",
                 (const char *)NULL);
    free(where);
    free(path);

    /* a data error inside a compressed file is located like a plain one */
    const char *wrong = "1,2,0\n1,2\n";
    size_t wlen;
    unsigned char *wg = gzip_bytes(wrong, strlen(wrong), &wlen);
    path = put("columns.csv.gz", wg, wlen);
    where = hg__asprintf("%s:2:", path);
    expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, where,
                 "expected 3 columns", (const char *)NULL);
    free(where);
    free(path);
    const char *svm = "1 1:2\n1 3:1 2:1\n";
    free(wg);
    wg = gzip_bytes(svm, strlen(svm), &wlen);
    path = put("order.svm", wg, wlen);
    where = hg__asprintf("%s:2:", path);
    expect_error(hg_dataset_load_libsvm(path, 0, &d, &e), &e, HG_IO, where, "out of order",
                 (const char *)NULL);
    free(where);
    free(path);

    /* truncated LIBSVM, and in memory */
    expect_error(hg_dataset_load_memory_csv("mem.gz", (const char *)g, cut, NULL, &d, &e), &e,
                 HG_IO, "mem.gz:", "truncated", (const char *)NULL);

    free(wg);
    free(tail);
    free(bad);
    free(g);
    free(text);
}
END_TEST

/* IDX through the same layer: gzip's trailing data, once silently ignored, is an error */
START_TEST(gzip_idx_checked_like_text)
{
    unsigned char img[16 + 4] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 85, 170, 255};
    size_t glen;
    unsigned char *g = gzip_bytes(img, sizeof img, &glen);
    unsigned char *tail = malloc(glen + 4);
    ck_assert_ptr_nonnull(tail);
    memcpy(tail, g, glen);
    memcpy(tail + glen, "junk", 4);
    char *ok = put("img.gz", g, glen), *bad = put("img-junk.gz", tail, glen + 4);
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_idx(ok, NULL, &d, &e), HG_OK);
    ck_assert(d->x[3] == 1.0f);
    hg_dataset_free(d);
    d = (hg_dataset *)1;
    expect_error(hg_dataset_load_idx(bad, NULL, &d, &e), &e, HG_IO, bad, "byte offset 20",
                 "not gzip after the end", (const char *)NULL);
    ck_assert_ptr_null(d);
    /* truncated inside the pixels: the decompressed offset reached */
    char *cut = put("img-cut.gz", g, glen - 9);
    expect_error(hg_dataset_load_idx(cut, NULL, &d, &e), &e, HG_IO, cut, "byte offset",
                 "truncated", (const char *)NULL);
    free(cut);
    free(ok);
    free(bad);
    free(tail);
    free(g);
}
END_TEST

START_TEST(other_compressors_named)
{
    static const struct {
        const char *bytes;
        size_t      len;
        const char *word;
    } cases[] = {
        {"\xFD" "7zXZ\0\0\0", 8, "xz-compressed"},
        {"BZh91AY&SY", 10, "bzip2-compressed"},
        {"\x28\xB5\x2F\xFD\0\0", 6, "zstd-compressed"},
        {"PK\x03\x04\x14\0", 6, ".npz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = put("foreign", cases[i].bytes, cases[i].len);
        hg_dataset *d = (hg_dataset *)1;
        hg_error e;
        expect_error(hg_dataset_load_csv(path, NULL, &d, &e), &e, HG_IO, path,
                     cases[i].word, (const char *)NULL);
        ck_assert_ptr_null(d);
        expect_error(hg_dataset_load_npy(path, NULL, &d, &e), &e, HG_IO, path,
                     cases[i].word, (const char *)NULL);
        free(path);
    }
}
END_TEST

START_TEST(csv_pipe_delimiter)
{
    hg_csv_options o;
    hg_csv_options_init(&o);
    o.delimiter = '|';
    hg_dataset *d;
    hg_error e;
    const char *t = "1.5|2|1\n3|4|0\n";
    ck_assert_int_eq(hg_dataset_load_memory_csv("p", t, strlen(t), &o, &d, &e), HG_OK);
    ck_assert_uint_eq(d->features, 2);
    ck_assert(d->x[0] == 1.5f && d->x[3] == 4.0f && d->labels[0] == 1);
    hg_dataset_free(d);
    o.delimiter = ':';
    expect_error(hg_dataset_load_memory_csv("p", t, strlen(t), &o, &d, &e), &e,
                 HG_INVALID_ARGUMENT, "',', ';', '|' or tab", (const char *)NULL);
}
END_TEST

/* ---- .npy ----------------------------------------------------------------------- */

/* A version 1.0 .npy file: header dict text (padded as numpy pads it) and payload. */
static unsigned char *npy_bytes(const char *dict, const void *data, size_t dlen, size_t *len)
{
    size_t h = strlen(dict) + 1, total = 10 + h;
    size_t pad = (64 - total % 64) % 64;
    h += pad;
    *len = 10 + h + dlen;
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(h & 0xff);
    b[9] = (unsigned char)(h >> 8);
    memcpy(b + 10, dict, strlen(dict));
    memset(b + 10 + strlen(dict), ' ', pad);
    b[10 + h - 1] = '\n';
    if (dlen)
        memcpy(b + 10 + h, data, dlen);
    return b;
}

static char *put_npy(const char *name, const char *dict, const void *data, size_t dlen)
{
    size_t len;
    unsigned char *b = npy_bytes(dict, data, dlen, &len);
    char *path = put(name, b, len);
    free(b);
    return path;
}

static void store_be(unsigned char *p, uint64_t v, size_t size)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(v >> (8 * (size - 1 - i)));
}

static void store_le(unsigned char *p, uint64_t v, size_t size)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t f64_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static uint32_t f32_bits(float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    return b;
}

static const double X23[2][3] = {{1.5, -2, 3.25}, {4, 5e-3, -6e10}};

START_TEST(npy_orders_and_byte_orders)
{
    unsigned char c_le8[48], f_be8[48], c_be4[24], f_le4[24];
    for (size_t r = 0; r < 2; r++)
        for (size_t c = 0; c < 3; c++) {
            store_le(c_le8 + 8 * (r * 3 + c), f64_bits(X23[r][c]), 8);
            store_be(f_be8 + 8 * (c * 2 + r), f64_bits(X23[r][c]), 8);
            store_be(c_be4 + 4 * (r * 3 + c), f32_bits((float)X23[r][c]), 4);
            store_le(f_le4 + 4 * (c * 2 + r), f32_bits((float)X23[r][c]), 4);
        }
    char *xs[4] = {
        put_npy("c_le8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                c_le8, 48),
        put_npy("f_be8.npy", "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }",
                f_be8, 48),
        put_npy("c_be4.npy", "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": "
                "\">f4\"}", c_be4, 24),
        put_npy("f_le4.npy", "{'descr':'<f4','fortran_order':True,'shape':(2,3)}", f_le4, 24),
    };
    /* y = {2, 0} in every integer width and byte order, and bools {1, 0} */
    static const struct {
        const char *descr;
        size_t      size;
        bool        big;
    } ys[] = {{"|i1", 1, false}, {"|u1", 1, false}, {"<i2", 2, false}, {">u2", 2, true},
              {">i4", 4, true},  {"<u4", 4, false}, {"<i8", 8, false}, {">u8", 8, true},
              {"|b1", 1, false}};
    for (size_t xi = 0; xi < 4; xi++) {
        for (size_t yi = 0; yi < sizeof ys / sizeof ys[0]; yi++) {
            bool b = ys[yi].descr[1] == 'b';
            unsigned char y[16];
            for (size_t r = 0; r < 2; r++) {
                uint64_t v = b ? 1 - r : 2 - 2 * r;
                (ys[yi].big ? store_be : store_le)(y + r * ys[yi].size, v, ys[yi].size);
            }
            char dict[96];
            snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': "
                     "(2,), }", ys[yi].descr);
            char *yp = put_npy("y.npy", dict, y, 2 * ys[yi].size);
            hg_dataset *d;
            hg_error e;
            ck_assert_msg(hg_dataset_load_npy(xs[xi], yp, &d, &e) == HG_OK, "%s", e.message);
            ck_assert_uint_eq(d->rows, 2);
            ck_assert_uint_eq(d->features, 3);
            for (size_t r = 0; r < 2; r++)
                for (size_t c = 0; c < 3; c++)
                    ck_assert_msg(d->x[r * 3 + c] == (float)X23[r][c], "%s, y %s: X[%zu, %zu]",
                                  xs[xi], ys[yi].descr, r, c);
            ck_assert_int_eq(d->labels[0], b ? 1 : 2);
            ck_assert_int_eq(d->labels[1], 0);
            ck_assert(d->targets[0] == (b ? 1.0f : 2.0f));
            ck_assert_uint_eq(d->classes, b ? 2 : 3);
            ck_assert_int_eq(d->class_labels[d->classes - 1], (int32_t)d->classes - 1);
            hg_dataset_free(d);
            free(yp);
        }
        /* X alone */
        hg_dataset *d;
        hg_error e;
        ck_assert_int_eq(hg_dataset_load_npy(xs[xi], NULL, &d, &e), HG_OK);
        ck_assert_ptr_null(d->labels);
        ck_assert_ptr_null(d->targets);
        ck_assert_ptr_null(d->class_labels);
        ck_assert_uint_eq(d->classes, 0);
        hg_dataset_free(d);
        free(xs[xi]);
    }
}
END_TEST

START_TEST(npy_versions_gzip_memory)
{
    unsigned char x[16];
    store_le(x, f32_bits(1), 4);
    store_le(x + 4, f32_bits(2), 4);
    store_le(x + 8, f32_bits(3), 4);
    store_le(x + 12, f32_bits(4), 4);
    size_t len;
    unsigned char *v1 = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                                  x, 16, &len);
    /* the same as version 2.0 and 3.0: a 4-byte header length */
    for (unsigned major = 2; major <= 3; major++) {
        unsigned char *v2 = malloc(len + 2);
        ck_assert_ptr_nonnull(v2);
        memcpy(v2, v1, 8);
        v2[6] = (unsigned char)major;
        store_le(v2 + 8, (uint64_t)v1[8] | (uint64_t)v1[9] << 8, 4);
        memcpy(v2 + 12, v1 + 10, len - 10);
        hg_dataset *d;
        hg_error e;
        ck_assert_msg(hg_dataset_load_memory_npy("v2", v2, len + 2, NULL, NULL, 0, &d, &e) ==
                      HG_OK, "%s", e.message);
        ck_assert(d->x[3] == 4.0f);
        hg_dataset_free(d);
        free(v2);
    }
    /* gzip-compressed, detected by the signature */
    size_t glen;
    unsigned char *g = gzip_bytes(v1, len, &glen);
    char *path = put("x.npy", g, glen);
    hg_dataset *d;
    hg_error e;
    ck_assert_int_eq(hg_dataset_load_npy(path, NULL, &d, &e), HG_OK);
    ck_assert(d->x[0] == 1.0f && d->x[3] == 4.0f);
    hg_dataset_free(d);
    free(path);
    /* truncated gzip: an error at the decompressed offset, not "ends early" */
    path = put("cut.npy", g, glen - 12);
    expect_error(hg_dataset_load_npy(path, NULL, &d, &e), &e, HG_IO, path, "byte offset",
                 "truncated", (const char *)NULL);
    free(path);
    free(g);
    free(v1);
}
END_TEST

START_TEST(npy_schema)
{
    unsigned char x[12], y[12];
    for (int i = 0; i < 3; i++) {
        store_le(x + 4 * i, f32_bits((float)i), 4);
        store_le(y + 4 * i, (uint64_t)(uint32_t)(int32_t)(i == 0 ? -1 : 5 * i), 4);
    }
    char *xp = put_npy("x.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1), }",
                       x, 12);
    char *yp = put_npy("y.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                       y, 12);
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    /* -1 without a schema: a negative label, located */
    expect_error(hg_dataset_load_npy(xp, yp, &d, &e), &e, HG_IO, "byte offset 128", "y[0]",
                 "negative", (const char *)NULL);
    ck_assert_ptr_null(d);
    /* with classes {10, 5, -1}: -1 is class 2, 5 class 1; 10 is not in the file */
    const int32_t classes[] = {10, 5, -1};
    hg_data_schema s;
    hg_data_schema_init(&s);
    s.classes = classes;
    s.nclasses = 3;
    s.features = 1;
    s.source = "train.npy";
    ck_assert_msg(hg_dataset_load_npy_as(xp, yp, &s, &d, &e) == HG_OK, "%s", e.message);
    ck_assert_int_eq(d->labels[0], 2);
    ck_assert_int_eq(d->labels[1], 1);
    ck_assert_uint_eq(d->classes, 3);
    ck_assert_int_eq(d->class_labels[0], 10);
    hg_dataset_free(d);
    /* 10 (y[2]) is not a class of {10, 5, -1} without 10 */
    s.nclasses = 2;
    s.classes = classes + 1;
    expect_error(hg_dataset_load_npy_as(xp, yp, &s, &d, &e), &e, HG_IO, "byte offset 136",
                 "y[2]", "label 10 is not one of the 2 classes of train.npy",
                 (const char *)NULL);
    /* another feature count */
    s.features = 2;
    expect_error(hg_dataset_load_npy_as(xp, yp, &s, &d, &e), &e, HG_IO, "byte offset", "1 "
                 "features, but train.npy has 2", (const char *)NULL);
    /* classes need y */
    s.features = 1;
    expect_error(hg_dataset_load_npy_as(xp, NULL, &s, &d, &e), &e, HG_INVALID_ARGUMENT,
                 "without class labels", (const char *)NULL);
    free(xp);
    free(yp);
}
END_TEST

/* The header dict (v1.0, X or y) with payload must fail with want at byte offset off. */
static void npy_fails(const char *dict, const void *data, size_t dlen, bool as_y,
                      hg_status want, long off, const char *word)
{
    char *good_x = put_npy("good-x.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': "
                           "(2, 1), }", "\0\0\0\0\0\0\0\0", 8);
    char *path = put_npy("bad.npy", dict, data, dlen);
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    hg_status st = as_y ? hg_dataset_load_npy(good_x, path, &d, &e)
                        : hg_dataset_load_npy(path, NULL, &d, &e);
    char where[64] = "";
    if (off >= 0)
        snprintf(where, sizeof where, ": byte offset %ld:", off);
    expect_error(st, &e, want, path, where, word, (const char *)NULL);
    ck_assert_ptr_null(d);
    free(path);
    free(good_x);
}

#define HDR(s) "{" s "}"

START_TEST(npy_errors_located)
{
    const char z[64] = {0};
    /* header text: offset 10 is the '{' */
    npy_fails("", z, 0, false, HG_IO, 64, "expected '{'");
    npy_fails("['descr']", z, 0, false, HG_IO, 10, "expected '{'");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False"), z, 0, false, HG_IO, -1,
              "no 'shape' key");
    npy_fails(HDR("'descr': '<f4', 'shape': (1, 1), 'fortran_order': False, 'extra': 1"), z, 4,
              false, HG_IO, 68, "unknown key 'extra'");
    npy_fails(HDR("'descr': '<f4', 'descr': '<f4'"), z, 0, false, HG_IO, 27,
              "key 'descr' given twice");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': false, 'shape': (1, 1)"), z, 4, false,
              HG_IO, 44, "True or False");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (1, 1"), z, 4, false,
              HG_IO, -1, "',' or ')' in the shape");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (1, -1)"), z, 4, false,
              HG_IO, 64, "expected a dimension");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (4)"), z, 16, false,
              HG_IO, -1, "written (n,)");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': "
                  "(99999999999999999999, 1)"), z, 4, false, HG_IO, 61, "dimension too large");
    npy_fails(HDR("'descr': '<f4\\n', 'fortran_order': False, 'shape': (1, 1)"), z, 4, false,
              HG_IO, -1, "an escape");
    npy_fails(HDR("'descr': '<f4, 'fortran_order': False, 'shape': (1, 1)"), z, 4, false,
              HG_IO, 20, "dtype '<f4, ' is not a numpy type string");
    npy_fails(HDR("'descr' '<f4', 'fortran_order': False, 'shape': (1, 1)"), z, 4, false,
              HG_IO, 19, "expected ':' after a key");
    npy_fails(HDR("'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)"), z, 4,
              false, HG_IO, 20, "structured dtype");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), } x", z, 4, false,
              HG_IO, 70, "after the dict's closing '}'");
    /* dtypes: X */
    npy_fails(HDR("'descr': '<f2', 'fortran_order': False, 'shape': (1, 1)"), z, 2, false,
              HG_IO, 20, "'<f2' (2-byte float16): X must be float32");
    npy_fails(HDR("'descr': '<i8', 'fortran_order': False, 'shape': (1, 1)"), z, 8, false,
              HG_IO, 20, "'<i8' (8-byte signed integer)");
    npy_fails(HDR("'descr': '<c16', 'fortran_order': False, 'shape': (1, 1)"), z, 16, false,
              HG_IO, 20, "complex");
    npy_fails(HDR("'descr': '|O', 'fortran_order': False, 'shape': (1, 1)"), z, 8, false,
              HG_IO, 20, "Python objects");
    npy_fails(HDR("'descr': '<U5', 'fortran_order': False, 'shape': (1, 1)"), z, 20, false,
              HG_IO, 20, "Unicode text");
    npy_fails(HDR("'descr': '|f8', 'fortran_order': False, 'shape': (1, 1)"), z, 8, false,
              HG_IO, 20, "byte order '|'");
    npy_fails(HDR("'descr': '<x4', 'fortran_order': False, 'shape': (1, 1)"), z, 4, false,
              HG_IO, 20, "not a numpy type string");
    npy_fails(HDR("'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1, 1)"), z, 8, false,
              HG_IO, 20, "with a unit");
    /* shapes: X */
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (4,)"), z, 16, false,
              HG_IO, 60, "X.reshape(-1, 1)");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': ()"), z, 4, false, HG_IO,
              60, "shape (): X must be 2-D");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1)"), z, 4, false,
              HG_IO, 60, "must be 2-D");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)"), z, 0, false,
              HG_IO, 60, "no data rows");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (3, 0)"), z, 0, false,
              HG_IO, 60, "no features");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (1, 1000001)"), z, 0,
              false, HG_RANGE, 60, "more than the limit of 1000000");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (2147483649, 1)"), z, 0,
              false, HG_RANGE, 60, "more than 2147483648 rows");
    /* payloads: X (the header of these is 64 bytes) */
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 3)"), z, 40,
              false, HG_IO, 168, "file ends early");
    npy_fails(HDR("'descr': '<f4', 'fortran_order': False, 'shape': (1, 3)"), z, 13, false,
              HG_IO, 140, "unexpected data after");
    unsigned char v[8];
    store_le(v, f64_bits(1e39), 8);
    npy_fails(HDR("'descr': '<f8', 'fortran_order': False, 'shape': (1, 1)"), v, 8, false,
              HG_IO, 128, "X[0, 0] = 1e+39 overflows float");
    unsigned char f4[16] = {0};
    store_le(f4 + 12, 0x7fc00000u, 4); /* NaN at X[1, 1] of a 2 x 2 Fortran array */
    npy_fails(HDR("'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)"), f4, 16, false,
              HG_IO, 140, "X[1, 1] is NaN");
    store_le(f4 + 4, 0xff800000u, 4); /* -Inf at X[1, 0] */
    npy_fails(HDR("'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)"), f4, 16, false,
              HG_IO, 132, "X[1, 0] is Inf");
    /* y (X has 2 rows) */
    npy_fails(HDR("'descr': '<f8', 'fortran_order': False, 'shape': (2,)"), z, 16, true,
              HG_IO, 20, "y.astype(np.int64)");
    npy_fails(HDR("'descr': '<i8', 'fortran_order': False, 'shape': (2, 1)"), z, 16, true,
              HG_IO, 60, "y.ravel()");
    npy_fails(HDR("'descr': '<i8', 'fortran_order': False, 'shape': (3,)"), z, 24, true,
              HG_IO, 60, "3 labels, but");
    npy_fails(HDR("'descr': '<i3', 'fortran_order': False, 'shape': (2,)"), z, 6, true,
              HG_IO, 20, "3-byte integer");
    npy_fails(HDR("'descr': '|i1', 'fortran_order': False, 'shape': (2,)"), z, 1, true,
              HG_IO, 129, "file ends early");
    unsigned char y[16] = {0};
    y[1] = 2;
    npy_fails(HDR("'descr': '|b1', 'fortran_order': False, 'shape': (2,)"), y, 2, true, HG_IO,
              129, "y[1]: bool byte 0x02");
    store_le(y + 8, (uint64_t)1 << 20, 8);
    npy_fails(HDR("'descr': '<i8', 'fortran_order': False, 'shape': (2,)"), y, 16, true,
              HG_RANGE, 136, "y[1] = 1048576 is above the limit");
    store_le(y + 8, UINT64_MAX, 8);
    npy_fails(HDR("'descr': '<u8', 'fortran_order': False, 'shape': (2,)"), y, 16, true,
              HG_RANGE, 136, "y[1] = 18446744073709551615");
    npy_fails(HDR("'descr': '<i8', 'fortran_order': False, 'shape': (2,)"), y, 16, true, HG_IO,
              136, "y[1] = -1: a negative label");

    /* before the dict: magic, version, header length */
    hg_dataset *d = (hg_dataset *)1;
    hg_error e;
    static const struct {
        const char *bytes;
        size_t      len;
        long        off;
        const char *word;
    } pre[] = {
        {"", 0, 0, "empty file"},
        {"\x93NUM", 4, 4, "ends inside the 8-byte magic"},
        {"1,2,3\n", 6, 0, "not a .npy file"},
        {"\x93NUMPY\x04\x00", 8, 6, "format version 4.0 is not supported"},
        {"\x93NUMPY\x01\x01", 8, 6, "format version 1.1"},
        {"\x93NUMPY\x01\x00\x10", 9, 9, "ends inside the header length"},
        {"\x93NUMPY\x02\x00\xff\xff\xff\x00", 12, 8, "more than 65536"},
        {"\x93NUMPY\x01\x00\x40\x00{'descr'", 18, 18, "ends inside the 64-byte header"},
    };
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        char where[48];
        snprintf(where, sizeof where, "<X>: byte offset %ld:", pre[i].off);
        hg_status st = hg_dataset_load_memory_npy(NULL, pre[i].bytes, pre[i].len, NULL, NULL,
                                                  0, &d, &e);
        expect_error(st, &e, HG_IO, where, pre[i].word, (const char *)NULL);
        ck_assert_ptr_null(d);
    }
    expect_error(hg_dataset_load_npy("/nonexistent/x.npy", NULL, &d, &e), &e, HG_IO,
                 "/nonexistent/x.npy: cannot open", (const char *)NULL);
    expect_error(hg_dataset_load_npy(NULL, NULL, &d, &e), &e, HG_INVALID_ARGUMENT, "NULL",
                 (const char *)NULL);
    expect_error(hg_dataset_load_memory_npy("x", NULL, 3, NULL, NULL, 0, &d, &e), &e,
                 HG_INVALID_ARGUMENT, "NULL X", (const char *)NULL);
}
END_TEST

int main(void)
{
    make_root();
    Suite *s = suite_create("data_formats");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gzip_csv_and_libsvm);
    tcase_add_test(tc, gzip_errors_located);
    tcase_add_test(tc, gzip_idx_checked_like_text);
    tcase_add_test(tc, other_compressors_named);
    tcase_add_test(tc, csv_pipe_delimiter);
    tcase_add_test(tc, npy_orders_and_byte_orders);
    tcase_add_test(tc, npy_versions_gzip_memory);
    tcase_add_test(tc, npy_schema);
    tcase_add_test(tc, npy_errors_located);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_root();
    return failed ? 1 : 0;
}
