"""Built-in example models: small, random-weight, no downloads. Each factory returns (module, example_inputs)."""

import torch


class MLP(torch.nn.Module):
    """Linear -> LayerNorm -> GELU -> Linear -> SiLU -> Linear."""

    def __init__(self, d_in: int = 64, d_h: int = 128, d_out: int = 32):
        super().__init__()
        self.fc1 = torch.nn.Linear(d_in, d_h)
        self.norm = torch.nn.LayerNorm(d_h)
        self.fc2 = torch.nn.Linear(d_h, d_h)
        self.fc3 = torch.nn.Linear(d_h, d_out)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.norm(self.fc1(x)))
        return self.fc3(torch.nn.functional.silu(self.fc2(h)))


class CNN(torch.nn.Module):
    """conv -> relu -> maxpool -> conv -> relu -> avgpool -> flatten -> linear."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(32 * 4 * 4, classes)

    def forward(self, x):
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = torch.relu(self.conv2(h))
        return self.fc(torch.flatten(h, 1))


class LogitsOnly(torch.nn.Module):
    """Wraps a transformers causal LM so that forward(input_ids) returns the logits tensor."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids):
        return self.lm(input_ids=input_ids, use_cache=False).logits


def mlp(batch: int = 8):
    torch.manual_seed(0)
    return MLP().eval(), (torch.randn(batch, 64),)


def cnn(batch: int = 2):
    torch.manual_seed(0)
    return CNN().eval(), (torch.randn(batch, 3, 16, 16),)


def tiny_llama(seq: int = 16):
    """2-layer LLaMA (RMSNorm, rotary, GQA, SiLU-gated MLP) from a transformers config, random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM  # deferred: transformers (heavy)

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        attn_implementation="sdpa",
    )
    ids = torch.randint(0, cfg.vocab_size, (1, seq))
    return LogitsOnly(LlamaForCausalLM(cfg).eval()).eval(), (ids,)


def tiny_gpt2(seq: int = 16):
    """2-layer GPT-2 (LayerNorm, Conv1D projections, tanh-GELU) from a transformers config, random weights."""
    from transformers import GPT2Config, GPT2LMHeadModel  # deferred: transformers (heavy)

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=512,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=128,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="sdpa",
    )
    ids = torch.randint(0, cfg.vocab_size, (1, seq))
    return LogitsOnly(GPT2LMHeadModel(cfg).eval()).eval(), (ids,)


BUILTIN = {"mlp": mlp, "cnn": cnn, "tiny-llama": tiny_llama, "tiny-gpt2": tiny_gpt2}
