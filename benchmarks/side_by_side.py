"""Training steps of two or more versions of jenacast, timed in turns in one process.

    python benchmarks/side_by_side.py [--models stacked-gru,lstm-dropout] [--turns 12] [--eval] REV [REV ...]

REV is a git revision, or ``WORK`` for the working tree's ``src``. This machine's speed drifts by
up to 2x within minutes, so runs in separate processes minutes apart cannot show a 5% change;
here each version is a copy of the package under another name (``jc_0``, ``jc_1``, ...: its own
modules, so its own compiled kernels), and the versions' steps alternate: each turn times every
version's step (best of 5) for every model. Prints min and median over the turns per version and
the ratio of the medians to the first version's. The kernels compile on first use (about a minute
per version with an empty cache). ``--eval`` times the evaluation forward (no gradient) instead of
training steps.
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def renamed_copy(rev: str, name: str, into: Path) -> None:
    """``src/jenacast`` at ``rev`` (or the working tree for ``WORK``) as the package ``name`` under ``into``."""
    target = into / name
    if rev == "WORK":
        files = {
            p.relative_to(ROOT / "src" / "jenacast"): p.read_bytes() for p in (ROOT / "src" / "jenacast").rglob("*.py")
        }
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src/jenacast"], capture_output=True, check=True
        )
        with tempfile.TemporaryDirectory() as tmp:
            tar = Path(tmp) / "src.tar"
            tar.write_bytes(archive.stdout)
            with tarfile.open(tar) as t:
                t.extractall(tmp, filter="data")
            base = Path(tmp) / "src" / "jenacast"
            files = {p.relative_to(base): p.read_bytes() for p in base.rglob("*.py")}
    for relative, data in files.items():
        text = re.sub(r"\bjenacast(?=[. ])", name, data.decode())
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+", metavar="REV")
    parser.add_argument("--models", default="stacked-gru,lstm-dropout")
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--eval", action="store_true", help="time the evaluation forward instead of training steps")
    args = parser.parse_args(argv)
    import torch

    from jenacast.bench import evaluation_step, training_step  # any version's model and optimizer

    packages = tempfile.mkdtemp(prefix="jenacast-versions-")
    sys.path.insert(0, packages)
    names = [f"jc_{i}" for i in range(len(args.revs))]
    for rev, name in zip(args.revs, names):
        renamed_copy(rev, name, Path(packages))
    importlib.import_module(f"{names[0]}.training.memory").keep_freed_memory()
    models = args.models.split(",")
    x, y = torch.randn(256, 120, 14), torch.randn(256) * 8
    steps = {}
    for name in names:
        build = importlib.import_module(f"{name}.models").build
        optim = importlib.import_module(f"{name}.training.optim")
        for model_name in models:
            torch.manual_seed(0)
            model = build(model_name, 14, backend="cpu").train(not args.eval)
            step = (
                evaluation_step(model, x)
                if args.eval
                else training_step(model, optim.KerasRMSprop(model.parameters()), x, y)
            )
            print(f"warming up {model_name} of {args.revs[names.index(name)]} ...", flush=True)
            for _ in range(3):
                step()
            steps[name, model_name] = step
    times = {key: [] for key in steps}
    for turn in range(args.turns):
        for model_name in models:
            for name in names if turn % 2 == 0 else names[::-1]:  # neither version always goes first
                best = min(_timed(steps[name, model_name]) for _ in range(5))
                times[name, model_name].append(1000 * best)
    for model_name in models:
        first = statistics.median(times[names[0], model_name])
        cells = [
            f"{rev}: {min(times[n, model_name]):6.2f} / {statistics.median(times[n, model_name]):6.2f}"
            f" ({statistics.median(times[n, model_name]) / first:.3f})"
            for rev, n in zip(args.revs, names)
        ]
        print(f"{model_name:14} ms min / median (ratio of medians)  " + "   ".join(cells))
    return 0


def _timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
