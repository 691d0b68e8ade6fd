import csv

import pytest
import torch

from jenacast.data import WindowSpec, generate_synthetic, make_splits
from jenacast.training import TrainConfig, TrainingError, fit, rundir
from jenacast.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

INFO = {"name": "synthetic", "rows": 0, "sha256": "x", "synthetic": True}


@pytest.fixture(scope="module")
def tiny_splits():
    return make_splits(
        generate_synthetic(0, years=0.15), spec=WindowSpec(sampling_rate=3, sequence_length=16, horizon=12)
    )


def config(model="lstm", **kw):
    base = dict(model=model, epochs=3, batch_size=64, max_batches=12, device="cpu", seed=1)
    return TrainConfig(**{**base, **kw})


def test_loss_falls_and_best_checkpoint_is_the_argmin_of_val_loss(tiny_splits, tmp_path):
    metrics = fit(config(epochs=4), tiny_splits, INFO, tmp_path, progress=False, say=lambda m: None)
    history = rundir.read_history(tmp_path / rundir.HISTORY)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    best = min(history, key=lambda r: r["val_loss"])
    state = load_checkpoint(tmp_path / rundir.BEST)
    assert state["epoch"] == best["epoch"] == metrics["best_epoch"]
    assert metrics["best_val_mae"] == pytest.approx(best["val_mae"], rel=1e-5)
    for name in (rundir.CONFIG, rundir.HISTORY, rundir.BEST, rundir.LAST, rundir.METRICS):
        assert (tmp_path / name).exists()
    assert not (tmp_path / rundir.CURVES).exists()  # fit returns; its caller draws (the CLI and the chapter do)
    from jenacast.report.plots import draw_run_curves

    assert draw_run_curves(tmp_path, 2.5) == tmp_path / rundir.CURVES and (tmp_path / rundir.CURVES).stat().st_size > 0
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left
    with open(tmp_path / rundir.HISTORY) as fh:
        assert next(csv.reader(fh)) == list(rundir.HISTORY_FIELDS)
    assert set(state) >= {
        "config",
        "model_state",
        "optimizer_state",
        "epoch",
        "best_val_loss",
        "mean",
        "std",
        "dataset",
        "version",
    }


def test_interrupted_and_resumed_run_equals_uninterrupted(tiny_splits, tmp_path):
    cfg = config(model="lstm-dropout")  # dropout masks draw from the RNG, so its state must resume too
    fit(cfg, tiny_splits, INFO, tmp_path / "straight", progress=False, say=lambda m: None)

    def interrupt_after_epoch_2(message):
        if "epoch 2/3" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, tiny_splits, INFO, tmp_path / "resumed", progress=False, say=interrupt_after_epoch_2)
    assert not (tmp_path / "resumed" / rundir.METRICS).exists()
    with pytest.raises(TrainingError, match="already holds a run; pass resume=True"):
        fit(cfg, tiny_splits, INFO, tmp_path / "resumed", progress=False, say=lambda m: None)
    fit(cfg, tiny_splits, INFO, tmp_path / "resumed", resume=True, progress=False, say=lambda m: None)
    a = load_checkpoint(tmp_path / "straight" / rundir.LAST)
    b = load_checkpoint(tmp_path / "resumed" / rundir.LAST)
    for key in a["model_state"]:
        assert torch.equal(a["model_state"][key], b["model_state"][key]), key
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in a["history"]] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in b["history"]
    ]
    with pytest.raises(TrainingError, match="other settings"):
        fit(
            config(model="lstm-dropout", lr=0.01),
            tiny_splits,
            INFO,
            tmp_path / "resumed",
            resume=True,
            progress=False,
            say=lambda m: None,
        )


OTHER = {**INFO, "sha256": "y" * 64, "rows": 5}


