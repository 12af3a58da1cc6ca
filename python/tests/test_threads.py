# SPDX-License-Identifier: MIT
"""Threads: the GIL is released while the devices compute, two engines run in two
threads at once, and one engine shared by threads is serialised, not corrupted."""
import ctypes
import sys
import threading
import time

import numpy as np

import hetgrad


def long_running_engine(rng, min_ms=20.0):
    """An engine and parameters whose full-batch gradient takes at least min_ms here."""
    eng = hetgrad.Engine("mlp", 64, 10, hidden=(128,))
    p = (0.1 * rng.normal(size=eng.param_count)).astype(np.float32)
    rows = 8192
    while True:
        X = rng.normal(size=(rows, 64)).astype(np.float32)
        eng.set_data(X, rng.integers(0, 10, rows))
        t = time.perf_counter()
        eng.gradient(p)
        if (time.perf_counter() - t) * 1e3 >= min_ms or rows >= 262144:
            return eng, p
        rows *= 2


class Stamper:
    """A Python thread that records the time whenever it holds the GIL, until stopped.
    It sleeps between stamps (releasing the GIL itself), so it never makes the main
    thread wait for the GIL."""

    def __init__(self):
        self.stamps = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.stamps.append(time.perf_counter())
            time.sleep(0.0002)

    def __enter__(self):
        self._thread.start()
        while not self.stamps:
            time.sleep(0.001)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def inside(self, t0, t1):
        return sum(1 for t in list(self.stamps) if t0 < t < t1)


def test_the_gil_is_released_during_device_work(rng):
    eng, p = long_running_engine(rng)
    # PyDLL calls the same library function without releasing the GIL: the control
    # that proves the measurement can tell the difference.
    holding = ctypes.PyDLL(hetgrad.library_path()).hg_engine_gradient
    holding.restype = ctypes.c_int
    holding.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_size_t] * 2 + [ctypes.c_void_p] * 3
    grad = np.empty(eng.param_count, dtype=np.float32)
    loss = ctypes.c_double()
    old = sys.getswitchinterval()
    # A long switch interval: a thread holding the GIL in C keeps it for the whole call.
    sys.setswitchinterval(10.0)
    try:
        with eng, Stamper() as s:
            t0 = time.perf_counter()
            st = holding(eng._h, p.ctypes.data, 0, eng.rows, grad.ctypes.data,
                         ctypes.addressof(loss), None)
            t1 = time.perf_counter()
            assert st == 0
            assert s.inside(t0, t1) == 0, "the other thread ran while PyDLL held the GIL"
            seen = 0
            for _ in range(5):  # a loaded machine may not schedule the stamper at once
                t0 = time.perf_counter()
                eng.gradient(p)
                t1 = time.perf_counter()
                seen = s.inside(t0, t1)
                if seen:
                    break
            assert seen > 0, "no Python thread ran during Engine.gradient: GIL held"
    finally:
        sys.setswitchinterval(old)


def test_two_engines_in_two_threads(rng):
    # Each thread trains its own engine on its own data; both are inside the library
    # at the same time, and each gets the gradients it gets alone.
    jobs = []
    for k in range(2):
        X = rng.normal(size=(20000, 32)).astype(np.float32)
        y = rng.integers(0, 4, 20000)
        params = [(0.2 * rng.normal(size=32 * 4 + 4)).astype(np.float32) for _ in range(8)]
        jobs.append((X, y, params))
    alone = []
    for X, y, params in jobs:
        with hetgrad.Engine("softmax", 32, 4) as e:
            e.set_data(X, y)
            alone.append([e.gradient(p)[1] for p in params])

    engines = [hetgrad.Engine("softmax", 32, 4) for _ in jobs]
    for e, (X, y, _) in zip(engines, jobs):
        e.set_data(X, y)
    barrier = threading.Barrier(2)
    results = [None, None]
    spans = [[], []]
    errors = []

    def work(k):
        try:
            barrier.wait()
            out = []
            for p in jobs[k][2]:
                t0 = time.perf_counter()
                out.append(engines[k].gradient(p)[1])
                spans[k].append((t0, time.perf_counter()))
            results[k] = out
        except Exception as ex:  # reported below, with the thread's traceback lost
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.close()
    assert not errors, errors
    for k in range(2):
        for got, want in zip(results[k], alone[k]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    overlap = any(a0 < b1 and b0 < a1 for a0, a1 in spans[0] for b0, b1 in spans[1])
    assert overlap, "the two engines never computed at the same time"


def test_one_engine_shared_by_threads_is_serialised(rng):
    X = rng.normal(size=(3000, 16)).astype(np.float32)
    y = rng.integers(0, 3, 3000)
    with hetgrad.Engine("softmax", 16, 3) as eng:
        eng.set_data(X, y)
        params = [(0.2 * rng.normal(size=eng.param_count)).astype(np.float32)
                  for _ in range(4)]
        want = [eng.gradient(p)[1] for p in params]
        errors = []

        def work(k):
            try:
                for _ in range(10):
                    got = eng.gradient(params[k], slice(None))[1]
                    np.testing.assert_allclose(got, want[k], rtol=1e-5, atol=1e-7)
            except Exception as ex:
                errors.append(ex)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors


def test_close_while_another_thread_computes(rng):
    # close() waits for a step in flight (the engine's lock), then later calls fail
    # cleanly instead of touching freed memory.
    eng, p = long_running_engine(rng, min_ms=5.0)
    started = threading.Event()
    outcome = []

    def work():
        started.set()
        try:
            for _ in range(50):
                eng.gradient(p)
            outcome.append("finished")
        except hetgrad.ArgumentError as e:
            outcome.append(str(e))

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    eng.close()
    t.join()
    assert outcome == ["finished"] or "closed" in outcome[0]
