"""Pieces shared by the tiers: the masked recurrent matmul in its three mask layouts.

Glossary: B batch, T time steps, F input features, H units, G gates (4 LSTM, 3 GRU).
``w_rec`` is Keras' ``recurrent_kernel`` layout ``[H, G*H]``; ``mask`` is None, ``[B, H]`` (one mask
for all gates) or ``[G, B, H]`` (one per gate).
"""

from __future__ import annotations

import torch


def per_gate_weights(w_rec: torch.Tensor, gates: int) -> torch.Tensor:
    """``[H, G*H]`` -> ``[G, H, H]``: each gate's recurrent matrix."""
    h = w_rec.shape[0]
    return w_rec.view(h, gates, h).transpose(0, 1)


def recurrent_matmul(h: torch.Tensor, w_rec: torch.Tensor, mask: torch.Tensor | None, gates: int) -> torch.Tensor:
    """``[B, H]`` -> ``[B, G*H]``: each gate's ``(h * mask_g) @ U_g``, side by side."""
    if mask is None:
        return h @ w_rec
    if mask.dim() == 2:
        return (h * mask) @ w_rec
    out = torch.bmm(h.unsqueeze(0) * mask, per_gate_weights(w_rec, gates))  # [G, B, H]
    return out.transpose(0, 1).reshape(h.shape[0], -1)


def recurrent_matmul_backward(
    d_pre: torch.Tensor, w_rec: torch.Tensor, mask: torch.Tensor | None, gates: int
) -> torch.Tensor:
    """The gradient reaching ``h`` through :func:`recurrent_matmul`, given ``d_pre`` ``[B, G*H]``."""
    if mask is None:
        return d_pre @ w_rec.t()
    if mask.dim() == 2:
        return (d_pre @ w_rec.t()) * mask
    b = d_pre.shape[0]
    d_gates = d_pre.view(b, gates, -1).transpose(0, 1)  # [G, B, H]
    return (torch.bmm(d_gates, per_gate_weights(w_rec, gates).transpose(1, 2)) * mask).sum(0)


def previous_states(h0: torch.Tensor, hs: torch.Tensor) -> torch.Tensor:
    """Each step's ``h_{t-1}`` ``[T, B, H]`` from the initial state and the outputs ``hs`` (processing order)."""
    return torch.cat([h0.unsqueeze(0), hs[:-1]])


def recurrent_weight_grad(
    h_prev: torch.Tensor, d_pre: torch.Tensor, mask: torch.Tensor | None, gates: int, per_step: bool | None = None
) -> torch.Tensor:
    """``dU`` ``[H, G*H]`` summed over all steps, as large matmuls outside the time loop.

    ``h_prev`` ``[T, B, H]`` holds each step's ``h_{t-1}``; ``d_pre`` ``[T, B, G*H]`` the gradients of
    the recurrent pre-activations. On a CPU one GEMM with K = T*B is fastest. On a GPU that GEMM has
    only (H/32)^2 output tiles per gate and a K of 30,720 at the chapter's sizes: cuBLAS ran it on a
    handful of thread blocks (846 us on an H200, more than the whole forward kernel), so there
    ``per_step`` (the default on CUDA) multiplies step by step as one batched matmul with K = B and
    sums over the steps.
    """
    t, b, h = h_prev.shape
    if per_step is None:
        per_step = h_prev.is_cuda
    if mask is not None and mask.dim() == 2:
        h_prev, mask = h_prev * mask, None
    if mask is None:
        if per_step:
            return torch.matmul(h_prev.transpose(1, 2), d_pre).sum(0)  # [T, H, G*H] -> [H, G*H]
        return h_prev.reshape(t * b, h).t() @ d_pre.reshape(t * b, -1)
    masked = h_prev.unsqueeze(0) * mask.unsqueeze(1)  # [G, T, B, H]
    d_gates = d_pre.reshape(t, b, gates, h).permute(2, 0, 1, 3)  # [G, T, B, H]
    if per_step:
        per_gate = torch.matmul(masked.transpose(2, 3), d_gates).sum(1)  # [G, T, H, H] -> [G, H, H]
    else:
        per_gate = torch.bmm(masked.reshape(gates, t * b, h).transpose(1, 2), d_gates.reshape(gates, t * b, h))
    return per_gate.transpose(0, 1).reshape(h, gates * h)


def step_mask(lengths: torch.Tensor, t_len: int, reverse: bool, like: torch.Tensor) -> torch.Tensor:
    """``[B, T, 1]`` in processing order: 1 where the step lies within its sequence's ``lengths[b]`` first steps,
    else 0, in ``like``'s dtype and device (the zeros of a padded sequence's outputs)."""
    steps = torch.arange(t_len, device=lengths.device)
    if reverse:
        steps = steps.flip(0)
    return (steps.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2).to(device=like.device, dtype=like.dtype)


def zero_past_lengths(hseq: torch.Tensor, lengths: torch.Tensor | None, reverse: bool) -> torch.Tensor:
    """A packed batch's outputs ``[B, T, H]`` zero past each sequence's length (the fused kernels leave its state
    there, what their backward reads); ``hseq`` itself without lengths."""
    return hseq if lengths is None else hseq * step_mask(lengths, hseq.shape[1], reverse, hseq)
