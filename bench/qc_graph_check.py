"""Build one random qc graph (`qc_graphs.generate`) on every target, run it and check it (the property fuzzer).

Targets: cpu (the host's ISA, with and without qc-fuse), cpu at isa=generic, npu (one of the gemmini, scalesim,
tpu-like presets per case, in turn), cim (ideal), gpu (emulated); a case with a dynamic row dimension is also
built once with `?` rows on the cpu and run at two sizes. On a host without AVX512-VNNI, the cpu build for
isa=avx512-vnni is also made, compile only (`compile_avx512`): lowered and compiled by LLVM into 512-bit code
(zmm registers counted in its object code), never run, so its results are not checked. What is checked, per case:

- a build or a call ends with outputs or with a one-line `QcompError` (a refusal, counted); anything else
  (another exception, a multi-line message) is a finding. Signals and hangs are caught by the caller, which
  runs cases in a subprocess with a timeout (bench/graph_fuzz.py);
- a graph with a static-scale qc.quantize refuses float inputs holding NaN or inf in one line on every target
  (docs/numerics.md; running them is an `accepted` finding); it is then called once more with that check off,
  so that the arithmetic on such values is compared as well;
- outputs have the graph's shapes and dtypes;
- the cpu outputs against the numpy reference: an output whose op's operands are outputs too (or inputs,
  constants) is checked on its own, on the target's operand values: integer ops bit for bit, float ops within
  rounding, fused norm + quantization within one code; an output computed through unexposed values bit for
  bit when every op on its way is an integer op, within a relative 1e-3 when float ops but no rounding to a
  code follow the first inexact op, and not at all otherwise (one ulp before a rounding moves a code);
- every other target, and the dynamic build, against the cpu build: bit for bit (docs/numerics.md: every
  target computes the same bits), except downstream of the float ops a target computes with its own
  arithmetic (`OWN_FLOAT_OPS`: the generic ISA's float kernels, the GPU's weight-only GEMMs), compared as
  with the reference (float ops are matched "within rounding", dialects/reference.py).
"""

from __future__ import annotations

import traceback

import numpy as np
from qc_graphs import Graph, Node, generate, reference_op, resize_rows

TARGETS: dict[str, tuple[str, dict]] = {
    "cpu": ("cpu", {}),
    "cpu-generic": ("cpu", {"isa": "generic"}),
    "cpu-unfused": ("cpu", {"fuse": False}),
    "npu-gemmini": ("npu", {"preset": "gemmini"}),
    "npu-scalesim": ("npu", {"preset": "scalesim"}),
    "npu-tpu-like": ("npu", {"preset": "tpu-like"}),
    "cim-ideal": ("cim", {"ideal": True}),
    "gpu-emulated": ("gpu", {"emulate": True}),
}
NPU_PRESETS = ("npu-gemmini", "npu-scalesim", "npu-tpu-like")
ROUNDING = {
    "quantize",
    "quantize_dynamic",
    "requantize",
    "rms_norm_quantize",
    "layer_norm_quantize",
    "fp_fake_quant",
    "fp_fake_quant_static",
}


def build(text: str, name: str, options: dict):
    """A runnable artifact of module `text` for target `name`."""
    from qcomp import targets
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir
    from qcomp.passes.context import PassContext
    from qcomp.pipeline import Pipeline

    tgt = targets.get(name, **options)
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        Pipeline.parse(tgt.pipeline()).run(module, ctx=PassContext(target=tgt))
        return tgt.build(module)


AVX512 = "cpu-avx512-compile-only"
AVX512_FEATURES = ("+avx512f", "+avx512bw", "+avx512vl", "+avx512dq", "+avx512vnni", "+evex512")


def compile_avx512(text: str) -> int:
    """Build module `text` for the cpu at isa=avx512-vnni on a host without it, compile only: each function gets
    the features an AVX512-VNNI host has (the target refuses the isa here; `jit.ISA_FEATURES` is set for the
    call), the engine compiles it, nothing runs. Returns the zmm register operands in its object code (objdump;
    -1 where objdump is missing)."""
    import os
    import shutil
    import subprocess
    import tempfile

    from qcomp import targets
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir
    from qcomp.passes.context import PassContext
    from qcomp.pipeline import Pipeline
    from qcomp.targets.cpu import jit

    tgt = targets.get("cpu")
    saved = jit.ISA_FEATURES["avx512-vnni"]
    jit.ISA_FEATURES["avx512-vnni"] = AVX512_FEATURES
    try:
        with new_context(), ir.Location.unknown():
            module = ir.Module.parse(text)
            Pipeline.parse(tgt.pipeline()).run(module, ctx=PassContext(target=tgt))
            fn = jit.JitFunction(module, isa="avx512-vnni")  # compiles @main (the engine's lookup); not called
    finally:
        jit.ISA_FEATURES["avx512-vnni"] = saved
    if shutil.which("objdump") is None:
        return -1
    with tempfile.TemporaryDirectory() as d:
        fn.engine.dump_to_object_file(os.path.join(d, "m.o"))
        r = subprocess.run(["objdump", "-d", os.path.join(d, "m.o")], capture_output=True, text=True)
    return r.stdout.count("%zmm")


