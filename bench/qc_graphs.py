"""Random well-formed `qc` graphs for the property fuzzer (bench/graph_fuzz.py, test_reliability_graph_fuzz.py).

`generate(seed, case)` builds a small chain or DAG of qc ops as the targets receive them after qc-quantize:
random shapes (M = 1, odd row counts, K not a multiple of the vector width), dtypes (f32 activations, i8
codes, i32 accumulators, i32/i64 token ids), scales, bit widths (2..8), weight groups (partial last group),
float formats, activations, and edge values (exact rounding ties, zero rows, values past the integer range,
sometimes NaN and inf). Leading (row) dimensions are dynamic (`?`, a `qc.shapes` range) in some cases, also
the batch of a convolution. `qc.masked_softmax` (a mask of -inf, zeros and values, whole rows masked) and
`qc.kv_attention` / `qc.kv_attention_int8` (a step over a KV cache at random positions, grouped-query heads,
windows, positions past the cache) are drawn from a second random stream, so that adding them left the other
ops of each case as they were.

`Graph.text()` is the module in generic form (weights as exact hex `dense<"0x…">` constants), `Graph.reference()`
evaluates it with the numpy reference semantics (dialects/reference*.py, formats.py), and `run_case` builds it
on every target, runs it and returns the findings (see `check`). Nothing here needs the targets but `run_case`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

F32 = np.float32
_ELEM = {"float32": "f32", "int8": "i8", "int32": "i32", "int64": "i64"}
FORMATS = ("fp8", "fp8_e5m2", "fp6_e3m2", "fp4", "mxfp8", "mxfp4", "nvfp4", "e2m1:f32:channel", "e4m3:f32:8")
ACTS = ("none", "relu", "gelu", "silu")
SYM = "s0"  # the dynamic row dimension's symbol

# How the target's result of an op is compared with the reference run on the target's own operands:
# exact: bit for bit; close: float rounding (the reference says float ops match "within rounding");
# codes: an integer code may move by one where a float op before the rounding differs in the last bit.
EXACT = {
    "quantize",
    "quantize_dynamic",
    "dequantize",
    "requantize",
    "qmatmul",
    "qconv2d",
    "relu",
    "add",
    "mul",
    "channel_scale",
    "channel_permute",
    "embedding",
}
CODES = {"rms_norm_quantize", "layer_norm_quantize"}
WRITES_OPERANDS = {"kv_attention", "kv_attention_int8"}  # their cache operands are updated in place


@dataclass
class Node:
    op: str
    operands: list[str]
    results: list[str]
    attrs: dict = field(default_factory=dict)

    def kind(self) -> str:
        if self.op in ("qlinear", "qlinear_gated"):
            return "exact" if self.attrs["act"] in ("none", "relu") else "close"
        if self.op in EXACT:
            return "exact"
        return "codes" if self.op in CODES else "close"


@dataclass
class Graph:
    seed: int
    case: int
    inputs: list[str] = field(default_factory=list)
    types: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)  # value -> (shape, dtype)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    dyn: dict[str, int] = field(default_factory=dict)  # value -> its dynamic dimension (rows); empty: static
    rows: tuple[int, int] | None = None  # the dynamic dimension's range
    feeds: dict[str, np.ndarray] = field(default_factory=dict)  # the inputs' arrays
    _n: int = 0

    # --------------------------------------------------------------------------- building
    def value(self, shape, dtype: str, dyn: int | None = None) -> str:
        self._n += 1
        name = f"v{self._n}"
        self.types[name] = (tuple(int(d) for d in shape), np.dtype(dtype).name)
        if dyn is not None:
            self.dyn[name] = dyn
        return name

    def const(self, arr: np.ndarray) -> str:
        name = self.value(arr.shape, arr.dtype)
        self.consts[name] = np.ascontiguousarray(arr)
        return name

    def input(self, arr: np.ndarray, dyn: int | None = None) -> str:
        name = self.value(arr.shape, arr.dtype, dyn)
        self.inputs.append(name)
        self.feeds[name] = np.ascontiguousarray(arr)
        return name

    def add(self, op: str, operands: list[str], results: list[tuple], **attrs) -> list[str]:
        """Append qc.<op>; results: (shape, dtype) pairs; a result is dynamic where its first operand is (rows
        dimension kept) unless the op's leading dims are the row dims of another operand."""
        d = self.dyn.get(operands[0]) if operands else None
        names = [
            self.value(s, t, d if d is not None and d < len(s) and _keeps_rows(s, d) else None) for s, t in results
        ]
        self.nodes.append(Node(op, operands, names, attrs))
        return names

    # --------------------------------------------------------------------------- text
    def _type(self, name: str, dynamic: bool = False) -> str:
        shape, dtype = self.types[name]
        dyn = self.dyn.get(name) if dynamic else None
        dims = "".join(("?" if dyn == i else str(d)) + "x" for i, d in enumerate(shape))
        return f"tensor<{dims}{_ELEM[dtype]}>"

    def text(self, dynamic: bool = False) -> str:
        """The module; `dynamic`: the row dimension as `?` with its range in `qc.shapes` (cases that have one)."""
        dynamic = dynamic and bool(self.dyn)
        t = lambda n: self._type(n, dynamic)  # noqa: E731
        args = ", ".join(f"%{n}: {t(n)}" for n in self.inputs)
        rtypes = ", ".join(t(n) for n in self.outputs)
        lines = []
        if dynamic:
            lines.append(f"module attributes {{qc.shapes = {json.dumps(json.dumps(self.shape_spec()))}}} {{")
        lines.append(f"func.func @main({args}) -> ({rtypes}) {{")
        for n, arr in self.consts.items():
            lines.append(f'  %{n} = arith.constant dense<"0x{arr.tobytes().hex().upper()}"> : {t(n)}')
        for node in self.nodes:
            res = ", ".join(f"%{r}" for r in node.results)
            ops = ", ".join(f"%{o}" for o in node.operands)
            attrs = ", ".join(f"{k} = {_attr_text(v)}" for k, v in node.attrs.items())
            otypes = ", ".join(t(o) for o in node.operands)
            rt = ", ".join(t(r) for r in node.results)
            lines.append(f'  {res} = "qc.{node.op}"({ops}) {{{attrs}}} : ({otypes}) -> ({rt})')
        lines.append(f"  return {', '.join('%' + n for n in self.outputs)} : {rtypes}")
        lines.append("}")
        if dynamic:
            lines.append("}")
        return "\n".join(lines) + "\n"

    def shape_spec(self) -> dict:
        def dims(n):
            return [SYM if self.dyn.get(n) == i else d for i, d in enumerate(self.types[n][0])]

        return {
            "inputs": [dims(n) for n in self.inputs],
            "outputs": [dims(n) for n in self.outputs],
            "ranges": {SYM: list(self.rows)},
            "names": list(self.inputs),
        }

    def describe(self) -> str:
        ops = " -> ".join(n.op for n in self.nodes)
        return f"seed {self.seed} case {self.case}: {ops}" + (f" (dynamic rows {self.rows})" if self.dyn else "")

    # --------------------------------------------------------------------------- semantics
    def reference(self, feeds: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Every value of the graph computed with the numpy reference on `feeds` (default: the case's inputs)."""
        env = {**self.consts, **(self.feeds if feeds is None else feeds)}
        with np.errstate(all="ignore"):
            for node in self.nodes:
                out = reference_op(node, [env[o] for o in node.operands])
                env.update(zip(node.results, out, strict=True))
        return env

    def feeds_list(self, feeds: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        f = self.feeds if feeds is None else feeds
        return [f[n] for n in self.inputs]


def _keeps_rows(shape, d: int) -> bool:
    return len(shape) >= 2 and d < len(shape) - 1


def _attr_text(v) -> str:
    if isinstance(v, bool):
        raise TypeError(v)
    if isinstance(v, int):
        return f"{v} : i64"
    if isinstance(v, float):
        return f"{v:.9e} : f64"
    if isinstance(v, str):
        return f'"{v}"'
    return "array<i64: " + ", ".join(str(int(e)) for e in v) + ">"


def reference_op(node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
    from qcomp.dialects import formats as fmt
    from qcomp.dialects import reference as ref
    from qcomp.dialects import reference_asym as ref_asym

    fn = getattr(ref, node.op, None) or getattr(ref_asym, node.op, None) or getattr(fmt, node.op)
    if node.op in WRITES_OPERANDS:  # the reference writes the cache operands in place: never the case's arrays
        args = [np.array(a, copy=True) for a in args]
    out = fn(*args, **node.attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    return [np.asarray(o).astype(node_dtype) for o, node_dtype in zip(outs, _result_dtypes(node), strict=True)]


def _result_dtypes(node: Node) -> list[str]:
    if node.op in ("quantize", "requantize"):
        return ["int8"]
    if node.op in ("quantize_dynamic", "rms_norm_quantize", "layer_norm_quantize"):
        return ["int8", "float32"]
    return ["float32"]


# ------------------------------------------------------------------------------- random values
def edge_floats(rng: np.random.Generator, shape, scale: float, special: bool) -> np.ndarray:
    """f32 values: exact ties of `scale` (k + 0.5 steps), zeros, values past ±127 steps and plain normals; with
    `special`, a few NaN and ±inf."""
    ties = (rng.integers(-140, 140, shape) + 0.5) * scale
    wide = rng.uniform(-400, 400, shape) * scale
    plain = rng.standard_normal(shape) * 40 * scale
    pick = rng.choice(4, size=shape, p=[0.2, 0.1, 0.65, 0.05])
    x = np.choose(pick, [ties, wide, plain, np.zeros(shape)]).astype(F32)
    if x.ndim >= 2 and rng.random() < 0.2:
        x.reshape(-1, x.shape[-1])[int(rng.integers(0, max(1, x.size // x.shape[-1])))] = 0  # an all-zero row
    if special and x.size:
        for _ in range(int(rng.integers(1, 3))):
            x.reshape(-1)[int(rng.integers(0, x.size))] = rng.choice([np.nan, np.inf, -np.inf])
    return x


def _dim(rng, small: bool = False) -> int:
    if small:
        return int(rng.choice([1, 1, 2, 3, 5]))
    return int(rng.choice([1, 3, 4, 7, 8, 13, 16, 17, 24, 31, 32, 33, 48, 64]))


def _scale(rng) -> float:
    return float(F32(2.0 ** rng.integers(-6, 2) * rng.choice([1.0, 0.75, 1.25, 0.3])))


# ------------------------------------------------------------------------------- op steps
# Each step takes the graph, the rng and the current f32 activation value and returns the next one.
def step_qlinear_dynamic(g: Graph, rng, h: str) -> str:
    shape = g.types[h][0]
    bits = int(rng.choice([8, 8, 8, 4, 6, 2, 7]))
    gran = "per_token" if rng.random() < 0.8 else "per_tensor"
    q, s = g.add(
        "quantize_dynamic",
        [h],
        [(shape, "int8"), (shape[:-1] + (1,) if gran == "per_token" else (1,), "float32")],
        bits=bits,
        granularity=gran,
    )
    return _qlinear(g, rng, q, s)


def step_qlinear_static(g: Graph, rng, h: str) -> str:
    shape = g.types[h][0]
    bits = int(rng.choice([8, 8, 4, 5]))
    sc = g.const(np.array([_scale(rng)], F32))
    (q,) = g.add("quantize", [h, sc], [(shape, "int8")], bits=bits, axis=-1)
    return _qlinear(g, rng, q, sc)


def _qlinear(g: Graph, rng, q: str, s: str) -> str:
    shape = g.types[q][0]
    k, n = shape[-1], _dim(rng)
    wbits = int(rng.choice([8, 8, 4, 2]))
    qm = (1 << (wbits - 1)) - 1
    wq = rng.integers(-qm, qm + 1, (n, k)).astype(np.int8)
    if rng.random() < 0.3:
        wq[0] = -qm
    ws = (np.abs(rng.standard_normal(n)) * 0.02 + 1e-4).astype(F32)
    b = rng.standard_normal(n).astype(F32)
    act = str(rng.choice(ACTS))
    operands = [q, s, g.const(wq), g.const(ws), g.const(b)]
    if rng.random() < 0.2:  # a gated up projection: the gate is a float value of the result's shape
        (gate,) = g.add("qlinear", operands, [(shape[:-1] + (n,), "float32")], act="silu")
        return g.add("qlinear_gated", [*operands, gate], [(shape[:-1] + (n,), "float32")], act=act)[0]
    return g.add("qlinear", operands, [(shape[:-1] + (n,), "float32")], act=act)[0]


def step_qdq(g: Graph, rng, h: str) -> str:
    shape = g.types[h][0]
    per_channel = rng.random() < 0.5
    sc = np.array([_scale(rng) for _ in range(shape[-1] if per_channel else 1)], F32)
    s = g.const(sc)
    bits = int(rng.integers(2, 9))
    (q,) = g.add("quantize", [h, s], [(shape, "int8")], bits=bits, axis=-1)
    return g.add("dequantize", [q, s], [(shape, "float32")], axis=-1)[0]


def step_requantize(g: Graph, rng, h: str) -> str:
    shape = g.types[h][0]
    acc = rng.integers(-(2**20), 2**20, shape).astype(np.int32)
    if acc.size:
        acc.reshape(-1)[0] = np.iinfo(np.int32).max
    a = g.input(acc, g.dyn.get(h))
    per_channel = rng.random() < 0.5
    s = g.const(np.array([_scale(rng) * 1e-3 for _ in range(shape[-1] if per_channel else 1)], F32))
    (q,) = g.add("requantize", [a, s], [(shape, "int8")], bits=int(rng.integers(2, 9)), axis=-1)
    (dq,) = g.add("dequantize", [q, s], [(shape, "float32")], axis=-1)
    return g.add("add", [h, dq], [(shape, "float32")])[0]


def step_wlinear(g: Graph, rng, h: str) -> str:
    from qcomp.dialects import reference as ref
    from qcomp.dialects import reference_asym as ref_asym

    shape = g.types[h][0]
    k, n = shape[-1], _dim(rng)
    bits = int(rng.choice([8, 4, 4, 3, 2, 6]))
    group = int(rng.choice([k, k, 8, 16, 32, 5, 7]))
    w = rng.standard_normal((n, k)).astype(F32)
    b = g.const(rng.standard_normal(n).astype(F32))
    out = [(shape[:-1] + (n,), "float32")]
    if rng.random() < 0.4:
        wq, scale, zp = ref_asym.quantize_weight_grouped_asym(w, bits=bits, group=group)
        return g.add("wlinear_asym", [h, g.const(wq), g.const(scale), g.const(zp), b], out, bits=bits, group=group)[0]
    wq, scale = ref.quantize_weight_grouped(w, bits=bits, group=group)
    return g.add("wlinear", [h, g.const(wq), g.const(scale), b], out, bits=bits, group=group)[0]


def step_fp_format(g: Graph, rng, h: str) -> str:
    from qcomp.dialects import formats as fmt

    shape = g.types[h][0]
    k, n = shape[-1], _dim(rng)
    name = str(rng.choice(FORMATS))
    qf = fmt.parse(name)
    if rng.random() < 0.4:
        if qf.scale == "f32" and rng.random() < 0.5:
            s = g.const(np.array([_scale(rng)], F32))
            return g.add("fp_fake_quant_static", [h, s], [(shape, "float32")], format=name)[0]
        return g.add("fp_fake_quant", [h], [(shape, "float32")], format=name)[0]
    w = (rng.standard_normal((n, k)) * 0.3).astype(F32)
    wq, scale = fmt.quantize_weight(w, qf)
    b = g.const(rng.standard_normal(n).astype(F32))
    group = qf.block if qf.block > 0 else k
    return g.add(
        "fp_wlinear", [h, g.const(wq), g.const(scale), b], [(shape[:-1] + (n,), "float32")], format=name, group=group
    )[0]


def step_float(g: Graph, rng, h: str) -> str:
    shape = g.types[h][0]
    c = shape[-1]
    kind = str(rng.choice(["linear", "norm", "softmax", "unary", "binary", "scale", "permute"]))
    f = [(shape, "float32")]
    if kind == "linear":
        n = _dim(rng)
        w, b = (rng.standard_normal((n, c)) * 0.2).astype(F32), rng.standard_normal(n).astype(F32)
        return g.add("linear", [h, g.const(w), g.const(b)], [(shape[:-1] + (n,), "float32")])[0]
    if kind == "norm":
        gamma = g.const((rng.standard_normal(c) * 0.5 + 1).astype(F32))
        eps = float(rng.choice([1e-5, 1e-6, 0.01]))
        if rng.random() < 0.5:
            return g.add("rms_norm", [h, gamma], f, eps=eps)[0]
        beta = g.const(rng.standard_normal(c).astype(F32))
        return g.add("layer_norm", [h, gamma, beta], f, eps=eps)[0]
    if kind == "softmax":
        return g.add("softmax", [h], f, axis=-1)[0]
    if kind == "unary":
        op = str(rng.choice(["gelu", "silu", "relu"]))
        attrs = {"approximate": str(rng.choice(["none", "tanh"]))} if op == "gelu" else {}
        return g.add(op, [h], f, **attrs)[0]
    if kind == "binary":
        others = [
            v
            for v, (s, t) in g.types.items()
            if s == shape and t == "float32" and v not in g.consts and v != h and g.dyn.get(v) == g.dyn.get(h)
        ]
        other = others[int(rng.integers(0, len(others)))] if others else g.add("relu", [h], f)[0]
        return g.add(str(rng.choice(["add", "mul"])), [h, other], f)[0]
    if kind == "scale":
        s = g.const((rng.standard_normal(c) * 2).astype(F32))
        return g.add("channel_scale", [h, s], f)[0]
    return g.add("channel_permute", [h], f, perm=[int(p) for p in rng.permutation(c)])[0]


def step_norm_quantize(g: Graph, rng, h: str) -> str:
    """A norm and per-token quantization, as one fused op or as the pair qc-fuse{norm} fuses, then qlinear."""
    shape = g.types[h][0]
    if len(shape) < 2:
        return step_float(g, rng, h)
    c = shape[-1]
    gamma = g.const((rng.standard_normal(c) * 0.5 + 1).astype(F32))
    layer = rng.random() < 0.5
    norm_in = [h, gamma] + ([g.const(rng.standard_normal(c).astype(F32))] if layer else [])
    bits = int(rng.choice([8, 8, 4]))
    outs = [(shape, "int8"), (shape[:-1] + (1,), "float32")]
    if rng.random() < 0.5:
        op = "layer_norm_quantize" if layer else "rms_norm_quantize"
        q, s = g.add(op, norm_in, outs, eps=1e-5, bits=bits)
    else:
        (y,) = g.add("layer_norm" if layer else "rms_norm", norm_in, [(shape, "float32")], eps=1e-5)
        q, s = g.add("quantize_dynamic", [y], outs, bits=bits, granularity="per_token")
    return _qlinear(g, rng, q, s)


def step_qmatmul(g: Graph, rng, h: str) -> str:
    shape = g.types[h][0]
    if len(shape) < 2:
        return step_qlinear_dynamic(g, rng, h)
    k, n = shape[-1], _dim(rng)
    q, s = g.add(
        "quantize_dynamic", [h], [(shape, "int8"), (shape[:-1] + (1,), "float32")], bits=8, granularity="per_token"
    )
    batch = shape[:-2]
    d = g.dyn.get(h)
    bdyn = d if d is not None and d < len(batch) else None
    bq = g.input(rng.integers(-127, 128, (*batch, k, n)).astype(np.int8), bdyn)
    bs = g.input((np.abs(rng.standard_normal((*batch, 1, n))) * 0.02 + 1e-4).astype(F32), bdyn)
    if rng.random() < 0.3:  # float matmul on the dequantized values as well
        b = g.input(rng.standard_normal((*batch, k, n)).astype(F32), bdyn)
        return g.add("matmul", [h, b], [(shape[:-1] + (n,), "float32")])[0]
    return g.add("qmatmul", [q, s, bq, bs], [(shape[:-1] + (n,), "float32")])[0]


def step_masked_softmax(g: Graph, rng, h: str) -> str:
    """qc.masked_softmax of h and a mask of h's trailing dims after leading dims of size 1: -inf, zeros and
    plain values, sometimes a whole row -inf (masked_rows zero: 0, nan: NaN). The mask is an input where it
    covers the dynamic row dimension (then it has `?` rows too), else an input or a constant."""
    shape = g.types[h][0]
    if len(shape) < 2:
        return h
    lead = int(rng.integers(0, len(shape) - 1))  # the mask's leading dims of size 1
    mshape = (1,) * lead + shape[lead:]
    kind = rng.random()
    mask = np.where(rng.random(mshape) < 0.3, -np.inf, 0.0) if kind < 0.6 else rng.standard_normal(mshape) * 2
    mask = mask.astype(F32)
    if mask.size and rng.random() < 0.4:
        mask.reshape(-1, shape[-1])[int(rng.integers(0, mask.size // shape[-1]))] = -np.inf  # a masked row
    d = g.dyn.get(h)
    if d is not None and lead <= d:
        m = g.input(mask, d)
    else:
        m = g.input(mask) if rng.random() < 0.5 else g.const(mask)
    rows = str(rng.choice(["zero", "zero", "nan"]))
    return g.add("masked_softmax", [h, m], [(shape, "float32")], masked_rows=rows)[0]


def _attention_graph(g: Graph, rng, special: bool) -> str:
    """qc.kv_attention (f32 cache) or qc.kv_attention_int8 (i8 cache, f16 scales as bytes) of one step: q, k, v,
    the caches and the positions are inputs (a cache flows from an argument into the op, which writes it)."""
    int8 = rng.random() < 0.4
    b, hkv = int(rng.integers(1, 3)), int(rng.choice([1, 1, 2]))
    heads, t = hkv * int(rng.choice([1, 2, 3])), int(rng.choice([1, 1, 2, 3, 5]))
    d, s = int(rng.choice([16, 16, 32])), int(rng.choice([16, 32]))
    layers = int(rng.integers(1, 3))
    layer = int(rng.integers(0, layers))
    window = 0 if rng.random() < 0.6 else int(rng.integers(1, s + 1))
    scale = float(F32(1 / np.sqrt(d) if rng.random() < 0.7 else rng.uniform(0.01, 2.0)))
    pos = rng.integers(0, s - t + 1, b)
    if rng.random() < 0.2:  # the step runs past the cache's end: those tokens are neither written nor read
        pos[int(rng.integers(0, b))] = int(rng.integers(s - t + 1, s + 2))
    q = g.input(edge_floats(rng, (b, heads, t, d), 0.25, special))
    if rng.random() < 0.3:  # q through a quantize-dequantize pair first
        q = step_qdq(g, rng, q)
    k = g.input((rng.standard_normal((b, hkv, t, d)) * 2).astype(F32))
    v = g.input(rng.standard_normal((b, hkv, t, d)).astype(F32))
    if int8:
        kc = g.input(rng.integers(-127, 128, (layers, b, hkv, d, s)).astype(np.int8))
        vc = g.input(rng.integers(-127, 128, (layers, b, hkv, s, d)).astype(np.int8))
        ks = (np.abs(rng.standard_normal((layers, b, hkv, d // 16, s))) * 0.02 + 1e-3).astype(np.float16)
        vs = (np.abs(rng.standard_normal((layers, b, hkv, s))) * 0.02 + 1e-3).astype(np.float16)
        caches = [kc, vc, g.input(ks.view(np.int8)), g.input(vs.view(np.int8))]
    else:
        kc = g.input((rng.standard_normal((layers, b, hkv, d, s)) * 2).astype(F32))
        vc = g.input(rng.standard_normal((layers, b, hkv, s, d)).astype(F32))
        caches = [kc, vc]
    p = g.input(pos.astype(np.int64))
    op = "kv_attention_int8" if int8 else "kv_attention"
    out = [((b, t, heads, d), "float32")]
    return g.add(op, [q, k, v, *caches, p], out, layer=layer, scale=scale, window=window)[0]


STEPS = (
    (step_qlinear_dynamic, 5),
    (step_qlinear_static, 2),
    (step_qdq, 2),
    (step_requantize, 1),
    (step_wlinear, 2),
    (step_fp_format, 2),
    (step_float, 4),
    (step_norm_quantize, 2),
    (step_qmatmul, 2),
)


def _conv_graph(g: Graph, rng, dynamic: bool = False) -> str:
    """A float or quantized convolution; `dynamic`: the batch (the row dimension) is `?`."""
    n, c, hh, ww = int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    o, kh, kw = int(rng.integers(1, 9)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    stride, pad, dil = [int(rng.integers(1, 3))] * 2, [int(rng.integers(0, 2))] * 2, [int(rng.integers(1, 3))] * 2
    oh = (hh + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (ww + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        stride, pad, dil = [1, 1], [1, 1], [1, 1]
        oh, ow = hh + 2 - kh + 1, ww + 2 - kw + 1
    x = g.input(edge_floats(rng, (n, c, hh, ww), 0.05, rng.random() < 0.05), 0 if dynamic else None)
    if dynamic:
        g.rows = (1, n + 3)
    b = g.const(rng.standard_normal(o).astype(F32))
    out = [((n, o, oh, ow), "float32")]
    attrs = {"stride": stride, "padding": pad, "dilation": dil, "groups": 1}
    if rng.random() < 0.5:
        w = g.const((rng.standard_normal((o, c, kh, kw)) * 0.3).astype(F32))
        return g.add("conv2d", [x, w, b], out, **attrs)[0]
    xs = g.const(np.array([0.05], F32))
    (xq,) = g.add("quantize", [x, xs], [((n, c, hh, ww), "int8")], bits=8, axis=-1)
    wq = g.const(rng.integers(-127, 128, (o, c, kh, kw)).astype(np.int8))
    ws = g.const((np.abs(rng.standard_normal(o)) * 0.01 + 1e-4).astype(F32))
    return g.add("qconv2d", [xq, xs, wq, ws, b], out, **attrs)[0]


def generate(seed: int, case: int) -> Graph:
    """The random graph number `case` of the run seeded `seed` (deterministic)."""
    rng = np.random.default_rng([seed, case])
    new = np.random.default_rng([seed, case, 2])  # the ops added later (masked softmax, attention, dynamic conv)
    g = Graph(seed, case)
    special = rng.random() < 0.1
    if new.random() < 0.12:
        h = _attention_graph(g, new, special)
        for _ in range(int(new.integers(0, 3))):
            h = (step_masked_softmax if new.random() < 0.3 else step_float)(g, new, h)
        g.outputs = [h] if new.random() < 0.6 else [r for node in g.nodes for r in node.results]
        return g
    if rng.random() < 0.08:
        h = _conv_graph(g, rng, dynamic=new.random() < 0.4)
        if new.random() < 0.3:
            h = step_masked_softmax(g, new, h)
        g.outputs = [h]
        return g
    dynamic = rng.random() < 0.25
    lead = [int(rng.choice([1, 1, 2, 3, 5, 7, 9, 16, 33]))]
    if rng.random() < 0.4:
        lead.append(int(rng.choice([1, 2, 3, 4, 6])))
    if rng.random() < 0.2:
        lead = [1]  # M = 1 (a decode step)
    if dynamic:
        g.rows = (1, max(lead[0], 2) + int(rng.integers(0, 8)))
    d = 0 if dynamic else None
    if rng.random() < 0.15:  # token ids through an embedding
        vocab, dim = int(rng.integers(1, 40)), _dim(rng)
        d = d if len(lead) > 1 else None  # the ids' last dimension cannot be dynamic
        ids = g.input(rng.integers(0, vocab, lead).astype(rng.choice([np.int64, np.int32])), d)
        table = g.const((rng.standard_normal((vocab, dim)) * 0.5).astype(F32))
        (h,) = g.add("embedding", [table, ids], [((*lead, dim), "float32")])
        if d is not None:
            g.dyn[h] = d
    else:
        h = g.input(edge_floats(rng, (*lead, _dim(rng)), _scale(rng), special), d)
    fns, weights = zip(*STEPS, strict=True)
    p = np.array(weights, float) / sum(weights)
    for _ in range(int(rng.integers(1, 5))):
        h = fns[int(rng.choice(len(fns), p=p))](g, rng, h)
        if new.random() < 0.12:
            h = step_masked_softmax(g, new, h)
    g.outputs = [h]
    if rng.random() < 0.3:  # expose every intermediate: each op is checked on its own operands
        g.outputs = [r for node in g.nodes for r in node.results]
    elif rng.random() < 0.3 and len(g.nodes) > 1:
        g.outputs = [*{r for r in g.nodes[int(rng.integers(0, len(g.nodes) - 1))].results} - {h}, h]
    return g


def resize_rows(g: Graph, rows: int, rng) -> dict[str, np.ndarray]:
    """Inputs of another size along the dynamic dimension (fresh values for the new rows)."""
    feeds = {}
    for n in g.inputs:
        a = g.feeds[n]
        if n not in g.dyn:
            feeds[n] = a
            continue
        reps = -(-rows // max(a.shape[0], 1))
        feeds[n] = np.ascontiguousarray(np.concatenate([a] * max(reps, 1), axis=0)[:rows]) if a.shape[0] else a
    return feeds
