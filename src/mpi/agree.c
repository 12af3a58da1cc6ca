/* SPDX-License-Identifier: MIT */
/*
 * agree.c - status agreement: every rank learns whether every rank succeeded, and if not,
 * which one failed and why (hg_mpi_agree).  Used at start-up, where a rank that cannot
 * create its engine must stop the others with a message rather than leave them waiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hetgrad/mpi.h"
#include "mpi_comm.h"

#define DEFAULT_TIMEOUT_S 120.0

/* One rank's record. */
typedef struct agree_rec {
    int32_t status;
    int32_t reserved;
    char    host[64];
    char    msg[HG_ERROR_MESSAGE_MAX];
} agree_rec;

hg_status hg__mpi_rank_failed(hg_error *err, hg_status st, int rank, int n, const char *host,
                              const char *msg, int others)
{
    char more[64] = "";
    if (others > 0)
        snprintf(more, sizeof more, "; %d more rank%s failed", others, others > 1 ? "s" : "");
    return hg__error_set(err, st, 0, "rank %d of %d (%.63s): %s: %.380s%s", rank, n, host,
                         hg_status_name(st), msg, more);
}

void hg__mpi_host(char *host, size_t size)
{
    char name[MPI_MAX_PROCESSOR_NAME + 1];
    int len = 0;
    if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS || len <= 0)
        snprintf(name, sizeof name, "unknown host");
    else
        name[len < MPI_MAX_PROCESSOR_NAME ? len : MPI_MAX_PROCESSOR_NAME] = '\0';
    if (size == 0)
        return;
    size_t n = strlen(name);
    n = n < size - 1 ? n : size - 1; /* truncated to fit */
    memcpy(host, name, n);
    host[n] = '\0';
}

hg_status hg_mpi_agree(MPI_Comm comm, const hg_error *local, double timeout_s, hg_error *err)
{
    if (timeout_s <= 0)
        timeout_s = DEFAULT_TIMEOUT_S;
    MPI_Comm c;
    hg_status s = hg__mpi_dup(comm, timeout_s, &c, "hg_mpi_agree", err);
    if (s != HG_OK)
        return s;
    int me = 0, n = 0, rc;
    if ((rc = MPI_Comm_rank(c, &me)) != MPI_SUCCESS || (rc = MPI_Comm_size(c, &n)) != MPI_SUCCESS) {
        MPI_Comm_free(&c);
        return hg__mpi_fail(err, rc, "hg_mpi_agree");
    }
    agree_rec mine;
    memset(&mine, 0, sizeof mine);
    mine.status = local ? (int32_t)local->status : HG_OK;
    hg__mpi_host(mine.host, sizeof mine.host);
    if (local && local->status != HG_OK)
        snprintf(mine.msg, sizeof mine.msg, "%s", local->message);
    agree_rec *all = malloc((size_t)n * sizeof *all);
    size_t *len = malloc((size_t)n * sizeof *len);
    if (!all || !len) {
        free(all);
        free(len);
        MPI_Comm_free(&c);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "hg_mpi_agree: no memory for %d ranks",
                             n);
    }
    for (int r = 0; r < n; r++)
        len[r] = sizeof mine;
    s = hg__mpi_exchange(c, 1, &mine, len, (unsigned char *)all, timeout_s,
                         "hg_mpi_agree", err);
    free(len);
    if (s != HG_OK)
        return s; /* all and c stay: MPI may still use them; the job is to be aborted */
    int first = -1, others = 0;
    for (int r = 0; r < n; r++) {
        if (all[r].status == HG_OK)
            continue;
        if (first < 0)
            first = r;
        else
            others++;
    }
    if (first < 0) {
        s = HG_OK;
        hg_error_clear(err);
    } else {
        agree_rec *f = &all[first];
        f->host[sizeof f->host - 1] = '\0';
        f->msg[sizeof f->msg - 1] = '\0';
        hg_status fs = f->status > HG_OK && f->status < HG_STATUS_COUNT_ ? (hg_status)f->status
                                                                          : HG_INTERNAL;
        s = hg__mpi_rank_failed(err, fs, first, n, f->host, f->msg, others);
    }
    free(all);
    MPI_Comm_free(&c);
    return s;
}
