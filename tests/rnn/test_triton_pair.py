"""A bidirectional LSTM's two directions in one launch (the Triton tier's rows kernels, ``lstm_triton_pair``).

The paired launch runs the same per-sequence arithmetic as two single-direction launches, so its
results must equal theirs bit for bit; the layer built on it must match the reference tier.
On the CPU the kernels run in Triton's interpreter (small sizes); on CUDA, on the GPU.
"""

import pytest
import torch

from jenacast.rnn import LSTM, Bidirectional
from jenacast.rnn.ops import available
from jenacast.rnn.ops.lstm import triton_rows

pytestmark = pytest.mark.skipif(not available("triton"), reason="needs Triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def launches(monkeypatch):
    """Records, for each rows-kernel launch, whether it ran a pair."""
    seen = []
    for name in ("launch_forward", "launch_backward"):
        original = getattr(triton_rows, name)

        def recording(*args, _original=original, _name=name, **kwargs):
            seen.append((_name, kwargs.get("second") is not None))
            return _original(*args, **kwargs)

        monkeypatch.setattr(triton_rows, name, recording)
    return seen


def direction_inputs(b, t, h, mask_kind, seed):
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(b, t, 4 * h, generator=g), torch.randn(b, h, generator=g), torch.randn(b, h, generator=g),
               torch.randn(h, 4 * h, generator=g) / h**0.5]
    shape = {"none": None, "shared": (b, h), "per_gate": (4, b, h)}[mask_kind]
    mask = None if shape is None else (torch.bernoulli(torch.full(shape, 0.7)) / 0.7).to(DEVICE)
    return [x.to(DEVICE).requires_grad_() for x in tensors] + [mask]


def run_and_grads(fn, first, second, used):
    """Each direction's outputs, and the gradients of every input of both, for a loss on the ``used`` outputs."""
    outs = fn()
    weights = [torch.linspace(-1, 1, o.shape[-1], device=DEVICE) * (k + 1) for k, o in enumerate(outs[0] + outs[1])]
    picked = [(o * w).sum() for k, (o, w) in enumerate(zip(outs[0] + outs[1], weights)) if k % 3 in used]
    inputs = [x for x in first[:4] + second[:4]]
    grads = torch.autograd.grad(sum(picked), inputs, allow_unused=True)
    return [o.detach() for o in outs[0] + outs[1]], grads


# (mask, reverse, outputs the loss uses: 0 sequence, 1 last h, 2 last c); autograd hands the kernels None for the
# unused ones, which the paired backward reads as zeros or not at all
CASES = [("none", False, (0,)), ("none", True, (1,)), ("shared", False, (1,)), ("shared", True, (0, 1, 2)),
         ("per_gate", False, (0, 1, 2)), ("per_gate", True, (0,)), ("per_gate", False, (1, 2))]


@pytest.mark.parametrize("mask_kind, reverse, used", CASES)
def test_pair_equals_two_single_launches_bit_for_bit(mask_kind, reverse, used, launches):
    from jenacast.rnn.ops.lstm.triton import lstm_triton, lstm_triton_pair

    torch.manual_seed(1)
    first, second = direction_inputs(3, 6, 20, mask_kind, 1), direction_inputs(3, 6, 20, mask_kind, 2)
    paired = run_and_grads(lambda: lstm_triton_pair(first, second, reverse), first, second, used)
    assert ("launch_forward", True) in launches and ("launch_backward", True) in launches
    single = run_and_grads(lambda: (lstm_triton(*first, reverse), lstm_triton(*second, not reverse)), first, second,
                           used)
    for got, want in zip(paired[0] + list(paired[1]), single[0] + list(single[1])):
        assert (got is None) == (want is None)
        if got is not None:
            assert torch.equal(got, want)


def test_pair_evaluation_forward(launches):
    from jenacast.rnn.ops.lstm.triton import lstm_triton, lstm_triton_pair

    first, second = direction_inputs(4, 5, 16, "per_gate", 3), direction_inputs(4, 5, 16, "per_gate", 4)
    with torch.no_grad():
        paired = lstm_triton_pair(first, second, True)
        single = (lstm_triton(*first, True), lstm_triton(*second, False))
    assert launches[0] == ("launch_forward", True)
    for got, want in zip(paired[0] + paired[1], single[0] + single[1]):
        assert torch.equal(got, want)


@pytest.mark.parametrize("why", ["tiles", "masks differ"])
def test_pair_falls_back_to_single_launches(why, launches, monkeypatch):
    from jenacast.rnn.ops.lstm.triton import lstm_triton, lstm_triton_pair

    if why == "tiles":
        monkeypatch.setenv("JENACAST_TRITON_KERNELS", "tiles")
    first = direction_inputs(3, 4, 16, "per_gate", 5)
    second = direction_inputs(3, 4, 16, "per_gate" if why == "tiles" else "none", 6)
    paired = run_and_grads(lambda: lstm_triton_pair(first, second, False), first, second, (0, 1, 2))
    assert all(not pair for _, pair in launches)
    single = run_and_grads(lambda: (lstm_triton(*first, False), lstm_triton(*second, True)), first, second, (0, 1, 2))
    for got, want in zip(paired[0] + list(paired[1]), single[0] + list(single[1])):
        assert torch.equal(got, want)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_bidirectional_layer_on_the_pair_matches_reference(return_sequences, go_backwards, merge_mode, launches):
    torch.manual_seed(2)
    options = dict(dropout=0.2, recurrent_dropout=0.3, return_sequences=return_sequences, go_backwards=go_backwards,
                   return_state=True)
    fast = Bidirectional(LSTM(5, 20, backend="triton", **options), merge_mode=merge_mode).to(DEVICE)
    ref = Bidirectional(LSTM(5, 20, backend="reference", **options), merge_mode=merge_mode).to(DEVICE)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 7, 5, device=DEVICE)
    masks = (fast.forward_layer.sample_masks(x), fast.backward_layer.sample_masks(x))
    states = [torch.randn(3, 20, device=DEVICE) for _ in range(4)]
    results = []
    for layer in (fast, ref):
        inputs = [x.clone().requires_grad_(), *(s.clone().requires_grad_() for s in states)]
        outs = layer(inputs[0], ((inputs[1], inputs[2]), (inputs[3], inputs[4])), masks)
        loss = sum((o * torch.linspace(-1, 1, o.shape[-1], device=DEVICE)).sum() * (k + 1) for k, o in enumerate(outs))
        params = list(layer.parameters())
        grads = torch.autograd.grad(loss, inputs + params)
        results.append([o.detach() for o in outs] + list(grads))
    assert ("launch_forward", True) in launches and ("launch_backward", True) in launches
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_pairing_can_be_switched_off(launches, monkeypatch):
    monkeypatch.setenv("JENACAST_TRITON_PAIRED", "0")
    layer = Bidirectional(LSTM(5, 16, backend="triton")).to(DEVICE)
    layer(torch.randn(2, 3, 5, device=DEVICE)).sum().backward()
    assert launches and all(not pair for _, pair in launches)
