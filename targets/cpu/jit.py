"""CPU back end: linalg on tensors -> LLVM -> ExecutionEngine, with weights passed as buffers.

`externalize_constants` turns large constants into trailing function arguments just before
bufferization, so LLVM never sees 100M-parameter constants; `JitFunction` keeps the weight
descriptors prebuilt and calls the packed entry point with a `void*[]`.
"""

import ctypes
import functools

import numpy as np
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir, linalg, rewrite, run_pipeline
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import first_op
from qcomp.dialects.shapes import module_spec
from qcomp.dialects.weights import constant_array
from qcomp.targets.common.host import PackedArgs, new_engine
from qcomp.targets.common.host import descriptor_words as descriptor_words  # moved to the shared host runtime

from .buffers import scans_to_linalg, sink_deallocs, write_results_in_place
from .dynamic import results_as_destinations
from .input_checks import (
    InputError,
    check_token_ids,
    refuse_empty_layers,
    refuse_non_finite,
    static_scales,
    token_id_bounds,
)
from .kernels import ISA_FEATURES, host_isa
from .lower_qc import LowerToLinalgPass
from .pack_weights import PackWeightsPass
from .threads import load_openmp


def bufferize_pipeline(copy_before_write: bool, dynamic: bool = False) -> str:
    """Tensors -> buffers; results become out-parameters. torch-mlir's tm_tensor ops (e.g. cumsum) bufferize
    outside One-Shot Analysis, so modules holding them are bufferized with copy-before-write. dynamic: results
    of dynamic shape cannot be out-parameters; functions keep returning their buffers (`dynamic.
    keep_results`) and @main writes into its destinations (`dynamic.results_as_destinations`)."""
    cbw = " copy-before-write" if copy_before_write else ""
    return (
        "func.func(tm-tensor-bufferize),"
        + ("" if copy_before_write else "eliminate-empty-tensors,")
        + "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map"
        + cbw
        + "},"
        + (
            "drop-equivalent-buffer-results,"  # host code returning the `outs` it was given
            if dynamic
            else "buffer-results-to-out-params{hoist-static-allocs=true modify-public-functions=true},"
        )
        + "buffer-deallocation-pipeline"
        + (",convert-bufferization-to-memref" if dynamic else "")  # clones of returned buffers
    )


TO_LLVM = (
    "func.func(llvm-request-c-wrappers),"
    "func.func(tm-tensor-to-loops),"
    "func.func(convert-linalg-to-loops),"
    "convert-vector-to-scf{full-unroll=true},"  # the default puts allocas in loops: stack overflow
    "lower-affine,convert-scf-to-cf,expand-strided-metadata,lower-affine,"
    "convert-vector-to-llvm,finalize-memref-to-llvm,convert-math-to-funcs,convert-math-to-llvm,convert-math-to-libm,"
    "convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
    "convert-ub-to-llvm,reconcile-unrealized-casts"
)


def to_llvm_pipeline(threads: int) -> str:
    """TO_LLVM; with threads > 1, `scf.parallel` loops become OpenMP loops of `threads` threads (memref ops are
    lowered before scf, because an OpenMP region's `memref.alloca_scope` must stay one block until then)."""
    if threads <= 1:
        return TO_LLVM
    head, tail = TO_LLVM.split("convert-scf-to-cf,expand-strided-metadata,lower-affine,", 1)
    tail = tail.replace("finalize-memref-to-llvm,", "finalize-memref-to-llvm,convert-scf-to-cf,convert-openmp-to-llvm,")
    return f"{head}convert-scf-to-openmp{{num-threads={threads}}},expand-strided-metadata,lower-affine,{tail}"


_ELEM = {"f32": np.float32, "f64": np.float64, "i8": np.int8, "i32": np.int32, "i64": np.int64, "i1": np.bool_}


def has_ops(module: ir.Module, prefix: str) -> bool:
    return first_op(module, prefix) is not None


def main_func(module: ir.Module):
    for op in module.body.operations:
        if op.operation.name == "func.func" and op.attributes["sym_name"].value == "main":
            return op
    raise ValueError("module has no func.func @main")


