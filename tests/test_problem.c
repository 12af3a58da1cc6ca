/* SPDX-License-Identifier: MIT */
/* test_problem.c - the device tests' dense problem (contract: test_problem.h). */
#define _POSIX_C_SOURCE 200809L
#include "test_problem.h"

#include <check.h>
#include <stdio.h>
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

void test_fill_centred(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / 16777216.0 - 0.5);
    }
}

void test_cyclic_labels(int32_t *labels, size_t rows, size_t classes)
{
    for (size_t r = 0; r < rows; r++)
        labels[r] = (int32_t)(r % classes);
}

void test_fixed_params(float *params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        params[i] = (float)((i * 7) % 13) / 50.0f - 0.12f;
}

void test_dir_make(char *buf, size_t size, const char *tag)
{
    int n = snprintf(buf, size, "/tmp/hg-test-%s-XXXXXX", tag);
    ck_assert_msg(n > 0 && (size_t)n < size, "test_dir_make: the name does not fit");
    ck_assert_msg(mkdtemp(buf) != NULL, "test_dir_make: mkdtemp(%s) failed", buf);
}

void test_dir_remove(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}
