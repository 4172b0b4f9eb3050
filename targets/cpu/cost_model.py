"""The CPU target's latency model: a roofline per kernel, with rates measured on this machine.

Every op of @main in a qc-level module (float or quantized) maps to the kernels the CPU target runs
for it, and each kernel costs

    max(work · seconds_per_unit[kind], bytes / bandwidth) + page faults of its big fresh buffers

plus a fixed cost per kernel call, and a whole model call adds the Python call overhead. The work units
follow the generated code (`gemm_ops`, `kernels`, `lower_ops`, `lower_quant_ops`):

- GEMM microkernels (qc.linear, qc.qlinear, qc.wlinear, qc.matmul): k steps of MR x 16·NV register tiles
  per column panel, MR = rows_per_tile(NV) with the rows left over in one-row tiles; the i8 kernel adds
  one one-row pass per panel (the column sums of B); then a cost per output element (bias, stores, the
  i8 epilogue). Without a microkernel (N not a multiple of 16, no VNNI): per multiply-accumulate.
- qc.linear at a precision: fp32 is the f32 GEMM on the weight packed at compile time; `wXa8` adds the
  per-token `qc.quantize_dynamic` of x and runs the VNNI GEMM (int8 weights whatever X); `wXa16[gG]`
  dequantizes the weight into the f32 panel layout on every call (a loop over N·K) and runs the f32 GEMM.
- Loop-nest ops (norms, softmax, activations, quantization, embedding, convolutions) and host ops (linalg
  left by qc-from-torch, tensor.concat / extract_slice copies): seconds per element of their largest tensor.

The constants come from `cost_measure.measure` (small qc modules compiled by the real target and timed),
cached as JSON in qcomp's cache directory per CPU model, thread count, optimisation level and model
version, so that a machine calibrates once (about 15 s).
"""

import functools
import json
import math
import os
import re
from collections.abc import Callable, Mapping

from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.cache import cache_dir as default_dir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import main_func

from . import cost_measure
from .buffers import scans_to_linalg
from .jit import has_ops
from .kernels import LANES, cpu_flags, panel_vectors, rows_per_tile
from .lowering_passes import lower_probe
from .op_facts import (
    Precision,
    _is_constant,
    _nbytes,
    _op,
    _shape,
    _size,
    _tensor,
    op_precision,
    parse_precision,
    weight_bytes,
)

MODEL_VERSION = 4  # 4: the AVX2 int8 dot (vpmaddubsw) changed the kernels the constants describe
# A buffer this large is page-faulted afresh on every call: glibc maps allocations over its mmap threshold anew
# each time, and the JIT raises that threshold to its 32 MiB maximum (`jit.keep_freed_memory`, which also
# stops glibc from returning freed heap to the system), so smaller buffers come from the heap, already touched.
FAULT_BYTES = 32 << 20
FREE = {  # ops of @main that run no kernel (views, constants, scalars)
    "arith.constant",
    "tensor.empty",
    "tensor.expand_shape",
    "tensor.collapse_shape",
    "tensor.extract",
    "tensor.cast",
    "tensor.dim",
    "func.return",
}
COPIES = {"linalg.transpose", "linalg.copy", "linalg.broadcast", "tensor.concat", "tensor.extract_slice", "tensor.pad"}
ELEMENTWISE = {
    "add",
    "mul",
    "relu",
    "silu",
    "softmax",
    "channel_scale",
    "channel_permute",
    "layer_norm",
    "rms_norm",
    "quantize",
    "quantize_dynamic",
    "dequantize",
    "requantize",
}


