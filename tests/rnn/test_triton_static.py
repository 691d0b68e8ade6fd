"""The rows kernels keep the layout they were written for, checked on their machine code for a Hopper GPU.

``benchmarks/triton_static.py`` compiles the Triton tier's kernels for sm_90 without a GPU (Triton
bundles ptxas). In the rows layout every thread holds whole rows of the recurrent matrices, so a
time step's sums need no shuffles between threads; a layout that spread them over the threads
took 640 shuffles a step in the LSTM(32) forward and about 6x the instructions (Triton 3.9 and
3.6 choose opposite default layouts, hence the check). Instruction counts, not times.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jenacast.rnn.ops import available

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not available("triton"), reason="needs Triton")


@pytest.fixture(scope="module")
def rows_reports():
    # a fresh process: the tests' own Triton runs in the interpreter, which compiles nothing
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(PYTHONPATH=str(ROOT / "src"), TRITON_DEFAULT_FP_FUSION="1")
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "triton_static.py"), "--layout", "rows", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if run.returncode != 0 and "ptxas" in run.stderr:
        pytest.skip("this Triton has no ptxas to compile for sm_90")
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_every_rows_kernel_compiles_with_in_thread_sums(rows_reports):
    names = [r["kernel"] for r in rows_reports]
    layers = ("lstm32", "lstm16", "gru32", "bilstm16", "bigru32")
    assert names == [f"{layer}-{part}" for layer in layers for part in ("fwd", "bwd", "dw", "eval")]
    for r in rows_reports:
        assert r["spill_bytes"] == 0, r
        if r["kernel"].endswith("-dw"):  # the weight gradient's tl.dot loop, not a recurrence
            continue
        assert 100 < r["loop_instructions"] < 400, r  # the tiles kernels: 775-1,230 at 32 units
        assert r["BAR"] <= 4, r
    for r in rows_reports:
        if r["kernel"].startswith(("lstm32", "gru32", "bigru32")):
            assert r["SHFL"] == 0, r  # 32 units: a thread per unit, whole rows in registers
