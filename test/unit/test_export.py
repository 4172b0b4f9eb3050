"""Export of a recipe-quantized LLaMA: GGUF read back by gguf's reader, ONNX run by ONNX Runtime (when installed)."""

import copy

import numpy as np
import pytest
import torch
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import LogitsOnly
from qcomp.export_gguf import qk_rows, write_gguf
from qcomp.export_llama import HF_NAMES, LlamaExport, QWeight, extract, refusals
from qcomp.export_model import export, quantized_module

_CACHE: dict = {}


def tiny_llama():
    """A 2-layer random LLaMA whose linear layers all have K % 32 == 0 (the example's has 176 = 5.5 blocks)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(cfg).eval(), torch.randint(0, 256, (1, 16))


def quantized(recipe: str):
    """(HF model, ids, LlamaExport, Recipe) of the tiny LLaMA quantized by `recipe`, once per session."""
    if recipe not in _CACHE:
        lm, ids = tiny_llama()
        module, rec = quantized_module(LogitsOnly(lm), (ids,), recipe)
        _CACHE[recipe] = (lm, ids, extract(module, lm.config), rec)
    return _CACHE[recipe]


def hf_params(lm) -> dict[str, np.ndarray]:
    """The HF parameters by GGUF name."""
    sd = {k: v.detach().numpy() for k, v in lm.state_dict().items()}
    out = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"]}
    out["output.weight"] = sd["lm_head.weight"]
    for i in range(lm.config.num_hidden_layers):
        out.update({f"blk.{i}.{g}.weight": sd[f"model.layers.{i}.{hf}.weight"] for g, hf in HF_NAMES.items()})
    return out


@pytest.mark.parametrize(("recipe", "kind", "bits"), [("w8a8", "Q8_0", 8), ("w4a16", "Q4_0", 4)])
def test_gguf_holds_qcomp_codes(tmp_path, recipe, kind, bits):
    """Every tensor read back equals qcomp's: codes unchanged, dequantized = code · f16(scale) bit for bit."""
    import gguf

    lm, _, lx, rec = quantized(recipe)
    params = hf_params(lm)
    for name, t in lx.tensors.items():  # the names are right: RTN of the HF weight gives the codes read back
        if isinstance(t, QWeight):
            group = 0 if bits == 8 else 128
            want, _ = ref.quantize_weight_grouped(params[name], bits=bits, group=group or t.shape[1])
            assert np.array_equal(t.codes, ref.unpack_int4(want, t.shape[1]) if bits <= 4 else want), name
        else:
            assert np.array_equal(t, params[name]), name
    r = write_gguf(lx, str(tmp_path / "m.gguf"), recipe=rec)
    assert r.types == {kind: 15, "F32": 6}
    reader = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    assert {t.name for t in reader.tensors} == set(lx.tensors)
    heads = {"attn_q": 4, "attn_k": 2}
    for rt in reader.tensors:
        t = lx.tensors[rt.name]
        got = gguf.quants.dequantize(rt.data, rt.tensor_type).reshape(t.shape)
        if not isinstance(t, QWeight):
            assert rt.tensor_type.name == "F32", rt.name
            assert np.array_equal(got, t), rt.name
            continue
        assert rt.tensor_type.name == kind, rt.name
        n = heads.get(rt.name.split(".")[-2])
        t = t.rows(qk_rows(t.shape[0], n)) if n else t  # llama.cpp's q/k row order
        s16 = t.scale.astype(np.float16).astype(np.float32)
        assert np.array_equal(got, t.dequantize(s16)), rt.name  # bit-exact against f16-held scales
        assert np.all(np.abs(got - t.dequantize()) <= 2.0**-11 * np.abs(t.dequantize())), rt.name
        blocks = rt.data.reshape(t.shape[0], -1, 34 if kind == "Q8_0" else 18)
        if kind == "Q8_0":  # the stored codes themselves
            assert np.array_equal(blocks[..., 2:].view(np.int8).reshape(t.shape), t.codes), rt.name
    kv = {f.name: f for f in reader.fields.values()}
    assert kv["general.architecture"].contents() == "llama"
    assert kv["llama.block_count"].contents() == 2
    assert kv["llama.attention.head_count_kv"].contents() == 2
    assert kv["qcomp.recipe"].contents() == recipe


