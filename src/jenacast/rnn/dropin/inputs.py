"""What ``nn.LSTM``/``nn.GRU`` accept and return, read into and written from one batch-first form.

Input: ``[T, B, F]`` (``[B, T, F]`` with ``batch_first``), unbatched ``[T, F]``, or a ``PackedSequence``.
Inside, always ``x [B, T, F]`` (a view of time-major memory where the input is time-major, what the kernels read
without a copy) and, for a packed batch, each sequence's length in the original batch order: torch's
``hx`` and ``h_n`` are in that order too (``nn.LSTM`` sorts internally and permutes them back).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


class Batch(NamedTuple):
    x: torch.Tensor  # [B, T, F]
    lengths: torch.Tensor | None  # [B] int64 on x's device, for a packed input
    unbatched: bool
    packed: PackedSequence | None


def read_input(input, batch_first: bool, input_size: int, dtype: torch.dtype, name: str) -> Batch:
    if isinstance(input, PackedSequence):
        padded, lengths = pad_packed_sequence(input)  # [T, B, F], lengths in the original order
        x, unbatched = padded.transpose(0, 1), False
    elif isinstance(input, torch.Tensor):
        if input.dim() not in (2, 3):
            raise ValueError(f"{name} expects 2-D (unbatched) or 3-D input, got {input.dim()}-D.")
        unbatched, lengths = input.dim() == 2, None
        x = input.unsqueeze(0) if unbatched else (input if batch_first else input.transpose(0, 1))
    else:
        raise TypeError(f"{name} expects a tensor or a PackedSequence, got {type(input).__name__}.")
    if x.shape[-1] != input_size:
        raise ValueError(f"{name} expects {input_size} input features, got input of shape {list(x.shape)}.")
    if x.shape[1] < 1:
        raise ValueError(f"{name} needs at least one time step, got input of shape {list(x.shape)}.")
    if x.dtype != dtype:
        raise TypeError(f"{name}'s input is {x.dtype} but its parameters are {dtype}; convert one of them.")
    if lengths is not None:
        lengths = lengths.to(x.device)
    return Batch(x, lengths, unbatched, input if isinstance(input, PackedSequence) else None)


def read_state(hx: torch.Tensor | None, batch: Batch, count: int, hidden: int, what: str) -> torch.Tensor | None:
    """``hx`` as ``[L*D, B, H]`` (None stays None), checked against torch's shape."""
    if hx is None:
        return None
    if not isinstance(hx, torch.Tensor):
        raise TypeError(f"{what} must be a tensor, got {type(hx).__name__}.")
    b = batch.x.shape[0]
    expected = (count, hidden) if batch.unbatched else (count, b, hidden)
    if tuple(hx.shape) != expected:
        raise ValueError(f"{what} must have shape {list(expected)}, got {list(hx.shape)}.")
    if hx.dtype != batch.x.dtype or hx.device != batch.x.device:
        raise TypeError(f"{what} is {hx.dtype} on {hx.device} but the input is {batch.x.dtype} on {batch.x.device}.")
    return hx.unsqueeze(1) if batch.unbatched else hx


def write_output(out: torch.Tensor, batch: Batch, batch_first: bool):
    """``out [B, T, X]`` in the form of the input: the same layout (contiguous, as torch returns it), unbatched,
    or packed like the input (its batch sizes and sort order)."""
    if batch.packed is not None:
        order = batch.packed.sorted_indices
        lengths = batch.lengths.cpu()
        if order is not None:
            out, lengths = out.index_select(0, order), lengths.index_select(0, order.cpu())
        data = pack_padded_sequence(out, lengths, batch_first=True).data
        packed = batch.packed
        return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    if batch.unbatched:
        return out[0]
    return (out if batch_first else out.transpose(0, 1)).contiguous()


def write_state(state: torch.Tensor, batch: Batch) -> torch.Tensor:
    """``[L*D, B, H]`` as torch returns it (``[L*D, H]`` unbatched)."""
    return state[:, 0] if batch.unbatched else state
