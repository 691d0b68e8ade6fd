"""The chapter's models, a registry by name (Deep Learning with Python, 2nd ed., chapter 10).

Every model maps windows ``[B, T, F]`` (normalised) to predictions ``[B]`` (degrees C) and starts
from Keras' default initialisation (glorot_uniform weights, zero biases; see ``rnn`` for the
recurrent layers), so it trains like the book's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from jenacast.data.calibration import BOOK_BASELINE_MAE
from jenacast.errors import ConfigError
from jenacast.rnn import GRU, LSTM, Bidirectional


def dense_layer(in_features: int, out_features: int) -> nn.Linear:
    """Keras' ``Dense``: glorot_uniform kernel, zero bias."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def conv_layer(in_channels: int, filters: int, kernel_size: int) -> nn.Conv1d:
    """Keras' ``Conv1D`` (padding "valid"): glorot_uniform over (kernel_size * channels), zero bias."""
    layer = nn.Conv1d(in_channels, filters, kernel_size)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Head(nn.Module):
    """``[B, T, F]`` -> body -> optional Dropout -> Dense(1) -> ``[B]``; ``reverse`` flips time first."""

    def __init__(self, body: nn.Module, width: int, dropout: float = 0.0, reverse: bool = False):
        super().__init__()
        self.body = body
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.out = dense_layer(width, 1)
        self.reverse = reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reverse:
            x = x.flip(1)  # the book's reversed-order experiment: windows fed last step first
        return self.out(self.dropout(self.body(x))).squeeze(-1)


class DenseBody(nn.Module):
    def __init__(self, steps: int, features: int, units: int = 16):
        super().__init__()
        self.hidden = dense_layer(steps * features, units)

    def forward(self, x):  # [B, T, F] -> [B, units]
        return torch.relu(self.hidden(x.flatten(1)))


class ConvBody(nn.Module):
    def __init__(self, features: int, filters: int = 8):
        super().__init__()
        self.convs = nn.ModuleList(
            [conv_layer(features, filters, 24), conv_layer(filters, filters, 12), conv_layer(filters, filters, 6)]
        )

    def forward(self, x):  # [B, T, F] -> [B, filters]
        # The Conv1d layers' weights, applied as 2-D convolutions over [B, F, 1, T] in channels-last memory:
        # the windows' own [B, T, F] layout, no copy. oneDNN's backward for it is much faster than Conv1d's
        # on [B, F, T], and with it the whole training step (see benchmarks/RESULTS.md).
        x = x.unsqueeze(1).permute(0, 3, 1, 2)
        pool = (1, 2)
        x = nn.functional.max_pool2d(torch.relu(self._conv(0, x)), pool)
        x = nn.functional.max_pool2d(torch.relu(self._conv(1, x)), pool)
        return torch.relu(self._conv(2, x)).mean(dim=(2, 3))  # GlobalAveragePooling1D

    def _conv(self, index: int, x: torch.Tensor) -> torch.Tensor:
        conv = self.convs[index]
        return nn.functional.conv2d(x, conv.weight.unsqueeze(2), conv.bias)


