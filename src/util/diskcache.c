/* SPDX-License-Identifier: MIT */
/*
 * diskcache.c - a small on-disk cache of keyed blobs (device cost profiles, compiled
 * OpenCL program binaries).  No OpenCL here.
 *
 * One entry per key, in the file "<kind>-<hash>.bin" of the cache directory, where kind is
 * key[0] lower-cased with every byte outside [a-z0-9_-] replaced by '_' (at most 32
 * bytes; "blob" when empty) and hash is the 64-bit FNV-1a over every key field followed by
 * its NUL, printed as 16 lower-case hex digits.  All integers are little-endian:
 *
 *   offset  size  field
 *   0       8     magic "HGCACHE1" (no NUL)
 *   8       4     format version, u32 = 1
 *   12      4     number of key fields n, u32
 *   16      ...   n times: field length L, u32, then the L bytes of the field (no NUL)
 *   H-16    8     payload length P, u64        (H = 16 + sum of (4 + L) + 16)
 *   H-8     8     FNV-1a 64 of the payload, u64 (offset basis 0xcbf29ce484222325)
 *   H       P     payload
 *
 * The file is exactly H + P bytes.  The full key is stored, so two keys whose names
 * collide are told apart ("key mismatch") instead of one being served the other's blob.
 *
 * Trust (as ssh's StrictModes): the directory is opened once per call and checked through
 * that descriptor - it must be owned by the effective user (or root) and writable by
 * nobody else - and every entry is then opened relative to the descriptor (openat), so
 * the directory checked is the directory used.  Entries are opened with O_NOFOLLOW and
 * O_NONBLOCK and must be regular files: a symbolic link is not followed, and a FIFO never
 * blocks the process.  A file of another type at an entry's name is left alone, by readers
 * and writers.
 *
 * Writers: the entry is written to a new temporary file ".<name>.tmp-<16 hex digits>"
 * (O_CREAT | O_EXCL, mode 0600) in the cache directory, fsync'ed, then renamed over the
 * final name.  rename is atomic within a file system, so a reader opens either a complete
 * old entry or a complete new one; concurrent writers of one key simply race and the last
 * rename wins.  The directory itself is not fsync'ed: after a crash an entry may be
 * missing, which only costs a recalibration.  A writer killed between creating and
 * renaming leaves its hidden temporary file behind; nothing reads it.
 *
 * Readers: open, then validate magic, version, key, length against the file size, the
 * caller's max_len, and the checksum, in that order.  The first failure makes the load a
 * miss with a static reason, and the file is unlinked - but only while the name still
 * refers to the file that was read, so a good entry renamed into place meanwhile by a
 * writer survives (the window between that check and unlink is tiny and harmless: the
 * worst case is one extra recompilation).  Only bytes of the size the requested key
 * implies are read before the payload, and the payload is allocated only after its length
 * matched the file size and max_len, so a damaged header cannot cause a huge allocation.
 *
 * A valid checksum says the entry is whole, not that its content is right: the callers
 * check what they load (program.c, profile.c: every kernel's gradient on first use).
 *
 * No global state: safe from several threads and processes at once.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "diskcache.h"

#define MAGIC         "HGCACHE1"
#define MAGIC_LEN     8
#define VERSION       1u
#define KIND_MAX      32
#define TAIL_LEN      16 /* payload length + checksum */
#define TMP_TRIES     64 /* names tried for a temporary file */

/* ---- helpers ------------------------------------------------------------------------- */

static hg_status io_fail(hg_error *err, const char *what, const char *path, int errnum)
{
    char buf[128];
    if (strerror_r(errnum, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "errno %d", errnum);
    return hg__error_set(err, HG_IO, 0, "disk cache: %s '%s': %s", what, path, buf);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* HG_INVALID_ARGUMENT unless dir and every key field are present and encodable. */
static hg_status check_key(const char *fn, const char *dir, const char *const *key,
                           size_t nkey, hg_error *err)
{
    if (!dir || !key || nkey == 0 || nkey > UINT32_MAX)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: need a directory and at least one key field", fn);
    for (size_t i = 0; i < nkey; i++) {
        if (!key[i])
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: key field %zu is NULL",
                                 fn, i);
        if (strlen(key[i]) > UINT32_MAX)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "%s: key field %zu too long",
                                 fn, i);
    }
    return HG_OK;
}

