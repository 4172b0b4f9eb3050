"""The exact solver behind qc-assign-precision: a multiple-choice knapsack by dynamic programming.

Each item (layer) i takes exactly one option c with an error e[i, c] >= 0 and a cost w[i, c] >= 0; the
choice minimising Σ e under Σ w <= capacity is found exactly over integer costs. Real costs are first
expressed in units of their greatest common divisor; when that grid would exceed MAX_UNITS cells the
costs are rounded *up* to a grid of MAX_UNITS cells over the range solved, so a solution never exceeds
the capacity (it may miss one that fits only within the rounding). O(items × options × cells) time.

The same table gives the Pareto frontier: the least total error reachable at every cost up to `span`.
"""

import math
from dataclasses import dataclass
from functools import reduce

import numpy as np

MAX_UNITS = 200_000


@dataclass(frozen=True)
class Solution:
    picks: np.ndarray  # option index per item
    cost: float  # Σ w of the picks (real units)
    error: float  # Σ e of the picks
    frontier: list[tuple[float, float]]  # (cost, least error at that cost), increasing cost, decreasing error


def _unit(costs: np.ndarray, span: float) -> float:
    ints = np.round(costs)
    if np.allclose(costs, ints, rtol=0, atol=1e-6) and np.all(ints >= 0):
        g = reduce(math.gcd, [int(c) for c in ints.ravel()]) or 1
        if span / g <= MAX_UNITS:
            return float(g)
    return span / MAX_UNITS


def solve(errors: np.ndarray, costs: np.ndarray, capacity: float, span: float | None = None) -> Solution | None:
    """argmin Σ errors[i, c_i] s.t. Σ costs[i, c_i] <= capacity; the frontier covers costs up to
    max(capacity, span). None when even the cheapest choice exceeds the capacity."""
    n, m = errors.shape
    span = max(min(capacity, float(costs.max(axis=1).sum())), span or 0.0)  # a larger capacity constrains nothing
    unit = _unit(costs, span)
    icost = np.ceil(costs / unit - 1e-9).astype(np.int64)
    top = math.floor(span / unit + 1e-9)
    cap = min(math.floor(capacity / unit + 1e-9), top)
    best = np.full(top + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros((n, top + 1), np.int16)
    for i in range(n):
        nxt = np.full(top + 1, np.inf)
        for c in range(m):
            w = icost[i, c]
            if w > top:
                continue
            cand = np.full(top + 1, np.inf)
            cand[w:] = best[: top + 1 - w] + errors[i, c]
            better = cand < nxt
            nxt[better], choice[i, better] = cand[better], c
        best = nxt
    if not np.isfinite(best[: cap + 1]).any():
        return None
    end = int(np.argmin(best[: cap + 1]))
    picks = np.zeros(n, np.int64)
    at = end
    for i in range(n - 1, -1, -1):
        picks[i] = choice[i, at]
        at -= icost[i, picks[i]]
    rows = np.arange(n)
    return Solution(
        picks, float(costs[rows, picks].sum()), float(errors[rows, picks].sum()), _frontier(best, unit, end)
    )


def _frontier(best: np.ndarray, unit: float, chosen: int, points: int = 64) -> list[tuple[float, float]]:
    """The Pareto points of best (least error per grid cost), thinned to about `points`, keeping `chosen`."""
    cells, low = [], np.inf
    for cell in np.flatnonzero(np.isfinite(best)):
        if best[cell] < low:
            low = float(best[cell])
            cells.append(int(cell))
    if len(cells) > points:
        keep = set(np.round(np.linspace(0, len(cells) - 1, points)).astype(int).tolist())
        cells = [c for i, c in enumerate(cells) if i in keep or c == chosen]
    return [(float(c * unit), float(best[c])) for c in cells]
