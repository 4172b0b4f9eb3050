"""Energy, latency and area of mapped layers, from the component constants of `arch.py`.

Per input vector of a layer (weight-stationary, all its arrays working in parallel):
- every input cycle reads each array once (xbar energy), drives its used rows (one DAC action per row),
  and digitises each used column slice once per row tile (ADC), each conversion followed by one
  shift-and-add; the vector is read from and the N i32 results written to the tile buffer (256-bit accesses);
- a cycle lasts max(array read, cols_per_adc conversions) — the ADCs are pipelined behind the read
  (ISAAC's 100 ns cycle matches its 128 conversions at 1.28 GS/s) — and vectors follow one another.
Layers run one after another (no inter-layer pipelining). Area: per array the crossbar, its ADCs
(cols / cols_per_adc), DACs (one per row) and shift-and-add units (one per ADC); per tile of
`arrays_per_tile` arrays one buffer and router share. TOPS/W uses NeuroSim's 2·MAC convention.
Attention's activation × activation matmuls stay on the host (see target.py) and are not counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .arch import CimArch
from .mapping import LayerPlan


@dataclass(frozen=True)
class LayerCost:
    """Estimated cost of one call of a mapped layer on `vectors` input vectors."""

    macs: int
    energy_pj: float
    latency_ns: float
    area_mm2: float
    arrays: int
    breakdown_pj: dict

    def to_dict(self) -> dict:
        return asdict(self)


def array_area_um2(arch: CimArch) -> float:
    adcs = arch.cols // arch.cols_per_adc
    return arch.xbar.area_um2 + adcs * (arch.adc_area_um2 + arch.shift_add.area_um2) + arch.rows * arch.dac.area_um2


def cycle_ns(arch: CimArch) -> float:
    return max(arch.xbar.latency_ns, arch.cols_per_adc * arch.adc_latency_ns)


def layer_cost(plan: LayerPlan, arch: CimArch, vectors: int) -> LayerCost:
    cycles = plan.input_cycles * vectors
    conversions = plan.conversions_per_vector * vectors
    bus = 256
    buffer_accesses = vectors * (math.ceil(plan.k * 8 / bus) + math.ceil(plan.n * 32 / bus))
    parts = {
        "xbar": cycles * plan.arrays * arch.xbar.energy_pj,
        "dac": cycles * plan.k * plan.col_tiles * arch.dac.energy_pj,
        "adc": conversions * arch.adc_energy_pj,
        "shift_add": conversions * arch.shift_add.energy_pj,
        "buffer": buffer_accesses * arch.buffer.energy_pj,
    }
    area = plan.arrays * array_area_um2(arch) + plan.arrays / arch.arrays_per_tile * arch.tile.area_um2
    return LayerCost(
        macs=vectors * plan.n * plan.k,
        energy_pj=sum(parts.values()),
        latency_ns=cycles * cycle_ns(arch),
        area_mm2=area * 1e-6,
        arrays=plan.arrays,
        breakdown_pj=parts,
    )


def total_area_mm2(arrays: int, arch: CimArch) -> float:
    """Chip area for `arrays` arrays: whole tiles of buffer and router."""
    tiles = math.ceil(arrays / arch.arrays_per_tile)
    return (arrays * array_area_um2(arch) + tiles * arch.tile.area_um2) * 1e-6


def summary(costs: list[LayerCost], arch: CimArch) -> dict:
    """Totals over layers: energy_pj, latency_ns, area_mm2, arrays, macs, tops_per_w (2·MAC / energy)."""
    energy = sum(c.energy_pj for c in costs)
    macs = sum(c.macs for c in costs)
    arrays = sum(c.arrays for c in costs)
    return {
        "energy_pj": energy,
        "latency_ns": sum(c.latency_ns for c in costs),
        "area_mm2": total_area_mm2(arrays, arch),
        "arrays": arrays,
        "macs": macs,
        "tops_per_w": 2 * macs / energy if energy else 0.0,  # ops/pJ == TOPS/W
    }
