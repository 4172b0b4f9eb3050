"""The NPU simulator: runs a program bit-exactly (numpy per tile) and counts its cycles.

Numerics (`execute`): instructions run in program order on a DRAM image, the scratchpad and the
accumulator (byte arrays). A tile product is one float64 BLAS matmul of int8 values, exact for any
K < 2^38, wrapped to i32 like the hardware's accumulators; the epilogue is the reference's f32 sequence
((f32(acc) · xs) · ws) + b (then relu), element by element the same operations, hence bit-identical.

Cycles (`timing`, data independent): four in-order queues (load DMA, store DMA, the array, the vector
unit) issue concurrently; a scoreboard over scratchpad/accumulator ranges makes each instruction wait for
the writes it reads (RAW) and for the reads of what it overwrites (WAR), which is what lets the code
generator's double buffering overlap DMA with compute; a load of DRAM bytes a store wrote (spilled partial
sums) waits until that store's bytes have reached DRAM. Costs:
- ld/st: latency + ceil(bytes / bandwidth) on one shared DMA channel (requests pipelined: the channel is
  busy for the transfer only; a store frees its source once the bytes are read out); a transfer into a
  scratchpad bank the array reads at the same time costs one cycle per R-byte row it writes during the
  overlap (bank conflict: the bank port is shared);
- preload (ws): R cycles; matmul: os: K (+ 2R + C - 2 fill and drain for a new output tile), ws: M
  streamed rows (+ R + C - 2 skew after a preload) - SCALE-Sim's 2R + C + T - 2 cycles per fold;
- epi: ceil(M·N / lanes) + 4 (+1 for relu) pipeline stages on the vector unit (lanes elements a cycle).
"""

import bisect
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided
from qcomp.dialects.errors import QcompError

from .arch import Arch
from .isa import Instr

QUEUE = {"ld": "load", "st": "store", "epi": "vector", "config": "exec", "preload": "exec", "matmul": "exec"}
F32 = np.float32


@dataclass
class Stats:
    """What one run of a layer's program cost."""

    cycles: int = 0  # first issue to last completion
    compute_cycles: int = 0  # busy cycles of the array (preload + matmul)
    vector_cycles: int = 0
    dma_cycles: int = 0  # busy cycles of the DMA channel
    macs: int = 0
    dram_bytes: int = 0
    sram_bytes: int = 0  # scratchpad + accumulator reads and writes
    bank_conflicts: int = 0
    instructions: int = 0

    def utilization(self, arch: Arch) -> float:
        return self.macs / (arch.peak_macs_per_cycle * self.cycles) if self.cycles else 0.0


class _Ranges:
    """Disjoint intervals of one memory, each with its last writer and its last reader per queue."""

    def __init__(self):
        self.lo: list[int] = []
        self.items: list[list] = []  # [lo, hi, writer, {queue: reader}]

    def _overlapping(self, lo: int, hi: int) -> range:
        i = bisect.bisect_right(self.lo, lo) - 1
        i = max(i, 0)
        j = bisect.bisect_left(self.lo, hi)
        return range(i, j)

    def read(self, lo: int, hi: int, idx: int, queue: str, deps: set[int]) -> None:
        for i in self._overlapping(lo, hi):
            it = self.items[i]
            if it[1] > lo and it[0] < hi:
                if it[2] is not None:
                    deps.add(it[2])
                it[3][queue] = idx

    def write(self, lo: int, hi: int, idx: int, deps: set[int]) -> None:
        span = self._overlapping(lo, hi)
        keep_l, keep_r = [], []
        for i in span:
            it = self.items[i]
            if not (it[1] > lo and it[0] < hi):
                (keep_l if it[1] <= lo else keep_r).append(it)
                continue
            if it[2] is not None:
                deps.add(it[2])
            deps.update(it[3].values())
            if it[0] < lo:
                keep_l.append([it[0], lo, it[2], dict(it[3])])
            if it[1] > hi:
                keep_r.append([hi, it[1], it[2], dict(it[3])])
        new = [*keep_l, [lo, hi, idx, {}], *keep_r]
        self.items[span.start : span.stop] = new
        self.lo[span.start : span.stop] = [it[0] for it in new]


