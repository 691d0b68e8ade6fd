"""Prediction intervals from Monte Carlo samples, calibrated on the validation split, and their scores.

Three methods, each giving central intervals at the asked levels:

* ``mc``: the samples' own quantiles: the model's (epistemic) uncertainty only, usually too narrow;
* ``mc+noise``: a normal around the samples' mean whose variance is the samples' variance plus the noise
  variance, the mean squared residual on the validation split (Zhu and Laptev, "Deep and Confident
  Prediction for Time Series at Uber", 2017);
* ``conformal``: split-conformal scaling of ``mc+noise``: the half-width is the validation split's
  ``ceil((n + 1) * level) / n`` quantile of ``|y - mean| / std``, so that validation coverage is nominal;
* ``adaptive``: the same scaling from the latest 30 days of scores whose targets are known when the forecast
  is made (see ``adaptive``), so that it follows the weather's drift.

The reference needs no model: persistence (the last observed target) plus the empirical quantiles of the
training split's changes over the horizon. Scores: empirical coverage, mean width, the pinball loss of the two
bounds, and the CRPS (with ``scoringrules``; for ``conformal`` and ``adaptive`` the normal whose scale is the mean
ratio of their half-widths to ``mc+noise``'s).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import scoringrules

LEVELS = (50, 80, 95)
METHODS = ("mc", "mc+noise", "conformal", "adaptive")
REFERENCE = "persistence"
_REFERENCE_QUANTILES = 199  # the reference's predictive distribution, as an ensemble of its change quantiles


def z_score(level: float) -> float:
    """The normal's half-width, in standard deviations, of a central interval of ``level`` percent."""
    return NormalDist().inv_cdf(0.5 + level / 200)


@dataclass(frozen=True)
class Calibration:
    """What the validation split says: the noise standard deviation, and per level the conformal half-width in
    total standard deviations. ``stochastic``: whether the model has dropout to sample. ``recent_scores``: the
    latest validation windows' scores, where ``adaptive`` starts, and their first rows in the table."""

    noise_std: float
    conformal: dict[int, float]
    stochastic: bool
    samples: int
    windows: int
    recent_scores: tuple[float, ...] = ()
    recent_rows: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        data = asdict(self)
        return {
            **data,
            "conformal": {str(k): v for k, v in self.conformal.items()},
            "recent_scores": list(data["recent_scores"]),
            "recent_rows": list(data["recent_rows"]),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(
            **{
                **data,
                "conformal": {int(k): float(v) for k, v in data["conformal"].items()},
                "recent_scores": tuple(float(v) for v in data["recent_scores"]),
                "recent_rows": tuple(int(v) for v in data["recent_rows"]),
            }
        )


def predictive(samples: np.ndarray, noise_std: float) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, total std)`` of ``[N, S]`` samples with the noise term added."""
    samples = samples.astype(np.float64)
    return samples.mean(axis=1), np.sqrt(samples.var(axis=1) + noise_std**2)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1) * level / 100)``-th smallest score (the largest when
    that exceeds ``n``)."""
    ordered = np.sort(scores)
    rank = min(math.ceil((len(ordered) + 1) * level / 100), len(ordered))
    return float(ordered[rank - 1])


def calibrate(
    samples: np.ndarray,
    targets: np.ndarray,
    levels=LEVELS,
    *,
    stochastic: bool = True,
    rows: np.ndarray | None = None,
    recent: int = 0,
) -> Calibration:
    """The calibration from the validation split's ``[N, S]`` samples and targets ``[N]``; with ``rows`` (the
    windows' first rows, ascending), the ``recent`` latest scores are kept."""
    targets = targets.astype(np.float64)
    mean = samples.astype(np.float64).mean(axis=1)
    noise_std = float(np.sqrt(np.mean((targets - mean) ** 2)))
    mean, std = predictive(samples, noise_std)
    scores = np.abs(targets - mean) / std
    tail = slice(len(scores) - min(recent, len(scores)), None) if rows is not None else slice(0, 0)
    return Calibration(
        noise_std,
        {int(level): conformal_quantile(scores, level) for level in levels},
        stochastic,
        samples.shape[1],
        len(targets),
        tuple(float(v) for v in scores[tail]),
        tuple(int(v) for v in (rows[tail] if rows is not None else ())),
    )


