"""A sweep's search space file: read as written, and refused in one sentence where a run could not take it."""

import json

import pytest

from jenacast.distributed.space import read_space
from jenacast.errors import JenacastError
from jenacast.training import TrainConfig


def check(key, value):
    TrainConfig(model="lstm", **{key: value})


def space_file(tmp_path, data, name="space.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_lists_ranges_and_fixed_values(tmp_path):
    space = read_space(
        space_file(tmp_path, {"units": [8, 16], "lr": {"loguniform": [1e-4, 1e-2]}, "lookback": "72h"}), check
    )
    assert space == {"units": ("choice", [8, 16]), "lr": ("loguniform", [1e-4, 1e-2]), "lookback": ("fixed", "72h")}


def test_yaml_reads_like_json(tmp_path):
    pytest.importorskip("yaml", reason="PyYAML reads YAML spaces (it comes with the ray extra)")
    path = space_file(tmp_path, "dropout: {uniform: [0.0, 0.5]}\nbatch_size: [128, 256]\n", "space.yaml")
    assert read_space(path, check) == {"dropout": ("uniform", [0.0, 0.5]), "batch_size": ("choice", [128, 256])}


@pytest.mark.parametrize(
    "data,message",
    [
        ({"epochs": [1, 2]}, "epochs cannot be swept; choose from units, dropout"),
        ({"lr": {"uniform": [0.1]}}, "lr must be a value, a list, or one of uniform, loguniform, randint"),
        ({"lr": {"loguniform": [0, 0.1]}}, "lr loguniform [0, 0.1] is not a range of that kind."),
        ({"units": {"randint": [8, 8]}}, "units randint [8, 8] is not a range of that kind."),
        ({"dropout": {"uniform": [0.0, 1.5]}}, "dropout 1.5: dropout must be a rate from 0 to below 1, got 1.5."),
        ({"lookback": ["72h", "soon"]}, "lookback soon: "),
        ({"units": []}, "units lists no value."),
        ([1, 2], "must map each of units, dropout"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_what_a_run_could_not_take_is_refused_in_one_sentence(tmp_path, data, message):
    with pytest.raises(JenacastError) as refused:
        read_space(space_file(tmp_path, data), check)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(JenacastError, match="cannot read the search space .*nope.json: No such file"):
        read_space(tmp_path / "nope.json", check)
