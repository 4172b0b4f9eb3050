"""The qc graph fuzzer, briefly (bench/graph_fuzz.py runs 1,000 cases): random well-formed qc graphs built
and run on every target in a worker subprocess, checked against the numpy reference and across targets."""

import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from qc_graph_check import compare, taints  # noqa: E402  (bench/ is not a package)
from qc_graphs import generate  # noqa: E402


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
