"""The real Jena data's published statistics, and a table's distance from them.

The synthetic dataset is calibrated to these numbers (``data.synthetic``); ``compare_to_jena``
says, target by target, how close a table comes. Statistics are over hourly rows (``values[5::6]``,
as the TensorFlow tutorial's ``describe()``) with the wind sentinels set to 0; correlations with
``T (degC)`` over every row, sentinels in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jenacast.data.table import SENTINEL, TEMPERATURE_COLUMN, Table

# column: (mean, std, min, 25 %, 50 %, 75 %, max, correlation with T), hourly rows of a 420,551-row copy
JENA_HOURLY: dict[str, tuple[float, ...]] = {
    "p (mbar)": (989.21, 8.36, 913.60, 984.20, 989.57, 994.72, 1015.29, -0.045),
    "T (degC)": (9.45, 8.42, -22.76, 3.35, 9.41, 15.48, 37.28, 1.0),
    "Tpot (K)": (283.49, 8.50, 250.85, 277.44, 283.46, 289.53, 311.21, 0.997),
    "Tdew (degC)": (4.96, 6.73, -24.80, 0.24, 5.21, 10.08, 23.06, 0.896),
    "rh (%)": (76.01, 16.47, 13.88, 65.21, 79.30, 89.40, 100.00, -0.572),
    "VPmax (mbar)": (13.58, 7.74, 0.97, 7.77, 11.82, 17.61, 63.77, 0.951),
    "VPact (mbar)": (9.53, 4.18, 0.81, 6.22, 8.86, 12.36, 28.25, 0.868),
    "VPdef (mbar)": (4.04, 4.90, 0.00, 0.87, 2.19, 5.30, 46.01, 0.762),
    "sh (g/kg)": (6.02, 2.66, 0.51, 3.92, 5.59, 7.80, 18.07, 0.867),
    "H2OC (mmol/mol)": (9.64, 4.23, 0.81, 6.29, 8.96, 12.49, 28.74, 0.867),
    "rho (g/m**3)": (1216.06, 39.97, 1059.45, 1187.47, 1213.80, 1242.77, 1393.54, -0.963),
    "wv (m/s)": (2.13, 1.54, 0.0, 0.99, 1.76, 2.86, 14.01, -0.005),
    "max. wv (m/s)": (3.53, 2.34, 0.0, 1.76, 2.98, 4.74, 23.50, -0.003),
    "wd (deg)": (174.79, 86.62, 0.0, 125.30, 198.10, 234.00, 360.0, 0.039),
}
BOOK_BASELINE_MAE = {"val": 2.44, "test": 2.62}  # the common-sense baseline on the book's splits

# How close counts as calibrated: a mean within 5 % of the real column's range, a std within 15 %,
# T's quartiles within 1.5 degrees, a correlation within 0.1, the baseline's MAE within 0.15 degrees.
MEAN_OF_RANGE, STD_RELATIVE, QUARTILE_DEGREES, CORRELATION, BASELINE_DEGREES = 0.05, 0.15, 1.5, 0.1, 0.15


@dataclass(frozen=True)
class Check:
    """One calibration target: ``value`` against ``target``, within ``tolerance`` (in ``distance``'s units)."""

    name: str
    target: float
    value: float
    distance: float  # how far, in the tolerance's units
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.distance <= self.tolerance

    @property
    def share(self) -> float:
        """The distance as a share of the tolerance: 1.0 is on the edge."""
        return self.distance / self.tolerance


def compare_to_jena(table: Table, *, baseline: bool = True) -> list[Check]:
    """Every calibration target for ``table`` (Jena columns): per column mean, std and correlation with T,
    T's quartiles, and (``baseline=True``) the common-sense baseline's validation and test MAE."""
    values = table.values.astype(np.float64)
    hourly = values[5::6].copy()
    hourly[hourly == SENTINEL] = 0.0
    temperature = values[:, table.names.index("T (degC)")]
    checks = []
    for name, (mean, std, low, q25, q50, q75, high, corr) in JENA_HOURLY.items():
        column = hourly[:, table.names.index(name)]
        checks.append(
            Check(f"{name} mean", mean, column.mean(), abs(column.mean() - mean) / (high - low), MEAN_OF_RANGE)
        )
        checks.append(Check(f"{name} std", std, column.std(), abs(column.std() / std - 1), STD_RELATIVE))
        if name != "T (degC)":
            value = float(np.corrcoef(values[:, table.names.index(name)], temperature)[0, 1])
            checks.append(Check(f"{name} correlation with T", corr, value, abs(value - corr), CORRELATION))
        else:
            for label, target, value in zip(
                ("25 %", "50 %", "75 %"), (q25, q50, q75), np.percentile(column, [25, 50, 75])
            ):
                checks.append(Check(f"T (degC) {label}", target, value, abs(value - target), QUARTILE_DEGREES))
    if baseline:
        from jenacast.data.windows import make_splits
        from jenacast.evaluate import baseline_mae

        splits = make_splits(table, target_column=TEMPERATURE_COLUMN)
        for split_name, split in (("val", splits.val), ("test", splits.test)):
            value = baseline_mae(split)
            target = BOOK_BASELINE_MAE[split_name]
            checks.append(Check(f"baseline {split_name} MAE", target, value, abs(value - target), BASELINE_DEGREES))
    return checks
