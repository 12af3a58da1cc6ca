/* SPDX-License-Identifier: MIT */
/*
 * dense.c - the CLBlast and naive paths (path_ops.h): per layer a GEMM
 * forward (Z = A W), our bias/ReLU or output kernel (the output kernel turns
 * Z into dLoss/dZ and a loss per row), then backward a GEMM for dW = A^T G
 * straight into the record buffer, our blocked column sums for db and the
 * loss, and for hidden layers a GEMM G W^T followed by the ReLU mask.  The
 * two paths differ only in the GEMM: CLBlast's, or hg_gemm_naive from the
 * model program (the plain path for devices that cannot compile).  Neither
 * keeps state of its own: their kernels are the model program's.
 */
#include <stdio.h>

#include <clblast_c.h>

#include "path_ops.h"

static const char *clblast_name(CLBlastStatusCode s)
{
    switch ((int)s) {
    case -1024: return "CLBlastNotImplemented";
    case -1022: return "CLBlastInvalidMatrixA";
    case -1021: return "CLBlastInvalidMatrixB";
    case -1020: return "CLBlastInvalidMatrixC";
    case -1019: return "CLBlastInvalidVectorX";
    case -1018: return "CLBlastInvalidVectorY";
    case -1017: return "CLBlastInvalidDimension";
    case -1016: return "CLBlastInvalidLeadDimA";
    case -1015: return "CLBlastInvalidLeadDimB";
    case -1014: return "CLBlastInvalidLeadDimC";
    case -1013: return "CLBlastInvalidIncrementX";
    case -1012: return "CLBlastInvalidIncrementY";
    case -1011: return "CLBlastInsufficientMemoryA";
    case -1010: return "CLBlastInsufficientMemoryB";
    case -1009: return "CLBlastInsufficientMemoryC";
    case -1008: return "CLBlastInsufficientMemoryX";
    case -1007: return "CLBlastInsufficientMemoryY";
    case -2039: return "CLBlastInvalidOverrideKernel";
    case -2040: return "CLBlastMissingOverrideParameter";
    case -2041: return "CLBlastInvalidLocalMemUsage";
    case -2042: return "CLBlastNoHalfPrecision";
    case -2043: return "CLBlastNoDoublePrecision";
    case -2044: return "CLBlastInvalidVectorScalar";
    case -2045: return "CLBlastInsufficientMemoryScalar";
    case -2046: return "CLBlastDatabaseError";
    case -2047: return "CLBlastUnknownError";
    case -2048: return "CLBlastUnexpectedError";
    }
    return hg_cl_error_name((int32_t)s);
}

/* C = op(A) op(B), row-major, with hetgrad's own plain kernel (hg_gemm_naive). */
static hg_status gemm_naive(hg__device *d, bool ta, bool tb, size_t m, size_t n, size_t k,
                            cl_mem a, size_t aoff, size_t lda, cl_mem b, size_t boff,
                            size_t ldb, cl_mem c, size_t coff, size_t ldc, hg_error *err)
{
    cl_uint v[11] = {(cl_uint)m, (cl_uint)n, (cl_uint)k, (cl_uint)aoff, (cl_uint)lda, ta,
                     (cl_uint)boff, (cl_uint)ldb, tb, (cl_uint)coff, (cl_uint)ldc};
    if (aoff > 0xffffffffu || boff > 0xffffffffu || coff > 0xffffffffu)
        return hg__error_set(err, HG_RANGE, 0, "hg_gemm_naive on %s: offset beyond 2^32",
                             d->what);
    const void *vals[14] = {&v[0], &v[1], &v[2], &a, &v[3], &v[4], &v[5],
                            &b,    &v[6], &v[7], &v[8], &c, &v[9], &v[10]};
    for (cl_uint i = 0; i < 14; i++) {
        bool mem = i == 3 || i == 7 || i == 11;
        cl_int rc = clSetKernelArg(d->k_gemm, i, mem ? sizeof(cl_mem) : sizeof(cl_uint), vals[i]);
        if (rc != CL_SUCCESS)
            return hg__cl_fail(err, rc, "clSetKernelArg(hg_gemm_naive, %u) on %s", i, d->what);
    }
    size_t gws[2] = {n, m};
    return hg__launch(d, d->k_gemm, 2, gws, NULL, "hg_gemm_naive", err);
}

/* C = op(A) op(B), row-major, through CLBlast (serialised: clblast_guard.c). */
static hg_status gemm(hg__device *d, bool clblast, bool ta, bool tb, size_t m, size_t n, size_t k,
                      cl_mem a, size_t aoff, size_t lda, cl_mem b, size_t boff,
                      size_t ldb, cl_mem c, size_t coff, size_t ldc, const char *stage,
                      hg_error *err)
{
    /* No CLBlast on devices that cannot compile: it builds its kernels itself. */
    if (!clblast)
        return gemm_naive(d, ta, tb, m, n, k, a, aoff, lda, b, boff, ldb, c, coff, ldc, err);
    cl_event ev = NULL;
    hg__clblast_lock();
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor,
                                       ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       tb ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k,
                                       1.0f, a, aoff, lda, b, boff, ldb, 0.0f, c, coff, ldc,
                                       &d->queue, &ev);
    hg__clblast_unlock();
    if (s != CLBlastSuccess) {
        if (ev)
            clReleaseEvent(ev);
        return hg__error_set(err, HG_OPENCL, (int32_t)s,
                             "CLBlastSgemm (%s, %zux%zux%zu) on %s: %s (%d)", stage, m, n, k,
                             d->what, clblast_name(s), (int)s);
    }
    return hg__tracked(d, ev, false, err);
}

