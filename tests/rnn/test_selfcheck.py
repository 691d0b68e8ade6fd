"""``backend="auto"`` checks the Triton tier against ``fwbw`` at each layer configuration's first call.

On the CPU, "auto" is made to prefer the Triton tier (its kernels run in Triton's interpreter; on CUDA, on the
GPU), and broken kernels are stood in by wrapping the real ops.
"""

import logging

import pytest
import torch

from jenacast.rnn import GRU, LSTM, Bidirectional, ops
from jenacast.rnn.ops import selfcheck
from jenacast.rnn.ops.fwbw.gru import gru_fwbw
from jenacast.rnn.ops.fwbw.lstm import lstm_fwbw
from jenacast.rnn.ops.projection import projected

B, T, F = 3, 5, 4
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """No choice of "auto" nor any configuration checked yet (restored after the test)."""
    monkeypatch.setattr(ops, "_resolved", {})
    monkeypatch.setattr(selfcheck, "_checked", set())


@pytest.fixture
def auto_prefers_triton(monkeypatch):
    if not ops.available("triton"):
        pytest.skip("needs Triton")
    monkeypatch.setitem(ops._AUTO_PREFERENCE, DEVICE, ("triton", "fwbw"))


def layer_inputs(cell, h=3, b=B):
    """A layer op's arguments (see ``LSTM.layer_args``, ``GRU.layer_args``), then ``reverse`` (GRU: ``reset_after``)."""
    g = torch.Generator().manual_seed(0)
    gates = 4 if cell == "lstm" else 3
    tensors = [
        torch.randn(b, T, F, generator=g),
        torch.randn(F, gates * h, generator=g),
        torch.randn(gates * h, generator=g),
        torch.randn(b, h, generator=g),
    ]
    x, kernel, bias, h0 = (t.requires_grad_() for t in tensors)
    w_rec = (torch.randn(h, gates * h, generator=g) / h**0.5).requires_grad_()
    mask = torch.bernoulli(torch.full((gates, b, h), 0.7), generator=g) / 0.7
    if cell == "lstm":
        return (x, None, kernel, bias, h0, torch.zeros(b, h), w_rec, mask, False)
    return (x, None, kernel, bias, h0, w_rec, None, mask, True, False)


def shifted(op, amount):
    """``op`` with its sequence output moved by ``amount`` (a forward that is wrong)."""

    def wrong(*args):
        hseq, *last = op(*args)
        return (hseq + amount, *last)

    return wrong


class _ScaledGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * 1.01


def wrong_backward(op):
    """``op`` whose input gradient is 1% off (a right forward, a wrong backward)."""

    def wrong(x, *rest):
        return op(_ScaledGrad.apply(x), *rest)

    return wrong


class _WrongWithoutSequenceGrad(torch.autograd.Function):
    """Identity on ``(hseq, h)`` whose backward is 1% off when no gradient reaches the sequence (as a kernel's
    variant for a stack's top layer could be)."""

    @staticmethod
    def forward(ctx, hseq, h):
        ctx.set_materialize_grads(False)
        return hseq.clone(), h.clone()

    @staticmethod
    def backward(ctx, d_hseq, d_h):
        return d_hseq, (d_h if d_hseq is not None else d_h * 1.01)


def wrong_for_the_top_layer(op):
    def wrong(*args):
        hseq, h, *rest = op(*args)
        return (*_WrongWithoutSequenceGrad.apply(hseq, h), *rest)

    return wrong


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_matching_tier_passes(cell):
    fwbw = projected(cell, lstm_fwbw if cell == "lstm" else gru_fwbw)
    reference = projected(cell, ops.tier_ops("reference")[cell])
    assert selfcheck.difference(fwbw, reference, layer_inputs(cell)) is None


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_wrong_forward_a_wrong_gradient_and_an_exception_are_each_found(cell):
    fwbw = projected(cell, lstm_fwbw if cell == "lstm" else gru_fwbw)
    args = layer_inputs(cell)
    assert selfcheck.difference(shifted(fwbw, 1e-2), fwbw, args).startswith("output 0 differs by 0.01")
    assert selfcheck.difference(wrong_backward(fwbw), fwbw, args).startswith("gradient 0 for every output differs")

    assert selfcheck.difference(wrong_for_the_top_layer(fwbw), fwbw, args).startswith("gradient 0 for the last h")

    def raising(*_):
        raise RuntimeError("no kernel image is available")

    assert selfcheck.difference(raising, fwbw, args) == "it raised RuntimeError: no kernel image is available"


def test_a_pairs_last_h_alone_is_checked_in_each_direction():
    layer = projected("lstm", lstm_fwbw)

    def pair(first, second, reverse):
        return layer(*first, reverse), layer(*second, not reverse)

    def wrong_pair(first, second, reverse):
        one, two = pair(first, second, reverse)
        return one, wrong_for_the_top_layer(lambda: two)()

    args = layer_inputs("lstm")[:-1]
    assert selfcheck.difference(pair, pair, (args, args, False)) is None
    assert selfcheck.difference(wrong_pair, pair, (args, args, False)).startswith(
        "gradient 5 for the last h"
    )  # second x


