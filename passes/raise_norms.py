"""qc-raise-norms: recognise RMSNorm written out in primitives and raise it to `qc.rms_norm`.

HF LLaMA's LlamaRMSNorm (and most hand-written RMSNorms) export as

    %p = aten.pow.Tensor_Scalar %x, 2
    %s = aten.sum.dim_IntList %p, [-1], keepdim=true     |  %m = aten.mean.dim %p, [-1], keepdim=true
    %m = aten.div.Scalar %s, D                            |
    %a = aten.add.Scalar %m, eps, 1
    %r = aten.rsqrt %a
    %n = aten.mul.Tensor %x, %r
    %y = aten.mul.Tensor %gamma, %n          (optional; gamma of shape [D])

which the outlier passes cannot see as one normalisation (they fold smoothing scales into gamma).
This pass replaces the chain by `qc.rms_norm(x, gamma) {eps}` between torch_c casts; the dead
primitives are erased. Anything that does not match exactly is left alone.

Precondition: torch dialect, value semantics (run before qc-from-torch). Options: none.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir, rewrite
from qcomp.dialects.irutil import count_ops

from .from_torch import _emit, builtin_type, const, erase_dead_torch_ops


def _def(v: ir.Value, name: str):
    """The op defining `v` when it is named `name`, else None."""
    owner = v.owner
    if isinstance(owner, ir.Block):
        return None
    op = owner.operation if isinstance(owner, ir.OpView) else owner
    return op if op.name == name else None


def _const(v: ir.Value, default=None):
    try:
        return const(v)
    except LookupError:
        return default


def _mean_sq_of(v: ir.Value, x_dim: int):
    """x when v = mean(x², last dim, keepdim) in one of the two exported spellings, else None."""
    if div := _def(v, "torch.aten.div.Scalar"):
        total = _def(div.operands[0], "torch.aten.sum.dim_IntList")
        if total is None or _const(div.operands[1]) != x_dim:
            return None
    elif total := _def(v, "torch.aten.mean.dim"):
        pass
    else:
        return None
    dims, keep = _const(total.operands[1]), _const(total.operands[2])
    if dims not in ([-1],) or keep is not True or _const(total.operands[3], "x") is not None:
        return None
    pw = _def(total.operands[0], "torch.aten.pow.Tensor_Scalar")
    if pw is None or _const(pw.operands[1]) not in (2, 2.0):
        return None
    return pw.operands[0]


def _normalized(v: ir.Value):
    """(x, eps) when v = x · rsqrt(mean(x²) + eps), else None."""
    mul = _def(v, "torch.aten.mul.Tensor")
    if mul is None:
        return None
    for x, r in (mul.operands, reversed(list(mul.operands))):
        rs = _def(r, "torch.aten.rsqrt")
        add = _def(rs.operands[0], "torch.aten.add.Scalar") if rs else None
        if add is None or _const(add.operands[2]) != 1:
            continue
        eps = _const(add.operands[1])
        xt = builtin_type(x.type)
        if not isinstance(eps, float) or eps <= 0 or xt is None or not isinstance(xt.element_type, ir.F32Type):
            continue
        src = _mean_sq_of(add.operands[0], xt.shape[-1])
        if src is not None and src == x:
            return x, eps
    return None


def _gamma_of(mul, d: int):
    """(gamma, normalized value) when `mul` = gamma · n with gamma of shape [d]."""
    for g, n in (mul.operands, reversed(list(mul.operands))):
        gt = builtin_type(g.type)
        if gt is not None and list(gt.shape) == [d] and isinstance(gt.element_type, ir.F32Type):
            return g, n
    return None


def _with_gamma(op, rw):
    a, b = op.operands
    for g, n in ((a, b), (b, a)):
        gt = builtin_type(g.type)
        found = _normalized(n) if gt is not None and gt.rank == 1 else None
        if found and list(gt.shape) == [builtin_type(found[0].type).shape[-1]]:
            x, eps = found
            return _emit(op, rw, "qc.rms_norm", [x, g], {"eps": ir.FloatAttr.get_f64(eps)})
    return True


def _without_gamma(op, rw):
    found = _normalized(op.results[0])
    if not found:
        return True
    x, eps = found
    d = builtin_type(x.type).shape[-1]
    for use in op.results[0].uses:  # leave it to _with_gamma when a gamma multiplies the result
        user = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
        if user.name == "torch.aten.mul.Tensor" and _gamma_of(user, d):
            return True
    return _emit(op, rw, "qc.rms_norm", [x, np.ones(d, np.float32)], {"eps": ir.FloatAttr.get_f64(eps)})


@dataclass(frozen=True)
class RaiseNormsPass:
    """Raise decomposed RMSNorm (pow/mean/rsqrt/mul chains) to qc.rms_norm (see module docstring)."""

    name: ClassVar[str] = "qc-raise-norms"

    def run(self, module: ir.Module) -> None:
        if not count_ops(module, "torch.aten.rsqrt"):
            return
        with module.context, ir.Location.unknown():
            ps = rewrite.RewritePatternSet()
            ps.add("torch.aten.mul.Tensor", _with_gamma)
            rewrite.apply_patterns_and_fold_greedily(module, ps.freeze())
            ps = rewrite.RewritePatternSet()
            ps.add("torch.aten.mul.Tensor", _without_gamma)
            rewrite.apply_patterns_and_fold_greedily(module, ps.freeze())
            erase_dead_torch_ops(module)
