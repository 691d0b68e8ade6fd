"""The autograd wrappers that the fused tiers (cpu, triton) share.

A fused tier supplies the two recurrences as kernels; everything around them is common: the
saved tensors, the gradients that autograd leaves out, the direction bookkeeping. Saved tensors
are time-major in processing order: gates ``[T, B, G*H]``, states ``[T, B, H]``. The input
projection's gradient ``d_xproj`` comes back as ``[B, T, G*H]`` in input order; the CPU kernels
return it as a view of time-major memory, the layout the layers project into, so that the
projection's matmul needs no copy.

The kernels' signatures are ``protocol``'s (:class:`~jenacast.rnn.ops.protocol.LstmKernels`,
:class:`~jenacast.rnn.ops.protocol.GruKernels`): ``forward`` returns the outputs and what the backward reads
(``LstmOutputs``, ``GruOutputs``), saved here as ``LstmSaved``/``GruSaved``; ``backward`` takes the gradients
of the outputs and those saved tensors and returns the gradients (``LstmGrads``, ``GruGrads``). ``d_hseq``,
``d_hT`` and ``d_cT`` are None when that output was not used (the sequence of a layer without
``return_sequences``, an unused last state); ``d_b`` is None without a recurrent bias. ``save=False`` (no
gradient will be asked for: evaluation) lets a kernel skip writing the tensors only the backward reads.
Kernels may also offer ``forward_pair`` and ``backward_pair`` (``LstmPairKernels``, ``GruPairKernels``): a
bidirectional layer's two directions (each direction's ``LstmInputs``/``GruInputs``, or
``LstmBackward``/``GruBackward``; the second runs in the opposite order) in one launch each way
(:func:`lstm_fused_pair`, :func:`gru_fused_pair`).
``lengths`` (a packed batch's, None otherwise) reach both kernels of :func:`lstm_fused`/:func:`gru_fused`, which
zero the outputs past each sequence's length; a pair takes none (``dropin`` runs those directions one by one).
Kernels that leave the weight gradient to matmuls over all steps (and the ``fwbw`` tier) use
:func:`lstm_grads_from_steps`/:func:`gru_grads_from_steps`.
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import previous_states, recurrent_weight_grad, zero_past_lengths
from jenacast.rnn.ops.protocol import (
    GruInputs,
    GruKernels,
    GruPairKernels,
    GruSaved,
    LstmBackward,
    LstmInputs,
    LstmKernels,
    LstmPairKernels,
    LstmSaved,
    gru_backward_args,
)


def _zr_mask(rec_mask):
    """The masks of GRU's z and r gates alone (reset_before multiplies h_h after r, separately)."""
    if rec_mask is None or rec_mask.dim() == 2:
        return rec_mask
    return rec_mask[:2]


def _input_order(d_steps: torch.Tensor, reverse: bool) -> torch.Tensor:
    """``[T, B, X]`` in processing order -> ``[B, T, X]`` in input order (a view)."""
    return (d_steps.flip(0) if reverse else d_steps).transpose(0, 1)


def torch_weight_grad(h0, hs, d_pre, rec_mask, gates):
    """``dU`` from ``h0``, the outputs ``hs`` and the recurrent pre-activation gradients (``common``'s matmuls)."""
    return recurrent_weight_grad(previous_states(h0, hs), d_pre, rec_mask, gates)


def computed_weight_grad(d_w: torch.Tensor):
    """A ``weight_grad`` for the functions below that returns ``d_w``, computed beforehand (a bidirectional
    pair's, both directions in one launch)."""
    return lambda *_: d_w


def lstm_grads_from_steps(d_pre, h0, hs, rec_mask, reverse, weight_grad=torch_weight_grad):
    """``(d_xproj, d_w)`` from the pre-activation gradients ``d_pre`` ``[T, B, 4H]`` (processing order);
    ``weight_grad`` has :func:`torch_weight_grad`'s arguments (a tier may bring its own kernel)."""
    return _input_order(d_pre, reverse), weight_grad(h0, hs, d_pre, rec_mask, 4)


def gru_grads_from_steps(
    d_x, d_rec, h0, hs, cand, rec_mask, reverse, reset_after, has_bias, weight_grad=torch_weight_grad
):
    """``(d_xproj, d_w, d_b)`` from the input-side ``d_x`` and (reset_after) recurrent-side ``d_rec``
    pre-activation gradients, both ``[T, B, 3H]`` in processing order (``weight_grad``: as above)."""
    hidden = hs.shape[2]
    if reset_after:
        d_w = weight_grad(h0, hs, d_rec, rec_mask, 3)
        d_b = d_rec.sum(dim=(0, 1)) if has_bias else None
    else:
        d_w_zr = weight_grad(h0, hs, d_x[..., : 2 * hidden], _zr_mask(rec_mask), 2)
        d_w_h = cand.reshape(-1, hidden).t() @ d_x[..., 2 * hidden :].reshape(-1, hidden)
        d_w, d_b = torch.cat([d_w_zr, d_w_h], dim=1), None
    return _input_order(d_x, reverse), d_w, d_b


