"""The CPU cost model: weight bytes as qc-quantize stores them, latency from (fake) measured constants that
grows with the work, the module estimate as the sum of its ops, the per-machine cache of the constants,
and one real (quick) measurement."""

import json
import math

import pytest
import torch
from qcomp import targets
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import i64_attr, main_func
from qcomp.examples.models import mlp
from qcomp.frontend import import_torch
from qcomp.pipeline import Pipeline
from qcomp.recipes import get_recipe
from qcomp.targets.cpu import cost_measure, cost_model
from qcomp.targets.cpu.kernels import rows_per_tile


def fake_constants() -> dict:
    """Round numbers for every constant the model reads: 1 ns per k step of a full tile, 0.4 ns of a one-row one."""
    tile = {}
    for key in ("f32-panels", "i8-panels", "f32-rows"):
        for nv in (1, 2, 3, 4):
            tile[f"{key}-nv{nv}-mr{rows_per_tile(nv)}"] = 1e-9
            tile[f"{key}-nv{nv}-mr1"] = 0.4e-9
    kinds = [*sorted(cost_model.ELEMENTWISE), "gelu", "gelu_tanh", "embedding", "host_map", "host_copy"]
    kinds += ["loops_f32", "loops_i8", "conv_f32", "conv_i8", "dequant_w8", "dequant_w4"]
    return {
        "call_s": 20e-6,
        "arg_s": 10e-6,
        "op_s": 50e-9,
        "bandwidth": 20e9,
        "cache_bytes": 1 << 20,
        "spill_s_per_byte": 0.02e-9,
        "copy_s_per_byte": 0.1e-9,
        "fault_s_per_byte": 0.25e-9,
        "tile_s": tile,
        "out_s": {"f32-panels": 0.1e-9, "i8-panels": 0.2e-9, "f32-rows": 0.1e-9},
        "elem_s": {k: 0.5e-9 for k in kinds},
    }


@pytest.fixture
def cpu(tmp_path, monkeypatch):
    """The CPU target with fake constants cached in a temporary cache directory; measuring is an error."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cost_model, "_LOADED", {})

    def refuse(*args, **kwargs):
        raise AssertionError("the cost model measured although its constants are cached")

    monkeypatch.setattr(cost_measure, "measure", refuse)
    target = targets.get("cpu")
    path = cost_model.cache_path(target)
    assert path.startswith(str(tmp_path))
    (tmp_path / "qcomp").mkdir()
    with open(path, "w") as f:
        json.dump({"key": cost_model.cache_key(target), "constants": fake_constants()}, f)
    return target


def _module(text: str) -> ir.Module:
    return ir.Module.parse(text, new_context())


def _ops(module: ir.Module, name: str) -> list:
    return [op.operation for op in main_func(module).regions[0].blocks[0].operations if op.operation.name == name]


def _linear(m: int, n: int, k: int) -> tuple[ir.Module, object]:
    x, w, b, y = f"tensor<{m}x{k}xf32>", f"tensor<{n}x{k}xf32>", f"tensor<{n}xf32>", f"tensor<{m}x{n}xf32>"
    module = _module(f"""
