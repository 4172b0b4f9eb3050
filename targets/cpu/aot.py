"""Ahead-of-time CPU artifact: the JIT's machine code as a shared library with a C API and a weights file.

`save_aot(fn, directory)` writes, next to `model.o` (the ExecutionEngine's object code, so the library
computes bit for bit what the JIT computes):

- `model.weights`: the externalized weight arrays, in the order @main takes them (format below);
- `model.h`: the C API (`qcomp_model_load`, `qcomp_model_run`, `qcomp_model_free`, `qcomp_error`) and the
  inputs' and outputs' dtypes and shapes as #defines and as `qcomp_tensor_info` tables;
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
    return _HEADER.format(
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
    return _WRAPPER.format(
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


def link_shared(cc: str, directory: str) -> None:
    """`cc -shared model_api.c model.o -lm -o model.so` in `directory`, exporting only the `qcomp_*` API."""
    with tempfile.TemporaryDirectory() as tmp:
        exports = os.path.join(tmp, "exports.map")
        with open(exports, "w") as f:
            f.write("{ global: qcomp_*; local: *; };\n")
        cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c11", "-o", "model.so", "model_api.c", "model.o", "-lm"]
        cmd += [f"-Wl,--version-script={exports}", "-Wl,-z,notext", "-Wl,-soname,model.so"]
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
    link_shared(cc, directory)
    return [*written, "model.so"]


_HEADER = """\
/* model.h: generated by qcomp (do not edit). The C API of model.so, a model compiled ahead of time.
 *
 *   qcomp_model *m = qcomp_model_load("model.weights");   // NULL on error: see qcomp_error()
 *   const void *in[QCOMP_NUM_INPUTS] = {{x}};
 *   void *out[QCOMP_NUM_OUTPUTS] = {{y}};
 *   int rc = qcomp_model_run(m, in, out);                 // 0 on success
 *   qcomp_model_free(m);
 *
 * Build: cc -I DIR app.c DIR/model.so -Wl,-rpath,DIR   (examples/c/run_model.c in the qcomp repository)
 *
 * Inputs: caller's buffers, row-major, native byte order; never written (the library copies them).
{ins}
 * Outputs: caller's buffers, row-major; every element is written.
{outs}
 * Weights: {n_weights} arrays in model.weights (format: qcomp's targets/cpu/aot.py), checked when loaded.
 * qcomp_error() is per thread.
 */
#ifndef QCOMP_MODEL_H
#define QCOMP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define QCOMP_ABI_VERSION 1

/* Element types (f16 travels as uint16_t bits, i1 as one byte holding 0 or 1). */
enum {{
{codes}
}};

typedef struct {{
    int dtype;            /* QCOMP_F32, ... */
    int rank;
    const int64_t *shape; /* rank sizes */
    size_t nbytes;
    const char *text;     /* e.g. "f32[8, 64]" */
}} qcomp_tensor_info;

#define QCOMP_NUM_INPUTS {n_inputs}
#define QCOMP_NUM_OUTPUTS {n_outputs}
{defines}

typedef struct qcomp_model qcomp_model;

/* Read and check a weights file; NULL (and qcomp_error() says why, in one line) on failure. */
qcomp_model *qcomp_model_load(const char *weights_path);
void qcomp_model_free(qcomp_model *m);
/* Run once: inputs[i] holds input i, outputs[i] receives output i. 0 on success, else see qcomp_error(). */
int qcomp_model_run(const qcomp_model *m, const void *const inputs[], void *const outputs[]);
/* The last error of this thread: one line, no trailing newline. */
const char *qcomp_error(void);

int qcomp_num_inputs(void);
int qcomp_num_outputs(void);
const qcomp_tensor_info *qcomp_input_info(int i);  /* NULL when out of range */
const qcomp_tensor_info *qcomp_output_info(int i); /* NULL when out of range */
size_t qcomp_dtype_size(int dtype);                /* bytes per element, 0 for an unknown code */

#ifdef __cplusplus
}}
#endif
#endif
"""

_WRAPPER = """\
/* model_api.c: generated by qcomp (do not edit). model.h's API over model.o's packed entry point. */
#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(void *) == 8, "qcomp models need 64-bit pointers");

/* args[i] points to a pointer to memref descriptor i: {{void *allocated, *aligned; int64_t offset,
   sizes[rank], strides[rank]}}. Arguments: the inputs, the weights, the outputs. */
