from dataclasses import replace

import numpy as np
import pytest
import torch

from jenacast.data import COLUMNS, generate_synthetic, make_splits
from jenacast.data.calibration import compare_to_jena
from jenacast.data.csvio import format_csv


@pytest.fixture(scope="module")
def full():
    return generate_synthetic(0)


def col(table, name):
    return table.column(name).astype(np.float64)


def test_real_length_start_and_cadence(full):
    assert len(full) == 420_451
    assert str(full.timestamps[0]) == "2009-01-01T00:10:00"
    steps = np.diff(full.timestamps.astype(np.int64))
    assert (steps >= 600).all() and np.median(steps) == 600
    assert 1 <= (steps > 600).sum() <= 6  # a few gaps
    assert (steps > 600).sum() and (steps // 600 - 1).sum() == 420_768 - 420_451


def test_text_format_matches_the_real_file():
    text = format_csv(generate_synthetic(1, years=0.01)).decode()
    lines = text.splitlines()
    assert lines[0] == '"Date Time",' + ",".join(f'"{c}"' for c in COLUMNS)
    assert lines[1].startswith("01.01.2009 00:10:00,") and lines[2].startswith("01.01.2009 00:20:00,")
    assert all(len(cell.split(".")[1]) == 2 for cell in lines[1].split(",")[1:])


def test_deterministic_by_seed():
    a, b, c = (generate_synthetic(s, years=0.1) for s in (7, 7, 8))
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values, c.values)


def test_physical_identities(full):
    ok = col(full, "wv (m/s)") > -9999  # rows without sentinels
    t, td = col(full, "T (degC)"), col(full, "Tdew (degC)")
    vpmax, vpact, vpdef = col(full, "VPmax (mbar)"), col(full, "VPact (mbar)"), col(full, "VPdef (mbar)")
    assert (td <= t + 1e-9).all()
    # the CSV keeps two decimals, so identities hold to rounding (each cell is off by up to 0.005)
    rounding = 100 * (0.005 / vpmax + vpact * 0.005 / vpmax**2) + 0.005
    assert (np.abs(col(full, "rh (%)") - 100 * vpact / vpmax) <= rounding * 1.01).all()
    np.testing.assert_allclose(vpdef, vpmax - vpact, atol=0.011)
    p = col(full, "p (mbar)")
    np.testing.assert_allclose(col(full, "Tpot (K)"), (t + 273.15) * (1000 / p) ** 0.286, atol=0.02)
    np.testing.assert_allclose(col(full, "sh (g/kg)"), 622 * vpact / (p - 0.378 * vpact), atol=0.02)
    assert ((col(full, "rh (%)") > 0) & (col(full, "rh (%)") <= 100)).all()
    assert ((col(full, "wd (deg)") >= 0) & (col(full, "wd (deg)") <= 360)).all()
    assert (col(full, "max. wv (m/s)")[ok] >= col(full, "wv (m/s)")[ok]).all()


def test_jena_magnitudes_and_a_few_sentinels(full):
    t = col(full, "T (degC)")
    january = (full.timestamps.astype("datetime64[M]").astype(int) % 12) == 0
    july = (full.timestamps.astype("datetime64[M]").astype(int) % 12) == 6
    assert -3 < t[january].mean() < 3 and 15 < t[july].mean() < 22
    assert 7 < t.std() < 10
    assert 980 < col(full, "p (mbar)").mean() < 1000
    counts = full.sentinel_counts()
    assert set(counts) == {"wv (m/s)", "max. wv (m/s)"} and 1 <= counts["wv (m/s)"] <= 50


@pytest.mark.parametrize("seed", [0, 1])
def test_calibrated_to_the_real_jena_statistics(seed):
    checks = compare_to_jena(generate_synthetic(seed))
    assert len(checks) == 14 * 3 + 2 + 2  # mean, std and correlation (T: three quartiles) per column, two baselines
    off = [f"{c.name}: {c.value:.3f} against {c.target:g} ({c.share:.2f} of the tolerance)" for c in checks if not c.ok]
    assert not off, off


def test_calibration_checks_can_fail(full):
    hotter = replace(full, values=full.values + np.float32(4.0) * (np.arange(14) == 1))
    failed = {c.name for c in compare_to_jena(hotter, baseline=False) if not c.ok}
    assert failed == {"T (degC) mean", "T (degC) 25 %", "T (degC) 50 %", "T (degC) 75 %"}
    values = full.values.copy()
    values[:, COLUMNS.index("p (mbar)")] = 989.2 + 0.5 * (values[:, 1] - 9.45)  # pressure that follows T
    values[:, COLUMNS.index("wv (m/s)")] *= 1.3
    values[:, 1] += np.random.default_rng(0).normal(0.0, 2.0, len(values)).astype(np.float32)  # a noisier T
    failed = {c.name for c in compare_to_jena(replace(full, values=values)) if not c.ok}
    assert {
        "p (mbar) correlation with T",
        "p (mbar) std",
        "wv (m/s) std",
        "baseline val MAE",
        "baseline test MAE",
    } <= failed


def _raw_windows(split, splits, stride=7):
    x, y = split.gather(torch.arange(0, len(split), stride))
    x = x.double().numpy() * splits.std + splits.mean
    return x, y.double().numpy() - x[:, -1, 1]  # the windows in their units, the error of persistence


def _gain(features, train, test):
    """MAE of a least-squares correction of persistence on test, relative to persistence's (-0.05: 5 % better)."""
    (xt, rt), (xs, rs) = train, test
    weights = np.linalg.lstsq(features(xt), rt, rcond=None)[0]
    return np.abs(features(xs) @ weights - rs).mean() / np.abs(rs).mean() - 1


def _advection(hours):
    """The wind along and across 200 degrees (where warm air comes from), mean over the given hours."""

    def features(x):
        speed, angle = x[:, hours, 11].clip(0), np.deg2rad(x[:, hours, 13] - 200)
        return np.stack([(speed * np.cos(angle)).mean(1), (speed * np.sin(angle)).mean(1), np.ones(len(x))], 1)

    return features


def test_what_lies_beyond_persistence_is_in_the_last_hours_wind(full):
    """The generator's design: tomorrow's change beyond persistence shows in a product of wind speed and
    direction in the last hours, which a linear model of the raw features reads only in part."""
    splits = make_splits(full)
    train, test = _raw_windows(splits.train, splits), _raw_windows(splits.test, splits)
    recent = _gain(_advection(slice(-3, None)), train, test)
    early = _gain(_advection(slice(0, 3)), train, test)
    linear = _gain(lambda x: np.concatenate([x[:, -1], np.ones((len(x), 1))], 1), train, test)
    assert recent < -0.045 and early > -0.01
    assert recent < linear - 0.015 < 0
