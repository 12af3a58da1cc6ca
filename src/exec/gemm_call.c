/* SPDX-License-Identifier: MIT */
/*
 * gemm_call.c - launching cl/gemm.cl's kernels, for the two paths that use
 * them (tiled.c, the MLP on the tiled GEMM; mlp_small.c, the MLP at small
 * batches): a GEMM call with its 22 arguments, the weight gradient in
 * chunks of rows or on the batch transposed, and the transpose of a weight
 * matrix and of a batch (cl/model.cl's hg_gather_t, the device's own: it
 * does not depend on the tile).  A leaf under those
 * paths (tests/link_graph.py).
 */
#include <stdio.h>
#include <string.h>

#include "path_ops.h"

bool hg__fetch_ahead(const hg_engine *eng, const hg__device *d)
{
    return hg__real_cpu(d) && !eng->no_prefetch;
}

const char *hg__gemm_prefetch_option(const hg_engine *eng, const hg__device *d)
{
    return hg__fetch_ahead(eng, d) ? " -DHG_PREFETCH_C" : "";
}

hg_status hg__gemm_build(hg_engine *eng, hg__device *d, unsigned tm, unsigned tn, char *label,
                         size_t label_size, cl_program *prog, hg_error *err)
{
    size_t len = 0;
    const char *src = hg__kernel_source("gemm", &len);
    if (!src)
        return hg__error_set(err, HG_INTERNAL, 0, "embedded kernel 'gemm' missing");
    char opt[96];
    snprintf(opt, sizeof opt, "-cl-std=CL1.2 -DHG_TM=%u -DHG_TN=%u%s", tm, tn,
             hg__gemm_prefetch_option(eng, d));
    snprintf(label, label_size, "tiled-%ux%u", tm, tn);
    return hg__path_build(eng, d, src, len, label, opt, prog, err);
}

static hg_status gemm_launch(hg__device *d, cl_kernel kern, size_t tm, size_t tn,
                             const hg__gemm_args *g, const hg__gemm_extra *x, hg_error *err);

size_t hg__gemm_k_rows(const hg__device *d, const hg__gemm_args *g)
{
    /* The operand every block of the other is read against: all of B where the
       threads take block rows, all of A where they take block columns (each
       column strip of B is then read by consecutive work-items, from L2) */
    const size_t reread = hg__gemm_by_columns(d, g->m, g->n) ? g->m : g->n;
    /* a packed B is read as streams, which the prefetchers follow from L3:
       one call (docs/kernels.md, "B packed in strips") */
    if (g->bpacked || !d->gemm_kblock || g->k * reread * 4 <= d->gemm_kblock || g->k <= 16)
        return g->k;
    size_t rows = d->gemm_kblock / (4 * reread);
    if (rows < 16)
        rows = 16;
    size_t blocks = (g->k + rows - 1) / rows;
    return (g->k + blocks - 1) / blocks;
}

hg_status hg__gemm_call(hg__device *d, cl_kernel kern, size_t tm, size_t tn,
                        const hg__gemm_args *g, hg_error *err)
{
    return hg__gemm_call_with(d, kern, tm, tn, g, NULL, err);
}

