"""Monte Carlo dropout (Gal and Ghahramani): predictions with the dropout masks kept on.

A model's randomness lies in its recurrent layers' masks (input and per-gate recurrent, drawn per sequence and
fixed across time steps) and in its Dropout layers. ``mc_predict`` repeats each window ``samples`` times in one
batch and runs it once with only those modules in training mode: every copy draws its own masks, as a training
call draws one set per sequence, so the samples are independent, and the fused kernels see one large batch
instead of a Python loop over samples. Under ``torch.no_grad`` nothing is saved for a backward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

# windows x samples per model call: on two CPU cores 2,048 gave 67,000 samples/s for lstm-dropout, 16,384 only
# 44,000 (the call's tensors fall out of cache; benchmarks/bench_mc.py)
ROWS_PER_CALL = 2048


def stochastic_modules(model: nn.Module) -> list[nn.Module]:
    """The modules that draw dropout masks in training mode: Dropout layers with a rate, and recurrent layers with
    an input or recurrent dropout rate."""
    found = []
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p > 0:
            found.append(module)
        elif hasattr(module, "sample_masks") and (module.dropout > 0 or module.recurrent_dropout > 0):
            found.append(module)
    return found


@contextlib.contextmanager
def sampling(model: nn.Module) -> Iterator[bool]:
    """Evaluation mode but for the stochastic modules; yields whether the model has any. Restores eval mode."""
    modules = stochastic_modules(model)
    model.eval()
    for module in modules:
        module.train()
    try:
        yield bool(modules)
    finally:
        model.eval()


@torch.no_grad()
def mc_predict(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    """``[B, samples]`` predictions for windows ``x`` ``[B, T, F]``, each with its own dropout masks, drawn from
    torch's global generator (seed it for reproducible samples). A model without dropout gives ``samples`` equal
    columns."""
    if samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}.")
    per_call = max(1, ROWS_PER_CALL // samples) * samples  # whole windows per call
    outputs = []
    with sampling(model):
        for first in range(0, len(x), per_call // samples):
            outputs.append(model(_copies(x[first : first + per_call // samples], samples)))
    return torch.cat(outputs).view(len(x), samples)


def _copies(x: torch.Tensor, samples: int) -> torch.Tensor:
    """``[B * samples, T, F]``, window b's copies at rows ``b * samples ..``; laid out time-major underneath, the
    recurrent kernels' own layout, so that their input needs no second copy."""
    return x.transpose(0, 1).repeat_interleave(samples, dim=1).transpose(0, 1)
