"""Monte Carlo dropout, calibrated intervals and their scores, and the forecast and evaluate commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jenacast.cli import main
from jenacast.forecast import mc
from jenacast.forecast.adaptive import online_factors
from jenacast.forecast.intervals import (
    Calibration,
    bounds,
    calibrate,
    conformal_quantile,
    interval_scores,
    pinball,
    score_reference,
    z_score,
)
from jenacast.forecast.mc import mc_predict, stochastic_modules
from jenacast.models import Head
from jenacast.rnn import GRU, LSTM
from jenacast.rnn.masks import DropoutMasks
from tests.test_own_data import write_station


def recorded_masks(monkeypatch, layer):
    """The masks ``layer`` draws, as it draws them."""
    drawn = []
    sample = layer.sample_masks

    def record(x):
        masks = sample(x)
        drawn.append(masks)
        return masks

    monkeypatch.setattr(layer, "sample_masks", record)
    return drawn


def test_samples_have_independent_masks_fixed_across_time(monkeypatch):
    torch.manual_seed(0)
    layer = LSTM(3, 8, recurrent_dropout=0.5, backend="reference")
    model = Head(layer, 8)
    drawn = recorded_masks(monkeypatch, layer)
    x = torch.randn(5, 12, 3)
    samples = mc_predict(model, x, 7)
    assert samples.shape == (5, 7)
    assert len(drawn) == 1  # one draw for the whole call: every time step of a sequence reuses its masks
    mask = drawn[0].recurrent
    assert mask.shape == (4, 5 * 7, 8)  # per gate, per sequence copy
    copies = mask.view(4, 5, 7, 8)
    assert all(not torch.equal(copies[:, b, 0], copies[:, b, s]) for b in range(5) for s in range(1, 7))
    assert (samples.std(dim=1) > 0).all()
    assert not model.training and not layer.training  # eval mode restored


def test_batched_samples_equal_single_passes_with_the_same_masks(monkeypatch):
    torch.manual_seed(1)
    layer = LSTM(3, 8, recurrent_dropout=0.3, backend="reference")
    model = Head(layer, 8).double()
    drawn = recorded_masks(monkeypatch, layer)
    x = torch.randn(4, 10, 3, dtype=torch.float64)
    samples = mc_predict(model, x, 6)
    mask = drawn[0].recurrent.view(4, 4, 6, 8)
    model.eval()
    with torch.no_grad():
        for s in range(6):
            single = model.out(layer(x, masks=DropoutMasks(recurrent=mask[:, :, s].contiguous()))).squeeze(-1)
            torch.testing.assert_close(samples[:, s], single, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stacked", [False, True])
def test_samples_from_each_window_given_once_equal_those_from_repeated_windows(monkeypatch, stacked):
    pytest.importorskip("numba")
    torch.manual_seed(3)
    if stacked:
        body = torch.nn.Sequential(
            GRU(14, 32, recurrent_dropout=0.5, return_sequences=True, backend="cpu"),
            GRU(32, 32, recurrent_dropout=0.5, backend="cpu"),
        )
    else:
        body = LSTM(14, 32, recurrent_dropout=0.25, backend="cpu")
    model = Head(body, 32, dropout=0.5)
    assert mc.input_layer(model) is (body[0] if stacked else body)
    x = torch.randn(9, 20, 14)
    torch.manual_seed(4)
    once = mc_predict(model, x, 30)
    monkeypatch.setattr(mc, "input_layer", lambda model: None)  # every window repeated before the model
    torch.manual_seed(4)
    repeated = mc_predict(model, x, 30)
    torch.testing.assert_close(once, repeated, rtol=1e-5, atol=1e-5)
    assert (once.std(dim=1) > 0).all()
    assert all(layer.input_copies == 1 for layer in model.modules() if isinstance(layer, (LSTM, GRU)))


def test_without_dropout_every_sample_is_the_deterministic_forecast():
    torch.manual_seed(2)
    model = Head(LSTM(3, 8, backend="reference"), 8)
    assert stochastic_modules(model) == []
    x = torch.randn(6, 10, 3)
    samples = mc_predict(model, x, 5)
    with torch.no_grad():
        expected = model.eval()(x)
    assert (samples == samples[:, :1]).all()  # the samples are equal ...
    torch.testing.assert_close(samples[:, 0], expected, rtol=1e-6, atol=1e-7)  # ... to the forecast (batch 30 vs 6)


def test_the_same_seed_gives_the_same_samples():
    model = Head(LSTM(3, 8, recurrent_dropout=0.4, backend="reference"), 8, dropout=0.5)
    x = torch.randn(3, 10, 3)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(mc_predict(model, x, 4))
    assert torch.equal(*runs)


def test_coverage_width_and_pinball_on_hand_made_cases():
    targets = np.array([0.0, 1.0, 2.0, 3.0])
    lower, upper = np.array([-1.0, 1.5, 1.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    scores = interval_scores(targets, lower, upper, 80)
    assert scores["coverage"] == 0.75  # the second target lies below its interval; bounds count as inside
    assert scores["width"] == pytest.approx((2 + 0.5 + 2 + 1) / 4)
    assert pinball(np.array([1.0, -1.0]), np.zeros(2), 0.9) == pytest.approx((0.9 + 0.1) / 2)
    assert conformal_quantile(np.arange(1.0, 10.0), 80) == 8.0  # ceil(10 * 0.8) = 8th smallest of 1..9
    assert conformal_quantile(np.arange(1.0, 10.0), 95) == 9.0  # ceil(9.5) = 10 > 9: the largest


def test_calibration_adds_the_noise_term_and_makes_validation_coverage_nominal():
    rng = np.random.default_rng(0)
    targets = rng.normal(0, 2, 20_000)
    samples = rng.normal(0, 0.1, (20_000, 50))  # a model sure of itself, and wrong by the noise
    calibration = calibrate(samples, targets, (50, 80, 95))
    assert calibration.noise_std == pytest.approx(2.0, rel=0.02)
    for level in (50, 80, 95):
        assert calibration.conformal[level] == pytest.approx(z_score(level), rel=0.05)
        low, high = bounds("conformal", samples, calibration, level)
        assert interval_scores(targets, low, high, level)["coverage"] == pytest.approx(level / 100, abs=0.002)
        low, high = bounds("mc", samples, calibration, level)
        assert interval_scores(targets, low, high, level)["coverage"] < 0.1  # MC alone: far too narrow
    assert Calibration.from_dict(json.loads(json.dumps(calibration.to_dict()))) == calibration


def test_adaptive_factors_use_only_the_latest_scores_already_known():
    scores = np.arange(100, dtype=np.float64)  # score i of the window starting at row 10 * i
    rows = 10 * np.arange(100)
    factors = online_factors(scores, rows, np.array([5, 205, 995]), 30, 4, (50,))[50]
    # row 5: nothing known yet; row 205: rows up to 175 known, the last four scores 14..17; row 995: 92..96
    assert np.isnan(factors[0])
    assert factors[1] == conformal_quantile(np.array([14.0, 15, 16, 17]), 50) == 16
    assert factors[2] == conformal_quantile(np.array([93.0, 94, 95, 96]), 50) == 95
    early = online_factors(scores, rows, np.array([55]), 30, 4, (50,))[50]  # two known: both used
    assert early[0] == conformal_quantile(np.array([0.0, 1.0]), 50)


def test_adaptive_intervals_follow_a_drift_that_split_conformal_misses():
    rng = np.random.default_rng(0)
    n = 4000
    samples = rng.normal(0, 0.1, (2 * n, 10))
    spread = np.r_[np.ones(n), 2 * np.ones(n)]  # the errors double after the calibration period
    targets = rng.normal(0, 1, 2 * n) * spread
    calibration = calibrate(samples[:n], targets[:n], (80,), rows=np.arange(n), recent=500)
    assert len(calibration.recent_scores) == 500 and calibration.recent_rows[0] == n - 500
    test_scores = np.abs(targets[n:] - samples[n:].mean(1)) / np.sqrt(samples[n:].var(1) + calibration.noise_std**2)
    rows = n + np.arange(n)
    factors = online_factors(
        np.r_[calibration.recent_scores, test_scores], np.r_[calibration.recent_rows, rows], rows, 10, 500, (80,)
    )
    split = interval_scores(targets[n:], *bounds("conformal", samples[n:], calibration, 80), 80)["coverage"]
    online = interval_scores(targets[n:], *bounds("adaptive", samples[n:], calibration, 80, factors), 80)["coverage"]
    assert split < 0.55 and abs(online - 0.80) < 0.03


def test_the_persistence_reference():
    last = np.zeros(1000)
    changes = np.linspace(-10, 10, 1001)
    reference = score_reference(last, np.full(1000, 0.0), changes, (80,))
    assert reference["levels"][80]["width"] == pytest.approx(16.0, rel=1e-3)
    assert reference["levels"][80]["coverage"] == 1.0 and reference["crps"] > 0


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    cache = pytest.MonkeyPatch()
    cache.setenv("JENACAST_CACHE", str(folder / "cache"))
    table, run = folder / "metar.csv", folder / "run"
    write_station(table)
    options = ["--dataset", str(table), "--target", "tmpc", "--lookback", "48h", "--horizon", "12h"]
    assert main(["train", "lstm-dropout", *options, "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    yield run
    cache.undo()


def test_forecast_prints_intervals_and_draws_the_plot(trained_run, tmp_path, capsys):
    plot = tmp_path / "forecast.png"
    assert main(["forecast", str(trained_run), "--samples", "8", "--plot", str(plot), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "lstm-dropout: tmpc at 2022-03-04 23:00:00 (2022-03-04 11:00:00 + horizon)" in text
    assert "conformal" in text and "mc+noise" in text and plot.stat().st_size > 10_000
    assert main(["forecast", str(trained_run), "--samples", "8", "--json", "--at", "2022-02-10T06:30"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["last_observation"] == "2022-02-10 06:00:00" and result["time"] == "2022-02-10 18:00:00"
    low, high = result["intervals"]["conformal"]["80"]
    assert low < result["mc_mean"] < high and result["samples"] == 8
    low, high = result["intervals"]["adaptive"]["80"]
    assert low < result["mc_mean"] < high and result["adaptive_windows"] == 649  # hourly windows, those without a gap


def test_evaluate_intervals_scores_every_method_beside_the_reference(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--intervals", "--samples", "8", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)["intervals"]
    assert (
        set(result["methods"]) == {"mc", "mc+noise", "conformal", "adaptive"} and "persistence" in result["reference"]
    )
    assert result["samples"] == 8 and result["test_windows"] > 0
    assert set(result["methods"]["conformal"]["levels"]) == {"50", "80", "95"}
    assert (trained_run / "intervals.json").exists() and (trained_run / "calibration.json").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--samples", "0"], "--samples must be a positive integer, got 0."),
        (["--levels", "80,100"], "--levels must be whole percentages from 1 to 99, got [100.0]."),
        (["--levels", "97.5"], "--levels must be whole percentages from 1 to 99, got [97.5]."),
        (["--at", "2030-01-01"], "--at 2030-01-01 00:00:00 is outside the data (2022-01-01 00:00:00 .."),
        (["--at", "2022-01-01T12:00"], "too little history before 2022-01-01 12:00:00: a window reads 48h of data"),
        (["--at", "soon"], "--at 'soon' is not a time"),
    ],
)
def test_bad_forecast_requests_are_one_sentence(trained_run, capsys, options, message):
    assert main(["forecast", str(trained_run), *options]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_folder_without_a_checkpoint_is_one_sentence(tmp_path, capsys):
    assert main(["forecast", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.pt" in err, err


def test_the_chapter_scores_intervals_per_model_and_reuses_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JENACAST_CACHE", str(tmp_path / "cache"))
    table, out = tmp_path / "metar.csv", tmp_path / "chapter"
    write_station(table)
    command = ["chapter", "--dataset", str(table), "--target", "tmpc", "--models", "dense,lstm-dropout", "--smoke"]
    command += ["--intervals", "--samples", "4", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(command) == 0
    models = json.loads((out / "results.json").read_text())["models"]
    assert set(models["lstm-dropout"]["intervals"]["methods"]) == {"mc", "mc+noise", "conformal", "adaptive"}
    assert set(models["dense"]["intervals"]["methods"]) == {"mc+noise", "conformal", "adaptive"}  # no MC spread
    assert "no dropout" in models["dense"]["intervals"]["note"]
    report = (out / "report.md").read_text()
    assert "## Prediction intervals" in report and "| (no model) | persistence + training changes |" in report
    scored = out / "runs" / "lstm-dropout" / "seed-0" / "intervals.json"
    made = scored.stat().st_mtime_ns
    assert main(command) == 0
    assert scored.stat().st_mtime_ns == made  # reused, not scored again


def test_starting_a_run_over_removes_its_calibration_and_scores(tmp_path):
    from jenacast.training import rundir

    for name in (rundir.CALIBRATION, rundir.INTERVALS, rundir.BEST):
        (tmp_path / name).write_text("{}")
    rundir.clear(tmp_path)  # what fit(force=True) does first
    assert not any((tmp_path / name).exists() for name in (rundir.CALIBRATION, rundir.INTERVALS, rundir.BEST))
