"""Any station's table: formats, time columns, the regular grid, gaps, windows in time, the cache, and the errors.

Every table is written by the test itself."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest

from jenacast.data import station
from jenacast.data.csvio import load_csv, write_csv
from jenacast.data.durations import format_duration, parse_duration, window_spec
from jenacast.data.options import DataOptions
from jenacast.data.select import open_dataset
from jenacast.data.station import load_table
from jenacast.data.synthetic import generate_synthetic
from jenacast.data.windows import WindowSpec, make_splits
from jenacast.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JENACAST_CACHE", str(tmp_path / "cache"))


def hourly(rows: int = 1200, start: str = "2021-03-01") -> pd.DataFrame:
    """An hourly station export: a daily cycle in temperature, a dew point, wind, and a text column."""
    hours = np.arange(rows)
    return pd.DataFrame(
        {
            "time": pd.date_range(start, periods=rows, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
            "temp": np.round(8 + 5 * np.sin(2 * np.pi * hours / 24) + 0.01 * hours, 2),
            "dew": np.round(3 + 2 * np.cos(2 * np.pi * hours / 24), 2),
            "wind": np.round(4 + (hours % 7), 1),
            "station": "EDDB",
        }
    )


def test_an_hourly_table_with_gaps_missing_cells_and_a_duplicated_hour(tmp_path):
    frame = hourly()
    frame.loc[10, "dew"] = np.nan  # one missing cell: filled
    frame = frame.drop(index=[20, 21])  # two hours absent: filled (2 h <= 3 h)
    frame = frame.drop(index=range(300, 306))  # six hours absent: a long gap, left missing
    duplicate = frame.loc[[40]].assign(temp=99.0)  # the same hour again, later in the file: it wins
    frame = pd.concat([frame, duplicate])
    path = tmp_path / "hourly.csv"
    frame.to_csv(path, index=False)

    table = load_table(path, target="temp")
    assert table.interval == 3600
    assert table.names == ("temp", "dew", "wind")  # the text column left out
    assert len(table) == 1200
    loading = table.loading
    assert loading["duplicated_times"] == 1 and loading["steps_back_in_time"] == 1
    assert loading["missing_rows"] == 8
    assert loading["filled_cells"] == 1 + 2 * 3
    assert loading["unfilled_cells"] == 6 * 3
    assert any("'station' (text)" in note for note in loading["notes"])
    temp, dew = table.column("temp"), table.column("dew")
    assert temp[40] == 99.0
    assert dew[10] == pytest.approx((dew[9] + dew[11]) / 2, abs=1e-5)  # linear in time
    assert temp[20] == pytest.approx(temp[19] + (temp[22] - temp[19]) / 3, abs=1e-4)
    assert np.isnan(table.values[300:306]).all() and not np.isnan(np.delete(table.values, range(300, 306), 0)).any()

    splits = make_splits(table, target_column=0, spec=WindowSpec(1, 120, 24))
    # a window reads rows p .. p + 119 and its target is row p + 143: those touching rows 300-305 are dropped
    every = range(splits.train.count + splits.train.dropped)
    reference = [p for p in every if not (300 - 143 <= p <= 305 - 143 or 300 - 119 <= p <= 305)]
    assert splits.train.window_order().tolist() == reference
    assert splits.dropped == splits.train.dropped > 0
    x, y = next(splits.train.batches(512))
    assert torch_finite(x) and torch_finite(y)
    present = table.values[:600][~np.isnan(table.values[:600, 0]), 0]  # the training rows: the first half
    assert splits.mean[0] == pytest.approx(present.mean(), rel=1e-5)  # statistics ignore missing cells


def torch_finite(tensor) -> bool:
    return bool(tensor.isfinite().all())


def test_a_ten_minute_table_gets_the_books_window(tmp_path):
    rows = 3000
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2020-01-01", periods=rows, freq="10min").strftime("%d.%m.%Y %H:%M:%S"),
            "T (degC)": np.sin(np.arange(rows) / 144.0),
            "p": 1000 + np.cos(np.arange(rows) / 50.0),
        }
    )
    path = tmp_path / "ten.csv"
    frame.to_csv(path, index=False)
    dataset = open_dataset(DataOptions(dataset=str(path)))
    assert dataset.table.interval == 600 and dataset.target == "T (degC)"  # the default target
    assert dataset.spec == WindowSpec(6, 120, 144)
    assert str(dataset.table.timestamps[1]) == "2020-01-01T00:10:00"


def test_zone_aware_times_become_utc(tmp_path):
    frame = hourly().assign(
        time=pd.date_range("2021-03-01", periods=1200, freq="h", tz="Europe/Berlin").strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    path = tmp_path / "zoned.csv"
    frame.to_csv(path, index=False)
    table = load_table(path, target="temp")
    assert str(table.timestamps[0]) == "2021-02-28T23:00:00"  # +01:00 in winter
    assert len(table) == 1200  # the switch to summer time is no gap in UTC


def in_date_parts(clock: str) -> pd.DataFrame:
    """``hourly()`` with its time in Year, Month, Day and an ``Hour`` number or a ``Time`` HH:MM column."""
    times = pd.date_range("2019-06-01", periods=1200, freq="h")
    frame = hourly().drop(columns=["time"])
    for index, (name, values) in enumerate((("Year", times.year), ("Month", times.month), ("Day", times.day))):
        frame.insert(index, name, values)
    frame.insert(3, clock, times.hour if clock == "Hour" else times.strftime("%H:%M"))
    return frame


def test_separate_date_part_columns(tmp_path):
    frame = in_date_parts("Hour")
    path = tmp_path / "parts.csv"
    frame.to_csv(path, index=False)
    table = load_table(path, target="temp")
    assert table.names == ("temp", "dew", "wind")  # the date parts are the time, not features
    assert table.loading["time_column"] == "Year, Month, Day, Hour"
    assert str(table.timestamps[25]) == "2019-06-02T01:00:00"


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_and_tab_files(tmp_path, separator):
    path = tmp_path / "table.csv"
    hourly().to_csv(path, index=False, sep=separator)
    table = load_table(path, target="temp")
    assert table.names == ("temp", "dew", "wind") and len(table) == 1200


def test_gzip_zip_and_parquet_read_the_same_table(tmp_path):
    frame = hourly()
    plain = tmp_path / "t.csv"
    frame.to_csv(plain, index=False)
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as archive:
        archive.write(plain, "export/t.csv")
    frame.assign(time=pd.to_datetime(frame["time"])).to_parquet(tmp_path / "t.parquet")
    reference = load_table(plain, target="temp")
    for name in ("t.csv.gz", "t.zip", "t.parquet"):
        table = load_table(tmp_path / name, target="temp")
        np.testing.assert_array_equal(table.values, reference.values)
        np.testing.assert_array_equal(table.timestamps, reference.timestamps)


def test_features_missing_sentinels_and_the_target_added(tmp_path):
    frame = hourly()
    frame.loc[5, "wind"] = -9999
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    table = load_table(path, target="temp", features=["wind"], missing=[-9999])
    assert table.names == ("temp", "wind")
    assert table.loading["filled_cells"] == 1
    assert table.column("wind")[5] == pytest.approx((table.column("wind")[4] + table.column("wind")[6]) / 2)
    assert any("target 'temp' was added" in note for note in table.loading["notes"])


def test_a_mostly_missing_column_is_left_out_and_named(tmp_path):
    frame = hourly().assign(gust=np.nan)
    frame.loc[:100, "gust"] = np.arange(101.0)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    table = load_table(path, target="temp")
    assert "gust" not in table.names
    assert any("'gust' (missing in 92% of rows)" in note for note in table.loading["notes"])


def test_a_jena_format_file_keeps_its_exact_fast_path(tmp_path):
    path = tmp_path / "jena.csv"
    write_csv(generate_synthetic(0, years=0.2), path)
    exact = load_csv(path)
    table = load_table(path)
    np.testing.assert_array_equal(table.values, exact.values)
    np.testing.assert_array_equal(table.timestamps, exact.timestamps)
    assert table.sha256 == exact.sha256 and table.loading == {}


def test_the_second_load_comes_from_the_cache_and_options_or_a_new_file_miss_it(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    hourly().to_csv(path, index=False)
    first = load_table(path, target="temp")
    calls = []
    real = station.read_frame
    monkeypatch.setattr(station, "read_frame", lambda p, *rest: calls.append(p) or real(p, *rest))
    again = load_table(path, target="temp")
    assert calls == []
    np.testing.assert_array_equal(again.values, first.values)
    assert again.loading == first.loading and again.interval == 3600 and again.sha256 == first.sha256
    load_table(path, target="temp", max_gap="1h")
    assert len(calls) == 1  # other options: parsed again
    hourly(rows=1300).to_csv(path, index=False)  # the file changed (size, time)
    assert len(load_table(path, target="temp")) == 1300


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (lambda f: f.assign(temp=np.nan), {"target": "temp"}, "'temp' cannot be learned from (every cell missing)"),
        (lambda f: f.assign(temp=1.0), {"target": "temp"}, "'temp' cannot be learned from (constant 1)"),
        (lambda f: f, {"target": "station"}, "the column 'station' is not numeric (data row 1 holds 'EDDB')"),
        (lambda f: f, {"target": "nope"}, "has no column 'nope'"),
        (lambda f: f, {}, "has no 'T (degC)' column; name the column to forecast with target"),
        (lambda f: f.drop(columns=["time"]), {"target": "temp"}, "has no column that parses as dates"),
        (
            lambda f: f.assign(also=f["time"]),
            {"target": "temp"},
            "several columns that parse as dates ('time', 'also')",
        ),
        (lambda f: f, {"target": "temp", "time_column": "when"}, "has no column 'when' for time_column"),
        (lambda f: f, {"target": "temp", "time_column": "wind"}, "the column 'wind' does not hold dates"),
        (lambda f: f.assign(time=f["time"][0]), {"target": "temp"}, "fewer than two distinct times"),
    ],
)
def test_a_table_that_cannot_serve_is_one_clear_sentence(tmp_path, change, options, message):
    path = tmp_path / "t.csv"
    change(hourly()).to_csv(path, index=False)
    with pytest.raises(DataError, match="^" + f".*{message}".replace("(", r"\(").replace(")", r"\)")) as caught:
        load_table(path, **options)
    assert "\n" not in str(caught.value)


def test_too_few_rows_for_the_splits_and_a_window_the_interval_does_not_divide(tmp_path):
    path = tmp_path / "t.csv"
    hourly(rows=300).to_csv(path, index=False)
    with pytest.raises(DataError, match="these windows need at least"):
        open_dataset(DataOptions(dataset=str(path), target="temp")).splits
    with pytest.raises(DataError, match="the step 30min is not a whole number of the data's interval \\(1h\\)"):
        open_dataset(DataOptions(dataset=str(path), target="temp", step="30min"))


def test_durations_and_windows_in_time():
    assert parse_duration("120h") == 432_000 and parse_duration("30min") == 1800 and parse_duration("2 days") == 172_800
    assert format_duration(600) == "10min" and format_duration(86_400) == "24h" and format_duration(90) == "90s"
    assert window_spec(600) == WindowSpec(6, 120, 144)
    assert window_spec(3600) == WindowSpec(1, 120, 24)
    assert window_spec(1800, "48h", "2h", "12h") == WindowSpec(4, 24, 24)
    with pytest.raises(ConfigError, match="lookback '120' is not a duration"):
        parse_duration("120", "lookback")
    with pytest.raises(DataError, match="the lookback 5h is not a whole number of steps of 2h"):
        window_spec(3600, "5h", "2h")


def test_the_jena_datasets_refuse_a_tables_options():
    with pytest.raises(DataError, match="features is for a station's own table"):
        open_dataset(DataOptions(dataset="synthetic", features=("T (degC)",)))


def test_times_before_1970_are_times(tmp_path):
    path = tmp_path / "old.csv"
    hourly(start="1965-06-01").to_csv(path, index=False)
    table = load_table(path, target="temp")
    assert len(table) == 1200 and table.loading["rows_without_time"] == 0
    assert str(table.timestamps[0]) == "1965-06-01T00:00:00"


def test_a_daily_file_with_a_date_column(tmp_path):
    days = 400
    path = tmp_path / "daily.csv"
    pd.DataFrame(
        {"DATE": pd.date_range("2001-01-01", periods=days, freq="D").strftime("%Y-%m-%d"), "TAVG": np.arange(days) % 9}
    ).to_csv(path, index=False)
    dataset = open_dataset(DataOptions(dataset=str(path), target="TAVG", lookback="30d", step="1d", horizon="1d"))
    assert dataset.table.interval == 86_400 and dataset.spec == WindowSpec(1, 30, 1)


def test_an_off_grid_special_report_does_not_replace_the_reading_on_the_hour(tmp_path):
    frame = hourly()
    special = frame.loc[[10]].assign(time="2021-03-01 10:23:00", temp=-50.0)
    path = tmp_path / "speci.csv"
    pd.concat([frame, special]).to_csv(path, index=False)
    table = load_table(path, target="temp")
    assert table.column("temp")[10] == pytest.approx(frame.loc[10, "temp"]) and table.loading["off_grid"] == 1


def test_the_time_column_cannot_be_a_feature(tmp_path):
    path = tmp_path / "t.csv"
    hourly().to_csv(path, index=False)
    with pytest.raises(DataError, match="'time' holds the times; it cannot be a feature or the target"):
        load_table(path, target="temp", features=["time", "dew"])


def test_times_in_a_parquet_index(tmp_path):
    frame = hourly().assign(time=lambda f: pd.to_datetime(f["time"])).set_index("time")
    frame.drop(columns=["station"]).to_parquet(tmp_path / "t.parquet")
    assert len(load_table(tmp_path / "t.parquet", target="temp")) == 1200


def test_a_dwd_export_integer_times_decimal_commas_and_text_markers(tmp_path):
    rows = 1200
    times = pd.date_range("2020-01-01", periods=rows, freq="h")
    temp = [f"{v:.1f}".replace(".", ",") for v in 5 + 3 * np.sin(np.arange(rows) / 24)]
    temp[7] = "-999,0"
    frame = pd.DataFrame({"STATIONS_ID": 3987, "MESS_DATUM": times.strftime("%Y%m%d%H").astype(int), "TT_TU": temp})
    frame["RF_TU"] = ["---" if i == 9 else f"{60 + i % 30},0" for i in range(rows)]
    path = tmp_path / "produkt_tu.txt"
    frame.to_csv(path, index=False, sep=";")
    table = load_table(path, time_column="MESS_DATUM", target="TT_TU", missing=["-999", "---"])
    assert table.names == ("TT_TU", "RF_TU") and str(table.timestamps[13]) == "2020-01-01T13:00:00"
    assert table.loading["filled_cells"] == 2 and table.column("TT_TU")[0] == pytest.approx(5.0)


def test_a_cell_missing_in_the_newest_row_takes_the_last_value(tmp_path):
    frame = hourly()
    frame.loc[len(frame) - 1, "dew"] = np.nan
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    dew = load_table(path, target="temp").column("dew")
    assert dew[-1] == dew[-2]


def test_braces_in_a_path_stay_one_sentence(tmp_path):
    path = tmp_path / "st{1}.csv"
    hourly().drop(columns=["time"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"st\{1\}\.csv has no column that parses as dates"):
        load_table(path, target="temp")


def test_a_separate_clock_column_beside_the_dates_parts(tmp_path):
    in_date_parts("Time").to_csv(tmp_path / "t.csv", index=False)
    table = load_table(tmp_path / "t.csv", target="temp")
    assert len(table) == 1200 and str(table.timestamps[25]) == "2019-06-02T01:00:00"


def test_times_without_their_hour_are_refused_not_collapsed(tmp_path):
    frame = hourly().assign(time=lambda f: pd.to_datetime(f["time"]).dt.strftime("%Y-%m-%d"))
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="1,150 of its 1,200 rows share their time with another row"):
        load_table(tmp_path / "t.csv", target="temp")


def test_a_max_gap_below_the_interval_is_named(tmp_path):
    days = pd.date_range("2001-01-01", periods=400, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame({"DATE": days, "TAVG": np.arange(400) % 9}).to_csv(tmp_path / "d.csv", index=False)
    notes = load_table(tmp_path / "d.csv", target="TAVG").loading["notes"]
    assert "max_gap 3h is shorter than the data's interval (24h): no gap is filled" in notes
