/* SPDX-License-Identifier: MIT */
/* mpi_client.c - built against the installed hetgrad MPI layer: every rank
   agrees that start-up went well, then says how many ranks there were. */
#include <stdio.h>

#include <mpi.h>
#include <hetgrad.h>
#include <hetgrad/mpi.h>

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    int size = 0, rank = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    hg_error err;
    hg_status st = hg_mpi_agree(MPI_COMM_WORLD, NULL, 30.0, &err);
    if (rank == 0)
        printf("hetgrad-mpi %s: %d rank(s) agreed: %s\n", hg_version_string(),
               size, st == HG_OK ? "yes" : err.message);
    MPI_Finalize();
    return st == HG_OK ? 0 : 1;
}
