"""qc-reorder-channels: permute input channels so the outlier channels gather in the last group.

Channels are sorted by calibrated max|x_j| (ascending, stable), so the largest ones end up together in
the last quantization group of `group` channels (RPTQ, Yuan et al. 2023; Atom's reordering, Zhao et al.
2024). The permutation never costs a runtime gather where it can be folded:

- the residual stream of a pre-norm transformer (see qc-rotate) is permuted as a whole — embedding
  columns, RMSNorm gamma, the readers' columns and the writers' rows — with one permutation ordered
  by the channels' largest calibrated magnitude relative to each reader's median;
- any other group of linears sharing an input is permuted through its producer (a previous linear's
  rows, through gating multiplies and activations; see `channel_fold`); a group whose producer cannot
  absorb it is left alone unless runtime=true (then a `qc.channel_permute` is inserted).

outlier_bits > 0 then gives the last group its own precision: each reordered linear is split at
K − group (as in qc-split-outliers) and the outlier part carries `qc.wbits = outlier_bits`, which
qc-quantize uses instead of its own wbits (e.g. outliers at 8 bits, the rest at 4).

Options: group (> 0, default 128), outlier_bits (0 or 2..8, default 0), runtime (default false).
Needs calibrated statistics (`qc.act_absmax`); uncalibrated groups are left alone.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import i64_attr
from qcomp.dialects.weights import constant

from . import act_stats
from .channel_fold import (
    WBITS,
    apply_permute,
    linear_groups,
    only_users,
    permute_columns,
    plan_permute,
    set_constant,
    weight,
)
from .rotate import _stream
from .split_outliers import split_linear


@dataclass(frozen=True)
class ReorderChannelsPass:
    """Gather outlier input channels into the last group (see module docstring)."""

    name: ClassVar[str] = "qc-reorder-channels"
    group: int = 128
    outlier_bits: int = 0
    runtime: bool = False

    def __post_init__(self):
        if self.group <= 0:
            raise QcompError(f"qc-reorder-channels: group must be > 0, got {self.group}")
        if self.outlier_bits and not 2 <= self.outlier_bits <= 8:
            raise QcompError(f"qc-reorder-channels: outlier_bits must be 0 or in [2, 8], got {self.outlier_bits}")

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            done = self._residual(module)
            for x, group in reversed(linear_groups(module)):
                if any(op == d for d in done for op in group):
                    continue
                stats = act_stats.read(group[0])
                if stats is None:
                    continue
                perm = np.argsort(stats.absmax, kind="stable")
                if np.array_equal(perm, np.arange(perm.size)):
                    done += self._split_last(group)
                elif self.runtime or (only_users(x, group) and plan_permute(x, perm) is not None):
                    apply_permute(x, group, perm)
                    done += self._split_last(group)

    def _residual(self, module: ir.Module) -> list:
        """Permute the residual stream as a whole; returns the reader linears handled."""
        plan = _stream(module)
        if plan is None:
            return []
        readers = [op for _, cons in plan.readers for op in cons]
        read = [act_stats.read(op) for op in readers]
        stats = [s for s in read if s is not None]
        if len(stats) != len(read):
            return []
        key = np.max([s.absmax / max(float(np.median(s.absmax)), 1e-12) for s in stats], axis=0)
        perm = np.argsort(key, kind="stable")
        emb = plan.embeddings[0]
        set_constant(emb, 0, constant(emb.operands[0])[:, perm])
        for norm, cons in plan.readers:
            set_constant(norm, 1, constant(norm.operands[1])[perm])
            for op in cons:
                permute_columns(op, perm)
        for op in plan.writers:
            set_constant(op, 1, weight(op)[perm])
            set_constant(op, 2, constant(op.operands[2])[perm])
        done = []
        for _, cons in plan.readers:
            done += self._split_last(cons)
        return done + readers

    def _split_last(self, group: list) -> list:
        """With outlier_bits, split each linear of the group so its last `group` channels stand alone."""
        if not self.outlier_bits:
            return list(group)
        k = weight(group[0]).shape[1]
        if k <= self.group:
            return list(group)
        slices, parts = None, list(group)
        for op in group:
            hi, slices = split_linear(op, k - self.group, {WBITS: i64_attr(self.outlier_bits)}, slices)
            parts.append(hi)
        return parts
