"""The LSTM's Triton tier: each recurrence as one persistent kernel launch, forward and backward.

Same arguments and returns as ``reference.lstm.lstm_reference``. The dispatcher below runs each layer on the
``rows`` kernels (``lstm_rows``: up to 32 units) or the ``tiles`` kernels (``lstm_tiles``), and a bidirectional
layer's two directions in one launch each way where the ``rows`` kernels can. The forward saves the activated
gates ``[T, B, 4H]`` and cells ``[T, B, H]``; the backward writes the pre-activation gradients ``[T, B, 4H]``;
``fused`` turns them into the input-projection and recurrent-weight gradients. A packed batch's ``lengths`` reach
single directions only (``dropin`` runs a packed bidirectional layer's directions one by one).
"""

from __future__ import annotations

from jenacast.rnn.ops.fused import computed_weight_grad, lstm_fused, lstm_fused_pair, lstm_grads_from_steps
from jenacast.rnn.ops.protocol import LstmBackward, LstmGrads, LstmInputs, LstmOutputs
from jenacast.rnn.ops.triton import lstm_rows as rows
from jenacast.rnn.ops.triton import lstm_tiles as tiles
from jenacast.rnn.ops.triton.common import LstmStepGrads, check_device, kernel_layout, matching_grads, pairable
from jenacast.rnn.ops.triton.weight_grad import (
    WeightGradInputs,
    recurrent_weight_grad_pair,
    recurrent_weight_grad_triton,
)

GATES = 4


class TritonLSTMKernels:
    """The two recurrences for ``fused.lstm_fused`` (the tiles forward writes the gates with or without ``save``),
    and for ``fused.lstm_fused_pair`` a bidirectional layer's two directions in one launch each way where the
    rows kernels run them (two programs per sequence: the directions' latency-bound loops run side by side).
    A :class:`~jenacast.rnn.ops.protocol.LstmPairKernels`."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse, save, lengths=None) -> LstmOutputs:
        check_device(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        inputs = LstmInputs(xproj, h0, c0, w_rec, rec_mask)
        hs, gates, cells = (xproj.new_empty(t_len, b, size) for size in (hidden, gh, hidden))
        if kernel_layout(hidden) == "rows":
            out = LstmOutputs(hs, xproj.new_empty(b, hidden), xproj.new_empty(b, hidden), gates, cells)
            rows.launch_forward(inputs, out, reverse, save, lengths=lengths)
            return out
        tiles.launch_forward(inputs, LstmOutputs(hs, None, None, gates, cells), reverse, lengths)
        return LstmOutputs(hs, hs[-1].clone(), cells[-1].clone(), gates, cells)

    @staticmethod
    def forward_pair(first: LstmInputs, second: LstmInputs, reverse, save) -> tuple[LstmOutputs, LstmOutputs]:
        """``second`` run in the order opposite to ``reverse``; each direction's :meth:`forward` results."""
        xproj = first.xproj
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
        rows.launch_forward(first, LstmOutputs(hs, h_last, c_last, gates, cells), reverse, save, second=second)
        return tuple(LstmOutputs(hs[d], h_last[d], c_last[d], gates[d], cells[d]) for d in (0, 1))

    @staticmethod
    def backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse, lengths=None) -> LstmGrads:
        t_len, b, gh = gates.shape
        hidden = gh // GATES
        args = LstmBackward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs)
        grads = LstmStepGrads(gates.new_empty(t_len, b, gh), gates.new_empty(b, hidden), gates.new_empty(b, hidden))
        if kernel_layout(hidden) == "rows":
            rows.launch_backward(args, grads, reverse=reverse, lengths=lengths)
        else:
            tiles.launch_backward(args, grads, reverse, lengths)
        d_xproj, d_w = lstm_grads_from_steps(grads.d_pre, h0, hs, rec_mask, reverse, recurrent_weight_grad_triton)
        return LstmGrads(d_xproj, grads.dh0, grads.dc0, d_w)

    @staticmethod
    def backward_pair(first: LstmBackward, second: LstmBackward, reverse) -> tuple[LstmGrads, LstmGrads]:
        """Each direction's :meth:`backward` (``second`` in the pair's :meth:`forward_pair` order)."""
        gates = first.gates
        t_len, b, gh = gates.shape
        hidden = gh // GATES
        d_hseq, d_hT, d_cT = (
            matching_grads(a, z)
            for a, z in ((first.d_hseq, second.d_hseq), (first.d_hT, second.d_hT), (first.d_cT, second.d_cT))
        )
        first = first._replace(d_hseq=d_hseq[0], d_hT=d_hT[0], d_cT=d_cT[0])
        second = second._replace(d_hseq=d_hseq[1], d_hT=d_hT[1], d_cT=d_cT[1])
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (TritonLSTMKernels.backward(*first, reverse), TritonLSTMKernels.backward(*second, not reverse))
        step_grads = LstmStepGrads(
            gates.new_empty(2, t_len, b, gh), gates.new_empty(2, b, hidden), gates.new_empty(2, b, hidden)
        )
        rows.launch_backward(first, step_grads, second=second)
        # both directions' dU in one launch
        d_ws = recurrent_weight_grad_pair(
            *(
                WeightGradInputs(args.h0, args.hs, step_grads.d_pre[d], args.rec_mask)
                for d, args in enumerate((first, second))
            ),
            GATES,
        )
        grads = []
        for d, args in enumerate((first, second)):
            d_xproj, d_w = lstm_grads_from_steps(
                step_grads.d_pre[d],
                args.h0,
                args.hs,
                args.rec_mask,
                reverse if d == 0 else not reverse,
                computed_weight_grad(d_ws[d]),
            )
            grads.append(LstmGrads(d_xproj, step_grads.dh0[d], step_grads.dc0[d], d_w))
        return tuple(grads)


def lstm_triton(xproj, h0, c0, w_rec, rec_mask=None, reverse=False, lengths=None):
    return lstm_fused(TritonLSTMKernels, xproj, h0, c0, w_rec, rec_mask, reverse, lengths)


def lstm_triton_pair(first, second, reverse=False):
    """A bidirectional layer's two directions (each ``(xproj, h0, c0, w_rec, rec_mask)``, an
    :class:`~jenacast.rnn.ops.protocol.LstmInputs`; ``second`` runs in the order opposite to ``reverse``): each
    direction's ``(hseq, h_last, c_last)``."""
    return lstm_fused_pair(TritonLSTMKernels, first, second, reverse)
