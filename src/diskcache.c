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
 * Writers: the entry is written to a temporary file ".<name>.tmp-XXXXXX" (mkstemp, mode
 * 0600) in the cache directory, fsync'ed, then rename()d over the final name.  rename is
 * atomic within a file system, so a reader opens either a complete old entry or a complete
 * new one; concurrent writers of one key simply race and the last rename wins.  The
 * directory itself is not fsync'ed: after a crash an entry may be missing, which only
 * costs a recalibration.  A writer killed between mkstemp and rename leaves its hidden
 * temporary file behind; nothing reads it.
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
#include <unistd.h>

#include "diskcache.h"

#define MAGIC         "HGCACHE1"
#define MAGIC_LEN     8
#define VERSION       1u
#define KIND_MAX      32
#define TAIL_LEN      16 /* payload length + checksum */

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

/* "<dir>/<kind>-<hash>.bin", malloc'ed; NULL on allocation failure. */
static char *entry_path(const char *dir, const char *const *key, size_t nkey)
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
    return hg__asprintf("%s/%s-%016llx.bin", dir, k ? kind : "blob", (unsigned long long)h);
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
 * Write hdr and data to a new temporary file in dir, fsync it and rename it over path.
 * tmp is the mkstemp template, rewritten in place.  On failure the temporary file is
 * removed and HG_IO returned.
 */
static hg_status write_entry(const char *dir, char *tmp, const char *path,
                             const unsigned char *hdr, size_t hlen, const void *data,
                             size_t len, hg_error *err)
{
    int fd = mkstemp(tmp);
    if (fd < 0)
        return io_fail(err, "cannot create temporary file in", dir, errno);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* best effort: not inherited by exec'ed children */
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
    if (!what && rename(tmp, path) != 0) {
        what = "cannot rename into place";
        e = errno;
    }
    if (!what)
        return HG_OK;
    (void)unlink(tmp);
    return io_fail(err, what, tmp, e);
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

    char *path = entry_path(dir, key, nkey);
    char *dcopy = hg__strdup(dir);
    size_t hlen = 0;
    unsigned char *hdr = build_header(key, nkey, (uint64_t)len,
                                      hg__fnv1a(HG__FNV_INIT, data, len), &hlen);
    char *tmp = path ? hg__asprintf("%s/.%s.tmp-XXXXXX", dir, strrchr(path, '/') + 1)
                     : NULL;
    if (!path || !dcopy || !hdr || !tmp)
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "disk cache: out of memory");
    else if (!make_dirs(dcopy))
        st = io_fail(err, "cannot create directory", dir, errno);
    else
        st = write_entry(dir, tmp, path, hdr, hlen, data, len, err);
    free(tmp);
    free(hdr);
    free(dcopy);
    free(path);
    return st;
}

/* ---- load ---------------------------------------------------------------------------- */

/* Remove path if it still names the file open as fd (st = its fstat); errors ignored. */
static void remove_bad(const char *path, const struct stat *st)
{
    struct stat now;
    if (stat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino)
        (void)unlink(path);
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

    char *path = entry_path(dir, key, nkey);
    size_t hlen = 0;
    unsigned char *want = build_header(key, nkey, 0, 0, &hlen);
    if (!path || !want) {
        free(want);
        free(path);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "disk cache: out of memory");
    }

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat fst;
    const char *bad = NULL;
    if (fd < 0) {
        if (errno != ENOENT)        /* ENOENT (no entry, no directory): a plain miss */
            st = io_fail(err, "cannot open", path, errno);
    } else if (fstat(fd, &fst) != 0) {
        st = io_fail(err, "cannot stat", path, errno);
    } else if (!S_ISREG(fst.st_mode)) {
        st = io_fail(err, "not a regular file:", path, EINVAL);
    } else {
        st = read_entry(fd, path, (uint64_t)fst.st_size, want, hlen, max_len, data, len,
                        &bad, err);
        if (st == HG_OK && bad) {
            remove_bad(path, &fst);
            if (why)
                *why = bad;
        }
        *found = st == HG_OK && !bad;
    }
    if (fd >= 0)
        close(fd);
    free(want);
    free(path);
    return st;
}
