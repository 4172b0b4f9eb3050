"""Registries: every pass is a documented frozen dataclass named by its key with a lit test; targets
are created by name with validated options and describe their capabilities and costs."""

import dataclasses
import pathlib

import pytest
import qcomp
from qcomp import targets
from qcomp.dialects import new_context, op_classes
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.pipeline import all_passes

ROOT = pathlib.Path(__file__).resolve().parents[2]
PASSES = sorted(all_passes())


def test_registry_holds_the_known_passes():
    assert {"qc-from-torch", "qc-quantize", "qc-lower-to-linalg"} <= set(PASSES)


@pytest.mark.parametrize("key", PASSES)
def test_pass_name_matches_registry_key(key):
    assert all_passes()[key].name == key
    assert key.startswith("qc-")


@pytest.mark.parametrize("key", PASSES)
def test_pass_is_documented_frozen_dataclass(key):
    cls = all_passes()[key]
    assert cls.__doc__
    assert cls.__doc__.strip()
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen
    p = cls()  # every option has a default
    field = next(iter(dataclasses.fields(cls)), None)
    if field is not None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(p, field.name, getattr(p, field.name))
    assert callable(getattr(p, "run", None))


@pytest.mark.parametrize("key", PASSES)
def test_pass_has_lit_test(key):
    # the lit files are written alongside; this test fails until test/lit/passes/<name>.mlir exists
    path = ROOT / "test" / "lit" / "passes" / f"{key}.mlir"
    assert path.is_file(), f"missing lit test {path.relative_to(ROOT)}"
    text = path.read_text()
    assert "// RUN:" in text
    assert key in text


# ----------------------------------------------------------------------------- targets
def test_get_cpu_target_with_options():
    t = targets.get("cpu")
    assert t.name == "cpu"
    assert t.options.opt_level in (0, 1, 2, 3)
    assert targets.get("cpu", opt_level=1).options.opt_level == 1
    assert targets.get(t) is t
    assert "cpu" in targets.names()
    assert qcomp.targets is targets


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("cpu", {"opt_level": 5}, "opt_level must be 0..3, got 5"),
        ("cpu", {"vector_width": 8}, "target cpu:"),
        ("gpu-nonexistent", {}, "unknown target 'gpu-nonexistent' (known: "),
    ],
)
def test_get_target_errors(name, options, message):
    with pytest.raises(QcompError) as info:
        targets.get(name, **options)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_cpu_capabilities_list_every_qc_op():
    caps = targets.get("cpu").capabilities
    assert caps.ops == frozenset(op_classes())
    assert caps.supports("qc.qlinear")
    assert not caps.supports("qc.bogus")
    assert 8 in caps.weight_bits
    assert 4 in caps.weight_bits
    assert caps.activation_bits == (8,)


def test_target_passes_registered_under_their_names():
    passes = targets.target_passes()
    assert {"qc-lower-to-linalg", "qc-outline-host-ops"} <= set(passes)
    assert all(cls.name == name for name, cls in passes.items())
    # every step of the CPU pipeline is a registered pass
    assert targets.get("cpu").pipeline().split(",") == ["qc-fuse", "qc-lower-to-linalg", "qc-outline-host-ops"]
    assert targets.get("cpu", fuse=False).pipeline().split(",") == ["qc-lower-to-linalg", "qc-outline-host-ops"]


def _linear_op(n: int, k: int):
    text = f"""
func.func @main(%x: tensor<4x{k}xf32>) -> tensor<4x{n}xf32> {{
  %w = arith.constant dense<0.25> : tensor<{n}x{k}xf32>
  %b = arith.constant dense<0.0> : tensor<{n}xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x{k}xf32>, tensor<{n}x{k}xf32>, tensor<{n}xf32>) -> tensor<4x{n}xf32>
  return %y : tensor<4x{n}xf32>
}}
"""
    module = ir.Module.parse(text, new_context())
    found = []

    def visit(op):
        if op.name == "qc.linear":
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return module, found[0]


def test_cost_fp32_vs_w8a8_weight_bytes():
    module, op = _linear_op(64, 256)  # keep the module alive while the op is used
    cpu = targets.get("cpu")
    fp32 = cpu.cost(op, "fp32").weight_bytes
    w8 = cpu.cost(op, "w8a8").weight_bytes
    assert fp32 == 4 * 64 * 256  # 4 bytes per weight
    assert w8 == 64 * 256 + 4 * 64  # 1 byte per weight plus an f32 scale per output channel
    assert 3.9 < fp32 / w8 < 4.0
    assert 1.0 < w8 / (64 * 256) < 1.02


def test_cost_of_op_without_constant_weight_is_zero():
    module, op = _linear_op(8, 16)
    text = """
func.func @main(%a: tensor<2x4x8xf32>, %b: tensor<2x8x3xf32>) -> tensor<2x4x3xf32> {
  %y = "qc.matmul"(%a, %b) : (tensor<2x4x8xf32>, tensor<2x8x3xf32>) -> tensor<2x4x3xf32>
  return %y : tensor<2x4x3xf32>
}
"""
    m2 = ir.Module.parse(text, new_context())
    matmul = m2.body.operations[0].regions[0].blocks[0].operations[0]
    assert matmul.operation.name == "qc.matmul"
    assert targets.get("cpu").cost(matmul.operation, "fp32").weight_bytes == 0
    assert targets.get("cpu").cost(op, "fp32").weight_bytes == 4 * 8 * 16
