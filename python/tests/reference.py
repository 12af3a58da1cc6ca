# SPDX-License-Identifier: MIT
"""The numpy float64 oracle of the Python tests: loss and gradient of hetgrad's built-in
models, written from include/hetgrad/model.h alone (nothing from the package), so that
the engine, the package's parameter layout and the library's own reference are all
checked against something independent."""
import numpy as np


def layers(inputs, outputs, hidden):
    """[(W offset, b offset, n_in, n_out)] in model.h's layout."""
    widths = [inputs] + list(hidden) + [outputs]
    out, off = [], 0
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        out.append((off, off + n_in * n_out, n_in, n_out))
        off += n_in * n_out + n_out
    return out, off


def loss_grad(kind, inputs, outputs, hidden, params, X, y):
    """Mean loss and mean gradient (float64) of the model over all rows of (X, y)."""
    p = np.asarray(params, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    L, n_params = layers(inputs, outputs, hidden)
    assert p.shape == (n_params,)
    n = X.shape[0]
    acts = [X]
    a = X
    for i, (w, b, n_in, n_out) in enumerate(L):
        z = a @ p[w:b].reshape(n_in, n_out) + p[b:b + n_out]
        if i < len(L) - 1:
            z = np.maximum(z, 0.0)
        acts.append(z)
        a = z
    z = acts[-1]
    if kind == "linear":
        t = np.asarray(y, dtype=np.float64).reshape(n, outputs)
        d = z - t
        loss = 0.5 * np.sum(d * d) / n
    else:
        lab = np.asarray(y, dtype=np.int64)
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        loss = np.mean(lse - z[np.arange(n), lab])
        d = np.exp(z - lse[:, None])
        d[np.arange(n), lab] -= 1.0
    d = d / n
    g = np.zeros(n_params)
    for i in range(len(L) - 1, -1, -1):
        w, b, n_in, n_out = L[i]
        a_prev = acts[i]
        g[w:b] = (a_prev.T @ d).ravel()
        g[b:b + n_out] = d.sum(axis=0)
        if i > 0:
            d = (d @ p[w:b].reshape(n_in, n_out).T) * (acts[i] > 0)
    return float(loss), g
