"""Float number formats (fp8, MX, NVFP4; `qcomp.dialects.formats`) against what a target declares it runs.

A target lists the number formats its compute units take in `Capabilities.facts["formats"]` ("int": integer
codes with scales; "float": the float formats' ops) with a one-line reason; its partitioning pass calls
`refuse_float_formats`, so a float-format model is refused in one line instead of silently running on the host.

`decode_lines` is the code -> f32 decoding (bit manipulation, exact) the CPU GEMM and the GPU kernels share.
"""

import struct

from qcomp.dialects import formats as fmt
from qcomp.errors import QcompError
from qcomp.irutil import ops_named

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


def decode_lines(elem: str, code: str, out: str) -> list[str]:
    """Scalar lines turning an i32 `code` (the format's bits, high bits zero) into its f32 value `out`.

    The exponent and mantissa bits go where f32 keeps its own (a shift), with the sign on top; that f32 is
    the value times 2^(bias - 127) (a normal code gives a normal f32, a subnormal code an f32 subnormal), so
    one exact multiply by 2^(127 - bias) gives the value. NaN and infinity codes are selected apart."""
    f = fmt.ELEMS[elem]
    e, m = f.ebits, f.mbits
    magmask = (1 << (e + m)) - 1
    lines = [
        _ci("%d_ssh", e + m),
        "%d_s0 = arith.shrui " + code + ", %d_ssh : i32",
        _ci("%d_c31", 31),
        "%d_sb = arith.shli %d_s0, %d_c31 : i32",
        _ci("%d_mm", magmask),
        f"%d_mag = arith.andi {code}, %d_mm : i32",
        _ci("%d_sh", 23 - m),
        "%d_fb = arith.shli %d_mag, %d_sh : i32",
        "%d_b = arith.ori %d_fb, %d_sb : i32",
        "%d_t = arith.bitcast %d_b : i32 to f32",
        f"%d_k = arith.constant {_f32(2.0 ** (127 - f.bias))} : f32",
        "%d_v = arith.mulf %d_t, %d_k : f32",
    ]
    if f.nan == "none":
        return [*lines[:-1], f"{out} = arith.mulf %d_t, %d_k : f32"]
    if f.nan == "fn":  # S.1111.111 is NaN
        special = ["%d_isnan = arith.cmpi eq, %d_mag, %d_mm : i32", _ci("%d_spb", _NAN_BITS)]
    else:  # ieee: the top exponent is infinity (M = 0) or NaN; keep the mantissa bits and the sign
        special = [
            _ci("%d_top", ((1 << e) - 1) << m),
            "%d_isnan = arith.cmpi sge, %d_mag, %d_top : i32",
            _ci("%d_inf", _INF_BITS),
            "%d_spb = arith.ori %d_inf, %d_b : i32",
        ]
    return [
        *lines,
        *special,
        "%d_spf = arith.bitcast %d_spb : i32 to f32",
        f"{out} = arith.select %d_isnan, %d_spf, %d_v : f32",
    ]
