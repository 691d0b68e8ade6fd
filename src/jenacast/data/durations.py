"""Windows given in time (``--lookback 120h --step 1h --horizon 24h``), turned into rows for a table's interval."""

from __future__ import annotations

import re

from jenacast.data.windows import WindowSpec
from jenacast.errors import ConfigError, DataError, literal

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}
_UNITS |= {"d": 86400, "day": 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


def parse_duration(text: str, parameter: str = "duration") -> int:
    """``"120h"`` -> 432000 seconds. Units: s, min (or m), h, d; a bare number is an error (which unit?)."""
    match = _PATTERN.match(str(text).lower())
    word = match and match.group(2)
    unit = match and (_UNITS.get(word) or (len(word) > 2 and _UNITS.get(word.removesuffix("s"))))  # "hours", not "ms"
    if not match or not unit:
        raise ConfigError(
            f"{{{parameter}}} {literal(repr(text))} is not a duration; write a number and a unit, e.g. 120h, "
            "30min, 10s or 2d.",
            worded=True,
        )
    seconds = float(match.group(1)) * unit
    if seconds <= 0 or seconds != int(seconds):
        raise ConfigError(
            f"{{{parameter}}} {literal(repr(text))} must be a positive whole number of seconds.", worded=True
        )
    return int(seconds)


def format_duration(seconds: int) -> str:
    """432000 -> ``"120h"`` (hours, as the book counts); 600 -> ``"10min"``; 90 -> ``"90s"``."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def window_spec(interval: int, lookback: str = "120h", step: str = "1h", horizon: str = "24h") -> WindowSpec:
    """The rows of a window for data sampled every ``interval`` seconds: the book's 120h/1h/24h on the 10-minute
    Jena data give ``WindowSpec(6, 120, 144)``; on an hourly table ``WindowSpec(1, 120, 24)``."""
    lookback_s = parse_duration(lookback, "lookback")
    step_s = parse_duration(step, "step")
    horizon_s = parse_duration(horizon, "horizon")
    every = format_duration(interval)
    if step_s % interval:
        raise DataError(
            f"the step {literal(step)} is not a whole number of the data's interval ({every}); choose a "
            f"multiple of {every} for {{step}}.",
            worded=True,
        )
    if horizon_s % interval:
        raise DataError(
            f"the horizon {literal(horizon)} is not a whole number of the data's interval ({every}); choose a "
            f"multiple of {every} for {{horizon}}.",
            worded=True,
        )
    if lookback_s % step_s:
        raise DataError(
            f"the lookback {literal(lookback)} is not a whole number of steps of {literal(step)}; choose a "
            f"multiple of the step for {{lookback}}.",
            worded=True,
        )
    return WindowSpec(
        sampling_rate=step_s // interval, sequence_length=lookback_s // step_s, horizon=horizon_s // interval
    )
