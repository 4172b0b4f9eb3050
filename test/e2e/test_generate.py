"""compile_lm on a tiny random LLaMA: greedy parity with transformers, prefill vs decode, batches of prompts of
different lengths, the int8 cache, sampling options and the errors a user can trigger."""

import copy

import numpy as np
import pytest
import torch
from conftest import tiny_llama_lm
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import tiny_llama
from qcomp.generate import compile_lm


@pytest.fixture(scope="module")
def model():
    m, (ids,) = tiny_llama()
    return m.lm, ids


@pytest.fixture(scope="module")
def fp32_lm(model):
    return tiny_llama_lm("fp32")


@pytest.fixture(scope="module")
def w8a8_int8kv(model):
    return tiny_llama_lm("w8a8", kv="int8")


def _hf_greedy(lm, ids, n):
    with torch.no_grad():
        return lm.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)[0, ids.shape[1] :].tolist()


@pytest.mark.parametrize("prompt_len", [1, 3, 11])  # tail of one-token steps, a padded chunk, a chunk + tail
def test_fp32_greedy_equals_transformers(model, fp32_lm, prompt_len):
    lm, ids = model
    prompt = ids[:, :prompt_len]
    assert fp32_lm.generate(prompt, max_new_tokens=20)[0] == _hf_greedy(lm, prompt, 20)


def test_prefill_and_decode_agree_with_pytorch(model, fp32_lm):
    lm, ids = model
    fp32_lm.reset()
    a = fp32_lm.prefill(ids)
    fp32_lm.reset()
    b = torch.stack([fp32_lm.decode(ids[:, i]) for i in range(ids.shape[1])], dim=1)
    with torch.no_grad():
        want = lm(ids).logits
    scale = float(want.abs().max())
    assert float((a - want).abs().max()) <= 1e-4 * scale
    assert float((b - want).abs().max()) <= 1e-4 * scale
    assert fp32_lm.pos[0] == ids.shape[1]


