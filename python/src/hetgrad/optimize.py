# SPDX-License-Identifier: MIT
"""hetgrad.objective(): an engine's loss and gradient as the function scipy.optimize
wants (``minimize(fun, x0, jac=True)``), for full-batch L-BFGS and the like on every
device at once.  scipy is not needed by this module; only by the caller that passes the
function to it."""
import numpy as np

from .errors import ArgumentError


class Objective:
    """fun(x) -> (loss, grad) over an engine's data set, for scipy.optimize.minimize with
    jac=True.  x is float64 (what scipy passes); the engine computes in float32 and the
    result comes back as (float, float64 array).

    l2: adds ``l2 / 2 * ||W||^2`` over the weights (not the biases) to the mean loss, in
    float64 on the host.  fixed: a boolean mask of parameters whose gradient is set to
    0 (held at their starting value, e.g. the biases for a model without intercept).
    rows: which rows (as Engine.gradient: None, a slice or an index array).

    Attributes: ``calls`` counts evaluations; ``engine``, ``rows``, ``l2``.

    With a CPU device, run minimize with BLAS on one thread
    (``threadpoolctl.threadpool_limits(1, "blas")``): a multi-threaded OpenBLAS's threads
    spin after each of scipy's BLAS calls, on the device's cores (docs/python.md).
    """

    def __init__(self, engine, rows=None, l2=0.0, fixed=None):
        self.engine = engine
        self.rows = rows
        self.l2 = float(l2)
        if not np.isfinite(self.l2) or self.l2 < 0:
            raise ArgumentError("HG_INVALID_ARGUMENT", "l2 is %r; must be finite and >= 0"
                                % (l2,))
        n = engine.param_count
        self._weights = engine.model.weight_mask()
        self._fixed = None
        if fixed is not None:
            fixed = np.asarray(fixed, dtype=bool)
            if fixed.shape != (n,):
                raise ArgumentError("HG_INVALID_ARGUMENT", "fixed has shape %s; the model "
                                    "has %d parameters" % (fixed.shape, n))
            self._fixed = fixed if fixed.any() else None
        self._p = np.empty(n, dtype=np.float32)
        self._g = np.empty(n, dtype=np.float32)
        self.calls = 0

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self._p.shape:
            raise ArgumentError("HG_INVALID_ARGUMENT", "x has shape %s; the model has %d "
                                "parameters" % (x.shape, self._p.shape[0]))
        self._p[...] = x
        loss, g = self.engine.gradient(self._p, self.rows, out=self._g)
        grad = g.astype(np.float64)
        loss = float(loss)
        if self.l2:
            w = x[self._weights]
            loss += 0.5 * self.l2 * float(w @ w)
            grad[self._weights] += self.l2 * w
        if self._fixed is not None:
            grad[self._fixed] = 0.0
        self.calls += 1
        return loss, grad


def objective(engine, rows=None, l2=0.0, fixed=None):
    """``fun`` for ``scipy.optimize.minimize(fun, x0, jac=True)``: see Objective.

    Example (full-batch L-BFGS on every device)::

        with hetgrad.Engine("softmax", 64, 10) as eng:
            eng.set_data(X, y)
            fun = hetgrad.objective(eng, l2=1e-3)
            res = scipy.optimize.minimize(fun, eng.model.init_params(0), jac=True,
                                          method="L-BFGS-B")
    """
    return Objective(engine, rows=rows, l2=l2, fixed=fixed)
