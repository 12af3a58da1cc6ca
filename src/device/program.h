/* SPDX-License-Identifier: MIT */
/*
 * program.h - build an OpenCL program for one device, through the on-disk
 * program cache, or from prebuilt binaries for devices without a compiler.
 */
#ifndef HG_PROGRAM_H
#define HG_PROGRAM_H

#include "clutil.h"

typedef struct hg__program_cache {
    const char *dir;        /* resolved, trusted cache directory, NULL: no cache */
    const char *binary_dir; /* prebuilt binaries (docs/programs.md), may be NULL */
    bool        offline;    /* never compile: load prebuilt binaries only */
    bool        refresh;    /* compile from source even when the cache has the program,
                               and replace its entry (the entry proved wrong) */
    const hg__logger *log;
} hg__program_cache;

/* How a program was obtained. */
typedef enum hg__program_origin {
    HG__PROGRAM_SOURCE = 0,  /* compiled from source (and cached) */
    HG__PROGRAM_CACHE  = 1,  /* loaded from the program cache */
    HG__PROGRAM_PREBUILT = 2 /* loaded from binary_dir */
} hg__program_origin;

/*
 * Build src (len bytes, label names it: "model", "custom") for device dev of
 * context ctx.  A device without an online compiler, or pc->offline, loads
 * <binary_dir>/<device dir>/<label>.bin, where <device dir> is the device name
 * with every character outside [A-Za-z0-9._-] replaced by '_'; a missing file
 * is HG_BUILD with a message naming the path.  Otherwise the cache is tried
 * first, unless pc->refresh (key: platform, device name and id, driver,
 * label, build options, hash of src: what the binary was built from); a
 * cached binary the driver rejects is logged and rebuilt.  The cache cannot
 * tell a right binary from a wrong one with the right key: callers check
 * what the program computes.  Build failures are HG_BUILD with the build log.
 */
hg_status hg__program_build(cl_context ctx, cl_device_id dev, const hg_device_info *info,
                            const char *what, const char *label, const char *src, size_t len,
                            const char *options, const hg__program_cache *pc,
                            cl_program *out, hg__program_origin *origin, hg_error *err);

/* The file a prebuilt binary for (info, label) is looked up at (malloc'ed). */
char *hg__prebuilt_path(const char *binary_dir, const hg_device_info *info, const char *label);

/* The binary of a built single-device program (malloc'ed), or NULL. */
unsigned char *hg__program_binary(cl_program prog, size_t *len);

#endif /* HG_PROGRAM_H */
