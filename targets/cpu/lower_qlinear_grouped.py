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

`qc.qlinear_grouped_asym` (zero points) is the same sum over the signed weights q - z: its lowering writes them
as i8 (i8(i32(q) - i32(z[n, k floordiv group])), exact for codes of <= 7 bits, where |q - z| <= 127) with one
elementwise map, then lowers exactly as qc.qlinear_grouped on that weight; wider codes are refused.
"""

from qcomp.dialects.errors import QcompError

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


def _scale_column(fn: Fn, src: str, ws: T, g: int) -> tuple[str, T]:
    """ws[:, g] as [N] (a rank-reducing slice)."""
    n = ws.shape[0]
    out = T((n,), ws.elem)
    r = fn.v()
    fn.emit(f"{r} = tensor.extract_slice {src}[0, {g}] [{n}, 1] [1, 1] : {ws.s} to {out.s}")
    return r, out


def _group_fn(fn: Fn, width: int, precision: str | None, x: T, xs: T, w: T, b: T) -> Fn:
    """The private function computing qc.qlinear on `width` columns (qc.qlinear's lowering, act none)."""
    g = Fn(
        f"{fn.name}_w{width}", [T(x.shape[:-1] + (width,), "i8"), xs, T((w.shape[0], width), "i8"), b, b], fn.results
    )
    returns = lower_qlinear(g, {"act": "none", **({"qc.precision": precision} if precision else {})})
    fn.extra.append(g.text(returns))
    return g


def lower_qlinear_grouped(fn: Fn, attrs: dict) -> list[str]:
    x, xs, w, ws, b = fn.args
    return _grouped(fn, attrs, ("%arg0", x), ("%arg1", xs), ("%arg2", w), ("%arg3", ws), ("%arg4", b))


def lower_qlinear_grouped_asym(fn: Fn, attrs: dict) -> list[str]:
    """qc.qlinear_grouped_asym: the signed weights q - z as i8 (one map), then qc.qlinear_grouped's lowering."""
    x, xs, wq, ws, zp, b = fn.args
    if attrs["bits"] > 7:
        raise QcompError(
            f"the CPU target lowers qc.qlinear_grouped_asym with codes of at most 7 bits (q - z in i8), "
            f"got bits={attrs['bits']}"
        )
    body = [
        "%q = arith.extui %a0 : i8 to i32",
        "%z = arith.extui %a1 : i8 to i32",
        "%d = arith.subi %q, %z : i32",
        "%s = arith.trunci %d : i32 to i8",
    ]
    ins = [("%arg2", wq, ["d0", "d1"]), ("%arg4", zp, ["d0", f"d1 floordiv {attrs['group']}"])]
    w = fn.generic(2, ins, (fn.empty(wq), wq, ["d0", "d1"]), body, "%s")
    return _grouped(fn, attrs, ("%arg0", x), ("%arg1", xs), (w, wq), ("%arg3", ws), ("%arg5", b))


def _grouped(fn: Fn, attrs: dict, xa, xsa, wa, wsa, ba) -> list[str]:
    """The group sum of `lower_qlinear_grouped` on (SSA name, type) operands x, xs, w (i8 [N, K]), ws and b."""
    (x_src, x), (xs_src, xs), (w_src, w), (ws_src, ws), (b_src, b) = xa, xsa, wa, wsa, ba
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
            fns[width] = _group_fn(fn, width, precision, x, xs, w, b)
        sub = fns[width]
        xg, _ = _columns(fn, x_src, x, lo, width)
        wg, _ = _columns(fn, w_src, w, lo, width)
        sg, _ = _scale_column(fn, ws_src, ws, g)
        if g and zeros is None:
            zeros = fn.fill(b, "0.0")
        operands = [xg, xs_src, wg, sg, b_src if g == 0 else zeros]
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
