/* SPDX-License-Identifier: MIT */
/*
 * mpi_comm.h - the MPI calls of the MPI layer, each with a deadline and a clear message
 * (exchange.c).  Every function returns HG_IO with "<what>: <MPI's error string>" when an
 * MPI call fails, and HG_IO naming the ranks not heard from when the deadline passes.
 */
#ifndef HG_MPI_COMM_H
#define HG_MPI_COMM_H

#include <mpi.h>

#include "mpi_internal.h"

/* HG_IO with "<what>: <MPI_Error_string of rc> (MPI error <rc>)". */
hg_status hg__mpi_fail(hg_error *err, int rc, const char *what);

/* Longest sleep between two polls while waiting for other ranks (their compute). */
#define HG__MPI_POLL_MAX_US 1000L
/* ... and while waiting for bytes from ranks known to be in the same call: each sleep
   adds up to its length to the step, but a rank on an oversubscribed node that spins
   takes the core another rank needs. */
#define HG__MPI_POLL_BYTES_US 100L

/*
 * Poll n requests (MPI_Testall, sleeping 10 us doubling to max_us between polls) until
 * all complete or timeout_s passes: *done says which, and HG_OK either way.  HG_IO with
 * "<what>: <MPI's text>" when an MPI call fails (*done false).
 */
hg_status hg__mpi_wait(MPI_Request *req, int n, MPI_Status *st, double timeout_s, long max_us,
                       bool *done, const char *what, hg_error *err);

/*
 * Duplicate comm without blocking past timeout_s (MPI_Comm_idup) and make the copy return
 * errors (MPI_ERRORS_RETURN) instead of aborting.  *out receives it; free with
 * MPI_Comm_free.
 */
hg_status hg__mpi_dup(MPI_Comm comm, double timeout_s, MPI_Comm *out, const char *what,
                      hg_error *err);

/*
 * All-to-all exchange of one record per rank: this rank sends mine (len[rank] bytes) to
 * every other rank and receives rank r's len[r] bytes at all + (len[0] + ... + len[r-1]);
 * its own slot receives a copy of mine.  Point-to-point (MPI_Isend / MPI_Irecv on tag), so
 * that a rank that does not answer within timeout_s can be named.  A record of another
 * size than len[r] is HG_IO naming the rank.  On HG_IO the requests still pending are
 * cancelled or freed, but MPI may still touch mine and all: the caller must not free them
 * (the job is about to be aborted).  len[r] <= INT_MAX.
 */
hg_status hg__mpi_exchange(MPI_Comm comm, int tag, const void *mine, const size_t *len,
                           unsigned char *all, double timeout_s, const char *what,
                           hg_error *err);

/*
 * The sliced exchange's reduction (reduce.c): the global mean of every rank's P gradient
 * sums, with O(P) bytes per rank and the bits of hg__rank_mean over whole vectors.
 *   1. hg__mpi_reduce_post, hg__mpi_reduce_wait: MPI_Ialltoallv, rank r receives every
 *      rank's copy of its slice (hg__param_slice), 8 (N - 1) len_r bytes in,
 *      8 (P - len_r) out.  Every rank posts it every step, whatever its own status (a
 *      failed rank's sums are zeros), before the records are exchanged, so the transfer
 *      overlaps the record exchange;
 *   2. hg__mpi_reduce_mean, only when every record says the step succeeded: rank r sums
 *      its slice's N copies in rank order in double, divides by the rows and rounds to
 *      float (hg__rank_mean over the slice: the same operations on the same values as
 *      the record exchange's hg__rank_mean over whole vectors), then MPI_Iallgatherv of
 *      the float slices, 4 (P - len_r) bytes in.
 * The collectives are non-blocking and polled until timeout_s (hg__mpi_wait).  On HG_IO
 * (an MPI error or the timeout) MPI may still read the sums and write rd's buffers: the
 * caller must leave both allocated (the job is about to be aborted).
 */
typedef struct hg__mpi_reduce {
    size_t      n, p;
    size_t      first, len;      /* this rank's slice */
    int        *count, *displ;   /* per rank: the length and first element of its slice */
    int        *ccount, *cdispl; /* per rank: len and r * len (its copy of this slice) */
    double     *copies;          /* n * len: every rank's copy of this slice, rank order */
    float      *part;            /* len: this rank's slice of the mean */
    float      *mean;            /* p: the whole mean after hg__mpi_reduce_mean */
    MPI_Request req;             /* the posted all-to-all */
    bool        posted;          /* req is pending */
} hg__mpi_reduce;

/*
 * Size rd for n ranks, this rank and p parameters.  HG_RANGE when p or n * len exceeds
 * MPI's int counts, HG_OUT_OF_MEMORY, HG_INVALID_ARGUMENT for n == 0 or rank >= n; on
 * failure rd holds nothing to free (hg__mpi_reduce_free is still safe).
 */
hg_status hg__mpi_reduce_init(hg__mpi_reduce *rd, size_t n, size_t rank, size_t p,
                              hg_error *err);

/* Free rd's buffers (safe on a zeroed or failed rd).  Not after an HG_IO from the
 * functions below: MPI may still write them. */
void hg__mpi_reduce_free(hg__mpi_reduce *rd);

/* Post the all-to-all of this rank's p doubles of sums (collective over comm: every rank,
 * in the same order as its other collectives).  HG_IO when MPI refuses it. */
hg_status hg__mpi_reduce_post(hg__mpi_reduce *rd, MPI_Comm comm, const double *sums,
                              const char *what, hg_error *err);

/* Wait for the posted all-to-all (HG_OK at once when none is pending). */
hg_status hg__mpi_reduce_wait(hg__mpi_reduce *rd, double timeout_s, const char *what,
                              hg_error *err);

/*
 * After hg__mpi_reduce_wait: rd->mean[k] = (float)((sum over ranks r in rank order of rank
 * r's sums[k]) / rows), the same bits on every rank.  Collective over comm; every rank
 * calls it with the same rows (> 0).
 */
hg_status hg__mpi_reduce_mean(hg__mpi_reduce *rd, MPI_Comm comm, size_t rows,
                              double timeout_s, const char *what, hg_error *err);

/*
 * Another rank's failure, as every rank reports it: fills err with st and
 * "rank R of N (host): <msg>", adding "; K more rank(s) failed" when others > 0.
 */
hg_status hg__mpi_rank_failed(hg_error *err, hg_status st, int rank, int n, const char *host,
                              const char *msg, int others);

/* This process's MPI processor name into host (size bytes, NUL-terminated). */
void hg__mpi_host(char *host, size_t size);

#endif /* HG_MPI_COMM_H */
