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
 * Another rank's failure, as every rank reports it: fills err with st and
 * "rank R of N (host): <msg>", adding "; K more rank(s) failed" when others > 0.
 */
hg_status hg__mpi_rank_failed(hg_error *err, hg_status st, int rank, int n, const char *host,
                              const char *msg, int others);

/* This process's MPI processor name into host (size bytes, NUL-terminated). */
void hg__mpi_host(char *host, size_t size);

#endif /* HG_MPI_COMM_H */
