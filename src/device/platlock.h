/* SPDX-License-Identifier: MIT */
/*
 * platlock.h - serialising every call into an OpenCL platform that is not
 * thread-safe.
 *
 * OpenCL requires a platform's API to be thread-safe (clSetKernelArg on one
 * kernel aside), but some implementations keep process-wide state without
 * locking it: two host threads working on them at once, even in separate
 * contexts, corrupt each other's work.  Such platforms are listed in one
 * table (platlock.c, by platform name; docs/engine.md shows it), and each has
 * one process-wide lock.  hetgrad holds it around every section of work on a
 * device of that platform: device enumeration, context and queue creation,
 * program builds and kernel choices, uploads, each device's part of a step
 * (warm-up and calibration runs included), binary exports, the self-test and
 * release.  Platforms that are not in the table (POCL, GPU drivers) get no
 * lock, and their devices keep working at the same time.
 *
 * Lock order: platform locks (in table order) before the CLBlast lock
 * (engine_internal.h); the locks are recursive, so a section may nest in
 * another on the same thread.
 */
#ifndef HG_PLATLOCK_H
#define HG_PLATLOCK_H

#include <pthread.h>

/* The lock of the platform called name, or NULL when the platform is
   thread-safe (not in the table, or name NULL). */
pthread_mutex_t *hg__platform_lock(const char *platform_name);
/* Why platform name is serialised (the table's words), or NULL. */
const char *hg__platform_unsafe_reason(const char *platform_name);
/* Take / release a lock from hg__platform_lock(); NULL is a no-op. */
void hg__platform_enter(pthread_mutex_t *lock);
void hg__platform_leave(pthread_mutex_t *lock);
/* Take every table platform's lock, in table order; release them all. */
void hg__platform_enter_all(void);
void hg__platform_leave_all(void);

/*
 * The process's first enumeration of platforms and their devices, made once
 * and alone (pthread_once); every caller returns after it is done.  Drivers
 * initialise themselves on it, and POCL 3.1 does so unsafely: four threads
 * enumerating at once in a fresh process, and three of them saw one of its
 * two devices.  Call before any other OpenCL call; errors are left for the
 * real enumeration to report.
 */
void hg__opencl_first_use(void);

#endif /* HG_PLATLOCK_H */
