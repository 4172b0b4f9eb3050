"""The numerical pieces of the outlier passes, checked against their definitions."""

import numpy as np
import pytest
from qcomp.passes.awq import fake_quant_grouped
from qcomp.passes.rotate import hadamard, rotation
from qcomp.passes.smooth import fake_quant_rows, smoothing_scale


@pytest.mark.parametrize(("n", "kind"), [(64, "hadamard"), (576, "hadamard"), (1536, "hadamard"), (48, "random")])
def test_rotations_are_orthogonal(n, kind):
    q = rotation(n, kind, seed=0)
    np.testing.assert_allclose(q @ q.T, np.eye(n), atol=1e-12)


def test_power_of_two_hadamard_is_walsh():
    q = rotation(8, "hadamard", seed=0)
    np.testing.assert_array_equal(np.abs(q) * np.sqrt(8), np.ones((8, 8)))
    np.testing.assert_array_equal(hadamard(4)[3], [1, -1, -1, 1])


def test_rotation_spreads_a_massive_channel():
    # one channel 1000x the others: after a Hadamard rotation no channel exceeds max/sqrt(n) by much
    x = np.ones((4, 64))
    x[:, 5] = 1000.0
    y = x @ rotation(64, "hadamard", 0)
    assert np.abs(y).max() < 1000.0 / 8 * 1.1


def test_smoothing_scale_formula():
    s = smoothing_scale(np.array([16.0, 1.0, 0.0]), np.array([4.0, 1.0, 2.0]), 0.5)
    np.testing.assert_allclose(s, [2.0, 1.0, 1.0])  # a silent channel keeps s = 1
    np.testing.assert_allclose(smoothing_scale(np.array([16.0]), np.array([4.0]), 1.0), [16.0])


def test_fake_quant_rows_per_token_and_per_tensor():
    x = np.array([[127.0, 1.4], [2.54, -1.0]], np.float32)
    np.testing.assert_allclose(fake_quant_rows(x, 8), [[127.0, 1.0], [2.54, -1.0]], rtol=1e-6)
    np.testing.assert_allclose(fake_quant_rows(x, 8, clip=127.0), [[127.0, 1.0], [3.0, -1.0]])


def test_fake_quant_grouped_saturates_at_the_clip():
    w = np.array([[1.0, 0.1, 0.05, -0.5]], np.float32)
    full = fake_quant_grouped(w, 4, 2)  # groups [1, 0.1] and [0.05, -0.5]; scales 1/7 and 0.5/7
    np.testing.assert_allclose(full, [[1.0, 1 / 7, 1 / 14, -0.5]], rtol=1e-6)
    clipped = fake_quant_grouped(w, 4, 2, clip=np.array([[0.7, 0.5]], np.float32))
    np.testing.assert_allclose(clipped[0, :2], [0.7, 0.1], rtol=1e-6)  # 1.0 saturates at the clip 0.7
