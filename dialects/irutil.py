"""Small IR helpers shared by passes, targets and the API: finding ops, @main, reading attributes, outlined calls."""

from collections.abc import Callable

from qcomp.dialects._mlir import ir


def find_ops(module: ir.Module, match: Callable, first: bool = False) -> list:
    """Ops of `module` (walk order) for which `match(op)` holds; only the first one when `first`."""
    found = []

    def visit(op):
        if match(op):
            found.append(op)
            if first:
                return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def ops_named(module: ir.Module, *names: str) -> list:
    """Ops whose name is one of `names` (a name ending in '.' matches a prefix)."""
    exact = {n for n in names if not n.endswith(".")}
    prefixes = tuple(n for n in names if n.endswith("."))
    return find_ops(module, lambda op: op.name in exact or (bool(prefixes) and op.name.startswith(prefixes)))


def count_ops(module: ir.Module, prefix: str) -> dict[str, int]:
    """Names and counts of the ops whose name starts with `prefix`."""
    counts: dict[str, int] = {}
    for op in find_ops(module, lambda op: op.name.startswith(prefix)):
        counts[op.name] = counts.get(op.name, 0) + 1
    return counts


def first_op(module: ir.Module, prefix: str):
    """The first op whose name starts with `prefix`, or None."""
    found = find_ops(module, lambda op: op.name.startswith(prefix), first=True)
    return found[0] if found else None


def find_main(module: ir.Module):
    """The module's `func.func @main`, or None."""
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "main":
            return op
    return None


def main_func(module: ir.Module):
    """The module's `func.func @main` (ValueError when it has none: callers turn it into their own message)."""
    main = find_main(module)
    if main is None:
        raise ValueError("module has no func.func @main")
    return main


def i64_attr(v: int) -> ir.IntegerAttr:
    """A signless i64 IntegerAttr (op attributes such as bits, axis, group)."""
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(v))


def attr_value(a):
    """The Python value of an integer, float, string or i64-array attribute (other kinds: their text)."""
    if isinstance(a, ir.IntegerAttr | ir.FloatAttr | ir.StringAttr):
        return a.value
    if isinstance(a, ir.DenseI64ArrayAttr):
        return list(a)
    return str(a)


def call_before(op, callee: str, operands: list, result_types: list, no_inline: bool = True):
    """A `func.call @callee` inserted before `op` (at its location); `no_inline` keeps kernels outlined, so
    LLVM compiles each kernel once however many call sites use it."""
    attrs = {"callee": ir.FlatSymbolRefAttr.get(callee)}
    if no_inline:
        attrs["no_inline"] = ir.UnitAttr.get()
    with ir.InsertionPoint(op), op.location:
        return ir.Operation.create("func.call", results=result_types, operands=operands, attributes=attrs)


def replace_with_call(op, callee: str, operands: list, no_inline: bool = True):
    """Replace `op` by an outlined call returning the same types; returns the call."""
    call = call_before(op, callee, operands, [r.type for r in op.results], no_inline)
    for old, new in zip(op.results, call.results, strict=True):
        old.replace_all_uses_with(new)
    op.erase()
    return call


__all__ = [
    "attr_value",
    "call_before",
    "count_ops",
    "find_main",
    "find_ops",
    "first_op",
    "i64_attr",
    "main_func",
    "ops_named",
    "replace_with_call",
]
