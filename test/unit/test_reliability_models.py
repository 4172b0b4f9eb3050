"""Models nobody tried: data-dependent output shapes and state updates refused in one line by the front end, an
input mutated in place, token ids the model computes itself, NaN/inf inputs and calibration data (the numeric
contract of docs/numerics.md), the README's `qcomp.calibrate(...)` call and concurrent calls from threads."""

import functools
import threading

import numpy as np
import pytest
import qcomp
import torch
from qcomp.dialects.errors import QcompError

HERE = __file__


class MaskSelect(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return y[y > 0]  # the line the error names


class NonzeroSum(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x).float().sum() + x.sum()


@pytest.mark.parametrize(("model", "op"), [(MaskSelect(), "aten.index.Tensor"), (NonzeroSum(), "aten.nonzero")])
def test_data_dependent_output_shape_is_refused_up_front(model, op):
    # x[x > 0] ran through the whole pipeline for a minute, then LLVM aborted out of memory
    with pytest.raises(QcompError, match=rf"^{HERE}:\d+: {op}\S* in \w+ has a data-dependent output shape") as e:
        qcomp.compile(model, (torch.randn(4, 8),), target="cpu", recipe="fp32")
    assert "\n" not in str(e.value)


class ScaleInPlace(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        x.mul_(2)
        return self.fc(x), x


def test_input_mutated_in_place_gives_only_the_model_outputs():
    # torch.export returned the updated x ahead of the outputs: cm(x) gave one result too many
    torch.manual_seed(0)
    model, x = ScaleInPlace(), torch.randn(4, 8)
    cm = qcomp.compile(model, (x.clone(),), target="cpu", recipe="fp32")
    arg = x.clone()
    y, x2 = cm(arg)
    assert torch.equal(arg, x)  # compiled code never writes its inputs
    with torch.no_grad():
        want_y, want_x2 = model(x.clone())
    assert torch.allclose(y, want_y, atol=1e-5)
    assert torch.equal(x2, want_x2)


class Counter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(1))

    def forward(self, x):
        self.calls.add_(1)
        return x * self.calls


def test_model_updating_its_buffers_is_refused():
    # its state is compiled as constants: the second call would silently repeat the first
    with pytest.raises(QcompError, match=r"^Counter updates its state 'calls' in forward"):
        qcomp.compile(Counter(), (torch.randn(3),), target="cpu", recipe="fp32")


class ArgmaxEmbed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(8, 4)

    def forward(self, x):
        return self.emb(x.argmax(-1) - 4) * 2.0  # ids in [-4, 12): out of [0, 8) on both sides


@pytest.mark.parametrize("recipe", ["fp32", "w8a8"])
def test_computed_token_ids_out_of_range_give_nan_rows(recipe):
    # ids the model computes are not inputs, so not checked before the call: the lookup read memory around the
    # table (garbage, or a fault); it now reads a clamped row and yields NaN for it, in range rows unchanged
    torch.manual_seed(0)
    model, x = ArgmaxEmbed(), torch.randn(3, 5, 16)
    cm = qcomp.compile(model, (x,), target="cpu", recipe=recipe)
    y = cm(x)
    ids = x.argmax(-1) - 4
    ok = (ids >= 0) & (ids < 8)
    assert ok.any()
    assert (~ok).any()
    assert torch.isnan(y[~ok]).all()
    assert torch.equal(y[ok], model.emb.weight.detach()[ids[ok]] * 2.0)


class Gather(torch.nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.register_buffer("table", torch.arange(32.0).reshape(8, 4))

    def forward(self, x, shift):
        idx = x.argmax(-1) + shift.argmax()  # shift's argmax moves the ids past the table
        if self.how == "index":
            return self.table[idx]
        if self.how == "index_select":
            return torch.index_select(self.table, 0, idx.reshape(-1))
        return torch.gather(self.table, 0, idx.reshape(-1, 1).expand(-1, 4))


@pytest.mark.parametrize("how", ["index", "index_select", "gather"])
def test_host_gathers_with_computed_indices_stay_inside_the_tensor(how):
    # torch-mlir's lowering read outside the table (index, index_select: SIGSEGV) or aborted (gather: cf.assert)
    model, x = Gather(how), torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))
    cm = qcomp.compile(model, (x, torch.zeros(4)), target="cpu", recipe="fp32")
    assert torch.equal(cm(x, torch.zeros(4)), model(x, torch.zeros(4)))  # in range: PyTorch's values
    far = torch.zeros(4)
    far[3] = 1.0  # every id moves up by 3: some past row 7
    idx = (x.argmax(-1) + 3).clamp(max=7)
    want = model.table[idx] if how == "index" else model.table[idx.reshape(-1)]
    assert torch.equal(cm(x, far), want)  # out of range: the clamped row, never another buffer


class Scatter(torch.nn.Module):
    def forward(self, x, shift):
        idx = x.argmax(-1) + shift.argmax() * 1_000_000
        return torch.zeros(8).index_put((idx,), torch.ones(idx.shape), accumulate=True)


def test_scatter_with_computed_indices_stays_inside_the_tensor():
    # index_put at a computed index past the tensor wrote 4 MB beyond its buffer (the output stayed all zero)
    model, x = Scatter(), torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    cm = qcomp.compile(model, (x, torch.zeros(4)), target="cpu", recipe="fp32")
    assert torch.equal(cm(x, torch.zeros(4)), model(x, torch.zeros(4)))
    far = torch.zeros(4)
    far[1] = 1.0
    assert cm(x, far).tolist() == [0.0] * 7 + [3.0]  # the three updates land on the last element


