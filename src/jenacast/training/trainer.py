"""The trainer: owns optimizer, shuffling, checkpoints, early stopping, resume and the run folder.

Models stay pure modules. A run folder holds ``config.json``, ``history.csv``, ``best.pt`` (the
epoch with the lowest validation loss), ``last.pt`` (the latest finished epoch, for resume),
``metrics.json`` and ``curves.png``; every file is replaced atomically, so Ctrl-C loses at most
the epoch in progress and ``resume=True`` continues from ``last.pt`` to the same result.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from jenacast.data.windows import Splits
from jenacast.errors import ConfigError, TrainingError, literal
from jenacast.evaluate import evaluate_split
from jenacast.models import count_parameters
from jenacast.training import rundir
from jenacast.training.checkpoint import load_checkpoint, save_checkpoint
from jenacast.training.config import TrainConfig
from jenacast.training.epoch import EpochTotals, train_epoch
from jenacast.training.optim import make_optimizer
from jenacast.training.resume import Progress, prepare_folder, restore, rng_state
from jenacast.training.step import TrainingStep

__all__ = ["EpochTotals", "check_backend", "finish", "fit", "resolve_device", "seed_everything"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"{{device}} {literal(repr(name))} is not a device; use auto, cpu or cuda.", worded=True
        ) from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(
            f"{{device}} {literal(repr(name))} cannot train a model here; use auto, cpu or cuda.", worded=True
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("{device} cuda was asked for, but this torch sees no CUDA device.", worded=True)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"{{device}} {literal(repr(name))}: this machine has {torch.cuda.device_count()} CUDA device(s).",
            worded=True,
        )
    return device


def check_backend(backend: str, device: torch.device) -> None:
    """Refuse, in one sentence, a recurrent backend that is not installed or cannot run on ``device``."""
    import os

    from jenacast.rnn.ops import available, install_hint

    # where the device rules a backend out, say so first: installing it would not help
    if backend == "triton" and device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ConfigError(
            "{backend} triton runs on CUDA devices only; on the CPU use {backend} auto, cpu or fwbw.", worded=True
        )
    if backend == "cpu" and device.type != "cpu":
        raise ConfigError(
            f"{{backend}} cpu runs on the CPU only; on {device.type} use {{backend}} auto, triton or fwbw.", worded=True
        )
    if backend in ("cpu", "triton") and not available(backend):
        raise ConfigError(f"{{backend}} {backend} is not installed here: {install_hint(backend)}.", worded=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _kept(best_epoch: int, run_dir: Path) -> str:
    return (
        f"the last good checkpoint (epoch {best_epoch}) is kept in {run_dir}"
        if best_epoch
        else "no checkpoint was written"
    )


def _shuffle_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def fit(
    config: TrainConfig,
    splits: Splits,
    dataset_info: dict,
    run_dir: Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = print,
    cuda_graph: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train ``config.model`` on ``splits`` into ``run_dir``; returns the metrics also written to metrics.json.

    ``dataset_info`` (``Dataset.info()``) is recorded in the folder; ``resume`` continues from ``last.pt`` only
    with the same settings and the same data; ``force`` discards a run the folder holds and starts over.
    ``cuda_graph``: on a GPU, replay each full batch's step as one CUDA graph (see ``training.step``).
    ``on_epoch(row)``: called with each epoch's history row once the epoch is saved (a sweep reports it).
    The folder is locked while the run writes it: a second process writing it is refused.
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.device)
    check_backend(config.backend, device)
    rundir.make_folder(run_dir)
    with rundir.locked(run_dir, say):
        return _fit(
            config,
            splits,
            dataset_info,
            run_dir,
            device,
            resume=resume,
            force=force,
            progress=progress,
            say=say,
            cuda_graph=cuda_graph,
            on_epoch=on_epoch,
        )


def _fit(
    config: TrainConfig,
    splits: Splits,
    dataset_info: dict,
    run_dir: Path,
    device: torch.device,
    *,
    resume: bool,
    force: bool,
    progress: bool,
    say: Callable[[str], None],
    cuda_graph: bool,
    on_epoch: Callable[[dict], None] | None,
) -> dict:
    last_path = run_dir / rundir.LAST
    prepare_folder(run_dir, config, dataset_info, resume=resume, force=force)
    seed_everything(config.seed)
    model = config.new_model(splits).to(device)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
    state = Progress()
    if resume and last_path.exists():
        state = restore(last_path, run_dir, config, dataset_info, model, optimizer, device)
        say(f"{config.model}: resuming after epoch {state.epoch} of {config.epochs}")
    step = TrainingStep(model, optimizer, device, use_graph=cuda_graph)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if config.patience is not None and epoch - state.best_epoch > config.patience:
            break
        row = _run_epoch(step, splits, config, epoch, state, run_dir, device, progress)
        improved = row["val_loss"] < state.best_val
        if improved:
            state.best_val, state.best_epoch = row["val_loss"], epoch
        state.history.append(row)
        state.epoch = epoch
        _save_epoch(run_dir, config, splits, dataset_info, model, optimizer, device, state, improved)
        say(
            f"{config.model} epoch {epoch}/{config.epochs}  loss {row['loss']:.4f}  mae {row['mae']:.4f}  "
            f"val_loss {row['val_loss']:.4f}  val_mae {row['val_mae']:.4f}  {row['seconds']:.1f}s"
            f"{'  *' if improved else ''}"
        )
        if on_epoch is not None:
            on_epoch(row)
    return finish(run_dir, config, splits, model, device, state.history, dataset_info)


def _run_epoch(
    step: TrainingStep,
    splits: Splits,
    config: TrainConfig,
    epoch: int,
    state: Progress,
    run_dir: Path,
    device: torch.device,
    progress: bool,
) -> dict:
    """Train one epoch and validate; the epoch's row of the history."""
    started = time.perf_counter()

    def diverged(what: str, value: float, where: str = "") -> TrainingError:
        return TrainingError(
            f"training {config.model} diverged: the {what} became {value} at epoch {epoch}{where}; "
            f"{literal(_kept(state.best_epoch, run_dir))}; try a lower {{lr}}.",
            worded=True,
        )

    totals = train_epoch(
        step,
        splits.train,
        batch_size=config.batch_size,
        max_batches=config.max_batches,
        shuffle_seed=_shuffle_seed(config.seed, epoch),
        device=device,
        label=f"{config.model} {epoch}/{config.epochs}",
        progress=progress,
        diverged=lambda batch, loss: diverged("loss", loss, f", batch {batch}"),
    )
    val_loss, val_mae = evaluate_split(
        step.model, splits.val, batch_size=config.batch_size, device=device, max_batches=config.max_batches
    )
    if not math.isfinite(val_loss):
        raise diverged("validation loss", val_loss)
    return {
        "epoch": epoch,
        "loss": totals.sq / totals.seen,
        "mae": totals.ab / totals.seen,
        "val_loss": val_loss,
        "val_mae": val_mae,
        "seconds": time.perf_counter() - started,
    }


