"""`jenacast chapter`: train and evaluate every model of the chapter, then write the report.

Runs live in ``OUT/runs/<model>/seed-<n>/``. Running the same command again reuses finished
runs and resumes interrupted ones, so a long chapter survives Ctrl-C.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jenacast import __version__
from jenacast.data.options import DataOptions
from jenacast.data.select import open_dataset
from jenacast.errors import ConfigError, literal
from jenacast.evaluate import baseline_mae
from jenacast.models import BASELINE_BOOK, MODELS, check_steps
from jenacast.report.chapter import dataset_title, write_report
from jenacast.report.lessons import check_lessons
from jenacast.report.plots import draw_run_curves
from jenacast.report.seeds import seed_statistics
from jenacast.training import rundir
from jenacast.training.config import TrainConfig
from jenacast.training.resume import other_run, recorded_run
from jenacast.training.threads import check_threads, pinned_threads
from jenacast.training.trainer import fit, resolve_device

MODES = ("book", "quick", "smoke")
SMOKE_EPOCHS = 3
SMOKE_MAX_BATCHES = 40


@dataclass(frozen=True)
class ChapterOptions:
    data: DataOptions = DataOptions()
    mode: str = "book"  # book: the book's epochs; quick: each model's quick_epochs, whole splits; smoke: 40-batch loops
    seeds: int = 1
    models: tuple[str, ...] = tuple(MODELS)
    out: Path = Path("chapter")
    epochs: int | None = None  # None: the mode's per model
    device: str = "auto"
    backend: str = "auto"
    batch_size: int = 256
    optimizer: str = "rmsprop"
    lr: float = 1e-3
    force: bool = False  # train again the runs whose folder holds other settings or data (instead of refusing)
    cuda_graph: bool = True  # on a GPU, each training step replayed as one CUDA graph (the same training)
    intervals: bool = False  # also score seed 0's prediction intervals on the test split (jenacast.forecast)
    samples: int = 100  # Monte Carlo dropout samples per window, with ``intervals``
    # None: every run in this process, one after another; else a Ray cluster ("local", "auto" or an address)
    # that trains each run as a task (jenacast.distributed; the optional extra jenacast[ray])
    ray: str | None = None
    # torch and Numba threads per run (None: as they are; with ``ray``, 1). A run's numbers depend on its
    # thread count, so the same ``threads`` gives the same numbers in this process and on Ray (training.threads)
    threads: int | None = None
    gpus_per_run: float | None = None  # with ``ray`` on CUDA: the share of a GPU each run reserves (None: 1)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown chapter mode {self.mode!r}; expected one of {', '.join(MODES)}.")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ConfigError(
                f"unknown model {', '.join(map(repr, unknown)) or '(none)'}; expected names from {', '.join(MODELS)}."
            )
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ConfigError(
                f"{{samples}} must be a positive integer, got {literal(repr(self.samples))}.", worded=True
            )
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"{{seeds}} must be a positive integer, got {literal(repr(self.seeds))}.", worded=True)
        if self.ray is None:
            check_threads(self.threads)  # on Ray each worker checks its own machine
        elif self.threads is None:
            object.__setattr__(self, "threads", 1)
        if self.gpus_per_run is not None and (self.ray is None or not 0 < self.gpus_per_run):
            raise ConfigError("{gpus_per_run} is a positive share of a GPU, and only with {ray}.", worded=True)


@dataclass(frozen=True)
class PlannedRun:
    """One (model, seed) run of the chapter: its settings and its folder."""

    config: TrainConfig
    folder: Path


def run_chapter(options: ChapterOptions, *, progress: bool = True, say: Callable[[str], None] = print) -> dict:
    started = time.perf_counter()
    if options.ray:  # before the data's seconds
        from jenacast.distributed import require_ray

        require_ray()
    dataset = open_dataset(options.data, progress=progress)
    title = dataset_title(dataset.info())
    say(
        f"jenacast chapter: using the {title}, {len(dataset.table):,} rows"
        + (f"; {dataset.note}" if dataset.note else "")
    )
    if note := dataset.loading_note():
        say(f"{dataset.name}: {note}")
    splits = dataset.splits
    for name in options.models:  # before any model trains
        check_steps(name, splits.spec.sequence_length)
    rundir.make_folder(options.out, "chapter folder")
    with rundir.locked(options.out, say):  # one chapter writes a folder at a time
        return _run_models(options, dataset, splits, title, started, progress=progress, say=say)


def _run_models(
    options: ChapterOptions, dataset, splits, title: str, started: float, *, progress: bool, say: Callable[[str], None]
) -> dict:
    max_batches = SMOKE_MAX_BATCHES if options.mode == "smoke" else None
    device = str(resolve_device(options.device))
    batch = options.batch_size
    models = {
        "baseline": {
            "val_mae": baseline_mae(splits.val, batch_size=batch, max_batches=max_batches),
            "test_mae": baseline_mae(splits.test, batch_size=batch, max_batches=max_batches),
            "test_mae_std": 0.0,
            "seeds": 1,
            "epochs": 0,
            "seconds_per_epoch": None,
            "params": 0,
            "book_test_mae": BASELINE_BOOK["test_mae"],
        }
    }
    models["baseline"]["test_mae_per_seed"] = [models["baseline"]["test_mae"]]  # no seed changes it
    say(f"baseline: val MAE {models['baseline']['val_mae']:.3f}, test MAE {models['baseline']['test_mae']:.3f}")
    curves_baseline = None if max_batches else models["baseline"]["val_mae"]
    runs = plan_runs(options, dataset.name, len(splits.train), device, max_batches)
    trained_elsewhere = None
    if options.ray:  # every run a Ray task at once; the summaries below then only read their metrics
        from jenacast.distributed.chapter_runs import train_on_ray

        trained_elsewhere = train_on_ray(
            runs, splits, dataset.info(), curves_baseline, options, say=say, show_workers=progress
        )
    for name in options.models:
        model_started = time.perf_counter()
        if trained_elsewhere:
            metrics = trained_elsewhere[name]
        else:
            with pinned_threads(options.threads):
                metrics = [
                    train_run(run, splits, dataset.info(), curves_baseline, options, progress=progress, say=say)
                    for run in runs[name]
                ]
        models[name] = summarise_seeds(name, metrics)
        if options.intervals:
            models[name]["intervals"] = _intervals(options.out / "runs" / name / "seed-0", options, progress, say)
        say(
            f"{name}: best val MAE {models[name]['val_mae']:.3f}, test MAE {models[name]['test_mae']:.3f}"
            + ("" if trained_elsewhere else f" ({_duration(time.perf_counter() - model_started)})")
        )
    seed_statistics(models)
    results = {
        "dataset": dataset.info(),
        "models": models,
        "lessons": check_lessons(models),
        "settings": {
            "mode": options.mode,
            "quick": options.mode == "quick",
            "epochs": options.epochs or options.mode,
            "seeds": options.seeds,
            "batch_size": batch,
            "optimizer": options.optimizer,
            "lr": options.lr,
            "device": device,
            "backend": options.backend,
            "max_batches": max_batches,
            "clean_wind": options.data.clean_wind,
            "intervals": options.intervals,
            "samples": options.samples if options.intervals else None,
            "threads": options.threads,
            "ray": options.ray,
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        },
        "note": dataset.note,
        "jenacast_version": __version__,
    }
    write_report(options.out, results)
    say(
        f"jenacast chapter: report in {options.out / 'report.md'} (dataset: {title}; "
        f"{_duration(time.perf_counter() - started)})"
    )
    return results


def plan_runs(
    options: ChapterOptions, dataset_name: str, train_windows: int, device: str, max_batches: int | None
) -> dict[str, list[PlannedRun]]:
    """Every (model, seed) run of the chapter, by model: seeds 0..N-1 in ``OUT/runs/<model>/seed-<n>``."""
    return {
        name: [
            PlannedRun(
                TrainConfig(
                    model=name,
                    epochs=model_epochs(name, options, train_windows),
                    batch_size=options.batch_size,
                    lr=options.lr,
                    optimizer=options.optimizer,
                    seed=seed,
                    device=device,
                    backend=options.backend,
                    max_batches=max_batches,
                    **{**vars(options.data), "dataset": dataset_name},
                ),
                options.out / "runs" / name / f"seed-{seed}",
            )
            for seed in range(options.seeds)
        ]
        for name in options.models
    }


def summarise_seeds(name: str, runs: list[dict]) -> dict:
    """A model's entry in results.json from its runs' metrics (seeds 0..N-1 in order)."""
    tests = [r["test_mae"] for r in runs]
    return {
        "val_mae": statistics.fmean(r["best_val_mae"] for r in runs),
        "test_mae": statistics.fmean(tests),
        "test_mae_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
        "seeds": len(runs),
        "epochs": runs[0]["epochs"],
        "seconds_per_epoch": statistics.fmean(r["seconds_per_epoch"] for r in runs),
        "params": runs[0]["params"],
        "book_test_mae": MODELS[name].book_test_mae,
        "val_mae_per_seed": [r["best_val_mae"] for r in runs],
        "test_mae_per_seed": tests,
    }


def train_run(
    run: PlannedRun,
    splits,
    dataset_info: dict,
    curves_baseline: float | None,
    options: ChapterOptions,
    *,
    progress: bool,
    say: Callable[[str], None],
) -> dict:
    """Train, resume or reuse one run of the chapter and draw its curves; its metrics."""
    metrics, trained = _train_or_reuse(
        run.config,
        splits,
        dataset_info,
        run.folder,
        progress=progress,
        say=say,
        cuda_graph=options.cuda_graph,
        force=options.force,
    )
    if trained or not (run.folder / rundir.CURVES).exists():
        draw_run_curves(run.folder, curves_baseline)
    return metrics


def _intervals(run_dir: Path, options: ChapterOptions, progress: bool, say: Callable[[str], None]) -> dict:
    """Seed 0's interval scores on the test split: from its folder when made with the same request, else now."""
    from jenacast.forecast.run import evaluate_intervals

    request = {"samples": options.samples, "seed": 0}
    saved = run_dir / rundir.INTERVALS
    if saved.exists():
        try:
            scores = rundir.read_json(saved)
            same_model = scores.get("checkpoint") == rundir.checkpoint_digest(run_dir)
            current = "adaptive" in scores.get("methods", {})  # scored before that method existed: again
            if current and same_model and scores.get("seed") == 0 and scores.get("samples") in (options.samples, 1):
                return scores
        except (ValueError, OSError):
            pass  # damaged: made again
    started = time.perf_counter()
    scores = evaluate_intervals(run_dir, **request, device=options.device, progress=progress)
    say(f"{scores['model']}: prediction intervals scored ({_duration(time.perf_counter() - started)})")
    return scores


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


