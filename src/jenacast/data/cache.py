"""The cache folder and the fast binary copy of a parsed table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jenacast._atomic import atomic_path
from jenacast.data.table import Table
from jenacast.paths import cache_dir  # noqa: F401  (re-exported: the data's cache folder)

FORMAT_VERSION = 1


def save_binary(table: Table, path: Path) -> None:
    """Write ``table`` as an uncompressed .npz (loads in milliseconds), atomically."""
    meta = {
        "version": FORMAT_VERSION,
        "names": list(table.names),
        "source": table.source,
        "sha256": table.sha256,
        "interval": table.interval,
        "loading": table.loading,
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                values=np.ascontiguousarray(table.values, dtype=np.float32),
                timestamps=table.timestamps.astype("datetime64[s]").astype(np.int64),
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            )


def load_binary(path: Path) -> Table | None:
    """The table stored by :func:`save_binary`, or None when the file is absent, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            if meta.get("version") != FORMAT_VERSION:
                return None
            return Table(
                timestamps=npz["timestamps"].astype("datetime64[s]"),
                values=npz["values"],
                names=tuple(meta["names"]),
                source=meta["source"],
                sha256=meta["sha256"],
                interval=int(meta.get("interval", 600)),
                loading=meta.get("loading", {}),
            )
    except (OSError, ValueError, KeyError):
        return None
