"""`jenacast bench`: milliseconds per training batch of the chapter's models, per backend, side by side.

A training batch is the whole step: forward, MSE loss, backward and the RMSprop update, on one
batch of 256 windows x 120 steps x 14 features already on the device. Each backend is timed in
the same run; ``first_batch_ms`` is the first call's time (kernel compilation, caches). On CUDA
the step is timed as training runs it, replayed as one CUDA graph (``training.step``), with the
eager step's time beside it (``eager_ms``). The ``torch`` backend is torch.nn's own LSTM/GRU
(cuDNN on a GPU), which cannot do recurrent dropout: it times the same architecture without it,
as the baseline to beat.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from jenacast.models import MODELS, Head, build, count_parameters
from jenacast.training.optim import KerasRMSprop
from jenacast.training.step import TrainingStep, step_body

RECURRENT = ("lstm", "lstm-dropout", "stacked-gru", "bidirectional", "reversed-lstm")
DEFAULT_MODELS = ("lstm", "lstm-dropout", "stacked-gru", "bidirectional")


class _TorchRNN(nn.Module):
    """torch.nn's recurrent layer, batch first, returning the last step's output ``[B, H*directions]``."""

    def __init__(self, cell: type, features: int, units: int, layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.rnn = cell(features, units, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.units, self.bidirectional = units, bidirectional

    def forward(self, x):
        out, _ = self.rnn(x)
        if not self.bidirectional:
            return out[:, -1]
        return torch.cat([out[:, -1, : self.units], out[:, 0, self.units :]], dim=-1)


def torch_native(name: str, features: int = 14) -> nn.Module:
    """The chapter model built from torch.nn layers (no recurrent dropout: torch has none)."""
    if name in ("lstm", "reversed-lstm"):
        return Head(_TorchRNN(nn.LSTM, features, 16), 16, reverse=name == "reversed-lstm")
    if name == "lstm-dropout":
        return Head(_TorchRNN(nn.LSTM, features, 32), 32, dropout=0.5)
    if name == "stacked-gru":
        return Head(_TorchRNN(nn.GRU, features, 32, layers=2), 32, dropout=0.5)
    if name == "bidirectional":
        return Head(_TorchRNN(nn.LSTM, features, 16, bidirectional=True), 32)
    return build(name, features)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor):
    """A function running one whole eager training step (forward, MSE loss, backward, update) on ``(x, y)``."""
    return lambda: step_body(model, optimizer, x, y)


def evaluation_step(model: nn.Module, x: torch.Tensor):
    """A function running the evaluation forward of ``model`` on ``x`` (no gradient), to time like a step."""

    def step():
        with torch.no_grad():
            model(x)

    return step


def _median_ms(step, device: torch.device, repeats: int) -> tuple[float, float]:
    """``(median, min)`` milliseconds of ``step()``, each call timed to the end of its device work."""
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times), 1000 * min(times)


def bench_one(
    name: str,
    backend: str,
    device: torch.device,
    *,
    repeats: int = 20,
    batch_size: int = 256,
    steps: int = 120,
    features: int = 14,
    cuda_graph: bool = True,
) -> dict:
    """One model on one backend: the eager step, and on CUDA the step replayed as one CUDA graph (as training
    runs it); ``ms_per_batch`` is the way training runs, ``eager_ms`` the eager step beside it."""
    torch.manual_seed(0)
    model = torch_native(name, features) if backend == "torch" else build(name, features, steps=steps, backend=backend)
    model = model.to(device).train()
    optimizer = KerasRMSprop(model.parameters())
    x = torch.randn(batch_size, steps, features, device=device)
    y = torch.randn(batch_size, device=device) * 8
    step = training_step(model, optimizer, x, y)

    _sync(device)
    started = time.perf_counter()
    step()
    _sync(device)
    first = time.perf_counter() - started
    for _ in range(2):
        step()
    eager, eager_min = _median_ms(step, device, repeats)
    result = {
        "model": name,
        "device": str(device),
        "backend": backend,
        "ms_per_batch": eager,
        "ms_min": eager_min,
        "eager_ms": eager,
        "mode": "eager",
        "first_batch_ms": 1000 * first,
        "repeats": repeats,
        "params": count_parameters(model),
    }
    if cuda_graph and device.type == "cuda":
        graphed = TrainingStep(model, optimizer, device)
        graphed(x, y)  # warm-up and capture
        if graphed.graphed:
            median, fastest = _median_ms(lambda: graphed(x, y), device, repeats)
            result.update(ms_per_batch=median, ms_min=fastest, mode="cuda-graph")
    return result


def run_bench(
    models, backends, device: torch.device, *, repeats: int = 20, cuda_graph: bool = True, say=print
) -> list[dict]:
    """Every model on every backend; non-recurrent models are timed once (they have no backend)."""
    results = []
    for name in models:
        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}; expected names from {', '.join(MODELS)}.")
        for backend in backends if name in RECURRENT else ("-",):
            try:
                result = bench_one(
                    name, "auto" if backend == "-" else backend, device, repeats=repeats, cuda_graph=cuda_graph
                )
            except Exception as exc:  # one broken case must not hide the others' numbers
                message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                say(f"{name:<14} {backend:<10} error: {message}")
                results.append({"model": name, "device": str(device), "backend": backend, "error": message})
                continue
            result["backend"] = backend
            eager = f"eager {result['eager_ms']:.2f} ms, " if result["mode"] == "cuda-graph" else ""
            say(
                f"{name:<14} {backend:<10} {result['ms_per_batch']:9.2f} ms/batch   ({eager}first "
                f"{result['first_batch_ms']:.0f} ms)"
            )
            results.append(result)
    return results
