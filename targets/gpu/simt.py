"""SIMT kernels written once and emitted twice: as a `gpu.func` and as its CPU emulation.

A `SimtKernel` is a 1-D thread block over a 2-D grid running a list of *phases*. Each phase is per-thread
code (a callback that emits MLIR text through `kernels._Body`, given the SSA names of the thread id and the
block ids); phases are separated by block-wide barriers, and values cross a barrier only through shared
memory (`shared`: per-block f32 arrays). On the GPU the phases are joined by `gpu.barrier` and the shared
arrays are workgroup attributions; in the emulation (`emulated_func`) blocks are loops, each phase is a
loop over the threads, and the shared arrays are one `memref.alloca` reused by every block — the same
per-thread code in the same order, so a kernel without warp-collective ops is emulated bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .kernels import _Body

# phase(b, tid, bx, by, depth): emits one thread's code for this phase
Phase = Callable[[_Body, str, str, str, int], None]
SHARED_SPACE = "#gpu.address_space<workgroup>"


@dataclass
class SimtKernel:
    """One kernel: `args` are (SSA name, memref type) of the inputs then the outputs."""

    name: str
    args: list[tuple[str, str]]
    grid: tuple[int, int, int]
    threads: int
    phases: list[Phase]
    shared: list[tuple[str, int]] = field(default_factory=list)  # (SSA name, f32 elements)

    @property
    def shared_bytes(self) -> int:
        return 4 * sum(n for _, n in self.shared)

    def shared_type(self, name: str, gpu: bool) -> str:
        n = dict(self.shared)[name]
        return f"memref<{n}xf32, {SHARED_SPACE}>" if gpu else f"memref<{n}xf32>"

    def _sig(self) -> str:
        return ", ".join(f"{n}: {t}" for n, t in self.args)

    def gpu_func(self) -> str:
        b = _Body("    ")
        b.gpu = True
        tid = b.op("gpu.thread_id x", "tid")
        bx = b.op("gpu.block_id x", "bx")
        by = b.op("gpu.block_id y", "by")
        for i, phase in enumerate(self.phases):
            if i:
                b.emit("gpu.barrier")
            phase(b, tid, bx, by, 0)
        workgroup = ""
        if self.shared:
            workgroup = " workgroup(" + ", ".join(f"{n} : {self.shared_type(n, True)}" for n, _ in self.shared) + ")"
        head = (
            f"  gpu.func @{self.name}({self._sig()}){workgroup} kernel attributes "
            f"{{known_block_size = array<i32: {self.threads}, 1, 1>, "
            f"known_grid_size = array<i32: {', '.join(map(str, self.grid))}>}} {{"
        )
        return "\n".join([head, *b.const_lines(), *b.lines, "    gpu.return", "  }"])

    def emulated_func(self) -> str:
        b = _Body("    ")
        b.gpu = False
        for n, _ in self.shared:
            b.emit(f"{n} = memref.alloca() : {self.shared_type(n, False)}")
        one, zero = b.c(1), b.c(0)
        b.emit(f"scf.for %by = {zero} to {b.c(self.grid[1])} step {one} {{")
        b.emit(f"scf.for %bx = {zero} to {b.c(self.grid[0])} step {one} {{", 1)
        for phase in self.phases:
            tid = b.fresh("tid")
            b.emit(f"scf.for {tid} = {zero} to {b.c(self.threads)} step {one} {{", 2)
            phase(b, tid, "%bx", "%by", 3)
            b.emit("}", 2)
        b.emit("}", 1)
        b.emit("}")
        head = f"  func.func @{self.name}({self._sig()}) attributes {{llvm.emit_c_interface}} {{"
        return "\n".join([head, *b.const_lines(), *b.lines, "    return", "  }"])


def shared_ty(b: _Body, kernel: SimtKernel, name: str) -> str:
    """The type of a shared array as seen by the code being emitted (GPU or emulation)."""
    return kernel.shared_type(name, b.gpu)


def for_range(b: _Body, lo: str, hi: str, step: str, d: int, iters: list[tuple[str, str]] | None = None) -> tuple:
    """Open `scf.for`; returns (induction variable, iter_arg names, result name). Close with `end_for`."""
    iv = b.fresh("i")
    if not iters:
        b.emit(f"scf.for {iv} = {lo} to {hi} step {step} {{", d)
        return iv, [], None
    res = b.fresh("r")
    names = [b.fresh("it") for _ in iters]
    init = ", ".join(f"{n} = {v}" for n, (v, _) in zip(names, iters, strict=True))
    types = ", ".join(t for _, t in iters)
    b.emit(f"{res}:{len(iters)} = scf.for {iv} = {lo} to {hi} step {step} iter_args({init}) -> ({types}) {{", d)
    return iv, names, res


def end_for(b: _Body, d: int, yields: list[str] | None = None, types: list[str] | None = None) -> None:
    if yields:
        b.emit(f"scf.yield {', '.join(yields)} : {', '.join(types)}", d + 1)
    b.emit("}", d)
