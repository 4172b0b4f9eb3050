"""Pass registry: pipeline name -> pass class (our passes; upstream MLIR passes are found by PassManager).

The targets' lowering passes join these in `qcomp.pipeline.all_passes`, above both."""

from .assign_precision import AssignPrecisionPass
from .awq import AwqPass
from .from_torch import FromTorchPass
from .fuse import FusePass
from .gptq import GptqPass
from .keep_last import KeepLastPass
from .quantize import QuantizePass
from .quantize_float import QuantizeFloatPass
from .raise_norms import RaiseNormsPass
from .reorder_channels import ReorderChannelsPass
from .rotate import RotatePass
from .smooth import SmoothPass
from .split_outliers import SplitOutliersPass

PASSES: dict[str, type] = {
    cls.name: cls
    for cls in (
        AssignPrecisionPass,
        AwqPass,
        FromTorchPass,
        FusePass,
        GptqPass,
        KeepLastPass,
        QuantizePass,
        QuantizeFloatPass,
        RaiseNormsPass,
        ReorderChannelsPass,
        RotatePass,
        SmoothPass,
        SplitOutliersPass,
    )
}
