"""What one sweep worker does: load a model from its factory spec, prepare its shared data, run a point.

Three steps, each a plain function of plain data (a Ray task in `qcomp.sweep`, or a call in process):
- `prepare(model, seed, threads)` -> `Reference`: the evaluation inputs, the calibration inputs and the fp32
  reference (PyTorch eager: perplexity over the windows, embeddings, or the outputs on synthetic inputs);
- `calibrate_for(model, reference, percentile, sensitivity, hessian, threads)` -> `CalibrationTable`: the statistics
  every recipe of the model that calibrates shares (method clips chosen per point with `table.using`);
- `run_point(point, reference, table)` -> a result dict: compile, measure, figures.
The model itself never travels: each process loads it from the spec once (`models.load`). Errors become a result
with an `error` line, so a bad point does not stop a sweep.

Metrics (`compiler/evaluate.py`): causal LMs perplexity (lower is better), encoders the mean cosine of
sentence embeddings to fp32 (higher), other models `rel_mse`, Σ‖y − y_fp32‖² / Σ‖y_fp32‖² over synthetic
inputs (lower).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np
import qcomp
import torch
from qcomp.dialects.errors import QcompError
from qcomp.evaluate import _plan, default_text, embed, encoder_batches, perplexity, token_windows
from qcomp.models import check_model as check_model  # moved to the model loaders (issue 18)
from qcomp.models import load, synthetic_samples
from qcomp.recipes import calibration_method, get_recipe, with_budget
from qcomp.sweep_spec import ModelSpec, Point
from threadpoolctl import threadpool_limits

LOWER_IS_BETTER = {"perplexity": True, "cosine": False, "rel_mse": True}


@dataclass
class Reference:
    """A model's evaluation data and fp32 reference, computed once and shared by all its points."""

    metric: str
    fp32_value: float
    example: tuple
    evals: list  # LM: windows [1, seq]; encoder: (ids, mask); other: input tuples
    calibration: list[tuple]
    outputs: list = field(default_factory=list)  # encoder: reference embeddings; other: reference outputs
    tokens: int = 0
    error: str | None = None


def _failed(e: Exception) -> str:
    return str(e) if isinstance(e, QcompError) else f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"


