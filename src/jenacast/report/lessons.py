"""The chapter's lessons, each checked against a run's results: the book's claim, this run's numbers, holds or not.

The criteria put the book's words into numbers (test MAE against the common-sense baseline's). On the
real data, the book and the public reruns put a dense model between 6 % below and 2 % above the
baseline, a convnet 9-25 % above, the LSTM 1-8 % below and the regularised stacked GRU 6-9 % below
("about 10 %" is the best the book expects). The criteria keep the direction of each finding with
some room: a dense model no better than 6 % below, a convnet no better than the baseline, the LSTM
1-9 % below, the stacked GRU 5-12 % below, the reversed LSTM worse than the baseline, recurrent
dropout better than the plain LSTM and the bidirectional LSTM no better than it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    models: tuple[str, ...]  # the runs it needs besides the baseline; the first is the one it is about
    claim: str  # the book's lesson, in words
    book: str  # the real data's numbers (the book, public reruns)
    criterion: str  # what "holds" means here
    holds: Callable[[dict[str, float]], bool]  # test MAE by model name (with "baseline") -> verdict


def _change(mae: dict[str, float], name: str) -> float:
    """``name``'s test MAE relative to the baseline's: -0.05 is 5 % better."""
    return mae[name] / mae["baseline"] - 1


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        ("dense",),
        "A dense network on the flattened window does not reliably beat the common-sense baseline",
        "reruns 2.46-2.68 against 2.62 (-6 % to +2 %)",
        "no better than 6 % below the baseline",
        lambda m: _change(m, "dense") >= -0.06,
    ),
    Lesson(
        ("conv",),
        "A convnet, whose assumption that a pattern means the same wherever it sits does not fit, "
        "does worse than the baseline",
        "val about 2.9 against 2.44; reruns 2.85-3.27 (+9 % to +25 %)",
        "no better than the baseline",
        lambda m: _change(m, "conv") >= 0,
    ),
    Lesson(
        ("lstm",),
        "A small LSTM beats the baseline, by a few percent",
        "test 2.55 (-3 %); reruns 2.41-2.60",
        "1-9 % below the baseline",
        lambda m: -0.09 <= _change(m, "lstm") <= -0.01,
    ),
    Lesson(
        ("lstm-dropout", "lstm"),
        "Recurrent dropout fights the LSTM's overfitting: it does better than the plain LSTM",
        "test 2.45 against the LSTM's 2.55",
        "below the LSTM",
        lambda m: m["lstm-dropout"] < m["lstm"],
    ),
    Lesson(
        ("stacked-gru",),
        "Stacked, regularised GRUs gain a little more, up to about 10 % over the baseline",
        "test 2.39 (-9 %); reruns 2.46-2.47",
        "5-12 % below the baseline",
        lambda m: -0.12 <= _change(m, "stacked-gru") <= -0.05,
    ),
    Lesson(
        ("bidirectional", "lstm"),
        "A bidirectional LSTM does not help on this task",
        '"not as well as the plain LSTM"; rerun val 2.46',
        "no better than the LSTM",
        lambda m: m["bidirectional"] >= m["lstm"],
    ),
    Lesson(
        ("reversed-lstm",),
        "Order matters: an LSTM fed the windows backwards does worse than the baseline",
        '"strongly underperforms even the common-sense baseline"',
        "worse than the baseline",
        lambda m: _change(m, "reversed-lstm") > 0,
    ),
)


def check_lessons(models: dict[str, dict]) -> list[dict]:
    """Each lesson whose runs are in ``models`` (the results' per-model entries, "baseline" among them):
    ``{"model", "claim", "book", "criterion", "result", "holds"}``, ``result`` being this run's numbers."""
    mae = {name: m["test_mae"] for name, m in models.items()}
    checked = []
    for lesson in LESSONS:
        if "baseline" not in mae or any(name not in mae for name in lesson.models):
            continue
        result = "; ".join(_describe(models, name) for name in lesson.models)
        checked.append(
            {
                "model": lesson.models[0],
                "claim": lesson.claim,
                "book": lesson.book,
                "criterion": lesson.criterion,
                "result": result,
                "holds": bool(lesson.holds(mae)),
            }
        )
    return checked


def _describe(models: dict[str, dict], name: str) -> str:
    m = models[name]
    spread = f" ± {m['test_mae_std']:.3f}" if m.get("seeds", 1) > 1 else ""
    change = 100 * (m["test_mae"] / models["baseline"]["test_mae"] - 1)
    return f"{name} {m['test_mae']:.3f}{spread} ({change:+.1f} %)"


def format_lessons(checked: list[dict]) -> str:
    """The lessons as a Markdown table."""
    lines = [
        "| lesson (the book) | real data | criterion | this run (test MAE, vs baseline) | holds |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c['claim']} | {c['book']} | {c['criterion']} | {c['result']} | {'yes' if c['holds'] else '**no**'} |"
        for c in checked
    ]
    return "\n".join(lines)
