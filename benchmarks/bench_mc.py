"""Monte Carlo dropout's speed: samples per second over a run's test split, and the whole split's time.

    python benchmarks/bench_mc.py RUN_DIR [--samples 100] [--windows N] [--rows-per-call 2048,16384]
        [--input once,repeated] [--turns 1]

Times ``split_samples`` (the windows gathered, repeated ``--samples`` times, run through the model with its
dropout masks on) over the first ``--windows`` windows of the test split (default: all of them) for each
rows-per-call setting and each way of feeding the input (``once``: each window given once to the first
recurrent layer, which runs its samples, as ``mc_predict`` does; ``repeated``: each window repeated before the
model), in turns, and prints samples per second and the seconds the whole split would take.
"""

from __future__ import annotations

import argparse
import time

from jenacast.evaluate import open_run
from jenacast.forecast import mc
from jenacast.forecast import run as run_module
from jenacast.forecast.run import split_samples


class _Head:
    """The first ``count`` windows of a split (a split's own interface, shortened)."""

    def __init__(self, split, count: int):
        self._split, self._count = split, min(count, len(split))
        self.name, self.target_column, self.mean, self.std = split.name, split.target_column, split.mean, split.std

    def __len__(self) -> int:
        return self._count

    def batches(self, batch_size: int, device=None):
        seen = 0
        for x, y in self._split.batches(batch_size, device=device):
            if seen >= self._count:
                return
            take = min(len(y), self._count - seen)
            seen += take
            yield x[:take], y[:take]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--windows", type=int, default=0, help="the first N test windows (default all)")
    parser.add_argument("--rows-per-call", default=str(mc.ROWS_PER_CALL))
    parser.add_argument("--input", default="once", help="once, repeated or both (comma-separated), in turns")
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument(
        "--plain-malloc", action="store_true", help="without keep_freed_memory (which the command line sets)"
    )
    args = parser.parse_args(argv)
    if not args.plain_malloc:
        from jenacast.training.memory import keep_freed_memory

        keep_freed_memory()
    run = open_run(args.run_dir, device="cpu")
    split = run.dataset.splits.test
    subset = _Head(split, args.windows or len(split))
    input_layer = mc.input_layer
    for _ in range(args.turns):
        for rows in (int(r) for r in args.rows_per_call.split(",")):
            for way in args.input.split(","):
                mc.ROWS_PER_CALL = run_module.ROWS_PER_CALL = rows
                mc.input_layer = input_layer if way == "once" else (lambda model: None)
                started = time.perf_counter()
                split_samples(run, subset, args.samples, seed=0)
                seconds = time.perf_counter() - started
                rate = len(subset) * args.samples / seconds
                print(
                    f"{run.config.model}: {len(subset):,} windows x {args.samples} samples, {rows} rows per call, "
                    f"input {way}: {seconds:.1f} s, {rate:,.0f} samples/s; the whole test split "
                    f"({len(split):,} windows): {len(split) * args.samples / rate:.0f} s",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
