"""qcomp.targets: code generators. `get("cpu", **options)` makes a target from its name and options;
`get("npu:scalesim")` is short for `get("npu", preset="scalesim")`."""

import importlib

from qcomp.dialects.errors import QcompError

from .base import Artifact, Capabilities, Cost, Target

# name -> (module, class); each target is a plug-in in its own folder, imported on first use
TARGETS = {
    "cpu": ("qcomp.targets.cpu", "CpuTarget"),
    "npu": ("qcomp.targets.npu.target", "NpuTarget"),
    "cim": ("qcomp.targets.cim", "CimTarget"),
    "gpu": ("qcomp.targets.gpu", "GpuTarget"),
}


def _registry() -> dict[str, type]:
    return {name: getattr(importlib.import_module(mod), cls) for name, (mod, cls) in TARGETS.items()}


def names() -> list[str]:
    return sorted(_registry())


def get(name: str, **options) -> Target:
    """The target called `name` with `options` (validated by the target's Options dataclass)."""
    if isinstance(name, Target):
        return name
    if ":" in name:
        name, preset = name.split(":", 1)
        if "preset" in options:
            raise QcompError(f"target {name}: preset given twice ({preset!r} and {options['preset']!r})")
        options = {**options, "preset": preset}
    cls = _registry().get(name)
    if cls is None:
        raise QcompError(f"unknown target {name!r} (known: {', '.join(names())})")
    try:
        opts = cls.Options(**options)
    except TypeError as e:
        raise QcompError(f"target {name}: {e}") from e
    return cls(opts)


def target_passes() -> dict[str, type]:
    """Lowering passes the targets register under their pipeline names."""
    passes: dict[str, type] = {}
    for cls in _registry().values():
        passes.update({p.name: p for p in cls.passes})
    return passes


__all__ = ["Artifact", "Capabilities", "Cost", "Target", "get", "names", "target_passes"]
