"""A sweep's results: every trial's settings, fate and best validation metric in ``trials.csv`` and
``trials.md``, their learning curves in ``trials.png``, and the best configuration in ``best.json``.

What is known of a trial comes from its run folder (``history.csv``, ``metrics.json``), the record the trial
itself kept, so that the table says the same as the folders whatever Tune's state.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from jenacast._atomic import write_text
from jenacast.report.plots import _pyplot, _save
from jenacast.training import rundir

TRIALS_CSV = "trials.csv"
TRIALS_MD = "trials.md"
TRIALS_PNG = "trials.png"
BEST = "best.json"


def summarise_trials(trials: list[dict], metric: str, epochs: int) -> dict:
    """``{"metric", "trials": [...] best first, "best"}`` from Tune's trials (``trial``, ``params``, ``run``,
    ``error``) and their run folders. A trial's status: finished (all ``epochs``, test MAE measured), stopped
    (by the scheduler, early), failed."""
    rows = []
    for trial in trials:
        run = Path(trial["run"])
        history = rundir.read_history(run / rundir.HISTORY) if (run / rundir.HISTORY).exists() else []
        best = min(history, key=lambda r: r[metric]) if history else None
        finished = (run / rundir.METRICS).exists()
        rows.append(
            {
                "trial": trial["trial"],
                "status": "failed" if trial["error"] else "finished" if finished else "stopped",
                "epochs": len(history),
                metric: best[metric] if best else None,
                "best_epoch": best["epoch"] if best else None,
                "test_mae": rundir.read_json(run / rundir.METRICS)["test_mae"] if finished else None,
                "params": trial["params"],
                "run": str(run),
                "curve": [r[metric] for r in history],
                "error": trial["error"],
            }
        )
    rows.sort(key=lambda r: (r[metric] is None, r[metric]))
    best = rows[0] if rows and rows[0][metric] is not None else None
    return {"metric": metric, "epochs": epochs, "trials": rows, "best": best}


def write_sweep_report(out: Path, summary: dict) -> None:
    """``trials.csv``, ``trials.md``, ``trials.png`` and ``best.json`` into ``out`` (each atomically)."""
    metric, rows = summary["metric"], summary["trials"]
    keys = sorted({key for row in rows for key in row["params"]})
    columns = ["trial", "status", "epochs", metric, "best_epoch", "test_mae", *keys, "run"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row, column) for column in columns])
    write_text(out / TRIALS_CSV, buffer.getvalue())
    lines = ["| " + " | ".join(columns[:-1]) + " |", "|" + "---|" * (len(columns) - 1)]
    lines += ["| " + " | ".join(_text(_cell(row, column)) for column in columns[:-1]) + " |" for row in rows]
    best = summary["best"]
    head = f"# Sweep: {len(rows)} trials, by best {metric}\n\n"
    if best:
        head += (
            f"Best: trial {best['trial']} ({_settings(best['params'])}), {metric} {best[metric]:.4f}, "
            f"run {best['run']}.\n\n"
        )
    write_text(out / TRIALS_MD, head + "\n".join(lines) + f"\n\n![{metric} per epoch]({TRIALS_PNG})\n")
    write_text(out / BEST, json.dumps(best, indent=2) + "\n")
    _plot(rows, metric, best, out / TRIALS_PNG)


def _cell(row: dict, column: str):
    return row["params"][column] if column in row["params"] else row.get(column)


def _text(value) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _settings(params: dict) -> str:
    return ", ".join(f"{k} {_text(v)}" for k, v in sorted(params.items()))


def _plot(rows: list[dict], metric: str, best: dict | None, path: Path) -> None:
    """Every trial's metric per epoch; the best one bold, stopped trials' lines ending where they stopped."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for row in rows:
        if not row["curve"]:
            continue
        chosen = best is not None and row["trial"] == best["trial"]
        ax.plot(
            range(1, len(row["curve"]) + 1),
            row["curve"],
            marker="o",
            markersize=3,
            linewidth=2.5 if chosen else 1,
            alpha=1 if chosen else 0.55,
            label=f"best: {_settings(row['params'])}" if chosen else None,
        )
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs
    ax.set_xlabel("Epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{len(rows)} trials: {metric} per epoch")
    if best is not None:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
