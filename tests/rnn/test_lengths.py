"""The layer ops' ``lengths`` (a packed batch): a sequence's outputs and final states equal those of the sequence
cut to its length and run alone, in both directions, with per-gate masks (which torch cannot check); each tier
that takes lengths equals the reference, every gradient included."""

import pytest
import torch

import tests.rnn.cpu_cache  # noqa: F401
from jenacast.rnn.ops import LENGTH_TIERS, available, get_layer_op
from tests.rnn.test_cpu_layer import layer_inputs

LENGTHS = [4, 1, 6, 3, 6, 2, 5, 6, 1]
CPU = torch.device("cpu")


def _args(cell, tensors, in_mask, rec_mask, reset_after=True):
    if cell == "lstm":
        x, kernel, bias, h0, c0, w_rec = tensors
        return x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask
    x, kernel, bias, h0, w_rec, b_rec = tensors
    return x, in_mask, kernel, bias, h0, w_rec, b_rec if reset_after else None, rec_mask


def call(cell, op, tensors, masks, reverse, reset_after=True, **lengths):
    shared = (reverse,) if cell == "lstm" else (reverse, reset_after)
    return op(*_args(cell, tensors, *masks, reset_after), *shared, **lengths)


def _row(cell, tensors, masks, b, n):
    """Sequence ``b`` alone, cut to ``n`` steps."""
    x, kernel, bias, *rest = tensors
    states = rest[:2] if cell == "lstm" else rest[:1]
    weights = rest[len(states) :]
    one = [x[b : b + 1, :n], kernel, bias, *(s[b : b + 1] for s in states), *weights]
    return one, [m if m is None else m[..., b : b + 1, :] for m in masks]


def one_by_one(cell, tensors, masks, reverse):
    op = get_layer_op(cell, "reference", CPU)
    t_len, results = tensors[0].shape[1], []
    for b, n in enumerate(LENGTHS):
        seq, *last = call(cell, op, *_row(cell, tensors, masks, b, n), reverse)
        padding = seq.new_zeros(1, t_len - n, seq.shape[2])  # processing order: a reverse sequence's come first
        results.append([torch.cat([padding, seq] if reverse else [seq, padding], 1), *last])
    return [torch.cat(parts) for parts in zip(*results)]


def inputs(cell, f=5, h=7, seed=0):
    tensors, in_mask, rec_mask = layer_inputs(cell, len(LENGTHS), max(LENGTHS), f, h, "per_gate", "per_gate", seed)
    return tensors, (in_mask, rec_mask)


# fwbw takes no lengths: a packed batch runs the reference there
@pytest.mark.parametrize("backend", ["reference", "fwbw"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reference_lengths_equal_sequences_run_alone(cell, reverse, backend):
    tensors, masks = inputs(cell)
    op = get_layer_op(cell, backend, CPU, lengths=True)
    got = call(cell, op, tensors, masks, reverse, lengths=torch.tensor(LENGTHS))
    for a, e in zip(got, one_by_one(cell, tensors, masks, reverse)):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def with_grads(cell, op, tensors, masks, reverse, reset_after):
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    if cell == "gru" and not reset_after:
        leaves[-1].requires_grad_(False)  # reset_before has no recurrent bias
    outs = call(cell, op, leaves, masks, reverse, reset_after, lengths=torch.tensor(LENGTHS))
    upstream = [torch.randn(o.shape, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(outs)]
    grads = torch.autograd.grad(outs, [t for t in leaves if t.requires_grad], upstream)
    return [o.detach() for o in outs] + list(grads)


# 16 features and units: the kernels' vector products and in-kernel input gradient; 5 and 7: the plain loops
@pytest.mark.parametrize("f,h", [(5, 7), (16, 16)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("tier", [t for t in LENGTH_TIERS if t != "reference" and available(t)])
def test_every_tier_with_lengths_equals_the_reference(tier, cell, reverse, f, h):
    for reset_after in [True] if cell == "lstm" else [True, False]:
        tensors, masks = inputs(cell, f, h, seed=f)
        ops = [get_layer_op(cell, name, CPU, lengths=True) for name in ("reference", tier)]
        want, got = (with_grads(cell, op, tensors, masks, reverse, reset_after) for op in ops)
        for i, (a, e) in enumerate(zip(got, want)):
            torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5, msg=lambda m: f"result {i}: {m}")
