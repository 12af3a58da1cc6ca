# SPDX-License-Identifier: MIT
"""The scikit-learn estimators: scikit-learn's own estimator checks, the digits data
set against scikit-learn's LogisticRegression, and what the checks do not cover."""
import pickle
from unittest import SkipTest

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import hetgrad

# Checks scikit-learn may skip, and why skipping them is right.  None today: with pandas
# installed and SCIPY_ARRAY_API=1 (conftest.py) every check generated for these
# estimators runs.  A skip not listed here fails the test.
JUSTIFIED_SKIPS = {}

# Checks scikit-learn does not generate for these estimators at all, and why:
#   check_sample_weights_*, check_sample_weight_equivalence_*,
#   check_classifiers_one_label_sample_weights, check_all_zero_sample_weights_error:
#       fit takes no sample_weight (the engine has no row weights).
#   check_class_weight_*: no class_weight parameter.
#   check_non_transformer_estimators_n_iter: no max_iter parameter (``epochs``; n_iter_
#       is set all the same).
#   check_sparsify_coefficients: no sparsify(); sparse input is refused with a clear
#       TypeError (check_estimator_sparse_* checks that).
#   check_array_api_* beyond the numpy namespace: the tags do not claim array API
#       support (predictions are numpy).
#   check_classifier_multioutput, check_classifiers_multilabel_*: the classifiers take
#       one label per row.

ESTIMATORS = [
    hetgrad.LogisticRegression(),
    hetgrad.MLPClassifier(),
    hetgrad.LinearRegression(),
    # the minibatch optimizers through the same checks
    hetgrad.LogisticRegression(optimizer="sgd", epochs=50, learning_rate=0.05),
    hetgrad.LinearRegression(optimizer="adam", epochs=50, learning_rate=0.05),
]


def _check_name(check):
    return getattr(check, "func", check).__name__


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_checks(estimator, check):
    try:
        check(estimator)
    except SkipTest as e:
        name = _check_name(check)
        if name not in JUSTIFIED_SKIPS:
            pytest.fail("%s was skipped (%s) and is not in JUSTIFIED_SKIPS" % (name, e))
        pytest.skip("%s: %s" % (name, JUSTIFIED_SKIPS[name]))


def digits_split():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y,
                                          random_state=0)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


@pytest.mark.parametrize("params", [{}, {"optimizer": "adam", "learning_rate": 0.01}],
                         ids=["lbfgs", "adam"])
def test_digits_within_one_point_of_scikit_learn(params):
    Xtr, Xte, ytr, yte = digits_split()
    ref = SkLogisticRegression(C=1.0, max_iter=5000).fit(Xtr, ytr).score(Xte, yte)
    est = hetgrad.LogisticRegression(random_state=0, **params).fit(Xtr, ytr)
    acc = est.score(Xte, yte)
    print("digits: scikit-learn %.4f, hetgrad (%s) %.4f" % (ref, params or "lbfgs", acc))
    assert acc >= ref - 0.01
    assert est.coef_.shape == (10, 64) and est.intercept_.shape == (10,)
    assert est.n_iter_ >= 1 and len(est.loss_curve_) >= 1


def test_mlp_on_digits():
    Xtr, Xte, ytr, yte = digits_split()
    est = hetgrad.MLPClassifier(hidden_layer_sizes=(64, 32), epochs=60, random_state=0)
    est.fit(Xtr, ytr)
    assert est.score(Xte, yte) > 0.93
    assert [W.shape for W in est.coefs_] == [(64, 64), (64, 32), (32, 10)]
    proba = est.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(proba), est.predict_log_proba(Xte), atol=1e-9)


def test_binary_logistic_regression_is_scikit_learns():
    # Two softmax outputs with the doubled penalty fit scikit-learn's binary logistic
    # regression: the same coefficients, intercept and decision function.
    X, y = make_classification(n_samples=400, n_features=6, random_state=3)
    X = StandardScaler().fit_transform(X)
    for C in (1.0, 0.1):
        ref = SkLogisticRegression(C=C, tol=1e-10, max_iter=1000).fit(X, y)
        est = hetgrad.LogisticRegression(C=C, tol=1e-7, epochs=500).fit(X, y)
        # float32 gradients bound how far L-BFGS gets: 1e-3 (without the doubled
        # penalty the coefficients are off by 0.1 and more)
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(est.decision_function(X), ref.decision_function(X),
                                   rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-3)


def test_linear_regression_is_least_squares():
    X, y = make_regression(n_samples=300, n_features=5, n_targets=3, noise=1.0,
                           random_state=0)
    ref = SkLinearRegression().fit(X, y)
    est = hetgrad.LinearRegression(tol=1e-9, epochs=1000).fit(X, y)
    assert est.coef_.shape == (3, 5) and est.intercept_.shape == (3,)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-4, atol=1e-2)
    one = hetgrad.LinearRegression().fit(X, y[:, 0])
    assert one.coef_.shape == (5,) and one.predict(X).shape == (300,)
    no_b = hetgrad.LinearRegression(fit_intercept=False).fit(X, y[:, 0] + 100.0)
    assert no_b.intercept_ == 0.0


