"""Row fusion: consecutive row-wise generics of one CPU kernel written as one loop over rows.

A norm, a softmax or a per-token quantization is a chain of row reductions and maps over the same rows
(sum of squares, 1/rms, scale, write; or max, exp, sum, divide). Written one generic at a time, each step
is its own pass over the whole [rows, cols] tensor: for a 128 x 576 activation that is ~300 KB streamed
through L2 four to six times. Inside `with fused_rows(fn):` the vectorized generics (`vector_map`) and the
per-row scalar maps (rank 1 over the same rows) are not emitted on their own but appended to one
`scf.for` / `scf.parallel` over rows, so every step of row r runs while row r is in L1; a step reads
what an earlier step wrote for the same row straight from its buffer.

Each step keeps its own element order and its own reduction order, so results are bit-identical to the
unfused chain. A generic that cannot join (not vectorizable, other rows, or reading an earlier step's
result across rows) closes the loop first and is emitted after it, as before.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from qcomp.targets.common.linalg_text import T, collapse, expand

from .vector_map import DYNAMIC_ROWS, LINE, PARALLEL_MIN_ELEMENTS, SCALARS, TOKEN

if TYPE_CHECKING:  # the builder they write into, a layer above (its `generic` calls these)
    from .linalg_text import Fn


class RowGroup:
    """The steps of one row loop: their row bodies, the buffers they write (`pending`: tensor name ->
    (memref, collapsed type)) and the lines that turn those buffers back into tensors after the loop."""

    def __init__(self, fn: Fn):
        self.fn = fn
        self._reset()

    def _reset(self) -> None:
        self.row = f"%rows{self.fn.v()[2:]}"
        self.rows: int | str | None = None  # an int, or an SSA index (dynamic rows)
        self.size = 0
        self.body: list[str] = []
        self.post: list[str] = []
        self.pending: dict[str, tuple[str, T]] = {}

    def accepts(self, rows: int | str, cols: int, ins: list, kinds: list[str]) -> bool:
        """Whether a step over `rows` x `cols` reading `ins` (with `vector_map` kinds) can join the loop."""
        if self.rows is not None and rows != self.rows:
            return False
        rows = rows if isinstance(rows, int) else None
        for (v, _, _), k in zip(ins, kinds, strict=True):
            if v in self.pending:
                shape = self.pending[v][1].shape
                if not ((k == "full" and shape == (rows, cols)) or (k == "row" and shape == (rows,))):
                    return False
        return True

    def add(self, fn: Fn, row: list[str], out: tuple[str, T], shape: tuple, elements: int, rows: int | str) -> str:
        """Append a step's row body; returns the name its result tensor will have after the loop."""
        ob, res_t = out
        self.rows = rows
        self.size = max(self.size, elements)
        self.body += row
        saved, fn.lines = fn.lines, self.post
        t = fn.v()
        fn.emit(f"{t} = bufferization.to_tensor {ob} restrict writable : {res_t.memref} to {res_t.s}")
        result = expand(fn, t, res_t, shape)
        fn.lines = saved
        self.pending[t] = self.pending[result] = (ob, res_t)
        return result

    def flush(self) -> None:
        """Emit the row loop and the result tensors; the group starts empty again."""
        if not self.body:
            return
        fn = self.fn
        lo, one = fn.const("0", "index"), fn.const("1", "index")
        hi = self.rows if isinstance(self.rows, str) else fn.const(str(self.rows), "index")
        parallel = self.rows != 1 and self.size >= PARALLEL_MIN_ELEMENTS
        if parallel:  # rows are independent: OpenMP threads share them when the JIT has threads
            fn.emit(f"scf.parallel ({self.row}) = ({lo}) to ({hi}) step ({one}) {{")
        else:
            fn.emit(f"scf.for {self.row} = {lo} to {hi} step {one} {{")
        for line in self.body:
            fn.emit("  " + line)
        if parallel:
            fn.emit("scf.reduce")
        fn.emit("}")
        fn.lines += self.post
        self._reset()


@contextmanager
def fused_rows(fn: Fn):
    """Row-fuse the generics `fn` emits inside the block (nested blocks join the outer loop)."""
    if not (fn.vectorize and fn.row_fusion) or fn.row_group is not None:
        yield
        return
    fn.row_group = RowGroup(fn)
    try:
        yield
    finally:
        group, fn.row_group = fn.row_group, None
        group.flush()


def scalar_row_map(fn: Fn, ins: list, out: tuple, body: list[str], yield_: str) -> str | None:
    """A map over the group's rows (a per-row tensor: 1/rms from Σx², a scale from the absmax) as scalar code
    in the row loop: the same scalar ops the linalg.generic would run. None where it does not apply."""
    group = fn.row_group
    _, ot, oexprs = out
    full = [f"d{i}" for i in range(ot.rank)]
    if group.rows is None or fn.count(ot, ot.rank) != group.rows or oexprs != full or ot.elem not in SCALARS:
        return None
    if any(e != full or t.shape != ot.shape or t.elem not in SCALARS for _, t, e in ins):
        return None
    rows = group.rows if isinstance(group.rows, int) else None
    tag = fn.v()[1:]
    local = {f"%a{i}": f"%{tag}_a{i}" for i in range(len(ins))}
    lines = []
    for line in body:
        m = LINE.match(line.strip())
        if not m or not m.group(2).startswith(("arith.", "math.")) or "%o" in TOKEN.findall(line):
            return None
        local[m.group(1)] = f"%{tag}_{m.group(1)[1:]}"
        lines.append(TOKEN.sub(lambda t: local.get(t.group(0), t.group(0)), line.strip()))
    if yield_ not in local:
        return None
    row = []
    rt = T((rows,), ot.elem)
    for i, (v, t, _) in enumerate(ins):
        ct = T((rows,), t.elem)
        if v in group.pending:
            b = group.pending[v][0]
        else:
            b = f"%{tag}_buf{i}"
            fn.emit(f"{b} = bufferization.to_buffer {collapse(fn, v, t, ct.shape)} read_only : {ct.s} to {ct.memref}")
        row.append(f"{local[f'%a{i}']} = memref.load {b}[{group.row}] : {ct.memref}")
    ob = f"%{tag}_out"
    fn.emit(f"{ob} = memref.alloc({'' if rows else group.rows}) {{alignment = 64 : i64}} : {rt.memref}")
    row += lines
    row.append(f"memref.store {local[yield_]}, {ob}[{group.row}] : {rt.memref}")
    return group.add(fn, row, (ob, rt), ot.shape, rows or DYNAMIC_ROWS, group.rows)
