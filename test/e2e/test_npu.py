"""NPU builds end to end: the offloaded qc.qlinear layers run by the simulator and the rest on the host give
the CPU W8A8 build's outputs bit-identically; the report has cycles and per-layer rows; `save` writes the
assembly, the binary (which decodes back to the simulated programs) and the report; the CLI compiles for
`npu:scalesim`; a layer too big for the scratchpad is rejected at compile time."""

import json
import os

import numpy as np
import pytest
import qcomp
import torch
from qcomp import targets
from qcomp.dialects.errors import QcompError
from qcomp.evaluate import default_text, encoder_batches
from qcomp.examples.models import BUILTIN
from qcomp.models import minilm
from qcomp.targets.npu import isa
from qcomp.targets.npu.target import read_binary


def _outputs(cm, inputs) -> list[np.ndarray]:
    with torch.no_grad():
        out = cm(*inputs)
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize(("name", "npu"), [("mlp", {"preset": "scalesim"}), ("tiny-llama", {"dataflow": "os"})])
def test_npu_build_bit_identical_to_cpu(name, npu, tmp_path):
    model, inputs = BUILTIN[name]()
    cm = qcomp.compile(model, inputs, target=targets.get("npu", **npu), recipe="w8a8")
    want = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")
    for g, w in zip(_outputs(cm, inputs), _outputs(want, inputs), strict=True):
        assert np.array_equal(g, w)
    r = cm.report["target"]
    assert r["name"] == "npu"
    assert r["calls"] == 1
    layers = r["layers"]
    assert len(layers) == r["partition"]["npu"] >= 3
    assert "qc.quantize_dynamic" in r["partition"]["host"]
    assert r["cycles"] == sum(row["cycles"] for row in layers) > 0
    for row in layers:
        assert {"name", "cycles", "utilization", "dram_bytes"} <= set(row)
        assert 0 < row["utilization"] <= 1
        assert row["cycles"] >= row["bound_cycles"] > 0
    written = cm.save(str(tmp_path))
    assert {"npu.s", "npu.bin", "npu_report.json"} <= set(written)
    programs = read_binary((tmp_path / "npu.bin").read_bytes())
    assert programs == [layer.program for layer in cm.artifact.layers]
    text = (tmp_path / "npu.s").read_text()
    assert text.count("\nnpu_") == len(layers)
    assert "matmul" in text
    assert isa.assemble(text) == [i for p in programs for i in p]
    assert json.loads((tmp_path / "npu_report.json").read_text())["cycles"] == r["cycles"]


@pytest.mark.slow
def test_minilm_npu_bit_identical_to_cpu():
    model, tok = minilm()
    inputs = tuple(encoder_batches(tok, default_text(), 1, 32)[0])
    cm = qcomp.compile(model, inputs, target=targets.get("npu"), recipe="w8a8")
    want = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")
    for g, w in zip(_outputs(cm, inputs), _outputs(want, inputs), strict=True):
        assert np.array_equal(g, w)
    assert cm.report["target"]["partition"]["npu"] == 36  # Q, K, V, O and the two FFN layers of 6 blocks


def test_cli_compiles_for_npu_preset(tmp_path):
    from qcomp.tools.qcomp_main import main

    assert main(["compile", "mlp", "--target", "npu:scalesim", "--recipe", "w8a8", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "npu_report.json").read_text())
    assert report["preset"] == "scalesim"
    assert report["layers"]
    assert os.path.getsize(tmp_path / "npu.bin") > 8


def test_layer_that_overflows_the_scratchpad_is_rejected_at_compile_time():
    model, inputs = BUILTIN["mlp"]()
    npu = targets.get("npu", preset="gemmini", scratchpad_kib=1)
    with pytest.raises(QcompError) as info:
        qcomp.compile(model, inputs, target=npu, recipe="w8a8")
    msg = str(info.value)
    assert "npu: qc.qlinear [M=8, K=64, N=128] does not fit the gemmini scratchpad (1024 B)" in msg
    assert "\n" not in msg
