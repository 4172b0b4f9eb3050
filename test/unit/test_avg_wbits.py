"""The report's stored bits per weight count every quantized linear form: scales (f32 per group or channel),
zero points (i8 per group) and float-format codes as stored (fp4 two per byte, fp8 one per byte)."""

import pytest
import qcomp
import torch

# two layers: K=256 -> N=64, then K=64 -> N=32 (16384 and 2048 weights)
LAYERS = ((256, 64), (64, 32))


def _expected(per_layer) -> float:
    return sum(per_layer(k) * k * n for k, n in LAYERS) / sum(k * n for k, n in LAYERS)


@pytest.mark.parametrize(
    ("recipe", "per_weight"),
    [
        ("w4a16", lambda k: 4 + 32 * -(-k // 128) / k),  # f32 scale per group of 128
        ("w4a16-asym", lambda k: 4 + (32 + 8) * -(-k // 128) / k),  # and an i8 zero point per group
        ("fp8", lambda k: 8 + 32 / k),  # e4m3 codes, an f32 scale per output channel
        ("nvfp4", lambda k: 4 + 32 / 16),  # e2m1 codes, a scale per block of 16 (held as f32)
        ("mxfp4", lambda k: 4 + 32 / 32),  # e2m1 codes, a scale per block of 32 (held as f32)
    ],
)
def test_avg_wbits_counts_what_is_stored(recipe, per_weight):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32)).eval()
    cm = qcomp.compile(model, (torch.randn(4, 256),), recipe=recipe)
    assert cm.report["sizes"]["avg_wbits"] == pytest.approx(_expected(per_weight))