def zeros_if_none(grad, like):
    return torch.zeros_like(like) if grad is None else grad.contiguous()


def needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class _LSTMFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels: LstmKernels, xproj, h0, c0, w_rec, rec_mask, reverse, lengths):
        h0, c0 = h0.contiguous(), c0.contiguous()
        out = kernels.forward(xproj, h0, c0, w_rec, rec_mask, reverse, True, lengths)
        ctx.save_for_backward(*LstmSaved(h0, c0, w_rec, rec_mask, out.gates, out.cells, out.hs))
        ctx.kernels, ctx.reverse, ctx.lengths = kernels, reverse, lengths
        ctx.set_materialize_grads(False)  # an unused output (the sequence, the cell state) costs no zeros
        return out.hs.transpose(0, 1), out.h_last, out.c_last

    @staticmethod
    def backward(ctx, d_hseq, d_hT, d_cT):
        saved = LstmSaved._make(ctx.saved_tensors)
        grads = ctx.kernels.backward(d_hseq, d_hT, d_cT, *saved, ctx.reverse, ctx.lengths)
        return None, grads.d_xproj, grads.dh0, grads.dc0, grads.d_w, None, None, None


class _GRUFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels: GruKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, lengths):
        h0 = h0.contiguous()
        out = kernels.forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, True, lengths)
        ctx.save_for_backward(*GruSaved(h0, w_rec, rec_mask, out.gates, out.cand, out.hs))
        ctx.kernels, ctx.reverse, ctx.reset_after, ctx.has_bias = kernels, reverse, reset_after, b_rec is not None
        ctx.lengths = lengths
        ctx.set_materialize_grads(False)
        return out.hs.transpose(0, 1), out.h_last

    @staticmethod
    def backward(ctx, d_hseq, d_hT):
        grads = ctx.kernels.backward(
            *gru_backward_args(d_hseq, d_hT, GruSaved._make(ctx.saved_tensors), ctx.has_bias),
            ctx.reverse,
            ctx.reset_after,
            ctx.lengths,
        )
        return None, grads.d_xproj, grads.dh0, grads.d_w, grads.d_b, None, None, None, None


def _split(saved: tuple, record):
    """A pair's saved tensors (the first direction's, then the second's) as two ``record``s."""
    n = len(record._fields)
    return record._make(saved[:n]), record._make(saved[n:])


def _lstm_contiguous(args: LstmInputs) -> LstmInputs:
    return args._replace(h0=args.h0.contiguous(), c0=args.c0.contiguous())


class _LSTMPairFused(torch.autograd.Function):
    """Two LSTM directions (a bidirectional layer's) through ``kernels.forward_pair`` / ``backward_pair``."""

    @staticmethod
    def forward(ctx, kernels: LstmPairKernels, reverse, x_a, h0_a, c0_a, w_a, mask_a, x_b, h0_b, c0_b, w_b, mask_b):
        first = _lstm_contiguous(LstmInputs(x_a, h0_a, c0_a, w_a, mask_a))
        second = _lstm_contiguous(LstmInputs(x_b, h0_b, c0_b, w_b, mask_b))
        outs = kernels.forward_pair(first, second, reverse, True)
        ctx.save_for_backward(
            *(
                t
                for args, out in zip((first, second), outs)
                for t in LstmSaved(args.h0, args.c0, args.w_rec, args.rec_mask, out.gates, out.cells, out.hs)
            )
        )
        ctx.kernels, ctx.reverse = kernels, reverse
        ctx.set_materialize_grads(False)
        return tuple(t for out in outs for t in (out.hs.transpose(0, 1), out.h_last, out.c_last))

    @staticmethod
    def backward(ctx, d_hseq_a, d_hT_a, d_cT_a, d_hseq_b, d_hT_b, d_cT_b):
        saved_a, saved_b = _split(ctx.saved_tensors, LstmSaved)
        a, b = ctx.kernels.backward_pair(
            LstmBackward(d_hseq_a, d_hT_a, d_cT_a, *saved_a),
            LstmBackward(d_hseq_b, d_hT_b, d_cT_b, *saved_b),
            ctx.reverse,
        )
        return None, None, a.d_xproj, a.dh0, a.dc0, a.d_w, None, b.d_xproj, b.dh0, b.dc0, b.d_w, None


