"""The context a pass runs in: what it may know besides the module.

A pass whose `run` takes a second argument, `run(module, ctx)`, gets the pipeline's `PassContext`;
`run(module)` passes run unchanged. `ctx.target` is the Target object the pipeline compiles for (the one
`qcomp.compile` was given, options and all: a CIM preset, the CPU's opt_level), so a pass prices with the
caller's target instead of rebuilding one from its name. `PassContext()` has no target: `qcomp-opt` runs passes
with it, and a pass that needs a target then takes it from its own options (`qc-assign-precision{target=cim}`).
"""

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qcomp.targets.base import Target


@dataclass(frozen=True)
class PassContext:
    target: "Target | None" = None  # the target the pipeline compiles for; None outside qcomp.compile


def takes_context(p: Any) -> bool:
    """Whether pass `p`'s `run` takes the context as its second argument."""
    return len(inspect.signature(p.run).parameters) >= 2


def run_pass(p: Any, module, ctx: PassContext) -> None:
    """Run pass `p` on `module`, handing it `ctx` when its `run` takes one."""
    if takes_context(p):
        p.run(module, ctx)
    else:
        p.run(module)
