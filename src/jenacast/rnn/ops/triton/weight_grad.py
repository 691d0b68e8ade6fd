"""The recurrent weight gradient ``dU`` of the Triton tier as one kernel and one sum.

``dU[k, g*H + j] = sum over steps t and sequences b of mask_g[b, k] * h_{t-1}[b, k] * d_pre[t, b, g*H + j]``.
In torch (``common.recurrent_weight_grad``, step by step on CUDA) that is a copy for ``h_{t-1}``, the
masked states ``[G, T, B, H]`` written out, a copy of the permuted gradients, a batched matmul and a
sum: six kernels and about 55 MB of traffic per layer and direction at the chapter's sizes. Here
program ``(g, p)`` reads its share of the rows ``(t, b)`` once (``h_{t-1}`` straight from the saved
outputs or ``h0``, the mask applied on the fly), accumulates ``[H, H]`` with ``tl.dot`` and writes it
to its own slice of a ``[P, H, G*H]`` buffer (one per direction of a pair); summing over ``P``
afterwards keeps the result deterministic (no atomics), which CUDA-graph replays and reruns rely on.
The ``triton_weight_grad="torch"`` option (``ops.options``) switches back to the torch version (for measuring both).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from jenacast.rnn.ops import tuning
from jenacast.rnn.ops.common import previous_states, recurrent_weight_grad
from jenacast.rnn.ops.triton.common import KernelMask, block_h, expand_mask, pair_offsets, pairable

ROWS = 64  # rows (t, b) per dot
MAX_PARTS = 64  # programs per gate: at the chapter's 30,720 rows 60 of 512 rows, 180-240 programs for 132 SMs


def weight_grad_in_triton() -> bool:
    """Whether the recurrent weight gradient runs as this kernel (the ``triton_weight_grad`` option)."""
    return tuning.current().triton_weight_grad == "triton"


@triton.jit
def _recurrent_weight_grad(
    hs_ptr,
    h0_ptr,
    d_ptr,
    sdr,
    m_ptr,
    smg,
    smb,
    smh,
    out_ptr,
    B,
    H,
    GH,
    n_rows,
    rows_per_part,
    hs_second: tl.int64,
    h0_second: tl.int64,
    d_second: tl.int64,
    m_second: tl.int64,
    HAS_MASK: tl.constexpr,
    PAIRED: tl.constexpr,
    BR: tl.constexpr,
    BH: tl.constexpr,
):
    g = tl.program_id(0)
    part = tl.program_id(1)
    if PAIRED:  # programs (g, p, 1): a bidirectional layer's second direction (see lstm_rows.py)
        second = tl.program_id(2)
        hs_ptr += second * hs_second
        h0_ptr += second * h0_second
        d_ptr += second * d_second
        m_ptr += second * m_second
        out_ptr += second * tl.num_programs(1) * H * GH
    k = tl.arange(0, BH)
    j = tl.arange(0, BH)
    start = part * rows_per_part
    end = tl.minimum(start + rows_per_part, n_rows)
    acc = tl.zeros([BH, BH], dtype=tl.float32)
    for first in range(start, end, BR):
        r = first + tl.arange(0, BR)  # rows of the [T*B, ...] step-major tensors: r = t*B + b
        live = (r < end)[:, None] & (k < H)[None, :]
        b = r % B
        # h_{t-1}: the saved output one step (B rows) earlier, h0 for the first step
        h = tl.load(hs_ptr + (r - B)[:, None] * H + k[None, :], mask=live & (r >= B)[:, None], other=0.0) + tl.load(
            h0_ptr + b[:, None] * H + k[None, :], mask=live & (r < B)[:, None], other=0.0
        )
        if HAS_MASK:
            h = h * tl.load(m_ptr + g * smg + b[:, None] * smb + k[None, :] * smh, mask=live, other=0.0)
        d = tl.load(
            d_ptr + r[:, None] * sdr + g * H + j[None, :], mask=(r < end)[:, None] & (j < H)[None, :], other=0.0
        )
        acc += tl.dot(tl.trans(h), d, input_precision="ieee")
    tl.store(
        out_ptr + part * H * GH + k[:, None] * GH + g * H + j[None, :], acc, mask=(k < H)[:, None] & (j < H)[None, :]
    )


class WeightGradInputs(NamedTuple):
    """One direction's ``dU`` inputs: ``h0`` ``[B, H]``, the outputs ``hs`` ``[T, B, H]`` (contiguous), the
    gradients ``d_pre`` ``[T, B, G*H]`` (processing order; rows of a contiguous ``[T, B, X]``, e.g. the first
    gates of a wider tensor) and the recurrent mask (None, ``[B, H]`` or ``[G, B, H]``)."""

    h0: torch.Tensor
    hs: torch.Tensor
    d_pre: torch.Tensor
    mask: torch.Tensor | None


def recurrent_weight_grad_triton(
    h0: torch.Tensor, hs: torch.Tensor, d_pre: torch.Tensor, mask: torch.Tensor | None, gates: int
) -> torch.Tensor:
    """``dU`` ``[H, G*H]`` from :class:`WeightGradInputs`' tensors."""
    if not weight_grad_in_triton():
        return recurrent_weight_grad(previous_states(h0, hs), d_pre, mask, gates)
    return _launch(WeightGradInputs(h0, hs, d_pre, mask), None, gates)[0]


def recurrent_weight_grad_pair(first: tuple, second: tuple, gates: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions' ``dU`` of a bidirectional layer, each a :class:`WeightGradInputs` (or a tuple of its
    fields), in one launch and one sum where their tensors share strides (else one after the other)."""
    first, second = WeightGradInputs._make(first), WeightGradInputs._make(second)
    if not weight_grad_in_triton() or not pairable(first, second):
        return (recurrent_weight_grad_triton(*first, gates), recurrent_weight_grad_triton(*second, gates))
    dws = _launch(first, second, gates)
    return dws[0], dws[1]


def _pointers(inputs: WeightGradInputs, mask: KernelMask) -> tuple:
    """The tensors a paired launch reaches the second direction's through (the ``*_second`` offsets' order)."""
    return inputs.hs, inputs.h0, inputs.d_pre, mask.tensor


def _launch(first: WeightGradInputs, second: WeightGradInputs | None, gates: int) -> torch.Tensor:
    """``[D, H, G*H]``: one direction's ``dU``, or a pair's."""
    hs, d_pre = first.hs, first.d_pre
    t_len, b, hidden = hs.shape
    n_rows = t_len * b
    parts = min(MAX_PARTS, triton.cdiv(n_rows, ROWS))
    rows_per_part = triton.cdiv(triton.cdiv(n_rows, parts), ROWS) * ROWS
    parts = triton.cdiv(n_rows, rows_per_part)
    mask = expand_mask(first.mask, gates, hs)
    directions = 1 if second is None else 2
    seconds = None if second is None else _pointers(second, expand_mask(second.mask, gates, second.hs))
    offsets = pair_offsets(_pointers(first, mask), seconds)
    partial = hs.new_empty(directions, parts, hidden, gates * hidden)
    _recurrent_weight_grad[(gates, parts, directions)](
        hs,
        first.h0,
        d_pre,
        d_pre.stride(1),
        mask.tensor,
        mask.stride_g,
        mask.stride_b,
        mask.stride_h,
        partial,
        b,
        hidden,
        gates * hidden,
        n_rows,
        rows_per_part,
        *offsets,
        HAS_MASK=mask.present,
        PAIRED=second is not None,
        BR=ROWS,
        BH=block_h(hidden),
        num_warps=4,
    )
    return partial.sum(1)