hg_status hg__gemm_call_with(hg__device *d, cl_kernel kern, size_t tm, size_t tn,
                             const hg__gemm_args *g, const hg__gemm_extra *x, hg_error *err)
{
    /* K in blocks of equal size, each holding at most d->gemm_kblock bytes of the
       operand that is read again and again (hg__gemm_k_rows): a block is read from
       L2, where all of it (B = W1, 784 x 256 floats, in the MLP's first layer)
       would come from L3 or memory each time.  Each call after the first goes on
       from C (flag 8) and only the last applies the epilogue: the same fma chain,
       so the same bits as one call (docs/kernels.md, "The GEMM's K blocks"). */
    const size_t kb = hg__gemm_k_rows(d, g);
    if (kb >= g->k)
        return gemm_launch(d, x ? x->kern : kern, tm, tn, g, x, err);
    hg_status st = HG_OK;
    for (size_t k0 = 0; k0 < g->k && st == HG_OK; k0 += kb) {
        hg__gemm_args c = *g;
        hg__arows ar = g->ar ? *g->ar : (hg__arows){NULL, 0, 0};
        c.k = g->k - k0 < kb ? g->k - k0 : kb;
        c.boff = g->boff + k0 * (g->bpacked ? tn : g->ldb);
        if (!g->ta)
            c.aoff = g->aoff + k0; /* the next columns of A's rows, in place or not */
        else if (ar.idx) {
            ar.ioff += k0; /* the next rows of A through the index */
            c.ar = &ar;
        } else
            c.aoff = g->aoff + k0 * g->lda;
        if (k0)
            c.flags |= 8u;
        if (k0 + c.k < g->k)
            c.flags &= 8u; /* the epilogue once, on the whole sum */
        /* x's work-items with the first call, the others the GEMM's own */
        st = x && !k0 ? gemm_launch(d, x->kern, tm, tn, &c, x, err)
                      : gemm_launch(d, kern, tm, tn, &c, NULL, err);
    }
    return st;
}

cl_uint hg__cpu_threads(const hg__device *d)
{
    if (d->info->type != HG_DEVICE_CPU)
        return 0;
    return d->sub_units ? d->sub_units : d->info->compute_units;
}

bool hg__gemm_by_columns(const hg__device *d, size_t m, size_t n)
{
    if (d->gemm_order)
        return d->gemm_order == 2;
    /* a program from a prebuilt binary may predate flag 16: rows, as always */
    return hg__cpu_threads(d) > 1 && !d->offline && n > m;
}

static hg_status gemm_launch(hg__device *d, cl_kernel kern, size_t tm, size_t tn,
                             const hg__gemm_args *g, const hg__gemm_extra *x, hg_error *err)
{
    const char *name = x ? x->name : g->ta ? "hg_gemm_tn" : "hg_gemm_nn";
    if (x && x->nargs > HG__GEMM_EXTRA_ARGS)
        return hg__error_set(err, HG_INTERNAL, 0, "%s on %s: %zu extra arguments", name,
                             d->what, x->nargs);
    static const hg__arows consecutive = {NULL, 0, 0};
    const hg__arows *ar = g->ar ? g->ar : &consecutive;
    if (g->aoff > 0xffffffffu || g->boff > 0xffffffffu || g->coff > 0xffffffffu ||
        ar->ioff > 0xffffffffu || ar->base > 0xffffffffu || g->bias_off > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "%s on %s: offset beyond 2^32", name, d->what);
    cl_uint um = (cl_uint)g->m, un = (cl_uint)g->n, uk = (cl_uint)g->k,
            ua = (cl_uint)g->aoff, ula = (cl_uint)g->lda, ub = (cl_uint)g->boff,
            ulb = (cl_uint)g->ldb, uc = (cl_uint)g->coff, ulc = (cl_uint)g->ldc,
            ubo = (cl_uint)g->bias_off, zero = 0, ulm = (cl_uint)g->ldm, fl = g->flags;
    const bool cols = hg__gemm_by_columns(d, g->m, g->n);
    if (cols)
        fl |= 16u;
    if (g->bpacked) {
        if (g->n % tn || g->n < tn) /* gemm.cl's strips hold whole blocks only */
            return hg__error_set(err, HG_INTERNAL, 0, "%s on %s: B packed in strips of %zu "
                                 "columns for %zu columns", name, d->what, tn, g->n);
        fl |= 64u;
    }
    cl_mem a = g->a, b = g->b, c = g->c;
    cl_mem mk = g->mask ? g->mask : d->params, idx = ar->idx ? ar->idx : a;
    cl_uint uio = (cl_uint)ar->ioff, ubase = (cl_uint)ar->base, uind = ar->idx ? 1u : 0u;
    size_t nb = (g->n + tn - 1) / tn, mb = (g->m + tm - 1) / tm;
    size_t gws[2] = {cols ? mb : nb, cols ? nb : mb};
    /* any local size gives the same bits: one work-item per group on CPUs */
    size_t maxwg = d->info->max_work_group_size ? d->info->max_work_group_size : 1;
    size_t cpu[2] = {1, 1}, other[2] = {maxwg < 8 ? maxwg : 8, 1};
    const size_t *lws = d->info->type == HG_DEVICE_CPU ? cpu : other;
    /* x's work-items in rows of the first dimension's size (hg__launch rounds it
       up to the local size) after the GEMM's gy rows */
    const size_t gx = (gws[0] + lws[0] - 1) / lws[0] * lws[0];
    cl_uint gy = (cl_uint)gws[1];
    if (x)
        gws[1] += (x->items + gx - 1) / gx;
    hg__karg args[22 + 1 + HG__GEMM_EXTRA_ARGS] = {
        HG_U32(um),  HG_U32(un),  HG_U32(uk),  HG_MEM(a),         HG_U32(ua),
        HG_U32(ula), HG_MEM(idx), HG_U32(uio), HG_U32(ubase),     HG_U32(uind),
        HG_MEM(b),   HG_U32(ub),  HG_U32(ulb), HG_MEM(c),
        HG_U32(uc),  HG_U32(ulc), HG_MEM(d->params), HG_U32(ubo), HG_MEM(mk),
        HG_U32(zero), HG_U32(ulm), HG_U32(fl), HG_U32(gy)};
    for (size_t i = 0; x && i < x->nargs; i++)
        args[23 + i] = x->args[i];
    hg_status st = hg__set_args(d, kern, name, args, x ? 23 + x->nargs : 22, err);
    if (st == HG_OK)
        st = hg__launch(d, kern, 2, gws, lws, name, err);
    return st;
}

