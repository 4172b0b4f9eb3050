"""CpuTarget: options, capabilities, cost model, pipeline and build for the host CPU."""

from dataclasses import dataclass

import numpy as np
from qcomp.dialects.errors import QcompError
from qcomp.targets.base import FUSED_FORMS, Artifact, Capabilities, Cost, Target

from .aot import save_aot
from .cost_model import estimate_latency, load, main_copies_constants, parent_main, parse_precision, weight_bytes
from .jit import JitFunction
from .kernels import ISAS, host_isa
from .lowering_passes import PASSES
from .lowerings import LOWERINGS
from .threads import resolve_threads


@dataclass(frozen=True)
class CpuOptions:
    """opt_level: LLVM optimisation level 0..3 (default 2: O3 triples JIT time for little gain on v0 loops).
    fuse: run qc-fuse before lowering (activations into the int8 GEMM epilogue, one quantization per input).
    threads: OpenMP threads for the GEMM kernels and the vectorized maps (None: the machine's cores, or one
    where the `intel-openmp` runtime is not installed).
    isa: the kernels' instruction set, one of `kernels.ISAS` (None: the host's best). 'avx2' is the fallback for
    CPUs without AVX512-VNNI: the same kernels on 256-bit vectors, the u8 × s8 dot in plain vector ops.
    vectorize, row_fusion: the lowering's code generation switches (`qc-lower-to-linalg{vectorize=false}`;
    elementwise maps as vector loops, chains of them over the same rows in one loop; see `lower_qc.py`)."""

    opt_level: int = 2
    fuse: bool = True
    threads: int | None = None
    isa: str | None = None
    vectorize: bool = True
    row_fusion: bool = True

    def __post_init__(self):
        if self.isa is not None:
            if self.isa not in ISAS:
                raise QcompError(f"cpu target: isa must be one of {', '.join(ISAS)} or None, got {self.isa!r}")
            if ISAS.index(self.isa) < ISAS.index(host_isa()):
                raise QcompError(f"cpu target: isa {self.isa} is not available on this CPU (best: {host_isa()})")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 1 <= self.threads <= 1024
        ):  # OpenMP starts every thread of a team: a huge count exhausts the machine
            raise QcompError(f"cpu target: threads must be an integer in [1, 1024] or None, got {self.threads!r}")
        if type(self.opt_level) is not int or self.opt_level not in (0, 1, 2, 3):  # 2.0 == 2, but LLVM wants an int
            raise QcompError(f"cpu target: opt_level must be 0..3, got {self.opt_level!r}")
        for key in ("fuse", "vectorize", "row_fusion"):
            if not isinstance(getattr(self, key), bool):
                raise QcompError(f"cpu target: {key} must be true or false, got {getattr(self, key)!r}")


class JitArtifact(Artifact):
    """The JIT-compiled @main plus the LLVM-dialect module it came from."""

    def __init__(self, fn: JitFunction, llvm_text: str):
        self.fn, self.llvm_text = fn, llvm_text

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self.fn(*inputs)

    def bind(self, *inputs: np.ndarray):
        """`JitFunction.bind`: a call on these arrays with its argument descriptors built once."""
        return self.fn.bind(*inputs)

    def save(self, directory: str) -> list[str]:
        """model.o, model.weights, model.h, model_api.c and model.so: the C API of `aot.save_aot`."""
        if self.fn.spec is not None:
            raise QcompError(
                "the C library (model.so) is built for static shapes: compile without dynamic_shapes to save it"
            )
        return save_aot(self.fn, directory)


class CpuTarget(Target):
    name = "cpu"
    Options = CpuOptions
    passes = PASSES

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            ops=frozenset(f"qc.{k}" for k in LOWERINGS),
            weight_bits=(2, 3, 4, 5, 6, 7, 8),
            activation_bits=(8,),
            facts={"int8_storage": True},
            dynamic_shapes=True,
            fused=frozenset(FUSED_FORMS if self.options.fuse else ()),  # every form: epilogues, gated GEMMs, ...
        )

    def cost(self, op, precision: str) -> Cost:
        """Cost of `op` at `precision` ('fp32' or 'w<bits>a<8|16>[g<group>]', which applies to float qc.linear
        and qc.conv2d; other ops cost what they are): the weight bytes qc-quantize would store (`cost_model.
        weight_bytes`) and the latency of its kernels on this machine (`cost_model`; the first call on a
        machine measures the model's constants, about 15 s, and caches them)."""

        parse_precision(precision)
        main = parent_main(op)
        copies = main is not None and main_copies_constants(main, self)
        return Cost(weight_bytes=weight_bytes(op, precision), latency_s=load(self).op_latency(op, precision, copies))

    def estimate_latency(self, module, precision_of=None) -> float:

        return estimate_latency(module, self, precision_of)

    def stages(self) -> list[tuple[str, str]]:
        # qc-cpu-pack-weights runs in build(), where the weights turn into buffers (JitFunction)
        return [("fuse", self.capabilities.fuse_step()), ("lower", f"{self.lowering()},qc-outline-host-ops")]

    def lowering(self) -> str:
        """qc-lower-to-linalg with the options' code generation switches (none written where they are defaults)."""
        opts = [f"{k}=false" for k in ("vectorize", "row_fusion") if not getattr(self.options, k)]
        return "qc-lower-to-linalg" + (f"{{{','.join(opts)}}}" if opts else "")

    def build_host(self, module, runtime: dict) -> JitFunction:
        """The host part of an accelerator's build (`targets/common/offload.HostProgram`), its offloaded calls
        bound to `runtime`'s callables."""
        return JitFunction(module, opt_level=self.options.opt_level, runtime=runtime)

    def build(self, module) -> Artifact:
        threads = resolve_threads(self.options.threads)
        fn = JitFunction(module, opt_level=self.options.opt_level, threads=threads, isa=self.options.isa or "")
        return JitArtifact(fn, fn.llvm_text)
