"""Compiled models under untrusted inputs and threads: token ids outside the vocabulary are refused in one line
(JIT, bound calls, accelerator host code, the AOT C library), each target gives the serial results from 4
threads, a call creates no ctypes types (the per-call leak), empty layers are refused and empty batches run."""

import ctypes
import shutil
import threading

import numpy as np
import pytest
import qcomp
import torch
from qcomp.dialects.errors import QcompError


class EmbedMlp(torch.nn.Module):
    def __init__(self, vocab: int = 32, dim: int = 16):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, dim)
        self.fc = torch.nn.Linear(dim, 8)

    def forward(self, ids):
        return self.fc(self.emb(ids))


IDS = torch.tensor([[1, 5, 31, 0, 7], [2, 2, 9, 30, 4]])


@pytest.fixture(scope="module")
def embed_cpu():
    torch.manual_seed(0)
    model = EmbedMlp()
    return model, qcomp.compile(model, (IDS,), target="cpu", recipe="fp32")


@pytest.mark.parametrize(("bad", "where"), [(32, "[0, 1]"), (-1, "[0, 1]"), (2**40, "[0, 1]")])
def test_token_id_outside_vocabulary_is_refused(embed_cpu, bad, where):
    # an id at or past V, or negative, read another buffer (garbage) or faulted; PyTorch raises
    model, cm = embed_cpu
    ids = IDS.clone()
    ids[0, 1] = bad
    with pytest.raises(QcompError, match=rf"^input 0: token id {bad} at index \[0, 1\] is outside .*\[0, 32\)$"):
        cm(ids)
    with torch.no_grad():
        assert torch.allclose(cm(IDS), model(IDS), atol=1e-5)  # in range: unchanged


def test_bound_call_checks_token_ids(embed_cpu):
    # compile_lm's decode loop refills bound arrays in place: each run checks them again
    _, cm = embed_cpu
    ids = IDS.numpy().copy()
    run = cm.artifact.bind(ids)
    run()
    ids[1, 4] = 99
    with pytest.raises(QcompError, match=r"input 0: token id 99 at index \[1, 4\]"):
        run()


def test_call_creates_no_ctypes_types(embed_cpu):
    # torch-mlir's descriptor helper made a Structure class per array per call, and ctypes caches a pointer
    # type for each: tiny-llama grew 76 MB over 5,000 calls
    _, cm = embed_cpu
    ids = IDS.numpy()
    cm.artifact(ids)
    before = len(ctypes._pointer_type_cache)
    for _ in range(50):
        cm.artifact(ids)
    assert len(ctypes._pointer_type_cache) == before


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_aot_library_refuses_bad_token_id(embed_cpu, tmp_path):
    _, cm = embed_cpu
    cm.save(str(tmp_path))
    assert "QCOMP_ERR_INPUT 2" in (tmp_path / "model.h").read_text()
    lib = ctypes.CDLL(str(tmp_path / "model.so"))
    lib.qcomp_model_load.restype = ctypes.c_void_p
    lib.qcomp_error.restype = ctypes.c_char_p
    model = ctypes.c_void_p(lib.qcomp_model_load(str(tmp_path / "model.weights").encode()))
    assert model.value, lib.qcomp_error()
    out = np.empty((2, 5, 8), np.float32)
    outs = (ctypes.c_void_p * 1)(out.ctypes.data)
    try:
        for bad, run in ((32, lib.qcomp_model_run), (-3, lib.qcomp_model_run_inplace)):
            ids = IDS.numpy().copy()
            ids[1, 2] = bad
            rc = run(model, (ctypes.c_void_p * 1)(ids.ctypes.data), outs)
            assert rc == 2
            assert f"input 0: token id {bad} at element 7 is outside" in lib.qcomp_error().decode()
        ids = IDS.numpy().copy()
        assert lib.qcomp_model_run(model, (ctypes.c_void_p * 1)(ids.ctypes.data), outs) == 0
        assert out.tobytes() == cm.artifact(ids)[0].tobytes()
    finally:
        lib.qcomp_model_free(model)


def _target(name: str):
    return qcomp.targets.get("gpu", emulate=True) if name == "gpu" else name


@pytest.mark.parametrize("target", ["cpu", "npu", "cim", "gpu"])
def test_every_target_agrees_from_four_threads(target):
    # one NPU simulator state was shared: 94 of 100 threaded calls were wrong (NaN, inf, another's output)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16))
    cm = qcomp.compile(model, (torch.randn(8, 32),), target=_target(target), recipe="w8a8")
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((8, 32)).astype(np.float32) for _ in range(4)]
    want = [cm.artifact(x)[0].tobytes() for x in xs]
    wrong = []

    def work(k: int) -> None:
        for j in range(6):
            i = (k + j) % 4
            if cm.artifact(xs[i])[0].tobytes() != want[i]:
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def test_accelerator_host_code_checks_token_ids():
    torch.manual_seed(0)
    cm = qcomp.compile(EmbedMlp(), (IDS,), target="npu", recipe="w8a8")
    ids = IDS.clone()
    ids[1, 0] = 32
    with pytest.raises(QcompError, match=r"input 0: token id 32 at index \[1, 0\]"):
        cm(ids)


@pytest.mark.parametrize(("features", "shape"), [((8, 0), (4, 8)), ((0, 8), (4, 0))])
def test_empty_linear_is_refused_in_one_line(features, shape):
    # nn.Linear(8, 0) killed the process with SIGFPE while LLVM compiled it
    model = torch.nn.Linear(*features)
    with pytest.raises(QcompError, match=r"qc.linear on an empty tensor .*zero input or output features"):
        qcomp.compile(model, (torch.randn(*shape),), target="cpu", recipe="fp32")


def test_empty_batch_gives_an_empty_result_on_the_npu():
    # a 0-row GEMM made the NPU code generator divide by zero; it now stays on the host
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    cm = qcomp.compile(model, (torch.randn(0, 8),), target="npu", recipe="w8a8")
    assert cm(torch.randn(0, 8)).shape == (0, 4)
