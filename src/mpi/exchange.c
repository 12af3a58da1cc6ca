/* SPDX-License-Identifier: MIT */
/*
 * exchange.c - the MPI calls of the MPI layer, each bounded by a deadline.
 *
 * Nothing here blocks in MPI: requests are posted non-blocking and polled with MPI_Testall,
 * sleeping between polls (10 us at first, doubling up to 1 ms, so that a rank waiting for
 * a slower one does not steal the cores it computes on; the sliced exchange's collectives,
 * which wait for bytes rather than for ranks, poll up to every 100 us).  When the deadline
 * passes the ranks whose records did not arrive are named; MPI itself cannot say whether
 * they died, hang or are merely slow, so the timeout must cover the slowest rank's step.
 *
 * The record exchange is point-to-point rather than MPI_Iallgather for that naming.  It
 * moves the same bytes as a naive allgather: each rank sends its record to N - 1 ranks and
 * receives N - 1 records.  A step's records are small (its head and devices) unless the
 * record exchange carries the gradient sums too; the sliced exchange moves the sums with
 * collectives (reduce.c), its all-to-all progressing while the records travel here.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_comm.h"

hg_status hg__mpi_fail(hg_error *err, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING + 1];
    int n = 0;
    if (MPI_Error_string(rc, text, &n) != MPI_SUCCESS || n <= 0)
        snprintf(text, sizeof text, "unknown MPI error");
    else
        text[n < MPI_MAX_ERROR_STRING ? n : MPI_MAX_ERROR_STRING] = '\0';
    return hg__error_set(err, HG_IO, 0, "%s: %s (MPI error %d)", what, text, rc);
}

static void pause_us(long *us, long max_us)
{
    struct timespec ts = {0, *us * 1000L};
    nanosleep(&ts, NULL);
    if (*us < max_us)
        *us *= 2;
}

hg_status hg__mpi_wait(MPI_Request *req, int n, MPI_Status *st, double timeout_s, long max_us,
                       bool *done, const char *what, hg_error *err)
{
    double deadline = MPI_Wtime() + timeout_s;
    long us = 10;
    for (;;) {
        int flag = 0;
        int rc = MPI_Testall(n, req, &flag, st);
        if (rc != MPI_SUCCESS) {
            if (rc == MPI_ERR_IN_STATUS)
                for (int i = 0; i < n; i++)
                    if (st[i].MPI_ERROR != MPI_SUCCESS && st[i].MPI_ERROR != MPI_ERR_PENDING) {
                        rc = st[i].MPI_ERROR;
                        break;
                    }
            *done = false;
            return hg__mpi_fail(err, rc, what);
        }
        if (flag) {
            *done = true;
            return HG_OK;
        }
        if (MPI_Wtime() > deadline) {
            *done = false;
            return HG_OK;
        }
        pause_us(&us, max_us);
    }
}

hg_status hg__mpi_dup(MPI_Comm comm, double timeout_s, MPI_Comm *out, const char *what,
                      hg_error *err)
{
    MPI_Request req;
    MPI_Comm dup = MPI_COMM_NULL;
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%s: MPI_Comm_idup", what);
    int rc = MPI_Comm_idup(comm, &dup, &req);
    if (rc != MPI_SUCCESS)
        return hg__mpi_fail(err, rc, ctx);
    MPI_Status st;
    bool done;
    hg_status s = hg__mpi_wait(&req, 1, &st, timeout_s, HG__MPI_POLL_MAX_US, &done, ctx, err);
    if (s != HG_OK)
        return s;
    if (!done)
        return hg__error_set(err, HG_IO, 0,
                             "%s: the other ranks did not join within %g s (a rank died, "
                             "hangs, or failed before this point)", what, timeout_s);
    rc = MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&dup);
        snprintf(ctx, sizeof ctx, "%s: MPI_Comm_set_errhandler", what);
        return hg__mpi_fail(err, rc, ctx);
    }
    *out = dup;
    return HG_OK;
}

hg_status hg__mpi_exchange(MPI_Comm comm, int tag, const void *mine, const size_t *len,
                           unsigned char *all, double timeout_s, const char *what,
                           hg_error *err)
{
    int me, n, rc;
    if ((rc = MPI_Comm_rank(comm, &me)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(comm, &n)) != MPI_SUCCESS)
        return hg__mpi_fail(err, rc, what);
    size_t off_me = 0;
    for (int r = 0; r < n; r++) {
        if (len[r] > INT_MAX)
            return hg__error_set(err, HG_RANGE, 0, "%s: rank %d's record of %zu bytes is "
                                 "above MPI's count limit", what, r, len[r]);
        if (r < me)
            off_me += len[r];
    }
    memcpy(all + off_me, mine, len[me]);
    if (n == 1)
        return HG_OK;
    size_t nreq = 2 * (size_t)(n - 1);
    MPI_Request *req = malloc(nreq * sizeof *req);
    MPI_Status *st = malloc(nreq * sizeof *st);
    int *from = malloc(nreq * sizeof *from);
    if (!req || !st || !from) {
        free(req);
        free(st);
        free(from);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: no memory for %zu requests",
                             what, nreq);
    }
    hg_status s = HG_OK;
    int k = 0;
    size_t off = 0;
    char ctx[200];
    /* Receives first, in rank order; then the sends. */
    for (int r = 0; r < n && s == HG_OK; off += len[r], r++) {
        if (r == me)
            continue;
        rc = MPI_Irecv(all + off, (int)len[r], MPI_BYTE, r, tag, comm, &req[k]);
        if (rc != MPI_SUCCESS) {
            snprintf(ctx, sizeof ctx, "%s: MPI_Irecv from rank %d", what, r);
            s = hg__mpi_fail(err, rc, ctx);
            break;
        }
        from[k++] = r;
    }
    for (int r = 0; r < n && s == HG_OK; r++) {
        if (r == me)
            continue;
        rc = MPI_Isend(mine, (int)len[me], MPI_BYTE, r, tag, comm, &req[k]);
        if (rc != MPI_SUCCESS) {
            snprintf(ctx, sizeof ctx, "%s: MPI_Isend to rank %d", what, r);
            s = hg__mpi_fail(err, rc, ctx);
            break;
        }
        from[k++] = -1 - r;
    }
    bool done = false;
    if (s == HG_OK)
        s = hg__mpi_wait(req, k, st, timeout_s, HG__MPI_POLL_MAX_US, &done, what, err);
    if (s == HG_OK && !done) {
        /* Name the ranks whose records have not arrived. */
        char who[200] = "";
        size_t used = 0;
        int missing = 0;
        for (int i = 0; i < k; i++) {
            int flag = 0;
            if (from[i] < 0 || req[i] == MPI_REQUEST_NULL)
                continue;
            if (MPI_Test(&req[i], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag)
                continue;
            missing++;
            if (used < sizeof who - 16) {
                int w = snprintf(who + used, sizeof who - used, "%s%d", missing > 1 ? ", " : "",
                                 from[i]);
                used += w > 0 ? (size_t)w : 0;
            }
        }
        s = hg__error_set(err, HG_IO, 0,
                          "%s: no answer from rank%s %s within %g s (died, hangs, or failed "
                          "before this point)", what, missing > 1 ? "s" : "",
                          missing ? who : "(sends pending)", timeout_s);
    }
    if (s != HG_OK) {
        for (int i = 0; i < k; i++) {
            if (req[i] == MPI_REQUEST_NULL)
                continue;
            if (from[i] >= 0)
                MPI_Cancel(&req[i]);
            MPI_Request_free(&req[i]);
        }
    } else {
        /* Every record must have its announced size. */
        for (int i = 0; i < k; i++) {
            int count = 0;
            if (from[i] < 0)
                continue;
            if ((rc = MPI_Get_count(&st[i], MPI_BYTE, &count)) != MPI_SUCCESS) {
                s = hg__mpi_fail(err, rc, what);
                break;
            }
            if ((size_t)count != len[from[i]]) {
                s = hg__error_set(err, HG_IO, 0, "%s: rank %d sent %d bytes, %zu expected "
                                  "(do all ranks run the same model and calls?)", what,
                                  from[i], count, len[from[i]]);
                break;
            }
        }
    }
    free(req);
    free(st);
    free(from);
    return s;
}
