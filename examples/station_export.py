"""Write an hourly station export, the kind an airport's METAR archive or a national weather service gives, to try
jenacast on "your own data" offline.

    python examples/station_export.py station.csv [--seed 0]

The weather is the synthetic Jena-like dataset's (``jenacast data synth``), taken hourly and dressed as a METAR
archive: a zone-aware ISO time column ``valid``, temperature and dew point in degrees C (``tmpc``, ``dwpc``),
relative humidity (``relh``), wind in knots (``sknt``) and degrees (``drct``), sea-level pressure (``mslp``), a
text column (``station``), the occasional missing hour and cell, a few outages of half a day, and the odd
report sent twice. Then:

    jenacast data info station.csv --target tmpc
    jenacast chapter --dataset station.csv --target tmpc --quick --out chapter-station
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from jenacast.data import generate_synthetic

KNOTS_PER_MS = 1.943844


def station_export(seed: int = 0) -> pd.DataFrame:
    table = generate_synthetic(seed)
    hourly = table.timestamps.astype("datetime64[m]").astype(np.int64) % 60 == 0  # the readings on the hour
    rng = np.random.default_rng(seed + 1)
    frame = pd.DataFrame(
        {
            "station": "EDDJ",
            "valid": pd.to_datetime(table.timestamps[hourly]).tz_localize(
                "Europe/Berlin", ambiguous="NaT", nonexistent="NaT"
            ),
            "tmpc": table.column("T (degC)")[hourly].round(1),
            "dwpc": table.column("Tdew (degC)")[hourly].round(1),
            "relh": table.column("rh (%)")[hourly].round(0),
            "sknt": np.clip(table.column("wv (m/s)")[hourly], 0, None).round(1) * KNOTS_PER_MS,
            "drct": (table.column("wd (deg)")[hourly] / 10).round() * 10,
            "mslp": table.column("p (mbar)")[hourly].round(1) + 25.0,
        }
    ).dropna(subset=["valid"])
    frame["valid"] = frame["valid"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    frame["sknt"] = frame["sknt"].round(0)
    rows = len(frame)
    frame = frame.drop(index=frame.index[rng.choice(rows, rows // 200, replace=False)])  # missing hours
    for start in rng.choice(len(frame) - 12, 6, replace=False):  # outages of half a day
        frame = frame.drop(index=frame.index[start : start + 12], errors="ignore")
    for column in ("dwpc", "relh", "sknt", "drct", "mslp"):  # missing cells
        frame.loc[frame.index[rng.choice(len(frame), len(frame) // 300, replace=False)], column] = np.nan
    twice = frame.iloc[rng.choice(len(frame), 20, replace=False)]  # reports sent twice, at the end of the file
    return pd.concat([frame, twice])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="where to write the CSV")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = station_export(args.seed)
    frame.to_csv(args.out, index=False)
    print(f"{args.out}: {len(frame):,} rows, {frame['valid'].iloc[0]} .. {frame['valid'].iloc[-21]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