def _access(ins: Instr, arch: Arch) -> tuple[list, list]:
    """(reads, writes) of an instruction as (memory, lo, hi)."""
    a, op = ins.args, ins.op
    if op == "ld":
        return [], [("acc" if "acc" in ins.flags else "sp", a["sp"], a["sp"] + a["rows"] * a["bytes"])]
    if op == "st":
        return [("acc" if "acc" in ins.flags else "sp", a["src"], a["src"] + a["rows"] * a["bytes"])], []
    if op == "preload":
        return [("sp", a["w"], a["w"] + a["n"] * a["k"])], [("array", 0, 1)]
    if op == "matmul":
        out = ("acc", a["acc"], a["acc"] + 4 * a["m"] * a["n"])
        w = ("array", 0, 1) if arch.dataflow == "ws" else ("sp", a["w"], a["w"] + a["n"] * a["k"])
        reads = [("sp", a["a"], a["a"] + a["m"] * a["k"]), w]
        return ([*reads, out] if "accumulate" in ins.flags else reads), [out]
    if op == "epi":
        out = ("acc", a["acc"], a["acc"] + 4 * a["m"] * a["n"])
        xs = 4 if "xs_scalar" in ins.flags else 4 * a["m"]
        vec = [("sp", a["xs"], a["xs"] + xs), *(("sp", a[v], a[v] + 4 * a["n"]) for v in ("ws", "b"))]
        return [*vec, out], [out]
    return [], []


def _dram_span(ins: Instr) -> tuple[int, int]:
    """The DRAM bytes a ld or st touches, as one interval (its rows' bounding range)."""
    a = ins.args
    return a["dram"], a["dram"] + (a["rows"] - 1) * a["stride"] + a["bytes"]


def dependencies(program: list[Instr], arch: Arch) -> tuple[list[list[int]], list[list[int]]]:
    """For each instruction, the earlier ones it must wait for (RAW, WAR and WAW on SRAM ranges), and
    for each ld the earlier stores whose DRAM bytes it reads (RAW through DRAM; stores leave the one DMA
    channel in order, so DRAM needs no WAW or WAR ordering)."""
    mems: dict[str, _Ranges] = {}
    dram = _Ranges()
    out, dram_out = [], []
    for idx, ins in enumerate(program):
        reads, writes = _access(ins, arch)
        deps: set[int] = set()
        dram_deps: set[int] = set()
        q = QUEUE.get(ins.op, "exec")
        for mem, lo, hi in reads:
            mems.setdefault(mem, _Ranges()).read(lo, hi, idx, q, deps)
        for mem, lo, hi in writes:
            mems.setdefault(mem, _Ranges()).write(lo, hi, idx, deps)
        if ins.op == "ld":
            dram.read(*_dram_span(ins), idx, q, dram_deps)
        elif ins.op == "st":
            dram.write(*_dram_span(ins), idx, set())
        deps.discard(idx)
        out.append(sorted(deps))
        dram_out.append(sorted(dram_deps))
    return out, dram_out