def lstm_fused_pair(kernels: LstmPairKernels, first, second, reverse=False):
    """A bidirectional layer's two LSTM directions: ``first``, ``second`` = ``(xproj, h0, c0, w_rec, rec_mask)``
    (:class:`~jenacast.rnn.ops.protocol.LstmInputs`), ``second`` run in the order opposite to ``reverse``; each
    direction's ``(hseq, h_last, c_last)``."""
    first, second = LstmInputs._make(first), LstmInputs._make(second)
    if not needs_grad(first.xproj, first.h0, first.c0, first.w_rec, second.xproj, second.h0, second.c0, second.w_rec):
        outs = kernels.forward_pair(_lstm_contiguous(first), _lstm_contiguous(second), reverse, False)
        return tuple((out.hs.transpose(0, 1), out.h_last, out.c_last) for out in outs)
    outs = _LSTMPairFused.apply(kernels, reverse, *first, *second)
    return outs[:3], outs[3:]


class _GRUPairFused(torch.autograd.Function):
    """Two GRU directions through ``kernels.forward_pair`` / ``backward_pair``."""

    @staticmethod
    def forward(
        ctx, kernels: GruPairKernels, reverse, reset_after, x_a, h0_a, w_a, b_a, mask_a, x_b, h0_b, w_b, b_b, mask_b
    ):
        first = GruInputs(x_a, h0_a.contiguous(), w_a, b_a, mask_a)
        second = GruInputs(x_b, h0_b.contiguous(), w_b, b_b, mask_b)
        outs = kernels.forward_pair(first, second, reverse, reset_after, True)
        ctx.save_for_backward(
            *(
                t
                for args, out in zip((first, second), outs)
                for t in GruSaved(args.h0, args.w_rec, args.rec_mask, out.gates, out.cand, out.hs)
            )
        )
        ctx.kernels, ctx.reverse, ctx.reset_after, ctx.has_bias = kernels, reverse, reset_after, b_a is not None
        ctx.set_materialize_grads(False)
        return tuple(t for out in outs for t in (out.hs.transpose(0, 1), out.h_last))

    @staticmethod
    def backward(ctx, d_hseq_a, d_hT_a, d_hseq_b, d_hT_b):
        saved_a, saved_b = _split(ctx.saved_tensors, GruSaved)
        a, b = ctx.kernels.backward_pair(
            gru_backward_args(d_hseq_a, d_hT_a, saved_a, ctx.has_bias),
            gru_backward_args(d_hseq_b, d_hT_b, saved_b, ctx.has_bias),
            ctx.reverse,
            ctx.reset_after,
        )
        return None, None, None, a.d_xproj, a.dh0, a.d_w, a.d_b, None, b.d_xproj, b.dh0, b.d_w, b.d_b, None


def lstm_fused(kernels: LstmKernels, xproj, h0, c0, w_rec, rec_mask=None, reverse=False, lengths=None):
    if not needs_grad(xproj, h0, c0, w_rec):  # evaluation: nothing saved for a backward
        out = kernels.forward(xproj, h0.contiguous(), c0.contiguous(), w_rec, rec_mask, reverse, False, lengths)
        hseq, h_last, c_last = out.hs.transpose(0, 1), out.h_last, out.c_last
    else:
        hseq, h_last, c_last = _LSTMFused.apply(kernels, xproj, h0, c0, w_rec, rec_mask, reverse, lengths)
    return zero_past_lengths(hseq, lengths, reverse), h_last, c_last


def gru_fused(
    kernels: GruKernels, xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True, lengths=None
):
    if not needs_grad(xproj, h0, w_rec, b_rec):
        out = kernels.forward(xproj, h0.contiguous(), w_rec, b_rec, rec_mask, reverse, reset_after, False, lengths)
        hseq, h_last = out.hs.transpose(0, 1), out.h_last
    else:
        hseq, h_last = _GRUFused.apply(kernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, lengths)
    return zero_past_lengths(hseq, lengths, reverse), h_last


def gru_fused_pair(kernels: GruPairKernels, first, second, reverse=False, reset_after=True):
    """A bidirectional layer's two GRU directions: ``first``, ``second`` = ``(xproj, h0, w_rec, b_rec, rec_mask)``
    (:class:`~jenacast.rnn.ops.protocol.GruInputs`), ``second`` run in the order opposite to ``reverse``; each
    direction's ``(hseq, h_last)``."""
    first, second = GruInputs._make(first), GruInputs._make(second)
    if not needs_grad(
        first.xproj, first.h0, first.w_rec, first.b_rec, second.xproj, second.h0, second.w_rec, second.b_rec
    ):
        first, second = (args._replace(h0=args.h0.contiguous()) for args in (first, second))
        outs = kernels.forward_pair(first, second, reverse, reset_after, False)
        return tuple((out.hs.transpose(0, 1), out.h_last) for out in outs)
    outs = _GRUPairFused.apply(kernels, reverse, reset_after, *first, *second)
    return outs[:2], outs[2:]
