#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""python_overhead.py - what hetgrad.Engine.gradient costs on top of the C call.

Measures, in one run and interleaved (so that the machine's load hits every figure
alike), per call on a 128-row step of softmax regression (64 features, 10 classes):

  C loop         hg_engine_gradient called from a C loop (compiled here with cc, and
                 handed the library's function pointer): the C call alone;
  raw ctypes     the same function called through ctypes with prepared arguments;
  Engine         hetgrad.Engine.gradient(params, slice(0, 128)), as a user calls it
                 (and with out=, and with a 128-row index array).

The device time of a step varies by tens of microseconds under load, more than the
overhead itself, so the overhead is also measured on its own: the same three paths
calling a C stub with hg_engine_gradient's signature that returns at once.  The
Engine path then costs exactly its Python and ctypes work.

Prints the figures with `uptime`.  A benchmark: no threshold decides its exit status.
Run it where hetgrad is installed (pip install ./python), with the OpenCL environment
you want measured, e.g. POCL:  python3 bench/python_overhead.py [--rounds N]
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np

import hetgrad
import hetgrad.engine as hg_engine

C_SOURCE = r"""
#include <stddef.h>
#include <time.h>
typedef int (*grad_fn)(void *, const float *, size_t, size_t, float *, double *, void *);

/* ns per call of reps calls of f; -1 when a call fails. */
double loop_ns(grad_fn f, void *eng, const float *p, size_t first, size_t count,
               float *g, double *loss, void *err, long reps)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < reps; i++)
        if (f(eng, p, first, count, g, loss, err) != 0)
            return -1.0;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / reps;
}

typedef int (*rows_fn)(void *, const float *, const size_t *, size_t, float *, double *,
                       void *);

/* The same for hg_engine_gradient_rows. */
double loop_rows_ns(rows_fn f, void *eng, const float *p, const size_t *idx, size_t count,
                    float *g, double *loss, void *err, long reps)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < reps; i++)
        if (f(eng, p, idx, count, g, loss, err) != 0)
            return -1.0;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / reps;
}

/* hg_engine_gradient_rows's signature, no work. */
int stub_rows(void *eng, const float *p, const size_t *idx, size_t count, float *g,
              double *loss, void *err)
{
    (void)eng; (void)p; (void)idx; (void)count; (void)g; (void)err;
    *loss = 0.0;
    return 0;
}

/* hg_engine_gradient's signature, no work. */
int stub(void *eng, const float *p, size_t first, size_t count, float *g, double *loss,
         void *err)
{
    (void)eng; (void)p; (void)first; (void)count; (void)g; (void)err;
    *loss = 0.0;
    return 0;
}
"""


def build_helpers(tmp):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("python_overhead: needs a C compiler (cc)")
    src = os.path.join(tmp, "loop.c")
    so = os.path.join(tmp, "loop.so")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", so, src], check=True)
    h = ctypes.CDLL(so)
    h.loop_ns.restype = ctypes.c_double
    h.loop_ns.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_size_t] * 2 + \
        [ctypes.c_void_p] * 3 + [ctypes.c_long]
    h.loop_rows_ns.restype = ctypes.c_double
    h.loop_rows_ns.argtypes = h.loop_ns.argtypes
    h.stub.restype = ctypes.c_int
    h.stub.argtypes = hetgrad._lib.lib.hg_engine_gradient.argtypes
    h.stub_rows.restype = ctypes.c_int
    h.stub_rows.argtypes = hetgrad._lib.lib.hg_engine_gradient_rows.argtypes
    return h


class _StubLib:
    """The library with hg_engine_gradient(_rows) replaced by the stubs."""

    def __init__(self, real, stub, stub_rows):
        self._real = real
        self.hg_engine_gradient = stub
        self.hg_engine_gradient_rows = stub_rows

    def __getattr__(self, name):
        return getattr(self._real, name)


