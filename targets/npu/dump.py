"""npu-dump: print the NPU assembly generated for the qc ops of a module (for lit tests and users).

    python -m qcomp.targets.npu.dump FILE.mlir [--preset P] [--dataflow os|ws] [--scratchpad-kib N]
                                     [--accumulator-kib N] [--rows R] [--cols C]
                                     [--dram-bandwidth B] [--stats]

The module is at the qc level after quantization; `qc-npu-offload` partitions it and each offloaded op is
compiled as `NpuTarget.build` would (nothing is JIT-compiled). `--stats` adds each layer's cycle report.
Errors (a layer that does not fit the SRAMs, bad options) are printed as one line; the exit status is 1.
"""

import argparse
import json
import sys

from qcomp.dialects import new_context
from qcomp.dialects.errors import QcompError

from .arch import NpuOptions
from .program import Layer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="npu-dump", description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("--preset", default="gemmini")
    ap.add_argument("--stats", action="store_true", help="print each layer's report after its code")
    for name in ("dataflow", "scratchpad-kib", "accumulator-kib", "rows", "cols", "dram-bandwidth"):
        ap.add_argument(f"--{name}", type={"dataflow": str, "dram-bandwidth": float}.get(name, int))
    args = ap.parse_args(argv)

    from qcomp.dialects._mlir import ir  # deferred: loads MLIR (heavy)
    from qcomp.targets.common.offload import offloaded_ops  # deferred: loads MLIR (heavy)

    from .offload_pass import NpuOffloadPass  # deferred: loads MLIR (heavy)
    from .target import assembly, layer_row  # deferred: loads MLIR (heavy)

    try:
        opts = {k: v for k, v in vars(args).items() if k not in ("input", "stats") and v is not None}
        arch = NpuOptions(**opts).arch
        with open(args.input) as f:
            text = f.read()
        with new_context() as ctx, ir.Location.unknown(ctx):
            module = ir.Module.parse(text)
            NpuOffloadPass().run(module)
            layers = [Layer.build(arch, op) for op in offloaded_ops(module)]
        out = assembly(arch, layers)
        if args.stats:
            out += "".join(f"; {json.dumps(layer_row(arch, layer))}\n" for layer in layers)
        sys.stdout.write(out)
    except (QcompError, OSError, ir.MLIRError) as e:
        print(f"npu-dump: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