/* "<kind>-<hash>.bin", malloc'ed; NULL on allocation failure. */
static char *entry_name(const char *const *key, size_t nkey)
{
    char kind[KIND_MAX + 1];
    size_t k = 0;
    for (const char *s = key[0]; *s && k < KIND_MAX; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        kind[k++] = ok ? c : '_';
    }
    kind[k] = '\0';
    uint64_t h = HG__FNV_INIT;
    for (size_t i = 0; i < nkey; i++)
        h = hg__fnv1a(h, key[i], strlen(key[i]) + 1);
    return hg__asprintf("%s-%016llx.bin", k ? kind : "blob", (unsigned long long)h);
}

/*
 * The header for key with payload length len and checksum sum, malloc'ed, its size in
 * *size; NULL on allocation failure.  The key must have passed check_key.
 */
static unsigned char *build_header(const char *const *key, size_t nkey, uint64_t len,
                                   uint64_t sum, size_t *size)
{
    size_t n = MAGIC_LEN + 4 + 4 + TAIL_LEN;
    for (size_t i = 0; i < nkey; i++) {
        size_t l = strlen(key[i]);
        if (l > SIZE_MAX - n - 4)
            return NULL;
        n += 4 + l;
    }
    unsigned char *h = malloc(n);
    if (!h)
        return NULL;
    unsigned char *p = h;
    memcpy(p, MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    put_u32(p, VERSION);
    p += 4;
    put_u32(p, (uint32_t)nkey);
    p += 4;
    for (size_t i = 0; i < nkey; i++) {
        size_t l = strlen(key[i]);
        put_u32(p, (uint32_t)l);
        p += 4;
        memcpy(p, key[i], l);
        p += l;
    }
    put_u64(p, len);
    put_u64(p + 8, sum);
    *size = n;
    return h;
}

/* Write all n bytes; false with errno set on failure. */
static bool write_all(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read up to n bytes, stopping early only at end of file; -1 with errno on error. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* mkdir -p with mode 0700 for the directories it creates; errno set on failure. */
static bool make_dirs(char *path)
{
    size_t n = strlen(path);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        if (path[i - 1] == '/')
            continue;               /* "a//b": the prefix "a/" was done already */
        char saved = path[i];
        path[i] = '\0';
        int rc = mkdir(path, 0700);
        int e = errno;
        if (rc != 0 && e != EEXIST) {
            /* e.g. EACCES or EROFS on an existing parent: fine if it is a directory */
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                path[i] = saved;
                errno = e;
                return false;
            }
        }
        path[i] = saved;
    }
    return true;
}

/* ---- directory ----------------------------------------------------------------------- */

/*
 * Whether the directory with status st may hold the cache: owned by the effective user
 * or root, and writable by nobody else.  HG_OK, or HG_IO saying why not.
 */
static hg_status check_trust(const char *dir, const struct stat *st, hg_error *err)
{
    uid_t me = geteuid();
    if (!S_ISDIR(st->st_mode))
        return io_fail(err, "not a directory:", dir, ENOTDIR);
    if (st->st_uid != me && st->st_uid != 0)
        return hg__error_set(err, HG_IO, 0,
                             "disk cache: directory '%s' is owned by uid %u, not by this "
                             "user (uid %u): not used", dir, (unsigned)st->st_uid,
                             (unsigned)me);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return hg__error_set(err, HG_IO, 0,
                             "disk cache: directory '%s' is writable by group or others "
                             "(mode %04o): not used; 'chmod go-w' it or choose another",
                             dir, (unsigned)(st->st_mode & 07777));
    return HG_OK;
}

hg_status hg__cache_check_dir(const char *dir, hg_error *err)
{
    hg_error_clear(err);
    if (!dir || !*dir)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0, "hg__cache_check_dir: no directory");
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? HG_OK : io_fail(err, "cannot stat", dir, errno);
    return check_trust(dir, &st, err);
}

