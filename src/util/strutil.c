/* SPDX-License-Identifier: MIT */
/*
 * strutil.c - the few string helpers C11 lacks (the host clock is in clock.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *hg__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *hg__strdup(const char *s)
{
    return hg__strndup(s, strlen(s));
}

char *hg__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = malloc((size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static int lower(int c)
{
    return tolower((unsigned char)c);
}

bool hg__icontains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0)
        return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] && lower(hay[i]) == lower(needle[i]))
            i++;
        if (i == nl)
            return true;
    }
    return false;
}

bool hg__iequal(const char *a, const char *b)
{
    while (*a && *b && lower(*a) == lower(*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

char *hg__strtrim_dup(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return hg__strndup(s, n);
}
