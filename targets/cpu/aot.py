"""Ahead-of-time CPU artifact: the JIT's machine code as a shared library with a C API and a weights file.

`save_aot(fn, directory)` writes, next to `model.o` (the ExecutionEngine's object code, so the library
computes bit for bit what the JIT computes):

- `model.weights`: the externalized weight arrays, in the order @main takes them (format below);
- `model.h`: the C API (`qcomp_model_load`, `qcomp_model_run`, `qcomp_model_free`, `qcomp_error`) and the
  inputs' and outputs' dtypes and shapes as #defines and as `qcomp_tensor_info` tables;
  `qcomp_model_run` hands @main copies of the inputs, `qcomp_model_run_inplace` the caller's buffers (so
  a model that updates an input in place, as compile_lm's KV cache, updates the caller's buffer);
- `model_api.c`: the generated wrapper behind that API: the weights loader (which checks the file against
  the arrays the model was compiled for) and the memref descriptors of MLIR's packed entry point;
- `model.so`: `cc -shared model_api.c model.o -lm`, exporting only `qcomp_*` (the object's `main` and
  kernels stay local). The object is large-code-model, non-PIC code, so the library has text relocations.

ABI under the C API: `_mlir__mlir_ciface_main(void **args)`, where `args[i]` points to a pointer to the i-th
memref descriptor `{void *allocated, *aligned; int64_t offset, sizes[rank], strides[rank]}`; the arguments
are the inputs, then the weights, then the outputs (results are out-parameters), all row-major.

`model.weights`, version 1, little-endian: a 32-byte header `char magic[8] = "QCWEIGHT"; uint32 version;
uint32 count; uint64 file_size; uint64 reserved`, then `count` 88-byte entries `uint32 dtype; uint32 rank;
uint64 offset; uint64 nbytes; int64 shape[8]` (dtype codes as `QCOMP_*` in model.h), then the arrays' bytes,
each at a 64-byte-aligned offset from the start of the file.
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from qcomp.errors import QcompError

from .aot_templates import HEADER_TEMPLATE, WRAPPER_TEMPLATE

MAGIC = b"QCWEIGHT"
VERSION = 1
ALIGN = 64
MAX_RANK = 8
HEADER = struct.Struct("<8sIIQQ")  # magic, version, count, file size, reserved
ENTRY = struct.Struct(f"<IIQQ{MAX_RANK}q")  # dtype, rank, offset, nbytes, shape

# numpy dtype -> (code, C type, short name); codes are part of the ABI: append, never renumber
DTYPES = {
    np.dtype(np.float32): (1, "float", "f32"),
    np.dtype(np.float64): (2, "double", "f64"),
    np.dtype(np.float16): (3, "uint16_t", "f16"),
    np.dtype(np.int8): (4, "int8_t", "i8"),
    np.dtype(np.int16): (5, "int16_t", "i16"),
    np.dtype(np.int32): (6, "int32_t", "i32"),
    np.dtype(np.int64): (7, "int64_t", "i64"),
    np.dtype(np.uint8): (8, "uint8_t", "u8"),
    np.dtype(np.bool_): (9, "uint8_t", "i1"),
}
_BY_CODE = {code: dt for dt, (code, _, _) in DTYPES.items()}

Spec = tuple[tuple[int, ...], np.dtype]  # (shape, dtype), as JitFunction.inputs / .results


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _check(shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
    if np.dtype(dtype) not in DTYPES:
        raise QcompError(f"cpu target: {what} has dtype {np.dtype(dtype).name}, which the C API does not carry")
    if len(shape) > MAX_RANK:
        raise QcompError(f"cpu target: {what} has rank {len(shape)}, the C API carries up to {MAX_RANK}")


def type_text(shape: tuple[int, ...], dtype: np.dtype) -> str:
    """`f32[8, 64]`: the short dtype name and the shape, as model.h and the C loader's messages print them."""
    return f"{DTYPES[np.dtype(dtype)][2]}[{', '.join(str(d) for d in shape)}]"


