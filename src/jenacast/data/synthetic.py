"""A Jena-like synthetic weather dataset, for offline use, tests and CI.

The model (all processes at the real file's 10-minute cadence; "smooth noise" is Gaussian noise
with a second-order low-pass spectrum of the stated correlation time, made by FFT filtering):

* **Air mass.** A slow anomaly ``m(t)`` (correlation time 2 days; 5.8 C standard deviation in
  winter, 4.2 C in summer) carries most of the weather-driven temperature change; a faster
  anomaly (12 h, 2.2 C) and 0.15 C sensor noise add what the past cannot predict.
* **Pressure leads temperature.** Weather systems move pressure before the air mass arrives:
  ``p = 989.2 + 8.4 * (-0.75 m(t + 18 h) + 0.66 u(t))`` (u an independent 4-day system), plus a
  0.4 mbar semidiurnal tide. So pressure and its tendency carry information about the next day's
  temperature that the last temperature does not (the learnable signal beyond persistence).
* **Wind.** Speed rises with how fast the air mass is changing in the next hours; the direction
  turns southerly ahead of warming and north-westerly ahead of cooling. ``max. wv`` is a gust
  factor above ``wv``. A rate of about 2e-5 rows carry the real file's -9999 sentinel in both.
* **Clouds and humidity.** Cloudiness is a logistic function of low pressure plus its own noise;
  it damps the diurnal cycle and shrinks the dew-point depression, which also follows the day
  (largest in the afternoon) and the season (largest in summer).
* **Temperature.** ``T = 9.45 - 9.0 cos(2 pi (day - 20) / 365.25)`` (Jena: about 0 C in January,
  19 C in July) plus a diurnal cycle peaking at 15:00 with amplitude 1.2 C in winter to 4.8 C in
  summer (damped up to 60 % by clouds), plus the anomalies above.
* **Derived columns** use the standard formulas: ``Tpot = (T + 273.15)(1000/p)^0.286``; Magnus
  ``VP = 6.112 exp(17.62 t / (243.12 + t))`` for VPmax (at T) and VPact (at Tdew);
  ``rh = 100 VPact/VPmax``; ``VPdef = VPmax - VPact``; ``sh = 1000 * 0.622 VPact / (p - 0.378 VPact)``;
  ``H2OC = 1000 VPact / p``; ``rho = 100 p / (287.05 (T + 273.15)) * 1000`` (g/m**3).
* **Format.** Rows start at 01.01.2009 00:10:00 every 10 minutes, with a few gaps so that 8
  years hold the book's 420,451 rows (317 missing, like the real file); values are rounded to
  two decimals exactly as the CSV writes them, so a written and re-read table is identical.
"""

from __future__ import annotations

import numpy as np

from jenacast.data.table import COLUMNS, SENTINEL, Table

STEPS_PER_HOUR = 6
STEPS_PER_DAY = 144
_REAL_GRID_ROWS = 420_768  # 8 years at 10 minutes
_REAL_ROWS = 420_451  # the book's copy
START = np.datetime64("2009-01-01T00:10:00", "s")


def _smooth_noise(rng: np.random.Generator, n: int, tau_steps: float) -> np.ndarray:
    """Unit-variance Gaussian noise with spectrum ``1 / (1 + (2 pi f tau)^2)^2``, length ``n``."""
    size = 1 << int(np.ceil(np.log2(n + 4 * tau_steps)))  # padding keeps the wrap-around out of range
    freqs = np.fft.rfftfreq(size)
    shape = 1.0 / (1.0 + (2 * np.pi * freqs * tau_steps) ** 2)
    spectrum = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
    series = np.fft.irfft(spectrum * shape, size)[:n]
    return (series - series.mean()) / series.std()


