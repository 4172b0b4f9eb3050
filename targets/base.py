"""The Target interface: what a code generator offers to the rest of qcomp.

A target has a `name`, a validated `Options` dataclass, a declarative `capabilities` record that
passes read (never the target's name), a `cost(op, precision)` model, the `pipeline()` that lowers
qc to its code (as named `stages()`), and `build(module)` that turns the lowered module into a runnable Artifact.
"""

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qcomp.dialects.errors import QcompError

# The fused forms qc-fuse can make (passes/fuse.py), by its option names: `act` an activation in a GEMM's epilogue,
# `gate` a SiLU-gated MLP's product in the up projection's epilogue, `norm` a norm and its per-token quantization as
# one op, `mask` attention's mask and softmax as one qc.masked_softmax; `dedupe` and `roundtrip` drop repeated and
# round-trip quantizations (rewrites of the qc graph that need no kernel).
FUSED_FORMS = ("dedupe", "act", "gate", "norm", "mask", "roundtrip")


@dataclass(frozen=True)
class Capabilities:
    """What a target runs natively: qc op names, weight/activation bit widths, the fused forms of `FUSED_FORMS` it
    runs (qc-fuse makes only those for it), and free-form facts."""

    ops: frozenset[str]
    weight_bits: tuple[int, ...]
    activation_bits: tuple[int, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    dynamic_shapes: bool = False  # builds take run-time sizes (`qcomp.compile(dynamic_shapes=...)`)
    fused: frozenset[str] = frozenset(FUSED_FORMS)

    def __post_init__(self):
        unknown = set(self.fused) - set(FUSED_FORMS)
        if unknown:
            raise ValueError(f"Capabilities.fused: unknown fused forms {sorted(unknown)} (known: {FUSED_FORMS})")

    def supports(self, op_name: str) -> bool:
        return op_name in self.ops

    def fuse_step(self) -> str:
        """The qc-fuse step of a pipeline that makes exactly the forms this target runs ("" when none)."""
        if not self.fused:
            return ""
        off = [f"{f}=false" for f in FUSED_FORMS if f not in self.fused]
        return "qc-fuse" + (f"{{{','.join(off)}}}" if off else "")


@dataclass(frozen=True)
class Cost:
    """Estimated cost of one op at one precision (fields a target does not model stay None)."""

    weight_bytes: int = 0
    latency_s: float | None = None
    energy_j: float | None = None


class Artifact(ABC):
    """A built program: runnable on numpy arrays, savable to a directory."""

    @abstractmethod
    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]: ...

    @abstractmethod
    def save(self, directory: str) -> list[str]:
        """Write the target artifacts into `directory`; return the file names written."""

    @property
    def report(self) -> dict[str, Any]:
        """What the target measured or estimated (cycles, energy, per-layer rows …); merged into
        `CompiledModel.report["target"]` next to the target's name. Refreshed by each call for simulators."""
        return {}


class Target(ABC):
    name: str = ""
    Options: Any = None  # the frozen options dataclass `get(name, **options)` validates options with
    passes: tuple[Any, ...] = ()  # its own lowering passes, registered by their pipeline names

    def __init__(self, options):
        self.options = options

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    def cost(self, op, precision: str) -> Cost: ...

    def estimate_latency(self, module, precision_of=None) -> float | None:
        """Estimated seconds of one call of a qc-level module (float layers priced at `precision_of(op)` where
        that gives a precision), or None when the target has no latency model."""
        return None

    def pipeline(self) -> str:
        """The pass pipeline (our names and upstream names) that lowers a qc module for this target: its stages,
        joined. A target overrides `stages()` (or, with one unnamed stage, this)."""
        if type(self).stages is Target.stages:
            raise NotImplementedError(f"{type(self).__name__} defines neither stages() nor pipeline()")
        return ",".join(text for _, text in self.stages() if text)

    def stages(self) -> list[tuple[str, str]]:
        """The pipeline as named stages, (name, pipeline text) in order (as Triton's `add_stages`): qcomp.compile
        keeps the IR after each one and `CompiledModel.save` writes it. Default: the whole pipeline as "lower"."""
        if type(self).pipeline is Target.pipeline:
            raise NotImplementedError(f"{type(self).__name__} defines neither stages() nor pipeline()")
        return [("lower", self.pipeline())]

    def build_host(self, module, runtime: dict[str, Any]) -> Any:
        """A host target (the CPU) compiles an accelerator build's host part: @main with its offloaded calls bound
        to the Python callables of `runtime` (symbol -> ctypes function), callable on numpy arrays."""
        raise NotImplementedError(f"target {self.name} does not run host code")

    @abstractmethod
    def build(self, module) -> Artifact:
        """Turn the module produced by `pipeline()` into a runnable artifact (consumes the module)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"


# ----------------------------------------------------------------------------- the registry of plug-ins
# name -> (module, class): each target is a plug-in in its own folder, declared here by name and imported on first
# use (as a package's entry points are), so that what knows this interface can make any target by name (the passes,
# through `PassContext.get_target`) without importing one.
TARGETS = {
    "cpu": ("qcomp.targets.cpu", "CpuTarget"),
    "npu": ("qcomp.targets.npu.target", "NpuTarget"),
    "cim": ("qcomp.targets.cim", "CimTarget"),
    "gpu": ("qcomp.targets.gpu", "GpuTarget"),
}


def _registry() -> dict[str, type[Target]]:
    return {name: getattr(importlib.import_module(mod), cls) for name, (mod, cls) in TARGETS.items()}


def names() -> list[str]:
    return sorted(_registry())


def get(name: "str | Target", **options) -> Target:
    """The target called `name` with `options` (validated by the target's Options dataclass);
    `get("npu:scalesim")` is short for `get("npu", preset="scalesim")`."""
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


def target_passes() -> dict[str, Any]:
    """Lowering passes the targets register under their pipeline names."""
    passes: dict[str, Any] = {}
    for cls in _registry().values():
        passes.update({p.name: p for p in cls.passes})
    return passes
