/* SPDX-License-Identifier: MIT */
/*
 * program.h - build an OpenCL program for one device, through the on-disk
 * program cache, or from prebuilt binaries for devices without a compiler.
 */
#ifndef HG_PROGRAM_H
#define HG_PROGRAM_H

#include "clutil.h"

/*
 * Programs compiled from source whose cache entries wait for a decision
 * (hg__program_cache.pending): a kernel race builds every candidate, and
 * fetching a program's binary is itself a compile on some drivers (POCL
 * compiles every kernel of the program for its binary: 2.6 to 4.5 s for one
 * gemm.cl tile, against 0.7 s for the build), so only the programs of the
 * candidate kept are stored (hg__program_pending_keep).
 */
typedef struct hg__pending_entry hg__pending_entry;
typedef struct hg__program_pending {
    hg__pending_entry *v;
    size_t             n, cap;
} hg__program_pending;

typedef struct hg__program_cache {
    const char *dir;        /* resolved, trusted cache directory, NULL: no cache */
    const char *binary_dir; /* prebuilt binaries (docs/programs.md), may be NULL */
    bool        offline;    /* never compile: load prebuilt binaries only */
    bool        refresh;    /* compile from source even when the cache has the program,
                               and replace its entry (the entry proved wrong) */
    bool        store_all;  /* store even where the driver caches programs itself
                               (hg__driver_caches_programs): tests of this cache */
    const hg__logger *log;
    hg__program_pending *pending; /* non-NULL: a program compiled from source is not
                                     stored but added here (retained), to be stored
                                     or dropped later; with refresh it is stored at
                                     once (the wrong entry must go either way) */
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
 * cached binary the driver rejects is logged and rebuilt.  A program built
 * from source is stored (or left pending) unless its driver caches programs
 * itself (hg__driver_caches_programs, below).  The cache cannot
 * tell a right binary from a wrong one with the right key: callers check
 * what the program computes.  Build failures are HG_BUILD with the build log.
 */
hg_status hg__program_build(cl_context ctx, cl_device_id dev, const hg_device_info *info,
                            const char *what, const char *label, const char *src, size_t len,
                            const char *options, const hg__program_cache *pc,
                            cl_program *out, hg__program_origin *origin, hg_error *err);

/*
 * Whether the driver keeps the programs it compiles on disk itself, so that
 * hetgrad stores no binary for it (unless hg__program_cache.store_all): POCL
 * with its kernel cache on (its default; POCL_KERNEL_CACHE=0 turns it off).
 * There a build from the same source finds POCL's entry (its preprocessor and
 * a lookup: 65 to 100 ms a program under strace, 14 to 30 ms more than loading a
 * binary in warm runs), while fetching the binary for hetgrad's cache makes
 * POCL compile every kernel of the program again (model.cl: 1.5 s;
 * docs/programs.md).  A binary hetgrad stored earlier is still loaded.
 */
bool hg__driver_caches_programs(const hg_device_info *info);

/*
 * Store the cache entries of the pending programs that are prog (the same
 * handle; a program may be pending more than once), in pc's directory, and
 * drop them from the list.  Failures to store are logged, not returned: the
 * cache is an optimisation.
 */
void hg__program_pending_keep(hg__program_pending *p, cl_program prog,
                              const hg__program_cache *pc);

/* Drop every pending entry (their programs released) and free the list. */
void hg__program_pending_clear(hg__program_pending *p);

/* The file a prebuilt binary for (info, label) is looked up at (malloc'ed). */
char *hg__prebuilt_path(const char *binary_dir, const hg_device_info *info, const char *label);

/* The binary of a built single-device program (malloc'ed), or NULL. */
unsigned char *hg__program_binary(cl_program prog, size_t *len);

#endif /* HG_PROGRAM_H */