def test_a_run_resumes_only_with_its_settings_and_data_and_keeps_its_record(tiny_splits, tmp_path):
    def stop_after_epoch_1(message):
        if "epoch 1/3" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config(), tiny_splits, INFO, tmp_path, progress=False, say=stop_after_epoch_1)
    recorded = (tmp_path / rundir.CONFIG).read_text()
    with pytest.raises(
        TrainingError,
        match=r"holds a run trained on other data \(sha256 x\.\.\. then, yyyyyyyyyyyy\.\.\. now; "
        r"rows 0 then, 5 now\); resume it with the same options and data, or start over",
    ):
        fit(config(), tiny_splits, OTHER, tmp_path, resume=True, progress=False, say=lambda m: None)
    with pytest.raises(TrainingError, match=r"other settings \(lr 0.001 there, 0.01 here\)"):
        fit(config(lr=0.01), tiny_splits, INFO, tmp_path, resume=True, progress=False, say=lambda m: None)
    assert (tmp_path / rundir.CONFIG).read_text() == recorded
    metrics = fit(config(), tiny_splits, INFO, tmp_path, resume=True, progress=False, say=lambda m: None)
    assert metrics["epochs_run"] == 3 and (tmp_path / rundir.CONFIG).read_text() == recorded


def test_force_starts_a_run_over_and_leaves_other_files(tiny_splits, tmp_path):
    fit(config(epochs=2), tiny_splits, INFO, tmp_path, progress=False, say=lambda m: None)
    (tmp_path / "notes.txt").write_text("mine")
    metrics = fit(config(epochs=1), tiny_splits, OTHER, tmp_path, force=True, progress=False, say=lambda m: None)
    assert metrics["epochs_run"] == 1 and len(rundir.read_history(tmp_path / rundir.HISTORY)) == 1
    assert rundir.read_json(tmp_path / rundir.CONFIG)["dataset_info"]["sha256"] == OTHER["sha256"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_full_disk_stops_with_the_file_named_and_the_run_resumes_once_space_is_back(
    tiny_splits, tmp_path, monkeypatch
):
    import shutil
    from collections import namedtuple

    cfg = config(model="lstm-dropout")
    fit(cfg, tiny_splits, INFO, tmp_path / "straight", progress=False, say=lambda m: None)
    real_save = torch.save

    def save_until_the_disk_fills(obj, path, *args, **kwargs):
        if obj.get("epoch") == 2:  # epoch 1 saved best.pt and last.pt; epoch 2 writes none
            with open(path, "wb") as fh:
                fh.write(b"partial")
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0"
            )
        return real_save(obj, path, *args, **kwargs)

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 0))
    run_dir = tmp_path / "full"
    with pytest.raises(
        TrainingError,
        match=r"could not save epoch 2 \(No space left on device: .*(best|last)\.pt\); the checkpoint "
        r"of epoch 1 is kept in .*; once the problem is solved, continue with resume=True",
    ):
        fit(cfg, tiny_splits, INFO, run_dir, progress=False, say=lambda m: None)
    assert load_checkpoint(run_dir / rundir.LAST)["epoch"] == 1 and not list(run_dir.glob(".*tmp"))
    monkeypatch.undo()
    fit(cfg, tiny_splits, INFO, run_dir, resume=True, progress=False, say=lambda m: None)
    a, b = load_checkpoint(tmp_path / "straight" / rundir.LAST), load_checkpoint(run_dir / rundir.LAST)
    for key in a["model_state"]:
        assert torch.equal(a["model_state"][key], b["model_state"][key]), key


def test_a_run_folder_takes_one_writer_at_a_time(tiny_splits, tmp_path):
    import os
    import socket

    notes = []
    with rundir.locked(tmp_path, notes.append):
        holder = (tmp_path / rundir.LOCK).read_text()
        assert holder.startswith(f"pid {os.getpid()} on {socket.gethostname()} since ")
        with pytest.raises(
            rundir.FolderInUse,
            match=rf"{tmp_path} is being written by pid {os.getpid()} on .*; wait for "
            "it to finish or choose another folder",
        ):
            fit(config(epochs=1), tiny_splits, INFO, tmp_path, progress=False, say=notes.append)
    assert (tmp_path / rundir.LOCK).read_text() == "" and not (tmp_path / rundir.LAST).exists() and notes == []
    (tmp_path / rundir.LOCK).write_text("pid 4242424 on elsewhere since 2026-01-01 00:00:00")  # its process died
    fit(config(epochs=1), tiny_splits, INFO, tmp_path, progress=False, say=notes.append)
    assert notes[0] == (
        f"note: {tmp_path} was left locked by pid 4242424 on elsewhere since 2026-01-01 00:00:00, "
        "which is no longer running; taking it over"
    )
    assert (tmp_path / rundir.METRICS).exists() and (tmp_path / rundir.LOCK).read_text() == ""