hg_status hg__forward_gemm(hg__device *d, size_t m, size_t n, size_t k, cl_mem a, cl_mem b,
                           size_t boff, cl_mem c, hg_error *err)
{
    return gemm_naive(d, false, false, m, n, k, a, 0, k, b, boff, n, c, 0, n, err);
}

/* The CLBlast and naive paths. */
static hg_status run_dense(hg_engine *eng, hg__device *d, const hg__batch *b, bool clblast,
                           hg_error *err)
{
    const size_t L = eng->nlayers, m = b->rows, P = eng->nparams, B = b->block_rows;
    hg_status st = HG_OK;
    cl_uint um = (cl_uint)m;

    /* forward */
    for (size_t l = 0; l < L && st == HG_OK; l++) {
        const hg__layer *ly = &eng->layers[l];
        cl_mem a = l == 0 ? b->x : d->act[l - 1];
        size_t aoff = l == 0 ? b->row * ly->in : 0;
        st = gemm(d, clblast, false, false, m, ly->out, ly->in, a, aoff, ly->in, d->params,
                  ly->w_off, ly->out, d->act[l], 0, ly->out, "forward", err);
        if (st != HG_OK || l + 1 == L)
            break;
        cl_uint zoff = 0, cols = (cl_uint)ly->out, boff = (cl_uint)ly->b_off, relu = ly->relu;
        hg__karg args[] = {HG_MEM(d->act[l]), HG_U32(zoff), HG_U32(um), HG_U32(cols),
                           HG_MEM(d->params), HG_U32(boff), HG_U32(relu)};
        st = hg__set_args(d, d->k_bias_act, "hg_bias_act", args, 7, err);
        size_t gws[2] = {ly->out, m};
        if (st == HG_OK)
            st = hg__launch(d, d->k_bias_act, 2, gws, NULL, "hg_bias_act", err);
    }
    if (st == HG_OK)
        st = hg__run_output(eng, d, b, err);

    /* backward */
    cl_mem g = d->act[L - 1];
    for (size_t li = L; li-- > 0 && st == HG_OK;) {
        const hg__layer *ly = &eng->layers[li];
        cl_mem a = li == 0 ? b->x : d->act[li - 1];
        size_t aoff = li == 0 ? b->row * ly->in : 0;
        for (size_t r = 0; r < b->nrec && st == HG_OK; r++) {
            size_t lo = r * B, n = b->nrec == 1 ? m : (m - lo < B ? m - lo : B);
            st = gemm(d, clblast, true, false, ly->in, ly->out, n, a, aoff + lo * ly->in, ly->in,
                      g, lo * ly->out, ly->out, d->grad, r * (P + 1) + ly->w_off, ly->out,
                      "weight gradient", err);
        }
        if (st == HG_OK)
            st = hg__column_sums(eng, d, b, g, ly->out, li, err);
        if (st != HG_OK || li == 0)
            break;
        /* G_prev = (G W^T) masked by ReLU'(A_prev) */
        cl_mem next = d->pingpong[(L - 1 - li) % 2];
        st = gemm(d, clblast, false, true, m, ly->in, ly->out, g, 0, ly->out, d->params, ly->w_off,
                  ly->out, next, 0, ly->in, "backprop", err);
        cl_uint n = (cl_uint)(m * ly->in);
        hg__karg rb[] = {HG_MEM(next), HG_MEM(d->act[li - 1]), HG_U32(n)};
        if (st == HG_OK)
            st = hg__set_args(d, d->k_relu_backward, "hg_relu_backward", rb, 3, err);
        size_t gn = m * ly->in;
        if (st == HG_OK)
            st = hg__launch(d, d->k_relu_backward, 1, &gn, NULL, "hg_relu_backward", err);
        g = next;
    }
    return st;
}


static hg_status run_clblast(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    return run_dense(eng, d, b, true, err);
}

static hg_status run_naive(hg_engine *eng, hg__device *d, const hg__batch *b, hg_error *err)
{
    return run_dense(eng, d, b, false, err);
}

/* Nothing to build: the model program (pipeline.c) holds every kernel these use. */
static hg_status open_dense(hg_engine *eng, hg__device *d, const hg__kchoice *k, void **state,
                            hg_error *err)
{
    (void)eng, (void)d, (void)k, (void)err;
    *state = NULL;
    return HG_OK;
}

static void no_state(void *state)
{
    (void)state;
}

static bool no_program(const void *state, size_t i, cl_program *prog, const char **label)
{
    (void)state, (void)i, (void)prog, (void)label;
    return false;
}

const hg__path_ops hg__ops_clblast = {"clblast", open_dense, hg__layer_workspace, run_clblast,
                                      no_state, no_state, no_program, false};
const hg__path_ops hg__ops_naive = {"naive", open_dense, hg__layer_workspace, run_naive,
                                    no_state, no_state, no_program, false};
