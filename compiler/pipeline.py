"""Pipeline strings: our passes (with options) mixed with upstream MLIR passes, run with every registered pass.

    qc-quantize{wbits=8,abits=8},canonicalize,func.func(cse),qc-lower-to-linalg

MLIR cannot find Python passes by name, so the runner splits the string at top-level commas, runs
each of our passes itself and hands each run of consecutive upstream passes to `PassManager.parse`.
It can print the IR after every pass and times every pass. Passes whose `run` takes a second argument get the
run's `PassContext` (`ctx.target`: the Target object being compiled for; see `qcomp.passes.context`).

The runner's core (`qcomp.dialects.pass_pipeline`) takes its registry as an argument; this module, above the
passes and the targets, assembles the registry (`all_passes`: passes/registry.py plus each target's lowering
passes).
"""

import dataclasses
from typing import Any

from qcomp import targets
from qcomp.dialects._mlir import ir
from qcomp.dialects.pass_pipeline import PassTiming as PassTiming
from qcomp.dialects.pass_pipeline import Pipeline as _Pipeline
from qcomp.dialects.pass_pipeline import make_pass as make_pass
from qcomp.dialects.pass_pipeline import pass_spec as pass_spec
from qcomp.dialects.pass_pipeline import split_top_level as split_top_level
from qcomp.passes.context import PassContext
from qcomp.passes.registry import PASSES


def all_passes() -> dict[str, Any]:
    """Our passes plus the lowering passes the targets register."""
    return {**PASSES, **targets.target_passes()}


@dataclasses.dataclass
class Pipeline(_Pipeline):
    """A parsed pipeline whose passes come from every registered pass (`all_passes`)."""

    @classmethod
    def parse(cls, text: str, registry: dict[str, Any] | None = None) -> "Pipeline":
        return super().parse(text, all_passes() if registry is None else registry)  # type: ignore[return-value]

    def run(self, module: ir.Module, print_after_all: bool = False, printer=None, ctx: Any = None) -> None:
        """Run every step on `module`; our passes that take a context get `ctx` (default: no target)."""
        super().run(module, print_after_all=print_after_all, printer=printer, ctx=ctx or PassContext())


def run_pipeline(
    module: ir.Module, text: str, print_after_all: bool = False, ctx: PassContext | None = None
) -> Pipeline:
    """Parse and run `text` on `module` (passes get `ctx`); returns the pipeline with its timings."""
    p = Pipeline.parse(text)
    p.run(module, print_after_all=print_after_all, ctx=ctx)
    return p
