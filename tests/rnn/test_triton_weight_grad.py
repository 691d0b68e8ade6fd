"""The Triton tier's recurrent weight gradient kernel against ``common.recurrent_weight_grad``.

On the CPU the kernel runs in Triton's interpreter at small, odd sizes; on CUDA also at the
chapter's (256 x 120, 32 units).
"""

import pytest
import torch

from jenacast.rnn.ops import available
from jenacast.rnn.ops.common import previous_states, recurrent_weight_grad

pytestmark = pytest.mark.skipif(not available("triton"), reason="needs Triton")
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
SIZES = [(7, 5, 20, 4), (3, 40, 16, 3), (30, 9, 32, 4), (1, 3, 5, 3)] + (
    [(120, 256, 32, 4), (120, 256, 32, 3)] if CUDA else []
)


def mask_of(kind, gates, b, h):
    return {"none": None, "shared": torch.rand(b, h), "per_gate": torch.rand(gates, b, h)}[kind]


@pytest.mark.parametrize("t, b, h, gates", SIZES)
@pytest.mark.parametrize("kind", ["none", "shared", "per_gate"])
def test_weight_grad_matches_torch(t, b, h, gates, kind):
    from jenacast.rnn.ops.triton.weight_grad import recurrent_weight_grad_triton

    g = torch.Generator().manual_seed(t * b + h)
    hs, h0, d = (
        torch.randn(t, b, h, generator=g),
        torch.randn(b, h, generator=g),
        torch.randn(t, b, gates * h, generator=g),
    )
    mask = mask_of(kind, gates, b, h)
    want = recurrent_weight_grad(
        previous_states(h0, hs).double(), d.double(), None if mask is None else mask.double(), gates, per_step=False
    )
    moved = [x.to(DEVICE) for x in (h0, hs, d)]
    got = recurrent_weight_grad_triton(*moved, None if mask is None else mask.to(DEVICE), gates)
    assert got.shape == (h, gates * h) and got.dtype == torch.float32
    torch.testing.assert_close(got.cpu().double(), want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


def test_weight_grad_reads_the_leading_gates_of_a_wider_gradient():
    """The GRU without reset_after takes z and r's gradients as the first 2H columns of a [T, B, 3H] tensor."""
    from jenacast.rnn.ops.triton.weight_grad import recurrent_weight_grad_triton

    hs, h0, d = torch.randn(6, 4, 16), torch.randn(4, 16), torch.randn(6, 4, 48)
    mask = torch.rand(2, 4, 16)
    want = recurrent_weight_grad(previous_states(h0, hs), d[..., :32], mask, 2, per_step=False)
    got = recurrent_weight_grad_triton(h0.to(DEVICE), hs.to(DEVICE), d.to(DEVICE)[..., :32], mask.to(DEVICE), 2)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("where", ["triton", "torch"])
def test_weight_grad_option_picks_the_kernel_or_torch(where, kernel_options, monkeypatch):
    """A Triton layer's backward launches the weight-gradient kernel, or with the option ``torch`` does not, and
    its gradients equal the reference layer's either way."""
    from jenacast.rnn import LSTM
    from jenacast.rnn.ops.triton import weight_grad

    launched = []
    original = weight_grad._launch
    monkeypatch.setattr(weight_grad, "_launch", lambda *a: launched.append(a) or original(*a))
    kernel_options(triton_weight_grad=where)
    torch.manual_seed(3)
    fast = LSTM(5, 16, recurrent_dropout=0.3, backend="triton").to(DEVICE)
    ref = LSTM(5, 16, recurrent_dropout=0.3, backend="reference").to(DEVICE)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 7, 5, device=DEVICE)
    masks = fast.sample_masks(x)
    grads = [
        torch.autograd.grad(layer(x, masks=masks).square().sum(), list(layer.parameters())) for layer in (fast, ref)
    ]
    assert bool(launched) == (where == "triton")
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["none", "shared", "per_gate"])
def test_pair_equals_two_launches(kind):
    """A bidirectional layer's two weight gradients in one launch, bit for bit those of two launches."""
    from jenacast.rnn.ops.triton.weight_grad import recurrent_weight_grad_pair, recurrent_weight_grad_triton

    def direction(seed):
        g = torch.Generator().manual_seed(seed)
        hs, h0, d = (
            torch.randn(9, 6, 20, generator=g),
            torch.randn(6, 20, generator=g),
            torch.randn(9, 6, 80, generator=g),
        )
        return [x.to(DEVICE) for x in (h0, hs, d)] + [None if kind == "none" else mask_of(kind, 4, 6, 20).to(DEVICE)]

    first, second = direction(1), direction(2)
    paired = recurrent_weight_grad_pair(first, second, 4)
    assert torch.equal(paired[0], recurrent_weight_grad_triton(*first, 4))
    assert torch.equal(paired[1], recurrent_weight_grad_triton(*second, 4))
