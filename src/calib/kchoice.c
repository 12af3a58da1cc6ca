/* SPDX-License-Identifier: MIT */
/*
 * kchoice.c - which kernels a device computes the built-in models with:
 * the candidates (CLBlast, hetgrad's own kernels in a few compile-time
 * shapes, the plain GEMM), the choice before any measurement, and building
 * the programs of a choice.  profile.c times the candidates and keeps the
 * fastest correct one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "platlock.h"

/* Fused kernel shapes: rows per forward pass, per backward pass, classes per
   forward pass (clipped to the model's classes).  Best first on POCL. */
static const unsigned fused_shapes[][3] = {{8, 8, 2}, {4, 8, 5}, {2, 8, 10}};
/* Tiled GEMM blocks (rows x columns of C per work-item) for layers at least
   16 wide; narrower ones use NARROW_TM x NARROW_TN. */
static const unsigned tiled_shapes[][2] = {{16, 16}, {24, 16}, {8, 16}};
#define NARROW_TM 8u
#define NARROW_TN 8u

void hg__kchoice_name(const hg__kchoice *k, char *buf, size_t n)
{
    switch (k->path) {
    case HG__PATH_CLBLAST: snprintf(buf, n, "clblast"); break;
    case HG__PATH_NAIVE: snprintf(buf, n, "naive"); break;
    case HG__PATH_CUSTOM: snprintf(buf, n, "custom"); break;
    case HG__PATH_OWN:
        if (k->c && k->s)
            snprintf(buf, n, "fused r%u/b%u/k%u/s%u", k->a, k->b, k->c, k->s);
        else if (k->c)
            snprintf(buf, n, "fused r%u/b%u/k%u", k->a, k->b, k->c);
        else
            snprintf(buf, n, "tiled %ux%u", k->a, k->b);
        break;
    }
}

static bool single_layer(const hg_engine *eng)
{
    return eng->model.kind == HG_MODEL_LINEAR || eng->model.kind == HG_MODEL_SOFTMAX;
}

/*
 * The fused shapes, each with slabs of kind s (0: the usual ones), without
 * the duplicates that clipping the classes makes, appended to out[n...];
 * returns the new count.  first_only: the first shape alone.
 */
static size_t fused_candidates(const hg_engine *eng, unsigned s, bool first_only,
                               hg__kchoice *out, size_t n)
{
    unsigned k = (unsigned)eng->model.outputs;
    size_t end = first_only ? 1 : sizeof fused_shapes / sizeof fused_shapes[0];
    for (size_t i = 0; i < end; i++) {
        hg__kchoice c = {HG__PATH_OWN, fused_shapes[i][0], fused_shapes[i][1],
                         fused_shapes[i][2] < k ? fused_shapes[i][2] : k, s};
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup |= out[j].a == c.a && out[j].b == c.b && out[j].c == c.c && out[j].s == c.s;
        if (!dup)
            out[n++] = c;
    }
    return n;
}

static bool oclgrind(const hg__device *d)
{
    return strstr(d->info->platform_name, "Oclgrind") != NULL;
}

static size_t own_candidates(const hg_engine *eng, const hg__device *d, hg__kchoice *out)
{
    size_t n = 0;
    if (single_layer(eng)) {
        n = fused_candidates(eng, 0, false, out, n);
        /* a known step size (fast mode): the small-batch slabs too, two per
           compute unit for every shape, one per unit for the first.  Not on
           Oclgrind: its uninitialised-value plugin reports the second slab's
           partial as uninitialised in fast mode (not in deterministic mode,
           with the same kernel), although the gradient matches the
           reference; a simulator gains nothing from them anyway */
        if (eng->batch_rows && !eng->det && !oclgrind(d)) {
            n = fused_candidates(eng, 2, false, out, n);
            n = fused_candidates(eng, 1, true, out, n);
        }
    } else {
        for (size_t i = 0; i < sizeof tiled_shapes / sizeof tiled_shapes[0]; i++)
            out[n++] = (hg__kchoice){HG__PATH_OWN, tiled_shapes[i][0], tiled_shapes[i][1], 0, 0};
    }
    return n;
}

