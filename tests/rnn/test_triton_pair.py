"""A bidirectional layer's two directions in one launch (the Triton tier's rows kernels, ``*_triton_pair``).

The paired launch runs the same per-sequence arithmetic as two single-direction launches, so its
results must equal theirs bit for bit; the layer built on it must match the reference tier.
On the CPU the kernels run in Triton's interpreter (small sizes); on CUDA, on the GPU.
"""

import pytest
import torch

from jenacast.rnn import GRU, LSTM, Bidirectional

pytest.importorskip("triton", reason="needs Triton (pip install 'jenacast[gpu]')")

from jenacast.rnn.ops.triton import gru_rows as gru_rows  # noqa: E402  (imports triton)
from jenacast.rnn.ops.triton import lstm_rows as lstm_rows  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def launches(monkeypatch):
    """Records, for each rows-kernel launch, whether it ran a pair."""
    seen = []
    for module in (lstm_rows, gru_rows):
        for name in ("launch_forward", "launch_backward"):
            original = getattr(module, name)

            def recording(*args, _original=original, _name=name, **kwargs):
                seen.append((_name, kwargs.get("second") is not None))
                return _original(*args, **kwargs)

            monkeypatch.setattr(module, name, recording)
    return seen


def direction_inputs(cell, b, t, h, mask_kind, seed, with_bias=True):
    """One direction's op arguments: LSTM ``(xproj, h0, c0, w_rec, mask)``, GRU ``(xproj, h0, w_rec, b_rec, mask)``."""
    g = torch.Generator().manual_seed(seed)
    gates = 4 if cell == "lstm" else 3
    tensors = [torch.randn(b, t, gates * h, generator=g), torch.randn(b, h, generator=g)]
    if cell == "lstm":
        tensors += [torch.randn(b, h, generator=g), torch.randn(h, gates * h, generator=g) / h**0.5]
    else:
        tensors += [torch.randn(h, gates * h, generator=g) / h**0.5] + (
            [torch.randn(gates * h, generator=g)] if with_bias else []
        )
    shape = {"none": None, "shared": (b, h), "per_gate": (gates, b, h)}[mask_kind]
    mask = None if shape is None else (torch.bernoulli(torch.full(shape, 0.7)) / 0.7).to(DEVICE)
    tensors = [x.to(DEVICE).requires_grad_() for x in tensors]
    return tensors + [mask] if cell == "lstm" or with_bias else tensors + [None, mask]


def ops_of(cell):
    """``(pair op, single op)`` of the Triton tier, both taking a direction's arguments and then the shared ones."""
    if cell == "lstm":
        from jenacast.rnn.ops.triton.lstm import lstm_triton, lstm_triton_pair

        return lstm_triton_pair, lambda args, reverse: lstm_triton(*args, reverse)
    from jenacast.rnn.ops.triton.gru import gru_triton, gru_triton_pair

    return gru_triton_pair, lambda args, reverse, reset_after=True: gru_triton(*args, reverse, reset_after)


def run_and_grads(fn, first, second, used):
    """Each direction's outputs, and the gradients of both directions' tensors, for a loss on the ``used`` outputs
    (by index within a direction: 0 the sequence, 1 the last h, 2 an LSTM's last c)."""
    outs = fn()
    per_direction = len(outs[0])
    picked = [
        (o * torch.linspace(-1, 1, o.shape[-1], device=DEVICE)).sum() * (k + 1)
        for k, o in enumerate(outs[0] + outs[1])
        if k % per_direction in used
    ]
    inputs = [x for x in first[:4] + second[:4] if x is not None]
    grads = torch.autograd.grad(sum(picked), inputs, allow_unused=True)
    return [o.detach() for o in outs[0] + outs[1]] + list(grads)


