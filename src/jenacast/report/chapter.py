"""The chapter's report: results.json (stable schema), report.md (the table) and the comparison chart.

``results.json``::

    {"dataset": {"name", "rows", "sha256", "synthetic"},
     "models": {NAME: {"val_mae", "test_mae", "test_mae_std", "seeds", "epochs",
                       "seconds_per_epoch", "params", "book_test_mae",
                       "val_mae_per_seed", "test_mae_per_seed",     # seeds 0..N-1
                       "test_mae_ci95",                             # [low, high], None with one seed
                       "paired": {REFERENCE: {"difference", "ci95", "seeds", "beyond_seed_spread"}}}},
                       # "baseline" among them; see report.seeds
     "lessons": [{"model", "claim", "book", "criterion", "result", "holds"}],   # see report.lessons
     "settings": {...}, "note": "...", "jenacast_version": "..."}
"""

from __future__ import annotations

import json
from pathlib import Path

from jenacast import __version__
from jenacast._atomic import write_text
from jenacast.data.table import COLUMNS
from jenacast.models import BASELINE_BOOK, MODELS
from jenacast.report.lessons import check_lessons, format_lessons
from jenacast.report.plots import plot_comparison
from jenacast.report.seeds import beyond_spread, format_seed_table

RESULTS = "results.json"
REPORT = "report.md"
COMPARISON = "comparison.png"


def dataset_title(dataset: dict) -> str:
    """``"real Jena climate data (T (degC), 24h ahead)"``: the dataset and what is forecast."""
    if dataset["synthetic"]:
        title = "synthetic Jena-like dataset"
    else:
        title = "real Jena climate data" if dataset["name"] == "jena" else f"data from {dataset['name']}"
    if "target" in dataset:  # folders of older versions did not record it
        title += f" ({dataset['target']}, {dataset['window']['horizon']} ahead)"
    return title


TEMPERATURE = "T (degC)"


def book_numbers_apply(dataset: dict) -> bool:
    """The book's numbers stand beside ours only for its setting: the Jena columns (the real data, the synthetic
    stand-in or a Jena-format file), the temperature, and the book's window."""
    window = dataset.get("window", {})
    return (
        tuple(dataset.get("columns", COLUMNS)) == COLUMNS
        and dataset.get("target", TEMPERATURE) == TEMPERATURE
        and (window.get("sampling_rate", 6), window.get("sequence_length", 120), window.get("horizon_rows", 144))
        == (6, 120, 144)
    )