def test_decision_function_is_the_linear_model_of_coef():
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3,
                               n_classes=3, random_state=1)
    est = hetgrad.LogisticRegression().fit(X, y)
    np.testing.assert_allclose(est.decision_function(X), X @ est.coef_.T + est.intercept_,
                               rtol=1e-9, atol=1e-9)
    (W, b), = est._model_.unpack(est.params_)
    np.testing.assert_array_equal(est.coef_, W.T)


def test_partial_fit_continues_training():
    Xtr, Xte, ytr, yte = digits_split()
    est = hetgrad.LogisticRegression(optimizer="adam", learning_rate=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(Xtr[:100], ytr[:100])
    est.partial_fit(Xtr[:200], ytr[:200], classes=np.arange(10))
    first = est.score(Xte, yte)
    for epoch in range(10):
        for s in range(0, len(ytr), 300):
            est.partial_fit(Xtr[s:s + 300], ytr[s:s + 300])
    assert est.score(Xte, yte) > max(first, 0.9)
    assert est.n_iter_ > 10
    with pytest.raises(ValueError, match="not among classes_"):
        est.partial_fit(Xtr[:5], ytr[:5] + 100)
    # pickled between calls: the engine is left out and made again when needed
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est2.predict(Xte), est.predict(Xte))
    est2.partial_fit(Xtr[:300], ytr[:300])
    reg = hetgrad.LinearRegression(optimizer="sgd", learning_rate=0.05, random_state=0)
    X, y = make_regression(n_samples=256, n_features=4, noise=0.1, random_state=0)
    y = y / y.std()
    for _ in range(30):
        reg.partial_fit(X, y)
    assert reg.score(X, y) > 0.99


def test_parameters_are_checked_at_fit():
    X, y = make_classification(n_samples=50, n_features=4, random_state=0)
    for bad in ({"optimizer": "newton"}, {"epochs": 0}, {"learning_rate": -1.0},
                {"C": 0.0}, {"momentum": 1.0}, {"batch_size": 2.5}):
        with pytest.raises(ValueError):
            hetgrad.LogisticRegression(**bad).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        hetgrad.MLPClassifier(hidden_layer_sizes=()).fit(X, y)
    with pytest.raises(ValueError, match="at most 16"):
        hetgrad.MLPClassifier(hidden_layer_sizes=(3,) * 17).fit(X, y)
    with pytest.raises(hetgrad.Error) as e:
        hetgrad.LogisticRegression(devices="no-such-device").fit(X, y)
    assert e.value.status == "HG_BAD_SELECTION"
    one = hetgrad.LogisticRegression()
    with pytest.raises(ValueError, match="only one class"):
        one.fit(X, np.zeros(len(X)))
    assert not hasattr(one, "classes_")  # a refused fit leaves no fitted state
    est = hetgrad.MLPClassifier(hidden_layer_sizes=5, epochs=5).fit(X, y)
    assert [W.shape for W in est.coefs_] == [(4, 5), (5, 2)]


def test_fits_are_reproducible_with_a_seed():
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    a = hetgrad.MLPClassifier(hidden_layer_sizes=(16,), epochs=20, random_state=5).fit(X, y)
    b = hetgrad.MLPClassifier(hidden_layer_sizes=(16,), epochs=20, random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.params_, b.params_)


class _RecordingEngine(hetgrad.Engine):
    """hetgrad.Engine as the estimators make it, recording each creation's arguments and
    each calibration; with `several`, its one device is reported twice, so that a fit
    takes the path of several devices (it calibrates)."""
    several = False
    made = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).made.append(kwargs)
        self.calibrations = 0

    @property
    def devices(self):
        found = hetgrad.Engine.devices.fget(self)
        return found * 2 if type(self).several else found

    def calibrate(self):
        self.calibrations += 1
        super().calibrate()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("several", [True, False])
