"""Code generation: one int8 GEMM with the qlinear epilogue -> a tiled, double-buffered NPU program.

A qc.qlinear y = act((f32(xq · wqᵀ) · xs) · ws + b) becomes a `Gemm` (M = tokens, K, N) and a program in
the ISA of `isa.py` over a DRAM image laid out by `Layout` (x, xs, w, ws, b, y).

- os (output stationary): for each R×C output tile, stream K through the array in chunks (the partial
  sums stay in the PEs: one fill/drain per tile), then the vector unit runs the epilogue in the
  accumulator and the DMA stores the f32 tile.
- ws (weight stationary): for each chunk of Mt rows (as many as half the accumulator holds) and each C
  columns, for each R-deep slice of K: preload the R×C weight tile, stream Mt rows, accumulating in the
  accumulator SRAM; then epilogue and store.

Tiles of x and w are resident in the scratchpad when the whole operand fits (loaded once), else streamed
through two slots (double buffering: the DMA fills one while the array reads the other; the two slots
sit in different banks). A layer whose smallest tiling does not fit the SRAMs is rejected here, at
compile time, with a QcompError naming the op.
"""

from dataclasses import dataclass

from qcomp.errors import QcompError

from .arch import Arch
from .isa import Instr, make

ALIGN = 64


def _up(v: int, a: int = ALIGN) -> int:
    return -(-v // a) * a


@dataclass(frozen=True)
class Gemm:
    """One offloaded qlinear: y[M, N] = act((f32(x[M, K] · w[N, K]ᵀ) · xs) · ws + b)."""

    name: str
    location: str
    m: int
    k: int
    n: int
    act: str = "none"  # none | relu
    xs_scalar: bool = False  # xs is [1] (per tensor) rather than [M, 1]

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n


@dataclass(frozen=True)
class Layout:
    """Byte offsets of the layer's tensors in its DRAM image."""

    x: int
    xs: int
    w: int
    ws: int
    b: int
    y: int
    size: int

    @staticmethod
    def of(g: Gemm) -> "Layout":
        sizes = [g.m * g.k, 4 * (1 if g.xs_scalar else g.m), g.n * g.k, 4 * g.n, 4 * g.n, 4 * g.m * g.n]
        offs, at = [], 0
        for s in sizes:
            offs.append(at)
            at = _up(at + s)
        return Layout(*offs, size=at)


class _Spad:
    """Bump allocator over the scratchpad's lower and upper halves (double-buffer slots go one to each)."""

    def __init__(self, size: int):
        self.half = size // 2
        self.top = [0, self.half]
        self.size = size

    def alloc(self, nbytes: int, half: int | None = None) -> int:
        order = [half] if half is not None else [0, 1]
        for h in order:
            limit = self.half if h == 0 else self.size
            if self.top[h] + _up(nbytes) <= limit:
                addr = self.top[h]
                self.top[h] += _up(nbytes)
                return addr
        if half is None:
            raise MemoryError
        return self.alloc(nbytes)  # the preferred half is full: any half (bank conflicts possible)

    def pair(self, nbytes: int) -> tuple[int, int]:
        return self.alloc(nbytes, 0), self.alloc(nbytes, 1)


@dataclass(frozen=True)
class _Plan:
    mt: int  # rows per chunk (os: R)
    kc: int  # K per chunk
    x_resident: bool  # the chunk's x rows stay loaded across the N tiles
    w_resident: bool  # all of w stays loaded across the M chunks


def _footprint(a: Arch, g: Gemm, p: _Plan) -> int:
    x = 2 * _up(p.mt * (g.k if p.x_resident else p.kc))
    w = sum(_up(min(a.cols, g.n - n0) * g.k) for n0 in range(0, g.n, a.cols)) if p.w_resident else 0
    w = w or 2 * _up(a.cols * p.kc)
    vec = 2 * _up(4 * p.mt) + (2 * _up(4 * g.n) if p.w_resident else 4 * _up(4 * a.cols))
    return x + w + vec


def _allocate(a: Arch, g: Gemm, p: _Plan) -> dict | None:
    """Scratchpad addresses of the plan's buffers, or None when they do not fit."""
    sp = _Spad(a.scratchpad_bytes)
    try:
        out = {"x": sp.pair(p.mt * (g.k if p.x_resident else p.kc)), "xs": sp.pair(4 * p.mt)}
        if p.w_resident:
            out["w"] = {n0: sp.alloc(min(a.cols, g.n - n0) * g.k) for n0 in range(0, g.n, a.cols)}
            out["ws"], out["b"] = sp.alloc(4 * g.n), sp.alloc(4 * g.n)
        else:
            out["w"], out["ws"], out["b"] = sp.pair(a.cols * p.kc), sp.pair(4 * a.cols), sp.pair(4 * a.cols)
    except MemoryError:
        return None
    return out


def plan(a: Arch, g: Gemm) -> tuple[_Plan, dict]:
    """The tiling and scratchpad addresses: the largest chunks and most residency that fit the SRAMs."""
    acc_rows = a.accumulator_bytes // (2 * 4 * a.cols)  # two accumulator slots of rows × C i32
    if a.dataflow == "os":
        if acc_rows < a.rows:
            _too_big(a, g, f"two {a.rows}x{a.cols} i32 accumulator tiles need {8 * a.rows * a.cols} B", "accumulator")
        mts = [min(a.rows, g.m)]
        kcs = [g.k, *(c for c in (2048, 1024, 512, 256, 128, 64, 32, 16, 8) if c < g.k)]
    else:
        if acc_rows < 1:
            _too_big(a, g, f"two rows of {a.cols} i32 accumulators need {8 * a.cols} B", "accumulator")
        mt = min(g.m, acc_rows)
        mts = [mt, *(v for v in (1024, 512, 256, 128, 64, 32, 16, 8) if v < mt)]
        kcs = [min(a.rows, g.k)]
    for mt in mts:
        for kc in kcs:
            for xr, wr in ((True, True), (True, False), (False, True), (False, False)):
                if xr and kc < g.k and a.dataflow == "os":
                    continue
                p = _Plan(mt, kc, xr, wr)
                addrs = _allocate(a, g, p)
                if addrs is not None:
                    return p, addrs
    p = _Plan(mts[-1], kcs[-1], False, False)
    _too_big(a, g, f"its smallest tiling ({p.mt} rows, K chunks of {p.kc}) needs {_footprint(a, g, p)} B", "scratchpad")
    raise AssertionError  # unreachable


def _too_big(a: Arch, g: Gemm, what: str, mem: str) -> None:
    have = a.scratchpad_bytes if mem == "scratchpad" else a.accumulator_bytes
    raise QcompError(
        f"{g.location}: npu: {g.name} [M={g.m}, K={g.k}, N={g.n}] does not fit the {a.name} {mem} ({have} B): {what}"
    )


def generate(a: Arch, g: Gemm, lay: Layout) -> list[Instr]:
    """The program of one layer (see the module docstring)."""
    p, at = plan(a, g)
    R, C = a.rows, a.cols
    x_slots, xs_slots = at["x"], at["xs"]
    if p.w_resident:
        w_tiles, ws_at, b_at = at["w"], at["ws"], at["b"]
    else:
        w_slots, vec_slots = at["w"], (at["ws"], at["b"])
    acc_slots = (0, 4 * p.mt * C)
    prog = [make("config", *(("ws",) if a.dataflow == "ws" else ()), rows=R, cols=C)]
    loaded_w: set[tuple[int, int]] = set()
    tile = chunk = wcount = 0
    for m0 in range(0, g.m, p.mt):
        mr = min(p.mt, g.m - m0)
        xs_sp = xs_slots[chunk % 2]
        if g.xs_scalar:
            prog.append(make("ld", sp=xs_sp, dram=lay.xs, rows=1, bytes=4, stride=4))
        else:
            prog.append(make("ld", sp=xs_sp, dram=lay.xs + 4 * m0, rows=1, bytes=4 * mr, stride=4 * mr))
        x_sp = x_slots[chunk % 2]
        chunk += 1
        for n0 in range(0, g.n, C):
            nr = min(C, g.n - n0)
            if p.w_resident:
                ws_sp, b_sp = ws_at + 4 * n0, b_at + 4 * n0
                if m0 == 0:
                    prog.append(make("ld", sp=ws_sp, dram=lay.ws + 4 * n0, rows=1, bytes=4 * nr, stride=4 * nr))
                    prog.append(make("ld", sp=b_sp, dram=lay.b + 4 * n0, rows=1, bytes=4 * nr, stride=4 * nr))
            else:
                ws_sp, b_sp = vec_slots[0][tile % 2], vec_slots[1][tile % 2]
                prog.append(make("ld", sp=ws_sp, dram=lay.ws + 4 * n0, rows=1, bytes=4 * nr, stride=4 * nr))
                prog.append(make("ld", sp=b_sp, dram=lay.b + 4 * n0, rows=1, bytes=4 * nr, stride=4 * nr))
            acc = acc_slots[tile % 2]
            for k0 in range(0, g.k, p.kc):
                kr = min(p.kc, g.k - k0)
                if p.x_resident:  # the chunk's K slices stay loaded, one contiguous block each
                    a_sp = x_sp + mr * k0
                else:
                    a_sp = x_slots[wcount % 2]
                if not p.x_resident or n0 == 0:
                    prog.append(make("ld", sp=a_sp, dram=lay.x + m0 * g.k + k0, rows=mr, bytes=kr, stride=g.k))
                if p.w_resident:
                    w_sp = w_tiles[n0] + nr * k0
                    if (n0, k0) not in loaded_w:
                        loaded_w.add((n0, k0))
                        prog.append(make("ld", sp=w_sp, dram=lay.w + n0 * g.k + k0, rows=nr, bytes=kr, stride=g.k))
                else:
                    w_sp = w_slots[wcount % 2]
                    prog.append(make("ld", sp=w_sp, dram=lay.w + n0 * g.k + k0, rows=nr, bytes=kr, stride=g.k))
                wcount += 1
                first = k0 == 0
                if a.dataflow == "ws":
                    prog.append(make("preload", w=w_sp, k=kr, n=nr))
                flags = () if first else ("accumulate",)
                prog.append(make("matmul", *flags, acc=acc, a=a_sp, w=w_sp, k=kr, m=mr, n=nr))
            eflags = tuple(f for f, on in (("relu", g.act == "relu"), ("xs_scalar", g.xs_scalar)) if on)
            prog.append(make("epi", *eflags, acc=acc, xs=xs_sp, ws=ws_sp, b=b_sp, m=mr, n=nr))
            prog.append(
                make("st", "acc", dram=lay.y + 4 * (m0 * g.n + n0), src=acc, rows=mr, bytes=4 * nr, stride=4 * g.n)
            )
            tile += 1
    prog.append(make("halt"))
    return prog
