"""A compiled NPU layer: the offloaded op's GEMM, its DRAM image, its binary, and how to run it.

`Layer.build` turns one offloaded qc.qlinear (`targets/common/offload.OffloadedOp`) into a program
(`codegen.generate`, encoded to the binary of `isa.py`) and a DRAM image holding the op's constant operands
(weights, scales, bias). `Layer.run` writes the run-time operands into the image, decodes nothing more
(the binary was decoded once at build) and executes the program on the simulator, returning the result.
The cycle statistics are data independent: `timing` runs once at build.
"""

from dataclasses import dataclass, field

import numpy as np
from qcomp.dialects.errors import QcompError

from . import isa
from .arch import Arch
from .codegen import Gemm, Layout, generate
from .simulator import Machine, Stats, timing


def gemm_of(op) -> Gemm:
    """The GEMM of an offloaded qc.qlinear (x [..., K] flattened to M rows)."""
    if op.name != "qc.qlinear":
        raise QcompError(f"{op.location}: npu: cannot run {op.name}")
    (xshape, _), (xs_shape, _), (wshape, _) = op.operand_types[:3]
    m = int(np.prod(xshape[:-1], dtype=np.int64))
    n, k = wshape
    xs_scalar = tuple(xs_shape) == (1,) and m != 1
    return Gemm(op.name, op.location, m, k, n, op.attrs.get("act", "none"), xs_scalar)


def bound_cycles(arch: Arch, g: Gemm, lay: Layout) -> int:
    """Roofline bound: the larger of all MACs at the array's peak and the compulsory DRAM bytes (each
    tensor once) at the DMA bandwidth."""
    compute = -(-g.macs // arch.peak_macs_per_cycle)
    memory = 0 if arch.dram_bandwidth is None else int(-(-lay.size // arch.dram_bandwidth))
    return max(compute, memory)


@dataclass
class Layer:
    name: str
    gemm: Gemm
    layout: Layout
    binary: bytes
    program: list[isa.Instr]
    image: np.ndarray
    stats: Stats
    bound: int
    runtime: list[int] = field(default_factory=list)  # operand indices written at each call

    @staticmethod
    def build(arch: Arch, op) -> "Layer":
        g = gemm_of(op)
        lay = Layout.of(g)
        binary = isa.encode(generate(arch, g, lay))
        program = isa.decode(binary)  # what runs is what was saved
        image = np.zeros(lay.size, np.uint8)
        runtime = []
        for i, (const, off) in enumerate(zip(op.constants, (lay.x, lay.xs, lay.w, lay.ws, lay.b), strict=True)):
            if const is None:
                runtime.append(i)
            else:
                _put(image, off, const, op.operand_types[i][1])
        stats = timing(program, arch)
        return Layer(op.symbol, g, lay, binary, program, image, stats, bound_cycles(arch, g, lay), runtime)

    def run(
        self, machine: Machine, arrays: list[np.ndarray], result_shape: tuple[int, ...], image: np.ndarray | None = None
    ) -> np.ndarray:
        """The layer on `arrays` (its run-time operands), simulated on `machine` over `image` (a copy of
        `self.image` owned by the caller: concurrent runs need one each; None: `self.image` itself)."""
        image = self.image if image is None else image
        lay = self.layout
        offs = (lay.x, lay.xs, lay.w, lay.ws, lay.b)
        for i in self.runtime:
            _put(image, offs[i], arrays[i], arrays[i].dtype)
        machine.execute(self.program, image)
        g = self.gemm
        return image[lay.y : lay.y + 4 * g.m * g.n].view(np.float32).reshape(result_shape).copy()


def _put(image: np.ndarray, offset: int, value: np.ndarray, dtype) -> None:
    raw = np.ascontiguousarray(value, dtype=dtype).reshape(-1).view(np.uint8)
    image[offset : offset + raw.size] = raw
