"""`jenacast sweep`: a hyper-parameter search over one model on Ray Tune.

Each trial is a jenacast training run in ``OUT/trials/<trial id>/`` (the same run folder as ``jenacast train``
writes) that reports its validation metric every epoch, so that ASHA can stop the weak ones early, with a Tune
checkpoint of its run folder's checkpoints. A trial whose worker dies starts again from its last Tune
checkpoint: the run folder is put back as it was then and resumed, so no epoch is trained or recorded twice.
Tune's own state lives in ``OUT/tune/``: running the same command again (a lost driver, Ctrl-C) restores it
(``Tuner.restore``) and goes on. The table, plot and best configuration are written to ``OUT``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jenacast.data.options import DataOptions
from jenacast.distributed import connected, require_ray, unwrapped
from jenacast.distributed.space import read_space, to_tune
from jenacast.errors import ConfigError, literal
from jenacast.models import MODELS
from jenacast.training import rundir
from jenacast.training.config import TrainConfig
from jenacast.training.threads import pinned_threads

SCHEDULERS = ("asha", "fifo")
METRICS = ("val_mae", "val_loss")
SETTINGS = "sweep.json"  # what the sweep in a folder searches, to resume only the same sweep
TUNE = "tune"  # Tune's experiment folder under OUT
TRIALS = "trials"  # the trials' run folders under OUT
RETRIES = 3  # how often a trial whose worker died starts again from its last checkpoint


@dataclass(frozen=True)
class SweepOptions:
    model: str
    space: Path
    samples: int = 8
    scheduler: str = "asha"
    metric: str = "val_mae"
    ray: str = "local"
    out: Path = Path("sweep")
    resume: bool = False  # insist on continuing a sweep (refused where ``out`` holds none)
    epochs: int | None = None  # None: the book's for the model
    max_batches: int | None = None
    seed: int = 0  # every trial's training seed, and the sampling's
    threads: int = 1  # torch and Numba threads per trial, and the CPUs it reserves
    gpus_per_trial: float | None = None  # on CUDA; None: 1
    device: str = "auto"
    backend: str = "auto"
    cuda_graph: bool = True
    data: DataOptions = field(default_factory=DataOptions)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; expected one of {', '.join(MODELS)}.")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {self.scheduler!r}; expected one of {', '.join(SCHEDULERS)}.")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; expected one of {', '.join(METRICS)}.")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ConfigError(
                f"{{samples}} must be a positive integer, got {literal(repr(self.samples))}.", worded=True
            )

    def base(self, dataset: str, device: str) -> dict:
        """The settings every trial shares, as TrainConfig's keywords (the space's keys change them)."""
        return {
            **vars(self.data),
            "dataset": dataset,
            "model": self.model,
            "epochs": self.epochs,
            "max_batches": self.max_batches,
            "seed": self.seed,
            "device": device,
            "backend": self.backend,
        }


def run_sweep(options: SweepOptions, *, progress: bool = True, say: Callable[[str], None] = print) -> dict:
    """Search ``options.space`` for ``options.model`` on Ray Tune (new, or the folder's sweep continued); writes
    the trials' table, plot and best configuration to ``options.out`` and returns the summary."""
    from jenacast.data.select import open_dataset
    from jenacast.report.sweep import summarise_trials, write_sweep_report
    from jenacast.training.trainer import resolve_device

    require_ray()
    device = str(resolve_device(options.device))
    unresolved = options.base(options.data.dataset, device)  # a bad space is refused before the data is read
    space = read_space(options.space, lambda key, value: TrainConfig(**{**unresolved, key: value}))
    dataset = open_dataset(options.data, progress=progress)  # "auto" resolved, and the file checked, here
    base = options.base(dataset.name, device)
    out = options.out.resolve()  # Tune wants an absolute path; a shared file system's on a cluster
    settings = {**{k: str(v) for k, v in asdict(options).items() if k in ("scheduler", "metric")}, "base": base}
    settings.update(samples=options.samples, space=space, threads=options.threads)
    continuing = _check_folder(out, settings, options.resume)
    rundir.make_folder(out, "sweep folder")
    with rundir.locked(out, say):
        if not continuing:
            rundir.write_json(out / SETTINGS, settings)
        if not progress:  # Tune's console output ignores verbose=0 unless its older engine prints it
            os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        with connected(options.ray, log_to_driver=progress):
            grid = _tuner(options, space, base, out, continuing).fit()
            say(f"jenacast sweep: {len(grid)} trials in {out / TUNE}")
            trials = [_trial_record(result, out) for result in grid]
    summary = summarise_trials(trials, options.metric, TrainConfig(**base).epochs)
    write_sweep_report(out, summary)
    return summary


def _check_folder(out: Path, settings: dict, resume: bool) -> bool:
    """Whether ``out`` holds this sweep to continue; another sweep there is refused, and so is ``resume``
    where there is none."""
    recorded = out / SETTINGS
    if not recorded.exists():
        if resume:
            raise ConfigError(
                f"{literal(out)} holds no sweep to resume; leave out {{resume}} to start one.", worded=True
            )
        return False
    saved = rundir.read_json(recorded)
    if saved != _as_json(settings):
        differing = sorted(k for k in set(saved) | set(settings) if saved.get(k) != _as_json(settings).get(k))
        raise ConfigError(
            f"{literal(out)} holds another sweep (its {', '.join(differing)} differ); choose another {{out}}, or "
            "run it with its own settings to continue it.",
            worded=True,
        )
    return True


def _as_json(settings: dict) -> dict:
    import json

    return json.loads(json.dumps(settings))


def _tuner(options: SweepOptions, space: dict, base: dict, out: Path, continuing: bool):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    cuda = base["device"].startswith("cuda")
    trainable = tune.with_resources(
        tune.with_parameters(
            _trial, base=base, trials=str(out / TRIALS), threads=options.threads, cuda_graph=options.cuda_graph
        ),
        {"cpu": options.threads, "gpu": (options.gpus_per_trial or 1) if cuda else 0},
    )
    if continuing and tune.Tuner.can_restore(str(out / TUNE)):
        return tune.Tuner.restore(str(out / TUNE), trainable, resume_unfinished=True, resume_errored=True)
    epochs = TrainConfig(**base).epochs
    scheduler = (
        ASHAScheduler(max_t=epochs, grace_period=1, reduction_factor=2)
        if options.scheduler == "asha"
        else (FIFOScheduler())
    )
    return tune.Tuner(
        trainable,
        param_space=to_tune(space),
        tune_config=tune.TuneConfig(
            metric=options.metric,
            mode="min",
            num_samples=options.samples,
            scheduler=scheduler,
            search_alg=BasicVariantGenerator(random_state=options.seed),
        ),
        run_config=tune.RunConfig(
            name=TUNE,
            storage_path=str(out),
            failure_config=tune.FailureConfig(max_failures=RETRIES),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=0,
        ),
    )


def _trial_record(result, out: Path) -> dict:
    """What the sweep's table says of one of Tune's results: its settings, folder and fate."""
    trial = (result.metrics or {}).get("trial_id") or re.search(r"_([0-9a-f]+_\d{5})_", Path(result.path).name)[1]
    return {
        "trial": trial,
        "params": dict(result.config),
        "run": out / TRIALS / trial,
        "error": _error_line(result.error) if result.error else None,
    }


def _error_line(error: BaseException) -> str:
    """A failed trial's error in one line: jenacast's own sentence, else the exception's last line."""
    from jenacast.errors import JenacastError

    cause = unwrapped(error)
    if isinstance(cause, JenacastError):
        return str(cause)
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(cause).__name__)[:200]


