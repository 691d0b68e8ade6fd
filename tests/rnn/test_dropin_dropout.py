"""Dropout in VariationalLSTM/VariationalGRU: the masks are torch-gate-ordered, per gate, fixed across time steps
(against an eager loop written from torch's equations), drawn in training mode only, and explicit masks apply in
eval() (Monte Carlo dropout); torch's dropout between layers is torch's own."""

import pytest
import torch
from torch import nn

from jenacast.rnn import DropoutMasks, VariationalGRU, VariationalLSTM
from tests.rnn.dropin_compare import assert_near

B, T, F, H = 3, 6, 4, 5


def lstm_step(x, h, state, w_ih, w_hh, b_ih, b_hh, in_mask, rec_mask):
    c = state
    i, f, g, o = (
        (x * in_mask[k]) @ w_ih[k * H : (k + 1) * H].t()
        + b_ih[k * H : (k + 1) * H]
        + (h * rec_mask[k]) @ w_hh[k * H : (k + 1) * H].t()
        + b_hh[k * H : (k + 1) * H]
        for k in range(4)
    )
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(x, h, state, w_ih, w_hh, b_ih, b_hh, in_mask, rec_mask):
    x_r, x_z, x_n = ((x * in_mask[k]) @ w_ih[k * H : (k + 1) * H].t() + b_ih[k * H : (k + 1) * H] for k in range(3))
    h_r, h_z, h_n = ((h * rec_mask[k]) @ w_hh[k * H : (k + 1) * H].t() + b_hh[k * H : (k + 1) * H] for k in range(3))
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h = (1 - z) * n + z * h
    return h, h


def eager(module, x, masks):
    """torch's equations step by step, each gate's input and state multiplied by its own mask at every step."""
    step, gates = (lstm_step, 4) if isinstance(module, VariationalLSTM) else (gru_step, 3)
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(module.num_directions):
            params = module.direction_parameters(layer, direction)
            m = masks[layer][direction]
            in_mask = m.input.expand(gates, *m.input.shape[-2:])
            rec_mask = m.recurrent.expand(gates, *m.recurrent.shape[-2:])
            h = state = x.new_zeros(x.shape[1], H)
            steps = reversed(range(x.shape[0])) if direction else range(x.shape[0])
            out = [None] * x.shape[0]
            for t in steps:
                h, state = step(x[t], h, state, *params, in_mask, rec_mask)
                out[t] = h
            outputs.append(torch.stack(out))
        x = torch.cat(outputs, dim=-1)
    return x


def per_gate_masks(module, seed):
    """Masks whose every gate differs, so that a gate order mixed up anywhere shows."""
    g = torch.Generator().manual_seed(seed)
    gates = module.GATES

    def draw(width):
        return torch.bernoulli(torch.full((gates, B, width), 0.6), generator=g) / 0.6

    return [
        [DropoutMasks(draw(module.layer_input_size(layer)), draw(H)) for _ in range(module.num_directions)]
        for layer in range(module.num_layers)
    ]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
def test_explicit_masks_equal_torchs_equations_with_masks_fixed_across_steps(cls, training):
    torch.manual_seed(0)
    module = cls(F, H, 2, bidirectional=True, recurrent_dropout=0.4, input_dropout=0.4).train(training)
    masks = per_gate_masks(module, 1)
    x = torch.randn(T, B, F)
    assert_near(module(x, masks=masks)[0], eager(module, x, masks), 1e-5, "output")


@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
def test_eval_has_no_dropout_unless_masks_are_passed(cls):
    torch.manual_seed(0)
    module = cls(F, H, 2, dropout=0.5, recurrent_dropout=0.5, input_dropout=0.5).eval()
    x = torch.randn(T, B, F)
    assert_near(module(x)[0], module.to_torch().eval()(x)[0], 1e-5, "output")
    samples = [module(x, masks=module.sample_masks(B))[0] for _ in range(2)]
    assert not torch.allclose(samples[0], samples[1])  # Monte Carlo samples differ from each other
    assert not torch.allclose(samples[0], module(x)[0])


@pytest.mark.parametrize("mask_mode, shape", [("per_gate", (4, B, H)), ("shared", (B, H))])
def test_training_draws_the_masks_sample_masks_draws(mask_mode, shape):
    """A training call draws, from torch's generator, what sample_masks draws; a fresh draw per call."""
    module = VariationalLSTM(F, H, 2, recurrent_dropout=0.3, input_dropout=0.2, mask_mode=mask_mode).train()
    x = torch.randn(T, B, F)
    torch.manual_seed(7)
    drawn = module(x)[0]
    torch.manual_seed(7)
    masks = module.sample_masks(B)
    torch.testing.assert_close(drawn, module(x, masks=masks)[0])
    assert tuple(masks[1][0].recurrent.shape) == shape and masks[1][0].input.shape[-1] == H
    assert not torch.allclose(drawn, module(x)[0])
    assert not torch.allclose(drawn, module.eval()(x)[0])


def test_dropout_between_layers_is_torchs():
    """Same seed, same draws: nn.LSTM's inter-layer dropout and ours agree exactly."""
    torch.manual_seed(0)
    ref = nn.LSTM(F, H, 3, dropout=0.5, bidirectional=True)
    module = VariationalLSTM.from_torch(ref)
    x = torch.randn(T, B, F)
    torch.manual_seed(1)
    want = ref(x)[0]
    torch.manual_seed(1)
    assert_near(module(x)[0], want, 1e-5, "output")
    assert not torch.allclose(want, ref.eval()(x)[0])


def test_masks_of_the_wrong_shape_say_which():
    module = VariationalGRU(F, H, 2)
    masks = module.sample_masks(B)
    masks[1][0] = DropoutMasks(recurrent=torch.ones(B, H + 1))
    with pytest.raises(ValueError, match=r"layer 1's recurrent dropout mask must have shape \[3, 5\]"):
        module(torch.randn(T, B, F), masks=masks)
