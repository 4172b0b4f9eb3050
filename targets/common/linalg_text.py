"""Small builders of linalg text shared by the CPU and GPU code generators: tensor types, affine maps, f32
literals, reshapes. (The CPU's function builder, `Fn`, is in `targets/cpu/linalg_text.py`.)

The lowerings write each qc op as a private function in MLIR text (readable, diffable), parse it and inline it;
these helpers keep that text short and uniform.
"""

import math
import struct
from dataclasses import dataclass
from typing import Protocol


class FnText(Protocol):
    """What `collapse` and `expand` need of a function builder (`targets/cpu/linalg_text.Fn`)."""

    def v(self) -> str: ...

    def emit(self, line: str) -> None: ...

    def sizes(self, t: "T") -> list[str]: ...


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


def f32(x: float) -> str:
    """An f32 literal MLIR parses exactly (hex bit pattern for non-finite values)."""

    if math.isinf(x):
        return "0xFF800000" if x < 0 else "0x7F800000"
    return f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08X}"


def collapse(fn: FnText, src: str, t: T, shape: tuple[int, ...]) -> str:
    """tensor.collapse_shape of `src` to `shape`, merging leading dims (a no-op when the shapes agree)."""
    if t.shape == shape:
        return src
    groups = _groups(shape, t.shape)
    r = fn.v()
    fn.emit(f"{r} = tensor.collapse_shape {src} {groups} : {t.s} into {T(shape, t.elem).s}")
    return r


def expand(fn: FnText, src: str, t: T, shape: tuple[int, ...]) -> str:
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
