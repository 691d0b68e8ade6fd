"""Bad input, through the real command line in a subprocess: one sentence on stderr, exit status 1 (usage
errors 2), no traceback, and nothing left behind."""

import os
import subprocess
import sys

import pytest

from jenacast.data import generate_synthetic, write_csv


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    here = tmp_path_factory.mktemp("bad-input")
    write_csv(generate_synthetic(1, years=0.2), here / "small.csv")
    write_csv(generate_synthetic(1, years=0.01), here / "tiny.csv")
    (here / "binary.csv").write_bytes(b"garbage\x00\x01\x02")
    (here / "header.csv").write_text('"Date Time","p (mbar)"\n01.01.2009 00:10:00,1000.0\n')
    (here / "a-file").write_text("not a folder")
    return here


TRAIN = ["train", "lstm", "--dataset", "small.csv", "--epochs", "1", "--max-batches", "1", "--quiet"]
CASES = [
    # (argv, exit status, what stderr says)
    (["data", "info", "binary.csv"], 1, "binary.csv is a binary file, not a CSV text file."),
    (["data", "info", "header.csv"], 1, "header.csv has no 'T (degC)' column; name the column to forecast with"),
    (["data", "info", "missing.csv"], 1, "missing.csv: no such file"),
    (["data", "synth", "--out", "x.csv", "--years", "nan"], 1, "--years must be a number from 0.01 to 1,000, got nan."),
    (["data", "synth", "--out", "x.csv", "--years", "0.00001"], 1, "--years must be a number from 0.01 to 1,000"),
    (["evaluate", "nowhere"], 1, "nowhere: no such run folder."),
    ([*TRAIN, "--out", "a-file"], 1, "a-file cannot be a run folder (it is a file); choose another --out."),
    ([*TRAIN, "--out", "a-file/run"], 1, "a-file/run cannot be a run folder (not a directory); choose another --out."),
    ([*TRAIN, "--dataset", "tiny.csv", "--out", "run"], 1, "these windows need at least 6,287 rows."),
    ([*TRAIN, "--backend", "triton", "--out", "run"], 1, "--backend triton runs on CUDA devices only"),
    (
        [*TRAIN, "--seed", "99999999999999999999999", "--out", "run"],
        1,
        "--seed must be an integer from 0 to 1,099,511,627,775",
    ),
    (
        [*TRAIN, "--device", "meta", "--out", "run"],
        1,
        "--device 'meta' cannot train a model here; use auto, cpu or cuda.",
    ),
    (
        [*TRAIN, "--device", "cuda:7", "--out", "run"],
        1,
        "--device cuda was asked for, but this torch sees no CUDA device.",
    ),
    (
        ["chapter", "--smoke", "--dataset", "small.csv", "--models", "dense", "--out", "a-file"],
        1,
        "a-file cannot be a chapter folder (it is a file); choose another --out.",
    ),
    (["chapter", "--smoke", "--dataset", "binary.csv", "--out", "chapter"], 1, "binary.csv is a binary file"),
    (
        [*TRAIN, "--batch-size", "0"],
        2,
        "argument --batch-size: expected a positive integer, got '0' (see jenacast train --help)",
    ),
    ([*TRAIN, "--lr", "nan"], 2, "argument --lr: expected a positive number, got 'nan'"),
    (["chapter", "--quick", "--smoke"], 2, "argument --smoke: not allowed with argument --quick"),
    (["train", "gru"], 2, "invalid choice: 'gru'"),
]


@pytest.mark.parametrize("argv,status,message", CASES, ids=[" ".join(c[0][:4]) + f" #{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_sentence_and_leaves_nothing(folder, argv, status, message):
    if "cuda:7" in argv and _has_cuda():
        pytest.skip("this machine has CUDA")
    before = sorted(os.listdir(folder))
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the kernels' interpreter is for tests
    done = subprocess.run(
        [sys.executable, "-m", "jenacast", *argv], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == status, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("jenacast") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert sorted(os.listdir(folder)) == before


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
