"""The book's windows: splits, normalisation and batches by index arithmetic.

Dimension letters: N rows of the table, F features, B batch, T time steps per window.

The book builds its datasets with ``keras.utils.timeseries_dataset_from_array(raw_data[:-delay],
targets=temperature[delay:], sampling_rate=6, sequence_length=120, start_index=s, end_index=e)``.
With Keras 3 that yields, for the split ``[s, e)``, windows ``p = 0 .. e - s - (T-1)*sampling_rate - 1``
whose rows are ``s + p + k*sampling_rate`` (k < T) and whose target is ``temperature[s + p + delay]``.
Nothing here copies windows: a batch is gathered from the normalised rows, regrouped once per split
by phase so that each window's rows lie together (:meth:`Split._tensors`).

A station's table may hold NaN where data is missing over a long gap (``data.regular``): the statistics then
ignore the missing cells, and a window whose rows (from its first input row to its last) or target touch one
is dropped; the splits' bounds stay the book's. A table without NaN gets exactly the book's windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from jenacast.data.table import TEMPERATURE_COLUMN, Table
from jenacast.errors import DataError


@dataclass(frozen=True)
class WindowSpec:
    """How windows are cut: every ``sampling_rate``-th row, ``sequence_length`` of them, and a target
    ``horizon`` rows after the last input row. The book: 6, 120, 144 (hourly, 5 days, 24 h ahead)."""

    sampling_rate: int = 6
    sequence_length: int = 120
    horizon: int = 144

    def __post_init__(self) -> None:
        for name in ("sampling_rate", "sequence_length", "horizon"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"WindowSpec.{name} must be a positive integer, got {value!r}.")

    @property
    def span(self) -> int:
        """Rows from a window's first input row to its last: ``sampling_rate * (sequence_length - 1)``."""
        return self.sampling_rate * (self.sequence_length - 1)

    @property
    def delay(self) -> int:
        """The book's ``delay``: rows from a window's first input row to its target (858 for the book)."""
        return self.span + self.horizon


