"""What `jenacast data info` reports about a table."""

from __future__ import annotations

import numpy as np

from jenacast.data.table import SENTINEL, Table

CADENCE_SECONDS = 600


def describe(table: Table) -> dict:
    """Rows, date range, per-column statistics (sentinels excluded), gaps, duplicates and sentinels."""
    steps = np.diff(table.timestamps.astype(np.int64))
    gaps = steps[steps > CADENCE_SECONDS]
    columns = {}
    for i, name in enumerate(table.names):
        col = table.values[:, i].astype(np.float64)
        real = col[col != SENTINEL]
        columns[name] = {
            "mean": float(real.mean()) if real.size else float("nan"),
            "std": float(real.std()) if real.size else float("nan"),
            "min": float(real.min()) if real.size else float("nan"),
            "max": float(real.max()) if real.size else float("nan"),
        }
    return {
        "source": table.source,
        "sha256": table.sha256,
        "rows": len(table),
        "start": str(table.timestamps[0]).replace("T", " "),
        "end": str(table.timestamps[-1]).replace("T", " "),
        "gaps": int(gaps.size),
        "missing_rows": int((gaps // CADENCE_SECONDS - 1).sum()),
        "largest_gap_hours": float(gaps.max() / 3600) if gaps.size else 0.0,
        "duplicated_timestamps": int((steps == 0).sum()),
        "backward_steps": int((steps < 0).sum()),
        "sentinels": table.sentinel_counts(),
        "columns": columns,
    }


def format_description(info: dict) -> str:
    lines = [
        f"source      {info['source']}",
        f"sha256      {info['sha256'] or '-'}",
        f"rows        {info['rows']:,}",
        f"dates       {info['start']} .. {info['end']}",
        f"gaps        {info['gaps']} (missing rows {info['missing_rows']:,}, largest "
        f"{info['largest_gap_hours']:.1f} h)",
        f"duplicated  {info['duplicated_timestamps']} timestamps; {info['backward_steps']} steps back in time",
        "sentinels   " + (", ".join(f"{k}: {v}" for k, v in info["sentinels"].items()) or "none") + " (-9999 cells)",
        "",
        f"{'column':<18}{'mean':>10}{'std':>10}{'min':>10}{'max':>10}",
    ]
    for name, s in info["columns"].items():
        lines.append(f"{name:<18}{s['mean']:>10.2f}{s['std']:>10.2f}{s['min']:>10.2f}{s['max']:>10.2f}")
    lines.append("(statistics exclude the -9999 sentinels)")
    return "\n".join(lines)
