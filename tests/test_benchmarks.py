"""The benchmark scripts stay runnable: they import, and the shell script parses."""

import runpy
import subprocess
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_benchmark_script_imports(script):
    namespace = runpy.run_path(str(BENCHMARKS / script), run_name="benchmark_import_check")
    assert callable(namespace.get("main")) or callable(namespace.get("kernels"))


def test_gpu_check_script_parses():
    assert subprocess.run(["bash", "-n", str(BENCHMARKS / "gpu_check.sh")]).returncode == 0