def signature(module: ir.Module) -> tuple[list, list]:
    """(inputs, results) of @main as lists of (shape, numpy dtype)."""
    ft = ir.FunctionType(ir.TypeAttr(main_func(module).attributes["function_type"]).value)

    def one(t, what: str):
        rt = ir.RankedTensorType(t)
        elem = str(rt.element_type)
        if elem not in _ELEM:  # f16, bf16, i16, ui8 ...: a traceback (KeyError) before
            raise QcompError(
                f"{what} of the model is a {elem} tensor: the CPU target takes and returns "
                f"{', '.join(_ELEM)} tensors (convert the model with .float(), or cast at its boundary)"
            )
        return tuple(rt.shape), np.dtype(_ELEM[elem])

    return [one(t, f"input {i}") for i, t in enumerate(ft.inputs)], [
        one(t, f"output {i}") for i, t in enumerate(ft.results)
    ]


def _identity(t: ir.Type) -> bool:
    mt = ir.MemRefType(t)
    return mt.affine_map == ir.AffineMap.get_identity(mt.rank)


def _copy_to_linalg(op, rewriter):
    src, dst = op.operands
    if _identity(src.type) and _identity(dst.type):
        return True  # lowered to a memcpy intrinsic
    with rewriter.ip, op.location:
        linalg.copy(src, outs=[dst])
    rewriter.erase_op(op)
    return False


def strided_copies_to_linalg(module: ir.Module) -> None:
    """memref.copy with a strided layout would call `memrefCopy` from a runtime library we do not ship."""
    with module.context, ir.Location.unknown():
        ps = rewrite.RewritePatternSet()
        ps.add("memref.copy", _copy_to_linalg)
        rewrite.apply_patterns_and_fold_greedily(module, ps.freeze())


