/*
 * platlock.c - the table of OpenCL platforms that are not thread-safe, and
 * their process-wide locks (see platlock.h).
 *
 * The locks are the exception to "no globals": the state they guard is the
 * driver's own process-wide state, shared by every engine, device list and
 * self-test in the process whatever hetgrad object they belong to.
 */
#define _XOPEN_SOURCE 700 /* PTHREAD_MUTEX_RECURSIVE */
#include <stddef.h>

#include "internal.h"
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
