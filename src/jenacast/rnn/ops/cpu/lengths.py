"""A packed batch's lengths in the CPU kernels: a sequence past its own length keeps its state.

At step ``t`` the rows with ``t >= lengths[b]`` (a forward sequence that has ended, or a reverse one that has not
started yet) are computed with the others, the whole block's products unchanged, and then put back: the state and
what the step saved become the state before it (:func:`hold` before the step, :func:`put_back` after). In the
backward the same rows pass ``dh`` (and the LSTM's ``dc``) through unchanged and contribute no gradient
(:func:`zero_rows`). The layer zeroes the outputs at those steps (``cpu.layer``).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu.common import copy_into, fill


def lengths_array(lengths: torch.Tensor | None) -> tuple[np.ndarray, bool]:
    """``([B] int32 array, present)``; a placeholder without lengths."""
    if lengths is None:
        return np.zeros(1, np.int32), False
    return lengths.detach().to("cpu", torch.int32).contiguous().numpy(), True


@numba.njit(inline="always")
def hold(keep, state, lengths, b0, rows, t):
    """The rows of ``state`` whose sequence is past its length at step ``t``, copied into ``keep``."""
    for r in range(rows):
        if t >= lengths[b0 + r]:
            copy_into(keep[r], state[r])


@numba.njit(inline="always")
def put_back(state, saved, keep, lengths, b0, rows, t):
    """Those rows of ``state`` and of this step's ``saved`` rows set back to what :func:`hold` kept."""
    for r in range(rows):
        if t >= lengths[b0 + r]:
            copy_into(state[r], keep[r])
            copy_into(saved[r], keep[r])


@numba.njit(inline="always")
def zero_rows(rows_out, lengths, b0, rows, t):
    """Those rows' gradients of this step (pre-activations) set to zero."""
    for r in range(rows):
        if t >= lengths[b0 + r]:
            fill(rows_out[r], np.float32(0.0))


@numba.njit(inline="always")
def restore(state, keep, lengths, b0, rows, t):
    """Those rows of ``state`` (a gradient carried back) set back to what :func:`hold` kept."""
    for r in range(rows):
        if t >= lengths[b0 + r]:
            copy_into(state[r], keep[r])