/*
 * Whether HG_GEMM_AUTO leaves CLBlast out of device d's candidates, by the
 * shape of the work: the linear and softmax models on a device that computes
 * on the host's cores (a CPU device, or Oclgrind, which simulates on host
 * threads).  There the fused kernel reads each row once and does the whole
 * gradient in one pass, while CLBlast's path makes a GEMM pass forward,
 * another backward and element-wise passes between, on the same cores and
 * the same memory: measured 20 to 53 times slower (docs/kernels.md), and its
 * first use compiles CLBlast's kernels, 6 to 15 s per device on POCL here and
 * about 15 s on Oclgrind, most of a cold calibration.  The MLP keeps it (the
 * tiled GEMM against CLBlast's is a contest of GEMMs), and so do GPUs.
 */
static bool clblast_pruned(const hg_engine *eng, const hg__device *d)
{
    bool on_host = (d->info->cl_type & CL_DEVICE_TYPE_CPU) != 0 ||
                   strstr(d->info->platform_name, "Oclgrind") != NULL;
    return single_layer(eng) && on_host;
}

size_t hg__kchoice_candidates(const hg_engine *eng, const hg__device *d, hg__kchoice *out)
{
    if (eng->model.kind == HG_MODEL_CUSTOM) {
        out[0] = (hg__kchoice){HG__PATH_CUSTOM, 0, 0, 0, 0};
        return 1;
    }
    if (eng->gemm == HG_GEMM_NAIVE) {
        out[0] = (hg__kchoice){HG__PATH_NAIVE, 0, 0, 0, 0};
        return 1;
    }
    if (eng->gemm == HG_GEMM_CLBLAST) {
        /* No CLBlast on devices that cannot compile: it builds its kernels itself. */
        out[0] = (hg__kchoice){d->offline ? HG__PATH_NAIVE : HG__PATH_CLBLAST, 0, 0, 0, 0};
        return 1;
    }
    size_t n = own_candidates(eng, d, out);
    if (eng->gemm == HG_GEMM_AUTO && !eng->det && !clblast_pruned(eng, d))
        out[n++] = (hg__kchoice){d->offline ? HG__PATH_NAIVE : HG__PATH_CLBLAST, 0, 0, 0, 0};
    return n;
}

hg__kchoice hg__kchoice_default(const hg_engine *eng, const hg__device *d)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t n = hg__kchoice_candidates(eng, d, c);
    if (eng->gemm != HG_GEMM_AUTO || eng->det || n == 1)
        return c[0];
    /* Before measuring: our kernels on CPUs and where CLBlast is no candidate,
       CLBlast elsewhere. */
    return d->info->type == HG_DEVICE_CPU || clblast_pruned(eng, d) ? c[0] : c[n - 1];
}

bool hg__kchoice_valid(const hg_engine *eng, const hg__device *d, const hg__kchoice *k)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t n = hg__kchoice_candidates(eng, d, c);
    for (size_t i = 0; i < n; i++)
        if (c[i].path == k->path && c[i].a == k->a && c[i].b == k->b && c[i].c == k->c &&
            c[i].s == k->s)
            return true;
    return false;
}

/* The programs and kernels of a choice, as a device holds them (moved, not copied). */
typedef struct own_set {
    cl_program prog[2];
    char       label[2][64];
    cl_kernel  k[8];
} own_set;

static cl_kernel *own_kernel(hg__device *d, size_t i)
{
    cl_kernel *ks[] = {&d->k_fprep, &d->k_fgrad, &d->k_ffinish, &d->k_gnn[0], &d->k_gnn[1],
                       &d->k_gtn[0], &d->k_gtn[1], &d->k_gtr};
    return ks[i];
}