@dataclass(frozen=True)
class Shape:
    """What a sweep may change in a model: the units of its layers (a convnet's filters), the Dropout rate
    before its output, and its recurrent layers' recurrent dropout (None: it has none)."""

    units: int
    dropout: float = 0.0
    recurrent_dropout: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A chapter model: how to build it, the book's epochs, and the book's reported numbers."""

    name: str
    description: str
    epochs: int
    make: Callable[[int, int, str, Shape], nn.Module]  # (features, steps, backend, shape) -> module
    book_test_mae: float | None
    book_note: str
    quick_epochs: int  # `jenacast chapter --quick`: full epochs that fit a few minutes on two CPU cores
    shape: Shape  # the book's


# Quick mode's epochs: each model's best epoch at the book's epochs on the synthetic data (seed 0), or as near
# it as a few minutes of training in all allow on two CPU cores; dense, whose epochs are quick, keeps the
# book's 10 (the best epochs and the times: benchmarks/RESULTS.md).
def _lstm(features: int, shape: Shape, backend: str) -> LSTM:
    return LSTM(features, shape.units, recurrent_dropout=shape.recurrent_dropout, backend=backend)


QUICK = {"dense": 10, "conv": 2, "lstm": 3, "lstm-dropout": 4, "stacked-gru": 2, "bidirectional": 2, "reversed-lstm": 3}

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "dense",
            "Flatten -> Dense(16, relu) -> Dense(1)",
            10,
            lambda f, t, be, s: Head(DenseBody(t, f, s.units), s.units, dropout=s.dropout),
            None,
            "reruns: test 2.46-2.68",
            QUICK["dense"],
            Shape(16),
        ),
        ModelSpec(
            "conv",
            "Conv1D(8,24) -> MaxPool(2) -> Conv1D(8,12) -> MaxPool(2) -> Conv1D(8,6) -> GlobalAvgPool -> Dense(1)",
            10,
            lambda f, t, be, s: Head(ConvBody(f, s.units), s.units, dropout=s.dropout),
            None,
            "book: val about 2.9; reruns: test 2.85-3.27",
            QUICK["conv"],
            Shape(8),
        ),
        ModelSpec(
            "lstm",
            "LSTM(16) -> Dense(1)",
            10,
            lambda f, t, be, s: Head(_lstm(f, s, be), s.units, dropout=s.dropout),
            2.55,
            "book: val 2.39, test 2.55",
            QUICK["lstm"],
            Shape(16, 0.0, 0.0),
        ),
        ModelSpec(
            "lstm-dropout",
            "LSTM(32, recurrent_dropout=0.25) -> Dropout(0.5) -> Dense(1)",
            50,
            lambda f, t, be, s: Head(_lstm(f, s, be), s.units, dropout=s.dropout),
            2.45,
            "book: val 2.27, test 2.45",
            QUICK["lstm-dropout"],
            Shape(32, 0.5, 0.25),
        ),
        ModelSpec(
            "stacked-gru",
            "GRU(32, rd=0.5, return_sequences) -> GRU(32, rd=0.5) -> Dropout(0.5) -> Dense(1)",
            50,
            lambda f, t, be, s: Head(
                nn.Sequential(
                    GRU(f, s.units, recurrent_dropout=s.recurrent_dropout, return_sequences=True, backend=be),
                    GRU(s.units, s.units, recurrent_dropout=s.recurrent_dropout, backend=be),
                ),
                s.units,
                dropout=s.dropout,
            ),
            2.39,
            "book: test 2.39",
            QUICK["stacked-gru"],
            Shape(32, 0.5, 0.5),
        ),
        ModelSpec(
            "bidirectional",
            "Bidirectional(LSTM(16)) -> Dense(1)",
            10,
            lambda f, t, be, s: Head(Bidirectional(_lstm(f, s, be)), 2 * s.units, dropout=s.dropout),
            None,
            "book: worse than the plain LSTM; rerun: val 2.46",
            QUICK["bidirectional"],
            Shape(16, 0.0, 0.0),
        ),
        ModelSpec(
            "reversed-lstm",
            "LSTM(16) -> Dense(1) on time-reversed windows",
            10,
            lambda f, t, be, s: Head(_lstm(f, s, be), s.units, dropout=s.dropout, reverse=True),
            None,
            "book: far worse than the baseline",
            QUICK["reversed-lstm"],
            Shape(16, 0.0, 0.0),
        ),
    ]
}
BASELINE_BOOK = {"val_mae": BOOK_BASELINE_MAE["val"], "test_mae": BOOK_BASELINE_MAE["test"]}


# the conv model's three convolutions (24, 12, 6) and two poolings leave nothing of a shorter window
MIN_STEPS = {"conv": 69}


def check_steps(name: str, steps: int) -> None:
    """Refuse, in one sentence, a window too short for the model ``name``."""
    if steps < MIN_STEPS.get(name, 1):
        raise ConfigError(
            f"the {name} model needs windows of at least {MIN_STEPS[name]} readings, and these have {steps}; "
            "lengthen {lookback} or shorten {step}.",
            worded=True,
        )


def model_shape(
    name: str, *, units: int | None = None, dropout: float | None = None, recurrent_dropout: float | None = None
) -> Shape:
    """The book's shape of ``name`` with the values given instead (None keeps the book's); a value that cannot
    be, or a recurrent dropout for a model without recurrent layers, is refused in one sentence."""
    book = MODELS[name].shape
    if units is not None and (not isinstance(units, int) or isinstance(units, bool) or units < 1):
        raise ConfigError(f"{{units}} must be a positive integer, got {units!r}.", worded=True)
    for parameter, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if rate is not None and not (isinstance(rate, (int, float)) and 0 <= rate < 1):
            raise ConfigError(f"{{{parameter}}} must be a rate from 0 to below 1, got {rate!r}.", worded=True)
    if recurrent_dropout is not None and book.recurrent_dropout is None:
        raise ConfigError(f"the {name} model has no recurrent layer, so no {{recurrent_dropout}}.", worded=True)
    return Shape(
        book.units if units is None else units,
        book.dropout if dropout is None else float(dropout),
        book.recurrent_dropout if recurrent_dropout is None else float(recurrent_dropout),
    )


def build(
    name: str, num_features: int = 14, *, steps: int = 120, backend: str = "auto", shape: Shape | None = None
) -> nn.Module:
    """A fresh chapter model by name (see ``MODELS``) for windows ``[B, steps, num_features]``; ``shape``
    (:func:`model_shape`) changes its units and rates, by default the book's."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}.")
    check_steps(name, steps)
    return MODELS[name].make(num_features, steps, backend, shape or MODELS[name].shape)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
