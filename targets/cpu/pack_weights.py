"""qc-cpu-pack-weights: pack constant GEMM weights at compile time for the CPU microkernels.

The CPU lowering of qc.linear / qc.qlinear (see `gemm_ops`) emits a function that copies its [N, K]
weight into the kernel's layout on every call and then calls `<name>_packed`. Where the weight is a
constant, this pass computes the packed layout once with numpy, stores it as a new constant and calls
`<name>_packed` directly (the copying function then dies). Layouts: `f32_panels` ([N/NR][K][NR] f32)
and `i8_vnni_panels` ([N/NR][K/4][NR·4] i8, VNNI quads). Values are only moved, never changed, so
results are bit-identical to the unpacked call. Calls with a non-constant weight are left alone.
Constant fp6 codes of qc.fp_wlinear (one per byte in the IR) are stored four in three bytes, `fp6_panels`.

Packed int4 (W4A8): a callee with `qc.packed_int4 = @<name>_packed_i4` (a qc.qlinear of precision w4*) whose
constant weight holds only values in [-8, 7] (and K a multiple of 8) gets the weight in `i4_vnni_panels`
(two int4 per byte, half the bytes; see `int4_panels`) and calls that twin instead; any other weight keeps
`i8_vnni_panels`. The int4 kernel computes the same exact i32 sums: results stay bit-identical.

An i8 qc.qlinear kernel also takes its weight's +128 correction, 128 · Σ_k W[n, k] (`qc.pack_append =
"i8_colsum128:<index>"`): the pass appends it to the call as an i32 constant, so the kernel does not sum the
weight on every call (the int4 twin has no such operand).

i16 pairs (CPUs without AVX512-VNNI): a callee with `qc.packed_pairs = @<name>_packed_pairs` gets its constant
weight in `i8_pair_panels` (the same bytes in another order) and that twin is called (`pair_panels`: one pmaddwd
per 16 products instead of the emulated vpdpbusd); the packed int4 twin, where it applies, comes first.

Options: int4 (default true): use the packed int4 layout where it applies; false keeps every weight in its
i8 layout (the reference build the int4 one is compared with). pairs (default true): call the i16-pair twin
where the lowering emitted one; false keeps the (emulated) VNNI kernel.

Precondition: after qc-lower-to-linalg (callees carry `qc.packed`, `qc.pack` (layouts,
comma-separated) and `qc.pack_operand` (an index, or an i64 array of one index per layout); a call is
redirected only when every packed operand is a constant).
"""

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.irutil import replace_with_call
from qcomp.dialects.weights import constant_array, make_constant

from .gemm_ops import PACK_I4, pack_array
from .int4_panels import fits_int4
from .pair_panels import PACK_PAIRS


def _callee(op) -> str | None:
    if op.name != "func.call" or "callee" not in op.attributes:
        return None
    return ir.FlatSymbolRefAttr(op.attributes["callee"]).value


@dataclass(frozen=True)
class PackWeightsPass:
    """Replace calls of weight-packing kernel functions on constant weights by calls of their packed twin.

    int4: pack int4-valued weights of callees with a `qc.packed_int4` twin two per byte and call that twin;
    pairs: call the `qc.packed_pairs` twin (i16 pairs) of the others."""

    name: ClassVar[str] = "qc-cpu-pack-weights"
    int4: bool = True
    pairs: bool = True

    def run(self, module: ir.Module) -> None:

        packing = {}
        for op in module.body.operations:
            if op.operation.name == "func.func" and "qc.packed" in op.attributes:
                a = op.attributes
                index = a["qc.pack_operand"]
                indices = (
                    [ir.IntegerAttr(index).value]
                    if isinstance(index, ir.IntegerAttr)
                    else list(ir.DenseI64ArrayAttr(index))
                )
                layouts = ir.StringAttr(a["qc.pack"]).value.split(",")
                appends = []
                if "qc.pack_append" in a:
                    kind, _, index = ir.StringAttr(a["qc.pack_append"]).value.partition(":")
                    appends.append((kind, int(index)))
                packing[ir.StringAttr(a["sym_name"]).value] = (
                    ir.FlatSymbolRefAttr(a["qc.packed"]).value,
                    list(zip(layouts, indices, strict=True)),
                    ir.FlatSymbolRefAttr(a["qc.packed_int4"]).value if "qc.packed_int4" in a else None,
                    appends,
                    ir.FlatSymbolRefAttr(a["qc.packed_pairs"]).value if "qc.packed_pairs" in a else None,
                )
        if not packing:
            return
        calls = []

        def visit(op):
            if _callee(op) in packing:
                calls.append(op)
            return ir.WalkResult.ADVANCE

        module.operation.walk(visit)
        done: list[tuple[ir.Value, str, ir.Value]] = []  # (weight, layout, packed): one copy per weight

        def derived(w: ir.Value, layout: str, arr) -> ir.Value:
            """`pack_array(arr, layout)` of weight `w` as a constant, made once per weight and layout."""
            found = next((p for v, lay, p in done if v == w and lay == layout), None)
            if found is None:
                with ir.InsertionPoint(w.owner), w.owner.location:
                    found = make_constant(pack_array(arr, layout))
                # the constant goes right after the weight's (it dominates every use of the weight)
                found.owner.move_after(w.owner)
                done.append((w, layout, found))
            return found

        changed = False
        with module.context, ir.Location.unknown():
            for call in calls:
                target, packs, int4_twin, appends, pairs_twin = packing[_callee(call)]
                arrays = [constant_array(call.operands[index]) for _, index in packs]
                if any(arr is None or arr.ndim != 2 for arr in arrays):
                    continue  # every packed operand must be a constant
                if self.int4 and int4_twin and len(packs) == 1 and fits_int4(arrays[0]):
                    target, packs, appends = int4_twin, [(PACK_I4, packs[0][1])], []
                elif self.pairs and pairs_twin and len(packs) == 1:
                    target, packs, appends = pairs_twin, [(PACK_PAIRS, packs[0][1])], []
                operands = list(call.operands)
                for (layout, index), arr in zip(packs, arrays, strict=True):
                    operands[index] = derived(call.operands[index], layout, arr)
                for kind, index in appends:
                    operands.append(derived(call.operands[index], kind, arrays[[i for _, i in packs].index(index)]))
                replace_with_call(call, target, operands, no_inline="no_inline" in call.attributes)
                changed = True
            weights = []  # each once: a weight has its packed layout and, for the i8 kernel, its column sums
            for w, _, _ in done:
                if not any(w == v for v in weights):
                    weights.append(w)
            for w in weights:
                if w.owner.name == "arith.constant" and not list(w.uses):
                    w.owner.erase()
        if changed:
            run_pipeline(module, "symbol-dce")
