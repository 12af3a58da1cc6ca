/* SPDX-License-Identifier: MIT */
/*
 * atomic_file.c - replacing a file atomically (atomic_file.h): a temporary
 * file beside the target, written, flushed, synced and renamed over it, then
 * the directory synced.  checkpoint.c saves through it.
 *
 * Test hook (tests/train_check.py, not an interface): HG_TEST_SAVE_HANG_AFTER=N
 * makes the writer stop for good once N bytes of the temporary file are
 * written and flushed, after saying so on stderr, so that a test can kill the
 * process in the middle of a save.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file, its directory and its name, and what a new file there needs to copy. */
typedef struct target {
    char  *path;   /* the file itself (a symbolic link resolved); owned */
    char  *dir;    /* its directory; owned */
    char  *base;   /* its name, inside path */
    bool   exists;
    mode_t mode;   /* permission bits of the existing file */
} target;

static void target_free(target *t)
{
    free(t->path);
    free(t->dir);
    memset(t, 0, sizeof *t);
}

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

static hg_status target_resolve(const char *path, target *t, hg_error *err)
{
    memset(t, 0, sizeof *t);
    struct stat st;
    if (!*path)
        return hg__error_set(err, HG_IO, 0, "an empty file name");
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        t->path = realpath(path, NULL);
        if (!t->path)
            return hg__error_set(err, HG_IO, 0, "%s: a symbolic link that leads nowhere "
                                 "usable: %s", path, strerror(errno));
    } else {
        t->path = strdup(path);
    }
    if (!t->path)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", path);
    if (stat(t->path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            target_free(t);
            return hg__error_set(err, HG_IO, 0, "%s: %s, not a regular file: a save writes "
                                 "a new file beside the old one and renames it over it",
                                 path, file_kind(st.st_mode));
        }
        t->exists = true;
        t->mode = st.st_mode & 07777;
    } else if (errno != ENOENT) {
        hg__error_set(err, HG_IO, 0, "%s: %s", path, strerror(errno));
        target_free(t);
        return HG_IO;
    }
    char *slash = strrchr(t->path, '/');
    t->base = slash ? slash + 1 : t->path;
    if (!*t->base) {
        target_free(t);
        return hg__error_set(err, HG_IO, 0, "%s: names a directory, not a file", path);
    }
    size_t dl = slash ? (slash == t->path ? 1 : (size_t)(slash - t->path)) : 1;
    t->dir = malloc(dl + 1);
    if (!t->dir) {
        target_free(t);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", path);
    }
    memcpy(t->dir, slash ? t->path : ".", dl);
    t->dir[dl] = '\0';
    return HG_OK;
}

/* A new file ".BASE.PID.N.tmp" in t's directory, opened for writing (0666 less the
   umask); its fd, and its malloc'ed name in *tmp.  -1 with err on failure. */
static int temp_create(const target *t, const char *path, char **tmp, hg_error *err)
{
    size_t n = strlen(t->dir) + strlen(t->base) + 64;
    *tmp = malloc(n);
    if (!*tmp) {
        hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", path);
        return -1;
    }
    for (unsigned i = 0; i < 1000; i++) {
        snprintf(*tmp, n, "%s/.%s.%ld.%u.tmp", t->dir, t->base, (long)getpid(), i);
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            break;
    }
    hg__error_set(err, HG_IO, 0, "%s: cannot create a file in %s: %s", path, t->dir,
                  strerror(errno));
    free(*tmp);
    *tmp = NULL;
    return -1;
}

hg_status hg__atomic_check_target(const char *path, hg_error *err)
{
    target t;
    hg_status st = target_resolve(path, &t, err);
    if (st != HG_OK)
        return st;
    char *tmp;
    int fd = temp_create(&t, path, &tmp, err);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
        free(tmp);
    }
    target_free(&t);
    return fd >= 0 ? HG_OK : err ? err->status : HG_IO;
}

/* Write buf whole to f, honouring the test hook; false on a write error. */
static bool write_all(FILE *f, const unsigned char *buf, size_t len, const char *tmp)
{
    const char *hook = getenv("HG_TEST_SAVE_HANG_AFTER");
    unsigned long long hang = hook ? strtoull(hook, NULL, 10) : ULLONG_MAX;
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < 4096 ? len - done : 4096;
        if (hang != ULLONG_MAX && done + n >= hang)
            n = hang > done ? (size_t)(hang - done) : 1;
        if (fwrite(buf + done, 1, n, f) != n)
            return false;
        done += n;
        if (done >= hang) {
            fflush(f);
            fprintf(stderr, "hetgrad: HG_TEST_SAVE_HANG_AFTER: hanging after %zu bytes "
                    "written to %s\n", done, tmp);
            fflush(stderr);
            for (;;)
                pause();
        }
    }
    return true;
}

hg_status hg__atomic_write(const char *path, const void *buf, size_t len, hg_error *err)
{
    target t;
    hg_status st = target_resolve(path, &t, err);
    if (st != HG_OK)
        return st;
    char *tmp = NULL;
    int fd = temp_create(&t, path, &tmp, err);
    if (fd < 0) {
        target_free(&t);
        return err ? err->status : HG_IO;
    }
    FILE *f = NULL;
    const char *step = "write";
    int e = 0; /* errno of the first failure */
    bool ok = true;
    if (t.exists && fchmod(fd, t.mode) != 0) {
        e = errno;
        ok = false;
    }
    if (ok && !(f = fdopen(fd, "wb"))) {
        e = errno;
        ok = false;
    }
    if (!f)
        close(fd);
    if (ok && (!write_all(f, buf, len, tmp) || fflush(f) != 0)) {
        e = errno;
        ok = false;
    }
    if (ok && fsync(fileno(f)) != 0) {
        e = errno;
        step = "sync";
        ok = false;
    }
    if (f && fclose(f) != 0 && ok) {
        e = errno;
        ok = false;
    }
    if (ok && rename(tmp, t.path) != 0) {
        e = errno;
        step = "rename";
        ok = false;
    }
    if (!ok) {
        hg__error_set(err, HG_IO, 0, "%s: %s failed: %s (the previous file, if any, is "
                      "unchanged)", path, step, strerror(e));
        unlink(tmp);
    } else {
        /* the rename itself reaches the disk with the directory */
        int dfd = open(t.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
            hg__error_set(err, HG_IO, 0, "%s: written, but syncing its directory %s "
                          "failed: %s", path, t.dir, strerror(errno));
            ok = false;
        }
        if (dfd >= 0)
            close(dfd);
    }
    free(tmp);
    target_free(&t);
    if (ok)
        hg_error_clear(err);
    return ok ? HG_OK : HG_IO;
}
