"""ONNX writer for a LLaMA quantized by qcomp: QDQ weights or MatMulNBits, activations as the recipe says.

The graph (opset 21; `com.microsoft` for MatMulNBits) is the LLaMA forward on `input_ids` [batch, seq] ->
`logits` [batch, seq, vocab], without a KV cache: embedding Gather, RMSNorm from primitive ops, rotate-half
RoPE from precomputed cos/sin tables, grouped-query attention with a causal mask, SiLU-gated MLP.

Each quantized linear layer's weight is stored as qcomp's integer codes, transposed to MatMul's [K, N]:
- weights="qdq": `DequantizeLinear` (INT8, or INT4 at <= 4 bits) with one f32 scale per output channel
  (axis=1) or, for groups of g input channels, block-wise (axis=0, block_size=g) — exactly qcomp's values;
  zero points (`qc.wlinear_asym`) as DequantizeLinear's zero_point (UINT4 / UINT8 codes and zero points, the
  scale's shape): ONNX's (q - z) · s is qcomp's formula, so these too are exact;
- weights="nbits": weight-only layers of <= 4 bits as ONNX Runtime's `MatMulNBits` (codes + 8 in nibbles,
  the default zero point 8, one f32 scale per block of a power of two >= 16 dividing the group; with zero
  points: the unsigned codes and a packed u8 zero_points input); others QDQ.
Activations: qcomp's dynamic per-token int8 quantization is spelled out (max|x| / 127 per row, x · (1/s),
Round (half to even), Clip to ±127, times s); static per-tensor scales as QuantizeLinear/DequantizeLinear
with a Clip to ±127·s (qcomp's symmetric range). Float layers are plain MatMuls with f32 initializers.
The integer product runs in float in ONNX Runtime: outputs match qcomp's up to f32 summation order.
"""

from __future__ import annotations

import os

import numpy as np
from qcomp.dialects.errors import QcompError
from qcomp.export_llama import LlamaExport, QWeight
from qcomp.export_result import ExportResult

OPSET = 21


class _Graph:
    """Nodes and initializers with generated names."""

    def __init__(self):
        from onnx import helper  # deferred: onnx (heavy)

        self.h, self.nodes, self.inits, self.n = helper, [], [], 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, arr: np.ndarray, hint: str = "c") -> str:
        from onnx import numpy_helper  # deferred: onnx (heavy)

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def raw(self, hint: str, dtype: int, dims: list[int], data: bytes) -> str:
        name = self.name(hint)
        self.inits.append(self.h.make_tensor(name, dtype, dims, data, raw=True))
        return name

    def op(self, kind: str, *inputs: str, domain: str = "", **attrs) -> str:
        out = self.name(kind.lower())
        self.nodes.append(self.h.make_node(kind, list(inputs), [out], domain=domain or None, **attrs))
        return out


def _pack4(codes: np.ndarray) -> bytes:
    """Signed 4-bit codes, two per byte (element 2j low nibble), as ONNX INT4 raw data."""
    u = (codes.reshape(-1).astype(np.int8).view(np.uint8) & 0xF).astype(np.uint8)
    if u.size % 2:
        u = np.append(u, np.uint8(0))
    return (u[0::2] | (u[1::2] << 4)).tobytes()


def _nbits_block(w: QWeight) -> int | None:
    """The MatMulNBits block size for `w`: a power of two in [16, 128] dividing its group (and K), or None."""
    n, k = w.shape
    g = min(w.group, k)
    for b in (128, 64, 32, 16):
        if g % b == 0 and k % b == 0:
            return b
    return None


def _qdq_weight(g: _Graph, w: QWeight) -> str:
    from onnx import TensorProto  # deferred: onnx (heavy)

    n, k = w.shape
    codes_t, asym = w.codes.T, w.zero is not None  # [K, N]
    if w.bits <= 4:
        q = g.raw("wq", TensorProto.UINT4 if asym else TensorProto.INT4, [k, n], _pack4(codes_t))
    else:
        q = g.const(codes_t.astype(np.uint8 if asym else np.int8), "wq")
    per_channel = w.group >= k
    scale = w.scale[:, 0] if per_channel else w.scale.T
    inputs = [q, g.const(scale.astype(np.float32), "ws")]
    if asym:
        z = np.ascontiguousarray(w.zero[:, 0] if per_channel else w.zero.T)
        inputs.append(
            g.raw("wz", TensorProto.UINT4, list(z.shape), _pack4(z))
            if w.bits <= 4
            else g.const(z.astype(np.uint8), "wz")
        )
    if per_channel:
        return g.op("DequantizeLinear", *inputs, axis=1)
    return g.op("DequantizeLinear", *inputs, axis=0, block_size=w.group)


