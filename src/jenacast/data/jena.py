"""The real Jena climate dataset: mirrors, download with fallback, validation and cache.

The book's file (``jena_climate_2009_2016.csv``, Max Planck Institute for Biogeochemistry,
10-minute observations 2009-2016) has no published checksum, so a download is accepted when
its structure is right (header, 14 numeric columns, 420,000-421,000 rows, parseable dates)
and its sha256 is recorded beside the cached copy.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jenacast._atomic import atomic_path, write_text
from jenacast.data.cache import cache_dir, load_binary, save_binary
from jenacast.data.csvio import CSV_NAME, parse_csv_bytes, read_zip_member
from jenacast.data.table import Table
from jenacast.errors import DataError, DownloadError

MIRRORS: tuple[str, ...] = (
    "https://s3.amazonaws.com/keras-datasets/jena_climate_2009_2016.csv.zip",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip",
)
ROW_RANGE = (420_000, 421_000)  # the book's copy has 420,451 rows, some copies 420,551
BINARY_NAME = "jena_climate_2009_2016.npz"
META_NAME = "jena_climate_2009_2016.json"


@dataclass(frozen=True)
class CachedDataset:
    """Where the cached real dataset lies and what was recorded about it."""

    csv_path: Path
    binary_path: Path
    sha256: str
    rows: int
    url: str


def validate_jena(table: Table) -> Table:
    """Check that a parsed table is the real dataset's size; returns it unchanged."""
    low, high = ROW_RANGE
    if not low <= len(table) <= high:
        raise DataError(
            f"{table.source} has {len(table):,} rows; the Jena climate dataset has {low:,}-{high:,} "
            "(a truncated or different file?)."
        )
    return table


def cached(cache: Path | None = None) -> CachedDataset | None:
    """The cached real dataset, if a complete one is there."""
    root = Path(cache) if cache is not None else cache_dir()
    meta_path = root / META_NAME
    if not (meta_path.exists() and (root / CSV_NAME).exists() and (root / BINARY_NAME).exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        return CachedDataset(root / CSV_NAME, root / BINARY_NAME, meta["sha256"], int(meta["rows"]), meta["url"])
    except (ValueError, KeyError, OSError):
        return None


def download(
    *,
    mirrors: Sequence[str] = MIRRORS,
    cache: Path | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    force: bool = False,
) -> CachedDataset:
    """Download, validate and cache the dataset, trying each mirror in turn.

    Returns at once when a complete cached copy exists (unless ``force``). Nothing is written
    under the final names until a download has been validated.
    """
    root = Path(cache) if cache is not None else cache_dir()
    if not force and (hit := cached(root)) is not None:
        return hit
    failures = []
    for url in mirrors:
        try:
            raw = _fetch(url, progress=progress, timeout=timeout)
            table = validate_jena(parse_csv_bytes(read_zip_member(raw, url), url))
        except DataError as exc:
            failures.append(str(exc).rstrip("."))
            continue
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
            continue
        return _store(root, raw, table, url)
    raise DownloadError("could not download the Jena climate dataset: " + "; ".join(failures) + ".")


def _fetch(url: str, *, progress: bool, timeout: float) -> bytes:
    """The body at ``url``, streamed to a temporary file with a progress bar."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response, tempfile.TemporaryFile() as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        name = url.rsplit("/", 1)[-1]
        with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress, leave=False) as bar:
            while chunk := response.read(1 << 16):
                tmp.write(chunk)
                bar.update(len(chunk))
        if total is not None and tmp.tell() != total:
            raise DataError(f"{url}: the download stopped after {tmp.tell():,} of {total:,} bytes.")
        tmp.seek(0)
        return tmp.read()


def _store(root: Path, raw_zip: bytes, table: Table, url: str) -> CachedDataset:
    root.mkdir(parents=True, exist_ok=True)
    csv_bytes = read_zip_member(raw_zip, url)
    with atomic_path(root / CSV_NAME) as tmp:
        tmp.write_bytes(csv_bytes)
    save_binary(table, root / BINARY_NAME)
    meta = {"sha256": table.sha256, "rows": len(table), "url": url, "bytes": len(csv_bytes)}
    write_text(root / META_NAME, json.dumps(meta, indent=2) + "\n")  # written last: marks the cache complete
    return CachedDataset(root / CSV_NAME, root / BINARY_NAME, table.sha256, len(table), url)


def load_jena(
    *,
    cache: Path | None = None,
    download_if_missing: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    progress: bool = True,
    clean_wind: bool = False,
) -> Table:
    """The real Jena climate table, from the cache (milliseconds) or downloaded first.

    ``clean_wind=True`` replaces the -9999 wind sentinels with 0 as the TensorFlow tutorial does;
    the book keeps them (the default).
    """
    root = Path(cache) if cache is not None else cache_dir()
    hit = cached(root)
    if hit is None:
        if not download_if_missing:
            raise DataError(f"the Jena climate dataset is not cached in {root}; run `jenacast data download`.")
        hit = download(mirrors=mirrors, cache=root, progress=progress)
    table = load_binary(hit.binary_path)
    if table is None:  # the binary copy is stale or damaged: rebuild it from the cached CSV
        from jenacast.data.csvio import load_csv

        table = validate_jena(load_csv(hit.csv_path))
        save_binary(table, hit.binary_path)
    return table.with_wind_sentinels_replaced() if clean_wind else table
