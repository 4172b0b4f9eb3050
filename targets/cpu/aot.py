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

`model.weights`, version 2, little-endian: a 64-byte header `char magic[8] = "QCWEIGHT"; uint32 version;
uint32 count; uint64 file_size; uint32 crc32; uint32 reserved; char model_id[32]`, then `count` 88-byte entries
`uint32 dtype; uint32 rank; uint64 offset; uint64 nbytes; int64 shape[8]` (dtype codes as `QCOMP_*` in model.h),
then the arrays' bytes, each at a 64-byte-aligned offset from the start of the file. `crc32` (zlib's CRC-32) covers
every byte of the file but its own four; `model_id` (32 hex digits) names the compile the file belongs to: a hash of the
compiled code, the arrays' shapes and that CRC, also compiled into model.so. The loaders check both, so a file
of another compile (other weights or another recipe, however alike its shapes) or a damaged one is refused in
one line.
"""

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from qcomp.dialects.errors import QcompError

from .aot_templates import HEADER_TEMPLATE, WRAPPER_TEMPLATE

MAGIC = b"QCWEIGHT"
VERSION = 2
ALIGN = 64
MAX_RANK = 8
ID_BYTES = 32
HEADER = struct.Struct(f"<8sIIQII{ID_BYTES}s")  # magic, version, count, file size, crc32, reserved, model id
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


def _layout(arrays: list[np.ndarray]) -> tuple[list[int], int]:
    """The arrays' offsets in the file and its size."""
    offsets, end = [], _align(HEADER.size + ENTRY.size * len(arrays))
    for a in arrays:
        offsets.append(end)
        end = _align(end + a.nbytes)
    return offsets, (offsets[-1] + arrays[-1].nbytes if arrays else HEADER.size)


def _body(arrays: list[np.ndarray]):
    """The file's bytes after the header, piece by piece (entries, padding, arrays)."""
    offsets, _ = _layout(arrays)
    for a, off in zip(arrays, offsets, strict=True):
        shape = list(a.shape) + [0] * (MAX_RANK - a.ndim)
        yield ENTRY.pack(DTYPES[a.dtype][0], a.ndim, off, a.nbytes, *shape)
    at = HEADER.size + ENTRY.size * len(arrays)
    for a, off in zip(arrays, offsets, strict=True):
        yield b"\0" * (off - at)
        yield np.ascontiguousarray(a).reshape(-1).view(np.uint8).data
        at = off + a.nbytes


def weights_crc(arrays: list[np.ndarray]) -> int:
    """The CRC-32 of the arrays' part of a weights file (the array table, padding and arrays)."""
    crc = 0
    for piece in _body(arrays):
        crc = zlib.crc32(piece, crc)
    return crc


def model_id(code: str, arrays: list[np.ndarray]) -> str:
    """The identity of a compile: 32 hex digits of SHA-256 over its code, the arrays' shapes and their CRC."""
    h = hashlib.sha256(code.encode())
    h.update(repr([(a.dtype.str, a.shape) for a in arrays]).encode())
    h.update(weights_crc(arrays).to_bytes(4, "little"))
    return h.hexdigest()[:ID_BYTES]


def write_weights(path: str, arrays: list[np.ndarray], identity: str = "0" * ID_BYTES) -> None:
    """Write `arrays` as a `model.weights` file of the compile `identity` (format in the module docstring)."""
    for i, a in enumerate(arrays):
        _check(a.shape, a.dtype, f"weight {i}")
    _, size = _layout(arrays)
    head = HEADER.pack(MAGIC, VERSION, len(arrays), size, 0, 0, identity.encode())
    crc = zlib.crc32(head[28:], zlib.crc32(head[:24]))  # every byte but the crc field's own four
    with open(path, "wb") as f:
        f.write(head)
        for piece in _body(arrays):
            f.write(piece)
            crc = zlib.crc32(piece, crc)
        f.seek(0)
        f.write(HEADER.pack(MAGIC, VERSION, len(arrays), size, crc, 0, identity.encode()))


