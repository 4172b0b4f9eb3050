"""CIM Monte-Carlo: a model's accuracy over many device draws (seeds), here or as Ray tasks.

`cim_monte_carlo("minilm", seeds=range(32), options={"variation": 0.05, "adc_bits": 6}, executor="ray")` compiles the
model for the CIM target once per task and, per seed, re-programs the crossbars with that seed's device draw
(`CimArtifact.program_arrays`: variation and stuck-at maps from `default_rng([seed, layer])`) and measures the
metric of `qcomp.sweep_work` (perplexity, embedding cosine or rel_mse) against the fp32 reference, which is
computed once (`prepare`) and handed to every task. Serial and Ray give the same numbers: each draw depends only on
its seed, and the build and the host code are deterministic. What travels to a worker: the model's factory spec,
the seeds of its chunk, the target options, the recipe name and the prepared reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import qcomp
from qcomp.dialects.errors import QcompError
from qcomp.executor import map_tasks
from qcomp.sweep_spec import ModelSpec
from qcomp.sweep_work import Reference, calibrate_for, load, measure, prepare, table_key


def _chunk_task(model: ModelSpec, recipe: str, options: dict, seeds: list[int], ref: Reference, table, threads: int):
    """[(seed, metric)] of one chunk: one compile, one re-programming of the arrays per seed."""
    import torch  # deferred: torch (heavy)

    torch.set_num_threads(threads)
    _, module, _ = load(model.spec)
    target = qcomp.targets.get("cim", **{**options, "seed": seeds[0]})
    cm = qcomp.compile(module, ref.example, target=target, recipe=recipe, calibration=table)
    out = []
    for seed in seeds:
        cm.artifact.program_arrays(replace(cm.artifact.arch, seed=seed))
        out.append((seed, measure(cm, ref)))
    return out


def cim_monte_carlo(
    model: str | ModelSpec,
    seeds: Iterable[int],
    recipe: str = "w8a8",
    options: dict | None = None,
    executor: str | None = None,
    chunks: int = 4,
    threads: int = 1,
) -> dict:
    """{metric, fp32_value, seeds: {seed: value}} of `model` (a factory spec, or a ModelSpec with its evaluation
    sizes) on the CIM target with `options`, one device draw per seed. executor: None / 'serial' (one compile here),
    'ray' or 'ray:ADDRESS' (`chunks` Ray tasks, one compile each; `qcomp.executor`)."""

    m = model if isinstance(model, ModelSpec) else ModelSpec(model)
    seeds = list(seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise QcompError(f"cim Monte-Carlo: seeds must be integers >= 0, got {seeds!r}")
    options = dict(options or {})
    if "seed" in options:
        raise QcompError("cim Monte-Carlo: the seeds are the device draws: give `seeds`, not options['seed']")
    ref = prepare(m, 0, threads)
    if ref.error:
        raise QcompError(ref.error)
    need = table_key(recipe, None)
    table = calibrate_for(m, ref, *need, threads) if need is not None else None
    if isinstance(table, str):
        raise QcompError(table)
    n = max(1, min(chunks, len(seeds)))
    if executor in (None, "", "serial"):
        n = 1
    args = [(m, recipe, options, seeds[c::n], ref, table, threads) for c in range(n)]
    values = dict(pair for part in map_tasks(_chunk_task, args, executor) for pair in part)
    return {"metric": ref.metric, "fp32_value": ref.fp32_value, "seeds": {s: values[s] for s in seeds}}
