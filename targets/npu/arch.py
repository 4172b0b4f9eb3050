"""The NPU's architecture: a parametrised systolic array of int8 MACs and its memories, as validated options.

`NpuOptions` is what a user passes (`qcomp.targets.get("npu", preset="scalesim", dataflow="ws",
dram_bandwidth=None)`); every field left at its default takes the preset's value, and `NpuOptions.arch`
resolves them into an `Arch` with concrete numbers that code generation and the simulator read.

Presets (numbers from shared/notes/anchors.md §4):
- `gemmini`: Gemmini's defaultConfig: 16×16 mesh, scratchpad 256 KiB in 4 banks, accumulator 64 KiB in
  2 banks, a 128-bit (16 B/cycle) DMA bus; dataflow BOTH in hardware, `ws` by default here.
- `scalesim`: SCALE-Sim v2 scale.cfg: 32×32, output stationary, 64 KiB SRAMs, bandwidth 10 (words of one
  byte per cycle).
- `tpu-like`: SCALE-Sim google.cfg: 256×256, weight stationary, 6144 + 6144 KiB input/filter SRAM as one
  scratchpad, 2048 KiB output (accumulator) SRAM, bandwidth 10.
The DRAM latency (100 cycles), clock (1 GHz) and vector lanes (one per array column) are our choices.
"""

import math
from dataclasses import dataclass, fields

from qcomp.dialects.errors import QcompError

DATAFLOWS = ("os", "ws")
PRESET_VALUE = "preset"  # default of every field that a preset fills in


@dataclass(frozen=True)
class Arch:
    """Concrete architecture parameters (all resolved; bandwidth None = unlimited)."""

    name: str
    rows: int  # R: array rows (the reduction dimension in ws, output rows in os)
    cols: int  # C: array columns (output channels)
    dataflow: str  # "os" (output stationary) or "ws" (weight stationary)
    scratchpad_kib: int  # int8 inputs/weights and f32 vectors (scales, bias)
    scratchpad_banks: int
    accumulator_kib: int  # i32 accumulators (the f32 epilogue writes its result in place)
    accumulator_banks: int
    dram_bandwidth: float | None  # bytes per cycle; None = unlimited
    dram_latency: int  # cycles from a DMA request to its first byte
    clock_hz: float
    vector_lanes: int  # f32 lanes of the vector unit (epilogue: convert, scale, bias, activation)

    @property
    def scratchpad_bytes(self) -> int:
        return self.scratchpad_kib * 1024

    @property
    def accumulator_bytes(self) -> int:
        return self.accumulator_kib * 1024

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.cols


PRESETS: dict[str, Arch] = {
    "gemmini": Arch("gemmini", 16, 16, "ws", 256, 4, 64, 2, 16.0, 100, 1e9, 16),
    "scalesim": Arch("scalesim", 32, 32, "os", 64, 2, 64, 2, 10.0, 100, 1e9, 32),
    "tpu-like": Arch("tpu-like", 256, 256, "ws", 12288, 2, 2048, 2, 10.0, 100, 1e9, 256),
}


# upper bounds of the integer options: beyond them the simulator's buffers or loops would not fit in a run
MOST = {"rows": 4096, "cols": 4096, "vector_lanes": 65536, "scratchpad_kib": 1 << 20, "accumulator_kib": 1 << 20}


def _positive_int(name: str, v) -> None:
    most = MOST.get(name, 1 << 16)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= most:
        raise QcompError(f"npu target: {name} must be a positive integer, got {v!r} (at most {most})")


@dataclass(frozen=True)
class NpuOptions:
    """Options of the NPU target; every field except `preset` defaults to the preset's value.

    preset: gemmini | scalesim | tpu-like. rows, cols: array size. dataflow: os | ws.
    scratchpad_kib, accumulator_kib: SRAM sizes; scratchpad_banks, accumulator_banks: banks of each.
    dram_bandwidth: DMA bytes per cycle, None for unlimited. dram_latency: cycles per DMA request.
    clock_hz: array clock (cycles -> seconds). vector_lanes: f32 lanes of the vector unit."""

    preset: str = "gemmini"
    rows: int | str = PRESET_VALUE
    cols: int | str = PRESET_VALUE
    dataflow: str = PRESET_VALUE
    scratchpad_kib: int | str = PRESET_VALUE
    scratchpad_banks: int | str = PRESET_VALUE
    accumulator_kib: int | str = PRESET_VALUE
    accumulator_banks: int | str = PRESET_VALUE
    dram_bandwidth: float | str | None = PRESET_VALUE
    dram_latency: int | str = PRESET_VALUE
    clock_hz: float | str = PRESET_VALUE
    vector_lanes: int | str = PRESET_VALUE

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise QcompError(f"npu target: unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        a = self.arch
        for name in ("rows", "cols", "scratchpad_kib", "scratchpad_banks", "accumulator_kib", "accumulator_banks"):
            _positive_int(name, getattr(a, name))
        _positive_int("vector_lanes", a.vector_lanes)
        if a.dataflow not in DATAFLOWS:
            raise QcompError(f"npu target: dataflow must be one of {DATAFLOWS}, got {a.dataflow!r}")
        bw = a.dram_bandwidth
        if bw is not None and (isinstance(bw, bool) or not isinstance(bw, int | float) or not 0 < bw < math.inf):
            raise QcompError(f"npu target: dram_bandwidth must be a positive number of bytes/cycle or None, got {bw!r}")
        if (
            isinstance(a.dram_latency, bool)
            or not isinstance(a.dram_latency, int)
            or not 0 <= a.dram_latency <= 1 << 30
        ):
            raise QcompError(f"npu target: dram_latency must be a non-negative integer, got {a.dram_latency!r}")
        if isinstance(a.clock_hz, bool) or not isinstance(a.clock_hz, int | float) or not 0 < a.clock_hz < math.inf:
            raise QcompError(f"npu target: clock_hz must be a positive finite number, got {a.clock_hz!r}")

    @property
    def arch(self) -> Arch:
        """The preset with this object's explicit fields applied."""
        base = PRESETS[self.preset]
        values = {f.name: getattr(base, f.name) for f in fields(Arch)}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "preset" and not (isinstance(v, str) and v == PRESET_VALUE):
                values[f.name] = v
        if isinstance(values["dram_bandwidth"], int) and not isinstance(values["dram_bandwidth"], bool):
            values["dram_bandwidth"] = float(values["dram_bandwidth"])
        return Arch(**values)
