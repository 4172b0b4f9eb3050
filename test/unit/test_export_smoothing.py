"""w8a8-smooth exported: smoothing folded into norms and rows stays, a smoothing needing an online scale is undone."""

import gguf
import numpy as np
import pytest
import torch
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.examples.models import LogitsOnly
from qcomp.export_gguf import write_gguf
from qcomp.export_llama import extract
from qcomp.export_model import quantized_module


def tiny_llama():
    """A 2-layer random LLaMA (every K a multiple of 32), example ids and two calibration windows."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, attn_implementation="sdpa",
    )  # fmt: skip
    lm = LlamaForCausalLM(cfg).eval()
    return lm, torch.randint(0, 256, (1, 16)), [(torch.randint(0, 256, (1, 16)),) for _ in range(2)]


def test_w8a8_smooth_drops_only_online_scales(tmp_path):
    """Without online_scales="drop" the export refuses w8a8-smooth's o_proj scale (test_refusals_name_online_ops)."""
    lm, ids, cal = tiny_llama()
    with pytest.raises(QcompError, match="online_scales"):
        quantized_module(LogitsOnly(lm), (ids,), "w8a8-smooth", cal, online_scales="fold")

    module, rec = quantized_module(LogitsOnly(lm), (ids,), "w8a8-smooth", cal, online_scales="drop")
    assert not ops_named(module, "qc.channel_scale")
    lx = extract(module, lm.config)
    for i, layer in enumerate(lm.model.layers):
        o = lx.tensors[f"blk.{i}.attn_output.weight"]
        # o_proj is w8a8 of its own float weight again: codes as RTN per output channel of the HF weight
        want, _ = ref.quantize_weight(layer.self_attn.o_proj.weight.detach().numpy(), bits=8)
        assert np.array_equal(o.codes, want), i
        # q/k/v keep their smoothing, folded into the norm: gamma / s, weights W·diag(s)
        gamma = layer.input_layernorm.weight.detach().numpy()
        assert not np.allclose(lx.tensors[f"blk.{i}.attn_norm.weight"], gamma, rtol=1e-3)
        q_rtn, _ = ref.quantize_weight(layer.self_attn.q_proj.weight.detach().numpy(), bits=8)
        assert not np.array_equal(lx.tensors[f"blk.{i}.attn_q.weight"].codes, q_rtn)
    r = write_gguf(lx, str(tmp_path / "m.gguf"), recipe=rec)
    assert r.types["Q8_0"] == 15
    reader = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    assert {t.name for t in reader.tensors} == set(lx.tensors)
