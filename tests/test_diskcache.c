/* SPDX-License-Identifier: MIT */
/*
 * test_diskcache.c - the on-disk blob cache: round trips, misses, directory choice and
 * creation, every kind of damaged entry (each a miss with a reason, the file removed),
 * concurrent writers and a reader in separate processes, empty and large payloads.
 *
 * Everything happens under one mkdtemp directory in /tmp, created before the tests and
 * removed after them (unchecked fixture, so it is removed even when a test fails).
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diskcache.h"

static char root[64];   /* the mkdtemp directory */

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char *sub = hg__asprintf("%s/%s", path, e->d_name);
                if (sub)
                    remove_tree(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/hg-diskcache-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_root(void)
{
    if (root[0])
        remove_tree(root);
}

/* A fresh directory for one test, malloc'ed: "<root>/<name>". */
static char *test_dir(const char *name)
{
    char *d = hg__asprintf("%s/%s", root, name);
    ck_assert_ptr_nonnull(d);
    remove_tree(d);
    return d;
}

/* The entry's file name, computed independently of diskcache.c from the documented rule. */
static char *entry_file(const char *dir, const char *const *key, size_t nkey)
{
    uint64_t h = HG__FNV_INIT;
    for (size_t i = 0; i < nkey; i++)
        h = hg__fnv1a(h, key[i], strlen(key[i]) + 1);
    char *p = hg__asprintf("%s/%s-%016llx.bin", dir, key[0], (unsigned long long)h);
    ck_assert_ptr_nonnull(p);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* Overwrite one byte of path at off with v. */
static void poke(const char *path, off_t off, unsigned char v)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &v, 1, off), 1);
    close(fd);
}

static unsigned char peek(const char *path, off_t off)
{
    unsigned char v = 0;
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &v, 1, off), 1);
    close(fd);
    return v;
}

static const char *const KEY[] = {"profile", "Portable Computing Language", "cpu-skylake",
                                  "6.0", "gemm:f32"};
enum { NKEY = 5 };

static void store_ok(const char *dir, const char *const *key, size_t nkey, const void *data,
                     size_t len)
{
    hg_error e;
    hg_status st = hg__cache_store(dir, key, nkey, data, len, &e);
    ck_assert_msg(st == HG_OK, "store: %s", e.message);
    ck_assert_int_eq(e.status, HG_OK);
}

/* Load that must be a miss because the entry was bad for reason want_why, then gone. */
static void expect_bad(const char *dir, const char *const *key, size_t nkey, size_t max_len,
                       const char *want_why)
{
    char *path = entry_file(dir, key, nkey);
    ck_assert(exists(path));
    void *data = (void *)1;
    size_t len = 99;
    bool found = true;
    const char *why = NULL;
    hg_error e;
    ck_assert_int_eq(hg__cache_load(dir, key, nkey, max_len, &data, &len, &found, &why, &e),
                     HG_OK);
    ck_assert(!found);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(why, want_why);
    ck_assert_msg(!exists(path), "bad entry %s was not removed", path);
    /* and now it is a plain miss */
    ck_assert_int_eq(hg__cache_load(dir, key, nkey, max_len, &data, &len, &found, &why, &e),
                     HG_OK);
    ck_assert(!found);
    ck_assert_ptr_null(why);
    free(path);
}

/* ---- basics -------------------------------------------------------------------------- */

START_TEST(round_trip)
{
    char *dir = test_dir("rt");
    const char blob[] = "cost profile: 1.25 GFLOP/s";
    store_ok(dir, KEY, NKEY, blob, sizeof blob);

    void *data = NULL;
    size_t len = 0;
    bool found = false;
    const char *why = "x";
    hg_error e;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, &why, &e),
                     HG_OK);
    ck_assert(found);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(len, sizeof blob);
    ck_assert_mem_eq(data, blob, sizeof blob);
    free(data);

    /* the file has the documented name, mode 0600, and nothing else is left around */
    char *path = entry_file(dir, KEY, NKEY);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_eq(count_entries(dir), 1);
    ck_assert_uint_eq(peek(path, 0), 'H');

    /* replacing the entry */
    const char blob2[] = "second";
    store_ok(dir, KEY, NKEY, blob2, sizeof blob2);
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, NULL, &e),
                     HG_OK);
    ck_assert(found);
    ck_assert_uint_eq(len, sizeof blob2);
    ck_assert_mem_eq(data, blob2, sizeof blob2);
    free(data);
    ck_assert_uint_eq(count_entries(dir), 1);
    free(path);
    free(dir);
}
END_TEST

