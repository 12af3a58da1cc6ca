# SPDX-License-Identifier: MIT
"""hetgrad.objective: (loss, grad) for scipy.optimize.minimize(jac=True)."""
import numpy as np
import pytest
from scipy.optimize import minimize

import hetgrad
import reference as R


def penalised_reference(model, l2, fixed=None):
    mask = model.weight_mask()

    def fun(x, X, y):
        loss, g = R.loss_grad(model.kind, model.inputs, model.outputs, model.hidden, x, X, y)
        loss += 0.5 * l2 * float(x[mask] @ x[mask])
        g[mask] += l2 * x[mask]
        if fixed is not None:
            g[fixed] = 0.0
        return loss, g
    return fun


def test_objective_values_and_gradient(rng):
    X = rng.normal(size=(400, 12)).astype(np.float32)
    y = rng.integers(0, 3, 400)
    with hetgrad.Engine("softmax", 12, 3) as eng:
        eng.set_data(X, y)
        model = eng.model
        x = rng.normal(size=model.param_count) * 0.2
        fixed = model.bias_mask()
        fun = hetgrad.objective(eng, l2=0.05, fixed=fixed)
        loss, g = fun(x)
        ref_loss, ref_g = penalised_reference(model, 0.05, fixed)(
            x.astype(np.float32), X, y)
        assert isinstance(loss, float) and g.dtype == np.float64
        assert abs(loss - ref_loss) <= 1e-5 * abs(ref_loss)
        assert np.max(np.abs(g - ref_g)) <= 1e-5
        assert np.all(g[fixed] == 0)
        assert fun.calls == 1
        sub = hetgrad.objective(eng, rows=slice(0, 100))
        ref_loss, _ = R.loss_grad("softmax", 12, 3, (), x.astype(np.float32), X[:100],
                                  y[:100])
        assert abs(sub(x)[0] - ref_loss) <= 1e-5 * abs(ref_loss)
        with pytest.raises(hetgrad.ArgumentError, match="l2"):
            hetgrad.objective(eng, l2=-1)
        with pytest.raises(hetgrad.ArgumentError, match="parameters"):
            fun(x[:-1])


def test_full_batch_lbfgs_matches_float64(rng):
    # Full-batch L-BFGS on the engine reaches the optimum that L-BFGS finds on the
    # float64 reference of the same objective.
    X = rng.normal(size=(600, 10)).astype(np.float32)
    W = rng.normal(size=(10, 4))
    y = np.argmax(X @ W + 0.5 * rng.normal(size=(600, 4)), axis=1)
    l2 = 1e-2
    with hetgrad.Engine("softmax", 10, 4) as eng:
        eng.set_data(X, y)
        x0 = np.zeros(eng.param_count)
        res = minimize(hetgrad.objective(eng, l2=l2), x0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 500, "gtol": 1e-6})
        ref = minimize(penalised_reference(eng.model, l2), x0, args=(X, y), jac=True,
                       method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-8})
    assert ref.success
    assert abs(res.fun - ref.fun) <= 1e-5 * abs(ref.fun)
    assert np.max(np.abs(res.x - ref.x)) <= 2e-3
