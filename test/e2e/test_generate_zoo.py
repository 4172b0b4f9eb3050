"""compile_lm across the transformers zoo: small random-weight models of each architecture, compiled fp32.

Greedy generation must equal transformers' `generate(do_sample=False)` token for token, and the teacher-forced
logits of `prefill` and of one-token `decode` steps must equal the eager forward's. Mistral's and Gemma-3's
sliding windows (12) are shorter than the sequences, so the window path runs. Architectures kv_attention cannot
compute must be refused in one line.
"""

import pytest
import qcomp
import torch
import transformers as tf
from qcomp.dialects.errors import QcompError
from qcomp.lm_step import LMStep, cache_shapes

WINDOW = 12  # Mistral's and Gemma-3's sliding window: shorter than SEQ and than the generated sequence
SEQ = 20  # teacher-forced tokens: two prefill chunks and a padded third
PROMPT = 13  # one full chunk and a padded one
NEW = 24
LAYERS = {"vocab_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 128}
LLAMA_LIKE = {**LAYERS, "hidden_size": 64, "intermediate_size": 128, "num_key_value_heads": 2}


def qwen2(window=None):
    return tf.Qwen2ForCausalLM(tf.Qwen2Config(**LLAMA_LIKE))


def mistral(window=WINDOW):
    return tf.MistralForCausalLM(tf.MistralConfig(**LLAMA_LIKE, sliding_window=window))


def gemma3(window=WINDOW):
    """Layer 0 sliding, layer 1 full; query_pre_attn_scalar 24 (scale 24^-1/2, not head_dim^-1/2 = 1/4)."""
    cfg = tf.Gemma3TextConfig(
        **LLAMA_LIKE,
        head_dim=16,
        sliding_window=window,
        layer_types=["sliding_attention", "full_attention"],
        query_pre_attn_scalar=24,
    )
    return tf.Gemma3ForCausalLM(cfg)


def gpt2(window=None):
    return tf.GPT2LMHeadModel(
        tf.GPT2Config(vocab_size=512, n_embd=64, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0)
    )


def opt(window=None):
    """Learned positions that OPT derives from the attention mask unless given position ids."""
    cfg = tf.OPTConfig(**LAYERS, hidden_size=64, ffn_dim=128, word_embed_proj_dim=64)
    return tf.OPTForCausalLM(cfg)


def phi(window=None):
    """Rotary on half of each head (partial_rotary_factor 0.5), parallel attention and MLP."""
    return tf.PhiForCausalLM(tf.PhiConfig(**LAYERS, hidden_size=64, intermediate_size=128, partial_rotary_factor=0.5))


def gpt_neox(window=None):
    """Rotary on a quarter of each head (rotary_pct 0.25), fused QKV, parallel residual."""
    return tf.GPTNeoXForCausalLM(tf.GPTNeoXConfig(**LAYERS, hidden_size=64, intermediate_size=128, rotary_pct=0.25))


ARCHS = {f.__name__: f for f in (qwen2, mistral, gemma3, gpt2, opt, phi, gpt_neox)}


def build(name: str, window: int | None = WINDOW) -> torch.nn.Module:
    """The architecture's model, seeded: the same weights whatever the window. HF generation never stops early."""
    torch.manual_seed(0)
    model = ARCHS[name](window).eval()
    model.generation_config.eos_token_id = None  # None in `generate`'s kwargs would fall back to this default
    model.generation_config.pad_token_id = 0
    return model


def tokens(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 512, (1, n), generator=torch.Generator().manual_seed(seed))


def rel(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


@pytest.fixture(scope="module", params=sorted(ARCHS))
def zoo(request):
    """(name, model, CompiledLM): one compile per architecture, shared by its tests."""
    model = build(request.param)
    # windowed models also run padded prefill chunks; the others feed prompts through the decode step (one build)
    chunk = 8 if request.param in ("mistral", "gemma3") else 1
    return request.param, model, qcomp.compile_lm(model, recipe="fp32", max_seq=64, chunk=chunk)


def test_greedy_generation_matches_transformers(zoo):
    name, model, lm = zoo
    prompt = tokens(PROMPT)
    with torch.no_grad():
        out = model.generate(
            prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False
        )
    want = out[0, PROMPT:].tolist()
    got = lm.generate(prompt, max_new_tokens=NEW)[0]
    assert len(want) == NEW
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    assert got == want, f"{name}: first divergence at generated token {first}"


def test_prefill_and_decode_logits_match_eager(zoo):
    name, model, lm = zoo
    ids = tokens(SEQ, seed=2)
    with torch.no_grad():
        want = model(ids).logits
    lm.reset()
    assert rel(lm.prefill(ids), want) <= 1e-4, f"{name}: prefill"
    lm.reset()
    decoded = torch.stack([lm.decode(ids[:, i]) for i in range(SEQ)], dim=1)
    assert rel(decoded, want) <= 1e-4, f"{name}: decode"


@pytest.mark.parametrize("name", ["mistral", "gemma3"])
def test_sliding_window_changes_the_reference(name):
    """The window (WINDOW < SEQ) matters at these sizes, so the tests above exercise it: same weights without it
    give the same logits up to position WINDOW - 1 and different ones after."""
    ids = tokens(SEQ, seed=2)
    with torch.no_grad():
        windowed, full = build(name)(ids).logits, build(name, window=None if name == "mistral" else 64)(ids).logits
    assert rel(windowed[:, :WINDOW], full[:, :WINDOW]) <= 1e-6
    assert rel(windowed[:, WINDOW:], full[:, WINDOW:]) > 1e-3


def test_falcon_step_reaches_attention_without_its_kwargs():
    """Falcon's decoder layers drop the kwargs on the way to attention: LMStep must still route every layer to
    the cache (eager LMStep, no compile: kv_attention's PyTorch implementation)."""
    torch.manual_seed(0)
    model = tf.FalconForCausalLM(
        tf.FalconConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    ).eval()
    step = LMStep(model)
    cache = [torch.zeros(s, dtype=d) for s, d in cache_shapes(model, 1, 64, "fp32")]
    ids = tokens(SEQ, seed=2)
    with torch.no_grad():
        want = model(ids).logits
        first = step(ids[:, :8], torch.tensor([0]), *cache)
        rest = torch.cat([step(ids[:, i : i + 1], torch.tensor([i]), *cache) for i in range(8, SEQ)], dim=1)
    assert rel(torch.cat([first, rest], dim=1), want) <= 1e-5


REFUSED = {
    "gpt-neo (own attention)": (
        lambda: tf.GPTNeoForCausalLM(
            tf.GPTNeoConfig(
                vocab_size=512, hidden_size=64, num_layers=2, num_heads=4, attention_types=[[["global"], 2]]
            )
        ),
        "GPTNeoForCausalLM: 0 of its 2 attention layers go through transformers' attention interface",
    ),
    "gemma2 (soft-capping)": (
        lambda: tf.Gemma2ForCausalLM(tf.Gemma2Config(**LLAMA_LIKE, head_dim=16)),
        "Gemma2ForCausalLM: attention logit soft-capping",
    ),
    "gemma3 (bidirectional)": (
        lambda: tf.Gemma3ForCausalLM(tf.Gemma3TextConfig(**LLAMA_LIKE, head_dim=16, use_bidirectional_attention=True)),
        "Gemma3ForCausalLM: bidirectional",
    ),
    "falcon (alibi)": (
        lambda: tf.FalconForCausalLM(
            tf.FalconConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, alibi=True)
        ),
        "FalconForCausalLM: ALiBi",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsupported_attention_is_refused_in_one_line(case):
    factory, message = REFUSED[case]
    torch.manual_seed(0)
    with pytest.raises(QcompError) as err:
        qcomp.compile_lm(factory().eval(), recipe="fp32", max_seq=64, chunk=8)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
