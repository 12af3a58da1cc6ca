/* SPDX-License-Identifier: MIT */
/*
 * data_gzip.c - a data file's bytes, decompressed when it is gzip (data_source.h).
 *
 * The first bytes are read before anything else: 1f 8b starts a gzip stream, which is
 * inflated with zlib (windowBits 15 + 16: gzip wrapper, CRC-32 and length checked at the
 * end of every member); anything else is passed through unchanged.  Raw input is read
 * CHUNK bytes at a time, so memory stays constant whatever the file's size.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "data_source.h"
#include "internal.h"

#define CHUNK     ((size_t)64 * 1024)
#define MEM_PIECE ((size_t)1 << 30) /* zlib's avail_in is an unsigned int */

struct hg__source {
    const char          *name;
    FILE                *f;       /* NULL: memory */
    const unsigned char *mem;     /* memory: the caller's bytes */
    size_t               mem_len, mem_pos;
    unsigned char       *buf;     /* file: CHUNK-byte raw buffer (owned) */
    const unsigned char *in;      /* raw bytes not yet consumed: in[0..in_len) */
    size_t               in_len;
    bool                 raw_eof; /* no raw bytes left after in */
    bool                 gz;
    bool                 z_live;  /* z is initialised (inflateEnd owed) */
    bool                 member_end; /* the last member ended; more may follow */
    z_stream             z;
    unsigned long long   raw_off; /* raw bytes consumed before in */
    hg_status            failed;  /* HG_OK, or the status every read now returns */
    char                 why[HG_ERROR_MESSAGE_MAX];
};

/* Fill in with the next raw bytes (in_len 0 at the end).  HG_IO on a read error. */
static hg_status raw_fill(hg__source *s, hg_error *err)
{
    s->in_len = 0; /* called only when everything before was consumed */
    if (s->raw_eof)
        return HG_OK;
    if (!s->f) {
        size_t left = s->mem_len - s->mem_pos;
        size_t take = left < MEM_PIECE ? left : MEM_PIECE;
        s->in = s->mem + s->mem_pos;
        s->in_len = take;
        s->mem_pos += take;
        s->raw_eof = s->mem_pos == s->mem_len;
        return HG_OK;
    }
    size_t got = fread(s->buf, 1, CHUNK, s->f);
    if (got == 0 && ferror(s->f))
        return hg__error_set(err, HG_IO, 0, "read error: %s", strerror(errno));
    s->in = s->buf;
    s->in_len = got;
    s->raw_eof = got == 0;
    return HG_OK;
}

/* The signature of a format this layer does not decompress, or NULL. */
static const char *foreign_signature(const unsigned char *p, size_t n)
{
    if (n >= 6 && memcmp(p, "\xFD" "7zXZ\0", 6) == 0)
        return "xz-compressed: only gzip is read; decompress it first (xz -d)";
    /* "BZh", the block size '1'..'9', then a block's or the end's magic number */
    if (n >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9' &&
        (memcmp(p + 4, "1AY&SY", 6) == 0 || memcmp(p + 4, "\x17rE8P", 5) == 0))
        return "bzip2-compressed: only gzip is read; decompress it first (bunzip2)";
    if (n >= 4 && memcmp(p, "\x28\xB5\x2F\xFD", 4) == 0)
        return "zstd-compressed: only gzip is read; decompress it first (zstd -d)";
    if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
        return "a zip archive (numpy's .npz is one): extract the file first (unzip)";
    return NULL;
}

/* Look at the first bytes and set up decompression.  s->name, f or mem are set. */
static hg_status source_start(hg__source *s, hg_error *err)
{
    hg_error e;
    if (raw_fill(s, &e) != HG_OK)
        return hg__error_set(err, HG_IO, 0, "%s: cannot open: %s", s->name, e.message);
    /* a file's first fread may be short (a pipe): two bytes decide, so get two */
    if (s->f && s->in_len == 1 && !s->raw_eof) {
        int c = fgetc(s->f);
        if (c == EOF && ferror(s->f))
            return hg__error_set(err, HG_IO, 0, "%s: cannot open: read error: %s", s->name,
                                 strerror(errno));
        if (c != EOF)
            s->buf[s->in_len++] = (unsigned char)c;
    }
    const char *foreign = foreign_signature(s->in, s->in_len);
    if (foreign)
        return hg__error_set(err, HG_IO, 0, "%s: byte offset 0: %s", s->name, foreign);
    s->gz = s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (!s->gz)
        return HG_OK;
    memset(&s->z, 0, sizeof s->z);
    int zr = inflateInit2(&s->z, 15 + 16);
    if (zr != Z_OK)
        return hg__error_set(err, zr == Z_MEM_ERROR ? HG_OUT_OF_MEMORY : HG_IO, 0,
                             "%s: cannot start gzip decompression: %s", s->name,
                             s->z.msg ? s->z.msg : "zlib error");
    s->z_live = true;
    return HG_OK;
}

static hg_status source_new(hg__source **out, const char *name, hg_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", name);
    (*out)->name = name;
    return HG_OK;
}

