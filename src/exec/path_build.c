/* SPDX-License-Identifier: MIT */
/*
 * path_build.c - what the compute paths (path_ops.h) share to build their
 * programs: kernel sources with detmath.cl in front, the program cache with
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

char *hg__path_source_with_detmath(const char *name, size_t *len)
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
    return hg__path_source_with_detmath("model", len);
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
