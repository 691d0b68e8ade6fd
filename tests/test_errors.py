"""Errors name each interface's own knobs: the library its parameters, the command line its flags."""

import pytest

from jenacast.cli import flag
from jenacast.errors import ConfigError, JenacastError, TrainingError, literal
from jenacast.training import TrainConfig


def test_a_worded_error_names_parameters_for_the_api_and_flags_for_the_cli():
    with pytest.raises(ConfigError) as caught:
        TrainConfig(model="lstm", batch_size=0)
    assert str(caught.value) == "batch_size must be a positive integer, got 0."
    assert caught.value.worded(flag) == "--batch-size must be a positive integer, got 0."
    error = TrainingError(
        "run holds a run; pass {resume} to continue it, {force} to start over, or choose another {out}.", worded=True
    )
    assert str(error) == (
        "run holds a run; pass resume=True to continue it, force=True to start over, or choose another folder."
    )
    assert (
        error.worded(flag)
        == "run holds a run; pass --resume to continue it, --force to start over, or choose another --out."
    )


def test_braces_in_values_stay_as_they_are():
    assert (
        str(JenacastError("a {plain} sentence"))
        == JenacastError("a {plain} sentence").worded(flag)
        == "a {plain} sentence"
    )
    with pytest.raises(ConfigError) as caught:
        TrainConfig(model="lstm", seed="{x}")
    assert caught.value.worded(flag) == "--seed must be an integer from 0 to 1,099,511,627,775, got '{x}'."
    assert literal("{a}") == "{{a}}"