def _synthetic(k_ff: int) -> LlamaExport:
    """A 1-layer LlamaExport built by hand (no import): every linear int8 per output channel."""
    rng = np.random.default_rng(0)
    d, v = 32, 16
    hp = {"vocab_size": v, "hidden_size": d, "intermediate_size": k_ff, "num_hidden_layers": 1}
    hp.update(num_attention_heads=2, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, rope_theta=1e4)
    hp.update(max_position_embeddings=32, tie_word_embeddings=False, bos_token_id=None, eos_token_id=None)

    def q(n, k):
        w = rng.standard_normal((n, k)).astype(np.float32)
        codes, s = ref.quantize_weight(w, bits=8)
        return QWeight(codes, s.reshape(-1, 1), 8, k)

    shapes = {"attn_q": (d, d), "attn_k": (d, d), "attn_v": (d, d), "attn_output": (d, d)}
    shapes.update(ffn_gate=(k_ff, d), ffn_up=(k_ff, d), ffn_down=(d, k_ff))
    t = {"token_embd.weight": rng.standard_normal((v, d)).astype(np.float32)}
    t.update({f"blk.0.{n}.weight": q(*s) for n, s in shapes.items()})
    t.update({f"blk.0.{n}.weight": np.ones(d, np.float32) for n in ("attn_norm", "ffn_norm")})
    t.update({"output_norm.weight": np.ones(d, np.float32), "output.weight": q(v, d)})
    return LlamaExport(hp, t, dict.fromkeys(t), {n: "model.py:1" for n in t})


def test_gguf_refuses_or_falls_back_on_unaligned_layers(tmp_path):
    """A per-channel weight whose K is not a multiple of 32 has no Q8_0 form: named error, or F32 when asked."""
    import gguf

    lx = _synthetic(48)
    with pytest.raises(QcompError, match=r"blk\.0\.ffn_down\.weight .*48 input channels are not a multiple of the 32"):
        write_gguf(lx, str(tmp_path / "m.gguf"))
    assert not list(tmp_path.iterdir())  # nothing half-written
    r = write_gguf(lx, str(tmp_path / "m.gguf"), fallback="f32")
    assert r.types == {"Q8_0": 7, "F32": 5}
    t = {x.name: x for x in gguf.GGUFReader(str(tmp_path / "m.gguf")).tensors}["blk.0.ffn_down.weight"]
    assert np.array_equal(np.asarray(t.data), lx.tensors["blk.0.ffn_down.weight"].dequantize())
    lx = _synthetic(64)
    lx.tensors["blk.0.ffn_up.weight"].scale[3] = 1e-6  # below f16's normal range
    with pytest.raises(QcompError, match=r"blk\.0\.ffn_up\.weight .*outside f16's normal range"):
        write_gguf(lx, str(tmp_path / "m.gguf"))


def test_gguf_refuses_static_activations_and_other_architectures(tmp_path):
    lx = _synthetic(64)
    lx.activations["blk.0.attn_q.weight"] = ("static", 0.05)
    with pytest.raises(QcompError, match=r"blk\.0\.attn_q\.weight .*static activation scales have no GGUF"):
        write_gguf(lx, str(tmp_path / "m.gguf"))
    assert write_gguf(lx, str(tmp_path / "m.gguf"), static_activations="drop").types["Q8_0"] == 8
    from qcomp.examples.models import tiny_gpt2

    with pytest.raises(QcompError, match="model type 'gpt2': export supports LLaMA-family"):
        export(tiny_gpt2()[0], str(tmp_path / "g.gguf"))
    with pytest.raises(QcompError, match="export format must be one of gguf, onnx"):
        export(tiny_llama()[0], str(tmp_path / "m.bin"))


def test_refusals_name_online_ops():
    """An activation-path op the passes could not fold (here SmoothQuant's explicit scale) is refused."""
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir

    text = """func.func @f(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> tensor<2x8xf32> {
      %y = "qc.channel_scale"(%x, %s) : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
      return %y : tensor<2x8xf32>
    }"""
    found = refusals(ir.Module.parse(text, new_context()))
    assert len(found) == 1
    assert "qc.channel_scale is an online per-channel activation scale" in found[0]


