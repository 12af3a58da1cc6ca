/* SPDX-License-Identifier: MIT */
/*
 * status.c - names and messages of hg_status, generated from HG_STATUS_MAP,
 * and the helpers that fill an hg_error with context.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const status_names[] = {
#define HG__STATUS_NAME(name, msg) "HG_" #name,
    HG_STATUS_MAP(HG__STATUS_NAME)
#undef HG__STATUS_NAME
};

static const char *const status_messages[] = {
#define HG__STATUS_MSG(name, msg) msg,
    HG_STATUS_MAP(HG__STATUS_MSG)
#undef HG__STATUS_MSG
};

const char *hg_status_name(hg_status st)
{
    if ((unsigned)st >= (unsigned)HG_STATUS_COUNT_)
        return "HG_UNKNOWN";
    return status_names[st];
}

const char *hg_strerror(hg_status st)
{
    if ((unsigned)st >= (unsigned)HG_STATUS_COUNT_)
        return "unknown status";
    return status_messages[st];
}

void hg_error_clear(hg_error *err)
{
    if (!err)
        return;
    err->status = HG_OK;
    err->cl_code = 0;
    err->message[0] = '\0';
}

static hg_status error_vset(hg_error *err, hg_status st, int32_t cl_code,
                            const char *suffix, const char *fmt, va_list ap)
{
    if (!err)
        return st;
    err->status = st;
    err->cl_code = cl_code;
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    if (n < 0) {
        err->message[0] = '\0';
        n = 0;
    }
    if (suffix && (size_t)n < sizeof err->message)
        snprintf(err->message + n, sizeof err->message - (size_t)n, "%s", suffix);
    return st;
}

hg_status hg__error_set(hg_error *err, hg_status st, int32_t cl_code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, st, cl_code, NULL, fmt, ap);
    va_end(ap);
    return st;
}

hg_status hg__cl_fail(hg_error *err, int32_t cl_code, const char *fmt, ...)
{
    char suffix[96];
    snprintf(suffix, sizeof suffix, ": %s (%d)", hg_cl_error_name(cl_code),
             (int)cl_code);
    hg_status st = cl_code == -6 /* CL_OUT_OF_HOST_MEMORY */ ? HG_OUT_OF_MEMORY
                                                              : HG_OPENCL;
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, st, cl_code, suffix, fmt, ap);
    va_end(ap);
    return st;
}
