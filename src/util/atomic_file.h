/* SPDX-License-Identifier: MIT */
/*
 * atomic_file.h - replacing a file atomically (hg__ tier; atomic_file.c).
 */
#ifndef HG_ATOMIC_FILE_H
#define HG_ATOMIC_FILE_H

#include "internal.h"

/*
 * Replace path with len bytes of buf: a temporary file .NAME.PID.N.tmp beside
 * the target (a symbolic link followed), flushed, fsync'ed and renamed over
 * it, then the directory synced.  An existing target keeps its permission
 * bits.  Any failure leaves the previous file as it was and removes the
 * temporary file: HG_IO (or HG_OUT_OF_MEMORY) with a message naming path and
 * the step that failed.
 */
hg_status hg__atomic_write(const char *path, const void *buf, size_t len, hg_error *err);

/*
 * Whether hg__atomic_write(path) can work, checked without writing it: the
 * target is absent or a regular file and a file can be created beside it.
 * HG_IO with the reason otherwise.
 */
hg_status hg__atomic_check_target(const char *path, hg_error *err);

#endif /* HG_ATOMIC_FILE_H */