def test_cli_export_gguf(tmp_path, capsys):
    """`qcomp export tiny-llama`: ffn_down (K = 176) refused by name, then written as F32 with --fallback f32."""
    from qcomp.tools.qcomp_main import main

    out = str(tmp_path / "t.gguf")
    assert main(["export", "tiny-llama", "--recipe", "w8a8", "-o", out, "--fallback", "f32"]) == 0
    text = capsys.readouterr().out
    assert "Q8_0 13, F32 8" in text
    assert "block scales stored as f16" in text
    assert main(["export", "tiny-llama", "--recipe", "nope", "-o", out]) == 1
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def fake_quant_reference(lm, lx: LlamaExport, ids) -> np.ndarray:
    """qcomp's semantics in PyTorch: the exported weights dequantized, activations quantized as recorded."""
    ref_lm = copy.deepcopy(lm)
    mods = dict(ref_lm.named_modules())
    names = {"model.embed_tokens": "token_embd.weight", "model.norm": "output_norm.weight", "lm_head": "output.weight"}
    for i in range(lm.config.num_hidden_layers):
        names.update({f"model.layers.{i}.{hf}": f"blk.{i}.{g}.weight" for g, hf in HF_NAMES.items()})
    for mod, name in names.items():
        t = lx.tensors[name]
        w = torch.from_numpy(np.array(t.dequantize() if isinstance(t, QWeight) else t))
        mods[mod].weight = torch.nn.Parameter(w, requires_grad=False)  # unties tied embeddings
        if lx.activations.get(name):
            gran = lx.activations[name][1]

            def pre(m, args, gran=gran):
                q, s = ref.quantize_dynamic(args[0].numpy(), granularity=gran)
                return (torch.from_numpy(q.astype(np.float32) * s),)

            mods[mod].register_forward_pre_hook(pre)
    with torch.no_grad():
        return ref_lm(ids, use_cache=False).logits.numpy()


@pytest.mark.parametrize(
    ("recipe", "weights", "kind"), [("w8a8", "qdq", "QDQ int8"), ("w4a16", "nbits", "MatMulNBits")]
)
def test_onnx_runtime_matches_qcomp_semantics(tmp_path, recipe, weights, kind):
    """ONNX Runtime (qdq_matmulnbits_accuracy_level=0: no int8 activations of its own) computes qcomp's
    quantized model within f32 rounding (max error <= 1e-5 of the logits' range)."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from qcomp.export_onnx import write_onnx

    lm, ids, lx, rec = quantized(recipe)
    r = write_onnx(lx, str(tmp_path / "m.onnx"), rec, weights)
    assert r.types == {kind: 15}
    so = ort.SessionOptions()
    so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "0")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), so).run(None, {"input_ids": ids.numpy()})[0]
    want = fake_quant_reference(lm, lx, ids)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize(("bits", "k", "group"), [(4, 80, 32), (8, 80, 32), (4, 576, 128), (4, 96, 96)])
def test_onnx_weight_forms(bits, k, group):
    """QDQ (per channel, block-wise with a partial last block) and MatMulNBits hold qcomp's weight values."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    q, s = ref.quantize_weight_grouped(rng.standard_normal((8, k)).astype(np.float32), bits=bits, group=group)
    w = QWeight(ref.unpack_int4(q, k) if bits <= 4 else q, s, bits, group)
    x = rng.standard_normal((3, k)).astype(np.float32)
    for form in ("qdq", "nbits")[: 1 + (bits <= 4)]:
        want = x @ w.dequantize().T
        assert np.abs(ort_weight_matmul(ort, w, x, form) - want).max() <= 1e-6 * np.abs(want).max(), form


def ort_weight_matmul(ort, w, x: np.ndarray, form: str) -> np.ndarray:
    """x @ wᵀ through ONNX Runtime, with the exported weight `w` as DequantizeLinear ("qdq") or MatMulNBits."""
    from onnx import TensorProto, helper
    from qcomp.export_onnx import _Graph, _nbits, _nbits_block, _qdq_weight

    g = _Graph()
    y = g.op("MatMul", "x", _qdq_weight(g, w)) if form == "qdq" else _nbits(g, "x", w, _nbits_block(w))
    g.nodes.append(helper.make_node("Identity", [y], ["y"]))
    (m, k), n = x.shape, w.dequantize().shape[0]
    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [m, d]) for name, d in (("x", k), ("y", n))]
    graph = helper.make_graph(g.nodes, "t", io[:1], io[1:], g.inits)
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    so = ort.SessionOptions()
    so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "0")
    sess = ort.InferenceSession(helper.make_model(graph, opset_imports=opsets).SerializeToString(), so)
    return sess.run(None, {"x": x})[0]
