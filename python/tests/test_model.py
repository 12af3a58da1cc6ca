# SPDX-License-Identifier: MIT
"""hetgrad.Model: the parameter layout the estimators rely on, checked against the
library's own loss (Engine.gradient), and the forward pass."""
import pickle

import numpy as np
import pytest

import hetgrad
import reference as R
from test_engine import MODELS, make_data


@pytest.mark.parametrize("kind,inputs,outputs,hidden", MODELS)
def test_forward_gives_the_library_loss(rng, kind, inputs, outputs, hidden):
    # The loss computed from Model.forward's outputs with model.h's formulas equals the
    # loss the library computes on the devices: the layout (which parameter is which
    # weight) is the library's.
    X, y = make_data(rng, kind, inputs, outputs, rows=200)
    model = hetgrad.Model(kind, inputs, outputs, hidden)
    p = (0.5 * rng.normal(size=model.param_count)).astype(np.float32)
    z = model.forward(p, X)
    assert z.shape == (200, outputs) and z.dtype == np.float64
    if kind == "linear":
        loss = 0.5 * np.mean(np.sum((z - y) ** 2, axis=1))
    else:
        m = z.max(axis=1)
        lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
        loss = np.mean(lse - z[np.arange(200), y])
    with hetgrad.Engine(model) as eng:
        eng.set_data(X, y)
        lib_loss, _ = eng.gradient(p)
    assert abs(lib_loss - loss) <= 1e-5 * max(1.0, abs(loss))


def test_layout_by_hand():
    # W (in x out, row-major) then b, layer after layer: set one weight and see it move
    # exactly one output.
    model = hetgrad.Model("mlp", 3, 2, (4,))
    assert model.param_count == 3 * 4 + 4 + 4 * 2 + 2
    assert [(L.w_off, L.b_off) for L in model.layers] == [(0, 12), (16, 24)]
    p = np.zeros(model.param_count, dtype=np.float32)
    (W1, b1), (W2, b2) = model.unpack(p)
    assert W1.shape == (3, 4) and b1.shape == (4,) and W2.shape == (4, 2)
    W1[1, 2] = 1.0     # input 1 -> hidden 2
    W2[2, 1] = 3.0     # hidden 2 -> output 1
    b2[0] = -1.0
    z = model.forward(p, np.array([[0.0, 2.0, 0.0]]))
    np.testing.assert_array_equal(z, [[-1.0, 6.0]])
    assert p[1 * 4 + 2] == 1.0 and p[16 + 2 * 2 + 1] == 3.0 and p[24] == -1.0
    mask = model.weight_mask()
    assert mask.sum() == 12 + 8 and not mask[12:16].any() and not mask[24:].any()
    assert (model.bias_mask() == ~mask).all()


def test_relu_is_applied_on_hidden_layers_only(rng):
    model = hetgrad.Model("mlp", 4, 3, (5, 6))
    p = rng.normal(size=model.param_count).astype(np.float32)
    X = rng.normal(size=(10, 4))
    _, (W2, b2), (W3, b3) = model.unpack(p)
    h1 = np.maximum(X @ model.unpack(p)[0][0] + model.unpack(p)[0][1], 0)
    h2 = np.maximum(h1 @ W2 + b2, 0)
    np.testing.assert_allclose(model.forward(p, X), h2 @ W3 + b3, rtol=1e-6)
    # the reference's loss agrees with forward too
    y = rng.integers(0, 3, 10)
    z = model.forward(p, X)
    lse = np.log(np.exp(z).sum(axis=1))
    assert abs(np.mean(lse - z[np.arange(10), y]) -
               R.loss_grad("mlp", 4, 3, (5, 6), p, X, y)[0]) < 1e-9


def test_init_params_and_pickle():
    model = hetgrad.Model("mlp", 10, 3, (8,))
    a, b = model.init_params(7), model.init_params(7)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, model.init_params(8))
    assert np.all(model.bias_mask() <= (a == 0))  # biases start at 0
    bound = np.sqrt(6.0 / (10 + 8))
    assert np.abs(a[:80]).max() <= bound
    m2 = pickle.loads(pickle.dumps(model))
    assert m2 == model and hash(m2) == hash(model) and m2.param_count == model.param_count
    assert model != hetgrad.Model("mlp", 10, 3, (9,))


def test_forward_checks_shapes():
    model = hetgrad.Model("softmax", 3, 2)
    with pytest.raises(hetgrad.ArgumentError, match="8 parameters"):
        model.forward(np.zeros(7), np.zeros((1, 3)))
    with pytest.raises(hetgrad.ArgumentError, match=r"\(rows, 3\)"):
        model.forward(np.zeros(8), np.zeros((1, 4)))
