/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/sparse.h - sparse data sets (compressed sparse rows, CSR): loading LIBSVM
 * files without densifying them, and computing gradients of the linear and softmax
 * models on them with every device (docs/sparse.md).
 *
 * A CSR data set of rows x features holds, for row r, the non-zero values
 * vals[row_ptr[r] .. row_ptr[r + 1]) at the feature columns cols[...] (0-based,
 * strictly ascending within a row).  row_ptr has rows + 1 entries, row_ptr[0] is 0 and
 * row_ptr[rows] is the number of non-zeros.  Memory is proportional to the non-zeros,
 * not to rows x features: a 20,000 x 1,000,000 set at 0.1% density takes about 160 MB
 * where its dense form would take 80 GB.
 */
#ifndef HETGRAD_SPARSE_H
#define HETGRAD_SPARSE_H

#include "common.h"
#include "data.h"
#include "engine.h"
#include "model.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An owned CSR data set, from hg_dataset_load_libsvm_csr*().  labels, targets,
 * classes and class_labels mean what they mean in hg_dataset (data.h): LIBSVM labels
 * ranked, or mapped through a schema.  Free with hg_csr_dataset_free().  Owned by the
 * library and handed out by pointer: fields may be appended (docs/abi.md).
 */
typedef struct hg_csr_dataset {
    size_t    rows, features, nnz;
    size_t   *row_ptr;      /* rows + 1 offsets into cols / vals */
    uint32_t *cols;         /* nnz feature columns, 0-based, ascending within a row */
    float    *vals;         /* nnz values (finite; explicit zeros are kept) */
    int32_t  *labels;       /* rows class indices in [0, classes) */
    float    *targets;      /* rows labels as read (for the linear model) */
    size_t    classes;
    int32_t  *class_labels; /* classes entries: the label value of each class */
} hg_csr_dataset;

/*
 * LIBSVM / SVMlight into a CSR data set: the same syntax, limits, checks and messages
 * as hg_dataset_load_libsvm() (data.h), but the rows are never densified, so the
 * feature count may be as large as HG_DATA_MAX_FEATURES whatever the row count.
 * features: 0 to infer it as the largest index.  On success *out receives a data set
 * the caller frees with hg_csr_dataset_free(); on failure *out is NULL and err says
 * which file and line.
 */
HG_EXTERN hg_status hg_dataset_load_libsvm_csr(const char *path, size_t features,
                                               hg_csr_dataset **out, hg_error *err);

/* As hg_dataset_load_libsvm_as() (schema may be NULL), into a CSR data set. */
HG_EXTERN hg_status hg_dataset_load_libsvm_csr_as(const char *path,
                                                  const hg_data_schema *schema,
                                                  hg_csr_dataset **out, hg_error *err);

/*
 * The CSR loader over a buffer of len bytes (need not be NUL-terminated); name stands
 * for the file in messages ("<memory>" when NULL); schema may be NULL.  For embedded
 * data and fuzzing.
 */
HG_EXTERN hg_status hg_dataset_load_memory_libsvm_csr(const char *name, const char *text,
                                                      size_t len,
                                                      const hg_data_schema *schema,
                                                      hg_csr_dataset **out, hg_error *err);

/* Free a CSR data set and its arrays; NULL is a no-op. */
HG_EXTERN void hg_csr_dataset_free(hg_csr_dataset *d);

/*
 * The schema of a CSR data set (its features and classes; s->classes points into d),
 * as hg_dataset_schema() for a dense one.  Call it through hg_csr_dataset_schema().
 */
HG_EXTERN void hg_csr_dataset_schema_sized(const hg_csr_dataset *d, hg_data_schema *s,
                                           size_t size);

static inline void hg_csr_dataset_schema(const hg_csr_dataset *d, hg_data_schema *s)
{
    hg_csr_dataset_schema_sized(d, s, sizeof *s);
}

/*
 * A CSR data set in host memory, as the engine reads it (the sparse counterpart of
 * hg_dataset_desc).  Start from hg_csr_desc_init() (or hg_csr_desc_of()), which set
 * struct_size; later versions only append fields, and the library reads only the
 * first struct_size bytes (docs/abi.md).  The caller keeps ownership: the engine
 * copies what it needs.
 */
