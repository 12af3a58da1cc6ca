# SPDX-License-Identifier: MIT
"""hetgrad.Engine: gradients against the numpy float64 oracle (reference.py), every way
of choosing rows, the data conversions, and every error path."""
import pickle

import numpy as np
import pytest

import hetgrad
import reference as R
from hetgrad.engine import _as_float32

TOL = 1e-5  # max |grad - reference|, and the loss's relative error

MODELS = [
    ("linear", 20, 1, ()),
    ("linear", 20, 3, ()),
    ("softmax", 20, 10, ()),
    ("mlp", 20, 10, (32, 16)),
]


def make_data(rng, kind, inputs, outputs, rows=300):
    X = rng.normal(size=(rows, inputs)).astype(np.float32)
    if kind == "linear":
        y = rng.normal(size=(rows, outputs)).astype(np.float32)
    else:
        y = rng.integers(0, outputs, rows).astype(np.int64)
    return X, y


def check_against_reference(eng, kind, inputs, outputs, hidden, p, X, y, rows):
    loss, g = eng.gradient(p, rows)
    sel = np.arange(X.shape[0]) if rows is None else (
        np.arange(X.shape[0])[rows] if not isinstance(rows, np.ndarray) or rows.dtype == bool
        else np.asarray(rows))
    ref_loss, ref_g = R.loss_grad(kind, inputs, outputs, hidden, p, X[sel], y[sel])
    assert g.dtype == np.float32 and g.shape == (eng.param_count,)
    assert isinstance(loss, np.float64)
    assert np.max(np.abs(g - ref_g)) <= TOL, np.max(np.abs(g - ref_g))
    assert abs(loss - ref_loss) <= TOL * max(1.0, abs(ref_loss))


@pytest.mark.parametrize("kind,inputs,outputs,hidden", MODELS)
def test_gradient_matches_the_float64_reference(rng, kind, inputs, outputs, hidden):
    X, y = make_data(rng, kind, inputs, outputs)
    with hetgrad.Engine(kind, inputs, outputs, hidden) as eng:
        eng.set_data(X, y)
        p = (0.3 * rng.normal(size=eng.param_count)).astype(np.float32)
        rows_variants = [
            None,
            slice(10, 200),
            slice(None, None, 3),            # a step: an index step in the library
            slice(-50, None),
            np.array([5, 5, 0, 299, 17, 5]),  # repeats
            np.array([-1, -300, 3]),          # negative: from the end
            rng.random(300) < 0.3,            # a boolean mask
            rng.integers(0, 300, 128).astype(np.uint32),
        ]
        for rows in rows_variants:
            check_against_reference(eng, kind, inputs, outputs, hidden, p, X, y, rows)


@pytest.mark.parametrize("kind,inputs,outputs,hidden", MODELS)
def test_library_reference_matches_numpy(rng, kind, inputs, outputs, hidden):
    X, y = make_data(rng, kind, inputs, outputs, rows=64)
    model = hetgrad.Model(kind, inputs, outputs, hidden)
    p = (0.3 * rng.normal(size=model.param_count)).astype(np.float32)
    loss, g = hetgrad.reference_gradient(model, p, X, y)
    ref_loss, ref_g = R.loss_grad(kind, inputs, outputs, hidden, p, X, y)
    np.testing.assert_allclose(g, ref_g, rtol=1e-9, atol=1e-12)
    assert abs(loss - ref_loss) <= 1e-9 * abs(ref_loss)
    idx = np.array([3, 3, 60, 0])
    loss, g = hetgrad.reference_gradient(model, p, X, y, rows=idx)
    ref_loss, ref_g = R.loss_grad(kind, inputs, outputs, hidden, p, X[idx], y[idx])
    np.testing.assert_allclose(g, ref_g, rtol=1e-9, atol=1e-12)


def test_inputs_are_converted_and_results_unchanged(rng):
    X, y = make_data(rng, "softmax", 8, 3, rows=50)
    p = (0.3 * rng.normal(size=8 * 3 + 3)).astype(np.float32)
    with hetgrad.Engine("softmax", 8, 3) as eng:
        eng.set_data(X, y)
        want = eng.gradient(p)
        # float64, Fortran order, lists, int32 labels, float labels with whole values:
        # converted, same result
        eng.set_data(np.asfortranarray(X.astype(np.float64)), y.astype(np.float64))
        got = eng.gradient(p.astype(np.float64).tolist())
        np.testing.assert_array_equal(got[1], want[1])
        eng.set_data(X.tolist(), y.astype(np.int32))
        np.testing.assert_array_equal(eng.gradient(p)[1], want[1])


