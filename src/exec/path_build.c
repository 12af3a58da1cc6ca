/* SPDX-License-Identifier: MIT */
/*
 * path_build.c - what the compute paths (path_ops.h) share to build their
 * programs: kernel sources with detmath.cl (and transpose.cl) in front, the
 * Oclgrind option of transpose.cl, the program cache with
 * the device's rebuild flag, the candidates' names, and the test hook that
 * builds one candidate broken.  A leaf under the paths' files, so that
 * kchoice.c (which opens the paths) and the paths do not depend on each
 * other (tests/link_graph.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"

void hg__kchoice_name(const hg__kchoice *k, char *buf, size_t n)
{
    switch (k->path) {
    case HG__PATH_CLBLAST: snprintf(buf, n, "clblast"); break;
    case HG__PATH_NAIVE: snprintf(buf, n, "naive"); break;
    case HG__PATH_CUSTOM: snprintf(buf, n, "custom"); break;
    case HG__PATH_OWN:
        if (k->c && k->s)
            snprintf(buf, n, "fused r%u/b%u/k%u/s%u%s", k->a, k->b, k->c, k->s,
                     k->one ? "/one" : "");
        else if (k->c)
            snprintf(buf, n, "fused r%u/b%u/k%u%s", k->a, k->b, k->c, k->one ? "/one" : "");
        else if (k->s)
            snprintf(buf, n, "mlp-small %ux%u", k->a, k->b);
        else
            snprintf(buf, n, "tiled %ux%u", k->a, k->b);
        break;
    }
}

/* The embedded sources names[0 .. n - 1] (n <= CAT_MAX), one after the other, a
   newline after each (malloc'ed; NULL when out of memory or one is missing). */
#define CAT_MAX 3
static char *cat_sources(const char *const *names, size_t n, size_t *len)
{
    const char *src[CAT_MAX];
    size_t l[CAT_MAX], total = 0;
    if (n > CAT_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(src[i] = hg__kernel_source(names[i], &l[i])))
            return NULL;
        total += l[i] + 1;
    }
    char *s = malloc(total + 1);
    if (!s)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + at, src[i], l[i]);
        at += l[i];
        s[at++] = '\n';
    }
    s[at] = '\0';
    *len = at;
    return s;
}

char *hg__path_source_with_detmath(const char *name, size_t *len)
{
    const char *names[] = {"detmath", name};
    return cat_sources(names, 2, len);
}

char *hg__path_source_with_transpose(const char *name, size_t *len)
{
    const char *names[] = {"detmath", "transpose", name};
    return cat_sources(names, 3, len);
}

char *hg__path_source_with_gemm(const char *name, size_t *len)
{
    const char *names[] = {"gemm", name};
    return cat_sources(names, 2, len);
}

char *hg__model_source(size_t *len)
{
    return hg__path_source_with_transpose("model", len);
}

const char *hg__gt_scalar_option(const hg__device *d)
{
    return strstr(d->info->platform_name, "Oclgrind") ? " -DHG_GT_SCALAR" : "";
}

hg_status hg__path_build(hg_engine *eng, hg__device *d, const char *src, size_t len,
                         const char *label, const char *options, cl_program *prog,
                         hg_error *err)
{
    hg__program_origin origin;
    hg__program_cache pc = eng->pcache;
    pc.refresh = d->rebuild;
    pc.pending = d->defer_store ? &d->pending : NULL;
    hg_status st = hg__program_build(d->ctx, d->cl_dev, d->info, d->what, label, src, len,
                                     options, &pc, prog, &origin, err);
    if (st == HG_OK && origin == HG__PROGRAM_CACHE)
        d->kc_from_cache = true;
    d->path_builds += st == HG_OK;
    return st;
}

const char *hg__path_broken_option(const hg_engine *eng, const hg__kchoice *k)
{
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    if (!eng->broken_kernel[0] || strcmp(name, eng->broken_kernel) != 0)
        return "";
    return eng->broken_how == 1 ? " -DHG_TEST_BROKEN_BUILD" : " -DHG_TEST_BROKEN_RESULT";
}
