"""compile_lm on the accelerator targets (NPU simulator, ideal CIM crossbars, GPU kernels emulated on the CPU):
the accelerator runs qc.qlinear, the host (CPU target) everything else, qc.kv_attention included. Each target's
generation, logits and KV cache after a decode equal the CPU target's bit for bit (all three are bit-exact with
the CPU build at W8A8 by design), and `CompiledLM.target_report()` gives the accelerator's figures per token."""

import numpy as np
import pytest
import qcomp
import torch
from conftest import tiny_llama_lm
from qcomp.examples.models import tiny_llama

ACCELERATORS = {
    "npu": {},
    "cim": {"ideal": True},
    "gpu": {"emulate": True},
}
PROMPT, NEW = 8, 16
_LMS: dict = {}


@pytest.fixture(scope="module")
def model():
    m, (ids,) = tiny_llama()
    return m.lm, ids


def _lm(model, name: str):
    """The W8A8 CompiledLM of the tiny LLaMA for `name` (compiled once per session: two builds each)."""
    if name not in _LMS:
        if name == "cpu":
            _LMS[name] = tiny_llama_lm("w8a8")  # shared with the other e2e tests
        else:
            target = qcomp.targets.get(name, **ACCELERATORS[name])
            _LMS[name] = qcomp.compile_lm(model[0], target=target, recipe="w8a8", max_seq=64, chunk=8)
    return _LMS[name]


def _linears(lm: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in lm.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("name", list(ACCELERATORS))
def test_generate_equals_cpu_target(model, name):
    ids = model[1][:, :PROMPT]
    cpu, acc = _lm(model, "cpu"), _lm(model, name)
    want = cpu.generate(ids, max_new_tokens=NEW)
    got = acc.generate(ids, max_new_tokens=NEW)
    assert len(got[0]) == NEW
    assert got == want
    # the logits themselves, prefill and a decode step, bit for bit
    for lm in (cpu, acc):
        lm.reset()
    assert torch.equal(acc.prefill(ids), cpu.prefill(ids))
    assert torch.equal(acc.decode([want[0][0]]), cpu.decode([want[0][0]]))


@pytest.mark.parametrize("name", list(ACCELERATORS))
def test_decode_updates_the_cache_in_place(model, name):
    """The partition keeps qc.kv_attention's cache operands the caller's buffers: a decode at position p writes
    exactly column p of the keys and row p of the values of every layer, the same values as the CPU target."""
    ids = model[1][:, :PROMPT]
    cpu, acc = _lm(model, "cpu"), _lm(model, name)
    for lm in (cpu, acc):
        lm.reset()
        for c in lm.cache:
            c[...] = 0
        lm.prefill(ids)
    buffers = [id(c) for c in acc.cache]
    before = [c.copy() for c in acc.cache]
    for c, w in zip(acc.cache, cpu.cache, strict=True):
        assert np.array_equal(c, w)
    token = [int(ids[0, -1])]
    acc.decode(token)
    cpu.decode(token)
    assert [id(c) for c in acc.cache] == buffers
    k, v = acc.cache
    changed_k = np.nonzero((k != before[0]).any(axis=(0, 1, 2, 3)))[0]  # k [L, B, Hkv, D, S]: positions
    changed_v = np.nonzero((v != before[1]).any(axis=(0, 1, 2, 4)))[0]  # v [L, B, Hkv, S, D]
    assert changed_k.tolist() == changed_v.tolist() == [PROMPT]
    assert (k[..., PROMPT] != 0).any(axis=(1, 2, 3)).all()  # every layer wrote its keys
    assert (v[..., PROMPT, :] != 0).any(axis=(1, 2, 3)).all()
    for c, w in zip(acc.cache, cpu.cache, strict=True):
        assert np.array_equal(c, w)


def _figures(name: str, report: dict) -> dict[str, float]:
    """The per-call figures of an accelerator's report, in target_report's names."""
    if name == "npu":
        return {"cycles": report["cycles"], "latency_ns": report["latency_s"] * 1e9, "dram_bytes": report["dram_bytes"]}
    if name == "cim":
        return {"energy_pj": report["energy_pj"], "latency_ns": report["latency_ns"]}
    return {}


@pytest.mark.parametrize("name", list(ACCELERATORS))
def test_target_report_per_generated_token(model, name):
    """After a decode, the figures describe one decode step (one token: every linear layer once, M = 1) and
    a prefill call one chunk; the MACs are counted from the PyTorch model, not from the target."""
    lm, ids = model
    acc = _lm(model, name)
    acc.reset()
    acc.prefill(ids[:, :PROMPT])
    acc.decode([int(ids[0, PROMPT])])
    rep = acc.target_report()
    linears = _linears(lm)
    macs = sum(m.in_features * m.out_features for m in linears)
    assert rep["target"] == name
    assert rep["macs_per_token"] == macs
    assert rep["decode_step"]["tokens"] == 1
    assert rep["prefill_chunk"]["tokens"] == acc.chunk
    assert rep["prefill_chunk"]["macs"] == acc.chunk * macs
    decode = acc.decode_model.artifact.report
    for fig, value in _figures(name, decode).items():
        assert rep[f"{fig}_per_token"] > 0
        assert rep[f"{fig}_per_token"] == pytest.approx(value)  # the decode call's own report
        assert rep["prefill_chunk"][fig] > rep["decode_step"][fig]  # a chunk of 8 tokens costs more than 1
        assert rep["prefill_chunk"][f"{fig}_per_token"] <= rep[f"{fig}_per_token"]
    if name == "npu":
        assert rep["decode_step"]["cycles"] == sum(r["cycles"] for r in decode["layers"])
        assert {r["shape"][0] for r in decode["layers"]} == {1}  # one row per GEMM: the step's one token
        assert len(decode["layers"]) == len(linears)
    if name == "gpu":
        assert rep["kernel_launches_per_token"] == len(linears)


def test_cpu_target_report_has_no_figures(model):
    rep = _lm(model, "cpu").target_report()
    assert rep["target"] == "cpu"
    assert not any(k.endswith("_per_token") for k in rep)