# the training windows of the Jena data (real or synthetic), on which quick mode's epochs were chosen
JENA_TRAIN_WINDOWS = 209_511


def model_epochs(name: str, options: ChapterOptions, train_windows: int = JENA_TRAIN_WINDOWS) -> int:
    """The epochs ``name`` trains for: ``--epochs`` if given, else the mode's (the book's, quick or smoke). Quick
    mode keeps the number of training steps it takes on the Jena data: on a smaller table (an hourly station's
    has a sixth of the windows) proportionally more epochs, never more than the book's."""
    if options.epochs:
        return options.epochs
    spec = MODELS[name]
    if options.mode == "quick":
        return min(spec.epochs, spec.quick_epochs * max(1, round(JENA_TRAIN_WINDOWS / max(train_windows, 1))))
    return {"book": spec.epochs, "smoke": SMOKE_EPOCHS}[options.mode]


def _train_or_reuse(
    config: TrainConfig,
    splits,
    dataset_info: dict,
    run_dir: Path,
    *,
    progress: bool,
    say,
    cuda_graph: bool = True,
    force: bool = False,
) -> tuple[dict, bool]:
    """``(metrics, whether it trained now)``: a finished run with the same settings and data is reused; an
    interrupted one is resumed. A run with other settings or data is refused, or with ``force`` trained again
    in its folder."""
    if problem := other_run_in(run_dir, config, dataset_info, force=force):
        say(f"{config.model} (seed {config.seed}): {run_dir} held {problem}; training it again (--force)")
        return fit(
            config, splits, dataset_info, run_dir, force=True, progress=progress, say=say, cuda_graph=cuda_graph
        ), True
    if _finished(run_dir):
        say(f"{config.model} (seed {config.seed}): finished earlier, reusing {run_dir}")
        return rundir.read_json(run_dir / rundir.METRICS), False
    metrics = fit(
        config,
        splits,
        dataset_info,
        run_dir,
        resume=(run_dir / rundir.LAST).exists(),
        progress=progress,
        say=say,
        cuda_graph=cuda_graph,
    )
    return metrics, True


def other_run_in(run_dir: Path, config: TrainConfig, dataset_info: dict, *, force: bool) -> str:
    """What makes the run ``run_dir`` records another run than ``config`` ("" when the same, or none yet);
    refused in one sentence unless ``force``."""
    recorded = recorded_run(run_dir)
    problem = other_run(*recorded, config, dataset_info) if recorded else ""
    if problem and not force:
        raise ConfigError(
            f"{literal(run_dir)} holds {literal(problem)}; choose another {{out}}, or pass {{force}} to "
            "train it again.",
            worded=True,
        )
    return problem


def finished_metrics(run: PlannedRun, dataset_info: dict, *, force: bool) -> dict | None:
    """The metrics of ``run`` when its folder holds it finished with the same settings and data, else None."""
    if other_run_in(run.folder, run.config, dataset_info, force=force) or not _finished(run.folder):
        return None
    return rundir.read_json(run.folder / rundir.METRICS)


def _finished(run_dir: Path) -> bool:
    return (run_dir / rundir.CONFIG).exists() and (run_dir / rundir.METRICS).exists()
