"""Any station's table as a :class:`Table`: the columns chosen, sentinels made missing, the rows put on a regular
grid (``data.regular``), and a binary copy in the cache so that the next run loads it in milliseconds.

A file in the Jena format keeps the book's fast path and its exact rows (``data.csvio``) unless an option asks
for what only the general path does (another time column, a subset of features, sentinels made missing).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from jenacast.data.cache import cache_dir, load_binary, save_binary
from jenacast.data.csvio import load_csv
from jenacast.data.durations import format_duration, parse_duration
from jenacast.data.regular import regularise
from jenacast.data.table import COLUMNS, DATE_COLUMN, Table
from jenacast.data.tableio import find_time, read_frame
from jenacast.errors import DataError, literal

DEFAULT_TARGET = "T (degC)"
MOSTLY_MISSING = 0.5  # a column missing in more than this share of rows is left out unless named
_JENA_HEADER = ",".join(f'"{n}"' for n in (DATE_COLUMN, *COLUMNS)).encode()


def load_table(
    path: str | os.PathLike,
    *,
    time_column: str | None = None,
    target: str | None = None,
    features: tuple[str, ...] | list[str] | None = None,
    missing: tuple[float, ...] | list[float] = (),
    max_gap: str = "3h",
    cache: bool = True,
) -> Table:
    """Read a station's CSV (commas, semicolons or tabs; ``.csv``, ``.csv.gz``, ``.zip``) or Parquet table.

    ``time_column``: default the one column that parses as dates (or year/month/day/hour columns).
    ``target``: the column to forecast, kept among the features (default ``"T (degC)"``; else required).
    ``features``: default every numeric column; text columns, constant ones and those missing in more than half
    of the rows are left out (named in ``table.loading["notes"]``). ``missing``: sentinel values that mean
    "missing" (such as -9999). ``max_gap``: the longest run of missing cells filled by interpolation in time.
    Raises :class:`~jenacast.errors.DataError` with one sentence for a file that cannot serve.
    """
    path = Path(path)
    features = tuple(features) if features is not None else None
    missing = tuple(sorted(split_missing(missing), key=str))
    max_gap_seconds = parse_duration(max_gap, "max_gap")
    if _reads_as_jena(path, time_column, features, missing):
        return with_target_checked(load_csv(path), target)
    key = _cache_key(path, time_column, target, features, missing, max_gap_seconds)
    binary = cache_dir() / "tables" / f"{key}.npz" if cache and key else None
    if binary is not None and (table := load_binary(binary)) is not None:
        return table
    table = _parse(path, time_column, target, features, missing, max_gap_seconds)
    if binary is not None:
        try:
            binary.parent.mkdir(parents=True, exist_ok=True)
            save_binary(table, binary)
        except OSError:  # a read-only cache folder costs speed, not the run
            pass
    return table


def split_missing(markers) -> tuple:
    """Missing-value markers as given: numbers (sentinels such as -9999) as floats, anything else as text."""
    out = []
    for marker in markers:
        try:
            out.append(float(marker))
        except (TypeError, ValueError):
            out.append(str(marker))
    return tuple(out)


def _reads_as_jena(path: Path, time_column, features, missing) -> bool:
    """A file (or zip) in the Jena format, read with no option that only the general path honours."""
    if features is not None or missing or time_column not in (None, DATE_COLUMN) or not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            start = fh.read(len(_JENA_HEADER) + 2)
        if start[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.endswith(".csv") and not m.startswith("__MACOSX/")]
                if not members:
                    return False
                with archive.open(members[0]) as member:
                    start = member.read(len(_JENA_HEADER) + 2)
    except (OSError, zipfile.BadZipFile):
        return False  # the general path says what is wrong
    return start.split(b"\n", 1)[0].rstrip(b"\r") == _JENA_HEADER


def with_target_checked(table: Table, target: str | None) -> Table:
    """``table``, or one sentence when it has no column ``target``."""
    if target is not None and target not in table.names:
        raise DataError(
            f"{literal(table.source)} has no column {literal(repr(target))} for {{target}}; its columns are "
            f"{literal(', '.join(map(repr, table.names)))}.",
            worded=True,
        )
    return table


def _cache_key(path: Path, *options) -> str:
    try:
        stat = path.stat()
    except OSError:
        return ""
    what = [str(path.resolve()), stat.st_size, stat.st_mtime_ns, *options]
    return hashlib.sha256(json.dumps(what, default=str).encode()).hexdigest()[:32]


def _parse(path: Path, time_column, target, features, missing, max_gap_seconds: int) -> Table:
    name = str(path)
    frame, digest = read_frame(path, tuple(m for m in missing if isinstance(m, str)))
    missing = tuple(m for m in missing if not isinstance(m, str))
    seconds, time_columns = find_time(frame, time_column, name)
    notes: list[str] = []
    for column in ({target} if target else set()) | set(features or ()):
        if column in time_columns:
            raise DataError(f"{name}: {column!r} holds the times; it cannot be a feature or the target.")
    named = set(features or ()) | ({target} if target else set())
    for column in named:
        if column not in frame.columns:
            raise DataError(
                f"{name} has no column {literal(repr(column))}; its columns are "
                f"{literal(', '.join(map(repr, frame.columns)))}."
            )
    numbers, skipped = _numeric_columns(
        frame, [c for c in frame.columns if c not in time_columns], named, missing, name
    )
    if target is None:
        if DEFAULT_TARGET in skipped:
            raise DataError(
                f"{name}: the column {DEFAULT_TARGET!r} cannot be the target ({skipped[DEFAULT_TARGET]}); name its "
                "missing-value marker with {missing}, or another target with {target}.",
                worded=True,
            )
        if DEFAULT_TARGET not in numbers:
            raise DataError(
                f"{literal(name)} has no {DEFAULT_TARGET!r} column; name the column to forecast with {{target}} "
                f"(numeric columns: {literal(', '.join(map(repr, numbers)) or 'none')}).",
                worded=True,
            )
        target = DEFAULT_TARGET
    chosen = list(features) if features is not None else list(numbers)
    if target not in chosen:
        chosen.insert(0, target)
        if features is not None:
            notes.append(f"the target {target!r} was added to the features (the baseline reads it)")
    values = np.empty((len(frame), len(chosen)), dtype=np.float32)
    for index, column in enumerate(chosen):
        values[:, index] = numbers[column]
    if skipped and features is None:
        notes.append("left out: " + "; ".join(f"{c!r} ({why})" for c, why in skipped.items()))
    timestamps, grid, interval, counts = regularise(seconds, values, max_gap_seconds, name)
    if max_gap_seconds < interval:
        notes.append(
            f"max_gap {format_duration(max_gap_seconds)} is shorter than the data's interval "
            f"({format_duration(interval)}): no gap is filled"
        )
    return Table(
        timestamps=timestamps,
        values=grid,
        names=tuple(chosen),
        source=name,
        sha256=digest,
        interval=interval,
        loading={"time_column": ", ".join(time_columns), "target": target, **counts, "notes": notes},
    )


def _numeric_columns(
    frame: pd.DataFrame, columns: list[str], named: set, missing: tuple, name: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``({column: float64 values, NaN where missing}, {column left out: why})``: a feature must be numeric, not
    constant and present in at least half of the rows; a column the options name that is not is an error."""
    usable, skipped = {}, {}
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            cells = pd.Series(series.to_numpy(dtype=object, na_value=None))
            coerced = pd.to_numeric(cells, errors="coerce")
            text = (coerced.isna() & cells.notna() & (cells.astype(str).str.strip() != "")).to_numpy(dtype=bool)
            if text.any():
                if column in named:
                    row = int(np.argmax(text))
                    raise DataError(
                        f"{name}: the column {column!r} is not numeric (data row {row + 1} holds {cells[row]!r})."
                    )
                skipped[column] = "text"
                continue
            series = coerced
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if missing:
            values = np.where(np.isin(values, missing), np.nan, values)
        present = ~np.isnan(values)
        if not present.any():
            why = "every cell missing"
        elif np.nanmin(values) == np.nanmax(values):
            why = f"constant {np.nanmin(values):g}"
        elif present.mean() < 1 - MOSTLY_MISSING:
            why = f"missing in {1 - present.mean():.0%} of rows"
        else:
            usable[column] = values
            continue
        if column in named and not why.startswith("missing in"):
            raise DataError(f"{name}: the column {column!r} cannot be learned from ({why}).")
        if column in named:
            usable[column] = values
        else:
            skipped[column] = why
    return usable, skipped
