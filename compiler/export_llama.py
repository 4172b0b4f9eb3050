"""A LLaMA-family model as a qcomp recipe quantized it: named tensors read back from the quantized `qc` graph.

The recipe's passes leave every weight in the IR as a constant operand of its op (see `qcomp.weights`):
`qc.embedding` (table), `qc.rms_norm` (gamma: smoothing and rotation fold into it), `qc.linear` (a float
layer), `qc.qlinear` (int8-activation layer: i8 codes [N, K], f32 scale per output channel, the width in
`qc.precision = "w<b>a8"`), `qc.wlinear` (weight-only: codes [N, K] or packed two per byte at <= 4 bits,
f32 scale [N, ceil(K / group)]) and `qc.wlinear_asym` (weight-only with zero points: unsigned codes, f32 scale
and u8 zero point [N, ceil(K / group)]). Rotations and smoothing are already folded into these constants; whatever
the passes could not fold is an extra op on the activation path, which the exporters refuse
(`refusals`): no runtime that reads a plain LLaMA file executes it.

The ops are matched, in program order, against the LLaMA block (HF's LlamaForCausalLM forward order):
embedding, then per layer rms_norm, q, k, v, o, rms_norm, gate, up, down, then the final rms_norm and lm_head;
shapes are checked against the model's config. Tensors are named as GGUF names them (`blk.3.attn_q.weight`)
and kept in HF row order (the GGUF writer applies llama.cpp's q/k row permutation).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
from qcomp.dialects import reference as ref
from qcomp.dialects import reference_asym as ra
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant_array

LINEARS = ("qc.linear", "qc.qlinear", "qc.wlinear", "qc.wlinear_asym")
BLOCK = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")
HF_NAMES = {  # GGUF name in blk.{i} -> HF parameter in model.layers.{i}
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
# ops on the activation path that a plain LLaMA file cannot express, and why
REFUSED = {
    "qc.channel_scale": "an online per-channel activation scale (smoothing the passes could not fold)",
    "qc.channel_permute": "an online channel permutation (reordering the passes could not fold)",
    "qc.qmatmul": "a quantized attention matmul (activation x activation in int8)",
    "qc.layer_norm": "a LayerNorm (LLaMA-family models use RMSNorm)",
    "qc.conv2d": "a convolution",
    "qc.qconv2d": "a convolution",
}


@dataclass
class QWeight:
    """A linear layer's weight as qcomp quantized it: w[n, k] = f32(codes[n, k]) · scale[n, k // group], or with
    zero points w[n, k] = f32(i32(codes[n, k]) - i32(zero[n, k // group])) · scale[n, k // group]."""

    codes: np.ndarray  # i8 [N, K] symmetric in [-(2^(bits-1)-1), 2^(bits-1)-1]; u8 in [0, 2^bits - 1] with zero
    scale: np.ndarray  # f32 [N, G], G = ceil(K / group)
    bits: int
    group: int  # input channels per scale; K for one scale per output channel
    zero: np.ndarray | None = None  # u8 [N, G]: zero points (qc.wlinear_asym), None when symmetric

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def dequantize(self, scale: np.ndarray | None = None) -> np.ndarray:
        """The f32 weight (with `scale` in place of the layer's own scales, e.g. as a file stores them)."""
        s = self.scale if scale is None else scale
        k = self.codes.shape[1]
        if self.zero is not None:
            return ra.dequantize_weight_asym(
                self.codes.view(np.int8), s, self.zero.view(np.int8), bits=8, group=self.group, k=k
            )
        return ref.dequantize_weight(self.codes, s, bits=8, group=self.group, k=k)

    def rows(self, perm: np.ndarray) -> QWeight:
        zero = None if self.zero is None else np.ascontiguousarray(self.zero[perm])
        return QWeight(
            np.ascontiguousarray(self.codes[perm]), np.ascontiguousarray(self.scale[perm]), self.bits, self.group, zero
        )


@dataclass
class LlamaExport:
    """What an exporter writes: hyper-parameters, tensors by GGUF name (f32 arrays or QWeight), the activation
    quantization of each linear layer (None: float; ("dynamic", granularity); ("static", scale)), the IR
    location of each tensor's op (for error messages) and notes on what the file cannot say."""

    hparams: dict
    tensors: dict[str, np.ndarray | QWeight]
    activations: dict[str, tuple | None]
    locations: dict[str, str]
    notes: list[str] = field(default_factory=list)


def hf_config(model):
    """The transformers config of `model` (a causal LM or qcomp's logits wrapper around one)."""
    for m in (model, getattr(model, "lm", None)):
        if m is not None and hasattr(m, "config"):
            return m.config
    raise QcompError(f"{type(model).__name__}: export needs a transformers causal LM (no .config found)")


def llama_hparams(config) -> dict:
    """The hyper-parameters an exporter needs, refusing what the LLaMA graph of llama.cpp/ONNX lacks."""
    arch = getattr(config, "model_type", "?")
    if arch != "llama":
        raise QcompError(f"model type {arch!r}: export supports LLaMA-family models (model_type 'llama')")
    heads = config.num_attention_heads
    rope = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind not in ("default", None):
        raise QcompError(f"rope scaling {kind!r}: export writes plain RoPE only")
    theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise QcompError("attention_bias/mlp_bias: the LLaMA graph of the exporters has no biases")
    return {
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": getattr(config, "num_key_value_heads", None) or heads,
        "head_dim": getattr(config, "head_dim", None) or config.hidden_size // heads,
        "rms_norm_eps": float(config.rms_norm_eps),
        "rope_theta": float(theta),
        "max_position_embeddings": config.max_position_embeddings,
        "tie_word_embeddings": bool(getattr(config, "tie_word_embeddings", False)),
        "bos_token_id": getattr(config, "bos_token_id", None),
        "eos_token_id": getattr(config, "eos_token_id", None),
    }


def where(op) -> str:
    """A short source position of `op`: the first frame outside torch.nn of its call-site location."""
    frames = re.findall(r'"([^"]+)":(\d+)', str(op.location))
    pick = next(((f, n) for f, n in frames if "/torch/nn/" not in f), frames[0] if frames else None)
    return f"{os.path.basename(pick[0])}:{pick[1]}" if pick else str(op.location)


def _const(op, index: int, what: str) -> np.ndarray:
    arr = constant_array(op.operands[index])
    if arr is None:
        raise QcompError(f"{where(op)}: {op.name}'s {what} is not a constant: it cannot be written to a file")
    return np.asarray(arr)


def _producer(v: ir.Value):
    owner = v.owner
    return None if isinstance(owner, ir.Block) else owner


def _linear(op, name: str) -> tuple[np.ndarray | QWeight, tuple | None]:
    """(weight, activation quantization) of a linear-family op."""
    bias = constant_array(op.operands[-1])
    if bias is None or np.any(bias != 0):
        raise QcompError(f"{where(op)}: {name} has a bias: the LLaMA graph has none")
    if op.name == "qc.linear":
        return np.asarray(_const(op, 1, "weight"), np.float32), None
    if op.name == "qc.wlinear":
        bits, group = (ir.IntegerAttr(op.attributes[k]).value for k in ("bits", "group"))
        codes, scale = _const(op, 1, "weight"), _const(op, 2, "weight scale")
        k = ir.RankedTensorType(op.operands[0].type).shape[-1]
        codes = ref.unpack_int4(codes, k) if bits <= 4 else codes.astype(np.int8)
        return QWeight(codes, scale.reshape(codes.shape[0], -1).astype(np.float32), bits, group), None
    if op.name == "qc.wlinear_asym":
        bits, group = (ir.IntegerAttr(op.attributes[k]).value for k in ("bits", "group"))
        codes, scale, zp = _const(op, 1, "weight"), _const(op, 2, "weight scale"), _const(op, 3, "zero point")
        k = ir.RankedTensorType(op.operands[0].type).shape[-1]
        codes = ra.unpack_uint4(codes, k) if bits <= 4 else codes.astype(np.int8).view(np.uint8)
        n = codes.shape[0]
        zero = np.ascontiguousarray(zp.astype(np.int8).view(np.uint8).reshape(n, -1))
        return QWeight(codes, scale.reshape(n, -1).astype(np.float32), bits, group, zero), None
    prec = ir.StringAttr(op.attributes["qc.precision"]).value  # qc.qlinear: "w<bits>a8"
    codes, scale = _const(op, 2, "weight"), _const(op, 3, "weight scale")
    w = QWeight(codes.astype(np.int8), scale.reshape(-1, 1).astype(np.float32), int(prec[1]), codes.shape[1])
    src = _producer(op.operands[1])
    if src is not None and src.name == "qc.quantize_dynamic":
        act = ("dynamic", ir.StringAttr(src.attributes["granularity"]).value)
    else:
        act = ("static", float(_const(op, 1, "activation scale").reshape(-1)[0]))
    return w, act


def refusals(module: ir.Module) -> list[str]:
    """One line per op of the quantized graph that a plain LLaMA file cannot express."""
    out = [f"{where(op)}: {op.name} is {why}" for op in ops_named(module, *REFUSED) for why in [REFUSED[op.name]]]
    for op in ops_named(module, *LINEARS):
        x = _producer(op.operands[0])
        if x is not None and x.name == "tensor.extract_slice":
            out.append(
                f"{where(op)}: a linear layer reads a slice of its input's channels (qc-split-outliers / "
                "qc-reorder-channels outlier split): a file holds one weight per layer"
            )
            break
    return out


def extract(module: ir.Module, config) -> LlamaExport:
    """Name the quantized graph's tensors as the LLaMA block; one-line QcompError where it is not one."""
    hp = llama_hparams(config)
    bad = refusals(module)
    if bad:
        raise QcompError(f"cannot export: {bad[0]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    ops = ops_named(module, "qc.embedding", "qc.rms_norm", *LINEARS)
    layers = hp["num_hidden_layers"]
    names = ["token_embd.weight"]
    names += [f"blk.{i}.{t}.weight" for i in range(layers) for t in BLOCK] + ["output_norm.weight", "output.weight"]
    kinds = [op.name for op in ops]
    want = ["qc.embedding"] + [("qc.rms_norm" if "norm" in n else "linear") for n in names[1:]]
    got = ["linear" if k in LINEARS else k for k in kinds]
    if got != want:
        i = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        at = f"at {where(ops[i])}: found {kinds[i]}" if i < len(ops) else "the graph ends early"
        raise QcompError(
            f"the quantized graph is not a {layers}-layer LLaMA ({len(got)} weight ops, want {len(want)}); "
            f"tensor {names[min(i, len(names) - 1)]} expected {want[min(i, len(want) - 1)]} {at}"
        )
    out = LlamaExport(hp, {}, {}, {})
    for name, op in zip(names, ops, strict=True):
        out.locations[name] = where(op)
        if op.name == "qc.embedding":
            out.tensors[name] = np.asarray(_const(op, 0, "table"), np.float32)
        elif op.name == "qc.rms_norm":
            out.tensors[name] = np.asarray(_const(op, 1, "gamma"), np.float32)
            eps = ir.FloatAttr(op.attributes["eps"]).value
            if not np.isclose(eps, hp["rms_norm_eps"], rtol=1e-6):
                raise QcompError(f"{where(op)}: rms_norm eps {eps} differs from the config's {hp['rms_norm_eps']}")
        else:
            out.tensors[name], out.activations[name] = _linear(op, name)
    _check_shapes(out)
    return out


def _check_shapes(lx: LlamaExport) -> None:
    hp = lx.hparams
    d, ff, hd = hp["hidden_size"], hp["intermediate_size"], hp["head_dim"]
    q, kv = hp["num_attention_heads"] * hd, hp["num_key_value_heads"] * hd
    shapes = {"attn_q": (q, d), "attn_k": (kv, d), "attn_v": (kv, d), "attn_output": (d, q)}
    shapes.update({"ffn_gate": (ff, d), "ffn_up": (ff, d), "ffn_down": (d, ff), "attn_norm": (d,), "ffn_norm": (d,)})
    want = {"token_embd.weight": (hp["vocab_size"], d), "output.weight": (hp["vocab_size"], d)}
    want["output_norm.weight"] = (d,)
    for name, t in lx.tensors.items():
        shape = want.get(name) or shapes[name.split(".")[2]]
        if tuple(t.shape) != shape:
            raise QcompError(f"{lx.locations[name]}: {name} has shape {tuple(t.shape)}, the config says {shape}")
