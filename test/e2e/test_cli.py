"""The two tools as a user runs them: qcomp compile on a built-in model, qcomp-opt on a malformed file."""

import os
import subprocess
import sys

from qcomp.tools.qcomp_main import main


def test_qcomp_compile_tiny_llama_writes_stages_and_lists_host_ops(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", "tiny-llama", "--target", "cpu", "--recipe", "w8a8", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "host ops" in text
    assert "cumsum" in text
    assert "qc.qlinear 15" in text
    for name in ("00-torch.mlir", "01-qc.mlir", "02-quantized.mlir", "03-target.mlir", "04-llvm.mlir", "report.json"):
        assert (out / name).stat().st_size > 0, name
    cos = float(text.split("cosine ")[1].split()[0])
    assert cos >= 0.99


def test_malformed_mlir_gives_located_diagnostic_not_traceback(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text(
        'func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  %y = "qc.relu"(%x) : (tensor<4xf32>) -> \n}\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "qcomp.tools.qcomp_opt", str(bad)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert r.returncode == 1
    assert r.stderr.startswith(f"{bad}:2:")  # file:line:col of the bad type
    assert ": error: " in r.stderr
    assert "Traceback" not in r.stderr
