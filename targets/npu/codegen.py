"""Code generation: one int8 GEMM with the qlinear epilogue -> a tiled, double-buffered NPU program.

A qc.qlinear y = act((f32(xq · wqᵀ) · xs) · ws + b) becomes a `Gemm` (M = tokens, K, N) and a program in
the ISA of `isa.py` over a DRAM image laid out by `Layout` (x, xs, w, ws, b, y).

- os (output stationary): for each R×C output tile, stream K through the array in chunks (the partial
  sums stay in the PEs: one fill/drain per tile), then the vector unit runs the epilogue in the
  accumulator and the DMA stores the f32 tile.
- ws (weight stationary), two schedules; `generate` keeps the one the cycle model (`simulator.timing`)
  finds faster on the architecture (their DRAM traffic and their array work trade against each other):
  - chunked: for each chunk of Mt rows (as many as half the accumulator holds) and each C columns, for
    each R-deep slice of K: preload the R×C weight tile, stream Mt rows, accumulating in the accumulator
    SRAM; then epilogue and store. Each chunk preloads every weight tile again and pays its fill/drain.
  - streamed (when M needs more than one chunk): for each C columns and each R-deep slice of K, preload
    the weight tile once and stream all M rows through it, Mt rows per accumulator slot (the accumulator
    is a ring of 4 slots): the slot's i32 partial sums of the earlier K slices are reloaded from DRAM
    (`ld acc`), accumulated onto and spilled back (`st acc`, into the output tile's own place in y) until
    the last slice, whose epilogue writes y. One fill/drain per weight fold, as in SCALE-Sim's model
    (2R + C + M - 2 cycles per fold), at the price of 8·M·C bytes of partial-sum traffic per further K
    slice.

Tiles of x and w are resident in the scratchpad when the whole operand fits (loaded once), else streamed
through two slots (double buffering: the DMA fills one while the array reads the other; the two slots
sit in different banks). A layer whose smallest tiling does not fit the SRAMs is rejected here, at
compile time, with a QcompError naming the op.
"""

from dataclasses import dataclass

from qcomp.dialects.errors import QcompError

from .arch import Arch
from .isa import Instr, make
from .simulator import timing

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


SCHEDULES = ("auto", "chunked", "streamed")
RING = 4  # accumulator slots of the streamed schedule: a slot's reload, epilogue and store hide behind 3 matmuls


