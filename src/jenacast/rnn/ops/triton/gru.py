"""The GRU's Triton tier: each recurrence as one persistent kernel launch, forward and backward.

Same arguments and returns as ``reference.gru.gru_reference``. The dispatcher below runs each layer on the
``rows`` kernels (``gru_rows``: up to 32 units) or the ``tiles`` kernels (``gru_tiles``), and a bidirectional
layer's two directions in one launch each way where the ``rows`` kernels can. The forward saves the activated
gates ``[T, B, 3H]`` and the candidate's recurrent term ``[T, B, H]`` (``h_h U_h + b'_h`` with ``reset_after``,
else ``r * h_h``); the backward writes the input-projection gradient and, with ``reset_after``, the recurrent
pre-activation gradient, from which ``fused`` forms the weight gradients.
"""

from __future__ import annotations

from jenacast.rnn.ops.fused import computed_weight_grad, gru_fused, gru_fused_pair, gru_grads_from_steps
from jenacast.rnn.ops.triton import gru_rows as rows
from jenacast.rnn.ops.triton import gru_tiles as tiles
from jenacast.rnn.ops.triton.common import check_device, expand_mask, kernel_layout, matching_grads, pairable
from jenacast.rnn.ops.triton.weight_grad import recurrent_weight_grad_pair, recurrent_weight_grad_triton

GATES = 3


