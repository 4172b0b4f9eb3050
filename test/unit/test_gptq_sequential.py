"""Sequential GPTQ Hessians (`qcomp.sequential`): block b's layer inputs come from a model whose blocks < b are
already GPTQ-quantized; calibrate(hessian="sequential") puts them on the matching qc.linear ops."""

import numpy as np
import pytest
import torch
from qcomp.calibrate import calibrate
from qcomp.dialects.errors import QcompError
from qcomp.passes.gptq import dequantized, gptq_quantize
from qcomp.sequential import blocks_of, sequential_hessians, weight_key

D = 32
OPTS = {"wbits": 3, "group": 16, "sym": False}


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up, self.down = torch.nn.Linear(D, 2 * D), torch.nn.Linear(2 * D, D)

    def forward(self, x):
        return x + self.down(torch.relu(self.up(x)))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.ModuleList(Block() for _ in range(3))
        self.head = torch.nn.Linear(D, 8)

    def forward(self, x):
        for b in self.layers:
            x = b(x)
        return self.head(x)


def _h(x: torch.Tensor) -> np.ndarray:
    x = x.reshape(-1, x.shape[-1]).double()
    return (2 * x.T @ x / x.shape[0]).numpy().astype(np.float32)


def test_blocks_are_the_module_list_items_then_the_rest():
    net = Net()
    blocks = blocks_of(net)
    assert [[id(m) for m in b] for b in blocks] == [
        *[[id(b.up), id(b.down)] for b in net.layers],
        [id(net.head)],
    ]


def test_each_block_sees_the_earlier_blocks_quantized():
    net = Net().eval()
    samples = [(torch.randn(2, 5, D),), (torch.randn(2, 5, D),)]
    got = sequential_hessians(net, samples, OPTS)
    # expected: quantize block by block by hand; each layer's H from the inputs of that moment
    ref = Net().eval()
    for b_ref, b in zip(ref.layers, net.layers, strict=True):
        b_ref.load_state_dict(b.state_dict())
    ref.head.load_state_dict(net.head.state_dict())
    want = {}
    for block in [[b.up, b.down] for b in ref.layers] + [[ref.head]]:
        seen = {m: [] for m in block}
        hs = [m.register_forward_pre_hook(lambda m, a, seen=seen: seen[m].append(a[0])) for m in block]
        with torch.no_grad():
            for s in samples:
                ref(*s)
        for h in hs:
            h.remove()
        for m in block:
            h = _h(torch.cat([x.reshape(-1, x.shape[-1]) for x in seen[m]]))
            w = m.weight.detach().numpy()
            want[weight_key(w)] = h
            q, r = gptq_quantize(w, h, bits=3, group=16, sym=False)
            m.weight = torch.nn.Parameter(torch.from_numpy(dequantized(q, r, 3, 16, False)))
    assert set(got) == set(want)
    for k, h in want.items():
        np.testing.assert_allclose(got[k], h, rtol=1e-5, atol=1e-6)
    # the first block saw the float input; later ones did not see the float model's activations
    float_h = _h(torch.cat([s[0] for s in samples]))
    np.testing.assert_allclose(got[weight_key(net.layers[0].up.weight.detach().numpy())], float_h, rtol=1e-5)
    head = weight_key(net.head.weight.detach().numpy())  # the model's own weights are untouched
    assert not np.allclose(got[head], _float_head_h(net, samples), rtol=1e-3)


def _float_head_h(net, samples):
    seen = []
    h = net.head.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    with torch.no_grad():
        for s in samples:
            net(*s)
    h.remove()
    return _h(torch.cat([x.reshape(-1, D) for x in seen]))


def test_calibrate_attaches_the_sequential_hessians():
    net = Net().eval()
    samples = [(torch.randn(1, 5, D),)]
    flat = calibrate(net, samples, hessian=True)
    seq = calibrate(net, samples, hessian="sequential", gptq=OPTS)
    want = sequential_hessians(net, samples, OPTS)
    assert len(seq.ops) == 7
    first, last = seq.ops[0], seq.ops[-1]
    np.testing.assert_allclose(first.hessian, flat.ops[0].hessian, rtol=1e-4, atol=1e-6)  # block 0: float input
    np.testing.assert_array_equal(last.hessian, want[weight_key(net.head.weight.detach().numpy())])
    assert not np.allclose(last.hessian, flat.ops[-1].hessian, rtol=1e-3)
    with pytest.raises(QcompError, match="wbits"):
        calibrate(net, samples, hessian="sequential", gptq={"wbits": 9})


