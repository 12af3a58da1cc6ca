# SPDX-License-Identifier: MIT
"""hetgrad.Engine: gradients of a built-in model over a resident data set, computed on
every kept OpenCL device at once (include/hetgrad/engine.h, docs/engine.md)."""
import ctypes
import os
import threading

import numpy as np

from . import _abi
from ._lib import error, lib, raise_for, raise_plain, text
from .devices import _log_level, _selection_bytes, device_dict
from .errors import ArgumentError
from .model import Model, _count

_SPLITS = {"weights": _abi.HG_SPLIT_WEIGHTS, "model": _abi.HG_SPLIT_MODEL,
           "dynamic": _abi.HG_SPLIT_DYNAMIC}


def _bad(message):
    return ArgumentError("HG_INVALID_ARGUMENT", message)


def _real_array(a, what):
    """a as an ndarray of a real number type (bool, integers, floats): anything else
    (complex, strings, objects) is an ArgumentError rather than a silent conversion."""
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise _bad("%s: cannot be read as an array (%s)" % (what, e)) from None
    if arr.dtype.kind not in "biuf":
        raise _bad("%s has dtype %s; expected real numbers" % (what, arr.dtype))
    return arr


def _as_float32(a, what):
    """a as a C-contiguous float32 array: a itself when it is one (no copy)."""
    arr = _real_array(a, what)
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr
    return np.ascontiguousarray(arr, dtype=np.float32)


