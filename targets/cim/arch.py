"""CIM architecture: the crossbar, its periphery and the constants of the energy/latency/area model.

`CimOptions` is what a user passes (`targets.get("cim", preset="neurosim", adc_bits=5, variation=0.0,
ideal=False, seed=0)`); `CimArch` is the resolved, validated architecture the mapper, the simulator and the
cost model read. Three presets follow the published simulators (shared/notes/anchors.md §4):

- `neurosim`: NeuroSim V1.4 defaults (Param.cpp, inference.py): 128×128 sub-arrays, 1 bit per cell, 5-bit
  ADC shared by 8 columns, on/off ratio 10, 1 GHz, weights in one array against a dummy reference column.
- `isaac`: ISAAC (ISCA'16) as modelled by PUMA: 128×128, 2 bits per cell, 1-bit DACs, one 8-bit ADC per
  array (128 columns), biased (offset) weight encoding, 8 arrays per IMA × 12 IMAs per tile.
- `mnsim`: MNSIM 2.0 SimConfig.ini: 256×256 1T1R, 1 bit per cell, 6-bit ADC (128 per array: 2 columns
  each), separate positive/negative crossbars (differential), R = 1 MΩ / 10 kΩ, 1% variation, 0.1% SA-HRS
  and 0.1% SA-LRS faults, digital logic at 500 MHz.

Every constant carries its source; "assumption" marks the ones no anchor gives (chosen to be plausible
and stated in the report). ADC energy and area at other resolutions follow the SAR scaling table of the
ISAAC component library (hwcomponents-library isaac.py, after Saberi et al. 2011: 4..10 bits); ADC latency
scales as (bits + 2) / f_s (MNSIM ADC.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from qcomp.dialects.errors import QcompError

ENCODINGS = ("offset", "differential")
ADC_RANGES = ("minmax", "full")

# SAR ADC energy (pJ per conversion) and area (µm²) by resolution, 32 nm, ISAAC's 8-bit ADC = 1.67 pJ,
# 1200 µm² (hwcomponents-library isaac.py, scaled per Saberi et al. 2011). Used as ratios to the preset's own ADC.
ADC_TABLE = {4: (0.79, 361.04), 5: (0.99, 476.91), 6: (1.20, 626.91), 7: (1.42, 845.18), 8: (1.67, 1200.0)}
ADC_TABLE.update({9: (1.969078145, 1827.911647), 10: (2.379022742, 3002.008032)})


@dataclass(frozen=True)
class Component:
    """One periphery component: energy per action (pJ), latency per action (ns), area (µm²), and where the
    numbers come from."""

    energy_pj: float
    latency_ns: float
    area_um2: float
    source: str


@dataclass(frozen=True)
class CimArch:
    """A resolved CIM architecture (see the module docstring). Validated on construction.

    rows, cols: crossbar size; cell_bits: bits stored per cell; dac_bits: input bits applied per cycle (1 =
    bit-serial); adc_bits: ADC resolution; cols_per_adc: columns sharing (time-multiplexing) one ADC;
    on_off: G_max / G_min; variation: σ of the multiplicative Gaussian conductance variation; sa0, sa1:
    stuck-at-HRS (G_min) and stuck-at-LRS (G_max) cell fault rates; encoding: signed weights as `offset`
    (w + 2^(b-1) stored unsigned, a dummy column subtracts G_min, the offset is removed digitally) or
    `differential` (|w| on a positive or a negative column, subtracted in the analog domain); adc_range:
    `minmax` (NeuroSim's LinearQuantizeOut: levels between the partial sums' min and max) or `full` (a fixed
    range covering the largest possible column sum);
    arrays_per_tile; clock_ghz of the digital logic; ideal: no ADC loss, variation or faults (exact).
    Components: xbar (one array read of one input cycle), adc (one conversion), dac (one row drive),
    shift_add (one accumulate), buffer (one 256-bit tile-buffer access), tile (buffer + router area)."""

    name: str
    rows: int
    cols: int
    cell_bits: int
    dac_bits: int
    adc_bits: int
    cols_per_adc: int
    on_off: float
    variation: float
    sa0: float
    sa1: float
    encoding: str
    adc_range: str
    arrays_per_tile: int
    clock_ghz: float
    ideal: bool
    seed: int
    xbar: Component
    adc: Component
    dac: Component
    shift_add: Component
    buffer: Component
    tile: Component

    def __post_init__(self):
        where = f"cim target ({self.name})"
        for f in ("rows", "cols", "arrays_per_tile", "cols_per_adc"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 1:
                raise QcompError(f"{where}: {f} must be a positive integer, got {v!r}")
        if self.rows > 1024 or self.cols > 1024:
            raise QcompError(f"{where}: crossbar {self.rows}x{self.cols} exceeds 1024x1024")
        if self.cols % self.cols_per_adc:
            raise QcompError(f"{where}: cols_per_adc={self.cols_per_adc} must divide cols={self.cols}")
        if self.cell_bits not in (1, 2, 3, 4):
            raise QcompError(f"{where}: cell_bits must be 1..4, got {self.cell_bits!r}")
        if self.dac_bits not in range(1, 8):
            raise QcompError(f"{where}: dac_bits must be 1..7, got {self.dac_bits!r}")
        if self.adc_bits not in ADC_TABLE:
            raise QcompError(f"{where}: adc_bits must be 4..10 (the ADC energy table's range), got {self.adc_bits!r}")
        if not self.on_off > 1:
            raise QcompError(f"{where}: on_off ratio must be > 1, got {self.on_off!r}")
        if not 0 <= self.variation <= 0.5:
            raise QcompError(f"{where}: variation must be in [0, 0.5], got {self.variation!r}")
        for f in ("sa0", "sa1"):
            v = getattr(self, f)
            if not 0 <= v < 0.5:
                raise QcompError(f"{where}: stuck-at rate {f} must be in [0, 0.5), got {v!r}")
        if self.encoding not in ENCODINGS:
            raise QcompError(f"{where}: encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        if self.adc_range not in ADC_RANGES:
            raise QcompError(f"{where}: adc_range must be one of {', '.join(ADC_RANGES)}, got {self.adc_range!r}")
        if not self.clock_ghz > 0:
            raise QcompError(f"{where}: clock_ghz must be > 0, got {self.clock_ghz!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise QcompError(f"{where}: seed must be a non-negative integer, got {self.seed!r}")

    @property
    def g_min(self) -> float:
        """G_min in units of one conductance level step: (levels - 1) / (on_off - 1)."""
        return ((1 << self.cell_bits) - 1) / (self.on_off - 1)

    @property
    def adc_energy_pj(self) -> float:
        """Energy per conversion at `adc_bits`: the preset ADC scaled by the SAR table's ratio."""
        return self.adc.energy_pj * ADC_TABLE[self.adc_bits][0] / ADC_TABLE[self._adc_ref_bits][0]

    @property
    def adc_area_um2(self) -> float:
        return self.adc.area_um2 * ADC_TABLE[self.adc_bits][1] / ADC_TABLE[self._adc_ref_bits][1]

    @property
    def adc_latency_ns(self) -> float:
        """SAR conversion time ∝ (bits + 2) (MNSIM ADC.py)."""
        return self.adc.latency_ns * (self.adc_bits + 2) / (self._adc_ref_bits + 2)

    @property
    def _adc_ref_bits(self) -> int:
        return PRESETS[self.name]["adc_bits"] if self.name in PRESETS else self.adc_bits

    def constants(self) -> dict:
        """Every component constant with its source (for the report and the bench table)."""
        return {c: dataclasses.asdict(getattr(self, c)) for c in ("xbar", "adc", "dac", "shift_add", "buffer", "tile")}


