"""Per-input-channel transformations of linear layers, folded into the producer of their input.

The outlier passes change what a group of `qc.linear` ops sharing one input x receives: x / s
(smoothing, AWQ), x[..., perm] (channel reordering). The consumers absorb the inverse in their weight
columns (`scale_columns`, `permute_columns`), so the float function is unchanged, and the producer of x
absorbs the transformation itself when it can (`fold_scale`, `fold_permute`):

- `qc.rms_norm` / `qc.layer_norm` with constant parameters: gamma (and beta) / s  (scaling only);
- `qc.linear` with a constant weight: its output rows (and bias) / s, or permuted;
- `qc.mul(a, b)`: scaling goes into one operand (e.g. up_proj in silu(gate) · up), a permutation
  into both; `qc.silu` / `qc.gelu` / `qc.relu` pass a permutation on to their operand;
- reshapes that keep the last dim pass both on; a channel slice x[..., o:o+n] (qc-split-outliers'
  regular part) passes a scaling on as s on [o, o+n) and 1 elsewhere, when x's other users are
  disjoint channel slices.

A producer is only changed when every user of the value is in the group (and every intermediate value
has a single user), otherwise the transformation becomes an explicit `qc.channel_scale` /
`qc.channel_permute` in front of the group. Parameters are replaced by new constants, never edited in
place: the importer shares identical constants between layers.
"""

from collections.abc import Callable

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant_array, make_constant

from . import act_stats

UNARY = ("qc.silu", "qc.gelu", "qc.relu")
RESHAPES = ("tensor.collapse_shape", "tensor.expand_shape", "tensor.reshape")
WEIGHT_CLIP = "qc.weight_clip"
WEIGHT_RANGE = "qc.weight_range"  # (lo, hi) per output channel and group of asymmetric weights (qc-gptq{sym=false})
WBITS = "qc.wbits"  # a layer's own weight width (qc-reorder-channels, qc-assign-precision)
ABITS = "qc.abits"  # a layer's own activation width (qc-assign-precision)
WGROUP = "qc.wgroup"  # a layer's own weight group size, 0 = per output channel (qc-assign-precision)


def producer(v: ir.Value):
    owner = v.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if isinstance(owner, ir.OpView) else owner


def users(v: ir.Value) -> list:
    seen, out = set(), []
    for use in v.uses:
        op = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
        if op not in seen:
            seen.add(op)
            out.append(op)
    return out


def linear_weight(op) -> np.ndarray | None:
    """The constant f32 weight [N, K] of a float qc.linear that passes may transform, else None."""
    if op.name != "qc.linear":
        return None
    if "qc.precision" in op.attributes and op.attributes["qc.precision"].value == "fp32":
        return None
    w = constant_array(op.operands[1])
    return w if w is not None and w.dtype == np.float32 and w.ndim == 2 else None


def weight(op) -> np.ndarray:
    """`linear_weight(op)` of a layer the caller has checked has one (ValueError otherwise)."""
    w = linear_weight(op)
    if w is None:
        raise ValueError(f"{op.location}: not a float qc.linear with a constant weight")
    return w


def set_constant(op, index: int, arr: np.ndarray) -> None:
    """Make operand `index` of `op` a new constant holding `arr` (inserted just before `op`). A new weight
    drops what was derived from the old one (qc-awq's `qc.weight_clip`)."""
    with ir.InsertionPoint(op), op.location:
        op.operands[index] = make_constant(np.ascontiguousarray(arr, np.float32))
    if index == 1 and WEIGHT_CLIP in op.attributes:
        del op.attributes[WEIGHT_CLIP]


def linear_groups(module: ir.Module) -> list[tuple[ir.Value, list]]:
    """(x, the transformable qc.linear ops reading x) for every such x, in walk order. A pass that splits
    layers (which redirects their users) walks this list backwards, consumers first, so that no group's
    x is a value the pass has already rewired."""

    groups: list[tuple[ir.Value, object, list]] = []
    for op in ops_named(module, "qc.linear"):
        if linear_weight(op) is not None:
            x, parent = op.operands[0], op.parent
            for gx, gp, ops in groups:
                if gx == x and gp == parent:  # layers in another region get their own group
                    ops.append(op)
                    break
            else:
                groups.append((x, parent, [op]))
    return [(x, ops) for x, _, ops in groups]


