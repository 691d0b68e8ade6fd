"""Conformal intervals recalibrated online (``adaptive``): the conformal factor of each forecast from the most
recent scores whose targets are already known.

Split-conformal intervals (``conformal``) are nominal on the validation split and assume the test period
behaves like it; where the weather drifts (a milder or a stormier year), their coverage drifts with it. A
forecaster in service learns each forecast's error a horizon after issuing it, so it can calibrate on the
latest ``RECENT_DAYS`` of errors instead (a rolling split-conformal calibration, in the spirit of Gibbs and
Candès' adaptive conformal inference, 2021): the score is the same ``|y - mean| / std`` as ``conformal``'s,
and a window's factor is the conformal quantile of the scores of the windows whose targets were observed by its
own last input row. No target is used before it would be known.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from jenacast.forecast.intervals import conformal_quantile

RECENT_DAYS = 30


def recent_count(interval_seconds: int) -> int:
    """How many windows, one row apart, ``RECENT_DAYS`` holds at a table's interval."""
    return max(1, RECENT_DAYS * 86400 // int(interval_seconds))


def _rank_quantile(count: int, level: float) -> float:
    """The quantile that pandas' ``interpolation="higher"`` turns into the split-conformal rank: the
    ``ceil((n + 1) * level / 100)``-th smallest of ``n`` scores (the largest when that exceeds ``n``)."""
    rank = min(math.ceil((count + 1) * level / 100), count)
    return 0.0 if count == 1 else (rank - 1) / (count - 1)


def online_factors(
    scores: np.ndarray, rows: np.ndarray, query_rows: np.ndarray, horizon: int, count: int, levels
) -> dict[int, np.ndarray]:
    """Per level, each query window's conformal factor: the conformal quantile of the ``count`` latest
    ``scores`` (of windows whose last input rows are ``rows``, ascending) with ``row + horizon <= query row``.
    NaN where no score is known yet."""
    known = np.searchsorted(rows, np.asarray(query_rows) - horizon, side="right")  # scores known per query
    scores = np.asarray(scores, dtype=np.float64)
    last = known - 1  # each query's latest known score
    factors = {}
    for level in levels:
        rolled = (
            pd.Series(scores)
            .rolling(count, min_periods=count)
            .quantile(_rank_quantile(count, level), interpolation="higher")
            .to_numpy(copy=True)
        )
        for index in np.unique(last[(last >= 0) & (last < count - 1)]):  # fewer than count known: all of them
            rolled[index] = conformal_quantile(scores[: index + 1], level)
        factors[int(level)] = np.where(last >= 0, rolled[np.maximum(last, 0)], np.nan)
    return factors
