"""RSS of a compiled tiny-llama over many calls: python bench/rss_soak.py [CALLS] [RECIPE] [TARGET]

Prints the resident set size after 200 warm-up calls and after CALLS more (default 5000, w8a8, cpu)."""

import sys

import qcomp
import torch
from qcomp.examples.models import tiny_llama


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    recipe = sys.argv[2] if len(sys.argv) > 2 else "w8a8"
    target = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m, inputs = tiny_llama()
    tgt = qcomp.targets.get("gpu", emulate=True) if target == "gpu" else target
    cm = qcomp.compile(m, inputs, target=tgt, recipe=recipe)
    x = inputs[0].numpy()
    for _ in range(200):
        cm.artifact(x)
    r0 = rss_mb()
    for _ in range(n):
        cm.artifact(x)
    r1 = rss_mb()
    print(f"{target} {recipe}: RSS {r0:.1f} MB -> {r1:.1f} MB over {n} calls: {r1 - r0:+.2f} MB")


if __name__ == "__main__":
    main()
