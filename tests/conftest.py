import math
import os

import torch

if not torch.cuda.is_available():
    # Without a GPU the Triton tier's kernels run in Triton's interpreter, on CPU tensors (set before
    # triton is imported, which reads it).
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Until each test isolates it (below), jenacast's cache is the repository's ignored pytest cache: the
# CPU kernels compiled at import go there, not to the user's cache folder.
os.environ["JENACAST_CACHE"] = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, ".pytest_cache", "jenacast"
)

import pytest  # noqa: E402


def _filled_with_nan(allocate):
    def allocate_nan(*args, **kwargs):
        out = allocate(*args, **kwargs)
        if out.is_floating_point():
            out.fill_(math.nan)
        return out

    return allocate_nan


@pytest.fixture(autouse=True)
def _empty_is_nan(monkeypatch):
    """Uninitialised allocations hold NaN, so that an output a kernel forgets to write fails the comparison."""
    monkeypatch.setattr(torch, "empty", _filled_with_nan(torch.empty))
    monkeypatch.setattr(torch, "empty_like", _filled_with_nan(torch.empty_like))
    monkeypatch.setattr(torch.Tensor, "new_empty", _filled_with_nan(torch.Tensor.new_empty))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Tests never touch the user's real cache."""
    monkeypatch.setenv("JENACAST_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def kernel_options(monkeypatch):
    """Change the kernels' options for one test (``kernel_options(triton_layout="tiles")``); undone after it."""
    from jenacast.rnn.ops import tuning

    monkeypatch.setattr(tuning, "_current", tuning.current())
    return tuning.set_options
