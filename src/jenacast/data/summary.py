"""What `jenacast data info` reports about a dataset: the table as read, what loading did, and the windows."""

from __future__ import annotations

import numpy as np

from jenacast.data.durations import format_duration
from jenacast.data.select import Dataset
from jenacast.data.table import SENTINEL
from jenacast.errors import DataError


def describe(dataset: Dataset) -> dict:
    """Rows, interval, dates, per-column statistics (missing cells and -9999 sentinels excluded), gaps,
    duplicates, sentinels, what loading did, and the windows of the three splits."""
    table = dataset.table
    steps = np.diff(table.timestamps.astype(np.int64))
    gaps = steps[steps > table.interval]
    columns = {}
    for i, name in enumerate(table.names):
        col = table.values[:, i].astype(np.float64)
        real = col[(col != SENTINEL) & ~np.isnan(col)]
        columns[name] = {
            "mean": float(real.mean()) if real.size else float("nan"),
            "std": float(real.std()) if real.size else float("nan"),
            "min": float(real.min()) if real.size else float("nan"),
            "max": float(real.max()) if real.size else float("nan"),
            "missing": int(np.isnan(col).sum()),
        }
    try:
        splits = dataset.splits
        windows = {name: len(getattr(splits, name)) for name in ("train", "val", "test")}
        windows["dropped"] = splits.dropped
    except DataError as exc:
        windows = {"problem": str(exc)}
    return {
        "source": table.source,
        "sha256": table.sha256,
        "rows": len(table),
        "interval_seconds": table.interval,
        "start": str(table.timestamps[0]).replace("T", " "),
        "end": str(table.timestamps[-1]).replace("T", " "),
        "gaps": int(gaps.size),
        "missing_rows": int((gaps // table.interval - 1).sum()),
        "largest_gap_hours": float(gaps.max() / 3600) if gaps.size else 0.0,
        "duplicated_timestamps": int((steps == 0).sum()),
        "backward_steps": int((steps < 0).sum()),
        "sentinels": table.sentinel_counts(),
        "target": dataset.target,
        "window": dataset.info_window(),
        "windows": windows,
        "loading": table.loading,
        "columns": columns,
    }


def format_description(info: dict) -> str:
    window, windows, loading = info["window"], info["windows"], info["loading"]
    lines = [
        f"source      {info['source']}",
        f"sha256      {info['sha256'] or '-'}",
        f"rows        {info['rows']:,}, every {format_duration(info['interval_seconds'])}",
        f"dates       {info['start']} .. {info['end']}",
    ]
    if not loading:  # the Jena format, read as the book reads it: rows as they are
        lines += [
            f"gaps        {info['gaps']} (missing rows {info['missing_rows']:,}, largest "
            f"{info['largest_gap_hours']:.1f} h)",
            f"duplicated  {info['duplicated_timestamps']} timestamps; {info['backward_steps']} steps back in time",
            "sentinels   "
            + (", ".join(f"{k}: {v}" for k, v in info["sentinels"].items()) or "none")
            + " (-9999 cells)",
        ]
    else:
        lines += [
            f"loaded      {loading['rows_read']:,} rows read (time from {loading['time_column']}): "
            f"{loading['steps_back_in_time']} steps back in time sorted, {loading['duplicated_times']} duplicated "
            f"times dropped (the later row kept), {loading['off_grid']:,} off the grid moved to it, "
            f"{loading['rows_without_time']} without a time left out",
            f"missing     {loading['missing_cells']:,} cells ({loading['missing_rows']:,} rows absent in time): "
            f"{loading['filled_cells']:,} filled by interpolation, {loading['unfilled_cells']:,} left (long gaps)",
            *(f"note        {note}" for note in loading["notes"]),
        ]
    lines.append(
        f"target      {info['target']!r}, {window['horizon']} after the last of {window['sequence_length']} "
        f"readings every {window['step']} (lookback {window['lookback']})"
    )
    if "problem" in windows:
        lines.append(f"windows     none: {windows['problem']}")
    else:
        lines.append(
            f"windows     train {windows['train']:,}, val {windows['val']:,}, test {windows['test']:,}"
            + (f" ({windows['dropped']:,} dropped: they touch a long gap)" if windows["dropped"] else "")
        )
    lines += ["", f"{'column':<18}{'mean':>10}{'std':>10}{'min':>10}{'max':>10}{'missing':>9}"]
    for name, s in info["columns"].items():
        lines.append(
            f"{name:<18}{s['mean']:>10.2f}{s['std']:>10.2f}{s['min']:>10.2f}{s['max']:>10.2f}{s['missing']:>9,}"
        )
    lines.append("(statistics exclude missing cells and -9999 sentinels)")
    return "\n".join(lines)
