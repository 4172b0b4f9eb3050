"""Partition a qc module between an accelerator and the host CPU.

An accelerator target (NPU, CIM, GPU) runs some qc ops; everything else (the host ops) runs on the CPU,
as on a real accelerator stack. `offload` replaces each accepted op of @main by a call of an external
function in destination-passing style on buffers:

    %x_buf = bufferization.to_buffer %x read_only : tensor<..> to memref<..>
    %out   = memref.alloc() : memref<..>
    func.call @npu_op_3(%x_buf, %w_buf, ..., %out) {qc.offload = "qc.qlinear", qc.attrs = {...}}
    %y     = bufferization.to_tensor %out restrict : memref<..> to tensor<..>

The call keeps the op's name, attributes and location, so the partition is visible (and lit-testable) in
the IR. `offloaded_ops` reads the calls back (with the values of constant operands: weights, scales,
bias), and `HostProgram` JIT-compiles the rest through the CPU target, binding every external function to
a Python callback that hands numpy views of the buffers to the accelerator's executor (a simulator).
"""

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.attrs import OFFLOAD, OFFLOAD_ATTRS, RESULTS
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import attr_value, find_main
from qcomp.dialects.weights import constant_array
from qcomp.targets.base import get

OFFLOAD_ATTR = OFFLOAD.name
ATTRS_ATTR = OFFLOAD_ATTRS.name
RESULTS_ATTR = RESULTS.name  # on calls of ops with several results: how many trailing out-buffers
HOST = "cpu"  # the target that runs an accelerator build's host part (`Target.build_host`)

_NP = {"f32": np.float32, "f64": np.float64, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64}
_CTYPE = {
    np.dtype(np.float32): ctypes.c_float,
    np.dtype(np.float64): ctypes.c_double,
    np.dtype(np.int8): ctypes.c_int8,
    np.dtype(np.int16): ctypes.c_int16,
    np.dtype(np.int32): ctypes.c_int32,
    np.dtype(np.int64): ctypes.c_int64,
}


@dataclass
class OffloadedOp:
    """One op the accelerator runs: its qc name, attributes, operand types and constant operand values."""

    index: int
    name: str  # the qc op, e.g. "qc.qlinear"
    symbol: str  # the external function the host program calls
    location: str
    attrs: dict[str, Any]
    operand_types: list[tuple[tuple[int, ...], np.dtype]]
    result_type: tuple[tuple[int, ...], np.dtype]
    constants: list[np.ndarray | None]  # per operand: its value when it is a constant (weights), else None
    result_types: list[tuple[tuple[int, ...], np.dtype]] = field(default_factory=list)  # every result


def _shaped(t: ir.Type) -> tuple[tuple[int, ...], np.dtype]:
    st = ir.ShapedType(t)
    if not st.has_static_shape:
        raise QcompError(f"offload: dynamic shape {t} is not supported")
    elem = str(st.element_type)
    if elem not in _NP:
        raise QcompError(f"offload: element type {elem} is not supported")
    return tuple(st.shape), np.dtype(_NP[elem])


def _memref(t: ir.Type) -> ir.Type:
    st = ir.RankedTensorType(t)
    return ir.MemRefType.get(list(st.shape), st.element_type)


_main = find_main  # @main or None (dialects/irutil.py)


def _declare(module: ir.Module, name: str, arg_types: list[ir.Type]) -> None:
    ftype = ir.FunctionType.get(arg_types, [])
    with ir.InsertionPoint.at_block_begin(module.body), ir.Location.unknown():
        ir.Operation.create(
            "func.func",
            regions=1,
            attributes={
                "sym_name": ir.StringAttr.get(name),
                "function_type": ir.TypeAttr.get(ftype),
                "sym_visibility": ir.StringAttr.get("private"),
                "llvm.emit_c_interface": ir.UnitAttr.get(),
            },
        )


def offload(module: ir.Module, accept: Callable[[ir.Operation], bool], prefix: str, multi_result: bool = False) -> int:
    """Replace every op of @main for which `accept(op)` holds by a call of `@<prefix>_<i>` (see the module
    docstring); returns how many were replaced. Ops with several results are offloaded only with
    `multi_result` (one out-buffer per result, their count in the call's `qc.results`; the executor then
    returns a tuple of arrays)."""
    main = _main(module)
    if main is None:
        return 0
    count = 0
    with module.context:
        for op in list(main.regions[0].blocks[0].operations):
            op = op.operation
            if (len(op.results) != 1 and not (multi_result and op.results)) or not accept(op):
                continue
            _offload_one(module, op, f"{prefix}_{count}")
            count += 1
    return count


