/* SPDX-License-Identifier: MIT */
/*
 * load_csr.c - the LIBSVM CSR loaders of hetgrad/sparse.h (hg_dataset_load_libsvm_csr,
 * _as, hg_dataset_load_memory_libsvm_csr): their arguments checked, then dataset_io.c's
 * parser, which hands its arrays to data_csr.c.  Apart from data_csr.c so that the
 * two files do not depend on each other (tests/link_graph.py).
 */
#include "data_csr.h"
#include "internal.h"

hg_status hg_dataset_load_libsvm_csr_as(const char *path, const hg_data_schema *schema,
                                        hg_csr_dataset **out, hg_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_dataset_load_libsvm_csr: NULL %s", path ? "out" : "path");
    return hg__libsvm_load_csr(path, NULL, NULL, 0, schema, out, err);
}

hg_status hg_dataset_load_libsvm_csr(const char *path, size_t features, hg_csr_dataset **out,
                                     hg_error *err)
{
    hg_data_schema s;
    hg_data_schema_init(&s);
    s.features = features;
    return hg_dataset_load_libsvm_csr_as(path, &s, out, err);
}

hg_status hg_dataset_load_memory_libsvm_csr(const char *name, const char *text, size_t len,
                                            const hg_data_schema *schema,
                                            hg_csr_dataset **out, hg_error *err)
{
    if (out)
        *out = NULL;
    if (!name)
        name = "<memory>";
    if ((!text && len) || !out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_dataset_load_memory_libsvm_csr(%s): NULL %s", name,
                             out ? "text" : "out");
    return hg__libsvm_load_csr(NULL, name, text ? text : "", len, schema, out, err);
}
