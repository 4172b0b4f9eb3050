"""Accuracy evaluation on real text: perplexity for causal LMs, embedding cosine for encoders.

Perplexity follows shared/notes/models.md: the text is tokenized without special tokens, cut into
non-overlapping windows of `seq` tokens (the first `windows` of them), each window scored on its
own; ppl = exp(mean negative log-likelihood of the seq-1 predicted tokens per window). Calibration
sequences, when a recipe needs them, come from the tokens after the evaluation windows (disjoint).

Encoders: the text is split into sentences, each padded/truncated to `seq` tokens; embeddings are
mask-weighted means of the last hidden state, L2-normalised; the metric is the mean cosine
similarity of the compiled model's embeddings to PyTorch eager fp32's.
"""

import importlib.resources
import math
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import qcomp
import torch
from qcomp.dialects.errors import QcompError
from qcomp.models import is_encoder as is_encoder  # re-exported: it moved to the model loaders
from qcomp.recipes import calibration_method, get_recipe, with_budget


@dataclass
class EvalResult:
    model: str
    recipe: str
    target: str
    metric: str
    value: float
    fp32_value: float
    tokens: int
    seconds: float
    avg_wbits: float | None = None  # stored bits per weight of the quantized linear layers, scales included
    budget: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def default_text() -> str:
    """The vendored evaluation text (1911 Britannica, "Shakespeare", public domain)."""
    return importlib.resources.files("qcomp").joinpath("data/eb1911-shakespeare.txt").read_text()


def read_text(path: str | None) -> str:
    if path is None:
        return default_text()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise QcompError(f"{path}: cannot read text: {e.strerror}") from e


