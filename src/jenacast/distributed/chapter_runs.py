"""The chapter's (model, seed) runs as Ray tasks.

Each run is one task that reserves ``threads`` CPUs (and a share of a GPU on CUDA) and pins torch and Numba to
that many threads, so that runs sharing a machine do not oversubscribe it and every run computes exactly as the
chapter's own process does with the same ``threads``. The task trains into the run's folder under the chapter's
output folder, in place, through the same code as the sequential chapter: a finished run is reused, an
interrupted one resumed. A worker that dies is replaced and its task run again, and so resumes from the run's
last finished epoch; nothing is trained twice and no epoch is recorded twice.
"""

from __future__ import annotations

from collections.abc import Callable

from jenacast.chapter import ChapterOptions, PlannedRun, finished_metrics, train_run
from jenacast.distributed import connected, unwrapped
from jenacast.errors import TrainingError, literal
from jenacast.training import rundir
from jenacast.training.threads import pinned_threads

# how often Ray starts a run's task again after its worker died (a killed process, a lost node)
RETRIES = 3


def train_on_ray(
    runs: dict[str, list[PlannedRun]],
    splits,
    dataset_info: dict,
    curves_baseline: float | None,
    options: ChapterOptions,
    *,
    say: Callable[[str], None],
    show_workers: bool = True,
) -> dict[str, list[dict]]:
    """Every run of ``runs`` trained (or reused) on the Ray cluster ``options.ray``; the metrics by model, in
    seed order. ``show_workers``: the workers' lines (each epoch) printed here, as Ray forwards them."""
    metrics: dict[str, list[dict | None]] = {name: [None] * len(planned) for name, planned in runs.items()}
    waiting = []
    for name, planned in runs.items():
        for seed, run in enumerate(planned):
            if (done := finished_metrics(run, dataset_info, force=options.force)) is not None:
                say(f"{name} (seed {seed}): finished earlier, reusing {run.folder}")
                metrics[name][seed] = done
            else:
                waiting.append((name, seed, run))
    if waiting:
        with connected(options.ray, log_to_driver=show_workers):
            _train_all(waiting, metrics, splits, dataset_info, curves_baseline, options, say)
    return metrics


def _train_all(waiting, metrics, splits, dataset_info, curves_baseline, options: ChapterOptions, say) -> None:
    import ray

    cuda = waiting[0][2].config.device.startswith("cuda")
    task = ray.remote(_train_task).options(
        num_cpus=options.threads,
        num_gpus=(options.gpus_per_run or 1) if cuda else 0,
        max_retries=RETRIES,
        retry_exceptions=False,  # a person's error (a diverged run) would only happen again
    )
    shared = ray.put(splits)  # once into the object store; every task on a node reads that copy
    pending = {
        task.remote(run, shared, dataset_info, curves_baseline, options): (name, seed, run)
        for name, seed, run in waiting
    }
    say(f"jenacast chapter: {len(pending)} runs submitted to Ray ({options.threads} CPU(s) each)")
    try:
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            name, seed, run = pending.pop(ready)
            metrics[name][seed] = _result(ready, name, seed, run)
            say(f"{name} (seed {seed}): finished on Ray ({len(pending)} to go)")
    except BaseException:  # Ctrl-C, or a run that failed: the others stop too; the same command resumes them
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _result(ref, name: str, seed: int, run: PlannedRun) -> dict:
    import ray

    try:
        metrics = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise unwrapped(exc) from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError):
        raise TrainingError(
            f"the Ray worker training {name} (seed {seed}) died {RETRIES + 1} times; its last finished epoch is "
            f"kept in {literal(run.folder)}, and the same command resumes it."
        ) from None
    if not (run.folder / rundir.METRICS).exists():
        raise TrainingError(
            f"{name} (seed {seed}) finished on a node whose {literal(run.folder)} is not this machine's; "
            "{out} must be storage every node sees at the same path (see docs/ray.md).",
            worded=True,
        )
    return metrics


def _train_task(
    run: PlannedRun, splits, dataset_info: dict, curves_baseline: float | None, options: ChapterOptions
) -> dict:
    """In a Ray worker: one run, with its threads pinned; its metrics."""
    with pinned_threads(options.threads):
        return train_run(run, splits, dataset_info, curves_baseline, options, progress=False, say=print)