def aligned(arr: np.ndarray, alignment: int = 64) -> np.ndarray:
    """A C-contiguous copy of `arr` starting on an `alignment`-byte boundary: the kernels' 64-byte vector loads
    of a weight panel then never straddle two cache lines (numpy only guarantees 16 bytes)."""
    buf = np.empty(arr.nbytes + alignment, np.uint8)
    off = -buf.ctypes.data % alignment
    out = buf[off : off + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    np.copyto(out, arr)
    return out


def externalize_constants(module: ir.Module, min_elements: int = 1024) -> list[np.ndarray]:
    """Move tensor constants with >= min_elements elements of @main into trailing arguments; return their data."""
    fop = main_func(module)
    block = fop.regions[0].blocks[0]
    data: list[np.ndarray] = []
    with module.context:
        for op in list(block.operations):
            if op.operation.name != "arith.constant" or not isinstance(op.results[0].type, ir.RankedTensorType):
                continue
            arr = constant_array(op.results[0])
            if arr is None or arr.size < min_elements:
                continue
            arg = block.add_argument(op.results[0].type, op.location)
            op.results[0].replace_all_uses_with(arg)
            op.operation.erase()
            data.append(aligned(arr))
        ft = ir.FunctionType(ir.TypeAttr(fop.attributes["function_type"]).value)
        new = ir.FunctionType.get([a.type for a in block.arguments], ft.results)
        fop.attributes["function_type"] = ir.TypeAttr.get(new)
    return data


# the intrinsics' meaning in plain vector ops, for ISAs without them (the same exact integer sums)
def _halves(src: str, n: int, dst: str) -> str:
    """dst = even + odd elements of the n-element i32 vector src (adjacent pairs summed)."""
    even, odd = (", ".join(str(i) for i in range(p, n, 2)) for p in (0, 1))
    vt = f"vector<{n}xi32>"
    return (
        f"  {dst}e = vector.shuffle {src}, {src} [{even}] : {vt}, {vt}\n"
        f"  {dst}o = vector.shuffle {src}, {src} [{odd}] : {vt}, {vt}\n"
        f"  {dst} = arith.addi {dst}e, {dst}o : vector<{n // 2}xi32>\n"
    )


EMULATED = {
    # u8 × s8 products summed in pairs (the shape LLVM turns into pmaddwd on AVX2), then pairs of pairs
    "llvm.x86.avx512.vpdpbusd.512": (
        "  %u = arith.extui %a1 : vector<64xi8> to vector<64xi32>\n"
        "  %s = arith.extsi %a2 : vector<64xi8> to vector<64xi32>\n"
        "  %p = arith.muli %u, %s : vector<64xi32>\n"
        + _halves("%p", 64, "%q")
        + _halves("%q", 32, "%d")
        + "  %r = arith.addi %a0, %d : vector<16xi32>\n"
    ),
}


def _dpbusd_avx2() -> str:
    """vpdpbusd on AVX2: per 256-bit half, the u8 operand split into nibbles (0..15), each multiplied with the s8
    operand by vpmaddubsw (pairs of products; |pair| <= 2·15·128, so its i16 saturation never triggers), summed
    in pairs into i32 by vpmaddwd with ones, then 16·high + low: the exact sums of 4 u8 × s8 products per lane."""
    lines, halves = [], []
    v32, v16, v8 = "vector<32xi8>", "vector<16xi16>", "vector<8xi32>"
    lines += [
        f"  %m15 = arith.constant dense<15> : {v32}",
        f"  %s4 = arith.constant dense<4> : {v32}",
        f"  %ones = arith.constant dense<1> : {v16}",
        f"  %s4w = arith.constant dense<4> : {v8}",
    ]
    for h in (0, 1):
        sl = f"{{offsets = [{32 * h}], sizes = [32], strides = [1]}}"
        lines += [
            f"  %u{h} = vector.extract_strided_slice %a1 {sl} : vector<64xi8> to {v32}",
            f"  %b{h} = vector.extract_strided_slice %a2 {sl} : vector<64xi8> to {v32}",
            f"  %lo{h} = arith.andi %u{h}, %m15 : {v32}",
            f"  %hi{h} = arith.shrui %u{h}, %s4 : {v32}",
        ]
        for part in ("lo", "hi"):
            lines += [
                f'  %p{part}{h} = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%{part}{h}, %b{h}) : ({v32}, {v32}) '
                f"-> {v16}",
                f'  %w{part}{h} = llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%p{part}{h}, %ones) : ({v16}, {v16}) '
                f"-> {v8}",
            ]
        lines += [f"  %wh{h} = arith.shli %whi{h}, %s4w : {v8}", f"  %r{h} = arith.addi %wh{h}, %wlo{h} : {v8}"]
        halves.append(f"%r{h}")
    lines += [
        f"  %d = vector.shuffle %r0, %r1 [{', '.join(map(str, range(16)))}] : {v8}, {v8}",
        "  %r = arith.addi %a0, %d : vector<16xi32>",
    ]
    return "\n".join(lines) + "\n"


EMULATED_AVX2 = {"llvm.x86.avx512.vpdpbusd.512": _dpbusd_avx2()}


@functools.cache
def half_float_runtime() -> None:
    """Without F16C (isa=generic: AVX off) LLVM converts f16 <-> f32 (the int8 KV cache's scales) by calling
    libgcc's __extendhfsf2 / __truncsfhf2. libgcc_s is in the process, but loaded locally (a dependency of
    libstdc++), where the JIT's symbol search does not look: reopen it globally, once (where there is one)."""
    try:
        ctypes.CDLL("libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)
    except OSError:
        pass


def define_intrinsics(module: ir.Module, isa: str = "avx512-vnni") -> None:
    """Give each private declaration tagged `qc.intrinsic = "llvm.x86..."` a body: a call of that LLVM
    intrinsic on AVX512-VNNI, its AVX2 twin (`EMULATED_AVX2`: vpmaddubsw / vpmaddwd) on AVX2, its plain vector-op
    twin (`EMULATED`) elsewhere.

    Kernels call intrinsics through such declarations because buffer deallocation rejects
    `llvm.call_intrinsic` (its memory effects are unknown); run this after bufferization."""
    decls = [
        op
        for op in module.body.operations
        if op.operation.name == "func.func" and "qc.intrinsic" in op.attributes and not len(op.regions[0].blocks)
    ]
    if not decls:
        return
    texts = []
    for op in decls:
        ft = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
        ins = [str(t) for t in ft.inputs]
        res = [str(t) for t in ft.results]
        args = ", ".join(f"%a{i}: {t}" for i, t in enumerate(ins))
        names = ", ".join(f"%a{i}" for i in range(len(ins)))
        intrinsic = ir.StringAttr(op.attributes["qc.intrinsic"]).value
        if isa == "avx512-vnni" or intrinsic not in EMULATED:
            body = f'  %r = llvm.call_intrinsic "{intrinsic}"({names}) : ({", ".join(ins)}) -> {res[0]}\n'
        elif isa == "avx2" and intrinsic in EMULATED_AVX2:
            body = EMULATED_AVX2[intrinsic]
        else:
            body = EMULATED[intrinsic]
        texts.append(
            f"func.func private @{ir.StringAttr(op.attributes['sym_name']).value}({args}) -> ({', '.join(res)}) {{\n"
            f"{body}  return %r : {res[0]}\n}}"
        )
    with module.context, ir.Location.unknown():
        lib = ir.Module.parse("\n".join(texts))
        for op in decls:
            op.operation.erase()
        for f in list(lib.body.operations):
            module.body.append(f.detach_from_parent())


def restrict_features(module: ir.Module, features: tuple[str, ...]) -> None:
    """Turn CPU features off in every llvm.func (`-avx512f`: LLVM then splits 512-bit vectors into AVX2 ones),
    so that a build for a lesser ISA runs on the CPUs it names."""
    if not features:
        return
    with module.context:
        attr = ir.Attribute.parse(f"#llvm.target_features<[{', '.join(f'{chr(34)}{f}{chr(34)}' for f in features)}]>")
        for op in module.body.operations:
            if op.operation.name == "llvm.func" and len(op.regions[0].blocks):
                op.operation.attributes["target_features"] = attr


def _skip_optimizing_main(module: ir.Module) -> None:
    """@main only sequences kernel calls, buffers and reshapes: optimising its (large) body buys nothing
    and costs most of LLVM's time on big models, so it is marked optnone; the kernels are optimised."""
    with module.context:
        for op in module.body.operations:
            if op.operation.name == "llvm.func" and op.attributes["sym_name"].value == "main":
                op.attributes["passthrough"] = ir.ArrayAttr.get([ir.StringAttr.get(s) for s in ("optnone", "noinline")])


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep the buffers a call frees for the next call (once per process).

    Every kernel allocates its result; glibc serves a block over its mmap threshold with a fresh mapping
    and unmaps it on free, so each call page-faults it in again (SmolLM2's 25 MB logits: 12.8k faults,
    two thirds of the LM head's 31 ms). Raising the mmap threshold to its 32 MiB maximum and the trim
    threshold to 1 GiB keeps such blocks in the heap (10 ms). PyTorch's allocator caches the same way.
    Returns False where the C library has no mallopt (not glibc)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))


class _WeightSlots:
    """`JitFunction._weight_ptrs`: weight i's buffer address; assigning one (share_weights) rebinds it."""

    def __init__(self, packed: PackedArgs, first: int, count: int):
        self._packed, self._first, self._count = packed, first, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> int:
        return self._packed.address(self._first + i)

    def __setitem__(self, i: int, address: int) -> None:
        self._packed.set_template(self._first + i, address)


class JitFunction:
    """@main of a linalg-on-tensors module, JIT-compiled; call with numpy inputs, get numpy outputs.

    Calls are thread-safe (each builds its own argument array; the code keeps no state between calls).
    Inputs that embeddings index with are checked against the vocabulary (`input_checks`). `finite_only`: the
    model quantizes with static scales, so calls, bound calls (and the AOT library) refuse NaN/inf float inputs
    (docs/numerics.md; a sum of each float input, no temporary)."""

    def __init__(
        self, module: ir.Module, opt_level: int = 2, runtime: dict | None = None, threads: int = 1, isa: str = ""
    ):
        """runtime: external functions (`llvm.emit_c_interface` declarations) bound to ctypes callbacks;
        threads: OpenMP threads for the kernels' parallel loops (1: none, no OpenMP runtime needed);
        isa: the instruction set to compile for (`kernels.ISAS`; "": the host's best)."""
        keep_freed_memory()

        inputs, self.results = signature(module)
        self.spec = module_spec(module)  # dynamic dimensions: ranges and output shapes (None: all static)
        refuse_empty_layers(main_func(module))
        self.id_bounds = token_id_bounds(main_func(module), len(inputs))
        self.finite_only = static_scales(module)  # bound calls and the AOT library refuse NaN/inf
        PackWeightsPass().run(module)  # constant GEMM weights into the kernels' layouts, once
        self.weights = externalize_constants(module)
        self.inputs = inputs
        if self.spec is not None:
            results_as_destinations(module)
        scans_to_linalg(module)
        run_pipeline(module, bufferize_pipeline(has_ops(module, "tm_tensor."), dynamic=self.spec is not None))
        write_results_in_place(module)
        sink_deallocs(module, main_func(module))
        strided_copies_to_linalg(module)
        self.isa = isa or host_isa()
        if self.isa == "generic":
            half_float_runtime()
        define_intrinsics(module, self.isa)
        run_pipeline(module, to_llvm_pipeline(threads))
        restrict_features(module, ISA_FEATURES[self.isa])
        _skip_optimizing_main(module)
        self.llvm_text = module.operation.get_asm(large_elements_limit=16)
        self.threads = threads
        self.shared_libs = [load_openmp()] if threads > 1 else []
        self.engine = new_engine(module, opt_level, self.shared_libs)
        self._runtime = dict(runtime or {})  # the engine calls them: keep them alive
        for name, callback in self._runtime.items():
            self.engine.register_runtime(name, callback)
        self._fn = self.engine.lookup("main")
        n_in, n_w = len(inputs), len(self.weights)
        self._packed = PackedArgs(
            [s for s, _ in inputs] + [w.shape for w in self.weights] + [s for s, _ in self.results],
            dynamic=self.spec is not None,
        )
        for i, w in enumerate(self.weights):
            self._packed.set_template(n_in + i, w.ctypes.data)
        self._weight_ptrs = _WeightSlots(self._packed, n_in, n_w)
        self._out_at = n_in + n_w

    def _checked(self, inputs) -> list[np.ndarray]:
        if len(inputs) != len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
        ins = []
        for i, (x, (shape, dtype)) in enumerate(zip(inputs, self.inputs, strict=True)):
            x = np.require(x, requirements="C")  # ascontiguousarray makes a 0-d input 1-d
            if x.dtype != dtype or (self.spec is None and tuple(x.shape) != shape):
                raise InputError(f"input {i}: expected {dtype.name}{_dims(shape)}, got {x.dtype.name}{list(x.shape)}")
            ins.append(x)
        return ins

    def output_shapes(self, inputs: list[np.ndarray]) -> list[tuple[int, ...]]:
        """The results' shapes for these inputs (checked against the dynamic dimensions' ranges)."""
        if self.spec is None:
            return [shape for shape, _ in self.results]
        try:
            env = self.spec.bind([x.shape for x in inputs])
        except QcompError as e:
            raise InputError(str(e)) from None
        return self.spec.output_shapes(env)

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        ins = self._checked(inputs)
        check_token_ids(ins, self.id_bounds)
        if self.finite_only:
            refuse_non_finite_cheaply(ins)
        outs = [np.empty(shape, dtype) for shape, (_, dtype) in zip(self.output_shapes(ins), self.results, strict=True)]
        arrays = dict(enumerate(ins))
        arrays.update((self._out_at + i, o) for i, o in enumerate(outs))
        args, keep = self._packed.pack(arrays)
        self._fn(args)
        del keep
        return outs

    def bind(self, *inputs: np.ndarray):
        """A call of @main on these arrays, its descriptors built once: `run()` returns the outputs (buffers
        reused by every run) computed from the arrays' current contents. The arrays must stay alive and keep
        their shape; callers refill them in place (a decode loop: token ids, positions, the KV cache). Each run
        checks the token ids and, for a model with static activation scales (`finite_only`), that the float
        inputs hold no NaN or inf (docs/numerics.md), as `CompiledModel.__call__` does."""
        if len(inputs) != len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
        for i, (x, (shape, dtype)) in enumerate(zip(inputs, self.inputs, strict=True)):
            if (self.spec is None and tuple(x.shape) != shape) or x.dtype != dtype or not x.flags.c_contiguous:
                raise InputError(f"input {i}: expected a contiguous {dtype.name}{_dims(shape)}")
        shapes = self.output_shapes(list(inputs))
        outs = [np.empty(shape, dtype) for shape, (_, dtype) in zip(shapes, self.results, strict=True)]
        arrays = dict(enumerate(inputs))
        arrays.update((self._out_at + i, o) for i, o in enumerate(outs))
        args, keep = self._packed.pack(arrays)
        bounds, finite_only = self.id_bounds, self.finite_only

        def run() -> list[np.ndarray]:
            assert keep
            if bounds:
                check_token_ids(inputs, bounds)
            if finite_only:
                refuse_non_finite_cheaply(inputs)
            self._fn(args)
            return outs

        return run


def refuse_non_finite_cheaply(arrays) -> None:
    """`refuse_non_finite` without a temporary array per call: a NaN or inf makes the sum of a float input
    non-finite; only then is the element looked for (none found: the sum overflowed, the input is fine)."""
    for a in arrays:
        if a.dtype.kind == "f" and a.size and not np.isfinite(a.sum(dtype=np.float32 if a.itemsize < 4 else None)):
            refuse_non_finite(arrays)


def _dims(shape) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def jit_from_text(text: str, opt_level: int = 2, threads: int = 1, isa: str = "") -> JitFunction:
    """Parse a module holding func.func @main on builtin tensors (qc ops allowed), lower it and JIT it."""

    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        LowerToLinalgPass().run(module)
        return JitFunction(module, opt_level=opt_level, threads=threads, isa=isa)