START_TEST(miss)
{
    char *dir = test_dir("miss");
    void *data = (void *)1;
    size_t len = 5;
    bool found = true;
    const char *why = "x";
    hg_error e;
    /* the directory does not even exist yet */
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, &why, &e),
                     HG_OK);
    ck_assert(!found);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(why);
    ck_assert_int_eq(e.status, HG_OK);

    /* another key in the same directory: still a miss, the other entry untouched */
    store_ok(dir, KEY, NKEY, "abc", 3);
    const char *const other[] = {"profile", "Portable Computing Language", "cpu-skylake",
                                 "6.1", "gemm:f32"};
    ck_assert_int_eq(hg__cache_load(dir, other, NKEY, SIZE_MAX, &data, &len, &found, &why,
                                    &e), HG_OK);
    ck_assert(!found);
    ck_assert_ptr_null(why);
    /* a key that is a prefix of a stored one is another key */
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY - 1, SIZE_MAX, &data, &len, &found, &why,
                                    &e), HG_OK);
    ck_assert(!found);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(count_entries(dir), 1);
    free(dir);
}
END_TEST

START_TEST(file_names)
{
    char *dir = test_dir("names");
    /* field boundaries matter: ("ab","c") and ("a","bc") are two entries */
    const char *const k1[] = {"program", "ab", "c"};
    const char *const k2[] = {"program", "a", "bc"};
    store_ok(dir, k1, 3, "1", 1);
    store_ok(dir, k2, 3, "2", 1);
    ck_assert_uint_eq(count_entries(dir), 2);

    /* the kind is sanitised to [a-z0-9_-] and used as the file name's prefix */
    const char *const k3[] = {"Prog ram/v2.x", "dev"};
    store_ok(dir, k3, 2, "3", 1);
    uint64_t h = HG__FNV_INIT;
    h = hg__fnv1a(h, k3[0], strlen(k3[0]) + 1);
    h = hg__fnv1a(h, k3[1], strlen(k3[1]) + 1);
    char *p = hg__asprintf("%s/prog_ram_v2_x-%016llx.bin", dir, (unsigned long long)h);
    ck_assert(exists(p));
    free(p);
    free(dir);
}
END_TEST

