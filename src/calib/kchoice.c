/* SPDX-License-Identifier: MIT */
/*
 * kchoice.c - which kernels a device computes the built-in models with:
 * the candidates (CLBlast, hetgrad's own kernels in a few compile-time
 * shapes, the plain GEMM), the choice before any measurement, and opening
 * the compute path of a choice (path_ops.h).  profile.c times the candidates and keeps the
 * fastest correct one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_ops.h"
#include "platlock.h"

/* Fused kernel shapes: rows per forward pass, per backward pass, classes per
   forward pass (clipped to the model's classes), in two lists by the
   device's vector registers; best first on POCL.  The forward pass keeps
   rows x classes float16 accumulators.  The last shape of each list only with a
   small batch (small_batch): every shape is a program to build in every cold
   calibration (docs/kernels.md).

   fused_wide: for 16-float vectors (AVX-512: 32 registers, each a float16)
   and for devices that are no CPU.  16 to 20 accumulators.  Its last, 16 rows
   a backward pass, won the race on POCL's basic device at 128 rows; at 16,384
   rows on pthread it lost to the first (3.85 M against 4.23 M rows/s).

   fused_narrow: for CPUs whose float vectors are 8 wide or less (AVX2: 16
   registers, two to a float16), where the wide shapes spill.  4 to 5
   accumulators.  On an AMD EPYC (POCL, 16,384 rows) r4/b8/k1 made 1.58 M
   rows/s on basic and 2.92-3.04 M on pthread, where the wide list's best made
   1.22 M and 2.44 M; at 128 rows the best of the race 1.72 M and 1.15-1.25 M
   against 1.23 M and 0.92-0.93 M.  With one output (linear regression) the
   wide list's first shape is r8/b8/k1, here the third.  docs/kernels.md, "The fused shapes on
   AVX2". */
static const unsigned fused_wide[][3] = {{8, 8, 2}, {4, 8, 5}, {2, 8, 10}, {4, 16, 5}};
static const unsigned fused_narrow[][3] = {{4, 8, 1}, {1, 8, 5}, {8, 8, 1}, {4, 4, 1}};
#define SMALL_ONLY_SHAPES 1 /* the last shapes of each list: small batches only */
/* Tiled GEMM blocks (rows x columns of C per work-item) for layers at least
   as wide as the block; narrower ones use 8 x 8 (tiled.c).  32 columns are
   two float16 a row (cl/gemm.cl): the fastest where 32 vector registers hold
   16 to 24 of them (AVX-512), spilled where there are 16 (AVX2).  6 x 16 is
   for AVX2: six float16 are 12 of its 16 registers, and beside them the row
   of B and a broadcast fit (on an AMD EPYC, the MLP's race: 6 x 16 80.8 k
   rows/s on POCL's basic device where the best of the others, 8 x 16, made
   59 k; docs/kernels.md). */
static const unsigned tiled_shapes[][2] = {{16, 16}, {24, 16}, {8, 16}, {8, 32}, {12, 32}, {6, 16}};
/* The tiled blocks on a CPU whose float vectors are 8 wide (AVX2: 16 registers
   of 8 floats; hg__narrow_cpu and a width of 8), the first the default before
   measuring: the others' accumulators alone need 32 to 48 of the 16 registers
   (8 x 16 fills them; 6 x 16 leaves four for B's row and a broadcast).  On an
   AMD EPYC with AVX2 (2026-12-06, the MLP 784-256-10) the races kept 6 x 16
   but once (8 x 16), and each of the other four made at least a third fewer
   rows/s than 6 x 16: at 128 rows on POCL pthread tiled 16x16 80.1 k, 24x16 67 k,
   8x16 97.2 k, 8x32 69.8 k, 12x32 69.3 k, 6x16 132 k rows/s, on basic 43.6 k,
   33 k, 42.7 k, 40.9 k, 38.2 k, 78.5 k; at 16,384 rows on pthread 87 k, 79.6 k,
   113 k, 72.1 k, 73.1 k, 152 k.  Racing two shapes instead of six cut the
   MLP's calibration at 128 rows from 1.39-1.71 s to 0.45-0.56 s there, with
   the same kernel kept (docs/kernels.md).  Narrower vectors (SSE, NEON) keep
   the whole list: not measured. */
static const unsigned tiled_avx2[][2] = {{6, 16}, {8, 16}};

/* The most candidates a device can have (own_candidates, then CLBlast) fit the arrays
   every caller sizes by HG__MAX_CANDIDATES: the single-layer models' small batch has
   every fused shape three times and the first twice more, the MLP's every tiled shape
   twice. */
