/* SPDX-License-Identifier: MIT */
/*
 * clblast_guard.c - hetgrad's side of CLBlast's process-wide state.
 *
 * CLBlast 1.5.3 keeps the programs it compiles in static storage, keyed by
 * context, and never drops them by itself.  Left alone, each engine's
 * programs keep its contexts alive after the engine is gone (3.3 MB per
 * engine on the two POCL devices, measured over 300 engines created and
 * destroyed in turn), and at exit the cache's destructor
 * releases them after the drivers' own state is gone: with Oclgrind the
 * process aborts after main returns ("malloc(): unsorted double linked list
 * corrupted", exit status 134), whenever POCL's .icd names it by soname.
 * CLBlast 1.5.3 is not thread-safe on first use either (CLBlast issue #486).
 *
 * So every CLBlast call is made under one process-wide lock, every engine
 * counts itself in when it is created and out when it is destroyed, and the
 * last engine out clears CLBlast's cache (CLBlastClearCache) before it
 * releases its own contexts.  It does so holding every non-thread-safe
 * platform's lock (platlock.h) and the CLBlast lock: no other thread is then
 * inside CLBlast or inside such a platform.  An engine destroyed while others
 * live leaves its programs in the cache until the last one goes: clearing the
 * cache under a live engine would make its next step compile CLBlast's
 * kernels again (seconds on POCL, more on Oclgrind), in the middle of its
 * step and its deadline.
 *
 * The lock and the count are the exception to "no globals": CLBlast's cache
 * is one per process, whichever engine filled it.
 */
#include <clblast_c.h>

#include "engine_internal.h"
#include "platlock.h"

static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t engines; /* engines counted in, under clblast_lock */

void hg__clblast_lock(void)
{
    pthread_mutex_lock(&clblast_lock);
}

void hg__clblast_unlock(void)
{
    pthread_mutex_unlock(&clblast_lock);
}

void hg__clblast_engine_in(void)
{
    pthread_mutex_lock(&clblast_lock);
    engines++;
    pthread_mutex_unlock(&clblast_lock);
}

void hg__clblast_engine_out(void)
{
    pthread_mutex_lock(&clblast_lock);
    bool last = engines == 1;
    if (!last)
        engines--;
    pthread_mutex_unlock(&clblast_lock);
    if (!last)
        return;
    /* Platform locks come first (the lock order); another engine may have
       counted itself in meanwhile, and then the cache stays. */
    hg__platform_enter_all();
    pthread_mutex_lock(&clblast_lock);
    if (--engines == 0)
        CLBlastClearCache();
    pthread_mutex_unlock(&clblast_lock);
    hg__platform_leave_all();
}

size_t hg__clblast_engines(void)
{
    pthread_mutex_lock(&clblast_lock);
    size_t n = engines;
    pthread_mutex_unlock(&clblast_lock);
    return n;
}
