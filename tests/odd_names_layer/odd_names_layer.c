/* SPDX-License-Identifier: MIT */
/*
 * odd_names_layer.c - an OpenCL loader layer for hetgrad's tests: every
 * device and platform name comes back with a prefix that holds each kind of
 * character a JSON writer must handle, while the real driver underneath
 * (POCL) still builds and runs every kernel.
 *
 * The ICD loader (ocl-icd 2.3.1 here) loads the layers named in OPENCL_LAYERS
 * (a colon-separated list of library paths) and sends every OpenCL call of
 * the process through them, the calls of CLBlast included:
 *
 *   OPENCL_LAYERS=/abs/path/libhg_odd_names_layer.so OCL_ICD_VENDORS=... hetgrad-probe --json
 *
 * Only clGetDeviceInfo(CL_DEVICE_NAME) and clGetPlatformInfo(CL_PLATFORM_NAME)
 * change: the answer is ODD_PREFIX followed by the driver's own name, so a
 * name substring such as "pthread" still selects the same device.  Every other
 * call goes to the driver unchanged.
 *
 * ODD_PREFIX holds, in this order: a double quote, a backslash, a tab, the
 * control character U+0001, DEL, two- and three-byte UTF-8 ("ü", "日本"), a
 * four-byte one (U+1F600), the byte 0xFF (never valid in UTF-8) and a UTF-8
 * sequence cut short (0xE6 0x97).  tests/json_check.py spells the same bytes.
 *
 * HG_ODD_NAMES_REPEAT=n (1 to 8; default 1) writes the prefix n times: names
 * long on every machine, whatever the driver calls its device (StarPU's name
 * limit, tests/json_check.py's bench-starpu check).
 */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#define CL_USE_DEPRECATED_OPENCL_1_0_APIS
#define CL_USE_DEPRECATED_OPENCL_1_1_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#define CL_USE_DEPRECATED_OPENCL_2_0_APIS
#define CL_USE_DEPRECATED_OPENCL_2_1_APIS
#define CL_USE_DEPRECATED_OPENCL_2_2_APIS

#include <CL/cl.h>
#include <CL/cl_icd.h>
#include <CL/cl_layer.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

#define ODD_PREFIX "odd \"q\" \\ \t \x01 \x7f G\xc3\xbc \xe6\x97\xa5\xe6\x9c\xac " \
                   "\xf0\x9f\x98\x80 \xff \xe6\x97 | "

/* The loader's table (what the layer forwards to) and the layer's own.  Set
   once by clInitLayer, which the loader calls before any other call of the
   process reaches the layer; read-only after that. */
static cl_icd_dispatch next;
static cl_icd_dispatch layer;
static size_t repeat = 1; /* HG_ODD_NAMES_REPEAT */

/*
 * Answer a string query with ODD_PREFIX + the driver's string, under the
 * OpenCL rules: value NULL asks for the size only; a buffer too small is
 * CL_INVALID_VALUE.  orig is the driver's answer (NUL-terminated).
 */
static cl_int answer(const char *orig, size_t size, void *value, size_t *size_ret)
{
    const size_t pre = sizeof ODD_PREFIX - 1;
    size_t need = repeat * pre + strlen(orig) + 1;
    if (size_ret)
        *size_ret = need;
    if (!value)
        return CL_SUCCESS;
    if (size < need)
        return CL_INVALID_VALUE;
    for (size_t i = 0; i < repeat; i++)
        memcpy((char *)value + i * pre, ODD_PREFIX, pre);
    memcpy((char *)value + repeat * pre, orig, strlen(orig) + 1);
    return CL_SUCCESS;
}

/* The driver's string for param of obj through query; NULL with *rc set when
   the driver failed or memory ran out.  The caller frees it. */
static char *driver_string(cl_int (*query)(void *, cl_uint, size_t, void *, size_t *),
                           void *obj, cl_uint param, cl_int *rc)
{
    size_t n = 0;
    if ((*rc = query(obj, param, 0, NULL, &n)) != CL_SUCCESS)
        return NULL;
    char *s = calloc(n + 1, 1);
    if (!s) {
        *rc = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    if ((*rc = query(obj, param, n, s, NULL)) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    return s;
}

static cl_int device_query(void *obj, cl_uint param, size_t size, void *value, size_t *ret)
{
    return next.clGetDeviceInfo((cl_device_id)obj, param, size, value, ret);
}

static cl_int platform_query(void *obj, cl_uint param, size_t size, void *value, size_t *ret)
{
    return next.clGetPlatformInfo((cl_platform_id)obj, param, size, value, ret);
}

static cl_int CL_API_CALL odd_get_device_info(cl_device_id d, cl_device_info param, size_t size,
                                              void *value, size_t *size_ret)
{
    if (param != CL_DEVICE_NAME)
        return next.clGetDeviceInfo(d, param, size, value, size_ret);
    cl_int rc;
    char *orig = driver_string(device_query, d, param, &rc);
    if (!orig)
        return rc;
    rc = answer(orig, size, value, size_ret);
    free(orig);
    return rc;
}

static cl_int CL_API_CALL odd_get_platform_info(cl_platform_id p, cl_platform_info param,
                                                size_t size, void *value, size_t *size_ret)
{
    if (param != CL_PLATFORM_NAME)
        return next.clGetPlatformInfo(p, param, size, value, size_ret);
    cl_int rc;
    char *orig = driver_string(platform_query, p, param, &rc);
    if (!orig)
        return rc;
    rc = answer(orig, size, value, size_ret);
    free(orig);
    return rc;
}

EXPORT cl_int CL_API_CALL clGetLayerInfo(cl_layer_info param, size_t size, void *value,
                                         size_t *size_ret)
{
    if (param != CL_LAYER_API_VERSION)
        return CL_INVALID_VALUE;
    cl_layer_api_version v = CL_LAYER_API_VERSION_100;
    if (size_ret)
        *size_ret = sizeof v;
    if (value) {
        if (size < sizeof v)
            return CL_INVALID_VALUE;
        memcpy(value, &v, sizeof v);
    }
    return CL_SUCCESS;
}

EXPORT cl_int CL_API_CALL clInitLayer(cl_uint num_entries, const cl_icd_dispatch *target,
                                      cl_uint *num_entries_ret,
                                      const cl_icd_dispatch **layer_ret)
{
    const cl_uint ours = (cl_uint)(sizeof(cl_icd_dispatch) / sizeof(void *));
    if (!target || !num_entries_ret || !layer_ret)
        return CL_INVALID_VALUE;
    /* A loader with a shorter table than ours: copy what it has, and leave
       the rest NULL (the loader never calls past its own table). */
    memset(&next, 0, sizeof next);
    memcpy(&next, target, (num_entries < ours ? num_entries : ours) * sizeof(void *));
    const char *r = getenv("HG_ODD_NAMES_REPEAT");
    if (r && r[0] >= '1' && r[0] <= '8' && r[1] == '\0')
        repeat = (size_t)(r[0] - '0');
    layer = next;
    layer.clGetDeviceInfo = odd_get_device_info;
    layer.clGetPlatformInfo = odd_get_platform_info;
    *num_entries_ret = num_entries < ours ? num_entries : ours;
    *layer_ret = &layer;
    return CL_SUCCESS;
}
