/* SPDX-License-Identifier: MIT */
/*
 * hostcache.c - the host CPU's L2 size, from sysfs, and the CPUs this process
 * may use (hostcache.h).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "hostcache.h"

#include <sched.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t hg__cache_size_parse(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return 0;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v == 0)
        return 0;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1024ull * 1024 * 1024, end++;
    if (*end == '\n')
        end++;
    if (*end || v > SIZE_MAX / mul)
        return 0;
    return (size_t)(v * mul);
}

/* The first line of dir/name into buf ("" when unreadable). */
static void read_line(const char *dir, const char *name, char *buf, size_t size)
{
    char path[256];
    buf[0] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(buf, (int)size, f))
        buf[0] = '\0';
    fclose(f);
}

size_t hg__host_l2_bytes(void)
{
    for (int i = 0; i < 16; i++) {
        char dir[96], level[16], type[32], size[32];
        snprintf(dir, sizeof dir, "/sys/devices/system/cpu/cpu0/cache/index%d", i);
        read_line(dir, "level", level, sizeof level);
        if (!level[0])
            break; /* no more indices */
        read_line(dir, "type", type, sizeof type);
        if (atoi(level) != 2 || !strncmp(type, "Instruction", 11))
            continue;
        read_line(dir, "size", size, sizeof size);
        size_t v = hg__cache_size_parse(size);
        if (v)
            return v;
    }
#ifdef _SC_LEVEL2_CACHE_SIZE
    long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (v > 0)
        return (size_t)v;
#endif
    return 0;
}

long hg__usable_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : -1;
}