def in_block_order(ops: list) -> list:
    """`ops` (of one block) sorted by position: use lists come in no particular order."""
    return sorted(ops, key=_index)


def only_users(v: ir.Value, ops: list) -> bool:
    return all(any(u == o for o in ops) for u in users(v))


# ----------------------------------------------------------------------------- the consumer side
def scale_columns(op, s: np.ndarray) -> None:
    """x -> x / s for `op`'s input: W[:, j] · s_j keeps the layer's output; the statistics become those of x/s."""
    set_constant(op, 1, weight(op) * s[None, :].astype(np.float32))
    st = act_stats.read(op)
    if st is not None:
        act_stats.write(op, st.map(lambda a: a / s.astype(np.float32)))


def permute_columns(op, perm: np.ndarray) -> None:
    """x -> x[..., perm] for `op`'s input: W[:, perm] keeps the layer's output."""
    set_constant(op, 1, weight(op)[:, perm])
    st = act_stats.read(op)
    if st is not None:  # the same values in another order: the per-tensor scale stays the table's
        act_stats.write(op, st.map(lambda a: a[..., perm]), rescale=False)


# ----------------------------------------------------------------------------- the producer side
Plan = list[Callable[[], None]]


def _norm_plan(op, s: np.ndarray) -> Plan | None:
    params = [1] if op.name == "qc.rms_norm" else [1, 2]
    arrays = [constant_array(op.operands[i]) for i in params]
    known = [a for a in arrays if a is not None and a.shape == s.shape]
    if len(known) != len(arrays):
        return None

    def scale(i: int, a: np.ndarray) -> Callable[[], None]:
        return lambda: set_constant(op, i, a / s)

    return [scale(i, a) for i, a in zip(params, known, strict=True)]


def _linear_rows_plan(op, fn: Callable[[np.ndarray], np.ndarray]) -> Plan | None:
    w, b = linear_weight(op), constant_array(op.operands[2])
    if w is None or b is None:
        return None

    def apply():
        set_constant(op, 1, fn(w))
        set_constant(op, 2, fn(b))

    return [apply]


def _channel_preserving_reshape(op) -> bool:
    """A reshape that keeps the last dim (channel j stays channel j), e.g. GPT-2's x.view(-1, C)."""
    if op.name not in RESHAPES:
        return False
    src, dst = ir.RankedTensorType(op.operands[0].type), ir.RankedTensorType(op.results[0].type)
    return src.rank > 0 and dst.rank > 0 and src.shape[-1] == dst.shape[-1]


def _last_dim_slice(op) -> tuple[int, int] | None:
    """(offset, size) of a unit-stride tensor.extract_slice that cuts only the last dim, else None."""
    if op.name != "tensor.extract_slice" or len(op.operands) != 1:
        return None
    src, dst = ir.RankedTensorType(op.operands[0].type), ir.RankedTensorType(op.results[0].type)
    offs = list(ir.DenseI64ArrayAttr(op.attributes["static_offsets"]))
    strides = list(ir.DenseI64ArrayAttr(op.attributes["static_strides"]))
    if src.rank != dst.rank or any(o != 0 for o in offs[:-1]) or any(t != 1 for t in strides):
        return None
    if list(src.shape[:-1]) != list(dst.shape[:-1]):
        return None
    return offs[-1], dst.shape[-1]


def _plan_scale_through_slice(op, s: np.ndarray) -> Plan | None:
    """A channel slice x[..., o:o+n] (qc-split-outliers' regular part): scale x by s on [o, o+n) and by 1
    elsewhere, when every other user of x is a channel slice disjoint from it."""
    cut = _last_dim_slice(op)
    if cut is None:
        return None
    o, n = cut
    for u in users(op.operands[0]):
        if u == op:
            continue
        other = _last_dim_slice(u)
        if other is None or not (other[0] + other[1] <= o or o + n <= other[0]):
            return None
    full = np.ones(ir.RankedTensorType(op.operands[0].type).shape[-1], np.float32)
    full[o : o + n] = s
    return plan_scale(op.operands[0], full)


