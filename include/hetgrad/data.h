/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/data.h - loading real data sets (CSV, LIBSVM/SVMlight, IDX/MNIST, NumPy .npy)
 * into an owned dense data set in host memory.
 *
 * Every file may be gzip-compressed: a file (or a buffer given to a _memory_ loader)
 * that starts with gzip's signature 1f 8b is decompressed as it is read, whatever its
 * name; line numbers and byte offsets in messages then count decompressed bytes.  A
 * truncated or corrupt stream, or data after it that is not another gzip member, is an
 * HG_IO error at the line (offset) being read when the stream failed, e.g.
 *
 *   train.csv.gz:18234: gzip data ends early: the file is truncated (...)
 *   train.svm:41: corrupt gzip data: invalid block type
 *
 * A file that starts with the signature of xz, bzip2, zstd or zip (numpy's .npz) is an
 * HG_IO error that names the format.
 *
 * Every loader streams its input (fixed-size reads, one line in memory at a time; the
 * text is never held twice), grows its arrays geometrically, and on failure returns a
 * status, leaves *out NULL, frees everything it allocated and writes a message to err
 * that names the file (or the name given for a buffer), the 1-based line (byte offset
 * for IDX) and the problem, e.g.
 *
 *   iris.csv:17: expected 5 columns (as on line 1), got 4
 *   iris.csv:3: column 2: "5,1" is not a number
 *   train-images.gz: byte offset 9437200: file ends early: ...
 *   X.npy: byte offset 20: dtype '<f2' (2-byte float16): X must be float32 ...
 *
 * Columns in messages are 1-based, as in spreadsheets and awk; label_column in the
 * options is 0-based.
 *
 * Statuses:
 *   HG_INVALID_ARGUMENT  a NULL path / out / text, or a bad option or schema
 *   HG_IO                the file cannot be opened or read, or its content is malformed
 *                        (wrong column count, text where a number belongs, NaN or Inf,
 *                        a bad label, a label outside the schema's classes, a feature
 *                        count other than the schema's, an unordered LIBSVM index, a
 *                        binary file given as text, an empty file, no data rows, a
 *                        lying IDX header...)
 *   HG_RANGE             a size limit: a line longer than 1 MiB, more than 1,000,000
 *                        features, more than 2^31 rows, more than 2^20 classes (a CSV
 *                        label above 1048575), rows x features overflowing size_t, a
 *                        LIBSVM index above the feature count asked for
 *   HG_OUT_OF_MEMORY     an allocation failed
 *
 * Numbers: parsed with strtof/strtod in C locale semantics ('.' is the decimal point
 * whatever the process locale).  The library never calls setlocale(); for the duration
 * of a call it switches only the calling thread to a private "C" LC_NUMERIC locale with
 * newlocale()/uselocale() and switches back before returning (if newlocale fails, the
 * thread's current locale is used).  A number is written in decimal: an optional sign,
 * digits with an optional '.', an optional exponent ("-1", "+.5", "2.", "1e-3",
 * "6.02E23").  Anything else is an error that quotes the field: hexadecimal floats
 * ("0x1p3"), NaN and Inf in any spelling ("nan", "inf", "Infinity", "nan(1)"), and
 * integer labels too ("0x10" is not 16).  A value whose magnitude overflows float
 * (strtof's ERANGE, e.g. 1e39) is an error, one that underflows (1e-50) is accepted as
 * the rounded value (zero or a denormal).
 *
 * Text files (CSV, LIBSVM) may start with a UTF-8 byte order mark, use LF or CRLF line
 * endings, and have trailing white space; blank lines are skipped.  They must be ASCII
 * or UTF-8: a line holding a NUL byte, a control byte other than tab, CR, LF, VT or FF,
 * or a byte sequence that is not valid UTF-8 makes the file "look binary" and is an error
 * (so is a Latin-1 header: convert it to UTF-8 first).
 *
 * No global state; the loaders are safe to call from several threads at once.
 */
#ifndef HETGRAD_DATA_H
#define HETGRAD_DATA_H

#include <stdbool.h>

#include "common.h"
#include "model.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits every loader enforces (see HG_RANGE above). */
#define HG_DATA_MAX_LINE     ((size_t)1 << 20)  /* bytes per text line, newline excluded */
#define HG_DATA_MAX_FEATURES ((size_t)1000000)
#define HG_DATA_MAX_ROWS     ((size_t)1 << 31)
#define HG_DATA_MAX_CLASSES  ((size_t)1 << 20)  /* CSV labels 0 .. 2^20 - 1 */

/*
 * An owned dense data set.  x always holds rows x features floats.  targets holds the
 * label column as read (as a float) whenever the format has one; labels holds class
 * indices in [0, classes) when the loader produced classes (CSV with
 * labels_are_classes, LIBSVM, IDX with a labels file), else it is NULL, classes 0 and
 * class_labels NULL.  class_labels says which label value each class index stands for,
 * so that another file (a test file) can be read with the same classes
 * (hg_dataset_schema(), hg_dataset_load_*_as()).  Free with hg_dataset_free().
 */
typedef struct hg_dataset {
    size_t   rows, features;
    float   *x;        /* rows x features, row-major */
    int32_t *labels;   /* rows class labels (0-based), or NULL */
    float   *targets;  /* rows float targets (the label column as read), or NULL */
    size_t   classes;  /* number of classes when labels are present (see each loader) */
    int32_t *class_labels; /* classes entries: class_labels[k] is the label value of
                              class k (CSV, IDX: k itself; LIBSVM: the k-th smallest
                              label; read with a schema: the schema's classes), or NULL
                              when labels is NULL */
} hg_dataset;

/*
 * What a file must conform to: the feature count and the classes of the data a model
 * was trained on, or of a saved model.  A test file read with its training file's
 * schema gets the same class index for the same label value and the same columns,
 * whichever labels and features it happens to hold.  Start from hg_data_schema_init()
 * or hg_dataset_schema(), which set struct_size; later versions only append fields,
 * and the library reads only the first struct_size bytes (docs/abi.md).
 */
typedef struct hg_data_schema {
    size_t         struct_size; /* sizeof(hg_data_schema) as the caller was compiled: set
                                by hg_data_schema_init() and hg_dataset_schema(); 0
                                (not initialised) is HG_INVALID_ARGUMENT */
    size_t         features; /* 0: as the file says.  Else the file must have exactly
                                this many features: CSV columns less the label, IDX
                                rows x columns; LIBSVM rows are this wide (a lower
                                largest index is fine, a higher one is HG_RANGE) */
    const int32_t *classes;  /* NULL: the file's own classes (see each loader).  Else
                                classes[k] is the label value of class k (distinct
                                values); a row's label is mapped to its class index, and
                                a label not among them is an HG_IO error naming the file,
                                the line (IDX: byte offset) and the label.  The data set
                                gets classes = nclasses and a copy as class_labels.
                                Not for CSV read without labels_are_classes. */
    size_t         nclasses; /* entries of classes; >= 1 when classes is set */
    const char    *source;   /* what the schema comes from, for messages ("train.csv",
                                "model.hgp"); NULL: "the schema" */
} hg_data_schema;

/*
 * Zero features, no classes, no source: every file as it is.  Fills the first size
 * bytes and sets struct_size = size; call it through hg_data_schema_init(), which
 * passes the size the caller was compiled with.  NULL or a size below sizeof(size_t)
 * is a no-op.
 */
HG_EXTERN void hg_data_schema_init_sized(hg_data_schema *s, size_t size);

static inline void hg_data_schema_init(hg_data_schema *s)
{
    hg_data_schema_init_sized(s, sizeof *s);
}

/*
 * The schema of a loaded data set: its features and, when it has labels, its classes
 * (s->classes points into d, valid while d is).  s->source is set to NULL, struct_size
 * to size.  Writes size bytes at most (zeros past the fields this library knows); NULL
 * s or a size below the first released layout is a no-op.  Call it through
 * hg_dataset_schema(), which passes sizeof *s.
 */
HG_EXTERN void hg_dataset_schema_sized(const hg_dataset *d, hg_data_schema *s, size_t size);

static inline void hg_dataset_schema(const hg_dataset *d, hg_data_schema *s)
{
    hg_dataset_schema_sized(d, s, sizeof *s);
}

/*
 * CSV options.  Always start from hg_csv_options_init(), which sets
 * struct_size; later versions only append fields, and the library reads only
 * the first struct_size bytes (defaults for the rest; docs/abi.md).
 */
typedef struct hg_csv_options {
    size_t struct_size;      /* sizeof(hg_csv_options) as the caller was compiled:
                                set by hg_csv_options_init(); 0 (not initialised)
                                is HG_INVALID_ARGUMENT */
    bool header;             /* first non-blank line is a header (its text is ignored,
                                its column count is the expected one) */
    long label_column;       /* 0-based; -1 = last (default) */
    char delimiter;          /* ',' (default), ';', '|' or '\t' */
    bool labels_are_classes; /* default true: the label column must hold integers >= 0
                                (written "3" or "3.0"); labels gets them, classes is
                                1 + the largest (class_labels 0, 1, ...).  false: the
                                label column is a float target like any other number
                                and labels stays NULL. */
} hg_csv_options;

/*
 * Defaults: no header, label in the last column, ',' delimiter, labels are
 * classes.  Fills the first size bytes (zero past the fields this library
 * knows) and sets struct_size = size; call it through hg_csv_options_init(),
 * which passes the size the caller was compiled with.  NULL or a size below
 * sizeof(size_t) is a no-op.
 */
HG_EXTERN void hg_csv_options_init_sized(hg_csv_options *o, size_t size);

static inline void hg_csv_options_init(hg_csv_options *o)
{
    hg_csv_options_init_sized(o, sizeof *o);
}

/*
 * CSV: one row per non-blank line, every row with the same number of columns (at least
 * 2: features and the label).  Fields may be surrounded by spaces (and tabs when the
 * delimiter is not a tab) and may be double-quoted ("1.5", "a ""b"""); a quoted field
 * cannot span lines.  An empty field, a trailing delimiter and any text that is not a
 * whole number are errors.  o may be NULL for the defaults.  On success *out receives
 * a data set the caller frees with hg_dataset_free().
 */
HG_EXTERN hg_status hg_dataset_load_csv(const char *path, const hg_csv_options *o,
                                        hg_dataset **out, hg_error *err);

/*
 * CSV read with a schema (may be NULL: as hg_dataset_load_csv).  With schema classes,
 * a label may be any integer written as such ("-1" included) and must be one of them.
 * A file whose feature count differs from schema->features is an HG_IO error on its
 * first line.  A bad schema (nclasses 0, duplicate classes, classes without
 * labels_are_classes, too many features) is HG_INVALID_ARGUMENT or HG_RANGE.
 */
HG_EXTERN hg_status hg_dataset_load_csv_as(const char *path, const hg_csv_options *o,
                                           const hg_data_schema *schema, hg_dataset **out,
                                           hg_error *err);

/*
 * The CSV parser over a buffer of len bytes (need not be NUL-terminated; may hold NUL
 * bytes, which are reported as binary; a gzip stream, starting 1f 8b, is decompressed).
 * name stands for the file in messages ("<memory>" when NULL).  For embedded data and
 * fuzzing.
 */
HG_EXTERN hg_status hg_dataset_load_memory_csv(const char *name, const char *text,
                                               size_t len, const hg_csv_options *o,
                                               hg_dataset **out, hg_error *err);

/*
 * LIBSVM / SVMlight: one row per non-blank line,
 *
 *   <label> [qid:<n>] <index>:<value> <index>:<value> ...   [# comment]
 *
 * separated by spaces or tabs.  Indices are 1-based decimal integers and must strictly
 * ascend within a line; index i is feature column i-1; absent features are 0.  "qid:"
 * tokens are ignored, '#' starts a comment to the end of the line.  features: the
 * number of features, or 0 to infer it as the largest index in the file; an index above
 * a non-zero features is HG_RANGE.
 *
 * Labels must be integers (any sign; "1", "+1", "-1", "2.0").  targets receives them as
 * read.  labels receives their RANK among the distinct labels of the file, sorted in
 * ascending numeric order, and classes is the number of distinct labels:
 *   {-1, +1} -> {0, 1};  {0, 1} -> {0, 1};  {1, 2, 3} -> {0, 1, 2};  {2, 7} -> {0, 1}.
 * class_labels holds the distinct labels in that order.  This mapping depends on which
 * labels the file holds: read a test file with its training file's schema
 * (hg_dataset_load_libsvm_as) so that a test file lacking a class is mapped the same.
 */
HG_EXTERN hg_status hg_dataset_load_libsvm(const char *path, size_t features,
                                           hg_dataset **out, hg_error *err);

/*
 * LIBSVM read with a schema (may be NULL: features inferred, labels ranked).
 * schema->features plays the role of features above; with schema classes every label
 * must be one of them and gets its index there.
 */
HG_EXTERN hg_status hg_dataset_load_libsvm_as(const char *path,
                                              const hg_data_schema *schema,
                                              hg_dataset **out, hg_error *err);

/*
 * IDX (the MNIST format), big-endian:
 *   images: magic 0x00000803 (unsigned bytes, 3 dimensions), then n, rows, columns
 *           (u32 each), then n*rows*columns pixel bytes; features = rows*columns and
 *           every pixel p becomes p / 255.0f in [0, 1].
 *   labels: magic 0x00000801 (unsigned bytes, 1 dimension), then n (u32), then n bytes;
 *           labels and targets receive them, classes = 1 + the largest (class_labels
 *           0, 1, ..., classes - 1).
 * Either file may be gzip-compressed (detected by its 1f 8b signature); byte offsets in
 * messages then count decompressed bytes.  The payload must be exactly the size the
 * header promises (a truncated file or trailing bytes is an error naming the offset),
 * and both files must hold the same count.  labels may be NULL: images only, labels and
 * targets NULL.
 */
HG_EXTERN hg_status hg_dataset_load_idx(const char *images, const char *labels,
                                        hg_dataset **out, hg_error *err);

/*
 * IDX read with a schema (may be NULL: as hg_dataset_load_idx).  Images whose rows x
 * columns differ from schema->features are an HG_IO error at byte offset 8; with
 * schema classes (which need a labels file) every label byte must be one of them.
 */
HG_EXTERN hg_status hg_dataset_load_idx_as(const char *images, const char *labels,
                                           const hg_data_schema *schema, hg_dataset **out,
                                           hg_error *err);

/*
 * NumPy .npy files, as np.save writes them (format versions 1.0, 2.0 and 3.0):
 *   X (x_path): a 2-D array (rows, features) of float32 or float64, in C or Fortran
 *               order; its values become floats (NaN, Inf and a float64 beyond float's
 *               range are errors naming the element, X[row, column], 0-based).
 *   y (y_path): a 1-D array (rows,) of integers of any width (1, 2, 4 or 8 bytes),
 *               signed or unsigned, or bools (False 0, True 1).  As with CSV, labels are
 *               class indices: integers 0 .. 2^20 - 1; labels and targets receive them,
 *               classes = 1 + the largest (class_labels 0, 1, ...).  y_path may be NULL:
 *               X only, labels and targets NULL.
 * Values are read in the file's own dtype and byte order ('<' little-endian, '>'
 * big-endian, '|' for one byte; '=' or none: this machine's).  Either file may be
 * gzip-compressed (detected by its 1f 8b signature, not its name); byte offsets in
 * messages then count decompressed bytes.
 *
 * Every problem is an error naming the file and the byte offset: a missing "\x93NUMPY"
 * magic string, another format version, a header that is not the dict np.save writes
 * (exactly the keys 'descr', 'fortran_order', 'shape'), a structured dtype or another
 * dtype (named in the message: '<f2', '<c16', '|O', '<U5', a float y...), X not 2-D or
 * y not 1-D, no rows or no features, y's length other than X's rows, a payload shorter
 * or longer than the shape promises, a negative label (HG_IO) or one of 2^20 or more
 * (HG_RANGE).  More than HG_DATA_MAX_FEATURES features or HG_DATA_MAX_ROWS rows is
 * HG_RANGE.
 */
HG_EXTERN hg_status hg_dataset_load_npy(const char *x_path, const char *y_path,
                                        hg_dataset **out, hg_error *err);

/*
 * .npy files read with a schema (may be NULL: as hg_dataset_load_npy).  X's features
 * must be schema->features when that is not 0 (else HG_IO at the shape's offset); with
 * schema classes (which need y_path) a label may be any integer and must be one of them.
 */
HG_EXTERN hg_status hg_dataset_load_npy_as(const char *x_path, const char *y_path,
                                           const hg_data_schema *schema, hg_dataset **out,
                                           hg_error *err);

/*
 * The .npy reader over buffers: X's x_len bytes at x, and y's y_len bytes at y (y NULL:
 * no labels).  x_name and y_name stand for them in messages ("<X>", "<y>" when NULL).
 * For embedded data and fuzzing.
 */
HG_EXTERN hg_status hg_dataset_load_memory_npy(const char *x_name, const void *x,
                                               size_t x_len, const char *y_name,
                                               const void *y, size_t y_len,
                                               hg_dataset **out, hg_error *err);

/* Free a data set and its arrays; NULL is a no-op. */
HG_EXTERN void hg_dataset_free(hg_dataset *d);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_DATA_H */
