"""The reliability fuzzers of test/unit/test_reliability_fuzz.py and _files.py, run longer; prints a table of cases
tried and findings (tracebacks, signals, multi-line errors) per fuzzer.

    python bench/fuzz.py [--cases N] [--seed S]

qcomp-opt runs in subprocesses of 50 cases each (a signal ends one: the case is reported); the weights file
fuzzer needs a C compiler (model.so)."""

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "test" / "unit" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fuzz_qcomp_opt(fz, n: int, seed: int) -> tuple[int, list[str]]:
    findings, done = [], 0
    for start in range(0, n, 50):
        cases = fz.qcomp_opt_cases(min(50, n - start), seed + start)
        results, code = fz.run_qcomp_opt_cases(cases, timeout=600)
        done += len(results)
        for name, rc, err in results:
            if rc not in (0, 1) or "Traceback" in err:
                findings.append(f"{name}: rc {rc}: {err.strip().splitlines()[-1:]}")
        if code != 0:
            findings.append(f"{cases[len(results)][0]}: signal / exit {code}")
            done += 1
    return done, findings


def fuzz_model_inputs(fz, n: int, seed: int) -> tuple[int, list[str]]:
    import qcomp
    import torch

    torch.manual_seed(0)
    ids, x = torch.randint(0, 50, (2, 6)), torch.randn(2, 6, 8)
    cm = qcomp.compile(fz.EmbedMlp(), (ids, x), target="cpu", recipe="w8a8")
    rng, findings = np.random.default_rng(seed), []
    for i in range(n):
        try:
            cm(*[torch.from_numpy(np.asarray(a)) for a in fz.bad_inputs(rng, ids.numpy(), x.numpy())])
        except qcomp.QcompError as e:
            if "\n" in str(e):
                findings.append(f"case {i}: multi-line error")
        except Exception as e:  # a finding
            findings.append(f"case {i}: {type(e).__name__}: {e}")
    return n, findings


def fuzz_file_loaders(n: int, seed: int) -> dict[str, tuple[int, list[str]]]:
    import json

    from qcomp.calibrate import METHODS, CalibrationTable, OpStats
    from qcomp.errors import QcompError
    from qcomp.recipes import load_recipe

    ops = (OpStats("0:qc.linear:4x3", "loc(unknown)", np.ones(3, np.float32), dict.fromkeys(METHODS, 1.0)),)
    goods = {
        "recipe YAML": (b"name: r\nversion: 1\npipeline: qc-quantize{wbits=8}\ncalibration: minmax\n", load_recipe),
        "calibration JSON": (
            json.dumps(CalibrationTable("f" * 32, "minmax", 99.9, 1, ops).to_json()).encode(),
            CalibrationTable.load,
        ),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for what, (good, load) in goods.items():
            rng, findings, path = np.random.default_rng(seed), [], Path(tmp) / "f"
            for i in range(n):
                data = bytearray(good)
                for _ in range(int(rng.integers(1, 4))):
                    at = int(rng.integers(0, len(data)))
                    data[at : at + int(rng.integers(0, 3))] = rng.integers(
                        0, 256, int(rng.integers(0, 4)), np.uint8
                    ).tobytes()
                path.write_bytes(bytes(data))
                try:
                    load(str(path))
                except QcompError as e:
                    if "\n" in str(e):
                        findings.append(f"case {i}: multi-line error")
                except Exception as e:  # a finding
                    findings.append(f"case {i}: {type(e).__name__}: {e}")
            out[what] = (n, findings)
    return out


def fuzz_weights(n: int, seed: int) -> tuple[int, list[str]]:
    import ctypes

    import qcomp
    import torch
    from qcomp.errors import QcompError
    from qcomp.targets.cpu import aot

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        qcomp.compile(model, (torch.randn(4, 64),), target="cpu", recipe="w8a8").save(str(d))
        lib = ctypes.CDLL(str(d / "model.so"))
        lib.qcomp_model_load.restype = ctypes.c_void_p
        good = (d / "model.weights").read_bytes()
        rng, findings, path = np.random.default_rng(seed), [], d / "m.weights"
        for i in range(n):
            data = bytearray(good)
            if i % 2:
                data = data[: int(rng.integers(0, len(data)))]
            for _ in range(int(rng.integers(1, 4))):
                if data:
                    data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
            path.write_bytes(bytes(data))
            m = lib.qcomp_model_load(str(path).encode())
            if m:
                lib.qcomp_model_free(ctypes.c_void_p(m))
                findings.append(f"case {i}: the C loader accepted a damaged file")
            try:
                aot.read_weights(str(path))
                findings.append(f"case {i}: read_weights accepted a damaged file")
            except QcompError:
                pass
    return n, findings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    fz = _load("test_reliability_fuzz")
    rows = {}
    t0 = time.perf_counter()
    rows["qcomp-opt (mutated lit inputs)"] = fuzz_qcomp_opt(fz, args.cases, args.seed)
    rows["compiled model inputs"] = fuzz_model_inputs(fz, args.cases, args.seed)
    rows.update(fuzz_file_loaders(args.cases, args.seed))
    if shutil.which("cc") or shutil.which("gcc"):
        rows["model.weights (C + Python loaders)"] = fuzz_weights(args.cases, args.seed)
    print(f"{'fuzzer':40s} {'cases':>7s} {'findings':>9s}")
    for name, (n, findings) in rows.items():
        print(f"{name:40s} {n:7d} {len(findings):9d}")
        for f in findings[:5]:
            print(f"    {f}")
    print(f"({time.perf_counter() - t0:.0f} s, seed {args.seed})")
    return 1 if any(f for _, f in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