def plan_scale(v: ir.Value, s: np.ndarray) -> Plan | None:
    """Edits making `v` hold v / s (per last-dim channel) by changing its producer, or None."""
    op = producer(v)
    if op is None:
        return None
    if _channel_preserving_reshape(op):
        return plan_scale(op.operands[0], s) if len(users(op.operands[0])) == 1 else None
    if _last_dim_slice(op) is not None:
        return _plan_scale_through_slice(op, s)
    if op.name in ("qc.rms_norm", "qc.layer_norm"):
        return _norm_plan(op, s)
    if op.name == "qc.linear":
        return _linear_rows_plan(op, lambda a: (a.T / s).T if a.ndim == 2 else a / s)
    if op.name == "qc.mul":
        if op.operands[0] == op.operands[1]:  # h · h: scaling h scales the product twice
            return None
        for operand in (op.operands[1], op.operands[0]):
            if len(users(operand)) == 1 and (plan := plan_scale(operand, s)) is not None:
                return plan
    return None


def plan_permute(v: ir.Value, perm: np.ndarray) -> Plan | None:
    """Edits making `v` hold v[..., perm] by changing its producer(s), or None."""
    op = producer(v)
    if op is None:
        return None
    if _channel_preserving_reshape(op):
        return plan_permute(op.operands[0], perm) if len(users(op.operands[0])) == 1 else None
    if op.name == "qc.linear":
        return _linear_rows_plan(op, lambda a: a[perm])
    if op.name in UNARY or op.name in ("qc.mul", "qc.add"):
        plans: list[Callable[[], None]] = []
        distinct: list = []
        for operand in op.operands:
            if not any(operand == d for d in distinct):
                distinct.append(operand)
        for operand in distinct:
            if len(users(operand)) != 1 or (p := plan_permute(operand, perm)) is None:
                return None
            plans += p
        return plans
    return None


def _run(plan: Plan) -> None:
    for step in plan:
        step()


def _insert_before_first(group: list, name: str, operands: list, attrs: dict) -> ir.Value:
    first = min(group, key=lambda o: _index(o))
    with ir.InsertionPoint(first), first.location:
        op = ir.Operation.create(name, results=[operands[0].type], operands=operands, attributes=attrs)
    for g in group:
        g.operands[0] = op.results[0]
    return op.results[0]


def _index(op) -> int:
    for region in op.parent.regions:
        for block in region.blocks:
            for i, o in enumerate(block.operations):
                if o == op:
                    return i
    return 0


def _origin(v: ir.Value) -> str:
    op = producer(v)
    while op is not None and _channel_preserving_reshape(op):
        op = producer(op.operands[0])
    return op.name if op is not None else "argument"


def _apply(x: ir.Value, group: list, plan: Plan | None, runtime: Callable[[], None], column_fn) -> str:
    """Fold `plan` into x's producer, else run `runtime` (insert the explicit op); then let every layer of
    the group absorb the inverse in its columns. Returns where the transformation went."""
    if plan is not None and only_users(x, group):
        where = _origin(x)
        _run(plan)
    else:
        where = "runtime"
        runtime()
    for op in group:
        column_fn(op)
    return where


def apply_scale(x: ir.Value, group: list, s: np.ndarray) -> str:
    """Give the group x / s, folding 1/s into x's producer where possible; returns where it went
    (the producer's op name, or 'qc.channel_scale' for an explicit runtime scale)."""
    s = np.asarray(s, np.float32)

    def runtime():
        with ir.InsertionPoint(min(group, key=_index)), group[0].location:
            inv = make_constant((np.float32(1) / s).astype(np.float32))
        _insert_before_first(group, "qc.channel_scale", [x, inv], {})

    plan = plan_scale(x, s) if only_users(x, group) else None
    where = _apply(x, group, plan, runtime, lambda op: scale_columns(op, s))
    return "qc.channel_scale" if where == "runtime" else where


def apply_permute(x: ir.Value, group: list, perm: np.ndarray) -> str:
    """Give the group x[..., perm], folded into the producer where possible (else a qc.channel_permute)."""
    perm = np.asarray(perm, np.int64)
    attrs = {"perm": ir.DenseI64ArrayAttr.get(perm.tolist())}
    plan = plan_permute(x, perm) if only_users(x, group) else None
    where = _apply(
        x,
        group,
        plan,
        lambda: _insert_before_first(group, "qc.channel_permute", [x], attrs),
        lambda op: permute_columns(op, perm),
    )
    return "qc.channel_permute" if where == "runtime" else where