#define NFUSED (sizeof fused_wide / sizeof fused_wide[0])
_Static_assert(sizeof fused_narrow == sizeof fused_wide, "the fused lists differ in length");
#define NTILED (sizeof tiled_shapes / sizeof tiled_shapes[0])
#define NTILED_AVX2 (sizeof tiled_avx2 / sizeof tiled_avx2[0])
_Static_assert(3 * NFUSED + 2 + 1 <= HG__MAX_CANDIDATES && 2 * NTILED + 1 <= HG__MAX_CANDIDATES,
               "HG__MAX_CANDIDATES is too small for the kernel shapes");

static bool oclgrind(const hg__device *d)
{
    return strstr(d->info->platform_name, "Oclgrind") != NULL;
}

/*
 * Device d's fused shape list: fused_narrow on a narrow CPU device
 * (hg__narrow_cpu: a CPU device, not Oclgrind, which simulates, whose native
 * float vectors are 1 to 8 wide), fused_wide otherwise.  OpenCL tells no
 * register count; the vector width separates
 * AVX-512 (32 registers of 16 floats) from AVX2 (16 of 8) and SSE or NEON
 * (4 floats a register): POCL reports 16 with AVX-512F, 8 with AVX, 4 with
 * SSE or NEON (its cpu_setup_vector_widths; 8 on the AMD EPYC).
 */
static const unsigned (*fused_shapes(const hg__device *d))[3]
{
    return hg__narrow_cpu(d) ? fused_narrow : fused_wide;
}

/* Device d's tiled GEMM blocks into *shapes, their count returned: tiled_avx2 on a
   CPU device with 8-float vectors (unless the all_tiles knob), tiled_shapes
   otherwise. */
static size_t tiled_list(const hg_engine *eng, const hg__device *d,
                         const unsigned (**shapes)[2])
{
    bool avx2 = !eng->all_tiles && hg__narrow_cpu(d) && d->float_width == 8;
    *shapes = avx2 ? tiled_avx2 : tiled_shapes;
    return avx2 ? NTILED_AVX2 : NTILED;
}

static bool single_layer(const hg_engine *eng)
{
    return eng->model.kind == HG_MODEL_LINEAR || eng->model.kind == HG_MODEL_SOFTMAX;
}

/*
 * Whether device d can hold W^T of shape c in one work-group's local memory,
 * as the one-kernel variant does (padded to a multiple of c's classes).
 */
static bool wt_fits_local(const hg_engine *eng, const hg__device *d, const hg__kchoice *c)
{
    uint64_t K = eng->model.outputs, kp = (K + c->c - 1) / c->c * c->c;
    return kp * eng->model.inputs * sizeof(float) <= d->info->local_mem_bytes;
}

/*
 * Whether device d is offered the one-kernel variant: a CPU device only.  Its
 * last slab reads the other work-groups' partials after an atomic counter
 * says they are written, which OpenCL 1.2 does not promise across
 * work-groups; on a CPU device (coherent caches, atomics that order the
 * stores before them) it holds, and there a launch costs most.  Not on
 * Oclgrind (no CPU device either): its uninitialised-value plugin reports
 * hg_fused_one's predictions as uninitialised (and, once it has run,
 * hg_fused_grad's), although the gradient matches the reference and the
 * three kernels' bits.
 */
static bool one_kernel_offered(const hg__device *d)
{
    return hg__real_cpu(d);
}

/*
 * The fused shapes (the small-batch-only ones with a small batch), each with
 * slabs of kind s (0: the usual ones) and one
 * kernel or three (one), without the duplicates that clipping the classes
 * makes and, with one, only those whose W^T fits d's local memory, appended
 * to out[n...]; returns the new count.  first_only: the first shape alone.
 */
static bool small_batch(const hg_engine *eng, const hg__device *d);

static size_t fused_candidates(const hg_engine *eng, const hg__device *d, unsigned s,
                               unsigned one, bool first_only, hg__kchoice *out, size_t n)
{
    const unsigned (*shapes)[3] = fused_shapes(d);
    unsigned k = (unsigned)eng->model.outputs;
    size_t end = first_only ? 1 : small_batch(eng, d) ? NFUSED : NFUSED - SMALL_ONLY_SHAPES;
    for (size_t i = 0; i < end; i++) {
        hg__kchoice c = {HG__PATH_OWN, shapes[i][0], shapes[i][1],
                         shapes[i][2] < k ? shapes[i][2] : k, s, one};
        if (one && (!one_kernel_offered(d) || !wt_fits_local(eng, d, &c)))
            continue;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup |= out[j].a == c.a && out[j].b == c.b && out[j].c == c.c && out[j].s == c.s &&
                   out[j].one == c.one;
        if (!dup)
            out[n++] = c;
    }
    return n;
}