START_TEST(creates_nested_directories)
{
    char *top = test_dir("nested");
    char *dir = hg__asprintf("%s/a/b//c/", top);
    store_ok(dir, KEY, NKEY, "x", 1);
    char *c = hg__asprintf("%s/a/b/c", top);
    struct stat st;
    ck_assert_int_eq(stat(c, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0077, 0);    /* 0700, less the umask */
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    ck_assert_int_eq(hg__cache_load(c, KEY, NKEY, SIZE_MAX, &data, &len, &found, NULL, NULL),
                     HG_OK);
    ck_assert(found);
    ck_assert_uint_eq(len, 1);
    free(data);
    /* storing again into the existing tree is fine */
    store_ok(dir, KEY, NKEY, "y", 1);
    free(c);
    free(dir);
    free(top);
}
END_TEST

START_TEST(cache_dir_precedence)
{
    /* runs in its own forked process, so changing the environment is harmless */
    hg_error e;
    setenv("HETGRAD_CACHE_DIR", "/x/hg", 1);
    setenv("XDG_CACHE_HOME", "/x/xdg", 1);
    setenv("HOME", "/x/home", 1);

    char *d = hg__cache_dir("/explicit", &e);
    ck_assert_str_eq(d, "/explicit");
    free(d);
    d = hg__cache_dir(NULL, &e);
    ck_assert_str_eq(d, "/x/hg");
    free(d);
    d = hg__cache_dir("", &e);                  /* empty explicit: as if not given */
    ck_assert_str_eq(d, "/x/hg");
    free(d);

    unsetenv("HETGRAD_CACHE_DIR");
    d = hg__cache_dir(NULL, &e);
    ck_assert_str_eq(d, "/x/xdg/hetgrad");
    free(d);
    setenv("HETGRAD_CACHE_DIR", "", 1);         /* empty counts as unset */
    d = hg__cache_dir(NULL, &e);
    ck_assert_str_eq(d, "/x/xdg/hetgrad");
    free(d);

    unsetenv("XDG_CACHE_HOME");
    d = hg__cache_dir(NULL, &e);
    ck_assert_str_eq(d, "/x/home/.cache/hetgrad");
    free(d);
    setenv("XDG_CACHE_HOME", "relative/xdg", 1); /* XDG spec: relative paths are ignored */
    d = hg__cache_dir(NULL, &e);
    ck_assert_str_eq(d, "/x/home/.cache/hetgrad");
    free(d);

    unsetenv("XDG_CACHE_HOME");
    unsetenv("HETGRAD_CACHE_DIR");
    unsetenv("HOME");
    d = hg__cache_dir(NULL, &e);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(e.status, HG_IO);
    ck_assert_ptr_nonnull(strstr(e.message, "HETGRAD_CACHE_DIR"));
    d = hg__cache_dir("/still/explicit", &e);
    ck_assert_str_eq(d, "/still/explicit");
    ck_assert_int_eq(e.status, HG_OK);
    free(d);
}
END_TEST

START_TEST(empty_payload)
{
    char *dir = test_dir("empty");
    store_ok(dir, KEY, NKEY, NULL, 0);
    void *data = NULL;
    size_t len = 7;
    bool found = false;
    hg_error e;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, 0, &data, &len, &found, NULL, &e), HG_OK);
    ck_assert(found);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(data);                /* a hit always gives something to free */
    free(data);
    store_ok(dir, KEY, NKEY, "", 0);
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, 0, &data, &len, &found, NULL, &e), HG_OK);
    ck_assert(found);
    free(data);
    free(dir);
}
END_TEST

START_TEST(large_payload)
{
    char *dir = test_dir("large");
    size_t n = (size_t)8 << 20;
    unsigned char *blob = malloc(n);
    ck_assert_ptr_nonnull(blob);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        blob[i] = (unsigned char)(x >> 24);
    }
    store_ok(dir, KEY, NKEY, blob, n);
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    hg_error e;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, n, &data, &len, &found, NULL, &e), HG_OK);
    ck_assert(found);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(data, blob, n) == 0);
    free(data);
    /* one byte under the limit: removed as too large */
    expect_bad(dir, KEY, NKEY, n - 1, "payload over max_len");
    free(blob);
    free(dir);
}
END_TEST

START_TEST(bad_arguments_and_io_errors)
{
    char *dir = test_dir("args");
    hg_error e;
    void *data;
    size_t len;
    bool found;
    const char *const nullfield[] = {"profile", NULL};
    ck_assert_int_eq(hg__cache_store(dir, KEY, 0, "x", 1, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__cache_store(NULL, KEY, NKEY, "x", 1, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__cache_store(dir, nullfield, 2, "x", 1, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__cache_store(dir, KEY, NKEY, NULL, 1, &e), HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__cache_load(dir, KEY, 0, 9, &data, &len, &found, NULL, &e),
                     HG_INVALID_ARGUMENT);
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, 9, NULL, &len, &found, NULL, &e),
                     HG_INVALID_ARGUMENT);

    /* the "directory" is a regular file: real I/O errors, not misses */
    int fd = open(dir, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(hg__cache_store(dir, KEY, NKEY, "x", 1, &e), HG_IO);
    ck_assert_int_eq(e.status, HG_IO);
    ck_assert_ptr_nonnull(strstr(e.message, dir));
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, 9, &data, &len, &found, NULL, &e), HG_IO);
    ck_assert(!found);
    ck_assert_ptr_nonnull(strstr(e.message, dir));

    /* the entry's name is a directory */
    char *dir2 = test_dir("args2");
    store_ok(dir2, KEY, NKEY, "x", 1);
    char *path = entry_file(dir2, KEY, NKEY);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(hg__cache_load(dir2, KEY, NKEY, 9, &data, &len, &found, NULL, &e), HG_IO);
    ck_assert(exists(path));                    /* not ours to remove */
    ck_assert_int_eq(hg__cache_store(dir2, KEY, NKEY, "x", 1, &e), HG_IO);
    ck_assert_uint_eq(count_entries(dir2), 1);  /* no temporary file left behind */
    free(path);
    free(dir2);
    free(dir);
}
END_TEST