_ISAAC = "ISAAC ISCA'16 Table 6 via hwcomponents-library isaac.py (32 nm)"
_DAC = Component(0.41667, 1.0, 0.166, f"1-bit DAC per row drive: {_ISAAC}")
_SA = Component(0.021, 1.0, 60.0, f"shift-and-add per accumulate: {_ISAAC}")
_BUF = Component(20.45, 1.0, 0.0, f"64 KB eDRAM, 256-bit access: {_ISAAC}")
_TILE = Component(0.0, 0.0, 83000.0 + 37500.0, f"tile eDRAM 83000 µm² + router share 37500 µm²: {_ISAAC}")

PRESETS: dict[str, dict] = {
    "neurosim": {
        "rows": 128,
        "cols": 128,
        "cell_bits": 1,
        "dac_bits": 1,
        "adc_bits": 5,
        "cols_per_adc": 8,
        "on_off": 10.0,
        "variation": 0.0,
        "sa0": 0.0,
        "sa1": 0.0,
        "encoding": "offset",
        "arrays_per_tile": 16,
        "clock_ghz": 1.0,
        # 128x128 read: PUMA's 0.3 mW held for one 1 ns NeuroSim clock (assumption: NeuroSim's SRAM
        # read energy is computed by its circuit model, not tabulated)
        "xbar": Component(
            0.3,
            1.0,
            25.0,
            "power 0.3 mW (PUMA constants.py) × 1 ns (NeuroSim clkFreq 1 GHz); "
            "area: ISAAC 128x128 array 25 µm² (assumption for SRAM)",
        ),
        "adc": Component(
            0.99,
            1.0,
            476.91,
            f"5-bit SAR, 1 conversion per 1 GHz cycle: {_ISAAC} SAR table "
            "(NeuroSim's MLSA is modelled by its circuit code)",
        ),
        "dac": _DAC,
        "shift_add": _SA,
        "buffer": _BUF,
        "tile": _TILE,
    },
    "isaac": {
        "rows": 128,
        "cols": 128,
        "cell_bits": 2,
        "dac_bits": 1,
        "adc_bits": 8,
        "cols_per_adc": 128,
        "on_off": 10.0,  # assumption: ISAAC gives no on/off ratio; NeuroSim inference.py default
        "variation": 0.0,
        "sa0": 0.0,
        "sa1": 0.0,
        "encoding": "offset",
        "arrays_per_tile": 96,
        "clock_ghz": 1.2,
        "xbar": Component(30.0, 100.0, 25.0, "0.3 mW × 100 ns read cycle, 25 µm²: ISAAC/PUMA 128x128 array"),
        "adc": Component(1.67, 1 / 1.2, 1200.0, f"8-bit SAR 1.2 GS/s (Kull ISSCC'13): {_ISAAC}"),
        "dac": _DAC,
        "shift_add": _SA,
        "buffer": _BUF,
        "tile": _TILE,
    },
    "mnsim": {
        "rows": 256,
        "cols": 256,
        "cell_bits": 1,
        "dac_bits": 1,
        "adc_bits": 6,
        "cols_per_adc": 2,
        "on_off": 100.0,
        "variation": 0.01,
        "sa0": 0.001,
        "sa1": 0.001,
        "encoding": "differential",
        "arrays_per_tile": 16,  # assumption: MNSIM's tile holds 4x4 PEs of crossbars
        "clock_ghz": 0.5,
        # read energy: PUMA's 0.3 mW for 128x128 scaled by 4 cells, for one 8 ns ADC-paced cycle (assumption)
        "xbar": Component(
            1.2 * 8.0,
            8.0,
            100.0,
            "0.3 mW per 128x128 (PUMA) × 4 for 256x256 × 8 ns cycle; area 4 × 25 µm² (assumption)",
        ),
        "adc": Component(
            10.08, 8.0, 1650.0, "6-bit, 1 GS/s, 1.26 mW, (6+2)/f_s = 8 ns, 1650 µm²: MNSIM ADC.py ADC_Choice 6"
        ),
        "dac": _DAC,
        "shift_add": _SA,
        "buffer": _BUF,
        "tile": _TILE,
    },
}