hg_status hg__source_open_file(hg__source **out, const char *path, hg_error *err)
{
    hg__source *s;
    hg_status st = source_new(&s, path, err);
    if (st != HG_OK) {
        *out = NULL;
        return st;
    }
    s->f = fopen(path, "rb");
    if (!s->f) {
        st = hg__error_set(err, HG_IO, 0, "%s: cannot open: %s", path, strerror(errno));
    } else if (!(s->buf = malloc(CHUNK))) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", path);
    } else {
        st = source_start(s, err);
    }
    if (st != HG_OK) {
        hg__source_close(s);
        s = NULL;
    }
    *out = s;
    return st;
}

hg_status hg__source_open_memory(hg__source **out, const char *name, const void *data,
                                 size_t len, hg_error *err)
{
    hg__source *s;
    hg_status st = source_new(&s, name, err);
    if (st != HG_OK) {
        *out = NULL;
        return st;
    }
    s->mem = data;
    s->mem_len = data ? len : 0;
    s->raw_eof = s->mem_len == 0;
    if ((st = source_start(s, err)) != HG_OK) {
        hg__source_close(s);
        s = NULL;
    }
    *out = s;
    return st;
}

bool hg__source_gzip(const hg__source *s)
{
    return s->gz;
}

/* Remember a failure (msg: the problem) so that every later read repeats it. */
static hg_status source_fail(hg__source *s, hg_status st, hg_error *err, const char *msg)
{
    snprintf(s->why, sizeof s->why, "%s", msg);
    s->failed = st;
    return hg__error_set(err, st, 0, "%s", s->why);
}

/* Plain bytes: what is buffered, then straight from the file or buffer. */
static hg_status read_plain(hg__source *s, unsigned char *p, size_t n, size_t *got,
                            hg_error *err)
{
    while (*got < n) {
        if (s->in_len == 0) {
            hg_error e;
            if (raw_fill(s, &e) != HG_OK)
                return source_fail(s, HG_IO, err, e.message);
            if (s->in_len == 0)
                break;
        }
        size_t take = n - *got < s->in_len ? n - *got : s->in_len;
        memcpy(p + *got, s->in, take);
        *got += take;
        s->in += take;
        s->in_len -= take;
        s->raw_off += take;
    }
    return HG_OK;
}

/* Decompressed bytes, across members; the checks of data_source.h. */
static hg_status read_gzip(hg__source *s, unsigned char *p, size_t n, size_t *got,
                           hg_error *err)
{
    while (*got < n) {
        if (s->in_len == 0) {
            hg_error e;
            if (raw_fill(s, &e) != HG_OK)
                return source_fail(s, HG_IO, err, e.message);
            if (s->in_len == 0) {
                if (s->member_end)
                    break; /* the end, after a whole member */
                return source_fail(s, HG_IO, err, "gzip data ends early: the file is "
                                   "truncated (compressed stream cut short)");
            }
        }
        if (s->member_end) {
            /* more bytes after a member: another member, or garbage */
            if (s->in[0] != 0x1f || (s->in_len >= 2 && s->in[1] != 0x8b)) {
                char msg[160];
                snprintf(msg, sizeof msg, "data that is not gzip after the end of the gzip "
                         "stream (at compressed byte %llu); a damaged or padded file?",
                         s->raw_off);
                return source_fail(s, HG_IO, err, msg);
            }
            if (inflateReset(&s->z) != Z_OK)
                return source_fail(s, HG_IO, err, "gzip: cannot start the next member");
            s->member_end = false;
        }
        size_t want = n - *got;
        if (want > MEM_PIECE)
            want = MEM_PIECE;
        s->z.next_in = (unsigned char *)(uintptr_t)s->in; /* zlib never writes input */
        s->z.avail_in = (uInt)s->in_len;
        s->z.next_out = p + *got;
        s->z.avail_out = (uInt)want;
        int zr = inflate(&s->z, Z_NO_FLUSH);
        size_t used = s->in_len - s->z.avail_in;
        s->in += used;
        s->in_len -= used;
        s->raw_off += used;
        *got += want - s->z.avail_out;
        switch (zr) {
        case Z_OK:
        case Z_BUF_ERROR: /* no progress possible: more input needed (refilled above) */
            break;
        case Z_STREAM_END:
            s->member_end = true;
            break;
        case Z_MEM_ERROR:
            return source_fail(s, HG_OUT_OF_MEMORY, err,
                               "out of memory for gzip decompression");
        default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
        {
            char msg[160];
            snprintf(msg, sizeof msg, "corrupt gzip data: %s",
                     s->z.msg ? s->z.msg : "invalid stream");
            return source_fail(s, HG_IO, err, msg);
        }
        }
    }
    return HG_OK;
}

hg_status hg__source_read(hg__source *s, void *buf, size_t n, size_t *got, hg_error *err)
{
    *got = 0;
    if (s->failed != HG_OK)
        return hg__error_set(err, s->failed, 0, "%s", s->why);
    hg_error e;
    hg_status st = s->gz ? read_gzip(s, buf, n, got, &e) : read_plain(s, buf, n, got, &e);
    if (st != HG_OK && *got > 0)
        return HG_OK; /* the bytes before the failure first; the next read reports it */
    if (st != HG_OK)
        return hg__error_set(err, st, 0, "%s", e.message);
    return HG_OK;
}

void hg__source_close(hg__source *s)
{
    if (!s)
        return;
    if (s->z_live)
        inflateEnd(&s->z);
    if (s->f)
        fclose(s->f);
    free(s->buf);
    free(s);
}
