"""Monte Carlo dropout (Gal and Ghahramani): predictions with the dropout masks kept on.

A model's randomness lies in its recurrent layers' masks (input and per-gate recurrent, drawn per sequence and
fixed across time steps) and in its Dropout layers. ``mc_predict`` repeats each window ``samples`` times in one
batch and runs it once with only those modules in training mode: every copy draws its own masks, as a training
call draws one set per sequence, so the samples are independent, and the fused kernels see one large batch
instead of a Python loop over samples. Under ``torch.no_grad`` nothing is saved for a backward pass.

Where a recurrent layer reads the model's input row by row (:func:`input_layer`), it is given each window once
and runs ``samples`` sequences per row (``input_copies``): without input dropout the window's input projection,
a third of an LSTM(32)'s products on 14 features, is then made once instead of once per sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from jenacast.models import Head
from jenacast.rnn import GRU, LSTM

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


def input_layer(model: nn.Module) -> LSTM | GRU | None:
    """The recurrent layer that reads a :class:`~jenacast.models.Head` model's input directly (its body, or the
    body's first module), if there is one."""
    body = getattr(model, "body", None) if isinstance(model, Head) else None
    if isinstance(body, nn.Sequential) and len(body):
        body = body[0]
    return body if isinstance(body, (LSTM, GRU)) else None


@contextlib.contextmanager
def _input_copies(layer: LSTM | GRU | None, samples: int) -> Iterator[bool]:
    """``layer`` running ``samples`` sequences per input row; yields whether the input goes in once per window."""
    if layer is None:
        yield False
        return
    layer.input_copies = samples
    try:
        yield True
    finally:
        del layer.input_copies  # back to the class's 1


@torch.no_grad()
def mc_predict(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    """``[B, samples]`` predictions for windows ``x`` ``[B, T, F]``, each with its own dropout masks, drawn from
    torch's global generator (seed it for reproducible samples). A model without dropout gives ``samples`` equal
    columns."""
    if samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}.")
    windows = max(1, ROWS_PER_CALL // samples)  # whole windows per call
    outputs = []
    with sampling(model), _input_copies(input_layer(model), samples) as once:
        for first in range(0, len(x), windows):
            chunk = x[first : first + windows]
            outputs.append(model(chunk if once else _copies(chunk, samples)))
    return torch.cat(outputs).view(len(x), samples)


def _copies(x: torch.Tensor, samples: int) -> torch.Tensor:
    """``[B * samples, T, F]``, window b's copies at rows ``b * samples ..``; laid out time-major underneath, the
    recurrent kernels' own layout, so that their input needs no second copy."""
    return x.transpose(0, 1).repeat_interleave(samples, dim=1).transpose(0, 1)
