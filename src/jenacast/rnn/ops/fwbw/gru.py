"""GRU with a hand-written backward in torch: the structure the fused kernels port.

Same arguments and returns as ``reference.gru.gru_reference``. The forward saves the activated
gates ``z, r, hh`` and, per step, the recurrent candidate term (``h_h U_h + b'_h`` with
``reset_after``, else ``r * h_h``), so the backward needs no matmul but the recurrent one.

Glossary: B batch, T steps, H units, G = 3 gates; tensors saved time-major ``[T, B, ...]``.
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import recurrent_matmul, recurrent_matmul_backward
from jenacast.rnn.ops.fused import _zr_mask, gru_grads_from_steps

GATES = 3


def _mask_of(rec_mask, gate):
    if rec_mask is None:
        return None
    return rec_mask if rec_mask.dim() == 2 else rec_mask[gate]


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after):
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        gates = xproj.new_empty(t_len, b, gh)  # activated z, r, hh per step
        candidate = xproj.new_empty(t_len, b, hidden)  # rec_h (reset_after) or r * h_h
        hs = xproj.new_empty(t_len, b, hidden)
        zr = slice(0, 2 * hidden)
        h = h0
        mask_h = _mask_of(rec_mask, 2)
        zr_mask = _zr_mask(rec_mask)
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            x = xproj[:, t]
            act = gates[s]
            if reset_after:
                rec = recurrent_matmul(h, w_rec, rec_mask, GATES)
                if b_rec is not None:
                    rec = rec + b_rec
                torch.sigmoid(x[:, zr] + rec[:, zr], out=act[:, zr])
                candidate[s] = rec[:, 2 * hidden :]
                r = act[:, hidden : 2 * hidden]
                torch.tanh(torch.addcmul(x[:, 2 * hidden :], r, candidate[s]), out=act[:, 2 * hidden :])
            else:
                rec = recurrent_matmul(h, w_rec[:, zr], zr_mask, 2)
                torch.sigmoid(x[:, zr] + rec, out=act[:, zr])
                r = act[:, hidden : 2 * hidden]
                h_h = h if mask_h is None else h * mask_h
                torch.mul(r, h_h, out=candidate[s])
                torch.tanh(
                    torch.addmm(x[:, 2 * hidden :], candidate[s], w_rec[:, 2 * hidden :]), out=act[:, 2 * hidden :]
                )
            z, hh = act[:, :hidden], act[:, 2 * hidden :]
            h = torch.addcmul(hh, z, h - hh, out=hs[s])  # z*h + (1-z)*hh
        ctx.save_for_backward(h0, w_rec, b_rec, rec_mask, gates, candidate, hs)
        ctx.reverse, ctx.reset_after = reverse, reset_after
        return hs.transpose(0, 1), h.clone()

    @staticmethod
    def backward(ctx, d_hseq, d_hT):
        h0, w_rec, b_rec, rec_mask, gates, candidate, hs = ctx.saved_tensors
        reset_after = ctx.reset_after
        t_len, b, hidden = hs.shape
        d_x = gates.new_empty(t_len, b, GATES * hidden)  # gradient of the input projection
        # with reset_after, the gradient of the recurrent matmul outputs (its h slot is d_hh * r)
        d_rec = gates.new_empty(t_len, b, GATES * hidden) if reset_after else None
        d_hs = d_hseq.transpose(0, 1)
        u_h = w_rec[:, 2 * hidden :]
        mask_h = _mask_of(rec_mask, 2)
        zr_mask = _zr_mask(rec_mask)
        dh = d_hT.clone()
        for s in range(t_len - 1, -1, -1):
            dh += d_hs[s]
            h_prev = hs[s - 1] if s > 0 else h0
            z, r, hh = gates[s].chunk(GATES, dim=1)
            d_z, d_r, d_hh = d_x[s].chunk(GATES, dim=1)
            torch.mul(dh * (h_prev - hh), z * (1 - z), out=d_z)
            torch.mul(dh * (1 - z), 1 - hh * hh, out=d_hh)
            dh_direct = dh * z
            if reset_after:
                torch.mul(d_hh * candidate[s], r * (1 - r), out=d_r)
                d_rec[s, :, : 2 * hidden] = d_x[s, :, : 2 * hidden]
                torch.mul(d_hh, r, out=d_rec[s, :, 2 * hidden :])
                dh = dh_direct + recurrent_matmul_backward(d_rec[s], w_rec, rec_mask, GATES)
            else:
                d_cand = d_hh @ u_h.t()  # gradient of r * h_h
                h_h = h_prev if mask_h is None else h_prev * mask_h
                torch.mul(d_cand * h_h, r * (1 - r), out=d_r)
                d_h_h = d_cand * r if mask_h is None else d_cand * r * mask_h
                dh = (
                    dh_direct
                    + d_h_h
                    + recurrent_matmul_backward(d_x[s, :, : 2 * hidden], w_rec[:, : 2 * hidden], zr_mask, 2)
                )
        d_xproj, d_w, d_b = gru_grads_from_steps(
            d_x, d_rec, h0, hs, candidate, rec_mask, ctx.reverse, reset_after, b_rec is not None
        )
        return d_xproj, dh, d_w, d_b, None, None, None


def gru_fwbw(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return _GRUFunction.apply(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