typedef struct hg_csr_desc {
    size_t          struct_size; /* sizeof(hg_csr_desc) as the caller was compiled: set
                                    by hg_csr_desc_init(); 0 (not initialised) is
                                    HG_INVALID_ARGUMENT */
    size_t          rows;
    size_t          inputs;      /* features per row: every column is below it */
    const size_t   *row_ptr;     /* rows + 1 entries, row_ptr[0] = 0, non-decreasing */
    const uint32_t *cols;        /* row_ptr[rows] columns, ascending within a row */
    const float    *vals;        /* row_ptr[rows] values, finite */
    const float    *targets;     /* linear: rows x outputs floats, else NULL */
    const int32_t  *labels;      /* softmax: rows class indices, else NULL */
} hg_csr_desc;

/* Everything zero / NULL.  Call it through hg_csr_desc_init(). */
HG_EXTERN void hg_csr_desc_init_sized(hg_csr_desc *d, size_t size);

static inline void hg_csr_desc_init(hg_csr_desc *d)
{
    hg_csr_desc_init_sized(d, sizeof *d);
}

/*
 * The description of a loaded CSR data set: its arrays, its targets (for a linear
 * model with one output) and its labels (for a softmax model).  Call it through
 * hg_csr_desc_of().
 */
HG_EXTERN void hg_csr_desc_of_sized(const hg_csr_dataset *d, hg_csr_desc *out, size_t size);

static inline void hg_csr_desc_of(const hg_csr_dataset *d, hg_csr_desc *out)
{
    hg_csr_desc_of_sized(d, out, sizeof *out);
}

/*
 * Upload a CSR data set: the sparse counterpart of hg_engine_set_data() (engine.h),
 * for HG_MODEL_LINEAR and HG_MODEL_SOFTMAX.  Every device gets its rows in CSR form
 * (a full copy where it fits, else a window of consecutive rows); nothing is ever
 * densified.  Steps (hg_engine_gradient, hg_engine_gradient_rows), weights, splits,
 * calibration, deterministic mode and fault recovery then work as with dense data,
 * with a sparse kernel (cl/sparse.cl) on every device: the device computes its rows'
 * gradient records, the host adds them in the same fixed order as for dense data, and
 * in deterministic mode the result has the same bits whatever the split and devices.
 * Each device's kernel is checked against the double host reference on the first
 * rows it holds; a device whose gradient is wrong is quarantined.
 *
 * Fails, keeping the earlier data, with HG_INVALID_ARGUMENT (NULL, struct_size,
 * another model kind, inputs other than the model's, an unordered row_ptr, a column
 * out of range or out of order, a non-finite value or target, a missing
 * labels/targets array) or HG_RANGE (a label outside the classes, more than 2^32 - 1
 * rows or non-zeros); HG_OUT_OF_MEMORY when the devices cannot hold the rows.
 */
HG_EXTERN hg_status hg_engine_set_data_csr(hg_engine *eng, const hg_csr_desc *data,
                                           hg_error *err);

/*
 * hg_model_evaluate_host (train.h) over CSR rows: a LINEAR or SOFTMAX model evaluated
 * on the host, in double precision, each row's outputs computed from its non-zeros
 * alone (never densified).  Over rows idx[0..count) of data (rows [0, count) when idx
 * is NULL), *loss_sum receives the sum of the rows' losses (model.h's losses, not
 * divided by count) and *correct the rows predicted correctly (both are set, not
 * accumulated), with the rules of hg_model_evaluate_host: the same figures, up to
 * rounding, as that function on the rows densified.  data is checked whole, as by
 * hg_engine_set_data_csr.
 * HG_INVALID_ARGUMENT (NULL, struct_size, a model other than LINEAR or SOFTMAX, data
 * that is not the model's: inputs, row_ptr, columns, values, missing labels/targets),
 * HG_RANGE (a row or a label out of range), HG_OUT_OF_MEMORY.
 */
HG_EXTERN hg_status hg_model_evaluate_host_csr(const hg_model_desc *model,
                                               const float *params, const hg_csr_desc *data,
                                               const size_t *idx, size_t count,
                                               double *loss_sum, size_t *correct,
                                               hg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_SPARSE_H */
