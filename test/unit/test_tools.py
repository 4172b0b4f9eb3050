"""The command-line tools: `qcomp-opt` and `qcomp compile`, called through their `main(argv)`."""

import io
import json

import pytest
from qcomp.tools import qcomp_main, qcomp_opt

RELU = """func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
"""

SILU = """func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.silu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
"""

LINEAR = """func.func @lin(%x: tensor<2x16xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x16xf32>
  %b = arith.constant dense<0.0> : tensor<8xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
"""


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ----------------------------------------------------------------------------- qcomp-opt
def test_opt_round_trips_to_stdout(tmp_path, capsys):
    assert qcomp_opt.main([write(tmp_path, "in.mlir", RELU)]) == 0
    out = capsys.readouterr().out
    assert "func.func @a" in out
    assert '"qc.relu"' in out


def test_opt_verifier_error_is_located_one_line(tmp_path, capsys):
    bad = (
        "// a comment\n"
        "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
        '  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32>\n'
        "  return %x : tensor<4xf32>\n}\n"
    )
    path = write(tmp_path, "bad.mlir", bad)
    assert qcomp_opt.main([path]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"{path}:3:8: error: 'qc.relu' op result shape must equal the input shape"
    assert "Traceback" not in err


def test_opt_syntax_error_is_located(tmp_path, capsys):
    path = write(tmp_path, "syntax.mlir", "func.func @f( {\n")
    assert qcomp_opt.main([path]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{path}:1:14: error: ")
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_opt_output_file(tmp_path, capsys):
    out = tmp_path / "out.mlir"
    assert qcomp_opt.main([write(tmp_path, "in.mlir", RELU), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert '"qc.relu"' in out.read_text()


def test_opt_split_input_file(tmp_path, capsys):
    path = write(tmp_path, "split.mlir", RELU + "// -----\n" + SILU)
    assert qcomp_opt.main([path, "--split-input-file"]) == 0
    out = capsys.readouterr().out
    first, second = out.split("// -----\n")
    assert "@a" in first
    assert '"qc.relu"' in first
    assert "@b" not in first
    assert "@b" in second
    assert '"qc.silu"' in second


def test_opt_without_split_treats_separator_as_comment(tmp_path, capsys):
    # both functions land in one module when not split; the separator is just a comment
    path = write(tmp_path, "split.mlir", RELU + "// -----\n" + SILU)
    assert qcomp_opt.main([path]) == 0
    out = capsys.readouterr().out
    assert "// -----" not in out
    assert "@a" in out
    assert "@b" in out


def test_opt_split_error_line_is_file_relative(tmp_path, capsys):
    bad_second = SILU.replace("-> tensor<4xf32>\n  return %y", "-> tensor<4xi32>\n  return %x", 1)
    path = write(tmp_path, "split_bad.mlir", RELU + "// -----\n" + bad_second)
    assert qcomp_opt.main([path, "--split-input-file"]) == 1
    err = capsys.readouterr().err
    # RELU is 4 lines, the separator line 5: the bad op is on line 7 of the file
    assert err.startswith(f"{path}:7:8: error: 'qc.silu' op ")


def test_opt_runs_pipeline(tmp_path, capsys):
    path = write(tmp_path, "lin.mlir", LINEAR)
    assert qcomp_opt.main([path, "-p", "qc-quantize{wbits=4},canonicalize"]) == 0
    out = capsys.readouterr().out
    assert '"qc.qlinear"' in out
    assert '"qc.quantize_dynamic"' in out
    assert '"qc.linear"' not in out
    assert 'qc.precision = "w4a8"' in out


def test_opt_print_ir_after_all_and_timing(tmp_path, capsys):
    path = write(tmp_path, "lin.mlir", LINEAR)
    assert qcomp_opt.main([path, "-p", "qc-quantize,cse", "--print-ir-after-all", "--timing"]) == 0
    err = capsys.readouterr().err
    assert "IR Dump After qc-quantize" in err
    assert "IR Dump After cse" in err
    assert "===-- pass timing --===" in err
    assert err.count("ms") >= 3


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("qc-bogus", "qcomp-opt: error: unknown pass or bad options in 'qc-bogus'"),
        ("qc-quantize{wbits=1}", "qcomp-opt: error: qc-quantize: wbits must be in [2, 8], got 1"),
    ],
)
def test_opt_bad_pipeline_one_line(tmp_path, capsys, pipeline, message):
    assert qcomp_opt.main([write(tmp_path, "in.mlir", RELU), "-p", pipeline]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_opt_missing_input(tmp_path, capsys):
    path = str(tmp_path / "nope.mlir")
    assert qcomp_opt.main([path]) == 1
    assert capsys.readouterr().err.strip() == f"qcomp-opt: error: cannot read {path}: No such file or directory"


def test_opt_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(SILU))
    assert qcomp_opt.main(["-"]) == 0
    assert '"qc.silu"' in capsys.readouterr().out


def test_opt_verify_diagnostics(tmp_path, capsys):
    ok = (
        "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
        "  // expected-error @below {{result shape must equal the input shape}}\n"
        '  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32>\n'
        "  return %x : tensor<4xf32>\n}\n"
    )
    assert qcomp_opt.main([write(tmp_path, "ok.mlir", ok), "--verify-diagnostics"]) == 0
    wrong = ok.replace("result shape must equal", "operand 'x' must have")
    assert qcomp_opt.main([write(tmp_path, "wrong.mlir", wrong), "--verify-diagnostics"]) == 1
    err = capsys.readouterr().err
    assert "expected error \"operand 'x' must have the input shape\" was not produced" in err
    assert "unexpected error: 'qc.relu' op result shape must equal the input shape" in err


# ----------------------------------------------------------------------------- qcomp
def test_compile_unknown_model(capsys):
    assert qcomp_main.main(["compile", "nonexistent-model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qcomp: error: unknown model 'nonexistent-model'")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_compile_missing_factory_file(capsys):
    assert qcomp_main.main(["compile", "missing.py:f"]) == 1
    err = capsys.readouterr().err
    assert err == "qcomp: error: missing.py: no such file\n"


@pytest.mark.parametrize(
    ("source", "spec", "message"),
    [
        ("def g():\n    return 1\n", "nope", "has no function 'nope'"),
        ("def g():\n    return 1\n", "g", "g must return (module, example_inputs)"),
        ("raise RuntimeError('boom')\n", "g", "failed to import: RuntimeError: boom"),
    ],
)
def test_compile_bad_factory(tmp_path, capsys, source, spec, message):
    path = write(tmp_path, "factory.py", source)
    assert qcomp_main.main(["compile", f"{path}:{spec}", "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"qcomp: error: {path}")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--target", "gpu-nonexistent"], "qcomp: error: unknown target 'gpu-nonexistent' (known: cim, cpu, gpu, npu)"),
        (["--recipe", "w3a3"], "qcomp: error: unknown recipe 'w3a3'"),
    ],
)
def test_compile_bad_target_or_recipe(tmp_path, capsys, options, message):
    assert qcomp_main.main(["compile", "mlp", *options, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # failed before writing anything


def test_opt_subcommand_delegates(tmp_path, capsys):
    assert qcomp_main.main(["opt", write(tmp_path, "in.mlir", RELU)]) == 0
    assert '"qc.relu"' in capsys.readouterr().out


FACTORY = """
import torch


class TinyMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def make():
    torch.manual_seed(0)
    return TinyMLP().eval(), (torch.randn(4, 16),)
"""


def test_compile_factory_file_writes_stages_and_report(tmp_path, capsys):
    path = write(tmp_path, "tiny.py", FACTORY)
    out = tmp_path / "out"
    assert qcomp_main.main(["compile", f"{path}:make", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith(f"qcomp: compiled {path}:make (TinyMLP) for cpu with recipe w8a8")
    names = ["00-torch.mlir", "01-qc.mlir", "02-quantized.mlir", "03-target.mlir", "04-llvm.mlir", "report.json"]
    for name in names:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert "torch.aten" in (out / "00-torch.mlir").read_text()
    assert '"qc.linear"' in (out / "01-qc.mlir").read_text()
    assert '"qc.qlinear"' in (out / "02-quantized.mlir").read_text()
    target = (out / "03-target.mlir").read_text()
    assert "linalg.generic" in target
    assert '"qc.' not in target
    assert "llvm.func" in (out / "04-llvm.mlir").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "TinyMLP"
    assert report["target"]["name"] == "cpu"
    assert report["recipe"]["name"] == "w8a8"
    qlinears = [r for r in report["ops"] if r["op"] == "qc.qlinear"]
    assert len(qlinears) == 2
    assert all(r["precision"] == "w8a8" and r["placement"] == "target" for r in qlinears)
    sizes = report["sizes"]
    assert sizes["weights_fp32_bytes"] == 4 * (16 * 32 + 32 + 32 * 8 + 8)
    assert sizes["weights_bytes"] < sizes["weights_fp32_bytes"] / 2
    assert report["check"]["cosine"] > 0.999
    assert report["check"]["max_rel_err"] < 0.05
