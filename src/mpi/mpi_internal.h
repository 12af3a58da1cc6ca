/* SPDX-License-Identifier: MIT */
/*
 * mpi_internal.h - declarations shared by the files of the MPI layer (libhetgrad_mpi).
 * Nothing here is public.  The pure parts (rankplan.c) take no MPI types and are tested
 * without MPI (tests/test_rankplan.c); exchange.c and agree.c wrap the MPI calls.
 */
#ifndef HG_MPI_INTERNAL_H
#define HG_MPI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/costmodel.h"
#include "internal.h"

/* ---- pure: rank capacities, slices and the rank-order sum (rankplan.c) ---------- */

/*
 * One rank's cost model from its devices' calibrated profiles: the devices of a rank run
 * at the same time, so its rows per ms add up (b = 1 / sum(1 / b_i)) and its fixed cost is
 * the largest one (a = max a_i).  Devices without a valid profile count as
 * default_rows_per_s each with no fixed cost, so a rank whose engine was not calibrated
 * gets ndev * default_rows_per_s.  Fails with HG_INVALID_ARGUMENT for out NULL, ndev 0,
 * a NULL array with ndev > 0, default_rows_per_s not finite and > 0, or a valid profile
 * whose fixed_ms is not finite and >= 0 or whose ms_per_row is not finite and > 0.
 */
hg_status hg__rank_model(const bool *valid, const double *fixed_ms, const double *ms_per_row,
                         size_t ndev, double default_rows_per_s, hg__cost_model *out,
                         hg_error *err);

/*
 * Rank r's slice of a step cut in rank order by counts[0..n): *first receives
 * counts[0] + ... + counts[r-1].  Fails (HG_RANGE) when the counts do not add up to total
 * or overflow, and with HG_INVALID_ARGUMENT for NULL arguments or r >= n.
 */
hg_status hg__rank_slice(const size_t *counts, size_t n, size_t r, size_t total,
                         size_t *first, hg_error *err);

/*
 * The global mean of n ranks' sums: out[k] = (float)((sum over r in rank order of
 * sums[r][k]) / rows), each sum accumulated in double from 0 in rank order, so the same
 * inputs give the same bits wherever it runs.  sums[r] points at rank r's p doubles
 * (stride given in doubles between consecutive ranks' vectors: sums + r * stride).
 * *loss_mean = (sum of loss_sum[r] in rank order) / rows; with loss_mean NULL the loss is
 * skipped (loss_sum may then be NULL too).  rows must be > 0.  Both exchanges use it:
 * the record exchange over whole vectors, the sliced one (reduce.c) over each rank's
 * slice, so the two give the same bits.
 */
void hg__rank_mean(const double *sums, size_t stride, size_t n, size_t p,
                   const double *loss_sum, size_t rows, float *out, double *loss_mean);

/*
 * The sliced exchange's cut of p parameters into n contiguous slices in rank order
 * (reduce.c): rank r owns [*first, *first + *len), the first p % n ranks p / n + 1
 * parameters and the others p / n, so the slices cover 0..p-1 once each, in order, and
 * differ in length by at most one (a rank owns none when p < n and r >= p).  Fails with
 * HG_INVALID_ARGUMENT for n == 0, r >= n or a NULL output.
 */
hg_status hg__param_slice(size_t p, size_t n, size_t r, size_t *first, size_t *len,
                          hg_error *err);

/* 64-bit FNV-1a of n bytes, from HG__FNV_INIT (the same hash as hetgrad-train's files). */
uint64_t hg__mpi_fnv(const void *p, size_t n);

#endif /* HG_MPI_INTERNAL_H */