def _banks(arch: Arch, lo: int, hi: int) -> set[int]:
    size = max(1, arch.scratchpad_bytes // arch.scratchpad_banks)
    return set(range(lo // size, (hi - 1) // size + 1))


def _port_cycles(arch: Arch, overlap: int, nbytes: int) -> int:
    """Cycles a bank's port is taken from the array while the DMA writes into it for `overlap` cycles:
    one per R-byte bank row written (at most the transfer's `nbytes`)."""
    return -(-min(int(overlap * (arch.dram_bandwidth or 0)), nbytes) // arch.rows)


def timing(program: list[Instr], arch: Arch) -> Stats:
    """The cycle model (see the module docstring): list-schedule the four queues."""
    deps, dram_deps = dependencies(program, arch)
    R, C, bw, lat = arch.rows, arch.cols, arch.dram_bandwidth, arch.dram_latency
    queues: dict[str, list[int]] = {"load": [], "store": [], "exec": [], "vector": []}
    for i, ins in enumerate(program):
        if ins.op != "halt":
            queues[QUEUE[ins.op]].append(i)
    heads = dict.fromkeys(queues, 0)
    free = dict.fromkeys(queues, 0)
    end = [-1] * len(program)
    in_dram = end[:]  # a st: when its last byte reached DRAM (its `end` frees the source earlier)
    dma_free = 0
    st = Stats(instructions=len(program))
    exec_busy: list[tuple[int, int, set[int]]] = []  # recent array intervals and the banks they read
    dma_busy: list[tuple[int, int, set[int], int]] = []  # recent DMA writes into the scratchpad (+ bytes)
    fresh = False
    remaining = sum(len(q) for q in queues.values())
    last = 0  # completion of the last DRAM write
    while remaining:
        best = None
        for q, items in queues.items():
            h = heads[q]
            if h == len(items):
                continue
            i = items[h]
            if any(end[d] < 0 for d in deps[i]) or any(in_dram[d] < 0 for d in dram_deps[i]):
                continue
            t = max([free[q], *(end[d] for d in deps[i]), *(in_dram[d] for d in dram_deps[i])])
            if q in ("load", "store"):
                t = max(t, dma_free)
            if best is None or t < best[0]:
                best = (t, q, i)
        t, q, i = best
        ins, a = program[i], program[i].args
        if q in ("load", "store"):
            nbytes = a["rows"] * a["bytes"]
            occ = 0 if bw is None else -(-nbytes // bw)
            occ = int(occ)
            finish = t + lat + occ
            if ins.op == "ld" and "acc" not in ins.flags:
                banks = _banks(arch, a["sp"], a["sp"] + nbytes)
                for s, e, b in exec_busy:
                    overlap = min(e, finish) - max(s, t + lat)
                    if overlap > 0 and banks & b:
                        st.bank_conflicts += 1
                        finish += _port_cycles(arch, overlap, nbytes)
                dma_busy = [*dma_busy[-7:], (t + lat, finish, banks, nbytes)]
            dma_free = t + occ
            free[q] = t + max(occ, 1)
            if ins.op == "st":  # the source is free once read out; the DRAM write completes later
                in_dram[i] = finish
                last = max(last, finish)
                finish = t + max(occ, 1)
            st.dma_cycles += occ
            st.dram_bytes += nbytes
            st.sram_bytes += nbytes
        elif q == "vector":
            depth = 4 + ("relu" in ins.flags)  # convert, scale, scale, bias (, relu): pipelined stages
            dur = -(-a["m"] * a["n"] // arch.vector_lanes) + depth
            finish = free[q] = t + dur
            st.vector_cycles += dur
            st.sram_bytes += 8 * a["m"] * a["n"] + 4 * (a["m"] + 2 * a["n"])
        else:
            if ins.op == "preload":
                dur, fresh = R, True
                st.sram_bytes += a["n"] * a["k"]
            elif ins.op == "matmul":
                if arch.dataflow == "ws":
                    dur = a["m"] + (R + C - 2 if fresh else 0)
                    fresh = False
                else:
                    dur = a["k"] + (0 if "accumulate" in ins.flags else 2 * R + C - 2)
                st.macs += a["m"] * a["k"] * a["n"]
                st.sram_bytes += a["m"] * a["k"] + (0 if arch.dataflow == "ws" else a["n"] * a["k"])
                st.sram_bytes += 4 * a["m"] * a["n"] * (2 if "accumulate" in ins.flags else 1)
                banks = _banks(arch, a["a"], a["a"] + a["m"] * a["k"])
                for s, e, b, written in dma_busy:
                    overlap = min(e, t + dur) - max(s, t)
                    if overlap > 0 and banks & b:
                        st.bank_conflicts += 1
                        dur += _port_cycles(arch, overlap, written)
                exec_busy = [*exec_busy[-7:], (t, t + dur, banks)]
            else:
                dur = 1
            finish = free[q] = t + dur
            st.compute_cycles += dur
        end[i] = finish
        heads[q] += 1
        remaining -= 1
    st.cycles = max(last, *end)
    return st


class Machine:
    """The NPU's memories; `execute` runs a program on a DRAM image in place."""

    def __init__(self, arch: Arch):
        self.arch = arch
        self.sp = np.zeros(arch.scratchpad_bytes, np.uint8)
        self.acc = np.zeros(arch.accumulator_bytes, np.uint8)
        self.weights: np.ndarray | None = None  # the preloaded tile (ws), as float64 [K, N]

    def _span(self, mem: np.ndarray, what: str, lo: int, n: int) -> np.ndarray:
        if lo < 0 or lo + n > mem.size:
            raise QcompError(f"npu simulator: {what} [{lo}, {lo + n}) is outside its memory ({mem.size} B)")
        return mem[lo : lo + n]

    def _dram(self, dram: np.ndarray, ins: Instr) -> np.ndarray:
        a = ins.args
        last = a["dram"] + (a["rows"] - 1) * a["stride"] + a["bytes"]
        if a["dram"] < 0 or last > dram.size:
            raise QcompError(f"npu simulator: {ins.text()} reaches past the DRAM image ({dram.size} B)")
        return as_strided(dram[a["dram"] :], (a["rows"], a["bytes"]), (a["stride"], 1))

    def _tile(self, mem: np.ndarray, lo: int, shape: tuple[int, int], dtype, what: str) -> np.ndarray:
        n = shape[0] * shape[1] * np.dtype(dtype).itemsize
        return self._span(mem, what, lo, n).view(dtype).reshape(shape)

    def execute(self, program: list[Instr], dram: np.ndarray) -> None:
        arch = self.arch
        for ins in program:
            op, a = ins.op, ins.args
            if op == "ld":
                n = a["rows"] * a["bytes"]
                dst = self.acc if "acc" in ins.flags else self.sp
                self._span(dst, "ld destination", a["sp"], n)[:] = self._dram(dram, ins).reshape(-1)
            elif op == "st":
                src = self.acc if "acc" in ins.flags else self.sp
                data = self._span(src, "st source", a["src"], a["rows"] * a["bytes"])
                self._dram(dram, ins)[...] = data.reshape(a["rows"], a["bytes"])
            elif op == "preload":
                w = self._tile(self.sp, a["w"], (a["n"], a["k"]), np.int8, "preload tile")
                self.weights = w.T.astype(np.float64)
            elif op == "matmul":
                x = self._tile(self.sp, a["a"], (a["m"], a["k"]), np.int8, "matmul input").astype(np.float64)
                if arch.dataflow == "ws":
                    w = self.weights
                    if w is None or w.shape != (a["k"], a["n"]):
                        raise QcompError(f"npu simulator: {ins.text()} does not match the preloaded weights")
                else:
                    w = self._tile(self.sp, a["w"], (a["n"], a["k"]), np.int8, "matmul weights").T.astype(np.float64)
                prod = (x @ w).astype(np.int64).astype(np.int32)  # exact integers, wrapped to i32
                acc = self._tile(self.acc, a["acc"], (a["m"], a["n"]), np.int32, "accumulator tile")
                if "accumulate" in ins.flags:
                    acc += prod
                else:
                    acc[...] = prod
            elif op == "epi":
                m, n = a["m"], a["n"]
                acc = self._tile(self.acc, a["acc"], (m, n), np.int32, "epi tile")
                xs = self._tile(self.sp, a["xs"], (1, 1) if "xs_scalar" in ins.flags else (m, 1), F32, "xs")
                ws = self._tile(self.sp, a["ws"], (1, n), F32, "ws")
                b = self._tile(self.sp, a["b"], (1, n), F32, "bias")
                y = (acc.astype(F32) * xs) * ws + b
                if "relu" in ins.flags:
                    y = np.maximum(y, F32(0))
                acc.view(F32)[...] = y
            elif op == "config":
                if (a["rows"], a["cols"]) != (arch.rows, arch.cols) or ("ws" in ins.flags) != (arch.dataflow == "ws"):
                    raise QcompError(f"npu simulator: program built for another array ({ins.text()})")
            elif op == "halt":
                return
