"""Print one kernel at a stage, for lit tests and for reading: the gpu-dialect MLIR, its CPU emulation, the
NVVM-dialect module, LLVM IR or PTX.

    python -m qcomp.targets.gpu.dump --m 16 --n 8 --k 40 [--act relu] [--per-tensor] --stage ptx [--arch sm_90]
    python -m qcomp.targets.gpu.dump --op wlinear --m 4 --n 8 --k 64 --bits 4 --group 32 --stage gpu
"""

import argparse
import sys

from qcomp.dialects.errors import QcompError

from .emulate import emulation_text
from .kernels import GemmSpec, Tiling, gpu_module
from .ptx import compile_ptx, lower_to_nvvm
from .wlinear import WLinearSpec

STAGES = ("gpu", "emulate", "nvvm", "llvm", "ptx")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="qcomp.targets.gpu.dump", description=__doc__.splitlines()[0])
    for dim in ("m", "n", "k"):
        ap.add_argument(f"--{dim}", type=int, required=True)
    ap.add_argument("--op", choices=("qlinear", "wlinear"), default="qlinear")
    ap.add_argument("--act", default="none")
    ap.add_argument("--bits", type=int, default=4, help="wlinear: weight bits")
    ap.add_argument("--group", type=int, default=128, help="wlinear: input channels per scale")
    ap.add_argument("--per-tensor", action="store_true", help="one activation scale (xs [1]) instead of per token")
    ap.add_argument("--stage", choices=STAGES, default="gpu")
    ap.add_argument("--arch", default="sm_90")
    args = ap.parse_args(argv)
    try:
        if args.op == "wlinear":
            spec = WLinearSpec(args.m, args.n, args.k, args.bits, args.group)
        else:
            spec = GemmSpec(args.m, args.n, args.k, args.act, not args.per_tensor)
        text = gpu_module([spec], Tiling())
        if args.stage == "emulate":
            text = emulation_text([spec], Tiling())
        elif args.stage == "nvvm":
            text = str(lower_to_nvvm(text))
        elif args.stage in ("llvm", "ptx"):
            ll, ptx = compile_ptx(text, args.arch)
            text = ll if args.stage == "llvm" else ptx
    except QcompError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
