"""The chapter's figures: learning curves per model and one comparison chart."""

from __future__ import annotations

import textwrap
from pathlib import Path

from jenacast._atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], path: Path, title: str, baseline_val_mae: float | None = None) -> None:
    """The book's figure: training MAE (dots) and validation MAE (line) per epoch."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.plot(epochs, [row["mae"] for row in history], "bo", label="Training MAE")
    ax.plot(epochs, [row["val_mae"] for row in history], "b", label="Validation MAE")
    if baseline_val_mae is not None:
        ax.axhline(baseline_val_mae, color="gray", linestyle="--", linewidth=1, label="Baseline (validation)")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("MAE (degrees C)")
    ax.set_title(textwrap.fill(title, 64), fontsize=10)  # long architectures wrap instead of running off
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def plot_comparison(rows: list[dict], path: Path, title: str) -> None:
    """Bars of test MAE per model (with the spread over seeds), the baseline as a line, the book's marks."""
    plt = _pyplot()
    names = [r["name"] for r in rows]
    test = [r["test_mae"] for r in rows]
    spread = [r.get("test_mae_std") or 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.4), dpi=110)
    positions = range(len(names))
    is_base = [n == "baseline" for n in names]
    for base, color, label in ((True, "gray", "common-sense baseline"), (False, "tab:blue", "jenacast test MAE")):
        idx = [i for i in positions if is_base[i] == base]
        if idx:
            ax.bar(idx, [test[i] for i in idx], yerr=[spread[i] for i in idx], color=color, capsize=3, label=label)
    for i, value in zip(positions, test):
        ax.annotate(f"{value:.2f}", (i, value), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax.set_xticks(list(positions), names)
    book = [(i, r["book_test_mae"]) for i, r in enumerate(rows) if r.get("book_test_mae") is not None]
    if book:
        ax.plot(
            [i for i, _ in book],
            [v for _, v in book],
            "r_",
            markersize=22,
            markeredgewidth=2,
            label="book's test MAE (real data)",
        )
    base = next((r["test_mae"] for r in rows if r["name"] == "baseline"), None)
    if base is not None:
        ax.axhline(base, color="gray", linestyle="--", linewidth=1)
    low = min(test + [v for _, v in book]) if test else 0
    # headroom above the tallest bar for the legend, which covered the baseline's bar and label
    ax.set_ylim(max(0.0, low * 0.8), max(test + [v for _, v in book]) * 1.2 if test else 1)
    ax.set_ylabel("Test MAE (degrees C)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=25)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def draw_run_curves(run_dir: Path, baseline_val_mae: float | None = None) -> Path:
    """A run folder's ``curves.png`` from its ``history.csv`` (the model named in the title); returns its path."""
    from jenacast.models import MODELS
    from jenacast.training import rundir

    run_dir = Path(run_dir)
    model = rundir.read_json(run_dir / rundir.CONFIG)["model"]
    path = run_dir / rundir.CURVES
    plot_curves(
        rundir.read_history(run_dir / rundir.HISTORY),
        path,
        f"{model}: {MODELS[model].description}",
        baseline_val_mae=baseline_val_mae,
    )
    return path


def plot_forecast(result: dict, path: Path, method: str = "adaptive") -> None:
    """The last five days observed and the forecast ``horizon`` later: the point, the Monte Carlo mean, and the
    ``method``'s central intervals as bands (widest palest)."""
    import numpy as np

    plt = _pyplot()
    times = np.array(result["observed"]["times"], dtype="datetime64[s]")
    values = np.array([np.nan if v is None else v for v in result["observed"]["values"]], dtype=float)
    when = np.datetime64(result["time"].replace(" ", "T"), "s")
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.plot(times.astype("datetime64[m]").astype(object), values, color="tab:blue", label="observed")
    bands = result["intervals"].get(method) or result["intervals"]["mc+noise"]
    span = np.timedelta64(max(1, (when - times[-1]).astype(int) // 8), "s")
    for level, (low, high) in sorted(bands.items(), key=lambda item: -int(item[0])):
        ax.fill_between(
            [(when - span).astype(object), (when + span).astype(object)],
            low,
            high,
            color="tab:orange",
            alpha=0.15 + 0.15 * (100 - int(level)) / 50,
            linewidth=0,
            label=f"{level} % interval",
        )
    ax.plot([when.astype(object)], [result["point"]], "o", color="tab:red", label="forecast")
    ax.plot([when.astype(object)], [result["mc_mean"]], "x", color="black", label="Monte Carlo mean")
    ax.axvline(times[-1].astype(object), color="gray", linestyle=":", linewidth=1)
    ax.set_ylabel(result["target"])
    ax.set_title(
        f"{result['model']}: {result['target']} at {result['time']} (after {result['last_observation']})", fontsize=10
    )
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    _save(fig, path)
