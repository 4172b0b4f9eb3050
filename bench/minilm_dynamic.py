"""MiniLM (all-MiniLM-L6-v2) from one dynamic build per recipe: sentence-embedding cosine to PyTorch fp32 over
batch 1..8 and token lengths 8..512, in one run.

    .venv/bin/python bench/minilm_dynamic.py [--recipes w8a8,w8a8-smooth,w8a8-split-smooth] [--calib 12]
                                             [--threads 1] [--lengths 8,16,...] [--batches 1,2,4,8]
                                             [--pipeline NAME=PIPELINE ...]

Each recipe is compiled once with `dynamic_shapes` (batch <= 8, length <= 512) and run at every (batch, length):
rows of exactly `length` tokens cut from the vendored 1911 Britannica text, and one padded batch of mixed lengths.
Cosine: mean-pooled last hidden states over the attention mask, per row, min over rows (the sentence
embedding, as sentence-transformers pools it); also the worst token's hidden-state cosine. Calibration:
`--calib` rows of 128 tokens (calibration takes one shape) from a part of the text the evaluation does not use.
`--pipeline name=...` adds a calibrated recipe from a pipeline string.
"""

import argparse
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rows(tok, words: list[str], b: int, n: int, offset: int) -> dict:
    """b rows of exactly n tokens ([CLS] ... [SEP]) from the text at `offset` words."""
    texts = [" ".join(words[offset + i * 700 : offset + i * 700 + n]) for i in range(b)]
    enc = tok(texts, truncation=True, max_length=n, padding="max_length", return_tensors="pt")
    assert bool(enc["attention_mask"].all()), "text too short for the requested length"
    return enc


def embedding(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="w8a8,w8a8-smooth,w8a8-split-smooth")
    ap.add_argument("--pipeline", action="append", default=[], help="NAME=PIPELINE: an extra calibrated recipe")
    ap.add_argument("--calib", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lengths", default="8,16,32,64,128,256,512")
    ap.add_argument("--batches", default="1,2,4,8")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import qcomp
    from qcomp.evaluate import default_text
    from qcomp.models import minilm
    from qcomp.recipes import Recipe, get_recipe
    from torch.export import Dim

    model, tok = minilm()
    words = default_text().split()
    lengths = [int(x) for x in args.lengths.split(",")]
    batches = [int(x) for x in args.batches.split(",")]
    cases = [(b, n, rows(tok, words, b, n, 1000 * b + 10 * n)) for b in batches for n in lengths]
    mixed = tok(
        [" ".join(words[19000 + i * 700 : 19000 + i * 700 + n]) for i, n in enumerate((3, 40, 120, 500, 9, 70))],
        truncation=True,
        max_length=512,
        padding=True,
        return_tensors="pt",
    )
    cases.append((6, "mixed", mixed))
    calib = []
    for i in range(args.calib):
        enc = rows(tok, words, 1, 128, 23300 + (i * 173) % 2200)  # words 23300.. only
        calib.append((enc["input_ids"], enc["attention_mask"]))
    dims = {0: Dim("batch", min=1, max=8), 1: Dim("seq", min=2, max=512)}
    example = rows(tok, words, 2, 16, 0)
    example = (example["input_ids"], example["attention_mask"])
    recipes = list(args.recipes.split(","))
    for spec in args.pipeline:
        name, _, pipe = spec.partition("=")
        recipes.append(Recipe(name, 1, pipe, "bench pipeline", calibration="minmax"))
    with torch.no_grad():
        want = [model(enc["input_ids"], enc["attention_mask"]) for _, _, enc in cases]

    print(f"MiniLM-L6 dynamic build (batch <= 8, length <= 512), {platform.machine()}, {args.threads} thread(s);")
    print(f"cases: batch {batches} x length {lengths} + one padded batch of 6 mixed lengths; {args.calib} calib rows")
    print("| recipe | min emb cosine | at (batch, length) | mean emb cosine | min token cosine | build s |")
    print("|---|---|---|---|---|---|")
    for r in recipes:
        t0 = time.perf_counter()
        cm = qcomp.compile(
            model,
            example,
            recipe=r,
            calibration=calib if get_recipe(r).calibration else None,
            dynamic_shapes={"input_ids": dims, "attention_mask": dims},
        )
        build = time.perf_counter() - t0
        worst, at, total, count, tok_min = 2.0, None, 0.0, 0, 2.0
        for (b, n, enc), w in zip(cases, want, strict=True):
            mask = enc["attention_mask"]
            got = cm(enc["input_ids"], mask)
            cos = (embedding(got, mask) * embedding(w, mask)).sum(-1)
            total, count = total + float(cos.sum()), count + len(cos)
            if float(cos.min()) < worst:
                worst, at = float(cos.min()), (b, n)
            tc = torch.nn.functional.cosine_similarity(got, w, dim=-1)[mask.bool()]
            tok_min = min(tok_min, float(tc.min()))
        name = r if isinstance(r, str) else f"{r.name} ({r.pipeline})"
        print(f"| {name} | {worst:.5f} | {at} | {total / count:.5f} | {tok_min:.4f} | {build:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
