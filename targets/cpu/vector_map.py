"""Elementwise maps and row reductions as 16-lane vector loops (the lowering of `Fn.generic` when it applies).

`convert-linalg-to-loops` writes one scalar iteration per element, and `math.exp` / `math.erf` become libm
calls, so GELU, softmax and the norms ran at a few cycles per element. Where a generic

- is all-parallel, or reduces its last dim into an output indexed by the leading dims (a row reduction),
- has a last dim that is a multiple of 16 and a rank of 2 or more,
- reads each input through one of: the output's dims (full), its leading dims (a per-row value, also
  with a trailing 0 for a [..., 1] operand), its last dim (a per-column vector) or a single element,
- and has a body of arith/math ops on f32/i8/i32 (no linalg.index, no tensor ops),

this writes it as a loop over rows (leading dims collapsed) and 16-wide column chunks: vector loads, the
body with each scalar type turned into vector<16x…> (exp, erf and tanh by `vector_math`), a vector store;
a reduction carries a vector accumulator and ends with `vector.reduction`. Integer results are unchanged
(the same ops per element); float reductions sum in a different order than the scalar loop.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from qcomp.targets.common import vector_math
from qcomp.targets.common.linalg_text import T, collapse, expand

from .isa import LANES

if TYPE_CHECKING:  # the builder they write into, a layer above (its `generic` calls these)
    from .linalg_text import Fn

PARALLEL_MIN_ELEMENTS = 1 << 15  # smaller maps keep a plain row loop: an OpenMP fork costs a few µs
DYNAMIC_ROWS = 64  # the row count assumed for that choice where it is known only at run time

SCALARS = ("f32", "i8", "i32", "i1")
TOKEN = re.compile(r"%[A-Za-z_][\w]*")
LINE = re.compile(r"^(%[\w]+) = ([\w.]+) (.*) : ([^:]+)$")
_REDUCE = {"arith.addf": ("add", "0.0"), "arith.maximumf": ("maximumf", "0xFF800000")}


def _vt(elem: str) -> str:
    return f"vector<{LANES}x{elem}>"


def _kind(exprs: list[str], rank: int) -> str | None:
    full = [f"d{i}" for i in range(rank)]
    if exprs == full:
        return "full"
    if exprs in (full[:-1], [*full[:-1], "0"]):
        return "row"
    if exprs == full[-1:]:
        return "col"
    if exprs in ([], ["0"]):
        return "scalar"
    return None


def vector_body(
    body: list[str], tag: str, names: dict[str, str]
) -> tuple[list[str], dict[str, str], dict[str, str]] | None:
    """The body on vectors; `names` maps the generic's block arguments to vector values. Returns the lines, the
    outer scalars the body reads ({name: elem}) and every scalar name's vector value, or None when a line
    cannot be vectorized."""
    out, outer, local = [], {}, dict(names)
    for i, line in enumerate(body):
        m = LINE.match(line.strip())
        if not m:
            return None
        res, op, args, types = m.groups()
        if not (op.startswith("arith.") or op.startswith("math.")):
            return None
        scalar = types.split(" to ")[0].strip()
        if any(t.strip() not in SCALARS for t in types.split(" to ")):
            return None
        new = f"%{tag}_b_{res[1:]}"
        if op == "arith.constant":
            local[res] = new
            out.append(f"{new} = arith.constant dense<{args.strip()}> : {_vt(scalar)}")
            continue

        def rename(tok: re.Match, scalar: str = scalar) -> str:
            name = tok.group(0)
            if name not in local:
                outer[name] = scalar
                local[name] = f"%{tag}_out_{name[1:]}"
            return local[name]

        args = TOKEN.sub(rename, args)
        local[res] = new
        if op in vector_math.FUNCTIONS:
            lines, r = vector_math.FUNCTIONS[op](args.strip(), f"{tag}_m{i}", _vt(scalar))
            out += lines
            local[res] = r
            continue
        if op == "arith.select":
            vtypes = f"{_vt('i1')}, {_vt(scalar)}"
        else:
            vtypes = " to ".join(_vt(t.strip()) for t in types.split(" to "))
        out.append(f"{new} = {op} {args} : {vtypes}")
    return out, outer, local


def vector_generic(
    fn: Fn, nd: int, ins: list[tuple[str, T, list[str]]], out: tuple[str, T, list[str]], body, yield_: str, n_red: int
) -> str | None:
    """`fn.generic` as vector loops, or None where it does not apply (see the module docstring)."""
    ov, ot, oexprs = out
    if nd < 2 or n_red > 1:
        return None
    shape = tuple(ins[0][1].shape) if n_red else ot.shape
    if len(shape) != nd or shape[-1] is None or shape[-1] % LANES or _kind(oexprs, nd) != ("row" if n_red else "full"):
        return None
    kinds = [_kind(e, nd) for _, _, e in ins]
    if None in kinds or any(t.elem not in SCALARS for _, t, _ in ins) or ot.elem not in SCALARS:
        return None
    if any(k == "full" and t.shape != shape for k, (_, t, _) in zip(kinds, ins, strict=True)):
        return None
    tag = fn.v()[1:]
    cols = shape[-1]
    rows = fn.count(T(shape, ot.elem), nd - 1)  # an int, or an SSA index where a leading dim is dynamic
    rows_t = rows if isinstance(rows, int) else None  # the row dim of the collapsed types
    if fn.row_group is not None and not fn.row_group.accepts(rows, cols, ins, kinds):
        return None
    names = {f"%a{i}": f"%{tag}_in{i}" for i in range(len(ins))}
    acc = f"%{tag}_acc"
    if n_red:
        names["%o"] = acc
    elif any("%o" in TOKEN.findall(line) for line in body):
        return None
    vb = vector_body(body, tag, names)
    if vb is None:
        return None
    lines, outer, local = vb
    last = LINE.match(body[-1].strip())
    if n_red and (last.group(1) != yield_ or last.group(2) not in _REDUCE or "%o" not in last.group(3)):
        return None
    if yield_ not in local:
        return None

    def c(v: int | str) -> str:
        if isinstance(v, str):  # already an SSA index
            return v
        name = f"%{tag}_c{v}"
        if name not in consts:
            consts.add(name)
            fn.emit(f"{name} = arith.constant {v} : index")
        return name

    consts: set[str] = set()
    c(0), c(1), c(LANES), c(rows), c(cols)
    group = fn.row_group
    bufs = []
    for i, ((v, t, _), k) in enumerate(zip(ins, kinds, strict=True)):
        if group is not None and v in group.pending:  # written earlier in the same row loop
            bufs.append(group.pending[v])
            continue
        if k == "full":
            t2 = T((rows_t, cols), t.elem)
        elif k == "row":
            t2 = T((rows_t,), t.elem)
        else:
            t2 = t
        b = f"%{tag}_buf{i}"
        fn.emit(f"{b} = bufferization.to_buffer {collapse(fn, v, t, t2.shape)} read_only : {t2.s} to {t2.memref}")
        bufs.append((b, t2))
    for name, elem in outer.items():
        fn.emit(f"{local[name]} = vector.broadcast {name} : {elem} to {_vt(elem)}")
    for i, (k, (b, t2)) in enumerate(zip(kinds, bufs, strict=True)):
        if k == "scalar":
            idx = ", ".join(c(0) for _ in t2.shape)
            fn.emit(f"%{tag}_s{i} = memref.load {b}[{idx}] : {t2.memref}")
            fn.emit(f"{names[f'%a{i}']} = vector.broadcast %{tag}_s{i} : {t2.elem} to {_vt(t2.elem)}")
    res_t = T((rows_t,) if n_red else (rows_t, cols), ot.elem)
    ob = f"%{tag}_out"
    fn.emit(f"{ob} = memref.alloc({'' if rows_t else rows}) {{alignment = 64 : i64}} : {res_t.memref}")
    r = group.row if group is not None else f"%{tag}_r"
    col = f"%{tag}_col"
    init_buf = f"%{tag}_initb"
    if n_red:  # the generic's init tensor (a fill) joins the lanes' results
        init_src = collapse(fn, ov, ot, (rows_t,))
        fn.emit(f"{init_buf} = bufferization.to_buffer {init_src} read_only : {res_t.s} to {res_t.memref}")
    row = []  # the body of the row loop
    for i, (k, (b, t2)) in enumerate(zip(kinds, bufs, strict=True)):
        if k == "row":
            row.append(f"%{tag}_s{i} = memref.load {b}[{r}] : {t2.memref}")
            row.append(f"{names[f'%a{i}']} = vector.broadcast %{tag}_s{i} : {t2.elem} to {_vt(t2.elem)}")
    loads = []
    for i, (k, (b, t2)) in enumerate(zip(kinds, bufs, strict=True)):
        if k in ("full", "col"):
            idx = f"{r}, {col}" if k == "full" else col
            loads.append(f"{names[f'%a{i}']} = vector.load {b}[{idx}] : {t2.memref}, {_vt(t2.elem)}")
    y = local[yield_]
    if n_red:
        kind, identity = _REDUCE[last.group(2)]
        row.append(f"%{tag}_init = arith.constant dense<{identity}> : {_vt(ot.elem)}")
        row.append(
            f"%{tag}_red = scf.for {col} = {c(0)} to {c(cols)} step {c(LANES)} "
            f"iter_args({acc} = %{tag}_init) -> ({_vt(ot.elem)}) {{"
        )
        row += ["  " + line for line in loads + lines]
        row += [f"  scf.yield {y} : {_vt(ot.elem)}", "}"]
        row.append(f"%{tag}_o = memref.load {init_buf}[{r}] : {res_t.memref}")
        row.append(f"%{tag}_sum = vector.reduction <{kind}>, %{tag}_red, %{tag}_o : {_vt(ot.elem)} into {ot.elem}")
        row.append(f"memref.store %{tag}_sum, {ob}[{r}] : {res_t.memref}")
    else:
        row.append(f"scf.for {col} = {c(0)} to {c(cols)} step {c(LANES)} {{")
        row += ["  " + line for line in loads + lines]
        row += [f"  vector.store {y}, {ob}[{r}, {col}] : {res_t.memref}, {_vt(ot.elem)}", "}"]
    elements = rows * cols if rows_t else DYNAMIC_ROWS * cols
    if group is not None:
        return group.add(fn, row, (ob, res_t), ot.shape, elements, rows)
    parallel = rows != 1 and elements >= PARALLEL_MIN_ELEMENTS
    if parallel:  # rows are independent: OpenMP threads share them when the JIT has threads
        fn.emit(f"scf.parallel ({r}) = ({c(0)}) to ({c(rows)}) step ({c(1)}) {{")
    else:
        fn.emit(f"scf.for {r} = {c(0)} to {c(rows)} step {c(1)} {{")
    for line in row:
        fn.emit("  " + line)
    if parallel:
        fn.emit("scf.reduce")
    fn.emit("}")
    t = fn.v()
    fn.emit(f"{t} = bufferization.to_tensor {ob} restrict writable : {res_t.memref} to {res_t.s}")
    return expand(fn, t, res_t, ot.shape)
