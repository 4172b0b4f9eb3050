"""Seeded, small fuzzing: random bad inputs to a compiled model, mutated lit inputs to qcomp-opt and mutated
files to the loaders. Every case ends normally or with one QcompError line: never a traceback or a signal.
(bench/fuzz.py runs the same generators for longer.)"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import qcomp
import torch
from qcomp.dialects.errors import QcompError

LIT = Path(__file__).resolve().parents[1] / "lit"
SEED = 20261207


def mutate_text(text: str, rng: np.random.Generator) -> str:
    """One random edit of IR text: drop, duplicate or swap a line, flip a character, truncate, splice junk."""
    lines = text.splitlines(keepends=True) or [""]
    kind = int(rng.integers(0, 6))
    i = int(rng.integers(0, len(lines)))
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(i, lines[i])
    elif kind == 2:
        j = int(rng.integers(0, len(lines)))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == 3 and lines[i]:
        k = int(rng.integers(0, len(lines[i])))
        lines[i] = lines[i][:k] + chr(int(rng.choice([ord(c) for c in '{}()<>[]%@:,"x0-9 ']))) + lines[i][k + 1 :]
    elif kind == 4:
        return "".join(lines)[: int(rng.integers(0, max(1, len(text))))]
    else:
        junk = "".join(chr(int(c)) for c in rng.integers(32, 127, int(rng.integers(1, 20))))
        lines.insert(i, junk + "\n")
    return "".join(lines)


def qcomp_opt_cases(n: int, seed: int) -> list[tuple[str, str, str]]:
    """(file, pipeline, mutated text) over the lit inputs, with the pipeline of each file's first RUN line."""
    rng = np.random.default_rng(seed)
    files = sorted(LIT.glob("*/*.mlir"))
    cases = []
    for _ in range(n):
        path = files[int(rng.integers(0, len(files)))]
        text = path.read_text()
        run = next((line for line in text.splitlines() if "RUN:" in line), "")
        pipe = run.split(" -p ", 1)[1].split()[0].strip("'\"") if " -p " in run else ""
        cases.append((path.name, pipe, mutate_text(text, rng)))
    return cases


DRIVER = """
import contextlib, io, json, sys
from qcomp.tools.qcomp_opt import main
for name, pipe, text in json.load(sys.stdin):
    sys.stdin = io.StringIO(text)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["-", "--split-input-file", *(["-p", pipe] if pipe else [])])
    except BaseException as e:  # a traceback is a finding
        rc, err = -1, io.StringIO(f"{type(e).__name__}: {e}")
    print(json.dumps([name, rc, err.getvalue()[-400:]]), flush=True)
"""


def run_qcomp_opt_cases(cases, timeout: float = 120) -> tuple[list, int]:
    """Run the cases in one subprocess (a signal ends it: the return code says which); (results, returncode)."""
    r = subprocess.run(
        [sys.executable, "-c", DRIVER], input=json.dumps(cases), capture_output=True, text=True, timeout=timeout
    )
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("[")], r.returncode


def test_fuzz_qcomp_opt_on_mutated_lit_inputs():
    cases = qcomp_opt_cases(6, SEED)  # bench/fuzz.py runs 1,000
    results, code = run_qcomp_opt_cases(cases)
    assert code == 0, f"qcomp-opt died (return code {code}) after {len(results)} cases: {cases[len(results)][:2]}"
    for name, rc, err in results:
        assert rc in (0, 1), (name, err)
        assert "Traceback" not in err, (name, err)


class EmbedMlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 16)
        self.fc = torch.nn.Linear(16, 8)

    def forward(self, ids, x):
        return self.fc(self.emb(ids)) + x


def bad_inputs(rng: np.random.Generator, ids: np.ndarray, x: np.ndarray):
    """A random, mostly invalid, argument list for the model: wrong count, dtype, shape, ids, values."""
    kind = int(rng.integers(0, 7))
    if kind == 0:
        return [ids]
    if kind == 1:
        return [ids, x, x]
    if kind == 2:
        return [ids.astype(rng.choice([np.int32, np.float32, np.int8])), x]
    if kind == 3:
        return [ids, x.reshape(-1)[: int(rng.integers(0, x.size))]]
    if kind == 4:
        bad = ids.copy()
        bad.reshape(-1)[int(rng.integers(0, ids.size))] = int(rng.choice([-(2**62), -1, 50, 51, 2**40]))
        return [bad, x]
    if kind == 5:
        return [ids, np.full_like(x, rng.choice([np.nan, np.inf, -np.inf, 3e38]))]
    return [ids[:, :0], x]


def test_fuzz_compiled_model_inputs():
    torch.manual_seed(0)
    ids, x = torch.randint(0, 50, (2, 6)), torch.randn(2, 6, 8)
    cm = qcomp.compile(EmbedMlp(), (ids, x), target="cpu", recipe="w8a8")
    rng = np.random.default_rng(SEED)
    errors = []
    for _ in range(40):
        args = bad_inputs(rng, ids.numpy(), x.numpy())
        try:
            cm(*[torch.from_numpy(np.asarray(a)) for a in args])
        except QcompError as e:
            errors.append(str(e))
    assert errors
    assert not [e for e in errors if "\n" in e]


@pytest.mark.parametrize("loader", ["recipe", "calibration"])
def test_fuzz_loaders_on_mutated_files(tmp_path, loader):
    from qcomp.calibrate import METHODS, CalibrationTable, OpStats
    from qcomp.recipes import load_recipe

    if loader == "recipe":
        good, name = (
            b"name: r\nversion: 1\npipeline: qc-quantize{wbits=8},canonicalize\ncalibration: minmax\n",
            "r.yaml",
        )
        load = load_recipe
    else:
        ops = (OpStats("0:qc.linear:4x3", "loc(unknown)", np.ones(3, np.float32), dict.fromkeys(METHODS, 1.0)),)
        good, name = json.dumps(CalibrationTable("f" * 32, "minmax", 99.9, 1, ops).to_json()).encode(), "t.json"
        load = CalibrationTable.load
    rng = np.random.default_rng(SEED)
    path = tmp_path / name
    errors = []
    for _ in range(60):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(data)))
            op = int(rng.integers(0, 3))
            if op == 0:
                data[at] = int(rng.integers(0, 256))
            elif op == 1:
                del data[at : at + int(rng.integers(1, 8))]
            else:
                data[at:at] = bytes(rng.choice(list(b'{}[]:,"*&!- \n\xff0e9'), int(rng.integers(1, 6))))
        path.write_bytes(bytes(data))
        try:
            load(str(path))
        except QcompError as e:
            errors.append(str(e))
    assert errors
    assert not [e for e in errors if "\n" in e]
