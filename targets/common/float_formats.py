"""Float number formats (fp8, MX, NVFP4; `qcomp.dialects.formats`) against what a target declares it runs.

A target lists the number formats its compute units take in `Capabilities.facts["formats"]` ("int": integer
codes with scales; "float": the float formats' ops) with a one-line reason; its partitioning pass calls
`refuse_float_formats`, so a float-format model is refused in one line instead of silently running on the host.
"""

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
