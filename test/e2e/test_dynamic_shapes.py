"""Dynamic shapes: one CPU build serves every size in its torch.export `Dim` ranges."""

import numpy as np
import pytest
import qcomp
import torch
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import mlp, tiny_llama
from qcomp.recipes import BUILTIN as BUILTIN_RECIPES
from torch.export import Dim

BATCH = {"x": {0: Dim("batch", min=1, max=32)}}


@pytest.mark.parametrize("recipe", ["fp32", "w8a8", "w4a16"])
def test_mlp_one_build_every_batch_equals_static_builds(recipe):
    """Each batch size gives what a static build for that size gives (the same kernels and arithmetic per row:
    bit-identical), and the fp32 build matches PyTorch."""
    model, (x,) = mlp()
    dyn = qcomp.compile(model, (x,), recipe=recipe, dynamic_shapes=BATCH)
    for n in (1, 5, 13, 32):
        xs = torch.randn(n, 64, generator=torch.Generator().manual_seed(n))
        got = dyn(xs)
        assert tuple(got.shape) == (n, 32)
        want = qcomp.compile(model, (xs,), recipe=recipe)(xs)
        assert torch.equal(got, want), f"batch {n}: max diff {float((got - want).abs().max())}"
        if recipe == "fp32":
            with torch.no_grad():
                assert float((got - model(xs)).abs().max()) < 1e-5


def test_size_outside_the_range_is_one_line_naming_input_dim_and_range():
    model, (x,) = mlp()
    cm = qcomp.compile(model, (x,), recipe="fp32", dynamic_shapes=BATCH)
    with pytest.raises(QcompError, match=r"input 'x': dimension 0 \(\w+\) is 40, outside its range \[1, 32\]"):
        cm(torch.randn(40, 64))
    with pytest.raises(QcompError, match=r"input 'x': dimension 1 must be 64"):
        cm(torch.randn(4, 65))


def test_unbounded_dim_and_static_only_targets_are_refused():
    model, (x,) = mlp()
    with pytest.raises(QcompError, match="has no upper bound"):
        qcomp.compile(model, (x,), recipe="fp32", dynamic_shapes={"x": {0: Dim("batch")}})
    with pytest.raises(QcompError, match="target 'npu' builds for static shapes only"):
        qcomp.compile(model, (x,), target="npu", recipe="fp32", dynamic_shapes=BATCH)


@pytest.mark.slow
def test_minilm_any_length_and_batch_from_one_w8a8_build():
    """all-MiniLM-L6-v2 at W8A8, one build for batch <= 32 and length <= 512: every (batch, length) gives
    PyTorch's sentence embeddings (cosine >= 0.99, the bound of the static W8A8 build's test). The attention
    matmul over keys and the softmax, whose last dim is the dynamic length, run as f32 host code here."""
    from qcomp.evaluate import default_text
    from qcomp.models import minilm

    model, tok = minilm()
    words = default_text().split()
    dims = {0: Dim("batch", min=1, max=32), 1: Dim("seq", min=2, max=512)}
    texts = lambda b, n: [" ".join(words[i * 50 : i * 50 + n]) for i in range(b)]  # noqa: E731
    enc = tok(texts(2, 12), padding=True, return_tensors="pt")
    example = (enc["input_ids"], enc["attention_mask"])
    cm = qcomp.compile(model, example, recipe="w8a8", dynamic_shapes={"input_ids": dims, "attention_mask": dims})
    for b, n in ((1, 6), (3, 40), (2, 300)):
        enc = tok(texts(b, n), padding=True, truncation=True, max_length=512, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        got = cm(ids, mask)
        assert tuple(got.shape) == (*ids.shape, 384)
        with torch.no_grad():
            want = model(ids, mask)
        m = mask.unsqueeze(-1).float()
        emb = lambda h, m=m: torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)  # noqa: E731
        assert float((emb(got) * emb(want)).sum(-1).min()) >= 0.99


