"""The CPU tier's vector arithmetic: the activations' accuracy, and the masked last chunk of a row."""

import numpy as np
import pytest
import torch

from jenacast.rnn.ops import available

pytestmark = pytest.mark.skipif(not available("cpu"), reason="needs numba")


@pytest.fixture(scope="module")
def activations():
    import numba

    from jenacast.rnn.ops.cpu.vector import elementwise, sigmoid, tanh

    kernel = elementwise(
        ("x", "out"),
        {"x": ("x", 0)},
        [("tanh", "out", 0), ("sigmoid", "out", 1), ("scaled", "out", 2)],
        lambda v: {"tanh": tanh(v.x), "sigmoid": sigmoid(v.x), "scaled": (v.x - 1.0) * 2.0 / 4.0},
    )

    @numba.njit
    def run(x, out, n):
        kernel((x.reshape(1, -1), out.reshape(1, -1)), n)

    return run


@pytest.mark.parametrize("n", [1, 5, 16, 17, 40])
def test_activations_match_torch_and_leave_the_rest_alone(activations, n):
    x = np.linspace(-12, 12, 3 * n + 7).astype(np.float32)  # past the clamp at +-7.9 too
    out = np.full(3 * n + 7, 123.0, np.float32)  # rows of n: tanh, sigmoid, scaled; then untouched
    activations(x, out, n)
    want = torch.from_numpy(x[:n]).double()
    torch.testing.assert_close(torch.from_numpy(out[:n]).double(), torch.tanh(want), rtol=0, atol=3e-7)
    torch.testing.assert_close(torch.from_numpy(out[n : 2 * n]).double(), torch.sigmoid(want), rtol=0, atol=3e-7)
    torch.testing.assert_close(torch.from_numpy(out[2 * n : 3 * n]).double(), (want - 1) / 2, rtol=1e-6, atol=1e-6)
    assert (out[3 * n :] == 123.0).all()


def test_tanh_is_odd_and_bounded(activations):
    x = np.linspace(0, 30, 64).astype(np.float32)
    pos, neg = np.zeros(192, np.float32), np.zeros(192, np.float32)
    activations(x, pos, 64)
    activations(-x, neg, 64)
    assert np.array_equal(pos[:64], -neg[:64])
    assert np.abs(pos[:64]).max() <= 1.0


def test_a_block_of_rows_at_their_own_strides():
    """Each array's rows at its own stride (a column slice of a wider array too); each row gets its own
    inputs' results, and what lies between the rows stays untouched."""
    import numba

    from jenacast.rnn.ops.cpu.vector import elementwise

    kernel = elementwise(
        ("a", "b", "out"),
        {"a0": ("a", 0), "a1": ("a", 1), "b": ("b", 0)},
        [("sum", "out", 0), ("prod", "out", 1)],
        lambda v: {"sum": v.a0 + v.a1 + v.b, "prod": v.a0 * v.b},
    )

    @numba.njit
    def run(a, b, out, n):
        kernel((a, b, out), n)

    rows, n = 5, 21
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, 2 * n)).astype(np.float32)
    wide = rng.standard_normal((rows, 3, n)).astype(np.float32)  # b: its middle group, rows 3n apart
    out = np.full((rows, 2 * n + 9), 7.0, np.float32)  # rows longer than what is written
    run(a, wide[:, 1], out, n)
    b = wide[:, 1]
    np.testing.assert_allclose(out[:, :n], a[:, :n] + a[:, n:] + b, rtol=1e-6)
    np.testing.assert_allclose(out[:, n : 2 * n], a[:, :n] * b, rtol=1e-6)
    assert (out[:, 2 * n :] == 7.0).all()