/*
 * Open dir (O_DIRECTORY) into *dfd and check that it may be trusted.  HG_OK with *dfd = -1
 * when it does not exist; HG_IO (untrusted, not a directory, other errors) with *dfd = -1.
 */
static hg_status open_dir(const char *dir, int *dfd, hg_error *err)
{
    *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd < 0)
        return errno == ENOENT ? HG_OK : io_fail(err, "cannot open directory", dir, errno);
    struct stat st;
    hg_status s = fstat(*dfd, &st) != 0 ? io_fail(err, "cannot stat", dir, errno)
                                        : check_trust(dir, &st, err);
    if (s != HG_OK) {
        close(*dfd);
        *dfd = -1;
    }
    return s;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

char *hg__cache_dir(const char *explicit_dir, hg_error *err)
{
    hg_error_clear(err);
    char *dir;
    const char *v;
    if (explicit_dir && *explicit_dir)
        dir = hg__strdup(explicit_dir);
    else if ((v = env_nonempty("HETGRAD_CACHE_DIR")))
        dir = hg__strdup(v);
    else if ((v = env_nonempty("XDG_CACHE_HOME")) && v[0] == '/')
        dir = hg__asprintf("%s/hetgrad", v);
    else if ((v = env_nonempty("HOME")))
        dir = hg__asprintf("%s/.cache/hetgrad", v);
    else {
        hg__error_set(err, HG_IO, 0,
                      "disk cache: no cache directory: set HETGRAD_CACHE_DIR, "
                      "XDG_CACHE_HOME or HOME");
        return NULL;
    }
    if (!dir)
        hg__error_set(err, HG_OUT_OF_MEMORY, 0, "disk cache: out of memory");
    return dir;
}

/* ---- store --------------------------------------------------------------------------- */

/*
 * Create a new temporary file ".<name>.tmp-<16 hex>" in the directory dfd (O_EXCL, no
 * links followed, mode 0600); its name goes to tmp (tmp_n bytes).  -1 with errno on
 * failure.
 */
static int create_temp(int dfd, const char *name, char *tmp, size_t tmp_n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    seed ^= (uint64_t)getpid() << 32;
    seed ^= (uint64_t)(uintptr_t)&ts; /* differs between threads */
    for (int i = 0; i < TMP_TRIES; i++) {
        seed = hg__fnv1a(seed ^ HG__FNV_INIT, &i, sizeof i);
        snprintf(tmp, tmp_n, ".%s.tmp-%016llx", name, (unsigned long long)seed);
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/*
 * Write hdr and data to a new temporary file in the directory dfd (named dir in
 * messages), fsync it and rename it over name.  On failure the temporary file is removed
 * and HG_IO returned.
 */
static hg_status write_entry(int dfd, const char *dir, const char *name,
                             const unsigned char *hdr, size_t hlen, const void *data,
                             size_t len, hg_error *err)
{
    char tmp[KIND_MAX + 64];
    int fd = create_temp(dfd, name, tmp, sizeof tmp);
    if (fd < 0)
        return io_fail(err, "cannot create temporary file in", dir, errno);
    const char *what = NULL;
    if (!write_all(fd, hdr, hlen) || !write_all(fd, data, len))
        what = "cannot write";
    else if (fsync(fd) != 0)
        what = "cannot fsync";
    int e = errno;
    if (close(fd) != 0 && !what) {
        what = "cannot close";
        e = errno;
    }
    if (!what && renameat(dfd, tmp, dfd, name) != 0) {
        what = "cannot rename into place";
        e = errno;
    }
    if (!what)
        return HG_OK;
    (void)unlinkat(dfd, tmp, 0);
    char *path = hg__asprintf("%s/%s", dir, tmp);
    hg_status st = io_fail(err, what, path ? path : tmp, e);
    free(path);
    return st;
}

hg_status hg__cache_store(const char *dir, const char *const *key, size_t nkey,
                          const void *data, size_t len, hg_error *err)
{
    hg_error_clear(err);
    hg_status st = check_key("hg__cache_store", dir, key, nkey, err);
    if (st != HG_OK)
        return st;
    if (!data && len > 0)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg__cache_store: NULL data with length %zu", len);

    char *name = entry_name(key, nkey);
    char *dcopy = hg__strdup(dir);
    size_t hlen = 0;
    unsigned char *hdr = build_header(key, nkey, (uint64_t)len,
                                      hg__fnv1a(HG__FNV_INIT, data, len), &hlen);
    int dfd = -1;
    struct stat old;
    if (!name || !dcopy || !hdr) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "disk cache: out of memory");
    } else if (!make_dirs(dcopy)) {
        st = io_fail(err, "cannot create directory", dir, errno);
    } else if ((st = open_dir(dir, &dfd, err)) != HG_OK) {
        /* untrusted, or not a directory */
    } else if (dfd < 0) {
        st = io_fail(err, "cannot open directory", dir, ENOENT); /* removed meanwhile */
    } else if (fstatat(dfd, name, &old, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(old.st_mode)) {
        /* not ours to replace: a FIFO, a link, a directory someone put there */
        char *path = hg__asprintf("%s/%s", dir, name);
        st = hg__error_set(err, HG_IO, 0, "disk cache: '%s' is not a regular file: left "
                           "alone, nothing cached under its name",
                           path ? path : name);
        free(path);
    } else {
        st = write_entry(dfd, dir, name, hdr, hlen, data, len, err);
    }
    if (dfd >= 0)
        close(dfd);
    free(hdr);
    free(dcopy);
    free(name);
    return st;
}

/* ---- load ---------------------------------------------------------------------------- */

/*
 * Remove name from the directory dfd if it still names the file that was read (st: its
 * fstat); errors ignored.
 */
static void remove_bad(int dfd, const char *name, const struct stat *st)
{
    struct stat now;
    if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st->st_dev &&
        now.st_ino == st->st_ino)
        (void)unlinkat(dfd, name, 0);
}

