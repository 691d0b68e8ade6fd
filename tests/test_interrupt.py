"""A signal in the middle of an epoch, through the command line in a subprocess: the run stops with a resume
hint and every file whole, and resuming ends exactly where an uninterrupted run ends."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from jenacast.data import generate_synthetic, write_csv
from jenacast.training import rundir
from jenacast.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt")
    write_csv(generate_synthetic(5, years=0.4), folder / "station.csv")
    return folder


def command(runs, out):
    return [
        sys.executable,
        "-m",
        "jenacast",
        "train",
        "lstm-dropout",
        "--dataset",
        str(runs / "station.csv"),
        "--epochs",
        "3",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def straight(runs):
    subprocess.run(command(runs, runs / "straight"), check=True, capture_output=True, timeout=600)
    return load_checkpoint(runs / "straight" / rundir.LAST)


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_epoch_stops_cleanly_and_the_resumed_run_ends_as_an_uninterrupted_one(
    runs, straight, signum, status
):
    out = runs / signum.name
    process = subprocess.Popen(command(runs, out), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / rundir.LAST).exists():  # epoch 1 is saved; the signal lands in epoch 2
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signum)
    err = process.communicate(timeout=120)[1]
    assert process.returncode == status, err
    assert err.strip().endswith(
        f"continue with: jenacast train lstm-dropout --out {out} --resume (and the same options)"
    )
    assert "Traceback" not in err
    assert load_checkpoint(out / rundir.LAST)["epoch"] in (1, 2) and not (out / rundir.METRICS).exists()
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]
    subprocess.run(command(runs, out) + ["--resume"], check=True, capture_output=True, timeout=600)
    resumed = load_checkpoint(out / rundir.LAST)
    assert resumed["epoch"] == straight["epoch"] == 3
    for key, value in straight["model_state"].items():
        assert torch.equal(value, resumed["model_state"][key]), key
