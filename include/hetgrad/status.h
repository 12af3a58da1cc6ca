/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/status.h - the one status enum of the library.
 *
 * Every fallible call returns an hg_status.  Calls that can say more also take
 * an optional hg_error*, which receives the status, the OpenCL code when an
 * OpenCL call was the cause, and a message naming what failed
 * ("clGetDeviceIDs on platform 'Oclgrind': CL_OUT_OF_HOST_MEMORY (-6)").
 *
 * The enum, hg_status_name() and hg_strerror() are generated from the single
 * table below, so they cannot drift apart.
 */
#ifndef HETGRAD_STATUS_H
#define HETGRAD_STATUS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, message) */
#define HG_STATUS_MAP(X)                                                        \
    X(OK,               "success")                                              \
    X(INVALID_ARGUMENT, "invalid argument")                                     \
    X(OUT_OF_MEMORY,    "out of host memory")                                   \
    X(OPENCL,           "an OpenCL call failed")                                \
    X(NO_DEVICE,        "no usable OpenCL device")                              \
    X(BAD_SELECTION,    "invalid device selection")                             \
    X(BUILD,            "an OpenCL program failed to build")                    \
    X(DEVICE_FAILED,    "a device computed a wrong result")                     \
    X(RANGE,            "index or size out of range")                           \
    X(IO,               "input/output error")                                   \
    X(INTERNAL,         "internal error")

typedef enum hg_status {
#define HG__STATUS_ENUM(name, msg) HG_##name,
    HG_STATUS_MAP(HG__STATUS_ENUM)
#undef HG__STATUS_ENUM
    HG_STATUS_COUNT_ /* not a status: number of statuses */
} hg_status;

/* Size of hg_error.message, terminating NUL included. */
#define HG_ERROR_MESSAGE_MAX 512

/*
 * Details of a failure.  Owned by the caller (usually on the stack); a
 * function that fails fills it, one that succeeds leaves status == HG_OK and
 * an empty message.
 */
typedef struct hg_error {
    hg_status status;                     /* same value the call returned */
    int32_t   cl_code;                    /* OpenCL status behind it, 0 if none */
    char      message[HG_ERROR_MESSAGE_MAX]; /* what failed, with context */
} hg_error;

/* "HG_OK", "HG_NO_DEVICE", ...; "HG_UNKNOWN" for a value outside the enum. */
HG_EXTERN const char *hg_status_name(hg_status st);

/* Short English description; "unknown status" for a value outside the enum. */
HG_EXTERN const char *hg_strerror(hg_status st);

/* "CL_OUT_OF_RESOURCES" for -5 and so on; "CL_UNKNOWN_ERROR" for unknown codes. */
HG_EXTERN const char *hg_cl_error_name(int32_t cl_code);

/* Set *err to HG_OK with an empty message (err may be NULL). */
HG_EXTERN void hg_error_clear(hg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_STATUS_H */
