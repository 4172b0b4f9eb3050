"""Mixed precision through the CLI: `qcomp eval --recipe mixed --budget B` honours the budget exactly."""

import json

import pytest
from qcomp.errors import QcompError
from qcomp.recipes import get_recipe, with_budget
from qcomp.tools.qcomp_main import main


def test_with_budget_rewrites_only_the_assign_step():
    r = with_budget(get_recipe("mixed"), 5.5)
    assert r.name == "mixed@5.5"
    assert "qc-assign-precision{candidates=w4a16:w8a16,budget_kind=avg_wbits,group=128,budget=5.5}" in r.pipeline
    assert "qc-awq{wbits=4,group=128}" in r.pipeline
    with pytest.raises(QcompError, match="has no qc-assign-precision step"):
        with_budget(get_recipe("w8a8"), 5.0)


@pytest.mark.parametrize("budget", [4.5, 6.0])
def test_eval_mixed_budget_is_honoured(capsys, budget):
    argv = ["eval", "minilm", "--recipe", "mixed", "--budget", str(budget), "--windows", "4", "--seq", "32", "--json"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["budget"] == budget
    assert 4.25 < r["avg_wbits"] <= budget  # above uniform int4 (4 + 32/128 scale bits), never above the budget
    assert r["value"] > 0.9


def test_eval_budget_below_the_cheapest_is_one_line(capsys):
    argv = ["eval", "minilm", "--recipe", "mixed", "--budget", "4.0", "--windows", "2", "--seq", "32"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("qcomp:")]
    assert len(ours) == 1
    assert "budget 4 avg_wbits is below the cheapest assignment" in ours[0]
    assert "Traceback" not in err
