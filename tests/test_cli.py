"""Every CLI command end to end, on a small Jena-format CSV, with --max-batches / --smoke."""

import json

import pytest

from jenacast.cli import main
from jenacast.data import generate_synthetic, write_csv
from jenacast.errors import DataError
from jenacast.training import rundir


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "small.csv"
    write_csv(generate_synthetic(2, years=0.2), path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_evaluate(small_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run(
        capsys,
        "train",
        "lstm",
        "--dataset",
        small_csv,
        "--epochs",
        2,
        "--max-batches",
        3,
        "--out",
        out,
        "--quiet",
        "--device",
        "cpu",
    )
    assert code == 0 and "test MAE" in stdout
    for name in (rundir.CONFIG, rundir.HISTORY, rundir.BEST, rundir.LAST, rundir.METRICS, rundir.CURVES):
        assert (out / name).exists()
    metrics = json.loads((out / rundir.METRICS).read_text())
    assert metrics["epochs_run"] == 2 and metrics["params"] == 2001
    code, stdout, _ = run(capsys, "evaluate", out, "--json")
    result = json.loads(stdout)
    assert code == 0 and result["test_mae"] == pytest.approx(metrics["test_mae"], rel=1e-6)
    # --resume on a finished run trains nothing more and reports the same
    code, stdout, _ = run(
        capsys,
        "train",
        "lstm",
        "--dataset",
        small_csv,
        "--epochs",
        2,
        "--max-batches",
        3,
        "--out",
        out,
        "--quiet",
        "--device",
        "cpu",
        "--resume",
        "--json",
        "--no-cuda-graph",
    )
    assert code == 0 and json.loads(stdout)["test_mae"] == pytest.approx(metrics["test_mae"])


def test_train_into_an_existing_run_without_resume_is_refused(small_csv, tmp_path, capsys):
    args = ["train", "dense", "--dataset", small_csv, "--epochs", 1, "--max-batches", 2, "--out", tmp_path, "--quiet"]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 1 and "already holds a run; pass --resume" in err and err.count("\n") == 1


def test_evaluate_bad_folders(tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", tmp_path / "missing")
    assert code == 1 and "no such run folder" in err
    (tmp_path / rundir.BEST).write_bytes(b"\x80garbage")
    code, _, err = run(capsys, "evaluate", tmp_path)
    assert code == 1 and "is not a readable jenacast checkpoint" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "gru"], "invalid choice: 'gru'"),
        (["train", "lstm", "--lr", "-1"], "expected a positive number"),
        (["train", "lstm", "--epochs", "0"], "expected a positive integer"),
        (["chapter", "--models", "lstm,nope"], "unknown model nope"),
        (["chapter", "--seeds", "x"], "expected a positive integer"),
    ],
)
def test_bad_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_train_with_a_bad_dataset_path(tmp_path, capsys):
    code, _, err = run(capsys, "train", "lstm", "--dataset", tmp_path / "nope.csv", "--quiet")
    assert code == 1 and "no such file" in err


def test_chapter_smoke_writes_report_and_reuses_finished_runs(small_csv, tmp_path, capsys):
    out = tmp_path / "chapter"
    argv = [
        "chapter",
        "--smoke",
        "--dataset",
        small_csv,
        "--models",
        "dense,lstm",
        "--seeds",
        2,
        "--out",
        out,
        "--json",
    ]
    code, stdout, _ = run(capsys, *argv)
    assert code == 0
    results = json.loads(stdout)
    assert results == json.loads((out / "results.json").read_text())
    assert (
        set(results["dataset"]) >= {"name", "rows", "sha256", "synthetic"} and results["dataset"]["synthetic"] is False
    )
    assert list(results["models"]) == ["baseline", "dense", "lstm"]
    for m in results["models"].values():
        assert set(m) >= {
            "val_mae",
            "test_mae",
            "test_mae_std",
            "seeds",
            "epochs",
            "seconds_per_epoch",
            "params",
            "book_test_mae",
        }
    assert results["models"]["lstm"]["seeds"] == 2 and results["models"]["lstm"]["book_test_mae"] == 2.55
    lstm = results["models"]["lstm"]
    assert lstm["test_mae"] == pytest.approx(sum(lstm["test_mae_per_seed"]) / 2) and len(lstm["val_mae_per_seed"]) == 2
    assert lstm["test_mae_ci95"][0] < lstm["test_mae"] < lstm["test_mae_ci95"][1]
    assert set(lstm["paired"]) == {"baseline"} and set(results["models"]["dense"]["paired"]) == {"baseline", "lstm"}
    assert results["models"]["baseline"]["book_test_mae"] == 2.62
    report = (out / "report.md").read_text()
    assert "| lstm |" in report and "comparison.png" in report and (out / "comparison.png").stat().st_size > 1000
    assert (
        "## The chapter's lessons" in report and "A small LSTM beats the baseline" in report and "Smoke mode" in report
    )
    assert "## 2 seeds" in report and "| dense | 2 |" in report
    assert [c["model"] for c in results["lessons"]] == ["dense", "lstm"]
    assert (out / "runs" / "lstm" / "seed-1" / rundir.CURVES).exists()
    code, stdout, _ = run(
        capsys, "chapter", "--smoke", "--dataset", small_csv, "--models", "dense,lstm", "--seeds", 2, "--out", out
    )
    assert code == 0 and "| dense |" in stdout and "the lessons are not judged" in stdout
    assert json.loads((out / "results.json").read_text())["models"]["lstm"] == results["models"]["lstm"]