extern void _mlir__mlir_ciface_main(void **args);

{tables}

#define N_INPUTS {n_inputs}
#define N_OUTPUTS {n_outputs}
#define N_WEIGHTS {n_weights}
#define N_ARGS (N_INPUTS + N_WEIGHTS + N_OUTPUTS + 1)

struct qcomp_model {{
    unsigned char *file;     /* the whole weights file, {align}-byte aligned */
    int64_t wdesc[{w_words}]; /* the weights' descriptors, back to back */
}};

static _Thread_local char error_text[512];

static void set_error(const char *fmt, ...) {{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
    for (char *c = error_text; *c; c++)
        if (*c == '\\n') *c = ' ';
}}

const char *qcomp_error(void) {{ return error_text; }}
int qcomp_num_inputs(void) {{ return N_INPUTS; }}
int qcomp_num_outputs(void) {{ return N_OUTPUTS; }}
const qcomp_tensor_info *qcomp_input_info(int i) {{ return i >= 0 && i < N_INPUTS ? &input_info[i] : NULL; }}
const qcomp_tensor_info *qcomp_output_info(int i) {{ return i >= 0 && i < N_OUTPUTS ? &output_info[i] : NULL; }}

size_t qcomp_dtype_size(int dtype) {{
    switch (dtype) {{
{sizes}
    default: return 0;
    }}
}}

/* A row-major descriptor of `t` over `p` at d; returns the words used. */
static int fill_desc(int64_t *d, void *p, const qcomp_tensor_info *t) {{
    memcpy(&d[0], &p, sizeof p);
    memcpy(&d[1], &p, sizeof p);
    d[2] = 0;
    int64_t stride = 1;
    for (int k = t->rank - 1; k >= 0; k--) {{
        d[3 + k] = t->shape[k];
        d[3 + t->rank + k] = stride;
        stride *= t->shape[k];
    }}
    return 3 + 2 * t->rank;
}}

static uint32_t u32_at(const unsigned char *p) {{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}}

static uint64_t u64_at(const unsigned char *p) {{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}}

/* "i8[1, 32, 128]" for an entry of the file (codes it does not know print as "dtype 42"). */
static void entry_text(char *buf, size_t n, uint32_t dtype, uint32_t rank, const unsigned char *shape) {{
    static const char *names[] = {{"?", "f32", "f64", "f16", "i8", "i16", "i32", "i64", "u8", "i1"}};
    int used = dtype < sizeof names / sizeof *names ? snprintf(buf, n, "%s[", names[dtype])
                                                    : snprintf(buf, n, "dtype %u[", (unsigned)dtype);
    for (uint32_t k = 0; k < rank && k < {max_rank} && used < (int)n; k++)
        used += snprintf(buf + used, n - used, k ? ", %lld" : "%lld", (long long)(int64_t)u64_at(shape + 8 * k));
    if (used < (int)n) snprintf(buf + used, n - used, "]");
}}

static int check_entries(const char *path, const unsigned char *file, uint64_t size) {{
    for (int i = 0; i < N_WEIGHTS; i++) {{
        const unsigned char *e = file + {header_size} + (size_t)i * {entry_size};
        uint32_t dtype = u32_at(e), rank = u32_at(e + 4);
        uint64_t offset = u64_at(e + 8), nbytes = u64_at(e + 16);
        const qcomp_tensor_info *t = &weight_info[i];
        int same = dtype == (uint32_t)t->dtype && rank == (uint32_t)t->rank && nbytes == t->nbytes;
        for (int k = 0; same && k < t->rank; k++) same = (int64_t)u64_at(e + 24 + 8 * k) == t->shape[k];
        if (!same) {{
            char got[160];
            entry_text(got, sizeof got, dtype, rank, e + 24);
            set_error("%s: array %d is %s, the model expects %s (weights of another model?)", path, i, got, t->text);
            return 0;
        }}
        if (offset % {align} != 0 || offset > size || nbytes > size - offset) {{
            set_error("%s: array %d (%llu bytes at offset %llu) lies outside the %llu-byte file or is misaligned",
                      path, i, (unsigned long long)nbytes, (unsigned long long)offset, (unsigned long long)size);
            return 0;
        }}
    }}
    return 1;
}}

