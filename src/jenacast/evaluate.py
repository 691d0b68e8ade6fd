"""Metrics and the book's common-sense baseline."""

from __future__ import annotations

import torch

from jenacast.data.windows import Split


@torch.no_grad()
def baseline_mae(split: Split, *, batch_size: int = 8192, max_batches: int | None = None) -> float:
    """The book's common-sense baseline: predict the last input temperature of each window.

    Like the book, the prediction is the normalised input de-normalised (``x[:, -1, 1] * std + mean``),
    and the MAE is taken over every window of the split (or its first ``max_batches`` batches).
    """
    col = split.target_column
    total, seen = 0.0, 0
    for index, (x, y) in enumerate(split.batches(batch_size)):
        if max_batches is not None and index >= max_batches:
            break
        prediction = x[:, -1, col].double() * float(split.std[col]) + float(split.mean[col])
        total += (prediction - y.double()).abs().sum().item()
        seen += len(y)
    return total / seen
