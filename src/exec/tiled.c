/* SPDX-License-Identifier: MIT */
/*
 * tiled.c - the MLP on hetgrad's register-tiled GEMM (cl/gemm.cl): forward
 * GEMMs with the bias and ReLU fused into their epilogue, the weight
 * gradient as A^T G (one GEMM per record, so that a deterministic block's
 * sum is its own), and backprop as G W^T (W transposed once per batch) with
 * the ReLU derivative fused as a mask.  Every element is a sequential fma
 * chain, so the bits do not depend on the block shape or the device.
 *
 * The first layer's weight gradient X^T G runs as hg_gemm_nn on X^T, 256 rows
 * of the batch at a time transposed by hg_gather_t (model.cl says why), where
 * its layer is not narrow: the same bits as hg_gemm_tn on X.
 *
 * Where hg__gemm_packs says so (a CPU device, a batch of at least
 * HG__PACK_MIN_ROWS rows), a forward GEMM reads its weights, and the first
 * layer's weight gradient its G, packed in strips of the tile's width, packed
 * once a batch by hg_pack_b: the same values in the same order, so the same
 * bits.
 */
#include <stdlib.h>

#include "path_ops.h"

/* Tiled GEMM block for layers narrower than 16 columns. */
#define NARROW_TM 8u
#define NARROW_TN 8u

/* The tiled path's state (hg__device.ps): its programs, kernels and buffers. */
typedef struct tiled_state {
    cl_program prog[2];       /* [0] the choice's block, [1] the narrow 8 x 8 block */
    char       label[2][64];
    cl_kernel  gnn[2], gtn[2]; /* hg_gemm_nn, hg_gemm_tn of each program */
    cl_kernel  pack;          /* hg_pack_b of [0]; NULL from a prebuilt program */
    cl_mem     wt;            /* transposed weights, P floats */
    cl_mem     wp;            /* the weights packed in strips (hg__gemm_pack), each
                                 layer's at its w_off, P floats */
    cl_mem     gp;            /* the first layer's G packed in strips, for its weight
                                 gradient (rows x its outputs floats); NULL: none */
    cl_mem     xt;            /* HG__TN_CHUNK rows of the batch, transposed */
} tiled_state;

/* C = op(A) B (+ epilogue flags), on the program whose block fits: products
   narrower than the choice's block on the 8 x 8 program. */
static hg_status gemm(hg__device *d, const hg__gemm_args *g, hg_error *err)
{
    tiled_state *ts = d->ps;
    int w = g->n < d->kc.b ? 1 : 0;
    size_t tm = w ? NARROW_TM : d->kc.a, tn = w ? NARROW_TN : d->kc.b;
    return hg__gemm_call(d, g->ta ? ts->gtn[w] : ts->gnn[w], tm, tn, g, err);
}

/* wt[w_off ...] (out x in) = W^T for the layers that backpropagate. */
static hg_status transpose_weights(hg_engine *eng, hg__device *d, hg_error *err)
{
    tiled_state *ts = d->ps;
    hg_status st = HG_OK;
    for (size_t l = 1; l < eng->nlayers && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        st = hg__gemm_transpose(d, ly->in, ly->out, ly->w_off, ts->wt, ly->w_off, err);
    }
    return st;
}

