"""The CPU target's lowering table, one explicit table: every qc op it runs -> the function that writes the op's
private function in linalg text (`Fn`). qc-lower-to-linalg dispatches on it; the target's capabilities list its
ops. A new lowering is one line here (`test_cpu_lowering_table` fails on a `lower_*` function left out)."""

from collections.abc import Callable

from . import lower_attention as attention
from . import lower_float_formats as float_formats
from . import lower_ops as ops
from . import lower_qlinear_grouped as grouped
from . import lower_quant_ops as quant
from . import lower_softmax as softmax

Lowering = Callable[..., list[str]]  # (fn: Fn, attrs: dict) -> the SSA names the function returns

LOWERINGS: dict[str, Lowering] = {
    # compute and structure (lower_ops.py)
    "linear": ops.lower_linear,
    "matmul": ops.lower_matmul,
    "conv2d": ops.lower_conv2d,
    "embedding": ops.lower_embedding,
    "layer_norm": ops.lower_layer_norm,
    "rms_norm": ops.lower_rms_norm,
    "gelu": ops.lower_gelu,
    "silu": ops.lower_silu,
    "relu": ops.lower_relu,
    "add": ops.lower_add,
    "mul": ops.lower_mul,
    "channel_scale": ops.lower_channel_scale,
    "channel_permute": ops.lower_channel_permute,
    # integer quantization (lower_ops.py, lower_quant_ops.py)
    "quantize": ops.lower_quantize,
    "quantize_dynamic": ops.lower_quantize_dynamic,
    "dequantize": ops.lower_dequantize,
    "requantize": ops.lower_requantize,
    "qlinear": ops.lower_qlinear,
    "qlinear_gated": ops.lower_qlinear_gated,
    "qmatmul": ops.lower_qmatmul,
    "qconv2d": ops.lower_qconv2d,
    "qlinear_grouped": grouped.lower_qlinear_grouped,
    "qlinear_grouped_asym": grouped.lower_qlinear_grouped_asym,
    "wlinear": quant.lower_wlinear,
    "wlinear_asym": quant.lower_wlinear_asym,
    "rms_norm_quantize": quant.lower_rms_norm_quantize,
    "layer_norm_quantize": quant.lower_layer_norm_quantize,
    # softmax (lower_softmax.py)
    "softmax": softmax.lower_softmax,
    "masked_softmax": softmax.lower_masked_softmax,
    # attention over a KV cache (lower_attention.py)
    "kv_attention": attention.lower_kv_attention,
    "kv_attention_int8": attention.lower_kv_attention_int8,
    # float number formats (lower_float_formats.py)
    "fp_wlinear": float_formats.lower_fp_wlinear,
    "fp_fake_quant": float_formats.lower_fp_fake_quant,
    "fp_fake_quant_static": float_formats.lower_fp_fake_quant_static,
}
