"""Targets declare the fused forms they run (`Capabilities.fused`); qc-fuse makes only those for `ctx.target`, and
each target's pipeline is its named stages, the first one the fuse step its capabilities give."""

import pytest
from qcomp import targets
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.passes.context import PassContext
from qcomp.passes.fuse import FusePass
from qcomp.targets.base import FUSED_FORMS, Capabilities

GATED_MLP = """
func.func @gated_mlp(%x: tensor<4x16xf32>, %w: tensor<32x16xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>)
    -> tensor<4x32xf32> {
  %q:2 = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"}
    : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %g = "qc.qlinear"(%q#0, %q#1, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>,
    tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %s = "qc.silu"(%g) : (tensor<4x32xf32>) -> tensor<4x32xf32>
  %r:2 = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"}
    : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %u = "qc.qlinear"(%r#0, %r#1, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>,
    tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %y = "qc.mul"(%s, %u) : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}
"""


def _fused(target) -> str:
    with new_context():
        module = ir.Module.parse(GATED_MLP)
        FusePass().run(module, PassContext(target=target))
        return str(module)


def test_qc_fuse_makes_the_forms_the_target_declares():
    cpu = _fused(targets.get("cpu"))  # every form: silu into the gate GEMM, the product into the up GEMM
    assert 'act = "silu"' in cpu
    assert "qc.qlinear_gated" in cpu
    assert "qc.silu" not in cpu
    for name in ("npu", "cim"):  # plain qc.qlinear for the accelerator: silu and the product stay host ops
        out = _fused(targets.get(name))
        assert "qc.silu" in out
        assert "qc.mul" in out
        assert "qc.qlinear_gated" not in out
        assert out.count("qc.quantize_dynamic") == 1  # dedupe: declared by both
    assert "qc.silu" in _fused(targets.get("cpu", fuse=False))  # fuse=false: the CPU declares no form


@pytest.mark.parametrize("name", ["cpu", "npu", "cim", "gpu"])
def test_pipeline_is_the_named_stages_and_starts_with_the_declared_fuse_step(name):
    t = targets.get(name)
    stages = t.stages()
    assert stages[0] == ("fuse", t.capabilities.fuse_step())
    assert len({n for n, _ in stages}) == len(stages)
    assert t.pipeline() == ",".join(text for _, text in stages if text)


def test_fuse_step_text():
    caps = Capabilities(frozenset(), (8,), (8,))
    assert caps.fuse_step() == "qc-fuse"
    assert Capabilities(frozenset(), (8,), (8,), fused=frozenset({"dedupe", "act"})).fuse_step() == (
        "qc-fuse{gate=false,norm=false,mask=false,roundtrip=false}"
    )
    assert Capabilities(frozenset(), (8,), (8,), fused=frozenset()).fuse_step() == ""
    with pytest.raises(ValueError, match="unknown fused forms"):
        Capabilities(frozenset(), (8,), (8,), fused=frozenset({"epilogue"}))
    assert set(FUSED_FORMS) == {f for f in FusePass.__dataclass_fields__ if f != "name"}  # the pass's options


def test_save_writes_the_stages_the_target_has(tmp_path):
    import qcomp
    from qcomp.examples.models import BUILTIN

    model, inputs = BUILTIN["mlp"]()
    cm = qcomp.compile(model, inputs, target=targets.get("npu"), recipe="w8a8")
    written = cm.save(str(tmp_path))
    mlir = [n for n in written if n.endswith(".mlir")]
    assert mlir == [  # 04-llvm.mlir: the host part, compiled by the CPU's JIT
        "00-torch.mlir",
        "01-qc.mlir",
        "02-quantized.mlir",
        "03-target.mlir",
        "04-llvm.mlir",
        "03-target-1-fuse.mlir",
        "03-target-2-offload.mlir",
    ]
    fused, offloaded = (
        (tmp_path / "03-target-1-fuse.mlir").read_text(),
        (tmp_path / "03-target-2-offload.mlir").read_text(),
    )
    assert '"qc.qlinear"(' in fused  # before the offload: the op
    assert "qc.offload" not in fused
    assert '"qc.qlinear"(' not in offloaded  # after it: calls the NPU runs
    assert 'qc.offload = "qc.qlinear"' in offloaded
