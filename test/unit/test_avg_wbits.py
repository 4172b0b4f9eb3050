"""The report's stored bits per weight count every quantized linear form: scales (f32 per group or channel),
zero points (i8 per group) and float-format codes as stored (fp4 two per byte, fp8 one per byte) with
their 1-byte block scales."""

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
        ("mxfp4", lambda k: 4 + 8 / 32),  # e2m1 codes, a 1-byte e8m0 scale per block of 32
    ],
)
def test_avg_wbits_counts_what_is_stored(recipe, per_weight):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32)).eval()
    cm = qcomp.compile(model, (torch.randn(4, 256),), recipe=recipe)
    assert cm.report["sizes"]["avg_wbits"] == pytest.approx(_expected(per_weight))


def test_avg_wbits_counts_nvfp4_one_byte_block_scales_and_its_tensor_scale():
    """NVFP4: e2m1 codes, a 1-byte e4m3 scale per block of 16 and one f32 tensor scale per layer."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32)).eval()
    cm = qcomp.compile(model, (torch.randn(4, 256),), recipe="nvfp4")
    want = sum((4 + 8 / 16) * k * n + 32 for k, n in LAYERS) / sum(k * n for k, n in LAYERS)
    assert cm.report["sizes"]["avg_wbits"] == pytest.approx(want)
