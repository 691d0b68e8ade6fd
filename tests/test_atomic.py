"""Atomic, durable writes: the target holds the old content or the new, whole, and both are flushed."""

import errno
import os

import pytest

from jenacast import _atomic
from jenacast._atomic import atomic_path, write_text


def test_a_failed_write_keeps_the_old_file_and_names_the_target(tmp_path):
    target = tmp_path / "results.json"
    write_text(target, "old")
    with pytest.raises(OSError) as failure:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == str(target)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["results.json"]


def test_the_file_and_its_folder_are_flushed_before_and_after_the_rename(tmp_path, monkeypatch):
    flushed = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    target = tmp_path / "a.txt"
    write_text(target, "new")
    assert len(flushed) == 2
    assert os.path.basename(flushed[0]).startswith(".a.txt.") and flushed[1] == str(tmp_path)
    assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) == oct(_atomic._MODE)


def test_an_interrupt_just_after_the_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    real_open = os.open

    def open_then_interrupt(*args, **kwargs):  # Ctrl-C landing as the temporary file comes into being
        real_open(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_text(tmp_path / "config.json", "{}")
    assert list(tmp_path.iterdir()) == []
