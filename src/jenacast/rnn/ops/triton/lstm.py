"""The LSTM's Triton tier: each recurrence as one persistent kernel launch, forward and backward.

Same arguments and returns as ``reference.lstm.lstm_reference``. The dispatcher below runs each layer on the
``rows`` kernels (``lstm_rows``: up to 32 units) or the ``tiles`` kernels (``lstm_tiles``), and a bidirectional
layer's two directions in one launch each way where the ``rows`` kernels can. The forward saves the activated
gates ``[T, B, 4H]`` and cells ``[T, B, H]``; the backward writes the pre-activation gradients ``[T, B, 4H]``;
``fused`` turns them into the input-projection and recurrent-weight gradients.
"""

from __future__ import annotations

from jenacast.rnn.ops.fused import computed_weight_grad, lstm_fused, lstm_fused_pair, lstm_grads_from_steps
from jenacast.rnn.ops.triton import lstm_rows as rows
from jenacast.rnn.ops.triton import lstm_tiles as tiles
from jenacast.rnn.ops.triton.common import check_device, expand_mask, kernel_layout, matching_grads, pairable
from jenacast.rnn.ops.triton.weight_grad import recurrent_weight_grad_pair, recurrent_weight_grad_triton

GATES = 4


class TritonLSTMKernels:
    """The two recurrences for ``fused.lstm_fused`` (the tiles forward writes the gates with or without ``save``),
    and for ``fused.lstm_fused_pair`` a bidirectional layer's two directions in one launch each way where the
    rows kernels run them (two programs per sequence: the directions' latency-bound loops run side by side)."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse, save):
        check_device(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        mask, smg, smb, smh, has_mask = expand_mask(rec_mask, GATES, xproj)
        hs, gates, cells = (xproj.new_empty(t_len, b, size) for size in (hidden, gh, hidden))
        if kernel_layout(hidden) == "rows":
            h_last, c_last = xproj.new_empty(b, hidden), xproj.new_empty(b, hidden)
            rows.launch_forward(
                xproj, h0, c0, w_rec, mask, smg, smb, smh, has_mask, hs, gates, cells, h_last, c_last, reverse, save
            )
            return hs, h_last, c_last, gates, cells
        tiles.launch_forward(xproj, h0, c0, w_rec, mask, smg, smb, smh, has_mask, hs, gates, cells, reverse)
        return hs, hs[-1].clone(), cells[-1].clone(), gates, cells

    @staticmethod
    def forward_pair(first, second, reverse, save):
        """``first``, ``second``: ``(xproj, h0, c0, w_rec, rec_mask)``, ``second`` run in the order opposite to
        ``reverse``; each direction's :meth:`forward` results."""
        xproj = first[0]
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (
                TritonLSTMKernels.forward(*first, reverse, save),
                TritonLSTMKernels.forward(*second, not reverse, save),
            )
        check_device(xproj)
        hs, gates, cells = (xproj.new_empty(2, t_len, b, size) for size in (hidden, gh, hidden))
        h_last, c_last = xproj.new_empty(2, b, hidden), xproj.new_empty(2, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(first[4], GATES, xproj)
        second_mask = expand_mask(second[4], GATES, second[0])[0]
        rows.launch_forward(
            *first[:4],
            mask,
            smg,
            smb,
            smh,
            has_mask,
            hs,
            gates,
            cells,
            h_last,
            c_last,
            reverse,
            save,
            second=(*second[:4], second_mask),
        )
        return tuple((hs[d], h_last[d], c_last[d], gates[d], cells[d]) for d in (0, 1))

    @staticmethod
    def backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse):
        t_len, b, gh = gates.shape
        hidden = gh // GATES
        d_pre = gates.new_empty(t_len, b, gh)
        dh0, dc0 = gates.new_empty(b, hidden), gates.new_empty(b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(rec_mask, GATES, gates)
        if kernel_layout(hidden) == "rows":
            rows.launch_backward(
                d_hseq, d_hT, d_cT, c0, w_rec, mask, smg, smb, smh, has_mask, gates, cells, d_pre, dh0, dc0
            )
        else:
            tiles.launch_backward(
                d_hseq, d_hT, d_cT, h0, c0, w_rec, mask, smg, smb, smh, has_mask, gates, cells, d_pre, dh0, dc0
            )
        d_xproj, d_w = lstm_grads_from_steps(d_pre, h0, hs, rec_mask, reverse, recurrent_weight_grad_triton)
        return d_xproj, dh0, dc0, d_w

    @staticmethod
    def backward_pair(first, second, reverse):
        """``first``, ``second``: :meth:`backward`'s arguments but ``reverse`` (the pair's :meth:`forward_pair`
        order); each direction's gradients."""
        gates = first[7]
        t_len, b, gh = gates.shape
        hidden = gh // GATES
        matched = [matching_grads(a, z) for a, z in zip(first[:3], second[:3])]  # d_hseq, d_hT, d_cT
        first, second = (*(m[0] for m in matched), *first[3:]), (*(m[1] for m in matched), *second[3:])
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (TritonLSTMKernels.backward(*first, reverse), TritonLSTMKernels.backward(*second, not reverse))
        d_pre = gates.new_empty(2, t_len, b, gh)
        dh0, dc0 = gates.new_empty(2, b, hidden), gates.new_empty(2, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(first[6], GATES, gates)
        second_mask = expand_mask(second[6], GATES, second[7])[0]
        rows.launch_backward(
            *first[:3],
            first[4],
            first[5],
            mask,
            smg,
            smb,
            smh,
            has_mask,
            gates,
            first[8],
            d_pre,
            dh0,
            dc0,
            second=(*second[:3], *second[4:6], second_mask, *second[7:9]),
        )
        # both directions' dU in one launch: (h0, hs, d_pre, mask) each
        d_ws = recurrent_weight_grad_pair(
            *((args[3], args[9], d_pre[d], args[6]) for d, args in enumerate((first, second))), GATES
        )
        grads = []
        for d, (_, _, _, h0, _, _, rec_mask, _, _, hs) in enumerate((first, second)):
            d_xproj, d_w = lstm_grads_from_steps(
                d_pre[d], h0, hs, rec_mask, reverse if d == 0 else not reverse, computed_weight_grad(d_ws[d])
            )
            grads.append((d_xproj, dh0[d], dc0[d], d_w))
        return tuple(grads)


def lstm_triton(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return lstm_fused(TritonLSTMKernels, xproj, h0, c0, w_rec, rec_mask, reverse)


def lstm_triton_pair(first, second, reverse=False):
    """A bidirectional layer's two directions (each ``(xproj, h0, c0, w_rec, rec_mask)``; ``second`` runs in the
    order opposite to ``reverse``): each direction's ``(hseq, h_last, c_last)``."""
    return lstm_fused_pair(TritonLSTMKernels, first, second, reverse)