func.func @main(%x: {x}) -> {y} {{
  %w = arith.constant dense<0.25> : {w}
  %b = arith.constant dense<0.0> : {b}
  %y = "qc.linear"(%x, %w, %b) : ({x}, {w}, {b}) -> {y}
  return %y : {y}
}}""")
    return module, _ops(module, "qc.linear")[0]  # keep the module alive while the op is used


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("fp32", cost_model.Precision(32, 32)),
        ("w8a8", cost_model.Precision(8, 8)),
        ("w4a8", cost_model.Precision(4, 8)),
        ("w8a16", cost_model.Precision(8, 16)),
        ("w4a16g128", cost_model.Precision(4, 16, 128)),
        ("w4a8g128", cost_model.Precision(4, 8, 128)),  # qc.qlinear_grouped
    ],
)
def test_precision_names_parse(text, want):
    assert cost_model.parse_precision(text) == want


@pytest.mark.parametrize("text", ["fp16", "w9a8", "w1a16", "w4a4", "w4a16g", "int8"])
def test_bad_precision_is_a_one_line_error(text, cpu):
    with pytest.raises(QcompError, match="precision"):
        cost_model.parse_precision(text)
    module, op = _linear(4, 32, 64)
    with pytest.raises(QcompError):
        cpu.cost(op, text)


def test_weight_bytes_as_qc_quantize_stores_them(cpu):
    module, op = _linear(4, 64, 256)
    n, k = 64, 256
    bytes_of = {p: cpu.cost(op, p).weight_bytes for p in ("fp32", "w8a8", "w4a8", "w8a16g128", "w4a16g128")}
    assert bytes_of["fp32"] == 4 * n * k
    assert bytes_of["w8a8"] == n * k + 4 * n  # i8 weights, an f32 scale per output channel
    assert bytes_of["w4a8"] == bytes_of["w8a8"]  # qc.qlinear keeps 4-bit weights one per byte
    assert bytes_of["w8a16g128"] == n * k + 4 * n * (k // 128)  # an f32 scale per group of 128 inputs
    assert bytes_of["w4a16g128"] == n * k // 2 + 4 * n * (k // 128)  # two per byte
    assert bytes_of["w8a8"] < bytes_of["fp32"]
    assert 0.5 < bytes_of["w4a16g128"] / bytes_of["w8a16g128"] < 0.55
    assert cpu.cost(op, "w3a16g128").weight_bytes == bytes_of["w4a16g128"]  # 3-bit weights take a nibble too
    assert cpu.cost(op, "w8a16").weight_bytes == n * k + 4 * n  # no group: one per output channel
    assert cpu.cost(op, "w4a8g128").weight_bytes == n * k + 4 * n * (k // 128)  # qc.qlinear_grouped: codes per byte


@pytest.mark.parametrize("precision", ["fp32", "w8a8", "w4a8", "w4a8g128", "w8a16", "w4a16g128"])
def test_linear_latency_grows_with_tokens_and_weight_size(precision, cpu):
    def latency(m, n, k):
        module, op = _linear(m, n, k)
        return cpu.cost(op, precision).latency_s

    base = latency(16, 256, 256)
    assert 0 < base < latency(64, 256, 256) < latency(256, 256, 256)
    assert base < latency(16, 512, 256) < latency(16, 512, 512)
    assert latency(16, 40, 256) > 0  # N not a multiple of 16: the loop nest without a microkernel


def test_quantized_precisions_order_as_their_kernels(cpu):
    module, op = _linear(128, 512, 512)
    t = {p: cpu.cost(op, p).latency_s for p in ("fp32", "w8a8", "w8a16", "w4a16g128")}
    assert t["w8a8"] < t["fp32"]  # the VNNI GEMM does 4 multiply-adds per lane and step
    assert t["w8a16"] > t["fp32"]  # weight-only dequantizes the weight on every call, then the f32 GEMM


def test_non_linear_op_cost_ignores_precision(cpu):
    x, g = "tensor<8x64xf32>", "tensor<64xf32>"
    module = _module(f"""