@dataclass(frozen=True)
class CimOptions:
    """Options of the CIM target.

    preset: `neurosim`, `isaac` or `mnsim` (see targets/cim/arch.py). adc_bits, cell_bits, variation
    (σ of the conductance), stuck_at (rate of each of SA-HRS and SA-LRS faults), encoding: override the
    preset when given. adc_range: `minmax` (NeuroSim's functional ADC model) or `full` (fixed full scale).
    ideal: exact simulation (no ADC loss, variation or faults), equal to the qc reference
    semantics. seed: the random device (variation and fault maps are drawn once per build from it)."""

    preset: str = "neurosim"
    adc_bits: int | None = None
    cell_bits: int | None = None
    variation: float | None = None
    stuck_at: float | None = None
    encoding: str | None = None
    adc_range: str = "minmax"
    ideal: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise QcompError(f"cim target: unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        if not isinstance(self.ideal, bool):
            raise QcompError(f"cim target: ideal must be true or false, got {self.ideal!r}")
        self.arch()  # validates every value

    def arch(self) -> CimArch:
        """The preset with this options' overrides applied."""
        p = dict(PRESETS[self.preset])
        for f in ("adc_bits", "cell_bits", "variation", "encoding"):
            if getattr(self, f) is not None:
                p[f] = getattr(self, f)
        if self.stuck_at is not None:
            p["sa0"] = p["sa1"] = self.stuck_at
        return CimArch(name=self.preset, adc_range=self.adc_range, ideal=self.ideal, seed=self.seed, **p)
