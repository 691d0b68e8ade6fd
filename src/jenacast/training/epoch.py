"""One training epoch: shuffled batches through the training step, the running loss read without stalling a GPU,
a progress bar, and a clear error when the loss diverges."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from jenacast.data.windows import Split
from jenacast.training.step import TrainingStep

READ_EVERY = 50  # on a GPU, batches between reads of the running loss (each read waits for the queued work)


class EpochTotals:
    """An epoch's per-batch ``[MSE, sum |error|]`` rows on the device, summed on the host in batch order
    as they are read (the sums equal those of a read per batch, bit for bit)."""

    def __init__(self, batches: int, device: torch.device):
        self.rows = torch.zeros(batches, 2, device=device)
        self.sizes: list[int] = []
        self.read = 0
        self.sq = self.ab = 0.0
        self.seen = 0

    def add(self, index: int, stats: torch.Tensor, size: int) -> None:
        self.rows[index] = stats
        self.sizes.append(size)

    def catch_up(self) -> tuple[int, float] | None:
        """Read the rows added since the last read; ``(index, loss)`` of the first non-finite loss, if any."""
        for offset, (loss, abs_sum) in enumerate(self.rows[self.read : len(self.sizes)].tolist()):
            if not math.isfinite(loss):
                return self.read + offset, loss
            size = self.sizes[self.read + offset]
            self.ab += abs_sum
            self.sq += loss * size
            self.seen += size
        self.read = len(self.sizes)
        return None

    @property
    def loss(self) -> float:
        return self.sq / max(self.seen, 1)

    @property
    def mae(self) -> float:
        return self.ab / max(self.seen, 1)


def train_epoch(
    step: TrainingStep,
    split: Split,
    *,
    batch_size: int,
    max_batches: int | None,
    shuffle_seed: int,
    device: torch.device,
    label: str,
    progress: bool,
    diverged: Callable[[int, float], Exception],
) -> EpochTotals:
    """Train on one shuffled pass over ``split`` (at most ``max_batches`` batches); returns the epoch's totals.
    ``diverged(batch, loss)`` makes the error raised when a loss is not finite."""
    from tqdm.auto import tqdm

    batches = split.num_batches(batch_size)
    if max_batches:
        batches = min(batches, max_batches)
    read_every = 1 if device.type == "cpu" else READ_EVERY  # on a CPU a read costs nothing
    totals = EpochTotals(batches, device)

    def check() -> None:
        bad = totals.catch_up()
        if bad is not None:
            raise diverged(bad[0] + 1, bad[1])

    step.model.train()
    stream = split.batches(batch_size, shuffle=True, seed=shuffle_seed, device=device)
    with tqdm(
        total=batches,
        desc=label,
        disable=None if progress else True,
        leave=False,
        unit="batch",
        dynamic_ncols=True,
    ) as bar:
        for index, (x, y) in enumerate(stream):
            if index >= batches:
                break
            totals.add(index, step(x, y), len(y))
            if (index + 1) % read_every == 0:
                check()
                bar.set_postfix(loss=f"{totals.loss:.4f}", mae=f"{totals.mae:.4f}", refresh=False)
            bar.update(1)
        check()
    return totals
