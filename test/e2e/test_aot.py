"""The ahead-of-time CPU artifact as a C program uses it: qcomp.compile, save(), examples/c/run_model.c built with
gcc against model.so, outputs bit-identical to the JIT's; the C loader's one-line errors; save() without a C
compiler; `qcomp compile` listing the files."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import qcomp
import torch
from qcomp.examples.models import BUILTIN
from qcomp.targets.cpu import aot
from qcomp.targets.cpu.jit import jit_from_text
from qcomp.targets.cpu.target import JitArtifact
from qcomp.tools.qcomp_main import main

GCC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="gcc is not on PATH: model.so and the C example need it")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "c" / "run_model.c"
AOT_FILES = ["model.o", "model.weights", "model.h", "model_api.c", "model.so"]


def _build_example(out: Path) -> Path:
    """examples/c/run_model.c built against out/model.so, as its header comment says."""
    exe = out / "run_model"
    cmd = [GCC, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{out}", "-o", str(exe), str(EXAMPLE)]
    subprocess.run([*cmd, str(out / "model.so"), f"-Wl,-rpath,{out}"], check=True)
    return exe


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(CompiledModel, numpy inputs, save() result, directory, run_model) per (model, recipe), built once."""
    cache: dict = {}

    def get(name: str, recipe: str):
        if (name, recipe) not in cache:
            model, inputs = BUILTIN[name]()
            cm = qcomp.compile(model, inputs, target="cpu", recipe=recipe)
            out = tmp_path_factory.mktemp(f"{name}-{recipe}")
            written = cm.save(str(out))
            cache[name, recipe] = (cm, [x.numpy() for x in inputs], written, out, _build_example(out))
        return cache[name, recipe]

    return get


def _run(exe: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=60)


def _fnv1a64(data: bytes) -> str:
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & (2**64 - 1)
    return f"{h:016x}"


