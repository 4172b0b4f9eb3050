"""The CPU target's own passes (`CpuTarget.passes`), and how it lowers a module with them alone.

The target's pipeline also names qc-fuse, a shared pass above the targets (`passes/`), which the runner above
(`qcomp.pipeline`) supplies. The cost model's probes (one op, or a chain of qc.add) have nothing to fuse, so it
lowers them with the target's own passes here, without importing a layer above it.
"""

from qcomp.dialects.pass_pipeline import Pipeline, split_top_level

from .lower_qc import LowerToLinalgPass
from .outline import OutlineHostOpsPass
from .pack_weights import PackWeightsPass

PASSES = (LowerToLinalgPass, PackWeightsPass, OutlineHostOpsPass)
SHARED = ("qc-fuse",)  # shared passes the target's pipeline names; a probe has nothing for them to do


def lower_probe(module, pipeline: str) -> None:
    """Run `pipeline` (the CPU target's) on `module` with the target's own passes, leaving out the shared ones."""
    steps = [s for s in split_top_level(pipeline) if s.partition("{")[0].strip() not in SHARED]
    Pipeline.parse(",".join(steps), {p.name: p for p in PASSES}).run(module)
