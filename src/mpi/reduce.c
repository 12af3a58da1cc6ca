/* SPDX-License-Identifier: MIT */
/*
 * reduce.c - the sliced exchange's reduction (mpi_comm.h, docs/mpi.md): a reduce-scatter
 * in fixed rank order followed by an allgather, so each rank moves about 12 P (N - 1) / N
 * bytes per step instead of the record exchange's 8 P (N - 1).
 *
 * MPI_Reduce_scatter would move as few bytes, but the standard leaves its order of
 * operations open (and it may differ between ranks), so its sums could differ in the
 * last bits from the rank-order sum.  Here MPI only moves bytes: MPI_Ialltoallv hands each
 * rank every rank's copy of its slice, the rank adds them itself in rank order
 * (hg__rank_mean, the function the record exchange uses on whole vectors), and
 * MPI_Iallgatherv hands the rounded float slices to every rank.  Each element of the mean
 * is thus computed once, by its slice's owner, by the same operations on the same doubles
 * as the record exchange computes it on every rank: the same bits, on every rank, for
 * either exchange and any number of ranks.
 *
 * The all-to-all is posted before the step's records are exchanged (context.c) and
 * progresses while the ranks wait for each other's records; the allgather follows only
 * when every record says the step succeeded, a verdict every rank reaches alike.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_comm.h"

void hg__mpi_reduce_free(hg__mpi_reduce *rd)
{
    if (!rd)
        return;
    free(rd->count);
    free(rd->displ);
    free(rd->ccount);
    free(rd->cdispl);
    free(rd->copies);
    free(rd->part);
    free(rd->mean);
    memset(rd, 0, sizeof *rd);
}

hg_status hg__mpi_reduce_init(hg__mpi_reduce *rd, size_t n, size_t rank, size_t p,
                              hg_error *err)
{
    memset(rd, 0, sizeof *rd);
    hg_status s = hg__param_slice(p, n, rank, &rd->first, &rd->len, err);
    if (s != HG_OK)
        return s;
    if (p > INT_MAX || n > INT_MAX || rd->len * n > INT_MAX)
        return hg__error_set(err, HG_RANGE, 0, "the sliced exchange: %zu parameters over "
                             "%zu ranks exceed MPI's int counts", p, n);
    rd->n = n;
    rd->p = p;
    rd->count = calloc(n, sizeof *rd->count);
    rd->displ = calloc(n, sizeof *rd->displ);
    rd->ccount = calloc(n, sizeof *rd->ccount);
    rd->cdispl = calloc(n, sizeof *rd->cdispl);
    rd->copies = calloc(n * rd->len + 1, sizeof *rd->copies);
    rd->part = calloc(rd->len + 1, sizeof *rd->part);
    rd->mean = calloc(p + 1, sizeof *rd->mean);
    if (!rd->count || !rd->displ || !rd->ccount || !rd->cdispl || !rd->copies || !rd->part ||
        !rd->mean) {
        hg__mpi_reduce_free(rd);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "the sliced exchange: no memory for "
                             "%zu parameters over %zu ranks", p, n);
    }
    for (size_t r = 0; r < n; r++) {
        size_t first, len;
        hg__param_slice(p, n, r, &first, &len, NULL); /* r < n: cannot fail */
        rd->count[r] = (int)len;
        rd->displ[r] = (int)first;
        rd->ccount[r] = (int)rd->len;
        rd->cdispl[r] = (int)(r * rd->len);
    }
    return HG_OK;
}

/* Wait for one collective request; HG_IO naming it when it fails or times out. */
static hg_status wait_one(MPI_Request *req, double timeout_s, const char *what,
                          const char *call, hg_error *err)
{
    char ctx[240];
    snprintf(ctx, sizeof ctx, "%s: %s", what, call);
    MPI_Status st;
    bool done = false;
    hg_status s = hg__mpi_wait(req, 1, &st, timeout_s, HG__MPI_POLL_BYTES_US, &done, ctx, err);
    if (s == HG_OK && !done)
        s = hg__error_set(err, HG_IO, 0, "%s did not complete within %g s (a rank died or "
                          "hangs)", ctx, timeout_s);
    return s;
}

hg_status hg__mpi_reduce_post(hg__mpi_reduce *rd, MPI_Comm comm, const double *sums,
                              const char *what, hg_error *err)
{
    /* Every rank's copy of this rank's slice, rank r's at copies + r * len. */
    int rc = MPI_Ialltoallv(sums, rd->count, rd->displ, MPI_DOUBLE, rd->copies, rd->ccount,
                            rd->cdispl, MPI_DOUBLE, comm, &rd->req);
    if (rc != MPI_SUCCESS) {
        char ctx[240];
        snprintf(ctx, sizeof ctx, "%s: MPI_Ialltoallv", what);
        return hg__mpi_fail(err, rc, ctx);
    }
    rd->posted = true;
    return HG_OK;
}

hg_status hg__mpi_reduce_wait(hg__mpi_reduce *rd, double timeout_s, const char *what,
                              hg_error *err)
{
    if (!rd->posted)
        return HG_OK;
    hg_status s = wait_one(&rd->req, timeout_s, what, "MPI_Ialltoallv", err);
    if (s == HG_OK)
        rd->posted = false;
    return s;
}

hg_status hg__mpi_reduce_mean(hg__mpi_reduce *rd, MPI_Comm comm, size_t rows,
                              double timeout_s, const char *what, hg_error *err)
{
    /* This rank's slice of the mean: the rank-order sum, in double, then float. */
    hg__rank_mean(rd->copies, rd->len, rd->n, rd->len, NULL, rows, rd->part, NULL);
    /* Every rank's slice into its place. */
    MPI_Request req;
    int rc = MPI_Iallgatherv(rd->part, (int)rd->len, MPI_FLOAT, rd->mean, rd->count, rd->displ,
                             MPI_FLOAT, comm, &req);
    if (rc != MPI_SUCCESS) {
        char ctx[240];
        snprintf(ctx, sizeof ctx, "%s: MPI_Iallgatherv", what);
        return hg__mpi_fail(err, rc, ctx);
    }
    return wait_one(&req, timeout_s, what, "MPI_Iallgatherv", err);
}
