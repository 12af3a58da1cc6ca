/* SPDX-License-Identifier: MIT */
/*
 * fuzz_csv.c - libFuzzer harness of the CSV loader (hetgrad/data.h).
 *
 * Each input is parsed from memory under four option sets (default; header + ';';
 * label first + tab + float targets; label in column 2 + header), and once more from a
 * temporary file with the defaults, which must agree with the memory parse (same
 * status, same data).  When that parse succeeds, the file is read again with its own
 * schema (hg_dataset_schema), which must give the same data, and with a schema that
 * lacks the first row's class, which must fail with HG_IO.  Every successful result is
 * checked for its invariants (labels in [0, classes), class_labels 0, 1, ..., finite
 * values) and freed.  A violated invariant aborts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Isrc/util -Isrc/data \
 *       tests/fuzz/fuzz_csv.c src/data/dataset_io.c src/data/data_csr.c src/data/data_gzip.c \
 *       src/data/data_npy.c src/util/status.c src/util/cl_names.c src/util/strutil.c src/util/sized.c -lz -lm
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hetgrad/data.h"

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const hg_dataset *d)
{
    if (!d || d->rows == 0 || d->features == 0 || !d->x || !d->targets)
        abort();
    for (size_t i = 0; i < d->rows * d->features; i++)
        if (!isfinite(d->x[i]))
            abort();
    for (size_t i = 0; i < d->rows; i++) {
        if (!isfinite(d->targets[i]))
            abort();
        if (d->labels && (d->labels[i] < 0 || (size_t)d->labels[i] >= d->classes))
            abort();
    }
    if (!d->labels != !d->class_labels)
        abort();
    for (size_t k = 0; d->class_labels && k < d->classes; k++)
        if (d->class_labels[k] != (int32_t)k)
            abort();
}

static bool same(const hg_dataset *a, const hg_dataset *b)
{
    if (a->rows != b->rows || a->features != b->features || a->classes != b->classes)
        return false;
    if (memcmp(a->x, b->x, a->rows * a->features * sizeof(float)) != 0)
        return false;
    if (memcmp(a->targets, b->targets, a->rows * sizeof(float)) != 0)
        return false;
    if (!a->labels != !b->labels)
        return false;
    return !a->labels || memcmp(a->labels, b->labels, a->rows * sizeof(int32_t)) == 0;
}

/* The file read with first's own schema gives first again; without the class of row 0,
   it fails with HG_IO. */
static void check_schema(const char *path, const hg_dataset *first)
{
    hg_data_schema s;
    hg_dataset_schema(first, &s);
    hg_dataset *d = NULL;
    hg_error e;
    if (hg_dataset_load_csv_as(path, NULL, &s, &d, &e) != HG_OK || !same(first, d))
        abort();
    hg_dataset_free(d);
    d = NULL;
    int32_t *fewer = malloc(first->classes * sizeof *fewer);
    if (!fewer)
        return;
    size_t n = 0;
    for (size_t k = 0; k < first->classes; k++)
        if ((int32_t)k != first->labels[0])
            fewer[n++] = first->class_labels[k];
    s.classes = fewer;
    s.nclasses = n;
    hg_status st = n ? hg_dataset_load_csv_as(path, NULL, &s, &d, &e) : HG_IO;
    if (st != HG_IO || d)
        abort();
    free(fewer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hg_csv_options o[4];
    for (size_t i = 0; i < 4; i++)
        hg_csv_options_init(&o[i]);
    o[1].header = true;
    o[1].delimiter = ';';
    o[2].label_column = 0;
    o[2].delimiter = '\t';
    o[2].labels_are_classes = false;
    o[3].label_column = 1;
    o[3].header = true;

    hg_dataset *first = NULL;
    hg_status first_st = HG_OK;
    for (size_t i = 0; i < 4; i++) {
        hg_dataset *d = (hg_dataset *)&o; /* must be overwritten */
        hg_error e;
        hg_status st = hg_dataset_load_memory_csv("fuzz", (const char *)data, size, &o[i],
                                                  &d, &e);
        if (st != e.status)
            abort();
        if (st == HG_OK) {
            check(d);
        } else if (d != NULL || e.message[0] == '\0') {
            abort();
        }
        if (i == 0) {
            first = d;
            first_st = st;
        } else {
            hg_dataset_free(d);
        }
    }

    char *path = fuzz_temp_file(data, size);
    if (path) {
        hg_dataset *d = NULL;
        hg_error e;
        hg_status st = hg_dataset_load_csv(path, NULL, &d, &e);
        if (st != first_st)
            abort();
        if (st == HG_OK && !same(first, d))
            abort();
        if (st == HG_OK)
            check_schema(path, first);
        hg_dataset_free(d);
        unlink(path);
        free(path);
    }
    hg_dataset_free(first);
    return 0;
}