def write_weights(path: str, arrays: list[np.ndarray]) -> None:
    """Write `arrays` as a `model.weights` file (format in the module docstring)."""
    for i, a in enumerate(arrays):
        _check(a.shape, a.dtype, f"weight {i}")
    offsets, end = [], _align(HEADER.size + ENTRY.size * len(arrays))
    for a in arrays:
        offsets.append(end)
        end = _align(end + a.nbytes)
    size = offsets[-1] + arrays[-1].nbytes if arrays else HEADER.size
    with open(path, "wb") as f:
        f.write(HEADER.pack(MAGIC, VERSION, len(arrays), size, 0))
        for a, off in zip(arrays, offsets, strict=True):
            shape = list(a.shape) + [0] * (MAX_RANK - a.ndim)
            f.write(ENTRY.pack(DTYPES[a.dtype][0], a.ndim, off, a.nbytes, *shape))
        for a, off in zip(arrays, offsets, strict=True):
            f.write(b"\0" * (off - f.tell()))
            f.write(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)


def read_weights(path: str) -> list[np.ndarray]:
    """The arrays of a `model.weights` file (for tools and tests; the C loader is what the library uses)."""
    data = np.fromfile(path, np.uint8)
    if data.size < HEADER.size or bytes(data[:8]) != MAGIC:
        raise QcompError(f"{path}: not a qcomp weights file")
    _, version, count, size, _ = HEADER.unpack_from(data)
    if version != VERSION or size != data.size:
        raise QcompError(f"{path}: version {version}, {size} bytes in the header, {data.size} on disk")
    out = []
    for i in range(count):
        code, rank, off, nbytes, *shape = ENTRY.unpack_from(data, HEADER.size + i * ENTRY.size)
        out.append(data[off : off + nbytes].view(_BY_CODE[code]).reshape(shape[:rank]))
    return out


def _info_rows(name: str, specs: list[Spec]) -> str:
    """C definitions of a `qcomp_tensor_info <name>[]` table (one dummy row when there are none)."""
    lines, rows = [], []
    for i, (shape, dtype) in enumerate(specs):
        dims = ", ".join(str(d) for d in shape) or "0"
        lines.append(f"static const int64_t {name}_shape_{i}[] = {{{dims}}};")
        code_name = f"QCOMP_{DTYPES[np.dtype(dtype)][2].upper()}"
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        rows.append(f'    {{{code_name}, {len(shape)}, {name}_shape_{i}, {nbytes}, "{type_text(shape, dtype)}"}},')
    if not specs:
        rows.append('    {0, 0, NULL, 0, ""},')
    lines += [f"static const qcomp_tensor_info {name}[] = {{", *rows, "};"]
    return "\n".join(lines)


def _words(specs: list[Spec]) -> int:
    """int64 words of the memref descriptors of `specs`, back to back (at least 1: C has no empty arrays)."""
    return max(1, sum(3 + 2 * len(shape) for shape, _ in specs))


def _defines(kind: str, specs: list[Spec]) -> str:
    lines = []
    for i, (shape, dtype) in enumerate(specs):
        code, ctype, short = DTYPES[np.dtype(dtype)]
        p = f"QCOMP_{kind}{i}"
        numel = int(np.prod(shape, dtype=np.int64))
        dims = ", ".join(str(d) for d in shape) or "0"
        lines += [
            f"#define {p}_DTYPE QCOMP_{short.upper()}",
            f"#define {p}_CTYPE {ctype}",
            f"#define {p}_RANK {len(shape)}",
            f"#define {p}_SHAPE {{{dims}}}",
            f"#define {p}_NUMEL {numel}",
            f"#define {p}_NBYTES {numel * np.dtype(dtype).itemsize}",
        ]
    return "\n".join(lines)


def header_text(inputs: list[Spec], outputs: list[Spec], weights: list[Spec]) -> str:
    """model.h: the C API of model.so for a model with these inputs, outputs and weights."""
    ins = "\n".join(f" *   input {i}: {type_text(*s)}" for i, s in enumerate(inputs)) or " *   (none)"
    outs = "\n".join(f" *   output {i}: {type_text(*s)}" for i, s in enumerate(outputs))
    codes = "\n".join(f"    QCOMP_{short.upper()} = {code}," for code, _, short in DTYPES.values())
    return HEADER_TEMPLATE.format(
        ins=ins,
        outs=outs,
        n_weights=len(weights),
        codes=codes,
        n_inputs=len(inputs),
        n_outputs=len(outputs),
        defines=_defines("INPUT", inputs) + "\n" + _defines("OUTPUT", outputs),
    )