qcomp_model *qcomp_model_load(const char *path) {{
    FILE *f = fopen(path, "rb");
    if (!f) {{
        set_error("%s: %s", path, strerror(errno));
        return NULL;
    }}
    off_t end = fseeko(f, 0, SEEK_END) == 0 ? ftello(f) : -1;
    if (end < 0 || fseeko(f, 0, SEEK_SET) != 0) {{
        set_error("%s: cannot seek: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }}
    uint64_t size = (uint64_t)end;
    qcomp_model *m = calloc(1, sizeof *m);
    if (m) m->file = aligned_alloc({align}, (size + {align}) / {align} * {align});
    if (!m || !m->file) {{
        set_error("%s: out of memory for %llu bytes", path, (unsigned long long)size);
        qcomp_model_free(m);
        fclose(f);
        return NULL;
    }}
    size_t got = fread(m->file, 1, size, f);
    fclose(f);
    const unsigned char *file = m->file;
    if (got != size) {{
        set_error("%s: read %llu of %llu bytes", path, (unsigned long long)got, (unsigned long long)size);
    }} else if (size < {header_size} || memcmp(file, "{magic}", 8) != 0) {{
        set_error("%s: not a qcomp weights file (no {magic} header)", path);
    }} else if (u32_at(file + 8) != {version}) {{
        set_error("%s: weights format version %u, this model reads version {version}", path, u32_at(file + 8));
    }} else if (u64_at(file + 16) != size) {{
        set_error("%s: truncated or damaged: the header says %llu bytes, the file has %llu", path,
                  (unsigned long long)u64_at(file + 16), (unsigned long long)size);
    }} else if (u32_at(file + 12) != N_WEIGHTS) {{
        set_error("%s: holds %u arrays, the model expects %d (weights of another model?)", path, u32_at(file + 12),
                  N_WEIGHTS);
    }} else if ((uint64_t){header_size} + (uint64_t)N_WEIGHTS * {entry_size} > size) {{
        set_error("%s: truncated: the array table runs past the end of the file", path);
    }} else if (check_entries(path, file, size)) {{
        int64_t *d = m->wdesc;
        for (int i = 0; i < N_WEIGHTS; i++)
            d += fill_desc(d, m->file + u64_at(file + {header_size} + (size_t)i * {entry_size} + 8), &weight_info[i]);
        return m;
    }}
    qcomp_model_free(m);
    return NULL;
}}

void qcomp_model_free(qcomp_model *m) {{
    if (!m) return;
    free(m->file);
    free(m);
}}

int qcomp_model_run(const qcomp_model *m, const void *const inputs[], void *const outputs[]) {{
    int null = !m || (N_INPUTS && !inputs) || !outputs;
    for (int i = 0; !null && i < N_INPUTS; i++) null = !inputs[i];
    for (int i = 0; !null && i < N_OUTPUTS; i++) null = !outputs[i];
    if (null) {{
        set_error("qcomp_model_run: the model, an input or an output is NULL");
        return 1;
    }}
    /* @main may update its arguments in place: it gets copies of the inputs. */
    void *copies[N_INPUTS + 1] = {{NULL}};
    int ok = 1;
    for (int i = 0; i < N_INPUTS && ok; i++) {{
        copies[i] = aligned_alloc({align}, (input_info[i].nbytes + {align}) / {align} * {align});
        if (copies[i]) memcpy(copies[i], inputs[i], input_info[i].nbytes);
        ok = copies[i] != NULL;
    }}
    if (ok) {{
        int64_t in_desc[{in_words}], out_desc[{out_words}];
        void *ptrs[N_ARGS], *args[N_ARGS];
        int n = 0, at = 0;
        for (int i = 0; i < N_INPUTS; i++, n++) {{
            ptrs[n] = &in_desc[at];
            at += fill_desc(&in_desc[at], copies[i], &input_info[i]);
        }}
        at = 0;
        for (int i = 0; i < N_WEIGHTS; i++, n++) {{
            ptrs[n] = (void *)&m->wdesc[at];
            at += 3 + 2 * weight_info[i].rank;
        }}
        at = 0;
        for (int i = 0; i < N_OUTPUTS; i++, n++) {{
            ptrs[n] = &out_desc[at];
            at += fill_desc(&out_desc[at], outputs[i], &output_info[i]);
        }}
        for (int i = 0; i < n; i++) args[i] = &ptrs[i];
        _mlir__mlir_ciface_main(args);
    }} else {{
        set_error("qcomp_model_run: out of memory for the inputs");
    }}
    for (int i = 0; i < N_INPUTS; i++) free(copies[i]);
    return ok ? 0 : 1;
}}
"""