def _nbits(g: _Graph, x: str, w: QWeight, b: int) -> str:
    n, k = w.shape
    blocks = -(-k // b)
    asym = w.zero is not None
    u = w.codes.astype(np.uint8) if asym else (w.codes.astype(np.int16) + 8).astype(np.uint8)
    u = np.pad(u, ((0, 0), (0, blocks * b - k)), constant_values=0 if asym else 8).reshape(n, blocks, b)
    packed = u[..., 0::2] | (u[..., 1::2] << 4)
    cols = (np.arange(blocks) * b) // w.group
    scales = w.scale[:, cols].astype(np.float32).reshape(-1)
    inputs = [x, g.const(packed, "wnb"), g.const(scales, "wns")]
    if asym:  # u8 [N, ceil(blocks / 2)]: block 2j in the low nibble, 2j+1 in the high one
        z = np.pad(w.zero[:, cols].astype(np.uint8), ((0, 0), (0, blocks % 2)))
        inputs.append(g.const((z[:, 0::2] | (z[:, 1::2] << 4)).reshape(-1), "wnz"))
    return g.op("MatMulNBits", *inputs, domain="com.microsoft", K=k, N=n, bits=4, block_size=b)


def _activation(g: _Graph, x: str, act) -> str:
    """qcomp's activation quantization as float ops (dequantized back to f32)."""
    if act is None:
        return x
    if act[0] == "static":
        s = np.float32(act[1])
        zp = g.const(np.zeros((), np.int8), "zp")
        sc = g.const(np.array(s, np.float32), "as")
        d = g.op("DequantizeLinear", g.op("QuantizeLinear", x, sc, zp), sc, zp)
        return g.op("Clip", d, g.const(np.float32(-127) * s, "lo"), g.const(np.float32(127) * s, "hi"))
    axes = g.const(np.array([-1], np.int64), "axes")
    amax = g.op("ReduceMax", g.op("Abs", x), axes, keepdims=1)
    if act[1] != "per_token":
        amax = g.op("ReduceMax", amax, keepdims=1)
    s = g.op("Div", amax, g.const(np.float32(127), "qmax"))
    s = g.op("Where", g.op("Equal", s, g.const(np.float32(0), "zero")), g.const(np.float32(1), "one"), s)
    q = g.op("Round", g.op("Mul", x, g.op("Reciprocal", s)))
    q = g.op("Clip", q, g.const(np.float32(-127), "lo"), g.const(np.float32(127), "hi"))
    return g.op("Mul", q, s)


def _linear(g: _Graph, x: str, t, act, weights: str, counts: dict, notes: list, name: str) -> str:
    if not isinstance(t, QWeight):
        counts["MatMul f32"] = counts.get("MatMul f32", 0) + 1
        return g.op("MatMul", _activation(g, x, act), g.const(np.asarray(t, np.float32).T, "w"))
    if weights == "nbits" and t.bits <= 4 and act is None:
        b = _nbits_block(t)
        if b is not None:
            counts["MatMulNBits"] = counts.get("MatMulNBits", 0) + 1
            return _nbits(g, x, t, b)
        notes.append(f"{name}: no MatMulNBits block size divides its group of {t.group}: written as QDQ")
    kind = f"QDQ {'u' if t.zero is not None else ''}int{8 if t.bits > 4 else 4}"
    counts[kind] = counts.get(kind, 0) + 1
    return g.op("MatMul", _activation(g, x, act), _qdq_weight(g, t))


def _rope_tables(hp: dict) -> tuple[np.ndarray, np.ndarray]:
    hd, theta = hp["head_dim"], hp["rope_theta"]
    inv = 1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / hd))
    ang = np.outer(np.arange(hp["max_position_embeddings"], dtype=np.float32), inv.astype(np.float32))
    emb = np.concatenate([ang, ang], axis=-1)
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


