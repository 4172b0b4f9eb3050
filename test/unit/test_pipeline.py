"""The pipeline runner: splitting, parsing our passes with options next to upstream ones, errors,
IR printing after each step and per-step timings."""

import pytest
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.passes.quantize import QuantizePass
from qcomp.pipeline import Pipeline, run_pipeline, split_top_level

LINEAR = """
func.func @main(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x16xf32>
  %b = arith.constant dense<0.0> : tensor<8xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %dead = arith.addf %y, %y : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
"""


@pytest.fixture
def module():
    ctx = new_context()
    with ctx, ir.Location.unknown():
        yield ir.Module.parse(LINEAR)


# ----------------------------------------------------------------------------- split_top_level
@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a,b", ["a", "b"]),
        (
            "qc-quantize{wbits=4,abits=8},canonicalize,func.func(cse,canonicalize)",
            ["qc-quantize{wbits=4,abits=8}", "canonicalize", "func.func(cse,canonicalize)"],
        ),
        ("  a , , b  ", ["a", "b"]),
        ("", []),
        (
            "x<a,b>,builtin.module(func.func(cse),canonicalize{max-iterations=3,test-convergence=true})",
            ["x<a,b>", "builtin.module(func.func(cse),canonicalize{max-iterations=3,test-convergence=true})"],
        ),
    ],
)
def test_split_top_level(text, parts):
    assert split_top_level(text) == parts


@pytest.mark.parametrize("text", ["a(b", "qc-quantize{wbits=4", "func.func(cse"])
def test_split_top_level_rejects_unclosed_brackets(text):
    with pytest.raises(QcompError, match="unbalanced brackets"):
        split_top_level(text)


def test_split_top_level_rejects_early_closing_bracket():
    with pytest.raises(QcompError, match="unbalanced brackets"):
        split_top_level("cse),(canonicalize")


# ----------------------------------------------------------------------------- Pipeline.parse
def test_parse_mixes_our_passes_with_upstream_text():
    p = Pipeline.parse("qc-quantize{wbits=4,abits=8},canonicalize,func.func(cse)")
    assert len(p.steps) == 3  # one step per pass, each timed and printable
    q, canon, cse = p.steps
    assert isinstance(q, QuantizePass)
    assert (q.wbits, q.abits, q.granularity) == (4, 8, "per_token")
    assert (canon, cse) == ("canonicalize", "func.func(cse)")


def test_parse_keeps_order_around_our_passes():
    p = Pipeline.parse("cse,qc-quantize,canonicalize,qc-lower-to-linalg,symbol-dce")
    kinds = [s if isinstance(s, str) else s.name for s in p.steps]
    assert kinds == ["cse", "qc-quantize", "canonicalize", "qc-lower-to-linalg", "symbol-dce"]


def test_parse_accepts_space_separated_options_like_mlir():
    (q,) = Pipeline.parse("qc-quantize{wbits=3 granularity=per_tensor}").steps
    assert (q.wbits, q.granularity) == (3, "per_tensor")


def test_parse_defaults_without_options():
    (q,) = Pipeline.parse("qc-quantize").steps
    assert q == QuantizePass(wbits=8, abits=8, granularity="per_token")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "qc-quantize{bogus=1}",
            "qc-quantize: unknown option 'bogus' "
            "(options: wbits, abits, granularity, group, static, sym, search, wformat, aformat)",
        ),
        ("qc-quantize{wbits=four}", "qc-quantize: option 'wbits' expects int, got 'four'"),
        ("qc-quantize{wbits=9}", "qc-quantize: wbits must be in [2, 8], got 9"),
        ("qc-quantize{granularity=per_row}", "granularity must be per_token or per_tensor, got 'per_row'"),
        ("qc-quantize{wbits}", "qc-quantize: option 'wbits' must be key=value"),
        ("qc-from-torch{x=1}", "qc-from-torch: unknown option 'x' (options: none)"),
    ],
)
def test_bad_options_give_one_line_error(text, message):
    with pytest.raises(QcompError) as info:
        Pipeline.parse(text)
    text_ = str(info.value)
    assert message in text_
    assert "\n" not in text_


@pytest.mark.parametrize(("text", "name"), [("qc-nonexistent", "qc-nonexistent"), ("canonicalize{bogus=1}", "bogus")])
def test_unknown_upstream_pass_fails_validation_with_one_line(text, name):
    p = Pipeline.parse(text)  # not ours: kept as upstream text until validated
    assert p.steps == [text]
    with pytest.raises(QcompError) as info:
        p.validate(new_context())
    msg = str(info.value)
    assert msg.startswith("unknown pass or bad options in ")
    assert name in msg
    assert "\n" not in msg


def test_unknown_pass_fails_at_run_time_too(module):
    with pytest.raises(QcompError, match="qc-nonexistent"):
        run_pipeline(module, "canonicalize,qc-nonexistent")


# ----------------------------------------------------------------------------- run: printing and timing
def test_print_after_all_dumps_ir_after_each_step(module):
    p = Pipeline.parse("qc-quantize{wbits=4},canonicalize,func.func(cse)")
    dumps: list[str] = []
    p.run(module, print_after_all=True, printer=dumps.append)
    assert len(dumps) == 3
    first, second, third = dumps
    assert first.startswith("// -----// IR Dump After qc-quantize //----- //\n")
    assert '"qc.qlinear"' in first
    assert 'qc.precision = "w4a8"' in first
    assert "arith.addf" in first  # canonicalize has not yet removed the dead add
    assert second.startswith("// -----// IR Dump After canonicalize //----- //\n")
    assert "arith.addf" not in second
    assert '"qc.qlinear"' in second
    assert third.startswith("// -----// IR Dump After func.func(cse) //----- //\n")


def test_print_after_all_defaults_to_stderr(module, capsys):
    Pipeline.parse("canonicalize").run(module, print_after_all=True)
    captured = capsys.readouterr()
    assert "IR Dump After canonicalize" in captured.err
    assert captured.out == ""


def test_no_printing_unless_asked(module, capsys):
    dumps: list[str] = []
    Pipeline.parse("canonicalize").run(module, printer=dumps.append)
    assert dumps == []
    assert capsys.readouterr().err == ""


def test_timings_recorded_for_each_step(module):
    p = run_pipeline(module, "qc-quantize,canonicalize,qc-lower-to-linalg")
    assert [t.name for t in p.timings] == ["qc-quantize", "canonicalize", "qc-lower-to-linalg"]
    assert all(t.seconds >= 0 for t in p.timings)
    assert sum(t.seconds for t in p.timings) > 0
    report = p.timing_report()
    lines = report.splitlines()
    assert lines[0] == "===-- pass timing --==="
    assert [ln.split()[-1] for ln in lines[1:-1]] == ["qc-quantize", "canonicalize", "qc-lower-to-linalg"]
    assert lines[-1].rstrip().endswith("100.0%  total")
    # the pipeline really ran: no qc op is left after the CPU lowering
    assert '"qc.' not in str(module)
    assert "linalg.generic" in str(module)