class Split:
    """One of train / val / test: ``len()`` windows starting at row ``start`` of the shared array.

    Window ``p`` reads rows ``start + p + k*sampling_rate`` (k < T) of the normalised array and
    predicts the raw target column at row ``start + p + delay``.
    """

    def __init__(
        self,
        name: str,
        data: torch.Tensor,
        targets: torch.Tensor,
        start: int,
        count: int,
        spec: WindowSpec,
        target_column: int,
        mean: np.ndarray,
        std: np.ndarray,
        kept: np.ndarray | None = None,
    ):
        """``count`` windows from ``start``; ``kept``, when given, the positions among them that are used
        (the others touch missing data)."""
        self.name = name
        self.data = data  # [N, F] float32, normalised, shared by the three splits
        self.targets = targets  # [N] float32, the raw target column (degrees C)
        self.start = start
        self.count = count if kept is None else len(kept)
        self.dropped = 0 if kept is None else count - len(kept)
        self._kept = None if kept is None else torch.from_numpy(np.asarray(kept, dtype=np.int64))
        self.spec = spec
        self.target_column = target_column
        self.mean = mean
        self.std = std
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._rows = count + spec.span  # the rows the split's windows read, from its start
        self._per_phase = -(-self._rows // spec.sampling_rate)  # each phase's rows once regrouped (see _tensors)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"Split({self.name!r}, windows={self.count}, start={self.start})"

    def num_batches(self, batch_size: int = 256) -> int:
        return -(-self.count // batch_size)

    def _tensors(self, device: torch.device | str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(windows, targets)`` on ``device``: made once per device, then reused by every epoch.

        ``windows`` is every window as a view ``[rate * L - T + 1, T, F]`` over this split's rows regrouped
        by phase (``[rate, L, F]``: row ``start + k + i * rate`` at ``[k, i]``), so that each window's rows
        lie together in memory: window ``p`` starts at ``(p % rate) * L + p // rate`` (see :meth:`gather`).
        A batch is then 256 contiguous copies, several times faster (cold) than gathering the same windows
        from a strided view of the table (see benchmarks/RESULTS.md)."""
        key = str(torch.device(device) if device is not None else self.data.device)
        if key not in self._on_device:
            steps, rate, features = self.spec.sequence_length, self.spec.sampling_rate, self.data.shape[1]
            per_phase = self._per_phase
            phased = torch.zeros(rate, per_phase, features, dtype=self.data.dtype)
            for phase in range(rate):
                own = self.data[self.start + phase : self.start + self._rows : rate]
                phased[phase, : len(own)] = own
            phased = phased.to(key).reshape(rate * per_phase, features)
            windows = phased.as_strided((rate * per_phase - steps + 1, steps, features), (features, features, 1))
            self._on_device[key] = (windows, self.targets.to(key))
        return self._on_device[key]

    def window_order(self, shuffle: bool = False, seed: int | None = None) -> torch.Tensor:
        """Window indices ``p`` in the order batches visit them."""
        if not shuffle:
            return torch.arange(self.count) if self._kept is None else self._kept
        generator = torch.Generator()
        generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
        order = torch.randperm(self.count, generator=generator)
        return order if self._kept is None else self._kept[order]

    def gather(
        self, positions: torch.Tensor, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The windows ``positions`` as ``(x [B, T, F], y [B])``."""
        windows, targets = self._tensors(device)
        starts, target_rows = self._locate(positions.to(windows.device))
        return torch.index_select(windows, 0, starts), targets[target_rows]

    def _locate(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where windows ``positions`` start in the regrouped rows (see :meth:`_tensors`), and their targets' rows."""
        rate = self.spec.sampling_rate
        starts = (positions % rate) * self._per_phase + torch.div(positions, rate, rounding_mode="floor")
        return starts, self.start + positions + self.spec.delay

    def batches(
        self,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        device: torch.device | str | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x [B, T, F] float32 normalised, y [B] float32 degrees C)``; the last batch may be partial.

        With ``shuffle=False`` the batches equal Keras 3's ``timeseries_dataset_from_array`` for the
        book's code, in order. ``seed`` makes a shuffled order reproducible.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        # the order goes to the device once (a host-to-device copy per batch would wait for the GPU each time),
        # and the whole epoch's window starts are computed at once: a batch is then two gathers, not eight kernels
        windows, targets = self._tensors(device)
        starts, target_rows = self._locate(self.window_order(shuffle, seed).to(windows.device))
        for first in range(0, self.count, batch_size):
            last = first + batch_size
            yield torch.index_select(windows, 0, starts[first:last]), targets[target_rows[first:last]]


@dataclass(frozen=True)
class Splits:
    """The three splits and the normalisation statistics (over the training rows)."""

    train: Split
    val: Split
    test: Split
    mean: np.ndarray
    std: np.ndarray
    spec: WindowSpec
    target_column: int

    @property
    def dropped(self) -> int:
        """Windows left out of the three splits because they touch missing data."""
        return self.train.dropped + self.val.dropped + self.test.dropped


def split_bounds(n: int, spec: WindowSpec = WindowSpec(), fractions: tuple[float, float] = (0.5, 0.25)) -> dict:
    """``{name: (start, end, windows)}`` of the book's three splits over ``n`` rows (windows may be < 1)."""
    num_train, num_val = int(fractions[0] * n), int(fractions[1] * n)
    usable = n - spec.delay  # len(raw_data[:-delay]) == len(temperature[delay:])
    bounds = {"train": (0, num_train), "val": (num_train, num_train + num_val), "test": (num_train + num_val, usable)}
    return {
        name: (start, end, min(min(end, usable) - start - spec.span, usable)) for name, (start, end) in bounds.items()
    }


def minimum_rows(spec: WindowSpec = WindowSpec(), fractions: tuple[float, float] = (0.5, 0.25)) -> int:
    """The fewest rows for which each of the three splits holds a window (6,287 for the book's windows)."""
    n = spec.delay
    while min(windows for _, _, windows in split_bounds(n, spec, fractions).values()) < 1:
        n += 1
    return n


def make_splits(
    values: np.ndarray | Table,
    *,
    target_column: int = TEMPERATURE_COLUMN,
    spec: WindowSpec = WindowSpec(),
    fractions: tuple[float, float] = (0.5, 0.25),
) -> Splits:
    """Split rows as the book does: ``num_train = int(f0*N)``, ``num_val = int(f1*N)``, test the rest;
    normalise every row with the mean and std (ddof=0) of the training rows; cut windows per split."""
    names = values.names if isinstance(values, Table) else None
    if isinstance(values, Table):
        values = values.values
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D [rows, features] array, got shape {values.shape}.")
    n, f = values.shape
    if not -f <= target_column < f:
        raise ValueError(f"target_column {target_column} is out of range for {f} features.")
    target_column %= f
    train_frac, val_frac = fractions
    if not (0 < train_frac and 0 < val_frac and train_frac + val_frac < 1):
        raise ValueError(f"fractions must be two positive numbers with a sum below 1, got {fractions!r}.")
    bounds = split_bounds(n, spec, fractions)
    for name, (start, end, count) in bounds.items():
        if count < 1:
            raise DataError(
                f"the {name} split has no complete window: {n:,} rows leave rows [{start}, {end}) for it, fewer than "
                f"the {spec.span + 1:,} one window spans (plus a delay of {spec.delay:,}); these windows need at least "
                f"{minimum_rows(spec, fractions):,} rows."
            )
    num_train = int(train_frac * n)
    raw = values.astype(np.float64)
    missing = np.isnan(raw)
    gaps = bool(missing.any())
    if gaps:
        _check_trainable(missing[:num_train], names)
        mean, std = np.nanmean(raw[:num_train], axis=0), np.nanstd(raw[:num_train], axis=0)
    else:  # the book's arithmetic, bit for bit
        mean, std = raw[:num_train].mean(axis=0), raw[:num_train].std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant column would divide by zero
    normalised = (raw - mean) / std
    if gaps:
        normalised[missing] = 0.0  # never read: the windows that touch it are dropped
    data = torch.from_numpy(normalised.astype(np.float32))
    targets = torch.from_numpy(values[:, target_column].astype(np.float32))
    splits = {}
    for name, (start, _, count) in bounds.items():
        kept = _windows_clear_of(missing, target_column, start, count, spec) if gaps else None
        if kept is not None and not len(kept):
            raise DataError(
                f"every window of the {name} split touches missing data (a gap longer than max_gap); the table "
                "has too little continuous data there."
            )
        splits[name] = Split(
            name,
            data,
            targets,
            start,
            count,
            spec,
            target_column,
            mean.astype(np.float32),
            std.astype(np.float32),
            kept,
        )
    return Splits(
        **splits, mean=mean.astype(np.float32), std=std.astype(np.float32), spec=spec, target_column=target_column
    )


def _check_trainable(missing_in_train: np.ndarray, names: tuple[str, ...] | None) -> None:
    empty = np.flatnonzero(missing_in_train.all(axis=0))
    if len(empty):
        column = repr(names[empty[0]]) if names else f"feature {empty[0]}"
        raise DataError(f"the column {column} has no value in the training rows (the first half of the table).")


def _windows_clear_of(missing: np.ndarray, target_column: int, start: int, count: int, spec: WindowSpec) -> np.ndarray:
    """The positions ``p < count`` of the split's windows whose rows ``start + p .. start + p + span`` and target
    row ``start + p + delay`` hold no missing cell."""
    bad_rows = np.concatenate(([0], np.cumsum(missing.any(axis=1))))
    first = start + np.arange(count)
    touches = bad_rows[first + spec.span + 1] - bad_rows[first] > 0
    touches |= missing[first + spec.delay, target_column]
    return np.flatnonzero(~touches)
