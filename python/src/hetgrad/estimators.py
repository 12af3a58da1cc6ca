# SPDX-License-Identifier: MIT
"""scikit-learn estimators trained by hetgrad's engine: LogisticRegression, MLPClassifier
and LinearRegression.

Each fit uploads the data set to the devices once (hetgrad.Engine.set_data), then every
gradient of the training, full batch or minibatch, is computed by the engine on every
kept device.  Predictions are computed on the host, in numpy float64, from the fitted
parameters (hetgrad.Model.forward); hetgrad.Engine.predict is the devices' forward pass.

Optimizers (the ``optimizer`` parameter):
  "lbfgs"  full-batch L-BFGS (scipy.optimize.minimize, method L-BFGS-B), ``epochs`` is
           its iteration limit, ``tol`` its gradient tolerance (scipy's gtol);
  "adam"   minibatches of ``batch_size`` shuffled rows (``random_state``), ``epochs``
           passes over the data, step ``learning_rate``;
  "sgd"    as adam, with classical momentum ``momentum``.
  For adam and sgd, training stops early when the epoch's loss has not improved by
  ``tol`` for ``n_iter_no_change`` epochs (as scikit-learn's MLP does).
partial_fit runs one epoch (adam, sgd) or one iteration (lbfgs) on the rows it is
given, carrying the optimizer's state over from the previous call.

While a fit or partial_fit trains, the BLAS libraries that numpy and scipy loaded
compute on one thread (threadpoolctl), and the previous limits come back afterwards.  The
training loop's own BLAS calls are small (the L2 penalty's dot product, L-BFGS's vector
operations), but every call of a multi-threaded OpenBLAS leaves its threads spinning for
a while after it returns, on the cores that a CPU device computes on: on a 2-core
machine that made the MLP's gradient about 50% slower (docs/python.md).  One thread also
keeps those sums from depending on how many cores the machine has.

These need scikit-learn (>= 1.6) and, through it, scipy and threadpoolctl; ``import
hetgrad`` does not.
"""
import functools
import warnings

import numpy as np

try:
    from scipy.optimize import minimize
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
    from threadpoolctl import ThreadpoolController
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("hetgrad's scikit-learn estimators need scikit-learn >= 1.6 "
                      "(pip install 'scikit-learn>=1.6'): %s" % e) from e

from .engine import Engine
from .model import Model
from .optimize import Objective

_OPTIMIZERS = ("lbfgs", "adam", "sgd")


@functools.lru_cache(maxsize=None)
def _blas_controller():
    """The loaded libraries' thread pools, found once (about 3 ms; each limit() on them
    then costs tens of microseconds, which matters for partial_fit loops).  A BLAS library
    first loaded after the first fit is not limited."""
    return ThreadpoolController()