def test_float32_c_contiguous_data_is_not_copied(rng):
    X = rng.normal(size=(10, 4)).astype(np.float32)
    assert _as_float32(X, "X") is X
    assert _as_float32(X.T, "X") is not X.T                   # not C-contiguous
    assert _as_float32(X.astype(np.float64), "X").dtype == np.float32
    # set_data reads the arrays and leaves them as they were
    y = np.arange(10) % 3
    X0, y0 = X.copy(), y.copy()
    with hetgrad.Engine("softmax", 4, 3) as eng:
        eng.set_data(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_out_receives_the_gradient(rng):
    X, y = make_data(rng, "softmax", 6, 3, rows=40)
    with hetgrad.Engine("softmax", 6, 3) as eng:
        eng.set_data(X, y)
        p = np.zeros(eng.param_count, dtype=np.float32)
        out = np.full(eng.param_count, np.nan, dtype=np.float32)
        loss, g = eng.gradient(p, out=out)
        assert g is out and np.all(np.isfinite(out))
        with pytest.raises(hetgrad.ArgumentError, match="out must be"):
            eng.gradient(p, out=np.zeros(eng.param_count, dtype=np.float64))
        with pytest.raises(hetgrad.ArgumentError, match="out must be"):
            eng.gradient(p, out=np.zeros(eng.param_count + 1, dtype=np.float32))


def test_deterministic_mode_gives_the_same_bits_for_any_split(rng):
    # deterministic reaches the library (hg_engine_options.deterministic): with both POCL
    # views kept, every split of the rows gives the same bits.
    X, y = make_data(rng, "softmax", 16, 5, rows=2000)
    with hetgrad.Engine("softmax", 16, 5, deterministic=True, keep_duplicates=True,
                        block_rows=64) as eng:
        eng.set_data(X, y)
        p = (0.3 * rng.normal(size=eng.param_count)).astype(np.float32)
        n = len(eng.devices)
        results = []
        for w in ([1.0] + [0.0] * (n - 1), [1.0] * n, list(range(n, 0, -1))):
            eng.set_weights(w)
            results.append(eng.gradient(p)[1])
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])


def test_statistics_calibration_and_split(rng):
    X, y = make_data(rng, "softmax", 12, 4, rows=4000)
    with hetgrad.Engine("softmax", 12, 4) as eng:
        assert eng.last_step() is None
        eng.set_data(X, y)
        p = np.zeros(eng.param_count, dtype=np.float32)
        with pytest.raises(hetgrad.ArgumentError) as e:
            eng.set_split("model")  # needs calibration first
        assert_error(e.value, "HG_INVALID_ARGUMENT", "calibrated")
        eng.calibrate()
        eng.set_split("dynamic")
        eng.gradient(p, slice(100, 1100))
        step = eng.last_step()
        assert sum(d["rows"] for d in step["devices"]) == 1000
        assert step["ms"] > 0 and step["recovered_steps"] == 0
        assert {d["id"] for d in step["devices"]} == {d["id"] for d in eng.devices}
        prof = eng.profiles()
        assert len(prof) == len(eng.devices)
        assert all(pr["valid"] and pr["rows_per_s"] > 0 and pr["kernel"] for pr in prof)
        assert all(pr["quarantined"] is None for pr in prof)
        with pytest.raises(ValueError, match="split must be"):
            eng.set_split("fastest")


def test_engine_devices_are_the_kept_devices():
    kept = [d for d in hetgrad.devices() if d["kept"]]
    with hetgrad.Engine("linear", 3, 1) as eng:
        assert [d["id"] for d in eng.devices] == [d["id"] for d in kept]
        assert repr(eng).startswith("<hetgrad.Engine Model('linear'")


