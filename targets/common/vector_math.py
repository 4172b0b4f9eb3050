"""exp, erf and tanh on vectors as MLIR arith text (the wheel's LLVM turns `math.exp` on a vector into one
libm call per lane, and `math.erf` / `math.tanh` into libm calls always).

- exp: Cephes' expf: n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in two), e^r by a degree-5 polynomial,
  times 2^n built in the exponent bits; x is clamped to [−87.34, 88] and x below −87.34 gives 0.
  Max relative error 8.1e-8 (measured over [−87.3, 88] against float64).
- erf: the rational approximation of Eigen / XLA (odd degree-13 over even degree-8 polynomial on x clamped
  to [−4, 4]). Max absolute error 4.4e-7.
- tanh: x − x³/3 for |x| < 0.01, else sign(x)·(1 − 2 / (e^{2|x|} + 1)).

Each function takes the operand's SSA name, a unique prefix and the vector type, and returns (lines, result).
"""

from .linalg_text import f32

_EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
_ERF_NUM = (
    -2.72614225801306e-10,
    2.77068142495902e-08,
    -2.10102402082508e-06,
    -5.69250639462346e-05,
    -7.34990630326855e-04,
    -2.95459980854025e-03,
    -1.60960333262415e-02,
)
_ERF_DEN = (
    -1.45660718464996e-05,
    -2.13374055278905e-04,
    -1.68282697438203e-03,
    -7.37332916720468e-03,
    -1.42647390514189e-02,
)


class _Lines:
    def __init__(self, p: str, vt: str):
        self.p, self.vt, self.lines = p, vt, []
        self.it = vt.replace("f32", "i32")

    def const(self, name: str, value: float) -> str:
        return self.raw(name, f"arith.constant dense<{f32(value)}> : {self.vt}")

    def raw(self, name: str, text: str) -> str:
        r = f"%{self.p}_{name}"
        self.lines.append(f"{r} = {text}")
        return r

    def op(self, name: str, op: str, *args: str) -> str:
        return self.raw(name, f"{op} {', '.join(args)} : {self.vt}")

    def poly(self, name: str, x: str, coeffs: tuple[float, ...]) -> str:
        """Horner: ((c0·x + c1)·x + c2)…"""
        acc = self.const(f"{name}0", coeffs[0])
        for i, c in enumerate(coeffs[1:], 1):
            acc = self.op(f"{name}{i}", "math.fma", acc, x, self.const(f"{name}c{i}", c))
        return acc


def exp(x: str, p: str, vt: str) -> tuple[list[str], str]:
    b = _Lines(p, vt)
    lo, hi = b.const("lo", -87.33654), b.const("hi", 88.0)
    xc = b.op("xc", "arith.minimumf", b.op("xl", "arith.maximumf", x, lo), hi)
    n = b.op("n", "math.roundeven", b.op("xl2", "arith.mulf", xc, b.const("log2e", 1.44269504088896341)))
    r1 = b.op("r1", "arith.subf", xc, b.op("nc1", "arith.mulf", n, b.const("c1", 0.693359375)))
    r = b.op("r", "arith.subf", r1, b.op("nc2", "arith.mulf", n, b.const("c2", -2.12194440e-4)))
    pr = b.poly("p", r, _EXP_P)
    y = b.op("y1", "math.fma", pr, b.op("rr", "arith.mulf", r, r), r)
    y = b.op("y", "arith.addf", y, b.const("one", 1.0))
    ni = b.raw("ni", f"arith.fptosi {n} : {vt} to {b.it}")
    bias = b.raw("bias", f"arith.constant dense<127> : {b.it}")
    sh = b.raw("sh", f"arith.constant dense<23> : {b.it}")
    bits = b.raw("bits", f"arith.shli {b.raw('nb', f'arith.addi {ni}, {bias} : {b.it}')}, {sh} : {b.it}")
    scale = b.raw("pow", f"vector.bitcast {bits} : {b.it} to {vt}")
    e = b.op("e", "arith.mulf", y, scale)
    small = b.raw("small", f"arith.cmpf olt, {x}, {lo} : {vt}")
    zero = b.const("zero", 0.0)
    res = b.raw("res", f"arith.select {small}, {zero}, {e} : {vt.replace('f32', 'i1')}, {vt}")
    return b.lines, res


def erf(x: str, p: str, vt: str) -> tuple[list[str], str]:
    b = _Lines(p, vt)
    xc = b.op("xc", "arith.minimumf", b.op("xl", "arith.maximumf", x, b.const("lo", -4.0)), b.const("hi", 4.0))
    x2 = b.op("x2", "arith.mulf", xc, xc)
    num = b.op("num", "arith.mulf", b.poly("a", x2, _ERF_NUM), xc)
    den = b.poly("b", x2, _ERF_DEN)
    return b.lines, b.op("res", "arith.divf", num, den)


def tanh(x: str, p: str, vt: str) -> tuple[list[str], str]:
    b = _Lines(p, vt)
    ax = b.op("ax", "math.absf", x)
    two = b.const("two", 2.0)
    lines, e = exp(b.op("x2", "arith.mulf", ax, two), f"{p}_e", vt)
    b.lines += lines
    one = b.const("one", 1.0)
    t = b.op("t", "arith.subf", one, b.op("q", "arith.divf", two, b.op("d", "arith.addf", e, one)))
    st = b.op("st", "math.copysign", t, x)
    x3 = b.op("x3", "arith.mulf", b.op("xx", "arith.mulf", x, x), x)
    series = b.op("ser", "arith.subf", x, b.op("x3d", "arith.mulf", x3, b.const("third", 1 / 3)))
    small = b.raw("small", f"arith.cmpf olt, {ax}, {b.const('cut', 0.01)} : {vt}")
    return b.lines, b.raw("res", f"arith.select {small}, {series}, {st} : {vt.replace('f32', 'i1')}, {vt}")


FUNCTIONS = {"math.exp": exp, "math.erf": erf, "math.tanh": tanh}