def test_a_fit_tells_the_engine_its_job(monkeypatch, several):
    # batch_rows (a step's rows) and work_rows (the fit's rows, at most) reach the
    # engine, whose calibration then races the kernels at the minibatch's size, or
    # keeps the defaults for a short fit.  An engine is reused by a fit it was made
    # for; with several devices a longer fit or another batch size makes a new one.
    monkeypatch.setattr(hetgrad.estimators, "Engine", _RecordingEngine)
    monkeypatch.setattr(_RecordingEngine, "several", several)
    monkeypatch.setattr(_RecordingEngine, "made", [])
    made = _RecordingEngine.made
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    est = hetgrad.LogisticRegression(optimizer="adam", epochs=3, batch_size=50,
                                     random_state=0)

    def fit(expect_made, **params):
        est.set_params(**params).fit(X, y)
        assert len(made) == expect_made, made
        return est._engine_cache[1]

    eng = fit(1)
    assert made[0]["batch_rows"] == 50 and made[0]["work_rows"] == 3 * 120
    assert eng.calibrations == (1 if several else 0)
    assert fit(1) is eng and fit(1, epochs=2) is eng  # the same job, a shorter one
    eng = fit(2 if several else 1, epochs=6)          # a longer one
    assert made[-1]["work_rows"] == (6 * 120 if several else 3 * 120)
    eng = fit(3 if several else 1, batch_size=40)     # another minibatch
    est.partial_fit(X, y)                              # never calibrates: reused
    assert est._engine_cache[1] is eng and len(made) == (3 if several else 1)
    assert eng.calibrations == (1 if several else 0)

    lbfgs = hetgrad.LogisticRegression(epochs=5).fit(X, y)
    assert made[-1]["batch_rows"] == 120 and made[-1]["work_rows"] == 2 * 5 * 120
    assert lbfgs._engine_cache[1].calibrations == (1 if several else 0)
    hetgrad.MLPClassifier(hidden_layer_sizes=(4,), epochs=2).partial_fit(X, y, classes=[0, 1])
    assert made[-1]["batch_rows"] == 0 and made[-1]["work_rows"] == 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("partial", [False, True])
def test_a_fit_trains_on_one_blas_thread(monkeypatch, optimizer, partial):
    # while a fit (or partial_fit) trains, numpy's and scipy's BLAS compute on one thread:
    # a multi-threaded OpenBLAS's threads spin after each call, on a CPU device's cores
    from threadpoolctl import ThreadpoolController
    blas = ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("threadpoolctl finds no BLAS library with a thread pool here")
    seen = []

    class Recording(hetgrad.Engine):  # the BLAS threads at each gradient
        def gradient(self, *args, **kwargs):
            seen.append({i["num_threads"] for i in blas.info()})
            return super().gradient(*args, **kwargs)

    monkeypatch.setattr(hetgrad.estimators, "Engine", Recording)
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    est = hetgrad.MLPClassifier(hidden_layer_sizes=(4,), optimizer=optimizer, epochs=2,
                                batch_size=20, random_state=0)
    with blas.limit(limits=2):  # two even on one core: the limit inside must show
        if partial:
            est.partial_fit(X, y, classes=[0, 1])
        else:
            est.fit(X, y)
        after = {i["num_threads"] for i in blas.info()}
    assert seen and all(s == {1} for s in seen), seen
    assert after == {2}  # the caller's limit is back


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_minibatch_step_is_the_textbook_update(optimizer, fit_intercept):
    # the in-place step (estimators._MinibatchStep) gives the bits of the expressions
    # it replaced, which allocate a temporary per operation: the L2 penalty on the
    # weights, the biases held where fit_intercept=False, then Adam or SGD
    from hetgrad.estimators import _MinibatchStep, _Trainer
    model = hetgrad.Model("mlp", 6, 3, (5,))
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(model.param_count).astype(np.float32) for _ in range(4)]

    class FixedGradients:  # an engine that returns the next of grads
        calls = 0

        def gradient(self, params, rows, out):
            out[...] = grads[self.calls]
            self.calls += 1
            return np.float64(0.25 * self.calls), out

    est = hetgrad.MLPClassifier(optimizer=optimizer, learning_rate=0.01, momentum=0.8,
                                alpha=0.3, batch_size=10)
    fixed = None if fit_intercept else model.bias_mask()
    start = rng.standard_normal(model.param_count)
    st = _Trainer(start)
    step = _MinibatchStep(est, model, fixed)
    eng = FixedGradients()
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    weights = model.weight_mask()
    for t in range(1, 5):
        loss = step.run(eng, st, np.arange(10), 40)
        l2 = est._l2(10, 40)
        g = grads[t - 1].astype(np.float64)
        w = p[weights]
        expect_loss = 0.25 * t + 0.5 * l2 * float(w @ w)
        g[weights] += l2 * w
        if fixed is not None:
            g[fixed] = 0.0
        if optimizer == "adam":
            m = 0.9 * m + (1 - 0.9) * g
            v = 0.999 * v + (1 - 0.999) * g * g
            p -= 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
        else:
            m = 0.8 * m - 0.01 * g
            p += m
        np.testing.assert_array_equal(st.params, p)
        np.testing.assert_array_equal(st.m, m)
        np.testing.assert_array_equal(st.v, v)
        assert loss == pytest.approx(expect_loss, rel=1e-12)
