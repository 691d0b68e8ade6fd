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
from jenacast.errors import CheckpointError, ConfigError, JenacastError, TrainingError, literal
from jenacast.evaluate import evaluate_split
from jenacast.models import build, count_parameters
from jenacast.training import rundir
from jenacast.training.checkpoint import load_checkpoint, save_checkpoint
from jenacast.training.config import TrainConfig
from jenacast.training.optim import make_optimizer
from jenacast.training.step import TrainingStep

READ_EVERY = 50  # on a GPU, batches between reads of the running loss (each read waits for the queued work)


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


class EpochTotals:
    """An epoch's per-batch ``[MSE, sum |error|]`` rows on the device, summed on the host in batch order
    as they are read (the sums equal those of a read per batch, bit for bit)."""

    def __init__(self, batches: int, device: torch.device):
        self.rows = torch.zeros(batches, 2, device=device)
        self.sizes: list[int] = []
        self.read = 0
        self.sq = self.ab = 0.0
        self.seen = 0

    def add(self, index: int, stats: torch.Tensor, size: int) -> None:
        self.rows[index] = stats
        self.sizes.append(size)

    def catch_up(self) -> tuple[int, float] | None:
        """Read the rows added since the last read; ``(index, loss)`` of the first non-finite loss, if any."""
        for offset, (loss, abs_sum) in enumerate(self.rows[self.read : len(self.sizes)].tolist()):
            if not math.isfinite(loss):
                return self.read + offset, loss
            size = self.sizes[self.read + offset]
            self.ab += abs_sum
            self.sq += loss * size
            self.seen += size
        self.read = len(self.sizes)
        return None

    @property
    def loss(self) -> float:
        return self.sq / max(self.seen, 1)

    @property
    def mae(self) -> float:
        return self.ab / max(self.seen, 1)


def _kept(best_epoch: int, run_dir: Path) -> str:
    return (
        f"the last good checkpoint (epoch {best_epoch}) is kept in {run_dir}"
        if best_epoch
        else "no checkpoint was written"
    )


def _shuffle_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _check_same_run(run_dir: Path, config: TrainConfig, dataset_info: dict) -> None:
    """Refuse to continue a run folder whose recorded settings or data differ from these."""
    path = run_dir / rundir.CONFIG
    if path.exists():
        saved = rundir.read_json(path)
        _refuse_other_run(run_dir, TrainConfig.from_dict(saved), saved.get("dataset_info", {}), config, dataset_info)