def _one_blas_thread():
    """A context in which the loaded BLAS libraries use one thread (the module's
    docstring says why)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _check_param(ok, message):
    if not ok:
        raise ValueError(message)


def _positive_int(value, name):
    _check_param(isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                 and value >= 1, "%s must be an integer >= 1, got %r" % (name, value))
    return int(value)


def _non_negative(value, name, strict=False):
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and \
        np.isfinite(value) and (value > 0 if strict else value >= 0)
    _check_param(ok, "%s must be a finite number %s 0, got %r"
                 % (name, ">" if strict else ">=", value))
    return float(value)


class _Trainer:
    """The state of one training run: parameters (float64 master copy), the optimizer's
    moments, the epoch counter, and the engine that computes the gradients."""

    def __init__(self, params):
        self.params = np.asarray(params, dtype=np.float64).copy()
        self.m = np.zeros_like(self.params)  # adam's first moment, sgd's velocity
        self.v = np.zeros_like(self.params)  # adam's second moment
        self.t = 0                           # adam's step count


class _MinibatchStep:
    """One Adam or SGD step of a minibatch fit, in place on the trainer's float64 arrays
    and on buffers kept for the whole fit: the same operations in the same order as the
    textbook expressions in the comments, so the same bits, without the temporaries of
    the parameters' size that those expressions allocate (on a 784-256-10 MLP, about
    1 ms of host time a step instead of 4-6)."""

    def __init__(self, est, model, fixed):
        self.est = est
        n = model.param_count
        self.p32 = np.empty(n, dtype=np.float32)
        self.g32 = np.empty(n, dtype=np.float32)
        self.grad = np.empty(n)
        self.tmp = np.empty(n)
        # the weights (what the L2 penalty applies to) as slices: one per layer
        self.weights = [slice(L.w_off, L.b_off) for L in model.layers]
        self.fixed = None if fixed is None else np.flatnonzero(fixed)

    def run(self, eng, st, idx, n):
        """Update st from the gradient over rows idx (of n); return the step's loss."""
        est, grad, tmp = self.est, self.grad, self.tmp
        self.p32[...] = st.params
        loss, _ = eng.gradient(self.p32, idx, out=self.g32)
        np.copyto(grad, self.g32)
        l2 = est._l2(idx.shape[0], n)
        if l2:  # loss += l2/2 |W|^2; grad[W] += l2 W
            sq = 0.0
            for w in self.weights:
                sq += float(st.params[w] @ st.params[w])
                np.multiply(st.params[w], l2, out=tmp[w])
                grad[w] += tmp[w]
            loss += 0.5 * l2 * sq
        if self.fixed is not None:
            grad[self.fixed] = 0.0
        lr = float(est.learning_rate)
        if est.optimizer == "adam":
            # m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
            # p -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)
            b1, b2, eps = 0.9, 0.999, 1e-8
            st.t += 1
            st.m *= b1
            np.multiply(grad, 1 - b1, out=tmp)
            st.m += tmp
            st.v *= b2
            np.multiply(grad, 1 - b2, out=tmp)
            np.multiply(tmp, grad, out=tmp)
            st.v += tmp
            step = lr * np.sqrt(1 - b2 ** st.t) / (1 - b1 ** st.t)
            np.sqrt(st.v, out=tmp)
            np.add(tmp, eps, out=tmp)
            np.multiply(st.m, step, out=grad)  # g is spent: its buffer takes step m
            np.divide(grad, tmp, out=grad)
            st.params -= grad
        else:
            # m = momentum m - lr g; p += m
            st.m *= est.momentum
            np.multiply(grad, lr, out=tmp)
            st.m -= tmp
            st.params += st.m
        return float(loss)