/*
 * Whether the engine's step size is a small batch for device d: known, and
 * fewer rows than four usual slabs (HG__SLAB_MIN rows) per compute unit.  The
 * small-batch candidates (small slabs, one kernel, the MLP's three-launch path)
 * exist to keep every unit busy and to save launches where a batch is only a
 * few slabs; above that the usual slabs already fill every unit, the
 * small-batch forms measured slower where they were tried (16,384 rows on
 * POCL pthread, a loaded machine: one kernel 3.04 M against 4.79 M rows/s, the
 * MLP's three launches 41 k against 109 k), and each of them is a program to
 * build: with Intel's CPU runtime, whose compiler is slow, racing
 * all eleven fused candidates of the time (three shapes; four now) on 65,536
 * rows took 5.6 s of calibration.
 */
static bool small_batch(const hg_engine *eng, const hg__device *d)
{
    size_t units = d->info->compute_units ? d->info->compute_units : 1;
    return eng->batch_rows && eng->batch_rows < 4u * HG__SLAB_MIN * units;
}

static size_t own_candidates(const hg_engine *eng, const hg__device *d, hg__kchoice *out)
{
    size_t n = 0;
    if (single_layer(eng)) {
        n = fused_candidates(eng, d, 0, 0, false, out, n);
        /* a small batch (fast mode): the small-batch slabs too, two per
           compute unit for every shape, one per unit for the first, in three
           kernels and in one (CPU devices only).  Not on Oclgrind: its uninitialised-value
           plugin reports the second slab's partial as uninitialised in fast
           mode (not in deterministic mode, with the same kernel), although
           the gradient matches the reference; a simulator gains nothing from
           them anyway */
        if (small_batch(eng, d) && !eng->det && !oclgrind(d)) {
            n = fused_candidates(eng, d, 2, 0, false, out, n);
            n = fused_candidates(eng, d, 1, 0, true, out, n);
            n = fused_candidates(eng, d, 2, 1, false, out, n);
            n = fused_candidates(eng, d, 1, 1, true, out, n);
        }
        /* deterministic mode with a small batch: every shape in one
           kernel too (the same bits: docs/kernels.md; CPU devices only) */
        if (small_batch(eng, d) && eng->det)
            n = fused_candidates(eng, d, 0, 1, false, out, n);
    } else {
        const unsigned (*tiled)[2];
        size_t nt = tiled_list(eng, d, &tiled);
        for (size_t i = 0; i < nt; i++)
            out[n++] = (hg__kchoice){HG__PATH_OWN, tiled[i][0], tiled[i][1], 0, 0, 0};
        /* a small batch and one hidden layer: the small-batch path
           (mlp_small.c: three launches a batch), its two large GEMMs in each
           of the tiled shapes (the head's program is built once for the
           classes, the weight gradient's for the classes and the tile); the
           tiled path's bits, so deterministic mode too.  Not on Oclgrind: its
           uninitialised-value plugin reports hg_mlps_head's backprop store on
           some rows as uninitialised (with either forward tile) although the
           gradient has the tiled path's bits; the cause is not found, and a
           simulator gains nothing from it anyway.  Tests offer it there with
           the plugin off (the small_on_oclgrind knob), for the bounds and
           race checks */
        if (small_batch(eng, d) && hg__mlp_small_fits(eng) &&
            (!oclgrind(d) || eng->small_on_oclgrind))
            for (size_t i = 0; i < nt; i++)
                out[n++] = (hg__kchoice){HG__PATH_OWN, tiled[i][0], tiled[i][1], 0, 1, 0};
    }
    return n;
}

/*
 * Whether HG_GEMM_AUTO leaves CLBlast out of device d's candidates: on a
 * device that computes on the host's cores (a CPU device, or Oclgrind, which
 * simulates on host threads), for every built-in model.  For the linear and
 * softmax models the fused kernel reads each row once and does the whole
 * gradient in one pass, while CLBlast's path makes a GEMM pass forward,
 * another backward and element-wise passes between, on the same cores and
 * the same memory: measured 20 to 53 times slower (docs/kernels.md).  For
 * the MLP, CLBlast's GEMMs (tuned for GPUs: on a CPU device it runs its
 * default parameters) measured 8.7 to 10.2 times slower than the tiled GEMM
 * on POCL at 16,384 rows, 4.0 times on Intel's CPU runtime, and 3.2 to 5.7
 * times at 128 rows (POCL, 2026-12-04: the race of the digits' MLP and
 * bench_gradient's 784-256-10).  Its first use
 * compiles CLBlast's kernels, 6 to 15 s per device on POCL here (13 s for the
 * MLP's race) and about 15 s on Oclgrind: most of a cold calibration, for a
 * candidate that never won on a CPU.  GPUs keep it.
 */
