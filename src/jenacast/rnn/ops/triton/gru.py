"""The GRU's Triton tier: each recurrence as one persistent kernel launch, forward and backward.

Same arguments and returns as ``reference.gru.gru_reference``. The dispatcher below runs each layer on the
``rows`` kernels (``gru_rows``: up to 32 units) or the ``tiles`` kernels (``gru_tiles``), and a bidirectional
layer's two directions in one launch each way where the ``rows`` kernels can. The forward saves the activated
gates ``[T, B, 3H]`` and the candidate's recurrent term ``[T, B, H]`` (``h_h U_h + b'_h`` with ``reset_after``,
else ``r * h_h``); the backward writes the input-projection gradient and, with ``reset_after``, the recurrent
pre-activation gradient, from which ``fused`` forms the weight gradients. ``lengths``: as in ``lstm``.
"""

from __future__ import annotations

from jenacast.rnn.ops.fused import computed_weight_grad, gru_fused, gru_fused_pair, gru_grads_from_steps
from jenacast.rnn.ops.protocol import GruBackward, GruGrads, GruInputs, GruOutputs
from jenacast.rnn.ops.triton import gru_rows as rows
from jenacast.rnn.ops.triton import gru_tiles as tiles
from jenacast.rnn.ops.triton.common import GruStepGrads, check_device, kernel_layout, matching_grads, pairable
from jenacast.rnn.ops.triton.weight_grad import (
    WeightGradInputs,
    recurrent_weight_grad_pair,
    recurrent_weight_grad_triton,
)

GATES = 3


class TritonGRUKernels:
    """The two recurrences for ``fused.gru_fused`` (the tiles forward writes the gates with or without ``save``), and
    a bidirectional layer's two directions in one launch each way (see ``lstm.TritonLSTMKernels``). A
    :class:`~jenacast.rnn.ops.protocol.GruPairKernels`."""

    @staticmethod
    def forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, save, lengths=None) -> GruOutputs:
        check_device(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        inputs = GruInputs(xproj, h0, w_rec, b_rec, rec_mask)
        hs, gates, cand = (xproj.new_empty(t_len, b, size) for size in (hidden, gh, hidden))
        if kernel_layout(hidden) == "rows":
            out = GruOutputs(hs, xproj.new_empty(b, hidden), gates, cand)
            rows.launch_forward(inputs, out, reverse, reset_after, save, lengths=lengths)
            return out
        tiles.launch_forward(inputs, GruOutputs(hs, None, gates, cand), reverse, reset_after, lengths)
        return GruOutputs(hs, hs[-1].clone(), gates, cand)

    @staticmethod
    def backward(
        d_hseq, d_hT, h0, w_rec, has_bias, rec_mask, gates, cand, hs, reverse, reset_after, lengths=None
    ) -> GruGrads:
        t_len, b, hidden = hs.shape
        args = GruBackward(d_hseq, d_hT, h0, w_rec, has_bias, rec_mask, gates, cand, hs)
        grads = _step_grads(gates, (t_len, b, GATES * hidden), (b, hidden), reset_after)
        if kernel_layout(hidden) == "rows":
            rows.launch_backward(args, grads, reset_after, reverse=reverse, lengths=lengths)
        else:
            tiles.launch_backward(args, grads, reset_after, reverse, lengths)
        d_xproj, d_w, d_b = gru_grads_from_steps(
            grads.d_x, grads.d_rec, h0, hs, cand, rec_mask, reverse, reset_after, has_bias, recurrent_weight_grad_triton
        )
        return GruGrads(d_xproj, grads.dh0, d_w, d_b)

    @staticmethod
    def forward_pair(first: GruInputs, second: GruInputs, reverse, reset_after, save) -> tuple[GruOutputs, GruOutputs]:
        """``second`` run in the order opposite to ``reverse``; each direction's :meth:`forward` results."""
        xproj = first.xproj
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
        rows.launch_forward(first, GruOutputs(hs, h_last, gates, cand), reverse, reset_after, save, second=second)
        return tuple(GruOutputs(hs[d], h_last[d], gates[d], cand[d]) for d in (0, 1))

    @staticmethod
    def backward_pair(first: GruBackward, second: GruBackward, reverse, reset_after) -> tuple[GruGrads, GruGrads]:
        """Each direction's :meth:`backward` (``second`` in the pair's :meth:`forward_pair` order)."""
        t_len, b, hidden = first.hs.shape
        d_hseq, d_hT = (matching_grads(a, z) for a, z in ((first.d_hseq, second.d_hseq), (first.d_hT, second.d_hT)))
        first = first._replace(d_hseq=d_hseq[0], d_hT=d_hT[0])
        second = second._replace(d_hseq=d_hseq[1], d_hT=d_hT[1])
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (
                TritonGRUKernels.backward(*first, reverse, reset_after),
                TritonGRUKernels.backward(*second, not reverse, reset_after),
            )
        step_grads = _step_grads(first.hs, (2, t_len, b, GATES * hidden), (2, b, hidden), reset_after)
        rows.launch_backward(first, step_grads, reset_after, second=second)
        weight_grads = [recurrent_weight_grad_triton] * 2
        if reset_after:  # both directions' dU in one launch (the original formulation takes two products each)
            d_ws = recurrent_weight_grad_pair(
                *(
                    WeightGradInputs(args.h0, args.hs, step_grads.d_rec[d], args.rec_mask)
                    for d, args in enumerate((first, second))
                ),
                GATES,
            )
            weight_grads = [computed_weight_grad(d_w) for d_w in d_ws]
        grads = []
        for d, args in enumerate((first, second)):
            d_xproj, d_w, d_b = gru_grads_from_steps(
                step_grads.d_x[d],
                step_grads.d_rec[d],
                args.h0,
                args.hs,
                args.cand,
                args.rec_mask,
                reverse if d == 0 else not reverse,
                reset_after,
                args.has_bias,
                weight_grads[d],
            )
            grads.append(GruGrads(d_xproj, step_grads.dh0[d], d_w, d_b))
        return tuple(grads)


def _step_grads(like, pre_shape, state_shape, reset_after: bool) -> GruStepGrads:
    """A backward launch's outputs; without ``reset_after`` no recurrent-side gradient (``d_rec`` is ``d_x``)."""
    d_x = like.new_empty(pre_shape)
    return GruStepGrads(d_x, like.new_empty(pre_shape) if reset_after else d_x, like.new_empty(state_shape))


def gru_triton(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True, lengths=None):
    return gru_fused(TritonGRUKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, lengths)


def gru_triton_pair(first, second, reverse=False, reset_after=True):
    """A bidirectional layer's two directions (each ``(xproj, h0, w_rec, b_rec, rec_mask)``, a
    :class:`~jenacast.rnn.ops.protocol.GruInputs`; ``second`` runs in the order opposite to ``reverse``): each
    direction's ``(hseq, h_last)``."""
    return gru_fused_pair(TritonGRUKernels, first, second, reverse, reset_after)