class _SwappedLib:
    """The library as the engine module sees it, except that device 0 of the engine
    handle `handle` is `info` (another device's hg_device_info): what the library
    answers once calibration replaced that device by another view of the same hardware
    (src/calib/duplicates.c), which real devices do only when the other view measures
    faster."""

    def __init__(self, real, handle, info):
        self._real, self._handle, self._info = real, handle, info

    def __getattr__(self, name):
        return getattr(self._real, name)

    def hg_engine_device(self, h, i):
        if h == self._handle and i == 0:
            return self._info
        return self._real.hg_engine_device(h, i)


def test_engine_devices_follow_the_library(monkeypatch):
    # Engine.devices is what the library says now, not what it said at construction:
    # after calibrate() swapped a duplicate runtime, the engine computes on the other view.
    import hetgrad.engine as engine_module
    names = [d["name"] for d in hetgrad.devices(keep_duplicates=True)]
    pthread = [n for n in names if "pthread" in n]
    basic = [n for n in names if n.startswith("basic")]
    if not pthread or not basic:
        pytest.skip("needs POCL's pthread and basic devices (CI has both); found %s" % names)
    with hetgrad.Engine("linear", 3, 1, devices="name:pthread") as a, \
            hetgrad.Engine("linear", 3, 1, devices="name:basic") as b:
        before = a.devices
        assert len(before) == 1 and "pthread" in before[0]["name"]
        other = b.devices[0]
        swapped = _SwappedLib(engine_module.lib, a._h,
                              engine_module.lib.hg_engine_device(b._h, 0))
        monkeypatch.setattr(engine_module, "lib", swapped)
        assert [d["id"] for d in a.devices] == [other["id"]]
        X = np.zeros((8, 3), dtype=np.float32)
        a.set_data(X, np.zeros(8, dtype=np.float32))
        a.gradient(np.zeros(a.param_count, dtype=np.float32))
        assert [d["id"] for d in a.last_step()["devices"]] == [other["id"]]
        assert [d["id"] for d in a.profiles()] == [other["id"]]
        monkeypatch.undo()
        assert [d["id"] for d in a.devices] == [before[0]["id"]]
    assert [d["id"] for d in a.devices] == [before[0]["id"]]  # closed: the last known


def test_engine_devices_after_calibration_are_the_devices_computed_on(rng):
    # On real devices, whichever view of the host's cores measures faster: after
    # calibrate(), the devices, the last step and the profiles name the same devices,
    # and a duplicates note names the device it is about first ("ID replaces ..." or
    # "ID kept over ...").
    X, y = make_data(rng, "softmax", 16, 4, rows=3000)
    with hetgrad.Engine("softmax", 16, 4, devices="cpu", use_environment=False) as eng:
        eng.set_data(X, y)
        eng.calibrate()
        eng.gradient(np.zeros(eng.param_count, dtype=np.float32))
        ids = [d["id"] for d in eng.devices]
        assert [d["id"] for d in eng.last_step()["devices"]] == ids
        prof = eng.profiles()
        assert [p["id"] for p in prof] == ids
        for dev_id, p in zip(ids, prof):
            if p["duplicates"]:
                assert p["duplicates"].split()[0] == dev_id, p["duplicates"]


# ---- errors -----------------------------------------------------------------------
@pytest.fixture
def eng(rng):
    X, y = make_data(rng, "softmax", 5, 3, rows=30)
    with hetgrad.Engine("softmax", 5, 3) as e:
        e.set_data(X, y)
        yield e


def assert_error(exc, status, text=None):
    assert isinstance(exc, hetgrad.Error)
    assert exc.status == status, (exc.status, exc.message)
    assert isinstance(exc.code, int)
    if text:
        assert text in exc.message, exc.message
    assert exc.status in str(exc)


