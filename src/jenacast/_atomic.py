"""Atomic, durable file writes: a temporary file in the target's folder, flushed to disk, then renamed over
the target, and the folder's entry flushed too.

An interrupted run (Ctrl-C, a crash, a power cut, a full disk) therefore never leaves a half-written file
under the final name: the target holds the old content or the new, whole.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def _default_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the umask (mkstemp's files are 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_MODE = _default_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success, delete it on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the name is chosen before the file exists, so that a signal landing just after its creation (Ctrl-C,
    # SIGTERM, raised wherever the program stands) still finds it to delete; mkstemp returns it only afterwards
    tmp_path = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        yield tmp_path
        os.chmod(tmp_path, _MODE)
        _fsync(tmp_path)
        os.replace(tmp_path, path)
        _fsync(path.parent)
    except OSError as exc:  # name the file being written, not its temporary twin
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _fsync(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to the disk (folders cannot be opened on Windows)."""
    if path.is_dir() and os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
