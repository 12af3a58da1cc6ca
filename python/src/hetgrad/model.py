# SPDX-License-Identifier: MIT
"""hetgrad.Model: a built-in model's shape, its parameter layout, and its forward pass in
numpy.

The layout is the library's (include/hetgrad/model.h, src/model/reference.c): one flat float
vector holding each dense layer in order, its weights W (inputs x outputs, row-major)
followed by its bias b (outputs):

    [ W_1 (in_1*out_1) | b_1 (out_1) | W_2 | b_2 | ... ]

linear and softmax are one layer (inputs -> outputs); an MLP has hidden ReLU layers and
a softmax output.  The forward pass here is what the library differentiates:

    linear:        yhat = x W + b               loss 1/2 * sum_j (yhat_j - y_j)^2
    softmax:       z = x W + b                  loss -log softmax(z)_label
    mlp:           a_l = relu(a_(l-1) W_l + b_l) for the hidden layers, z as softmax

(losses averaged over the rows).  The library has no forward pass of its own yet
(predict/evaluate), so predictions are computed here, in float64.
"""
import operator
from collections import namedtuple

import numpy as np

from . import _abi
from ._lib import lib, raise_for
from .errors import ArgumentError

KINDS = {"linear": _abi.HG_MODEL_LINEAR, "softmax": _abi.HG_MODEL_SOFTMAX,
         "mlp": _abi.HG_MODEL_MLP}

# One dense layer: in_ x out weights at params[w_off:b_off], out biases at
# params[b_off:b_off + out]; relu on hidden layers.
Layer = namedtuple("Layer", "inputs outputs relu w_off b_off")


def _count(value, what):
    try:
        n = operator.index(value)
    except TypeError:
        raise ArgumentError("HG_INVALID_ARGUMENT",
                            "%s must be an integer, not %r" % (what, value)) from None
    if n < 0:
        raise ArgumentError("HG_INVALID_ARGUMENT", "%s is %d; must be >= 0" % (what, n))
    return n


class Model:
    """A built-in model: kind ``"linear"``, ``"softmax"`` or ``"mlp"``, features per row
    (inputs), targets or classes (outputs), and an MLP's hidden layer widths.

    Raises hetgrad.ArgumentError for a shape the library refuses (its message names the
    field)."""

    def __init__(self, kind, inputs, outputs, hidden=()):
        if kind not in KINDS:
            raise ArgumentError("HG_INVALID_ARGUMENT", "model must be one of %s, not %r"
                                % (", ".join(repr(k) for k in KINDS), kind))
        self.kind = kind
        self.inputs = _count(inputs, "inputs")
        self.outputs = _count(outputs, "outputs")
        if isinstance(hidden, (str, bytes)):
            raise ArgumentError("HG_INVALID_ARGUMENT",
                                "hidden must be a sequence of widths, not %r" % (hidden,))
        try:
            self.hidden = tuple(_count(h, "hidden width") for h in hidden)
        except TypeError:
            raise ArgumentError("HG_INVALID_ARGUMENT",
                                "hidden must be a sequence of widths, not %r"
                                % (hidden,)) from None
        if kind != "mlp" and self.hidden:
            raise ArgumentError("HG_INVALID_ARGUMENT", "hidden layers %r given for a %s "
                                "model; only an MLP has them" % (self.hidden, kind))
        if len(self.hidden) > _abi.HG_MAX_HIDDEN:
            raise ArgumentError("HG_INVALID_ARGUMENT", "%d hidden layers; at most %d"
                                % (len(self.hidden), _abi.HG_MAX_HIDDEN))
        self._desc = _abi.HgModelDesc()
        self._desc.kind = KINDS[kind]
        self._desc.inputs = self.inputs
        self._desc.outputs = self.outputs
        self._desc.nhidden = len(self.hidden)
        for i, h in enumerate(self.hidden):
            self._desc.hidden[i] = h
        err = _abi.HgError()
        raise_for(lib.hg_model_validate(self._desc, err), err)

        widths = (self.inputs,) + self.hidden + (self.outputs,)
        layers, off = [], 0
        for i in range(len(widths) - 1):
            n_in, n_out = widths[i], widths[i + 1]
            layers.append(Layer(n_in, n_out, i < len(widths) - 2, off, off + n_in * n_out))
            off += n_in * n_out + n_out
        self.layers = tuple(layers)
        self.param_count = off
        # The layout above must be the library's: the counts agree, or this package
        # and the library disagree about model.h.
        n = lib.hg_model_param_count(self._desc)
        if n != off:
            raise RuntimeError("hetgrad: the library counts %d parameters for %r, this "
                               "package %d: mismatched versions" % (n, self, off))

    def __repr__(self):
        extra = ", hidden=%r" % (self.hidden,) if self.hidden else ""
        return "Model(%r, inputs=%d, outputs=%d%s)" % (self.kind, self.inputs, self.outputs,
                                                      extra)

    def __reduce__(self):
        # The C description holds pointers, which pickle refuses: rebuild it instead.
        return (Model, (self.kind, self.inputs, self.outputs, self.hidden))

    def __eq__(self, other):
        return isinstance(other, Model) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.kind, self.inputs, self.outputs, self.hidden)

    @property
    def classifier(self):
        """True for softmax and mlp (labels), False for linear (float targets)."""
        return self.kind != "linear"

    def unpack(self, params):
        """[(W, b), ...] per layer: views into params, W of shape (inputs, outputs)."""
        params = self._check_params(params)
        return [(params[L.w_off:L.b_off].reshape(L.inputs, L.outputs),
                 params[L.b_off:L.b_off + L.outputs]) for L in self.layers]

    def weight_mask(self):
        """Boolean vector over the parameters: True for weights, False for biases (what an
        L2 penalty applies to)."""
        mask = np.zeros(self.param_count, dtype=bool)
        for L in self.layers:
            mask[L.w_off:L.b_off] = True
        return mask

    def bias_mask(self):
        """Boolean vector over the parameters: True for the biases."""
        return ~self.weight_mask()

    def init_params(self, random_state=None):
        """Initial float32 parameters: weights uniform in +-sqrt(6 / (in + out)) (Glorot;
        He-like for ReLU layers, as scikit-learn's MLP), biases 0.  random_state: an int
        seed, a numpy Generator or RandomState, or None."""
        rng = random_state
        if not isinstance(rng, (np.random.Generator, np.random.RandomState)):
            rng = np.random.default_rng(rng)
        params = np.zeros(self.param_count, dtype=np.float32)
        for L in self.layers:
            bound = np.sqrt(6.0 / (L.inputs + L.outputs))
            params[L.w_off:L.b_off] = rng.uniform(-bound, bound, L.inputs * L.outputs)
        return params

    def forward(self, params, X):
        """The model's outputs for the rows of X, in float64: predictions (linear) or
        logits z (softmax, mlp), shape (rows, outputs)."""
        a = np.asarray(X, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.inputs:
            raise ArgumentError("HG_INVALID_ARGUMENT", "X has shape %s; expected (rows, %d)"
                                % (a.shape, self.inputs))
        for (W, b), L in zip(self.unpack(params), self.layers):
            a = a @ W.astype(np.float64) + b.astype(np.float64)
            if L.relu:
                np.maximum(a, 0.0, out=a)
        return a

    def _check_params(self, params):
        p = np.asarray(params)
        if p.shape != (self.param_count,):
            raise ArgumentError("HG_INVALID_ARGUMENT", "params has shape %s; this model has "
                                "%d parameters" % (p.shape, self.param_count))
        return p
