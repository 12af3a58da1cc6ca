/* SPDX-License-Identifier: MIT */
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
 *   - A directory is used only when it can be trusted, as ssh's StrictModes has it:
 *     owned by the effective user (or root) and writable by nobody else.  Otherwise
 *     loads and stores fail with HG_IO and touch nothing in it.
 *   - Nothing blocks or follows a link: an entry's name that holds a FIFO, a symbolic
 *     link, a directory, ... is an HG_IO error for loads and stores alike, and is left
 *     in place (it is not the cache's to remove or replace).
 *   - A valid entry is whole and has the right key; whether its content is right is for
 *     the caller to check (a checksum is no signature).
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
 * Whether dir may hold a cache: HG_OK when it does not exist (hg__cache_store creates it,
 * mode 0700) or is a directory owned by the effective user or root that neither group nor
 * others can write; else HG_IO with a message naming dir and saying why (another owner,
 * the mode, not a directory), or HG_INVALID_ARGUMENT for a NULL or empty dir.  The same
 * check guards every load and store; callers use this one to decide once, up front,
 * whether to run with a cache at all.
 */
hg_status hg__cache_check_dir(const char *dir, hg_error *err);

/*
 * Store len bytes at data (data may be NULL when len is 0) under key[0 .. nkey-1] in dir,
 * replacing any entry for the same key.  key[0] is the kind of entry ("profile",
 * "program", ...) and names the file; the other fields are anything that must match for
 * the entry to be reused (platform, device, driver version, source hash, ...).  Creates
 * dir and its missing parents with mode 0700.  Errors: HG_INVALID_ARGUMENT (NULL dir or
 * key field, nkey == 0, a field longer than 4 GiB), HG_OUT_OF_MEMORY, HG_IO (message
 * names the path and the system error; also: dir not trusted, see hg__cache_check_dir,
 * or the entry's name taken by something other than a regular file); on failure no
 * temporary file is left behind and the previous entry, if any, is intact.
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
 * entry or directory (ENOENT), e.g. dir not being a directory, or unreadable, dir not
 * trusted (hg__cache_check_dir), or an entry that is not a regular file owned by the user
 * or root and writable by nobody else (a FIFO, a symbolic link, ...: never opened
 * blocking, never followed, left in place); outputs are then as for a miss with *why
 * NULL.
 */
hg_status hg__cache_load(const char *dir, const char *const *key, size_t nkey,
                         size_t max_len, void **data, size_t *len, bool *found,
                         const char **why, hg_error *err);

#endif /* HG_DISKCACHE_H */
