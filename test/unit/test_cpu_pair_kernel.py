"""The int8 GEMM kernel on i16 pairs (`pair_panels`, CPUs without AVX512-VNNI): its weight layout, and qc.qlinear
through it bit-identical to the numpy reference for every tile shape (whole row tiles, remainder rows, one to four
panel vectors, dynamic rows, the gated epilogue), int8 extremes included. The twin is emitted where the host has
no VNNI; the tests force it (plain vector ops: it runs on every x86 ISA)."""

import numpy as np
import pytest
import qcomp
import torch
from qcomp import targets
from qcomp.dialects import reference as ref
from qcomp.examples.models import BUILTIN
from qcomp.targets.cpu import gemm_ops
from qcomp.targets.cpu.gemm_ops import PACK_I8, pack_array
from qcomp.targets.cpu.pair_panels import PACK_PAIRS
from qcomp.targets.cpu.target import CpuTarget
from test_cpu_lowering import _jit_const_weight, _qlinear_inputs
from torch.export import Dim


@pytest.fixture
def pairs_twin(monkeypatch):
    monkeypatch.setattr(gemm_ops, "has_vnni", lambda: False)


def test_pair_layout():
    w = np.arange(32 * 4, dtype=np.int64).reshape(32, 4).astype(np.int8)  # w[n, k] = 4n + k
    p = pack_array(w, PACK_PAIRS)
    assert p.shape == (1, 2, 64)  # NR = 32 (two vectors): [N/NR][K/2][NR·2]
    assert list(p[0, 0, :6]) == [0, 1, 4, 5, 8, 9]  # column 0's pair (k 0, 1), column 1's, column 2's
    assert list(p[0, 1, :4]) == [2, 3, 6, 7]  # the next k-pair
    assert p.nbytes == pack_array(w, PACK_I8).nbytes  # the same bytes as the VNNI quads


@pytest.mark.parametrize(
    ("lead", "n", "k"),
    [((32,), 64, 64), ((2, 19), 48, 12), ((7,), 16, 4), ((1,), 192, 576), ((13,), 32, 1536), ((6,), 64, 8)],
)
def test_qlinear_pairs_kernel_bit_exact(pairs_twin, lead, n, k):
    rng = np.random.default_rng(n + k)
    inputs = _qlinear_inputs(rng, lead, n, k)  # rows of -128 and 127 in both operands
    want = ref.qlinear(*inputs, act="relu")
    fn, args = _jit_const_weight("qlinear", inputs, 2, want, act="relu")
    assert "_packed_pairs" in fn.llvm_text  # the twin is called; the VNNI kernel (and its dot) are gone
    assert "vpdpbusd" not in fn.llvm_text
    np.testing.assert_array_equal(fn(*args)[0], want)


class _NoPairsTarget(CpuTarget):
    """The CPU target with the i16-pair twin off: every int8 GEMM on the (emulated, without VNNI) vpdpbusd kernel."""

    def pipeline(self) -> str:
        return super().pipeline() + ",qc-cpu-pack-weights{pairs=false}"


def test_w8a8_mlp_pairs_kernel_dynamic_rows_equal_vnni_kernel(pairs_twin):
    # a W8A8 MLP from one build with dynamic rows (batch 1..32) through the pair kernels equals static builds on
    # the VNNI kernel (emulated where the CPU lacks VNNI) bit for bit: one row, whole tiles and a remainder
    model, (x,) = BUILTIN["mlp"]()
    dyn = qcomp.compile(model, (x,), recipe="w8a8", dynamic_shapes={"x": {0: Dim("batch", min=1, max=32)}})
    assert "_packed_pairs" in dyn.stages["llvm"]
    for m in (1, 13):
        xs = torch.randn(m, x.shape[1], generator=torch.Generator().manual_seed(m))
        static = qcomp.compile(model, (xs,), target=_NoPairsTarget(targets.get("cpu").options), recipe="w8a8")
        assert "_packed_pairs" not in static.stages["llvm"]
        assert torch.equal(dyn(xs), static(xs)), f"batch {m}"


def test_qlinear_gated_pairs_kernel(pairs_twin):
    rng = np.random.default_rng(9)
    x, xs, w, ws, b = _qlinear_inputs(rng, (9,), 32, 16)
    gate = rng.standard_normal((9, 32)).astype(np.float32)
    want = ref.qlinear_gated(x, xs, w, ws, b, gate, act="none")
    fn, args = _jit_const_weight("qlinear_gated", [x, xs, w, ws, b, gate], 2, want, act="none")
    assert "_packed_pairs" in fn.llvm_text
    np.testing.assert_array_equal(fn(*args)[0], want)