class _HetgradEstimator(BaseEstimator):
    """What the three estimators share: the parameters, the engine, the training loops.

    Subclasses define _model(n_features, n_outputs), _l2(rows_in_step, total_rows), and
    whether the biases are trained (_fixed)."""

    # ---- the engine, kept between fits (never pickled) ------------------------------
    def _engine(self, model, batch_rows, work_rows, partial):
        """An engine for model on the estimator's devices, reused when neither changed
        and, where the fit calibrates (several devices, not partial), when it was made
        for that job: the same batch_rows, and work_rows unknown (0: its calibration
        races) or at least this fit's (a shorter job's kept the default kernels)."""
        key = (model, self.devices, bool(self.deterministic))
        cached = getattr(self, "_engine_cache", None)
        if cached is not None and cached[0] == key and not cached[1].closed:
            made_batch, made_work = cached[2]
            if partial or len(cached[1].devices) < 2 or (
                    made_batch == batch_rows and
                    (made_work == 0 or 0 < work_rows <= made_work)):
                return cached[1]
        self._engine_cache = None
        if cached is not None:
            cached[1].close()
        eng = Engine(model, devices=self.devices, deterministic=bool(self.deterministic),
                     batch_rows=batch_rows, work_rows=work_rows)
        self._engine_cache = (key, eng, (batch_rows, work_rows))
        return eng

    def _job(self, n, partial):
        """(batch_rows, work_rows) of a fit on n rows, for the engine's calibration: the
        rows of a step, and the rows of the whole fit at most (its epochs; early stopping
        only shortens it).  L-BFGS computes on every row a step and evaluates the
        objective about once an iteration; twice is counted for its line searches.
        partial_fit: 0 (it does not calibrate)."""
        if partial:
            return 0, 0
        if self.optimizer == "lbfgs":
            return n, 2 * self.epochs * n
        return min(self.batch_size, n), self.epochs * n

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_engine_cache", None)
        return state

    # ---- parameters --------------------------------------------------------------------
    def _check_common_params(self):
        _check_param(self.optimizer in _OPTIMIZERS, "optimizer must be one of %s, got %r"
                     % (", ".join(_OPTIMIZERS), self.optimizer))
        _positive_int(self.epochs, "epochs")
        _positive_int(self.batch_size, "batch_size")
        _non_negative(self.learning_rate, "learning_rate", strict=True)
        _non_negative(self.tol, "tol")
        _positive_int(self.n_iter_no_change, "n_iter_no_change")
        m = _non_negative(self.momentum, "momentum")
        _check_param(m < 1, "momentum must be in [0, 1), got %r" % (self.momentum,))
        _check_param(self.devices is None or isinstance(self.devices, (str, list, tuple)),
                     "devices must be None, a selection expression or a list of terms, "
                     "got %r" % (self.devices,))

    def _initial_params(self, model, rng):
        """Where training starts: random weights (an MLP needs them to break symmetry)."""
        return model.init_params(rng)

    def _fixed(self, model):
        """Mask of parameters held at their initial value (biases without intercept)."""
        if getattr(self, "fit_intercept", True):
            return None
        return model.bias_mask()

    # ---- training ------------------------------------------------------------------------
    def _train(self, X, Y, model, first_call, partial):
        """Train on (X float32, Y labels or targets) from the current state (or a fresh
        one when first_call) and store the parameters.  partial: one epoch/iteration."""
        self._check_common_params()
        batch_rows, work_rows = self._job(X.shape[0], partial)
        eng = self._engine(model, batch_rows, work_rows, partial)
        eng.set_data(X, Y)
        if not partial and len(eng.devices) > 1:
            eng.calibrate()
        if first_call:
            rng = check_random_state(self.random_state)
            self._rng = rng
            self._state = _Trainer(self._initial_params(model, rng))
            self._no_improve = 0
            self.loss_curve_ = []
            self.n_iter_ = 0
        epochs = 1 if partial else self.epochs
        fixed = self._fixed(model)
        with _one_blas_thread():
            if self.optimizer == "lbfgs":
                self._train_lbfgs(eng, model, epochs, fixed)
            else:
                self._train_minibatch(eng, model, X.shape[0], epochs, fixed, partial)
        self.params_ = self._state.params.astype(np.float32)
        self._set_public_params(model)

    def _train_lbfgs(self, eng, model, max_iter, fixed):
        n = eng.rows
        fun = Objective(eng, l2=self._l2(n, n), fixed=fixed)
        res = minimize(fun, self._state.params, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "gtol": self.tol,
                                "ftol": 64 * np.finfo(float).eps})
        self._state.params = np.asarray(res.x, dtype=np.float64)
        self.n_iter_ += int(res.nit)
        self.loss_curve_.append(float(res.fun))
        if res.status == 1 and max_iter == self.epochs:  # the iteration limit
            warnings.warn("%s: L-BFGS reached epochs=%d iterations without converging; "
                          "raise epochs or scale the data" % (type(self).__name__, max_iter),
                          ConvergenceWarning)

    def _train_minibatch(self, eng, model, n, epochs, fixed, partial):
        st = self._state
        rng = self._rng
        batch = min(self.batch_size, n)
        step = _MinibatchStep(self, model, fixed)
        best = min(self.loss_curve_) if self.loss_curve_ else np.inf
        no_improve = getattr(self, "_no_improve", 0)
        converged = False
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                total += step.run(eng, st, idx, n) * idx.shape[0]
            if not np.all(np.isfinite(st.params)):
                raise ValueError("%s: training diverged (non-finite parameters); lower "
                                 "learning_rate or scale the data" % type(self).__name__)
            self.n_iter_ += 1
            self.loss_curve_.append(total / n)
            if self.loss_curve_[-1] > best - self.tol:
                no_improve += 1
            else:
                no_improve = 0
            best = min(best, self.loss_curve_[-1])
            if not partial and no_improve > self.n_iter_no_change:
                converged = True
                break
        self._no_improve = no_improve
        if not partial and not converged:
            warnings.warn("%s: %d epochs ran and the loss still improved by more than "
                          "tol=%g; raise epochs for a converged fit"
                          % (type(self).__name__, epochs, self.tol), ConvergenceWarning)

    # ---- prediction --------------------------------------------------------------------
    def _forward(self, X):
        check_is_fitted(self, "params_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._model_.forward(self.params_, X)


class _Classifier(ClassifierMixin, _HetgradEstimator):
    """fit / partial_fit / predict / predict_proba on class labels of any type."""

    def fit(self, X, y):
        """Train from scratch on X (n_samples, n_features) and class labels y."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes, yi = np.unique(y, return_inverse=True)
        self._check_classes(classes)
        self.classes_ = classes
        self._model_ = self._model(X.shape[1], len(self.classes_))
        self._train(X, yi.astype(np.int32), self._model_, True, False)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch (adam, sgd) or one L-BFGS iteration on (X, y), continuing from the
        current state.  The first call needs every class in ``classes``."""
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=np.float32, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to "
                                 "partial_fit")
            classes = np.unique(np.asarray(classes))
            self._check_classes(classes)
            self.classes_ = classes
            self._model_ = self._model(X.shape[1], len(self.classes_))
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                        self.classes_):
            raise ValueError("classes=%r differs from the classes of the first call, %r"
                             % (classes, self.classes_))
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError("y holds labels %r that are not among classes_ %r"
                             % (unknown.tolist(), self.classes_.tolist()))
        yi = np.searchsorted(self.classes_, y).astype(np.int32)
        self._train(X, yi, self._model_, first, True)
        return self

    def _check_classes(self, classes):
        if len(classes) < 2:
            raise ValueError("%s needs samples of at least 2 classes in the data, but the "
                             "data contain only one class: %r"
                             % (type(self).__name__, classes[0]))

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in the order of classes_."""
        z = self._forward(X)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict_log_proba(self, X):
        """Log of predict_proba, computed stably."""
        z = self._forward(X)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X):
        """The most probable class of each row."""
        z = self._forward(X)
        return self.classes_[np.argmax(z, axis=1)]


class LogisticRegression(_Classifier):
    """Multinomial logistic regression (softmax) with an L2 penalty, trained on every
    OpenCL device at once.

    The objective is scikit-learn's: mean cross-entropy + ||W||^2 / (2 C n_samples)
    (the intercepts are not penalised).  Binary problems use two softmax outputs, with
    the penalty doubled so that the fit is scikit-learn's binary logistic regression.

    Parameters: C, fit_intercept, optimizer ("lbfgs" default, "adam", "sgd"), epochs
    (L-BFGS iterations, or passes over the data), batch_size, learning_rate, momentum,
    tol, n_iter_no_change, random_state (the seed: shuffling and initial parameters),
    devices (a selection expression, as HETGRAD_DEVICES), deterministic.

    Attributes after fit: classes_, coef_ (n_classes, n_features; (1, n_features) for
    two classes), intercept_, params_ (the library's flat parameter vector), n_iter_,
    loss_curve_, n_features_in_.
    """

    def __init__(self, C=1.0, fit_intercept=True, optimizer="lbfgs", epochs=100,
                 batch_size=128, learning_rate=0.01, momentum=0.9, tol=1e-4,
                 n_iter_no_change=10, random_state=None, devices=None,
                 deterministic=False):
        self.C = C
        self.fit_intercept = fit_intercept
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.devices = devices
        self.deterministic = deterministic

    def _initial_params(self, model, rng):
        # A convex problem: start from zero, as scikit-learn does, whatever the seed.
        return np.zeros(model.param_count)

    def _model(self, n_features, n_classes):
        _non_negative(self.C, "C", strict=True)
        return Model("softmax", n_features, n_classes)

    def _l2(self, rows_in_step, total_rows):
        l2 = 1.0 / (float(self.C) * total_rows)
        # Two softmax weight vectors w0, w1 act through w = w1 - w0; at the optimum
        # w0 = -w1, so ||w0||^2 + ||w1||^2 = ||w||^2 / 2: double the penalty.
        return 2 * l2 if len(self.classes_) == 2 else l2

    def _set_public_params(self, model):
        (W, b), = model.unpack(self.params_)
        W = W.T.astype(np.float64)
        b = b.astype(np.float64)
        if len(self.classes_) == 2:
            self.coef_ = (W[1] - W[0])[np.newaxis, :]
            self.intercept_ = np.array([b[1] - b[0]])
        else:
            self.coef_ = W
            self.intercept_ = b

    def decision_function(self, X):
        """Scores: (n_samples,) for two classes (positive means classes_[1]), else
        (n_samples, n_classes) logits."""
        z = self._forward(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z


class MLPClassifier(_Classifier):
    """A multi-layer perceptron classifier: ReLU hidden layers and a softmax output,
    trained on every OpenCL device at once.

    The objective is scikit-learn's MLPClassifier's: mean cross-entropy of a step's rows
    + alpha ||W||^2 / (2 rows in the step).

    Parameters: hidden_layer_sizes (at most 16 layers), alpha, optimizer ("adam"
    default, "sgd", "lbfgs"), epochs, batch_size, learning_rate, momentum, tol,
    n_iter_no_change, random_state (the seed), devices, deterministic.

    Attributes after fit: classes_, coefs_ and intercepts_ (one per layer), params_,
    n_iter_, loss_curve_, n_features_in_.
    """

    def __init__(self, hidden_layer_sizes=(100,), alpha=1e-4, optimizer="adam",
                 epochs=200, batch_size=200, learning_rate=1e-3, momentum=0.9, tol=1e-4,
                 n_iter_no_change=10, random_state=None, devices=None,
                 deterministic=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.devices = devices
        self.deterministic = deterministic

    def _model(self, n_features, n_classes):
        _non_negative(self.alpha, "alpha")
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
            sizes = (sizes,)
        _check_param(isinstance(sizes, (tuple, list)) and len(sizes) >= 1,
                     "hidden_layer_sizes must be a non-empty tuple of widths, got %r"
                     % (self.hidden_layer_sizes,))
        hidden = tuple(_positive_int(h, "hidden_layer_sizes[%d]" % i)
                       for i, h in enumerate(sizes))
        return Model("mlp", n_features, n_classes, hidden)

    def _l2(self, rows_in_step, total_rows):
        return float(self.alpha) / rows_in_step

    def _set_public_params(self, model):
        layers = model.unpack(self.params_)
        self.coefs_ = [W.astype(np.float64) for W, _ in layers]
        self.intercepts_ = [b.astype(np.float64) for _, b in layers]


class LinearRegression(RegressorMixin, _HetgradEstimator):
    """Least-squares linear regression (one or several targets), optionally with an L2
    penalty, trained on every OpenCL device at once.

    The objective is mean(1/2 ||y_hat - y||^2) + alpha ||W||^2 / 2; with alpha=0 (the
    default) the fit is ordinary least squares.

    Parameters: fit_intercept, alpha, optimizer ("lbfgs" default, "adam", "sgd"), epochs,
    batch_size, learning_rate, momentum, tol, n_iter_no_change, random_state (the seed),
    devices, deterministic.

    Attributes after fit: coef_ ((n_features,) for one target, else (n_targets,
    n_features)), intercept_, params_, n_iter_, loss_curve_, n_features_in_.
    """

    def __init__(self, fit_intercept=True, alpha=0.0, optimizer="lbfgs", epochs=200,
                 batch_size=128, learning_rate=0.01, momentum=0.9, tol=1e-6,
                 n_iter_no_change=10, random_state=None, devices=None,
                 deterministic=False):
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.devices = devices
        self.deterministic = deterministic

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _initial_params(self, model, rng):
        return np.zeros(model.param_count)  # convex: start from zero

    def _model(self, n_features, n_targets):
        _non_negative(self.alpha, "alpha")
        return Model("linear", n_features, n_targets)

    def _l2(self, rows_in_step, total_rows):
        return float(self.alpha)

    def _targets(self, y):
        y = np.asarray(y, dtype=np.float32)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def fit(self, X, y):
        """Train from scratch on X (n_samples, n_features) and targets y, (n_samples,)
        or (n_samples, n_targets)."""
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True,
                             y_numeric=True)
        self._y_ndim = np.ndim(y)
        Y = self._targets(y)
        self._model_ = self._model(X.shape[1], Y.shape[1])
        self._train(X, Y, self._model_, True, False)
        return self

    def partial_fit(self, X, y):
        """One epoch (adam, sgd) or one L-BFGS iteration on (X, y), continuing from the
        current state."""
        first = not hasattr(self, "params_")
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True,
                             y_numeric=True, reset=first)
        Y = self._targets(y)
        if first:
            self._y_ndim = np.ndim(y)
            self._model_ = self._model(X.shape[1], Y.shape[1])
        elif Y.shape[1] != self._model_.outputs:
            raise ValueError("y has %d target(s); the first call to partial_fit had %d"
                             % (Y.shape[1], self._model_.outputs))
        self._train(X, Y, self._model_, first, True)
        return self

    def _set_public_params(self, model):
        (W, b), = model.unpack(self.params_)
        W = W.T.astype(np.float64)
        b = b.astype(np.float64)
        if self._y_ndim == 1:
            self.coef_, self.intercept_ = W[0], float(b[0])
        else:
            self.coef_, self.intercept_ = W, b

    def predict(self, X):
        """Predicted targets: (n_samples,) when fit with one-dimensional y, else
        (n_samples, n_targets)."""
        y = self._forward(X)
        return y[:, 0] if self._y_ndim == 1 else y
