"""What the CPU tier's Numba kernels share: the compile options, mask handling, array conversions.

The cells' arithmetic (activations included) lives in ``vector``, the products in ``simd``.
Kernels are compiled on first use and cached on disk (see ``cache``), so later runs start
in well under a second.
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

import numba
import numpy as np
import torch

from jenacast.rnn.ops import tuning
from jenacast.rnn.ops.cpu.simd import accumulate

ONE = np.float32(1.0)
# sequences per block of work (a thread's unit, and the rows of each step's products, in register blocks of 4):
# the largest of these that still gives every thread two blocks; see block_rows
BLOCK_ROWS_CHOICES = (64, 32, 16, 8)
# error_model="numpy": a float division needs no zero check (a branch that keeps loops scalar)
jit = numba.njit(parallel=True, fastmath=True, cache=True, error_model="numpy")


# Plain loops, not slice assignments: Numba's parallel pass turns ``a[:] = b`` into a parfor and drops it as
# dead when ``a`` is read afterwards only through a reshaped alias (as ``simd.accumulate`` reads it).
@numba.njit(inline="always")
def copy_into(dst, src):
    """The first ``min(len(dst), len(src))`` values of ``src`` into ``dst``."""
    for j in range(min(dst.shape[0], src.shape[0])):
        dst[j] = src[j]


@numba.njit(inline="always")
def add_into(dst, src):
    for j in range(dst.shape[0]):
        dst[j] += src[j]


@numba.njit(inline="always")
def fill(dst, value):
    for j in range(dst.shape[0]):
        dst[j] = value


def block_rows(batch: int) -> int:
    """Sequences per block for a batch: the largest of ``BLOCK_ROWS_CHOICES`` that gives every thread at least
    two blocks, else the smallest. Larger blocks mean fewer, longer calls per step (each step's products,
    masks and cells run once per block) and fewer per-block weight gradients to sum. Side by side on the
    chapter's batch, 64 rows was the fastest of 8, 32, 64 and 128 (128: one block per thread) for both the
    stacked GRU and the LSTM with dropout; see benchmarks/RESULTS.md. The ``cpu_block_rows`` option
    overrides the choice."""
    forced = tuning.current().cpu_block_rows
    if forced is not None:
        return forced
    threads = numba.get_num_threads()
    for rows in BLOCK_ROWS_CHOICES:
        if -(-batch // rows) >= 2 * threads:
            return rows
    return BLOCK_ROWS_CHOICES[-1]


PREFETCH_STEPS = 1  # how many steps ahead the backward kernels ask for the saved rows they will read


def dw_batch_steps(rows: int) -> int:
    """Steps whose weight-gradient products wait for one call in the backward kernels (with one step's rows
    alone, the calls' overhead was a large share of the backward's time), and whose input the GRU forward
    projects in one product: 8 steps of 8-row blocks, 4 of larger ones (at 64 rows, 1, 2, 4 and 8 steps
    measured about the same; see benchmarks/RESULTS.md)."""
    return max(4, 64 // rows)


@numba.njit(inline="always")
def unmask_into(dh, back, m, b, has_mask):
    """``dh = sum_g mask_g[b] * back_g`` for one row: the input's gradient through each gate's masked product
    (a mask per gate on the input: no chapter model has one; the states' masks go through ``masks``)."""
    hidden = dh.shape[0]
    per_gate = has_mask and m.shape[0] > 1
    m0 = m[0, b if has_mask else 0]
    for k in range(hidden):
        dh[k] = back[k] * m0[k] if per_gate else back[k]
    for g in range(1, back.shape[0] // hidden):
        back_g = back[g * hidden : (g + 1) * hidden]
        if per_gate:
            m_g = m[g, b]
            for k in range(hidden):
                dh[k] += back_g[k] * m_g[k]
        else:
            for k in range(hidden):
                dh[k] += back_g[k]
    if has_mask and not per_gate:
        for k in range(hidden):
            dh[k] *= m0[k]


@numba.njit(inline="always")
def add_rows_into(dst, flat, count, tables, one):
    """``dst += sum_n flat[n * len(dst):(n + 1) * len(dst)]`` for ``n < count`` (a bias gradient from the kept
    rows), as a product with the coefficient ``one[0] = 1`` (exact: the same sums in the same order), so that
    its accumulators stay in registers over the rows, not loaded and stored again for every row as in a
    plain loop. The gain over the loop is small (see benchmarks/RESULTS.md): most of the sums' cost is
    reading the rows from the second-level cache, which both pay."""
    width = dst.shape[0]
    accumulate(dst, width, 1, width, one, 0, 0, 0, 0, width, flat, width, count, tables, dst, 0, 0)


@numba.njit(inline="always")
def weight_grads(
    dw,
    dw_in,
    has_proj,
    hm_flat,
    rec_groups,
    xm_flat,
    in_groups,
    d_rec_flat,
    d_in_flat,
    count,
    tables,
    one,
    db,
    rec_bias,
    db_in,
):
    """A backward kernel's batch of kept rows ``n < count`` into its weight gradients:
    ``dU[k, col] += sum_n hm[n, gate(col), k] * d_rec[n, col]`` (``rec_groups`` 1: every gate reads gate 0's
    ``hm``, the states without a mask or with one shared mask) and, with the projection,
    ``dW[f, col] += sum_n xm[n, gate(col), f] * d_in[n, col]`` (``xm`` one group, or one per gate),
    ``db_in += sum_n d_in[n]``, and with ``rec_bias`` ``db += sum_n d_rec[n]`` (``one``: the array ``[1.0]``, see
    :func:`add_rows_into`). The biases' sums wait for
    this batch rather than following each row's step: read right after the cell's masked vector stores
    wrote them, the rows stalled on store forwarding (visible in a profile of the GRU backward)."""
    hidden, gh = dw.shape
    features = dw_in.shape[0]
    dw_flat, dw_in_flat = dw.reshape(-1), dw_in.reshape(-1)
    accumulate(
        dw_flat,
        gh,
        hidden,
        gh,
        hm_flat,
        0,
        1,
        hidden if rec_groups > 1 else 0,
        gh,
        hidden,
        d_rec_flat,
        gh,
        count,
        tables,
        dw_flat,
        0,
        gh,
    )
    if rec_bias:
        add_rows_into(db, d_rec_flat, count, tables, one)
    if has_proj:
        accumulate(
            dw_in_flat,
            gh,
            features,
            gh,
            xm_flat,
            0,
            1,
            features if in_groups > 1 else 0,
            in_groups * features,
            hidden,
            d_in_flat,
            gh,
            count,
            tables,
            dw_in_flat,
            0,
            gh,
        )
        add_rows_into(db_in, d_in_flat, count, tables, one)


@numba.njit(inline="always")
def input_grad_rows(d_input, t, b0, rows, back_in, d_flat, d_base, hidden, w_in_t_flat, mx, has_in_mask, tables, zeros):
    """One step's input gradient for a block's rows, from ``d`` (the rows' pre-activation gradients at
    ``d_flat[d_base:]``, G*H per row) and ``w_in_t`` as :func:`input_grad_arrays` gives it. One input mask
    or none: ``d_input[t, b0 + r] = mask * (d[r] @ W^T)``, one product of depth G*H written in place.
    A mask per gate: ``sum_g mask_g * back_g`` with ``back[r, g*F + f] = sum_n d[r, g*H + n] * W[f, g*H + n]``.
    ``zeros``: at least G*F zeros, where the products start."""
    width = back_in.shape[1]
    features = d_input.shape[2]
    gh = width // features * hidden
    if not has_in_mask or mx.shape[0] == 1:
        at = (t * d_input.shape[1] + b0) * features
        out = d_input.reshape(-1)[at : at + rows * features]
        accumulate(
            out,
            features,
            rows,
            features,
            d_flat,
            d_base,
            gh,
            0,
            1,
            features,
            w_in_t_flat,
            features,
            gh,
            tables,
            zeros,
            0,
            0,
        )
        if has_in_mask:
            for r in range(rows):
                mr, dr = mx[0, b0 + r], d_input[t, b0 + r]
                for f in range(features):
                    dr[f] *= mr[f]
        return
    back_flat = back_in.reshape(-1)
    accumulate(
        back_flat,
        width,
        rows,
        width,
        d_flat,
        d_base,
        gh,
        hidden,
        1,
        features,
        w_in_t_flat,
        width,
        hidden,
        tables,
        zeros,
        0,
        0,
    )
    for r in range(rows):
        unmask_into(d_input[t, b0 + r], back_in[r], mx, b0 + r, has_in_mask)


@jit
def _time_major_into(x, out):
    """``out[t, b] = x[b, t]``, blocks of 8 sequences spread over the threads."""
    batch, t_len, features = x.shape
    for block in numba.prange((batch + 7) // 8):
        for t in range(t_len):
            for b in range(8 * block, min(8 * block + 8, batch)):
                for f in range(features):
                    out[t, b, f] = x[b, t, f]


def time_major(x: torch.Tensor) -> torch.Tensor:
    """A batch-first float32 CPU ``[B, T, F]`` as a contiguous ``[T, B, F]`` (a free view where it already is
    one, as a stacked layer's input). The copy runs on Numba's threads, in blocks of sequences: faster than
    torch's transposing copy, both inside a training step (the batch out of cache) and with the batch in
    cache (see benchmarks/RESULTS.md)."""
    steps = x.detach().transpose(0, 1)
    if steps.is_contiguous():
        return steps
    out = torch.empty(steps.shape)
    _time_major_into(as_array(x), out.numpy())
    return out


def as_array(tensor: torch.Tensor) -> np.ndarray:
    """A contiguous float32 numpy view (or copy) of a CPU tensor."""
    return tensor.detach().contiguous().numpy()


def per_gate_transposed(weight: torch.Tensor, gates: int) -> np.ndarray:
    """``[K, G*H]`` -> ``w_gt[n, g*K + k] = W[k, g*H + n]``: each gate's block transposed, so that the backward's
    ``d_g @ W_g^T`` has the forward's shape (``W`` the recurrent kernel, K = H, or the input kernel, K = F)."""
    rows, hidden = weight.shape[0], weight.shape[1] // gates
    return as_array(weight.detach().view(rows, gates, hidden).permute(2, 1, 0).reshape(hidden, gates * rows))


def steps_major(d_hseq: torch.Tensor | None) -> torch.Tensor | None:
    """A batch-first sequence gradient ``[B, T, H]`` as ``[T, B, H]`` for the backward kernels, which read one
    step's rows of a block together. Batch-first, those rows lie a whole sequence apart and each one is a
    cache miss (a stacked GRU's lower layer spent most of its backward waiting on them); from a stacked
    layer's input gradient, which the kernels write time-major, the transposition is free."""
    return None if d_hseq is None else d_hseq.transpose(0, 1)


def optional_array(tensor: torch.Tensor | None) -> tuple[np.ndarray, bool]:
    """``(array, present)``: a gradient autograd left out (None, since nothing used that output) becomes a
    placeholder the kernel never reads."""
    if tensor is None:
        return np.zeros((1, 1, 1), dtype=np.float32), False
    return as_array(tensor), True


def mask_array(mask: torch.Tensor | None) -> tuple[np.ndarray, bool]:
    """``([G or 1, B, H] array, present)``: a shared ``[B, H]`` mask becomes ``[1, B, H]``."""
    if mask is None:
        return np.ones((1, 1, 1), dtype=np.float32), False
    return as_array(mask if mask.dim() == 3 else mask.unsqueeze(0)), True


class Projection(NamedTuple):
    """A layer's input projection, done inside the kernels' loop: Keras' ``kernel`` ``[F, G*H]``, the input bias and
    the input mask (None, ``[B, F]`` or ``[G, B, F]``)."""

    kernel: torch.Tensor
    bias: torch.Tensor
    in_mask: torch.Tensor | None


class ProjectionArrays(NamedTuple):
    """A :class:`Projection` as the kernels take it: arrays, the mask as :func:`mask_array` gives it."""

    kernel: np.ndarray
    bias: np.ndarray
    in_mask: np.ndarray
    has_in_mask: bool


def projection_arrays(projection: Projection | None) -> ProjectionArrays:
    """The arrays of a kernel's in-loop projection, placeholders without one."""
    if projection is None:
        return ProjectionArrays(np.zeros((1, 1), np.float32), np.zeros(1, np.float32), *mask_array(None))
    return ProjectionArrays(as_array(projection.kernel), as_array(projection.bias), *mask_array(projection.in_mask))


def input_grad_arrays(projection, in_kernel: bool, t_len: int, batch: int, features: int, gates: int):
    """``(kernel, d_input [T, B, F] tensor)`` for a backward kernel that forms the projected input's gradient
    itself (see :func:`input_grad_rows`), placeholders otherwise. The kernel: with a mask per gate, per gate
    transposed ``[H, G*F]``; else transposed ``[G*H, F]``, for one product over all gates."""
    if not in_kernel:
        return np.zeros((1, 1), np.float32), torch.empty(1, 1, features)
    kernel, mask = projection.kernel, projection.in_mask
    per_gate = mask is not None and mask.dim() == 3 and mask.shape[0] > 1
    w_in_t = per_gate_transposed(kernel, gates) if per_gate else as_array(kernel.detach().t())
    return w_in_t, torch.empty(t_len, batch, features)


class WeightGrads(NamedTuple):
    """A backward kernel's weight gradients: ``dU``, the recurrent bias's (None without one), and with the
    projection the input kernel's ``dW`` and the input bias's (else None)."""

    d_w: torch.Tensor
    d_rec_bias: torch.Tensor | None
    d_kernel: torch.Tensor | None
    d_in_bias: torch.Tensor | None


class BackwardArrays:
    """What both backward kernels take besides their cell's saved tensors and states: the sequence
    gradient time-major (or a placeholder), the masks, the projected input, the output for ``dx`` and
    the per-block weight-gradient tensors (each block of rows sums its own; :meth:`summed` adds them up).

    ``dx`` says what the input's gradient is: "none" (None), "pre" (the pre-activations' gradient
    ``[T, B, G*H]``, the projection's) or "input" (the gradient of the projected input ``[T, B, F]``,
    formed in the kernel: see :func:`input_grad_rows`)."""

    def __init__(self, d_hseq, rec_mask, x_steps, projection, dx: str, t_len: int, batch: int, hidden: int, gates: int):
        self.rows = block_rows(batch)
        self.dw_steps = dw_batch_steps(self.rows)
        gh, blocks = gates * hidden, -(-batch // self.rows)
        features = x_steps.shape[2] if projection is not None else 1
        self.dx, self.write_dx, self.input_in_kernel = dx, dx == "pre", dx == "input"
        self.d_seq, self.has_dseq = optional_array(steps_major(d_hseq))
        self.mask, self.has_mask = mask_array(rec_mask)
        self.has_proj = projection is not None
        arrays = projection_arrays(projection)
        self.in_mask, self.has_in_mask = arrays.in_mask, arrays.has_in_mask
        self.x = as_array(x_steps) if self.has_proj else np.zeros((1, 1, 1), np.float32)
        self.d_pre = torch.empty(t_len, batch, gh) if self.write_dx else torch.empty(1, 1, gh)
        self.w_in_t, self.d_input = input_grad_arrays(projection, self.input_in_kernel, t_len, batch, features, gates)
        self.dw_blocks, self.db_blocks = torch.empty(blocks, hidden, gh), torch.empty(blocks, gh)
        self.dw_in_blocks, self.db_in_blocks = torch.empty(blocks, features, gh), torch.empty(blocks, gh)

    @property
    def d_x(self):
        return {"none": None, "pre": self.d_pre, "input": self.d_input}[self.dx]

    def summed(self, rec_bias: bool) -> WeightGrads:
        """The blocks' weight gradients added up."""
        d_rec_bias = self.db_blocks.sum(0) if rec_bias else None
        if not self.has_proj:
            return WeightGrads(self.dw_blocks.sum(0), d_rec_bias, None, None)
        return WeightGrads(self.dw_blocks.sum(0), d_rec_bias, self.dw_in_blocks.sum(0), self.db_in_blocks.sum(0))


_announced: set[tuple[str, int]] = set()


def announce_compile(what: str, *kernels) -> None:
    """Say, once per process, that ``what``'s kernels are about to compile (neither compiled in this process
    nor in Numba's disk cache): the first batch then takes about half a minute, and a frozen progress bar
    should not look like a hang. Quiet when Numba's cache layout is not the one known here."""
    key = (what, len(kernels))  # an evaluation's forward alone, then a training's forward and backward
    if key in _announced:
        return
    _announced.add(key)
    try:
        cached = all(k.overloads or os.path.exists(k._cache._cache_file._index_path) for k in kernels)
    except AttributeError:
        return
    if not cached:
        logging.getLogger("jenacast").info(
            "jenacast: compiling the %s kernels for this CPU (about half a minute, once; cached in %s)",
            what,
            os.environ.get("NUMBA_CACHE_DIR", "Numba's cache"),
        )


def check_input(tensor: torch.Tensor) -> None:
    if tensor.device.type != "cpu" or tensor.dtype != torch.float32:
        raise ValueError(
            f"backend 'cpu' runs float32 CPU tensors, got {tensor.dtype} on {tensor.device}; "
            "use backend='fwbw' for other dtypes or devices."
        )
