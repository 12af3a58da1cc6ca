/* SPDX-License-Identifier: MIT */
/*
 * fuzz_libsvm.c - libFuzzer harness of the LIBSVM/SVMlight loader (hetgrad/data.h).
 *
 * Each input is written to a temporary file and loaded with the feature count inferred.
 * On success the result is checked (labels in [0, classes), finite values, targets
 * integral) and the file is loaded again with that feature count, which must give the
 * same data, and with one feature less, which must fail with HG_RANGE (the largest index
 * no longer fits).  It is read with its own schema (hg_dataset_schema), which must give
 * the same data, and with a schema lacking the first row's class, which must fail with
 * HG_IO.  A violated invariant aborts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Isrc/util -Isrc/data \
 *       tests/fuzz/fuzz_libsvm.c src/data/dataset_io.c src/data/data_csr.c src/data/data_gzip.c \
 *       src/data/data_npy.c src/util/status.c src/util/cl_names.c src/util/strutil.c src/util/sized.c -lz -lm
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
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
    if (!d || d->rows == 0 || d->features == 0 || !d->x || !d->labels || !d->targets ||
        d->classes == 0 || d->classes > d->rows)
        abort();
    for (size_t i = 0; i < d->rows * d->features; i++)
        if (!isfinite(d->x[i]))
            abort();
    for (size_t i = 0; i < d->rows; i++) {
        if (d->labels[i] < 0 || (size_t)d->labels[i] >= d->classes)
            abort();
        if (d->targets[i] != floorf(d->targets[i]))
            abort();
        if (!d->class_labels || (float)d->class_labels[d->labels[i]] != d->targets[i])
            abort();
    }
    for (size_t k = 1; k < d->classes; k++)
        if (d->class_labels[k] <= d->class_labels[k - 1])
            abort();
}

static bool same(const hg_dataset *a, const hg_dataset *b)
{
    return a->rows == b->rows && a->features == b->features && a->classes == b->classes &&
           memcmp(a->x, b->x, a->rows * a->features * sizeof(float)) == 0 &&
           memcmp(a->labels, b->labels, a->rows * sizeof(int32_t)) == 0 &&
           memcmp(a->class_labels, b->class_labels, a->classes * sizeof(int32_t)) == 0;
}

/* d's file read with d's own schema, and with the class of row 0 left out. */
static void check_schema(const char *path, const hg_dataset *d)
{
    hg_data_schema s;
    hg_dataset_schema(d, &s);
    hg_dataset *again = NULL;
    hg_error e;
    if (hg_dataset_load_libsvm_as(path, &s, &again, &e) != HG_OK || !same(d, again))
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
    hg_status st = n ? hg_dataset_load_libsvm_as(path, &s, &again, &e) : HG_IO;
    if (st != HG_IO || again)
        abort();
    free(fewer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_temp_file(data, size);
    if (!path)
        return 0;
    hg_dataset *d = NULL;
    hg_error e;
    hg_status st = hg_dataset_load_libsvm(path, 0, &d, &e);
    if (st != e.status || (st != HG_OK && (d || e.message[0] == '\0')))
        abort();
    if (st == HG_OK) {
        check(d);
        hg_dataset *again = NULL;
        if (hg_dataset_load_libsvm(path, d->features, &again, &e) != HG_OK)
            abort();
        if (!same(d, again))
            abort();
        hg_dataset_free(again);
        again = NULL;
        if (d->features > 1 &&
            (hg_dataset_load_libsvm(path, d->features - 1, &again, &e) != HG_RANGE ||
             again != NULL))
            abort();
        check_schema(path, d);
        hg_dataset_free(d);
    }
    unlink(path);
    free(path);
    return 0;
}
