"""qc-assign-precision's pieces: the exact knapsack, candidate names and bit counts, and output gains."""

import itertools

import numpy as np
import pytest
import torch
from qcomp.calibrate import CalibrationTable, calibrate
from qcomp.dialects.errors import QcompError
from qcomp.passes.assign_precision import Candidate, local_error, parse_candidate
from qcomp.passes.awq import fake_quant_grouped
from qcomp.passes.knapsack import solve
from qcomp.sensitivity import output_gains

from examples.models import tiny_gpt2, tiny_llama


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = 6, 3
    errors = rng.random((n, m))
    costs = rng.integers(1, 20, (n, m)).astype(np.float64)
    capacity = float(costs.min(axis=1).sum() + rng.integers(0, 30))
    best = min(
        (sum(errors[i, c] for i, c in enumerate(p)), p)
        for p in itertools.product(range(m), repeat=n)
        if sum(costs[i, c] for i, c in enumerate(p)) <= capacity
    )
    sol = solve(errors, costs, capacity)
    assert sol.error == pytest.approx(best[0], rel=1e-12)
    assert sol.cost <= capacity
    # the frontier is monotone and passes through the solution
    cs, es = zip(*sol.frontier, strict=True)
    assert list(cs) == sorted(cs)
    assert list(es) == sorted(es, reverse=True)
    assert min(e for c, e in sol.frontier if c <= capacity) == pytest.approx(sol.error)


def test_knapsack_rounds_real_costs_up_and_never_exceeds():
    rng = np.random.default_rng(1)
    errors, costs = rng.random((40, 3)), rng.random((40, 3)) * 1e7 + 0.5  # not integers: the coarse grid
    capacity = float(np.median(costs.sum(axis=0)))
    sol = solve(errors, costs, capacity)
    assert sol.cost <= capacity
    assert solve(errors, costs, costs.min(axis=1).sum() * 0.99) is None


def test_candidates_parse_and_count_scale_bits():
    assert parse_candidate("w4a16") == Candidate(4, 16, 128)
    assert parse_candidate("w4a16g64", group=128).name == "w4a16g64"
    assert parse_candidate("w8a8") == Candidate(8, 8, 0)
    assert Candidate(4, 16, 128).bits_per_weight(576) == pytest.approx(4 + 32 * 5 / 576)  # 576 = 4.5 groups
    assert Candidate(4, 16, 128).bits_per_weight(1024) == 4.25
    assert Candidate(8, 8, 0).bits_per_weight(1024) == 8 + 32 / 1024
    for bad in ("w9a16", "w4a4", "w8a8g128", "int4"):
        with pytest.raises(QcompError, match="must be wNaM"):
            parse_candidate(bad)


def test_local_error_is_zero_for_representable_weights():
    w = np.array([[7.0, -3.0, 1.0, 0.0]], np.float32)  # int4 with scale max/7 = 1 represents it exactly
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    assert local_error(w, x, Candidate(4, 16, 0)) == pytest.approx(0.0, abs=1e-9)
    assert local_error(w + 0.01, x, Candidate(4, 16, 0)) > 0


def _quantized_copy_error(model, inputs, name: str, transposed: bool, cand: Candidate) -> tuple[float, float]:
    """The output MSE and mean token KL of the model with one layer's weight really replaced by its
    fake-quantized version."""
    import copy

    m = copy.deepcopy(model)
    mod = dict(m.named_modules())[name]
    w = mod.weight.detach().numpy()
    w = w.T if transposed else w
    q = fake_quant_grouped(np.ascontiguousarray(w), cand.wbits, cand.group)
    with torch.no_grad():
        mod.weight.copy_(torch.from_numpy(q.T.copy() if transposed else q))
        got, want = m(*inputs), model(*inputs)
        p, q = torch.softmax(want, -1), torch.softmax(got, -1)
        return float(torch.mean((got - want) ** 2)), float(torch.sum(p * (p.log() - q.log()), -1).mean())


@pytest.mark.parametrize(
    ("factory", "layer", "transposed"),
    [(tiny_llama, "lm.model.layers.1.mlp.down_proj", False), (tiny_gpt2, "lm.transformer.h.0.attn.c_attn", True)],
)
def test_output_gain_times_local_error_is_the_measured_output_error(factory, layer, transposed):
    # the gains are defined so that gain * local_error(reference) = the model-output MSE (and mean token KL)
    # with that layer alone quantized; check them against a copy of the model whose weight is really replaced
    # (Conv1D: transposed)
    model, inputs = factory()
    mod = dict(model.named_modules())[layer]
    w = mod.weight.detach().numpy()
    w = np.ascontiguousarray(w.T if transposed else w)
    x = np.random.default_rng(0).standard_normal((8, w.shape[1])).astype(np.float32)
    cand = Candidate(4, 16, 32)
    gains, seconds = output_gains(model, [inputs], [w, None], [x, x], reference="w4a16g32")
    assert gains[1] is None
    assert seconds > 0
    mse, kl = _quantized_copy_error(model, inputs, layer, transposed, cand)
    assert mse > 0
    assert kl > 0
    assert gains[0]["mse"] * local_error(w, x, cand) == pytest.approx(mse, rel=1e-4)
    # a KL of ~1e-6 from f32 log-softmaxes: the hook's and the copy's logits differ in the last bits
    assert gains[0]["kl"] * local_error(w, x, cand) == pytest.approx(kl, rel=0.05)


def test_tied_lm_head_is_quantized_only_where_the_op_uses_it():
    # SmolLM2-style tying: the lm_head's weight is the embedding's; the gain must perturb the projection only
    model, inputs = tiny_llama()
    lm = model.lm
    lm.lm_head.weight = lm.model.embed_tokens.weight
    w = lm.lm_head.weight.detach().numpy().copy()
    x = np.ones((2, w.shape[1]), np.float32)
    (gain,), _ = output_gains(model, [inputs], [w], [x], reference="w4a16g32")
    assert gain is not None
    assert gain["mse"] > 0
    assert torch.equal(lm.model.embed_tokens.weight, lm.lm_head.weight)  # nothing was left modified


def test_calibration_table_keeps_gains_through_json(tmp_path):
    model, inputs = tiny_llama()
    t = calibrate(model, [inputs], sensitivity="w4a16g32")
    gains = [o.output_gain for o in t.ops]
    assert t.sensitivity["reference"] == "w4a16g32"
    assert all(g is not None and g["mse"] > 0 and g["kl"] >= 0 for g in gains)
    assert sum(g["kl"] > 0 for g in gains) > len(gains) / 2  # f32 rounding can hide a tiny KL
    t.save(tmp_path / "t.json")
    u = CalibrationTable.load(tmp_path / "t.json")
    assert [o.output_gain for o in u.ops] == gains
    assert u.sensitivity == t.sensitivity
