/* SPDX-License-Identifier: MIT */
/*
 * clutil.h - internal helpers around the OpenCL API: checked queries that
 * allocate, and access to the OpenCL handles behind a device list.
 */
#ifndef HG_CLUTIL_H
#define HG_CLUTIL_H

#include <CL/cl.h>
#include <CL/cl_ext.h>

#include "internal.h"

/* Largest string property we accept; a driver claiming more is lying. */
#define HG__MAX_CL_STRING ((size_t)1 << 20)

/*
 * Query a string property; *out is malloc'ed and always NUL-terminated (a
 * driver that forgets the NUL is tolerated).  Returns CL_SUCCESS or the
 * failing OpenCL code (CL_INVALID_VALUE for an absurd size, CL_OUT_OF_HOST_MEMORY
 * when malloc fails); *out is NULL on failure.
 */
cl_int hg__platform_string(cl_platform_id p, cl_platform_info param, char **out);
cl_int hg__device_string(cl_device_id d, cl_device_info param, char **out);

/*
 * Query a fixed-size property into out (size bytes).  A driver that answers
 * with a smaller size gets the rest zero-filled (cl_uint vs size_t
 * mix-ups); a larger one is CL_INVALID_VALUE.
 */
cl_int hg__device_value(cl_device_id d, cl_device_info param, void *out, size_t size);

/* Is word one of the space-separated words in list? */
bool hg__has_word(const char *list, const char *word);

/* "OpenCL 1.2 ..." -> 102; 0 when it does not parse. */
int hg__cl_version(const char *version_string);

/* OpenCL handles of device i of a list (NULL out of range). */
cl_device_id hg__list_cl_device(const hg_device_list *list, size_t i);
cl_platform_id hg__list_cl_platform(const hg_device_list *list, size_t i);
/* Device i's rank in the selection expressions (lower: named earlier; SIZE_MAX: named by
   none, or i out of range).  De-duplication keeps the lowest rank of a group first. */
size_t hg__list_rank(const hg_device_list *list, size_t i);

/*
 * Snapshot every property of d into *info (table-driven, props.c).  Strings
 * are malloc'ed and handed to keep(keep_user, s) which takes ownership (and
 * returns false when it could not, having freed s).  Returns HG_OK or
 * HG_OUT_OF_MEMORY; a failed query only sets its prop_failed bit and adds a
 * line to *failed_text (malloc'ed, may stay NULL).
 */
hg_status hg__snapshot_device(cl_device_id d, hg_device_info *info,
                              bool (*keep)(void *keep_user, char *s), void *keep_user,
                              char **failed_text);

/* The build log of prog for dev (malloc'ed, trimmed), or NULL. */
char *hg__build_log(cl_program prog, cl_device_id dev);

/* Create a context and an in-order queue for one device (profiling on). */
hg_status hg__create_queue(cl_platform_id p, cl_device_id d, const char *what,
                           cl_context *ctx, cl_command_queue *queue, hg_error *err);

#endif /* HG_CLUTIL_H */
