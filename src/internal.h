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

/* ---- time and numbers ------------------------------------------------- */

/* Host clock in milliseconds (CLOCK_MONOTONIC: for intervals only; strutil.c). */
double hg__now_ms(void);

/*
 * Doubles as unsigned integers in the order of their values (no NaNs), and
 * back: bisection over every representable double (planner.c, partition.c).
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