/* ---- damaged entries ----------------------------------------------------------------- */

static const char PAYLOAD[] = "0123456789abcdefghijklmnopqrstuvwxyz";

START_TEST(checksum_mismatch)
{
    char *dir = test_dir("sum");
    char *path = entry_file(dir, KEY, NKEY);
    /* flip a byte at the start, middle and end of the payload */
    for (off_t back = 1; back <= (off_t)sizeof PAYLOAD; back += 17) {
        store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
        off_t off = file_size(path) - back;
        poke(path, off, (unsigned char)(peek(path, off) ^ 0x01));
        expect_bad(dir, KEY, NKEY, SIZE_MAX, "checksum mismatch");
    }
    /* or the stored checksum itself (the 8 bytes before the payload) */
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    off_t off = file_size(path) - (off_t)sizeof PAYLOAD - 1;
    poke(path, off, (unsigned char)(peek(path, off) ^ 0x80));
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "checksum mismatch");
    free(path);
    free(dir);
}
END_TEST

START_TEST(truncated)
{
    char *dir = test_dir("trunc");
    char *path = entry_file(dir, KEY, NKEY);
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    off_t full = file_size(path);
    off_t header = full - (off_t)sizeof PAYLOAD;
    /* nothing, inside magic, after magic, inside version, in the key, before and after
       the length, just the header, all but one byte */
    const off_t cuts[] = {0, 1, 7, 8, 10, 12, 16, 20, header / 2, header - 16, header - 9,
                          header - 8, header - 1, header, header + 1, full - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
        ck_assert_int_eq(truncate(path, cuts[i]), 0);
        expect_bad(dir, KEY, NKEY, SIZE_MAX, "truncated");
    }
    /* a damaged length saying more than the file holds is "truncated" too, and does not
       make the reader allocate it */
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    poke(path, header - 9, 0x7f);               /* top byte of the u64 length */
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "truncated");
    /* and trailing bytes after the payload are a length mismatch */
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    poke(path, full, 'z');
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "length mismatch");
    free(path);
    free(dir);
}
END_TEST

START_TEST(wrong_magic_and_version)
{
    char *dir = test_dir("magic");
    char *path = entry_file(dir, KEY, NKEY);
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    poke(path, 0, 'X');
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "bad magic");
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    poke(path, 7, '2');                         /* "HGCACHE2" */
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "bad magic");
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    ck_assert_uint_eq(peek(path, 8), 1);        /* version 1, little-endian */
    poke(path, 8, 2);
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "unsupported version");

    /* a foreign file that happens to have the name */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    const char junk[] = "#!/bin/sh\necho this is not a cache entry\n";
    ck_assert_int_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    expect_bad(dir, KEY, NKEY, SIZE_MAX, "bad magic");
    free(path);
    free(dir);
}
END_TEST

