"""A training step of ``VariationalLSTM`` with recurrent dropout against ``nn.LSTM`` without dropout and against the
eager loop that PyTorch users write for recurrent dropout today, timed in turns in one process.

    python benchmarks/bench_dropin.py [--batches 64,256] [--hidden 64,128,256] [--layers 1,2] [--steps 100]
                                      [--features 64] [--recurrent-dropout 0.25] [--turns 5] [--repeats 3]
                                      [--device cpu|cuda] [--threads N] [--no-eager] [--json]

A step is forward, a mean-square loss over the output sequence, backward and an SGD update, on input
``[B, T, F]`` (batch first). The variants:

* ``nn.LSTM``: torch's fused LSTM (MKL-DNN on the CPU, cuDNN on CUDA), no dropout (it has no recurrent dropout);
* ``VariationalLSTM``: jenacast's, ``recurrent_dropout`` per gate, masks fixed across steps (``backend="auto"``:
  the cpu tier's Numba kernels on the CPU, the Triton tier on CUDA);
* ``eager loop``: ``nn.LSTMCell`` stepped in Python with one recurrent mask per sequence on ``h_{t-1}`` (Gal and
  Ghahramani's tied form, what the usual recipes write), a layer at a time.

The machine's speed drifts, so every turn times each variant (best of ``--repeats``) one after the other; the
table gives each one's median over the turns in ms and its ratio to ``nn.LSTM``'s. The cpu tier's kernels compile
on first use (a few minutes with an empty cache; the first turn of warm-up is not counted).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from jenacast.rnn import VariationalLSTM


class EagerLSTM(nn.Module):
    """Stacked ``nn.LSTMCell``s with recurrent dropout written the usual way: a loop over time in Python."""

    def __init__(self, features: int, hidden: int, layers: int, recurrent_dropout: float):
        super().__init__()
        self.cells = nn.ModuleList(nn.LSTMCell(features if i == 0 else hidden, hidden) for i in range(layers))
        self.rate = recurrent_dropout

    def forward(self, x):  # [B, T, F] -> [B, T, H]
        for cell in self.cells:
            b = x.shape[0]
            h = c = x.new_zeros(b, cell.hidden_size)
            keep = 1.0 - self.rate
            mask = torch.bernoulli(x.new_full((b, cell.hidden_size), keep)) / keep if self.training else None
            outputs = []
            for t in range(x.shape[1]):
                h, c = cell(x[:, t], (h if mask is None else h * mask, c))
                outputs.append(h)
            x = torch.stack(outputs, dim=1)
        return x


def variants(features, hidden, layers, rate, eager: bool, device) -> dict[str, nn.Module]:
    built = {
        "nn.LSTM": nn.LSTM(features, hidden, layers, batch_first=True),
        f"VariationalLSTM rd={rate}": VariationalLSTM(
            features, hidden, layers, batch_first=True, recurrent_dropout=rate
        ),
    }
    if eager:
        built[f"eager loop rd={rate}"] = EagerLSTM(features, hidden, layers, rate)
    return {name: module.to(device).train() for name, module in built.items()}


def step_function(module: nn.Module, x: torch.Tensor):
    optimizer = torch.optim.SGD(module.parameters(), lr=1e-3)

    def step():
        out = module(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = out.square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def best_of(step, repeats: int, device) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def measure(batch, hidden, layers, args, device) -> dict[str, float]:
    """Each variant's median over the turns of its best-of-repeats step time, in ms."""
    torch.manual_seed(0)
    x = torch.randn(batch, args.steps, args.features, device=device)
    steps = {
        name: step_function(module, x)
        for name, module in variants(args.features, hidden, layers, args.recurrent_dropout, args.eager, device).items()
    }
    for step in steps.values():  # warm-up: compilation, allocator, caches
        step()
    times = {name: [] for name in steps}
    for _ in range(args.turns):
        for name, step in steps.items():
            times[name].append(best_of(step, args.repeats, device) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--hidden", default="64,128,256")
    parser.add_argument("--layers", default="1,2")
    parser.add_argument("--steps", type=int, default=100, help="sequence length")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--recurrent-dropout", type=float, default=0.25)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch's intra-op threads (default: torch's)")
    parser.add_argument("--no-eager", dest="eager", action="store_false", help="leave out the eager loop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for layers in map(int, args.layers.split(",")):
        for batch in map(int, args.batches.split(",")):
            for hidden in map(int, args.hidden.split(",")):
                medians = measure(batch, hidden, layers, args, device)
                rows.append({"batch": batch, "hidden": hidden, "layers": layers, "ms": medians})
                if not args.json:
                    base = medians["nn.LSTM"]
                    cells = ", ".join(f"{name} {ms:.1f} ms ({ms / base:.2f}x)" for name, ms in medians.items())
                    print(f"B={batch} H={hidden} L={layers} T={args.steps}: {cells}", flush=True)
    if args.json:
        print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
