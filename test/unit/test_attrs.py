"""dialects/attrs.py: every discardable qc.* attribute declared once, with typed get/set that round-trip."""

import pathlib
import re

import numpy as np
import pytest
from qcomp.dialects import attrs, new_context, op_classes
from qcomp.dialects._mlir import ir

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = ("compiler", "dialects", "passes", "targets", "tools", "examples")


def test_every_qc_attribute_in_the_source_is_declared():
    ops = set(op_classes())
    undeclared = {}
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r"[\"'](qc\.[a-z_]+)[\"']", path.read_text()):
                if name not in ops and name not in attrs.BY_NAME:
                    undeclared.setdefault(name, str(path.relative_to(ROOT)))
    assert not undeclared, f"qc.* attributes not declared in dialects/attrs.py: {undeclared}"


def test_declarations_are_unique_and_documented():
    names = [a.name for a in attrs.ALL]
    assert len(names) == len(set(names))
    assert len(names) >= 25
    assert all(a.doc and a.on in ("op", "module", "func") for a in attrs.ALL)
    assert not set(names) & set(op_classes())  # an attribute is not named like an op


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        (attrs.PRECISION, "w4a16g128"),
        (attrs.WBITS, 4),
        (attrs.ACT_SCALE, 0.125),  # exact in f32
        (attrs.OUTPUT_GAIN, 0.1),  # f64
        (attrs.ACT_ABSMAX, np.array([1.5, 0.0, 3.25], np.float32)),
    ],
)
def test_get_set_round_trip(attr, value):
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse("func.func @f() { return }")
        op = module.body.operations[0]
        assert attr.get(op) is None
        assert attr.get(op, "dflt") == "dflt"
        assert not attr.has(op)
        attr.set(op, value)
        assert attr.has(op)
        assert attr.name in op.attributes
        np.testing.assert_array_equal(attr.get(op), value)
        attr.delete(op)
        assert not attr.has(op)


def test_module_attributes_are_read_off_the_module_op():
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse("module {}")
        attrs.TARGET.set_module(module, "cim")
        assert str(module.operation.attributes["qc.target"]) == '"cim"'
        assert attrs.TARGET.get_module(module) == "cim"