def test_int8_cache_w8a8(model, w8a8_int8kv, fp32_lm):
    lm, ids = model
    w8a8_int8kv.reset()
    a = w8a8_int8kv.prefill(ids)
    w8a8_int8kv.reset()
    b = torch.stack([w8a8_int8kv.decode(ids[:, i]) for i in range(ids.shape[1])], dim=1)
    assert float((a - b).abs().max()) <= 1e-3 * float(a.abs().max())  # same quantized cache either way
    with torch.no_grad():
        want = lm(ids).logits
    cos = torch.nn.functional.cosine_similarity(b.flatten(), want.flatten(), dim=0)
    assert cos > 0.99
    # int8 keys and values, f16 scales: one per (token, head) for values, per (token, head, 16 channels) for keys
    d = lm.config.hidden_size // lm.config.num_attention_heads
    ratio = w8a8_int8kv.report["cache_bytes"] / fp32_lm.report["cache_bytes"]
    assert ratio == pytest.approx((2 * d + 2 + 2 * d // 16) / (8 * d))


def test_batch_of_prompts_of_different_lengths_from_a_bf16_model(model):
    lm, ids = model
    bf16 = copy.deepcopy(lm).to(torch.bfloat16)
    two = compile_lm(bf16, recipe="fp32", max_seq=64, chunk=8, batch=2)
    assert next(bf16.parameters()).dtype == torch.bfloat16  # the user's model is left as it was
    f32 = copy.deepcopy(bf16).float()
    prompts = [ids[0, :5].tolist(), ids[0, 3:14].tolist()]
    out = two.generate(prompts, max_new_tokens=12)
    for row, p in zip(out, prompts, strict=True):
        assert row == _hf_greedy(f32, torch.tensor([p]), 12)


def test_sampling_options(fp32_lm, model):
    prompt = model[1][:, :4]
    greedy = fp32_lm.generate(prompt, max_new_tokens=10)[0]
    assert fp32_lm.generate(prompt, max_new_tokens=10, do_sample=True, top_k=1, seed=3)[0] == greedy
    a = fp32_lm.generate(prompt, max_new_tokens=10, do_sample=True, temperature=1.5, top_p=0.95, seed=7)[0]
    b = fp32_lm.generate(prompt, max_new_tokens=10, do_sample=True, temperature=1.5, top_p=0.95, seed=7)[0]
    c = fp32_lm.generate(prompt, max_new_tokens=10, do_sample=True, temperature=1.5, top_p=0.95, seed=8)[0]
    assert a == b
    assert a != c
    eos = greedy[3]
    stopped = fp32_lm.generate(prompt, max_new_tokens=10, eos_token_id=eos)[0]
    assert stopped == greedy[: greedy.index(eos) + 1]
    seen = []
    fp32_lm.generate(prompt, max_new_tokens=5, on_token=lambda row, tok: seen.append((row, tok)))
    assert seen == [(0, t) for t in greedy[:5]]
    assert fp32_lm.stats.as_dict()["generated_tokens"] == 5


def test_errors(fp32_lm, model):
    with pytest.raises(QcompError, match="outside the vocabulary"):
        fp32_lm.generate(torch.tensor([[1, 512]]), max_new_tokens=2)
    with pytest.raises(QcompError, match="outside the vocabulary"):
        fp32_lm.decode(torch.tensor([-1]))
    fp32_lm.reset()
    with pytest.raises(QcompError, match="exceed max_seq=64"):
        fp32_lm.prefill(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(QcompError, match="kv must be one of"):
        compile_lm(model[0], kv="int4")
    with pytest.raises(QcompError, match="not a transformers causal LM"):
        compile_lm(torch.nn.Linear(2, 2))
    out = fp32_lm.generate(model[1].repeat(1, 4)[:, :60], max_new_tokens=10)[0]  # stops at the cache's end
    assert len(out) == 5
    assert fp32_lm.pos[0] == 64


def test_cli_generate_json(tmp_path, capsys):
    import json

    from qcomp.tools.qcomp_main import main

    argv = ["generate", "tiny-llama", "--prompt-ids", "5,6,7", "--max-new-tokens", "4", "--max-seq", "32"]
    assert main([*argv, "--recipe", "fp32", "--json", "--chunk", "4"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    m, _ = tiny_llama()
    assert r["token_ids"] == _hf_greedy(m.lm, torch.tensor([[5, 6, 7]]), 4)
    for key in ("prompt_tokens_per_s", "gen_tokens_per_s", "ttft_ms", "peak_rss_mb"):
        assert r[key] > 0
    assert main(["generate", "tiny-llama", "--prompt", "hello"]) == 1
    assert "no tokenizer" in capsys.readouterr().err
    assert np.isfinite(r["gen_tokens_per_s"])


def test_cli_generate_int8_cache_calibrates_the_key_centring(capsys):
    """`--kv int8` calibrates the keys' centring by default (random ids for a model without a tokenizer);
    `--calib 0` caches them as computed."""
    import json

    from qcomp.tools.qcomp_main import main

    argv = ["generate", "tiny-llama", "--prompt-ids", "5,6,7", "--max-new-tokens", "3", "--max-seq", "32"]
    argv += ["--recipe", "fp32", "--kv", "int8", "--chunk", "1", "--json"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["kv_keys"].startswith("centred")
    assert len(r["token_ids"]) == 3
    assert main([*argv, "--calib", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["kv_keys"] == "as computed"
    assert main([*argv, "--calib", "-1"]) == 1
    assert "--calib must be >= 0" in capsys.readouterr().err


def test_eval_takes_a_plain_transformers_causal_lm(tmp_path, model):
    """`qcomp eval file.py:factory` with a factory returning AutoModelForCausalLM-style output in bf16."""
    from qcomp.evaluate import is_encoder
    from qcomp.tools.qcomp_main import load_eval_model

    f = tmp_path / "factory.py"
    f.write_text(
        "from qcomp.examples.models import tiny_llama\n"
        "def build():\n"
        "    m, _ = tiny_llama()\n"
        "    return m.lm.to(__import__('torch').bfloat16), None\n"
    )
    wrapped, _ = load_eval_model(f"{f}:build")
    assert not is_encoder(wrapped)
    ids = model[1]
    with torch.no_grad():
        got = wrapped(ids)
        want = copy.deepcopy(model[0]).to(torch.bfloat16).float()(ids).logits
    assert got.dtype == torch.float32
    assert torch.equal(got, want)
