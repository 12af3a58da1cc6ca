/* SPDX-License-Identifier: MIT */
/*
 * test_epilogue.c - the bits of the epilogue kernels every MLP and dense
 * step ends with (cl/model.cl), on every test device (POCL pthread and basic,
 * Oclgrind in the full set):
 * - hg_softmax_out computes 16 rows a work-item as the lanes of float16 and
 *   the rows of a last partial block one by one; both must give, row by row,
 *   the bits of a host copy of the scalar arithmetic (hg_exp1, hg_log1 of
 *   cl/detmath.cl, written out below in C with contraction off), with the
 *   labels of consecutive rows and of an index step's rows read in place;
 * - hg_colsum_partial sums four blocks of 16 columns a work-item as float16
 *   Kahan sums, a last work-item's blocks one by one and its last columns
 *   one by one; all must give the host's scalar Kahan sum of every column
 *   and of the loss, block by block.
 * Shapes: 45 rows (two blocks of 16 and a tail of 13) of 10 and of 3 classes
 * (no full block of columns); 300 rows in blocks of 256 of 45 columns (two
 * blocks of 16 and a tail of 13), of 3 and of 128 (two work-items of four
 * blocks); 40 rows in blocks of 16 of 32, of 141 (two work-items of four
 * blocks, a third with none and a tail of 13) and of 460 columns (the loss's
 * work-item the ninth, past the first work-group of 8).
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_knobs.h"
#include "test_expect.h"

/* ---- the host's copy of cl/detmath.cl's scalar functions ------------------------ */

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float h_exp(float x)
{
    float xc = fminf(fmaxf(x, -87.33f), 88.72f);
    float n = floorf(xc * 1.44269504f + 0.5f);
    float r = xc - n * 0.693145752f;
    r = r - n * 1.42860677e-06f;
    float p = 1.98412698e-04f;
    p = p * r + 1.38888889e-03f;
    p = p * r + 8.33333333e-03f;
    p = p * r + 4.16666667e-02f;
    p = p * r + 1.66666667e-01f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t k = (int32_t)n;
    int32_t kk = k > 127 ? k - 1 : k;
    float v = p * bits_float((uint32_t)(kk + 127) << 23);
    if (k > 127)
        v = v * 2.0f;
    if (x <= -87.33f || v < 1.17549435e-38f)
        v = 0.0f;
    return x > 88.72f ? INFINITY : v;
}

static float h_recip(float x)
{
    float y = bits_float(0x7ef311c3u - float_bits(x));
    for (int i = 0; i < 4; i++)
        y = y * (2.0f - x * y);
    return y;
}

static float h_log(float x)
{
    uint32_t u = float_bits(x);
    int32_t e = (int32_t)(u >> 23) - 127;
    float m = bits_float((u & 0x007fffffu) | 0x3f800000u);
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e = e + 1;
    }
    float s = (m - 1.0f) * h_recip(m + 1.0f);
    float s2 = s * s;
    float q = 0.0909090936f;
    q = q * s2 + 0.111111112f;
    q = q * s2 + 0.142857143f;
    q = q * s2 + 0.200000003f;
    q = q * s2 + 0.333333343f;
    float lm = 2.0f * s + 2.0f * s * s2 * q;
    float fe = (float)e;
    return fe * 0.693145752f + (fe * 1.42860677e-06f + lm);
}

/* hg_softmax_out's row r, on the host. */
static void h_softmax_row(float *z, const float *bias, size_t cols, int label, float *loss)
{
    float m = -INFINITY;
    for (size_t j = 0; j < cols; j++) {
        z[j] = z[j] + bias[j];
        m = z[j] > m ? z[j] : m;
    }
    float s = 0.0f;
    for (size_t j = 0; j < cols; j++)
        s = s + h_exp(z[j] - m);
    float lse = m + h_log(s);
    *loss = lse - z[label];
    for (size_t j = 0; j < cols; j++)
        z[j] = h_exp(z[j] - lse) - ((int)j == label ? 1.0f : 0.0f);
}

static float h_kahan(const float *v, size_t n, size_t stride)
{
    float sum = 0.0f, comp = 0.0f;
    for (size_t r = 0; r < n; r++) {
        float y = v[r * stride] - comp;
        float t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    return sum;
}

/* ---- devices ------------------------------------------------------------------- */

static hg_engine *make_engine(void)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.use_environment = false;
    dev.keep_duplicates = true;
    hg_engine_options o;
    hg_engine_options_init(&o);
    o.devices = &dev;
    hg_model_desc m = {.kind = HG_MODEL_MLP, .inputs = 7, .outputs = 3, .nhidden = 1,
                       .hidden = {5}};
    const hg__engine_knobs k = {.serial = true};
    hg_engine *e = NULL;
    hg_error err;
    ck_assert_msg(hg__engine_create_knobs(&o, &k, &m, &e, &err) == HG_OK, "create: %s",
                  err.message);
    test_expect x;
    test_expect_load(&x);
    ck_assert_uint_eq(hg_engine_device_count(e), x.n);
    return e;
}

