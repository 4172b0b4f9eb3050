"""Pass registry: pipeline name -> pass class (our passes; upstream MLIR passes are found by PassManager)."""

from .from_torch import FromTorchPass
from .quantize import QuantizePass
from .raise_norms import RaiseNormsPass

PASSES: dict[str, type] = {cls.name: cls for cls in (FromTorchPass, QuantizePass, RaiseNormsPass)}


def all_passes() -> dict[str, type]:
    """Our passes plus the lowering passes the targets register."""
    from qcomp.targets import target_passes

    return {**PASSES, **target_passes()}