def _offload_one(module: ir.Module, op, symbol: str) -> None:
    attrs = ir.DictAttr.get({name: op.attributes[name] for name in op.attributes})
    with ir.InsertionPoint(op), op.location:
        out_types = [_memref(r.type) for r in op.results]
        bufs = []
        for v in op.operands:
            mt = _memref(v.type)
            b = ir.Operation.create(
                "bufferization.to_buffer", results=[mt], operands=[v], attributes={"read_only": ir.UnitAttr.get()}
            )
            bufs.append(b.results[0])
        align = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 64)
        outs = [
            ir.Operation.create(
                "memref.alloc",
                results=[t],
                operands=[],
                attributes={"alignment": align, "operandSegmentSizes": ir.DenseI32ArrayAttr.get([0, 0])},
            ).results[0]
            for t in out_types
        ]
        call_attrs = {
            "callee": ir.FlatSymbolRefAttr.get(symbol),
            OFFLOAD_ATTR: ir.StringAttr.get(op.name),
            ATTRS_ATTR: attrs,
        }
        if len(outs) > 1:
            call_attrs[RESULTS_ATTR] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), len(outs))
        ir.Operation.create("func.call", results=[], operands=[*bufs, *outs], attributes=call_attrs)
        tensors = [
            ir.Operation.create(
                "bufferization.to_tensor",
                results=[r.type],
                operands=[out],
                attributes={"restrict": ir.UnitAttr.get()},
            )
            for r, out in zip(op.results, outs, strict=True)
        ]
        _declare(module, symbol, [*(b.type for b in bufs), *out_types])
    for r, t in zip(op.results, tensors, strict=True):
        r.replace_all_uses_with(t.results[0])
    op.erase()


def offloaded_ops(module: ir.Module) -> list[OffloadedOp]:
    """The offloaded calls of @main, in program order, with their constant operands read back."""
    main = _main(module)
    ops: list[OffloadedOp] = []
    if main is None:
        return ops
    for call in main.regions[0].blocks[0].operations:
        call = call.operation
        if call.name != "func.call" or OFFLOAD_ATTR not in call.attributes:
            continue
        operands = list(call.operands)
        n_res = ir.IntegerAttr(call.attributes[RESULTS_ATTR]).value if RESULTS_ATTR in call.attributes else 1
        inputs, results = operands[:-n_res], operands[-n_res:]
        constants = []
        for v in inputs:
            owner = v.owner
            # an input written by an earlier offloaded call is its out-buffer itself (to_buffer(to_tensor) folds)
            src = owner.operands[0] if isinstance(owner, ir.Operation | ir.OpView) and len(owner.operands) else None
            constants.append(None if src is None else constant_array(src))
        attrs = ir.DictAttr(call.attributes[ATTRS_ATTR])
        ops.append(
            OffloadedOp(
                index=len(ops),
                name=ir.StringAttr(call.attributes[OFFLOAD_ATTR]).value,
                symbol=ir.FlatSymbolRefAttr(call.attributes["callee"]).value,
                location=str(call.location),
                attrs={a.name: attr_value(a.attr) for a in attrs},
                operand_types=[_shaped(v.type) for v in inputs],
                result_type=_shaped(results[0].type),
                constants=constants,
                result_types=[_shaped(v.type) for v in results],
            )
        )
    return ops


class HostProgram:
    """@main compiled for the host CPU; each offloaded call runs `execute(op, operand_arrays) -> result`.

    `execute` gets numpy views of the operand buffers (valid only during the call) and returns the result
    array, which is copied into the output buffer after a shape and dtype check. An exception in `execute`
    is re-raised from `__call__` (the rest of that call's host code still runs, on unspecified values)."""

    def __init__(self, module: ir.Module, execute: Callable[[OffloadedOp, list[np.ndarray]], np.ndarray], opt_level=2):
        self.ops = offloaded_ops(module)
        self.execute = execute
        self._local = threading.local()  # per thread: the error an offloaded call raised during this call
        self._callbacks = {op.symbol: self._callback(op) for op in self.ops}
        # the host is the CPU target, made by name from the registry of plug-ins (no target imports another)
        self.jit = get(HOST, opt_level=opt_level).build_host(module, self._callbacks)
        self.llvm_text = self.jit.llvm_text

    def _callback(self, op: OffloadedOp):
        from torch_mlir.runtime import make_nd_memref_descriptor  # deferred: MLIR bindings (heavy)

        results = op.result_types or [op.result_type]
        types = [*op.operand_types, *results]
        n_in = len(op.operand_types)
        descs = [make_nd_memref_descriptor(len(s), _CTYPE[d]) for s, d in types]

        def run(*ptrs):
            if getattr(self._local, "error", None) is not None:
                return
            try:
                arrays = [
                    np.ctypeslib.as_array(p[0].aligned, shape=s) if s else np.ctypeslib.as_array(p[0].aligned, (1,))
                    for p, (s, _) in zip(ptrs, types, strict=True)
                ]
                arrays = [a.reshape(s) for a, (s, _) in zip(arrays, types, strict=True)]
                got = self.execute(op, arrays[:n_in])
                got = [np.asarray(g) for g in got] if len(results) > 1 else [np.asarray(got)]
                for out, (shape, dtype), buf in zip(got, results, arrays[n_in:], strict=True):
                    if out.shape != shape or out.dtype != dtype:
                        raise QcompError(
                            f"{op.location}: {op.name} executor returned {out.dtype.name}{list(out.shape)}, "
                            f"expected {dtype.name}{list(shape)}"
                        )
                    buf[...] = out
            except BaseException as e:  # ctypes would print and swallow it
                self._local.error = e

        proto = ctypes.CFUNCTYPE(None, *[ctypes.POINTER(d) for d in descs])
        return proto(run)

    @property
    def inputs(self):
        return self.jit.inputs

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        self._local.error = None
        outs = self.jit(*inputs)
        err, self._local.error = self._local.error, None
        if err is not None:
            raise err
        return outs
