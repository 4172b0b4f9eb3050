"""The CPU target's threads: big GEMM kernels and vectorized maps become OpenMP loops; results do not depend
on the thread count (each output element is computed by one thread in one order)."""

import numpy as np
import pytest
from qcomp import targets
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.targets.cpu.jit import jit_from_text
from qcomp.targets.cpu.kernels import has_vnni
from qcomp.targets.cpu.threads import openmp_library, resolve_threads
from test_cpu_lowering import _qlinear_inputs, module_text

needs_openmp = pytest.mark.skipif(openmp_library() is None, reason="intel-openmp (libiomp5) is not installed")


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@needs_openmp
@pytest.mark.parametrize("op", ["qlinear", "gelu", "softmax"])
def test_threads_give_bit_identical_results(rng, op):
    if op == "qlinear":
        inputs, attrs = _qlinear_inputs(rng, (70,), 192, 256), {"act": "silu"}  # 3.4M MACs: parallel
    else:
        inputs, attrs = (
            [rng.standard_normal((64, 1024)).astype(np.float32)],
            ({"axis": -1} if op == "softmax" else {"approximate": "none"}),
        )
    want = getattr(ref, op)(*inputs, **attrs)
    text = module_text(op, inputs, [want], attrs)
    one, two = jit_from_text(text, threads=1), jit_from_text(text, threads=2)
    assert "omp.parallel" in two.llvm_text
    assert "omp.parallel" not in one.llvm_text
    got1, got2 = one(*inputs)[0], two(*inputs)[0]
    np.testing.assert_array_equal(got1, got2)
    if op == "qlinear" and has_vnni():
        assert "vpdpbusd" in two.llvm_text
    if op == "qlinear":
        np.testing.assert_allclose(got2, want, rtol=2e-6, atol=2e-6)  # silu: vector exp within 1e-7 relative


def test_small_kernels_stay_serial(rng):
    inputs = _qlinear_inputs(rng, (4,), 16, 64)  # 4k MACs: a fork would cost more than the GEMM
    want = ref.qlinear(*inputs, act="none")
    fn = jit_from_text(module_text("qlinear", inputs, [want], {"act": "none"}), threads=2 if openmp_library() else 1)
    assert "omp.parallel" not in fn.llvm_text
    np.testing.assert_array_equal(fn(*inputs)[0], want)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_thread_option_validated(bad):
    with pytest.raises(QcompError, match=r"threads must be an integer in \[1, 1024\] or None"):
        targets.get("cpu", threads=bad)


def test_default_threads_are_the_machines_cores():
    n = resolve_threads(None)
    assert n >= 1
    assert targets.get("cpu").options.threads is None
    if openmp_library() is None:
        assert n == 1