class Engine:
    """Gradients of one model on every kept OpenCL device at once.

    Engine(model, inputs, outputs, hidden=(), devices=None, deterministic=False)

    model: ``"linear"``, ``"softmax"`` or ``"mlp"`` with inputs (features per row),
        outputs (targets, or classes) and an MLP's hidden widths; or a hetgrad.Model
        (then inputs and outputs are left out).
    devices: which devices, in the syntax of ``HETGRAD_DEVICES`` ("gpu,cpu",
        "-oclgrind", "name:pthread", or a list of such terms); None: every kept device.
        ``HETGRAD_DEVICES`` applies too unless use_environment is False.
    deterministic: the same gradient bits whatever the devices and the split
        (docs/kernels.md); block_rows sets the block size there (0: the default).
    keep_duplicates: use several views of the same hardware (POCL's pthread and basic
        devices both, for instance).
    cache_dir: the program and profile cache (None: $HETGRAD_CACHE_DIR, else the user's
        cache directory).
    batch_rows: the rows of the steps you will compute (your minibatch; 0: unknown):
        calibration then chooses each device's kernels at that size.
    work_rows: the rows you will compute in all (steps x rows a step; 0: unknown): a
        job predicted to take less than the least a race of the kernel candidates
        costs keeps each device's default kernels, checked, unraced.
    log_level: which of the library's messages go to stderr ("hetgrad: info: ..."):
        "error", "warn", "info" (what calibration chose, and why) or "debug"; None:
        ``HETGRAD_LOG`` as the tools read it (when use_environment), else "warn".

    Every call runs with the GIL released while the devices work (ctypes releases it),
    so other Python threads go on.  An engine is used by one thread at a time: calls
    from several threads are serialised by a lock.  Close it with close() or a with
    block; an engine that is garbage collected is closed then.

    Raises hetgrad.Error when the library fails (``HG_NO_DEVICE`` when no device is
    kept, ``HG_BAD_SELECTION`` for a selection naming no device, ...), and
    hetgrad.ArgumentError (also a ValueError) for bad arguments.
    """

    def __init__(self, model, inputs=None, outputs=None, hidden=(), devices=None,
                 deterministic=False, keep_duplicates=False, use_environment=True,
                 cache_dir=None, block_rows=0, batch_rows=0, work_rows=0,
                 log_level=None):
        self._h = None  # so that close() works whatever fails below
        self._lock = threading.Lock()
        if isinstance(model, Model):
            if inputs is not None or outputs is not None or tuple(hidden):
                raise _bad("Engine(Model(...)) takes no inputs, outputs or hidden")
            self.model = model
        else:
            if inputs is None or outputs is None:
                raise _bad("Engine(%r, inputs, outputs): inputs and outputs are required"
                           % (model,))
            self.model = Model(model, inputs, outputs, hidden)
        self.param_count = self.model.param_count
        self.rows = 0  # rows of the data set; 0 before set_data

        opt = _abi.HgEngineOptions()
        lib.hg_engine_options_init_sized(ctypes.byref(opt), ctypes.sizeof(opt))
        dev = _abi.HgOptions()  # held by pointer: read during hg_engine_create only
        lib.hg_options_init_sized(ctypes.byref(dev), ctypes.sizeof(dev))
        opt.devices = ctypes.pointer(dev)
        sel = _selection_bytes(devices)
        cache = None if cache_dir is None else os.fsencode(cache_dir)
        if cache is not None and b"\0" in cache:
            raise _bad("cache_dir holds a NUL character")
        dev.devices = sel
        dev.devices_source = b"Engine(devices)"
        dev.keep_duplicates = bool(keep_duplicates)
        dev.use_environment = bool(use_environment)
        dev.log_level = _log_level(log_level, dev.use_environment)
        opt.deterministic = bool(deterministic)
        opt.block_rows = _count(block_rows, "block_rows")
        opt.batch_rows = _count(batch_rows, "batch_rows")
        opt.work_rows = _count(work_rows, "work_rows")
        opt.cache_dir = cache
        handle = ctypes.c_void_p()
        err = _abi.HgError()
        raise_for(lib.hg_engine_create(ctypes.byref(opt), self.model._desc,
                                       ctypes.byref(handle), ctypes.byref(err)), err)
        self._h = handle.value
        self._steps = 0
        # Reused by every step: the loss and the error, and their addresses.
        self._loss = ctypes.c_double()
        self._err = _abi.HgError()
        self._loss_p = ctypes.addressof(self._loss)
        self._err_p = ctypes.addressof(self._err)
        self._devices = self._read_devices()

    # ---- life cycle ------------------------------------------------------------------
    def close(self):
        """Release the devices and everything the engine holds.  Idempotent."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            h, self._h = self._h, None
            if h is not None:
                lib.hg_engine_destroy(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __reduce__(self):
        raise TypeError("a hetgrad.Engine holds OpenCL devices and cannot be pickled; "
                        "pickle its parameters instead")

    def __repr__(self):
        state = "closed" if self._h is None else "%d device(s)" % len(self.devices)
        return "<hetgrad.Engine %r, %s>" % (self.model, state)

    @property
    def closed(self):
        return self._h is None

    def _read_devices(self):
        """The devices the engine computes on now, read from the library (the caller holds
        the lock or is the constructor)."""
        n = lib.hg_engine_device_count(self._h)
        return [device_dict(lib.hg_engine_device(self._h, i)) for i in range(n)]

    @property
    def devices(self):
        """The devices the engine computes on, one dict per device as hetgrad.devices()
        gives them, in the engine's order (weights, last_step() and profiles() follow it).
        Read from the engine on every access: calibrate() may replace a device by a view
        of the same hardware that the device list had set aside and that measured faster
        (its "duplicates" profile entry says so).  After close(), the devices it had."""
        with self._lock:
            if self._h is not None:
                self._devices = self._read_devices()
            return list(self._devices)

    def _handle(self):
        if self._h is None:
            raise _bad("the engine is closed")
        return self._h

    # ---- data ------------------------------------------------------------------------
    def set_data(self, X, y):
        """Upload a data set to the devices (replacing the previous one).

        X: (rows, inputs) features.  A C-contiguous float32 array is passed to the
            library as it is; anything else is converted to one first.
        y: softmax and mlp: (rows,) integer class labels in [0, outputs); linear:
            (rows, outputs) float targets, or (rows,) when outputs is 1.

        The library copies what it needs: X and y may change afterwards.  NaN or
        infinite values and labels out of range raise hetgrad.ArgumentError naming the
        row; the previous data set then stays in place.
        """
        m = self.model
        X = _as_float32(X, "X")
        if X.ndim != 2 or X.shape[1] != m.inputs:
            raise _bad("X has shape %s; this model needs (rows, %d)" % (X.shape, m.inputs))
        rows = X.shape[0]
        if m.classifier:
            y = self._labels(y, rows)
        else:
            y = _as_float32(y, "y")
            if y.ndim == 1 and m.outputs == 1:
                y = y.reshape(rows if y.shape[0] == rows else -1, 1)
            if y.shape != (rows, m.outputs):
                raise _bad("y has shape %s; this model needs (%d, %d) targets"
                           % (y.shape, rows, m.outputs))
        desc = _abi.HgDatasetDesc()
        desc.rows = rows
        desc.inputs = m.inputs
        desc.x = X.ctypes.data
        if m.classifier:
            desc.labels = y.ctypes.data
        else:
            desc.targets = y.ctypes.data
        err = _abi.HgError()
        with self._lock:
            raise_for(lib.hg_engine_set_data(self._handle(), ctypes.byref(desc),
                                             ctypes.byref(err)), err)
            self.rows = rows

    @staticmethod
    def _labels(y, rows):
        y = _real_array(y, "y")
        if y.shape != (rows,):
            raise _bad("y has shape %s; a classifier needs (%d,) class labels"
                       % (y.shape, rows))
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise _bad("y holds NaN or infinite labels")
            if np.any(y != np.round(y)):
                raise _bad("y holds labels that are not whole numbers; class labels "
                           "are integers in [0, outputs)")
        if y.size and (y.min() < np.iinfo(np.int32).min or y.max() > np.iinfo(np.int32).max):
            raise _bad("y holds labels outside the int32 range; class labels are "
                       "integers in [0, outputs)")
        if y.dtype == np.int32 and y.flags.c_contiguous:
            return y
        return np.ascontiguousarray(y, dtype=np.int32)

    # ---- steps -----------------------------------------------------------------------
    def gradient(self, params, rows=None, out=None):
        """The mean loss and mean gradient over some rows of the data set.

        params: the model's parameter vector (``param_count`` values, layout in
            hetgrad.Model); a C-contiguous float32 array is used as it is.
        rows: None (every row), a slice, or a 1-D array of row indices (repeats allowed,
            negative indices count from the end) or a boolean mask over the rows.
        out: optional float32 array of param_count values that receives the gradient
            (no allocation).

        Returns (loss, grad): a numpy float64 scalar and a float32 array.
        """
        p = params
        if not (type(p) is np.ndarray and p.dtype == np.float32 and p.flags.c_contiguous):
            p = _as_float32(p, "params")
        if p.shape != (self.param_count,):
            raise _bad("params has shape %s; this model has %d parameters"
                       % (p.shape, self.param_count))
        if out is None:
            g = np.empty(self.param_count, dtype=np.float32)
        else:
            g = out
            if not (type(g) is np.ndarray and g.dtype == np.float32 and g.flags.c_contiguous
                    and g.shape == (self.param_count,) and g.flags.writeable):
                raise _bad("out must be a writeable C-contiguous float32 array of %d values"
                           % self.param_count)
        pa = p.ctypes.data
        ga = g.ctypes.data
        with self._lock:
            h = self._handle()
            if rows is None:
                st = lib.hg_engine_gradient(h, pa, 0, self.rows, ga, self._loss_p, self._err_p)
            else:
                first, count, idx = self._rows(rows)
                if idx is None:
                    st = lib.hg_engine_gradient(h, pa, first, count, ga, self._loss_p,
                                                self._err_p)
                else:
                    st = lib.hg_engine_gradient_rows(h, pa, idx.ctypes.data, count, ga,
                                                     self._loss_p, self._err_p)
            if st:
                raise_for(st, self._err)
            self._steps += 1
            return np.float64(self._loss.value), g

    # ---- the forward pass -------------------------------------------------------------
    def _params(self, params):
        p = params
        if not (type(p) is np.ndarray and p.dtype == np.float32 and p.flags.c_contiguous):
            p = _as_float32(p, "params")
        if p.shape != (self.param_count,):
            raise _bad("params has shape %s; this model has %d parameters"
                       % (p.shape, self.param_count))
        return p

    def _rows_desc(self, X):
        X = _as_float32(X, "X")
        if X.ndim != 2 or X.shape[1] != self.model.inputs:
            raise _bad("X has shape %s; this model needs (rows, %d)"
                       % (X.shape, self.model.inputs))
        desc = _abi.HgDatasetDesc()
        desc.rows = X.shape[0]
        desc.inputs = self.model.inputs
        desc.x = X.ctypes.data
        return X, desc

    def predict(self, params, X):
        """The model's outputs for the rows of X on the devices (hg_engine_predict; the
        resident data set is not involved).

        Returns (classes, outputs): for softmax and mlp, the most probable class of each
        row (int32, (rows,)) and the class probabilities (float32, (rows, outputs)); for
        linear, None and the predicted values (float32, (rows, outputs)).
        """
        p = self._params(params)
        X, desc = self._rows_desc(X)
        m = self.model
        out = np.empty((X.shape[0], m.outputs), dtype=np.float32)
        cls = np.empty(X.shape[0], dtype=np.int32) if m.classifier else None
        err = _abi.HgError()
        with self._lock:
            st = lib.hg_engine_predict(self._handle(), p.ctypes.data, ctypes.byref(desc),
                                       cls.ctypes.data if cls is not None else None,
                                       out.ctypes.data, ctypes.byref(err))
            raise_for(st, err)
        return cls, out

    def evaluate(self, params, X, y):
        """The mean loss and the accuracy of the model on (X, y), on the devices
        (hg_engine_evaluate).  y as in set_data.  Returns (loss, accuracy) as floats;
        the accuracy is NaN for linear regression."""
        p = self._params(params)
        X, desc = self._rows_desc(X)
        m = self.model
        rows = X.shape[0]
        if m.classifier:
            y = self._labels(y, rows)
            desc.labels = y.ctypes.data
        else:
            y = _as_float32(y, "y")
            if y.ndim == 1 and m.outputs == 1:
                y = y.reshape(rows if y.shape[0] == rows else -1, 1)
            if y.shape != (rows, m.outputs):
                raise _bad("y has shape %s; this model needs (%d, %d) targets"
                           % (y.shape, rows, m.outputs))
            desc.targets = y.ctypes.data
        loss, acc = ctypes.c_double(), ctypes.c_double()
        err = _abi.HgError()
        with self._lock:
            st = lib.hg_engine_evaluate(self._handle(), p.ctypes.data, ctypes.byref(desc),
                                        ctypes.byref(loss), ctypes.byref(acc),
                                        ctypes.byref(err))
            raise_for(st, err)
        return float(loss.value), float(acc.value)

    def _rows(self, rows):
        """(first, count, None) for a range of rows, (0, count, uintp indices) for a
        list of them."""
        n = self.rows
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step == 1:
                return start, max(stop - start, 0), None
            idx = np.arange(start, stop, step, dtype=np.intp)
        else:
            idx = np.asarray(rows)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise _bad("a boolean row mask needs %d values, not shape %s"
                               % (n, idx.shape))
                idx = np.flatnonzero(idx)
            elif idx.dtype.kind not in "iu":
                raise _bad("rows must be None, a slice, or an array of integer indices; "
                           "got dtype %s" % idx.dtype)
            if idx.ndim != 1:
                raise _bad("rows must be a 1-D array of indices, not shape %s"
                           % (idx.shape,))
            if idx.dtype.kind == "i" and idx.size and idx.min() < 0:
                idx = np.where(idx < 0, idx + n, idx)
                if idx.min() < 0:
                    raise ArgumentError("HG_RANGE", "row index %d is out of range for %d "
                                        "rows" % (int(idx.min()) - n, n))
        idx = np.ascontiguousarray(idx, dtype=np.uintp)
        return 0, idx.shape[0], idx

    # ---- devices: calibration, split, statistics -------------------------------------
    def calibrate(self):
        """Measure every device on the current model and data set and plan the steps on
        the fitted cost models (hg_engine_calibrate; cached).  Needs set_data first;
        calibrate again after changing the data."""
        err = _abi.HgError()
        with self._lock:
            raise_for(lib.hg_engine_calibrate(self._handle(), ctypes.byref(err)), err)

    def set_weights(self, weights):
        """Relative work weights, one per device (>= 0, finite, not all 0)."""
        w = np.ascontiguousarray(_real_array(weights, "weights"), dtype=np.float64)
        if w.shape != (len(self.devices),):
            raise _bad("weights has shape %s; the engine has %d device(s)"
                       % (w.shape, len(self.devices)))
        err = _abi.HgError()
        with self._lock:
            raise_for(lib.hg_engine_set_weights(self._handle(), w.ctypes.data, w.shape[0],
                                                ctypes.byref(err)), err)

    def set_split(self, split):
        """How rows are split: "weights", "model" (calibrated cost models) or "dynamic"
        (the models updated after every step).  "model" and "dynamic" need calibrate()."""
        if split not in _SPLITS:
            raise _bad("split must be one of %s, not %r" % (", ".join(_SPLITS), split))
        err = _abi.HgError()
        with self._lock:
            raise_for(lib.hg_engine_set_split(self._handle(), _SPLITS[split],
                                              ctypes.byref(err)), err)

    def last_step(self):
        """What the last gradient step did, as a dict (None before the first step):

            {"ms": wall time of the step on the host, reduction included,
             "recovered_steps": steps so far in which a failed device's rows were
                                recomputed by the others,
             "devices": [{"id", "name", "rows", "pieces", "host_ms", "device_ms",
                          "transfer_ms", "recovered_rows", "failed", "start_ms",
                          "end_ms"}, ...]}
        """
        with self._lock:
            h = self._handle()
            if self._steps == 0:
                return None
            devs = []
            for i, d in enumerate(self._read_devices()):
                s = _abi.HgDeviceStep()
                raise_plain(lib.hg_engine_last_step_sized(h, i, ctypes.byref(s),
                                                          ctypes.sizeof(s)),
                            "hg_engine_last_step(%d)" % i)
                entry = {"id": d["id"], "name": d["name"]}
                entry.update((f, getattr(s, f)) for f, _ in _abi.HgDeviceStep._fields_)
                devs.append(entry)
            return {"ms": lib.hg_engine_last_step_ms(h),
                    "recovered_steps": lib.hg_engine_recovered_steps(h),
                    "devices": devs}

    def profiles(self):
        """Each device's cost model and kernel, as a list of dicts: "id", "name",
        "valid" (calibrated), "fixed_ms", "ms_per_row", "rows_per_s", "samples",
        "rejected", "from_cache", "kernel" (what it computes with), "kernel_note" (why),
        "corun_factor" (its cost per row beside the other devices over its cost alone;
        0: not measured), "dispatch_floor_ms" (one empty kernel's round trip, the
        runtime's own part of fixed_ms; 0: not measured), "excluded" (the reason joint
        calibration gives it no rows, or None), "program_origin" ("source", "cache" or
        "prebuilt"), "fission" (what calibration decided about device fission for it, or
        None), "duplicates" (what calibration decided between it and the views of the
        same hardware that the device list set aside, or None) and "quarantined" (the
        reason, or None)."""
        out = []
        with self._lock:
            h = self._handle()
            for i, d in enumerate(self._read_devices()):
                p = _abi.HgDeviceProfile()
                raise_plain(lib.hg_engine_device_profile_sized(h, i, ctypes.byref(p),
                                                               ctypes.sizeof(p)),
                            "hg_engine_device_profile(%d)" % i)
                reason = ctypes.c_char_p()
                q = lib.hg_engine_quarantined(h, i, ctypes.byref(reason))
                out.append({
                    "id": d["id"], "name": d["name"], "valid": p.valid,
                    "fixed_ms": p.fixed_ms, "ms_per_row": p.ms_per_row,
                    "rows_per_s": p.rows_per_s, "samples": p.samples,
                    "rejected": p.rejected, "from_cache": p.from_cache,
                    "kernel": text(p.kernel), "kernel_note": text(p.kernel_note),
                    "corun_factor": p.corun_factor,
                    "dispatch_floor_ms": p.dispatch_floor_ms,
                    "excluded": text(p.excluded_why) if p.excluded else None,
                    "program_origin": text(lib.hg_engine_program_origin(h, i)) or None,
                    "fission": text(lib.hg_engine_fission_note(h, i)) or None,
                    "duplicates": text(lib.hg_engine_duplicate_note(h, i)) or None,
                    "quarantined": text(reason.value) if q else None,
                })
        return out


def reference_gradient(model, params, X, y, rows=None):
    """The library's double-precision host reference (hg_reference_loss_grad): the mean
    loss and mean gradient, both float64, over rows (None, a slice or an index array) of
    (X, y).  No device; the oracle of the library's own tests.  model: a hetgrad.Model."""
    X = _as_float32(X, "X")
    if X.ndim != 2 or X.shape[1] != model.inputs:
        raise _bad("X has shape %s; this model needs (rows, %d)" % (X.shape, model.inputs))
    n = X.shape[0]
    if model.classifier:
        yv = Engine._labels(y, n)
    else:
        yv = _as_float32(y, "y").reshape(n, -1) if n else _as_float32(y, "y")
        if yv.shape != (n, model.outputs):
            raise _bad("y has shape %s; this model needs (%d, %d) targets"
                       % (np.shape(y), n, model.outputs))
    p = _as_float32(params, "params")
    if p.shape != (model.param_count,):
        raise _bad("params has shape %s; this model has %d parameters"
                   % (p.shape, model.param_count))
    desc = _abi.HgDatasetDesc(rows=n, inputs=model.inputs, x=X.ctypes.data)
    if model.classifier:
        desc.labels = yv.ctypes.data
    else:
        desc.targets = yv.ctypes.data
    idx_p = None
    if rows is None:
        first, count = 0, n
    elif isinstance(rows, slice) and rows.indices(n)[2] == 1:
        start, stop, _ = rows.indices(n)
        first, count = start, max(stop - start, 0)
    else:
        if isinstance(rows, slice):
            idx = np.arange(*rows.indices(n))
        else:
            idx = np.asarray(rows)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise _bad("rows must be None, a slice, or a 1-D array of integer indices")
        idx = np.where(idx < 0, idx + n, idx) if idx.dtype.kind == "i" else idx
        if idx.size and idx.min() < 0:
            raise ArgumentError("HG_RANGE", "a row index is out of range for %d rows" % n)
        idx = np.ascontiguousarray(idx, dtype=np.uintp)
        first, count, idx_p = 0, idx.shape[0], idx.ctypes.data
    if count == 0:
        raise _bad("no rows")
    loss = ctypes.c_double()
    grad = np.zeros(model.param_count, dtype=np.float64)
    err = _abi.HgError()
    raise_for(lib.hg_reference_loss_grad(model._desc, p.ctypes.data, ctypes.byref(desc),
                                         first, count, idx_p, ctypes.byref(loss),
                                         grad.ctypes.data, ctypes.byref(err)), err)
    return loss.value / count, grad / count


__all__ = ["Engine", "reference_gradient"]
