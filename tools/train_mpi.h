/* SPDX-License-Identifier: MIT */
/*
 * train_mpi.h - hetgrad-train's multi-rank mode (docs/mpi.md): MPI start-up and
 * shut-down, the start-up agreement, and what to do when another rank fails.
 *
 * hetgrad-train starts MPI only when an MPI launcher started it (mpirun / mpiexec / srun
 * set OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK) or when --mpi is given; a plain run is
 * a single process that never touches MPI.  Built without MPI (HG_HAVE_MPI undefined),
 * only tm_launched_size() exists, so that a launch by mpirun can be refused clearly.
 */
#ifndef HG_TRAIN_MPI_H
#define HG_TRAIN_MPI_H

#include <stdbool.h>
#include <stddef.h>

#include <hetgrad.h>

/* Ranks announced by an MPI launcher in the environment, 0 when none did. */
int tm_launched_size(void);

#ifdef HG_HAVE_MPI
#include <hetgrad/mpi.h>

typedef struct train_mpi {
    int  rank, size;
    bool initialized;   /* MPI_Init succeeded: MPI_Finalize or MPI_Abort is due */
} train_mpi;

/*
 * MPI_Init, MPI_ERRORS_RETURN on MPI_COMM_WORLD, and a SIGTERM handler that says which
 * rank was stopped by the launcher (mpirun stops the survivors when a rank dies).
 * false with msg on failure.
 */
bool tm_init(train_mpi *tm, int *argc, char ***argv, char *msg, size_t n);

/*
 * The start-up agreement: every rank calls it once, with its failure (local->status !=
 * HG_OK) or with success.  true when every rank succeeded; otherwise false with a message
 * naming the first failing rank in msg, the same on every rank.
 */
bool tm_agree(train_mpi *tm, const hg_error *local, double timeout_s, char *msg, size_t n);

/* An exchange failed (HG_IO): the ranks cannot be trusted to agree any more.  Prints msg
   with this rank's number and ends the whole job with MPI_Abort. */
void tm_abort(train_mpi *tm, const char *msg);

/* MPI_Finalize when MPI was started. */
void tm_finish(train_mpi *tm);
#else
/* Built without MPI: a single process always. */
typedef struct train_mpi {
    int  rank, size;
    bool initialized;
} train_mpi;
#endif

#endif /* HG_TRAIN_MPI_H */
