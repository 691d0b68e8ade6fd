"""Choosing the dataset a run trains on: the real Jena data, the synthetic one, or a CSV file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from jenacast.data.csvio import load_csv
from jenacast.data.jena import cached, download, load_jena
from jenacast.data.synthetic import generate_synthetic
from jenacast.data.table import Table
from jenacast.errors import DataError

CHOICES = ("auto", "jena", "synthetic")  # or a path to a Jena-format CSV/zip


@dataclass(frozen=True, eq=False)
class Dataset:
    """A table and what reports and checkpoints record about it."""

    table: Table
    name: str  # "jena", "synthetic" or the file's path
    synthetic: bool
    sha256: str  # of the CSV text, or of the generated arrays
    note: str = ""  # why "auto" chose what it chose

    def info(self) -> dict:
        return {
            "name": self.name,
            "rows": len(self.table),
            "columns": list(self.table.names),
            "sha256": self.sha256,
            "synthetic": self.synthetic,
        }


def fingerprint(table: Table) -> str:
    """The CSV's sha256, or for a table made in memory a sha256 of its arrays."""
    if table.sha256:
        return table.sha256
    digest = hashlib.sha256(table.values.tobytes())
    digest.update(table.timestamps.astype("int64").tobytes())
    return digest.hexdigest()


def open_dataset(choice: str, *, clean_wind: bool = False, progress: bool = True) -> Dataset:
    """``auto`` uses the real data when cached or downloadable and otherwise the synthetic dataset."""
    note = ""
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
    if choice == "synthetic":
        table, synthetic = generate_synthetic(0), True
    elif choice == "jena":
        table, synthetic = load_jena(progress=progress), False
    else:
        table, synthetic = load_csv(choice), False
        choice = str(Path(choice).resolve())  # what a run records: the file, wherever the next command runs
    if clean_wind:
        table = table.with_wind_sentinels_replaced()
    return Dataset(table, choice, synthetic, fingerprint(table), note)
