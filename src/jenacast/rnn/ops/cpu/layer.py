"""The cpu tier's whole layers: the input projection done inside the recurrent kernels.

A separate projection writes ``[T, B, G*H]`` (15.7 MB for LSTM(32) at the chapter's sizes) that the
recurrence then reads, and its gradient makes the same round trip, each way a separate GEMM through
memory (see benchmarks/RESULTS.md for what it cost). Inside the loop each step multiplies the
masked input rows ``x * mask_g`` (F = 14 values) by the kernel into the pre-activations, and the
backward sums the kernel's and the bias's gradients with the recurrent weight's (the same 8-step
batches). The gradient of the input itself, needed only when the input is a stacked layer's
output, comes from the backward kernel too when the features are a multiple of 16 (its products
vectorise), else from a matmul of the pre-activation gradients after the loop (:func:`input_grad`).

``lstm_layer_cpu(x, input_mask, kernel, bias, h0, c0, w_rec, rec_mask, reverse, lengths=None)`` and
``gru_layer_cpu(x, input_mask, kernel, input_bias, h0, w_rec, rec_bias, rec_mask, reverse, reset_after, lengths=None)``
take batch-first ``x [B, T, F]`` and return what ``projection.projected`` returns for the other tiers (``lengths``:
a packed batch's, see ``reference.lstm`` and ``cpu.lengths``). With more states than input rows (Monte Carlo
samples of each window, see ``projection``), an LSTM in evaluation without input dropout projects each window once
(``torch.addmm``) and its kernel reads that row for all the window's samples; otherwise the input is repeated.
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import zero_past_lengths
from jenacast.rnn.ops.cpu import gru as gru_kernels
from jenacast.rnn.ops.cpu import lstm as lstm_kernels
from jenacast.rnn.ops.cpu.common import Projection, check_input, time_major
from jenacast.rnn.ops.cpu.simd import LANES
from jenacast.rnn.ops.fused import needs_grad, zeros_if_none
from jenacast.rnn.ops.projection import project_torch, repeated_rows, row_copies
from jenacast.rnn.ops.protocol import GruSaved, LstmBackward, LstmSaved, gru_backward_args


def input_grad(d_pre: torch.Tensor, kernel: torch.Tensor, mask: torch.Tensor | None, gates: int) -> torch.Tensor:
    """``[T, B, G*H]`` -> ``[T, B, F]``: the gradient reaching ``x`` through each gate's ``(x * mask_g) @ W_g``."""
    t, b, gh = d_pre.shape
    f = kernel.shape[0]
    if mask is None or mask.dim() == 2:
        d_x = (d_pre.reshape(t * b, gh) @ kernel.t()).view(t, b, f)
        return d_x if mask is None else d_x * mask
    h = gh // gates
    per_gate = torch.bmm(d_pre.reshape(t * b, gates, h).transpose(0, 1), kernel.view(f, gates, h).permute(1, 2, 0))
    return (per_gate.view(gates, t, b, f) * mask.unsqueeze(1)).sum(0)


def _steps(x: torch.Tensor) -> torch.Tensor:
    """``[B, T, F]`` -> contiguous ``[T, B, F]`` (free for a stacked layer's input, already time-major)."""
    check_input(x)
    return time_major(x)


def _input_grad_mode(ctx, x_steps: torch.Tensor) -> str:
    """What the backward kernel returns for the input: nothing (a first layer), the input's gradient itself
    (its products vectorise when F is a multiple of 16), or the pre-activations' for :func:`input_grad`."""
    if not ctx.needs_input_grad[0]:
        return "none"
    return "input" if x_steps.shape[2] % LANES == 0 else "pre"


def _input_order(d_x, dx: str, kernel, in_mask, gates: int):
    """The kernel's ``d_x`` as the gradient of the batch-first input."""
    if dx == "none":
        return None
    return (input_grad(d_x, kernel, in_mask, gates) if dx == "pre" else d_x).transpose(0, 1)


class _LSTMLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask, reverse, lengths):
        x_steps, h0, c0 = _steps(x), h0.contiguous(), c0.contiguous()
        out = lstm_kernels.run_forward(
            x_steps, Projection(kernel, bias, in_mask), h0, c0, w_rec, rec_mask, reverse, True, lengths=lengths
        )
        ctx.save_for_backward(
            x_steps, in_mask, kernel, bias, *LstmSaved(h0, c0, w_rec, rec_mask, out.gates, out.cells, out.hs)
        )
        ctx.reverse, ctx.lengths = reverse, lengths
        ctx.set_materialize_grads(False)  # an unused output costs no zeros
        return out.hs.transpose(0, 1), out.h_last, out.c_last

    @staticmethod
    def backward(ctx, d_hseq, d_hT, d_cT):
        x_steps, in_mask, kernel, bias, *saved = ctx.saved_tensors
        saved = LstmSaved._make(saved)
        dx = _input_grad_mode(ctx, x_steps)
        args = LstmBackward(d_hseq, zeros_if_none(d_hT, saved.h0), zeros_if_none(d_cT, saved.c0), *saved)
        projection = Projection(kernel, bias, in_mask)
        grads = lstm_kernels.run_backward(args, ctx.reverse, x_steps, projection, dx, ctx.lengths)
        d_x = _input_order(grads.d_x, dx, kernel, in_mask, 4)
        return d_x, None, grads.d_kernel, grads.d_bias, grads.dh0, grads.dc0, grads.d_w, None, None, None


