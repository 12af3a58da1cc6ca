/* SPDX-License-Identifier: MIT */
/*
 * platlock.c - the table of OpenCL platforms that are not thread-safe, and
 * their process-wide locks (see platlock.h).
 *
 * The locks (and the once-flag of the first enumeration) are the exception
 * to "no globals": the state they guard is the drivers' own process-wide
 * state, shared by every engine, device list and self-test in the process
 * whatever hetgrad object they belong to.
 */
#define _XOPEN_SOURCE 700 /* PTHREAD_MUTEX_RECURSIVE */
#include <stddef.h>
#include <stdlib.h>

#include "clutil.h"
#include "platlock.h"

/* Platforms matched by a case-insensitive substring of CL_PLATFORM_NAME. */
static const struct {
    const char *name;
    const char *why;
} unsafe[] = {
    {"Oclgrind",
     "Oclgrind keeps process-wide state without locks (upstream issue 28: global maps of "
     "enqueued commands, one global work-group counter), so kernels run from two host "
     "threads at once skip each other's work-groups and give wrong results with "
     "CL_SUCCESS"},
};
#define NUNSAFE (sizeof unsafe / sizeof unsafe[0])

static pthread_mutex_t locks[NUNSAFE];
static pthread_once_t locks_once = PTHREAD_ONCE_INIT;

static void init_locks(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    for (size_t i = 0; i < NUNSAFE; i++)
        pthread_mutex_init(&locks[i], &a);
    pthread_mutexattr_destroy(&a);
}

static size_t find(const char *platform_name)
{
    for (size_t i = 0; platform_name && i < NUNSAFE; i++)
        if (hg__icontains(platform_name, unsafe[i].name))
            return i;
    return NUNSAFE;
}

pthread_mutex_t *hg__platform_lock(const char *platform_name)
{
    size_t i = find(platform_name);
    if (i == NUNSAFE)
        return NULL;
    pthread_once(&locks_once, init_locks);
    return &locks[i];
}

const char *hg__platform_unsafe_reason(const char *platform_name)
{
    size_t i = find(platform_name);
    return i == NUNSAFE ? NULL : unsafe[i].why;
}

void hg__platform_enter(pthread_mutex_t *lock)
{
    if (lock)
        pthread_mutex_lock(lock);
}

void hg__platform_leave(pthread_mutex_t *lock)
{
    if (lock)
        pthread_mutex_unlock(lock);
}

void hg__platform_enter_all(void)
{
    pthread_once(&locks_once, init_locks);
    for (size_t i = 0; i < NUNSAFE; i++)
        pthread_mutex_lock(&locks[i]);
}

void hg__platform_leave_all(void)
{
    for (size_t i = NUNSAFE; i-- > 0;)
        pthread_mutex_unlock(&locks[i]);
}

static pthread_once_t first_use_once = PTHREAD_ONCE_INIT;

static void first_use(void)
{
    cl_uint n = 0;
    if (clGetPlatformIDs(0, NULL, &n) != CL_SUCCESS || n == 0)
        return;
    cl_platform_id *ids = calloc(n, sizeof *ids);
    if (ids && clGetPlatformIDs(n, ids, &n) == CL_SUCCESS) {
        for (cl_uint i = 0; i < n; i++) {
            cl_uint nd = 0;
            pthread_mutex_t *serial = NULL;
            char name[256] = "";
            if (clGetPlatformInfo(ids[i], CL_PLATFORM_NAME, sizeof name - 1, name, NULL) ==
                CL_SUCCESS)
                serial = hg__platform_lock(name);
            hg__platform_enter(serial);
            clGetDeviceIDs(ids[i], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
            hg__platform_leave(serial);
        }
    }
    free(ids);
}

void hg__opencl_first_use(void)
{
    pthread_once(&first_use_once, first_use);
}
