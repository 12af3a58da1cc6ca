/* SPDX-License-Identifier: MIT */
/*
 * clquery.c - checked, allocating wrappers around clGet*Info.
 *
 * Drivers are trusted as little as possible: sizes are bounded, strings are
 * terminated by us, and short answers are zero-filled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clutil.h"

typedef cl_int (*info_fn)(void *obj, cl_uint param, size_t size, void *value,
                          size_t *size_ret);

static cl_int platform_info(void *obj, cl_uint param, size_t size, void *value,
                            size_t *size_ret)
{
    return clGetPlatformInfo((cl_platform_id)obj, param, size, value, size_ret);
}

static cl_int device_info(void *obj, cl_uint param, size_t size, void *value,
                          size_t *size_ret)
{
    return clGetDeviceInfo((cl_device_id)obj, param, size, value, size_ret);
}

static cl_int query_string(info_fn fn, void *obj, cl_uint param, char **out)
{
    *out = NULL;
    size_t size = 0;
    cl_int rc = fn(obj, param, 0, NULL, &size);
    if (rc != CL_SUCCESS)
        return rc;
    if (size > HG__MAX_CL_STRING)
        return CL_INVALID_VALUE;
    char *s = calloc(size + 1, 1);
    if (!s)
        return CL_OUT_OF_HOST_MEMORY;
    if (size > 0) {
        size_t got = 0;
        rc = fn(obj, param, size, s, &got);
        if (rc != CL_SUCCESS) {
            free(s);
            return rc;
        }
    }
    s[size] = '\0';
    *out = s;
    return CL_SUCCESS;
}

cl_int hg__platform_string(cl_platform_id p, cl_platform_info param, char **out)
{
    return query_string(platform_info, (void *)p, param, out);
}

cl_int hg__device_string(cl_device_id d, cl_device_info param, char **out)
{
    return query_string(device_info, (void *)d, param, out);
}

cl_int hg__device_value(cl_device_id d, cl_device_info param, void *out, size_t size)
{
    memset(out, 0, size);
    size_t need = 0;
    cl_int rc = clGetDeviceInfo(d, param, 0, NULL, &need);
    if (rc != CL_SUCCESS)
        return rc;
    if (need == 0 || need > size)
        return CL_INVALID_VALUE;
    return clGetDeviceInfo(d, param, need, out, NULL);
}

bool hg__has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    if (!list || n == 0)
        return false;
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
        bool start = p == list || p[-1] == ' ' || p[-1] == '\t';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\t';
        if (start && end)
            return true;
    }
    return false;
}

int hg__cl_version(const char *s)
{
    int major = 0, minor = 0;
    if (!s || sscanf(s, "OpenCL %d.%d", &major, &minor) != 2 || major < 1 ||
        major > 9 || minor < 0 || minor > 9)
        return 0;
    return major * 100 + minor;
}

hg_status hg__create_queue(cl_platform_id p, cl_device_id d, const char *what,
                           cl_context *ctx, cl_command_queue *queue, hg_error *err)
{
    cl_int rc = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)p, 0};
    *ctx = clCreateContext(props, 1, &d, NULL, NULL, &rc);
    if (!*ctx || rc != CL_SUCCESS) {
        if (*ctx)
            clReleaseContext(*ctx);
        *ctx = NULL;
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_INVALID_CONTEXT,
                           "clCreateContext for %s", what);
    }

    /* clCreateCommandQueueWithProperties hangs on Oclgrind (an OpenCL 1.2
       platform) through ocl-icd: use the 1.2 entry point below 2.0. */
    char *pver = NULL;
    int ver = hg__platform_string(p, CL_PLATFORM_VERSION, &pver) == CL_SUCCESS
                  ? hg__cl_version(pver) : 0;
    free(pver);
    if (ver >= 200) {
        cl_queue_properties qp[] = {CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0};
        *queue = clCreateCommandQueueWithProperties(*ctx, d, qp, &rc);
    } else {
        *queue = clCreateCommandQueue(*ctx, d, CL_QUEUE_PROFILING_ENABLE, &rc);
    }
    if (!*queue || rc != CL_SUCCESS) {
        if (*queue)
            clReleaseCommandQueue(*queue);
        *queue = NULL;
        clReleaseContext(*ctx);
        *ctx = NULL;
        return hg__cl_fail(err, rc != CL_SUCCESS ? rc : CL_INVALID_COMMAND_QUEUE,
                           "clCreateCommandQueue for %s", what);
    }
    return HG_OK;
}

char *hg__build_log(cl_program prog, cl_device_id dev)
{
    size_t size = 0;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) != CL_SUCCESS ||
        size == 0 || size > HG__MAX_CL_STRING)
        return NULL;
    char *log = calloc(size + 1, 1);
    if (!log)
        return NULL;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, size, log, NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    /* Trim trailing white space; the first lines say what went wrong. */
    size_t n = strlen(log);
    while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' ' || log[n - 1] == '\r'))
        log[--n] = '\0';
    return log;
}
