"""qcomp sweep: a real local Ray cluster (127.0.0.1, 2 CPUs) gives the serial results; a worker killed mid-sweep is
retried and every point is recorded exactly once; an interrupted sweep resumes with only the missing points."""

import json
import os
import signal
import threading
import time

import pytest
from qcomp.dialects.errors import QcompError
from qcomp.sweep import read_results, run_sweep
from qcomp.sweep_report import pareto
from qcomp.sweep_spec import parse_spec

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read at import: the cluster listens on 127.0.0.1 only
ray = pytest.importorskip("ray")

SPEC = {
    "name": "test",
    "models": ["mlp"],
    "recipes": ["w8a8", "w8a8-smooth", "w4a16", "mixed"],
    "budgets": [5],
    "eval": {"samples": 3, "calib": 3},
}
EXACT = ("value", "fp32_value", "avg_wbits", "weights_bytes", "budget", "metric", "recipe")


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        _system_config={"worker_niceness": 0},  # Ray's default 15 starves the workers on a loaded machine
    )
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    try:
        yield ray
    finally:
        ray.shutdown()


class _Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The sweep in process, interrupted after two points (a torn line left behind), then resumed through the CLI:
    (directory, keys of the first run, keys of the second run, key -> record)."""
    from qcomp.tools.qcomp_main import main

    d = tmp_path_factory.mktemp("serial")
    first: list[str] = []

    def stop_after_two(rec):
        first.append(rec["key"])
        if len(first) == 2:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        run_sweep(parse_spec(SPEC), str(d / "out"), report=False, progress=stop_after_two)
    assert _lines(d / "out" / "results.jsonl") == first
    with open(d / "out" / "results.jsonl", "a") as f:  # a driver killed while writing leaves a torn line
        f.write('{"key": "torn')
    (d / "spec.yaml").write_text(json.dumps(SPEC))  # JSON is YAML
    assert main(["sweep", str(d / "spec.yaml"), "-o", str(d / "out")]) == 0
    second = _lines(d / "out" / "results.jsonl")[2:]
    return d / "out", first, second, read_results(str(d / "out" / "results.jsonl"))


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, rec in got.items():
        assert "error" not in rec, rec["error"]
        assert {k: rec.get(k) for k in EXACT} == {k: want[key].get(k) for k in EXACT}, rec["label"]


def _lines(path) -> list[str]:
    return [json.loads(line)["key"] for line in open(path) if line.strip()]


def test_serial_results_are_sane(serial):
    recs = {r["recipe"]: r for r in serial[3].values()}
    assert set(recs) == {"w8a8", "w8a8-smooth", "w4a16", "mixed@5"}
    assert recs["w8a8"]["value"] < recs["mixed@5"]["value"] < recs["w4a16"]["value"]  # fewer bits, more error
    assert recs["mixed@5"]["avg_wbits"] <= 5.0
    assert {r["pid"] for r in serial[3].values()} == {os.getpid()}


@pytest.mark.slow  # ~20 s: the sweep again as Ray tasks (make test keeps the executor pass-through test on Ray)
def test_ray_equals_serial(cluster, serial, tmp_path):
    out = run_sweep(parse_spec(SPEC), str(tmp_path), ray="auto", report=False, progress=lambda r: None)
    got = read_results(str(tmp_path / "results.jsonl"))
    _same(got, serial[3])
    assert out.ran == len(got) == 4
    assert not out.failed
    assert os.getpid() not in {r["pid"] for r in got.values()}  # the points ran in Ray's workers


def _our_point_workers() -> list:
    """Ray worker processes of this test's own cluster (descendants of this process) running a point."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if any(part.startswith("ray::run_point") for part in proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow  # a worker restarts cold (imports torch and MLIR again): ~30 s here
def test_killed_worker_is_retried_and_each_point_is_written_once(cluster, serial, tmp_path):
    killed: list[int] = []
    stop = threading.Event()

    def killer():
        while not stop.is_set() and not killed:
            for proc in _our_point_workers():
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
                break
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        run_sweep(parse_spec(SPEC), str(tmp_path), ray="auto", report=False, progress=lambda r: None)
    finally:
        stop.set()
        thread.join()
    assert killed, "no worker was caught running a point"
    keys = _lines(tmp_path / "results.jsonl")
    assert sorted(keys) == sorted(serial[3])  # every point, exactly once
    _same(read_results(str(tmp_path / "results.jsonl")), serial[3])


def test_interrupted_sweep_resumes_only_the_missing_points(serial):
    out, first, second, records = serial
    assert len(first) == 2
    assert len(second) == len(records) - 2 == 2
    assert not set(first) & set(second)  # the rerun ran only the missing points
    assert sorted(first + second) == sorted(records) == sorted(p.key for p in parse_spec(SPEC).points)
    assert "| mixed@5 |" in (out / "results.md").read_text()
    assert (out / "pareto.png").stat().st_size > 0