static hg_status run_tiled(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    tiled_state *ts = d->ps;
    const size_t L = eng->nlayers, m = b->rows, P = eng->nparams, B = b->block_rows;
    hg_status st = transpose_weights(eng, d, err);
    /* the first layer's rows: from b->row, or an index step's read in place */
    const hg__arows in_place = {b->idx, 0, b->base};
    const hg__arows *xrows = b->idx ? &in_place : NULL;
    const size_t xoff = b->idx ? 0 : b->row;

    /* forward: hidden layers with bias + ReLU in the epilogue */
    for (size_t l = 0; l < L && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        bool hidden = l + 1 < L;
        hg__gemm_args g = {.m = m, .n = ly->out, .k = ly->in, .a = l == 0 ? b->x : d->act[l - 1],
                           .aoff = l == 0 ? xoff * ly->in : 0, .lda = ly->in,
                           .ar = l == 0 ? xrows : NULL, .b = d->params, .boff = ly->w_off,
                           .ldb = ly->out, .c = d->act[l], .ldc = ly->out,
                           .bias_off = ly->b_off, .flags = hidden ? 3u : 0u};
        if (ts->wp && ly->out >= d->kc.b && hg__gemm_packs(d, m, ly->out, d->kc.b))
            st = hg__gemm_pack_args(d, ts->pack, d->kc.b, &g, ts->wp, ly->w_off, err);
        if (st == HG_OK)
            st = gemm(d, &g, err);
    }
    if (st == HG_OK)
        st = hg__run_output(eng, d, b, err);

    /* backward */
    cl_mem g = d->act[L - 1];
    for (size_t li = L; li-- > 0 && st == HG_OK;) {
        const hg__layer *ly = &eng->layers[li];
        cl_mem a = li == 0 ? b->x : d->act[li - 1];
        size_t aoff = li == 0 ? xoff * ly->in : 0;
        int w = ly->out < d->kc.b ? 1 : 0; /* as gemm(): narrow products on 8 x 8 */
        /* the first layer's G packed for its weight gradient, where it pays */
        const bool gp = li == 0 && !w && ts->gp && hg__gemm_packs(d, m, ly->out, d->kc.b);
        if (gp)
            st = hg__gemm_pack(d, ts->pack, d->kc.b, m, ly->out, g, 0, ly->out, ts->gp, 0,
                               err);
        for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
            size_t lo = r * B, n = b->nrec == 1 ? m : (m - lo < B ? m - lo : B);
            if (li == 0 && !w)
                st = hg__gemm_weight_grad_x(d, ts->gnn[0], d->kc.a, d->kc.b, ly, a,
                                            aoff, xrows, ts->xt, gp ? ts->gp : g,
                                            gp ? m : 0, lo, n, r * (P + 1), err);
            else
                st = hg__gemm_weight_grad(d, ts->gtn[w], w ? NARROW_TM : d->kc.a,
                                          w ? NARROW_TN : d->kc.b, ly, a, aoff,
                                          li == 0 ? xrows : NULL, g, lo, n, r * (P + 1),
                                          NULL, err);
        }
        if (st == HG_OK)
            st = hg__column_sums(eng, d, b, g, ly->out, li, err);
        if (st != HG_OK || li == 0)
            break;
        /* G_prev = (G W^T) masked by ReLU'(A_prev) */
        cl_mem next = d->pingpong[(L - 1 - li) % 2];
        hg__gemm_args bp = {.m = m, .n = ly->in, .k = ly->out, .a = g, .lda = ly->out,
                            .b = ts->wt, .boff = ly->w_off, .ldb = ly->in, .c = next,
                            .ldc = ly->in, .mask = d->act[li - 1], .ldm = ly->in,
                            .flags = 4u};
        st = gemm(d, &bp, err);
        g = next;
    }
    return st;
}

hg_status hg__tiled_forward(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, cl_mem c,
                            size_t w_off, size_t b_off, bool relu, hg_error *err)
{
    hg__gemm_args g = {.m = m, .n = n, .k = k, .a = a, .lda = k, .b = d->params, .boff = w_off,
                       .ldb = n, .c = c, .ldc = n, .bias_off = b_off,
                       .flags = relu ? 3u : 1u};
    return gemm(d, &g, err);
}

bool hg__tiled_ready(const hg__device *d)
{
    const tiled_state *ts = d->ops == &hg__ops_tiled ? d->ps : NULL;
    return ts && ts->gnn[0] && ts->gnn[1];
}

static void drop_workspace(void *state)
{
    tiled_state *ts = state;
    if (!ts)
        return;
    hg__release_mem(&ts->wt);
    hg__release_mem(&ts->wp);
    hg__release_mem(&ts->gp);
    hg__release_mem(&ts->xt);
}

