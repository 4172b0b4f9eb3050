"""The CPU lowering's function builder, `Fn`: a private function written as MLIR text, line by line.

The CPU lowering writes each qc op as a private function in MLIR text (readable, diffable), parses it and inlines
it. `Fn.generic` is the one dispatcher of elementwise maps and row reductions: a 16-lane vector loop
(`vector_map`), joined to the current row loop (`row_fusion`), or a plain `linalg.generic`. The type and text
helpers it uses (`T`, `f32`, `collapse`, ...) live in `targets/common/linalg_text.py`, below `vector_map` and
`row_fusion`, and are re-exported here.

Two code generation switches are the CPU target's options (`CpuOptions.vectorize`, `.row_fusion`), passed as
`qc-lower-to-linalg{vectorize=false}`: the pass sets them for the functions it builds (`codegen_options`), and
each `Fn` made meanwhile, the helpers' sibling functions included, reads them when it is created.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from qcomp.targets.common.linalg_text import T as T
from qcomp.targets.common.linalg_text import amap as amap
from qcomp.targets.common.linalg_text import collapse as collapse
from qcomp.targets.common.linalg_text import dims as dims
from qcomp.targets.common.linalg_text import expand as expand
from qcomp.targets.common.linalg_text import f32 as f32
from qcomp.targets.common.linalg_text import lead as lead

from .row_fusion import scalar_row_map
from .vector_map import vector_generic


@dataclass(frozen=True)
class CodegenOptions:
    """The CPU lowering's code generation switches (see the module docstring)."""

    vectorize: bool = True  # elementwise maps and row reductions as vector loops (vector_map)
    row_fusion: bool = True  # chains of them over the same rows as one row loop (row_fusion)


DEFAULT_OPTIONS = CodegenOptions()
_OPTIONS: ContextVar[CodegenOptions | None] = ContextVar("qcomp_cpu_codegen_options", default=None)


@contextmanager
def codegen_options(options: CodegenOptions) -> Iterator[None]:
    """The functions made inside the block (`Fn(...)`) are generated with `options`."""
    token = _OPTIONS.set(options)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