def test_wrong_shapes(eng):
    p = np.zeros(eng.param_count, dtype=np.float32)
    with pytest.raises(hetgrad.ArgumentError) as e:
        eng.set_data(np.zeros((4, 6)), np.zeros(4))            # 6 features, model 5
    assert_error(e.value, "HG_INVALID_ARGUMENT", "(rows, 5)")
    with pytest.raises(ValueError):                          # also a ValueError
        eng.set_data(np.zeros(5), np.zeros(1))                 # 1-D X
    with pytest.raises(hetgrad.ArgumentError, match="y has shape"):
        eng.set_data(np.zeros((4, 5)), np.zeros(3))            # y too short
    with pytest.raises(hetgrad.ArgumentError, match="y has shape"):
        eng.set_data(np.zeros((4, 5)), np.zeros((4, 2)))       # 2-D labels
    with pytest.raises(hetgrad.ArgumentError, match="parameters"):
        eng.gradient(p[:-1])
    with pytest.raises(hetgrad.ArgumentError, match="parameters"):
        eng.gradient(p.reshape(1, -1))
    with pytest.raises(hetgrad.ArgumentError, match="1-D"):
        eng.gradient(p, np.zeros((2, 2), dtype=int))
    with pytest.raises(hetgrad.ArgumentError, match="boolean row mask"):
        eng.gradient(p, np.ones(7, dtype=bool))
    with hetgrad.Engine("linear", 5, 2) as lin:
        with pytest.raises(hetgrad.ArgumentError, match=r"\(4, 2\) targets"):
            lin.set_data(np.zeros((4, 5)), np.zeros(4))        # 1 target, model 2
    # the engine is still usable after every refusal
    assert np.isfinite(eng.gradient(p)[0])


def test_wrong_dtypes(eng):
    p = np.zeros(eng.param_count, dtype=np.float32)
    for bad in (np.zeros((4, 5), dtype=complex), np.full((4, 5), "a"),
                np.array([[object()] * 5] * 4)):
        with pytest.raises(hetgrad.ArgumentError, match="expected real numbers"):
            eng.set_data(bad, np.zeros(4))
    with pytest.raises(hetgrad.ArgumentError, match="expected real numbers"):
        eng.gradient(p.astype(complex))
    with pytest.raises(hetgrad.ArgumentError, match="integer indices"):
        eng.gradient(p, np.array([0.0, 1.0]))
    with pytest.raises(hetgrad.ArgumentError, match="not whole numbers"):
        eng.set_data(np.zeros((4, 5)), np.array([0, 1.5, 2, 0]))
    with pytest.raises(hetgrad.ArgumentError, match="cannot be read"):
        eng.set_data([[1, 2], [3]], [0, 1])


def test_nan_and_infinity(eng):
    X = np.zeros((6, 5), dtype=np.float32)
    X[4, 2] = np.nan
    with pytest.raises(hetgrad.ArgumentError) as e:
        eng.set_data(X, np.zeros(6))
    # the library's own message names the row and the column
    assert_error(e.value, "HG_INVALID_ARGUMENT", "feature 2 of row 4 is NaN")
    X[4, 2] = np.inf
    with pytest.raises(hetgrad.ArgumentError, match="infinite"):
        eng.set_data(X, np.zeros(6))
    with pytest.raises(hetgrad.ArgumentError, match="NaN or infinite labels"):
        eng.set_data(np.zeros((2, 5)), np.array([0.0, np.nan]))
    p = np.zeros(eng.param_count, dtype=np.float32)
    p[3] = np.nan
    with pytest.raises(hetgrad.ArgumentError) as e:
        eng.gradient(p)
    assert_error(e.value, "HG_INVALID_ARGUMENT")
    with hetgrad.Engine("linear", 5, 1) as lin:
        with pytest.raises(hetgrad.ArgumentError, match="target 0 of row 1 is not finite"):
            lin.set_data(np.zeros((3, 5)), np.array([0.0, np.inf, 1.0]))
    # a refused data set leaves the previous one in place
    assert eng.rows == 30 and np.isfinite(eng.gradient(np.zeros_like(p))[0])


def test_ranges(eng):
    p = np.zeros(eng.param_count, dtype=np.float32)
    with pytest.raises(hetgrad.ArgumentError) as e:
        eng.set_data(np.zeros((3, 5)), np.array([0, 3, 1]))   # 3 classes: 0..2
    assert_error(e.value, "HG_RANGE", "label of row 1 is 3")
    with pytest.raises(hetgrad.ArgumentError) as e:
        eng.gradient(p, np.array([0, 30]))
    assert_error(e.value, "HG_RANGE")
    with pytest.raises(hetgrad.ArgumentError) as e:
        eng.gradient(p, np.array([-31]))
    assert_error(e.value, "HG_RANGE")
    with pytest.raises(hetgrad.ArgumentError, match="0 rows"):
        eng.gradient(p, np.array([], dtype=int))
    with pytest.raises(hetgrad.ArgumentError, match="0 rows"):
        eng.gradient(p, slice(5, 5))
    with pytest.raises(hetgrad.ArgumentError, match="int32"):
        eng.set_data(np.zeros((1, 5)), np.array([2 ** 40]))


