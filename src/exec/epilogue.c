/* SPDX-License-Identifier: MIT */
/*
 * epilogue.c - the kernels every gradient path ends with: the output layer
 * (Z -> dLoss/dZ and a loss per row) and the blocked column sums that give
 * the bias gradient and the loss of each result record.
 *
 * Shared by dense.c (the CLBlast and naive paths), custom.c and tiled.c (the
 * MLP's own GEMM path), with the layer workspace the dense and tiled paths
 * use; it depends on none of them (tests/link_graph.py).
 */
#include "path_ops.h"

size_t hg__colsum_block(const hg_engine *eng)
{
    return eng->det && eng->block_rows < HG__COLSUM_BLOCK ? eng->block_rows : HG__COLSUM_BLOCK;
}

size_t hg__colsum_blocks(const hg_engine *eng, size_t rows)
{
    size_t cb = hg__colsum_block(eng);
    return (rows + cb - 1) / cb;
}

size_t hg__colsum_items(size_t cols)
{
    return ((cols + 15) / 16 + HG__COLSUM_GROUPS - 1) / HG__COLSUM_GROUPS + 1;
}

hg_status hg__finish_sums(hg__device *d, cl_mem partial, size_t poff, size_t nb,
                          size_t width, size_t ooff, cl_uint loss_index, hg_error *err)
{
    cl_uint up = (cl_uint)poff, unb = (cl_uint)nb, uw = (cl_uint)width, uo = (cl_uint)ooff;
    hg__karg a[] = {HG_MEM(partial), HG_U32(up), HG_U32(unb), HG_U32(uw), HG_MEM(d->grad),
                    HG_U32(uo), HG_U32(loss_index)};
    hg_status st = hg__set_args(d, d->k_finish, "hg_colsum_finish", a, 7, err);
    size_t gws = width;
    return st == HG_OK ? hg__launch(d, d->k_finish, 1, &gws, NULL, "hg_colsum_finish", err)
                       : st;
}

hg_status hg__column_sums(hg_engine *eng, hg__device *d, const hg__batch *b, cl_mem g,
                          size_t cols, size_t li, hg_error *err)
{
    const size_t m = b->rows, P = eng->nparams;
    const hg__layer *ly = &eng->layers[li];
    cl_uint goff = 0, um = (cl_uint)m, c = (cl_uint)cols, blk = (cl_uint)hg__colsum_block(eng);
    hg__karg cs[] = {HG_MEM(g), HG_U32(goff), HG_U32(um), HG_U32(c), HG_MEM(d->loss),
                     HG_U32(blk), HG_MEM(d->partial[li])};
    hg_status st = hg__set_args(d, d->k_colsum, "hg_colsum_partial", cs, 7, err);
    size_t g2[2] = {hg__colsum_items(cols), hg__colsum_blocks(eng, m)};
    if (st == HG_OK)
        st = hg__launch(d, d->k_colsum, 2, g2, NULL, "hg_colsum_partial", err);
    /* one finish per record: its column-sum blocks */
    size_t nb_all = hg__colsum_blocks(eng, m);
    size_t per = b->nrec > 1 ? b->block_rows / blk : nb_all;
    for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
        size_t first = r * per, nb = nb_all - first < per ? nb_all - first : per;
        size_t rec = r * (P + 1);
        st = hg__finish_sums(d, d->partial[li], first * (cols + 1), nb, cols + 1,
                         rec + ly->b_off,
                         li + 1 == eng->nlayers ? (cl_uint)(rec + P) : 0xffffffffu, err);
    }
    return st;
}

hg_status hg__run_output(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    const size_t L = eng->nlayers, m = b->rows;
    const hg_model_desc *md = &eng->model;
    const hg__layer *out = &eng->layers[L - 1];
    cl_uint um = (cl_uint)m, zoff = 0, cols = (cl_uint)out->out, boff = (cl_uint)out->b_off;
    /* the batch's rows: from b->row, or through its index list (read in place) */
    cl_uint row0 = (cl_uint)b->row, base = (cl_uint)b->base, indexed = b->idx ? 1u : 0u;
    cl_mem idx = b->idx ? b->idx : d->params; /* any buffer when not indexed */
    bool linear = md->kind == HG_MODEL_LINEAR;
    cl_kernel k = linear ? d->k_linear_out : d->k_softmax_out;
    const char *name = linear ? "hg_linear_out" : "hg_softmax_out";
    cl_mem truth = linear ? b->y : b->labels; /* targets or labels */
    hg__karg args[] = {HG_MEM(d->act[L - 1]), HG_U32(zoff), HG_U32(um),   HG_U32(cols),
                       HG_MEM(d->params),     HG_U32(boff), HG_MEM(truth), HG_U32(row0),
                       HG_MEM(idx),           HG_U32(base), HG_U32(indexed), HG_MEM(d->loss)};
    hg_status st = hg__set_args(d, k, name, args, 12, err);
    /* a row a work-item (linear), 16 rows a work-item (softmax) */
    size_t gws = linear ? m : (m + 15) / 16;
    if (st == HG_OK)
        st = hg__launch(d, k, 1, &gws, NULL, name, err);
    return st;
}

hg_status hg__layer_workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    const size_t f = sizeof(float);
    hg_status st = HG_OK;
    for (size_t l = 0; l < eng->nlayers && st == HG_OK; l++) {
        st = hg__alloc_mem(d, &d->act[l], rows * eng->layers[l].out * f, "activations", err);
        if (st == HG_OK)
            st = hg__alloc_mem(d, &d->partial[l],
                               hg__colsum_blocks(eng, rows) * (eng->layers[l].out + 1) * f,
                               "column sums", err);
    }
    for (size_t p = 0; p < 2 && st == HG_OK && eng->widest_hidden; p++)
        st = hg__alloc_mem(d, &d->pingpong[p], rows * eng->widest_hidden * f,
                           "backprop gradients", err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &d->loss, rows * f, "row losses", err);
    return st;
}
