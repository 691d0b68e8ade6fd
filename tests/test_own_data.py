"""The whole tool on a station's own table: data info, train, evaluate from the folder alone, the chapter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jenacast.cli import main


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JENACAST_CACHE", str(tmp_path / "cache"))


def write_station(path, rows: int = 1500, extra: dict | None = None) -> None:
    """An hourly export with a daily cycle, a slow drift, gaps and missing cells."""
    hours = np.arange(rows)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "valid": pd.date_range("2022-01-01", periods=rows, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tmpc": np.round(5 + 6 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.5, rows), 1),
            "dwpc": np.round(1 + 3 * np.sin(2 * np.pi * (hours - 3) / 24) + rng.normal(0, 0.5, rows), 1),
            "sknt": np.round(np.abs(rng.normal(8, 3, rows))),
            **(extra or {}),
        }
    )
    frame.loc[rng.choice(rows, 30, replace=False), "dwpc"] = np.nan
    frame.drop(index=range(700, 712)).to_csv(path, index=False)  # a 12-hour outage


def test_data_info_describes_the_table_as_read(tmp_path, capsys):
    write_station(tmp_path / "metar.csv")
    assert main(["data", "info", str(tmp_path / "metar.csv"), "--target", "tmpc"]) == 0
    text = capsys.readouterr().out
    assert "rows        1,500, every 1h" in text
    assert "(time from valid)" in text and "12 rows absent in time" in text
    assert "target      'tmpc', 24h after the last of 120 readings every 1h" in text
    assert "dropped: they touch a long gap" in text


def test_train_then_evaluate_from_the_folder_alone_then_refuse_other_columns(tmp_path, capsys):
    table, run = tmp_path / "metar.csv", tmp_path / "run"
    write_station(table)
    args = ["train", "dense", "--dataset", str(table), "--target", "tmpc", "--lookback", "48h", "--horizon", "6h"]
    assert main([*args, "--epochs", "2", "--out", str(run), "--quiet", "--device", "cpu"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["target"] == "tmpc" and config["lookback"] == "48h"
    recorded = config["dataset_info"]
    assert recorded["columns"] == ["tmpc", "dwpc", "sknt"] and recorded["interval_seconds"] == 3600
    assert recorded["window"]["sequence_length"] == 48 and recorded["window"]["horizon_rows"] == 6
    assert recorded["loading"]["filled_cells"] > 0 and recorded["loading"]["dropped_windows"] > 0
    trained = json.loads((run / "metrics.json").read_text())["test_mae"]
    capsys.readouterr()

    assert main(["evaluate", str(run), "--json", "--device", "cpu"]) == 0  # no data option: all from the folder
    assert json.loads(capsys.readouterr().out)["test_mae"] == pytest.approx(trained, rel=1e-6)

    write_station(table, extra={"relh": np.linspace(40, 90, 1500)})
    assert main(["evaluate", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on other data" in err and "columns 3 (tmpc, dwpc, sknt) then, 4" in err


def test_the_chapter_on_a_stations_table_names_it_and_leaves_the_books_numbers_out(tmp_path, capsys):
    table, out = tmp_path / "metar.csv", tmp_path / "chapter"
    write_station(table)
    command = ["chapter", "--dataset", str(table), "--target", "tmpc", "--models", "dense,lstm"]
    assert main([*command, "--smoke", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["target"] == "tmpc" and results["dataset"]["loading"]["dropped_windows"] > 0
    report = (out / "report.md").read_text()
    assert f"# jenacast chapter 10 on the data from {table} (tmpc, 24h ahead)" in report
    assert "book (real data)" not in report and "The book's numbers are left out" in report


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--target", "nope"], "has no column 'nope'"),
        (["--target", "tmpc", "--step", "90min"], "the step 90min is not a whole number of the data's interval (1h)"),
        (["--target", "tmpc", "--lookback", "5"], "--lookback '5' is not a duration"),
        (["--target", "tmpc", "--features", "sknt,gone"], "has no column 'gone'"),
    ],
)
def test_bad_table_options_are_one_sentence_and_write_nothing(tmp_path, capsys, options, message):
    table, run = tmp_path / "metar.csv", tmp_path / "run"
    write_station(table)
    assert main(["train", "dense", "--dataset", str(table), *options, "--out", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not run.exists()


def test_a_window_too_short_for_conv_is_refused_before_anything_trains(tmp_path, capsys):
    table, out = tmp_path / "metar.csv", tmp_path / "chapter"
    write_station(table)
    command = ["chapter", "--dataset", str(table), "--target", "tmpc", "--lookback", "48h", "--smoke"]
    assert main([*command, "--models", "dense,conv", "--out", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "the conv model needs windows of at least 69 readings, and these have 48; lengthen --lookback" in err
    assert not out.exists()
