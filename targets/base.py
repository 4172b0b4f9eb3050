"""The Target interface: what a code generator offers to the rest of qcomp.

A target has a `name`, a validated `Options` dataclass, a declarative `capabilities` record that
passes read (never the target's name), a `cost(op, precision)` model, the `pipeline()` that lowers
qc to its code, and `build(module)` that turns the lowered module into a runnable Artifact.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    """What a target runs natively: qc op names, weight/activation bit widths, and free-form facts."""

    ops: frozenset[str]
    weight_bits: tuple[int, ...]
    activation_bits: tuple[int, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    dynamic_shapes: bool = False  # builds take run-time sizes (`qcomp.compile(dynamic_shapes=...)`)

    def supports(self, op_name: str) -> bool:
        return op_name in self.ops


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

    @abstractmethod
    def pipeline(self) -> str:
        """The pass pipeline (our names and upstream names) that lowers a qc module for this target."""

    @abstractmethod
    def build(self, module) -> Artifact:
        """Turn the module produced by `pipeline()` into a runnable artifact (consumes the module)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"