def test_chapter_quick_trains_whole_epochs_and_evaluates_whole_splits(small_csv, tmp_path, capsys, monkeypatch):
    import jenacast.chapter
    from jenacast.data import load_csv, make_splits
    from jenacast.evaluate import baseline_mae

    monkeypatch.setattr(jenacast.chapter, "SMOKE_MAX_BATCHES", 2)  # so that a loop cut like smoke's would show
    code, stdout, _ = run(
        capsys, "chapter", "--quick", "--dataset", small_csv, "--models", "conv", "--out", tmp_path, "--json"
    )
    assert code == 0
    results = json.loads(stdout)
    assert results["settings"]["mode"] == "quick" and results["settings"]["max_batches"] is None
    splits = make_splits(load_csv(small_csv))
    assert results["models"]["baseline"]["test_mae"] == pytest.approx(baseline_mae(splits.test), rel=1e-12)
    assert results["models"]["baseline"]["val_mae"] == pytest.approx(baseline_mae(splits.val), rel=1e-12)
    history = (tmp_path / "runs" / "conv" / "seed-0" / rundir.HISTORY).read_text().splitlines()
    quick = jenacast.chapter.model_epochs("conv", jenacast.chapter.ChapterOptions(mode="quick"), len(splits.train))
    assert quick != jenacast.chapter.SMOKE_EPOCHS
    assert results["models"]["conv"]["epochs"] == quick == len(history) - 1
    assert json.loads((tmp_path / "runs" / "conv" / "seed-0" / rundir.CONFIG).read_text())["max_batches"] is None
    report = (tmp_path / "report.md").read_text()
    assert "Quick mode" in report and "| conv |" in report and f"| {quick} |" in report
    curves = tmp_path / "runs" / "conv" / "seed-0" / rundir.CURVES
    drawn = curves.stat().st_mtime_ns
    code, stdout, err = run(capsys, "chapter", "--quick", "--dataset", small_csv, "--models", "conv", "--out", tmp_path)
    assert code == 0 and "finished earlier, reusing" in stdout + err
    assert curves.stat().st_mtime_ns == drawn  # a reused run's curves are not drawn again
    assert "The chapter's lessons: " in stdout and "conv no better than the baseline: conv " in stdout


