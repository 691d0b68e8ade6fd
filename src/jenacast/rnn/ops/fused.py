"""The autograd wrappers that the fused tiers (cpu, triton) share.

A fused tier supplies the two recurrences as kernels; everything around them is common: the
saved tensors, the recurrent weight gradient as matmuls over all steps (``common``), the
direction bookkeeping. Saved tensors are time-major: gates ``[T, B, G*H]``, states ``[T, B, H]``.

LSTM kernels: ``forward(xproj, h0, c0, w_rec, mask, reverse) -> (hs, gates, cells)`` and
``backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, mask, gates, cells, hs) -> (d_pre, dh0, dc0, d_w)``.
GRU kernels: ``forward(xproj, h0, w_rec, b_rec, mask, reverse, reset_after) -> (hs, gates, cand)``
and ``backward(d_hseq, d_hT, h0, w_rec, mask, gates, cand, hs, reset_after) -> (d_x, d_rec, dh0, d_w)``
(``d_rec``, the recurrent pre-activation gradient, only with ``reset_after``). ``d_w`` is the
recurrent weight gradient when the kernels computed it, else None (then it is formed here).
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import previous_states, recurrent_weight_grad


def _zr_mask(rec_mask):
    """The masks of GRU's z and r gates alone (reset_before multiplies h_h after r, separately)."""
    if rec_mask is None or rec_mask.dim() == 2:
        return rec_mask
    return rec_mask[:2]


class _LSTMFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels, xproj, h0, c0, w_rec, rec_mask, reverse):
        h0, c0 = h0.contiguous(), c0.contiguous()
        hs, gates, cells = kernels.forward(xproj, h0, c0, w_rec, rec_mask, reverse)
        ctx.save_for_backward(h0, c0, w_rec, rec_mask, gates, cells, hs)
        ctx.kernels, ctx.reverse = kernels, reverse
        return hs.transpose(0, 1), hs[-1].clone(), cells[-1].clone()

    @staticmethod
    def backward(ctx, d_hseq, d_hT, d_cT):
        h0, c0, w_rec, rec_mask, gates, cells, hs = ctx.saved_tensors
        d_pre, dh0, dc0, d_w = ctx.kernels.backward(d_hseq, d_hT.contiguous(), d_cT.contiguous(), h0, c0, w_rec,
                                                    rec_mask, gates, cells, hs)
        if d_w is None:  # the kernels left the weight gradient to the matmuls over all steps
            d_w = recurrent_weight_grad(previous_states(h0, hs), d_pre, rec_mask, 4)
        d_xproj = d_pre.flip(0) if ctx.reverse else d_pre
        return None, d_xproj.transpose(0, 1), dh0, dc0, d_w, None, None


class _GRUFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after):
        h0 = h0.contiguous()
        hs, gates, cand = kernels.forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
        ctx.save_for_backward(h0, w_rec, b_rec, rec_mask, gates, cand, hs)
        ctx.kernels, ctx.reverse, ctx.reset_after = kernels, reverse, reset_after
        return hs.transpose(0, 1), hs[-1].clone()

    @staticmethod
    def backward(ctx, d_hseq, d_hT):
        h0, w_rec, b_rec, rec_mask, gates, cand, hs = ctx.saved_tensors
        hidden = hs.shape[2]
        d_x, d_rec, dh0, d_w = ctx.kernels.backward(d_hseq, d_hT.contiguous(), h0, w_rec, rec_mask, gates, cand, hs,
                                                    ctx.reset_after)
        if ctx.reset_after:
            if d_w is None:
                d_w = recurrent_weight_grad(previous_states(h0, hs), d_rec, rec_mask, 3)
            d_b = d_rec.sum(dim=(0, 1)) if b_rec is not None else None
        else:
            d_w_zr = recurrent_weight_grad(previous_states(h0, hs), d_x[..., :2 * hidden], _zr_mask(rec_mask), 2)
            d_w_h = cand.reshape(-1, hidden).t() @ d_x[..., 2 * hidden:].reshape(-1, hidden)
            d_w, d_b = torch.cat([d_w_zr, d_w_h], dim=1), None
        d_xproj = d_x.flip(0) if ctx.reverse else d_x
        return None, d_xproj.transpose(0, 1), dh0, d_w, d_b, None, None, None


def lstm_fused(kernels, xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return _LSTMFused.apply(kernels, xproj, h0, c0, w_rec, rec_mask, reverse)


def gru_fused(kernels, xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return _GRUFused.apply(kernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
