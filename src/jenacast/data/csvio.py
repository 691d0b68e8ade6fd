"""Reading and writing the Jena climate CSV format, fast and with exact error messages.

The format: a header line of quoted names (``"Date Time","p (mbar)",...``), then rows
``dd.mm.yyyy HH:MM:SS`` followed by 14 comma-separated numbers. The fast path parses the
timestamps with vectorised byte arithmetic and the numbers with numpy's C parser; when
anything looks wrong it hands over to a line-by-line scan that names the first bad line.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from jenacast._atomic import atomic_path
from jenacast.data.table import COLUMNS, DATE_COLUMN, Table
from jenacast.errors import DataError

CSV_NAME = "jena_climate_2009_2016.csv"
DATE_FORMAT = "dd.mm.yyyy HH:MM:SS"
_DATE_WIDTH = 19  # len("01.01.2009 00:10:00")
_NUM_FIELDS = 1 + len(COLUMNS)
# Byte offsets of the separators inside "dd.mm.yyyy HH:MM:SS," and of the digits.
_SEPARATORS = {2: ord("."), 5: ord("."), 10: ord(" "), 13: ord(":"), 16: ord(":"), 19: ord(",")}
_DIGITS = [i for i in range(_DATE_WIDTH) if i not in _SEPARATORS]


def load_csv(path: str | os.PathLike) -> Table:
    """Parse a Jena-format CSV file (or a zip holding one) into a :class:`Table`.

    Raises :class:`~jenacast.errors.DataError` with one sentence naming the file, the line and
    the problem when the file is missing, empty, binary, or not in the Jena format.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; give the path of the Jena climate CSV (or run `jenacast data synth`).")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the path of the Jena climate CSV file.")
    raw = path.read_bytes()
    if raw[:4] == b"PK\x03\x04":
        return parse_csv_bytes(read_zip_member(raw, str(path)), f"{path}!{CSV_NAME}")
    return parse_csv_bytes(raw, str(path))


