"""GGUF (llama.cpp) writer for a LLaMA quantized by qcomp: weights in the block type that holds qcomp's codes.

- int8 codes (5..8 bits) -> Q8_0: blocks of 32 input channels, an f16 scale and 32 i8 codes each;
- int2..4 codes          -> Q4_0: blocks of 32, an f16 scale and 32 nibbles holding code + 8;
- int2..4 codes with zero points (qc.wlinear_asym) -> Q4_1: blocks of 32, an f16 scale d, an f16 offset m and
  32 nibbles holding the unsigned code q; llama.cpp's value q·d + m is qcomp's (q - z)·s with d = f16(s),
  m = f16(-z·s) (see below); wider asymmetric codes have no GGUF weight type (Q8_1 is llama.cpp's activation
  type only) and are refused, or written as F32 with fallback="f32";
- float tensors (embedding, norms, layers the recipe kept in float) -> F32, unchanged.

A scale per output channel or per group of g input channels becomes the scale of every 32-block it covers,
so the integer codes are written unchanged when K (and g) are multiples of 32; otherwise the layer cannot be
re-expressed and is refused by name (or written as F32 of its dequantized values with fallback="f32").
GGUF stores block scales as f16: the file's dequantized weight is code · f16(scale), bit for bit, and differs
from qcomp's code · f32 scale by the f16 rounding of the scale (relative <= 2^-11; `stats` reports the
largest). A scale outside f16's normal range would change by more and is refused.
Q4_1 cannot hold the zero point as an integer: its offset m = f16(-z·s) is rounded on its own, so the file's
value q·f16(s) + f16(-z·s) differs from qcomp's (q - z)·s by at most (q + z)·2^-11·s <= 30·2^-11·s, under 1.5%
of one quantization step (`stats["max_q4_1_step_change"]` reports the largest, in steps).

Activations: llama.cpp quantizes them itself (dynamically, blocks of 32, for Q8_0/Q4_0 matmuls), which is
finer than qcomp's per-token int8; static activation scales have no counterpart and are refused.
"""

from __future__ import annotations

import json
import os

import numpy as np
from qcomp.dialects.errors import QcompError
from qcomp.export_llama import LlamaExport, QWeight
from qcomp.export_result import ExportResult

BLOCK = 32
F16_TINY = float(np.finfo(np.float16).tiny)  # smallest normal f16


def f16_scales(w: QWeight) -> np.ndarray:
    """The scale of each 32-block of each row, as the f16 values the file holds: [N, K / 32]."""
    n, k = w.shape
    cols = np.arange(0, k, BLOCK) // w.group
    return np.ascontiguousarray(w.scale[:, cols].astype(np.float16))


def block_layout_error(w: QWeight) -> str | None:
    """Why `w`'s codes cannot be written as 32-blocks without changing a value, or None."""
    n, k = w.shape
    if k % BLOCK:
        return f"its {k} input channels are not a multiple of the {BLOCK}-wide GGUF block"
    if w.group < k and w.group % BLOCK:
        return f"its scale groups of {w.group} input channels do not cover whole {BLOCK}-blocks"
    s = w.scale.astype(np.float64)
    if np.any(~np.isfinite(s)) or np.any(np.abs(s) < F16_TINY) or np.any(np.abs(s) > np.finfo(np.float16).max):
        return f"a scale ({float(np.abs(s).min()):.3g}..{float(np.abs(s).max()):.3g}) is outside f16's normal range"
    if w.zero is not None and w.bits > 4:
        return (
            f"GGUF has no weight type for {w.bits}-bit codes with a zero point "
            "(Q4_1 holds 4 bits; Q8_1 is llama.cpp's activation type only)"
        )
    if w.zero is not None and np.any(s * w.zero > np.finfo(np.float16).max):
        return "an offset zero point · scale is outside f16's range"
    return None


def q4_1_offsets(w: QWeight) -> np.ndarray:
    """The offset m = -z·s of each 32-block of each row, as the f16 values the file holds: [N, K / 32]."""
    n, k = w.shape
    cols = np.arange(0, k, BLOCK) // w.group
    return np.ascontiguousarray(
        (np.float32(0) - w.zero[:, cols].astype(np.float32) * w.scale[:, cols]).astype(np.float16)
    )