def _refuse_other_run(
    run_dir: Path, saved: TrainConfig, saved_data: dict, config: TrainConfig, dataset_info: dict
) -> None:
    if not saved.same_run_as(config):
        raise TrainingError(
            f"{literal(run_dir)} holds a run with other settings ({literal(saved.differences(config))}); "
            "resume it with the same options, or start over with {force} or another {out}.",
            worded=True,
        )
    changed = rundir.data_differences(saved_data, dataset_info)
    if changed:
        raise TrainingError(
            f"{literal(run_dir)} was trained on other data ({literal(changed)}); resume it on the data it "
            "started on, or start over with {force} or another {out}.",
            worded=True,
        )


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
) -> dict:
    """Train ``config.model`` on ``splits`` into ``run_dir``; returns the metrics also written to metrics.json.

    ``dataset_info`` (``Dataset.info()``) is recorded in the folder; ``resume`` continues from ``last.pt`` only
    with the same settings and the same data; ``force`` discards a run the folder holds and starts over.
    ``cuda_graph``: on a GPU, replay each full batch's step as one CUDA graph (see ``training.step``).
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
) -> dict:
    from tqdm.auto import tqdm

    last_path = run_dir / rundir.LAST
    if force:
        rundir.clear(run_dir)
    elif not resume and (last_path.exists() or (run_dir / rundir.METRICS).exists()):
        raise TrainingError(
            f"{literal(run_dir)} already holds a run; pass {{resume}} to continue it, {{force}} to start it "
            "over, or choose another {out}.",
            worded=True,
        )
    if resume:
        _check_same_run(run_dir, config, dataset_info)
    seed_everything(config.seed)
    model = build(
        config.model, splits.train.data.shape[1], steps=splits.spec.sequence_length, backend=config.backend
    ).to(device)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
    history: list[dict] = []
    best_val, best_epoch, start_epoch = math.inf, 0, 0
    if resume and last_path.exists():
        state = load_checkpoint(last_path)
        try:
            _refuse_other_run(run_dir, TrainConfig.from_dict(state["config"]), state["dataset"], config, dataset_info)
            model.load_state_dict(state["model_state"])
            optimizer.load_state_dict(state["optimizer_state"])
            history, best_val, best_epoch, start_epoch = (
                state["history"],
                state["best_val_loss"],
                state["best_epoch"],
                state["epoch"],
            )
            if not (
                isinstance(history, list)
                and all(isinstance(row, dict) for row in history)
                and isinstance(start_epoch, int)
                and isinstance(best_epoch, int)
                and isinstance(best_val, float)
            ):
                raise TypeError("its history, epoch or best validation loss has the wrong type")
            _set_rng_state(state["torch_rng"], device)
        except (KeyError, TypeError, AttributeError, RuntimeError, ValueError) as exc:
            if isinstance(exc, JenacastError):
                raise
            raise CheckpointError(
                f"{literal(last_path)} does not hold a resumable {config.model} run "
                f"({type(exc).__name__}: {literal(str(exc).splitlines()[0][:100])}); start over with "
                "{force} or another {out}.",
                worded=True,
            ) from None
        say(f"{config.model}: resuming after epoch {start_epoch} of {config.epochs}")

    def checkpoint(path: Path, epoch: int) -> None:
        save_checkpoint(
            path,
            config=config.to_dict(),
            model_state=model.state_dict(),
            optimizer_state=optimizer.state_dict(),
            epoch=epoch,
            best_val_loss=best_val,
            best_epoch=best_epoch,
            mean=torch.from_numpy(splits.mean),
            std=torch.from_numpy(splits.std),
            dataset=dataset_info,
            history=history,
            torch_rng=_rng_state(device),
        )

    step = TrainingStep(model, optimizer, device, use_graph=cuda_graph)
    read_every = 1 if device.type == "cpu" else READ_EVERY  # on a CPU a read costs nothing
    n_batches = splits.train.num_batches(config.batch_size)
    if config.max_batches:
        n_batches = min(n_batches, config.max_batches)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if config.patience is not None and epoch - best_epoch > config.patience:
            break
        started = time.perf_counter()
        model.train()
        totals = EpochTotals(n_batches, device)
        batches = splits.train.batches(
            config.batch_size, shuffle=True, seed=_shuffle_seed(config.seed, epoch), device=device
        )

        def check(totals: EpochTotals) -> None:
            bad = totals.catch_up()
            if bad is not None:
                raise TrainingError(
                    f"training {config.model} diverged: the loss became {bad[1]} at epoch {epoch}, "
                    f"batch {bad[0] + 1}; {literal(_kept(best_epoch, run_dir))}; try a lower {{lr}}.",
                    worded=True,
                )

        with tqdm(
            total=n_batches,
            desc=f"{config.model} {epoch}/{config.epochs}",
            disable=None if progress else True,
            leave=False,
            unit="batch",
            dynamic_ncols=True,
        ) as bar:
            for index, (x, y) in enumerate(batches):
                if index >= n_batches:
                    break
                totals.add(index, step(x, y), len(y))
                if (index + 1) % read_every == 0:
                    check(totals)
                    bar.set_postfix(loss=f"{totals.loss:.4f}", mae=f"{totals.mae:.4f}", refresh=False)
                bar.update(1)
            check(totals)
        sq, ab, seen = totals.sq, totals.ab, totals.seen
        val_loss, val_mae = evaluate_split(
            model, splits.val, batch_size=config.batch_size, device=device, max_batches=config.max_batches
        )
        if not math.isfinite(val_loss):
            raise TrainingError(
                f"training {config.model} diverged: the validation loss became {val_loss} at epoch {epoch}; "
                f"{literal(_kept(best_epoch, run_dir))}; try a lower {{lr}}.",
                worded=True,
            )
        row = {
            "epoch": epoch,
            "loss": sq / seen,
            "mae": ab / seen,
            "val_loss": val_loss,
            "val_mae": val_mae,
            "seconds": time.perf_counter() - started,
        }
        history.append(row)
        improved = val_loss < best_val
        kept = epoch - 1  # what last.pt holds until this epoch is saved (0: nothing yet)
        try:
            if improved:
                best_val, best_epoch = val_loss, epoch
                checkpoint(run_dir / rundir.BEST, epoch)
            checkpoint(last_path, epoch)
            rundir.write_history(run_dir / rundir.HISTORY, history)
            if not (run_dir / rundir.CONFIG).exists():  # written with the first saved epoch, then never rewritten
                rundir.write_json(run_dir / rundir.CONFIG, {**config.to_dict(), "dataset_info": dataset_info})
        except OSError as exc:  # a full disk, a folder removed under the run: every file still holds a whole version
            where = exc.filename or run_dir
            raise TrainingError(
                f"could not save epoch {epoch} ({literal(exc.strerror or exc)}: {literal(where)}); "
                + (
                    f"the checkpoint of epoch {kept} is kept in {literal(run_dir)}; once the problem is "
                    "solved, continue with {resume}."
                    if kept
                    else "no checkpoint was written yet."
                ),
                worded=True,
            ) from None
        say(
            f"{config.model} epoch {epoch}/{config.epochs}  loss {row['loss']:.4f}  mae {row['mae']:.4f}  "
            f"val_loss {val_loss:.4f}  val_mae {val_mae:.4f}  {row['seconds']:.1f}s{'  *' if improved else ''}"
        )
    return finish(run_dir, config, splits, model, device, history, dataset_info)


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
