"""GPU kernels without a GPU: the emulated kernel IR matches the qc reference bit-exactly on shapes with
M, N and K tails, the PTX of the kernels is accepted by ptxas for sm_90, and bad shapes are one-line errors."""

import numpy as np
import pytest
from qcomp import targets
from qcomp.dialects import reference
from qcomp.dialects.errors import QcompError
from qcomp.targets.gpu.emulate import EmulatedKernels
from qcomp.targets.gpu.kernels import GemmSpec, Tiling, gpu_module
from qcomp.targets.gpu.ptx import compile_ptx, find_ptxas, ptxas

SPECS = [
    GemmSpec(8, 128, 64),  # M < 16: rows beyond M clamped, not stored
    GemmSpec(37, 45, 70, "relu"),  # M, N and K tails at once
    GemmSpec(16, 176, 176, "none", per_token=False),  # one activation scale
    GemmSpec(33, 72, 1536),  # a long K (MiniLM's FFN down projection)
]


def _operands(spec: GemmSpec, rng):
    xq = rng.integers(-127, 128, (spec.m, spec.k)).astype(np.int8)
    wq = rng.integers(-127, 128, (spec.n, spec.k)).astype(np.int8)
    xq[0, :] = -127  # extreme products: |acc| = K·127² on row 0
    wq[0, :] = -127
    xs = (rng.random((spec.m, 1) if spec.per_token else (1,)) * 0.01).astype(np.float32)
    ws = (rng.random(spec.n) * 0.01).astype(np.float32)
    b = rng.standard_normal(spec.n).astype(np.float32)
    return [xq, xs, wq, ws, b]


@pytest.fixture(scope="module")
def emulated():
    return EmulatedKernels(SPECS, Tiling())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_emulated_kernel_matches_reference_bit_exactly(emulated, spec):
    ops = _operands(spec, np.random.default_rng(spec.m * 1000 + spec.n))
    got = emulated.run(spec, ops)
    want = reference.qlinear(*ops, act=spec.act)
    assert got.dtype == np.float32
    assert np.array_equal(got, want)


def test_other_tilings_give_the_same_bits():
    spec = GemmSpec(37, 45, 70)
    ops = _operands(spec, np.random.default_rng(1))
    want = reference.qlinear(*ops)
    for tiling in (Tiling(1, 1, 1, 1), Tiling(1, 4, 2, 1)):
        assert np.array_equal(EmulatedKernels([spec], tiling).run(spec, ops), want)


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not installed (pip install 'qcomp[gpu]': nvidia-cuda-nvcc)")
def test_ptxas_accepts_the_kernels_for_sm_90():
    _, ptx = compile_ptx(gpu_module(SPECS, Tiling()), "sm_90")
    log = ptxas(ptx, "sm_90")
    for spec in SPECS:
        assert f"Compiling entry function '{spec.name}' for 'sm_90'" in log
    assert "0 bytes spill stores" in log


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not installed (pip install 'qcomp[gpu]': nvidia-cuda-nvcc)")
def test_ptxas_rejection_is_one_line_error():
    with pytest.raises(QcompError, match=r"ptxas -arch=sm_90 rejected the PTX: ") as info:
        ptxas(".version 8.0\n.target sm_90\n.address_size 64\nbogus;\n", "sm_90")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"m": 4, "n": 8, "k": 200_000}, "K=200000 may overflow the i32 accumulator"),
        ({"m": 4, "n": 8, "k": 32, "act": "gelu"}, "activation 'gelu' is not fused on the GPU"),
        ({"m": 0, "n": 8, "k": 32}, "empty shape"),
    ],
)
def test_bad_gemm_specs(kwargs, message):
    with pytest.raises(QcompError, match=message):
        GemmSpec(**kwargs)


def test_target_options_are_validated():
    assert targets.get("gpu").options.arch == "sm_90"
    assert targets.get("gpu", emulate=True).options.emulate
    with pytest.raises(QcompError, match="arch must be one of"):
        targets.get("gpu", arch="sm_70")
    with pytest.raises(QcompError, match="emulate must be true or false"):
        targets.get("gpu", emulate="yes")
    caps = targets.get("gpu").capabilities
    assert caps.supports("qc.qlinear")
    assert not caps.supports("qc.softmax")
    assert targets.get("gpu").pipeline().startswith("qc-fuse{act=false,gate=false},qc-gpu-offload,")