def assert_identical(got, want):
    for a, b in zip(got, want, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.equal(a, b)


# (cell, mask, reverse, outputs the loss uses); autograd hands the kernels None for the unused ones, which the
# paired backward reads as zeros or not at all
CASES = [
    ("lstm", "none", False, (0,)),
    ("lstm", "none", True, (1,)),
    ("lstm", "shared", False, (1,)),
    ("lstm", "shared", True, (0, 1, 2)),
    ("lstm", "per_gate", False, (0, 1, 2)),
    ("lstm", "per_gate", True, (0,)),
    ("lstm", "per_gate", False, (1, 2)),
    ("gru", "none", True, (0, 1)),
    ("gru", "shared", False, (1,)),
    ("gru", "per_gate", False, (0,)),
    ("gru", "per_gate", True, (0, 1)),
]


@pytest.mark.parametrize("cell, mask_kind, reverse, used", CASES)
def test_pair_equals_two_single_launches_bit_for_bit(cell, mask_kind, reverse, used, launches):
    pair, single = ops_of(cell)
    first, second = direction_inputs(cell, 3, 6, 20, mask_kind, 1), direction_inputs(cell, 3, 6, 20, mask_kind, 2)
    paired = run_and_grads(lambda: pair(first, second, reverse), first, second, used)
    assert ("launch_forward", True) in launches and ("launch_backward", True) in launches
    assert_identical(
        paired, run_and_grads(lambda: (single(first, reverse), single(second, not reverse)), first, second, used)
    )


@pytest.mark.parametrize("with_bias", [True, False])
def test_gru_pair_without_reset_after(with_bias, launches):
    """The original formulation (no recurrent bias), and reset_after without a recurrent bias."""
    pair, single = ops_of("gru")
    reset_after = with_bias
    first = direction_inputs("gru", 3, 5, 16, "per_gate", 7, with_bias)
    second = direction_inputs("gru", 3, 5, 16, "per_gate", 8, with_bias)
    paired = run_and_grads(lambda: pair(first, second, True, reset_after), first, second, (0, 1))
    assert ("launch_backward", True) in launches
    assert_identical(
        paired,
        run_and_grads(
            lambda: (single(first, True, reset_after), single(second, False, reset_after)), first, second, (0, 1)
        ),
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_pair_evaluation_forward(cell, launches):
    pair, single = ops_of(cell)
    first, second = direction_inputs(cell, 4, 5, 16, "per_gate", 3), direction_inputs(cell, 4, 5, 16, "per_gate", 4)
    with torch.no_grad():
        paired = pair(first, second, True)
        assert launches == [("launch_forward", True)]
        singles = (single(first, True), single(second, False))
    assert_identical(paired[0] + paired[1], singles[0] + singles[1])


@pytest.mark.parametrize("why", ["tiles", "masks differ"])
def test_pair_falls_back_to_single_launches(why, launches, kernel_options):
    pair, single = ops_of("lstm")
    if why == "tiles":
        kernel_options(triton_layout="tiles")
    first = direction_inputs("lstm", 3, 4, 16, "per_gate", 5)
    second = direction_inputs("lstm", 3, 4, 16, "per_gate" if why == "tiles" else "none", 6)
    paired = run_and_grads(lambda: pair(first, second, False), first, second, (0, 1, 2))
    assert all(not pair for _, pair in launches)
    assert_identical(
        paired, run_and_grads(lambda: (single(first, False), single(second, True)), first, second, (0, 1, 2))
    )


LAYERS = {
    "lstm": lambda **kw: LSTM(5, 20, **kw),
    "gru": lambda **kw: GRU(5, 20, **kw),
    "gru-v1": lambda **kw: GRU(5, 20, reset_after=False, **kw),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_bidirectional_layer_on_the_pair_matches_reference(layer, return_sequences, go_backwards, launches):
    torch.manual_seed(2)
    options = dict(
        dropout=0.2,
        recurrent_dropout=0.3,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
        return_state=True,
    )
    merge_mode = "mul" if go_backwards else "concat"
    fast = Bidirectional(LAYERS[layer](backend="triton", **options), merge_mode=merge_mode).to(DEVICE)
    ref = Bidirectional(LAYERS[layer](backend="reference", **options), merge_mode=merge_mode).to(DEVICE)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 7, 5, device=DEVICE)
    masks = (fast.forward_layer.sample_masks(x), fast.backward_layer.sample_masks(x))
    states = [torch.randn(3, 20, device=DEVICE) for _ in range(4 if layer == "lstm" else 2)]
    results = []
    for model in (fast, ref):
        inputs = [x.clone().requires_grad_(), *(s.clone().requires_grad_() for s in states)]
        given = ((inputs[1], inputs[2]), (inputs[3], inputs[4])) if layer == "lstm" else (inputs[1], inputs[2])
        outs = model(inputs[0], given, masks)
        loss = sum((o * torch.linspace(-1, 1, o.shape[-1], device=DEVICE)).sum() * (k + 1) for k, o in enumerate(outs))
        grads = torch.autograd.grad(loss, inputs + list(model.parameters()))
        results.append([o.detach() for o in outs] + list(grads))
    assert ("launch_forward", True) in launches and ("launch_backward", True) in launches
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_pairing_can_be_switched_off(launches, kernel_options):
    kernel_options(triton_paired=False)
    layer = Bidirectional(LSTM(5, 16, backend="triton")).to(DEVICE)
    layer(torch.randn(2, 3, 5, device=DEVICE)).sum().backward()
    assert launches and all(not pair for _, pair in launches)