static cl_mem buffer(hg__device *d, size_t bytes, const void *init)
{
    cl_int rc;
    cl_mem m = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes, (void *)init, &rc);
    ck_assert_msg(rc == CL_SUCCESS && m, "%s: clCreateBuffer: %d", d->what, rc);
    return m;
}

/* The kernel on d as the engine launches it (hg__set_args, hg__launch), waited for. */
static void run_kernel(hg__device *d, cl_kernel k, const char *name, const hg__karg *a,
                       size_t nargs, cl_uint dims, const size_t *gws)
{
    hg_error err;
    ck_assert_msg(hg__set_args(d, k, name, a, nargs, &err) == HG_OK &&
                      hg__launch(d, k, dims, gws, NULL, name, &err) == HG_OK,
                  "%s: %s", d->what, err.message);
    ck_assert_int_eq(clFinish(d->queue), CL_SUCCESS);
}

static void read_back(hg__device *d, cl_mem m, size_t bytes, void *out)
{
    ck_assert_int_eq(clEnqueueReadBuffer(d->queue, m, CL_TRUE, 0, bytes, out, 0, NULL, NULL),
                     CL_SUCCESS);
}

static float value(size_t i, size_t salt)
{
    return (float)((int)((i * 2654435761u + salt * 40503u) % 2001u) - 1000) / 97.0f;
}

/* ---- the checks ---------------------------------------------------------------- */

/* hg_softmax_out over rows x cols at an offset of zoff floats; row r's label
   the data set's row loff + r, or, indexed, row idx[r] - base (an index step
   read in place: rows out of order, one twice). */
static void check_softmax(hg__device *d, size_t rows, size_t cols, bool indexed)
{
    const size_t zoff = 3, loff = 2, boff = 5, base = 7;
    size_t nz = zoff + rows * cols;
    float *z = malloc(nz * sizeof *z), *want = malloc(nz * sizeof *want),
          *got = malloc(nz * sizeof *got), *params = malloc((boff + cols) * sizeof *params);
    float *loss = malloc(rows * sizeof *loss), *wloss = malloc(rows * sizeof *wloss);
    int32_t *labels = malloc((loff + rows) * sizeof *labels);
    cl_uint *idx = malloc(rows * sizeof *idx);
    ck_assert(z && want && got && params && loss && wloss && labels && idx);
    for (size_t r = 0; r < rows; r++) /* rows of the data set: [base, base + loff + rows) */
        idx[r] = (cl_uint)(base + (r * 5 + 3) % (loff + rows));
    idx[rows - 1] = idx[0];
    for (size_t i = 0; i < nz; i++)
        z[i] = value(i, cols);
    for (size_t j = 0; j < boff + cols; j++)
        params[j] = value(j, 7) / 8.0f;
    for (size_t r = 0; r < loff + rows; r++)
        labels[r] = (int32_t)((r * 7) % cols);
    memcpy(want, z, nz * sizeof *z);
    for (size_t r = 0; r < rows; r++)
        h_softmax_row(want + zoff + r * cols, params + boff, cols,
                      labels[indexed ? idx[r] - base : loff + r], &wloss[r]);

    cl_mem bz = buffer(d, nz * sizeof *z, z), bp = buffer(d, (boff + cols) * sizeof *params, params),
           bl = buffer(d, (loff + rows) * sizeof *labels, labels),
           bloss = buffer(d, rows * sizeof *loss, NULL), bi = buffer(d, rows * sizeof *idx, idx);
    cl_uint uzoff = (cl_uint)zoff, urows = (cl_uint)rows, ucols = (cl_uint)cols,
            uboff = (cl_uint)boff, uloff = (cl_uint)loff, ubase = (cl_uint)base,
            uind = indexed ? 1u : 0u;
    hg__karg a[] = {HG_MEM(bz),    HG_U32(uzoff), HG_U32(urows), HG_U32(ucols),
                    HG_MEM(bp),    HG_U32(uboff), HG_MEM(bl),    HG_U32(uloff),
                    HG_MEM(bi),    HG_U32(ubase), HG_U32(uind),  HG_MEM(bloss)};
    size_t gws = (rows + 15) / 16;
    run_kernel(d, d->k_softmax_out, "hg_softmax_out", a, 12, 1, &gws);
    read_back(d, bz, nz * sizeof *z, got);
    read_back(d, bloss, rows * sizeof *loss, loss);
    ck_assert_msg(memcmp(got, want, zoff * sizeof *z) == 0, "%s: wrote before zoff", d->what);
    for (size_t r = 0; r < rows; r++) {
        const char *how = r < rows / 16 * 16 ? "a float16 block" : "the tail";
        ck_assert_msg(memcmp(got + zoff + r * cols, want + zoff + r * cols,
                             cols * sizeof *z) == 0,
                      "%s: softmax row %zu of %zu x %zu (%s) differs from the scalar bits",
                      d->what, r, rows, cols, how);
        ck_assert_msg(float_bits(loss[r]) == float_bits(wloss[r]),
                      "%s: loss of row %zu of %zu x %zu (%s): %.9g, want %.9g", d->what, r,
                      rows, cols, how, loss[r], wloss[r]);
    }
    clReleaseMemObject(bz);
    clReleaseMemObject(bp);
    clReleaseMemObject(bl);
    clReleaseMemObject(bloss);
    clReleaseMemObject(bi);
    free(z), free(want), free(got), free(params), free(loss), free(wloss), free(labels);
    free(idx);
}

