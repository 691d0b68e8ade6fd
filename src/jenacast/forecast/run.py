"""Intervals for a whole split of a run (``jenacast evaluate --intervals``) and the forecast after the latest
observation (``jenacast forecast``), with the calibration kept in the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from jenacast._atomic import write_text
from jenacast.data.windows import Split
from jenacast.errors import ConfigError, DataError, literal
from jenacast.evaluate import OpenedRun, open_run
from jenacast.forecast.adaptive import online_factors, recent_count
from jenacast.forecast.intervals import (
    LEVELS,
    METHODS,
    Calibration,
    bounds,
    calibrate,
    conformal_quantile,
    predictive,
    score_methods,
    score_reference,
)
from jenacast.forecast.mc import ROWS_PER_CALL, mc_predict, stochastic_modules
from jenacast.training.rundir import CALIBRATION, INTERVALS, checkpoint_digest

NO_DROPOUT = "the model has no dropout: its intervals come from the residual (noise) term alone"


def check_request(samples: int, levels) -> tuple[int, tuple[float, ...]]:
    """Refuse, in one sentence, a number of samples below 1 or a level outside (0, 100)."""
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{{samples}} must be a positive integer, got {literal(repr(samples))}.", worded=True)
    levels = tuple(levels)
    bad = [level for level in levels if not (0 < level < 100 and float(level).is_integer())]
    if bad or not levels:
        raise ConfigError(
            f"{{levels}} must be whole percentages from 1 to 99, got {literal(repr(bad or levels))}.",
            worded=True,
        )
    return samples, levels


def split_samples(
    run: OpenedRun, split: Split, samples: int, *, seed: int, progress: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(samples [N, S], targets [N], last observed target [N])`` over ``split``'s windows, in order."""
    from tqdm.auto import tqdm

    per_batch = max(1, 8 * ROWS_PER_CALL // samples)  # windows gathered at once: a few model calls' worth
    outputs, targets, last = [], [], []
    devices = [run.device] if run.device.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=devices),
        tqdm(
            total=len(split), desc=f"{run.config.model} {split.name}", unit="window", disable=None if progress else True
        ) as bar,
    ):
        torch.manual_seed(seed)
        for x, y in split.batches(per_batch, device=run.device):
            outputs.append(mc_predict(run.model, x, samples).cpu())
            targets.append(y.cpu())
            last.append(last_observed(split, x).cpu())
            bar.update(len(y))
    return torch.cat(outputs).numpy(), torch.cat(targets).numpy(), torch.cat(last).numpy()


def last_observed(split: Split, x: torch.Tensor) -> torch.Tensor:
    """Each window's last input value of the target, de-normalised (the baseline's prediction)."""
    column = split.target_column
    return x[:, -1, column].double() * float(split.std[column]) + float(split.mean[column])


def first_rows(split: Split) -> np.ndarray:
    """Each window's first row in the table, in the order ``split.batches`` visits them."""
    return split.start + split.window_order().numpy()


def scores_of(samples: np.ndarray, targets: np.ndarray, calibration: Calibration) -> np.ndarray:
    """The conformal scores ``|y - mean| / std`` of windows' samples."""
    mean, std = predictive(samples, calibration.noise_std)
    return np.abs(targets.astype(np.float64) - mean) / std


def training_changes(split: Split) -> np.ndarray:
    """The training split's changes of the target over the horizon (target minus the last observed value)."""
    changes = [y.double() - last_observed(split, x) for x, y in split.batches(8192)]
    return torch.cat(changes).numpy()


def calibration_for(run: OpenedRun, samples: int, levels, *, seed: int, progress: bool) -> Calibration:
    """The run's calibration on its validation split, reused from the folder when made with the same samples,
    seed and levels (and the same checkpoint)."""
    path = run.run_dir / CALIBRATION
    key = {"samples": samples, "seed": seed, "levels": sorted(levels), "checkpoint": checkpoint_digest(run.run_dir)}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                return Calibration.from_dict(saved["calibration"])
        except (ValueError, KeyError, TypeError):
            pass  # damaged: made again
    stochastic = bool(stochastic_modules(run.model))
    val_samples, val_targets, _ = split_samples(
        run, run.dataset.splits.val, samples if stochastic else 1, seed=seed, progress=progress
    )
    val = run.dataset.splits.val
    calibration = calibrate(
        val_samples,
        val_targets,
        levels,
        stochastic=stochastic,
        rows=first_rows(val),
        recent=recent_count(run.dataset.table.interval),
    )
    write_text(path, json.dumps({"key": key, "calibration": calibration.to_dict()}, indent=2) + "\n")
    return calibration


