/* SPDX-License-Identifier: MIT */
/*
 * data_csr.c - CSR data sets (hetgrad/sparse.h): the owned result of the LIBSVM CSR
 * loader, its schema and description, and the check of a caller's description.  The
 * text itself is parsed by dataset_io.c (one parser for the dense and the sparse
 * result), whose entry points for CSR are in load_csr.c: this file, below both, calls
 * neither (tests/link_graph.py).  Nothing here ever allocates rows x features.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_csr.h"
#include "internal.h"

/* hg_csr_desc as first released ends with labels. */
#define CSR_DESC_MIN_SIZE HG__FIELD_END(hg_csr_desc, labels)
/* hg_data_schema as first released (0.2.0) ends with source. */
#define SCHEMA_MIN_SIZE HG__FIELD_END(hg_data_schema, source)

void hg_csr_dataset_free(hg_csr_dataset *d)
{
    if (!d)
        return;
    free(d->row_ptr);
    free(d->cols);
    free(d->vals);
    free(d->labels);
    free(d->targets);
    free(d->class_labels);
    free(d);
}

hg_status hg__csr_assemble(const hg__csr_parts *p, const char *name, hg_csr_dataset **out,
                           hg_error *err)
{
    hg_csr_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        free(p->row_ptr);
        free(p->cols);
        free(p->vals);
        free(p->labels);
        free(p->targets);
        free(p->class_labels);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", name);
    }
    *d = (hg_csr_dataset){p->rows, p->features, p->nnz, p->row_ptr, p->cols, p->vals,
                          p->labels, p->targets, p->classes, p->class_labels};
    /* The parser grew its arrays geometrically: give the slack back. */
    if (p->nnz) {
        uint32_t *c = realloc(d->cols, p->nnz * sizeof *c);
        if (c)
            d->cols = c;
        float *v = realloc(d->vals, p->nnz * sizeof *v);
        if (v)
            d->vals = v;
    }
    size_t *rp = realloc(d->row_ptr, (p->rows + 1) * sizeof *rp);
    if (rp)
        d->row_ptr = rp;
    *out = d;
    return HG_OK;
}

void hg_csr_dataset_schema_sized(const hg_csr_dataset *d, hg_data_schema *s_user,
                                 size_t size)
{
    if (!s_user || size < SCHEMA_MIN_SIZE)
        return;
    hg_data_schema s;
    /* hg_data_schema_init_sized's defaults (all zero) without calling dataset_io.c,
       which calls this file: no cycle between the two (tests/link_graph.py) */
    hg__sized_init(&s, sizeof s);
    if (d) {
        s.features = d->features;
        if (d->labels && d->class_labels) {
            s.classes = d->class_labels;
            s.nclasses = d->classes;
        }
    }
    hg__sized_write(s_user, size, &s, sizeof s, SCHEMA_MIN_SIZE);
    s_user->struct_size = size; /* a whole struct of the caller's size: usable as input */
}

void hg_csr_desc_init_sized(hg_csr_desc *d, size_t size)
{
    hg__sized_init(d, size);
}

void hg_csr_desc_of_sized(const hg_csr_dataset *d, hg_csr_desc *out, size_t size)
{
    if (!out || size < CSR_DESC_MIN_SIZE)
        return;
    hg_csr_desc s;
    hg_csr_desc_init(&s);
    if (d)
        s = (hg_csr_desc){sizeof s, d->rows, d->features, d->row_ptr, d->cols, d->vals,
                          d->targets, d->labels};
    hg__sized_write(out, size, &s, sizeof s, CSR_DESC_MIN_SIZE);
    out->struct_size = size;
}

hg_status hg__csr_check(const hg_csr_desc *in, const hg_model_desc *m, hg_csr_desc *use,
                        hg_error *err)
{
    if (!in)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_data_csr: NULL data");
    hg_csr_desc_init(use);
    hg_status st = hg__sized_read(use, sizeof *use, in, in->struct_size, CSR_DESC_MIN_SIZE,
                                  "hg_csr_desc", "hg_csr_desc_init", err);
    if (st != HG_OK)
        return st;
    if (m->kind != HG_MODEL_LINEAR && m->kind != HG_MODEL_SOFTMAX)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "sparse data needs the linear or softmax model (this engine's "
                             "model has kind %d); densify it for an MLP", (int)m->kind);
    if (use->rows == 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_data_csr: no rows");
    if (!use->row_ptr)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_engine_set_data_csr: NULL row_ptr");
    if (use->inputs != m->inputs)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "data set has %zu features per row, the model %zu inputs",
                             use->inputs, m->inputs);
    if (use->rows > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "data set has %zu rows; at most 2^32-1",
                             use->rows);
    if (use->row_ptr[0] != 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "row_ptr[0] is %zu, not 0",
                             use->row_ptr[0]);
    size_t nnz = use->row_ptr[use->rows];
    if (nnz > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "data set has %zu non-zeros; at most 2^32-1",
                             nnz);
    if (nnz && (!use->cols || !use->vals))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg_engine_set_data_csr: NULL %s",
                             use->cols ? "vals" : "cols");
    bool want_targets = m->kind == HG_MODEL_LINEAR;
    if (want_targets && !use->targets)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "this model needs targets (data->targets is NULL)");
    if (!want_targets && !use->labels)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "this model needs class labels (data->labels is NULL)");
    for (size_t r = 0; r < use->rows; r++) {
        size_t a = use->row_ptr[r], b = use->row_ptr[r + 1];
        if (b < a || b > nnz)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "row_ptr[%zu] = %zu is below row_ptr[%zu] = %zu or above "
                                 "the %zu non-zeros", r + 1, b, r, a, nnz);
        for (size_t e = a; e < b; e++) {
            if (use->cols[e] >= m->inputs || (e > a && use->cols[e] <= use->cols[e - 1]))
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                     "row %zu: column %u %s", r, (unsigned)use->cols[e],
                                     use->cols[e] >= m->inputs ? "is out of range"
                                                               : "is not above the previous "
                                                                 "one (columns must ascend)");
            if (!isfinite(use->vals[e]))
                return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                     "value of row %zu, column %u is %s", r,
                                     (unsigned)use->cols[e],
                                     isnan(use->vals[e]) ? "NaN" : "infinite");
        }
        if (want_targets) {
            for (size_t j = 0; j < m->outputs; j++)
                if (!isfinite(use->targets[r * m->outputs + j]))
                    return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                         "target %zu of row %zu is not finite", j, r);
        } else if (use->labels[r] < 0 || (size_t)use->labels[r] >= m->outputs) {
            return hg__error_set(err, HG_RANGE, 0,
                                 "label of row %zu is %d; the model has %zu classes (0..%zu)",
                                 r, (int)use->labels[r], m->outputs, m->outputs - 1);
        }
    }
    return HG_OK;
}
