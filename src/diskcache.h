/*
 * diskcache.h - a small on-disk cache of keyed blobs (no OpenCL).
 *
 * Used for device cost profiles and compiled OpenCL program binaries.  An entry is one
 * file per key, "<kind>-<16 hex digits>.bin", holding a header (magic, format version,
 * the full key, payload length and checksum) and the payload; the byte layout is
 * described at the top of diskcache.c.
 *
 * Guarantees:
 *   - Writers replace an entry atomically (temporary file, fsync, rename), so concurrent
 *     writers and readers, in any number of threads or processes, never observe a partial
 *     entry: a reader sees the old entry, the new one, or none.
 *   - A damaged or foreign entry (truncated, wrong magic or version, other key, bad
 *     checksum, ...) is never returned: loading it is a miss, the file is removed and the
 *     caller is told why, so it recalibrates or recompiles and can log the reason.
 *   - No global state; every function is safe to call from several threads at once.
 */
#ifndef HG_DISKCACHE_H
#define HG_DISKCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/*
 * The cache directory, malloc'ed (the caller frees it).  In order of precedence:
 * explicit_dir when non-NULL and non-empty; else $HETGRAD_CACHE_DIR; else
 * $XDG_CACHE_HOME/hetgrad (absolute values only, per the XDG base directory spec); else
 * $HOME/.cache/hetgrad.  Empty variables count as unset.  The directory is not created
 * here (hg__cache_store creates it).  Returns NULL with HG_IO in err when no directory
 * can be determined, or with HG_OUT_OF_MEMORY.
 */
char *hg__cache_dir(const char *explicit_dir, hg_error *err);

/*
 * Store len bytes at data (data may be NULL when len is 0) under key[0 .. nkey-1] in dir,
 * replacing any entry for the same key.  key[0] is the kind of entry ("profile",
 * "program", ...) and names the file; the other fields are anything that must match for
 * the entry to be reused (platform, device, driver version, source hash, ...).  Creates
 * dir and its missing parents with mode 0700.  Errors: HG_INVALID_ARGUMENT (NULL dir or
 * key field, nkey == 0, a field longer than 4 GiB), HG_OUT_OF_MEMORY, HG_IO (message
 * names the path and the system error); on failure no temporary file is left behind and
 * the previous entry, if any, is intact.
 */
hg_status hg__cache_store(const char *dir, const char *const *key, size_t nkey,
                          const void *data, size_t len, hg_error *err);

/*
 * Look up key[0 .. nkey-1] in dir.
 *   hit:  HG_OK, *found = true, *data = malloc'ed payload (never NULL, even for a
 *         zero-length payload; the caller frees it), *len its size, *why = NULL.
 *   miss: HG_OK, *found = false, *data = NULL, *len = 0.  *why is NULL when there is no
 *         entry, or a static string saying what was wrong with the entry that was there
 *         and has now been removed: "truncated", "bad magic", "unsupported version",
 *         "key mismatch", "length mismatch" (bytes after the payload), "payload over
 *         max_len", "checksum mismatch".
 * why may be NULL.  max_len bounds the payload accepted (SIZE_MAX: no bound).  Errors:
 * HG_INVALID_ARGUMENT, HG_OUT_OF_MEMORY, HG_IO for I/O errors other than a missing
 * entry or directory (ENOENT), e.g. dir not being a directory, or unreadable; outputs
 * are then as for a miss with *why NULL.
 */
hg_status hg__cache_load(const char *dir, const char *const *key, size_t nkey,
                         size_t max_len, void **data, size_t *len, bool *found,
                         const char **why, hg_error *err);

#endif /* HG_DISKCACHE_H */