/*
 * Open entry name of the directory dfd for reading, without following a link or
 * blocking on a FIFO, and check that it is a regular file that nobody but its owner (the
 * user or root) can write.  Returns the descriptor (blocking again), its fstat in *st;
 * -1 with *missing when there is no such entry; -1 with HG_IO in err otherwise (path:
 * its full name, for messages).  The file is never removed here.
 */
static int open_entry(int dfd, const char *name, const char *path, struct stat *st,
                      bool *missing, hg_error *err)
{
    *missing = false;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            *missing = true;
        else if (e == ELOOP)
            hg__error_set(err, HG_IO, 0, "disk cache: '%s' is a symbolic link: not followed",
                          path);
        else
            io_fail(err, "cannot open", path, e);
        return -1;
    }
    const char *bad = NULL;
    if (fstat(fd, st) != 0) {
        io_fail(err, "cannot stat", path, errno);
        bad = "";
    } else if (!S_ISREG(st->st_mode)) {
        bad = "is not a regular file (left alone)";
    } else if (st->st_uid != geteuid() && st->st_uid != 0) {
        bad = "is owned by another user (left alone)";
    } else if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        bad = "is writable by group or others (left alone)";
    } else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            io_fail(err, "cannot make blocking", path, errno);
            bad = "";
        }
    }
    if (bad) {
        if (*bad)
            hg__error_set(err, HG_IO, 0, "disk cache: '%s' %s", path, bad);
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Compare file bytes got[from .. to) with want; NULL when equal, "truncated" when the file
 * ended first, else bad.
 */
static const char *check_region(const unsigned char *got, size_t ngot,
                                const unsigned char *want, size_t from, size_t to,
                                const char *bad)
{
    size_t end = ngot < to ? ngot : to;
    if (end > from && memcmp(got + from, want + from, end - from) != 0)
        return bad;
    return ngot < to ? "truncated" : NULL;
}

/*
 * Read and validate the entry open as fd (size fsize) against the expected header want
 * (hlen bytes; its length and checksum fields are not compared).  On a valid entry sets
 * *payload (malloc'ed, never NULL) and *plen; on a bad one sets *bad; both return HG_OK.
 * HG_IO or HG_OUT_OF_MEMORY otherwise.
 */
static hg_status read_entry(int fd, const char *path, uint64_t fsize,
                            const unsigned char *want, size_t hlen, size_t max_len,
                            void **payload, size_t *plen, const char **bad, hg_error *err)
{
    unsigned char *got = malloc(hlen);
    if (!got)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "disk cache: out of memory");
    ssize_t r = read_full(fd, got, hlen);
    if (r < 0) {
        free(got);
        return io_fail(err, "cannot read", path, errno);
    }
    size_t ngot = (size_t)r;
    size_t key_end = hlen - TAIL_LEN;
    if ((*bad = check_region(got, ngot, want, 0, MAGIC_LEN, "bad magic")) ||
        (*bad = check_region(got, ngot, want, MAGIC_LEN, MAGIC_LEN + 4,
                             "unsupported version")) ||
        (*bad = check_region(got, ngot, want, MAGIC_LEN + 4, key_end, "key mismatch"))) {
        free(got);
        return HG_OK;
    }
    if (ngot < hlen) {              /* payload length or checksum cut short */
        free(got);
        *bad = "truncated";
        return HG_OK;
    }
    uint64_t n = get_u64(got + key_end);
    uint64_t sum = get_u64(got + key_end + 8);
    free(got);

    uint64_t rest = fsize - (uint64_t)hlen; /* fsize >= ngot == hlen */
    if (n > rest)
        *bad = "truncated";
    else if (n < rest)
        *bad = "length mismatch";
    else if (n > (uint64_t)max_len)
        *bad = "payload over max_len";
    if (*bad)
        return HG_OK;

    unsigned char *p = malloc(n ? (size_t)n : 1);
    if (!p)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0,
                             "disk cache: out of memory for a %llu-byte entry",
                             (unsigned long long)n);
    r = read_full(fd, p, (size_t)n);
    if (r < 0) {
        int e = errno;
        free(p);
        return io_fail(err, "cannot read", path, e);
    }
    if ((uint64_t)r != n)           /* shrunk under us: someone truncated it in place */
        *bad = "truncated";
    else if (hg__fnv1a(HG__FNV_INIT, p, (size_t)n) != sum)
        *bad = "checksum mismatch";
    if (*bad) {
        free(p);
        return HG_OK;
    }
    *payload = p;
    *plen = (size_t)n;
    return HG_OK;
}

