"""RSS of a compiled model over many calls: python bench/rss_soak.py [CALLS] [RECIPE] [TARGET] [MODEL]

MODEL: tiny-llama (default; token ids in) or mlp (a float input [3, 16] through Linear-ReLU-Linear: with a
static-scale recipe such as w8a8-static every call also checks that input for NaN/inf, docs/numerics.md).
Prints the resident set size after 200 warm-up calls of the compiled function (`cm.artifact`) and after CALLS
more (default 5000, w8a8, cpu)."""

import sys

import qcomp
import torch
from qcomp.examples.models import tiny_llama


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _model(name: str):
    if name == "mlp":
        m = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
        return m, (torch.linspace(-2, 2, 48).reshape(3, 16),)
    return tiny_llama()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    recipe = sys.argv[2] if len(sys.argv) > 2 else "w8a8"
    target = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    model = sys.argv[4] if len(sys.argv) > 4 else "tiny-llama"
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m, inputs = _model(model)
    tgt = qcomp.targets.get("gpu", emulate=True) if target == "gpu" else target
    calib = [inputs] * 2 if recipe.endswith("-static") else None
    cm = qcomp.compile(m, inputs, target=tgt, recipe=recipe, calibration=calib)
    x = inputs[0].numpy()
    for _ in range(200):
        cm.artifact(x)
    r0 = rss_mb()
    for _ in range(n):
        cm.artifact(x)
    r1 = rss_mb()
    checked = bool(getattr(getattr(cm.artifact, "fn", None), "finite_only", False))
    print(
        f"{target} {recipe} {model}: RSS {r0:.1f} MB -> {r1:.1f} MB over {n} calls: {r1 - r0:+.2f} MB"
        f" (NaN/inf check per call: {'yes' if checked else 'no'})"
    )


if __name__ == "__main__":
    main()