def read_zip_member(raw: bytes, name: str) -> bytes:
    """The bytes of the Jena CSV inside a zip archive (ignoring macOS ``__MACOSX/`` entries)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise DataError(f"{name} is not a valid zip archive (corrupted or truncated).") from None
    members = [m for m in archive.namelist() if not m.startswith("__MACOSX/") and not m.endswith("/")]
    csvs = [m for m in members if m.rsplit("/", 1)[-1] == CSV_NAME] or [m for m in members if m.endswith(".csv")]
    if not csvs:
        found = ", ".join(members) or "nothing"
        raise DataError(f"{name} holds no {CSV_NAME} (found: {found}).")
    try:
        return archive.read(csvs[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # CRC errors, truncated members
        raise DataError(f"{name}: the member {csvs[0]} is corrupted ({exc}).") from None


def parse_csv_bytes(raw: bytes, name: str) -> Table:
    """Parse the text of a Jena-format CSV; ``name`` is used in error messages."""
    digest = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        raise DataError(f"{name} is empty; expected the Jena climate CSV with a header line and data rows.")
    if b"\x00" in raw[:65536]:
        raise DataError(f"{name} is a binary file, not a CSV text file.")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} is not a text CSV file (byte {exc.start} is not UTF-8).") from None
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    header, _, body = raw.partition(b"\n")
    _check_header(header.decode("utf-8"), name)
    body = body.rstrip(b"\n")
    if not body:
        raise DataError(f"{name} has a header but no data rows.")
    lines_end = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate(([0], lines_end + 1))
    if np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord(",")) != len(starts) * (_NUM_FIELDS - 1):
        _raise_first_bad_line(body, name)
    timestamps = _parse_dates(body, starts, name)
    try:
        values = np.loadtxt(io.BytesIO(body), delimiter=",", usecols=range(1, _NUM_FIELDS), dtype=np.float32, ndmin=2)
    except ValueError:
        _raise_first_bad_line(body, name)
    if values.shape[0] != len(starts):
        _raise_first_bad_line(body, name)
    finite = np.isfinite(values)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataError(
            f"{name} line {row + 2}, column {COLUMNS[col]!r}: value is {values[row, col]} (NaN or infinite); "
            "every cell must be a finite number."
        )
    return Table(timestamps=timestamps, values=values, names=COLUMNS, source=name, sha256=digest)


def _check_header(header: str, name: str) -> None:
    fields = [f.strip().strip('"') for f in header.split(",")]
    if len(fields) == 1:
        for sep, sep_name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in header:
                raise DataError(
                    f"{name} line 1: the header is separated by {sep_name}; expected a comma-separated Jena CSV."
                )
    expected = [DATE_COLUMN, *COLUMNS]
    if fields != expected:
        missing = [c for c in expected if c not in fields]
        extra = [c for c in fields if c not in expected]
        detail = []
        if missing:
            detail.append("missing " + ", ".join(repr(c) for c in missing))
        if extra:
            detail.append("unexpected " + ", ".join(repr(c) for c in extra[:5]))
        if not detail:
            detail.append("the columns are in another order")
        raise DataError(f"{name} line 1: not the Jena climate header ({'; '.join(detail)}).")


def _parse_dates(body: bytes, starts: np.ndarray, name: str) -> np.ndarray:
    """Vectorised parse of the leading ``dd.mm.yyyy HH:MM:SS,`` of every line."""
    buf = np.frombuffer(body + b"\n" * (_DATE_WIDTH + 1), dtype=np.uint8)
    chars = buf[starts[:, None] + np.arange(_DATE_WIDTH + 1)]  # [N, 20]
    ok = np.ones(len(starts), dtype=bool)
    for pos, sep in _SEPARATORS.items():
        ok &= chars[:, pos] == sep
    digits = chars[:, _DIGITS].astype(np.int64) - ord("0")
    ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    if not ok.all():
        _raise_bad_date(body, int(np.argmin(ok)), name)
    d = digits
    day, month = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3]
    year = d[:, 4] * 1000 + d[:, 5] * 100 + d[:, 6] * 10 + d[:, 7]
    hour, minute, second = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) & (minute < 60) & (second < 60)
    month_start = (year - 1970) * 12 + np.clip(month, 1, 12) - 1
    first_day = month_start.astype("datetime64[M]").astype("datetime64[D]")
    next_first = (month_start + 1).astype("datetime64[M]").astype("datetime64[D]")
    days = first_day + (day - 1)
    ok &= days < next_first  # rejects 31.02 and friends
    if not ok.all():
        _raise_bad_date(body, int(np.argmin(ok)), name)
    return days.astype("datetime64[s]") + (hour * 3600 + minute * 60 + second).astype("timedelta64[s]")


def _line(body: bytes, index: int) -> str:
    return body.split(b"\n", index + 1)[index].decode("utf-8", "replace")


def _raise_bad_date(body: bytes, index: int, name: str) -> None:
    text = _line(body, index).split(",", 1)[0]
    raise DataError(f"{name} line {index + 2}: date {text!r} is not a valid {DATE_FORMAT} timestamp.")


def _raise_first_bad_line(body: bytes, name: str) -> None:
    """Scan line by line (slow, only on failure) and raise for the first malformed line."""
    lines = body.split(b"\n")
    for index, line_bytes in enumerate(lines):
        line = line_bytes.decode("utf-8", "replace")
        fields = line.split(",")
        where = f"{name} line {index + 2}"
        if len(fields) != _NUM_FIELDS:
            hint = " (the file looks truncated)" if index == len(lines) - 1 and len(fields) < _NUM_FIELDS else ""
            raise DataError(f"{where}: found {len(fields)} fields, expected {_NUM_FIELDS}{hint}.")
        for column, cell in zip(COLUMNS, fields[1:]):
            try:
                float(cell)
            except ValueError:
                raise DataError(f"{where}, column {column!r}: {cell!r} is not a number.") from None
    raise DataError(f"{name}: could not be parsed as a Jena climate CSV.")


def format_csv(table: Table) -> bytes:
    """The table in exactly the real file's text format (numbers with two decimals)."""
    ts = table.timestamps.astype("datetime64[s]")
    days = ts.astype("datetime64[D]")
    months = ts.astype("datetime64[M]")
    years = ts.astype("datetime64[Y]").astype(np.int64) + 1970
    seconds = (ts - days).astype(np.int64)
    parts = np.column_stack(
        [
            (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
            months.astype(np.int64) % 12 + 1,
            years,
            seconds // 3600,
            seconds // 60 % 60,
            seconds % 60,
        ]
    ).tolist()
    row_format = "%02d.%02d.%04d %02d:%02d:%02d," + ",".join(["%.2f"] * table.values.shape[1])
    rows = [row_format % (*p, *v) for p, v in zip(parts, table.values.astype(np.float64).tolist())]
    header = ",".join(f'"{n}"' for n in (DATE_COLUMN, *table.names))
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def write_csv(table: Table, path: str | os.PathLike) -> str:
    """Write ``table`` atomically in the Jena CSV format; returns the file's sha256."""
    data = format_csv(table)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()
