"""The in-memory form of a weather table: the Jena file's, or any station's."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# The real file's header, in order; the first is the timestamp, the other 14 are numeric.
DATE_COLUMN = "Date Time"
COLUMNS: tuple[str, ...] = (
    "p (mbar)",
    "T (degC)",
    "Tpot (K)",
    "Tdew (degC)",
    "rh (%)",
    "VPmax (mbar)",
    "VPact (mbar)",
    "VPdef (mbar)",
    "sh (g/kg)",
    "H2OC (mmol/mol)",
    "rho (g/m**3)",
    "wv (m/s)",
    "max. wv (m/s)",
    "wd (deg)",
)
TEMPERATURE_COLUMN = COLUMNS.index("T (degC)")  # 1, the book's target
WIND_COLUMNS = ("wv (m/s)", "max. wv (m/s)")
SENTINEL = -9999.0  # the real file's marker for a missing wind reading


@dataclass(frozen=True, eq=False)
class Table:
    """A weather table: ``timestamps`` datetime64[s] ``[N]``, ``values`` float32 ``[N, F]``.

    ``sha256`` is the digest of the file it was parsed from ("" when it was made in memory);
    ``source`` says where it came from, for messages and reports. ``interval`` is the seconds between rows
    (the Jena file's 10 minutes, or what a station's table was put on; see ``data.regular``). A table loaded
    from any station's file may hold NaN for cells missing over a long gap, and records in ``loading`` what
    loading did (``data.station``): rows sorted, de-duplicated, cells filled, columns left out.
    """

    timestamps: np.ndarray
    values: np.ndarray
    names: tuple[str, ...] = COLUMNS
    source: str = ""
    sha256: str = ""
    interval: int = 600
    loading: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        """The values of one column by its header name, e.g. ``"T (degC)"``."""
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"no column {name!r}; columns are {', '.join(self.names)}") from None

    def sentinel_counts(self) -> dict[str, int]:
        """How many cells of each column hold the -9999 missing-value marker."""
        hits = self.values == np.float32(SENTINEL)
        return {name: int(n) for name, n in zip(self.names, hits.sum(axis=0)) if n}

    def with_wind_sentinels_replaced(self, value: float = 0.0) -> Table:
        """A copy with the -9999 wind sentinels set to ``value`` (the TensorFlow tutorial's cleaning).

        The book does not clean them; the chapter keeps them by default.
        """
        values = self.values.copy()
        for name in WIND_COLUMNS:
            if name in self.names:
                col = values[:, self.names.index(name)]
                col[col == np.float32(SENTINEL)] = value
        return replace(self, values=values)
