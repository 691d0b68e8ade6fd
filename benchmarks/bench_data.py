"""Data loading speed: parsing the full-size CSV cold, and loading the cached binary copy.

Run: .venv/bin/python benchmarks/bench_data.py   (targets: cold parse < 2 s, cache < 0.2 s on two cores)
Each measurement runs in a fresh Python process, so nothing is warm but the OS file cache.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time, json
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
from jenacast.data.cache import load_binary
from jenacast.data.csvio import load_csv
t0 = time.perf_counter()  # imports (torch among them) are not part of parsing
table = load_csv(path) if kind == "csv" else load_binary(path)
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": len(table)}))
"""


def measure(kind: str, path: Path, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], check=True, capture_output=True, text=True)
        times.append(json.loads(out.stdout)["seconds"])
    return min(times)


def main() -> None:
    from jenacast.data import generate_synthetic, write_csv
    from jenacast.data.cache import save_binary
    from jenacast.data.csvio import load_csv

    with tempfile.TemporaryDirectory() as tmp:
        csv_path, npz_path = Path(tmp) / "jena.csv", Path(tmp) / "jena.npz"
        t0 = time.perf_counter()
        table = generate_synthetic(0)
        generate_s = time.perf_counter() - t0
        write_csv(table, csv_path)
        save_binary(load_csv(csv_path), npz_path)
        cold = measure("csv", csv_path)
        cached = measure("npz", npz_path)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}"
    )
    print(f"rows: {len(table):,}  csv: {csv_path.name}")
    print(f"generate_synthetic (full size)  {generate_s:6.3f} s")
    print(f"parse CSV, cold (best of 3)     {cold:6.3f} s   target < 2 s")
    print(f"load from cache (best of 3)     {cached:6.3f} s   target < 0.2 s")


if __name__ == "__main__":
    main()