START_TEST(key_mismatch)
{
    char *dir = test_dir("collide");
    const char *const a[] = {"program", "dev-A", "src-hash-1"};
    const char *const b[] = {"program", "dev-B", "src-hash-1"};
    char *pa = entry_file(dir, a, 3);
    char *pb = entry_file(dir, b, 3);
    ck_assert_str_ne(pa, pb);
    /* simulate a hash collision: A's entry under B's name */
    store_ok(dir, a, 3, PAYLOAD, sizeof PAYLOAD);
    ck_assert_int_eq(rename(pa, pb), 0);
    expect_bad(dir, b, 3, SIZE_MAX, "key mismatch");

    /* different number of fields */
    const char *const c[] = {"program", "dev-B"};
    char *pc = entry_file(dir, c, 2);
    store_ok(dir, a, 3, PAYLOAD, sizeof PAYLOAD);
    ck_assert_int_eq(rename(pa, pc), 0);
    expect_bad(dir, c, 2, SIZE_MAX, "key mismatch");

    /* a flipped byte inside the stored key */
    store_ok(dir, a, 3, PAYLOAD, sizeof PAYLOAD);
    poke(pa, 16 + 4 + 2, 'X');                  /* inside "program" */
    expect_bad(dir, a, 3, SIZE_MAX, "key mismatch");
    free(pc);
    free(pb);
    free(pa);
    free(dir);
}
END_TEST

START_TEST(over_max_len)
{
    char *dir = test_dir("max");
    char *path = entry_file(dir, KEY, NKEY);
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, sizeof PAYLOAD, &data, &len, &found,
                                    NULL, NULL), HG_OK);
    ck_assert(found);                           /* exactly max_len is fine */
    free(data);
    expect_bad(dir, KEY, NKEY, sizeof PAYLOAD - 1, "payload over max_len");
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    expect_bad(dir, KEY, NKEY, 0, "payload over max_len");
    free(path);
    free(dir);
}
END_TEST

/* ---- what the cache refuses to trust -------------------------------------------------- */

/* A load that must be refused (HG_IO naming want) and must not remove or change anything. */
static void expect_refused_load(const char *dir, const char *want)
{
    void *data = (void *)1;
    size_t len = 9;
    bool found = true;
    const char *why = "x";
    hg_error e;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, &why, &e),
                     HG_IO);
    ck_assert(!found);
    ck_assert_ptr_null(data);
    ck_assert_ptr_null(why);
    ck_assert_msg(strstr(e.message, want) != NULL, "message '%s' lacks '%s'", e.message, want);
}

static void expect_refused_store(const char *dir, const char *want)
{
    hg_error e;
    ck_assert_int_eq(hg__cache_store(dir, KEY, NKEY, "new", 3, &e), HG_IO);
    ck_assert_msg(strstr(e.message, want) != NULL, "message '%s' lacks '%s'", e.message, want);
}

/*
 * Like ssh's StrictModes: a directory writable by group or others, or owned by another
 * user, is neither read nor written; an entry stored while it was trusted stays as it was.
 */
START_TEST(untrusted_directories)
{
    char *dir = test_dir("trust");
    char *path = entry_file(dir, KEY, NKEY);
    store_ok(dir, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    const off_t size = file_size(path);
    const mode_t modes[] = {0777, 0770, 0730, 0702, 01777};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        ck_assert_int_eq(chmod(dir, modes[i]), 0);
        expect_refused_load(dir, "writable by group or others");
        expect_refused_store(dir, "writable by group or others");
        ck_assert_uint_eq(count_entries(dir), 1);   /* nothing written, nothing removed */
        ck_assert_int_eq(file_size(path), size);
    }
    /* readable by others is fine: only writing matters */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    hg_error e;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, NULL, &e),
                     HG_OK);
    ck_assert(found);
    ck_assert_mem_eq(data, PAYLOAD, sizeof PAYLOAD);
    free(data);

    /* owned by another user: refused even by root (who could write there) */
    if (geteuid() == 0) {
        ck_assert_int_eq(chmod(dir, 0700), 0);
        ck_assert_int_eq(chown(dir, 65534, 65534), 0);
        expect_refused_load(dir, "owned by uid 65534");
        expect_refused_store(dir, "owned by uid 65534");
        ck_assert_uint_eq(count_entries(dir), 1);
        /* a directory the cache created (below the user's own) is checked the same way */
        char *sub = hg__asprintf("%s/sub", dir);
        ck_assert_int_eq(chown(dir, 0, 0), 0);
        store_ok(sub, KEY, NKEY, "x", 1);
        ck_assert_int_eq(chown(sub, 65534, 65534), 0);
        expect_refused_load(sub, "owned by uid 65534");
        expect_refused_store(sub, "owned by uid 65534");
        free(sub);
    } else {
        printf("untrusted_directories: SKIPPED the case of a directory owned by another "
               "user: chown needs root (uid %u)\n", (unsigned)geteuid());
    }
    free(path);
    free(dir);
}
END_TEST