class TritonGRUKernels:
    """The two recurrences for ``fused.gru_fused`` (the tiles forward writes the gates with or without ``save``), and
    a bidirectional layer's two directions in one launch each way (see ``lstm.TritonLSTMKernels``)."""

    @staticmethod
    def forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, save):
        check_device(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        hs = xproj.new_empty(t_len, b, hidden)
        gates = xproj.new_empty(t_len, b, gh)
        cand = xproj.new_empty(t_len, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(rec_mask, GATES, xproj)
        bias = b_rec.contiguous() if b_rec is not None else xproj
        if kernel_layout(hidden) == "rows":
            h_last = xproj.new_empty(b, hidden)
            rows.launch_forward(
                xproj,
                h0,
                w_rec,
                bias,
                b_rec is not None,
                mask,
                smg,
                smb,
                smh,
                has_mask,
                hs,
                gates,
                cand,
                h_last,
                reverse,
                reset_after,
                save,
            )
            return hs, h_last, gates, cand
        tiles.launch_forward(
            xproj,
            h0,
            w_rec,
            bias,
            b_rec is not None,
            mask,
            smg,
            smb,
            smh,
            has_mask,
            hs,
            gates,
            cand,
            reverse,
            reset_after,
        )
        return hs, hs[-1].clone(), gates, cand

    @staticmethod
    def backward(d_hseq, d_hT, h0, w_rec, has_bias, rec_mask, gates, cand, hs, reverse, reset_after):
        t_len, b, hidden = hs.shape
        d_x = gates.new_empty(t_len, b, GATES * hidden)
        d_rec = gates.new_empty(t_len, b, GATES * hidden) if reset_after else d_x
        dh0 = h0.new_empty(b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(rec_mask, GATES, gates)
        if kernel_layout(hidden) == "rows":
            rows.launch_backward(
                d_hseq, d_hT, h0, w_rec, mask, smg, smb, smh, has_mask, gates, cand, hs, d_x, d_rec, dh0, reset_after
            )
        else:
            tiles.launch_backward(
                d_hseq, d_hT, h0, w_rec, mask, smg, smb, smh, has_mask, gates, cand, hs, d_x, d_rec, dh0, reset_after
            )
        d_xproj, d_w, d_b = gru_grads_from_steps(
            d_x, d_rec, h0, hs, cand, rec_mask, reverse, reset_after, has_bias, recurrent_weight_grad_triton
        )
        return d_xproj, dh0, d_w, d_b

    @staticmethod
    def forward_pair(first, second, reverse, reset_after, save):
        """``first``, ``second``: ``(xproj, h0, w_rec, b_rec, rec_mask)``, ``second`` run in the order opposite to
        ``reverse``; each direction's :meth:`forward` results."""
        xproj = first[0]
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (
                TritonGRUKernels.forward(*first, reverse, reset_after, save),
                TritonGRUKernels.forward(*second, not reverse, reset_after, save),
            )
        check_device(xproj)
        hs, gates, cand = (xproj.new_empty(2, t_len, b, size) for size in (hidden, gh, hidden))
        h_last = xproj.new_empty(2, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(first[4], GATES, xproj)
        has_bias = first[3] is not None
        biases = [args[3].contiguous() if has_bias else args[0] for args in (first, second)]
        second_args = (second[0], second[1], second[2], biases[1], expand_mask(second[4], GATES, second[0])[0])
        rows.launch_forward(
            xproj,
            first[1],
            first[2],
            biases[0],
            has_bias,
            mask,
            smg,
            smb,
            smh,
            has_mask,
            hs,
            gates,
            cand,
            h_last,
            reverse,
            reset_after,
            save,
            second=second_args,
        )
        return tuple((hs[d], h_last[d], gates[d], cand[d]) for d in (0, 1))

    @staticmethod
    def backward_pair(first, second, reverse, reset_after):
        """``first``, ``second``: :meth:`backward`'s arguments but ``reverse`` and ``reset_after``; each direction's
        gradients."""
        hs = first[8]
        t_len, b, hidden = hs.shape
        matched = [matching_grads(a, z) for a, z in zip(first[:2], second[:2])]  # d_hseq, d_hT
        first, second = (*(m[0] for m in matched), *first[2:]), (*(m[1] for m in matched), *second[2:])
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (
                TritonGRUKernels.backward(*first, reverse, reset_after),
                TritonGRUKernels.backward(*second, not reverse, reset_after),
            )
        d_x = hs.new_empty(2, t_len, b, GATES * hidden)
        d_rec = hs.new_empty(2, t_len, b, GATES * hidden) if reset_after else d_x
        dh0 = hs.new_empty(2, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(first[5], GATES, hs)
        d_hseq, d_hT, h0, w_rec, has_bias, _, gates, cand = first[:8]
        second_args = (*second[:4], expand_mask(second[5], GATES, second[8])[0], *second[6:9])
        rows.launch_backward(
            d_hseq,
            d_hT,
            h0,
            w_rec,
            mask,
            smg,
            smb,
            smh,
            has_mask,
            gates,
            cand,
            hs,
            d_x[0],
            d_rec[0],
            dh0,
            reset_after,
            second=second_args,
        )
        weight_grads = [recurrent_weight_grad_triton] * 2
        if reset_after:  # both directions' dU in one launch (the original formulation takes two products each)
            d_ws = recurrent_weight_grad_pair(
                *((args[2], args[8], d_rec[d], args[5]) for d, args in enumerate((first, second))), GATES
            )
            weight_grads = [computed_weight_grad(d_w) for d_w in d_ws]
        grads = []
        for d, (_, _, h0, _, has_bias, rec_mask, _, cand, hs) in enumerate((first, second)):
            d_xproj, d_w, d_b = gru_grads_from_steps(
                d_x[d],
                d_rec[d],
                h0,
                hs,
                cand,
                rec_mask,
                reverse if d == 0 else not reverse,
                reset_after,
                has_bias,
                weight_grads[d],
            )
            grads.append((d_xproj, dh0[d], d_w, d_b))
        return tuple(grads)


def gru_triton(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return gru_fused(TritonGRUKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)


def gru_triton_pair(first, second, reverse=False, reset_after=True):
    """A bidirectional layer's two directions (each ``(xproj, h0, w_rec, b_rec, rec_mask)``; ``second`` runs in the
    order opposite to ``reverse``): each direction's ``(hseq, h_last)``."""
    return gru_fused_pair(TritonGRUKernels, first, second, reverse, reset_after)
