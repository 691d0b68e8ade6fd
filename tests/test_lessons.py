"""The chapter's lessons: each criterion decides on the numbers it names, and only on the runs present."""

import pytest

from jenacast.report.lessons import LESSONS, check_lessons, format_lessons

# test MAEs for which every lesson holds (baseline 2.60)
HOLDING = {
    "baseline": 2.60,
    "dense": 2.55,
    "conv": 2.90,
    "lstm": 2.50,
    "lstm-dropout": 2.45,
    "stacked-gru": 2.35,
    "bidirectional": 2.52,
    "reversed-lstm": 2.80,
}


def entries(maes, seeds=1):
    return {name: {"test_mae": value, "test_mae_std": 0.01, "seeds": seeds} for name, value in maes.items()}


def verdicts(maes):
    return {c["model"]: c["holds"] for c in check_lessons(entries(maes))}


def test_every_lesson_holds_on_book_like_numbers():
    assert verdicts(HOLDING) == {lesson.models[0]: True for lesson in LESSONS}


@pytest.mark.parametrize(
    "model,value",
    [
        ("dense", 2.60 * 0.93),  # more than 6 % better than the baseline
        ("conv", 2.59),  # better than the baseline
        ("lstm", 2.60 * 0.995),  # less than 1 % better
        ("lstm", 2.60 * 0.90),  # more than 9 % better
        ("stacked-gru", 2.60 * 0.96),
        ("stacked-gru", 2.60 * 0.87),
        ("reversed-lstm", 2.60),  # equal is not worse
    ],
)
def test_each_criterion_fails_outside_its_range(model, value):
    result = verdicts({**HOLDING, model: value})
    assert result[model] is False
    untouched = [lesson.models[0] for lesson in LESSONS if model not in lesson.models]
    assert all(result[name] for name in untouched)


def test_comparisons_with_the_lstm():
    assert verdicts({**HOLDING, "lstm-dropout": 2.50})["lstm-dropout"] is False  # equal to the LSTM is not better
    assert verdicts({**HOLDING, "bidirectional": 2.49})["bidirectional"] is False


def test_lessons_need_their_runs():
    checked = check_lessons(entries({"baseline": 2.6, "lstm-dropout": 2.4, "bidirectional": 2.5}))
    assert checked == []
    checked = check_lessons(entries({"baseline": 2.6, "lstm": 2.5, "bidirectional": 2.55}))
    assert [c["model"] for c in checked] == ["lstm", "bidirectional"]
    assert check_lessons(entries({"lstm": 2.5})) == []


def test_results_and_table_show_the_numbers():
    checked = check_lessons(entries({"baseline": 2.6, "lstm": 2.47}, seeds=3))
    assert checked[0]["result"] == "lstm 2.470 ± 0.010 (-5.0 %)"
    table = format_lessons(check_lessons(entries({**HOLDING, "conv": 2.5})))
    assert table.count("\n") == 2 + len(LESSONS) - 1
    assert "| **no** |" in table and table.count("| yes |") == len(LESSONS) - 1
