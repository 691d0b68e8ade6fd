"""Reading any station's table (CSV with commas, semicolons or tabs; ``.csv.gz``, ``.zip``; Parquet) and finding
its time column. pandas (with pyarrow) does the parsing; this module only chooses and explains."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jenacast.data.csvio import read_zip_member
from jenacast.data.regular import NO_TIME
from jenacast.errors import DataError, literal

PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}
DATE_PARTS = ("year", "month", "day")  # with optional hour and minute columns: a time in separate columns
# formats a text time column may have, tried in turn on a sample: ISO 8601 (with or without a zone), the Jena file's
TIME_FORMATS = ("ISO8601", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M", "%Y%m%d%H%M")
_SAMPLE = 50


def read_frame(path: Path, missing_text: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    """The file's table as a DataFrame and the sha256 of the file's bytes; ``missing_text``: cell texts that mean
    missing, besides the empty cell, NA, NaN and null (such as NOAA's ``---``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; give the path of a CSV or Parquet table.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV or Parquet table.")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    name = str(path)
    if not raw.strip():
        raise DataError(f"{name} is empty; expected a table with a header line and data rows.")
    if path.suffix.lower() in PARQUET_SUFFIXES or raw[:4] == b"PAR1":
        try:
            frame = pd.read_parquet(io.BytesIO(raw), dtype_backend="pyarrow")
            if not isinstance(frame.index, pd.RangeIndex):  # the times may be the index (pandas' own habit)
                frame = frame.reset_index()
            return frame, digest
        except Exception as exc:  # pyarrow raises its own kinds for every sort of damage
            raise DataError(f"{name} is not a readable Parquet file ({_first_line(exc)}).") from None
    if raw[:4] == b"PK\x03\x04":
        raw = read_zip_member(raw, name)
    elif raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{name} is not a valid gzip file ({exc}).") from None
    return _read_csv(raw, name, missing_text), digest


def _read_csv(raw: bytes, name: str, missing_text: tuple[str, ...] = ()) -> pd.DataFrame:
    if b"\x00" in raw[:65536]:
        raise DataError(f"{name} is a binary file, not a CSV text file.")
    try:
        raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"  # many national weather services' exports
    header = raw.split(b"\n", 1)[0].decode(encoding)
    separator = max(SEPARATORS, key=header.count)
    if not raw.split(b"\n", 1)[1:] or not raw.split(b"\n", 1)[1].strip():
        raise DataError(f"{name} has a header but no data rows.")
    # a semicolon file whose numbers have decimal commas (10,5), as German and French exports write them
    decimal = "," if separator == ";" and re.search(rb"\d,\d", raw[:65536]) else "."
    options = {"sep": separator, "encoding": encoding, "decimal": decimal}
    if missing_text:
        options["na_values"] = list(missing_text)
    try:  # pyarrow's reader, keeping Arrow columns, is several times faster; pandas' own names a bad line
        frame = pd.read_csv(io.BytesIO(raw), engine="pyarrow", dtype_backend="pyarrow", **options)
    except Exception:
        try:
            frame = pd.read_csv(io.BytesIO(raw), skipinitialspace=True, **options)
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{name} could not be read as a table of {SEPARATORS[separator]} ({_first_line(exc)}).")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _first_line(exc: Exception) -> str:
    return literal(str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__)


def find_time(frame: pd.DataFrame, time_column: str | None, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(seconds since 1970 UTC as int64 [N] (``NO_TIME`` where a row has no time), the columns the times came from)``.

    The time column is ``time_column`` when given; else the one column that parses as dates, or separate
    year/month/day(/hour/minute) columns. Zone-aware times are converted to UTC; naive ones are kept as they are."""
    if time_column is not None:
        if time_column not in frame.columns:
            raise DataError(
                f"{literal(name)} has no column {literal(repr(time_column))} for {{time_column}}; its columns are "
                f"{literal(_names(frame.columns))}.",
                worded=True,
            )
        times = _parse_times(frame[time_column])
        if times is None:
            raise DataError(
                f"{name}: the column {literal(repr(time_column))} does not hold dates (e.g. "
                f"{literal(repr(_example(frame[time_column])))}); expected ISO 8601 or dd.mm.yyyy HH:MM:SS.",
            )
        return times, (time_column,)
    parts = _date_part_columns(frame)
    if parts:
        return _compose_times(frame, parts, name), tuple(parts.values())
    found = {}
    for column in frame.columns:
        if (
            pd.api.types.is_datetime64_any_dtype(frame[column])
            or pd.api.types.is_object_dtype(frame[column])
            or (pd.api.types.is_string_dtype(frame[column]))
        ):
            times = _parse_times(frame[column])
            if times is not None:
                found[column] = times
    if len(found) == 1:
        ((column, times),) = found.items()
        return times, (column,)
    if found:
        raise DataError(
            f"{literal(name)} has several columns that parse as dates ({literal(_names(found))}); choose one with "
            "{time_column}.",
            worded=True,
        )
    raise DataError(
        f"{literal(name)} has no column that parses as dates (ISO 8601, dd.mm.yyyy HH:MM:SS, or separate year, month, "
        f"day and hour columns); its columns are {literal(_names(frame.columns))}; name one with {{time_column}}.",
        worded=True,
    )


def _names(columns) -> str:
    return ", ".join(map(repr, list(columns)[:12])) + (", ..." if len(columns) > 12 else "")


def _example(series: pd.Series):
    present = series.dropna()
    return present.iloc[0] if len(present) else None


def _parse_times(series: pd.Series) -> np.ndarray | None:
    """The column as int64 seconds (UTC), ``NO_TIME`` where empty; None when it does not hold dates."""
    if pd.api.types.is_datetime64_any_dtype(series) or _is_arrow_date(series):
        return _to_seconds(series)
    if pd.api.types.is_integer_dtype(series):  # DWD's MESS_DATUM: yyyymmddHH(MM) as a number
        return _parse_digit_times(series)
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return None
    sample = series.dropna().astype(str).head(_SAMPLE)
    if sample.empty or not sample.str.contains(r"\d[-./:T ]\d|^\d{12}$", regex=True).all():
        return None
    for fmt in TIME_FORMATS:
        try:
            pd.to_datetime(sample, format=fmt, utc=True)
        except (ValueError, TypeError, OverflowError):
            continue
        if fmt == "ISO8601":  # zones and precisions vary: pandas' parser
            parsed = pd.to_datetime(series, format=fmt, utc=True, errors="coerce")
            seconds = _to_seconds(parsed)
        else:  # one fixed format: Arrow's strptime, twenty times faster on a million rows
            text = pa.array(series, type=pa.string(), from_pandas=True)
            parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
            seconds = pc.fill_null(parsed.cast(pa.int64()), NO_TIME).to_numpy(zero_copy_only=False)
        bad = (seconds == NO_TIME) & series.notna().to_numpy()
        if bad.mean() > 0.5:
            return None
        return seconds  # rows whose time does not parse have none: they are left out, and counted
    return None


DIGIT_FORMATS = {8: "%Y%m%d", 10: "%Y%m%d%H", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}


def _is_arrow_date(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_date(series.dtype.pyarrow_dtype)


def _parse_digit_times(series: pd.Series) -> np.ndarray | None:
    """Whole numbers written as dates (``2020010113``), when all have the same 8, 10, 12 or 14 digits and parse."""
    present = series.dropna()
    if present.empty:
        return None
    digits = {len(str(int(v))) for v in present.head(_SAMPLE)}
    if len(digits) != 1 or (width := digits.pop()) not in DIGIT_FORMATS:
        return None
    text = pa.array(series.astype("string"), type=pa.string(), from_pandas=True)
    parsed = pc.strptime(text, format=DIGIT_FORMATS[width], unit="s", error_is_null=True)
    seconds = pc.fill_null(parsed.cast(pa.int64()), NO_TIME).to_numpy(zero_copy_only=False)
    return None if ((seconds == NO_TIME) & series.notna().to_numpy()).mean() > 0.01 else seconds


def _to_seconds(series: pd.Series) -> np.ndarray:
    """Datetimes or dates (any unit; zone-aware ones in UTC) as int64 seconds since 1970, ``NO_TIME`` where
    missing."""
    if isinstance(series.dtype, pd.ArrowDtype):
        values = pa.array(series)
        if pa.types.is_date(values.type):  # a daily file's date column
            values = values.cast(pa.timestamp("s"))
        if getattr(values.type, "tz", None) is not None:
            values = values.cast(pa.timestamp(values.type.unit))  # Arrow keeps UTC instants: drop only the zone
        seconds = pc.fill_null(values.cast(pa.timestamp("s"), safe=False).cast(pa.int64()), NO_TIME)
        return seconds.to_numpy(zero_copy_only=False)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = series.to_numpy(dtype="datetime64[s]", na_value=np.datetime64("NaT")).astype(np.int64)
    return np.where(series.isna().to_numpy(), NO_TIME, seconds)


def _date_part_columns(frame: pd.DataFrame) -> dict[str, str]:
    """``{"year": column, "month": ..., "day": ..., "hour": ..., "minute": ...}`` when the date lies in parts."""
    lower = {str(c).lower(): c for c in frame.columns}
    if not all(part in lower for part in DATE_PARTS):
        return {}
    parts = {part: lower[part] for part in (*DATE_PARTS, "hour", "minute") if part in lower}
    if "hour" not in parts and "time" in lower:  # a separate HH:MM column beside the date's parts
        parts["time"] = lower["time"]
    return parts


def _compose_times(frame: pd.DataFrame, parts: dict[str, str], name: str) -> np.ndarray:
    try:
        numbers = {
            part: pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
            for part, column in parts.items()
            if part != "time"
        }
        if "time" in parts:
            clock = frame[parts["time"]].astype(str).str.split(":", expand=True)  # HH:MM or HH:MM:SS
            numbers["hour"] = pd.to_numeric(clock[0], errors="raise").to_numpy(dtype=np.float64)
            numbers["minute"] = pd.to_numeric(clock[1], errors="raise").to_numpy(dtype=np.float64)
        parsed = pd.to_datetime(pd.DataFrame(numbers), errors="raise")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(
            f"{name}: the columns {literal(_names(parts.values()))} do not make valid dates ({_first_line(exc)})."
        ) from None
    return _to_seconds(parsed)
