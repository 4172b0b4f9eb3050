"""`qcomp sweep`: compile and evaluate every point of a sweep file, here or as Ray tasks, resumably.

Per model (and seed, where the model's inputs are synthetic) one `prepare` task computes the evaluation inputs and
the fp32 reference; per distinct calibration need (percentile, output-gain reference, Hessians) one
`calibrate_for` task computes the table; each point is one `run_point` task (`qcomp.sweep_work`). With Ray the
prepared objects are task results held in Ray's object store: every point task of the model receives the same
ObjectRef, so the reference and the statistics are computed once and read (numpy buffers zero-copy) by any
worker, never recomputed per point. What a point task receives besides is the Point: plain data naming the model by
its factory spec; each worker process loads a model once and keeps it.

Results stream into `DIR/results.jsonl`, one JSON object per point, in the order points finish (appended and
flushed by the driver only, so a retried task cannot write twice). A rerun reads the file and runs only the
points without a result (failed points, recorded with an `error`, run again). At the end
`qcomp.sweep_report` writes `results.md` and `pareto.png`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qcomp.dialects.errors import QcompError
from qcomp.executor import ray_init
from qcomp.models import REAL
from qcomp.sweep_report import write_report
from qcomp.sweep_spec import Point, SweepSpec
from qcomp.sweep_work import calibrate_for, check_model, prepare, run_point, table_key

RESULTS = "results.jsonl"


@dataclass
class SweepOutcome:
    results: list[dict]  # every point of the spec that has a record, in spec order
    ran: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    written: list[str] = field(default_factory=list)


def read_results(path: str) -> dict[str, dict]:
    """key -> record of a results.jsonl; a torn last line (a killed driver) is ignored, a later record wins."""
    out: dict[str, dict] = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if line.endswith("\n"):
                    raise QcompError(f"{path}:{n}: not a JSON line (a results file of qcomp sweep?)") from None
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
                raise QcompError(f"{path}:{n}: a result without a 'key' (a results file of qcomp sweep?)")
            out[rec["key"]] = rec
    return out


class _Writer:
    """Appends records to results.jsonl, one flushed and synced line each; a torn last line (a driver killed while
    writing) is cut off first."""

    def __init__(self, path: str):
        self.path = path
        if os.path.exists(path) and os.path.getsize(path):
            with open(path, "rb+") as f:
                data = f.read()
                if not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        self.f = open(path, "a", encoding="utf-8")  # closed by close()

    def write(self, record: dict) -> None:
        self.f.write(json.dumps(record, sort_keys=True) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


class Progress:
    """One line: points done of this run, failures, elapsed, ETA (rewritten in place on a terminal)."""

    def __init__(self, total: int, skipped: int, stream=None):
        self.total, self.skipped, self.done, self.failed = total, skipped, 0, 0
        self.start = time.perf_counter()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def __call__(self, rec: dict) -> None:
        self.done += 1
        self.failed += "error" in rec
        elapsed = time.perf_counter() - self.start
        left = self.total - self.done
        eta = elapsed / self.done * left
        what = rec.get("error") or f"{rec['metric']} {rec['value']:.4g}"
        line = (
            f"sweep: {self.done}/{self.total} points ({self.skipped} already done, {self.failed} failed), "
            f"{_clock(elapsed)} elapsed, ETA {_clock(eta)} | {rec['label']}: {what}"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line[:200] + ("\n" if not left else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _clock(s: float) -> str:
    s = round(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _data_key(p: Point) -> tuple:
    """Points sharing a prepared Reference: real models' data do not depend on the seed."""

    return (p.model, p.threads, 0 if p.model.spec in REAL else p.seed)


def run_sweep(
    spec: SweepSpec,
    out_dir: str,
    ray: str | None = None,
    num_cpus: int | None = None,
    progress: Callable[[dict], None] | None = None,
    report: bool = True,
) -> SweepOutcome:
    """Run every point of `spec` without a record in `out_dir/results.jsonl`; `ray`: None (in process), 'local',
    'auto' or a cluster address (`qcomp.executor.ray_init`)."""
    for m in {p.model.spec for p in spec.points}:
        check_model(m)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, RESULTS)
    have = read_results(path)
    pending = [p for p in spec.points if p.key not in have or "error" in have[p.key]]
    outcome = SweepOutcome([], skipped=len(spec.points) - len(pending))
    progress = progress or Progress(len(pending), outcome.skipped)
    start = time.perf_counter()
    writer = _Writer(path)
    try:
        runner = _run_ray if ray is not None else _run_serial
        for rec in runner(pending, ray, num_cpus):
            writer.write(rec)
            have[rec["key"]] = rec
            outcome.ran += 1
            if "error" in rec:
                outcome.failed.append(rec["error"])
            progress(rec)
    finally:
        writer.close()
    outcome.seconds = time.perf_counter() - start
    outcome.results = [have[p.key] for p in spec.points if p.key in have]
    if report:
        outcome.written = write_report(spec.name, outcome.results, out_dir)
    return outcome


def _needs(p: Point) -> tuple | None:
    try:
        return table_key(p.recipe, p.budget)
    except QcompError:
        return None  # the point itself reports the error


def _run_serial(points: list[Point], _ray, _cpus):
    refs: dict[tuple, object] = {}
    tables: dict[tuple, object] = {}
    for p in points:
        dk = _data_key(p)
        if dk not in refs:
            refs[dk] = prepare(p.model, dk[2], p.threads)
        need, table = _needs(p), None
        if need is not None:
            if (dk, need) not in tables:
                tables[dk, need] = calibrate_for(p.model, refs[dk], *need, p.threads)
            table = tables[dk, need]
        yield run_point(p, refs[dk], table)


def _run_ray(points: list[Point], address: str, num_cpus: int | None):

    ray = ray_init(address, num_cpus)
    opts = {"max_retries": 3, "retry_exceptions": False}
    prep, calib, point = (ray.remote(**opts)(fn) for fn in (prepare, calibrate_for, run_point))
    refs: dict[tuple, object] = {}
    tables: dict[tuple, object] = {}
    tasks = {}
    for p in points:
        dk = _data_key(p)
        model = p.model.__dict__
        if dk not in refs:
            refs[dk] = prep.options(num_cpus=p.threads).remote(model, dk[2], p.threads)
        need, table = _needs(p), None
        if need is not None:
            if (dk, need) not in tables:
                # the output gains of a qc-assign-precision fan out again, as tasks of the same cluster
                tables[dk, need] = calib.options(num_cpus=p.threads).remote(model, refs[dk], *need, p.threads, "ray")
            table = tables[dk, need]
        tasks[point.options(num_cpus=p.threads).remote(p.as_dict(), refs[dk], table)] = p
    remaining = list(tasks)
    try:
        while remaining:
            done, remaining = ray.wait(remaining, num_returns=1)
            for ref in done:
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as e:  # retries exhausted: the worker died every time
                    p = tasks[ref]
                    why = (str(e).strip().splitlines() or [type(e).__name__])[-1]
                    yield {"key": p.key, "label": p.label, "point": p.as_dict(), "error": f"{p.label}: {why}"}
    finally:
        for ref in remaining:
            ray.cancel(ref, force=True)