bool hg__gemm_packs(const hg__device *d, size_t m, size_t n, size_t tn)
{
    if (d->gemm_pack == 1 || d->offline || !tn || n < tn || n % tn)
        return false;
    return d->gemm_pack == 2 || (hg__real_cpu(d) && m >= HG__PACK_MIN_ROWS);
}

hg_status hg__gemm_pack(hg__device *d, cl_kernel pack, size_t tn, size_t k, size_t n,
                        cl_mem b, size_t boff, size_t ldb, cl_mem dst, size_t doff,
                        hg_error *err)
{
    if (!pack)
        return hg__error_set(err, HG_BUILD, 0, "hg_pack_b on %s: its GEMM program has no "
                             "such kernel", d->what);
    if (!tn || n % tn || boff + (k ? k - 1 : 0) * ldb + n > 0xffffffffu ||
        doff + k * n > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "hg_pack_b on %s: %zu x %zu in strips of %zu "
                             "columns beyond its 32-bit offsets", d->what, k, n, tn);
    cl_uint uk = (cl_uint)k, un = (cl_uint)n, ub = (cl_uint)boff, ul = (cl_uint)ldb,
            ud = (cl_uint)doff;
    hg__karg args[] = {HG_U32(uk), HG_U32(un), HG_MEM(b), HG_U32(ub), HG_U32(ul),
                       HG_MEM(dst), HG_U32(ud)};
    hg_status st = hg__set_args(d, pack, "hg_pack_b", args, 7, err);
    size_t gws[2] = {n / tn, (k + HG__PACK_ROWS - 1) / HG__PACK_ROWS};
    size_t maxwg = d->info->max_work_group_size ? d->info->max_work_group_size : 1;
    size_t cpu[2] = {1, 1}, other[2] = {maxwg < 8 ? maxwg : 8, 1}; /* as gemm_launch */
    if (st == HG_OK)
        st = hg__launch(d, pack, 2, gws, d->info->type == HG_DEVICE_CPU ? cpu : other,
                        "hg_pack_b", err);
    if (st == HG_OK)
        d->packs++;
    return st;
}

