"""A model using an op qc-from-torch does not know still compiles (as host code) and matches PyTorch."""

import numpy as np
import pytest
import qcomp
import torch
from conftest import cosine, max_rel_err
from qcomp.dialects.errors import QcompError


class CumsumNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(32, 16)

    def forward(self, x):
        return torch.cumsum(self.fc(x), dim=-1) * torch.sigmoid(x[..., :16])


@pytest.mark.parametrize("recipe", ["fp32", "w8a8"])
def test_cumsum_runs_as_host_code(recipe):
    torch.manual_seed(0)
    model, x = CumsumNet().eval(), torch.randn(2, 5, 32)
    cm = qcomp.compile(model, (x,), recipe=recipe)
    want = model(x).detach().numpy()
    got = cm(x).numpy()
    assert cm.report["host_ops"]["torch.aten.cumsum"] == 1
    if recipe == "fp32":
        assert max_rel_err(got, want) <= 1e-4
    else:
        assert cosine(got, want) >= 0.99


def test_unexportable_model_gives_one_line_error():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return x[x > 0]  # data-dependent output shape

    with pytest.raises(QcompError, match=r"test_host_ops.py:\d+: aten.index.Tensor in DataDependent has a data-") as e:
        qcomp.compile(DataDependent(), (torch.randn(4),), recipe="fp32")
    assert "\n" not in str(e.value)


def test_multiple_outputs_come_back_as_a_tuple():
    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 4), torch.nn.Linear(8, 2)

        def forward(self, x):
            return self.a(x), torch.relu(self.b(x))

    torch.manual_seed(0)
    model, x = TwoHeads().eval(), torch.randn(3, 8)
    ya, yb = qcomp.compile(model, (x,), recipe="fp32")(x)
    wa, wb = model(x)
    np.testing.assert_allclose(ya.numpy(), wa.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(yb.numpy(), wb.detach().numpy(), rtol=1e-5, atol=1e-6)
