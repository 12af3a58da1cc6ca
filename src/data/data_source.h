/* SPDX-License-Identifier: MIT */
/*
 * data_source.h - the bytes of a data file, gzip-compressed or not (data_gzip.c).
 *
 * A source reads a file or a caller's buffer.  Whether it is gzip-compressed is decided
 * by its first two bytes (1f 8b), never by its name; a compressed source yields the
 * decompressed bytes through zlib's inflate, member after member (as gzip -d does for
 * concatenated files).  The loaders of dataset_io.c and data_npy.c read every file
 * through one, so line numbers and byte offsets in their messages count decompressed
 * bytes.
 *
 * Errors: the open functions' messages name the file; hg__source_read's messages do
 * NOT (the caller knows the line or the offset and writes "name:line: " before them).
 */
#ifndef HG_DATA_SOURCE_H
#define HG_DATA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "hetgrad/status.h"

typedef struct hg__source hg__source;

/*
 * Open path for reading.  On success *out is a source to close with hg__source_close.
 * HG_IO "path: cannot open: <strerror>" when the file cannot be opened or read, or
 * when it starts with another compressor's or an archive's signature (xz, bzip2, zstd,
 * zip / numpy .npz), which it names; HG_OUT_OF_MEMORY.  *out is NULL on failure.
 */
hg_status hg__source_open_file(hg__source **out, const char *path, hg_error *err);

/*
 * A source over data[0..len) (not copied: it must outlive the source); name stands for
 * it in messages.  Same detection and errors as hg__source_open_file.
 */
hg_status hg__source_open_memory(hg__source **out, const char *name, const void *data,
                                 size_t len, hg_error *err);

/* Whether the source is gzip-compressed. */
bool hg__source_gzip(const hg__source *s);

/*
 * Up to n bytes into buf; *got < n only at the end of the data (0: nothing left).
 * HG_IO for a read error, a corrupt gzip stream (zlib's reason: "invalid block type",
 * "incorrect data check"...), a stream that ends early (a truncated file) or data after
 * the last gzip member that is not another member; HG_OUT_OF_MEMORY.  The message holds
 * the problem only (no file name, no location).  The bytes decoded before a failure are
 * returned first (a short read, HG_OK); the next read reports the failure, and so does
 * every read after it.  So a caller that wants n bytes reads until it has them or a
 * read returns 0 bytes or an error.
 */
hg_status hg__source_read(hg__source *s, void *buf, size_t n, size_t *got, hg_error *err);

/* Close the file and free the source; NULL is a no-op. */
void hg__source_close(hg__source *s);

#endif /* HG_DATA_SOURCE_H */