@contextlib.contextmanager
def _threads(n: int):
    """torch's and numpy's BLAS threads set to the point's `n` (OpenBLAS's sgemm rounds differently with 1 and 2
    threads, and the passes' searches run numpy products: without this, a sweep in process (BLAS on every core)
    and on Ray workers (one thread per task) differ in the last bits of AWQ's and GPTQ's results)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


def _first(out) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[0]


def prepare(model: dict | ModelSpec, seed: int = 0, threads: int = 1) -> Reference:
    """The evaluation and calibration inputs of `model` and its fp32 reference (see module docstring)."""
    m = model if isinstance(model, ModelSpec) else ModelSpec(**model)
    try:
        with _threads(threads), torch.no_grad():
            return _prepare(m, seed)
    except Exception as e:
        return Reference("", float("nan"), (), [], [], error=f"{m.spec}: {_failed(e)}")


def _prepare(m: ModelSpec, seed: int) -> Reference:

    kind, module, extra = load(m.spec)
    if kind == "lm":
        wins, cal = token_windows(extra, default_text(), m.windows, m.seq, m.calib)
        ppl, tokens = perplexity(module, wins, f"{m.spec} eager")
        return Reference("perplexity", ppl, (wins[0],), wins, [(c,) for c in cal], tokens=tokens)
    if kind == "encoder":
        batches = encoder_batches(extra, default_text(), m.windows + m.calib, m.seq)
        evals, cal = batches[: m.windows], batches[m.windows :]
        refs = [embed(module(ids, mask), mask) for ids, mask in evals]
        tokens = sum(int(mask.sum()) for _, mask in evals)
        return Reference("cosine", 1.0, evals[0], evals, cal, refs, tokens)
    example, given = extra
    evals = synthetic_samples(example, m.samples, seed=1000 + seed)
    cal = given[: m.calib] if given else synthetic_samples(example, m.calib, seed=seed)
    outs = [_first(module(*x)).float() for x in evals]
    return Reference("rel_mse", 0.0, example, evals, cal, outs, sum(int(o.numel()) for o in outs))


def calibrate_for(
    model: dict | ModelSpec,
    reference: Reference,
    percentile: float = 99.99,
    sensitivity: str | None = None,
    hessian: bool = False,
    threads: int = 1,
    executor: str | None = None,
):
    """The calibration table the model's calibrated recipes share (statistics on the CPU's fp32 build; output
    gains at `sensitivity` when a qc-assign-precision needs them, as tasks on `executor` (`qcomp.executor`: the
    sweep's Ray cluster) loading the model from its spec; Hessians for qc-gptq). An error text on failure."""
    from qcomp.calibrate import calibrate  # deferred: loads MLIR (heavy)

    m = model if isinstance(model, ModelSpec) else ModelSpec(**model)
    if reference.error:
        return reference.error
    try:
        with _threads(threads):
            _, module, _ = load(m.spec)
            return calibrate(
                module,
                reference.calibration,
                "minmax",
                percentile,
                "cpu",
                sensitivity=sensitivity,
                hessian=hessian,
                executor=executor if sensitivity else None,
                model_spec=m.spec,
            )
    except Exception as e:
        return f"{m.spec}: calibration: {_failed(e)}"


def table_key(recipe: str, budget: float | None) -> tuple | None:
    """(percentile, sensitivity reference, hessian) of the calibration `recipe` needs; None when it needs none."""
    from qcomp.api import gain_reference, needs_hessian  # deferred: loads MLIR (heavy)

    rec = get_recipe(recipe)
    rec = with_budget(rec, budget) if budget is not None else rec
    if not rec.calibration:
        return None
    _, pct = calibration_method(rec.calibration, rec.name)
    return (pct, gain_reference(rec), needs_hessian(rec))


def make_target(name: str, options: dict, seed: int, threads: int):
    """The point's target: its options, plus the point's seed (a target with a `seed` option: the CIM device draw)
    and threads (a target with a `threads` option: the CPU's OpenMP threads) unless the options set them."""

    fields = {f.name for f in dataclasses.fields(type(qcomp.targets.get(name)).Options)}
    extra = {"seed": seed} if "seed" in fields else {}
    extra |= {"threads": threads} if "threads" in fields else {}
    return qcomp.targets.get(name, **{**extra, **options})


def measure(cm, ref: Reference, desc: str = "") -> float:
    """The metric of the compiled model `cm` on the reference's evaluation inputs (see module docstring)."""

    with torch.no_grad():
        if ref.metric == "perplexity":
            return perplexity(cm, ref.evals, desc)[0]
        if ref.metric == "cosine":
            pairs = zip(ref.evals, ref.outputs, strict=True)
            return float(np.mean([float((want * embed(cm(ids, mask), mask)).sum()) for (ids, mask), want in pairs]))
        num = den = 0.0
        for x, want in zip(ref.evals, ref.outputs, strict=True):
            got = _first(cm(*x)).float()
            num, den = num + float(((got - want) ** 2).sum()), den + float((want**2).sum())
        return num / max(den, 1e-30)


class _Timed:
    """A compiled model that records the seconds of each call (latency: their median)."""

    def __init__(self, cm):
        self.cm, self.seconds = cm, []

    def __call__(self, *inputs):
        start = time.perf_counter()
        out = self.cm(*inputs)
        self.seconds.append(time.perf_counter() - start)
        return out


def run_point(point: dict | Point, reference: Reference, table=None) -> dict:
    """Compile the point's model and measure it against the shared reference: one results.jsonl record."""
    p = point if isinstance(point, Point) else Point.from_dict(point)
    head = {"key": p.key, "label": p.label, "point": p.as_dict(), "pid": os.getpid()}
    err = reference.error or (table if isinstance(table, str) else None)
    if err:
        return {**head, "error": err}
    try:
        with _threads(p.threads), torch.no_grad():
            return {**head, **_run(p, reference, table)}
    except Exception as e:
        return {**head, "error": f"{p.label}: {_failed(e)}"}


def _run(p: Point, ref: Reference, table) -> dict:

    kind, module, _ = load(p.model.spec)
    rec = get_recipe(p.recipe)
    rec = with_budget(rec, p.budget) if p.budget is not None else rec
    target = make_target(p.target, p.target_options, p.seed, p.threads)
    if table is not None and rec.calibration:
        table = table.using(calibration_method(rec.calibration, rec.name)[0])
    start = time.perf_counter()
    cm = _Timed(qcomp.compile(module, ref.example, target=target, recipe=rec, calibration=table))
    compiled = time.perf_counter()
    value = measure(cm, ref, f"{p.model.spec} {rec.name}")
    seconds = time.perf_counter() - compiled
    avg_wbits, budget = _plan(cm.cm)
    tgt = cm.cm.report.get("target", {})
    return {
        "model": p.model.spec,
        "recipe": rec.name,
        "target": target.name,
        "seed": p.seed,
        "metric": ref.metric,
        "value": value,
        "fp32_value": ref.fp32_value,
        "lower_is_better": LOWER_IS_BETTER[ref.metric],
        "avg_wbits": avg_wbits if avg_wbits is not None else 32.0,
        "budget": budget,
        "weights_bytes": cm.cm.report["sizes"]["weights_bytes"],
        "latency_ms": 1e3 * float(np.median(cm.seconds)),
        "energy_uj": tgt["energy_pj"] * 1e-6 if isinstance(tgt.get("energy_pj"), int | float) else None,
        "target_figures": {k: tgt[k] for k in ("energy_pj", "latency_ns", "cycles", "arrays") if k in tgt},
        "compile_s": compiled - start,
        "eval_s": seconds,
        "tokens": ref.tokens,
    }
