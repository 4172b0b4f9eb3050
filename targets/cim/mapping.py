"""Crossbar mapping: how a quantized weight matrix [N, K] is bit-sliced and tiled onto crossbar arrays.

Layout (weight-stationary, every layer owns its arrays, nothing is reprogrammed between calls):
- rows: the K inputs, split into row tiles of `rows` (one partial sum per row tile and column);
- columns: each output channel n takes `slices` adjacent physical columns, slice s holding bits
  [s·cell_bits, (s+1)·cell_bits) of the stored weight; `differential` doubles them (a positive and a
  negative column, subtracted in the analog domain before the ADC), `offset` stores w + 2^(b-1) unsigned
  and reserves one dummy column per array (G_min reference, subtracted in analog) — the 2^(b-1)·Σx offset
  is removed digitally;
- inputs: sign-magnitude, ceil(7/dac_bits) cycles each applying dac_bits of |x| (bit-serial when dac_bits = 1)
  with the sign of x as the polarity of the read voltage. (Two's complement bit planes would sign-extend
  every small negative activation into dense high planes whose large column sums swamp the ADC.)

`plan_layer` gives the readable, JSON-able plan (array count, utilisation, ADC conversions);
`weight_levels` and `input_planes` give the cell levels and the input cycles the simulator applies.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from qcomp.dialects.errors import QcompError

from .arch import CimArch

ACT_BITS = 8


@dataclass(frozen=True)
class LayerPlan:
    """The mapping of one offloaded qc.qlinear (weights [n, k] at `weight_bits`)."""

    index: int
    symbol: str
    location: str
    n: int
    k: int
    weight_bits: int
    stored_bits: int  # bits written per weight (offset: weight_bits; differential: magnitude weight_bits - 1)
    slices: int  # cell columns per weight and polarity
    polarity: int  # 1 (offset) or 2 (differential)
    row_tiles: int
    col_tiles: int
    arrays: int
    used_cells: int
    utilization: float
    input_cycles: int  # DAC cycles per input vector
    conversions_per_vector: int  # ADC conversions per input vector (all cycles)

    def to_dict(self) -> dict:
        return asdict(self)


def input_cycles(arch: CimArch) -> int:
    """DAC cycles per input vector: the 7 magnitude bits of a symmetric int8, dac_bits at a time."""
    return math.ceil((ACT_BITS - 1) / arch.dac_bits)


def plan_layer(index: int, symbol: str, location: str, n: int, k: int, weight_bits: int, arch: CimArch) -> LayerPlan:
    if not 2 <= weight_bits <= 8:
        raise QcompError(f"{location}: cim target maps 2..8-bit weights, got {weight_bits}")
    polarity = 2 if arch.encoding == "differential" else 1
    stored = weight_bits - 1 if polarity == 2 else weight_bits
    slices = math.ceil(stored / arch.cell_bits)
    usable = arch.cols - (1 if arch.encoding == "offset" else 0)
    if usable < 1:
        raise QcompError(f"{location}: a {arch.rows}x{arch.cols} crossbar has no column left beside the dummy")
    phys_cols = n * slices * polarity
    row_tiles = math.ceil(k / arch.rows)
    col_tiles = math.ceil(phys_cols / usable)
    arrays = row_tiles * col_tiles
    used = k * phys_cols
    cycles = input_cycles(arch)
    return LayerPlan(
        index=index,
        symbol=symbol,
        location=location,
        n=n,
        k=k,
        weight_bits=weight_bits,
        stored_bits=stored,
        slices=slices,
        polarity=polarity,
        row_tiles=row_tiles,
        col_tiles=col_tiles,
        arrays=arrays,
        used_cells=used,
        utilization=used / (arrays * arch.rows * arch.cols),
        input_cycles=cycles,
        conversions_per_vector=cycles * row_tiles * n * slices,
    )


def weight_levels(wq: np.ndarray, plan: LayerPlan, arch: CimArch) -> tuple[np.ndarray, np.ndarray, int]:
    """(levels [polarity, slices, k, n] uint8, slice weights [slices], digital offset): the conductance level
    of every cell, the power of two each slice's column is shifted by, and the value the offset encoding adds
    to every weight (0 for differential). Σ_s coef[s]·(levels[0,s] - levels[1,s]) + offset == wq.T."""
    w = np.asarray(wq).astype(np.int32).T  # [k, n]
    lim = (1 << (plan.weight_bits - 1)) - 1
    if w.size and (w.min() < -lim or w.max() > lim):
        raise QcompError(f"{plan.location}: weights outside the symmetric {plan.weight_bits}-bit range [-{lim}, {lim}]")
    if plan.polarity == 2:
        stored = np.stack([np.maximum(w, 0), np.maximum(-w, 0)])
        offset = 0
    else:
        offset = 1 << (plan.weight_bits - 1)
        stored = (w + offset)[None]
    c = arch.cell_bits
    mask = (1 << c) - 1
    levels = np.stack([(stored >> (c * s)) & mask for s in range(plan.slices)], axis=1).astype(np.uint8)
    coef = np.array([1 << (c * s) for s in range(plan.slices)], np.int64)
    return levels, coef, offset


def input_planes(xq: np.ndarray, arch: CimArch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(planes [cycles, m, k] f32, coef [cycles] i64, max |value| per cycle): the DAC inputs of each cycle.
    Sign-magnitude: cycle j applies bits [j·dac_bits, (j+1)·dac_bits) of |x| with the sign of x as the read
    voltage's polarity, so Σ_j coef[j]·planes[j] == xq (int8 in [-127, 127], the symmetric range)."""
    x = np.asarray(xq)
    if x.size and x.min() < -127:
        raise QcompError("cim target: activation -128 is outside the symmetric int8 range [-127, 127]")
    mag = np.abs(x.astype(np.int16))
    sign = np.sign(x).astype(np.float32)
    d = arch.dac_bits
    mask = (1 << d) - 1
    n = input_cycles(arch)
    planes = np.stack([((mag >> (d * j)) & mask).astype(np.float32) * sign for j in range(n)])
    coef = np.array([1 << (d * j) for j in range(n)], np.int64)
    vmax = np.array([min(mask, 0x7F >> (d * j)) for j in range(n)], np.int64)
    return planes, coef, vmax