@pytest.mark.parametrize(
    ("name", "recipe"), [("mlp", "fp32"), ("mlp", "w8a8"), ("tiny-llama", "fp32"), ("tiny-llama", "w8a8")]
)
def test_c_program_matches_jit_bit_for_bit(saved, name, recipe):
    cm, inputs, written, out, exe = saved(name, recipe)
    assert written[-len(AOT_FILES) :] == AOT_FILES
    want = cm(*[torch.from_numpy(x.copy()) for x in inputs]).numpy()
    (out / "inputs.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    r = _run(exe, out / "model.weights", "-i", out / "inputs.bin", "-o", out / "outputs.bin")
    assert r.returncode == 0, r.stderr
    got = np.frombuffer((out / "outputs.bin").read_bytes(), want.dtype).reshape(want.shape)
    assert got.tobytes() == want.tobytes(), f"max abs diff {np.abs(got - want).max()}"
    shape = ", ".join(map(str, want.shape))
    assert r.stdout.startswith(f"output 0: f32[{shape}] fnv1a64={_fnv1a64(want.tobytes())} sum=")


def test_c_program_pattern_inputs_and_header(saved):
    cm, inputs, _, out, exe = saved("tiny-llama", "w8a8")
    # without -i: token ids (7k + j) mod 16, as run_model.c documents
    ids = (np.arange(inputs[0].size, dtype=np.int64) * 7 % 16).reshape(inputs[0].shape)
    want = cm(torch.from_numpy(ids)).numpy()
    r = _run(exe, out / "model.weights")
    assert r.returncode == 0, r.stderr
    assert f"fnv1a64={_fnv1a64(want.tobytes())}" in r.stdout
    header = (out / "model.h").read_text()
    assert " *   input 0: i64[1, 16]\n" in header
    assert "#define QCOMP_INPUT0_CTYPE int64_t\n" in header
    assert "#define QCOMP_OUTPUT0_SHAPE {1, 16, 512}\n" in header
    # the weights file holds @main's externalized arrays in order
    got = aot.read_weights(str(out / "model.weights"))
    assert [(w.dtype, w.shape) for w in got] == [(w.dtype, w.shape) for w in cm.artifact.fn.weights]
    assert all(np.array_equal(a, b) for a, b in zip(got, cm.artifact.fn.weights, strict=True))


def test_no_weights_two_inputs_two_outputs(tmp_path):
    # edge cases of the generated wrapper: an empty weights file, several inputs and outputs of other dtypes
    fn = jit_from_text(
        """
        func.func @main(%a: tensor<4xf32>, %b: tensor<2x3xi32>) -> (tensor<4xf32>, tensor<2x3xi32>) {
          %e0 = tensor.empty() : tensor<4xf32>
          %0 = linalg.add ins(%a, %a : tensor<4xf32>, tensor<4xf32>) outs(%e0 : tensor<4xf32>) -> tensor<4xf32>
          %e1 = tensor.empty() : tensor<2x3xi32>
          %1 = linalg.mul ins(%b, %b : tensor<2x3xi32>, tensor<2x3xi32>) outs(%e1 : tensor<2x3xi32>) -> tensor<2x3xi32>
          return %0, %1 : tensor<4xf32>, tensor<2x3xi32>
        }"""
    )
    assert JitArtifact(fn, fn.llvm_text).save(str(tmp_path)) == AOT_FILES
    a, b = np.array([1.5, -2, 0.25, 3], np.float32), np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
    want = fn(a, b)
    (tmp_path / "in.bin").write_bytes(a.tobytes() + b.tobytes())
    r = _run(_build_example(tmp_path), tmp_path / "model.weights", "-i", tmp_path / "in.bin", "-o", tmp_path / "o.bin")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.bin").read_bytes() == want[0].tobytes() + want[1].tobytes()
    assert r.stdout.splitlines()[1] == f"output 1: i32[2, 3] fnv1a64={_fnv1a64(want[1].tobytes())}"


def _one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_c_loader_rejects_bad_weights_files(saved, tmp_path):
    _, _, _, out, exe = saved("mlp", "w8a8")
    good = (out / "model.weights").read_bytes()
    (tmp_path / "short.weights").write_bytes(good[: len(good) // 2])
    err = _one_line_error(_run(exe, tmp_path / "short.weights"))
    assert f"short.weights: truncated or damaged: the header says {len(good)} bytes, the file has" in err
    (tmp_path / "text.weights").write_text("not weights at all\n" * 4)
    assert "not a qcomp weights file" in _one_line_error(_run(exe, tmp_path / "text.weights"))
    # same arrays count, other dtypes: the fp32 mlp's weights
    _, _, _, fp32_out, _ = saved("mlp", "fp32")
    err = _one_line_error(_run(exe, fp32_out / "model.weights"))
    assert "array 0 is f32[" in err
    assert "the model expects i8[" in err
    assert "No such file" in _one_line_error(_run(exe, tmp_path / "missing.weights"))


def test_save_without_c_compiler_skips_the_library(saved, tmp_path, monkeypatch, capsys):
    cm, *_ = saved("mlp", "fp32")
    monkeypatch.setattr(aot, "find_c_compiler", lambda: None)
    (tmp_path / "model.so").write_bytes(b"an earlier save's library")  # would not match the new weights
    written = cm.save(str(tmp_path))
    assert written[-4:] == AOT_FILES[:-1]
    assert not (tmp_path / "model.so").exists()
    assert capsys.readouterr().err == "qcomp: model.so skipped: no C compiler (cc, gcc or clang) on PATH\n"


def test_qcomp_compile_lists_the_aot_files(tmp_path, capsys):
    assert main(["compile", "mlp", "--target", "cpu", "--recipe", "fp32", "-o", str(tmp_path)]) == 0
    wrote = [line for line in capsys.readouterr().out.splitlines() if "wrote" in line]
    assert len(wrote) == 1
    assert set(AOT_FILES) <= set(wrote[0].split())
    assert (tmp_path / "model.so").stat().st_size > 0
