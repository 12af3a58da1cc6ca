/* SPDX-License-Identifier: MIT */
/*
 * test_problem.h - the dense data set and parameters several device tests compute
 * gradients on (test_problem.c): rows in blobs, one class per row in turn, so that
 * softmax, linear and MLP gradients are all far from zero; and the seeded generator
 * that makes them.  The same spec gives the same bits on every run.
 */
#ifndef HG_TEST_PROBLEM_H
#define HG_TEST_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include <hetgrad.h>

/* A 64-bit LCG (Knuth's MMIX constants); test_uniform: [0, 1) from its top 53 bits. */
typedef struct test_rng {
    uint64_t s;
} test_rng;
double test_uniform(test_rng *r);

typedef struct test_problem_spec {
    hg_model_kind kind;
    size_t   rows, inputs, outputs;
    size_t   nhidden, hidden[2]; /* the MLP's hidden layers (kind HG_MODEL_MLP) */
    uint64_t seed;
    double   shift;       /* added to feature (c % inputs) of the rows of class c */
    double   param_scale; /* parameters uniform in [-scale/2, scale/2) */
} test_problem_spec;

/* The data set (labels and targets both set) and parameters; owned, test_problem_free. */
typedef struct test_problem {
    hg_model_desc   m;
    hg_dataset_desc d;
    float          *x, *t, *params;
    int32_t        *l;
    size_t          P;
} test_problem;

/*
 * Row r is of class c = r % outputs (its label); x[r][j] = U(-1, 1), plus shift where
 * j == c % inputs; t[r][k] = x[r][k % inputs] / 2 + U(-1/2, 1/2); then the parameters.
 * Fails the running Check test when out of memory.
 */
void test_problem_make(test_problem *p, const test_problem_spec *spec);
void test_problem_free(test_problem *p); /* zeroes *p; a zeroed *p is a no-op */

/* The softmax tests' small data sets, built piece by piece: */
/* x[i] = U(-1/2, 1/2) from the top 24 bits of the LCG seeded with seed, i in [0, n). */
void test_fill_centred(float *x, size_t n, uint64_t seed);
/* labels[r] = r % classes, r in [0, rows). */
void test_cyclic_labels(int32_t *labels, size_t rows, size_t classes);
/* params[i] = ((7 i) mod 13) / 50 - 0.12: small, fixed, of both signs. */
void test_fixed_params(float *params, size_t n);

/* A fresh directory /tmp/hg-test-TAG-XXXXXX (e.g. a profile cache) into buf; fails the
   running Check test when it cannot be made. */
void test_dir_make(char *buf, size_t size, const char *tag);
/* Remove dir and everything in it (a message on stderr when that fails). */
void test_dir_remove(const char *dir);

#endif /* HG_TEST_PROBLEM_H */