static bool clblast_pruned(const hg__device *d)
{
    return (d->info->cl_type & CL_DEVICE_TYPE_CPU) != 0 || oclgrind(d);
}

size_t hg__kchoice_candidates(const hg_engine *eng, const hg__device *d, hg__kchoice *out)
{
    if (eng->model.kind == HG_MODEL_CUSTOM) {
        out[0] = (hg__kchoice){HG__PATH_CUSTOM, 0, 0, 0, 0, 0};
        return 1;
    }
    if (eng->gemm == HG_GEMM_NAIVE) {
        out[0] = (hg__kchoice){HG__PATH_NAIVE, 0, 0, 0, 0, 0};
        return 1;
    }
    if (eng->gemm == HG_GEMM_CLBLAST) {
        /* No CLBlast on devices that cannot compile: it builds its kernels itself. */
        out[0] = (hg__kchoice){d->offline ? HG__PATH_NAIVE : HG__PATH_CLBLAST, 0, 0, 0, 0, 0};
        return 1;
    }
    size_t n = own_candidates(eng, d, out);
    /* A device that cannot compile has the plain GEMM of its model program as the
       last resort, where CLBlast is pruned too: its prebuilt binaries may lack our
       other kernels (docs/programs.md), and then the plain GEMM is what it runs. */
    if (eng->gemm == HG_GEMM_AUTO && !eng->det && (d->offline || !clblast_pruned(d)))
        out[n++] = (hg__kchoice){d->offline ? HG__PATH_NAIVE : HG__PATH_CLBLAST, 0, 0, 0, 0, 0};
    return n;
}

hg__kchoice hg__kchoice_default(const hg_engine *eng, const hg__device *d)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t n = hg__kchoice_candidates(eng, d, c);
    /* On a CPU, an MLP's small batch starts on the small-batch path (its first
       tile), deterministic mode too (the same bits): four launches a batch where
       the tiled path makes twelve, and on POCL's pthread device each launch waits
       for its threads.  The race at 128 rows chose it on both POCL devices in
       every run seen, and views of one compiler are compared on the default
       kernels (duplicates.c): on the tiled path pthread's 128-row step took
       0.69-0.87 ms in some calibrations and 1.13-1.39 ms in others, next to
       basic's 1.02-1.2, and basic replaced it in 9 of 42 (2026-12-07); the run then
       computed at basic's speed, where pthread takes 0.62-0.67 ms on the
       small-batch path. */
    for (size_t k = 0; d->info->type == HG_DEVICE_CPU && k < n; k++)
        if (hg__path_ops_for(&c[k]) == &hg__ops_mlp_small)
            return c[k];
    if (eng->gemm != HG_GEMM_AUTO || eng->det || n == 1)
        return c[0];
    /* Before measuring: our kernels on CPUs and where CLBlast is no candidate,
       CLBlast elsewhere. */
    return d->info->type == HG_DEVICE_CPU || clblast_pruned(d) ? c[0] : c[n - 1];
}

uint64_t hg__kchoice_signature(const hg_engine *eng, const hg__device *d)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t n = hg__kchoice_candidates(eng, d, c);
    uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        const unsigned f[] = {(unsigned)c[i].path, c[i].a, c[i].b, c[i].c, c[i].s, c[i].one};
        for (size_t j = 0; j < sizeof f / sizeof f[0]; j++)
            for (unsigned v = f[j], byte = 0; byte < 4; byte++, v >>= 8)
                h = (h ^ (v & 0xffu)) * UINT64_C(1099511628211);
    }
    return h;
}

bool hg__kchoice_unraced(const char *note)
{
    return strncmp(note, HG__NOTE_VIEWS_CHOICE, strlen(HG__NOTE_VIEWS_CHOICE)) == 0 ||
           strncmp(note, HG__NOTE_RACE_DEFERRED, strlen(HG__NOTE_RACE_DEFERRED)) == 0 ||
           hg__kchoice_short_job(note);
}

