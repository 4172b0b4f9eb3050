"""`qcomp compile --calib-stream DIR`: a static-scale recipe calibrated decoder block by block from a safetensors
checkpoint (a tiny LLaMA saved with save_pretrained), and its refusals in one line."""

import pytest
from qcomp.tools.qcomp_main import main

FACTORY = """
import torch
from qcomp.examples.models import tiny_llama

def make():
    model, inputs = tiny_llama()
    gen = torch.Generator().manual_seed(3)
    return model, inputs, [(torch.randint(0, 512, inputs[0].shape, generator=gen),) for _ in range(3)]
"""


@pytest.fixture(scope="module")
def model_and_checkpoint(tmp_path_factory):
    from qcomp.examples.models import tiny_llama

    root = tmp_path_factory.mktemp("cli-stream")
    (root / "factory.py").write_text(FACTORY)
    model, _ = tiny_llama()  # seeded: the factory builds the same weights
    model.lm.save_pretrained(root / "ckpt")
    return f"{root / 'factory.py'}:make", root / "ckpt"


def _error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("qcomp:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_static_recipe_calibrates_block_by_block(tmp_path, capsys, model_and_checkpoint):
    spec, ckpt = model_and_checkpoint
    argv = ["compile", spec, "--recipe", "w8a8-static", "--calib", "3", "--calib-stream", str(ckpt)]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "minmax on 3 samples (given, block-streamed)" in text, text
    assert float(text.split("cosine ")[1].split()[0]) >= 0.99  # the tiny LLaMA at W8A8 static vs PyTorch


@pytest.mark.parametrize(
    ("recipe", "stream", "message"),
    [
        ("w8a8-static", "", "give the safetensors checkpoint directory"),
        ("w8a8-static", "nowhere", "no such checkpoint"),
        ("w8a8", "CKPT", "needs no calibration"),
    ],
)
def test_refusals_are_one_line(tmp_path, capsys, model_and_checkpoint, recipe, stream, message):
    spec, ckpt = model_and_checkpoint
    stream_args = ["--calib-stream"] + ([str(ckpt) if stream == "CKPT" else str(tmp_path / stream)] if stream else [])
    assert main(["compile", spec, "--recipe", recipe, *stream_args, "-o", str(tmp_path / "out")]) == 1
    assert message in _error(capsys)
