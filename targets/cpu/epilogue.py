"""The fused epilogue of the CPU GEMM microkernels (`kernels.emit_gemm`): elementwise work on each accumulator
vector in registers before it is stored (scales, bias, activation, a gate), and the loads of its inputs."""

from dataclasses import dataclass

from .isa import LANES
from .linalg_text import Fn, T
from .vector_map import vector_body


@dataclass(frozen=True)
class Epilogue:
    """Elementwise work applied to each accumulator vector before it is stored (the fused epilogue).

    inputs: (ssa, type, kind) with kind 'row' (a [M] value per row), 'col' (a [N] vector), 'scalar' ([1]) or
    'full' (an [M, N] tensor read at the element's own position: a gate multiplying the result);
    body: scalar arith/math lines where %a0 is the accumulator element and %a1.. the inputs; result: the
    name of the stored value (f32). `vector_map.vector_body` turns the body into vector code."""

    inputs: tuple[tuple[str, "T", str], ...]
    body: tuple[str, ...]
    result: str


def epilogue_rows(fn: Fn, ebufs: list, row: str, p: str) -> dict[str, str]:
    """The per-row epilogue inputs of row `row`, loaded and broadcast once for all of the row's vectors."""
    names = {}
    for n, (eb, et, kind) in enumerate(ebufs, 1):
        if kind == "row":
            fn.emit(f"%{p}_rs{n} = memref.load {eb}[{row}] : {et.memref}")
            fn.emit(f"%{p}_rv{n} = vector.broadcast %{p}_rs{n} : f32 to vector<{LANES}xf32>")
            names[f"%a{n}"] = f"%{p}_rv{n}"
    return names


def apply_epilogue(fn: Fn, ep: Epilogue, ebufs: list, row_inputs: dict, acc: str, p: str, j: int, tq) -> str:
    """The epilogue body on one accumulator vector (the panel's j-th vector of a row whose per-row inputs are
    `row_inputs`; tq: the kernel's and the panel's name prefixes and the row index); returns the result."""
    t, q, row = tq

    names = {"%a0": acc, **row_inputs}
    for n, (eb, et, kind) in enumerate(ebufs, 1):
        if kind == "full":
            names[f"%a{n}"] = f"%{p}_ef{n}"
            fn.emit(f"%{p}_ef{n} = vector.load {eb}[{row}, %{q}_col{j}] : {et.memref}, vector<{LANES}xf32>")
        elif kind != "row":
            names[f"%a{n}"] = f"%{q}_ec{j}_{n - 1}" if kind == "col" else f"%{t}_es{n - 1}"
    vb = vector_body(list(ep.body), p, names)
    assert vb is not None, "an epilogue body is arith/math lines"
    lines, outer, local = vb
    assert not outer, f"an epilogue body reads only its inputs, not {sorted(outer)}"
    for line in lines:
        fn.emit(line)
    return local[ep.result]