bool hg__kchoice_short_job(const char *note)
{
    return strncmp(note, HG__NOTE_SHORT_JOB, strlen(HG__NOTE_SHORT_JOB)) == 0;
}

bool hg__kchoice_same(const hg__kchoice *x, const hg__kchoice *y)
{
    return x->path == y->path && x->a == y->a && x->b == y->b && x->c == y->c && x->s == y->s &&
           x->one == y->one;
}

bool hg__kchoice_valid(const hg_engine *eng, const hg__device *d, const hg__kchoice *k)
{
    hg__kchoice c[HG__MAX_CANDIDATES];
    size_t n = hg__kchoice_candidates(eng, d, c);
    for (size_t i = 0; i < n; i++)
        if (hg__kchoice_same(&c[i], k))
            return true;
    return false;
}

void hg__kchoice_release(hg__device *d)
{
    if (d->ops)
        d->ops->release(d->ps);
    d->ops = NULL;
    d->ps = NULL;
    d->cap_rows = 0; /* the workspace depends on the choice */
}

void hg__kchoice_park(hg__device *d, hg__kchoice_parked *p)
{
    hg__platform_enter(d->serial);
    if (d->ops)
        d->ops->drop_workspace(d->ps);
    *p = (hg__kchoice_parked){d->ops, d->ps, d->kc, d->kc_from_cache};
    d->ops = NULL;
    d->ps = NULL;
    d->cap_rows = 0; /* the shared layer buffers are sized again for the next path */
    hg__platform_leave(d->serial);
}

void hg__kchoice_unpark(hg__device *d, hg__kchoice_parked *p)
{
    hg__platform_enter(d->serial);
    hg__kchoice_release(d);
    d->ops = p->ops;
    d->ps = p->ps;
    d->kc = p->kc;
    d->kc_from_cache = p->from_cache;
    d->kc_checked = false;
    *p = (hg__kchoice_parked){0};
    hg__platform_leave(d->serial);
}

void hg__kchoice_parked_release(hg__device *d, hg__kchoice_parked *p)
{
    hg__platform_enter(d->serial);
    if (p->ops)
        p->ops->release(p->ps);
    *p = (hg__kchoice_parked){0};
    hg__platform_leave(d->serial);
}

void hg__kchoice_keep_programs(hg_engine *eng, hg__device *d)
{
    cl_program prog;
    const char *label;
    hg__platform_enter(d->serial);
    for (size_t k = 0; d->ops && d->ops->program(d->ps, k, &prog, &label); k++)
        hg__program_pending_keep(&d->pending, prog, &eng->pcache);
    hg__program_pending_clear(&d->pending);
    hg__platform_leave(d->serial);
    d->defer_store = false;
}

void hg__kchoice_store_pending(hg_engine *eng)
{
    for (size_t i = 0; eng && i < eng->ndev; i++)
        if (eng->dev[i].defer_store || eng->dev[i].pending.n)
            hg__kchoice_keep_programs(eng, &eng->dev[i]);
}

void hg__kchoice_break(hg_engine *eng, const char *name, int how)
{
    snprintf(eng->broken_kernel, sizeof eng->broken_kernel, "%s", name ? name : "");
    eng->broken_how = how;
}

static hg_status apply(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                       hg_error *err)
{
    (void)li; /* d->li: the paths open on d itself */
    char name[48];
    hg__kchoice_name(k, name, sizeof name);
    if (!hg__kchoice_valid(eng, d, k))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s: kernel choice %u:%u:%u:%u (%s) is not one of its candidates "
                             "for this model and these engine options", d->what,
                             (unsigned)k->path, k->a, k->b, k->c, name);
    /* Open the new path beside the current one, which stays until the new one is whole. */
    const hg__path_ops *ops = hg__path_ops_for(k);
    bool old_from_cache = d->kc_from_cache;
    d->kc_from_cache = false;
    void *state = NULL;
    hg_status st = ops->open(eng, d, k, &state, err);
    if (st != HG_OK) {
        d->kc_from_cache = old_from_cache;
        return st;
    }
    hg__kchoice_release(d); /* the earlier path's state and the workspace */
    d->ops = ops;
    d->ps = state;
    d->kc = *k;
    d->kc_checked = false; /* new kernels: checked before their first use */
    return HG_OK;
}

hg_status hg__kchoice_apply(hg_engine *eng, hg__device *d, size_t li, const hg__kchoice *k,
                            hg_error *err)
{
    hg__platform_enter(d->serial);
    hg_status st = apply(eng, d, li, k, err);
    hg__platform_leave(d->serial);
    return st;
}
