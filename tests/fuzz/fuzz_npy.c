/* SPDX-License-Identifier: MIT */
/*
 * fuzz_npy.c - libFuzzer harness of the .npy loader (hetgrad/data.h).
 *
 * Input layout: byte 0 = flags, bytes 1..2 = split point (little-endian, taken modulo
 * the rest's length + 1), then the rest.  rest[0..split) is X and, when flags bit 0 is
 * set, rest[split..) is y; X is gzip-compressed by the harness when bit 1 is set (the
 * bytes themselves may also be gzip, which the loader detects).  Each input is loaded
 * from memory (hg_dataset_load_memory_npy) and from temporary files, which must agree
 * (same status, same data).  On success the result is checked (finite values, labels in
 * [0, classes), class_labels 0, 1, ...); with y, the files are read again with their own
 * schema (same data) and without the class of row 0 (HG_IO).  A violated invariant
 * aborts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Isrc/util -Isrc/data \
 *       tests/fuzz/fuzz_npy.c src/data/data_npy.c src/data/data_gzip.c src/data/dataset_io.c \
 *       src/util/status.c src/util/cl_names.c src/util/strutil.c src/util/sized.c -lz -lm
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "hetgrad/data.h"

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const hg_dataset *d, bool with_y)
{
    if (!d || d->rows == 0 || d->features == 0 || !d->x)
        abort();
    for (size_t i = 0; i < d->rows * d->features; i++)
        if (!isfinite(d->x[i]))
            abort();
    if (!with_y) {
        if (d->labels || d->targets || d->classes || d->class_labels)
            abort();
        return;
    }
    if (!d->labels || !d->targets || !d->class_labels || d->classes == 0)
        abort();
    for (size_t i = 0; i < d->rows; i++)
        if (d->labels[i] < 0 || (size_t)d->labels[i] >= d->classes ||
            d->targets[i] != (float)d->labels[i])
            abort();
    for (size_t k = 0; k < d->classes; k++)
        if (d->class_labels[k] != (int32_t)k)
            abort();
}

static bool same(const hg_dataset *a, const hg_dataset *b)
{
    if (a->rows != b->rows || a->features != b->features || a->classes != b->classes ||
        !a->labels != !b->labels)
        return false;
    if (memcmp(a->x, b->x, a->rows * a->features * sizeof(float)) != 0)
        return false;
    return !a->labels || memcmp(a->labels, b->labels, a->rows * sizeof(int32_t)) == 0;
}

/* d's files read with d's own schema, and with the class of row 0 left out. */
static void check_schema(const char *x, const char *y, const hg_dataset *d)
{
    hg_data_schema s;
    hg_dataset_schema(d, &s);
    hg_dataset *again = NULL;
    hg_error e;
    if (hg_dataset_load_npy_as(x, y, &s, &again, &e) != HG_OK || !same(d, again))
        abort();
    hg_dataset_free(again);
    again = NULL;
    int32_t *fewer = malloc(d->classes * sizeof *fewer);
    if (!fewer)
        return;
    size_t n = 0;
    for (size_t k = 0; k < d->classes; k++)
        if ((int32_t)k != d->labels[0])
            fewer[n++] = d->class_labels[k];
    s.classes = fewer;
    s.nclasses = n;
    if (n && (hg_dataset_load_npy_as(x, y, &s, &again, &e) != HG_IO || again))
        abort();
    free(fewer);
}

/* data[0..size) gzip-compressed (malloc'ed, *len bytes), or NULL. */
static uint8_t *gzip_of(const uint8_t *data, size_t size, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)size);
    uint8_t *out = malloc(cap);
    if (out) {
        z.next_in = (uint8_t *)(uintptr_t)data;
        z.avail_in = (uInt)size;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
            free(out);
            out = NULL;
        }
        *len = cap - z.avail_out;
    }
    deflateEnd(&z);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *rest = data + 3;
    size_t n = size - 3;
    bool with_y = flags & 1;
    split = with_y ? split % (n + 1) : n;
    const uint8_t *x = rest, *y = with_y ? rest + split : NULL;
    size_t xlen = split, ylen = with_y ? n - split : 0;
    uint8_t *gz = NULL;
    if (flags & 2) {
        gz = gzip_of(x, xlen, &xlen);
        if (!gz)
            return 0;
        x = gz;
    }

    hg_dataset *d = (hg_dataset *)&flags; /* must be overwritten */
    hg_error e;
    hg_status st = hg_dataset_load_memory_npy("x", x, xlen, "y", y, ylen, &d, &e);
    if (st != e.status || (st != HG_OK && (d || e.message[0] == '\0')))
        abort();
    if (st == HG_OK)
        check(d, with_y);

    char *xp = fuzz_temp_file(x, xlen);
    char *yp = with_y ? fuzz_temp_file(y, ylen) : NULL;
    if (xp && (yp || !with_y)) {
        hg_dataset *f = NULL;
        hg_status fst = hg_dataset_load_npy(xp, yp, &f, &e);
        if (fst != st || (st == HG_OK && !same(d, f)))
            abort();
        if (st == HG_OK && with_y)
            check_schema(xp, yp, d);
        hg_dataset_free(f);
    }
    if (xp) {
        unlink(xp);
        free(xp);
    }
    if (yp) {
        unlink(yp);
        free(yp);
    }
    hg_dataset_free(d);
    free(gz);
    return 0;
}