class _GRULayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, in_mask, kernel, b_in, h0, w_rec, b_rec, rec_mask, reverse, reset_after, lengths):
        x_steps, h0 = _steps(x), h0.contiguous()
        projection = Projection(kernel, b_in, in_mask)
        out = gru_kernels.run_forward(
            x_steps, projection, h0, w_rec, b_rec, rec_mask, reverse, reset_after, True, lengths
        )
        ctx.save_for_backward(
            x_steps, in_mask, kernel, b_in, *GruSaved(h0, w_rec, rec_mask, out.gates, out.cand, out.hs)
        )
        ctx.reverse, ctx.reset_after, ctx.has_bias, ctx.lengths = reverse, reset_after, b_rec is not None, lengths
        ctx.set_materialize_grads(False)
        return out.hs.transpose(0, 1), out.h_last

    @staticmethod
    def backward(ctx, d_hseq, d_hT):
        x_steps, in_mask, kernel, b_in, *saved = ctx.saved_tensors
        saved = GruSaved._make(saved)
        dx = _input_grad_mode(ctx, x_steps)
        args = gru_backward_args(d_hseq, zeros_if_none(d_hT, saved.h0), saved, ctx.has_bias)
        grads = gru_kernels.run_backward(
            args, ctx.reverse, ctx.reset_after, x_steps, Projection(kernel, b_in, in_mask), dx, ctx.lengths
        )
        d_x = _input_order(grads.d_x, dx, kernel, in_mask, 3)
        return d_x, None, grads.d_kernel, grads.d_b_in, grads.dh0, grads.d_w, grads.d_b, None, None, None, None


def lstm_layer_cpu(x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask=None, reverse=False, lengths=None):
    evaluation = not needs_grad(x, kernel, bias, h0, c0, w_rec)  # then nothing is saved for a backward
    if x.shape[0] != h0.shape[0]:
        if evaluation and in_mask is None and lengths is None:
            return _lstm_shared_input(x, kernel, bias, h0, c0, w_rec, rec_mask, reverse)
        x = repeated_rows(x, h0.shape[0])
    if evaluation:
        projection, h0, c0 = Projection(kernel, bias, in_mask), h0.contiguous(), c0.contiguous()
        out = lstm_kernels.run_forward(_steps(x), projection, h0, c0, w_rec, rec_mask, reverse, False, lengths=lengths)
        hseq, h_last, c_last = out.hs.transpose(0, 1), out.h_last, out.c_last
    else:
        hseq, h_last, c_last = _LSTMLayer.apply(x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask, reverse, lengths)
    return zero_past_lengths(hseq, lengths, reverse), h_last, c_last


def _lstm_shared_input(x, kernel, bias, h0, c0, w_rec, rec_mask, reverse):
    """Evaluation with ``h0``'s batch a multiple of ``x``'s: each window's projection made once."""
    share = row_copies(x, h0.shape[0])
    check_input(x)
    xproj = project_torch(x.detach(), None, kernel.detach(), bias.detach(), 4).transpose(0, 1)  # [T, B, 4H]
    out = lstm_kernels.run_forward(
        xproj, None, h0.contiguous(), c0.contiguous(), w_rec.detach(), rec_mask, reverse, False, share
    )
    return out.hs.transpose(0, 1), out.h_last, out.c_last


def gru_layer_cpu(
    x, in_mask, kernel, b_in, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True, lengths=None
):
    x = repeated_rows(x, h0.shape[0])
    if not needs_grad(x, kernel, b_in, h0, w_rec, b_rec):
        projection, h0 = Projection(kernel, b_in, in_mask), h0.contiguous()
        out = gru_kernels.run_forward(
            _steps(x), projection, h0, w_rec, b_rec, rec_mask, reverse, reset_after, False, lengths=lengths
        )
        hseq, h_last = out.hs.transpose(0, 1), out.h_last
    else:
        args = (x, in_mask, kernel, b_in, h0, w_rec, b_rec, rec_mask, reverse, reset_after, lengths)
        hseq, h_last = _GRULayer.apply(*args)
    return zero_past_lengths(hseq, lengths, reverse), h_last
