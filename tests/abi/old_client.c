/* SPDX-License-Identifier: MIT */
/*
 * old_client.c - a program built against an earlier release's headers (the
 * frozen copy in abi/<release>/include), run against the library of this tree
 * (test abi.old-client) and against a copy of it whose growable structs all
 * have an extra trailing field (abi.old-client-grown): the ABI promise of
 * docs/abi.md, "a program built against the headers of an earlier release with
 * the same SONAME still runs", checked by running one.
 *
 * Every struct the program shares with the library lies at the very end of a
 * mapped page followed by an inaccessible page, so a library that read or
 * wrote one byte past the size the program was compiled with would crash here
 * (SIGSEGV) instead of corrupting memory quietly.  Options the program sets
 * must take effect: the device selection, the kernel backend, the CSV layout.
 *
 * Usage: old_client LIBRARY_DIR: the directory the library must be loaded
 * from (the test fails if the dynamic linker found another copy).  Prints
 * "old client: ok" and exits 0, or names every failure and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <hetgrad.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "old client: FAILED: %s: ", #cond);            \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            failures++;                                                    \
        }                                                                  \
    } while (0)

/*
 * size bytes that end exactly where an inaccessible page begins.  The struct
 * sizes are multiples of their alignment, so the address is aligned.  Never
 * freed: the program is short-lived.
 */
static void *at_page_end(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (size + page - 1) / page * page;
    unsigned char *base = mmap(NULL, span + page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || mprotect(base + span, page, PROT_NONE) != 0) {
        perror("old client: mmap");
        exit(1);
    }
    memset(base, 0xA5, span); /* garbage before the struct, as on a real stack */
    return base + span - size;
}

/* The library actually loaded: the test names the directory it must come from. */
static const char *loaded_from(void)
{
    Dl_info info;
    return dladdr((void *)hg_version_number, &info) && info.dli_fname ? info.dli_fname : "?";
}

/* True when file lies in directory dir (both resolved). */
static bool in_dir(const char *file, const char *dir)
{
    char f[PATH_MAX], d[PATH_MAX];
    if (!realpath(file, f) || !realpath(dir, d))
        return false;
    return strcmp(dirname(f), d) == 0;
}

static void check_csv(void)
{
    hg_csv_options *o = at_page_end(sizeof *o);
    hg_csv_options_init(o);
    CHECK(o->struct_size == sizeof *o, "struct_size %zu", o->struct_size);
    CHECK(o->label_column == -1 && o->delimiter == ',' && o->labels_are_classes,
          "defaults not set");
    o->header = true;
    o->delimiter = ';';
    o->label_column = 0;
    static const char text[] = "label;a;b\n1;0.5;0.25\n0;1;2\n2;3;4\n";
    hg_dataset *d = NULL;
    hg_error err;
    hg_status st = hg_dataset_load_memory_csv("old.csv", text, sizeof text - 1, o, &d, &err);
    CHECK(st == HG_OK, "%s", err.message);
    if (st != HG_OK)
        return;
    CHECK(d->rows == 3 && d->features == 2 && d->classes == 3, "%zu x %zu, %zu classes",
          d->rows, d->features, d->classes);
    CHECK(d->labels && d->labels[0] == 1 && d->labels[1] == 0 && d->x[0] == 0.5f,
          "label column 0 and ';' not honoured");

    /* The schema of what was read (filled by the library), then another read with it. */
    hg_data_schema *s = at_page_end(sizeof *s);
    hg_dataset_schema(d, s);
    CHECK(s->struct_size == sizeof *s && s->features == 2 && s->nclasses == 3,
          "schema: size %zu, %zu features, %zu classes", s->struct_size, s->features,
          s->nclasses);
    char path[] = "/tmp/hg_old_client_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(f != NULL, "mkstemp");
    if (f) {
        fputs("label;a;b\n2;7;8\n", f); /* one class of three */
        fclose(f);
        hg_dataset *t = NULL;
        st = hg_dataset_load_csv_as(path, o, s, &t, &err);
        CHECK(st == HG_OK, "%s", err.message);
        if (st == HG_OK)
            CHECK(t->classes == 3 && t->labels[0] == 2, "schema not honoured: %zu classes",
                  t->classes);
        hg_dataset_free(t);
        remove(path);
    }
    hg_dataset_free(d);
}

/* The devices: POCL's pthread device only, chosen by options the library must honour. */
static hg_options *device_options(void)
{
    hg_options *o = at_page_end(sizeof *o);
    hg_options_init(o);
    CHECK(o->struct_size == sizeof *o, "struct_size %zu", o->struct_size);
    CHECK(o->use_environment && o->log_level == HG_LOG_WARN, "defaults not set");
    o->devices = "pthread";
    o->use_environment = false;
    o->keep_duplicates = true;
    o->log_level = HG_LOG_ERROR;
    return o;
}