hg_status hg__cache_load(const char *dir, const char *const *key, size_t nkey,
                         size_t max_len, void **data, size_t *len, bool *found,
                         const char **why, hg_error *err)
{
    hg_error_clear(err);
    if (why)
        *why = NULL;
    if (!data || !len || !found)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg__cache_load: NULL output pointer");
    *data = NULL;
    *len = 0;
    *found = false;
    hg_status st = check_key("hg__cache_load", dir, key, nkey, err);
    if (st != HG_OK)
        return st;

    char *name = entry_name(key, nkey);
    char *path = name ? hg__asprintf("%s/%s", dir, name) : NULL;
    size_t hlen = 0;
    unsigned char *want = build_header(key, nkey, 0, 0, &hlen);
    if (!name || !path || !want) {
        free(want);
        free(path);
        free(name);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "disk cache: out of memory");
    }

    int dfd = -1, fd = -1;
    bool missing = false;
    struct stat fst;
    const char *bad = NULL;
    st = open_dir(dir, &dfd, err);  /* no directory (dfd -1, HG_OK): a plain miss */
    if (st == HG_OK && dfd >= 0) {
        fd = open_entry(dfd, name, path, &fst, &missing, err);
        if (fd < 0 && !missing)
            st = HG_IO;
    }
    if (fd >= 0) {
        st = read_entry(fd, path, (uint64_t)fst.st_size, want, hlen, max_len, data, len,
                        &bad, err);
        if (st == HG_OK && bad) {
            remove_bad(dfd, name, &fst);
            if (why)
                *why = bad;
        }
        *found = st == HG_OK && !bad;
        close(fd);
    }
    if (dfd >= 0)
        close(dfd);
    free(want);
    free(path);
    free(name);
    return st;
}
