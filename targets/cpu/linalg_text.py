"""Small builders of linalg text: tensor types, affine maps, `linalg.generic` and fills.

The CPU lowering writes each qc op as a private function in MLIR text (readable, diffable),
parses it and inlines it; these helpers keep that text short and uniform.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class T:
    """A ranked tensor type: shape and element type ('f32', 'i8', 'i32', 'i64'); None is a dynamic size (`?`)."""

    shape: tuple[int | None, ...]
    elem: str

    @property
    def s(self) -> str:
        return "tensor<" + "".join(f"{_d(d)}x" for d in self.shape) + self.elem + ">"

    @property
    def memref(self) -> str:
        """The matching identity-layout memref type."""
        return "memref<" + "".join(f"{_d(d)}x" for d in self.shape) + self.elem + ">"

    @property
    def dynamic(self) -> bool:
        return None in self.shape

    @property
    def rank(self) -> int:
        return len(self.shape)

    def with_elem(self, elem: str) -> "T":
        return T(self.shape, elem)

    @staticmethod
    def parse(text: str) -> "T":
        body = text.strip()[len("tensor<") : -1]
        *dims, elem = body.split("x")
        return T(tuple(None if d == "?" else int(d) for d in dims), elem)


def _d(d: int | None) -> str:
    return "?" if d is None else str(d)


def lead(shape) -> int | None:
    """The product of the leading dims (the row count of a row-wise op); None when one is dynamic."""
    n = 1
    for d in shape[:-1]:
        if d is None:
            return None
        n *= d
    return n


def dims(n: int) -> list[str]:
    return [f"d{i}" for i in range(n)]


def amap(nd: int, exprs: list[str]) -> str:
    return f"affine_map<({', '.join(dims(nd))}) -> ({', '.join(exprs)})>"


class Fn:
    """Accumulates the body of one private function; `v()` names fresh SSA values."""

    vectorize = True  # elementwise maps and row reductions as vector loops (vector_map)
    row_fusion = True  # chains of them over the same rows as one row loop (row_fusion)

    def __init__(self, name: str, args: list[T], results: list[T]):
        self.name, self.args, self.results = name, args, results
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
            from .row_fusion import scalar_row_map
            from .vector_map import vector_generic

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


def f32(x: float) -> str:
    """An f32 literal MLIR parses exactly (hex bit pattern for non-finite values)."""
    import math
    import struct

    if math.isinf(x):
        return "0xFF800000" if x < 0 else "0x7F800000"
    return f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08X}"


def collapse(fn: Fn, src: str, t: T, shape: tuple[int, ...]) -> str:
    """tensor.collapse_shape of `src` to `shape`, merging leading dims (a no-op when the shapes agree)."""
    if t.shape == shape:
        return src
    groups = _groups(shape, t.shape)
    r = fn.v()
    fn.emit(f"{r} = tensor.collapse_shape {src} {groups} : {t.s} into {T(shape, t.elem).s}")
    return r


def expand(fn: Fn, src: str, t: T, shape: tuple[int, ...]) -> str:
    """tensor.expand_shape of `src` to `shape` (the inverse of `collapse`)."""
    if t.shape == shape:
        return src
    groups = _groups(t.shape, shape)
    r = fn.v()
    out = T(shape, t.elem)
    dyn = iter(fn.sizes(out))
    sizes = "[" + ", ".join(str(d) if d is not None else next(dyn) for d in shape) + "]"
    fn.emit(f"{r} = tensor.expand_shape {src} {groups} output_shape {sizes} : {t.s} into {out.s}")
    return r


def _groups(small: tuple[int, ...], big: tuple[int, ...]) -> list[list[int]]:
    """Reassociation of `big` into `small`, where the trailing dims of `small` are the trailing dims of `big`
    and its first dim is the product of big's leading dims."""
    lead = len(big) - len(small) + 1
    return [list(range(lead))] + [[lead + i] for i in range(len(small) - 1)]
