/* SPDX-License-Identifier: MIT */
/*
 * program.c - OpenCL programs per device: compiled once per device, driver and
 * source, cached on disk and loaded with clCreateProgramWithBinary; devices
 * without an online compiler (FPGAs) load prebuilt binaries from a directory.
 *
 * The cache key binds a binary to what it was built from: the platform
 * name, device name and id (vendor, PCI address or UUID), driver version, the
 * program's label, its build options (the -D defines that specialise it) and
 * a 64-bit hash of the exact source compiled, so a driver update or a changed
 * kernel misses and rebuilds.  The cache file itself is checked
 * (diskcache.c); a binary the driver then refuses is logged, rebuilt from
 * source and replaced.  A binary that loads but computes the wrong thing is
 * caught by the engine's first-use gradient check (profile.c), which
 * rebuilds it with pc->refresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "program.h"

#define MAX_BINARY ((size_t)256 << 20)

unsigned char *hg__program_binary(cl_program prog, size_t *len)
{
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0 || size > MAX_BINARY)
        return NULL;
    unsigned char *bin = malloc(size);
    if (!bin)
        return NULL;
    unsigned char *ptrs[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs, NULL) != CL_SUCCESS) {
        free(bin);
        return NULL;
    }
    *len = size;
    return bin;
}

char *hg__prebuilt_path(const char *binary_dir, const hg_device_info *info, const char *label)
{
    char *name = hg__strdup(info->name[0] ? info->name : "unnamed");
    if (!name)
        return NULL;
    for (char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            *p = '_';
    }
    char *path = hg__asprintf("%s/%s/%s.bin", binary_dir, name, label);
    free(name);
    return path;
}

/* Create and build a program from a binary; CL status, program or NULL. */
static cl_int from_binary(cl_context ctx, cl_device_id dev, const unsigned char *bin,
                          size_t len, const char *options, cl_program *out)
{
    cl_int rc = CL_SUCCESS, bin_rc = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx, 1, &dev, &len, &bin, &bin_rc, &rc);
    if (rc == CL_SUCCESS && bin_rc != CL_SUCCESS)
        rc = bin_rc;
    if (rc == CL_SUCCESS && p)
        rc = clBuildProgram(p, 1, &dev, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        if (p)
            clReleaseProgram(p);
        return rc;
    }
    *out = p;
    return CL_SUCCESS;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && (size_t)n <= MAX_BINARY && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n);
            if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else if (buf) {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

static hg_status prebuilt(cl_context ctx, cl_device_id dev, const hg_device_info *info,
                          const char *what, const char *label, const char *options,
                          const hg__program_cache *pc, cl_program *out, hg_error *err)
{
    const char *why = pc->offline ? "offline mode is on" : "it has no online compiler";
    if (!pc->binary_dir)
        return hg__error_set(err, HG_BUILD, CL_COMPILER_NOT_AVAILABLE,
                             "%s must load a prebuilt '%s' binary (%s), but no binary "
                             "directory is set (hg_engine_options.binary_dir, "
                             "docs/programs.md)", what, label, why);
    char *path = hg__prebuilt_path(pc->binary_dir, info, label);
    if (!path)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "prebuilt binary path");
    size_t len = 0;
    unsigned char *bin = read_file(path, &len);
    hg_status st = HG_OK;
    if (!bin) {
        st = hg__error_set(err, HG_BUILD, CL_COMPILER_NOT_AVAILABLE,
                           "%s: prebuilt binary %s is missing or unreadable (%s)", what, path,
                           why);
    } else {
        cl_int rc = from_binary(ctx, dev, bin, len, options, out);
        if (rc != CL_SUCCESS)
            st = hg__error_set(err, HG_BUILD, rc, "%s: prebuilt binary %s was refused: %s (%d)",
                               what, path, hg_cl_error_name(rc), (int)rc);
    }
    free(bin);
    free(path);
    return st;
}

/* A program's cache key (see the top of the file): its fields into key[]. */
enum { NKEY = 8 };
static void program_key(const char *key[NKEY], const hg_device_info *info, const char *label,
                        const char *options, const char *hash)
{
    const char *k[NKEY] = {"program", info->platform_name, info->name, info->id,
                           info->driver_version, label, options ? options : "", hash};
    memcpy(key, k, sizeof k);
}

/* A program compiled from source and its cache key's fields (hg__program_pending). */
struct hg__pending_entry {
    cl_program            prog; /* retained */
    const hg_device_info *info;
    char                 *label, *options;
    char                  hash[17];
};

static void pending_free(hg__pending_entry *e)
{
    clReleaseProgram(e->prog);
    free(e->label);
    free(e->options);
}

/* Add prog (retained) under its key; false when out of memory (then not added). */
static bool pending_add(hg__program_pending *p, cl_program prog, const hg_device_info *info,
                        const char *label, const char *options, const char *hash)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        hg__pending_entry *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return false;
        p->v = v;
        p->cap = cap;
    }
    hg__pending_entry e = {prog, info, hg__strdup(label), hg__strdup(options), ""};
    if (!e.label || !e.options || clRetainProgram(prog) != CL_SUCCESS) {
        free(e.label);
        free(e.options);
        return false;
    }
    snprintf(e.hash, sizeof e.hash, "%s", hash);
    p->v[p->n++] = e;
    return true;
}

