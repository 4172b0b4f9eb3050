"""CPU lowering of `qc.qlinear_grouped` (int8 activations, weights with a scale per output channel and group of K).

The op is defined as one qc.qlinear per group of input channels, summed in group order (`reference_grouped`), so
it is lowered that way: a private function per distinct group width (the full groups, and a partial last group
when K is not a multiple of the group) written by qc.qlinear's own lowering (`lower_ops.lower_qlinear`: the int8
GEMM microkernel with its epilogue where N and the width allow, else linalg loops), called on each group's
columns of x and w and its column of ws (the bias in the first call, zeros after), then the running f32 sum of
the groups' results and the activation as elementwise maps. Every step is the reference's operation, so the
result is bit-exact.

The groups' weight slices are arguments of the per-group function, not constants: the kernel packs each one on
every call (a copy of the weight per call, small beside the GEMM for many tokens, not for one).
"""

from .linalg_text import Fn, T, dims
from .lower_ops import ACT, lower_qlinear


def _columns(fn: Fn, src: str, t: T, lo: int, size: int) -> tuple[str, T]:
    """Columns [lo, lo + size) of the last dim of `src` (a no-op for all of them)."""
    if (lo, size) == (0, t.shape[-1]):
        return src, t
    out = T(t.shape[:-1] + (size,), t.elem)
    dyn = iter(fn.sizes(out))
    sizes = [str(d) if d is not None else next(dyn) for d in out.shape]
    offsets = ["0"] * (t.rank - 1) + [str(lo)]
    r = fn.v()
    fn.emit(
        f"{r} = tensor.extract_slice {src}[{', '.join(offsets)}] [{', '.join(sizes)}] [{', '.join(['1'] * t.rank)}] "
        f": {t.s} to {out.s}"
    )
    return r, out


def _scale_column(fn: Fn, ws: T, g: int) -> tuple[str, T]:
    """ws[:, g] as [N] (a rank-reducing slice)."""
    n = ws.shape[0]
    out = T((n,), ws.elem)
    r = fn.v()
    fn.emit(f"{r} = tensor.extract_slice %arg3[0, {g}] [{n}, 1] [1, 1] : {ws.s} to {out.s}")
    return r, out


def _group_fn(fn: Fn, width: int, precision: str | None) -> Fn:
    """The private function computing qc.qlinear on `width` columns (qc.qlinear's lowering, act none)."""
    x, xs, w, _, b = fn.args
    g = Fn(
        f"{fn.name}_w{width}", [T(x.shape[:-1] + (width,), "i8"), xs, T((w.shape[0], width), "i8"), b, b], fn.results
    )
    returns = lower_qlinear(g, {"act": "none", **({"qc.precision": precision} if precision else {})})
    fn.extra.append(g.text(returns))
    return g


def lower_qlinear_grouped(fn: Fn, attrs: dict) -> list[str]:
    x, xs, w, ws, b = fn.args
    group, k = attrs["group"], x.shape[-1]
    yt = fn.results[0]
    full = dims(yt.rank)
    precision = attrs.get("qc.precision")
    fns: dict[int, Fn] = {}
    zeros = None
    y = None
    for g, lo in enumerate(range(0, k, group)):
        width = min(group, k - lo)
        if width not in fns:
            fns[width] = _group_fn(fn, width, precision)
        sub = fns[width]
        xg, _ = _columns(fn, "%arg0", x, lo, width)
        wg, _ = _columns(fn, "%arg2", w, lo, width)
        sg, _ = _scale_column(fn, ws, g)
        if g and zeros is None:
            zeros = fn.fill(b, "0.0")
        operands = [xg, "%arg1", wg, sg, "%arg4" if g == 0 else zeros]
        t = fn.v()
        fn.emit(f"{t} = func.call @{sub.name}({', '.join(operands)}) : ({', '.join(a.s for a in sub.args)}) -> {yt.s}")
        if y is None:
            y = t
        else:
            y = fn.generic(
                yt.rank,
                [(y, yt, full), (t, yt, full)],
                (fn.empty(yt), yt, full),
                ["%s = arith.addf %a0, %a1 : f32"],
                "%s",
            )
    lines, r = ACT[attrs["act"]](None, "%a0")
    if lines:
        y = fn.generic(yt.rank, [(y, yt, full)], (fn.empty(yt), yt, full), lines, r)
    return [y]