def _attempt(fn, what: str, findings: list[str], refusals: dict[str, str]):
    """fn() or None; a one-line QcompError is a refusal, anything else a finding."""
    from qcomp.dialects.errors import QcompError

    try:
        return fn()
    except QcompError as e:
        msg = str(e)
        if "\n" in msg.strip() or not msg.strip():
            findings.append(f"multi-line: {what}: {msg.strip().splitlines()[:2]}")
        else:
            refusals[what] = msg
    except Exception as e:  # a finding: not a one-line error
        tb = traceback.format_exc().strip().splitlines()
        findings.append(f"traceback: {what}: {type(e).__name__}: {str(e)[:300]} [{tb[-3] if len(tb) > 2 else ''}]")
    return None


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


def _close(want: np.ndarray, got: np.ndarray, rtol: float) -> bool:
    if not np.array_equal(np.isnan(want), np.isnan(got)):
        return False
    fin = np.isfinite(want)
    if not np.array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)]):  # infinities in place
        return False
    w, g = want[fin].astype(np.float64), got[fin].astype(np.float64)
    if not np.isfinite(g).all():
        return False
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    return bool(np.all(np.abs(g - w) <= rtol * np.abs(w) + rtol * max(scale, 1e-3)))


def compare(kind: str, want: np.ndarray, got: np.ndarray) -> bool:
    """Whether `got` is the reference `want` under the op class `kind` (exact | close | loose | codes)."""
    if want.shape != got.shape or want.dtype != got.dtype:
        return False
    if kind == "exact":
        return same_bits(want, got)
    if want.dtype.kind in "iu":
        return kind == "codes" and bool(np.all(np.abs(want.astype(np.int64) - got.astype(np.int64)) <= 1))
    return _close(want, got, 1e-3 if kind in ("loose", "codes") else 1e-4)


# Per value: how it compares with a computation that may differ in float rounding. 0: computed by integer
# (bit-exact) ops only; 1: float ops since the first inexact op (within rounding); 3: an integer code rounded
# from an inexact float (within one code); 2: downstream of a rounding after an inexact op (not comparable).
EXACT_LEVEL, FLOAT_LEVEL, OFF_LEVEL, CODE_LEVEL = 0, 1, 2, 3
HOW = {EXACT_LEVEL: "exact", FLOAT_LEVEL: "loose", CODE_LEVEL: "codes"}
# Ops a target computes with its own float arithmetic instead of the cpu build's (within rounding, by contract):
# the generic ISA's float kernels sum in another order; the GPU runs the weight-only GEMMs itself.
OWN_FLOAT_OPS = {
    "cpu-generic": None,  # every float op
    "gpu-emulated": {"wlinear", "fp_wlinear"},
}


def taints(g: Graph, inexact) -> dict[str, int]:
    """The level (above) of every value when the ops for which `inexact(node)` holds may round differently."""
    t = dict.fromkeys([*g.inputs, *g.consts], EXACT_LEVEL)
    for node in g.nodes:
        worst = max(OFF_LEVEL if t[o] == CODE_LEVEL else t[o] for o in node.operands)
        for r in node.results:
            if worst == OFF_LEVEL or (worst == FLOAT_LEVEL and node.op in ROUNDING):
                t[r] = OFF_LEVEL
            elif inexact(node):
                t[r] = CODE_LEVEL if g.types[r][1] == "int8" else FLOAT_LEVEL
            else:
                t[r] = worst
    return t