def format_table(results: dict) -> str:
    models = results["models"]
    base = models["baseline"]["test_mae"]
    book = book_numbers_apply(results["dataset"])
    lines = [
        "| model | best val MAE | test MAE | book (real data) | vs baseline | epochs | s/epoch | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if not book:
        lines = [lines[0].replace(" book (real data) |", ""), lines[1][4:]]
    for name, m in models.items():
        test = f"{m['test_mae']:.3f}" + (f" ± {m['test_mae_std']:.3f}" if m["seeds"] > 1 else "")
        change = "" if name == "baseline" else f"{100 * (m['test_mae'] - base) / base:+.1f}%"
        note = (
            f"val {BASELINE_BOOK['val_mae']}, test {BASELINE_BOOK['test_mae']}"
            if name == "baseline"
            else MODELS[name].book_note
        )
        seconds = "" if m["seconds_per_epoch"] is None else f"{m['seconds_per_epoch']:.1f}"
        epochs = "" if name == "baseline" else str(m["epochs"])
        lines.append(
            f"| {name} | {m['val_mae']:.3f} | {test} |{f' {note} |' if book else ''} {change} | {epochs} | {seconds} "
            f"| {m['params']:,} |"
        )
    return "\n".join(lines)


def format_intervals_table(models: dict) -> str:
    """The prediction intervals' scores on the test split (seed 0): a row per model and method, and the
    persistence reference once ("" when no model was scored)."""
    scored = {name: m["intervals"] for name, m in models.items() if m.get("intervals")}
    if not scored:
        return ""
    lines = [
        "| model | method | 80 % coverage | 95 % coverage | 80 % width | CRPS |",
        "|---|---|---|---|---|---|",
    ]

    def row(name: str, method: str, scores: dict) -> str:
        levels = {str(k): v for k, v in scores["levels"].items()}
        cover = [f"{100 * levels[k]['coverage']:.1f} %" if k in levels else "" for k in ("80", "95")]
        width = f"{levels['80']['width']:.2f}" if "80" in levels else ""
        return f"| {name} | {method} | {cover[0]} | {cover[1]} | {width} | {scores['crps']:.3f} |"

    for name, result in scored.items():
        lines += [row(name, method, scores) for method, scores in result["methods"].items()]
    reference = next(iter(scored.values()))["reference"]["persistence"]
    lines.append(row("(no model)", "persistence + training changes", reference))
    return "\n".join(lines)


def _length(settings: dict) -> str:
    if isinstance(settings["epochs"], int):
        return f"{settings['epochs']} epochs per model"
    return {"book": "the book's epochs", "quick": "quick mode", "smoke": "smoke mode"}.get(
        settings.get("mode", "book"), ""
    )


def _intervals_section(models: dict) -> str:
    table = format_intervals_table(models)
    if not table:
        return ""
    return (
        "## Prediction intervals\n\n"
        "Seed 0's intervals on the test split: Monte Carlo dropout alone (mc), with the noise term (mc+noise) and "
        "conformally calibrated on the validation split (conformal) or on the latest 30 days of known errors "
        "(adaptive); models without dropout have the noise term alone. Coverage should match the level; at equal coverage, narrower intervals and a lower CRPS are "
        f"better.\n\n{table}\n\n"
    )


def _seeds_section(models: dict, seeds: int) -> str:
    table = format_seed_table(models)
    if not table:
        return ""
    beyond = beyond_spread(models)
    verdict = (
        f"Larger than the seed spread: {'; '.join(beyond)}."
        if beyond
        else "No difference is larger than the seed spread: more seeds would be needed to tell these models apart."
    )
    return (
        f"## {seeds} seeds\n\n"
        "Test MAE over the seeds: mean, standard deviation and the mean's 95 % confidence interval (Student's t). "
        "The comparisons are paired (the same seeds on both sides): the mean difference in degrees C and its 95 % "
        f"interval; a difference is beyond the seed spread when its interval excludes zero.\n\n{table}\n\n"
        f"{verdict}\n\n"
    )


def write_report(out: Path, results: dict) -> None:
    """Write results.json, comparison.png and report.md into ``out`` (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RESULTS, json.dumps(results, indent=2) + "\n")
    dataset, settings = results["dataset"], results["settings"]
    title = f"jenacast chapter 10 on the {dataset_title(dataset)}"
    rows = [{"name": n, **m} for n, m in results["models"].items()]
    if not book_numbers_apply(dataset):
        rows = [{**row, "book_test_mae": None} for row in rows]
    plot_comparison(rows, out / COMPARISON, f"Test MAE, {dataset_title(dataset)}")
    curves = "\n".join(
        f"- {name}: ![{name}](runs/{name}/seed-0/curves.png)" for name in results["models"] if name != "baseline"
    )
    quoted = (
        "The book's numbers are quoted from the book and from public reruns on the real Jena data; they are not "
        "reproduced here, since this run used "
        + ("the synthetic dataset." if dataset["synthetic"] else f"{dataset['name']}.")
    )
    if dataset["name"] == "jena" and not dataset["synthetic"]:
        quoted = "The book's numbers are quoted from the book and from public reruns on the same real Jena data."
    if not book_numbers_apply(dataset):
        quoted = "The book's numbers are left out: they were measured on the Jena temperature with the book's window."
    lessons = results.get("lessons") or check_lessons(results["models"])
    mode_note = {
        "quick": "Quick mode: a few epochs per model (the table's epochs column), so the lessons show approximately; "
        "`jenacast chapter` without `--quick` trains for the book's epochs.",
        "smoke": "Smoke mode: a few batches per epoch; these numbers only show that every model runs.",
    }.get(settings.get("mode", "book"), "")
    text = f"""# {title}

Dataset: {dataset["name"]} ({dataset["rows"]:,} rows, sha256 `{dataset["sha256"][:16]}...`){" (synthetic)" if dataset["synthetic"] and dataset["name"] != "synthetic" else ""}.
{results.get("note") or ""}

Settings: {_length(settings)}, seeds {settings["seeds"]}, batch {settings["batch_size"]},
{settings["optimizer"]} lr {settings["lr"]}, device {settings["device"]}, backend {settings["backend"]}{", at most " + str(settings["max_batches"]) + " batches per loop" if settings["max_batches"] else ""};
jenacast {__version__}. Test MAE is the best checkpoint's (lowest validation loss), reloaded.

{format_table(results)}

{quoted}

{_seeds_section(results["models"], settings["seeds"])}{_intervals_section(results["models"])}## The chapter's lessons

{format_lessons(lessons) if lessons else "(no lesson applies to the models run)"}

{mode_note}

![comparison]({COMPARISON})

## Learning curves

{curves}
"""
    write_text(out / REPORT, text)
