/*
 * fuzz_libsvm.c - libFuzzer harness of the LIBSVM/SVMlight loader (hetgrad/data.h).
 *
 * Each input is written to a temporary file and loaded with the feature count inferred.
 * On success the result is checked (labels in [0, classes), finite values, targets
 * integral) and the file is loaded again with that feature count, which must give the
 * same data, and with one feature less, which must fail with HG_RANGE (the largest index
 * no longer fits).  A violated invariant aborts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Isrc \
 *       tests/fuzz/fuzz_libsvm.c src/dataset_io.c src/status.c src/cl_names.c \
 *       src/strutil.c -lz -lm
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
    }
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
        if (again->rows != d->rows || again->features != d->features ||
            again->classes != d->classes ||
            memcmp(again->x, d->x, d->rows * d->features * sizeof(float)) != 0 ||
            memcmp(again->labels, d->labels, d->rows * sizeof(int32_t)) != 0)
            abort();
        hg_dataset_free(again);
        again = NULL;
        if (d->features > 1 &&
            (hg_dataset_load_libsvm(path, d->features - 1, &again, &e) != HG_RANGE ||
             again != NULL))
            abort();
        hg_dataset_free(d);
    }
    unlink(path);
    free(path);
    return 0;
}
