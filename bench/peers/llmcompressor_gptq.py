"""llm-compressor's GPTQModifier as a peer for bench/gptq.py: SmolLM2-135M W4A16 / W3A16 perplexity.

Group size: SmolLM2's hidden size is 576 = 4.5 x 128, and llm-compressor 0.14 cannot quantize in groups of 128
with a partial last group: its divisibility check refuses the model, and with bypass_divisibility_checks=True
its observer fails (`unflatten: sizes [-1, 128] don't multiply up to 576`). So the llm-compressor comparison
runs at --group 64 (576 and 1536 divide), and at g128 the peer is bench/peers/gptq_reference.py (the GPTQ
reference implementation's algorithm in plain PyTorch).

Runs with its own venv's python (llmcompressor pins transformers<=5.17; qcomp is not importable there)::

    python3.11 -m venv ~/.cache/qcomp-bench/llmc-venv
    ~/.cache/qcomp-bench/llmc-venv/bin/pip install /path/to/torch-2.13.0+cpu-...whl  # the CPU torch, never CUDA
    echo 'torch==2.13.0+cpu' > c.txt; PIP_CONSTRAINT=c.txt ~/.cache/qcomp-bench/llmc-venv/bin/pip install \\
        llmcompressor==0.14.0.1
    ~/.cache/qcomp-bench/llmc-venv/bin/python bench/peers/llmcompressor_gptq.py --windows 16 --calib 8

Same weights, windows and protocol as bench/gptq.py: the fp32 checkpoint `qcomp.models.smollm2()` caches under
$XDG_CACHE_HOME/qcomp/smollm2-135m-fp32 (run qcomp once first), the vendored text, `windows` non-overlapping
windows of `seq` tokens (no special tokens) scored independently in float64, calibration on the `calib`
windows after them (qcomp.evaluate.token_windows, re-implemented here line for line); --sha prints a digest of
the windows so both sides can be compared. Every Linear layer is quantized, lm_head included (untied from the
embedding first, so the embedding stays fp32 as in qcomp, whose tied lm_head is a qc.linear of its own).

GPTQModifier options: int weights in groups of `group` (strategy group), actorder static (qcomp's
act_order + static_groups), block_size 128, dampening_frac 0.01; --sym / --asym picks compressed-tensors'
symmetric (scale = absmax / 7.5, codes [-8, 7] at 4 bits — qcomp's is absmax / 7 on [-7, 7]) or asymmetric
(zero points) format. --pipeline sequential (llm-compressor's default: each decoder layer's Hessians from the
outputs of the already quantized layers before it) or basic (all Hessians from the float model, as qcomp's
qc-gptq today).
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from protocol import digest, load_smollm2, perplexity, token_windows


def _levels(w: torch.Tensor, group: int) -> int:
    """The most distinct values in one row's group of `group` columns (a b-bit grid has at most 2^b)."""
    n, k = w.shape
    rows = range(0, n, max(n // 16, 1))
    return max(int(torch.unique(w[r, c : c + group]).numel()) for r in rows for c in range(0, k, group))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--calib", type=int, default=8, help="calibration windows")
    ap.add_argument("--wbits", type=int, default=4)
    ap.add_argument("--group", type=int, default=64, help="576 and 1536 must divide (see the docstring)")
    ap.add_argument("--asym", action="store_true", help="zero points (default: symmetric)")
    ap.add_argument("--pipeline", choices=("sequential", "basic"), default="sequential")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sha", action="store_true", help="print a digest of the evaluation and calibration windows")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import GPTQModifier

    model, tok = load_smollm2()
    wins, calw = token_windows(tok, args.windows, args.seq, args.calib)
    if args.sha:
        print(f"# eval windows sha256 {digest(wins)}, calibration windows sha256 {digest(calw)}")
    fp32 = perplexity(model, wins)
    print(f"# llmcompressor GPTQ peer: {args.windows} windows x {args.seq} tokens, calibration {args.calib} windows")
    print(f"# fp32 {fp32:.4f}", flush=True)

    weights = QuantizationArgs(
        num_bits=args.wbits, type="int", symmetric=not args.asym, strategy="group", group_size=args.group
    )
    recipe = GPTQModifier(
        config_groups={"group_0": QuantizationScheme(targets=["Linear"], weights=weights)},
        block_size=128,
        dampening_frac=0.01,
        actorder="static",
    )
    ds = Dataset.from_dict(
        {"input_ids": [c[0].tolist() for c in calw], "attention_mask": [[1] * args.seq for _ in calw]}
    )
    start = time.perf_counter()
    oneshot(
        model=model,
        dataset=ds,
        recipe=recipe,
        max_seq_length=args.seq,
        num_calibration_samples=len(calw),
        pipeline=args.pipeline,
    )
    gptq_s = time.perf_counter() - start
    quantized = [m for _, m in model.named_modules() if hasattr(m, "weight_scale")]
    levels = max(_levels(m.weight.detach(), args.group) for m in quantized)
    if levels > 2**args.wbits:
        sys.exit(f"GPTQ left weights off a {args.wbits}-bit grid: {levels} distinct values in a group")
    try:
        value = perplexity(model, wins)
        how = "compressed-tensors' fake-quantized forward"
    except Exception as e:  # the partial last group: evaluate the on-grid weights GPTQ wrote, unquantized forward
        from compressed_tensors.quantization.lifecycle.helpers import disable_quantization

        print(f"# fake-quantized forward failed ({type(e).__name__}: {str(e)[:120]}); evaluating GPTQ's weights")
        model.apply(disable_quantization)
        value = perplexity(model, wins)
        how = "GPTQ's on-grid weights, forward unquantized"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    fmt = "asym" if args.asym else "sym"
    print(
        f"llmcompressor GPTQModifier w{args.wbits}a16 g{args.group} {fmt} actorder=static pipeline={args.pipeline}: "
        f"ppl {value:.4f}  x fp32 {value / fp32:.4f}  ({len(quantized)} Linear layers, GPTQ {gptq_s:.0f} s, "
        f"peak RSS {rss:.2f} GiB; at most {levels} values per group; {how})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
