"""Attention over a KV cache: `qc.kv_attention` (f32 cache) and `qc.kv_attention_int8` (int8 cache + scales).

A compiled causal LM's step (prefill chunk or decode) calls one per layer (see `qcomp.lm_step`). Unlike every
other qc op these write an operand: the cache operands are buffers that the op updates in place (the step's
keys and values stored at their positions) before it reads them. They are therefore not `Pure`, and a cache
value must flow from a function argument straight into these ops (no other op may read or copy it), which
is how qc-from-torch creates them. Semantics: `reference.kv_attention`.
"""

from . import reference as ref
from ._mlir import Operand, Result, ir
from .qc import QC, Tensor, _attr, _Check, _etype, _float_operands, _int_width, _shape


def _verify(op, int8: bool) -> bool:
    c = _Check(op)
    _float_operands(c, op, ["q", "k", "v"])
    q, k, v, kc, vc = (_shape(op.operands[i]) for i in range(5))
    pos = _shape(op.operands[-1])
    c(len(q) == 4 and len(k) == 4, f"q and k must be [B, H, T, D] and [B, Hkv, T, D], got {q} and {k}")
    if not c.ok:
        return False
    b, h, t, d = q
    hkv = k[1]
    c(k == [b, hkv, t, d] and v == k, f"k and v must be [B, Hkv, T, D] = [{b}, Hkv, {t}, {d}], got {k} and {v}")
    c(hkv > 0 and h % hkv == 0, f"query heads {h} must be a multiple of the key/value heads {hkv}")
    c(len(kc) == 5 and kc[1:4] == [b, hkv, d], f"k_cache must be [L, {b}, {hkv}, {d}, S], got {kc}")
    if c.ok:
        c(vc == [kc[0], b, hkv, kc[4], d], f"v_cache must be [{kc[0]}, {b}, {hkv}, {kc[4]}, {d}], got {vc}")
    c(pos == [b] and _int_width(_etype(op.operands[-1])) == 64, f"pos must be i64 [{b}], got {pos}")
    elem = "i8" if int8 else "f32"
    for i, name in ((3, "k_cache"), (4, "v_cache")):
        c(str(_etype(op.operands[i])) == elem, f"{name} must hold {elem}, got {_etype(op.operands[i])}")
    if int8 and c.ok:
        c(d % ref.KV_GROUP == 0, f"head dim {d} must be a multiple of the key scale group {ref.KV_GROUP}")
        want = {5: kc[:3] + [d // ref.KV_GROUP, 2 * kc[4]], 6: kc[:3] + [2 * kc[4]]}
        for i, name in ((5, "k_scale"), (6, "v_scale")):
            c(_shape(op.operands[i]) == want[i], f"{name} must be {want[i]}, got {_shape(op.operands[i])}")
            c(str(_etype(op.operands[i])) == "i8", f"{name} must hold i8 (the f16 scales' bytes)")
    c(_shape(op.results[0]) == [b, t, h, d], f"result must be [B, T, H, D] = {[b, t, h, d]}")
    if c.ok:
        c(0 <= _attr(op, "layer") < kc[0], f"'layer' {_attr(op, 'layer')} out of range for {kc[0]} cache layers")
        c(_attr(op, "window") >= 0, "'window' must be >= 0")
        c(_attr(op, "scale") > 0, "'scale' must be > 0")
    return c.ok


class KvAttentionOp(QC.Operation, name="kv_attention"):
    """Causal attention of q over an f32 KV cache, after writing k, v into it (`reference.kv_attention`).

    q [B, H, T, D], k/v [B, Hkv, T, D], k_cache [L, B, Hkv, D, S], v_cache [L, B, Hkv, S, D], pos [B] i64 ->
    [B, T, H, D]. Attributes: layer (the cache's layer), scale (of the scores), window (0: full causal)."""

    q: Operand[Tensor]
    k: Operand[Tensor]
    v: Operand[Tensor]
    k_cache: Operand[Tensor]
    v_cache: Operand[Tensor]
    pos: Operand[Tensor]
    layer: ir.IntegerAttr
    scale: ir.FloatAttr
    window: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.kv_attention)

    def verify_invariants(self) -> bool:
        return _verify(self, int8=False)


class KvAttentionInt8Op(QC.Operation, name="kv_attention_int8"):
    """`qc.kv_attention` over an int8 cache: k_cache/v_cache i8 and their f16 scales as bytes (operands 5, 6,
    before pos): k_scale [L, B, Hkv, D / 16, 2 S] (one scale per token, head and 16 key channels), v_scale
    [L, B, Hkv, 2 S] (one per token and head). Keys and values are quantized as `reference.quantize_kv_rows`
    when written, dequantized when read."""

    q: Operand[Tensor]
    k: Operand[Tensor]
    v: Operand[Tensor]
    k_cache: Operand[Tensor]
    v_cache: Operand[Tensor]
    k_scale: Operand[Tensor]
    v_scale: Operand[Tensor]
    pos: Operand[Tensor]
    layer: ir.IntegerAttr
    scale: ir.FloatAttr
    window: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.kv_attention_int8)

    def verify_invariants(self) -> bool:
        return _verify(self, int8=True)
