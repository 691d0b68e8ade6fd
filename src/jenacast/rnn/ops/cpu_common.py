"""What the CPU tier's Numba kernels share: float32 activations, and mask handling.

Scalar libm ``exp``/``tanh`` cannot vectorise, so the kernels use a rational approximation of
tanh (odd degree-13 over even degree-6 polynomial on [-7.9053, 7.9053], the form Eigen and XLA
use for float32), accurate to a few float32 ulps, and ``sigmoid(x) = 0.5 + 0.5 tanh(x / 2)``.
(The assembly shows the recurrent matvec loops as AVX-512 code but the activation loops still
scalar: Numba's division keeps a ZeroDivisionError branch; ``error_model="numpy"`` alone did not
change that. The next step for this tier's speed.)
Kernels are compiled on first use and cached on disk (``NUMBA_CACHE_DIR``, by default under
jenacast's cache folder), so later runs start in well under a second.
"""

from __future__ import annotations

import os

import numpy as np
import torch

if "NUMBA_CACHE_DIR" not in os.environ:  # site-packages may be read-only; numba reads this at import
    from jenacast.data.cache import cache_dir

    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba")

import numba  # noqa: E402

F32 = np.float32
_A1, _A3, _A5, _A7 = F32(4.89352455891786e-03), F32(6.37261928875436e-04), F32(1.48572235717979e-05), F32(5.12229709037114e-08)
_A9, _A11, _A13 = F32(-8.60467152213735e-11), F32(2.00018790482477e-13), F32(-2.76076847742355e-16)
_B0, _B2, _B4, _B6 = F32(4.89352518554385e-03), F32(2.26843463243900e-03), F32(1.18534705686654e-04), F32(1.19825839466702e-06)
_CLAMP = F32(7.90531110763549805)  # tanh is 1 - 2e-7 there: beyond it float32 tanh is +-1
HALF, ONE = F32(0.5), F32(1.0)
ROWS = 4  # sequences per inner block: each recurrent-weight row loaded is used for this many sequences
# error_model="numpy": a float division needs no zero check, which is what lets the activation loops vectorise
jit = numba.njit(parallel=True, fastmath=True, cache=True, error_model="numpy")


@numba.njit(inline="always", fastmath=True)
def ftanh(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return x * p / q


@numba.njit(inline="always", fastmath=True)
def fsigmoid(x):
    return HALF + HALF * ftanh(HALF * x)


def as_array(tensor: torch.Tensor) -> np.ndarray:
    """A contiguous float32 numpy view (or copy) of a CPU tensor."""
    return tensor.detach().contiguous().numpy()


def fold_masks(values: torch.Tensor, mask: torch.Tensor | None, gates: int) -> torch.Tensor:
    """``values`` ``[B or 1, H, G*H]`` times ``mask_g[b, k]`` at each ``(b, k, g*H + j)``."""
    if mask is None:
        return values
    if mask.dim() == 2:
        return mask[:, :, None] * values
    hidden = values.shape[1]
    batch = max(values.shape[0], mask.shape[1])
    # out= keeps the product in the standard layout: left alone, it would follow the permuted mask's
    # strides and the reshape below would copy it once more
    per_gate = torch.mul(mask.permute(1, 2, 0)[:, :, :, None], values.view(values.shape[0], hidden, gates, hidden),
                         out=values.new_empty(batch, hidden, gates, hidden))
    return per_gate.view(batch, hidden, gates * hidden)


def masked_weights(w_rec: torch.Tensor, mask: torch.Tensor | None, gates: int) -> np.ndarray:
    """The recurrent kernel with each sequence's mask folded in: ``[B, H, G*H]`` (``[1, H, G*H]`` unmasked).

    ``weff[b, k, g*H + j] = mask_g[b, k] * U[k, g*H + j]``, so that ``sum_g (h * mask_g) @ U_g`` is one
    matvec of length G*H per sequence, ``h @ weff[b]``, and the backward's ``sum_g (d_g @ U_g^T) * mask_g``
    is ``d @ weff[b]^T``. The masks are constant over time, so this is built once per call.
    """
    return as_array(fold_masks(w_rec.detach().unsqueeze(0), mask, gates))


def weight_grad_from_rows(per_row: torch.Tensor, mask: torch.Tensor | None, gates: int) -> torch.Tensor:
    """``dU`` from the kernels' per-sequence sums ``per_row[b] = sum_t h_{t-1}[b]^T d_t[b]`` ``[B, H, G*H]``.

    ``dU[k, g*H + j] = sum_b mask_g[b, k] * per_row[b, k, g*H + j]``: the masks enter once, not per step.
    """
    return fold_masks(per_row, mask, gates).sum(0)


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


def check_input(tensor: torch.Tensor) -> None:
    if tensor.device.type != "cpu" or tensor.dtype != torch.float32:
        raise ValueError(f"backend 'cpu' runs float32 CPU tensors, got {tensor.dtype} on {tensor.device}; "
                         "use backend='fwbw' for other dtypes or devices.")