def test_points_cross_models_recipes_budgets_targets_seeds():
    spec = parse_spec(
        {
            "models": ["mlp", {"name": "cnn", "samples": 2}],
            "recipes": ["w8a8", "mixed", "mixed@6"],
            "budgets": [4.5, 5],
            "targets": ["cpu", {"name": "cim", "options": {"adc_bits": 6}}],
            "seeds": [0, 1],
        }
    )
    assert len(spec.points) == 2 * 4 * 2 * 2  # w8a8, mixed@4.5, mixed@5, mixed@6
    assert len({p.key for p in spec.points}) == len(spec.points)
    assert {p.model.samples for p in spec.points if p.model.spec == "cnn"} == {2}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"models": ["mlp"]}, "'recipes' is missing"),
        ({"models": ["mlp"], "recipes": ["nope"]}, "unknown recipe 'nope'"),
        ({"models": ["mlp"], "recipes": ["w8a8@4"]}, "no qc-assign-precision"),
        ({"models": ["mlp"], "recipes": ["mixed"], "budgets": [-1]}, "a budget must be a number > 0"),
        ({"models": ["mlp"], "recipes": ["w8a8"], "seeds": [-1]}, "a seed must be an integer >= 0"),
        ({"models": ["mlp"], "recipes": ["w8a8"], "eval": {"windows": 0}}, "windows must be an integer >= 1"),
        ({"models": ["mlp"], "recipes": ["w8a8"], "colour": 1}, "unknown keys ['colour']"),
        ({"models": ["mlp", "mlp"], "recipes": ["w8a8"]}, "the same point is listed twice"),
    ],
)
def test_bad_sweep_files_are_one_line_errors(data, message):
    with pytest.raises(QcompError) as e:
        parse_spec(data, "s.yaml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_model_fails_before_anything_runs(tmp_path):
    with pytest.raises(QcompError, match="unknown model 'nope'"):
        run_sweep(parse_spec({"models": ["nope"], "recipes": ["w8a8"]}), str(tmp_path))
    assert not (tmp_path / "results.jsonl").exists()


def test_pareto_front():
    pts = [(4.0, 3.0), (5.0, 2.0), (8.0, 2.5), (8.0, 1.0), (4.5, 3.5)]
    assert pareto(pts, lower_is_better=True) == [True, True, False, True, False]
    assert pareto([(4.0, 0.9), (8.0, 0.99), (8.0, 0.95)], lower_is_better=False) == [True, True, False]


def test_sensitivity_on_ray_equals_serial(cluster):
    import numpy as np
    import torch
    from qcomp.sensitivity import output_gains
    from qcomp.sweep_work import load

    _, model, (example, _) = load("mlp")
    weights = [m.weight.detach().numpy() for m in (model.fc1, model.fc2, model.fc3)] + [None]
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal((16, w.shape[1])).astype(np.float32) for w in weights[:3]] + [None]
    samples = [example, (example[0] + 0.1 * torch.randn(example[0].shape, generator=torch.Generator().manual_seed(1)),)]
    serial, _ = output_gains(model, samples, weights, rows, "w4a16g32")
    fanned, _ = output_gains(model, samples, weights, rows, "w4a16g32", executor="ray", model_spec="mlp", chunks=2)
    assert serial[3] is None
    assert all(g["mse"] > 0 for g in serial[:3])
    assert fanned == serial
    with pytest.raises(QcompError, match="needs model_spec"):
        output_gains(model, samples, weights, rows, "w4a16g32", executor="ray")


def test_calibrate_passes_the_sensitivity_executor_to_ray(cluster):
    import torch
    from qcomp.calibrate import calibrate
    from qcomp.sweep_work import load

    _, model, (example, _) = load("mlp")
    samples = [example, (example[0] + 0.1 * torch.randn(example[0].shape, generator=torch.Generator().manual_seed(2)),)]
    serial = calibrate(model, samples, sensitivity="w4a16g32")
    fanned = calibrate(model, samples, sensitivity="w4a16g32", executor="ray", model_spec="mlp")
    gains = [o.output_gain for o in serial.ops]
    assert len(gains) == 3
    assert all(g is not None and g["mse"] > 0 for g in gains)
    assert [o.output_gain for o in fanned.ops] == gains
    with pytest.raises(QcompError, match="needs model_spec"):
        calibrate(model, samples, sensitivity="w4a16g32", executor="ray")


def test_cim_monte_carlo_on_ray_equals_serial(cluster):
    from qcomp.montecarlo import cim_monte_carlo

    opts = {"variation": 0.05, "adc_bits": 6}
    serial = cim_monte_carlo("mlp", [0, 1], options=opts)  # one compile, the arrays re-programmed per seed
    fanned = cim_monte_carlo("mlp", [0, 1], options=opts, executor="ray", chunks=2)  # one compile per seed
    assert fanned == serial
    values = serial["seeds"]
    assert values[0] != values[1]  # the seed draws the device
    assert 0 < values[0] < 1
    with pytest.raises(QcompError, match="give `seeds`"):
        cim_monte_carlo("mlp", [0], options={"seed": 3})
