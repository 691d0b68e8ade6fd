"""What the Triton tiers share: availability, launch parameters and math helpers.

The kernels are persistent: one program owns ``BLOCK_B`` sequences, keeps each gate's recurrent
matrix in registers and loops over all time steps, so a layer's whole recurrence is one launch.
The input projection (before) and the weight gradients (after) stay large cuBLAS matmuls.
``TRITON_INTERPRET=1`` runs the same kernels on CPU tensors (that is how CI tests them).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

BLOCK_B = 16  # sequences per program; tl.dot needs at least 16 rows


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def check_device(tensor: torch.Tensor) -> None:
    if tensor.device.type != "cuda" and not interpreting():
        raise ValueError("backend 'triton' needs CUDA tensors (or TRITON_INTERPRET=1 to run its kernels on the CPU).")


def num_warps() -> int:
    """Warps per program (default 4); ``JENACAST_TRITON_WARPS`` overrides it, for tuning."""
    return int(os.environ.get("JENACAST_TRITON_WARPS", "4"))


def dot_precision() -> str:
    """The recurrent dots' ``input_precision``: ``"ieee"`` (float32, the default) unless ``JENACAST_TRITON_PRECISION``
    says ``"tf32"`` (tensor cores on Ampere and later; about 1e-3 relative error per dot), for measuring both."""
    value = os.environ.get("JENACAST_TRITON_PRECISION", "ieee")
    if value not in ("ieee", "tf32"):
        raise ValueError(f"JENACAST_TRITON_PRECISION must be ieee or tf32, got {value!r}.")
    return value


def block_h(units: int) -> int:
    return max(16, triton.next_power_of_2(units))


def grid(batch: int) -> tuple[int]:
    return (triton.cdiv(batch, BLOCK_B),)


def sequence_grad(d_hseq: torch.Tensor | None, hs: torch.Tensor) -> torch.Tensor:
    """The kernels read ``d_hseq`` ``[B, T, H]`` with unit stride in H: zeros when autograd left it out."""
    if d_hseq is None:
        return hs.new_zeros(hs.shape[1], hs.shape[0], hs.shape[2])
    return d_hseq if d_hseq.stride(-1) == 1 else d_hseq.contiguous()


def expand_mask(mask: torch.Tensor | None, gates: int, like: torch.Tensor) -> tuple[torch.Tensor, int, int, int, bool]:
    """A mask as ``(tensor, stride_g, stride_b, stride_h, present)``; a shared ``[B, H]`` mask gets stride_g 0."""
    if mask is None:
        return like, 0, 0, 0, False
    if mask.dim() == 2:
        return mask, 0, mask.stride(0), mask.stride(1), True
    return mask, mask.stride(0), mask.stride(1), mask.stride(2), True


@triton.jit
def tanh(x):
    # tanh(x) = 2 sigmoid(2x) - 1: one exp, no overflow; absolute error about 1e-7 near 0
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def load_tile(ptr, stride_r, stride_c, rows, cols, n_rows, n_cols):
    """A ``[len(rows), len(cols)]`` tile, zero outside ``n_rows x n_cols``."""
    inside = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    return tl.load(ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, mask=inside, other=0.0)


@triton.jit
def store_tile(ptr, value, stride_r, stride_c, rows, cols, n_rows, n_cols):
    inside = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    tl.store(ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, value, mask=inside)
