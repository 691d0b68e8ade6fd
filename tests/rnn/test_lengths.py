"""The layer ops' ``lengths`` (a packed batch): a sequence's outputs and final states equal those of the sequence
cut to its length and run alone, in both directions, with per-gate masks (which torch cannot check); each tier
that takes lengths equals the reference, every gradient included."""

import pytest
import torch

import tests.rnn.cpu_cache  # noqa: F401
from jenacast.rnn.ops import (
    FUSED_TIERS,
    LENGTH_TIERS,
    available,
    get_layer_op,
    gru_reference,
    lstm_reference,
    tier_kernels,
)
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


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_triton_tiles_with_lengths_equal_the_reference(cell, reverse, kernel_options):
    """The tiles kernels (above 32 units, or the triton_layout option): 9 sequences in a program of 16 rows."""
    if not available("triton"):
        pytest.skip("needs Triton")
    kernel_options(triton_layout="tiles")
    for reset_after in [True] if cell == "lstm" else [True, False]:
        tensors, masks = inputs(cell, 5, 7, seed=3)
        ops = [get_layer_op(cell, name, CPU, lengths=True) for name in ("reference", "triton")]
        want, got = (with_grads(cell, op, tensors, masks, reverse, reset_after) for op in ops)
        for i, (a, e) in enumerate(zip(got, want)):
            torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5, msg=lambda m: f"result {i}: {m}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_auto_checks_a_packed_batch_against_the_reference(cell, monkeypatch):
    """ "auto" on the Triton tier checks a packed batch's first call against the reference (fwbw takes no lengths)
    and keeps the Triton tier when they agree."""
    if not available("triton"):
        pytest.skip("needs Triton")
    from jenacast.rnn import ops
    from jenacast.rnn.ops import selfcheck

    monkeypatch.setattr(ops, "_resolved", {})
    monkeypatch.setattr(selfcheck, "_checked", set())
    monkeypatch.setitem(ops._AUTO_PREFERENCE, "cpu", ("triton", "fwbw"))
    tensors, masks = inputs(cell)
    op = get_layer_op(cell, "auto", CPU, lengths=True)
    got = with_grads(cell, op, tensors, masks, True, True)
    assert ops._resolved["cpu"] == "triton" and len(selfcheck._checked) == 1
    want = with_grads(cell, get_layer_op(cell, "reference", CPU, lengths=True), tensors, masks, True, True)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("tier", [t for t in FUSED_TIERS if available(t)])
def test_fused_kernels_with_lengths_equal_the_reference(tier, cell, reverse):
    """``fused``'s ops pass lengths to every fused tier's kernels (the triton tier's layer runs them; the cpu tier's
    own layer projects inside its kernels, but its ``fused`` kernels keep the protocol)."""
    from jenacast.rnn.ops.fused import gru_fused, lstm_fused

    g = torch.Generator().manual_seed(1)
    b, t_len, h = len(LENGTHS), max(LENGTHS), 7
    gates = 4 if cell == "lstm" else 3
    xproj = torch.randn(t_len, b, gates * h, generator=g).transpose(0, 1)  # a projection's time-major memory
    states = [torch.randn(b, h, generator=g) for _ in range(2 if cell == "lstm" else 1)]
    w_rec = torch.randn(h, gates * h, generator=g) / h**0.5
    rec_mask = torch.bernoulli(torch.full((gates, b, h), 0.7), generator=g) / 0.7
    extra = [torch.randn(gates * h, generator=g)] if cell == "gru" else []
    kernels = getattr(tier_kernels(tier), cell)

    def run(op):
        leaves = [t.clone().requires_grad_() for t in (xproj, *states, w_rec, *extra)]
        outs = op(*leaves, rec_mask, reverse, lengths=torch.tensor(LENGTHS))
        upstream = [torch.randn(o.shape, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(outs)]
        return [o.detach() for o in outs] + list(torch.autograd.grad(outs, leaves, upstream))

    if cell == "lstm":
        want = run(lstm_reference)
        got = run(lambda *a, **k: lstm_fused(kernels, *a, **k))
    else:
        want = run(gru_reference)
        got = run(lambda *a, **k: gru_fused(kernels, *a, **k))
    for i, (a, e) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5, msg=lambda m: f"result {i}: {m}")
