"""An accelerator's figures per call and per generated token of a compiled causal LM (`CompiledLM.target_report`).

Each accelerator artifact gives the additive figures of one call of its program (`step_metrics()`: every
offloaded op run once, host code not counted): NPU `cycles`, `latency_ns`, `dram_bytes`, `macs`; CIM
`energy_pj`, `latency_ns`, `macs`; GPU `kernel_launches`, `macs`. They do not depend on the data (the NPU's
timing and the CIM's energy model are functions of the programs and shapes), so one decode call's figures are
those of every decode step. A decode step computes one token per row: per generated token = step / batch. A
prefill call computes `chunk` positions per row (the last chunk's unused rows too): per prompt token = call /
(batch · chunk). Targets without such figures (the CPU) give none.
"""

from typing import Any


def step_metrics(artifact) -> dict[str, float]:
    """The additive figures of one call of `artifact` ({} when the target has none)."""
    fn = getattr(artifact, "step_metrics", None)
    return dict(fn()) if callable(fn) else {}


def _per(figures: dict[str, float], tokens: int) -> dict[str, float]:
    return {f"{k}_per_token": v / tokens for k, v in figures.items()}


def lm_report(target: str, prefill_artifact, decode_artifact, batch: int, chunk: int) -> dict[str, Any]:
    """Per generated token (a decode step's figures over its `batch` rows, as `<figure>_per_token` at the top
    level), plus one decode step's and one prefill chunk's figures (see the module docstring)."""
    dec, pre = step_metrics(decode_artifact), step_metrics(prefill_artifact)
    return {
        "target": target,
        **_per(dec, batch),
        "decode_step": {"tokens": batch, **dec},
        "prefill_chunk": {"tokens": batch * chunk, **pre, **_per(pre, batch * chunk)},
    }
