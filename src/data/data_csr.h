/* SPDX-License-Identifier: MIT */
/*
 * data_csr.h - CSR data sets inside the library: assembling one from a parsed LIBSVM
 * file (dataset_io.c parses, data_csr.c owns the result), and checking a caller's
 * hg_csr_desc.
 */
#ifndef HG_DATA_CSR_H
#define HG_DATA_CSR_H

#include "hetgrad/sparse.h"

/* The arrays of a parsed LIBSVM file, handed over to hg__csr_assemble. */
typedef struct hg__csr_parts {
    size_t    rows, features, nnz;
    size_t   *row_ptr;  /* rows + 1 */
    uint32_t *cols;
    float    *vals;
    int32_t  *labels, *class_labels;
    float    *targets;
    size_t    classes;
} hg__csr_parts;

/*
 * Make *out own p's arrays (shrunk to their size).  On failure (HG_OUT_OF_MEMORY,
 * message naming name) the arrays are freed and *out is untouched.  Either way the
 * caller no longer owns them.
 */
hg_status hg__csr_assemble(const hg__csr_parts *p, const char *name, hg_csr_dataset **out,
                           hg_error *err);

/*
 * The LIBSVM parser of dataset_io.c into a CSR data set: from the file path, or (path
 * NULL) from text[0..len) named name.  schema may be NULL.
 */
hg_status hg__libsvm_load_csr(const char *path, const char *name, const char *text,
                              size_t len, const hg_data_schema *schema,
                              hg_csr_dataset **out, hg_error *err);

/*
 * Check a caller's CSR description against a model (kind LINEAR or SOFTMAX, inputs,
 * outputs) and copy it into *use (this library's whole struct).  HG_OK, or
 * HG_INVALID_ARGUMENT / HG_RANGE naming the row and the problem (docs/sparse.md).
 */
hg_status hg__csr_check(const hg_csr_desc *in, const hg_model_desc *model, hg_csr_desc *use,
                        hg_error *err);

#endif /* HG_DATA_CSR_H */
