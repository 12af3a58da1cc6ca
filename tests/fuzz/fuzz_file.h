/* SPDX-License-Identifier: MIT */
/*
 * fuzz_file.h - the fuzz harnesses' shared helper: an input written to a
 * fresh temporary file, for the loaders that read files.
 */
#ifndef HG_FUZZ_FILE_H
#define HG_FUZZ_FILE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns the file's malloc'ed path (unlink and free it), or NULL. */
static inline char *fuzz_temp_file(const uint8_t *data, size_t size)
{
    char *path = strdup("/tmp/hg-fuzz-XXXXXX");
    if (!path)
        return NULL;
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    close(fd);
    if (done != size) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

#endif /* HG_FUZZ_FILE_H */