def test_bad_models_and_devices():
    with pytest.raises(hetgrad.ArgumentError, match="model must be one of"):
        hetgrad.Engine("svm", 3, 2)
    with pytest.raises(hetgrad.ArgumentError) as e:
        hetgrad.Engine("softmax", 3, 1)  # the library: softmax needs >= 2 classes
    assert_error(e.value, "HG_INVALID_ARGUMENT", "outputs")
    with pytest.raises(hetgrad.ArgumentError, match=">= 0"):
        hetgrad.Engine("softmax", -3, 2)
    with pytest.raises(hetgrad.ArgumentError, match="only an MLP"):
        hetgrad.Engine("softmax", 3, 2, hidden=(4,))
    with pytest.raises(hetgrad.ArgumentError):
        hetgrad.Engine("mlp", 3, 2)  # no hidden layer
    with pytest.raises(hetgrad.ArgumentError, match="at most 16"):
        hetgrad.Engine("mlp", 3, 2, hidden=(2,) * 17)
    with pytest.raises(hetgrad.ArgumentError, match="inputs and outputs"):
        hetgrad.Engine("softmax", 3)
    with pytest.raises(hetgrad.Error) as e:
        hetgrad.Engine("softmax", 3, 2, devices="no-such-device")
    assert_error(e.value, "HG_BAD_SELECTION", "no-such-device")
    assert not isinstance(e.value, ValueError)
    with pytest.raises(hetgrad.Error) as e:
        hetgrad.Engine("softmax", 3, 2, devices="gpu,-cpu")   # valid, selects nothing here
    assert_error(e.value, "HG_NO_DEVICE", "no OpenCL device is selected")


def test_engine_life_cycle(rng):
    eng = hetgrad.Engine("softmax", 4, 2)
    p = np.zeros(eng.param_count, dtype=np.float32)
    with pytest.raises(hetgrad.ArgumentError, match="no data set"):
        eng.gradient(p)
    with pytest.raises(hetgrad.ArgumentError, match="no data set"):
        eng.calibrate()
    with pytest.raises(hetgrad.ArgumentError, match="block_rows"):
        hetgrad.Engine("softmax", 4, 2, deterministic=True, block_rows=-1)
    with pytest.raises(hetgrad.ArgumentError, match="block_rows"):
        hetgrad.Engine("softmax", 4, 2, deterministic=True, block_rows=100)  # the library
    with pytest.raises(hetgrad.ArgumentError, match="batch_rows"):
        hetgrad.Engine("softmax", 4, 2, batch_rows=-1)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(eng)
    eng.close()
    eng.close()  # idempotent
    assert eng.closed
    with pytest.raises(hetgrad.ArgumentError, match="closed"):
        eng.gradient(p)
    with pytest.raises(hetgrad.ArgumentError, match="closed"):
        eng.set_data(np.zeros((2, 4)), np.zeros(2))
    with hetgrad.Engine(hetgrad.Model("softmax", 4, 2)) as e2:
        assert not e2.closed
    assert e2.closed


def test_engine_batch_rows(rng):
    # batch_rows reaches the library: calibration races the kernels at it
    x = rng.standard_normal((300, 4)).astype(np.float32)
    y = (np.arange(300) % 2).astype(np.int32)
    with hetgrad.Engine("softmax", 4, 2, batch_rows=40, devices="name:pthread",
                        use_environment=False) as eng:
        eng.set_data(x, y)
        eng.calibrate()
        note = eng.profiles()[0]["kernel_note"]
        assert "on 40 rows" in note, note


