"""Statistics over seeds: the intervals are Student's, the comparisons paired, and the verdicts follow them."""

import math

import pytest

from jenacast.report.seeds import (
    beyond_spread,
    format_seed_table,
    mean_interval,
    paired_difference,
    seed_statistics,
    t975,
)


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats", reason="scipy gives the reference quantiles")
    for dof in [*range(1, 41), 60, 120, 1000]:
        assert t975(dof) == pytest.approx(stats.t.ppf(0.975, dof), abs=1e-3), dof


def test_t_quantile_refuses_no_degrees_of_freedom():
    with pytest.raises(ValueError, match="at least 1"):
        t975(0)


def test_mean_interval_is_students():
    low, high = mean_interval([1.0, 2.0, 3.0])  # mean 2, standard deviation 1
    half = 4.303 / math.sqrt(3)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert mean_interval([2.5]) is None


def test_pairing_sees_a_consistent_difference_that_the_spread_hides():
    # the seeds move both models together: unpaired, the intervals overlap; seed by seed, b is always 0.05 lower
    a = [2.50, 2.60, 2.70, 2.55]
    b = [x - 0.05 + d for x, d in zip(a, (0.002, -0.001, 0.001, -0.002))]
    low_a, _ = mean_interval(a)
    _, high_b = mean_interval(b)
    assert high_b > low_a  # unpaired, no verdict
    compared = paired_difference(b, a)
    assert compared["difference"] == pytest.approx(-0.05)
    assert compared["beyond_seed_spread"] and compared["ci95"][1] < 0 and compared["seeds"] == 4


def test_a_difference_within_the_spread_is_not_called():
    compared = paired_difference([2.50, 2.62, 2.45], [2.55, 2.50, 2.52])
    assert compared["ci95"][0] < 0 < compared["ci95"][1] and not compared["beyond_seed_spread"]
    assert paired_difference([2.5], [2.6]) is None


def entries(per_seed: dict[str, list[float]]) -> dict[str, dict]:
    return {
        name: {
            "test_mae": sum(v) / len(v),
            "test_mae_std": 0.0,
            "seeds": len(v),
            "test_mae_per_seed": v,
        }
        for name, v in per_seed.items()
    }


def test_each_model_is_compared_with_the_baseline_and_the_lstm_on_the_same_seeds():
    models = entries(
        {
            "baseline": [2.70],
            "lstm": [2.55, 2.57, 2.56],
            "lstm-dropout": [2.47, 2.50, 2.48],
            "bidirectional": [2.50, 2.66, 2.58],
        }
    )
    seed_statistics(models)
    assert models["baseline"]["paired"] == {} and models["baseline"]["test_mae_ci95"] is None
    assert set(models["lstm"]["paired"]) == {"baseline"}  # not with itself
    assert set(models["lstm-dropout"]["paired"]) == {"baseline", "lstm"}
    # the baseline counts the same for every seed
    assert models["lstm"]["paired"]["baseline"]["difference"] == pytest.approx(2.56 - 2.70)
    assert models["lstm-dropout"]["paired"]["lstm"]["beyond_seed_spread"]
    assert not models["bidirectional"]["paired"]["lstm"]["beyond_seed_spread"]
    called = beyond_spread(models)
    assert "lstm-dropout vs lstm -0.077" in called and not any(c.startswith("bidirectional vs lstm") for c in called)
    table = format_seed_table(models)
    assert table.count("\n") == 1 + 3  # header, rule, a row per trained model
    assert "| lstm-dropout | 3 | 2.483 |" in table and "**beyond the spread**" in table and "within the spread" in table


def test_one_seed_gives_no_statistics():
    models = entries({"baseline": [2.70], "lstm": [2.55]})
    seed_statistics(models)
    assert models["lstm"]["test_mae_ci95"] is None and models["lstm"]["paired"] == {}
    assert format_seed_table(models) == "" and beyond_spread(models) == []
