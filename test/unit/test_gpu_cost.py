"""The GPU target's cost model reads precisions with the floor's `Precision` (issue 18): weight bytes per
weight width, float layers at 4 bytes, a one-line error for a text that names no precision."""

import pytest
from qcomp import targets
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError

N, K = 64, 256
TEXT = f"""
func.func @main(%x: tensor<4x{K}xf32>) -> tensor<4x{N}xf32> {{
  %w = arith.constant dense<0.25> : tensor<{N}x{K}xf32>
  %b = arith.constant dense<0.0> : tensor<{N}xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x{K}xf32>, tensor<{N}x{K}xf32>, tensor<{N}xf32>) -> tensor<4x{N}xf32>
  return %y : tensor<4x{N}xf32>
}}
"""


@pytest.fixture(scope="module")
def linear():
    module = ir.Module.parse(TEXT, new_context())
    ops = module.body.operations[0].regions[0].blocks[0].operations
    op = next(o for o in ops if o.operation.name == "qc.linear")
    return module, op.operation  # the module keeps the op alive


@pytest.mark.parametrize(
    ("precision", "want"),
    [
        ("fp32", 4 * N * K),  # 4 bytes per weight, no scales
        ("w8a8", N * K + 4 * N),  # a byte per weight and an f32 scale per output channel
        ("w4a16g128", N * K // 2 + 4 * N),  # two weights per byte
        ("fp8-w8a8", N * K + 4 * N),  # a number format: its weight bits
    ],
)
def test_gpu_weight_bytes(linear, precision, want):
    assert targets.get("gpu").cost(linear[1], precision).weight_bytes == want


def test_gpu_latency_grows_with_weight_bytes(linear):
    gpu = targets.get("gpu")
    assert gpu.cost(linear[1], "w4a16").latency_s < gpu.cost(linear[1], "fp32").latency_s


@pytest.mark.parametrize("text", ["w8", "int8", "w9a8"])
def test_gpu_refuses_a_text_that_names_no_precision(linear, text):
    with pytest.raises(QcompError, match=r"^gpu target: ") as e:
        targets.get("gpu").cost(linear[1], text)
    assert "\n" not in str(e.value)