/* hg_colsum_partial over rows x cols at goff, in blocks of block rows. */
static void check_colsum(hg__device *d, size_t rows, size_t cols, size_t block)
{
    const size_t goff = 5, nb = (rows + block - 1) / block, w = cols + 1;
    size_t ng = goff + rows * cols;
    float *g = malloc(ng * sizeof *g), *loss = malloc(rows * sizeof *loss);
    float *got = malloc(nb * w * sizeof *got);
    ck_assert(g && loss && got);
    for (size_t i = 0; i < ng; i++)
        g[i] = value(i, cols) * (i % 3 == 0 ? 1e-4f : 1.0f);
    for (size_t r = 0; r < rows; r++)
        loss[r] = fabsf(value(r, 11));
    cl_mem bg = buffer(d, ng * sizeof *g, g), bl = buffer(d, rows * sizeof *loss, loss),
           bp = buffer(d, nb * w * sizeof *got, NULL);
    cl_uint ugoff = (cl_uint)goff, urows = (cl_uint)rows, ucols = (cl_uint)cols,
            ublock = (cl_uint)block;
    hg__karg a[] = {HG_MEM(bg),     HG_U32(ugoff), HG_U32(urows), HG_U32(ucols),
                    HG_MEM(bl),     HG_U32(ublock), HG_MEM(bp)};
    size_t gws[2] = {hg__colsum_items(cols), nb};
    run_kernel(d, d->k_colsum, "hg_colsum_partial", a, 7, 2, gws);
    read_back(d, bp, nb * w * sizeof *got, got);
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * block, n = rows - lo < block ? rows - lo : block;
        for (size_t c = 0; c <= cols; c++) {
            float want = c < cols ? h_kahan(g + goff + lo * cols + c, n, cols)
                                  : h_kahan(loss + lo, n, 1);
            ck_assert_msg(float_bits(got[b * w + c]) == float_bits(want),
                          "%s: column %zu of %zu (%s), block %zu: %.9g, want the scalar "
                          "Kahan sum %.9g",
                          d->what, c, cols,
                          c == cols ? "the loss" : c < cols / 16 * 16 ? "float16" : "tail", b,
                          got[b * w + c], want);
        }
    }
    clReleaseMemObject(bg);
    clReleaseMemObject(bl);
    clReleaseMemObject(bp);
    free(g), free(loss), free(got);
}

START_TEST(softmax_out_bits)
{
    hg_engine *e = make_engine();
    for (size_t i = 0; i < e->ndev; i++) {
        check_softmax(&e->dev[i], 45, 10, false);
        check_softmax(&e->dev[i], 45, 3, false);
        check_softmax(&e->dev[i], 7, 10, false); /* no full block */
        check_softmax(&e->dev[i], 45, 10, true);
        check_softmax(&e->dev[i], 7, 3, true);
    }
    hg_engine_destroy(e);
}
END_TEST

START_TEST(colsum_partial_bits)
{
    hg_engine *e = make_engine();
    for (size_t i = 0; i < e->ndev; i++) {
        check_colsum(&e->dev[i], 300, 45, 256);
        check_colsum(&e->dev[i], 300, 3, 256);
        check_colsum(&e->dev[i], 40, 32, 16);
        check_colsum(&e->dev[i], 300, 128, 256); /* two work-items of four blocks */
        check_colsum(&e->dev[i], 40, 141, 16);   /* 4 + 4 + 0 blocks and a tail */
        check_colsum(&e->dev[i], 40, 460, 16);   /* nine work-items, not eight */
    }
    hg_engine_destroy(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("epilogue");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, softmax_out_bits);
    tcase_add_test(tc, colsum_partial_bits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
