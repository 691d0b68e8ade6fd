"""LSTM with a hand-written backward in torch: the structure the fused kernels port.

Only the recurrence is inside the time loop. The input projection is precomputed by the layer
(one large matmul), and the recurrent weight gradient is one large matmul over all steps after
the backward loop. The forward saves the activated gates and the cell states, so the backward
never recomputes a matmul. Same arguments and returns as ``reference.lstm.lstm_reference``.

Glossary: B batch, T steps, H units, G = 4 gates; tensors saved time-major ``[T, B, ...]``.
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import recurrent_matmul, recurrent_matmul_backward
from jenacast.rnn.ops.fused import lstm_grads_from_steps

GATES = 4


class _LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xproj, h0, c0, w_rec, rec_mask, reverse):
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        gates = xproj.new_empty(t_len, b, gh)  # activated i, f, g, o per step
        cells = xproj.new_empty(t_len, b, hidden)
        hs = xproj.new_empty(t_len, b, hidden)
        h, c = h0, c0
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            pre = (
                torch.addmm(xproj[:, t], h, w_rec)
                if rec_mask is None
                else xproj[:, t] + recurrent_matmul(h, w_rec, rec_mask, GATES)
            )
            act = gates[s]
            torch.sigmoid(pre, out=act)
            torch.tanh(pre[:, 2 * hidden : 3 * hidden], out=act[:, 2 * hidden : 3 * hidden])
            i, f, g, o = act.chunk(GATES, dim=1)
            c = torch.addcmul(f * c, i, g, out=cells[s])
            h = torch.mul(o, torch.tanh(c), out=hs[s])
        ctx.save_for_backward(h0, c0, w_rec, rec_mask, gates, cells, hs)
        ctx.reverse = reverse
        return hs.transpose(0, 1), h.clone(), c.clone()

    @staticmethod
    def backward(ctx, d_hseq, d_hT, d_cT):
        h0, c0, w_rec, rec_mask, gates, cells, hs = ctx.saved_tensors
        t_len, b, hidden = hs.shape
        d_pre = gates.new_empty(t_len, b, GATES * hidden)  # gradient of the pre-activations, per step
        d_hs = d_hseq.transpose(0, 1)
        dh, dc = d_hT.clone(), d_cT.clone()
        for s in range(t_len - 1, -1, -1):
            dh += d_hs[s]
            i, f, g, o = gates[s].chunk(GATES, dim=1)
            c_prev = cells[s - 1] if s > 0 else c0
            tanh_c = torch.tanh(cells[s])
            dc.addcmul_(dh * o, 1 - tanh_c * tanh_c)
            d = d_pre[s]
            d_i, d_f, d_g, d_o = d.chunk(GATES, dim=1)
            torch.mul(dc * g, i * (1 - i), out=d_i)
            torch.mul(dc * c_prev, f * (1 - f), out=d_f)
            torch.mul(dc * i, 1 - g * g, out=d_g)
            torch.mul(dh * tanh_c, o * (1 - o), out=d_o)
            dc = dc * f
            dh = recurrent_matmul_backward(d, w_rec, rec_mask, GATES)
        d_xproj, d_w = lstm_grads_from_steps(d_pre, h0, hs, rec_mask, ctx.reverse)
        return d_xproj, dh, dc, d_w, None, None


def lstm_fwbw(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return _LSTMFunction.apply(xproj, h0, c0, w_rec, rec_mask, reverse)