hg_status hg__gemm_pack_args(hg__device *d, cl_kernel pack, size_t tn, hg__gemm_args *g,
                             cl_mem dst, size_t doff, hg_error *err)
{
    hg_status st = hg__gemm_pack(d, pack, tn, g->k, g->n, g->b, g->boff, g->ldb, dst, doff, err);
    g->b = dst;
    g->boff = doff;
    g->ldb = g->k;
    g->bpacked = true;
    return st;
}

hg_status hg__gemm_weight_grad(hg__device *d, cl_kernel gtn, size_t tm, size_t tn,
                               const hg__layer *ly, cl_mem a, size_t aoff,
                               const hg__arows *ar, cl_mem g, size_t lo, size_t m,
                               size_t rec, const hg__gemm_extra *x, hg_error *err)
{
    hg_status st = HG_OK;
    for (size_t k0 = 0; k0 < m && st == HG_OK; k0 += HG__TN_CHUNK) {
        size_t kn = m - k0 < HG__TN_CHUNK ? m - k0 : HG__TN_CHUNK;
        const hg__arows chunk = {ar ? ar->idx : NULL, ar ? ar->ioff + lo + k0 : 0,
                                 ar ? ar->base : 0};
        hg__gemm_args ga = {.ta = true, .m = ly->in, .n = ly->out, .k = kn, .a = a,
                            .aoff = ar ? 0 : aoff + (lo + k0) * ly->in, .lda = ly->in,
                            .ar = ar ? &chunk : NULL, .b = g, .boff = (lo + k0) * ly->out,
                            .ldb = ly->out, .c = d->grad, .coff = rec + ly->w_off,
                            .ldc = ly->out, .flags = k0 ? 8u : 0u};
        st = hg__gemm_call_with(d, gtn, tm, tn, &ga, k0 ? NULL : x, err);
    }
    return st;
}

/* dst[doff + j * rows + i] = row i of a, column j, for i < rows, j < cols: the
   device's hg_gather_t (model.cl). */
static hg_status gather_t(hg__device *d, size_t rows, size_t cols, cl_mem a, size_t aoff,
                          size_t lda, const hg__arows *ar, cl_mem dst, size_t doff,
                          hg_error *err)
{
    cl_kernel ggt = d->k_gather_t;
    if (!ggt) /* the paths that need it do not open without it (hg__gemm_ready) */
        return hg__error_set(err, HG_BUILD, 0, "hg_gather_t on %s: its model program "
                             "has no such kernel", d->what);
    if (aoff > 0xffffffffu || (ar && (ar->ioff > 0xffffffffu || ar->base > 0xffffffffu)) ||
        doff + rows * cols > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "hg_gather_t on %s: offset beyond 2^32",
                             d->what);
    cl_uint ur = (cl_uint)rows, uc = (cl_uint)cols, ua = (cl_uint)aoff, ul = (cl_uint)lda,
            uio = ar ? (cl_uint)ar->ioff : 0u, ubase = ar ? (cl_uint)ar->base : 0u,
            uind = ar && ar->idx ? 1u : 0u, udo = (cl_uint)doff;
    cl_mem idx = ar && ar->idx ? ar->idx : a;
    hg__karg args[] = {HG_U32(ur),  HG_U32(uc),    HG_MEM(a),   HG_U32(ua),
                       HG_U32(ul),  HG_MEM(idx),   HG_U32(uio), HG_U32(ubase),
                       HG_U32(uind), HG_MEM(dst),  HG_U32(udo), HG_U32(ur)};
    hg_status st = hg__set_args(d, ggt, "hg_gather_t", args, 12, err);
    size_t gws[2] = {(cols + 15) / 16, (rows + 15) / 16};
    size_t maxwg = d->info->max_work_group_size ? d->info->max_work_group_size : 1;
    size_t cpu[2] = {1, 1}, other[2] = {maxwg < 8 ? maxwg : 8, 1}; /* as hg__gemm_call */
    if (st == HG_OK)
        st = hg__launch(d, ggt, 2, gws, d->info->type == HG_DEVICE_CPU ? cpu : other,
                        "hg_gather_t", err);
    return st;
}

