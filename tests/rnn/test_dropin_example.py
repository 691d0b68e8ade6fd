"""examples/variable_length_classifier.py runs, with VariationalLSTM and with nn.LSTM (a few batches)."""

import runpy
from pathlib import Path

import pytest

import tests.rnn.cpu_cache  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "variable_length_classifier.py"


@pytest.mark.parametrize("flags", [[], ["--torch"]])
def test_the_example_trains_and_samples(flags, capsys):
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    main(["--epochs", "1", "--sequences", "192", *flags])
    out = capsys.readouterr().out
    assert "epoch 1: loss" in out and "validation accuracy" in out
    assert ("p(label 1)" in out) != bool(flags)  # Monte Carlo dropout with VariationalLSTM only