func.func @main(%x: {x}, %g: {g}) -> {x} {{
  %y = "qc.rms_norm"(%x, %g) {{eps = 1.0e-05 : f64}} : ({x}, {g}) -> {x}
  return %y : {x}
}}""")
    op = _ops(module, "qc.rms_norm")[0]
    fp32 = cpu.cost(op, "fp32")
    assert fp32.weight_bytes == 0
    assert fp32.latency_s > 0
    assert cpu.cost(op, "w4a16g128") == fp32


def _mlp_module() -> ir.Module:
    model, inputs = mlp(batch=8)
    with torch.no_grad():
        module = import_torch(model, inputs)
    Pipeline.parse("qc-raise-norms,qc-from-torch").run(module)
    return module


@pytest.mark.parametrize(("recipe", "precision"), [("w8a8", "w8a8"), ("w4a16", "w4a16g128"), ("fp32", "fp32")])
def test_estimate_is_the_sum_of_op_costs_and_a_precision_map_predicts_it(recipe, precision, cpu):
    module = _mlp_module()
    linears = _ops(module, "qc.linear")
    assert len(linears) == 3
    planned = cost_model.estimate_latency(module, cpu, precision_of=lambda op: precision)
    by_map = cost_model.estimate_latency(module, cpu, precision_of={op: precision for op in linears})
    if recipe != "fp32":
        Pipeline.parse(get_recipe(recipe).pipeline).run(module)
    main = main_func(module)
    ops = [op.operation for op in main.regions[0].blocks[0].operations]
    per_op = sum(cpu.cost(op, cost_model.op_precision(op)).latency_s for op in ops)
    c = fake_constants()
    arrays = len(main.regions[0].blocks[0].arguments) + len(ops[-1].operands)
    got = cost_model.estimate_latency(module, cpu)
    assert got == pytest.approx(per_op + c["call_s"] + arrays * c["arg_s"], rel=1e-12)
    assert planned == pytest.approx(got, rel=1e-9)  # the float module with the plan costs what qc-quantize makes
    assert by_map == pytest.approx(got, rel=1e-9)


def test_layers_assigned_by_qc_assign_precision_are_estimated_at_their_assignment(cpu):
    module = _mlp_module()
    float_estimate = cost_model.estimate_latency(module, cpu)
    with module.context:
        for op in _ops(module, "qc.linear"):
            op.attributes["qc.wbits"] = i64_attr(4)
            op.attributes["qc.abits"] = i64_attr(16)
    assert cost_model.op_precision(_ops(module, "qc.linear")[0]) == "w4a16g128"
    got = cost_model.estimate_latency(module, cpu)
    assert got == cost_model.estimate_latency(module, cpu, precision_of=lambda op: "w4a16g128")
    assert got != float_estimate


def test_estimate_needs_a_main_function(cpu):
    module = _module("func.func @other() { return }")
    with pytest.raises(QcompError, match="main"):
        cost_model.estimate_latency(module, cpu)


def _scan_module(with_scan: bool) -> ir.Module:
    """A cumsum (tm_tensor.scan, as SmolLM2's position ids) next to a linear layer with a constant weight."""
    ctx = new_context()
    with ctx, ir.Location.unknown():
        run_pipeline(ir.Module.create(), "func.func(convert-torch-to-tmtensor)")  # loads tm_tensor
    scan = cost_model.SCAN_PROBE.split("\n")[1:-2] if with_scan else []
    x, w, b, y = "tensor<8x256xf32>", "tensor<256x256xf32>", "tensor<256xf32>", "tensor<8x256xf32>"
    text = "\n".join(
        [
            f"func.func @main(%x: tensor<1x8xi64>, %h: {x}) -> {y} {{",
            *scan,
            f"  %w = arith.constant dense<0.25> : {w}",
            f"  %b = arith.constant dense<0.0> : {b}",
            f'  %y = "qc.linear"(%h, %w, %b) : ({x}, {w}, {b}) -> {y}',
            f"  return %y : {y}",
            "}",
        ]
    )
    return ir.Module.parse(text, ctx)


def test_module_bufferized_copy_before_write_pays_copies_of_its_constants(cpu):
    plain, scanned = _scan_module(False), _scan_module(True)
    assert not cost_model.main_copies_constants(main_func(plain), cpu)
    copies = cost_model.scans_force_copies(cpu.pipeline())  # what the CPU build does with a scan today
    assert cost_model.main_copies_constants(main_func(scanned), cpu) == copies
    op = _ops(scanned, "qc.linear")[0]
    extra = cpu.cost(op, "fp32").latency_s - cost_model.load(cpu).op_latency(op, "fp32")
    c = fake_constants()
    if copies:  # the weight and the bias are copied on every call
        assert extra == pytest.approx(2 * c["op_s"] + (4 * 256 * 256 + 4 * 256) * c["copy_s_per_byte"])
        assert extra > cpu.cost(op, "w8a8").latency_s - cost_model.load(cpu).op_latency(op, "w8a8")
    else:
        assert extra == 0


def test_cached_constants_are_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cost_model, "_LOADED", {})
    calls = []

    def fake_measure(target, quick=False):
        calls.append(target)
        return fake_constants()

    monkeypatch.setattr(cost_measure, "measure", fake_measure)
    cpu = targets.get("cpu")
    first = cost_model.load(cpu)
    assert len(calls) == 1
    assert cost_model.load(cpu) is first  # in this process
    monkeypatch.setattr(cost_model, "_LOADED", {})
    assert cost_model.load(cpu).c == first.c  # from the file, as a new process would
    assert len(calls) == 1
    saved = json.loads(open(cost_model.cache_path(cpu)).read())
    assert saved["key"]["version"] == cost_model.MODEL_VERSION
    assert saved["key"]["opt_level"] == 2
    saved["key"]["version"] = -1  # constants of another model version are measured again
    with open(cost_model.cache_path(cpu), "w") as f:
        json.dump(saved, f)
    monkeypatch.setattr(cost_model, "_LOADED", {})
    cost_model.load(cpu)
    assert len(calls) == 2
    other = targets.get("cpu", opt_level=0)  # other code, other constants
    assert cost_model.cache_path(other) != cost_model.cache_path(cpu)


@pytest.mark.slow
def test_quick_measurement_gives_every_constant():
    """The real micro-benchmarks at small sizes (a few seconds): every constant is there, finite and >= 0."""
    c = cost_measure.measure(targets.get("cpu"), quick=True)
    assert set(fake_constants()) <= set(c)
    assert set(fake_constants()["tile_s"]) == set(c["tile_s"])
    assert set(fake_constants()["elem_s"]) <= set(c["elem_s"])
    values = [v for k, v in c.items() if not isinstance(v, dict)]
    values += [v for d in (c["tile_s"], c["out_s"], c["elem_s"]) for v in d.values()]
    assert all(math.isfinite(v) and v >= 0 for v in values)
    assert c["bandwidth"] > 1e8
    assert min(c["tile_s"].values()) > 0
    json.dumps(c)  # cacheable
