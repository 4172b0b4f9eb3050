"""Float number formats (fp8, MX, NVFP4; `qcomp.dialects.formats`) against what a target declares it runs.

A target lists the number formats its compute units take in `Capabilities.facts["formats"]` ("int": integer
codes with scales; "float": the float formats' ops) with a one-line reason; its partitioning pass calls
`refuse_float_formats`, so a float-format model is refused in one line instead of silently running on the host.

`decode_lines` is the code -> f32 decoding (bit manipulation, exact) the CPU GEMM and the GPU kernels share.
"""

import struct

from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named

FLOAT_FORMAT_OPS = ("qc.fp_wlinear", "qc.fp_fake_quant", "qc.fp_fake_quant_static")


def refuse_float_formats(module, target: str, formats: tuple[str, ...], reason: str) -> None:
    """QcompError at the first float-format op when `formats` lacks "float"."""
    if "float" in formats:
        return
    for op in ops_named(module, *FLOAT_FORMAT_OPS):
        what = op.attributes["format"].value if "format" in op.attributes else op.name
        raise QcompError(
            f"the {target} target does not run float number formats ({what} in '{op.name}' at {op.location}): "
            f"{reason} (capabilities: formats {', '.join(formats)})"
        )


# ----------------------------------------------------------------------------- decoding codes in MLIR text
_NAN_BITS, _INF_BITS = 0x7FC00000, 0x7F800000  # f32 bits: NaN, +inf


def _ci(name: str, v: int) -> str:
    return f"{name} = arith.constant {v} : i32"


def _f32(x: float) -> str:
    """An exact f32 literal (hex bit pattern)."""
    return f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08X}"


def decode_lines(elem: str, code: str, out: str, tag: str = "d") -> list[str]:
    """Scalar lines turning an i32 `code` (the format's bits, high bits zero) into its f32 value `out`
    (local names `%<tag>_*`).

    The exponent and mantissa bits go where f32 keeps its own (a shift), with the sign on top; that f32 is
    the value times 2^(bias - 127) (a normal code gives a normal f32, a subnormal code an f32 subnormal), so
    one exact multiply by 2^(127 - bias) gives the value. NaN and infinity codes are selected apart."""
    f = fmt.ELEMS[elem]
    e, m = f.ebits, f.mbits
    magmask = (1 << (e + m)) - 1
    lines = [
        _ci(f"%{tag}_ssh", e + m),
        f"%{tag}_s0 = arith.shrui {code}, %{tag}_ssh : i32",
        _ci(f"%{tag}_c31", 31),
        f"%{tag}_sb = arith.shli %{tag}_s0, %{tag}_c31 : i32",
        _ci(f"%{tag}_mm", magmask),
        f"%{tag}_mag = arith.andi {code}, %{tag}_mm : i32",
        _ci(f"%{tag}_sh", 23 - m),
        f"%{tag}_fb = arith.shli %{tag}_mag, %{tag}_sh : i32",
        f"%{tag}_b = arith.ori %{tag}_fb, %{tag}_sb : i32",
        f"%{tag}_t = arith.bitcast %{tag}_b : i32 to f32",
        f"%{tag}_k = arith.constant {_f32(2.0 ** (127 - f.bias))} : f32",
        f"%{tag}_v = arith.mulf %{tag}_t, %{tag}_k : f32",
    ]
    if f.nan == "none":
        return [*lines[:-1], f"{out} = arith.mulf %{tag}_t, %{tag}_k : f32"]
    if f.nan == "fn":  # S.1111.111 is NaN
        special = [f"%{tag}_isnan = arith.cmpi eq, %{tag}_mag, %{tag}_mm : i32", _ci(f"%{tag}_spb", _NAN_BITS)]
    else:  # ieee: the top exponent is infinity (M = 0) or NaN; keep the mantissa bits and the sign
        special = [
            _ci(f"%{tag}_top", ((1 << e) - 1) << m),
            f"%{tag}_isnan = arith.cmpi sge, %{tag}_mag, %{tag}_top : i32",
            _ci(f"%{tag}_inf", _INF_BITS),
            f"%{tag}_spb = arith.ori %{tag}_inf, %{tag}_b : i32",
        ]
    return [
        *lines,
        *special,
        f"%{tag}_spf = arith.bitcast %{tag}_spb : i32 to f32",
        f"{out} = arith.select %{tag}_isnan, %{tag}_spf, %{tag}_v : f32",
    ]


_SUB127 = 0x00400000  # f32 bits of 2^-127 (a subnormal)


def scale_decode_lines(scale: str, code: str, out: str, tensor_scale: float | None, tag: str = "sd") -> list[str]:
    """Scalar lines turning an i32 1-byte scale `code` into its f32 scale `out` (`formats.decode_scales`):
    e8m0: the code shifted into f32's exponent field (2^(c - 127); code 0 is the subnormal 2^-127, 0xFF NaN);
    e4m3: `decode_lines` times the f32 tensor scale (one mulf)."""
    t = f"%{tag}_"
    if scale == "e4m3":
        return [
            *decode_lines("e4m3", code, f"{t}v", tag + "e"),
            f"{t}ts = arith.constant {_f32(tensor_scale)} : f32",
            f"{out} = arith.mulf {t}v, {t}ts : f32",
        ]
    return [
        _ci(f"{t}c23", 23),
        f"{t}nb = arith.shli {code}, {t}c23 : i32",
        _ci(f"{t}z", 0),
        f"{t}is0 = arith.cmpi eq, {code}, {t}z : i32",
        _ci(f"{t}sub", _SUB127),
        f"{t}b0 = arith.select {t}is0, {t}sub, {t}nb : i32",
        _ci(f"{t}ff", 255),
        f"{t}isn = arith.cmpi eq, {code}, {t}ff : i32",
        _ci(f"{t}nan", _NAN_BITS),
        f"{t}b = arith.select {t}isn, {t}nan, {t}b0 : i32",
        f"{out} = arith.bitcast {t}b : i32 to f32",
    ]
