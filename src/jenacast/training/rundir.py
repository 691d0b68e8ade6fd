"""The files of a run folder, written atomically."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from jenacast._atomic import write_text
from jenacast.errors import FolderInUse, JenacastError, literal

CONFIG = "config.json"
HISTORY = "history.csv"
BEST = "best.pt"
LAST = "last.pt"  # the latest finished epoch, for --resume
METRICS = "metrics.json"
CURVES = "curves.png"
HISTORY_FIELDS = ("epoch", "loss", "mae", "val_loss", "val_mae", "seconds")


DATA_KEYS = (
    "name",
    "sha256",
    "rows",
    "columns",
    "target",
    "window",
)  # what a run folder records of its data, and compares


def data_differences(saved: dict, current: dict) -> str:
    """What differs between the data a run was trained on (``saved``, a ``Dataset.info()``) and ``current``:
    ``""`` when nothing does. Keys a folder written by an older jenacast lacks are not compared."""
    parts = []
    for key in DATA_KEYS:
        if key in saved and saved[key] != current.get(key):
            there, here = saved[key], current.get(key)
            if key == "sha256":
                there, here = f"{str(there)[:12]}...", f"{str(here)[:12]}..."
            elif key == "rows":
                there, here = f"{there:,}", f"{here:,}"
            elif key == "window":
                there, here = (f"{w.get('lookback')}/{w.get('step')}/{w.get('horizon')}" for w in (there, here or {}))
            elif key == "columns":
                there, here = f"{len(there)} ({', '.join(there)})", f"{len(here)} ({', '.join(here)})"
            parts.append(f"{key} {there} then, {here} now")
    return "; ".join(parts)


LOCK = ".lock"  # held (flock) by the process writing the folder; says who
CALIBRATION = "calibration.json"  # the prediction intervals' calibration on the validation split (forecast)
INTERVALS = "intervals.json"  # the prediction intervals' scores on the test split (evaluate --intervals)
RUN_FILES = (CONFIG, HISTORY, BEST, LAST, METRICS, CURVES, CALIBRATION, INTERVALS)


def checkpoint_digest(run_dir: Path) -> str:
    """The sha256 of the run's best checkpoint: what results derived from the model are keyed by."""
    return hashlib.sha256((Path(run_dir) / BEST).read_bytes()).hexdigest()


def make_folder(folder: Path, what: str = "run folder") -> None:
    """Make ``folder``, or refuse in one sentence a path that cannot be a folder of files."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "it is a file" if Path(folder).is_file() else (exc.strerror or str(exc)).lower()
        raise FolderInUse(
            f"{literal(folder)} cannot be a {what} ({literal(reason)}); choose another {{out}}.", worded=True
        ) from None


@contextlib.contextmanager
def locked(folder: Path, say: Callable[[str], None] = print) -> Iterator[None]:
    """Hold ``folder``'s advisory lock while the block runs: a second writer is refused in one sentence naming
    the holder. The operating system releases the lock when its process dies, so a lock file left by a dead
    process is taken over (with a note). Where ``fcntl`` is missing (Windows) nothing is locked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    handle = open(folder / LOCK, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderInUse(
                f"{literal(folder)} is being written by {literal(holder)}; wait for it to finish or choose "
                "another {out}.",
                worded=True,
            ) from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous:
            say(f"note: {folder} was left locked by {previous}, which is no longer running; taking it over")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # an empty lock file: released cleanly
            handle.flush()
    finally:
        handle.close()  # closing releases the flock


def clear(run_dir: Path) -> None:
    """Remove a run's files from ``run_dir`` (anything else in the folder stays)."""
    for name in RUN_FILES:
        (Path(run_dir) / name).unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise JenacastError(
            f"{literal(path)} is unreadable ({type(exc).__name__}); delete that run folder or choose another {{out}}.",
            worded=True,
        ) from None
    if not isinstance(data, dict):
        raise JenacastError(
            f"{literal(path)} is not a jenacast run file; delete that run folder or choose another {{out}}.",
            worded=True,
        )
    return data


def write_history(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in HISTORY_FIELDS})
    write_text(path, buf.getvalue())


def read_history(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(fh)]
