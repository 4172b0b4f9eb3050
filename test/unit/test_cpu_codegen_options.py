"""The CPU lowering's code generation switches are target options (issue 18): `targets.get("cpu", vectorize=False,
row_fusion=False)` writes them into its pipeline as qc-lower-to-linalg options and the pass generates plain
generics without them: bit-identical results without row fusion, float maps within rounding without vector loops
(they evaluate exp with the vector polynomial or with `math.exp`)."""

import numpy as np
import pytest
from qcomp import targets
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.pipeline import Pipeline
from qcomp.targets.cpu.jit import JitFunction
from qcomp.targets.cpu.lower_qc import LowerToLinalgPass

TEXT = """
func.func @main(%x: tensor<4x64xf32>, %g: tensor<64xf32>) -> tensor<4x64xf32> {
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-06 : f64} : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  %y = "qc.silu"(%n) : (tensor<4x64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}
"""


def _lowered(**options) -> tuple[str, list[np.ndarray]]:
    """The module lowered by qc-lower-to-linalg{options} (text) and its JIT results on fixed inputs."""
    rng = np.random.default_rng(0)
    x, g = rng.normal(0, 2, (4, 64)).astype(np.float32), rng.uniform(0.5, 2, 64).astype(np.float32)
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(TEXT)
        LowerToLinalgPass(**options).run(module)
        text = str(module)
        return text, JitFunction(module)(x, g)


def test_target_options_reach_the_lowering_pass():
    assert "qc-lower-to-linalg," in targets.get("cpu").pipeline()  # defaults: no options written
    tgt = targets.get("cpu", vectorize=False, row_fusion=False)
    step = "qc-lower-to-linalg{vectorize=false,row_fusion=false}"
    assert step in tgt.pipeline()
    passes = [p for p in Pipeline.parse(tgt.pipeline()).steps if isinstance(p, LowerToLinalgPass)]
    assert passes == [LowerToLinalgPass(vectorize=False, row_fusion=False)]


def test_switches_change_the_code_not_the_results():
    vector, want = _lowered()
    plain, got = _lowered(vectorize=False)
    unfused, got2 = _lowered(row_fusion=False)
    assert "vector<16xf32>" in vector  # maps as 16-lane loops
    assert "vector<16xf32>" not in plain
    assert unfused != vector  # one loop over rows per step
    for w, a, b in zip(want, got, got2, strict=True):
        assert np.array_equal(w, b)
        np.testing.assert_allclose(a, w, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("key", ["vectorize", "row_fusion"])
def test_non_boolean_switch_is_refused_in_one_line(key):
    with pytest.raises(QcompError, match=rf"^cpu target: {key} must be true or false"):
        targets.get("cpu", **{key: "no"})
    with pytest.raises(QcompError, match=rf"^qc-lower-to-linalg: {key} must be true or false"):
        LowerToLinalgPass(**{key: 1})