def evaluate_intervals(
    run_dir: Path, *, samples: int = 100, levels=LEVELS, seed: int = 0, device: str = "auto", progress: bool = False
) -> dict:
    """Every method's coverage, width, pinball loss and CRPS on the whole test split, beside the persistence
    reference's; also written to the run folder's ``intervals.json``."""
    samples, levels = check_request(samples, levels)
    run = open_run(run_dir, device=device, progress=progress)
    splits = run.dataset.splits
    stochastic = bool(stochastic_modules(run.model))
    drawn = samples if stochastic else 1
    started = time.perf_counter()
    calibration = calibration_for(run, samples, levels, seed=seed, progress=progress)
    test_started = time.perf_counter()
    test_samples, targets, last = split_samples(run, splits.test, drawn, seed=seed + 1, progress=progress)
    test_seconds = time.perf_counter() - test_started
    rows = first_rows(splits.test)
    factors = online_factors(
        np.concatenate([calibration.recent_scores, scores_of(test_samples, targets, calibration)]),
        np.concatenate([np.asarray(calibration.recent_rows, dtype=np.int64), rows]),
        rows,
        run.dataset.spec.horizon,
        recent_count(run.dataset.table.interval),
        levels,
    )
    results = {
        "run": str(run_dir),
        "model": run.config.model,
        "samples": drawn,
        "levels": list(levels),
        "seed": seed,
        "checkpoint": checkpoint_digest(run.run_dir),
        "note": "" if stochastic else NO_DROPOUT,
        "calibration": calibration.to_dict(),
        "test_windows": len(targets),
        "methods": score_methods(test_samples, targets, calibration, levels, factors),
        "reference": {"persistence": score_reference(last, targets, training_changes(splits.train), levels)},
        "seconds": {"total": time.perf_counter() - started, "test": test_seconds},
        "samples_per_second": len(targets) * drawn / test_seconds,
    }
    write_text(Path(run_dir) / INTERVALS, json.dumps(results, indent=2) + "\n")
    return results


def format_intervals(results: dict) -> str:
    """The scores as a table: a row per method and level, the reference last."""
    lines = [
        f"{results['model']}: test split, {results['test_windows']:,} windows, {results['samples']} samples each "
        f"({results['samples_per_second']:,.0f} samples/s)" + (f"; {results['note']}" if results["note"] else ""),
        f"{'method':<12}{'level':>6}{'coverage':>10}{'width':>8}{'pinball':>9}{'CRPS':>8}",
    ]
    rows = [(m, s) for m, s in results["methods"].items()] + list(results["reference"].items())
    for method, scores in rows:
        for level, s in scores["levels"].items():
            lines.append(
                f"{method:<12}{level:>5}%{100 * s['coverage']:>9.1f}%{s['width']:>8.2f}{s['pinball']:>9.3f}"
                f"{scores['crps']:>8.3f}"
            )
    return "\n".join(lines)


