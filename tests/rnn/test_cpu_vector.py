"""The CPU tier's vector arithmetic: the activations' accuracy, and the masked last chunk of a row."""

import numpy as np
import pytest
import torch

from jenacast.rnn.ops import available

pytestmark = pytest.mark.skipif(not available("cpu"), reason="needs numba")


@pytest.fixture(scope="module")
def activations():
    import numba

    from jenacast.rnn.ops.cpu_vector import elementwise, sigmoid, tanh

    kernel = elementwise(("x", "out"), {"x": ("x", 0)},
                         [("tanh", "out", 0), ("sigmoid", "out", 1), ("scaled", "out", 2)],
                         lambda v: {"tanh": tanh(v.x), "sigmoid": sigmoid(v.x), "scaled": (v.x - 1.0) * 2.0 / 4.0})

    @numba.njit
    def run(x, out, n):
        kernel((x, out), n)

    return run


@pytest.mark.parametrize("n", [1, 5, 16, 17, 40])
def test_activations_match_torch_and_leave_the_rest_alone(activations, n):
    x = np.linspace(-12, 12, 3 * n + 7).astype(np.float32)  # past the clamp at +-7.9 too
    out = np.full(3 * n + 7, 123.0, np.float32)  # rows of n: tanh, sigmoid, scaled; then untouched
    activations(x, out, n)
    want = torch.from_numpy(x[:n]).double()
    torch.testing.assert_close(torch.from_numpy(out[:n]).double(), torch.tanh(want), rtol=0, atol=3e-7)
    torch.testing.assert_close(torch.from_numpy(out[n:2 * n]).double(), torch.sigmoid(want), rtol=0, atol=3e-7)
    torch.testing.assert_close(torch.from_numpy(out[2 * n:3 * n]).double(), (want - 1) / 2, rtol=1e-6, atol=1e-6)
    assert (out[3 * n:] == 123.0).all()


def test_tanh_is_odd_and_bounded(activations):
    x = np.linspace(0, 30, 64).astype(np.float32)
    pos, neg = np.zeros(192, np.float32), np.zeros(192, np.float32)
    activations(x, pos, 64)
    activations(-x, neg, 64)
    assert np.array_equal(pos[:64], -neg[:64])
    assert np.abs(pos[:64]).max() <= 1.0
