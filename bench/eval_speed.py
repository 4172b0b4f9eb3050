"""SmolLM2 fp32 evaluation speed and memory: compiled vs PyTorch eager on the same windows, one run.

    .venv/bin/python bench/eval_speed.py [--windows 16] [--seq 512] [--threads 1]

Prints compile time, peak RSS, both perplexities and the time ratio compiled / eager.
"""

import argparse
import os
import resource
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import smollm2

    model, tok = smollm2()
    wins, _ = token_windows(tok, default_text(), args.windows, args.seq)
    start = time.perf_counter()
    cm = qcomp.compile(model, (wins[0],), recipe="fp32")
    t_compile = time.perf_counter() - start
    start = time.perf_counter()
    ppl, tokens = perplexity(cm, wins)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        ref, _ = perplexity(model, wins)
    t_eager = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"# {os.cpu_count()} cores, torch threads {args.threads}, {args.windows} x {args.seq} tokens ({tokens} scored)"
    )
    print(f"compile {t_compile:.1f} s, peak RSS {peak:.2f} GB")
    print(f"qcomp fp32   ppl {ppl:.4f}  {t_ours:7.1f} s")
    print(f"torch eager  ppl {ref:.4f}  {t_eager:7.1f} s")
    print(f"ratio qcomp/eager time {t_ours / t_eager:.2f}, ppl {ppl / ref:.6f}")


if __name__ == "__main__":
    main()
