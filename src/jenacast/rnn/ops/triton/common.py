"""What the Triton tiers share: availability, launch parameters and math helpers.

The kernels are persistent: a program keeps the recurrent matrices in registers and loops over all
time steps, so a layer's whole recurrence is one launch. The input projection (before) and the
weight gradients (after) stay large cuBLAS matmuls. Two layouts (the ``triton_layout`` option, ``ops.options``):

* ``rows`` (the default up to 32 units): one sequence per program and one warp, a unit per thread, each thread
  holding its unit's column of every gate's matrix with the sequence's mask multiplied in; a
  step's products are in-thread sums over the previous output (``lstm_rows.py``,
  ``gru_rows.py``). A bidirectional layer's two directions share one launch each way (programs
  ``(b, 1)`` run the second direction, reaching its tensors through element offsets from the first's).
  A time step is a short chain of per-thread instructions with one barrier (``benchmarks/triton_static.py``
  counts them; figures in benchmarks/RESULTS.md).
* ``tiles``: ``BLOCK_B`` = 16 sequences per program and 4 warps, the products as ``tl.dot`` of
  16-row tiles (``lstm_tiles.py``, ``gru_tiles.py``): several times the instructions of ``rows`` and
  more barriers a step, and slower at the chapter's sizes (see benchmarks/RESULTS.md).

``TRITON_INTERPRET=1`` runs the same kernels on CPU tensors (that is how CI tests them).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from jenacast.rnn.ops import tuning

BLOCK_B = 16  # sequences per program; tl.dot needs at least 16 rows


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def check_device(tensor: torch.Tensor) -> None:
    if tensor.device.type != "cuda" and not interpreting():
        raise ValueError("backend 'triton' needs CUDA tensors (or TRITON_INTERPRET=1 to run its kernels on the CPU).")


def num_warps() -> int:
    """Warps per program of the ``tiles`` kernels (the ``triton_warps`` option, default 4)."""
    return tuning.current().triton_warps


def dot_precision() -> str:
    """The recurrent dots' ``input_precision``: ``"ieee"`` (float32, the default) or, with the ``triton_precision``
    option, ``"tf32"`` (tensor cores on Ampere and later; about 1e-3 relative error per dot), for measuring both."""
    return tuning.current().triton_precision


ROWS_MAX_UNITS = 32  # a thread holds G x units weights; at 64 units the LSTM's 512 would spill


def kernel_layout(units: int) -> str:
    """``"rows"`` or ``"tiles"`` (see the module's docstring): the ``triton_layout`` option when set, else rows up
    to ``ROWS_MAX_UNITS`` units (every layer of the chapter) and tiles above."""
    return tuning.current().triton_layout or ("rows" if units <= ROWS_MAX_UNITS else "tiles")


def block_h(units: int) -> int:
    """Both layouts' tile width over the units: padded to a power of two, at least 16."""
    return max(16, triton.next_power_of_2(units))


def grid(batch: int) -> tuple[int]:
    return (triton.cdiv(batch, BLOCK_B),)


class SequenceGrad(NamedTuple):
    """A backward kernel's sequence gradient ``[B, T, H]`` (unit stride in H): the tensor (a stand-in when absent),
    its strides over sequences and steps, and whether there is one (``HAS_DSEQ``)."""

    tensor: torch.Tensor
    stride_b: int
    stride_t: int
    present: bool


def sequence_grad_args(d_hseq: torch.Tensor | None, like: torch.Tensor) -> SequenceGrad:
    """The sequence gradient ``d_hseq`` as a backward kernel reads it. When autograd left it out (the sequence
    output unused, as in a stack's top layer) the kernel reads nothing (``HAS_DSEQ`` false) and ``like`` stands
    in for the pointer."""
    if d_hseq is None:
        return SequenceGrad(like, 0, 0, False)
    if d_hseq.stride(-1) != 1:
        d_hseq = d_hseq.contiguous()
    return SequenceGrad(d_hseq, d_hseq.stride(0), d_hseq.stride(1), True)


def pairable(first, second) -> bool:
    """Whether two directions' arguments can share one launch: tensors (or None) in the same places, of the
    same shapes and strides (a launch gives both one set of strides)."""
    for a, z in zip(first, second):
        if (a is None) != (z is None):
            return False
        if torch.is_tensor(a) and (
            a.shape != z.shape or a.stride() != z.stride() or a.dtype != z.dtype or a.device != z.device
        ):
            return False
    return True


def pair_offsets(firsts, seconds) -> list[int]:
    """How many float32 elements each of ``seconds`` lies after its twin in ``firsts`` (negative if before): a
    paired launch reaches the second direction's tensors through the first's pointers. Zeros without a pair
    (``seconds`` None)."""
    if seconds is None:
        return [0] * len(firsts)
    return [(z.data_ptr() - a.data_ptr()) // a.element_size() for a, z in zip(firsts, seconds, strict=True)]


def gate_rows_matrix(w_rec: torch.Tensor, second_w_rec: torch.Tensor | None = None) -> torch.Tensor:
    """``[G*H, H]`` (``[2, G*H, H]`` for a pair): each unit's row of every gate matrix, contiguous across the
    units, as the rows backward kernels read them (see :func:`gate_rows`)."""
    if second_w_rec is None:
        return w_rec.t().contiguous()
    return torch.stack([w_rec.t(), second_w_rec.t()])


def matching_grads(first: torch.Tensor | None, second: torch.Tensor | None):
    """Two directions' gradients of one output as one launch reads them: both None, or both present (zeros for
    a missing one) with the same strides."""
    if first is None and second is None:
        return first, second
    first = torch.zeros_like(second) if first is None else first
    second = torch.zeros_like(first) if second is None else second
    if first.stride() != second.stride():
        first, second = first.contiguous(), second.contiguous()
    return first, second


class StateGrad(NamedTuple):
    """A backward kernel's gradient of a last state ``[B, H]``: the tensor (a stand-in when absent), its row stride
    and the units to read (0 when absent)."""

    tensor: torch.Tensor
    stride_b: int
    units: int


def state_grad_args(grad: torch.Tensor | None, like: torch.Tensor) -> StateGrad:
    """The gradient of a last state as a rows backward kernel reads it: when autograd left it out (the state
    unused) the kernel reads nothing (0 units) and ``like`` stands in."""
    if grad is None:
        return StateGrad(like, 0, 0)
    if grad.stride(-1) != 1:
        grad = grad.contiguous()
    return StateGrad(grad, grad.stride(0), grad.shape[1])


class KernelMask(NamedTuple):
    """A recurrent mask as the kernels read it: the tensor (a stand-in when absent), its strides over gates,
    sequences and units, and whether there is one (``HAS_MASK``)."""

    tensor: torch.Tensor
    stride_g: int
    stride_b: int
    stride_h: int
    present: bool


def expand_mask(mask: torch.Tensor | None, gates: int, like: torch.Tensor) -> KernelMask:
    """A mask None, ``[B, H]`` or ``[G, B, H]`` as a :class:`KernelMask`; a shared ``[B, H]`` mask gets stride_g 0
    (``like`` stands in for an absent one)."""
    if mask is None:
        return KernelMask(like, 0, 0, 0, False)
    if mask.dim() == 2:
        return KernelMask(mask, 0, mask.stride(0), mask.stride(1), True)
    return KernelMask(mask, mask.stride(0), mask.stride(1), mask.stride(2), True)


class KernelLengths(NamedTuple):
    """A packed batch's lengths as the kernels read them: ``[B]`` int32 (a stand-in when absent) and whether there
    are any (``HAS_LENGTHS``)."""

    tensor: torch.Tensor
    present: bool


def lengths_args(lengths: torch.Tensor | None, like: torch.Tensor) -> KernelLengths:
    """``lengths`` None or ``[B]`` integers (see ``reference.lstm``) as a :class:`KernelLengths` on ``like``'s device
    (``like`` stands in for absent ones)."""
    if lengths is None:
        return KernelLengths(like, False)
    return KernelLengths(lengths.to(device=like.device, dtype=torch.int32).contiguous(), True)


class LstmStepGrads(NamedTuple):
    """What an LSTM backward launch writes: the pre-activation gradients ``[T, B, 4H]`` (processing order), the
    initial states' gradients ``[B, H]`` (a pair's: ``[2, ...]`` each)."""

    d_pre: torch.Tensor
    dh0: torch.Tensor
    dc0: torch.Tensor


class GruStepGrads(NamedTuple):
    """What a GRU backward launch writes: the input side's pre-activation gradients ``[T, B, 3H]``, the recurrent
    side's (with ``reset_after``; else ``d_x`` itself, unwritten), the initial state's gradient."""

    d_x: torch.Tensor
    d_rec: torch.Tensor
    dh0: torch.Tensor


@triton.jit
def tanh(x):
    # tanh(x) = 2 sigmoid(2x) - 1: one exp, no overflow; absolute error about 1e-7 near 0
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def step_input(row, s, gate, sxt, sxg, T, H, REVERSE: tl.constexpr, flip, BH: tl.constexpr):
    """One sequence's input projection for gate ``gate`` at step ``s`` (processing order; zeros past the end).
    ``flip`` 1 runs the sequence in the order opposite to ``REVERSE`` (the second direction of a pair)."""
    j = tl.arange(0, BH)
    t = T - 1 - s if REVERSE else s
    t += flip * (T - 1 - 2 * t)
    return tl.load(row + t * sxt + (gate * H + j) * sxg, mask=j < tl.where(s < T, H, 0), other=0.0)


@triton.jit
def live_at(length, s, T, REVERSE: tl.constexpr, flip):
    """Whether step ``s`` (processing order, ``flip`` as in :func:`step_input`) lies within a sequence's first
    ``length`` steps: past them (a forward sequence that has ended, a reverse one that has not started) the kernels
    keep its state, saved as the step's, and pass its gradients through (the ``cpu`` tier's ``cpu.lengths``)."""
    t = T - 1 - s if REVERSE else s
    t += flip * (T - 1 - 2 * t)
    return t < length


@triton.jit
def sequence_grad_step(dhs_ptr, sdb, sdt, b, s, H, BH: tl.constexpr):
    """Sequence ``b``'s gradient of its output at step ``s`` (processing order; zeros for ``s < 0``)."""
    j = tl.arange(0, BH)
    return tl.load(dhs_ptr + b * sdb + s * sdt + j, mask=j < tl.where(s >= 0, H, 0), other=0.0)


@triton.jit
def lstm_cell_grads(dh, dc, i, f, g, o, c, c_prev):
    """One step of the LSTM backward through its cell: ``(d_i, d_f, d_g, d_o, dc_{t-1})`` from the gradients of
    ``h_t`` (``dh``) and ``c_t`` (``dc``, the part from later steps) and the saved gates and cells."""
    tanh_c = tanh(c)
    dc += dh * o * (1.0 - tanh_c * tanh_c)
    return (
        dc * g * i * (1.0 - i),
        dc * c_prev * f * (1.0 - f),
        dc * i * (1.0 - g * g),
        dh * tanh_c * o * (1.0 - o),
        dc * f,
    )


@triton.jit
def load_tile(ptr, stride_r, stride_c, rows, cols, n_rows, n_cols):
    """A ``[len(rows), len(cols)]`` tile, zero outside ``n_rows x n_cols``."""
    inside = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    return tl.load(ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, mask=inside, other=0.0)


@triton.jit
def store_tile(ptr, value, stride_r, stride_c, rows, cols, n_rows, n_cols):
    inside = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    tl.store(ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, value, mask=inside)


@triton.jit
def gate_columns(w_ptr, s_k, s_j, m_ptr, smg, smb, smh, b, gate, H, HAS_MASK: tl.constexpr, BH: tl.constexpr):
    """``w[j, k] = mask_gate[b, k] * U[k, gate*H + j]`` (U = ``w_ptr`` with strides ``s_k``, ``s_j``): row ``j``
    for the thread of unit ``j`` (the rows kernels' forward).

    The layout comes from contiguity, the one thing Triton's layout choice reliably follows: ``j``
    (the thread axis) has stride 1, and the calling kernel leaves ``s_k`` unspecialised, so that k
    is neither contiguous nor vectorisable and each thread keeps a whole row. Left to its default
    order (both strides unknown) Triton 3.6 and 3.9 spread opposite axes over the threads, and where
    k was spread the LSTM(32) forward's sums needed cross-thread shuffles every step."""
    j = tl.arange(0, BH)[:, None]
    k = tl.arange(0, BH)
    w = tl.load(w_ptr + k[None, :] * s_k + (gate * H + j) * s_j, mask=(j < H) & (k[None, :] < H), other=0.0)
    if HAS_MASK:
        w = w * tl.load(m_ptr + gate * smg + b * smb + k * smh, mask=k < H, other=0.0)[None, :]
    return w


@triton.jit
def gate_rows(wt_ptr, s_g, s_k, m_ptr, smg, smb, smh, b, gate, H, HAS_MASK: tl.constexpr, BH: tl.constexpr):
    """``w[k, j] = mask_gate[b, k] * U[k, gate*H + j]`` from ``U``'s transpose (``wt_ptr``, ``[G*H, H]`` with strides
    ``s_g``, ``s_k``): row ``k`` for the thread of unit ``k`` (the rows kernels' backward). As in
    :func:`gate_columns`, the thread axis k has stride 1 and ``s_g`` stays unspecialised."""
    k = tl.arange(0, BH)
    j = tl.arange(0, BH)[None, :]
    w = tl.load(wt_ptr + (gate * H + j) * s_g + k[:, None] * s_k, mask=(k[:, None] < H) & (j < H), other=0.0)
    if HAS_MASK:
        w = w * tl.load(m_ptr + gate * smg + b * smb + k * smh, mask=k < H, other=0.0)[:, None]
    return w