def _magnus(t_celsius: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure in mbar (Magnus formula over water)."""
    return 6.112 * np.exp(17.62 * t_celsius / (243.12 + t_celsius))


def generate_synthetic(seed: int = 0, *, years: float = 8.0) -> Table:
    """A Jena-like table: the real schema and format, physically consistent columns, deterministic by seed.

    ``years=8`` gives the book's 420,451 rows; shorter spans keep the same gap rate.
    """
    if not years > 0:
        raise ValueError(f"years must be positive, got {years!r}.")
    rng = np.random.default_rng(seed)
    grid = int(round(years * 365.25 * STEPS_PER_DAY))
    rows = int(round(grid * _REAL_ROWS / _REAL_GRID_ROWS))
    lead = 18 * STEPS_PER_HOUR
    n = grid + lead  # the air mass is drawn 18 h beyond the end because pressure sees it early

    minutes = 10 * (np.arange(grid) + 1)
    day = minutes / (60 * 24)
    hour = day % 1.0 * 24
    season = -np.cos(2 * np.pi * (day - 20) / 365.25)  # -1 in mid-January, +1 in mid-July
    summer = (season + 1) / 2

    air_mass = _smooth_noise(rng, n, 48 * STEPS_PER_HOUR)
    fast = _smooth_noise(rng, grid, 12 * STEPS_PER_HOUR)
    system = _smooth_noise(rng, grid, 96 * STEPS_PER_HOUR)
    cloud_noise = _smooth_noise(rng, grid, 8 * STEPS_PER_HOUR)
    gusts = _smooth_noise(rng, grid, 1 * STEPS_PER_HOUR)
    turn = _smooth_noise(rng, grid, 6 * STEPS_PER_HOUR)

    m_now, m_ahead = air_mass[:grid], air_mass[lead:]
    tendency = np.gradient(m_ahead) * 72 * STEPS_PER_HOUR  # roughly unit scale

    pressure = 989.2 + 8.4 * (-0.75 * m_ahead + 0.66 * system) + 0.4 * np.cos(4 * np.pi * (hour - 10) / 24)
    cloud = 1 / (1 + np.exp(-(1.6 * (989.2 - pressure) / 8.4 + 1.0 * cloud_noise + 0.2)))
    diurnal = np.cos(2 * np.pi * (hour - 15) / 24)
    amplitude = (3.0 + 1.8 * season) * (1 - 0.6 * cloud)
    weather = (5.0 - 0.8 * season) * m_now + 2.2 * fast
    temperature = 9.45 + 9.0 * season + amplitude * diurnal + weather
    temperature += 0.15 * rng.standard_normal(grid)

    depression = (0.8 + 3.8 * (1 - cloud)) * (1 + 0.8 * summer) * (1 + 0.6 * diurnal) + 0.3 * rng.standard_normal(grid)
    dew_point = temperature - np.maximum(depression, 0.05)

    wind = np.maximum(0.05, 1.6 + 0.9 * np.abs(tendency) + 0.7 * gusts + 0.5 * (1 - summer) + 0.3 * rng.standard_normal(grid))
    gust_factor = 1.45 + 0.25 * np.abs(rng.standard_normal(grid))
    wind_max = wind * gust_factor + 0.2
    direction = (215 - 70 * np.tanh(tendency) + 35 * turn + 20 * rng.standard_normal(grid)) % 360

    vp_max = _magnus(temperature)
    vp_act = _magnus(dew_point)
    columns = {
        "p (mbar)": pressure,
        "T (degC)": temperature,
        "Tpot (K)": (temperature + 273.15) * (1000 / pressure) ** 0.286,
        "Tdew (degC)": dew_point,
        "rh (%)": 100 * vp_act / vp_max,
        "VPmax (mbar)": vp_max,
        "VPact (mbar)": vp_act,
        "VPdef (mbar)": vp_max - vp_act,
        "sh (g/kg)": 1000 * 0.622 * vp_act / (pressure - 0.378 * vp_act),
        "H2OC (mmol/mol)": 1000 * vp_act / pressure,
        "rho (g/m**3)": 100 * pressure / (287.05 * (temperature + 273.15)) * 1000,
        "wv (m/s)": wind,
        "max. wv (m/s)": wind_max,
        "wd (deg)": direction,
    }
    values = np.column_stack([columns[name] for name in COLUMNS])

    keep = _rows_outside_gaps(rng, grid, grid - rows)
    values = values[keep]
    sentinel_rows = rng.choice(len(values), size=max(1, int(round(2e-5 * len(values)))), replace=False)
    for name in ("wv (m/s)", "max. wv (m/s)"):
        values[sentinel_rows, COLUMNS.index(name)] = SENTINEL
    timestamps = START + (keep * 600).astype("timedelta64[s]")
    # Round through the CSV's two decimals so that writing and re-reading changes nothing.
    values = np.round(values, 2).astype(np.float32)
    return Table(timestamps=timestamps, values=values, names=COLUMNS, source=f"synthetic(seed={seed}, years={years:g})")


def _rows_outside_gaps(rng: np.random.Generator, grid: int, missing: int) -> np.ndarray:
    """Indices of the grid rows kept after cutting ``missing`` rows as a few gaps of random length."""
    keep = np.ones(grid, dtype=bool)
    if missing > 0:
        pieces = max(1, min(6, missing))
        lengths = np.diff(np.sort(np.concatenate(([0, missing], rng.choice(np.arange(1, missing), pieces - 1, replace=False)))))
        starts = np.sort(rng.choice(np.arange(STEPS_PER_DAY, grid - STEPS_PER_DAY - missing), pieces, replace=False))
        for start, length in zip(starts, lengths):
            keep[start:start + length] = False
    return np.flatnonzero(keep)
