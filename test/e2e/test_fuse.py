"""qc-fuse on whole models: the fused build (activations in the int8 GEMM epilogue, one quantization per
input) gives bit-identical outputs to the unfused one, and really fused something."""

import re

import numpy as np
import pytest
import qcomp
import torch
from qcomp import targets
from qcomp.evaluate import default_text, encoder_batches
from qcomp.examples.models import BUILTIN
from qcomp.models import minilm


def _fused_counts(cm) -> dict[str, int]:
    keys = ("act", "dedupe", "gate", "mask", "norm", "roundtrip")
    pattern = r"qc\.fused = \{" + ", ".join(rf"{k} = (\d+) : i64" for k in keys) + r"\}"
    m = re.search(pattern, cm.stages["target"])
    assert m, "qc-fuse did not run"
    return dict(zip(keys, map(int, m.groups()), strict=True))


def _both(model, inputs, recipe="w8a8"):
    fused = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe=recipe)
    plain = qcomp.compile(model, inputs, target=targets.get("cpu", fuse=False), recipe=recipe)
    assert "qc.fused" not in plain.stages["target"]
    return fused, plain


@pytest.mark.parametrize(("name", "acts", "norms", "masks"), [("tiny-llama", 2, 5, 2), ("mlp", 0, 0, 0)])
def test_fused_and_unfused_builds_bit_identical(name, acts, norms, masks):
    model, inputs = BUILTIN[name]()
    fused, plain = _both(model, inputs)
    assert np.array_equal(fused(*inputs).numpy(), plain(*inputs).numpy())
    counts = _fused_counts(fused)
    assert counts["act"] >= acts  # tiny-llama: silu(gate) of each layer's MLP in the epilogue
    # tiny-llama: both RMSNorms of each of its 2 layers and the final one feed only their projections'
    # (the LM head's) quantization
    assert counts["norm"] == norms
    assert ("__qc_rms_norm_quantize" in fused.stages["target"]) == (norms > 0)  # its lowered kernel
    assert counts["mask"] == masks  # each layer's SDPA: mask add, softmax and the safe-softmax select in one op
    assert counts["gate"] == acts  # silu(gate) ⊙ up in the up projection's epilogue
    target = fused.stages["target"]
    assert ("__qc_masked_softmax" in target) == (masks > 0)
    assert "__qc_softmax" not in target


@pytest.mark.slow
def test_minilm_fused_gelu_and_shared_quantization_bit_identical():
    model, tok = minilm()
    inputs = tuple(encoder_batches(tok, default_text(), 1, 32)[0])
    fused, plain = _both(model, inputs)
    with torch.no_grad():
        assert np.array_equal(fused(*inputs).numpy(), plain(*inputs).numpy())
    counts = _fused_counts(fused)
    assert counts["act"] == 6  # GELU of the 6 FFNs
    assert counts["dedupe"] == 12  # Q, K and V quantize their input once: 2 of 3 go, in 6 layers
    assert counts["norm"] == 0  # post-norm: every LayerNorm output also feeds a residual add
    assert counts["mask"] == 6
