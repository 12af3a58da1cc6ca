/* SPDX-License-Identifier: MIT */
/*
 * data_internal.h - what the data loaders share (defined in dataset_io.c): reading a
 * caller's hg_data_schema and mapping label values to a schema's classes.
 */
#ifndef HG_DATA_INTERNAL_H
#define HG_DATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hetgrad/data.h"

typedef struct hg__class_pair {
    int32_t value; /* a label value */
    int32_t index; /* its class */
} hg__class_pair;

/* A schema's classes, sorted by value for lookup.  Empty (n 0) without classes. */
typedef struct hg__class_map {
    const hg_data_schema *schema; /* NULL: no schema */
    hg__class_pair       *sorted; /* n pairs by ascending value (owned) */
    size_t                n;
} hg__class_map;

/*
 * The caller's schema (NULL: none) as this library's whole struct in *use; *schema is
 * pointed at *use, or stays NULL.  HG_INVALID_ARGUMENT naming the file (name) for a bad
 * struct_size or an option this library does not know.
 */
hg_status hg__data_schema_read(const hg_data_schema **schema, hg_data_schema *use,
                               const char *name, hg_error *err);

/*
 * Check schema (may be NULL) for a file named name and build its class map.
 * with_classes: the file has labels a schema's classes can apply to.  HG_INVALID_ARGUMENT
 * or HG_RANGE for a bad schema, HG_OUT_OF_MEMORY; m is then empty.  Free with
 * hg__class_map_free.
 */
hg_status hg__class_map_init(hg__class_map *m, const hg_data_schema *schema,
                             const char *name, bool with_classes, hg_error *err);

void hg__class_map_free(hg__class_map *m);

/* The class of label value v: true and *index, or false when v is not a class. */
bool hg__class_map_find(const hg__class_map *m, int32_t v, int32_t *index);

/* HG_IO: label v (at where: "file:line", "file: byte offset N") is not one of m's
 * classes; the message lists them. */
hg_status hg__class_map_unseen(const hg__class_map *m, const char *where, int32_t v,
                               hg_error *err);

/* What the schema comes from, for messages: its source, or "the schema". */
const char *hg__class_map_source(const hg__class_map *m);

#endif /* HG_DATA_INTERNAL_H */
