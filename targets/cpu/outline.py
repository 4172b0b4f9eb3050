"""qc-outline-host-ops: move each host linalg op of @main into a private function, one per distinct op.

A transformer's host code repeats the same few hundred linalg ops in every layer. Inlined into one
huge @main they cost LLVM minutes of optimisation (SmolLM2: ~40 s of O2 on @main alone); outlined and
de-duplicated, each distinct op is compiled once and @main becomes a list of calls. A static `tensor.empty`
operand (even one CSE shares between ops) is re-created inside the function, so results are fresh tensors
written in place rather than copied out of a read-only argument.

Ops whose regions use values defined outside the op are left in place. Options: none.
Precondition: linalg on tensors with static shapes (after qc-lower-to-linalg).
"""

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.irutil import replace_with_call

from .jit import main_func

PREFIXES = ("linalg.",)  # not tm_tensor: a scan must stay in @main for `buffers.scans_to_linalg`


def _op(x):
    return x.operation if isinstance(x, ir.OpView) else x


def _inside(op, root) -> bool:
    """Whether `op` (an Operation) is `root` or nested in it."""
    cur = _op(op)
    root = _op(root)
    while cur is not None:
        if cur == root:
            return True
        parent = cur.parent
        cur = _op(parent) if parent is not None else None
    return False


def _captures(op) -> bool:
    """True when an op nested in `op` uses a value defined outside `op`."""
    found = []

    def visit(inner):
        if _op(inner) == _op(op):
            return ir.WalkResult.ADVANCE
        for v in inner.operands:
            owner = v.owner
            owner_op = owner.owner if isinstance(owner, ir.Block) else owner
            if not _inside(owner_op, op):
                found.append(v)
                return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    _op(op).walk(visit)
    return bool(found)


def _static_empty(v: ir.Value) -> bool:
    """A `tensor.empty` of static shape: it only names a shape, so the outlined function makes its own (one
    shared by several ops after CSE too), and the result is built in place instead of copied out of an
    argument that bufferization must treat as read-only."""
    owner = v.owner
    return not isinstance(owner, ir.Block) and _op(owner).name == "tensor.empty" and not len(_op(owner).operands)


@dataclass(frozen=True)
class OutlineHostOpsPass:
    """Outline and de-duplicate the linalg ops of @main into private functions (see module docstring)."""

    name: ClassVar[str] = "qc-outline-host-ops"

    def run(self, module: ir.Module) -> None:

        try:
            main = main_func(module)
        except ValueError:
            return
        block = main.regions[0].blocks[0]
        kernels: dict[str, str] = {}
        with module.context, ir.Location.unknown():
            for op in list(block.operations):
                if not op.operation.name.startswith(PREFIXES) or _captures(op):
                    continue
                self._outline(module, op.operation, kernels)
        run_pipeline(module, "symbol-dce")

    @staticmethod
    def _outline(module: ir.Module, op, kernels: dict[str, str]) -> None:
        inner = [i for i, v in enumerate(op.operands) if _static_empty(v)]
        args = [v for i, v in enumerate(op.operands) if i not in inner]
        ftype = ir.FunctionType.get([v.type for v in args], [r.type for r in op.results])
        name = f"__host_{len(kernels)}"
        with ir.InsertionPoint(module.body), op.location:
            fn = ir.Operation.create(
                "func.func",
                regions=1,
                attributes={
                    "sym_name": ir.StringAttr.get(name),
                    "function_type": ir.TypeAttr.get(ftype),
                    "sym_visibility": ir.StringAttr.get("private"),
                },
            )
        entry = fn.regions[0].blocks.append(*[v.type for v in args])
        with ir.InsertionPoint(entry), op.location:
            mapping = {}
            for i in inner:
                empty = _op(op.operands[i].owner).clone()
                mapping[i] = empty.results[0]
            clone = op.clone()
            k = 0
            for i in range(len(op.operands)):
                if i in mapping:
                    clone.operands[i] = mapping[i]
                else:
                    clone.operands[i] = entry.arguments[k]
                    k += 1
            ir.Operation.create("func.return", operands=list(clone.results))
        key = fn.get_asm(print_generic_op_form=True).replace(f'"{name}"', '"_"')
        if key in kernels:
            fn.erase()
            name = kernels[key]
        else:
            kernels[key] = name
        empties = {_op(op.operands[i].owner) for i in inner}
        replace_with_call(op, name, args)
        for e in empties:
            if not list(e.results[0].uses):
                e.erase()