def check_reference(g: Graph, outs: list[np.ndarray], feeds: dict | None, what: str) -> list[str]:
    """Findings of the target's outputs `outs` (in g.outputs order) against the reference."""
    findings = []
    got = dict(zip(g.outputs, outs, strict=True))
    env = g.reference(feeds)
    known = {**g.consts, **(g.feeds if feeds is None else feeds), **got}
    producer: dict[str, Node] = {r: n for n in g.nodes for r in n.results}
    taint = taints(g, lambda node: node.kind() != "exact")
    for name, value in got.items():
        node = producer.get(name)
        if node is None:
            continue
        if all(o in known for o in node.operands):  # the op on its own, on the target's operands
            with np.errstate(all="ignore"):
                want = reference_op(node, [known[o] for o in node.operands])[node.results.index(name)]
            ok, how = compare(node.kind(), want, value), node.kind()
        elif taint[name] == OFF_LEVEL:
            continue
        else:
            want, how = env[name], HOW[taint[name]]
            ok = compare(how, want, value)
        if not ok:
            findings.append(
                f"reference: {what}: %{name} of qc.{node.op} differs from the reference ({how}): {_diff(want, value)}"
            )
    return findings


def _diff(want: np.ndarray, got: np.ndarray) -> str:
    if want.shape != got.shape or want.dtype != got.dtype:
        return f"got {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}"
    bad = ~((want == got) | (np.isnan(want) & np.isnan(got)) if want.dtype.kind == "f" else want == got)
    idx = np.flatnonzero(bad)
    if not idx.size:
        return "signs of zeros differ"
    i = np.unravel_index(int(idx[0]), want.shape)
    return f"{idx.size}/{want.size} elements, first at {[int(j) for j in i]}: got {got[i]!r}, want {want[i]!r}"


def _shapes_ok(g: Graph, outs, feeds_rows: int | None) -> bool:
    if not isinstance(outs, list | tuple) or len(outs) != len(g.outputs):
        return False
    for name, o in zip(g.outputs, outs, strict=True):
        shape, dtype = g.types[name]
        if feeds_rows is not None and name in g.dyn:
            shape = tuple(feeds_rows if i == g.dyn[name] else d for i, d in enumerate(shape))
        if not isinstance(o, np.ndarray) or o.shape != shape or o.dtype.name != dtype:
            return False
    return True


STATIC_REFUSAL = "this model quantizes activations with static (calibrated) scales"


def _call(g: Graph, art, feeds: list[np.ndarray], label: str, findings: list[str], refusals: dict[str, str]):
    """The outputs of `art` on (copies of) `feeds`, or None. A graph with a static-scale qc.quantize must refuse
    float inputs holding NaN or inf in one line (docs/numerics.md; not refusing is a finding); the checker then
    calls it again with that check off for the call, so that the arithmetic on such values is compared too."""
    static = any(n.op == "quantize" for n in g.nodes)
    bad = static and any(x.dtype.kind == "f" and not np.isfinite(x).all() for x in feeds)
    outs = _attempt(lambda: art(*[x.copy() for x in feeds]), f"{label} call", findings, refusals)
    if not bad:
        return outs
    if outs is not None or STATIC_REFUSAL not in refusals.get(f"{label} call", ""):
        findings.append(f"accepted: {label}: a static-scale graph ran float inputs holding NaN or inf")
        return outs
    fns = _jit_functions(art)
    for fn in fns:
        fn.finite_only = False
    try:
        return _attempt(lambda: art(*[x.copy() for x in feeds]), f"{label} call", findings, refusals)
    finally:
        for fn in fns:
            fn.finite_only = True


def _jit_functions(art) -> list:
    """The JitFunctions inside artifact `art` that refuse NaN/inf inputs (the host code of each target)."""
    from qcomp.targets.cpu.jit import JitFunction

    seen, todo, out = set(), [art], []
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, JitFunction):
            out += [o] if o.finite_only else []
        elif isinstance(o, list | tuple):
            todo.extend(o)
        elif isinstance(o, dict):
            todo.extend(o.values())
        elif hasattr(o, "__dict__") and not isinstance(o, np.ndarray | type):
            todo.extend(vars(o).values())
    return out


