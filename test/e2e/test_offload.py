"""The host/accelerator partition (targets/common/offload.py): qc.qlinear ops become calls of external
functions, run here by the numpy reference semantics through Python callbacks, while every other op stays
on the CPU target. The partitioned program must give the CPU build's outputs bit-identically."""

import numpy as np
import pytest
import qcomp
from qcomp import targets
from qcomp.dialects import reference
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.frontend import import_torch
from qcomp.pipeline import Pipeline
from qcomp.recipes import get_recipe
from qcomp.targets.common.offload import HostProgram, offload, offloaded_ops


def _partitioned(name: str):
    model, inputs = BUILTIN[name]()
    module = import_torch(model, inputs)
    Pipeline.parse("qc-raise-norms,qc-from-torch," + get_recipe("w8a8").pipeline).run(module)
    Pipeline.parse("qc-fuse{act=false,gate=false}").run(module)
    n = offload(module, lambda op: op.name == "qc.qlinear", "ref")
    text = str(module)
    Pipeline.parse("qc-lower-to-linalg,qc-outline-host-ops").run(module)
    return model, inputs, module, n, text


def _reference(op, arrays):
    xq, xs, wq, ws, b = arrays
    return reference.qlinear(xq, xs, wq, ws, b, act=op.attrs["act"])


@pytest.mark.parametrize("name", ["mlp", "tiny-llama"])
def test_offloaded_qlinears_match_cpu_build_bit_exactly(name):
    model, inputs, module, n, text = _partitioned(name)
    assert n >= 2
    assert text.count('qc.offload = "qc.qlinear"') == n
    assert '"qc.qlinear"(' not in text
    ops = offloaded_ops(module)
    assert [op.symbol for op in ops] == [f"ref_{i}" for i in range(n)]
    assert all(op.constants[2] is not None and op.constants[2].dtype == np.int8 for op in ops)  # weights known
    assert all(op.constants[0] is None for op in ops)  # activations arrive at run time
    calls = []

    def execute(op, arrays):
        calls.append(op.index)
        return _reference(op, arrays)

    program = HostProgram(module, execute)
    arrays = [x.numpy() for x in inputs]
    got = program(*arrays)
    assert sorted(set(calls)) == list(range(n))
    want = qcomp.compile(model, inputs, target=targets.get("cpu", fuse=False), recipe="w8a8")(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want, strict=False):
        assert np.array_equal(g, w.numpy())


def test_executor_errors_reach_the_caller():
    _, inputs, module, _, _ = _partitioned("mlp")
    program = HostProgram(module, lambda op, arrays: np.zeros((1,), np.float32))
    with pytest.raises(QcompError, match=r"qc\.qlinear executor returned float32\[1\], expected float32\["):
        program(*[x.numpy() for x in inputs])


def test_nothing_accepted_leaves_module_unchanged():
    _, _, module, _, _ = _partitioned("mlp")
    with module.context:
        before = str(module)
        assert offload(module, lambda op: False, "none") == 0
        assert str(module) == before
    assert isinstance(module, ir.Module)