def test_a_lock_held_by_another_process_refuses_then_frees_when_it_dies(tiny_splits, tmp_path):
    import signal
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from jenacast.training.rundir import locked\n"
                f"with locked({str(tmp_path)!r}):\n    print('ready', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(rundir.FolderInUse, match=f"is being written by pid {holder.pid} on "):
            fit(config(epochs=1), tiny_splits, INFO, tmp_path, progress=False, say=lambda m: None)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    notes = []
    fit(config(epochs=1), tiny_splits, INFO, tmp_path, progress=False, say=notes.append)
    assert notes[0].startswith(f"note: {tmp_path} was left locked by pid {holder.pid} on ")


def test_data_differences_name_what_changed():
    saved = {"name": "/data/a.csv", "sha256": "a" * 64, "rows": 420_451, "columns": ["p", "T"], "synthetic": False}
    assert rundir.data_differences(saved, dict(saved)) == ""
    assert rundir.data_differences({"name": "synthetic"}, {**saved, "name": "synthetic"}) == ""  # older records
    changed = rundir.data_differences(saved, {**saved, "rows": 315_338, "sha256": "b" * 64, "columns": ["p"]})
    assert changed == (
        "sha256 aaaaaaaaaaaa... then, bbbbbbbbbbbb... now; rows 420,451 then, 315,338 now; "
        "columns 2 (p, T) then, 1 (p) now"
    )


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_splits, tmp_path, monkeypatch):
    real_mse = torch.nn.functional.mse_loss
    calls = {"n": 0}

    def mse_that_diverges(prediction, target):
        calls["n"] += 1
        loss = real_mse(prediction, target)
        return loss * float("nan") if calls["n"] > 12 else loss  # epoch 1 has 12 batches

    monkeypatch.setattr(torch.nn.functional, "mse_loss", mse_that_diverges)
    with pytest.raises(
        TrainingError,
        match=r"diverged: the loss became nan at epoch 2, batch 1; "
        r"the last good checkpoint \(epoch 1\) is kept in",
    ):
        fit(config(), tiny_splits, INFO, tmp_path, progress=False, say=lambda m: None)
    assert load_checkpoint(tmp_path / rundir.BEST)["epoch"] == 1


def test_early_stopping_with_patience(tiny_splits, tmp_path):
    metrics = fit(
        config(epochs=30, patience=1, lr=0.05), tiny_splits, INFO, tmp_path, progress=False, say=lambda m: None
    )
    history = rundir.read_history(tmp_path / rundir.HISTORY)
    assert metrics["epochs_run"] == len(history) < 30
    assert history[-1]["epoch"] - metrics["best_epoch"] == 1


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a readable jenacast checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="is not a jenacast checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    save_checkpoint(tmp_path / "old.pt", config={})
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    torch.save({**payload, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="in checkpoint format 99; this jenacast .* reads format 1"):
        load_checkpoint(tmp_path / "future.pt")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(model="gru"), "unknown model 'gru'"),
        (dict(epochs=0), "^epochs must be a positive integer"),
        (dict(lr=-1.0), "^lr must be a positive number"),
        (dict(optimizer="sgd"), "unknown optimizer 'sgd'"),
        (dict(patience=0), "^patience must be a positive integer"),
    ],
)
def test_bad_config_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        config(**kwargs)


def test_evaluation_tracks_no_gradients(tiny_splits):
    """Validation and test batches run without autograd (the fused kernels then save nothing)."""
    from jenacast.training.trainer import evaluate_split

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))
            self.grad_enabled = []

        def forward(self, x):
            self.grad_enabled.append(torch.is_grad_enabled())
            return x[:, -1, 1] * self.weight

    probe = Probe()
    mse, mae = evaluate_split(probe, tiny_splits.val, batch_size=64, max_batches=3)
    assert probe.grad_enabled == [False, False, False]
    assert mse > 0 and mae > 0
