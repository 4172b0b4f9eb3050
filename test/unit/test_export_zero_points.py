"""Export of zero-point weights (qc.wlinear_asym): GGUF Q4_1 blocks decoded independently, ONNX zero points run by
ONNX Runtime, one-line refusals for what neither file can hold."""

import numpy as np
import pytest
from qcomp.dialects import reference_asym as ra
from qcomp.dialects.errors import QcompError
from qcomp.export_gguf import qk_rows, write_gguf
from qcomp.export_llama import LlamaExport, QWeight
from qcomp.export_model import quantized_module
from qcomp.recipes import Recipe, get_recipe
from test_export import fake_quant_reference, hf_params, tiny_llama

_CACHE: dict = {}


def asym_g32():
    """(HF model, ids, LlamaExport, Recipe): the tiny LLaMA under w4a16-asym with groups of 32 (one per Q4_1 block)."""
    if not _CACHE:
        from qcomp.examples.models import LogitsOnly
        from qcomp.export_llama import extract

        base = get_recipe("w4a16-asym")
        rec = Recipe("w4a16-asym-g32", 1, base.pipeline.replace("group=128", "group=32"))
        lm, ids = tiny_llama()
        module, rec = quantized_module(LogitsOnly(lm), (ids,), rec)
        _CACHE["m"] = (lm, ids, extract(module, lm.config), rec)
    return _CACHE["m"]