static void release(void *state)
{
    tiled_state *ts = state;
    if (!ts)
        return;
    drop_workspace(ts);
    cl_kernel ks[] = {ts->gnn[0], ts->gnn[1], ts->gtn[0], ts->gtn[1], ts->pack};
    for (size_t i = 0; i < 5; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    for (size_t i = 0; i < 2; i++)
        if (ts->prog[i])
            clReleaseProgram(ts->prog[i]);
    free(ts);
}

static hg_status open_tiled(hg_engine *eng, hg__device *d, const hg__kchoice *k,
                            void **state, hg_error *err)
{
    *state = NULL;
    hg_status ready = hg__gemm_ready(d, "the tiled GEMM", err);
    if (ready != HG_OK)
        return ready;
    tiled_state *ts = calloc(1, sizeof *ts);
    if (!ts)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "tiled kernels on %s", d->what);
    const unsigned tm[2] = {k->a, NARROW_TM}, tn[2] = {k->b, NARROW_TN};
    hg_status st = HG_OK;
    for (size_t i = 0; i < 2 && st == HG_OK; i++) {
        st = hg__gemm_build(eng, d, tm[i], tn[i], ts->label[i], sizeof ts->label[i],
                            &ts->prog[i], err);
        if (st == HG_OK)
            st = hg__make_kernel(d, ts->prog[i], "hg_gemm_nn", &ts->gnn[i], err);
        if (st == HG_OK)
            st = hg__make_kernel(d, ts->prog[i], "hg_gemm_tn", &ts->gtn[i], err);
    }
    /* a prebuilt program may predate hg_pack_b: hg__gemm_packs refuses it anyway */
    if (st == HG_OK && !d->offline)
        st = hg__make_kernel(d, ts->prog[0], "hg_pack_b", &ts->pack, err);
    if (st != HG_OK) {
        release(ts);
        return st;
    }
    *state = ts;
    return HG_OK;
}

/* Whether some layer's forward GEMM reads its weights packed at batches of up to
   rows rows (hg__gemm_packs grows with the rows). */
static bool packs_some_layer(const hg_engine *eng, const hg__device *d, size_t rows)
{
    for (size_t l = 0; l < eng->nlayers; l++)
        if (eng->layers[l].out >= d->kc.b && hg__gemm_packs(d, rows, eng->layers[l].out,
                                                              d->kc.b))
            return true;
    return false;
}

/* The layers' workspace, the transposed weights, the packed weights where some
   layer's GEMM reads them, and X^T's HG__TN_CHUNK rows. */
static hg_status workspace(hg_engine *eng, hg__device *d, size_t rows, hg_error *err)
{
    tiled_state *ts = d->ps;
    hg_status st = hg__layer_workspace(eng, d, rows, err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &ts->wt, eng->nparams * sizeof(float), "transposed weights",
                           err);
    if (st == HG_OK && ts->pack && packs_some_layer(eng, d, rows))
        st = hg__alloc_mem(d, &ts->wp, eng->nparams * sizeof(float), "packed weights", err);
    const hg__layer *l0 = &eng->layers[0];
    if (st == HG_OK && ts->pack && eng->nlayers > 1 && l0->out >= d->kc.b &&
        hg__gemm_packs(d, rows, l0->out, d->kc.b))
        st = hg__alloc_mem(d, &ts->gp, rows * l0->out * sizeof(float), "packed gradient",
                           err);
    if (st == HG_OK)
        st = hg__alloc_mem(d, &ts->xt, eng->layers[0].in * HG__TN_CHUNK * sizeof(float),
                           "transposed batch", err);
    return st;
}

static bool program(const void *state, size_t i, cl_program *prog, const char **label)
{
    const tiled_state *ts = state;
    if (!ts || i > 1 || !ts->prog[i])
        return false;
    *prog = ts->prog[i];
    *label = ts->label[i];
    return true;
}

const hg__path_ops hg__ops_tiled = {"tiled", open_tiled, workspace, run_tiled,
                                    drop_workspace, release, program, true};
