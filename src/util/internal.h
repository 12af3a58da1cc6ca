/* SPDX-License-Identifier: MIT */
/*
 * internal.h - declarations shared across hetgrad's source files (hg__ tier).
 * Nothing here is part of the public API.
 */
#ifndef HG_INTERNAL_H
#define HG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hetgrad.h"

#if defined(__GNUC__)
#  define HG__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#  define HG__PRINTF(fmt, args)
#endif

/* ---- errors (status.c) ------------------------------------------------ */

/* Fill err (may be NULL) and return st. */
hg_status hg__error_set(hg_error *err, hg_status st, int32_t cl_code,
                        const char *fmt, ...) HG__PRINTF(4, 5);

/* An OpenCL call failed: HG_OPENCL with "<what>: CL_NAME (code)". */
hg_status hg__cl_fail(hg_error *err, int32_t cl_code, const char *fmt, ...)
    HG__PRINTF(3, 4);

/* ---- logging (log.c) -------------------------------------------------- */

typedef struct hg__logger {
    hg_log_fn    fn;     /* NULL: stderr */
    void        *user;
    hg_log_level level;
} hg__logger;

void hg__log(const hg__logger *lg, hg_log_level level, const char *fmt, ...)
    HG__PRINTF(3, 4);

/* ---- structs that grow (sized.c; docs/abi.md) ------------------------- */

/*
 * End of field f of struct type T: the smallest size that holds it.  The
 * minimum size of a growable struct is the end of the last field of its first
 * released layout, written with this macro so it stays right as fields are
 * appended.
 */
#define HG__FIELD_END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/*
 * Read a caller's options struct of src_size bytes (its struct_size) into dst,
 * a struct of this library's size dst_size that already holds the defaults:
 * the first min(src_size, dst_size) bytes are copied over the defaults, and
 * dst's struct_size (the leading size_t of both) becomes dst_size.
 * Returns HG_INVALID_ARGUMENT, with a message naming `what` and `init`, when
 * src_size is below min_size (0: never initialised), or when src_size is
 * larger than dst_size (a program built against newer headers) and any byte
 * past dst_size is non-zero: an option this library does not know, which it
 * must not silently ignore.  dst is then left holding the defaults.
 */
hg_status hg__sized_read(void *dst, size_t dst_size, const void *src, size_t src_size,
                         size_t min_size, const char *what, const char *init,
                         hg_error *err);

/*
 * Fill an init function's struct: zero all `size` bytes the caller owns and
 * store size in the leading size_t.  False (nothing written) when p is NULL or
 * size is below sizeof(size_t).  The caller then sets the defaults of the
 * fields that lie within size (HG__SIZED_HAS).
 */
bool hg__sized_init(void *p, size_t size);

/* True when a struct of `size` bytes holds field f of T. */
#define HG__SIZED_HAS(T, f, size) (HG__FIELD_END(T, f) <= (size))

/*
 * Write a result to a caller's struct of dst_size bytes: the first
 * min(dst_size, src_size) bytes of src, zeros past src_size.  False (nothing
 * written) when dst_size is below min_size: the caller then returns
 * HG_INVALID_ARGUMENT.
 */
bool hg__sized_write(void *dst, size_t dst_size, const void *src, size_t src_size,
                     size_t min_size);

/* ---- time and numbers ------------------------------------------------- */

/* Host clock in milliseconds (CLOCK_MONOTONIC: for intervals and deadlines;
   clock.c, whose clock.h waits on it). */
double hg__now_ms(void);

/*
 * Doubles as unsigned integers in the order of their values (no NaNs), and
 * back: bisection over every representable double (sched/planner.c, sched/partition.c).
 */
static inline uint64_t hg__double_key(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

static inline double hg__key_double(uint64_t k)
{
    uint64_t u = (k >> 63) ? k & ~((uint64_t)1 << 63) : ~k;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- strings (strutil.c) ---------------------------------------------- */

char *hg__strdup(const char *s);
char *hg__strndup(const char *s, size_t n);
/* malloc'ed printf; NULL on allocation failure. */
char *hg__asprintf(const char *fmt, ...) HG__PRINTF(1, 2);
/* ASCII case-insensitive substring search; empty needle matches. */
bool hg__icontains(const char *hay, const char *needle);
/* ASCII case-insensitive equality. */
bool hg__iequal(const char *a, const char *b);
/* Copy s with leading and trailing white space removed (malloc'ed). */
char *hg__strtrim_dup(const char *s, size_t n);

/* ---- classification and identity (classify.c, identity.c): pure ------- */

/* Primary class from raw CL_DEVICE_TYPE bits (priority documented in device.h). */
hg_device_type hg__classify(uint64_t cl_type_bits);

/* 64-bit FNV-1a over bytes, continuing from h (start with HG__FNV_INIT). */
#define HG__FNV_INIT 0xcbf29ce484222325ull
uint64_t hg__fnv1a(uint64_t h, const void *data, size_t n);

/*
 * Give n devices their stable ids.  Hashes platform_name, name, vendor,
 * vendor_id, driver_version, and the PCI address or UUID when present;
 * devices that hash alike get an ordinal in list order.  ids[i] receives a
 * malloc'ed "hg-" + 16 hex digit string and devs[i].id points to it.
 * HG_OUT_OF_MEMORY leaves ids partly filled (NULL elsewhere) for the caller
 * to free.
 */
hg_status hg__assign_ids(hg_device_info *devs, size_t n, char **ids);

/* ---- options (device_list.c) ------------------------------------------ */

/*
 * The caller's device options in, whatever their released size, as a whole
 * hg_options of this library out: in NULL gives the defaults.  Errors as
 * hg__sized_read (bad struct_size, unknown options set).
 */
hg_status hg__options_read(const hg_options *in, hg_options *out, hg_error *err);

/* ---- selection (select.c): pure -------------------------------------- */

/*
 * Apply one selection expression to n devices.  For every device sets
 * pass[i] (it passes this expression) and, when it passes through an include
 * term, rank[i] = min(rank[i], rank_base + term index).  Returns
 * HG_BAD_SELECTION with a message for a malformed expression or a word that
 * names no type and matches no device.  source names the expression in
 * messages ("HETGRAD_DEVICES", "hg_options.devices").
 */
hg_status hg__select_apply(const char *expr, const char *source,
                           const hg_device_info *devs, size_t n,
                           bool *pass, size_t *rank, size_t rank_base,
                           hg_error *err);

/* ---- de-duplication (dedup.c): pure ----------------------------------- */

/*
 * Among devices with selected == true, set kept, duplicate_of and reason.
 * rank[i] is the user's preference (lower first).  reasons must hold n
 * malloc'ed strings afterwards (reason pointers point into it); the caller
 * frees them.  keep_all keeps every selected device.
 */
hg_status hg__dedup(hg_device_info *devs, size_t n, const size_t *rank,
                    bool keep_all, char **reasons);

/* ---- embedded kernels (generated kernels.c) --------------------------- */

/* Source of an embedded cl/<name>.cl, NUL-terminated; NULL if none. */
const char *hg__kernel_source(const char *name, size_t *len);
size_t hg__kernel_count(void);
const char *hg__kernel_name(size_t i);

#endif /* HG_INTERNAL_H */