# the run's checkpoint files a Tune checkpoint carries: enough to resume the run where it stood
CHECKPOINTED = (rundir.CONFIG, rundir.HISTORY, rundir.BEST, rundir.LAST)


def _trial(params: dict, *, base: dict, trials: str, threads: int, cuda_graph: bool) -> None:
    """One trial, in a Tune worker: a training run reporting every epoch, resumed from Tune's checkpoint."""
    from ray import tune

    run_dir = Path(trials) / tune.get_context().get_trial_id()
    config = TrainConfig(**{**base, **params})
    dataset = _dataset(config.data_options())
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # restarted: the folder as it was at the last report (later epochs dropped)
        rundir.make_folder(run_dir)
        rundir.clear(run_dir)
        with checkpoint.as_directory() as saved:
            for name in CHECKPOINTED:
                if (Path(saved) / name).exists():
                    shutil.copy2(Path(saved) / name, run_dir / name)
    from jenacast.training.trainer import fit

    def report_all_but_the_last(row: dict) -> None:
        if row["epoch"] < config.epochs:
            _report(run_dir, row)

    with pinned_threads(threads):  # in the thread that trains: Numba's count is per thread
        metrics = fit(
            config,
            dataset.splits,
            dataset.info(),
            run_dir,
            resume=checkpoint is not None,
            force=checkpoint is None,  # a folder left by a worker that died before its first report
            progress=False,
            say=print,
            cuda_graph=cuda_graph,
            on_epoch=report_all_but_the_last,
        )
    # the last epoch once the test MAE is measured: a scheduler stops a trial at its last report
    _report(run_dir, rundir.read_history(run_dir / rundir.HISTORY)[-1], test_mae=metrics["test_mae"])


def _report(run_dir: Path, row: dict, **extra) -> None:
    """An epoch's metrics to Tune, with a checkpoint of the run folder as it stands after that epoch."""
    from ray import tune

    with tempfile.TemporaryDirectory() as folder:
        for name in CHECKPOINTED:
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, Path(folder) / name)
        metrics = {key: row[key] for key in ("epoch", "loss", "mae", "val_loss", "val_mae")}
        tune.report({**metrics, **extra}, checkpoint=tune.Checkpoint.from_directory(folder))


@functools.lru_cache(maxsize=4)
def _dataset(options: DataOptions):
    """The data a trial trains on, read once per worker process and window (trials share workers)."""
    from jenacast.data.select import open_dataset

    return open_dataset(options, progress=False)
