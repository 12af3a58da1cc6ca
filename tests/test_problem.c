/* SPDX-License-Identifier: MIT */
/* test_problem.c - the device tests' dense problem (contract: test_problem.h). */
#include "test_problem.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

double test_uniform(test_rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(r->s >> 11) / 9007199254740992.0;
}

void test_problem_make(test_problem *p, const test_problem_spec *spec)
{
    memset(p, 0, sizeof *p);
    test_rng g = {spec->seed};
    const size_t rows = spec->rows, in = spec->inputs, out = spec->outputs;
    p->m = (hg_model_desc){.kind = spec->kind, .inputs = in, .outputs = out};
    if (spec->kind == HG_MODEL_MLP) {
        p->m.nhidden = spec->nhidden;
        for (size_t k = 0; k < spec->nhidden && k < 2; k++)
            p->m.hidden[k] = spec->hidden[k];
    }
    p->x = malloc(rows * in * sizeof *p->x);
    p->t = malloc(rows * out * sizeof *p->t);
    p->l = malloc(rows * sizeof *p->l);
    ck_assert_msg(p->x && p->t && p->l, "test problem: out of memory");
    for (size_t r = 0; r < rows; r++) {
        size_t c = r % out;
        p->l[r] = (int32_t)c;
        for (size_t j = 0; j < in; j++)
            p->x[r * in + j] =
                (float)(test_uniform(&g) * 2 - 1 + (j == c % in ? spec->shift : 0.0));
        for (size_t k = 0; k < out; k++)
            p->t[r * out + k] = (float)(p->x[r * in + k % in] * 0.5 + test_uniform(&g) - 0.5);
    }
    p->d = (hg_dataset_desc){rows, in, p->x, p->t, p->l};
    p->P = hg_model_param_count(&p->m);
    p->params = malloc(p->P * sizeof *p->params);
    ck_assert_msg(p->params, "test problem: out of memory");
    for (size_t i = 0; i < p->P; i++)
        p->params[i] = (float)((test_uniform(&g) - 0.5) * spec->param_scale);
}

void test_problem_free(test_problem *p)
{
    free(p->x);
    free(p->t);
    free(p->l);
    free(p->params);
    memset(p, 0, sizeof *p);
}
