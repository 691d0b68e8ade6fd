"""Loading a station's table: a decade of 10-minute data (1,000,000 rows x 20 columns), cold and from the cache.

    python benchmarks/bench_tables.py [--rows 1000000] [--columns 20] [--repeats 3]

Writes the table once per time format (ISO 8601 with a zone, and the Jena file's dd.mm.yyyy HH:MM:SS) into a
temporary folder, then times ``load_table`` with an empty cache (parse, put on the grid, write the binary copy)
and again (the binary copy). Prints the best of ``--repeats`` each.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_table(path: Path, rows: int, columns: int, time_format: str) -> None:
    rng = np.random.default_rng(0)
    times = pd.date_range("2010-01-01", periods=rows, freq="10min", tz="UTC")
    frame = pd.DataFrame(
        np.round(rng.normal(10, 5, (rows, columns - 1)), 2), columns=[f"v{i}" for i in range(1, columns)]
    )
    frame.insert(0, "T (degC)", np.round(rng.normal(10, 8, rows), 2))
    frame.insert(0, "time", times.strftime(time_format))
    frame.to_csv(path, index=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JENACAST_CACHE"] = str(Path(tmp) / "cache")
        from jenacast.data.station import load_table

        for label, time_format in (("ISO 8601 with zone", "%Y-%m-%dT%H:%M:%S%z"), ("dd.mm.yyyy", "%d.%m.%Y %H:%M:%S")):
            path = Path(tmp) / "table.csv"
            write_table(path, args.rows, args.columns, time_format)
            size = path.stat().st_size / 2**20
            cold, cached = [], []
            for _ in range(args.repeats):
                for binary in (Path(tmp) / "cache" / "tables").glob("*.npz"):
                    binary.unlink()
                started = time.perf_counter()
                table = load_table(path)
                cold.append(time.perf_counter() - started)
                started = time.perf_counter()
                load_table(path)
                cached.append(time.perf_counter() - started)
            print(
                f"{label:<20} {len(table):,} rows x {len(table.names)} columns ({size:.0f} MiB): "
                f"cold {min(cold):.2f} s, cached {min(cached):.3f} s (best of {args.repeats})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
