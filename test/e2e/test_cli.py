"""The two tools as a user runs them: qcomp compile on a built-in model (uniform and mixed precision), qcomp
report on what it wrote, qcomp-opt on a malformed file."""

import json
import os
import subprocess
import sys

import pytest
import torch
from qcomp.tools.qcomp_main import main, synthetic_samples

PNG = b"\x89PNG\r\n\x1a\n"


def _one_error_line(err: str) -> str:
    ours = [line for line in err.splitlines() if line.startswith("qcomp:")]
    assert len(ours) == 1, err
    assert "Traceback" not in err
    return ours[0]


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
    # no qc-assign-precision ran: qcomp report says so and lists the precision per op kind
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no qc-assign-precision ran" in text
    assert any(line.split() == ["qc.qlinear", "w8a8", "15"] for line in text.splitlines()), text
    assert main(["report", str(out / "report.json"), "--png", str(tmp_path / "x.png")]) == 1
    assert "no precision_plan to plot" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_compile_mixed_budget_then_report_shows_map_frontier_and_png(tmp_path, capsys):
    out, png = tmp_path / "mixed", tmp_path / "frontier.png"
    assert main(["compile", "tiny-llama", "--recipe", "mixed", "--budget", "6", "--calib", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibration    : minmax on 2 samples (synthetic" in text
    plan = json.loads((out / "report.json").read_text())["precision_plan"]
    assert plan["budget"] == 6
    assert 4.25 < plan["avg_wbits"] <= 6  # some layers at 8 bits, never over the budget
    assert len(plan["layers"]) == 15
    cands = {"w4a16g256", "w4a16g128", "w4a16g64", "w8a16g128"}  # the mixed recipe's candidates
    assert {layer["precision"] for layer in plan["layers"]} <= cands
    assert "w8a16g128" in {layer["precision"] for layer in plan["layers"]}

    assert main(["report", str(out), "--png", str(png)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "recipe mixed@6" in text
    # the per-layer map: short names from the source (both decoder layers' q_proj), precision, params
    rows = {line.split()[1]: line.split() for line in lines if line.split()[:1] and line.split()[0].isdigit()}
    assert len(rows) == 15
    assert rows["q_proj[0]"][3] in cands
    assert "q_proj[1]" in rows
    assert rows["lm_head"][4] == "32,768"
    assert [r[3] for r in rows.values()] == [layer["precision"] for layer in plan["layers"]]
    # counts per precision add up to the layers; the chosen frontier point is the plan's
    counts = [line.split() for line in lines if line.split()[:1] and line.split()[0] in cands]
    assert sum(int(c[1]) for c in counts) == 15
    chosen = [line for line in lines if line.endswith("<- chosen")]
    assert len(chosen) == 1
    assert chosen[0].split()[0] == f"{plan['avg_wbits']:.4f}"
    assert f"Pareto frontier ({len(plan['frontier'])} points" in text
    data = png.read_bytes()
    assert data[:8] == PNG
    assert len(data) > 1000


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nope", None, "no such file or directory"),
        ("", None, "no report.json in this directory"),
        ("r.json", "{not json", "not a JSON report"),
        ("r.json", '{"ops": 3}', "not a qcomp compile report"),
        (
            "r.json",
            '{"ops": [], "recipe": {}, "precision_plan": {"budget": 5}}',
            "precision_plan lacks avg_wbits, budget_kind, layers, frontier",
        ),
    ],
)
def test_report_bad_path_is_one_line(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"qcomp: error: {path}")
    assert message in line


def test_compile_budget_needs_an_assign_step(capsys):
    assert main(["compile", "mlp", "--recipe", "w8a8", "--budget", "5"]) == 1
    assert "has no qc-assign-precision step" in _one_error_line(capsys.readouterr().err)


def test_synthetic_samples_keep_shapes_and_ranges():
    ids = torch.tensor([[3, 9, 5, 7]])
    x = torch.randn(2, 8)
    mask = torch.ones(1, 4, dtype=torch.bool)
    samples = synthetic_samples((ids, x, mask), 3)
    assert len(samples) == 3
    assert samples[0][0] is ids  # the example itself comes first
    for s_ids, s_x, s_mask in samples[1:]:
        assert s_ids.dtype == ids.dtype
        assert s_ids.shape == ids.shape
        assert 3 <= int(s_ids.min())
        assert int(s_ids.max()) <= 9
        assert s_x.shape == x.shape
        assert not torch.equal(s_x, x)
        assert s_mask is mask
    assert not torch.equal(samples[1][1], samples[2][1])


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
