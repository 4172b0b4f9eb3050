"""NaN and inf inputs of a model with static activation scales are refused on every way in (docs/numerics.md):
`cm(x)`, a raw call of the JIT function (`JitFunction.__call__`), a bound call (`JitFunction.bind`, what the
decode loop runs) and the AOT C library (`qcomp_model_run`, `qcomp_model_run_inplace`: QCOMP_ERR_INPUT and one
line from qcomp_error()). Before, only `cm(x)` checked (later bound calls and the library too, the raw call last):
the others returned a finite, wrong output. A dynamic-scale model propagates them."""

import ctypes
import shutil

import numpy as np
import pytest
import qcomp
import torch
from qcomp.dialects.errors import QcompError

needs_cc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no C compiler")
X = torch.linspace(-2, 2, 3 * 16).reshape(3, 16)


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))


@pytest.fixture(scope="module")
def static_cm():
    calib = [(torch.randn(3, 16),) for _ in range(2)]
    return qcomp.compile(_mlp(), (X,), target="cpu", recipe="w8a8-static", calibration=calib)


@pytest.fixture(scope="module")
def dynamic_cm():
    return qcomp.compile(_mlp(), (X,), target="cpu", recipe="w8a8")


def _bad(value: float) -> np.ndarray:
    x = X.numpy().copy()
    x[2, 5] = value
    return x


def test_flags_follow_the_recipe(static_cm, dynamic_cm):
    assert static_cm.artifact.fn.finite_only
    assert not dynamic_cm.artifact.fn.finite_only


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_bound_call_refuses_non_finite_input_of_a_static_model(static_cm, value):
    x = X.numpy().copy()
    run = static_cm.artifact.bind(x)
    clean = [o.copy() for o in run()]
    np.testing.assert_array_equal(clean[0], static_cm.artifact(X.numpy())[0])
    x[2, 5] = value  # refilled in place, as a decode loop does
    with pytest.raises(QcompError, match=r"^input 0: (nan|inf|-inf) at index \[2, 5\]: this model quantizes") as e:
        run()
    assert "\n" not in str(e.value)
    with pytest.raises(QcompError, match="static"):
        static_cm(torch.from_numpy(x))  # cm(x) says the same


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_raw_call_refuses_non_finite_input_of_a_static_model(static_cm, value):
    # before: JitFunction.__call__ (what `cm.artifact.fn(x)` runs) computed NaN's code 0, a finite wrong output
    fn = static_cm.artifact.fn
    with pytest.raises(QcompError, match=r"^input 0: (nan|inf|-inf) at index \[2, 5\]: this model quantizes") as e:
        fn(_bad(value))
    assert "\n" not in str(e.value)
    big = np.full_like(X.numpy(), np.finfo(np.float32).max)  # finite: its float64 sum too, no false refusal
    big[0] *= -1
    assert np.isfinite(fn(big)[0]).all()


def test_raw_call_of_a_dynamic_model_propagates_nan(dynamic_cm):
    out = dynamic_cm.artifact.fn(_bad(np.nan))[0]
    assert np.isnan(out[2]).all()
    assert np.isfinite(out[:2]).all()


def test_bound_call_of_a_dynamic_model_propagates_nan(dynamic_cm):
    x = _bad(np.nan)
    out = dynamic_cm.artifact.bind(x)()[0]
    assert np.isnan(out[2]).all()
    assert np.isfinite(out[:2]).all()


def _load(cm, tmp_path):
    cm.save(str(tmp_path))
    lib = ctypes.CDLL(str(tmp_path / "model.so"))
    lib.qcomp_model_load.restype = ctypes.c_void_p
    lib.qcomp_error.restype = ctypes.c_char_p
    model = ctypes.c_void_p(lib.qcomp_model_load(str(tmp_path / "model.weights").encode()))
    assert model.value, lib.qcomp_error()
    return lib, model


@needs_cc
def test_aot_library_refuses_non_finite_input_of_a_static_model(static_cm, tmp_path):
    lib, model = _load(static_cm, tmp_path)
    assert "a float input holding NaN or inf" in (tmp_path / "model.h").read_text()
    out = np.full((3, 4), 7.0, np.float32)
    outs = (ctypes.c_void_p * 1)(out.ctypes.data)
    try:
        for value, text, run in (
            (np.nan, "nan", lib.qcomp_model_run),
            (np.inf, "inf", lib.qcomp_model_run_inplace),
            (-np.inf, "-inf", lib.qcomp_model_run),
        ):
            x = _bad(value)
            assert run(model, (ctypes.c_void_p * 1)(x.ctypes.data), outs) == 2  # QCOMP_ERR_INPUT
            msg = lib.qcomp_error().decode()
            assert msg.startswith(f"{run.__name__}: input 0: {text} at element 37: this model quantizes")
            assert (out == 7.0).all()  # nothing computed
        x = X.numpy().copy()
        assert lib.qcomp_model_run(model, (ctypes.c_void_p * 1)(x.ctypes.data), outs) == 0
        assert out.tobytes() == static_cm.artifact(x)[0].tobytes()
    finally:
        lib.qcomp_model_free(model)


@needs_cc
def test_aot_library_of_a_dynamic_model_propagates_nan(dynamic_cm, tmp_path):
    lib, model = _load(dynamic_cm, tmp_path)
    assert "propagated as PyTorch does" in (tmp_path / "model.h").read_text()
    out = np.empty((3, 4), np.float32)
    try:
        x = _bad(np.nan)
        assert (
            lib.qcomp_model_run(model, (ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data))
            == 0
        )
        assert out.tobytes() == dynamic_cm.artifact(x)[0].tobytes()
        assert np.isnan(out[2]).all()
    finally:
        lib.qcomp_model_free(model)
