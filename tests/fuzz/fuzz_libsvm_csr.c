/* SPDX-License-Identifier: MIT */
/*
 * fuzz_libsvm_csr.c - libFuzzer harness of the LIBSVM CSR loader (hetgrad/sparse.h).
 *
 * Each input is loaded from memory and from a temporary file, which must agree.  On
 * success the CSR invariants are checked (row_ptr from 0, non-decreasing, ending at
 * nnz; columns below the feature count and ascending within a row; finite values;
 * labels in [0, classes), integral targets, ascending class labels), the input is read
 * again with its own schema (the same data), and, where rows x features is at most 4
 * million, the dense loader must either give the same rows (densified here) or refuse
 * to densify (HG_RANGE).  When the CSR loader
 * fails, the dense loader must fail with the same status and message.  A violated
 * invariant aborts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Isrc/util -Isrc/data \
 *       tests/fuzz/fuzz_libsvm_csr.c src/data/dataset_io.c src/data/data_csr.c src/data/data_gzip.c \
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
#include "hetgrad/sparse.h"

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const hg_csr_dataset *d)
{
    if (!d || d->rows == 0 || d->features == 0 || !d->row_ptr || !d->labels || !d->targets ||
        d->classes == 0 || d->classes > d->rows || !d->class_labels)
        abort();
    if (d->row_ptr[0] != 0 || d->row_ptr[d->rows] != d->nnz || (d->nnz && (!d->cols || !d->vals)))
        abort();
    for (size_t r = 0; r < d->rows; r++) {
        if (d->row_ptr[r + 1] < d->row_ptr[r])
            abort();
        for (size_t e = d->row_ptr[r]; e < d->row_ptr[r + 1]; e++)
            if (d->cols[e] >= d->features || !isfinite(d->vals[e]) ||
                (e > d->row_ptr[r] && d->cols[e] <= d->cols[e - 1]))
                abort();
        if (d->labels[r] < 0 || (size_t)d->labels[r] >= d->classes ||
            d->targets[r] != floorf(d->targets[r]) ||
            (float)d->class_labels[d->labels[r]] != d->targets[r])
            abort();
    }
    for (size_t k = 1; k < d->classes; k++)
        if (d->class_labels[k] <= d->class_labels[k - 1])
            abort();
}

static bool same(const hg_csr_dataset *a, const hg_csr_dataset *b)
{
    return a->rows == b->rows && a->features == b->features && a->nnz == b->nnz &&
           a->classes == b->classes &&
           memcmp(a->row_ptr, b->row_ptr, (a->rows + 1) * sizeof *a->row_ptr) == 0 &&
           (a->nnz == 0 || (memcmp(a->cols, b->cols, a->nnz * sizeof *a->cols) == 0 &&
                            memcmp(a->vals, b->vals, a->nnz * sizeof *a->vals) == 0)) &&
           memcmp(a->labels, b->labels, a->rows * sizeof *a->labels) == 0 &&
           memcmp(a->class_labels, b->class_labels, a->classes * sizeof(int32_t)) == 0;
}

/* The dense loader's data set equals c densified. */
static bool same_dense(const hg_csr_dataset *c, const hg_dataset *d)
{
    if (c->rows != d->rows || c->features != d->features || c->classes != d->classes ||
        memcmp(c->labels, d->labels, c->rows * sizeof *c->labels) != 0)
        return false;
    for (size_t r = 0; r < c->rows; r++) {
        size_t e = c->row_ptr[r];
        for (size_t j = 0; j < c->features; j++) {
            float v = 0;
            if (e < c->row_ptr[r + 1] && c->cols[e] == j)
                v = c->vals[e++];
            if (memcmp(&v, &d->x[r * d->features + j], sizeof v) != 0 &&
                !(v == 0 && d->x[r * d->features + j] == 0))
                return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_temp_file(data, size);
    if (!path)
        return 0;
    hg_csr_dataset *m = NULL, *f = NULL;
    hg_error em, ef, ed;
    hg_status sm = hg_dataset_load_memory_libsvm_csr(path, (const char *)data, size, NULL,
                                                     &m, &em);
    hg_status sf = hg_dataset_load_libsvm_csr(path, 0, &f, &ef);
    if (sm != em.status || sf != ef.status || sm != sf ||
        (sm != HG_OK && (m || f || em.message[0] == '\0' || strcmp(em.message, ef.message))))
        abort();
    /* the dense comparison on what densifies cheaply (fuzz speed) */
    bool small = sm != HG_OK || (double)m->rows * (double)m->features <= 4e6;
    hg_dataset *d = NULL;
    hg_status sd = small ? hg_dataset_load_libsvm(path, 0, &d, &ed) : HG_RANGE;
    if (sm != HG_OK) {
        if (sd != sm || strcmp(ed.message, em.message) != 0)
            abort();
    } else {
        check(m);
        if (!same(m, f))
            abort();
        if (sd == HG_OK ? !same_dense(m, d) : sd != HG_RANGE && sd != HG_OUT_OF_MEMORY)
            abort();
        hg_data_schema s;
        hg_csr_dataset_schema(m, &s);
        hg_csr_dataset *again = NULL;
        if (hg_dataset_load_memory_libsvm_csr(path, (const char *)data, size, &s, &again,
                                              &em) != HG_OK ||
            !same(m, again))
            abort();
        hg_csr_dataset_free(again);
    }
    hg_dataset_free(d);
    hg_csr_dataset_free(m);
    hg_csr_dataset_free(f);
    unlink(path);
    free(path);
    return 0;
}
