"""CPU lowering of `qc.qlinear_grouped` (int8 activations, weights with a scale per output channel and group of K).

Written to follow `reference_grouped` operation by operation, so the result is bit-exact:

1. the i32 accumulators of the full groups, acc [..., N, K // group], one reduction over each group's columns
   (x and w sliced to their full groups and viewed as [..., K // group, group]), and of a partial last group,
   acc_t [..., N], when K is not a multiple of the group (integer sums: exact in any order);
2. s = 0; s = s + f32(acc[..., n, g]) · ws[n, g] for g in order: a scalar reduction over g (kept out of the
   16-lane vector loops, whose float reductions sum in another order), then the partial group's term;
3. y = act(s · xs + b), an elementwise map (vectorized where `vector_map` applies: the same operations per
   element).

The accumulation runs as scalar linalg loops (no GEMM microkernel yet): correct on every shape, dynamic
leading dims included, and slower than qc.qlinear's kernels.
"""

from contextlib import contextmanager

from .linalg_text import Fn, T, dims
from .lower_ops import ACT

_IMAC = [
    "%x = arith.extsi %a0 : i8 to i32",
    "%w = arith.extsi %a1 : i8 to i32",
    "%p = arith.muli %x, %w : i32",
    "%s = arith.addi %o, %p : i32",
]
_TAIL_TERM = ["%f = arith.sitofp %a1 : i32 to f32", "%p = arith.mulf %f, %a2 : f32", "%s = arith.addf %a0, %p : f32"]
_SCALED_SUM = ["%f = arith.sitofp %a0 : i32 to f32", "%p = arith.mulf %f, %a1 : f32", "%s = arith.addf %o, %p : f32"]


@contextmanager
def _scalar(fn: Fn):
    """Generics written meanwhile stay plain linalg loops (their float reduction order is the reference's)."""
    saved = fn.vectorize
    fn.vectorize = False
    try:
        yield
    finally:
        fn.vectorize = saved


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


def _grouped(fn: Fn, src: str, t: T, full: int, group: int) -> tuple[str, T]:
    """The first full · group columns of `src` as [..., full, group]."""
    v, vt = _columns(fn, src, t, 0, full * group)
    out = T(t.shape[:-1] + (full, group), t.elem)
    dyn = iter(fn.sizes(out))
    sizes = ", ".join(str(d) if d is not None else next(dyn) for d in out.shape)
    reassoc = [[i] for i in range(t.rank - 1)] + [[t.rank - 1, t.rank]]
    r = fn.v()
    fn.emit(f"{r} = tensor.expand_shape {v} {reassoc} output_shape [{sizes}] : {vt.s} into {out.s}")
    return r, out


def lower_qlinear_grouped(fn: Fn, attrs: dict) -> list[str]:
    x, xs, w, ws, b = fn.args
    group = attrs["group"]
    r = x.rank
    lead = dims(r - 1)
    n_, (n, k) = f"d{r - 1}", w.shape
    full, tail = k // group, k % group
    yt = T(x.shape[:-1] + (n,), "f32")
    s = fn.fill(yt, "0.0")
    with _scalar(fn):
        if full:  # loops (lead, n, g, j) over x3 [..., G, group] and w3 [N, G, group]
            at = T(x.shape[:-1] + (n, full), "i32")
            g_, j_ = f"d{r}", f"d{r + 1}"
            acc = fn.generic(
                r + 2,
                [
                    (*_grouped(fn, "%arg0", x, full, group), [*lead, g_, j_]),
                    (*_grouped(fn, "%arg2", w, full, group), [n_, g_, j_]),
                ],
                (fn.fill(at, "0"), at, [*lead, n_, f"d{r}"]),
                _IMAC,
                "%s",
                reduce_last=True,
            )
            s = fn.generic(
                r + 1,
                [(acc, at, [*lead, n_, f"d{r}"]), (*_columns(fn, "%arg3", ws, 0, full), [n_, f"d{r}"])],
                (s, yt, [*lead, n_]),
                _SCALED_SUM,
                "%s",
                reduce_last=True,
            )
        if tail:  # the partial last group: loops (lead, n, j) over its columns of x and w
            act = yt.with_elem("i32")
            j_ = f"d{r}"
            acc_t = fn.generic(
                r + 1,
                [
                    (*_columns(fn, "%arg0", x, full * group, tail), [*lead, j_]),
                    (*_columns(fn, "%arg2", w, full * group, tail), [n_, j_]),
                ],
                (fn.fill(act, "0"), act, [*lead, n_]),
                _IMAC,
                "%s",
                reduce_last=True,
            )
            s = fn.generic(
                r,
                [(s, yt, [*lead, n_]), (acc_t, act, [*lead, n_]), ("%arg3", ws, [n_, str(full)])],
                (fn.empty(yt), yt, [*lead, n_]),
                [
                    "%f = arith.sitofp %a1 : i32 to f32",
                    "%p = arith.mulf %f, %a2 : f32",
                    "%s = arith.addf %a0, %p : f32",
                ],
                "%s",
            )
    lines, y = ACT[attrs["act"]](None, "%v")
    xs_e = ["0"] if xs.shape == (1,) else [*lead, "0"]
    out = fn.generic(
        r,
        [(s, yt, [*lead, n_]), ("%arg1", xs, xs_e), ("%arg4", b, [n_])],
        (fn.empty(yt), yt, [*lead, n_]),
        ["%u = arith.mulf %a0, %a1 : f32", "%v = arith.addf %u, %a2 : f32", *lines],
        y,
    )
    return [out]