def decode_q4_1(raw: np.ndarray, n: int, k: int):
    """llama.cpp's block_q4_1 read with numpy: {f16 d; f16 m; u8 qs[16]}, element j in the low nibble of qs[j],
    element j + 16 in its high nibble; value q · d + m. Returns (q, d, m, values) per element / per block."""
    b = np.asarray(raw, np.uint8).reshape(n, k // 32, 20)
    d, m = b[..., 0:2].copy().view(np.float16)[..., 0], b[..., 2:4].copy().view(np.float16)[..., 0]
    q = np.concatenate([b[..., 4:] & 0xF, b[..., 4:] >> 4], axis=-1).reshape(n, k)
    values = q.astype(np.float32) * np.repeat(d.astype(np.float32), 32, 1) + np.repeat(m.astype(np.float32), 32, 1)
    return q, d, m, values


def test_gguf_q4_1_blocks_hold_qcomp_codes(tmp_path):
    """Every Q4_1 block: codes = qcomp's, d = f16(scale), m = f16(-zero point · scale); gguf's own dequantize and
    the numpy decode agree bit for bit, and both are within (q + z) · 2^-11 · scale of qcomp's value."""
    import gguf

    lm, _, lx, rec = asym_g32()
    params = hf_params(lm)
    for name, t in lx.tensors.items():  # the right layers: MSE-range asymmetric RTN of the HF weight, by hand
        if isinstance(t, QWeight):
            lo, hi = ra.mse_ranges(params[name], bits=4, group=32, sym=False)
            q, s, z = ra.quantize_weight_grouped_asym(params[name], bits=4, group=32, lo=lo, hi=hi)
            assert np.array_equal(t.codes, ra.unpack_uint4(q, t.shape[1])), name
            assert np.array_equal(t.scale, s), name
            assert np.array_equal(t.zero, z.view(np.uint8)), name
    r = write_gguf(lx, str(tmp_path / "m.gguf"), recipe=rec)
    assert r.types == {"Q4_1": 15, "F32": 6}
    assert 0 < r.stats["max_q4_1_step_change"] < 30 * 2.0**-11
    reader = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    assert {x.name for x in reader.tensors} == set(lx.tensors)
    assert {f.name: f for f in reader.fields.values()}["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q4_1
    heads = {"attn_q": 4, "attn_k": 2}
    for rt in reader.tensors:
        t = lx.tensors[rt.name]
        if not isinstance(t, QWeight):
            assert np.array_equal(np.asarray(rt.data), t), rt.name
            continue
        assert rt.tensor_type == gguf.GGMLQuantizationType.Q4_1, rt.name
        h = heads.get(rt.name.split(".")[-2])
        t = t.rows(qk_rows(t.shape[0], h)) if h else t
        n, k = t.shape
        q, d, m, values = decode_q4_1(rt.data, n, k)
        s, z = t.scale[:, np.arange(0, k, 32) // 32], t.zero[:, np.arange(0, k, 32) // 32]
        assert np.array_equal(q, t.codes), rt.name
        assert np.array_equal(d, s.astype(np.float16)), rt.name
        assert np.array_equal(m, (np.float32(0) - z.astype(np.float32) * s).astype(np.float16)), rt.name
        got = gguf.quants.dequantize(rt.data, rt.tensor_type).reshape(n, k)
        assert np.array_equal(got, values), rt.name
        full_s, full_z = np.repeat(s, 32, 1), np.repeat(z, 32, 1).astype(np.float32)
        bound = (q + full_z) * 2.0**-11 * full_s * (1 + 2.0**-20) + 2.0**-24 * np.abs(values)
        assert np.all(np.abs(got - t.dequantize()) <= bound), rt.name


def _one_layer(w: QWeight) -> LlamaExport:
    """A 1-layer LLaMA (hidden 32) whose attn_v is `w`; every other tensor float."""
    rng = np.random.default_rng(1)
    d, v = 32, 16
    hp = {"vocab_size": v, "hidden_size": d, "intermediate_size": 64, "num_hidden_layers": 1}
    hp.update(num_attention_heads=2, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, rope_theta=1e4)
    hp.update(max_position_embeddings=32, tie_word_embeddings=False, bos_token_id=None, eos_token_id=None)
    shapes = {"attn_q": (d, d), "attn_k": (d, d), "attn_output": (d, d), "ffn_gate": (64, d), "ffn_up": (64, d)}
    shapes.update(ffn_down=(d, 64))
    t = {"token_embd.weight": rng.standard_normal((v, d)).astype(np.float32), "blk.0.attn_v.weight": w}
    t.update({f"blk.0.{n}.weight": rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()})
    t.update({f"blk.0.{n}.weight": np.ones(d, np.float32) for n in ("attn_norm", "ffn_norm")})
    t.update({"output_norm.weight": np.ones(d, np.float32), "output.weight": rng.standard_normal((v, d), np.float32)})
    return LlamaExport(hp, t, dict.fromkeys(t), {n: "model.py:7" for n in t})


def _asym(bits: int, k: int, group: int, n: int = 32) -> QWeight:
    w = np.random.default_rng(0).standard_normal((n, k)).astype(np.float32)
    q, s, z = ra.quantize_weight_grouped_asym(w, bits=bits, group=group)
    return QWeight(ra.unpack_uint4(q, k) if bits <= 4 else q.view(np.uint8), s, bits, group, z.view(np.uint8))


def test_gguf_q4_1_groups_of_whole_blocks_and_refusals(tmp_path):
    """Groups of 64/128 and one scale per channel repeat their scale and offset in every block (3-bit codes fit
    too); 8-bit zero points and groups that split a block are refused in one line naming the layer, or written
    as F32 with fallback='f32'."""
    import gguf
    from qcomp.export_gguf import q4_1_bytes

    for bits, group in ((4, 64), (4, 128), (3, 128), (4, 256)):  # 256 = K: one scale per output channel
        w = _asym(bits, 256, group)
        q, d, m, values = decode_q4_1(q4_1_bytes(w), 32, 256)
        blocks = np.arange(0, 256, 32) // group
        assert np.array_equal(q, w.codes)
        assert np.array_equal(d, w.scale[:, blocks].astype(np.float16))
        assert np.all(np.abs(values - w.dequantize()) <= 30 * 2.0**-11 * w.scale.max())
    w = _asym(4, 32, 32)
    r = write_gguf(_one_layer(w), str(tmp_path / "m.gguf"))
    assert r.types == {"Q4_1": 1, "F32": 11}
    rt = {x.name: x for x in gguf.GGUFReader(str(tmp_path / "m.gguf")).tensors}["blk.0.attn_v.weight"]
    assert np.array_equal(decode_q4_1(rt.data, 32, 32)[0], w.codes)
    for w, why in (
        (_asym(8, 32, 32), r"8-bit codes with a zero point"),
        (_asym(4, 32, 16), r"scale groups of 16 input channels do not cover whole 32-blocks"),
    ):
        lx = _one_layer(w)
        with pytest.raises(QcompError, match=r"^blk\.0\.attn_v\.weight \(model\.py:7\): .*" + why) as e:
            write_gguf(lx, str(tmp_path / "r.gguf"))
        assert "\n" not in str(e.value)
        assert "zero points" in str(e.value)
        r = write_gguf(lx, str(tmp_path / "r.gguf"), fallback="f32")
        rt = {x.name: x for x in gguf.GGUFReader(str(tmp_path / "r.gguf")).tensors}["blk.0.attn_v.weight"]
        assert rt.tensor_type == gguf.GGMLQuantizationType.F32
        assert np.array_equal(np.asarray(rt.data), w.dequantize())


@pytest.mark.parametrize(("bits", "k", "group"), [(4, 80, 32), (3, 96, 96), (4, 576, 128), (8, 80, 32), (8, 64, 64)])
def test_onnx_zero_points(bits, k, group):
    """DequantizeLinear with a zero point (UINT4/UINT8, per channel or block-wise) and MatMulNBits with packed
    zero points compute x · qcomp's weightᵀ in ONNX Runtime (float products) within f32 summation error."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from test_export import ort_weight_matmul

    w = _asym(bits, k, group, n=8)
    x = np.random.default_rng(2).standard_normal((3, k)).astype(np.float32)
    want = x @ w.dequantize().T
    for form in ("qdq", "nbits")[: 1 + (bits <= 4)]:
        assert np.abs(ort_weight_matmul(ort, w, x, form) - want).max() <= 1e-6 * np.abs(want).max(), form


@pytest.mark.parametrize(("weights", "kind"), [("qdq", "QDQ uint4"), ("nbits", "MatMulNBits")])
def test_onnx_runtime_runs_zero_point_llama(tmp_path, weights, kind):
    """The tiny LLaMA under w4a16-asym (g32) in ONNX Runtime equals qcomp's semantics within 1e-5 of the logits."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from qcomp.export_onnx import write_onnx

    lm, ids, lx, rec = asym_g32()
    assert write_onnx(lx, str(tmp_path / "m.onnx"), rec, weights).types == {kind: 15}
    so = ort.SessionOptions()
    so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "0")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), so).run(None, {"input_ids": ids.numpy()})[0]
    want = fake_quant_reference(lm, lx, ids)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_export_head_q8_0(tmp_path):
    """head='q8_0': the recipe leaves the LM head float; the GGUF holds qcomp's int8 RTN of it in blocks of 32 as
    Q8_0 (codes read back equal a hand RTN of the HF weight), every other linear as the recipe's Q4_1."""
    import gguf
    from qcomp.examples.models import LogitsOnly
    from qcomp.export_model import export

    base = get_recipe("w4a16-asym")
    lm, ids = tiny_llama()
    rec = Recipe("w4a16-asym-g32", 1, base.pipeline.replace("group=128", "group=32"))
    r = export(LogitsOnly(lm), str(tmp_path / "m.gguf"), recipe=rec, example_inputs=(ids,), head="q8_0")
    assert r.types == {"Q4_1": 14, "Q8_0": 1, "F32": 6}
    rt = {x.name: x for x in gguf.GGUFReader(str(tmp_path / "m.gguf")).tensors}["output.weight"]
    w = lm.lm_head.weight.detach().numpy()
    blocks = np.asarray(rt.data).reshape(256, 2, 34)
    s = np.abs(w.reshape(256, 2, 32)).max(-1) / np.float32(127)
    want = np.clip(np.rint(w.reshape(256, 2, 32) * (np.float32(1) / s[..., None])), -127, 127)
    assert np.array_equal(blocks[..., 2:].view(np.int8), want.astype(np.int8))
    assert np.array_equal(blocks[..., :2].copy().view(np.float16)[..., 0], s.astype(np.float16))
    with pytest.raises(QcompError, match="head must be one of recipe, f32, q8_0, got 'q4'"):
        export(LogitsOnly(lm), str(tmp_path / "m.gguf"), recipe=rec, example_inputs=(ids,), head="q4")
