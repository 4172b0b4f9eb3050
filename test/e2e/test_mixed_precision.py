"""Mixed precision through the CLI: `qcomp eval --recipe mixed --budget B` honours the budget exactly;
several budgets share one calibration and give a Pareto table and plot."""

import json

import pytest
import qcomp.calibrate
from qcomp.dialects.errors import QcompError
from qcomp.recipes import get_recipe, with_budget
from qcomp.report import budget_table
from qcomp.tools.qcomp_main import main


def test_with_budget_rewrites_only_the_assign_step():
    r = with_budget(get_recipe("mixed"), 5.5)
    assert r.name == "mixed@5.5"
    assert (
        "qc-assign-precision{candidates=w4a16g256:w4a16g128:w4a16g64:w8a16g128,budget_kind=avg_wbits,budget=5.5}"
        in (r.pipeline)
    )
    assert "qc-awq{wbits=4,group=128}" in r.pipeline
    with pytest.raises(QcompError, match="has no qc-assign-precision step"):
        with_budget(get_recipe("w8a8"), 5.0)


@pytest.mark.slow
@pytest.mark.parametrize("budget", [4.5, 6.0])
def test_eval_mixed_budget_is_honoured(capsys, budget):
    argv = ["eval", "minilm", "--recipe", "mixed", "--budget", str(budget), "--windows", "4", "--seq", "32", "--json"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["budget"] == budget
    assert 4.25 < r["avg_wbits"] <= budget  # above uniform int4 (4 + 32/128 scale bits), never above the budget
    assert r["value"] > 0.9


@pytest.mark.slow
def test_eval_budget_below_the_cheapest_is_one_line(capsys):
    argv = ["eval", "minilm", "--recipe", "mixed", "--budget", "4.0", "--windows", "2", "--seq", "32"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("qcomp:")]
    assert len(ours) == 1
    assert "budget 4 avg_wbits is below the cheapest assignment" in ours[0]
    assert "Traceback" not in err


@pytest.mark.slow
def test_eval_two_budgets_calibrate_once_and_give_a_pareto_table_and_plot(tmp_path, capsys, monkeypatch):
    calls = []
    real = qcomp.calibrate.calibrate

    def counting(*args, **kwargs):
        calls.append(kwargs.get("sensitivity"))
        return real(*args, **kwargs)

    monkeypatch.setattr(qcomp.calibrate, "calibrate", counting)
    png = tmp_path / "pareto.png"
    argv = ["eval", "minilm", "--recipe", "mixed", "--budget", "4.5,6", "--windows", "2", "--seq", "32"]
    assert main([*argv, "--calib", "2", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert calls == ["w4a16g256"]  # one table, with output gains at the cheapest candidate, for both budgets
    results = [line for line in out.splitlines() if line.startswith("qcomp: minilm mixed@")]
    assert [line.split()[2] for line in results] == ["mixed@4.5", "mixed@6"]
    bits = [float(line.split(" at ")[1].split()[0]) for line in results]
    assert 4.25 < bits[0] <= 4.5 < bits[1] <= 6
    table = out.split("Pareto table (minilm, mixed on cpu, cosine; fp32 1.0000):\n")[1].splitlines()
    assert table[0].split() == ["budget", "avg_wbits", "cosine", "x", "fp32"]
    assert [row.split()[:2] for row in table[2:4]] == [["4.5", f"{bits[0]:.4f}"], ["6", f"{bits[1]:.4f}"]]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


def test_budget_table_sorts_by_bits_and_marks_dominated_points():
    rows = [
        {"budget": 6, "avg_wbits": 5.9, "value": 12.5},
        {"budget": 4.5, "avg_wbits": 4.4, "value": 12.0},
        {"budget": 5, "avg_wbits": 4.9, "value": 13.0},
    ]
    lines = budget_table(rows, 10.0, "perplexity").splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["4.5", "5", "6"]
    assert lines[2].split()[3] == "1.2000"
    assert [line.endswith("dominated") for line in lines[2:]] == [False, True, True]  # 4.4 bits already do better
    cos = budget_table([{**r, "value": 1 / r["value"]} for r in rows], 1.0, "cosine").splitlines()
    assert [line.endswith("dominated") for line in cos[2:]] == [False, True, True]  # higher is better


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "mixed", "--plot", "p.png"], "--plot draws the measured"),
        (["--recipe", "w8a8", "--budget", "4.5,5"], "has no qc-assign-precision step"),
    ],
)
def test_eval_budget_misuse_is_one_line(capsys, argv, message):
    assert main(["eval", "minilm", "--windows", "2", "--seq", "32", *argv]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("qcomp:")]
    assert len(ours) == 1
    assert message in ours[0]
    assert "Traceback" not in err


def test_eval_budget_list_must_be_numbers(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "minilm", "--recipe", "mixed", "--budget", "4.5,x"])
    assert "expected numbers separated by commas" in capsys.readouterr().err