static void check_devices(const hg_options *o)
{
    hg_device_list *l = NULL;
    hg_error err;
    hg_status st = hg_device_list_create(o, &l, &err);
    CHECK(st == HG_OK, "%s", err.message);
    if (st != HG_OK)
        return;
    CHECK(hg_device_list_kept_count(l) == 1, "%zu devices kept, want pthread only",
          hg_device_list_kept_count(l));
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (!d->kept)
            continue;
        CHECK(strstr(d->name, "pthread") != NULL, "kept %s", d->name);
        hg_selftest_result *r = at_page_end(sizeof *r);
        st = hg_device_selftest(l, i, r, &err);
        CHECK(st == HG_OK, "self-test: %s", err.message);
        CHECK(r->elements > 0 && r->run_ms >= 0, "self-test result not filled");
    }
    hg_device_list_destroy(l);
}

static void check_engine(const hg_options *dev)
{
    enum { N = 64, D = 6, C = 3, P = D * C + C };
    static float x[N * D], params[P], grad[P];
    static int32_t labels[N];
    for (size_t i = 0; i < N * D; i++)
        x[i] = (float)((i * 37) % 19) / 19.0f - 0.5f;
    for (size_t r = 0; r < N; r++)
        labels[r] = (int32_t)(r % C);
    for (size_t i = 0; i < P; i++)
        params[i] = (float)((i * 11) % 7) / 10.0f - 0.3f;
    hg_model_desc model = {.kind = HG_MODEL_SOFTMAX, .inputs = D, .outputs = C};
    hg_dataset_desc data = {.rows = N, .inputs = D, .x = x, .labels = labels};

    hg_engine_options *o = at_page_end(sizeof *o);
    hg_engine_options_init(o);
    CHECK(o->struct_size == sizeof *o, "struct_size %zu", o->struct_size);
    CHECK(o->gemm == HG_GEMM_AUTO && !o->devices, "defaults not set");
    o->devices = dev;
    o->gemm = HG_GEMM_OWN;
    o->no_profile_cache = true;
    hg_engine *e = NULL;
    hg_error err;
    hg_status st = hg_engine_create(o, &model, &e, &err);
    CHECK(st == HG_OK, "%s", err.message);
    if (st != HG_OK)
        return;
    CHECK(hg_engine_device_count(e) == 1, "%zu devices", hg_engine_device_count(e));
    double loss = 0;
    st = hg_engine_set_data(e, &data, &err);
    if (st == HG_OK)
        st = hg_engine_gradient(e, params, 0, N, grad, &loss, &err);
    CHECK(st == HG_OK, "%s", err.message);
    if (st == HG_OK) {
        static double ref[P];
        double ref_loss = 0;
        st = hg_reference_loss_grad(&model, params, &data, 0, N, NULL, &ref_loss, ref, &err);
        CHECK(st == HG_OK, "%s", err.message);
        double worst = 0;
        for (size_t i = 0; i < P; i++)
            worst = fmax(worst, fabs(grad[i] - ref[i] / N));
        CHECK(worst < 1e-4 && fabs(loss - ref_loss / N) < 1e-4,
              "gradient off by %g, loss %g vs %g", worst, loss, ref_loss / N);

        hg_device_step *s = at_page_end(sizeof *s);
        st = hg_engine_last_step(e, 0, s);
        CHECK(st == HG_OK && s->rows == N && !s->failed, "last step: %s, %zu rows",
              hg_status_name(st), s->rows);
        hg_device_profile *p = at_page_end(sizeof *p);
        st = hg_engine_device_profile(e, 0, p);
        CHECK(st == HG_OK, "profile: %s", hg_status_name(st));
        /* HG_GEMM_OWN must have been read: CLBlast is not a candidate then. */
        CHECK(strncmp(p->kernel, "fused", 5) == 0, "kernel '%s', want hetgrad's fused one",
              p->kernel);
    }
    hg_engine_destroy(e);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: old_client LIBRARY_DIR\n");
        return 2;
    }
    const char *lib = loaded_from();
    printf("old client: built against hetgrad %s headers (%d), running on %s (%d) from %s\n",
           HETGRAD_VERSION_STRING, HETGRAD_VERSION_NUMBER, hg_version_string(),
           hg_version_number(), lib);
    CHECK(in_dir(lib, argv[1]), "the library was loaded from %s, not from %s", lib, argv[1]);
    CHECK(hg_version_number() >= HETGRAD_VERSION_NUMBER,
          "the library is older than the headers");
    check_csv();
    hg_options *dev = device_options();
    check_devices(dev);
    check_engine(dev);
    if (failures) {
        fprintf(stderr, "old client: %d failure(s)\n", failures);
        return 1;
    }
    printf("old client: ok\n");
    return 0;
}