hg_status hg__gemm_ready(const hg__device *d, const char *path, hg_error *err)
{
    if (d->k_gather_t)
        return HG_OK;
    return hg__error_set(err, HG_BUILD, 0, "%s on %s: its model program has no hg_gather_t "
                         "(a prebuilt model.bin older than this hetgrad: export the binaries "
                         "again, docs/programs.md)", path, d->what);
}

hg_status hg__gemm_transpose(hg__device *d, size_t rows, size_t cols, size_t off, cl_mem wt,
                             size_t wt_off, hg_error *err)
{
    return gather_t(d, rows, cols, d->params, off, cols, NULL, wt, wt_off, err);
}

hg_status hg__gemm_gather_t(hg__device *d, size_t rows, size_t cols, cl_mem a, size_t aoff,
                            size_t lda, const hg__arows *ar, cl_mem dst, hg_error *err)
{
    return gather_t(d, rows, cols, a, aoff, lda, ar, dst, 0, err);
}

hg_status hg__gemm_weight_grad_t(hg__device *d, cl_kernel gnn, size_t tm, size_t tn,
                                 const hg__layer *ly, cl_mem xt, size_t ldx, cl_mem g,
                                 size_t gpacked, size_t lo, size_t m, size_t rec,
                                 const hg__gemm_extra *x, hg_error *err)
{
    hg__gemm_args ga = {.m = ly->in, .n = ly->out, .k = m, .a = xt, .aoff = lo, .lda = ldx,
                        .b = g, .boff = lo * (gpacked ? tn : ly->out),
                        .ldb = gpacked ? gpacked : ly->out, .c = d->grad,
                        .coff = rec + ly->w_off, .ldc = ly->out, .bpacked = gpacked > 0};
    return hg__gemm_call_with(d, gnn, tm, tn, &ga, x, err);
}

hg_status hg__gemm_weight_grad_x(hg__device *d, cl_kernel gnn, size_t tm,
                                 size_t tn, const hg__layer *ly, cl_mem a, size_t aoff,
                                 const hg__arows *ar, cl_mem xt, cl_mem g, size_t gpacked,
                                 size_t lo, size_t m, size_t rec, hg_error *err)
{
    hg_status st = HG_OK;
    for (size_t k0 = 0; k0 < m && st == HG_OK; k0 += HG__TN_CHUNK) {
        size_t kn = m - k0 < HG__TN_CHUNK ? m - k0 : HG__TN_CHUNK;
        const hg__arows chunk = {ar ? ar->idx : NULL, ar ? ar->ioff + lo + k0 : 0,
                                 ar ? ar->base : 0};
        st = hg__gemm_gather_t(d, kn, ly->in, a, ar ? 0 : aoff + (lo + k0) * ly->in,
                               ly->in, ar ? &chunk : NULL, xt, err);
        hg__gemm_args ga = {.m = ly->in, .n = ly->out, .k = kn, .a = xt, .lda = kn, .b = g,
                            .boff = (lo + k0) * (gpacked ? tn : ly->out),
                            .ldb = gpacked ? gpacked : ly->out, .c = d->grad,
                            .coff = rec + ly->w_off, .ldc = ly->out,
                            .flags = k0 ? 8u : 0u, .bpacked = gpacked > 0};
        if (st == HG_OK)
            st = hg__gemm_call(d, gnn, tm, tn, &ga, err);
    }
    return st;
}
