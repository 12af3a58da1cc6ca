/* SPDX-License-Identifier: MIT */
/*
 * log.c - route library messages to the user's callback or to stderr.
 */
#include <stdio.h>

#include "internal.h"

static const char *level_name(hg_log_level level)
{
    switch (level) {
    case HG_LOG_ERROR: return "error";
    case HG_LOG_WARN:  return "warning";
    case HG_LOG_INFO:  return "info";
    case HG_LOG_DEBUG: return "debug";
    }
    return "log";
}

void hg__log(const hg__logger *lg, hg_log_level level, const char *fmt, ...)
{
    hg_log_level max = lg ? lg->level : HG_LOG_WARN;
    if (level > max)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (lg && lg->fn)
        lg->fn(lg->user, level, msg);
    else
        fprintf(stderr, "hetgrad: %s: %s\n", level_name(level), msg);
}
