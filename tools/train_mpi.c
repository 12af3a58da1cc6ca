/* SPDX-License-Identifier: MIT */
/*
 * train_mpi.c - hetgrad-train's multi-rank mode (train_mpi.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train_mpi.h"

int tm_launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v) > 0 ? atoi(v) : 1;
    }
    const char *r = getenv("PMIX_RANK");
    if (!r || !*r)
        r = getenv("PMI_RANK");
    return r && *r ? 1 : 0;
}

#ifdef HG_HAVE_MPI
/*
 * The message the SIGTERM handler writes.  A signal handler can reach nothing else, so
 * this is the tool's one piece of static state; it is written once, before the handler
 * is installed.
 */
static char term_msg[200];
static size_t term_len;

static void on_term(int sig)
{
    ssize_t w = write(STDERR_FILENO, term_msg, term_len);
    (void)w;
    _exit(128 + sig);
}

bool tm_init(train_mpi *tm, int *argc, char ***argv, char *msg, size_t n)
{
    memset(tm, 0, sizeof *tm);
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) {
        snprintf(msg, n, "MPI_Init failed (MPI error %d)", rc);
        return false;
    }
    tm->initialized = true;
    if ((rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(MPI_COMM_WORLD, &tm->rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(MPI_COMM_WORLD, &tm->size)) != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
            snprintf(text, sizeof text, "MPI error %d", rc);
        snprintf(msg, n, "MPI set-up: %s", text);
        return false;
    }
    int w = snprintf(term_msg, sizeof term_msg,
                     "hetgrad-train: rank %d of %d: stopped by the MPI launcher (another rank "
                     "ended early: see its message and the launcher's)\n", tm->rank, tm->size);
    term_len = w > 0 && (size_t)w < sizeof term_msg ? (size_t)w : strlen(term_msg);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    return true;
}

bool tm_agree(train_mpi *tm, const hg_error *local, double timeout_s, char *msg, size_t n)
{
    hg_error err;
    if (hg_mpi_agree(MPI_COMM_WORLD, local, timeout_s, &err) == HG_OK)
        return true;
    if (err.status == HG_IO)
        tm_abort(tm, err.message);
    snprintf(msg, n, "%.480s", err.message);
    return false;
}

void tm_abort(train_mpi *tm, const char *msg)
{
    fprintf(stderr, "hetgrad-train: rank %d of %d: %s; ending the job (MPI_Abort)\n", tm->rank,
            tm->size, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1); /* MPI_Abort does not return; if it did, do not linger */
}

void tm_finish(train_mpi *tm)
{
    if (tm->initialized)
        MPI_Finalize();
    tm->initialized = false;
}
#endif
