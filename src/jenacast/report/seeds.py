"""Statistics worth several seeds: each model's test MAE with its 95 % confidence interval, and paired
comparisons (the same seeds) against the baseline and the plain LSTM.

The chapter's models differ by 0.05-0.15 degrees C, about the spread between seeds, so one seed cannot say
which technique helps. With seeds 0..N-1 for every model, the difference between two models is measured seed
by seed (the same shuffling and initialisation seed on both sides), and it counts as larger than the seed
spread when its 95 % interval (Student's t, N-1 degrees of freedom) excludes zero.
"""

from __future__ import annotations

import math
import statistics

# the models every other one is compared with, when they ran
REFERENCES = ("baseline", "lstm")

# Student's t two-sided 95 % quantiles (the 0.975 quantile) for 1 to 30 degrees of freedom; beyond, the
# Cornish-Fisher expansion around the normal's 1.96 is within 1e-4. No scipy: the core install stays small.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.959964


def t975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (two-sided 95 %)."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {dof}.")
    if dof <= len(_T975):
        return _T975[dof - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


def mean_interval(values: list[float]) -> tuple[float, float] | None:
    """The 95 % confidence interval of the mean of ``values``; None for fewer than two."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return (mean - half, mean + half)


def paired_difference(values: list[float], reference: list[float]) -> dict | None:
    """``values - reference`` seed by seed (the lists aligned by seed): the mean difference, its 95 % interval
    and whether that interval excludes zero (the difference is larger than the seed spread). None for fewer
    than two seeds."""
    differences = [a - b for a, b in zip(values, reference, strict=True)]
    interval = mean_interval(differences)
    if interval is None:
        return None
    return {
        "difference": statistics.fmean(differences),
        "ci95": list(interval),
        "seeds": len(differences),
        "beyond_seed_spread": interval[0] > 0 or interval[1] < 0,
    }


def seed_statistics(models: dict[str, dict]) -> None:
    """Add to each model's entry (in place) ``test_mae_ci95`` and ``paired``: its comparison with each of
    ``REFERENCES`` that ran (not with itself). The entries hold ``test_mae_per_seed`` (seeds 0..N-1); the
    baseline, which no seed changes, counts the same for every seed."""
    for name, entry in models.items():
        tests = entry["test_mae_per_seed"]
        interval = mean_interval(tests)
        entry["test_mae_ci95"] = list(interval) if interval else None
        entry["paired"] = {}
        for reference in REFERENCES:
            if reference == name or reference not in models or name == "baseline":
                continue
            theirs = models[reference]["test_mae_per_seed"]
            if reference == "baseline":
                theirs = theirs * len(tests)
            if len(theirs) == len(tests) and (compared := paired_difference(tests, theirs)) is not None:
                entry["paired"][reference] = compared


def _difference(compared: dict | None) -> str:
    if compared is None:
        return ""
    low, high = compared["ci95"]
    verdict = "**beyond the spread**" if compared["beyond_seed_spread"] else "within the spread"
    return f"{compared['difference']:+.3f} [{low:+.3f}, {high:+.3f}] {verdict}"


def format_seed_table(models: dict[str, dict]) -> str:
    """The per-model statistics and the paired comparisons as Markdown ("" with one seed)."""
    trained = {name: m for name, m in models.items() if name != "baseline"}
    if not trained or all(m.get("test_mae_ci95") is None for m in trained.values()):
        return ""
    references = [r for r in REFERENCES if r in models]
    lines = [
        "| model | seeds | test MAE mean | std | 95 % CI | " + " | ".join(f"vs {r}" for r in references) + " |",
        "|---|---|---|---|---|" + "---|" * len(references),
    ]
    for name, m in trained.items():
        low, high = m["test_mae_ci95"] or (math.nan, math.nan)
        cells = [_difference(m["paired"].get(r)) for r in references]
        lines.append(
            f"| {name} | {m['seeds']} | {m['test_mae']:.3f} | {m['test_mae_std']:.3f} | [{low:.3f}, {high:.3f}] | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def beyond_spread(models: dict[str, dict]) -> list[str]:
    """The paired differences larger than the seed spread, as ``"lstm-dropout vs lstm -0.082"``."""
    return [
        f"{name} vs {reference} {compared['difference']:+.3f}"
        for name, m in models.items()
        for reference, compared in m.get("paired", {}).items()
        if compared["beyond_seed_spread"]
    ]