def per_call_us(fn, reps):
    t = time.perf_counter_ns()
    for _ in range(reps):
        fn()
    return (time.perf_counter_ns() - t) / reps / 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=300, help="interleaved rounds (300)")
    ap.add_argument("--reps", type=int, default=20, help="calls per round and path (20)")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    rows = 128
    X = rng.normal(size=(4096, 64)).astype(np.float32)
    y = rng.integers(0, 10, 4096)
    with tempfile.TemporaryDirectory() as tmp, hetgrad.Engine("softmax", 64, 10) as eng:
        helpers = build_helpers(tmp)
        eng.set_data(X, y)
        p = (0.1 * rng.normal(size=eng.param_count)).astype(np.float32)
        g = np.empty(eng.param_count, dtype=np.float32)
        idx = np.arange(rows)
        loss = ctypes.c_double()
        err = hetgrad._abi.HgError()
        real = hetgrad._lib.lib
        idx_c = np.ascontiguousarray(idx, dtype=np.uintp)
        fns = {"real": (real.hg_engine_gradient, real.hg_engine_gradient_rows),
               "stub": (helpers.stub, helpers.stub_rows)}
        args_c = (eng._h, p.ctypes.data, 0, rows, g.ctypes.data, ctypes.addressof(loss),
                  ctypes.addressof(err))
        args_rows = (eng._h, p.ctypes.data, idx_c.ctypes.data, rows, g.ctypes.data,
                     ctypes.addressof(loss), ctypes.addressof(err))

        def address(f):
            return ctypes.cast(f, ctypes.c_void_p).value

        def c_loop(loop, f, args, reps):
            ns = loop(address(f), *args, reps)
            if ns < 0:
                raise SystemExit("python_overhead: hg_engine_gradient failed: %s"
                                 % err.message.decode())
            return ns / 1e3

        results = {}

        def record(target, call, name, us):
            results.setdefault((target, call), {}).setdefault(name, []).append(us)

        for _ in range(20):  # warm-up
            eng.gradient(p, slice(0, rows))
        reps = args.reps
        paths = [
            ("range", "C loop", lambda f, fr: c_loop(helpers.loop_ns, f, args_c, reps)),
            ("range", "raw ctypes", lambda f, fr: per_call_us(lambda: f(*args_c), reps)),
            ("range", "Engine.gradient(p, slice(0, 128))",
             lambda f, fr: per_call_us(lambda: eng.gradient(p, slice(0, rows)), reps)),
            ("range", "  ... out=g",
             lambda f, fr: per_call_us(lambda: eng.gradient(p, slice(0, rows), out=g),
                                       reps)),
            ("rows", "C loop",
             lambda f, fr: c_loop(helpers.loop_rows_ns, fr, args_rows, reps)),
            ("rows", "raw ctypes",
             lambda f, fr: per_call_us(lambda: fr(*args_rows), reps)),
            ("rows", "Engine.gradient(p, int64 index array)",
             lambda f, fr: per_call_us(lambda: eng.gradient(p, idx), reps)),
            ("rows", "  ... uintp index array",
             lambda f, fr: per_call_us(lambda: eng.gradient(p, idx_c), reps)),
        ]
        order = np.random.default_rng(1)
        for r in range(args.rounds):
            for target in ("real", "stub"):
                f, f_rows = fns[target]
                if target == "stub":
                    hg_engine.lib = _StubLib(real, helpers.stub, helpers.stub_rows)
                try:
                    # a new order every round, so that no path always follows another
                    for k in order.permutation(len(paths)):
                        call, name, run = paths[k]
                        record(target, call, name, run(f, f_rows))
                finally:
                    hg_engine.lib = real

        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print("hetgrad %s, Engine.gradient on %d rows (softmax 64 -> 10), devices: %s"
              % (hetgrad.__version__, rows, ", ".join(d["name"] for d in eng.devices)))
        print("%d rounds x %d calls per path, in a new random order every round; medians of "
              "the rounds' means and of their differences to the same round's C loop"
              % (args.rounds, args.reps))
        print("load: %s" % load)
        for target, what in (("real", "the real step"),
                             ("stub", "a stub in place of the step: the overhead alone")):
            for call, cname in (("range", "hg_engine_gradient (a range of rows)"),
                                ("rows", "hg_engine_gradient_rows (an index list)")):
                print("\n%s, %s:" % (what, cname))
                figures = results[(target, call)]
                base = figures["C loop"]
                for pc, name, _ in paths:
                    if pc != call:
                        continue
                    v = figures[name]
                    # each round's difference to the C loop of the same round: the
                    # load is alike within a round, so the pairs cancel most of it
                    diff = [a - b for a, b in zip(v, base)]
                    q1, med, q3 = statistics.quantiles(diff, n=4) if len(diff) > 1 \
                        else (diff[0],) * 3
                    ratio = statistics.median(v) / statistics.median(base)
                    print("  %-38s %9.2f us/call  %+8.2f us over the C call "
                          "(quartiles %+.2f, %+.2f)%s"
                          % (name, statistics.median(v), med, q1, q3,
                             "  x%.3f" % ratio if target == "real" else ""))


if __name__ == "__main__":
    main()