def test_reference_embedding_gives_nan_rows():
    from qcomp.dialects import reference as ref

    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    got = ref.embedding(w, np.array([2, -1, 3, 0]))
    assert np.array_equal(got[[0, 3]], w[[2, 0]])
    assert np.isnan(got[[1, 2]]).all()


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))


@functools.cache
def _mlp_compiled(recipe: str):
    return qcomp.compile(_mlp(), (torch.randn(4, 16),), target="cpu", recipe=recipe)


@pytest.mark.parametrize("recipe", ["fp32", "w8a8", "w4a16"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_inputs_propagate_like_pytorch(recipe, value):
    # float and per-token dynamic recipes: the row holding NaN/inf is non-finite where PyTorch's is, other rows
    # are the clean call's bit for bit
    model, x = _mlp(), torch.randn(4, 16)
    cm = _mlp_compiled(recipe)
    bad = x.clone()
    bad[1, 3] = value
    y = cm(bad)
    with torch.no_grad():
        want = model(bad)
    assert torch.equal(torch.isfinite(y), torch.isfinite(want))
    assert torch.equal(torch.isnan(y), torch.isnan(want))
    rows = [0, 2, 3]
    assert torch.equal(y[rows], cm(x)[rows])


def test_non_finite_inputs_are_refused_with_static_scales():
    # a calibrated scale has no int8 code for NaN: static W8A8 silently mapped it to 0 (finite, wrong)
    model, x = _mlp(), torch.randn(4, 16)
    cm = qcomp.compile(model, (x,), target="cpu", recipe="w8a8-static", calibration=[(x,)])
    bad = x.clone()
    bad[2, 5] = float("-inf")
    with pytest.raises(QcompError, match=r"^input 0: -inf at index \[2, 5\]: this model quantizes activations"):
        cm(bad)
    assert torch.isfinite(cm(x)).all()


class Blowup(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x * 1e30 * 1e30)  # finite input, inf inside


def test_calibration_data_with_nan_or_inf_is_refused():
    # NaN in one calibration window became every scale it reached
    samples = [(torch.randn(4, 16),), (torch.randn(4, 16),)]
    samples[1][0][3, 0] = float("nan")
    with pytest.raises(QcompError, match=r"^calibration sample 1: input 0 holds nan at index \[3, 0\]$"):
        qcomp.compile(_mlp(), samples[0], target="cpu", recipe="w8a8-static", calibration=samples)
    with pytest.raises(QcompError, match=r"^calibration sample 0: the input of qc.linear at .* holds inf"):
        qcomp.calibrate(Blowup(), [(torch.ones(2, 8),)])


def test_readme_calibrate_call_works():
    # README writes qcomp.calibrate(..., sensitivity=...): qcomp.calibrate was a module, not callable
    model = _mlp()
    table = qcomp.calibrate(model, [(torch.randn(4, 16),)], method="minmax")
    assert isinstance(table, qcomp.calibrate.CalibrationTable)
    assert len(table.ops) == 2


def test_threads_calling_one_compiled_model_get_the_serial_results():
    # cm(...) from 4 Python threads at once (torch tensors in and out) equals the serial calls, bit for bit
    cm = _mlp_compiled("w8a8")
    xs = [torch.randn(4, 16, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    want = [cm(x) for x in xs]
    wrong = []

    def work(k: int) -> None:
        for j in range(25):
            i = (k + j) % 4
            if not torch.equal(cm(xs[i]), want[i]):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


class Double(torch.nn.Module):
    def forward(self, x):
        return x * 2


class ToUint8(torch.nn.Module):
    def forward(self, x):
        return (x * 100).to(torch.uint8)


@pytest.mark.parametrize(
    ("model", "x", "match"),
    [
        (Double(), torch.ones(3, dtype=torch.float16), r"^input 0 of the model is a f16 tensor: the CPU target takes"),
        (Double(), torch.ones(3, dtype=torch.bfloat16), r"^input 0 of the model is a bf16 tensor"),
        (Double(), torch.tensor([1, 200], dtype=torch.uint8), r"^Double: input 0 is a uint8 tensor: .* signed"),
        (ToUint8(), torch.ones(2), r"^ToUint8: output 0 is a uint8 tensor"),
    ],
)
def test_unsupported_boundary_dtypes_are_one_line_errors(model, x, match):
    # f16 failed with KeyError: 'f16'; uint8 was read back as int8 (200 -> -56) or refused only when called
    with pytest.raises(QcompError, match=match) as e:
        qcomp.compile(model, (x,), target="cpu", recipe="fp32")
    assert "\n" not in str(e.value)


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


class SumTwice(torch.nn.Module):
    def forward(self, x):
        return x.sum() * 2


def test_identity_model_and_zero_d_input_compile():
    # a forward returning its input failed with "Cannot cast type to RankedTensorType (!torch.vtensor)"; a 0-d
    # input was refused by the model it was compiled with ("expected float32[], got float32[1]")
    x = torch.randn(3)
    assert torch.equal(qcomp.compile(Identity(), (x,), target="cpu", recipe="fp32")(x), x)
    s = torch.tensor(1.5)
    assert qcomp.compile(SumTwice(), (s,), target="cpu", recipe="fp32")(s).item() == 3.0


class WithInt(torch.nn.Module):
    def forward(self, x):
        return x * 2, 3


def test_non_tensor_output_is_a_one_line_error():
    with pytest.raises(QcompError, match=r"^WithInt: output 1 is a int \(3\), not a tensor"):
        qcomp.compile(WithInt(), (torch.randn(3),), target="cpu", recipe="fp32")