def token_windows(tokenizer, text: str, windows: int, seq: int, calib: int = 0):
    """(evaluation windows, calibration windows) of token ids, shape [1, seq] each, disjoint."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    need = (windows + calib) * seq
    if len(ids) < windows * seq:
        raise QcompError(f"the text has {len(ids)} tokens, fewer than {windows} windows of {seq}")
    if len(ids) < need:
        raise QcompError(
            f"the text has {len(ids)} tokens: not enough for {calib} calibration windows after "
            f"{windows} evaluation windows of {seq}"
        )
    t = torch.tensor(ids[:need], dtype=torch.int64).reshape(-1, 1, seq)
    return list(t[:windows]), list(t[windows:])


def window_nll(logits: torch.Tensor, ids: torch.Tensor) -> float:
    """Sum of -log p(token t+1 | ≤ t) over one window, in float64."""
    logp = torch.log_softmax(logits[0, :-1].double(), dim=-1)
    return float(-logp.gather(1, ids[0, 1:, None]).sum())


def _progress(items, desc: str):
    try:
        from tqdm import tqdm  # deferred: optional (it comes with transformers)

        return tqdm(items, desc=desc, file=sys.stderr, leave=False, disable=not sys.stderr.isatty())
    except ImportError:  # pragma: no cover - tqdm comes with transformers
        return items


def perplexity(run, wins, desc: str = "perplexity") -> tuple[float, int]:
    """(perplexity, predicted tokens) of `run(ids) -> logits` over the windows."""
    nll, count = 0.0, 0
    for w in _progress(wins, desc):
        nll += window_nll(run(w), w)
        count += w.shape[1] - 1
    return math.exp(nll / count), count


def sentences(text: str, limit: int) -> list[str]:
    parts = [s.strip().replace("\n", " ") for s in re.split(r"(?<=[.!?])\s+", text)]
    return [s for s in parts if len(s.split()) >= 3][:limit]


def encoder_batches(tokenizer, text: str, count: int, seq: int):
    enc = tokenizer(sentences(text, count), padding="max_length", truncation=True, max_length=seq, return_tensors="pt")
    return [(enc["input_ids"][i : i + 1], enc["attention_mask"][i : i + 1]) for i in range(enc["input_ids"].shape[0])]


def embed(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask[..., None].to(hidden.dtype)
    e = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(e, dim=-1)


def evaluate(
    name: str,
    model,
    tokenizer,
    recipe: str = "fp32",
    target="cpu",
    text: str | None = None,
    windows: int = 16,
    seq: int = 512,
    calib: int = 8,
    compile_fn=None,
    budget: float | None = None,
) -> EvalResult:
    """Compile `model` with `recipe` (its qc-assign-precision at `budget`, when given) and measure it on
    `text` (see module docstring)."""
    results = evaluate_budgets(name, model, tokenizer, recipe, [budget], target, text, windows, seq, calib, compile_fn)
    return next(results)


def evaluate_budgets(
    name: str,
    model,
    tokenizer,
    recipe: str = "fp32",
    budgets: Sequence[float | None] = (None,),
    target="cpu",
    text: str | None = None,
    windows: int = 16,
    seq: int = 512,
    calib: int = 8,
    compile_fn=None,
) -> Iterator[EvalResult]:
    """`evaluate` at each budget in turn (None: the recipe's own), yielding each result when measured. The
    windows, the fp32 reference and the calibration table (with output gains when the recipe's
    qc-assign-precision needs them: one forward pass per layer) are computed once for all budgets."""
    body = read_text(text)
    base = get_recipe(recipe)
    recs = [base if b is None else with_budget(base, b) for b in budgets]
    n_cal = calib if base.calibration else 0
    compile_fn = compile_fn or qcomp.compile
    tgt = qcomp.targets.get(target) if isinstance(target, str) else target
    if is_encoder(model):
        batches = encoder_batches(tokenizer, body, windows + n_cal, seq)
        evals, cal = batches[:windows], batches[windows:]
        example, metric, ref = evals[0], "cosine", 1.0
        with torch.no_grad():
            refs = [embed(model(ids, mask), mask) for ids, mask in evals]

        def measure(cm, desc: str) -> tuple[float, int]:
            cos, tokens = [], 0
            for (ids, mask), want in zip(_progress(evals, desc), refs, strict=True):
                cos.append(float((want * embed(cm(ids, mask), mask)).sum()))
                tokens += int(mask.sum())
            return float(np.mean(cos)), tokens
    else:
        wins, calw = token_windows(tokenizer, body, windows, seq, n_cal)
        example, cal, metric = (wins[0],), [(c,) for c in calw], "perplexity"
        with torch.no_grad():
            ref, _ = perplexity(model, wins, f"{name} eager")

        def measure(cm, desc: str) -> tuple[float, int]:
            return perplexity(cm, wins, desc)

    table = calibration_table(model, cal, base, tgt) if base.calibration else None
    for rec in recs:
        cm = compile_fn(model, example, target=tgt, recipe=rec, calibration=table)
        start = time.perf_counter()
        value, tokens = measure(cm, f"{name} {rec.name}")
        seconds = time.perf_counter() - start
        yield EvalResult(name, rec.name, tgt.name, metric, value, ref, tokens, seconds, *_plan(cm))


def calibration_table(model, samples: list[tuple], recipe, target):
    """The table `qcomp.compile(model, ..., recipe, calibration=samples)` would build, to share between compiles:
    the recipe's calibration method, plus output gains at the reference precision its qc-assign-precision
    needs (sensitivity=output_mse)."""
    from qcomp.api import gain_reference, needs_hessian  # deferred: the compiler loads MLIR (`qcomp eval` reads
    from qcomp.calibrate import calibrate  # this module's text helpers without it)

    method, pct = calibration_method(recipe.calibration or "minmax", recipe.name)
    return calibrate(
        model, samples, method, pct, target, sensitivity=gain_reference(recipe), hessian=needs_hessian(recipe)
    )


def _plan(cm) -> tuple:
    report = getattr(cm, "report", {})
    plan = report.get("precision_plan")
    return (plan["avg_wbits"], plan["budget"]) if plan else (report.get("sizes", {}).get("avg_wbits"), None)
