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
    def __init__(self, steps: int, features: int):
        super().__init__()
        self.hidden = dense_layer(steps * features, 16)

    def forward(self, x):  # [B, T, F] -> [B, 16]
        return torch.relu(self.hidden(x.flatten(1)))


class ConvBody(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.convs = nn.ModuleList([conv_layer(features, 8, 24), conv_layer(8, 8, 12), conv_layer(8, 8, 6)])

    def forward(self, x):  # [B, T, F] -> [B, 8]
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
class ModelSpec:
    """A chapter model: how to build it, the book's epochs, and the book's reported numbers."""

    name: str
    description: str
    epochs: int
    make: Callable[[int, int, str], nn.Module]  # (features, steps, backend) -> module
    book_test_mae: float | None
    book_note: str
    quick_epochs: int  # `jenacast chapter --quick`: full epochs that fit a few minutes on two CPU cores


# Quick mode's epochs: each model's best epoch at the book's epochs on the synthetic data (seed 0), or as near
# it as a few minutes of training in all allow on two CPU cores; dense, whose epochs are quick, keeps the
# book's 10 (the best epochs and the times: benchmarks/RESULTS.md).
QUICK = {"dense": 10, "conv": 2, "lstm": 3, "lstm-dropout": 4, "stacked-gru": 2, "bidirectional": 2, "reversed-lstm": 3}

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "dense",
            "Flatten -> Dense(16, relu) -> Dense(1)",
            10,
            lambda f, t, be: Head(DenseBody(t, f), 16),
            None,
            "reruns: test 2.46-2.68",
            QUICK["dense"],
        ),
        ModelSpec(
            "conv",
            "Conv1D(8,24) -> MaxPool(2) -> Conv1D(8,12) -> MaxPool(2) -> Conv1D(8,6) -> GlobalAvgPool -> Dense(1)",
            10,
            lambda f, t, be: Head(ConvBody(f), 8),
            None,
            "book: val about 2.9; reruns: test 2.85-3.27",
            QUICK["conv"],
        ),
        ModelSpec(
            "lstm",
            "LSTM(16) -> Dense(1)",
            10,
            lambda f, t, be: Head(LSTM(f, 16, backend=be), 16),
            2.55,
            "book: val 2.39, test 2.55",
            QUICK["lstm"],
        ),
        ModelSpec(
            "lstm-dropout",
            "LSTM(32, recurrent_dropout=0.25) -> Dropout(0.5) -> Dense(1)",
            50,
            lambda f, t, be: Head(LSTM(f, 32, recurrent_dropout=0.25, backend=be), 32, dropout=0.5),
            2.45,
            "book: val 2.27, test 2.45",
            QUICK["lstm-dropout"],
        ),
        ModelSpec(
            "stacked-gru",
            "GRU(32, rd=0.5, return_sequences) -> GRU(32, rd=0.5) -> Dropout(0.5) -> Dense(1)",
            50,
            lambda f, t, be: Head(
                nn.Sequential(
                    GRU(f, 32, recurrent_dropout=0.5, return_sequences=True, backend=be),
                    GRU(32, 32, recurrent_dropout=0.5, backend=be),
                ),
                32,
                dropout=0.5,
            ),
            2.39,
            "book: test 2.39",
            QUICK["stacked-gru"],
        ),
        ModelSpec(
            "bidirectional",
            "Bidirectional(LSTM(16)) -> Dense(1)",
            10,
            lambda f, t, be: Head(Bidirectional(LSTM(f, 16, backend=be)), 32),
            None,
            "book: worse than the plain LSTM; rerun: val 2.46",
            QUICK["bidirectional"],
        ),
        ModelSpec(
            "reversed-lstm",
            "LSTM(16) -> Dense(1) on time-reversed windows",
            10,
            lambda f, t, be: Head(LSTM(f, 16, backend=be), 16, reverse=True),
            None,
            "book: far worse than the baseline",
            QUICK["reversed-lstm"],
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


def build(name: str, num_features: int = 14, *, steps: int = 120, backend: str = "auto") -> nn.Module:
    """A fresh chapter model by name (see ``MODELS``) for windows ``[B, steps, num_features]``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}.")
    check_steps(name, steps)
    return MODELS[name].make(num_features, steps, backend)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