def q8_0_bytes(w: QWeight) -> np.ndarray:
    """[N, K/32 · 34] bytes: per block an f16 scale then 32 i8 codes."""
    n, k = w.shape
    d = f16_scales(w).view(np.uint8).reshape(n, k // BLOCK, 2)
    qs = w.codes.astype(np.int8).view(np.uint8).reshape(n, k // BLOCK, BLOCK)
    return np.concatenate([d, qs], axis=-1).reshape(n, -1)


def q4_0_bytes(w: QWeight) -> np.ndarray:
    """[N, K/32 · 18] bytes: per block an f16 scale, then byte j = (code j + 8) | (code j+16 + 8) << 4."""
    n, k = w.shape
    d = f16_scales(w).view(np.uint8).reshape(n, k // BLOCK, 2)
    u = (w.codes.astype(np.int16) + 8).astype(np.uint8).reshape(n, k // BLOCK, BLOCK)
    qs = u[..., : BLOCK // 2] | (u[..., BLOCK // 2 :] << 4)
    return np.concatenate([d, qs], axis=-1).reshape(n, -1)


def q4_1_bytes(w: QWeight) -> np.ndarray:
    """[N, K/32 · 20] bytes: per block f16 d, f16 m, then byte j = q j | q j+16 << 4 (llama.cpp's block_q4_1)."""
    n, k = w.shape
    d = f16_scales(w).view(np.uint8).reshape(n, k // BLOCK, 2)
    m = q4_1_offsets(w).view(np.uint8).reshape(n, k // BLOCK, 2)
    u = w.codes.astype(np.uint8).reshape(n, k // BLOCK, BLOCK)
    qs = u[..., : BLOCK // 2] | (u[..., BLOCK // 2 :] << 4)
    return np.concatenate([d, m, qs], axis=-1).reshape(n, -1)


def qk_rows(rows: int, heads: int) -> np.ndarray:
    """llama.cpp's row order of a q/k projection (HF rotate-half halves -> interleaved pairs), as convert_hf_to_gguf."""
    return np.arange(rows).reshape(heads, 2, rows // heads // 2).swapaxes(1, 2).reshape(-1)


def _tokenizer(w, tok, hp: dict, notes: list[str]) -> None:
    """Byte-level BPE vocabulary (tokens, types, merges, special ids) from a transformers fast tokenizer."""
    import gguf  # deferred: gguf (heavy)

    data = json.loads(tok.backend_tokenizer.to_str())
    model = data.get("model", {})
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise QcompError(
            f"tokenizer model {model.get('type')!r}{' with byte fallback' if model.get('byte_fallback') else ''}: "
            "GGUF export writes byte-level BPE (gpt2-style) vocabularies only; pass no tokenizer to write none"
        )
    vocab = {i: t for t, i in model["vocab"].items()}
    types = dict.fromkeys(vocab, gguf.TokenType.NORMAL)
    for t in data.get("added_tokens", []):
        vocab[t["id"]] = t["content"]
        types[t["id"]] = gguf.TokenType.CONTROL if t["special"] else gguf.TokenType.USER_DEFINED
    n = hp["vocab_size"]
    for i in range(n):  # rows of the embedding no token uses (padding to a round vocabulary size)
        if i not in vocab:
            vocab[i], types[i] = f"[PAD{i}]", gguf.TokenType.UNUSED
    name = (getattr(tok, "name_or_path", "") or "").lower()
    pre = "smollm" if "smollm" in name else "default"
    if pre == "default":
        notes.append("tokenizer pre-tokenizer written as 'default' (llama.cpp's GPT-2 regex)")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list([vocab[i] for i in range(n)])
    w.add_token_types([types[i] for i in range(n)])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])])
    for key, add in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id)):
        v = getattr(tok, key, None)
        v = hp.get(key) if v is None else v
        if isinstance(v, int):
            add(v)
    for key, add in (("unk_token_id", w.add_unk_token_id), ("pad_token_id", w.add_pad_token_id)):
        v = getattr(tok, key, None)
        if isinstance(v, int):
            add(v)
    w.add_add_bos_token(False)
    w.add_add_space_prefix(False)


def _tensor(w, name: str, t, lx: LlamaExport, fallback: str, stats: dict) -> str:
    """Write one tensor; returns the GGUF type name used."""
    import gguf  # deferred: gguf (heavy)

    hp = lx.hparams
    heads = {"attn_q": hp["num_attention_heads"], "attn_k": hp["num_key_value_heads"]}.get(name.split(".")[-2])
    if heads:
        perm = qk_rows(t.shape[0], heads)
        t = t.rows(perm) if isinstance(t, QWeight) else t[perm]
    if isinstance(t, QWeight):
        why = block_layout_error(t)
        if why is None:
            cols = np.arange(0, t.shape[1], BLOCK) // t.group
            rel = np.abs(f16_scales(t).astype(np.float32) / t.scale[:, cols] - 1)
            stats["max_scale_rel_change"] = max(stats.get("max_scale_rel_change", 0.0), float(rel.max()))
            if t.zero is not None:
                kind, data = gguf.GGMLQuantizationType.Q4_1, q4_1_bytes(t)
                stats["max_q4_1_step_change"] = max(stats.get("max_q4_1_step_change", 0.0), q4_1_step_change(t))
            elif t.bits > 4:
                kind, data = gguf.GGMLQuantizationType.Q8_0, q8_0_bytes(t)
            else:
                kind, data = gguf.GGMLQuantizationType.Q4_0, q4_0_bytes(t)
            w.add_tensor(name, data, raw_dtype=kind)
            return kind.name
        if fallback == "error":
            raise QcompError(
                f"{name} ({lx.locations[name]}): int{t.bits} weight with {_grouping(t)} cannot be written as "
                f"Q8_0/Q4_0/Q4_1 unchanged: {why} (fallback='f32' writes its dequantized values)"
            )
        t = t.dequantize()
    w.add_tensor(name, np.ascontiguousarray(t, np.float32))
    return "F32"


def _grouping(t: QWeight) -> str:
    zp = " and zero points" if t.zero is not None else ""
    return f"one scale{zp} per output channel" if t.group >= t.shape[1] else f"scales{zp} per {t.group} input channels"


def q4_1_values(t: QWeight) -> np.ndarray:
    """The f32 weight llama.cpp reads from `t`'s Q4_1 blocks: q · f32(d) + f32(m) (ggml's dequantize_row_q4_1)."""
    n, k = t.shape
    d = np.repeat(f16_scales(t).astype(np.float32), BLOCK, axis=1)
    m = np.repeat(q4_1_offsets(t).astype(np.float32), BLOCK, axis=1)
    return t.codes.astype(np.float32) * d + m


def q4_1_step_change(t: QWeight) -> float:
    """Largest |Q4_1 value - qcomp's value| over the weight, in units of the block's quantization step s."""
    s = t.scale[:, np.arange(t.shape[1]) // t.group]
    return float((np.abs(q4_1_values(t) - t.dequantize()) / s).max())


def write_gguf(
    lx: LlamaExport, path: str, tokenizer=None, fallback="error", recipe=None, static_activations="error"
) -> ExportResult:
    """Write `lx` as a llama-architecture GGUF at `path` (see the module docstring)."""
    import gguf  # deferred: gguf (heavy)

    hp, notes, stats = lx.hparams, list(lx.notes), {}
    static = sorted(n for n, a in lx.activations.items() if a and a[0] == "static")
    if static and static_activations == "error":
        raise QcompError(
            f"{static[0]} ({lx.locations[static[0]]}): static activation scales have no GGUF counterpart "
            "(llama.cpp quantizes activations dynamically); export a dynamic recipe or pass static_activations='drop'"
        )
    if any(lx.activations.values()):
        notes.append(
            "activations: qcomp quantizes them per token (int8); llama.cpp quantizes them itself, per block of 32"
        )
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name(f"qcomp {recipe.name if recipe else ''}".strip())
    w.add_vocab_size(hp["vocab_size"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_block_count(hp["num_hidden_layers"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(hp["num_key_value_heads"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])
    w.add_rope_dimension_count(hp["head_dim"])
    w.add_rope_freq_base(hp["rope_theta"])
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    if recipe is not None:
        w.add_string("qcomp.recipe", recipe.name)
        w.add_string("qcomp.pipeline", recipe.pipeline)
    if tokenizer is not None:
        _tokenizer(w, tokenizer, hp, notes)
    else:  # llama.cpp's "no_vocab" model: it loads and runs on token ids, it cannot tokenize text
        w.add_tokenizer_model("no_vocab")
        notes.append("no tokenizer given: the file holds no vocabulary (llama.cpp runs it on token ids)")
    types: dict[str, int] = {}
    for name, t in lx.tensors.items():
        kind = _tensor(w, name, t, lx, fallback, stats)
        types[kind] = types.get(kind, 0) + 1
    counts = {k: types.get(k, 0) for k in ("Q8_0", "Q4_0", "Q4_1")}
    top = max(counts, key=counts.get)
    ftype = f"MOSTLY_{top}" if counts[top] else "ALL_F32"
    w.add_file_type(gguf.LlamaFileType[ftype])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    if "max_scale_rel_change" in stats:
        notes.append(f"block scales stored as f16: largest relative change {stats['max_scale_rel_change']:.2e}")
    if "max_q4_1_step_change" in stats:
        notes.append(
            f"Q4_1 offsets m = f16(-zero point · scale): values within {stats['max_q4_1_step_change']:.2e} "
            "of a quantization step of qcomp's"
        )
    return ExportResult(path, "gguf", recipe.name if recipe else "", types, os.path.getsize(path), notes, stats)