def test_engine_work_rows(rng, tmp_path):
    # work_rows reaches the library: a job far shorter than a race keeps the
    # default kernels, unraced; an unknown one races them (a cache of their own:
    # a raced profile cached by another test would serve the short job)
    x = rng.standard_normal((300, 4)).astype(np.float32)
    y = (np.arange(300) % 2).astype(np.int32)
    for work, short in ((3000, True), (0, False)):
        with hetgrad.Engine("softmax", 4, 2, batch_rows=40, work_rows=work,
                            devices="name:pthread", use_environment=False,
                            cache_dir=str(tmp_path)) as eng:
            eng.set_data(x, y)
            eng.calibrate()
            note = eng.profiles()[0]["kernel_note"]
            assert note.startswith("not raced: a short job: ") == short, note
    with pytest.raises(hetgrad.ArgumentError, match="work_rows"):
        hetgrad.Engine("softmax", 4, 2, work_rows=-1)


def test_engine_log_level(rng, capfd, monkeypatch):
    # log_level, else $HETGRAD_LOG (unless use_environment=False), says which of the
    # library's messages reach stderr; a name that is no level is refused
    x = rng.standard_normal((300, 4)).astype(np.float32)
    y = (np.arange(300) % 2).astype(np.int32)
    cases = ((None, None, True, False), ("info", None, True, True),
             (None, "info", True, True), (None, "INFO", False, False),
             ("warn", "debug", True, False), ("debug", None, False, True))
    for level, env, use_env, shown in cases:
        if env is None:
            monkeypatch.delenv("HETGRAD_LOG", raising=False)
        else:
            monkeypatch.setenv("HETGRAD_LOG", env)
        capfd.readouterr()
        with hetgrad.Engine("softmax", 4, 2, devices="name:pthread", log_level=level,
                            use_environment=use_env) as eng:
            eng.set_data(x, y)
            eng.gradient(np.zeros(eng.param_count, np.float32))
        err = capfd.readouterr().err
        assert ("hetgrad: info: " in err) == shown, (level, env, use_env, err)
    monkeypatch.setenv("HETGRAD_LOG", "loud")
    with pytest.raises(hetgrad.ArgumentError, match="HETGRAD_LOG='loud'"):
        hetgrad.Engine("softmax", 4, 2)
    for bad in ("loud", 1, ""):
        with pytest.raises(hetgrad.ArgumentError, match="log_level="):
            hetgrad.Engine("softmax", 4, 2, log_level=bad)


@pytest.mark.parametrize("kind,inputs,outputs,hidden", MODELS)
def test_predict_and_evaluate_match_numpy(rng, kind, inputs, outputs, hidden):
    X, y = make_data(rng, kind, inputs, outputs, rows=120)
    with hetgrad.Engine(kind, inputs, outputs, hidden) as eng:
        p = (0.3 * rng.normal(size=eng.param_count)).astype(np.float32)
        z = eng.model.forward(p, X)
        cls, out = eng.predict(p, X)
        assert out.dtype == np.float32 and out.shape == (120, outputs)
        ref_loss, _ = R.loss_grad(kind, inputs, outputs, hidden, p, X, y)
        loss, acc = eng.evaluate(p, X, y)
        assert abs(loss - ref_loss) <= TOL * max(1.0, abs(ref_loss))
        if kind == "linear":
            assert cls is None
            assert np.max(np.abs(out - z)) <= TOL * max(1.0, np.max(np.abs(z)))
            assert np.isnan(acc)
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
            assert np.max(np.abs(out - prob)) <= TOL
            assert cls.dtype == np.int32
            top = prob[np.arange(120), cls]
            assert np.all(top >= prob.max(axis=1) - TOL)
            assert acc == np.mean(cls == y)


def test_predict_errors(rng):
    with hetgrad.Engine("softmax", 4, 3) as eng:
        p = np.zeros(eng.param_count, dtype=np.float32)
        X = rng.normal(size=(5, 4))
        with pytest.raises(hetgrad.ArgumentError):
            eng.predict(p, X[:, :3])
        with pytest.raises(hetgrad.ArgumentError):
            eng.predict(p[:-1], X)
        bad = p.copy()
        bad[2] = np.nan
        with pytest.raises(hetgrad.ArgumentError, match="NaN"):
            eng.predict(bad, X)
        with pytest.raises(hetgrad.ArgumentError):
            eng.evaluate(p, X, np.array([0, 1, 2, 3, 0]))
