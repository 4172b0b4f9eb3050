"""qc-split-outliers: LLM.int8()-style decomposition of linear layers into an outlier and a regular part.

Input channels whose calibrated magnitude max|x_j| exceeds `threshold` (6.0, bitsandbytes' default,
Dettmers et al. 2022) run in a float path; the others go on to quantization. Unlike LLM.int8(), which
finds outliers per batch at run time, the channels are fixed by calibration, so the split is explicit
in the IR and every target sees both parts:

    %xp = x with the outlier channels moved last      (folded into x's producer, or qc.channel_permute)
    %lo = tensor.extract_slice %xp[..., 0:K-n]         %hi = tensor.extract_slice %xp[..., K-n:K]
    %a  = qc.linear(%lo, W[:, regular], b)             -> quantized later, with statistics of %lo only
    %b  = qc.linear(%hi, W[:, outliers], 0) {qc.precision = "fp32"}
    %y  = qc.add(%a, %b)

All layers reading one x share the permutation. Layers with no outlier channel, or only outliers, are
left alone. The regular part's static activation scale is recomputed from its own channels, which is
what makes per-tensor static int8 usable on models with massive activations.

With ratio > 0 a channel must also exceed ratio × the layer's median max|x_j|: a criterion that does
not depend on the model's activation scale (6.0 is tuned to OPT-class models).

Options: threshold (> 0, default 6.0), ratio (>= 0, default 0: off), max_fraction (0..1, default 0.1:
a layer whose outlier channels exceed this fraction of K is left whole, because the float path would
cost more than it saves).
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir, tensor
from qcomp.dialects.errors import QcompError
from qcomp.dialects.weights import make_constant

from . import act_stats
from .channel_fold import apply_permute, linear_groups, set_constant, weight

FP32 = "fp32"


def _slice(x: ir.Value, start: int, size: int) -> ir.Value:
    """x[..., start:start + size]; leading dims of run-time size are read with tensor.dim."""
    t = ir.RankedTensorType(x.type)
    shape = list(t.shape)
    dynamic = ir.ShapedType.get_dynamic_size()
    offsets = [0] * len(shape)
    offsets[-1] = start
    sizes = [*shape[:-1], size]
    dims = [_dim(x, i) for i, d in enumerate(shape[:-1]) if d == dynamic]
    result = ir.RankedTensorType.get(sizes, t.element_type)
    return tensor.extract_slice(result, x, [], dims, [], offsets, sizes, [1] * len(shape))


def _dim(x: ir.Value, i: int) -> ir.Value:
    index = ir.IndexType.get()
    c = ir.Operation.create("arith.constant", results=[index], attributes={"value": ir.IntegerAttr.get(index, i)})
    return ir.Operation.create("tensor.dim", results=[index], operands=[x, c.result]).result


@dataclass(frozen=True)
class SplitOutliersPass:
    """Split calibrated outlier input channels of linear layers into a float path (see module docstring)."""

    name: ClassVar[str] = "qc-split-outliers"
    threshold: float = 6.0
    ratio: float = 0.0
    max_fraction: float = 0.1

    def __post_init__(self):
        if not self.threshold > 0:
            raise QcompError(f"qc-split-outliers: threshold must be > 0, got {self.threshold}")
        if self.ratio < 0:
            raise QcompError(f"qc-split-outliers: ratio must be >= 0, got {self.ratio}")
        if not 0 < self.max_fraction <= 1:
            raise QcompError(f"qc-split-outliers: max_fraction must be in (0, 1], got {self.max_fraction}")

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            for x, group in reversed(linear_groups(module)):
                stats = act_stats.read(group[0])
                if stats is None:
                    continue
                big = stats.absmax > self.threshold
                if self.ratio:
                    big &= stats.absmax > self.ratio * float(np.median(stats.absmax))
                out = np.flatnonzero(big)
                k = stats.absmax.shape[0]
                if out.size == 0 or out.size == k or out.size > self.max_fraction * k:
                    continue
                regular = np.setdiff1d(np.arange(k), out)
                perm = np.concatenate([regular, out])
                if not np.array_equal(perm, np.arange(k)):
                    apply_permute(x, group, perm)
                slices = None
                for op in group:
                    slices = split_linear(op, k - out.size, {"qc.precision": ir.StringAttr.get(FP32)}, slices)[1]


def split_linear(op, n_first: int, second_attrs: dict, slices: tuple | None = None):
    """Split `op` = qc.linear(x, W, b) at input channel n_first into
    qc.add(qc.linear(x[..., :n_first], W[:, :n_first], b), qc.linear(x[..., n_first:], W[:, n_first:], 0));
    `op` becomes the first part (keeping its statistics, sliced); the second gets `second_attrs` and the
    sliced statistics too. `slices` reuses the (x[..., :n_first], x[..., n_first:]) of a layer reading the
    same x. Returns (the second part, the slices)."""
    x, w = op.operands[0], weight(op)
    k = w.shape[1]
    stats = act_stats.read(op)
    with ir.InsertionPoint(op), op.location:
        lo, hi = slices or (_slice(x, 0, n_first), _slice(x, n_first, k - n_first))
        zero = make_constant(np.zeros(w.shape[0], np.float32))
        hi_op = ir.Operation.create(
            "qc.linear", results=[op.results[0].type], operands=[hi, op.operands[1], zero], attributes=second_attrs
        )
        set_constant(hi_op, 1, w[:, n_first:])
    op.operands[0] = lo
    set_constant(op, 1, w[:, :n_first])
    if stats is not None:
        act_stats.write(op, stats.map(lambda a: a[..., :n_first]))
        if second_attrs.get("qc.precision") is None:
            act_stats.write(hi_op, stats.map(lambda a: a[..., n_first:]))
    with ir.InsertionPoint.after(op), op.location:
        add = ir.Operation.create("qc.add", results=[op.results[0].type], operands=[op.results[0], hi_op.results[0]])
    for use in list(op.results[0].uses):
        owner = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
        if owner != add:
            owner.operands[use.operand_number] = add.results[0]
    return hi_op, (lo, hi)
