"""targets/cpu/lowerings.py: one explicit table of the CPU's lowerings, covering every `lower_<op>` function the
lowering modules define and every qc op the dialect defines (but those the CPU runs on the host or refuses)."""

import inspect

from qcomp.dialects import op_classes
from qcomp.targets import get
from qcomp.targets.cpu import (
    lower_attention,
    lower_float_formats,
    lower_ops,
    lower_qlinear_grouped,
    lower_quant_ops,
    lower_softmax,
)
from qcomp.targets.cpu.lowerings import LOWERINGS

MODULES = (lower_ops, lower_quant_ops, lower_qlinear_grouped, lower_softmax, lower_attention, lower_float_formats)


def test_every_lowering_function_is_in_the_table():
    defined = {
        name[len("lower_") :]: f
        for m in MODULES
        for name, f in inspect.getmembers(m, inspect.isfunction)
        if name.startswith("lower_") and f.__module__ == m.__name__
    }
    assert defined == LOWERINGS


def test_table_names_qc_ops_and_is_the_targets_capabilities():
    ops = set(op_classes())
    assert {f"qc.{k}" for k in LOWERINGS} <= ops
    assert get("cpu").capabilities.ops == frozenset(f"qc.{k}" for k in LOWERINGS)