def test_quick_mode_keeps_the_jena_datas_training_steps_on_a_smaller_table():
    from jenacast.chapter import JENA_TRAIN_WINDOWS, ChapterOptions, model_epochs
    from jenacast.models import MODELS

    quick = ChapterOptions(mode="quick")
    assert model_epochs("lstm-dropout", quick) == MODELS["lstm-dropout"].quick_epochs == 4  # the Jena data
    assert model_epochs("lstm-dropout", quick, JENA_TRAIN_WINDOWS // 6) == 24  # an hourly table: 6x the epochs
    assert model_epochs("dense", quick, JENA_TRAIN_WINDOWS // 6) == MODELS["dense"].epochs  # never above the book's
    assert model_epochs("lstm-dropout", ChapterOptions(mode="book"), 1000) == 50


def test_quick_and_smoke_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["chapter", "--quick", "--smoke"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_chapter_refuses_runs_trained_on_other_data_and_force_trains_them_again(tmp_path, capsys):
    data, out = tmp_path / "station.csv", tmp_path / "chapter"
    write_csv(generate_synthetic(3, years=0.2), data)
    argv = ["chapter", "--smoke", "--dataset", data, "--models", "dense", "--out", out, "--quiet"]
    assert run(capsys, *argv)[0] == 0
    metrics = out / "runs" / "dense" / "seed-0" / rundir.METRICS
    first = json.loads(metrics.read_text())
    write_csv(generate_synthetic(4, years=0.19), data)  # the same path, other data
    code, _, err = run(capsys, *argv)
    assert code == 1 and err.count("\n") == 1
    assert "holds a run trained on other data (sha256 " in err and "rows 10,511 then, 9,985 now)" in err
    assert err.rstrip().endswith("choose another --out, or pass --force to train it again.")
    assert json.loads(metrics.read_text()) == first
    code, _, err = run(capsys, *argv, "--force")
    assert code == 0
    second = json.loads(metrics.read_text())
    assert second["dataset"]["sha256"] != first["dataset"]["sha256"]
    assert json.loads((out / "results.json").read_text())["dataset"]["sha256"] == second["dataset"]["sha256"]


def test_train_records_what_auto_resolved_to(tmp_path, capsys, monkeypatch):
    def offline(**kwargs):
        raise DataError("no network")

    monkeypatch.setattr("jenacast.data.select.download", offline)
    out = tmp_path / "run"
    code, _, _ = run(
        capsys, "train", "dense", "--epochs", 1, "--max-batches", 1, "--out", out, "--quiet", "--device", "cpu"
    )
    assert code == 0
    recorded = json.loads((out / rundir.CONFIG).read_text())
    assert recorded["dataset"] == "synthetic" and recorded["dataset_info"]["name"] == "synthetic"
    assert recorded["dataset_info"]["rows"] == 420_451 and len(recorded["dataset_info"]["columns"]) == 14
    assert run(capsys, "evaluate", out)[0] == 0


def test_evaluate_refuses_a_foreign_or_corrupted_checkpoint(small_csv, tmp_path, capsys):
    import torch

    for model in ("dense", "lstm"):
        assert (
            run(
                capsys,
                "train",
                model,
                "--dataset",
                small_csv,
                "--epochs",
                1,
                "--max-batches",
                2,
                "--out",
                tmp_path / model,
                "--quiet",
            )[0]
            == 0
        )
    (tmp_path / "lstm" / rundir.BEST).write_bytes((tmp_path / "dense" / rundir.BEST).read_bytes())
    code, _, err = run(capsys, "evaluate", tmp_path / "lstm")
    assert code == 1 and "holds another run than the folder's config.json (model 'lstm' there, 'dense' here)" in err
    state = torch.load(tmp_path / "dense" / rundir.BEST, weights_only=True)
    state["model_state"]["out.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "dense" / rundir.BEST)
    code, _, err = run(capsys, "evaluate", tmp_path / "dense")
    assert code == 1 and "is corrupted: out.weight holds NaN or infinite weights" in err


def test_resume_from_a_hand_edited_checkpoint_is_one_sentence(small_csv, tmp_path, capsys):
    import torch

    out = tmp_path / "run"
    args = ["train", "dense", "--dataset", small_csv, "--epochs", 2, "--max-batches", 1, "--out", out, "--quiet"]
    assert run(capsys, *args)[0] == 0
    state = torch.load(out / rundir.LAST, weights_only=True)
    for edit in ({"model_state": {"hidden.weight": torch.zeros(2, 2)}}, {"history": None}, {"torch_rng": {}}):
        torch.save({**state, **edit}, out / rundir.LAST)
        code, _, err = run(capsys, *args, "--resume")
        assert code == 1 and err.count("\n") == 1 and "does not hold a resumable dense run" in err, err
    torch.save({**state, "config": "dense"}, out / rundir.LAST)
    code, _, err = run(capsys, *args, "--resume")
    assert code == 1 and err.count("\n") == 1 and "does not hold a resumable dense run" in err, err


def test_a_second_chapter_into_the_same_folder_is_refused(small_csv, tmp_path, capsys):
    from jenacast.training.rundir import locked

    with locked(tmp_path):
        code, _, err = run(capsys, "chapter", "--smoke", "--dataset", small_csv, "--models", "dense", "--out", tmp_path)
    assert code == 1 and err.count("\n") == 1 and "is being written by pid" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results.json").exists()


def test_chapter_auto_without_real_data_says_it_uses_synthetic(tmp_path, capsys, monkeypatch):
    def offline(**kwargs):
        raise DataError("no network")

    monkeypatch.setattr("jenacast.data.select.download", offline)
    code, stdout, err = run(capsys, "chapter", "--smoke", "--models", "dense", "--out", tmp_path)
    assert code == 0
    assert (
        "using the synthetic Jena-like dataset" in stdout + err
        and "could not be downloaded (no network)" in stdout + err
    )
    assert "report in" in stdout + err
    assert (tmp_path / "report.md").read_text().startswith("# jenacast chapter 10 on the synthetic Jena-like dataset")


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "stacked-gru" in text and "RMSprop" in text and "--resume" in text


def test_bench_json_lists_each_model_and_backend(capsys):
    code, stdout, _ = run(
        capsys,
        "bench",
        "--device",
        "cpu",
        "--models",
        "dense,lstm",
        "--backends",
        "fwbw,torch",
        "--repeats",
        1,
        "--json",
    )
    assert code == 0
    rows = json.loads(stdout)
    assert [(r["model"], r["backend"]) for r in rows] == [("dense", "-"), ("lstm", "fwbw"), ("lstm", "torch")]
    for row in rows:
        assert row["device"] == "cpu" and row["ms_per_batch"] > 0 and row["first_batch_ms"] > 0 and row["params"] > 0
        assert row["mode"] == "eager" and row["eager_ms"] == row["ms_per_batch"]  # CUDA graphs exist on CUDA only
    assert rows[1]["params"] == 2001  # Keras' count
    assert rows[2]["params"] == 2001 + 64  # torch.nn.LSTM keeps a second bias vector (bias_hh)


def test_bench_on_cpu_times_the_cpu_tier_by_default(capsys, monkeypatch):
    import jenacast.bench

    asked = {}
    monkeypatch.setattr(
        jenacast.bench,
        "run_bench",
        lambda models, backends, device, **kw: asked.update(b=backends, graph=kw["cuda_graph"]) or [],
    )
    assert run(capsys, "bench", "--device", "cpu", "--json")[0] == 0
    assert asked == {"b": ("cpu", "fwbw", "torch"), "graph": True}
    assert run(capsys, "bench", "--device", "cpu", "--json", "--no-cuda-graph")[0] == 0
    assert asked["graph"] is False


def test_bench_rejects_unknown_backends(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--backends", "cudnn"])
    assert exit_.value.code == 2 and "unknown backend cudnn" in capsys.readouterr().err


def test_chapter_with_a_damaged_run_folder_is_one_line(small_csv, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "dense" / "seed-0"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{not json")
    code, _, err = run(capsys, "chapter", "--smoke", "--dataset", small_csv, "--models", "dense", "--out", tmp_path)
    assert code == 1 and "config.json is unreadable" in err and err.count("\n") == 1


def test_library_notes_reach_stderr(capsys):
    import logging

    from jenacast.cli import show_notes

    logger = logging.getLogger("jenacast")
    saved = logger.handlers[:], logger.level
    logger.handlers.clear()
    try:
        show_notes()
        show_notes()  # a second call adds no second handler
        logger.info("jenacast: a note")
        assert capsys.readouterr().err.count("jenacast: a note") == 1
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])


def test_bench_header_on_cuda_names_the_kernels_and_graphs(capsys, monkeypatch):
    pytest.importorskip("triton", reason="the header names Triton's version (pip install 'jenacast[gpu]')")
    import torch

    import jenacast.bench
    import jenacast.training.trainer

    monkeypatch.setattr(jenacast.training.trainer, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(jenacast.bench, "run_bench", lambda *a, **kw: [])
    code, out, _ = run(capsys, "bench", "--backends", "triton,torch")
    assert code == 0 and "on NVIDIA H200" in out and "rows up to 32 units kernels, steps as CUDA graphs" in out
    from jenacast.rnn import ops

    with ops.options(triton_layout="tiles"):
        code, out, _ = run(capsys, "bench", "--backends", "triton")
    assert code == 0 and "tiles kernels" in out
    code, out, _ = run(capsys, "bench", "--backends", "torch", "--no-cuda-graph")
    assert code == 0 and "Triton" not in out and "eager steps" in out
