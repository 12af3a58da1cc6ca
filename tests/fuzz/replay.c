/* SPDX-License-Identifier: MIT */
/*
 * replay.c - run a fuzz harness's LLVMFuzzerTestOneInput over files without libFuzzer,
 * so CI can replay the seed corpora (and past crashes) under plain sanitizers.
 *
 *   replay DIR_OR_FILE...
 *
 * Every regular file directly in each directory argument (and every file argument) is
 * read whole and passed once.  Prints how many inputs ran; exits 1 when an argument or
 * a file cannot be read or no input was found, and crashes the way the harness does on
 * a failing input.  Build with one harness:
 *
 *   cc -g -fsanitize=address,undefined -Iinclude -Ibuild/include -Isrc/util -Isrc/data \
 *       tests/fuzz/replay.c tests/fuzz/fuzz_csv.c src/data/dataset_io.c src/data/data_csr.c \
 *       src/data/data_gzip.c src/data/data_npy.c src/util/status.c src/util/cl_names.c src/util/strutil.c \
 *       src/util/sized.c -lz -lm
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file; 0 on success, -1 when it cannot be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            fprintf(stderr, "%s: out of memory\n", path);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read error\n", path);
        free(buf);
        return -1;
    }
    /* an exact-size copy, so ASan sees reads past the input's end */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    size_t ran = 0;
    int status = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            perror(argv[a]);
            status = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[a]) != 0)
                status = 1;
            else
                ran++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) {
            perror(argv[a]);
            status = 1;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            size_t n = strlen(argv[a]) + strlen(e->d_name) + 2;
            char *path = malloc(n);
            if (!path) {
                status = 1;
                break;
            }
            snprintf(path, n, "%s/%s", argv[a], e->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) != 0)
                    status = 1;
                else
                    ran++;
            }
            free(path);
        }
        closedir(d);
    }
    printf("replay: %zu inputs\n", ran);
    if (ran == 0)
        status = 1;
    return status;
}
