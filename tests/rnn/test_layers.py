import logging

import numpy as np
import pytest
import torch

from jenacast.rnn import GRU, LSTM, Bidirectional, DropoutMasks
from jenacast.rnn.masks import dropout_mask
from jenacast.rnn.ops import TIERS, available

BACKENDS = [t for t in TIERS if available(t)]


def torch_lstm_from(layer: LSTM) -> torch.nn.LSTM:
    ref = torch.nn.LSTM(layer.input_size, layer.units, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.kernel.t())
        ref.weight_hh_l0.copy_(layer.recurrent_kernel.t())
        ref.bias_ih_l0.copy_(layer.bias)
        ref.bias_hh_l0.zero_()
    return ref


def torch_gru_from(layer: GRU) -> torch.nn.GRU:
    """torch orders GRU gates r, z, n; Keras z, r, h."""
    h = layer.units

    def reorder(w):
        return torch.cat([w[..., h : 2 * h], w[..., :h], w[..., 2 * h :]], dim=-1)

    ref = torch.nn.GRU(layer.input_size, h, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(reorder(layer.kernel).t())
        ref.weight_hh_l0.copy_(reorder(layer.recurrent_kernel).t())
        ref.bias_ih_l0.copy_(reorder(layer.bias[0]))
        ref.bias_hh_l0.copy_(reorder(layer.bias[1]))
    return ref


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_equals_torch_lstm_without_dropout(backend):
    torch.manual_seed(0)
    layer = LSTM(5, 7, return_sequences=True, return_state=True, backend=backend)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(4, 9, 5)
    out, h, c = layer(x)
    ref_out, (ref_h, ref_c) = torch_lstm_from(layer)(x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, ref_h[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(c, ref_c[0], rtol=1e-5, atol=1e-5)
    # gradients of every weight agree too
    grads = torch.autograd.grad(out.square().sum(), [layer.kernel, layer.recurrent_kernel, layer.bias])
    ref = torch_lstm_from(layer)
    ref_grads = torch.autograd.grad(ref(x)[0].square().sum(), [ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0])
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r.t() if g.dim() == 2 else r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_equals_torch_gru_without_dropout(backend):
    torch.manual_seed(1)
    layer = GRU(5, 6, return_sequences=True, backend=backend)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(3, 8, 5)
    torch.testing.assert_close(layer(x), torch_gru_from(layer)(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_go_backwards_reads_the_sequence_reversed(cls):
    torch.manual_seed(2)
    fwd = cls(3, 4, return_sequences=True)
    bwd = cls(3, 4, return_sequences=True, go_backwards=True)
    bwd.load_state_dict(fwd.state_dict())
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(bwd(x), fwd(x.flip(1)))  # Keras: outputs in processing order


@pytest.mark.parametrize("cls,gates", [(LSTM, 4), (GRU, 3)])
def test_sampled_masks_follow_keras(cls, gates):
    layer = cls(6, 5, dropout=0.3, recurrent_dropout=0.4).train()
    masks = layer._masks(torch.zeros(64, 3, 6), None)
    assert masks.input.shape == (gates, 64, 6) and masks.recurrent.shape == (gates, 64, 5)
    np.testing.assert_allclose(np.unique(masks.input.numpy()), [0.0, 1 / 0.7], rtol=1e-6)
    np.testing.assert_allclose(np.unique(masks.recurrent.numpy()), [0.0, 1 / 0.6], rtol=1e-6)
    assert not torch.equal(masks.recurrent[0], masks.recurrent[1])  # one mask per gate
    assert abs((masks.recurrent == 0).float().mean().item() - 0.4) < 0.1
    # Keras' fused cell (recurrent_dropout == 0) draws one input mask for all gates
    assert cls(6, 5, dropout=0.3).train()._masks(torch.zeros(8, 3, 6), None).input.shape == (8, 6)
    shared = (
        cls(6, 5, dropout=0.3, recurrent_dropout=0.4, mask_mode="shared").train()._masks(torch.zeros(8, 3, 6), None)
    )
    assert shared.input.shape == (8, 6) and shared.recurrent.shape == (8, 5)
    assert layer.eval()._masks(torch.zeros(8, 3, 6), None) == DropoutMasks()


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_training_call_equals_explicit_masks_drawn_with_the_same_seed(cls):
    layer = cls(4, 5, dropout=0.2, recurrent_dropout=0.5, return_sequences=True).train()
    x = torch.randn(3, 7, 4)
    torch.manual_seed(9)
    out = layer(x)
    torch.manual_seed(9)
    masks = layer.sample_masks(x)
    torch.testing.assert_close(out, layer(x, masks=masks))
    assert not torch.allclose(out, layer.eval()(x))
    # explicit masks apply in eval mode too (Monte Carlo dropout)
    torch.testing.assert_close(layer.eval()(x, masks=masks), out)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_recurrent_mask_never_touches_the_carry_or_the_z_term(cls):
    """A recurrent mask of all ones changes nothing; zeros remove exactly the recurrent matmul."""
    torch.manual_seed(3)
    layer = cls(3, 4, return_sequences=True)
    x = torch.randn(2, 5, 3)
    g = layer.GATES
    ones = DropoutMasks(recurrent=torch.ones(g, 2, 4))
    torch.testing.assert_close(layer(x, masks=ones), layer(x))
    zeros = DropoutMasks(recurrent=torch.zeros(g, 2, 4))
    no_recurrence = cls(3, 4, return_sequences=True)
    no_recurrence.load_state_dict(layer.state_dict())
    with torch.no_grad():
        no_recurrence.recurrent_kernel.zero_()
    torch.testing.assert_close(layer(x, masks=zeros), no_recurrence(x))


def test_keras_initialisers():
    torch.manual_seed(4)
    layer = LSTM(14, 32)
    u = layer.recurrent_kernel.detach()
    torch.testing.assert_close(u @ u.t(), torch.eye(32), atol=1e-5, rtol=0)  # orthogonal rows over [H, 4H]
    limit = (6 / (14 + 128)) ** 0.5
    assert layer.kernel.abs().max() <= limit and layer.kernel.abs().max() > 0.9 * limit
    assert torch.equal(layer.bias[:32], torch.zeros(32)) and torch.equal(layer.bias[32:64], torch.ones(32))
    assert torch.equal(layer.bias[64:], torch.zeros(64))
    gru = GRU(14, 32)
    assert gru.bias.shape == (2, 96) and not gru.bias.any()
    assert GRU(14, 32, reset_after=False).bias.shape == (96,)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_merges_forward_and_flipped_backward(merge_mode):
    torch.manual_seed(5)
    bi = Bidirectional(LSTM(3, 4, return_sequences=True), merge_mode=merge_mode)
    assert (
        bi.backward_layer.go_backwards and bi.backward_layer.recurrent_kernel is not bi.forward_layer.recurrent_kernel
    )
    assert not torch.equal(bi.backward_layer.kernel, bi.forward_layer.kernel)  # own weights
    x = torch.randn(2, 5, 3)
    f, b = bi.forward_layer(x), bi.backward_layer(x).flip(1)
    expected = {"concat": torch.cat([f, b], -1), "sum": f + b, "mul": f * b, "ave": (f + b) / 2}[merge_mode]
    torch.testing.assert_close(bi(x), expected)
    assert bi.output_size == (8 if merge_mode == "concat" else 4)


def test_keras_weights_round_trip_and_stacking():
    torch.manual_seed(6)
    first = GRU(14, 32, return_sequences=True)
    second = GRU(32, 32)
    copy = GRU(14, 32, return_sequences=True)
    copy.load_keras_weights(first.keras_weights())
    x = torch.randn(2, 10, 14)
    torch.testing.assert_close(copy(x), first(x))
    assert second(first(x)).shape == (2, 32)
    bi = Bidirectional(LSTM(14, 16))
    bi2 = Bidirectional(LSTM(14, 16))
    bi2.load_keras_weights(bi.keras_weights())
    torch.testing.assert_close(bi2(x), bi(x))
    assert [w.shape for w in bi.keras_weights()] == [(14, 64), (16, 64), (64,)] * 2


BAD = [
    (lambda: LSTM(3, 4)(torch.zeros(2, 5)), r"expects input of shape \[batch, time, 3\], got \[2, 5\]"),
    (lambda: LSTM(3, 4)(torch.zeros(2, 5, 4)), r"got \[2, 5, 4\]"),
    (lambda: LSTM(3, 4, dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
    (lambda: GRU(3, 4, recurrent_dropout=-0.1), r"recurrent_dropout must be in \[0, 1\)"),
    (lambda: LSTM(3, 0), "units must be a positive integer"),
    (lambda: LSTM(3, 4, backend="cudnn"), "unknown backend 'cudnn'; expected one of auto, reference, fwbw"),
    (lambda: LSTM(3, 4, mask_mode="tied"), "unknown mask_mode 'tied'"),
    (lambda: Bidirectional(LSTM(3, 4), merge_mode="max"), "unknown merge_mode 'max'"),
    (
        lambda: LSTM(3, 4).load_keras_weights([np.zeros((3, 16)), np.zeros((4, 16)), np.zeros(12)]),
        r"Keras bias must have shape \(16,\), got \(12,\)",
    ),
    (
        lambda: GRU(3, 4).load_keras_weights([np.zeros((3, 12)), np.zeros((4, 12)), np.zeros(12)]),
        r"Keras bias must have shape \(2, 12\), got \(12,\)",
    ),
    (lambda: LSTM(3, 4).load_keras_weights([np.zeros((3, 16))]), "expects 3 Keras weights, got 1"),
    (
        lambda: LSTM(3, 4)(torch.zeros(2, 5, 3), masks=DropoutMasks(recurrent=torch.ones(3, 2, 4))),
        r"recurrent dropout mask must have shape \[2, 4\] or \[4, 2, 4\], got \[3, 2, 4\]",
    ),
]


@pytest.mark.parametrize("make,message", BAD)
def test_bad_arguments_raise_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_auto_backend_says_what_it_chose(caplog):
    from jenacast.rnn import ops

    ops._resolved.clear()
    with caplog.at_level(logging.INFO, logger="jenacast"):
        LSTM(3, 4)(torch.zeros(1, 2, 3))
    assert "backend 'auto' on cpu uses 'cpu'" in caplog.text


def test_auto_uses_fwbw_for_float64_since_the_fused_kernels_run_float32(caplog, monkeypatch):
    from jenacast.rnn import ops

    monkeypatch.setattr(ops, "_warned_dtypes", set())  # said once per process: forget earlier tests' notes
    ran = []
    tier_ops = ops.tier_ops
    monkeypatch.setattr(ops, "tier_ops", lambda tier: ran.append(tier) or tier_ops(tier))
    layer = LSTM(3, 4).double()
    with caplog.at_level(logging.INFO, logger="jenacast"):
        out = layer(torch.zeros(2, 3, 3, dtype=torch.float64))
    assert out.dtype == torch.float64 and ran == ["fwbw"]
    assert "backend 'auto' uses 'fwbw' for torch.float64 (the fused kernels run float32)" in caplog.text
    if "cpu" in [t for t in ops.TIERS if ops.available(t)]:
        with pytest.raises(ValueError, match="backend 'cpu' runs float32 CPU tensors"):
            LSTM(3, 4, backend="cpu").double()(torch.zeros(2, 3, 3, dtype=torch.float64))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.75])
def test_dropout_mask_is_inverted_bernoulli(rate):
    """Values are 0 or 1 / (1 - rate); the kept share is 1 - rate (24,576 draws: 4 standard deviations
    are under 0.013 for these rates)."""
    torch.manual_seed(0)
    mask = dropout_mask((3, 256, 32), rate, torch.zeros(()))
    keep = 1 - rate
    assert mask.dtype == torch.float32
    torch.testing.assert_close(mask.unique(), torch.tensor([0.0, 1 / keep]))
    assert abs((mask > 0).float().mean().item() - keep) < 0.013
    torch.manual_seed(0)  # the masks torch.bernoulli drew before (runs stay comparable across versions)
    torch.testing.assert_close(mask, torch.bernoulli(torch.full((3, 256, 32), keep)) / keep)
