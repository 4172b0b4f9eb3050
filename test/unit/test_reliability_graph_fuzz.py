"""The qc graph fuzzer, briefly (bench/graph_fuzz.py runs 1,000 cases): random well-formed qc graphs built
and run on every target in a worker subprocess, checked against the numpy reference and across targets."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.targets.cpu.kernels import host_isa

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from qc_graph_check import compare, compile_avx512, taints  # noqa: E402  (bench/ is not a package)
from qc_graphs import Graph, generate  # noqa: E402


def test_graph_fuzzer_smoke(tmp_path):
    r = subprocess.run(
        [sys.executable, str(BENCH / "graph_fuzz.py"), "--cases", "2", "--seed", "7", "--workers", "1"]
        + ["--case-timeout", "120", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "graph fuzzer: 2 cases" in r.stdout, r.stdout + r.stderr[-2000:]
    assert r.returncode == 0, r.stdout
    assert not list(tmp_path.glob("*.mlir"))  # no reproducer written


def test_generator_is_deterministic_and_well_typed():
    a, b = generate(3, 11), generate(3, 11)
    assert a.text() == b.text()
    assert all(np.array_equal(a.feeds[n], b.feeds[n]) for n in a.inputs)
    env = a.reference()
    for name in a.outputs:
        shape, dtype = a.types[name]
        assert env[name].shape == shape
        assert env[name].dtype.name == dtype


def test_checker_tells_exact_from_rounding():
    want = np.array([1.0, np.nan, -0.0], np.float32)
    assert compare("exact", want, want.copy())
    assert not compare("exact", want, np.array([1.0, np.nan, 0.0], np.float32))  # the sign of zero counts
    assert compare("loose", want, np.array([1.0000001, np.nan, 0.0], np.float32))
    assert not compare("loose", want, np.array([1.01, np.nan, 0.0], np.float32))
    codes = np.array([3, -7], np.int8)
    assert compare("codes", codes, np.array([4, -7], np.int8))
    assert not compare("exact", codes, np.array([4, -7], np.int8))
    g = generate(3, 11)
    levels = taints(g, lambda node: node.kind() != "exact")
    assert set(levels.values()) <= {0, 1, 2, 3}


def test_generator_draws_attention_masked_softmax_and_dynamic_conv():
    from graph_fuzz import cases_with_ops, graph_ops

    seen = set().union(*(graph_ops(generate(1, i)) for i in range(200)))
    assert {"masked_softmax", "kv_attention", "kv_attention_int8", "conv-dynamic"} <= seen
    (case,) = cases_with_ops(1, 0, 1, {"kv_attention_int8"})
    g = generate(1, case)
    before = {n: a.copy() for n, a in g.feeds.items()}
    env = g.reference()  # the op writes its cache operands: the reference works on copies
    assert all(np.array_equal(before[n], g.feeds[n]) for n in g.inputs)
    (node,) = [n for n in g.nodes if n.op == "kv_attention_int8"]
    assert np.isfinite(env[node.results[0]]).any()


@pytest.mark.skipif(host_isa() == "avx512-vnni", reason="the cpu target runs avx512 builds here")
def test_avx512_build_compiles_to_512_bit_code_without_running():
    g = Graph(0, 0)
    x = g.input(np.ones((3, 32), np.float32))
    w, b = g.const(np.ones((32, 32), np.float32)), g.const(np.zeros(32, np.float32))
    (y,) = g.add("linear", [x, w, b], [((3, 32), "float32")])
    g.outputs = [y]
    zmm = compile_avx512(g.text())
    assert zmm > 0 or zmm == -1  # -1: no objdump to count with
