"""One value type for a layer's precision, the text `qc.precision`, recipes and cost models use.

    fp32                       a float layer
    w<W>a<A>[g<G>]             integer weights of W bits (2..8); activations of A bits (2..8, or 16: float,
                               weight-only); G weights per scale along the input channels (g0 or none:
                               one scale per output channel; printed as none)
    <format>-w<W>a<A>[g<G>]    weights (and activations) in a number format of `dialects/formats.py`, e.g.
                               fp8-w8a8, nvfp4-w4a16, mxfp4/fp8-w4a8 (weight format / activation format)

`Precision.parse(text)` reads any of them and `str(p)` prints them back (`parse(str(p)) == p`). It checks the
grammar and the ranges above; what a consumer supports beyond that (a CPU kernel's widths, a candidate list's
rule that only weight-only precisions carry a group) it checks itself, with its own message.

Extending it (a zero point, a scale format): add a field with a default that prints as nothing, a suffix to
`_GRAMMAR` and to `__str__`; texts written before keep their meaning.
"""

import re
from dataclasses import dataclass

from qcomp.dialects.errors import QcompError

FLOAT_BITS = 32  # wbits / abits of a float layer
WEIGHT_ONLY = 16  # abits of a weight-only layer (float activations)
_GRAMMAR = re.compile(r"(?:(?P<format>[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)?)-)?w(?P<w>\d+)a(?P<a>\d+)(?:g(?P<g>\d+))?")


@dataclass(frozen=True)
class Precision:
    """A layer's precision (see the module docstring); `FP32` is the float one."""

    wbits: int  # 32: float
    abits: int  # 32: float, 16: weight-only (float activations), else integer bits
    group: int = 0  # weights per scale along K; 0: one per output channel (or not given)
    format: str = ""  # number format of dialects/formats.py ("fp8", "nvfp4", "mxfp4/fp8"); "": integers

    @classmethod
    def parse(cls, text: str, where: str = "precision") -> "Precision":
        """The precision `text` names; a one-line QcompError starting with `where` when it names none."""
        if text == "fp32":
            return FP32
        m = _GRAMMAR.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise QcompError(f"{where}: {text!r} is not a precision ('fp32' or [<format>-]w<bits>a<bits>[g<group>])")
        w, a, g = int(m["w"]), int(m["a"]), int(m["g"] or 0)
        if not 2 <= w <= 8 or not (2 <= a <= 8 or a == WEIGHT_ONLY):
            raise QcompError(f"{where}: {text!r}: weight bits must be 2..8 and activation bits 2..8 or 16")
        return cls(w, a, g, m["format"] or "")

    @classmethod
    def try_parse(cls, text: str) -> "Precision | None":
        """The precision `text` names, or None."""
        try:
            return cls.parse(text)
        except QcompError:
            return None

    @property
    def is_float(self) -> bool:
        return self.wbits == FLOAT_BITS

    @property
    def weight_only(self) -> bool:
        return self.abits == WEIGHT_ONLY

    @property
    def is_integer(self) -> bool:
        """Integer weights (no number format), e.g. what a crossbar or an int8 systolic array stores."""
        return not self.is_float and not self.format

    def __str__(self) -> str:
        if self.is_float:
            return "fp32"
        text = f"w{self.wbits}a{self.abits}" + (f"g{self.group}" if self.group else "")
        return f"{self.format}-{text}" if self.format else text


FP32 = Precision(FLOAT_BITS, FLOAT_BITS)