def run_case(seed: int, case: int, only: tuple[str, ...] = ()) -> dict:
    """Build and check case `case` of seed `seed` on every target (or those in `only`); a dict with its
    description, findings, refusals {target: message} and the number of builds."""
    g = generate(seed, case)
    findings: list[str] = []
    refusals: dict[str, str] = {}
    text, feeds = g.text(), g.feeds_list()
    results: dict[str, list[np.ndarray]] = {}
    builds = 0
    npu = NPU_PRESETS[case % len(NPU_PRESETS)]  # one NPU preset per case, in turn
    for label, (name, options) in TARGETS.items():
        if (only and label not in only) or (not only and label.startswith("npu-") and label != npu):
            continue
        builds += 1
        art = _attempt(lambda n=name, o=options: build(text, n, o), f"{label} build", findings, refusals)
        if art is None:
            continue
        outs = _call(g, art, feeds, label, findings, refusals)
        if outs is None:
            continue
        if not _shapes_ok(g, outs, None):
            findings.append(f"shape: {label}: outputs {[(o.dtype.name, o.shape) for o in outs]}")
            continue
        results[label] = outs
    base_label = "cpu" if "cpu" in results else next(iter(results), None)
    if base_label is not None:
        findings += check_reference(g, results[base_label], None, base_label)
        for label, outs in results.items():
            findings += compare_targets(g, label, outs, base_label, results[base_label])
    if g.dyn and (not only or "cpu-dynamic" in only):
        builds += 1
        findings += _check_dynamic(g, results.get(base_label), findings, refusals)
    zmm = None
    if _avx512_compile_only() and (not only or AVX512 in only):
        builds += 1
        zmm = _attempt(lambda: compile_avx512(text), f"{AVX512} build", findings, refusals)
    out = {"case": case, "graph": g.describe(), "findings": findings, "refusals": refusals, "builds": builds}
    return out | ({"avx512_zmm": zmm} if zmm is not None else {})


def _avx512_compile_only() -> bool:
    """Whether avx512-vnni builds are made compile-only here (the host cannot run them)."""
    from qcomp.targets.cpu.kernels import host_isa

    return host_isa() != "avx512-vnni"


def compare_targets(g: Graph, label: str, outs, base_label: str, base) -> list[str]:
    """Findings of target `label`'s outputs against the cpu build's: bit for bit but where `OWN_FLOAT_OPS`."""
    own = OWN_FLOAT_OPS.get(label, set())
    level = taints(g, lambda node: node.kind() != "exact" and (own is None or node.op in own))
    out = []
    for name, a, b in zip(g.outputs, base, outs, strict=True):
        lv = level[name]
        if lv != OFF_LEVEL and not (same_bits(a, b) if lv == EXACT_LEVEL else compare(HOW[lv], a, b)):
            out.append(f"targets: {label} vs {base_label} ({HOW[lv]}): %{name}: {_diff(a, b)}")
    return out


def _check_dynamic(g: Graph, static_outs, findings: list[str], refusals: dict[str, str]) -> list[str]:
    """The cpu build with `?` rows: equal to the static build at the same size, right at another size."""
    out: list[str] = []
    art = _attempt(lambda: build(g.text(dynamic=True), "cpu", {}), "cpu-dynamic build", findings, refusals)
    if art is None:
        return out
    outs = _call(g, art, g.feeds_list(), "cpu-dynamic", findings, refusals)
    if outs is not None:
        if not _shapes_ok(g, outs, None):
            return [f"shape: cpu-dynamic: outputs {[(o.dtype.name, o.shape) for o in outs]}"]
        for name, a, b in zip(g.outputs, static_outs or outs, outs, strict=True):
            if not same_bits(a, b):
                out.append(f"targets: cpu-dynamic vs cpu: %{name}: {_diff(a, b)}")
    lo, hi = g.rows
    rows = hi if hi != g.types[g.inputs[0]][0][0] else lo
    feeds = resize_rows(g, rows, np.random.default_rng([g.seed, g.case, 1]))
    outs = _call(g, art, g.feeds_list(feeds), f"cpu-dynamic ({rows} rows)", findings, refusals)
    if outs is not None:
        if not _shapes_ok(g, outs, rows):
            return [*out, f"shape: cpu-dynamic at {rows} rows: outputs {[(o.dtype.name, o.shape) for o in outs]}"]
        resized = Graph(**{**g.__dict__, "feeds": feeds})
        resized.types = {n: _resized(g, n, rows) for n in g.types}
        out += check_reference(resized, outs, feeds, f"cpu-dynamic at {rows} rows")
    return out


def _resized(g: Graph, name: str, rows: int):
    shape, dtype = g.types[name]
    if name in g.dyn:
        shape = tuple(rows if i == g.dyn[name] else d for i, d in enumerate(shape))
    return shape, dtype


def reproducer(g: Graph, directory: str, findings: list[str]) -> str:
    """Write the case's module (static and, where it has one, dynamic), inputs and findings; return the stem."""
    import os

    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, f"graph-{g.seed}-{g.case}")
    head = f"// {g.describe()}\n// rerun: python bench/graph_fuzz.py --seed {g.seed} --case {g.case}\n"
    with open(stem + ".mlir", "w") as f:
        f.write(head + "".join(f"// {line}\n" for line in findings) + g.text())
    if g.dyn:
        with open(stem + ".dynamic.mlir", "w") as f:
            f.write(head + g.text(dynamic=True))
    np.savez(stem + ".inputs.npz", *g.feeds_list())
    return stem