def write_onnx(lx: LlamaExport, path: str, recipe=None, weights: str = "qdq") -> ExportResult:
    """Write `lx` as an ONNX model at `path` (see the module docstring); checked by `onnx.checker`."""
    try:
        import onnx  # deferred: onnx (heavy)
        from onnx import TensorProto, helper  # deferred: onnx (heavy)
    except ImportError:
        raise QcompError("ONNX export needs the onnx package (pip install 'qcomp[bench]')") from None
    if weights not in ("qdq", "nbits"):
        raise QcompError(f"onnx weights must be 'qdq' or 'nbits', got {weights!r}")
    hp, t, acts = lx.hparams, lx.tensors, lx.activations
    g, counts, notes = _Graph(), {}, list(lx.notes)
    hd, nh, nkv = hp["head_dim"], hp["num_attention_heads"], hp["num_key_value_heads"]
    i64 = lambda *v: g.const(np.array(v, np.int64), "shape")  # noqa: E731
    eps = g.const(np.float32(hp["rms_norm_eps"]), "eps")
    ax = i64(-1)
    seq = g.op("Gather", g.op("Shape", "input_ids"), i64(1), axis=0)  # [1]
    cos, sin = (
        g.op("Slice", g.const(a, n), i64(0), seq, i64(0)) for a, n in zip(_rope_tables(hp), ("cos", "sin"), strict=True)
    )
    pos = g.op("Range", g.const(np.int64(0), "start"), g.op("Squeeze", seq), g.const(np.int64(1), "step"))
    future = g.op("Greater", g.op("Unsqueeze", pos, i64(0)), g.op("Unsqueeze", pos, i64(1)))  # [T, T]: key > query
    mask = g.op("Where", future, g.const(np.float32(-np.inf), "ninf"), g.const(np.float32(0), "zero"))

    def norm(x: str, gamma: str) -> str:
        ms = g.op("ReduceMean", g.op("Mul", x, x), ax, keepdims=1)
        return g.op("Mul", g.op("Div", x, g.op("Sqrt", g.op("Add", ms, eps))), g.const(t[gamma], "gamma"))

    def lin(x: str, name: str) -> str:
        return _linear(g, x, t[name], acts.get(name), weights, counts, notes, name)

    def heads(x: str, n: int) -> str:  # [B, T, n*hd] -> [B, n, T, hd]
        return g.op("Transpose", g.op("Reshape", x, i64(0, 0, n, hd)), perm=[0, 2, 1, 3])

    def rope(x: str) -> str:
        x1, x2 = (g.op("Slice", x, i64(a), i64(b), ax) for a, b in ((0, hd // 2), (hd // 2, hd)))
        rot = g.op("Concat", g.op("Neg", x2), x1, axis=-1)
        return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rot, sin))

    def repeat(x: str) -> str:  # [B, nkv, T, hd] -> [B, nh, T, hd]
        if nh == nkv:
            return x
        x = g.op("Expand", g.op("Unsqueeze", x, i64(2)), i64(1, 1, nh // nkv, 1, 1))
        return g.op("Reshape", x, i64(0, nh, -1, hd))

    x = g.op("Gather", g.const(t["token_embd.weight"], "embed"), "input_ids", axis=0)
    scale = g.const(np.float32(1.0 / np.sqrt(hd)), "scale")
    for i in range(hp["num_hidden_layers"]):
        b = f"blk.{i}."
        y = norm(x, b + "attn_norm.weight")
        q = rope(heads(lin(y, b + "attn_q.weight"), nh))
        k = repeat(rope(heads(lin(y, b + "attn_k.weight"), nkv)))
        v = repeat(heads(lin(y, b + "attn_v.weight"), nkv))
        s = g.op("Add", g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale), mask)
        a = g.op("Transpose", g.op("MatMul", g.op("Softmax", s, axis=-1), v), perm=[0, 2, 1, 3])
        x = g.op("Add", x, lin(g.op("Reshape", a, i64(0, 0, nh * hd)), b + "attn_output.weight"))
        y = norm(x, b + "ffn_norm.weight")
        gate = lin(y, b + "ffn_gate.weight")
        m = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), lin(y, b + "ffn_up.weight"))
        x = g.op("Add", x, lin(m, b + "ffn_down.weight"))
    logits = lin(norm(x, "output_norm.weight"), "output.weight")
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    graph = helper.make_graph(
        g.nodes,
        f"qcomp-{recipe.name if recipe else 'llama'}",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", hp["vocab_size"]])],
        g.inits,
    )
    opsets = [helper.make_opsetid("", OPSET)] + (
        [helper.make_opsetid("com.microsoft", 1)] if weights == "nbits" else []
    )
    model = helper.make_model(graph, opset_imports=opsets, producer_name="qcomp")
    if recipe is not None:
        helper.set_model_props(model, {"qcomp.recipe": recipe.name, "qcomp.pipeline": recipe.pipeline})
    big = model.ByteSize() > 1_800_000_000 if hasattr(model, "ByteSize") else False
    tmp = path + ".tmp"
    if big:
        onnx.save_model(model, tmp, save_as_external_data=True, location=os.path.basename(path) + ".data")
    else:
        onnx.save_model(model, tmp)
    onnx.checker.check_model(tmp)
    os.replace(tmp, path)
    return ExportResult(path, "onnx", recipe.name if recipe else "", counts, os.path.getsize(path), notes)
