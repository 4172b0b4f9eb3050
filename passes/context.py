"""The context a pass runs in: what it may know besides the module.

A pass whose `run` takes a second argument, `run(module, ctx)`, gets the pipeline's `PassContext`;
`run(module)` passes run unchanged. `ctx.target` is the Target object the pipeline compiles for (the one
`qcomp.compile` was given, options and all: a CIM preset, the CPU's opt_level), so a pass prices with the
caller's target instead of rebuilding one from its name. `PassContext()` has no target: `qcomp-opt` runs passes
with it, and a pass that needs a target then takes it from its own options (`qc-assign-precision{target=cim}`),
made by `ctx.get_target(name)`: by default the registry of target plug-ins in `targets/base.py` (it loads a
target's module by its declared name), so that no pass imports the registry package or a target.
"""

from collections.abc import Callable
from dataclasses import dataclass

from qcomp.targets.base import Target, get


@dataclass(frozen=True)
class PassContext:
    target: Target | None = None  # the target the pipeline compiles for; None outside qcomp.compile
    get_target: Callable[..., Target] = get  # name ('cim:isaac') -> Target: the target registry's `get`
