/* SPDX-License-Identifier: MIT */
/*
 * cache_entry.h - test helpers around hetgrad's on-disk cache entries and log.
 *
 * test_entry_read() parses an entry file by the layout documented at the top of
 * src/util/diskcache.c (magic, version, key fields, payload length, checksum, payload),
 * independently of diskcache.c, so a test can forge an entry: the key of one entry with
 * the payload of another, stored through hg__cache_store() so that its checksum is
 * valid.  test_log collects every message an engine logs.
 */
#ifndef HG_TEST_CACHE_ENTRY_H
#define HG_TEST_CACHE_ENTRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"

typedef struct test_entry {
    char          **key;     /* nkey NUL-terminated fields, key[0] the kind */
    size_t          nkey;
    unsigned char  *payload;
    size_t          len;
} test_entry;

static inline void test_entry_free(test_entry *e)
{
    for (size_t i = 0; e->key && i < e->nkey; i++)
        free(e->key[i]);
    free(e->key);
    free(e->payload);
    memset(e, 0, sizeof *e);
}

static inline uint64_t test_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Parse the entry file at path; false when it is not a well-formed entry. */
static inline bool test_entry_read(const char *path, test_entry *e)
{
    memset(e, 0, sizeof *e);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf)
        return false;
    size_t size = (size_t)n, off = 16;
    bool ok = size >= 16 && memcmp(buf, "HGCACHE1", 8) == 0;
    e->nkey = ok ? (size_t)test_le(buf + 12, 4) : 0;
    e->key = ok ? calloc(e->nkey ? e->nkey : 1, sizeof *e->key) : NULL;
    ok = ok && e->key;
    for (size_t i = 0; ok && i < e->nkey; i++) {
        size_t l = off + 4 <= size ? (size_t)test_le(buf + off, 4) : SIZE_MAX;
        ok = l != SIZE_MAX && l <= size - off - 4 && (e->key[i] = malloc(l + 1));
        if (ok) {
            memcpy(e->key[i], buf + off + 4, l);
            e->key[i][l] = '\0';
            off += 4 + l;
        }
    }
    ok = ok && off + 16 <= size && test_le(buf + off, 8) == size - off - 16;
    if (ok) {
        e->len = size - off - 16;
        e->payload = malloc(e->len ? e->len : 1);
        ok = e->payload != NULL;
        if (ok)
            memcpy(e->payload, buf + off + 16, e->len);
    }
    free(buf);
    if (!ok)
        test_entry_free(e);
    return ok;
}

/* Store payload under e's key in dir (a valid checksum: the cache's own writer). */
static inline hg_status test_entry_store(const char *dir, const test_entry *e,
                                         const void *payload, size_t len, hg_error *err)
{
    return hg__cache_store(dir, (const char *const *)e->key, e->nkey, payload, len, err);
}

/* ---- the engine's log ---------------------------------------------------------------- */

typedef struct test_log {
    pthread_mutex_t lock;
    char            text[65536]; /* every message, one per line */
    size_t          used;
} test_log;

static inline void test_log_init(test_log *lg)
{
    memset(lg, 0, sizeof *lg);
    pthread_mutex_init(&lg->lock, NULL);
}

static inline void test_log_fn(void *user, hg_log_level level, const char *message)
{
    test_log *lg = user;
    pthread_mutex_lock(&lg->lock);
    int k = snprintf(lg->text + lg->used, sizeof lg->text - lg->used, "%s: %s\n",
                     level == HG_LOG_WARN ? "warning" : level == HG_LOG_ERROR ? "error" : "info",
                     message);
    if (k > 0)
        lg->used += (size_t)k < sizeof lg->text - lg->used ? (size_t)k
                                                           : sizeof lg->text - lg->used - 1;
    pthread_mutex_unlock(&lg->lock);
}

/* Occurrences of needle in the log. */
static inline size_t test_log_count(test_log *lg, const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&lg->lock);
    for (const char *p = lg->text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    pthread_mutex_unlock(&lg->lock);
    return n;
}

static inline void test_log_clear(test_log *lg)
{
    pthread_mutex_lock(&lg->lock);
    lg->used = 0;
    lg->text[0] = '\0';
    pthread_mutex_unlock(&lg->lock);
}

#endif /* HG_TEST_CACHE_ENTRY_H */
