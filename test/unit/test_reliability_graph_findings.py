"""Regression tests for what the qc graph fuzzer (bench/graph_fuzz.py) found, each a small graph written out
here and checked against the numpy reference (or across targets, where the contract says bit-identical)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.targets.cpu.jit import jit_from_text
from qcomp.targets.cpu.kernels import ISAS, host_isa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from qc_graphs import Graph

AVAILABLE = ISAS[ISAS.index(host_isa()) :]
F32 = np.float32


def _wlinear_graph(rng, m: int, k: int, n: int, bits: int, group: int) -> tuple[Graph, str]:
    g = Graph(0, 0)
    x = g.input(rng.standard_normal((m, k)).astype(F32))
    wq, scale = ref.quantize_weight_grouped(rng.standard_normal((n, k)).astype(F32), bits=bits, group=group)
    b = g.const(rng.standard_normal(n).astype(F32))
    (y,) = g.add("wlinear", [x, g.const(wq), g.const(scale), b], [((m, n), "float32")], bits=bits, group=group)
    g.outputs = [y]
    return g, y


@pytest.mark.parametrize("isa", AVAILABLE)
@pytest.mark.parametrize(("k", "bits", "group"), [(13, 3, 16), (13, 4, 8), (7, 4, 4), (13, 2, 16)])
def test_wlinear_int4_constant_weight_with_odd_k(isa, k, bits, group):
    # finding: graph fuzzer seed 2 case 39. Constant int4 weights with an odd K took the packed twin, whose
    # kernel reads nibble pairs: the last, half-used pair read past the input row (garbage up to 1e34, NaN)
    rng = np.random.default_rng(k * 100 + bits)
    g, y = _wlinear_graph(rng, 2, k, 64, bits, group)
    want = g.reference()[y]
    got = jit_from_text(g.text(), isa=isa)(*g.feeds_list())[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
