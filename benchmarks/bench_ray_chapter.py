"""The smoke chapter with several seeds, sequentially and on a local Ray cluster: wall time of each, Ray's
start-up cost, and whether Ray's numbers equal the sequential chapter's with the same threads per run.

    python benchmarks/bench_ray_chapter.py [--seeds 2] [--dataset synthetic] [--models a,b]

Each variant runs `jenacast chapter --smoke` in a fresh process into its own temporary folder (the kernel
cache warmed first, by a run that is not timed):

- sequential, every core per run (the default);
- sequential, ``--threads 1`` (what Ray's runs compute: the same numbers, bit for bit);
- ``--ray local``: one CPU and one thread per run, as many runs at once as there are cores.

Ray's start-up: ``ray.init()`` of a local cluster, one empty task, ``ray.shutdown()``, in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTUP = """
import time
started = time.perf_counter()
import ray
ray.init(include_dashboard=False, log_to_driver=False)
ray.get(ray.remote(lambda: None).remote())
ready = time.perf_counter()
ray.shutdown()
print(f"{ready - started:.2f} {time.perf_counter() - ready:.2f}")
"""


def chapter(out: Path, args: argparse.Namespace, *extra: str) -> float:
    argv = [sys.executable, "-m", "jenacast", "chapter", "--smoke", "--dataset", args.dataset, "--device", "cpu"]
    argv += ["--seeds", str(args.seeds), "--out", str(out), "--quiet", *extra]
    if args.models:
        argv += ["--models", args.models]
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--models", help="a subset (default: every model)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        chapter(folder / "warm", args, "--threads", "1")  # compiles or loads the kernels; not timed
        times = {
            "sequential, all cores per run": chapter(folder / "all", args),
            "sequential, --threads 1": chapter(folder / "one", args, "--threads", "1"),
            "--ray local, 1 thread per run": chapter(folder / "ray", args, "--ray", "local"),
        }
        same = [json.loads((folder / d / "results.json").read_text())["models"] for d in ("one", "ray")]
    startup = subprocess.run([sys.executable, "-c", STARTUP], check=True, capture_output=True, text=True)
    up, down = startup.stdout.split()
    print(f"smoke chapter, {args.seeds} seeds, {args.models or 'every model'}, dataset {args.dataset}")
    for name, seconds in times.items():
        print(f"  {name:<32} {seconds:6.1f} s")
    print(f"  Ray local cluster: start and first task {up} s, shutdown {down} s")
    equal = all(same[0][m]["test_mae_per_seed"] == same[1][m]["test_mae_per_seed"] for m in same[0])
    print(f"  Ray's test MAEs equal --threads 1's bit for bit: {equal}")


if __name__ == "__main__":
    main()