@pytest.mark.slow  # ~45 s: two tiny-LLaMA builds with every layer split
def test_split_outliers_on_a_dynamic_batch_and_sequence_equals_a_static_build():
    """qc-split-outliers slices x[..., :k] and x[..., k:] with run-time leading sizes (tensor.dim): a dynamic
    build splits the same channels as a static one and gives its result (it built invalid IR before)."""
    from qcomp.recipes import Recipe

    model, _ = tiny_llama()
    gen = torch.Generator().manual_seed(7)
    example = torch.randint(0, 256, (2, 16), generator=gen)
    calib = [(torch.randint(0, 256, (1, 16), generator=gen),) for _ in range(2)]
    pipeline = "qc-split-outliers{threshold=0.3},qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize"
    recipe = Recipe("split-every-layer", 1, pipeline, "a low threshold: every layer splits", "minmax")
    dims = {"input_ids": {0: Dim("batch", min=1, max=4), 1: Dim("seq", min=2, max=64)}}
    cm = qcomp.compile(model, (example,), recipe=recipe, calibration=calib, dynamic_shapes=dims)
    assert any(op["op"] == "qc.channel_permute" for op in cm.report["ops"])  # the split happened
    ids = torch.randint(0, 256, (3, 33), generator=gen)
    static = qcomp.compile(model, (ids,), recipe=recipe, calibration=calib)
    assert float((cm(ids) - static(ids)).abs().max()) <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(BUILTIN_RECIPES))
def test_every_recipe_builds_dynamic_and_is_as_close_to_pytorch_as_a_static_build(recipe):
    """Every built-in recipe, calibrated, on the tiny LLaMA with a dynamic batch and sequence: a size the example
    did not have runs, and its error against PyTorch is about a static build's at that size or smaller (ops
    that a dynamic last dim keeps as f32 host code, such as attention's matmuls, can only be closer)."""
    model, _ = tiny_llama()
    gen = torch.Generator().manual_seed(7)
    example = torch.randint(0, 256, (2, 16), generator=gen)
    calib = [(torch.randint(0, 256, (1, 16), generator=gen),) for _ in range(2)]
    dims = {"input_ids": {0: Dim("batch", min=1, max=4), 1: Dim("seq", min=2, max=64)}}
    cm = qcomp.compile(model, (example,), recipe=recipe, calibration=calib, dynamic_shapes=dims)
    ids = torch.randint(0, 256, (3, 33), generator=gen)
    static = qcomp.compile(model, (ids,), recipe=recipe, calibration=calib)
    with torch.no_grad():
        want = model(ids).numpy()
    err = lambda got: float(np.abs(got - want).max() / np.abs(want).max())  # noqa: E731
    assert err(cm(ids).numpy()) <= 1.25 * err(static(ids).numpy()) + 1e-6  # 1.25: a rounding flip or two


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "bound", "shapes"),
    [
        # w8a8-smooth: bench/minilm_dynamic.py min 0.99686 over batch 1..8 x length 8..512 (w8a8: 0.99407)
        ("w8a8-smooth", 0.9965, ((8, 8), (8, 128), (2, 8), (1, 512))),
        # the FFN down-projections' GELU outlier channels (0.4% of inputs) in float: min 0.99903, at 4 x 128
        ("w8a8-split-smooth", 0.999, ((8, 8), (4, 128), (2, 256), (1, 512))),
    ],
)
def test_minilm_one_dynamic_build_sentence_cosine(recipe, bound, shapes):
    """MiniLM, one calibrated dynamic build (batch <= 8, length <= 512): the mean-pooled sentence embedding's
    cosine to PyTorch is >= `bound` at the bench's worst shapes (the issue asks 0.999 at W8A8)."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
    from minilm_dynamic import embedding, rows
    from qcomp.evaluate import default_text
    from qcomp.models import minilm

    model, tok = minilm()
    words = default_text().split()
    calib = [
        (e["input_ids"], e["attention_mask"]) for e in (rows(tok, words, 1, 128, 23300 + i * 173) for i in range(12))
    ]
    dims = {0: Dim("batch", min=1, max=8), 1: Dim("seq", min=2, max=512)}
    ex = rows(tok, words, 2, 16, 0)
    cm = qcomp.compile(
        model,
        (ex["input_ids"], ex["attention_mask"]),
        recipe=recipe,
        calibration=calib,
        dynamic_shapes={"input_ids": dims, "attention_mask": dims},
    )
    for b, n in shapes:
        enc = rows(tok, words, b, n, 1000 * b + 10 * n)
        with torch.no_grad():
            want = model(enc["input_ids"], enc["attention_mask"])
        got = cm(enc["input_ids"], enc["attention_mask"])
        cos = (embedding(got, enc["attention_mask"]) * embedding(want, enc["attention_mask"])).sum(-1)
        assert float(cos.min()) >= bound, (b, n, float(cos.min()))