/*
 * A FIFO, a symbolic link or a socket named like an entry: loading neither blocks nor
 * follows it, storing does not replace it, and it is left in place.
 */
START_TEST(special_files_named_like_entries)
{
    char *dir = test_dir("special");
    char *path = entry_file(dir, KEY, NKEY);
    store_ok(dir, KEY, NKEY, "x", 1);

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    expect_refused_load(dir, "not a regular file");  /* would block in open() forever */
    expect_refused_store(dir, "not a regular file");
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_uint_eq(count_entries(dir), 1);          /* no temporary file left behind */

    /* a symbolic link to a perfectly good entry elsewhere is not followed */
    char *other = test_dir("special-target");
    store_ok(other, KEY, NKEY, PAYLOAD, sizeof PAYLOAD);
    char *target = entry_file(other, KEY, NKEY);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(symlink(target, path), 0);
    expect_refused_load(dir, "symbolic link");
    expect_refused_store(dir, "not a regular file");
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    ck_assert_int_eq(hg__cache_load(other, KEY, NKEY, SIZE_MAX, &data, &len, &found, NULL,
                                    NULL), HG_OK);
    ck_assert(found);                                   /* the target is intact */
    ck_assert_uint_eq(len, sizeof PAYLOAD);
    free(data);

    /* a dangling link is not created through either */
    ck_assert_int_eq(unlink(path), 0);
    char *nowhere = hg__asprintf("%s/created-through-link", root);
    ck_assert_int_eq(symlink(nowhere, path), 0);
    expect_refused_load(dir, "symbolic link");
    expect_refused_store(dir, "not a regular file");
    ck_assert(!exists(nowhere));
    free(nowhere);
    free(target);
    free(other);
    free(path);
    free(dir);
}
END_TEST

/* ---- concurrency --------------------------------------------------------------------- */

enum { WRITERS = 4, STORES = 200 };

/*
 * Payload of writer w, store i: a 16-byte header (w, i, size) then bytes derived from
 * them, so a reader can recheck the whole content on its own.  Sizes vary from 1 KiB to
 * about 65 KiB so that a torn file would show.
 */
static size_t payload_size(uint32_t w, uint32_t i)
{
    return 1024 + (size_t)((w * 7919u + i * 104729u) % 65536u);
}

static void fill_payload(unsigned char *p, size_t n, uint32_t w, uint32_t i)
{
    uint32_t x = w * 2654435761u ^ (i + 1);
    memset(p, 0, 16);
    memcpy(p, &w, 4);
    memcpy(p + 4, &i, 4);
    memcpy(p + 8, &n, sizeof n < 8 ? sizeof n : 8);
    for (size_t k = 16; k < n; k++) {
        x = x * 1664525u + 1013904223u;
        p[k] = (unsigned char)(x >> 24);
    }
}

/* 0 when p is a payload fill_payload could have made. */
static int check_payload(const unsigned char *p, size_t n)
{
    if (n < 16)
        return 1;
    uint32_t w, i;
    memcpy(&w, p, 4);
    memcpy(&i, p + 4, 4);
    if (w >= WRITERS || i >= STORES || payload_size(w, i) != n)
        return 2;
    unsigned char *want = malloc(n);
    if (!want)
        return 3;
    fill_payload(want, n, w, i);
    int bad = memcmp(want, p, n) != 0;
    free(want);
    return bad ? 4 : 0;
}

