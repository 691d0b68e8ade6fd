"""Forward + backward time of one recurrent layer, per backend tier, at the chapter's sizes.

Run: .venv/bin/python benchmarks/bench_rnn_tiers.py [--repeats N]
Batch 256, 120 steps, 14 features; each layer in training mode with the chapter's dropout.
Prints a table; the tiers are measured in the same run, interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from jenacast.rnn import GRU, LSTM
from jenacast.rnn.ops import TIERS, available

CASES = [
    ("LSTM(16)", lambda be: LSTM(14, 16, backend=be)),
    ("LSTM(32), rd=0.25", lambda be: LSTM(14, 32, recurrent_dropout=0.25, backend=be)),
    ("GRU(32), rd=0.5", lambda be: GRU(14, 32, recurrent_dropout=0.5, backend=be)),
]


def time_once(layer, x) -> float:
    start = time.perf_counter()
    layer(x).square().sum().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(256, 120, 14)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; ms per forward+backward (median of "
        f"{args.repeats})"
    )
    tiers = [t for t in TIERS if available(t) and (t != "triton" or x.is_cuda)]  # Triton needs CUDA
    print(f"{'layer':<20}" + "".join(f"{t:>12}" for t in tiers))
    for name, make in CASES:
        layers = {tier: make(tier).train() for tier in tiers}
        for tier in tiers:
            time_once(layers[tier], x)  # warm-up
        times = {tier: [] for tier in tiers}
        for _ in range(args.repeats):
            for tier in tiers:
                times[tier].append(time_once(layers[tier], x))
        print(f"{name:<20}" + "".join(f"{1000 * statistics.median(times[t]):>12.1f}" for t in tiers))


if __name__ == "__main__":
    main()
