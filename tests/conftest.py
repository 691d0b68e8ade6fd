import math

import pytest
import torch

_torch_empty = torch.empty


def _nan_empty(*args, **kwargs):
    """torch.empty filled with NaN, so that an output a kernel forgets to write fails the comparison."""
    out = _torch_empty(*args, **kwargs)
    if out.is_floating_point():
        out.fill_(math.nan)
    return out


@pytest.fixture(autouse=True)
def _empty_is_nan(monkeypatch):
    monkeypatch.setattr(torch, "empty", _nan_empty)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Tests never touch the user's real cache."""
    monkeypatch.setenv("JENACAST_CACHE", str(tmp_path / "cache"))
