"""The reliability fuzzers of test/unit/test_reliability_fuzz.py and _files.py, run longer; prints a table of cases
tried and findings per fuzzer: tracebacks, signals, hangs and other findings (a multi-line error, a damaged file
accepted).

    python bench/fuzz.py [--cases N] [--graph-cases N] [--seed S] [--workers W] [--case-timeout SECONDS]
                         [--only qcomp-opt,inputs,files,weights,graphs]

qcomp-opt runs the mutated lit inputs in W driver subprocesses at a time (default: the machine's cores); a signal
or a case running past --case-timeout ends its subprocess: the case is reported and the rest go on in a new one.
Progress goes to stderr. The file loaders: recipe YAML, calibration JSON and its side files (samples, Hessians
.npz), model.weights (C and Python). The weights file fuzzer needs a C compiler (model.so). --graph-cases N (default 0)
also runs N random qc graphs on every target (bench/graph_fuzz.py, reproducers in /tmp/qcomp-graph-fuzz):
their mismatches against the reference or across targets count as "other"."""

import argparse
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "test" / "unit" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _progress(what: str, done: int, n: int, t0: float) -> None:
    print(f"  {what}: {done}/{n} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _write_text(stream, text: str) -> None:
    try:
        stream.write(text)
        stream.close()
    except OSError:  # the driver died or was killed first
        pass


def _driver_stream(fz, cases: list, case_timeout: float, findings: list, done: list) -> None:
    """Run `cases` through qcomp-opt driver subprocesses, one after another; append findings, count done."""
    i = 0
    while i < len(cases):
        p = subprocess.Popen(
            [sys.executable, "-c", fz.DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_read_lines, args=(p.stdout, lines), daemon=True).start()
        threading.Thread(target=_write_text, args=(p.stdin, json.dumps(cases[i:])), daemon=True).start()
        limit = case_timeout + 60  # the first case also pays for the driver's imports
        while i < len(cases):
            try:
                line = lines.get(timeout=limit)
            except queue.Empty:
                p.kill()
                findings.append(f"hang: {cases[i][0]} {cases[i][1]!r}: no result after {limit:.0f} s")
                i += 1
                done[0] += 1
                break
            limit = case_timeout
            if line is None:  # the driver died: a signal (or an exit) during case i
                p.wait()
                findings.append(f"signal: {cases[i][0]} {cases[i][1]!r}: driver exit code {p.returncode}")
                i += 1
                done[0] += 1
                break
            if not line.startswith("["):
                continue
            name, rc, err = json.loads(line)
            if rc not in (0, 1) or "Traceback" in err:
                findings.append(f"traceback: {name}: rc {rc}: {err.strip().splitlines()[-1:]}")
            i += 1
            done[0] += 1
        p.kill()
        p.wait()


def fuzz_qcomp_opt(fz, n: int, seed: int, workers: int, case_timeout: float) -> tuple[int, list[str]]:
    cases = fz.qcomp_opt_cases(n, seed)
    findings: list[str] = []
    done, t0 = [0], time.perf_counter()
    streams = [
        threading.Thread(target=_driver_stream, args=(fz, cases[k::workers], case_timeout, findings, done))
        for k in range(workers)
    ]
    for t in streams:
        t.start()
    while any(t.is_alive() for t in streams):
        for t in streams:
            t.join(timeout=30)
        _progress("qcomp-opt", done[0], n, t0)
    return done[0], findings


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
                findings.append(f"multi-line: case {i}")
        except Exception as e:  # a finding
            findings.append(f"traceback: case {i}: {type(e).__name__}: {e}")
    return n, findings


def fuzz_file_loaders(n: int, seed: int) -> dict[str, tuple[int, list[str]]]:
    import json

    from qcomp.calibrate import METHODS, CalibrationTable, OpStats
    from qcomp.dialects.errors import QcompError
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
        goods.update(_side_files(tmp, ops[0]))
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
                        findings.append(f"multi-line: case {i}")
                except Exception as e:  # a finding
                    findings.append(f"traceback: case {i}: {type(e).__name__}: {e}")
            out[what] = (n, findings)
    return out


def _side_files(tmp: str, op) -> dict:
    """The calibration table's side files (activation row samples, Hessians: `<table>.samples.npz`,
    `<table>.hessians.npz`): a good one's bytes and a loader that puts the bytes given next to a good table (the
    other side file good) and loads the table (`CalibrationTable.load` reads both)."""
    import dataclasses

    from qcomp.calibrate import CalibrationTable, hessians_path, samples_path

    k = op.absmax.shape[0]
    rng = np.random.default_rng(0)
    full = dataclasses.replace(
        op, sample=rng.standard_normal((5, k)).astype(np.float32), hessian=np.eye(k, dtype=np.float32)
    )
    table = Path(tmp) / "side" / "t.json"
    table.parent.mkdir()
    CalibrationTable("f" * 32, "minmax", 99.9, 1, (full,)).save(table)
    sides = {side: Path(side).read_bytes() for side in (samples_path(table), hessians_path(table))}

    def loader(mutated: str):
        def load(path: str) -> None:
            for side, good in sides.items():
                Path(side).write_bytes(Path(path).read_bytes() if side == mutated else good)
            CalibrationTable.load(table)

        return load

    names = {samples_path(table): "calibration samples (.npz)", hessians_path(table): "calibration Hessians (.npz)"}
    return {names[side]: (good, loader(side)) for side, good in sides.items()}


def fuzz_weights(n: int, seed: int) -> tuple[int, list[str]]:
    import ctypes

    import qcomp
    import torch
    from qcomp.dialects.errors import QcompError
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
                findings.append(f"accepted: case {i}: the C loader accepted a damaged file")
            try:
                aot.read_weights(str(path))
                findings.append(f"accepted: case {i}: read_weights accepted a damaged file")
            except QcompError as e:
                if "\n" in str(e):
                    findings.append(f"multi-line: case {i}")
            except Exception as e:  # a finding
                findings.append(f"traceback: case {i}: {type(e).__name__}: {e}")
    return n, findings


KINDS = ("traceback", "signal", "hang")


def fuzz_qc_graphs(n: int, seed: int, workers: int, case_timeout: float) -> tuple[int, list[str]]:
    sys.path.insert(0, str(ROOT / "bench"))
    from graph_fuzz import fuzz_graphs

    args = argparse.Namespace(
        first=0, cases=n, seed=seed, workers=workers, case_timeout=max(case_timeout, 300), out="/tmp/qcomp-graph-fuzz"
    )
    results = fuzz_graphs(args)
    return len(results), [f.replace("multi-line", "other", 1) for r in results for f in r["findings"]]


FUZZERS_BY_NAME = {
    "qcomp-opt (mutated lit inputs)": "qcomp-opt",
    "compiled model inputs": "inputs",
    "file loaders": "files",
    "model.weights (C + Python loaders)": "weights",
    "qc graphs x every target": "graphs",
}
FUZZERS = tuple(FUZZERS_BY_NAME.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--graph-cases", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--case-timeout", type=float, default=60.0)
    ap.add_argument("--only", default="", help=f"comma-separated fuzzers to run, of {','.join(FUZZERS)} (default all)")
    args = ap.parse_args()
    only = set(args.only.split(",")) - {""}
    if only - set(FUZZERS):
        ap.error(f"--only: unknown fuzzer {sorted(only - set(FUZZERS))[0]!r}: one of {', '.join(FUZZERS)}")
    fz = _load("test_reliability_fuzz")
    rows, times = {}, {}

    def run(name, fn):
        if only and FUZZERS_BY_NAME[name] not in only:
            return
        t = time.perf_counter()
        print(f"{name} ...", file=sys.stderr, flush=True)
        out = fn()
        for k, v in out.items() if isinstance(out, dict) else [(name, out)]:
            rows[k], times[k] = v, time.perf_counter() - t

    t0 = time.perf_counter()
    run(
        "qcomp-opt (mutated lit inputs)",
        lambda: fuzz_qcomp_opt(fz, args.cases, args.seed, max(1, args.workers), args.case_timeout),
    )
    run("compiled model inputs", lambda: fuzz_model_inputs(fz, args.cases, args.seed))
    run("file loaders", lambda: fuzz_file_loaders(args.cases, args.seed))
    if shutil.which("cc") or shutil.which("gcc"):
        run("model.weights (C + Python loaders)", lambda: fuzz_weights(args.cases, args.seed))
    if args.graph_cases:
        run(
            "qc graphs x every target",
            lambda: fuzz_qc_graphs(args.graph_cases, args.seed, max(1, args.workers), args.case_timeout),
        )
    print(f"{'fuzzer':36s} {'cases':>6s} {'tracebacks':>10s} {'signals':>8s} {'hangs':>6s} {'other':>6s} {'time':>7s}")
    for name, (n, findings) in rows.items():
        count = {k: sum(f.startswith(k + ":") for f in findings) for k in KINDS}
        other = len(findings) - sum(count.values())
        print(
            f"{name:36s} {n:6d} {count['traceback']:10d} {count['signal']:8d} {count['hang']:6d} {other:6d} "
            f"{times[name]:6.0f}s"
        )
        for f in findings[:5]:
            print(f"    {f}")
    print(f"({time.perf_counter() - t0:.0f} s, seed {args.seed}, {args.workers} qcomp-opt workers)")
    return 1 if any(f for _, f in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
