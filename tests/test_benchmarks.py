"""The benchmark scripts stay runnable: they import, and the shell script parses."""

import re
import runpy
import subprocess
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_benchmark_script_imports(script):
    if re.search(r"^\s*(from|import) triton\b", (BENCHMARKS / script).read_text(), re.M):
        pytest.importorskip("triton", reason=f"{script} needs Triton (pip install 'jenacast[gpu]')")
    namespace = runpy.run_path(str(BENCHMARKS / script), run_name="benchmark_import_check")
    assert callable(namespace.get("main")) or callable(namespace.get("kernels"))


def test_gpu_check_script_parses():
    assert subprocess.run(["bash", "-n", str(BENCHMARKS / "gpu_check.sh")]).returncode == 0


def test_profile_script_maps_numba_functions(tmp_path):
    """The perf map names a function compiled in this process, at an address inside its code."""
    import numba

    profile = runpy.run_path(str(BENCHMARKS / "profile_cpu_kernels.py"), run_name="benchmark_import_check")

    @numba.njit(cache=False)
    def twice(a):
        return a * 2

    assert twice(3) == 6
    functions = profile["compiled_functions"]([twice])
    assert any("twice" in name for _, name in functions)
    entries = profile["write_perf_map"](functions, str(tmp_path / "perf.map"))
    lines = (tmp_path / "perf.map").read_text().splitlines()
    assert len(lines) == len(entries) == len(functions)
    start, size, name = lines[0].split(" ", 2)
    assert int(start, 16) == functions[0][0] and int(size, 16) > 0 and name == functions[0][1]


def test_side_by_side_copies_the_package_under_another_name(tmp_path, monkeypatch):
    side = runpy.run_path(str(BENCHMARKS / "side_by_side.py"), run_name="benchmark_import_check")
    side["renamed_copy"]("WORK", "jc_copy", tmp_path)
    text = (tmp_path / "jc_copy" / "rnn" / "ops" / "cpu" / "layer.py").read_text()
    assert "from jc_copy.rnn.ops.cpu.common import" in text and "from jenacast." not in text
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    windows = importlib.import_module("jc_copy.data.windows")  # not the kernels: their import sets Numba's cache
    assert windows.__file__.startswith(str(tmp_path)) and windows.WindowSpec.__module__ == "jc_copy.data.windows"