def test_true_sequential_stages_see_the_quantized_earlier_layers_of_their_block():
    # true_sequential: down's input is relu(up(x)) with up already quantized (GPTQ's --true-sequential);
    # blocks run on cached inputs; the expected values are computed by hand, block by block
    from qcomp.sequential import gptq_model

    net = Net().eval()
    samples = [(torch.randn(2, 5, D),), (torch.randn(1, 7, D),)]
    got, _ = gptq_model(net, samples, OPTS, true_sequential=True)

    def quantized(m, h):
        q, r = gptq_quantize(m.weight.detach().numpy(), h, bits=3, group=16, sym=False)
        return torch.from_numpy(dequantized(q, r, 3, 16, False))

    def flat(xs):
        return torch.cat([x.reshape(-1, x.shape[-1]) for x in xs])

    want = {}
    xs = [s[0] for s in samples]
    with torch.no_grad():
        for b in net.layers:
            h_up = _h(flat(xs))
            up = quantized(b.up, h_up)
            mids = [torch.relu(x @ up.T + b.up.bias) for x in xs]
            h_down = _h(flat(mids))
            down = quantized(b.down, h_down)
            want[weight_key(b.up.weight.detach().numpy())] = h_up
            want[weight_key(b.down.weight.detach().numpy())] = h_down
            xs = [x + m @ down.T + b.down.bias for x, m in zip(xs, mids, strict=True)]
        want[weight_key(net.head.weight.detach().numpy())] = _h(flat(xs))
    assert set(got) == set(want)
    for k, h in want.items():
        np.testing.assert_allclose(got[k], h, rtol=1e-4, atol=1e-5)
    # plain sequential: down's Hessian from the float up (differs)
    plain = sequential_hessians(net, samples, OPTS)
    k = weight_key(net.layers[1].down.weight.detach().numpy())
    assert not np.allclose(plain[k], got[k], rtol=1e-3)


def test_qc_gptq_true_sequential_option_reaches_calibration():
    """qc-gptq{sequential=true,true_sequential=true} (the pass as `api.needs_hessian` hands it to calibrate) gives
    the true-sequential Hessians of `gptq_model`; true_sequential alone is refused in one line."""
    from qcomp.passes.gptq import GptqPass
    from qcomp.sequential import gptq_model

    net = Net().eval()
    samples = [(torch.randn(1, 5, D),)]
    opts = {**OPTS, "sequential": True, "true_sequential": True}
    table = calibrate(net, samples, hessian=GptqPass(**opts))
    want, _ = gptq_model(net, samples, OPTS, true_sequential=True)
    k = weight_key(net.layers[1].down.weight.detach().numpy())
    np.testing.assert_array_equal(table.ops[3].hessian, want[k])  # ops: up, down of block 0, then block 1
    with pytest.raises(QcompError, match=r"^qc-gptq: true_sequential=true needs sequential=true$"):
        GptqPass(true_sequential=True)


@pytest.mark.slow
def test_compile_with_qc_gptq_sequential_calibrates_sequential_hessians():
    """A recipe's qc-gptq{sequential=true} makes qcomp.compile calibrate sequential Hessians with the pass's own
    options: the build equals one compiled from calibrate(hessian="sequential", gptq=...) and differs from the
    one-pass (float model) Hessians."""
    import qcomp
    from qcomp.api import needs_hessian
    from qcomp.recipes import Recipe

    net = Net().eval()
    samples = [(torch.randn(1, 5, D),), (torch.randn(1, 5, D),)]
    tail = "qc-quantize{wbits=3,abits=16,group=16,sym=false},canonicalize"

    def recipe(seq: str) -> Recipe:
        return Recipe(f"gptq-{seq}", 1, f"qc-gptq{{wbits=3,group=16,sym=false,{seq}}},{tail}", "", "minmax")

    seq, flat = recipe("sequential=true"), recipe("sequential=false")
    assert needs_hessian(flat) is True
    assert needs_hessian(seq).sequential
    x = torch.randn(2, 5, D)
    got = qcomp.compile(net, (x,), recipe=seq, calibration=samples)(x)
    table = calibrate(net, samples, hessian="sequential", gptq=OPTS)
    want = qcomp.compile(net, (x,), recipe=seq, calibration=table)(x)
    assert torch.equal(got, want)
    one_pass = qcomp.compile(net, (x,), recipe=flat, calibration=samples)(x)
    assert not torch.equal(got, one_pass)
