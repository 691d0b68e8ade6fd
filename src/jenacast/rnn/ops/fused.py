"""The autograd wrappers that the fused tiers (cpu, triton) share.

A fused tier supplies the two recurrences as kernels; everything around them is common: the
saved tensors, the gradients that autograd leaves out, the direction bookkeeping. Saved tensors
are time-major in processing order: gates ``[T, B, G*H]``, states ``[T, B, H]``. The input
projection's gradient ``d_xproj`` comes back as ``[B, T, G*H]`` in input order; the CPU kernels
return it as a view of time-major memory, the layout the layers project into, so that the
projection's matmul needs no copy.

LSTM kernels: ``forward(xproj, h0, c0, w_rec, mask, reverse, save) -> (hs, hT, cT, gates, cells)`` and
``backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, mask, gates, cells, hs, reverse) -> (d_xproj, dh0, dc0, d_w)``.
GRU kernels: ``forward(xproj, h0, w_rec, b_rec, mask, reverse, reset_after, save) -> (hs, hT, gates, cand)`` and
``backward(d_hseq, d_hT, h0, w_rec, has_bias, mask, gates, cand, hs, reverse, reset_after)
-> (d_xproj, dh0, d_w, d_b)``. ``d_hseq``, ``d_hT`` and ``d_cT`` are None when that output was not used
(the sequence of a layer without ``return_sequences``, an unused last state); ``d_b`` is None without a
recurrent bias. ``save=False`` (no gradient will be asked for: evaluation) lets a kernel skip writing the
tensors only the backward reads.
Kernels may also offer ``forward_pair(first, second, reverse, [reset_after,] save)`` and
``backward_pair(first, second, reverse[, reset_after])``: a bidirectional layer's two directions (each
direction's arguments above but those shared; the second runs in the opposite order) in one launch each
way (:func:`lstm_fused_pair`, :func:`gru_fused_pair`).
Kernels that leave the weight gradient to matmuls over all steps (and the ``fwbw`` tier) use
:func:`lstm_grads_from_steps`/:func:`gru_grads_from_steps`.
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import previous_states, recurrent_weight_grad


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
    def forward(ctx, kernels, xproj, h0, c0, w_rec, rec_mask, reverse):
        h0, c0 = h0.contiguous(), c0.contiguous()
        hs, h_last, c_last, gates, cells = kernels.forward(xproj, h0, c0, w_rec, rec_mask, reverse, True)
        ctx.save_for_backward(h0, c0, w_rec, rec_mask, gates, cells, hs)
        ctx.kernels, ctx.reverse = kernels, reverse
        ctx.set_materialize_grads(False)  # an unused output (the sequence, the cell state) costs no zeros
        return hs.transpose(0, 1), h_last, c_last

    @staticmethod
    def backward(ctx, d_hseq, d_hT, d_cT):
        h0, c0, w_rec, rec_mask, gates, cells, hs = ctx.saved_tensors
        d_xproj, dh0, dc0, d_w = ctx.kernels.backward(
            d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, ctx.reverse
        )
        return None, d_xproj, dh0, dc0, d_w, None, None


class _GRUFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after):
        h0 = h0.contiguous()
        hs, h_last, gates, cand = kernels.forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, True)
        ctx.save_for_backward(h0, w_rec, rec_mask, gates, cand, hs)
        ctx.kernels, ctx.reverse, ctx.reset_after, ctx.has_bias = kernels, reverse, reset_after, b_rec is not None
        ctx.set_materialize_grads(False)
        return hs.transpose(0, 1), h_last

    @staticmethod
    def backward(ctx, d_hseq, d_hT):
        h0, w_rec, rec_mask, gates, cand, hs = ctx.saved_tensors
        d_xproj, dh0, d_w, d_b = ctx.kernels.backward(
            d_hseq, d_hT, h0, w_rec, ctx.has_bias, rec_mask, gates, cand, hs, ctx.reverse, ctx.reset_after
        )
        return None, d_xproj, dh0, d_w, d_b, None, None, None


class _LSTMPairFused(torch.autograd.Function):
    """Two LSTM directions (a bidirectional layer's) through ``kernels.forward_pair`` / ``backward_pair``."""

    @staticmethod
    def forward(ctx, kernels, reverse, x_a, h0_a, c0_a, w_a, mask_a, x_b, h0_b, c0_b, w_b, mask_b):
        first = (x_a, h0_a.contiguous(), c0_a.contiguous(), w_a, mask_a)
        second = (x_b, h0_b.contiguous(), c0_b.contiguous(), w_b, mask_b)
        outs = kernels.forward_pair(first, second, reverse, True)
        # per direction: h0, c0, w_rec, mask, gates, cells, hs
        ctx.save_for_backward(
            *(t for args, (hs, _, _, gates, cells) in zip((first, second), outs) for t in (*args[1:], gates, cells, hs))
        )
        ctx.kernels, ctx.reverse = kernels, reverse
        ctx.set_materialize_grads(False)
        return tuple(t for hs, h_last, c_last, _, _ in outs for t in (hs.transpose(0, 1), h_last, c_last))

    @staticmethod
    def backward(ctx, d_hseq_a, d_hT_a, d_cT_a, d_hseq_b, d_hT_b, d_cT_b):
        saved = ctx.saved_tensors
        args = []
        for (d_hseq, d_hT, d_cT), (h0, c0, w_rec, mask, gates, cells, hs) in zip(
            ((d_hseq_a, d_hT_a, d_cT_a), (d_hseq_b, d_hT_b, d_cT_b)), (saved[:7], saved[7:])
        ):
            args.append((d_hseq, d_hT, d_cT, h0, c0, w_rec, mask, gates, cells, hs))
        (dx_a, dh0_a, dc0_a, dw_a), (dx_b, dh0_b, dc0_b, dw_b) = ctx.kernels.backward_pair(*args, ctx.reverse)
        return None, None, dx_a, dh0_a, dc0_a, dw_a, None, dx_b, dh0_b, dc0_b, dw_b, None


def lstm_fused_pair(kernels, first, second, reverse=False):
    """A bidirectional layer's two LSTM directions: ``first``, ``second`` = ``(xproj, h0, c0, w_rec, rec_mask)``,
    ``second`` run in the order opposite to ``reverse``; each direction's ``(hseq, h_last, c_last)``."""
    if not needs_grad(*first[:4], *second[:4]):
        first, second = ((x, h0.contiguous(), c0.contiguous(), w, m) for x, h0, c0, w, m in (first, second))
        outs = kernels.forward_pair(first, second, reverse, False)
        return tuple((hs.transpose(0, 1), h_last, c_last) for hs, h_last, c_last, _, _ in outs)
    outs = _LSTMPairFused.apply(kernels, reverse, *first, *second)
    return outs[:3], outs[3:]


class _GRUPairFused(torch.autograd.Function):
    """Two GRU directions through ``kernels.forward_pair`` / ``backward_pair``."""

    @staticmethod
    def forward(ctx, kernels, reverse, reset_after, x_a, h0_a, w_a, b_a, mask_a, x_b, h0_b, w_b, b_b, mask_b):
        first, second = (x_a, h0_a.contiguous(), w_a, b_a, mask_a), (x_b, h0_b.contiguous(), w_b, b_b, mask_b)
        outs = kernels.forward_pair(first, second, reverse, reset_after, True)
        # per direction: h0, w_rec, mask, gates, cand, hs
        ctx.save_for_backward(
            *(
                t
                for args, (hs, _, gates, cand) in zip((first, second), outs)
                for t in (args[1], args[2], args[4], gates, cand, hs)
            )
        )
        ctx.kernels, ctx.reverse, ctx.reset_after, ctx.has_bias = kernels, reverse, reset_after, b_a is not None
        ctx.set_materialize_grads(False)
        return tuple(t for hs, h_last, _, _ in outs for t in (hs.transpose(0, 1), h_last))

    @staticmethod
    def backward(ctx, d_hseq_a, d_hT_a, d_hseq_b, d_hT_b):
        saved = ctx.saved_tensors
        args = [
            (d_hseq, d_hT, h0, w_rec, ctx.has_bias, mask, gates, cand, hs)
            for (d_hseq, d_hT), (h0, w_rec, mask, gates, cand, hs) in zip(
                ((d_hseq_a, d_hT_a), (d_hseq_b, d_hT_b)), (saved[:6], saved[6:])
            )
        ]
        (dx_a, dh0_a, dw_a, db_a), (dx_b, dh0_b, dw_b, db_b) = ctx.kernels.backward_pair(
            *args, ctx.reverse, ctx.reset_after
        )
        return None, None, None, dx_a, dh0_a, dw_a, db_a, None, dx_b, dh0_b, dw_b, db_b, None


def lstm_fused(kernels, xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    if not needs_grad(xproj, h0, c0, w_rec):  # evaluation: nothing saved for a backward
        hs, h_last, c_last, _, _ = kernels.forward(
            xproj, h0.contiguous(), c0.contiguous(), w_rec, rec_mask, reverse, False
        )
        return hs.transpose(0, 1), h_last, c_last
    return _LSTMFused.apply(kernels, xproj, h0, c0, w_rec, rec_mask, reverse)


def gru_fused(kernels, xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    if not needs_grad(xproj, h0, w_rec, b_rec):
        hs, h_last, _, _ = kernels.forward(xproj, h0.contiguous(), w_rec, b_rec, rec_mask, reverse, reset_after, False)
        return hs.transpose(0, 1), h_last
    return _GRUFused.apply(kernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)


def gru_fused_pair(kernels, first, second, reverse=False, reset_after=True):
    """A bidirectional layer's two GRU directions: ``first``, ``second`` = ``(xproj, h0, w_rec, b_rec, rec_mask)``,
    ``second`` run in the order opposite to ``reverse``; each direction's ``(hseq, h_last)``."""
    if not needs_grad(*first[:4], *second[:4]):
        first, second = ((x, h0.contiguous(), w, b, m) for x, h0, w, b, m in (first, second))
        outs = kernels.forward_pair(first, second, reverse, reset_after, False)
        return tuple((hs.transpose(0, 1), h_last) for hs, h_last, _, _ in outs)
    outs = _GRUPairFused.apply(kernels, reverse, reset_after, *first, *second)
    return outs[:2], outs[2:]
