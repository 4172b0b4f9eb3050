"""Real pretrained models from PyPI wheels (SmolLM2-135M, all-MiniLM-L6-v2) through the CPU target.

Small windows keep the suite fast; the full protocol (16 x 512 tokens) is bench/accuracy.py's job.
"""

import json
import math

import pytest
import qcomp
import torch
from qcomp.evaluate import default_text, embed, encoder_batches, perplexity, token_windows
from qcomp.models import minilm, smollm2
from qcomp.tools.qcomp_main import main

pytestmark = pytest.mark.slow  # real pretrained models: `make test-slow`

SEQ = 64


@pytest.fixture(scope="module")
def smol():
    model, tok = smollm2()
    wins, _ = token_windows(tok, default_text(), 2, SEQ)
    return model, tok, wins, qcomp.compile(model, (wins[0],), recipe="fp32")


def test_smollm2_rmsnorm_is_raised_and_layers_are_qc(smol):
    _, _, _, cm = smol
    ops = [r["op"] for r in cm.report["ops"]]
    assert ops.count("qc.rms_norm") == 61  # 30 layers x 2 + the final norm
    assert ops.count("qc.linear") == 30 * 7 + 1  # q k v o gate up down, + tied lm_head
    assert "torch.aten.rsqrt" not in cm.report["host_ops"]


def test_smollm2_fp32_perplexity_matches_eager(smol):
    model, _, wins, cm = smol
    got, tokens = perplexity(cm, wins)
    with torch.no_grad():
        want, _ = perplexity(model, wins)
    assert tokens == 2 * (SEQ - 1)
    assert abs(got / want - 1) <= 1e-3
    assert 5 < want < 200  # a real language model, not random weights


def test_smollm2_fp32_perplexity_on_another_text(smol, tmp_path):
    model, tok, _, cm = smol
    text = (
        "The quick brown fox jumps over the lazy dog. Compilers translate programs written in one language "
        "into another, and quantizing compilers also choose how many bits each number may use. "
    ) * 8
    wins, _ = token_windows(tok, text, 1, SEQ)
    got, _ = perplexity(cm, wins)
    with torch.no_grad():
        want, _ = perplexity(model, wins)
    assert abs(got / want - 1) <= 1e-3


@pytest.mark.parametrize(("recipe", "bound"), [("fp32", 0.9999), ("w8a8", 0.99)])
def test_minilm_embeddings_close_to_fp32(recipe, bound):
    model, tok = minilm()
    batches = encoder_batches(tok, default_text(), 6, SEQ)
    cm = qcomp.compile(model, batches[0], recipe=recipe)
    cos = []
    for ids, mask in batches:
        with torch.no_grad():
            ref = embed(model(ids, mask), mask)
        cos.append(float((embed(cm(ids, mask), mask) * ref).sum()))
    assert min(cos) >= bound


def test_qcomp_eval_json(capsys):
    assert main(["eval", "minilm", "--recipe", "fp32", "--windows", "4", "--seq", "32", "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(r) == {"model", "recipe", "target", "metric", "value", "fp32_value", "tokens", "seconds"}
    assert (r["model"], r["recipe"], r["target"], r["metric"]) == ("minilm", "fp32", "cpu", "cosine")
    assert r["value"] > 0.9999
    assert r["tokens"] > 0
    assert math.isfinite(r["seconds"])


def test_qcomp_eval_rejects_short_text(tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("Too short.")
    assert main(["eval", "smollm2", "--text", str(short), "--windows", "2", "--seq", "64"]) == 1
    err = capsys.readouterr().err
    assert "fewer than 2 windows of 64" in err
    assert "Traceback" not in err
