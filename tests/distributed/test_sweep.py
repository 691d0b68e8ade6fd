"""`jenacast sweep` on a real two-node local cluster: four trials with ASHA, the outputs, a rerun that
continues instead of starting over, and a worker killed in the middle of a trial."""

import csv
import json
import os
import signal
import threading
import time

import pytest

from jenacast.cli import main
from jenacast.training import rundir

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'jenacast[ray]'")

SPACE = """\
units: [8, 16]
lr: {loguniform: [1.0e-3, 1.0e-2]}
batch_size: [128, 256]
"""


def sweep_args(small_csv, space, out, cluster, *extra):
    argv = ["sweep", "lstm", "--space", space, "--dataset", small_csv, "--out", out, "--ray", cluster, "--quiet"]
    return [str(a) for a in (*argv, "--max-batches", 5, *extra)]


def trial_rows(out):
    with open(out / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_four_trials_with_asha_write_table_plot_and_best_and_a_rerun_continues(ray_cluster, small_csv, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "sweep"
    argv = sweep_args(small_csv, space, out, ray_cluster, "--samples", 4, "--epochs", 4, "--scheduler", "asha")
    assert main(argv) == 0
    rows = trial_rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows} <= {"finished", "stopped"}
    assert any(r["status"] == "stopped" for r in rows)  # ASHA halves the trials at each rung
    for row in rows:
        history = rundir.read_history(out / "trials" / row["trial"] / rundir.HISTORY)
        assert [h["epoch"] for h in history] == list(range(1, int(row["epochs"]) + 1))
        assert float(row["val_mae"]) == pytest.approx(min(h["val_mae"] for h in history), rel=1e-5)
        assert int(row["units"]) in (8, 16) and 1e-3 <= float(row["lr"]) <= 1e-2
        assert (row["status"] == "finished") == (row["test_mae"] != "") == (row["epochs"] == "4")
    best = json.loads((out / "best.json").read_text())
    assert best["trial"] == rows[0]["trial"] and best["val_mae"] == min(float(r["val_mae"]) for r in rows)
    assert json.loads((out / "trials" / best["trial"] / rundir.CONFIG).read_text())["units"] == best["params"]["units"]
    assert (out / "trials.png").stat().st_size > 1000 and "| trial | status |" in (out / "trials.md").read_text()

    histories = {p: p.read_text() for p in out.glob("trials/*/history.csv")}
    assert main(argv) == 0  # the same command: Tune's experiment restored, nothing trained again
    assert trial_rows(out) == rows and {p: p.read_text() for p in out.glob("trials/*/history.csv")} == histories


def test_a_worker_killed_in_the_middle_of_a_trial_restarts_it_from_its_checkpoint(ray_cluster, small_csv, tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"units": [8, 16]}))
    out = tmp_path / "sweep"
    argv = sweep_args(small_csv, space, out, ray_cluster, "--samples", 2, "--epochs", 6, "--scheduler", "fifo")
    codes = []
    driver = threading.Thread(target=lambda: codes.append(main(argv)))
    driver.start()
    killed = None
    deadline = time.monotonic() + 180
    while killed is None and time.monotonic() < deadline and driver.is_alive():
        for lock in out.glob("trials/*/" + rundir.LOCK):
            holder, folder = lock.read_text(), lock.parent
            history = folder / rundir.HISTORY
            if holder.startswith("pid ") and history.exists() and len(history.read_text().splitlines()) >= 3:
                killed = int(holder.split()[1])  # the trial's worker, after its second epoch
                os.kill(killed, signal.SIGKILL)
                first_epoch = (folder.name, history.read_text().splitlines()[1])  # its time differs on a retrain
                break
        time.sleep(0.02)
    driver.join(timeout=300)
    assert killed is not None, "the trials finished before a worker could be killed in the middle of one"
    assert codes == [0]
    rows = trial_rows(out)
    assert len(rows) == 2 and [r["status"] for r in rows] == ["finished", "finished"]
    for row in rows:  # every epoch once
        history = rundir.read_history(out / "trials" / row["trial"] / rundir.HISTORY)
        assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    # the killed trial went on from its checkpoint, not from the start
    assert (out / "trials" / first_epoch[0] / rundir.HISTORY).read_text().splitlines()[1] == first_epoch[1]