class Fn:
    """Accumulates the body of one private function; `v()` names fresh SSA values."""

    def __init__(self, name: str, args: list[T], results: list[T]):
        self.name, self.args, self.results = name, args, results
        options = _OPTIONS.get() or DEFAULT_OPTIONS  # the lowering's switches (`codegen_options`)
        self.vectorize, self.row_fusion = options.vectorize, options.row_fusion
        self.lines: list[str] = []
        self.extra: list[str] = []  # further top-level ops (functions, declarations) the function needs
        self.attrs: dict[str, str] = {}  # function attributes, as MLIR attribute text
        self.n = 0
        self.row_group = None  # a `row_fusion.RowGroup` while generics are row-fused
        self._consts: set[str] = set()  # index constants, argument dims and row products defined at the top
        self.head: list[str] = []  # their lines, in order, before `lines`

    def v(self) -> str:
        self.n += 1
        return f"%v{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def const(self, value: str, elem: str) -> str:
        r = self.v()
        self.emit(f"{r} = arith.constant {value} : {elem}")
        return r

    def fill(self, t: T, value: str) -> str:
        e, c, f = self.empty(t), self.const(value, t.elem), self.v()
        self.emit(f"{f} = linalg.fill ins({c} : {t.elem}) outs({e} : {t.s}) -> {t.s}")
        return f

    def empty(self, t: T) -> str:
        e = self.v()
        self.emit(f"{e} = tensor.empty({', '.join(self.sizes(t))}) : {t.s}")
        return e

    def index(self, v: int) -> str:
        """An index constant (one per value and function)."""
        name = f"%cidx{v}"
        if name not in self._consts:
            self._consts.add(name)
            self.head.append(f"  {name} = arith.constant {v} : index")
        return name

    def arg_dim(self, i: int, d: int) -> str:
        """The size of dim d of argument i (an SSA index; emitted once, at the function's start)."""
        if self.args[i].shape[d] is not None:
            return self.index(self.args[i].shape[d])
        name = f"%dim{i}_{d}"
        if name not in self._consts:
            self._consts.add(name)
            self.head.append(f"  {name} = tensor.dim %arg{i}, {self.index(d)} : {self.args[i].s}")
        return name

    def sizes(self, t: T) -> list[str]:
        """SSA sizes of t's dynamic dims, from the arguments: dim d from the first argument dynamic at d.
        (qc ops with dynamic shapes keep their sizes in place: rows lead, a matmul's key length is last.)
        Collapsed types (`collapse`) have no such argument: their callers count rows with `count`."""
        out = []
        for d, size in enumerate(t.shape):
            if size is None:
                src = next((i for i, a in enumerate(self.args) if a.rank > d and a.shape[d] is None), None)
                if src is None:
                    raise ValueError(f"{self.name}: no argument gives the size of dim {d} of {t.s}")
                out.append(self.arg_dim(src, d))
        return out

    def count(self, t: T, n: int) -> int | str:
        """The product of t's first n dims: an int where they are static, else an SSA index (emitted once)."""
        if None not in t.shape[:n]:
            return math.prod(t.shape[:n])
        dyn = iter(self.sizes(T(t.shape[:n], t.elem)))
        factors = [next(dyn) if d is None else self.index(d) for d in t.shape[:n]]
        acc = factors[0]
        for f in factors[1:]:
            name = f"%n_{acc[1:]}_{f[1:]}"
            if name not in self._consts:
                self._consts.add(name)
                self.head.append(f"  {name} = arith.muli {acc}, {f} : index")
            acc = name
        return acc

    def generic(
        self,
        nd: int,
        ins: list[tuple[str, T, list[str]]],
        out: tuple[str, T, list[str]],
        body: list[str],
        yield_: str,
        reduce_last: bool = False,
        n_reduce: int = 0,
    ) -> str:
        """linalg.generic over `nd` loops; body lines see %a0.. (inputs) and %o (output element). Written as
        16-lane vector loops instead where `vector_map` applies (and `self.vectorize`)."""
        n_red = n_reduce or (1 if reduce_last else 0)
        if self.vectorize:
            group = self.row_group
            r = vector_generic(self, nd, ins, out, body, yield_, n_red)
            if r is None and group is not None and not n_red:
                r = scalar_row_map(self, ins, out, body, yield_)
            if r is None and group is not None and group.body:  # cannot join the row loop: close it first
                group.flush()
                r = self.generic(nd, ins, out, body, yield_, reduce_last, n_reduce)
            if r is not None:
                return r
        iters = ", ".join(['"parallel"'] * (nd - n_red) + ['"reduction"'] * n_red)
        maps = ", ".join(amap(nd, e) for _, _, e in [*ins, out])
        args = ", ".join([f"%a{i}: {t.elem}" for i, (_, t, _) in enumerate(ins)] + [f"%o: {out[1].elem}"])
        ins_s = f"ins({', '.join(v for v, _, _ in ins)} : {', '.join(t.s for _, t, _ in ins)}) " if ins else ""
        r = self.v()
        self.emit(
            f"{r} = linalg.generic {{indexing_maps = [{maps}], iterator_types = [{iters}]}} "
            f"{ins_s}outs({out[0]} : {out[1].s}) {{"
        )
        self.emit(f"^bb0({args}):")
        for line in body:
            self.emit("  " + line)
        self.emit(f"  linalg.yield {yield_} : {out[1].elem}")
        self.emit(f"}} -> {out[1].s}")
        return r

    def text(self, returns: list[str]) -> str:
        sig = ", ".join(f"%arg{i}: {t.s}" for i, t in enumerate(self.args))
        res = ", ".join(t.s for t in self.results)
        ret = f"  return {', '.join(returns)} : {res}"
        attrs = (" attributes {" + ", ".join(f"{k} = {v}" for k, v in self.attrs.items()) + "}") if self.attrs else ""
        head = f"func.func private @{self.name}({sig}) -> ({res}){attrs} {{"
        return "\n".join([head, *self.head, *self.lines, ret, "}", *self.extra])
