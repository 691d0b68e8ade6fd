import subprocess
import sys

import pytest

import jenacast.cli
from jenacast.training import memory

CHECK = "from jenacast.training.memory import keep_freed_memory as k; print(k(), k())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_thresholds_set_once_on_linux():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_training_through_the_library_leaves_malloc_alone(tmp_path):
    """fit() is a library call: the process's allocator settings are its caller's business."""
    script = f"""
from jenacast.data import generate_synthetic, make_splits
from jenacast.training import TrainConfig, fit, memory
fit(TrainConfig(model="dense", epochs=1, max_batches=1), make_splits(generate_synthetic(0, years=0.2)),
    {{"name": "synthetic"}}, {str(tmp_path / "run")!r}, progress=False, say=lambda _m: None)
print(memory._applied)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"


def test_the_command_line_chooses_it_for_its_training_commands(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.chdir(tmp_path)
    assert jenacast.cli.main(["data", "synth", "--out", "x.csv", "--years", "0.01"]) == 0 and not calls
    assert jenacast.cli.main(["bench", "--device", "cpu", "--models", "dense", "--repeats", "1", "--json"]) == 0
    assert calls == [1]
