"""Stored weight bytes of SmolLM2-135M's linear layers per number format: codes plus scales, with the scales as f32
or as 1-byte codes (e8m0 / e4m3; what qc-quantize-float{scale_bytes=true} stores), beside f32 and int8/int4.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats_memory.py [--head]

Sizes are those of the arrays `qc.fp_wlinear` / `qc.wlinear` carry, from the model's real layer shapes
(30 layers × q k v o gate up down; --head adds the tied 49152 × 576 LM head): codes `formats.stored_k` bytes
per row (fp4 two per byte, fp8/fp6 one), scales one per group, f32 = 4 bytes, code = 1 byte, NVFP4 +4 bytes of
tensor scale per layer. fp6 is stored one code per byte (no 4-in-3 packing yet). Every format's arrays are
produced once, on the first layer, and checked to have these sizes and to decode back bit for bit (1-byte
scales equal to the f32 ones).
"""

import argparse
import os
import sys

import numpy as np

FORMATS = ("fp8", "mxfp8", "mxfp6_e3m2", "mxfp4", "nvfp4")


def layer_shapes(model, head: bool) -> list[tuple[int, int]]:
    import torch

    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and (head or not name.endswith("lm_head")):
            out.append(tuple(mod.weight.shape))
    return out


def sizes(fmt, qf, n: int, k: int, scale_bytes: bool) -> int:
    g = -(-k // qf.group(k))
    one_byte = scale_bytes and qf.scale != "f32"
    return n * fmt.stored_k(qf.elem, k) + n * g * (1 if one_byte else 4) + (4 if one_byte and qf.scale == "e4m3" else 0)


def check(fmt, qf, w: np.ndarray) -> None:
    """The arrays of one layer have the sizes `sizes` counts and the 1-byte scales decode to the f32 ones."""
    n, k = w.shape
    wq, s = fmt.quantize_weight(w, qf)
    assert wq.nbytes + s.nbytes == sizes(fmt, qf, n, k, False)
    if qf.scale != "f32":
        ts = fmt.weight_tensor_scale(w, qf)
        codes = fmt.scale_codes(s, qf, ts)
        assert wq.nbytes + codes.nbytes + (4 if ts is not None else 0) == sizes(fmt, qf, n, k, True)
        assert np.array_equal(fmt.decode_scales(codes, qf, ts), s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--head", action="store_true", help="count the tied LM head too")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qcomp.dialects import formats as fmt
    from qcomp.models import smollm2

    model, _ = smollm2()
    shapes = layer_shapes(model, args.head)
    params = sum(n * k for n, k in shapes)
    import torch

    w0 = next(m for m in model.modules() if isinstance(m, torch.nn.Linear)).weight.detach().numpy()
    print(f"# SmolLM2-135M: {len(shapes)} linear layers, {params / 1e6:.2f} M weights; checked on {list(w0.shape)}")
    print()
    print("| format | bytes, f32 scales | bytes, 1-byte scales | bits/weight (f32 → 1-byte scales) | × f32 weights |")
    print("|---|---|---|---|---|")
    print(f"| f32 | {4 * params:,} | | 32 | 1.000 |")
    rows = [("int8 per channel", params + 4 * sum(n for n, _ in shapes), None)]
    rows.append(("int4 g32", params // 2 + 4 * sum(n * -(-k // 32) for n, k in shapes), None))
    for name, a, _ in rows:
        print(f"| {name} | {a:,} | | {8 * a / params:.3f} | {a / (4 * params):.3f} |")
    for name in FORMATS:
        qf = fmt.parse(name)
        check(fmt, qf, w0)
        a = sum(sizes(fmt, qf, n, k, False) for n, k in shapes)
        b = sum(sizes(fmt, qf, n, k, True) for n, k in shapes)
        same = qf.scale == "f32"
        print(
            f"| {name} | {a:,} | {'(f32 scales)' if same else f'{b:,}'} | {8 * a / params:.3f}"
            f"{'' if same else f' → {8 * b / params:.3f}'} | {b / (4 * params):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
