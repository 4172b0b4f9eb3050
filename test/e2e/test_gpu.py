"""The GPU target end to end without a GPU: the CPU emulation of the kernel IR gives the CPU target's outputs
bit-identically (mlp, tiny-llama, MiniLM W8A8), every MiniLM kernel's PTX is accepted by ptxas for sm_90,
tiny-llama W4A16 runs its qc.wlinear GEMMs on the GPU within f32 rounding of the CPU build, ops=all moves
the norms, softmax, SiLU and dynamic quantization to the GPU too,
a non-emulated build compiles and saves its PTX and launch plan but refuses to run in one line, and
bench/gpu_check.sh says what it would run."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
import qcomp
from qcomp import targets
from qcomp.dialects.errors import QcompError
from qcomp.evaluate import default_text, encoder_batches
from qcomp.examples.models import BUILTIN
from qcomp.models import minilm
from qcomp.targets.gpu.ptx import find_ptxas, ptxas
from qcomp.targets.gpu.runtime import cuda_device

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _outs(x):
    return [t.numpy() for t in (x if isinstance(x, tuple) else (x,))]


def _same_as_cpu(model, inputs):
    gpu = qcomp.compile(model, inputs, target=targets.get("gpu", emulate=True), recipe="w8a8")
    cpu = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")
    got, want = _outs(gpu(*inputs)), _outs(cpu(*inputs))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    return gpu


@pytest.mark.parametrize("name", ["mlp", "tiny-llama"])
def test_emulated_gpu_build_is_bit_identical_to_cpu(name):
    model, inputs = BUILTIN[name]()
    gpu = _same_as_cpu(model, inputs)
    rep = gpu.report["target"]
    assert rep["name"] == "gpu"
    assert rep["emulate"] is True
    n_qlinear = sum(r["op"] == "qc.qlinear" for r in gpu.report["ops"])
    assert rep["offloaded_ops"] == n_qlinear >= 3
    assert '"qc.qlinear"(' not in gpu.stages["target"]
    assert gpu.stages["target"].count('qc.offload = "qc.qlinear"') == n_qlinear


def test_tiny_llama_w4a16_wlinear_on_the_gpu_within_rounding_of_cpu():
    model, inputs = BUILTIN["tiny-llama"]()
    gpu = qcomp.compile(model, inputs, target=targets.get("gpu", emulate=True), recipe="w4a16")
    cpu = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w4a16")
    (got,), (want,) = _outs(gpu(*inputs)), _outs(cpu(*inputs))
    # the GEMMs' f32 sums run in another order than the CPU's: logits within 1e-5 of their range
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(np.abs(want).max()))
    rep = gpu.report["target"]
    n_wlinear = sum(r["op"] == "qc.wlinear" for r in gpu.report["ops"])
    assert rep["gpu_ops"] == {"qc.wlinear": n_wlinear}
    assert n_wlinear == 15
    assert gpu.stages["target"].count('qc.offload = "qc.wlinear"') == n_wlinear
    plan = gpu.artifact.plan
    assert {p["block"][0] for p in plan} == {128}
    if find_ptxas() is not None:
        for k in gpu.artifact.kernels.values():
            assert f"'{k.spec.name}' for 'sm_90'" in ptxas(k.ptx, "sm_90")


def test_tiny_llama_w8a8_with_norms_softmax_silu_and_quantize_on_the_gpu():
    model, inputs = BUILTIN["tiny-llama"]()
    target = targets.get("gpu", emulate=True, ops="all")
    assert target.capabilities.supports("qc.softmax")
    assert "qc-gpu-offload{ops=all}" in target.pipeline()
    gpu = qcomp.compile(model, inputs, target=target, recipe="w8a8")
    cpu = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")
    (got,), (want,) = _outs(gpu(*inputs)), _outs(cpu(*inputs))
    # norms and softmax sum in another order: a flipped int8 rounding downstream stays within 1e-4 here
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * float(np.abs(want).max()))
    gpu_ops = gpu.report["target"]["gpu_ops"]
    assert set(gpu_ops) == {"qc.qlinear", "qc.quantize_dynamic", "qc.rms_norm", "qc.silu", "qc.softmax"}
    host = gpu.stages["target"]
    assert 'qc.quantize_dynamic"(' not in host  # both results (q, scale) come from the GPU kernel
    assert 'qc.offload = "qc.quantize_dynamic", qc.results = 2 : i64' in host
    plan = {p["op"]: p for p in gpu.artifact.plan}
    assert plan["qc.rms_norm"]["shared_memory_bytes"] == 512
    assert plan["qc.softmax"]["grid"] == [4 * 16, 1, 1]  # one block per row: 4 heads x 16 queries
    if find_ptxas() is not None:
        for k in gpu.artifact.kernels.values():
            assert f"'{k.spec.name}' for 'sm_90'" in ptxas(k.ptx, "sm_90")
    with pytest.raises(QcompError, match="ops must be one of gemm, all"):
        targets.get("gpu", ops="norms")


@pytest.mark.slow
def test_minilm_w8a8_emulated_bit_identical_and_ptx_assembles():
    model, tok = minilm()
    inputs = tuple(encoder_batches(tok, default_text(), 1, 32)[0])
    gpu = _same_as_cpu(model, inputs)
    art = gpu.artifact
    assert len(art.plan) == 36  # Q, K, V, O and the two FFN GEMMs of 6 layers
    assert {k.spec.k for k in art.kernels.values()} == {384, 1536}
    if find_ptxas() is not None:
        for k in art.kernels.values():
            assert f"'{k.spec.name}' for 'sm_90'" in ptxas(k.ptx, "sm_90")


@pytest.mark.skipif(cuda_device()[0], reason="a CUDA device exists: the model runs instead of refusing")
def test_without_device_compiles_saves_and_refuses_in_one_line(tmp_path):
    model, inputs = BUILTIN["mlp"]()
    cm = qcomp.compile(model, inputs, target="gpu", recipe="w8a8")
    with pytest.raises(QcompError, match=r"gpu target: cannot run the compiled model: .*emulate=True") as info:
        cm(*inputs)
    assert "\n" not in str(info.value)
    written = cm.save(str(tmp_path))
    ptx_files = [w for w in written if w.endswith(".ptx")]
    assert len(ptx_files) == len(cm.artifact.kernels) == 3  # three distinct qc.qlinear shapes
    text = (tmp_path / ptx_files[0]).read_text()
    assert ".target sm_90" in text
    assert "mma.sync.aligned.m16n8k32" in text
    plan = json.loads((tmp_path / "launch_plan.json").read_text())
    assert [p["symbol"] for p in plan] == ["gpu_0", "gpu_1", "gpu_2"]
    assert plan[0]["block"] == [128, 1, 1]
    assert plan[0]["grid"] == [2, 1, 1]
    assert plan[0]["shared_memory_bytes"] == 0
    assert json.loads((tmp_path / "gpu_report.json").read_text())["kernels"] == 3


@pytest.mark.skipif(cuda_device()[0], reason="a CUDA device exists: the script would run the check")
def test_gpu_check_script_without_gpu_says_what_it_would_run():
    r = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert "no GPU found" in r.stdout
    assert "bench/gpu_check.py --models minilm,smollm2" in r.stdout
    assert "make setup" in r.stdout
