/* SPDX-License-Identifier: MIT */
/*
 * test_expect.h - the devices a test set promises (HG_TEST_EXPECT), and which
 * of an engine's devices is Oclgrind (test_on_oclgrind).
 *
 * CTest sets HG_TEST_EXPECT to comma-separated entries, one per device of the
 * set (tests/CMakeLists.txt): "pthread,basic" for POCL, plus "oclgrind", plus
 * "platform:Intel(R) OpenCL" for Intel's CPU runtime.  An entry
 * "platform:TEXT" matches a device whose platform name contains TEXT; any
 * other entry a device whose name contains it; ASCII case is ignored.  Intel's
 * CPU device needs the platform form: it is named after the processor ("AMD
 * EPYC"), and POCL's device names end with that same name.
 */
#ifndef HG_TEST_EXPECT_H
#define HG_TEST_EXPECT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TEST_EXPECT_MAX 16

typedef struct test_expect {
    char        buf[512];
    const char *entry[TEST_EXPECT_MAX];
    size_t      n;
} test_expect;

/* Reads HG_TEST_EXPECT into x.  Exits the test program with status 1 and a
   message when it is unset, empty, too long or has more than TEST_EXPECT_MAX
   entries: a test that does not know its devices cannot check them. */
static inline void test_expect_load(test_expect *x)
{
    const char *e = getenv("HG_TEST_EXPECT");
    memset(x, 0, sizeof *x);
    if (!e || !*e || strlen(e) >= sizeof x->buf) {
        fprintf(stderr, "HG_TEST_EXPECT is %s: the test environment must say which devices "
                        "it provides (tests/CMakeLists.txt)\n", e && *e ? "too long" : "not set");
        exit(1);
    }
    strcpy(x->buf, e);
    for (char *tok = x->buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        if (!*tok)
            continue;
        if (x->n == TEST_EXPECT_MAX) {
            fprintf(stderr, "HG_TEST_EXPECT has more than %d entries\n", TEST_EXPECT_MAX);
            exit(1);
        }
        x->entry[x->n++] = tok;
    }
}

/* True when the set promises a device for entry (compared as written). */
static inline bool test_expect_has(const test_expect *x, const char *entry)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->entry[i], entry) == 0)
            return true;
    return false;
}

/* True when the device named name, on the platform named platform, is the one
   entry describes. */
static inline bool test_expect_matches(const char *entry, const char *name,
                                       const char *platform)
{
    if (strncmp(entry, "platform:", 9) == 0)
        return platform && hg__icontains(platform, entry + 9);
    return name && hg__icontains(name, entry);
}

/* Every device the loader lists, duplicates kept; exits the test program with
   status 1 and a message when the list cannot be made.  Destroy it with
   hg_device_list_destroy. */
static inline hg_device_list *test_all_devices(void)
{
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.keep_duplicates = true;
    hg_device_list *l = NULL;
    hg_error e;
    if (hg_device_list_create(&o, &l, &e) != HG_OK) {
        fprintf(stderr, "hg_device_list_create: %s\n", e.message);
        exit(1);
    }
    return l;
}

/* The CPU devices the set promises: the entries whose device (every device the
   loader lists, duplicates kept) is of the CPU class.  POCL's two and Intel's
   are; Oclgrind (an accelerator first) and a GPU added to the set (docs/gpu.md)
   are not.  Exits the test program with status 1 and a message when an entry
   matches no device or the list cannot be made. */
static inline size_t test_expect_cpus(const test_expect *x)
{
    hg_device_list *l = test_all_devices();
    size_t n = 0;
    for (size_t i = 0; i < x->n; i++) {
        const hg_device_info *found = NULL;
        for (size_t d = 0; d < hg_device_list_count(l) && !found; d++) {
            const hg_device_info *info = hg_device_list_get(l, d);
            if (test_expect_matches(x->entry[i], info->name, info->platform_name))
                found = info;
        }
        if (!found) {
            fprintf(stderr, "test_expect_cpus: expected device \"%s\" is missing\n",
                    x->entry[i]);
            exit(1);
        }
        n += found->type == HG_DEVICE_CPU;
    }
    hg_device_list_destroy(l);
    return n;
}

/* Whether engine e's device i is Oclgrind's (its platform's name): the simulator
   that tests give tiny shapes, and some kernel variants not at all. */
static inline bool test_on_oclgrind(const hg_engine *e, size_t i)
{
    return strstr(hg_engine_device(e, i)->platform_name, "Oclgrind") != NULL;
}

#endif
