"""`jenacast chapter --ray` on a real two-node local cluster: the same numbers as the chapter's own process, the
same run folders, reuse and resume, and a worker killed in the middle of a run."""

import json
import os
import signal
import threading
import time

import pytest

from jenacast.cli import main
from jenacast.training import rundir

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'jenacast[ray]'")


def chapter(small_csv, out, *extra):
    argv = ["chapter", "--smoke", "--dataset", small_csv, "--models", "dense,lstm", "--seeds", 2, "--out", out]
    return main([str(a) for a in (*argv, *extra)])


def runs(out):
    return sorted(p.relative_to(out).as_posix() for p in (out / "runs").glob("*/seed-*"))


def test_ray_chapter_equals_the_sequential_one_bit_for_bit_and_reuses_and_resumes(
    ray_cluster, small_csv, tmp_path, capsys
):
    assert chapter(small_csv, tmp_path / "here", "--threads", 1, "--quiet") == 0
    assert chapter(small_csv, tmp_path / "ray", "--ray", ray_cluster, "--quiet") == 0  # 1 thread per run
    here, there = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("here", "ray"))
    assert (
        runs(tmp_path / "ray")
        == runs(tmp_path / "here")
        == [
            "runs/dense/seed-0",
            "runs/dense/seed-1",
            "runs/lstm/seed-0",
            "runs/lstm/seed-1",
        ]
    )
    for name in ("dense", "lstm"):
        for key in ("val_mae_per_seed", "test_mae_per_seed", "test_mae_ci95", "paired"):
            assert there["models"][name][key] == here["models"][name][key], (name, key)  # equal, not approximately
    assert there["settings"]["ray"] == ray_cluster and there["settings"]["threads"] == here["settings"]["threads"] == 1
    for run in runs(tmp_path / "ray"):
        ours, theirs = (tmp_path / d / run for d in ("here", "ray"))
        assert (theirs / rundir.HISTORY).read_text().splitlines()[1:] != []
        assert [r["val_loss"] for r in rundir.read_history(theirs / rundir.HISTORY)] == [
            r["val_loss"] for r in rundir.read_history(ours / rundir.HISTORY)
        ]
        assert (theirs / rundir.CURVES).exists()  # drawn by the worker, in the shared folder
    capsys.readouterr()

    # an interrupted run (its last epoch saved, no metrics yet) resumes on Ray; the finished ones are reused
    (tmp_path / "ray" / "runs" / "lstm" / "seed-1" / rundir.METRICS).unlink()
    assert chapter(small_csv, tmp_path / "ray", "--ray", ray_cluster) == 0
    said = capsys.readouterr()
    assert said.out.count("finished earlier, reusing") + said.err.count("finished earlier, reusing") == 3
    assert "1 runs submitted to Ray" in said.out + said.err
    again = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert again["models"]["lstm"]["test_mae_per_seed"] == here["models"]["lstm"]["test_mae_per_seed"]


def test_a_worker_killed_in_the_middle_of_a_run_is_replaced_and_the_run_resumes(ray_cluster, small_csv, tmp_path):
    out = tmp_path / "chapter"
    watched = out / "runs" / "lstm" / "seed-0"
    argv = ["chapter", "--smoke", "--epochs", 6, "--dataset", small_csv, "--models", "lstm", "--seeds", 2]
    codes = []
    driver = threading.Thread(
        target=lambda: codes.append(main([str(a) for a in argv] + ["--out", str(out), "--ray", ray_cluster, "--quiet"]))
    )
    driver.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and driver.is_alive():
        holder = (watched / rundir.LOCK).read_text() if (watched / rundir.LOCK).exists() else ""
        started = (watched / rundir.HISTORY).exists() and not (watched / rundir.METRICS).exists()
        if holder.startswith("pid ") and started:
            killed = int(holder.split()[1])  # the worker training it: the lock names its process
            os.kill(killed, signal.SIGKILL)
            first_epoch = (watched / rundir.HISTORY).read_text().splitlines()[1]  # its time differs on a retrain
        time.sleep(0.02)
    driver.join(timeout=300)
    assert killed is not None, "the run finished before a worker could be killed in its middle"
    assert codes == [0]
    history = rundir.read_history(watched / rundir.HISTORY)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]  # every epoch once: resumed, not restarted or repeated
    assert (watched / rundir.HISTORY).read_text().splitlines()[1] == first_epoch
    results = json.loads((out / "results.json").read_text())
    assert results["models"]["lstm"]["seeds"] == 2 and len(results["models"]["lstm"]["test_mae_per_seed"]) == 2
    assert json.loads((watched / rundir.METRICS).read_text())["epochs_run"] == 6


def test_an_address_where_no_cluster_answers_is_one_sentence(tmp_path, capsys):
    assert main(["chapter", "--smoke", "--models", "dense", "--ray", "127.0.0.1:1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "nothing answers at 127.0.0.1:1" in err and "ray start --head" in err and err.count("\n") == 1
    assert main(["chapter", "--smoke", "--models", "dense", "--ray", "nohost", "--out", str(tmp_path)]) == 1
    assert "--ray nohost is not local, auto or HOST:PORT." in capsys.readouterr().err
