"""index_put with index tensors (or a target tensor) of run-time shape stays inside its tensor: passes/
safe_indexing.py clamps the indices with a linalg.generic reading the sizes at run time. Before, only statically
shaped scatters were clamped: an out-of-range update of a dynamic-batch model wrote past the buffer (the output
stayed all zero, other memory changed)."""

import pytest
import qcomp
import torch
from torch.export import Dim

X = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))


class Scatter1d(torch.nn.Module):
    def forward(self, x, shift):
        idx = x.argmax(-1) + shift.argmax() * 1_000_000
        return torch.zeros(8).index_put((idx,), torch.ones(idx.shape), accumulate=True)


class Scatter2d(torch.nn.Module):
    """Two index tensors (a [?, 2] index matrix): each column is clamped into its own dimension."""

    def forward(self, x, shift):
        i = x.argmax(-1) + shift.argmax() * 1_000_000
        j = x.argmin(-1) % 4 - shift.argmax() * 1_000
        return torch.zeros(4, 8).index_put((j, i), torch.ones(i.shape), accumulate=True)


class ScatterRows(torch.nn.Module):
    """The target's rows are the dynamic batch too: the bound is read from the tensor at run time."""

    def forward(self, x, shift):
        rows = torch.arange(x.shape[0]) + shift.argmax() * 1_000
        return torch.zeros_like(x).index_put((rows,), torch.ones_like(x), accumulate=True)


def _compile(model):
    dims = {"x": {0: Dim("b", max=16)}, "shift": None}
    return qcomp.compile(model, (X, torch.zeros(4)), target="cpu", recipe="fp32", dynamic_shapes=dims)


@pytest.mark.parametrize("model", [Scatter1d(), Scatter2d(), ScatterRows()], ids=lambda m: type(m).__name__)
def test_in_range_indices_match_pytorch_at_two_batch_sizes(model):
    cm = _compile(model)
    for rows in (3, 7):
        x = torch.randn(rows, 8, generator=torch.Generator().manual_seed(rows))
        assert torch.equal(cm(x, torch.zeros(4)), model(x, torch.zeros(4)))


def test_out_of_range_updates_land_on_the_edge_element():
    far = torch.zeros(4)
    far[1] = 1.0  # shift.argmax() == 1: indices 1e6 past the end (and -1000 before the start)
    got = _compile(Scatter1d())(X, far)
    assert got.tolist() == [0.0] * 7 + [3.0]  # the three updates land on the last element
    got = _compile(Scatter2d())(X, far)
    want = torch.zeros(4, 8)
    want[0, 7] = 3.0  # rows clamped to 0, columns to 7
    assert torch.equal(got, want)
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(5))
    got = _compile(ScatterRows())(x, far)
    want = torch.zeros(5, 8)
    want[4] = 5.0  # every row index past the batch of 5 lands on row 4
    assert torch.equal(got, want)
