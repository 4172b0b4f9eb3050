"""Inject activation outlier channels into a transformer without changing what it computes.

Large LLMs develop a few input channels whose activations are 10-1000x the median (Dettmers et al.,
LLM.int8(); Sun et al., "Massive activations"). Small random-weight models do not, so the outlier
passes are tested on models where such channels are planted: a normalisation's gamma (and beta) is
multiplied by `factor` on randomly chosen channels and the columns of the layers reading it are
divided by the same factor (likewise an up-projection's rows and the down-projection's columns).
The float function is unchanged up to rounding; the activations now carry outliers at channel
indices nobody chose by hand.
"""

import torch


def _channels(n: int, count: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randperm(n, generator=gen)[:count]


@torch.no_grad()
def inject_llama(model: torch.nn.Module, count: int = 2, factor: float = 40.0, seed: int = 0) -> dict:
    """Outliers on the inputs of q/k/v, gate/up (via RMSNorm gamma) and down_proj (via up_proj rows) of
    every layer of a transformers LLaMA. Returns {layer: channel indices} for reporting."""
    gen = torch.Generator().manual_seed(seed)
    planted = {}
    for i, layer in enumerate(model.lm.model.layers):
        attn, mlp = layer.self_attn, layer.mlp
        for norm, readers in (
            (layer.input_layernorm, (attn.q_proj, attn.k_proj, attn.v_proj)),
            (layer.post_attention_layernorm, (mlp.gate_proj, mlp.up_proj)),
        ):
            ch = _channels(norm.weight.shape[0], count, gen)
            norm.weight[ch] *= factor
            for lin in readers:
                lin.weight[:, ch] /= factor
        ch = _channels(mlp.up_proj.weight.shape[0], count, gen)
        mlp.up_proj.weight[ch] *= factor
        mlp.down_proj.weight[:, ch] /= factor
        planted[i] = ch.tolist()
    return planted


@torch.no_grad()
def inject_gpt2(model: torch.nn.Module, count: int = 2, factor: float = 40.0, seed: int = 0) -> dict:
    """Outliers on the inputs of c_attn and c_fc (via LayerNorm gamma and beta) of every GPT-2 block.
    GPT-2's Conv1D stores weights as [in, out]: its input channels are rows."""
    gen = torch.Generator().manual_seed(seed)
    planted = {}
    for i, block in enumerate(model.lm.transformer.h):
        for norm, reader in ((block.ln_1, block.attn.c_attn), (block.ln_2, block.mlp.c_fc)):
            ch = _channels(norm.weight.shape[0], count, gen)
            norm.weight[ch] *= factor
            norm.bias[ch] *= factor
            reader.weight[ch, :] /= factor
        planted[i] = ch.tolist()
    return planted
