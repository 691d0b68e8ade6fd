import numpy as np
import pytest
import torch

from jenacast.data import COLUMNS, generate_synthetic, make_splits
from jenacast.data.csvio import format_csv
from jenacast.evaluate import baseline_mae


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


def test_baseline_in_range_and_signal_beyond_persistence(full):
    splits = make_splits(full)
    test_mae = baseline_mae(splits.test)
    assert 2.0 < test_mae < 3.5
    # A least-squares correction from the last hour's features and 6/24-hour tendencies beats persistence.
    def features(split):
        x, y = split.gather(torch.arange(0, len(split), 7))
        last = x[:, -1]
        f = np.concatenate([last, last - x[:, -7], last - x[:, -25], np.ones((len(x), 1))], axis=1)
        persistence = x[:, -1, 1].numpy() * splits.std[1] + splits.mean[1]
        return f.astype(np.float64), y.numpy() - persistence

    fx, fy = features(splits.train)
    weights = np.linalg.lstsq(fx, fy, rcond=None)[0]
    tx, ty = features(splits.test)
    assert np.abs(tx @ weights - ty).mean() < 0.9 * np.abs(ty).mean()
