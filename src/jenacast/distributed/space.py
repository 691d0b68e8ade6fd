"""A sweep's search space, read from a small YAML or JSON file::

    units: [16, 32, 64]                  # a list: one of these
    dropout: {uniform: [0.0, 0.5]}       # a range: uniform, loguniform (floats) or randint (integers, high excluded)
    recurrent_dropout: {uniform: [0.0, 0.5]}
    lr: {loguniform: [1.0e-4, 1.0e-2]}
    batch_size: [128, 256]
    lookback: [72h, 120h]                # the window's history, as --lookback takes it
    optimizer: rmsprop                   # a single value: fixed

Every value is checked here, as a run would check it, so that a bad space is refused in one sentence before
any trial starts. Ray is needed only to turn the space into Tune's (:func:`to_tune`).
"""

from __future__ import annotations

import json
from pathlib import Path

from jenacast.errors import ConfigError, DataError, JenacastError, literal

# what a sweep may change: TrainConfig's fields (the data's window among them)
KEYS = ("units", "dropout", "recurrent_dropout", "lr", "batch_size", "lookback", "optimizer")
RANGES = ("uniform", "loguniform", "randint")


def read_space(path: Path, check) -> dict[str, tuple[str, object]]:
    """``{key: ("fixed", value) | ("choice", [values]) | (range kind, [low, high])}`` from ``path``; ``check(
    key, value)`` refuses a value a run cannot take (a ``JenacastError``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(f"cannot read the search space {literal(path)}: {literal(exc.strerror or exc)}.") from None
    data = _parse(path, text)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{literal(path)} must map each of {', '.join(KEYS)} to its values (a YAML or JSON mapping).")
    space = {}
    for key, value in data.items():
        if key not in KEYS:
            raise DataError(f"{literal(path)}: {literal(key)} cannot be swept; choose from {', '.join(KEYS)}.")
        space[key] = _dimension(path, key, value)
        for candidate in _edges(space[key]):
            try:
                check(key, candidate)
            except JenacastError as exc:
                raise ConfigError(f"{literal(path)}: {key} {literal(candidate)}: {literal(exc)}") from None
    return space


def _parse(path: Path, text: str):
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DataError(f"{literal(path)} is not valid JSON ({literal(exc)}).") from None
    try:
        import yaml
    except ImportError:
        raise DataError(f"{literal(path)} is YAML, which needs PyYAML (pip install pyyaml); or write JSON.") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise DataError(f"{literal(path)} is not valid YAML{line}.") from None


def _dimension(path: Path, key: str, value) -> tuple[str, object]:
    if isinstance(value, list):
        if not value:
            raise DataError(f"{literal(path)}: {key} lists no value.")
        return ("choice", value)
    if isinstance(value, dict):
        kind, bounds = next(iter(value.items())) if len(value) == 1 else (None, None)
        if kind not in RANGES or not (
            isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
        ):
            raise DataError(
                f"{literal(path)}: {key} must be a value, a list, or one of {', '.join(RANGES)} with [low, high]."
            )
        low, high = bounds
        if not low < high or (kind == "loguniform" and low <= 0) or (kind == "randint" and not _integers(bounds)):
            raise DataError(f"{literal(path)}: {key} {kind} [{low}, {high}] is not a range of that kind.")
        return (kind, [low, high])
    return ("fixed", value)


def _integers(values) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _edges(dimension: tuple[str, object]) -> list:
    """The values that stand for a dimension when checking it: every choice, a range's ends."""
    kind, values = dimension
    if kind == "fixed":
        return [values]
    if kind == "randint":
        return [values[0], values[1] - 1]
    return list(values)


def to_tune(space: dict[str, tuple[str, object]]) -> dict:
    """The space as Ray Tune's ``param_space``."""
    from ray import tune

    make = {"choice": tune.choice, "uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}
    return {
        key: values if kind == "fixed" else (make[kind](values) if kind == "choice" else make[kind](*values))
        for key, (kind, values) in space.items()
    }
