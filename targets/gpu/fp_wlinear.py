"""qc.fp_wlinear (fp8 / fp6 / fp4 weights with f32, e8m0 or NVFP4 scales) as a GPU kernel: the codes decoded in
the kernel, f32 FMAs — the CPU build's bits.

y[m, n] = Σ_k x[m, k] · w[n, k] + b[n] with w[n, k] = decode(q[n, k]) · scale[n, k // group]
(`formats.dequantize_weight`: one exact decode, one f32 product); MX and NVFP4 scales arrive as their
1-byte codes (`formats.scale_codes`), decoded once per group (`float_formats.scale_decode_lines`; NVFP4's
tensor scale is a constant of the kernel, so each NVFP4 layer gets its own kernel). The thread layout, the
K walk (group by group, the scale loaded once per group) and the accumulation are `wlinear.WLinearSpec`'s: `rows`
accumulators take `math.fma(x[m, k], w, acc)` in K order from 0.0 and the bias is added last with one
`addf` — the order of the CPU f32 microkernel (`targets/cpu/kernels.py`: per output lane, vector FMAs in
K order from zero, then the bias), so where the CPU build decodes in its GEMM (N a multiple of 16) the
two builds agree bit for bit; the emulation runs this same per-thread code on the CPU.

Decoding a code, two ways (`decode`):
- "bits" (every arch, every element format): `float_formats.decode_lines`, the integer shifts and one
  exact power-of-two multiply the CPU GEMM uses.
- "cvt" (e4m3 / e5m2 on sm_89+): PTX `cvt.rn.f16x2.e4m3x2` / `.e5m2x2` (the intrinsic
  `llvm.nvvm.<elem>x2.to.f16x2.rn`; the code in both bytes, half 0 taken) then `cvt.f32.f16`. Both
  conversions are exact (every e4m3 and e5m2 value is an f16 value), so the result equals "bits" for
  every code but NaN's payload. The emulation of a "cvt" kernel runs "bits" (no fp8 conversion on x86).
  sm_89 needs PTX ISA 8.1 for it (`ptx.features`).

Tensor-core FP8 (`mma.sync...e4m3.e4m3.f32`) would multiply codes and apply scales after the sum, another
rounding than the CPU build's, and its f32 accumulation inside the tensor core is not specified by PTX:
it is not built here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError
from qcomp.targets.common.float_formats import decode_lines, scale_decode_lines

from .kernels import _Body
from .wlinear import WLinearSpec

CVT_ELEMS = ("e4m3", "e5m2")
CVT_ARCHS = ("sm_89", "sm_90", "sm_90a")


def decode_for(elem: str, arch: str) -> str:
    """The decoding an arch gets: "cvt" for fp8 elements on sm_89+, else "bits"."""
    return "cvt" if elem in CVT_ELEMS and arch in CVT_ARCHS else "bits"


@dataclass(frozen=True)
class FpWLinearSpec(WLinearSpec):
    """One qc.fp_wlinear shape: x [m, k] f32, wq [n, stored_k] i8 codes, scale [n, ceil(k/group)] f32, b [n]."""

    elem: str = "e4m3"
    decode: str = "bits"
    scale: str = "f32"  # the scale operand: f32, or 1-byte e8m0 / e4m3 codes
    tensor_scale: float | None = None  # NVFP4's f32 tensor scale (e4m3 codes), a constant of the kernel

    def __post_init__(self):
        if self.elem not in fmt.ELEMS:
            raise QcompError(f"gpu fp_wlinear: element format must be one of {', '.join(fmt.ELEMS)}, got {self.elem!r}")
        if self.bits != fmt.ELEMS[self.elem].bits:
            raise QcompError(f"gpu fp_wlinear: {self.elem} has {fmt.ELEMS[self.elem].bits} bits, got bits={self.bits}")
        if self.decode not in ("bits", "cvt") or (self.decode == "cvt" and self.elem not in CVT_ELEMS):
            raise QcompError(f"gpu fp_wlinear: decode must be 'bits' or 'cvt' (fp8 only), got {self.decode!r}")
        if self.scale not in fmt.SCALES or (self.scale == "e4m3") != (self.tensor_scale is not None):
            raise QcompError(
                f"gpu fp_wlinear: scale must be f32, e8m0 or e4m3 (e4m3 with a tensor_scale), got {self.scale!r}"
            )
        super().__post_init__()

    @property
    def name(self) -> str:
        base = f"fp_wlinear_m{self.m}_n{self.n}_k{self.k}_{self.elem}g{self.group}_{self.decode}"
        if self.scale == "f32":
            return base
        if self.tensor_scale is None:
            return f"{base}_s{self.scale}"
        return f"{base}_s{self.scale}_ts{struct.unpack('<I', struct.pack('<f', self.tensor_scale))[0]:08x}"

    def arg_shapes(self) -> list[tuple[tuple[int, ...], str]]:
        shapes = super().arg_shapes()
        if self.scale != "f32":  # 1-byte scale codes
            shapes[2] = (shapes[2][0], "i8")
        return shapes

    def scale_value(self, b: _Body, s: str, d: int) -> str:
        """A 1-byte scale code decoded as `formats.decode_scales` (e8m0: into f32's exponent field; e4m3:
        decoded, times the tensor scale); f32 scales as loaded."""
        if self.scale == "f32":
            return s
        u = b.op(f"arith.extui {s} : i8 to i32", "sc", d)
        out = b.fresh("sf")
        tag = b.fresh("sd")[1:]
        for line in scale_decode_lines(self.scale, u, out, self.tensor_scale, tag):
            b.emit(line, d)
        return out

    def weight(self, b: _Body, q: str, s: str, d: int) -> str:
        """decode(q) · s: `q` is the stored byte (fp8, fp6) or the nibble sign-extended to i8 (fp4)."""
        u = b.op(f"arith.extui {q} : i8 to i32", "fc", d)
        code = b.op(f"arith.andi {u}, {b.c((1 << self.bits) - 1, 'i32')} : i32", "fc", d)
        if self.decode == "cvt" and getattr(b, "gpu", False):
            v = self._cvt(b, code, d)
        else:
            v = b.fresh("fv")
            tag = b.fresh("fd")[1:]
            for line in decode_lines(self.elem, code, v, tag):
                b.emit(line, d)
        return b.op(f"arith.mulf {v}, {s} : f32", "w", d)

    def _cvt(self, b: _Body, code: str, d: int) -> str:
        """PTX cvt.rn.f16x2.<elem>x2 on the code in both bytes, then f16 -> f32 (both exact)."""
        c16 = b.op(f"arith.trunci {code} : i32 to i16", "fc", d)
        hi = b.op(f"arith.shli {c16}, {b.c(8, 'i16')} : i16", "fc", d)
        pair = b.op(f"arith.ori {c16}, {hi} : i16", "fc", d)
        h2 = b.op(
            f'llvm.call_intrinsic "llvm.nvvm.{self.elem}x2.to.f16x2.rn"({pair}) : (i16) -> vector<2xf16>', "fh", d
        )
        h = b.op(f"vector.extract {h2}[0] : f16 from vector<2xf16>", "fh", d)
        return b.op(f"arith.extf {h} : f16 to f32", "fv", d)
