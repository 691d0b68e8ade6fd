"""Choosing the dataset a run trains on (the real Jena data, the synthetic one, or any station's table) and
cutting its windows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from jenacast.data.durations import format_duration, window_spec
from jenacast.data.jena import cached, download, load_jena
from jenacast.data.options import DataOptions
from jenacast.data.station import DEFAULT_TARGET, load_table, with_target_checked
from jenacast.data.synthetic import generate_synthetic
from jenacast.data.table import DATE_COLUMN, Table
from jenacast.data.windows import Splits, WindowSpec, make_splits
from jenacast.errors import DataError

CHOICES = ("auto", "jena", "synthetic")  # or the path of a station's table


@dataclass(frozen=True, eq=False)
class Dataset:
    """A table, the column to forecast, the windows, and what reports and run folders record about them."""

    table: Table
    name: str  # "jena", "synthetic" or the file's full path
    synthetic: bool
    sha256: str  # of the file, or of the generated arrays
    target: str = DEFAULT_TARGET
    spec: WindowSpec = WindowSpec()
    options: DataOptions = DataOptions()
    note: str = ""  # why "auto" chose what it chose

    @property
    def target_column(self) -> int:
        return self.table.names.index(self.target)

    @property
    def jena(self) -> bool:
        """The real Jena record or its synthetic stand-in: the book's numbers apply."""
        return self.name in ("jena", "synthetic")

    @cached_property
    def splits(self) -> Splits:
        """The book's three splits of the table's windows (made once)."""
        return make_splits(self.table, target_column=self.target_column, spec=self.spec)

    def loading_note(self) -> str:
        """What loading a station's table did, in one line ("" for the Jena format, read as it is)."""
        loading = self.table.loading
        if not loading:
            return ""
        parts = [f"one row every {format_duration(self.table.interval)}"]
        for key, words in (
            ("duplicated_times", "duplicated times dropped"),
            ("steps_back_in_time", "rows out of order sorted"),
            ("off_grid", "times moved onto the grid"),
            ("filled_cells", "missing cells filled"),
            ("unfilled_cells", "cells left missing (gaps over max_gap)"),
        ):
            if loading.get(key):
                parts.append(f"{loading[key]:,} {words}")
        if self.splits.dropped:
            parts.append(f"{self.splits.dropped:,} windows dropped (they touch those)")
        return "; ".join(parts + loading.get("notes", []))

    def info_window(self) -> dict:
        """The window in time (as given) and in rows (for the table's interval)."""
        return {
            "lookback": self.options.lookback,
            "step": self.options.step,
            "horizon": self.options.horizon,
            "sampling_rate": self.spec.sampling_rate,
            "sequence_length": self.spec.sequence_length,
            "horizon_rows": self.spec.horizon,
        }

    def info(self) -> dict:
        """What a run folder records of its data (and compares on resume and evaluate)."""
        return {
            "name": self.name,
            "rows": len(self.table),
            "columns": list(self.table.names),
            "sha256": self.sha256,
            "synthetic": self.synthetic,
            "target": self.target,
            "interval_seconds": self.table.interval,
            "window": self.info_window(),
            "loading": {**self.table.loading, "dropped_windows": self.splits.dropped},
        }


def fingerprint(table: Table) -> str:
    """The file's sha256, or for a table made in memory a sha256 of its arrays."""
    if table.sha256:
        return table.sha256
    digest = hashlib.sha256(table.values.tobytes())
    digest.update(table.timestamps.astype("int64").tobytes())
    return digest.hexdigest()


def open_dataset(options: DataOptions | str = DataOptions(), *, progress: bool = True) -> Dataset:
    """The dataset ``options`` describe; ``"auto"`` uses the real data when cached or downloadable and otherwise
    the synthetic dataset. Raises :class:`~jenacast.errors.DataError` for data that cannot serve."""
    if isinstance(options, str):
        options = DataOptions(dataset=options)
    choice, note = options.dataset, ""
    if choice == "auto":
        if cached() is not None:
            choice = "jena"
        else:
            try:
                download(progress=progress, timeout=15)
                choice = "jena"
            except DataError as exc:
                choice = "synthetic"
                note = f"the real Jena data is not cached and could not be downloaded ({exc})"
    if choice in ("synthetic", "jena"):
        _refuse_table_options(options, choice)
        table = generate_synthetic(0) if choice == "synthetic" else load_jena(progress=progress)
    else:
        table = load_table(
            choice,
            time_column=options.time_column,
            target=options.target,
            features=options.features,
            missing=options.missing,
            max_gap=options.max_gap,
        )
        choice = str(Path(choice).resolve())  # what a run records: the file, wherever the next command runs
    if options.clean_wind:
        table = table.with_wind_sentinels_replaced()
    target = options.target or DEFAULT_TARGET
    with_target_checked(table, target)
    spec = window_spec(table.interval, options.lookback, options.step, options.horizon)
    return Dataset(table, choice, choice == "synthetic", fingerprint(table), target, spec, options, note)


def _refuse_table_options(options: DataOptions, choice: str) -> None:
    """The Jena data (real or synthetic) has its own columns and times: reading options do not apply."""
    given = [name for name in ("time_column", "features", "missing") if getattr(options, name) not in (None, ())]
    if options.time_column == DATE_COLUMN:
        given.remove("time_column")
    if given:
        raise DataError(
            f"{{{given[0]}}} is for a station's own table; the {choice} dataset has the Jena file's columns.",
            worded=True,
        )