def wrapper_text(inputs: list[Spec], outputs: list[Spec], weights: list[Spec]) -> str:
    """model_api.c: model.h's API over MLIR's packed entry point, with the weights loader."""
    sizes = "\n".join(f"    case QCOMP_{short.upper()}: return {dt.itemsize};" for dt, (_, _, short) in DTYPES.items())
    return WRAPPER_TEMPLATE.format(
        tables="\n".join(
            (_info_rows("input_info", inputs), _info_rows("output_info", outputs), _info_rows("weight_info", weights))
        ),
        n_inputs=len(inputs),
        n_outputs=len(outputs),
        n_weights=len(weights),
        in_words=_words(inputs),
        out_words=_words(outputs),
        w_words=_words(weights),
        sizes=sizes,
        magic=MAGIC.decode(),
        version=VERSION,
        header_size=HEADER.size,
        entry_size=ENTRY.size,
        align=ALIGN,
        max_rank=MAX_RANK,
    )


def find_c_compiler() -> str | None:
    """The first of cc, gcc, clang on PATH."""
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def link_shared(cc: str, directory: str, libs: list[str] = ()) -> None:
    """`cc -shared model_api.c model.o -lm -o model.so` in `directory`, exporting only the `qcomp_*` API;
    `libs`: shared libraries the code calls (the OpenMP runtime of a threaded build), found by rpath."""
    with tempfile.TemporaryDirectory() as tmp:
        exports = os.path.join(tmp, "exports.map")
        with open(exports, "w") as f:
            f.write("{ global: qcomp_*; local: *; };\n")
        cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c11", "-o", "model.so", "model_api.c", "model.o", "-lm"]
        cmd += [f"-Wl,--version-script={exports}", "-Wl,-z,notext", "-Wl,-soname,model.so"]
        for lib in libs:
            cmd += [lib, f"-Wl,-rpath,{os.path.dirname(lib)}"]
        r = subprocess.run(cmd, cwd=directory, capture_output=True, text=True)
    if r.returncode != 0:
        errors = [line for line in r.stderr.splitlines() if "error" in line] or r.stderr.splitlines() or ["no output"]
        raise QcompError(f"cpu target: building model.so with {cc} failed: {errors[0].strip()}")


def save_aot(fn, directory: str) -> list[str]:
    """Write model.o, model.weights, model.h, model_api.c and model.so (when a C compiler is on PATH) for the
    JitFunction `fn` into `directory`; return the names written."""
    inputs, outputs = list(fn.inputs), list(fn.results)
    weights = [(tuple(w.shape), w.dtype) for w in fn.weights]
    for kind, specs in (("input", inputs), ("output", outputs)):
        for i, (shape, dtype) in enumerate(specs):
            _check(shape, dtype, f"{kind} {i}")
    fn.engine.dump_to_object_file(os.path.join(directory, "model.o"))
    write_weights(os.path.join(directory, "model.weights"), fn.weights)
    with open(os.path.join(directory, "model.h"), "w") as f:
        f.write(header_text(inputs, outputs, weights))
    with open(os.path.join(directory, "model_api.c"), "w") as f:
        f.write(wrapper_text(inputs, outputs, weights))
    written = ["model.o", "model.weights", "model.h", "model_api.c"]
    cc = find_c_compiler()
    if cc is None:
        if os.path.exists(os.path.join(directory, "model.so")):  # an earlier save's: it would not match the weights
            os.remove(os.path.join(directory, "model.so"))
        print("qcomp: model.so skipped: no C compiler (cc, gcc or clang) on PATH", file=sys.stderr)
        return written
    link_shared(cc, directory, fn.shared_libs)
    return [*written, "model.so"]