def _save_epoch(
    run_dir: Path,
    config: TrainConfig,
    splits: Splits,
    dataset_info: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    state: Progress,
    improved: bool,
) -> None:
    """``best.pt`` when the epoch improved, ``last.pt``, the history and (once) ``config.json``."""

    def checkpoint(path: Path) -> None:
        save_checkpoint(
            path,
            config=config.to_dict(),
            model_state=model.state_dict(),
            optimizer_state=optimizer.state_dict(),
            epoch=state.epoch,
            best_val_loss=state.best_val,
            best_epoch=state.best_epoch,
            mean=torch.from_numpy(splits.mean),
            std=torch.from_numpy(splits.std),
            dataset=dataset_info,
            history=state.history,
            torch_rng=rng_state(device),
        )

    kept = state.epoch - 1  # what last.pt holds until this epoch is saved (0: nothing yet)
    try:
        if improved:
            checkpoint(run_dir / rundir.BEST)
        checkpoint(run_dir / rundir.LAST)
        rundir.write_history(run_dir / rundir.HISTORY, state.history)
        if not (run_dir / rundir.CONFIG).exists():  # written with the first saved epoch, then never rewritten
            rundir.write_json(run_dir / rundir.CONFIG, {**config.to_dict(), "dataset_info": dataset_info})
    except OSError as exc:  # a full disk, a folder removed under the run: every file still holds a whole version
        where = exc.filename or run_dir
        raise TrainingError(
            f"could not save epoch {state.epoch} ({literal(exc.strerror or exc)}: {literal(where)}); "
            + (
                f"the checkpoint of epoch {kept} is kept in {literal(run_dir)}; once the problem is "
                "solved, continue with {resume}."
                if kept
                else "no checkpoint was written yet."
            ),
            worded=True,
        ) from None


def finish(
    run_dir: Path,
    config: TrainConfig,
    splits: Splits,
    model: torch.nn.Module,
    device: torch.device,
    history: list[dict],
    dataset_info: dict,
) -> dict:
    """Reload the best checkpoint, evaluate it on test, write metrics.json."""
    best = load_checkpoint(run_dir / rundir.BEST)
    model.load_state_dict(best["model_state"])
    test_loss, test_mae = evaluate_split(
        model, splits.test, batch_size=config.batch_size, device=device, max_batches=config.max_batches
    )
    best_row = next(r for r in history if r["epoch"] == best["epoch"])
    metrics = {
        "model": config.model,
        "best_epoch": best["epoch"],
        "best_val_loss": best_row["val_loss"],
        "best_val_mae": best_row["val_mae"],
        "test_loss": test_loss,
        "test_mae": test_mae,
        "epochs_run": len(history),
        "epochs": config.epochs,
        "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
        "params": count_parameters(model),
        "dataset": dataset_info,
    }
    rundir.write_json(run_dir / rundir.METRICS, metrics)
    return metrics