def read_weights(path: str, identity: str | None = None) -> list[np.ndarray]:
    """The arrays of a `model.weights` file, checked as the C loader checks it (header, size, CRC, entries; the
    compile's `identity` when given); a one-line QcompError otherwise. For tools and tests: the C loader is
    what the library uses."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise QcompError(f"{path}: {e.strerror or e}") from None
    if data.size < HEADER.size or bytes(data[:8]) != MAGIC:
        raise QcompError(f"{path}: not a qcomp weights file (no {MAGIC.decode()} header)")
    _, version, count, size, crc, _, ident = HEADER.unpack_from(data)
    if version != VERSION:
        raise QcompError(f"{path}: weights format version {version}, qcomp reads version {VERSION}")
    if size != data.size:
        raise QcompError(f"{path}: truncated or damaged: the header says {size} bytes, the file has {data.size}")
    if zlib.crc32(data[28:].data, zlib.crc32(data[:24].data)) != crc:
        raise QcompError(f"{path}: damaged: the CRC-32 of its contents does not match its header")
    if HEADER.size + count * ENTRY.size > size:
        raise QcompError(f"{path}: truncated: the array table runs past the end of the file")
    if identity is not None and ident != identity.encode():
        raise QcompError(
            f"{path}: weights of another compile (model id {ident.decode(errors='replace')}, this model is {identity})"
        )
    out = []
    for i in range(count):
        code, rank, off, nbytes, *shape = ENTRY.unpack_from(data, HEADER.size + i * ENTRY.size)
        dtype = _BY_CODE.get(code)
        dims = shape[:rank]
        if dtype is None or rank > MAX_RANK or min(dims, default=0) < 0:
            raise QcompError(f"{path}: array {i} has dtype code {code} and rank {rank}, which qcomp does not write")
        if off % ALIGN or off + nbytes > size or int(np.prod(dims, dtype=np.int64)) * dtype.itemsize != nbytes:
            raise QcompError(f"{path}: array {i} ({nbytes} bytes at offset {off}) does not fit its shape or the file")
        out.append(data[off : off + nbytes].view(dtype).reshape(dims))
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


def header_text(inputs: list[Spec], outputs: list[Spec], weights: list[Spec], finite_only: bool = False) -> str:
    """model.h: the C API of model.so for a model with these inputs, outputs and weights (`finite_only`: static
    activation scales, NaN/inf float inputs refused)."""
    ins = "\n".join(f" *   input {i}: {type_text(*s)}" for i, s in enumerate(inputs)) or " *   (none)"
    outs = "\n".join(f" *   output {i}: {type_text(*s)}" for i, s in enumerate(outputs))
    codes = "\n".join(f"    QCOMP_{short.upper()} = {code}," for code, _, short in DTYPES.values())
    return HEADER_TEMPLATE.format(
        ins=ins,
        outs=outs,
        n_weights=len(weights),
        finite_note=(
            "this model quantizes activations with static (calibrated) scales: a float input holding NaN or inf "
            "makes the run\n * return QCOMP_ERR_INPUT (nothing computed; qcomp_error() names the input and the "
            "element)."
            if finite_only
            else "propagated as PyTorch does (this model has no static activation scales)."
        ),
        codes=codes,
        n_inputs=len(inputs),
        n_outputs=len(outputs),
        defines=_defines("INPUT", inputs) + "\n" + _defines("OUTPUT", outputs),
    )


def wrapper_text(
    inputs: list[Spec],
    outputs: list[Spec],
    weights: list[Spec],
    id_bounds: list[tuple[int, int]] = (),
    identity: str = "0" * ID_BYTES,
    finite_only: bool = False,
) -> str:
    """model_api.c: model.h's API over MLIR's packed entry point, with the weights loader; `id_bounds`:
    (input, vocabulary size) of the inputs embeddings index with (`input_checks.token_id_bounds`);
    `finite_only`: float inputs holding NaN or inf are refused (static activation scales, docs/numerics.md)."""
    sizes = "\n".join(f"    case QCOMP_{short.upper()}: return {dt.itemsize};" for dt, (_, _, short) in DTYPES.items())
    return WRAPPER_TEMPLATE.format(
        tables="\n".join(
            (_info_rows("input_info", inputs), _info_rows("output_info", outputs), _info_rows("weight_info", weights))
        ),
        n_inputs=len(inputs),
        n_outputs=len(outputs),
        n_weights=len(weights),
        finite_only=int(bool(finite_only)),
        n_id_checks=len(id_bounds),
        id_checks=", ".join(f"{{{i}, {v}}}" for i, v in id_bounds) or "{0, 0}",
        in_words=_words(inputs),
        out_words=_words(outputs),
        w_words=_words(weights),
        sizes=sizes,
        magic=MAGIC.decode(),
        model_id=identity,
        id_bytes=ID_BYTES,
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
    identity = model_id(fn.llvm_text, fn.weights)
    write_weights(os.path.join(directory, "model.weights"), fn.weights, identity)
    with open(os.path.join(directory, "model.h"), "w") as f:
        f.write(header_text(inputs, outputs, weights, getattr(fn, "finite_only", False)))
    with open(os.path.join(directory, "model_api.c"), "w") as f:
        f.write(
            wrapper_text(
                inputs, outputs, weights, getattr(fn, "id_bounds", []), identity, getattr(fn, "finite_only", False)
            )
        )
    written = ["model.o", "model.weights", "model.h", "model_api.c"]
    cc = find_c_compiler()
    if cc is None:
        if os.path.exists(os.path.join(directory, "model.so")):  # an earlier save's: it would not match the weights
            os.remove(os.path.join(directory, "model.so"))
        print("qcomp: model.so skipped: no C compiler (cc, gcc or clang) on PATH", file=sys.stderr)
        return written
    link_shared(cc, directory, fn.shared_libs)
    return [*written, "model.so"]