static void writer(const char *dir, uint32_t w)
{
    unsigned char *buf = malloc(payload_size(0, 0) + 65536);
    if (!buf)
        _exit(10);
    for (uint32_t i = 0; i < STORES; i++) {
        size_t n = payload_size(w, i);
        fill_payload(buf, n, w, i);
        if (hg__cache_store(dir, KEY, NKEY, buf, n, NULL) != HG_OK)
            _exit(11);
    }
    free(buf);
    _exit(0);
}

/*
 * Load until stop_file exists, then once more.  Exit codes: 0 fine, 20 load error,
 * 21 a bad entry was reported, 22 a miss after a hit, 23 wrong content, 24 no hit at all.
 */
static void reader(const char *dir, const char *stop_file)
{
    bool seen = false;
    for (;;) {
        bool last = exists(stop_file);
        void *data = NULL;
        size_t len = 0;
        bool found = false;
        const char *why = NULL;
        if (hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, &why, NULL) != HG_OK)
            _exit(20);
        if (why) {
            fprintf(stderr, "reader: bad entry: %s\n", why);
            _exit(21);
        }
        if (!found && seen)
            _exit(22);
        if (found) {
            seen = true;
            if (check_payload(data, len) != 0)
                _exit(23);
        }
        free(data);
        if (last)
            _exit(seen ? 0 : 24);
    }
}

START_TEST(concurrent_writers_and_reader)
{
    char *dir = test_dir("conc");
    char *stop = hg__asprintf("%s/conc-stop", root);
    ck_assert_ptr_nonnull(stop);
    unlink(stop);

    pid_t rd = fork();
    ck_assert_int_ge(rd, 0);
    if (rd == 0)
        reader(dir, stop);
    pid_t wr[WRITERS];
    for (uint32_t w = 0; w < WRITERS; w++) {
        wr[w] = fork();
        ck_assert_int_ge(wr[w], 0);
        if (wr[w] == 0)
            writer(dir, w);
    }
    for (uint32_t w = 0; w < WRITERS; w++) {
        int status = 0;
        ck_assert_int_eq(waitpid(wr[w], &status, 0), wr[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %u: status %d", (unsigned)w, status);
    }
    int fd = open(stop, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    int status = 0;
    ck_assert_int_eq(waitpid(rd, &status, 0), rd);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader: status %d",
                  status);

    /* one entry, no temporary files left, and it is one of the last stores */
    ck_assert_uint_eq(count_entries(dir), 1);
    void *data = NULL;
    size_t len = 0;
    bool found = false;
    ck_assert_int_eq(hg__cache_load(dir, KEY, NKEY, SIZE_MAX, &data, &len, &found, NULL,
                                    NULL), HG_OK);
    ck_assert(found);
    ck_assert_int_eq(check_payload(data, len), 0);
    uint32_t i;
    memcpy(&i, (unsigned char *)data + 4, 4);
    ck_assert_uint_eq(i, STORES - 1);
    free(data);
    free(stop);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diskcache");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, make_root, remove_root);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, miss);
    tcase_add_test(tc, file_names);
    tcase_add_test(tc, creates_nested_directories);
    tcase_add_test(tc, cache_dir_precedence);
    tcase_add_test(tc, empty_payload);
    tcase_add_test(tc, large_payload);
    tcase_add_test(tc, bad_arguments_and_io_errors);
    tcase_add_test(tc, checksum_mismatch);
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, wrong_magic_and_version);
    tcase_add_test(tc, key_mismatch);
    tcase_add_test(tc, over_max_len);
    suite_add_tcase(s, tc);

    /* Its own case and a short timeout: before the fix, loading a FIFO blocked forever. */
    TCase *tcs = tcase_create("trust");
    tcase_add_unchecked_fixture(tcs, make_root, remove_root);
    tcase_set_timeout(tcs, 20);
    tcase_add_test(tcs, untrusted_directories);
    tcase_add_test(tcs, special_files_named_like_entries);
    suite_add_tcase(s, tcs);

    TCase *tcc = tcase_create("concurrency");
    tcase_add_unchecked_fixture(tcc, make_root, remove_root);
    tcase_set_timeout(tcc, 120);
    tcase_add_test(tcc, concurrent_writers_and_reader);
    suite_add_tcase(s, tcc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