/* Store prog's binary in pc's cache under key; a failure is logged. */
static void store(cl_program prog, const char *const *key, size_t nkey,
                  const hg__program_cache *pc)
{
    size_t blen = 0;
    unsigned char *bin = hg__program_binary(prog, &blen);
    hg_error cerr;
    if (bin && hg__cache_store(pc->dir, key, nkey, bin, blen, &cerr) != HG_OK)
        hg__log(pc->log, HG_LOG_WARN, "program cache: %s", cerr.message);
    free(bin);
}

void hg__program_pending_keep(hg__program_pending *p, cl_program prog,
                              const hg__program_cache *pc)
{
    size_t w = 0;
    for (size_t i = 0; i < p->n; i++) {
        hg__pending_entry *e = &p->v[i];
        if (e->prog != prog) {
            p->v[w++] = *e;
            continue;
        }
        const char *key[NKEY];
        program_key(key, e->info, e->label, e->options, e->hash);
        if (pc->dir)
            store(e->prog, key, NKEY, pc);
        pending_free(e);
    }
    p->n = w;
}

void hg__program_pending_clear(hg__program_pending *p)
{
    for (size_t i = 0; i < p->n; i++)
        pending_free(&p->v[i]);
    free(p->v);
    *p = (hg__program_pending){0};
}

bool hg__driver_caches_programs(const hg_device_info *info)
{
    if (!info->platform_name || strcmp(info->platform_name, "Portable Computing Language"))
        return false;
    /* POCL's own switch, read as POCL reads a boolean option: on unless set to
       something that does not start with '1' (then hetgrad stores: safe) */
    const char *on = getenv("POCL_KERNEL_CACHE");
    return !on || on[0] == '1';
}

hg_status hg__program_build(cl_context ctx, cl_device_id dev, const hg_device_info *info,
                            const char *what, const char *label, const char *src, size_t len,
                            const char *options, const hg__program_cache *pc,
                            cl_program *out, hg__program_origin *origin, hg_error *err)
{
    *out = NULL;
    *origin = HG__PROGRAM_SOURCE;
    if (pc->offline || !info->compiler_available) {
        *origin = HG__PROGRAM_PREBUILT;
        return prebuilt(ctx, dev, info, what, label, options, pc, out, err);
    }

    char hash[17];
    snprintf(hash, sizeof hash, "%016llx",
             (unsigned long long)hg__fnv1a(HG__FNV_INIT, src, len));
    const char *key[NKEY];
    program_key(key, info, label, options, hash);
    size_t nkey = NKEY;
    bool storable = pc->dir != NULL; /* not after an I/O error: storing would fail alike */
    if (pc->dir && !pc->refresh) {
        void *bin = NULL;
        size_t blen = 0;
        bool found = false;
        const char *why = NULL;
        hg_error cerr;
        if (hg__cache_load(pc->dir, key, nkey, MAX_BINARY, &bin, &blen, &found, &why, &cerr) !=
            HG_OK) {
            hg__log(pc->log, HG_LOG_WARN, "program cache: %s; compiling %s for %s", cerr.message,
                    label, what);
            storable = false;
        } else if (found) {
            cl_int rc = from_binary(ctx, dev, bin, blen, options, out);
            free(bin);
            if (rc == CL_SUCCESS) {
                *origin = HG__PROGRAM_CACHE;
                return HG_OK;
            }
            hg__log(pc->log, HG_LOG_WARN, "program cache: %s refused the cached '%s' "
                    "binary (%s); rebuilding", what, label, hg_cl_error_name(rc));
        } else if (why) {
            hg__log(pc->log, HG_LOG_WARN, "program cache: dropped a bad '%s' entry for %s (%s)",
                    label, what, why);
        }
    }

    cl_int rc = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(ctx, 1, &src, &len, &rc);
    if (rc != CL_SUCCESS || !p)
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_INVALID_PROGRAM,
                           "clCreateProgramWithSource(%s) on %s", label, what);
    /* -w: no compiler warnings.  POCL's compiler prints a count of them ("38
       warnings generated.") on stderr for every program it builds, which the
       user of a tool or a library can do nothing about; the options of the
       cache key stay as they are (-w changes no code) */
    size_t olen = strlen(options ? options : "");
    char *quiet = malloc(olen + 4);
    if (!quiet) {
        clReleaseProgram(p);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "building %s on %s", label, what);
    }
    snprintf(quiet, olen + 4, "-w %s", options ? options : "");
    rc = clBuildProgram(p, 1, &dev, quiet, NULL, NULL);
    free(quiet);
    if (rc != CL_SUCCESS) {
        char *log = hg__build_log(p, dev);
        hg_status st = hg__error_set(err, rc == CL_BUILD_PROGRAM_FAILURE ? HG_BUILD : HG_OPENCL,
                                     rc, "clBuildProgram(%s) on %s: %s (%d)%s%s", label, what,
                                     hg_cl_error_name(rc), (int)rc, log ? ": " : "",
                                     log ? log : "");
        free(log);
        clReleaseProgram(p);
        return st;
    }
    /* pending: stored later if kept; now when refreshing (the entry proved
       wrong: it is replaced whether kept or not, whoever caches programs) or
       out of memory for the list; not at all where the driver keeps its own */
    if (storable && (pc->refresh || pc->store_all || !hg__driver_caches_programs(info)) &&
        (pc->refresh || !pc->pending || !pending_add(pc->pending, p, info, label, key[6], hash)))
        store(p, key, nkey, pc);
    *out = p;
    return HG_OK;
}
