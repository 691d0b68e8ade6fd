"""Property: whatever file or options a person gives, the command line ends with exit status 0, or 1 or 2 with
one line on stderr, never a traceback (Hypothesis mutates a real CSV and builds argument lists)."""

import contextlib
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jenacast.cli import main
from jenacast.data import generate_synthetic
from jenacast.data.csvio import format_csv

CSV = format_csv(generate_synthetic(0, years=0.01))  # 525 rows of the real format
FOLDER = Path(tempfile.mkdtemp(prefix="jenacast-fuzz-"))
(FOLDER / "small.csv").write_bytes(format_csv(generate_synthetic(0, years=0.15)))


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` as a person runs it: without the test suite's Triton interpreter (which would run a whole
    batch of ``--backend triton`` at a snail's pace instead of refusing it on the CPU)."""
    out, err = io.StringIO(), io.StringIO()
    interpreter = os.environ.pop("TRITON_INTERPRET", None)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code
    finally:
        if interpreter is not None:
            os.environ["TRITON_INTERPRET"] = interpreter
    return code, err.getvalue()


def assert_clean(code: int, err: str) -> None:
    assert "Traceback" not in err
    assert code == 0 or (code in (1, 2) and err.count("\n") == 1 and err.startswith("jenacast")), (code, err)


@st.composite
def mutated_csv(draw) -> bytes:
    data = bytearray(CSV)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "insert", "replace", "truncate", "delimiter", "duplicate line"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "cut":
            del data[at : at + draw(st.integers(1, 400))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "replace" and data:
            data[at] = draw(st.sampled_from(b'0123456789.,;-\t"\n xeE\x00\xff'))
        elif kind == "truncate":
            del data[at:]
        elif kind == "delimiter":
            data = bytearray(
                bytes(data).replace(b",", draw(st.sampled_from([b";", b"\t", b" "])), draw(st.integers(1, 50)))
            )
        elif kind == "duplicate line":
            lines = bytes(data).split(b"\n")
            index = draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@settings(max_examples=50, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_csv())
def test_data_info_on_a_mutated_csv(content):
    path = FOLDER / "mutated.csv"
    path.write_bytes(content)
    code, err = run_cli(["data", "info", str(path)])
    event(f"exit {code}")
    assert_clean(code, err)


VALUES = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "-1",
        "nan",
        "inf",
        "1e-9",
        "3.5",
        "abc",
        "",
        "99999999999999999999",
        "cpu",
        "cuda",
        "meta",
        "auto",
        "fwbw",
        "triton",
        "reference",
        "rmsprop",
        "adam",
        "sgd",
    ]
)
# --epochs and --max-batches stay at 1: a valid huge value would train for ages
OPTIONS = st.sampled_from(
    ["--batch-size", "--lr", "--optimizer", "--patience", "--seed", "--device", "--backend", "--dataset"]
)


@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
# dense only: the options are what is fuzzed, and a recurrent model would add a kernel compilation to some examples
@given(st.lists(st.tuples(OPTIONS, VALUES), max_size=4))
def test_train_with_random_options(options):
    argv = [
        "train",
        "dense",
        "--dataset",
        str(FOLDER / "small.csv"),
        "--epochs",
        "1",
        "--max-batches",
        "1",
        "--quiet",
        "--out",
        str(Path(tempfile.mkdtemp(dir=FOLDER)) / "run"),
    ]
    for name, value in options:
        argv += [name, value if name != "--dataset" else str(FOLDER / value)]
    code, err = run_cli(argv)
    event(f"exit {code}")
    assert_clean(code, err)