def generate(a: Arch, g: Gemm, lay: Layout, schedule: str = "auto") -> list[Instr]:
    """The program of one layer (see the module docstring). schedule: auto (ws: the faster of the two by
    the cycle model), chunked, or streamed (ws only)."""
    if schedule not in SCHEDULES:
        raise QcompError(f"npu codegen: schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "streamed" and a.dataflow != "ws":
        raise QcompError(f"{g.location}: npu: the streamed schedule needs the ws dataflow, not {a.dataflow}")
    try:
        chunked = plan(a, g)
    except QcompError:
        if a.dataflow == "os" or schedule == "chunked" or _streamed_plan(a, g) is None:
            raise
        chunked = None
    candidates = []
    if chunked is not None and schedule != "streamed":
        candidates.append(_chunked(a, g, lay, *chunked))
    if a.dataflow == "ws" and (
        schedule == "streamed" or (schedule == "auto" and (chunked is None or chunked[0].mt < g.m))
    ):
        sp = _streamed_plan(a, g)
        if sp is None:
            _too_big(a, g, "the streamed schedule's buffers do not fit", "scratchpad")
        candidates.append(_streamed(a, g, lay, *sp))
    if len(candidates) == 1:
        return candidates[0]
    return min(candidates, key=lambda prog: timing(prog, a).cycles)  # a tie keeps the chunked schedule


def _streamed_plan(a: Arch, g: Gemm) -> tuple[int, int, bool, dict] | None:
    """Rows per accumulator slot, the number of slots, whether all of x stays resident, and the scratchpad
    addresses of the streamed ws schedule; None when even its smallest buffers do not fit."""
    slots = RING if a.accumulator_bytes // (RING * 4 * a.cols) else 2
    acc_rows = a.accumulator_bytes // (slots * 4 * a.cols)
    if acc_rows < 1:
        return None
    kc = min(a.rows, g.k)
    mt0 = min(g.m, acc_rows)
    for mt in (mt0, *(v for v in (1024, 512, 256, 128, 64, 32, 16, 8) if v < mt0)):
        for x_resident in (True, False):
            sp = _Spad(a.scratchpad_bytes)
            try:
                at = {"xs": sp.alloc(4 * (1 if g.xs_scalar else g.m))}
                if x_resident:  # consecutive slices in alternate halves: the DMA fills one, the array reads the other
                    slices = [(m0, k0) for k0 in range(0, g.k, kc) for m0 in range(0, g.m, mt)]
                    at["x"] = {
                        (m0, k0): sp.alloc(min(mt, g.m - m0) * min(kc, g.k - k0), i % 2)
                        for i, (m0, k0) in enumerate(slices)
                    }
                else:
                    at["x"] = sp.pair(mt * kc)
                at["w"], at["ws"], at["b"] = sp.pair(a.cols * kc), sp.pair(4 * a.cols), sp.pair(4 * a.cols)
            except MemoryError:
                continue
            return mt, slots, x_resident, at
    return None


def _streamed(a: Arch, g: Gemm, lay: Layout, mt: int, slots: int, x_resident: bool, at: dict) -> list[Instr]:
    """The streamed ws schedule (see the module docstring)."""
    C, kc = a.cols, min(a.rows, g.k)
    spill = mt < g.m  # more than one accumulator slot's worth of rows: partial sums go through DRAM
    acc_slots = [i * 4 * mt * C for i in range(slots)]
    xs_bytes = 4 * (1 if g.xs_scalar else g.m)
    prog = [make("config", "ws", rows=a.rows, cols=C)]
    prog.append(make("ld", sp=at["xs"], dram=lay.xs, rows=1, bytes=xs_bytes, stride=xs_bytes))
    eflags = tuple(f for f, on in (("relu", g.act == "relu"), ("xs_scalar", g.xs_scalar)) if on)
    last_k = range(0, g.k, kc)[-1]
    step = wcount = 0
    for tile, n0 in enumerate(range(0, g.n, C)):
        nr = min(C, g.n - n0)
        ws_sp, b_sp = at["ws"][tile % 2], at["b"][tile % 2]
        prog.append(make("ld", sp=ws_sp, dram=lay.ws + 4 * n0, rows=1, bytes=4 * nr, stride=4 * nr))
        prog.append(make("ld", sp=b_sp, dram=lay.b + 4 * n0, rows=1, bytes=4 * nr, stride=4 * nr))
        for k0 in range(0, g.k, kc):
            kr = min(kc, g.k - k0)
            w_sp = at["w"][wcount % 2]
            wcount += 1
            prog.append(make("ld", sp=w_sp, dram=lay.w + n0 * g.k + k0, rows=nr, bytes=kr, stride=g.k))
            prog.append(make("preload", w=w_sp, k=kr, n=nr))
            for m0 in range(0, g.m, mt):
                mr = min(mt, g.m - m0)
                acc = acc_slots[(step if spill else tile) % slots]
                a_sp = at["x"][(m0, k0)] if x_resident else at["x"][step % 2]
                if not x_resident or n0 == 0:
                    prog.append(make("ld", sp=a_sp, dram=lay.x + m0 * g.k + k0, rows=mr, bytes=kr, stride=g.k))
                y_at = lay.y + 4 * (m0 * g.n + n0)
                if spill and k0 > 0:
                    prog.append(make("ld", "acc", sp=acc, dram=y_at, rows=mr, bytes=4 * nr, stride=4 * g.n))
                flags = ("accumulate",) if k0 > 0 else ()
                prog.append(make("matmul", *flags, acc=acc, a=a_sp, w=w_sp, k=kr, m=mr, n=nr))
                if k0 == last_k:
                    xs_sp = at["xs"] + (0 if g.xs_scalar else 4 * m0)
                    prog.append(make("epi", *eflags, acc=acc, xs=xs_sp, ws=ws_sp, b=b_sp, m=mr, n=nr))
                if k0 == last_k or spill:  # the result, or the partial sums spilled where the result will go
                    prog.append(make("st", "acc", dram=y_at, src=acc, rows=mr, bytes=4 * nr, stride=4 * g.n))
                step += 1
    prog.append(make("halt"))
    return prog


def _chunked(a: Arch, g: Gemm, lay: Layout, p: _Plan, at: dict) -> list[Instr]:
    """The os schedule and the chunked ws schedule (see the module docstring)."""
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
