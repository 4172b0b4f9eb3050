"""qcomp.targets: code generators. `get("cpu", **options)` makes a target from its name and options;
`get("npu:scalesim")` is short for `get("npu", preset="scalesim")`. The registry (`TARGETS`: name -> plug-in module
and class) lives in `base.py`, beside the interface, so that passes can make a target by name without importing one.
"""

from .base import TARGETS, Artifact, Capabilities, Cost, Target, get, names, target_passes

__all__ = ["TARGETS", "Artifact", "Capabilities", "Cost", "Target", "get", "names", "target_passes"]