@pytest.mark.parametrize("no_grad", [torch.no_grad, torch.inference_mode])
def test_without_gradients_only_the_forward_is_compared(no_grad):
    fwbw = projected("lstm", lstm_fwbw)
    with no_grad():
        assert selfcheck.difference(wrong_backward(fwbw), fwbw, layer_inputs("lstm")) is None
        assert selfcheck.difference(shifted(fwbw, 1.0), fwbw, layer_inputs("lstm")).startswith("output 0 differs")


def test_the_users_float32_matmul_precision_is_kept():
    fwbw = projected("lstm", lstm_fwbw)
    torch.set_float32_matmul_precision("medium")
    try:
        selfcheck.difference(fwbw, fwbw, layer_inputs("lstm"))
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision("highest")


def test_each_configuration_is_checked_once_and_the_check_leaves_no_trace():
    calls = []

    def counting(*args):
        calls.append(args[0].shape[0])
        return projected("lstm", lstm_fwbw)(*args)

    run = selfcheck.checked("lstm", counting, projected("lstm", lstm_fwbw), lambda: pytest.fail("no failure"))
    args = layer_inputs("lstm")
    before = [t.detach().clone() for t in args if isinstance(t, torch.Tensor)]
    hseq, _, _ = run(*args)
    assert len(calls) == 2  # once checked, once for the answer
    assert hseq.requires_grad and all(t.grad is None for t in args if isinstance(t, torch.Tensor))
    assert all(torch.equal(a, b) for a, b in zip(before, [t for t in args if isinstance(t, torch.Tensor)]))
    run(*args)
    assert len(calls) == 3
    run(*layer_inputs("lstm", b=2))  # another batch size: another configuration
    assert len(calls) == 5


def test_no_check_while_a_graph_is_captured(monkeypatch):
    monkeypatch.setattr(selfcheck, "_capturing", lambda: True)
    calls = []
    run = selfcheck.checked(
        "lstm", lambda *a: calls.append(1) or projected("lstm", lstm_fwbw)(*a), None, lambda: pytest.fail("no check")
    )
    run(*layer_inputs("lstm"))
    assert calls == [1]


@pytest.mark.parametrize(
    "make",
    [
        lambda be: LSTM(F, 3, recurrent_dropout=0.3, return_sequences=True, backend=be),
        lambda be: GRU(F, 3, recurrent_dropout=0.3, backend=be),
        lambda be: Bidirectional(LSTM(F, 3, backend=be)),
    ],
)
def test_auto_keeps_triton_kernels_that_pass(auto_prefers_triton, make, caplog):
    torch.manual_seed(0)
    auto, triton = make("auto").to(DEVICE).train(), make("triton").to(DEVICE).train()
    triton.load_state_dict(auto.state_dict())
    x = torch.randn(B, T, F, device=DEVICE)
    with caplog.at_level(logging.WARNING, logger="jenacast"):
        torch.manual_seed(1)
        got = auto(x)
    torch.manual_seed(1)
    assert torch.equal(got, triton(x))
    assert ops._resolved[DEVICE] == "triton" and "check" not in caplog.text
    assert len(selfcheck._checked) == 1


@pytest.mark.parametrize("cell, bidirectional", [("lstm", False), ("gru", False), ("lstm", True), ("gru", True)])
def test_auto_falls_back_to_fwbw_with_a_warning_when_the_kernels_fail(
    auto_prefers_triton, monkeypatch, caplog, cell, bidirectional
):
    from jenacast.rnn.ops.triton import gru as gru_triton_module
    from jenacast.rnn.ops.triton import lstm as lstm_triton_module

    module, name = (lstm_triton_module, "lstm_triton") if cell == "lstm" else (gru_triton_module, "gru_triton")
    if bidirectional:
        real_pair = getattr(module, f"{name}_pair")

        def wrong_pair(first, second, *shared):  # the second direction's sequence off
            one, (hseq, *last) = real_pair(first, second, *shared)
            return one, (hseq + 0.5, *last)

        monkeypatch.setattr(module, f"{name}_pair", wrong_pair)
    else:
        monkeypatch.setattr(module, name, shifted(getattr(module, name), 0.5))
    layer_type = LSTM if cell == "lstm" else GRU
    make = (
        (lambda be: Bidirectional(layer_type(F, 3, backend=be)))
        if bidirectional
        else (lambda be: layer_type(F, 3, return_sequences=True, backend=be))
    )
    torch.manual_seed(0)
    auto, fwbw = make("auto").to(DEVICE), make("fwbw").to(DEVICE)
    fwbw.load_state_dict(auto.state_dict())
    x = torch.randn(B, T, F, device=DEVICE)
    with caplog.at_level(logging.WARNING, logger="jenacast"):
        got = auto(x)
    assert "failed their first-use check against 'fwbw'" in caplog.text and "differs by" in caplog.text
    assert ops._resolved[DEVICE] == "fwbw"
    assert torch.allclose(got, fwbw(x), atol=1e-5)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jenacast"):
        assert torch.allclose(auto(x), fwbw(x), atol=1e-5)  # from now on fwbw, and no second warning
    assert caplog.text == ""
