"""Evaluation in one place: the book's common-sense baseline, a model on a split, and a finished run folder
reopened from its checkpoint alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from jenacast.data.windows import Split

if TYPE_CHECKING:  # at run time imported where used: training imports this module
    from jenacast.data.select import Dataset
    from jenacast.training.config import TrainConfig


@torch.no_grad()
def baseline_mae(split: Split, *, batch_size: int = 8192, max_batches: int | None = None) -> float:
    """The book's common-sense baseline: predict the last input temperature of each window.

    Like the book, the prediction is the normalised input de-normalised (``x[:, -1, 1] * std + mean``),
    and the MAE is taken over every window of the split (or its first ``max_batches`` batches).
    """
    col = split.target_column
    total, seen = 0.0, 0
    for index, (x, y) in enumerate(split.batches(batch_size)):
        if max_batches is not None and index >= max_batches:
            break
        prediction = x[:, -1, col].double() * float(split.std[col]) + float(split.mean[col])
        total += (prediction - y.double()).abs().sum().item()
        seen += len(y)
    return total / seen


@torch.no_grad()
def evaluate_split(
    model: torch.nn.Module, split: Split, *, batch_size: int = 256, device=None, max_batches: int | None = None
) -> tuple[float, float]:
    """``(MSE, MAE)`` over the split's windows (or its first ``max_batches`` batches), in eval mode."""
    model.eval()
    totals = None  # float64 sums on the device, read once at the end (a read per batch would stall a GPU)
    seen = 0
    for index, (x, y) in enumerate(split.batches(batch_size, device=device)):
        if max_batches is not None and index >= max_batches:
            break
        err = (model(x) - y).double()
        sums = torch.stack([err.square().sum(), err.abs().sum()])
        totals = sums if totals is None else totals + sums
        seen += len(y)
    sq, ab = totals.tolist()
    return sq / seen, ab / seen


@dataclass(frozen=True, eq=False)
class OpenedRun:
    """A finished run reopened from its folder: its settings, checkpoint, data and best model (in eval mode)."""

    run_dir: Path
    config: TrainConfig
    state: dict
    dataset: Dataset
    model: torch.nn.Module
    device: torch.device


def open_run(run_dir: Path, *, device: str = "auto", progress: bool = False) -> OpenedRun:
    """Rebuild the best model of ``run_dir`` from its checkpoint alone, on the data its config names (refused,
    in one sentence, when that data or the checkpoint does not match the folder)."""
    from jenacast.data.select import open_dataset
    from jenacast.errors import CheckpointError
    from jenacast.training import rundir
    from jenacast.training.checkpoint import load_checkpoint
    from jenacast.training.config import TrainConfig
    from jenacast.training.trainer import resolve_device

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder.")
    state = load_checkpoint(run_dir / rundir.BEST)
    try:
        config = TrainConfig.from_dict(state["config"])
        if (run_dir / rundir.CONFIG).exists():
            recorded = TrainConfig.from_dict(rundir.read_json(run_dir / rundir.CONFIG))
            if not recorded.same_run_as(config):
                raise CheckpointError(
                    f"{run_dir / rundir.BEST} holds another run than the folder's {rundir.CONFIG} "
                    f"({recorded.differences(config)}); it was copied in from elsewhere."
                )
        bad = [name for name, tensor in state["model_state"].items() if not torch.isfinite(tensor).all()]
        if bad:
            raise CheckpointError(f"{run_dir / rundir.BEST} is corrupted: {bad[0]} holds NaN or infinite weights.")
        dataset = open_dataset(config.data_options(), progress=progress)
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{run_dir / rundir.BEST} lacks {exc}; it was not written by this jenacast.") from None
    if changed := rundir.data_differences(state["dataset"], dataset.info()):
        raise CheckpointError(
            f"{run_dir} was trained on other data than {config.dataset!r} holds now ({changed}); the results would "
            "not compare."
        )
    splits = dataset.splits
    if not np.allclose(splits.mean, state["mean"].numpy()) or not np.allclose(splits.std, state["std"].numpy()):
        raise CheckpointError(f"{run_dir}: the normalisation statistics of the data differ from the checkpoint's.")
    torch_device = resolve_device(device)
    model = config.new_model(splits)
    try:
        model.load_state_dict(state["model_state"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"{run_dir / rundir.BEST} holds weights that do not fit its {config.model} model "
            f"({str(exc).splitlines()[0][:100]}); it was edited or copied in from elsewhere."
        ) from None
    return OpenedRun(run_dir, config, state, dataset, model.to(torch_device).eval(), torch_device)


def evaluate_run(run_dir: Path, *, device: str = "auto", progress: bool = False) -> dict:
    """Rebuild the best model of ``run_dir`` from its checkpoint alone and evaluate it on val and test."""
    run = open_run(run_dir, device=device, progress=progress)
    config, splits = run.config, run.dataset.splits
    val_loss, val_mae = evaluate_split(
        run.model, splits.val, batch_size=config.batch_size, device=run.device, max_batches=config.max_batches
    )
    test_loss, test_mae = evaluate_split(
        run.model, splits.test, batch_size=config.batch_size, device=run.device, max_batches=config.max_batches
    )
    return {
        "run": str(run_dir),
        "model": config.model,
        "epoch": run.state["epoch"],
        "val_loss": val_loss,
        "val_mae": val_mae,
        "test_loss": test_loss,
        "test_mae": test_mae,
        "dataset": run.state["dataset"],
    }
