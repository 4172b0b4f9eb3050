"""The walkthrough of docs/architecture.md, "Adding a target": the toy accelerator of examples/toy_target.py,
registered with one line, compiles the built-in MLP, runs its qc.qlinear ops in its own executor and equals the
CPU build bit for bit (both compute the reference semantics)."""

import numpy as np
import pytest
import qcomp
from qcomp import targets
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.pipeline import Pipeline


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(targets.TARGETS, "toy", ("qcomp.examples.toy_target", "ToyTarget"))  # the one line
    return targets.get("toy")


def test_toy_target_runs_the_offloaded_ops_and_equals_the_cpu(toy, tmp_path):
    model, inputs = BUILTIN["mlp"]()
    cm = qcomp.compile(model, inputs, target=toy, recipe="w8a8")
    cpu = qcomp.compile(model, inputs, target="cpu", recipe="w8a8")
    got, want = cm(*inputs), cpu(*inputs)
    assert np.array_equal(got.numpy(), want.numpy())
    rep = cm.report["target"]
    assert rep["name"] == "toy"
    assert rep["offloaded"] == cm.report["placement"]["target"] > 0
    assert rep["macs"] > 0
    assert "call @toy_0(" in cm.stages["target"]  # the partition is visible in the IR
    assert "toy.json" in cm.save(str(tmp_path))


def test_toy_target_is_a_registered_plug_in(toy):
    assert "toy" in targets.names()
    assert "qc-toy-offload" in {s.name for s in Pipeline.parse("qc-toy-offload").steps}
    assert targets.get("toy", prefix="acc").pipeline().count("prefix=acc") == 1
    with pytest.raises(QcompError, match="prefix must be an identifier"):
        targets.get("toy", prefix="1x")