def bounds(
    method: str, samples: np.ndarray, calibration: Calibration, level: float, factors: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(lower, upper)`` bounds of each window's central interval of ``level`` percent; ``adaptive`` takes
    each window's ``factors`` (``adaptive.online_factors``; the split-conformal factor where one is NaN)."""
    if method == "mc":
        low, high = np.quantile(samples, [0.5 - level / 200, 0.5 + level / 200], axis=1)
        return low.astype(np.float64), high.astype(np.float64)
    mean, std = predictive(samples, calibration.noise_std)
    half = _factor(method, calibration, level, factors) * std
    return mean - half, mean + half


def _factor(method: str, calibration: Calibration, level: float, factors: dict | None):
    """The half-width in total standard deviations: a number, or one per window for ``adaptive``."""
    if method == "mc+noise":
        return z_score(level)
    if method == "adaptive":
        if factors is None:
            raise ValueError("the adaptive method needs each window's factors.")
        return np.where(np.isnan(factors[int(level)]), calibration.conformal[int(level)], factors[int(level)])
    return calibration.conformal[int(level)]


def pinball(targets: np.ndarray, quantile: np.ndarray, tau: float) -> float:
    """The mean pinball (quantile) loss of ``quantile`` as the ``tau`` quantile of ``targets``."""
    error = targets - quantile
    return float(np.mean(np.maximum(tau * error, (tau - 1) * error)))


def interval_scores(targets: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float) -> dict:
    """Coverage (share of targets inside), mean width, and the mean pinball loss of the two bounds."""
    tau = 0.5 - level / 200
    return {
        "coverage": float(np.mean((lower <= targets) & (targets <= upper))),
        "width": float(np.mean(upper - lower)),
        "pinball": (pinball(targets, lower, tau) + pinball(targets, upper, 1 - tau)) / 2,
    }


def score_methods(
    samples: np.ndarray, targets: np.ndarray, calibration: Calibration, levels=LEVELS, factors: dict | None = None
) -> dict:
    """``{method: {"crps", "levels": {level: interval_scores}}}`` for each method on a split. Without dropout the
    ``mc`` method has no spread and is left out; without ``factors``, ``adaptive``."""
    targets = targets.astype(np.float64)
    mean, std = predictive(samples, calibration.noise_std)

    def scale(method):  # the normal's scale relative to mc+noise's: the mean of the levels' ratios
        return np.mean([_factor(method, calibration, level, factors) / z_score(level) for level in levels], axis=0)

    crps = {
        "mc": lambda: scoringrules.crps_ensemble(targets, samples.astype(np.float64)),
        "mc+noise": lambda: scoringrules.crps_normal(targets, mean, std),
        "conformal": lambda: scoringrules.crps_normal(targets, mean, std * scale("conformal")),
        "adaptive": lambda: scoringrules.crps_normal(targets, mean, std * scale("adaptive")),
    }
    results = {}
    for method in METHODS:
        if (method == "mc" and not calibration.stochastic) or (method == "adaptive" and factors is None):
            continue
        results[method] = {
            "crps": float(np.mean(crps[method]())),
            "levels": {
                int(level): interval_scores(targets, *bounds(method, samples, calibration, level, factors), level)
                for level in levels
            },
        }
    return results


def score_reference(last: np.ndarray, targets: np.ndarray, train_changes: np.ndarray, levels=LEVELS) -> dict:
    """The persistence reference: the last observed target plus the training split's changes' quantiles."""
    targets, last = targets.astype(np.float64), last.astype(np.float64)
    quantiles = np.quantile(train_changes, np.linspace(0, 1, _REFERENCE_QUANTILES + 2)[1:-1])
    ensemble = last[:, None] + quantiles[None, :]
    levels_scores = {}
    for level in levels:
        low, high = np.quantile(train_changes, [0.5 - level / 200, 0.5 + level / 200])
        levels_scores[int(level)] = interval_scores(targets, last + low, last + high, level)
    return {"crps": float(np.mean(scoringrules.crps_ensemble(targets, ensemble))), "levels": levels_scores}