# ----------------------------------------------------------------------------- the model
class CostModel:
    """Per-op latency (seconds) from measured constants (`cost_measure.measure`'s dict)."""

    def __init__(self, constants: dict):
        self.c = constants
        self.elem = constants["elem_s"]

    # --- kernels
    def _roof(self, seconds: float, nbytes: float, spill: float = 0.0) -> float:
        """max(compute, bytes from memory / bandwidth), plus the time activations of `spill` bytes (read and
        written) take beyond the per-core cache (the per-element rates are measured within it)."""
        over = max(spill - self.c["cache_bytes"], 0.0)
        return max(seconds, nbytes / self.c["bandwidth"]) + over * self.c["spill_s_per_byte"]

    def _fresh(self, nbytes: int, copies: int = 1) -> float:
        """Page faults of `copies` fresh buffers of `nbytes` each (FAULT_BYTES or more; smaller ones come from
        the heap, already touched)."""
        return copies * nbytes * self.c["fault_s_per_byte"] if nbytes >= FAULT_BYTES else 0.0

    def _copy(self, nbytes: int) -> float:
        """A constant copied into a fresh buffer (bufferization in copy-before-write mode)."""
        return self.c["op_s"] + nbytes * self.c["copy_s_per_byte"] + self._fresh(nbytes)

    def _tile(self, key: str, nv: int, mr: int) -> float:

        full, one = self.c["tile_s"][f"{key}-nv{nv}-mr{rows_per_tile(nv)}"], self.c["tile_s"][f"{key}-nv{nv}-mr1"]
        span = rows_per_tile(nv) - 1
        return one + (full - one) * (mr - 1) / span if span else full

    def gemm(self, elem: str, layout: str, m: int, n: int, k: int, batch: int = 1) -> float | None:
        """Seconds of the microkernel computing a [batch, m, n] product over k (None: it does not apply)."""

        nv = panel_vectors(n)
        if not nv or (elem == "i8" and k % 4):
            return None
        key = f"{elem}-{'rows' if layout == 'rows' and elem == 'f32' else 'panels'}"
        mr = min(rows_per_tile(nv), m)
        ks = k // 4 if elem == "i8" else k
        one = self._tile(key, nv, 1)
        per_panel = ks * (m // mr * self._tile(key, nv, mr) + m % mr * one + (one if elem == "i8" else 0.0))
        return batch * n // (LANES * nv) * per_panel + batch * m * n * self.c["out_s"][key]

    def linear(self, m: int, n: int, k: int, x_bytes: int, y_bytes: int, packed: bool = True) -> float:
        t = self.gemm("f32", "panels", m, n, k)
        if t is None:
            t = m * n * k * self.elem["loops_f32"]
        if not packed:  # a weight that is not a constant is copied into the panels on every call
            t += n * k * self.elem["host_copy"]
        return self._roof(t, 4 * n * k + x_bytes + y_bytes, x_bytes + y_bytes)

    def qlinear(self, m: int, n: int, k: int, x_bytes: int, y_bytes: int, act: str = "none") -> float:
        t = self.gemm("i8", "panels", m, n, k)
        if act != "none":
            t_act = m * n * self.elem["gelu" if act == "gelu" else act]
        else:
            t_act = 0.0
        if t is not None:  # the epilogue runs in registers: no i32 accumulator in memory
            return self._roof(t + t_act, n * k + x_bytes + y_bytes, x_bytes + y_bytes)
        acc = 4 * m * n
        t = m * n * k * self.elem["loops_i8"] + t_act
        return self._roof(t, n * k + x_bytes + 2 * acc + y_bytes, x_bytes + acc + y_bytes) + self._fresh(acc)

    def grouped_qlinear(
        self, m: int, n: int, k: int, group: int, x_bytes: int, y_bytes: int, zero_points: bool = False
    ) -> float:
        """qc.qlinear_grouped (`lower_qlinear_grouped`): a qc.qlinear kernel per group of `group` inputs, each
        group's weight slice packed on every call, and the groups' results added in order. zero_points:
        qc.qlinear_grouped_asym, whose signed weights q - z are first written by one map over [N, K]."""
        t = sum(
            self.qlinear(m, n, min(group, k - lo), x_bytes * min(group, k - lo) // k, y_bytes)
            for lo in range(0, k, group)
        )
        adds = (-(-k // group) - 1) * (self.c["op_s"] + self._roof(m * n * self.elem["add"], 3 * y_bytes, 3 * y_bytes))
        zp = self._roof(n * k * self.elem["host_map"], 2 * n * k, 2 * n * k) if zero_points else 0.0
        return t + adds + zp + n * k * self.elem["host_copy"]

    def wlinear(self, m: int, n: int, k: int, bits: int, x_bytes: int, y_bytes: int, packed: bool = False) -> float:
        """packed: a constant weight in panels (qc-cpu-pack-weights), dequantized inside the GEMM one panel at a
        time into a cached [K][NR] scratch: the weight is read as stored, no f32 copy is written or faulted."""
        stored = n * (-(-k // 2) if bits <= 4 else k)
        rate = self.elem["dequant_w4" if bits <= 4 else "dequant_w8"]
        if packed:
            return self._roof(n * k * rate, stored) + self.linear(m, n, k, x_bytes, y_bytes)
        panel = 4 * n * k
        dequant = self._roof(n * k * rate, stored + panel)
        # a panel of FAULT_BYTES or more is faulted afresh when glibc maps it, and not at all when an earlier free
        # left a free chunk that large in the heap (observed on SmolLM2's LM head after the process had built and
        # freed another module of the model, as qc-assign-precision{budget_kind=latency} runs do): half of it
        return dequant + self.linear(m, n, k, x_bytes, y_bytes) + 0.5 * self._fresh(panel)

    # --- ops
    def op_latency(self, op, precision: str | None = None, copies_constants: bool = False) -> float:
        """Seconds of one top-level op of @main; `precision` applies to float qc.linear / qc.conv2d (None:
        the op's own), other ops cost what they are. `copies_constants`: the module is bufferized
        copy-before-write (`main_copies_constants`), which copies the op's constant operands on every call."""
        op = _op(op)
        name = op.name
        if name in FREE or not any(_tensor(r) for r in op.results):
            return 0.0
        # the kernel's result and its caller's copy; none after a weight-only layer mapping a larger fresh panel
        # (its free leaves the result's size in the heap, already touched: observed on SmolLM2's LM head)
        results = 0.0 if _maps_panel(op, precision) else sum(self._fresh(_nbytes(r), 2) for r in op.results)
        t = self.c["op_s"] + results + self._compute(op, name, precision)
        if copies_constants:
            t += sum(self._copy(b) for b in _constant_bytes(op, precision))
        return t

    def _compute(self, op, name: str, precision: str | None) -> float:
        ins, outs = list(op.operands), list(op.results)
        io_bytes = sum(_nbytes(v) for v in ins + outs)
        if not name.startswith("qc."):
            kind = "host_copy" if name in COPIES else "host_map"
            return self._roof(max(_size(v) for v in ins + outs) * self.elem[kind], io_bytes, io_bytes)
        kind = name[3:]
        if kind == "linear":
            return self._linear(op, parse_precision(precision or op_precision(op)))
        if kind in ("qlinear_grouped", "qlinear_grouped_asym"):
            x, w = ins[0], ins[2]
            m, k, n = _size(x) // _shape(x)[-1], _shape(x)[-1], _shape(w)[0]
            group = ir.IntegerAttr(op.attributes["group"]).value
            asym = kind == "qlinear_grouped_asym"
            return self.grouped_qlinear(m, n, k, group, _nbytes(x), _nbytes(outs[0]), asym)
        if kind in ("qlinear", "wlinear"):
            x, w = ins[0], ins[2 if kind == "qlinear" else 1]
            m, k, n = _size(x) // _shape(x)[-1], _shape(x)[-1], _shape(w)[0]
            if kind == "qlinear":
                act = ir.StringAttr(op.attributes["act"]).value if "act" in op.attributes else "none"
                return self.qlinear(m, n, k, _nbytes(x), _nbytes(outs[0]), act)
            bits = ir.IntegerAttr(op.attributes["bits"]).value
            return self.wlinear(m, n, k, bits, _nbytes(x), _nbytes(outs[0]), _in_kernel_dequant(op))
        if kind in ("matmul", "qmatmul"):
            return self._matmul(ins[0], ins[2 if kind == "qmatmul" else 1], kind == "qmatmul", io_bytes)
        if kind in ("conv2d", "qconv2d"):
            return self._conv(op, kind == "qconv2d", parse_precision(precision or op_precision(op)))
        if kind == "embedding":
            io = 2 * _nbytes(outs[0]) + _nbytes(ins[1])
            return self._roof(_size(outs[0]) * self.elem["embedding"], io, io)
        if kind == "gelu":
            approx = ir.StringAttr(op.attributes["approximate"]).value if "approximate" in op.attributes else "none"
            kind = "gelu_tanh" if approx == "tanh" else "gelu"
        elif kind not in ELEMENTWISE:
            kind = "host_map"
        return self._roof(_size(ins[0]) * self.elem[kind], io_bytes, io_bytes)

    def _linear(self, op, p: Precision) -> float:
        x, w, y = op.operands[0], op.operands[1], op.results[0]
        k, n = _shape(x)[-1], _shape(w)[0]
        m = _size(x) // k
        if p.is_float or not _is_constant(w):  # qc-quantize leaves a non-constant weight in float
            return self.linear(m, n, k, _nbytes(x), _nbytes(y), packed=_is_constant(w))
        if p.abits == 16:
            return self.wlinear(m, n, k, p.wbits, _nbytes(x), _nbytes(y), n % 16 == 0)  # constant w: panels
        # the per-token qc.quantize_dynamic of x as its own kernel (x f32 in; i8 and a scale per row out)
        io = 5 * m * k + 4 * m
        quant = self.c["op_s"] + self._roof(m * k * self.elem["quantize_dynamic"], io, io)
        if p.group:  # qc-quantize{group} makes it a qc.qlinear_grouped
            return quant + self.grouped_qlinear(m, n, k, p.group, m * k, _nbytes(y))
        return quant + self.qlinear(m, n, k, m * k, _nbytes(y))

    def _matmul(self, a, b, quantized: bool, io_bytes: int) -> float:
        sa, sb = _shape(a), _shape(b)
        batch, (m, k), n = math.prod(sa[:-2]), sa[-2:], sb[-1]
        t = self.gemm("i8" if quantized else "f32", "rows", m, n, k, batch)
        if t is None:
            t = batch * m * n * k * self.elem["loops_i8" if quantized else "loops_f32"]
        elif quantized:  # B is copied into VNNI quads on every call
            t += batch * k * n * self.elem["host_copy"]
        return self._roof(t, io_bytes, io_bytes)

    def _conv(self, op, quantized: bool, p: Precision) -> float:
        x, w = op.operands[0], op.operands[2 if quantized else 1]
        y = op.results[0]
        (_, ci, kh, kw), out = _shape(w), _shape(y)
        macs = math.prod(out) * ci * kh * kw
        io, act = _nbytes(x) + _nbytes(w) + _nbytes(y), _nbytes(x) + _nbytes(y)
        if quantized or (not p.is_float and p.abits == 8 and _is_constant(w)):
            t = self._roof(macs * self.elem["conv_i8"], io, act)
            if not quantized:  # the per-tensor dynamic quantization of x, as its own kernel
                t += self.c["op_s"] + self._roof(_size(x) * self.elem["quantize_dynamic"], 5 * _size(x), 5 * _size(x))
            return t
        t = self._roof(macs * self.elem["conv_f32"], io, act)
        if not p.is_float and _is_constant(w):  # weight-only: the weight is dequantized on every call
            t += self.c["op_s"] + self._roof(_size(w) * self.elem["dequantize"], 5 * _size(w), 5 * _size(w))
        return t


def _in_kernel_dequant(op) -> bool:
    """A qc.wlinear the CPU runs on its weight packed at compile time (`lower_quant_ops._packed_twin`)."""
    n, group = _shape(op.operands[1])[0], ir.IntegerAttr(op.attributes["group"]).value
    bits = ir.IntegerAttr(op.attributes["bits"]).value
    return (
        _is_constant(op.operands[1]) and _is_constant(op.operands[2]) and n % 16 == 0 and (bits > 4 or group % 2 == 0)
    )


def _maps_panel(op, precision: str | None) -> bool:
    """Whether `op` dequantizes a weight into a per-call f32 panel of FAULT_BYTES or more (a weight-only linear
    whose weight is not dequantized panel by panel inside the kernel)."""
    if op.name == "qc.linear" and _is_constant(op.operands[1]):
        p = parse_precision(precision or op_precision(op))
        if p.is_float or p.abits != 16 or _shape(op.operands[1])[0] % 16 == 0:
            return False
    elif op.name != "qc.wlinear" or _in_kernel_dequant(op):
        return False
    return 4 * _shape(op.operands[1])[0] * _shape(op.operands[0])[-1] >= FAULT_BYTES


def _constant_bytes(op, precision: str | None) -> list[int]:
    """Bytes of each constant operand of `op`, a float layer's weight as stored at `precision`."""
    sizes = [_nbytes(v) for v in op.operands if _is_constant(v) and _tensor(v)]
    if op.name in ("qc.linear", "qc.conv2d") and _is_constant(op.operands[1]):
        sizes.remove(_nbytes(op.operands[1]))
        sizes.append(weight_bytes(op, precision or op_precision(op)))
    return sizes


SCAN_PROBE = """func.func @main(%x: tensor<1x8xi64>) -> tensor<1x8xi64> {
  %e = tensor.empty() : tensor<1x8xi64>
  %c0 = arith.constant 0 : i64
  %z0 = tensor.empty() : tensor<1xi64>
  %z = linalg.fill ins(%c0 : i64) outs(%z0 : tensor<1xi64>) -> tensor<1xi64>
  %r:2 = tm_tensor.scan dimension(1) inclusive(true) ins(%x : tensor<1x8xi64>)
      outs(%e, %z : tensor<1x8xi64>, tensor<1xi64>) {
  ^bb0(%a: i64, %b: i64):
    %s = arith.addi %a, %b : i64
    tm_tensor.yield %s : i64
  } -> tensor<1x8xi64>, tensor<1xi64>
  return %r#0 : tensor<1x8xi64>
}"""


@functools.cache
def scans_force_copies(pipeline: str) -> bool:
    """Whether the CPU target (lowering `pipeline`, then its build) leaves a cumsum's tm_tensor.scan in the
    module: bufferization then runs copy-before-write, which copies every constant on every call."""

    with new_context(), ir.Location.unknown():
        run_pipeline(ir.Module.create(), "func.func(convert-torch-to-tmtensor)")  # loads the tm_tensor dialect
        module = ir.Module.parse(SCAN_PROBE)
        lower_probe(module, pipeline)
        scans_to_linalg(module)
        return has_ops(module, "tm_tensor.")


_COPIES: dict[tuple[int, int], bool] = {}


def main_copies_constants(func, target) -> bool:
    """Whether the CPU build of the module whose @main is `func` copies every constant on every call: it holds
    a tm_tensor op that stays after the build's rewrites (bufferized copy-before-write, see `jit`)."""
    block = func.regions[0].blocks[0]
    key = (hash(_op(func)), len(block.operations))
    if key not in _COPIES:
        names = {_op(o).name for o in block.operations if _op(o).name.startswith("tm_tensor.")}
        copies = bool(names) and (names != {"tm_tensor.scan"} or scans_force_copies(target.pipeline()))
        if len(_COPIES) > 64:
            _COPIES.clear()
        _COPIES[key] = copies
    return _COPIES[key]


def parent_main(op):
    """The func.func @main whose body holds `op` at the top level, or None."""
    parent = _op(op).parent
    if parent is None or _op(parent).name != "func.func":
        return None
    name = _op(parent).attributes["sym_name"]
    return _op(parent) if ir.StringAttr(name).value == "main" else None


# ----------------------------------------------------------------------------- constants and the module sum
_LOADED: dict[str, CostModel] = {}


def cache_key(target) -> dict:
    import torch  # deferred: torch (heavy)

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "vnni": "avx512_vnni" in cpu_flags(),
        "threads": torch.get_num_threads(),
        "opt_level": target.options.opt_level,
        "version": MODEL_VERSION,
    }


def cache_path(target, cache_dir: str | None = None) -> str:

    key = cache_key(target)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key["cpu"]).strip("-").lower()
    name = f"cpu-cost-v{key['version']}-{slug}-t{key['threads']}-O{key['opt_level']}.json"
    return os.path.join(cache_dir or default_dir(), name)


def load(target, cache_dir: str | None = None) -> CostModel:
    """The cost model of `target` (a CpuTarget), measuring and caching its constants on first use."""

    path = cache_path(target, cache_dir)
    if path in _LOADED:
        return _LOADED[path]
    key = cache_key(target)
    constants = None
    if os.path.isfile(path):
        try:
            with open(path) as f:
                saved = json.load(f)
            constants = saved["constants"] if saved.get("key") == key else None
        except (OSError, ValueError, KeyError):
            constants = None
    if constants is None:
        constants = cost_measure.measure(target)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"key": key, "constants": constants}, f, indent=1)
        os.replace(tmp, path)
    _LOADED[path] = CostModel(constants)
    return _LOADED[path]


PrecisionOf = Mapping | Callable | None


def estimate_latency(module: ir.Module, target, precision_of: PrecisionOf = None) -> float:
    """Seconds of one call of `module`'s @main compiled for `target` (a qc-level module, float or quantized).

    Each op costs `target.cost(op, precision).latency_s` at its current precision, or for float
    qc.linear / qc.conv2d ops at `precision_of[op]` / `precision_of(op)` where that gives one (a
    mapping keyed by op, or a callable returning a precision or None); plus the call overhead."""
    try:
        main = main_func(module)
    except ValueError as e:
        raise QcompError(f"cpu cost: {e}") from None
    model = load(target)
    total = 0.0
    arrays = 0
    for op in main.regions[0].blocks[0].operations:
        op = _op(op)
        prec = None
        if precision_of is not None and op.name in ("qc.linear", "qc.conv2d"):
            prec = precision_of(op) if callable(precision_of) else _lookup(precision_of, op)
        if op.name == "func.return":
            arrays += len(op.operands)
            total += sum(model._fresh(_nbytes(v)) for v in op.operands)  # the numpy arrays of the results
        total += target.cost(op, prec or op_precision(op)).latency_s
    arrays += len(main.regions[0].blocks[0].arguments)
    return total + model.c["call_s"] + arrays * model.c["arg_s"]


def _lookup(mapping: Mapping, op) -> str | None:
    """mapping[op] for keys that are the op as an Operation or as an OpView."""
    if op in mapping:
        return mapping[op]
    return next((value for key, value in mapping.items() if _op(key) == op), None)
    return None
