"""The cpu tier says when its kernels compile (a first batch of half a minute should not look like a hang)."""

import logging
from types import SimpleNamespace

import pytest

from jenacast.rnn.ops import available

pytestmark = pytest.mark.skipif(not available("cpu"), reason="needs numba")


def fake_kernel(index_path, compiled=False):
    return SimpleNamespace(
        overloads={"sig": object()} if compiled else {},
        _cache=SimpleNamespace(_cache_file=SimpleNamespace(_index_path=str(index_path))),
    )


def test_compiling_is_announced_once_and_only_without_a_cached_or_compiled_kernel(tmp_path, caplog):
    from jenacast.rnn.ops.cpu.common import announce_compile

    cached = tmp_path / "k.nbi"
    cached.write_text("")
    caplog.set_level(logging.INFO, logger="jenacast")
    announce_compile("TEST-CACHED", fake_kernel(cached), fake_kernel(cached))
    announce_compile("TEST-COMPILED", fake_kernel(tmp_path / "missing.nbi", compiled=True))
    assert "compiling" not in caplog.text
    announce_compile("TEST-NEW", fake_kernel(cached), fake_kernel(tmp_path / "missing.nbi"))
    announce_compile("TEST-NEW", fake_kernel(cached), fake_kernel(tmp_path / "missing.nbi"))
    assert caplog.text.count("compiling the TEST-NEW kernels") == 1
    # an evaluation asks about its forward kernel alone; a training after it, about the backward too
    announce_compile("TEST-EVAL", fake_kernel(cached))
    assert "TEST-EVAL" not in caplog.text
    announce_compile("TEST-EVAL", fake_kernel(cached), fake_kernel(tmp_path / "missing.nbi"))
    assert caplog.text.count("compiling the TEST-EVAL kernels") == 1


def test_an_unknown_cache_layout_stays_quiet(caplog):
    from jenacast.rnn.ops.cpu.common import announce_compile

    caplog.set_level(logging.INFO, logger="jenacast")
    announce_compile("TEST-ODD", SimpleNamespace(overloads={}))
    assert "compiling" not in caplog.text
