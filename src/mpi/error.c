/* SPDX-License-Identifier: MIT */
/*
 * error.c - hg__error_set for the MPI library.
 *
 * libhetgrad keeps its hg__ functions hidden, so the MPI library, which links the
 * scheduler's objects (src/sched/: its rank balancer is balance.c) into itself, carries its
 * own copy of the one helper they need.  Same contract as status.c's: fill err (may be NULL), return st.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

hg_status hg__error_set(hg_error *err, hg_status st, int32_t cl_code, const char *fmt, ...)
{
    if (!err)
        return st;
    err->status = st;
    err->cl_code = cl_code;
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(err->message, sizeof err->message, fmt, ap) < 0)
        err->message[0] = '\0';
    va_end(ap);
    return st;
}