/* Move d's own programs and kernels into s, leaving d without any. */
static void take_set(hg__device *d, own_set *s)
{
    for (size_t i = 0; i < 8; i++) {
        s->k[i] = *own_kernel(d, i);
        *own_kernel(d, i) = NULL;
    }
    for (size_t i = 0; i < 2; i++) {
        s->prog[i] = d->own_prog[i];
        d->own_prog[i] = NULL;
        memcpy(s->label[i], d->own_label[i], sizeof s->label[i]);
        d->own_label[i][0] = '\0';
    }
}

/* Move s back into d (which holds none of its own). */
static void put_set(hg__device *d, const own_set *s)
{
    for (size_t i = 0; i < 8; i++)
        *own_kernel(d, i) = s->k[i];
    for (size_t i = 0; i < 2; i++) {
        d->own_prog[i] = s->prog[i];
        memcpy(d->own_label[i], s->label[i], sizeof d->own_label[i]);
    }
}

static void release_set(own_set *s)
{
    for (size_t i = 0; i < 8; i++)
        if (s->k[i])
            clReleaseKernel(s->k[i]);
    for (size_t i = 0; i < 2; i++)
        if (s->prog[i])
            clReleaseProgram(s->prog[i]);
    memset(s, 0, sizeof *s);
}

void hg__kchoice_release(hg__device *d)
{
    own_set s;
    take_set(d, &s);
    release_set(&s);
    hg__release_mem(&d->wt);
    hg__release_mem(&d->fpart);
    d->cap_rows = 0; /* the workspace depends on the choice */
}

/* detmath.cl followed by name.cl (malloc'ed). */
static char *with_detmath(const char *name, size_t *len)
{
    size_t l1 = 0, l2 = 0;
    const char *a = hg__kernel_source("detmath", &l1), *b = hg__kernel_source(name, &l2);
    if (!a || !b)
        return NULL;
    char *s = malloc(l1 + l2 + 2);
    if (!s)
        return NULL;
    memcpy(s, a, l1);
    s[l1] = '\n';
    memcpy(s + l1 + 1, b, l2);
    s[l1 + 1 + l2] = '\0';
    *len = l1 + 1 + l2;
    return s;
}

char *hg__model_source(size_t *len)
{
    return with_detmath("model", len);
}

static hg_status build(hg_engine *eng, hg__device *d, size_t li, const char *src, size_t len,
                       const char *label, const char *options, cl_program *prog,
                       hg_error *err)
{
    hg__program_origin origin;
    hg__program_cache pc = eng->pcache;
    pc.refresh = d->rebuild;
    (void)li;
    hg_status st = hg__program_build(d->ctx, d->cl_dev, d->info,
                                     d->what, label, src, len, options, &pc, prog, &origin,
                                     err);
    if (st == HG_OK && origin == HG__PROGRAM_CACHE)
        d->kc_from_cache = true;
    return st;
}

void hg__kchoice_break(hg_engine *eng, const char *name, int how)
{
    snprintf(eng->broken_kernel, sizeof eng->broken_kernel, "%s", name ? name : "");
    eng->broken_how = how;
}

/* The test hook's extra build option for candidate k, or "". */
static const char *broken(const hg_engine *eng, const hg__kchoice *k)
{
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    if (!eng->broken_kernel[0] || strcmp(name, eng->broken_kernel) != 0)
        return "";
    return eng->broken_how == 1 ? " -DHG_TEST_BROKEN_BUILD" : " -DHG_TEST_BROKEN_RESULT";
}