def forecast(
    run_dir: Path,
    *,
    dataset: str | None = None,
    at: str | None = None,
    samples: int = 100,
    levels=LEVELS,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
) -> dict:
    """The target ``horizon`` after the last observation (or the last one at or before ``at``): the point forecast
    (the deterministic model), the Monte Carlo mean, and each method's central intervals; the recent
    observations for a plot. ``dataset``: another file with the run's columns (default: the run's own data)."""
    samples, levels = check_request(samples, levels)
    run = open_run(run_dir, device=device, progress=progress)
    calibration = calibration_for(run, samples, levels, seed=seed, progress=progress)
    source = run.dataset if dataset is None else _same_columns(run, dataset, progress)
    table, spec = source.table, run.dataset.spec
    end = _last_row(table, at)
    first = end - spec.span
    if first < 0:
        raise DataError(
            f"too little history before {literal(_when(table.timestamps[end]))}: a window reads "
            f"{literal(run.config.lookback)} of data, and the data starts at {literal(_when(table.timestamps[0]))}."
        )
    rows = table.values[first : end + 1 : spec.sampling_rate].astype(np.float64)
    if np.isnan(rows).any():
        raise DataError(
            f"the {literal(run.config.lookback)} before {literal(_when(table.timestamps[end]))} touch a gap longer "
            "than max_gap; choose another {at}.",
            worded=True,
        )
    x = torch.from_numpy(_normalised(run, rows).astype(np.float32))[None].to(run.device)
    stochastic = calibration.stochastic
    with torch.no_grad(), torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
        point = float(run.model.eval()(x)[0])
        torch.manual_seed(seed + 2)
        drawn = mc_predict(run.model, x, samples if stochastic else 1).cpu().numpy().astype(np.float64)
    target_time = table.timestamps[end] + np.timedelta64(spec.horizon * table.interval, "s")
    column = table.names.index(source.target)
    factors, scored = _recent_factors(run, table, column, end, calibration, samples, levels, seed)
    recent = max(0, end - 5 * 86400 // table.interval)
    return {
        "run": str(run_dir),
        "model": run.config.model,
        "target": source.target,
        "last_observation": _when(table.timestamps[end]),
        "time": _when(target_time),
        "point": point,
        "mc_mean": float(drawn.mean()),
        "samples": drawn.shape[1],
        "intervals": {
            method: {
                int(level): [float(v[0]) for v in bounds(method, drawn, calibration, level, factors)]
                for level in levels
            }
            for method in METHODS
            if stochastic or method != "mc"
        },
        "adaptive_windows": scored,
        "note": "" if stochastic else NO_DROPOUT,
        "observed": {
            "times": [_when(t) for t in table.timestamps[recent : end + 1]],
            "values": [None if np.isnan(v) else float(v) for v in table.values[recent : end + 1, column]],
        },
    }


def _recent_factors(run: OpenedRun, table, column: int, end: int, calibration: Calibration, samples, levels, seed):
    """``adaptive``'s factors for a forecast after row ``end``, and how many scores made them: the conformal
    quantiles of the scores of hourly windows over the last ``RECENT_DAYS`` whose targets are observed by
    ``end`` (hourly: enough scores for the quantiles, and about a second's work). No scores: NaN factors."""
    spec = run.dataset.spec
    stride = max(1, 3600 // table.interval)
    lasts = end - spec.horizon - stride * np.arange(recent_count(table.interval) // stride)
    lasts = lasts[lasts >= spec.span][::-1]  # each window's last input row, oldest first
    reads = lasts[:, None] - spec.span + spec.sampling_rate * np.arange(spec.sequence_length)
    x = _normalised(run, table.values[reads])
    targets = table.values[lasts + spec.horizon, column].astype(np.float64)
    usable = ~np.isnan(x).any(axis=(1, 2)) & ~np.isnan(targets)
    if not usable.any():
        return {int(level): np.array([np.nan]) for level in levels}, 0
    windows = torch.from_numpy(x[usable].astype(np.float32)).to(run.device)
    with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
        torch.manual_seed(seed + 3)
        drawn = mc_predict(run.model, windows, samples if calibration.stochastic else 1).cpu().numpy()
    scores = scores_of(drawn, targets[usable], calibration)
    return {int(level): np.array([conformal_quantile(scores, level)]) for level in levels}, int(usable.sum())


def _normalised(run: OpenedRun, values: np.ndarray) -> np.ndarray:
    """Raw table values in float64, normalised with the run's training statistics."""
    mean, std = run.state["mean"].numpy().astype(np.float64), run.state["std"].numpy().astype(np.float64)
    return (values.astype(np.float64) - mean) / std


def _same_columns(run: OpenedRun, path: str, progress: bool):
    from dataclasses import replace

    from jenacast.data.select import open_dataset

    other = open_dataset(replace(run.config.data_options(), dataset=path), progress=progress)
    if other.table.names != run.dataset.table.names or other.table.interval != run.dataset.table.interval:
        raise DataError(
            f"{literal(path)} has other columns or another interval than the run's data (columns "
            f"{literal(', '.join(other.table.names))}; the run's: {literal(', '.join(run.dataset.table.names))})."
        )
    return other


def _last_row(table, at: str | None) -> int:
    """The last row at or before ``at`` (default: the last row)."""
    if at is None:
        return len(table) - 1
    try:
        when = np.datetime64(str(at).replace(" ", "T"), "s")
    except ValueError:
        raise DataError(
            f"{{at}} {literal(repr(at))} is not a time; write it as 2016-12-31T12:00.", worded=True
        ) from None
    first, last = table.timestamps[0], table.timestamps[-1]
    if not first <= when <= last:
        raise DataError(
            f"{{at}} {literal(_when(when))} is outside the data ({literal(_when(first))} .. {literal(_when(last))}).",
            worded=True,
        )
    return int(np.searchsorted(table.timestamps, when, side="right")) - 1


def _when(timestamp) -> str:
    return str(np.datetime64(timestamp, "s")).replace("T", " ")
