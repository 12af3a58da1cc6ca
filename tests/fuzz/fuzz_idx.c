/* SPDX-License-Identifier: MIT */
/*
 * fuzz_idx.c - libFuzzer harness of the IDX (MNIST) loader (hetgrad/data.h).
 *
 * Input layout: byte 0 = flags, bytes 1..2 = split point (little-endian, taken modulo
 * the rest's length + 1), then the rest.  rest[0..split) becomes the images file
 * (gzip-compressed by the harness when flags bit 0 is set) and, when flags bit 1 is
 * set, rest[split..) becomes the labels file (gzip-compressed when bit 2 is set).  The
 * bytes themselves may also be a gzip stream (1f 8b), which the loader detects.  On
 * success the result is checked (pixels in [0, 1], labels in [0, classes), class_labels
 * 0, 1, ...); with labels, the files are read again with the classes in reverse order,
 * which must reverse every label, and without the first row's class, which must fail
 * with HG_IO.  A violated invariant aborts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Isrc/util -Isrc/data \
 *       tests/fuzz/fuzz_idx.c src/data/dataset_io.c src/data/data_csr.c src/data/data_gzip.c \
 *       src/data/data_npy.c src/util/status.c src/util/cl_names.c src/util/strutil.c src/util/sized.c -lz -lm
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "hetgrad/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A temporary file holding data (gzip-compressed when gz); malloc'ed path or NULL. */
static char *temp_file(const uint8_t *data, size_t size, int gz)
{
    char *path = strdup("/tmp/hg-fuzz-idx-XXXXXX");
    if (!path)
        return NULL;
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    int ok;
    if (gz) {
        gzFile g = gzdopen(fd, "wb");
        ok = g != NULL;
        if (ok) {
            if (size)
                ok = gzwrite(g, data, (unsigned)size) == (int)size;
            ok = gzclose(g) == Z_OK && ok;
        } else {
            close(fd);
        }
    } else {
        size_t done = 0;
        while (done < size) {
            ssize_t w = write(fd, data + done, size - done);
            if (w <= 0)
                break;
            done += (size_t)w;
        }
        close(fd);
        ok = done == size;
    }
    if (!ok) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* The files of d read with d's classes reversed, and without the class of row 0. */
static void check_schema(const char *images, const char *labels, const hg_dataset *d)
{
    int32_t rev[256];
    for (size_t k = 0; k < d->classes; k++) {
        if (d->class_labels[k] != (int32_t)k)
            abort();
        rev[k] = (int32_t)(d->classes - 1 - k);
    }
    hg_data_schema s;
    hg_dataset_schema(d, &s);
    s.classes = rev;
    hg_dataset *again = NULL;
    hg_error e;
    if (hg_dataset_load_idx_as(images, labels, &s, &again, &e) != HG_OK ||
        again->rows != d->rows || again->classes != d->classes)
        abort();
    for (size_t i = 0; i < d->rows; i++)
        if (again->labels[i] != (int32_t)d->classes - 1 - d->labels[i])
            abort();
    hg_dataset_free(again);
    again = NULL;
    size_t n = 0;
    for (size_t k = 0; k < d->classes; k++)
        if ((int32_t)k != d->labels[0])
            rev[n++] = (int32_t)k;
    s.nclasses = n;
    if (n && (hg_dataset_load_idx_as(images, labels, &s, &again, &e) != HG_IO || again))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *rest = data + 3;
    size_t n = size - 3;
    split %= n + 1;
    if (!(flags & 2))
        split = n;

    char *images = temp_file(rest, split, flags & 1);
    char *labels = (flags & 2) ? temp_file(rest + split, n - split, flags & 4) : NULL;
    if (images && (labels || !(flags & 2))) {
        hg_dataset *d = NULL;
        hg_error e;
        hg_status st = hg_dataset_load_idx(images, labels, &d, &e);
        if (st != e.status || (st != HG_OK && (d || e.message[0] == '\0')))
            abort();
        if (st == HG_OK) {
            if (!d || d->rows == 0 || d->features == 0)
                abort();
            for (size_t i = 0; i < d->rows * d->features; i++)
                if (!(d->x[i] >= 0.0f && d->x[i] <= 1.0f))
                    abort();
            if (labels) {
                if (!d->labels || !d->targets || d->classes == 0 || d->classes > 256)
                    abort();
                for (size_t i = 0; i < d->rows; i++)
                    if (d->labels[i] < 0 || (size_t)d->labels[i] >= d->classes)
                        abort();
                check_schema(images, labels, d);
            } else if (d->labels || d->targets || d->classes || d->class_labels) {
                abort();
            }
        }
        hg_dataset_free(d);
    }
    if (images) {
        unlink(images);
        free(images);
    }
    if (labels) {
        unlink(labels);
        free(labels);
    }
    return 0;
}