static hg_status apply_fused(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                             hg_error *err)
{
    size_t len = 0;
    char *src = with_detmath("fused", &len);
    if (!src)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "kernel source 'fused'");
    unsigned F = (unsigned)eng->model.inputs, K = (unsigned)eng->model.outputs;
    unsigned kp = (K + k->c - 1) / k->c * k->c;
    bool soft = eng->model.kind == HG_MODEL_SOFTMAX;
    char opt[256];
    /* Oclgrind's uninitialised-value plugin crashes on 16-wide shuffles: the
       lane sums go through memory there (same bits; see fused.cl) */
    bool oclgrind = strstr(d->info->platform_name, "Oclgrind") != NULL;
    snprintf(opt, sizeof opt,
             "-cl-std=CL1.2 -DHG_F=%u -DHG_K=%u -DHG_KP=%u -DHG_KC=%u -DHG_RF=%u -DHG_RB=%u "
             "-D%s%s%s", F, K, kp, k->c, k->a, k->b, soft ? "HG_SOFTMAX" : "HG_LINEAR",
             oclgrind ? " -DHG_HSUM_STORE" : "", broken(eng, k));
    snprintf(d->own_label[0], sizeof d->own_label[0], "fused-%s-%ux%u-r%ub%uk%u",
             soft ? "softmax" : "linear", F, K, k->a, k->b, k->c);
    hg_status st = build(eng, d, li, src, len, d->own_label[0], opt, &d->own_prog[0], err);
    free(src);
    if (st == HG_OK)
        st = hg__make_kernel(d, d->own_prog[0], "hg_fused_prep", &d->k_fprep, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, d->own_prog[0], "hg_fused_grad", &d->k_fgrad, err);
    if (st == HG_OK)
        st = hg__make_kernel(d, d->own_prog[0], "hg_fused_finish", &d->k_ffinish, err);
    return st;
}

static hg_status apply_tiled(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                             hg_error *err)
{
    size_t len = 0;
    const char *src = hg__kernel_source("gemm", &len);
    if (!src)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'gemm' missing");
    const unsigned tm[2] = {k->a, NARROW_TM}, tn[2] = {k->b, NARROW_TN};
    hg_status st = HG_OK;
    for (size_t i = 0; i < 2 && st == HG_OK; i++) {
        char opt[96];
        snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_TM=%u -DHG_TN=%u", tm[i], tn[i]);
        snprintf(d->own_label[i], sizeof d->own_label[i], "tiled-%ux%u", tm[i], tn[i]);
        st = build(eng, d, li, src, len, d->own_label[i], opt, &d->own_prog[i], err);
        if (st == HG_OK)
            st = hg__make_kernel(d, d->own_prog[i], "hg_gemm_nn", &d->k_gnn[i], err);
        if (st == HG_OK)
            st = hg__make_kernel(d, d->own_prog[i], "hg_gemm_tn", &d->k_gtn[i], err);
    }
    if (st == HG_OK)
        st = hg__make_kernel(d, d->own_prog[0], "hg_transpose", &d->k_gtr, err);
    return st;
}

static hg_status apply(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                       hg_error *err)
{
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    if (!hg__kchoice_valid(eng, d, k))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: kernel choice %u:%u:%u:%u (%s) is not one of its candidates "
                             "for this model and these engine options", d->what,
                             (unsigned)k->path, k->a, k->b, k->c, name);
    /* Build the new set beside the current one, which stays until the new one is whole. */
    own_set old;
    take_set(d, &old);
    bool old_from_cache = d->kc_from_cache;
    d->kc_from_cache = false;
    hg_status st = HG_OK;
    if (k->path == HG__PATH_OWN)
        st = k->c ? apply_fused(eng, d, li, k, err) : apply_tiled(eng, d, li, k, err);
    own_set built;
    take_set(d, &built);
    if (st != HG_OK) {
        release_set(&built);
        put_set(d, &old);
        d->kc_from_cache = old_from_cache;
        return st;
    }
    release_set(&old);
    put_set(d, &built);
    hg__release_mem(&d->wt);
    hg__release_mem(&d->fpart);
    d->cap_rows = 0; /* the workspace depends on the choice */
    d->kc = *k;
    d->kc_checked = false; /* new kernels: checked before their first use */
    return HG_OK;
}

hg_status hg__kchoice_apply(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                            hg_error *err)
{
    hg__platform_enter(d->serial);
    hg_status st = apply(eng, d, li, k, err);
    hg__platform_leave(d->serial);
    return st;
}
