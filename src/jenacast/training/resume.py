"""Starting, refusing or resuming a run folder: the one comparison of settings and data that the trainer, the
chapter and resume all use, and the state ``last.pt`` restores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from jenacast.errors import CheckpointError, JenacastError, TrainingError, literal
from jenacast.training import rundir
from jenacast.training.checkpoint import load_checkpoint
from jenacast.training.config import TrainConfig


def other_run(saved: TrainConfig, saved_data: dict, config: TrainConfig, dataset_info: dict) -> str:
    """What makes a recorded run another run than ``config`` on ``dataset_info``, as "a run with other settings
    (...)" or "a run trained on other data (...)"; ``""`` when it is the same run."""
    if not saved.same_run_as(config):
        return f"a run with other settings ({saved.differences(config)})"
    if changed := rundir.data_differences(saved_data, dataset_info):
        return f"a run trained on other data ({changed})"
    return ""


def recorded_run(run_dir: Path) -> tuple[TrainConfig, dict] | None:
    """The settings and data ``config.json`` records, or None when the folder has none yet."""
    path = Path(run_dir) / rundir.CONFIG
    if not path.exists():
        return None
    saved = rundir.read_json(path)
    return TrainConfig.from_dict(saved), saved.get("dataset_info", {})


def refuse_other_run(run_dir: Path, saved: TrainConfig, saved_data: dict, config: TrainConfig, data: dict) -> None:
    if problem := other_run(saved, saved_data, config, data):
        raise TrainingError(
            f"{literal(run_dir)} holds {literal(problem)}; resume it with the same options and data, or start over "
            "with {force} or another {out}.",
            worded=True,
        )


def prepare_folder(run_dir: Path, config: TrainConfig, dataset_info: dict, *, resume: bool, force: bool) -> None:
    """Empty the folder for ``force``; refuse a finished or started run without ``resume``; with ``resume``,
    refuse a folder that recorded other settings or data."""
    if force:
        rundir.clear(run_dir)
    elif not resume and ((run_dir / rundir.LAST).exists() or (run_dir / rundir.METRICS).exists()):
        raise TrainingError(
            f"{literal(run_dir)} already holds a run; pass {{resume}} to continue it, {{force}} to start it "
            "over, or choose another {out}.",
            worded=True,
        )
    if resume and (recorded := recorded_run(run_dir)) is not None:
        refuse_other_run(run_dir, *recorded, config, dataset_info)


@dataclass
class Progress:
    """Where a run stands: the finished epochs' history and the best validation loss so far."""

    history: list[dict] = field(default_factory=list)
    best_val: float = math.inf
    best_epoch: int = 0
    epoch: int = 0


def restore(
    last_path: Path,
    run_dir: Path,
    config: TrainConfig,
    dataset_info: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> Progress:
    """Load ``last.pt`` into ``model``, ``optimizer`` and the random generators; its progress. A checkpoint of
    another run, or one that is damaged, is refused in one sentence."""
    state = load_checkpoint(last_path)
    try:
        refuse_other_run(run_dir, TrainConfig.from_dict(state["config"]), state["dataset"], config, dataset_info)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        progress = Progress(state["history"], state["best_val_loss"], state["best_epoch"], state["epoch"])
        if not (
            isinstance(progress.history, list)
            and all(isinstance(row, dict) for row in progress.history)
            and isinstance(progress.epoch, int)
            and isinstance(progress.best_epoch, int)
            and isinstance(progress.best_val, float)
        ):
            raise TypeError("its history, epoch or best validation loss has the wrong type")
        set_rng_state(state["torch_rng"], device)
    except (KeyError, TypeError, AttributeError, RuntimeError, ValueError) as exc:
        if isinstance(exc, JenacastError):
            raise
        raise CheckpointError(
            f"{literal(last_path)} does not hold a resumable {config.model} run "
            f"({type(exc).__name__}: {literal(str(exc).splitlines()[0][:100])}); start over with "
            "{force} or another {out}.",
            worded=True,
        ) from None
    return progress


def rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
