"""Where a GPU training step's time goes: each kernel of the graphed step, kernels alone, the eager step, and the
step as one CUDA graph.

Run on a CUDA machine from the repository root: PYTHONPATH=src python3 benchmarks/gpu_profile.py
Prints microseconds (median of CUDA-event timings). Batch 256, 120 steps, 14 features.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from jenacast.bench import torch_native
from jenacast.models import build
from jenacast.rnn import ops
from jenacast.rnn.ops import tier_ops
from jenacast.training.optim import KerasRMSprop

B, T, F = 256, 120, 14


def timed(fn, reps=50, warmup=5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1000)
    return statistics.median(times)


def graphed(fn):
    """``fn`` captured as one CUDA graph (after warm-up on a side stream): its replay times the GPU alone."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


VARIANTS = {
    "rows": {"triton_layout": "rows"},
    "tiles-w4": {"triton_layout": "tiles", "triton_warps": 4},
    "tiles-w8": {"triton_layout": "tiles", "triton_warps": 8},
}


def use(variant: str, precision: str = "ieee") -> None:
    ops.set_options(**{"triton_layout": "rows", "triton_warps": 4, **VARIANTS[variant]}, triton_precision=precision)


def kernel_graphs() -> None:
    """The recurrent op alone (forward; forward + backward), as CUDA graphs, per kernel layout."""
    for cell, h in (("lstm", 32), ("gru", 32), ("lstm", 16)):
        g = 4 if cell == "lstm" else 3
        x = torch.randn(B, T, g * h, device="cuda", requires_grad=True)
        h0 = torch.zeros(B, h, device="cuda", requires_grad=True)
        c0 = torch.zeros(B, h, device="cuda", requires_grad=True)
        w = (torch.randn(h, g * h, device="cuda") / h**0.5).requires_grad_()
        b = torch.zeros(g * h, device="cuda", requires_grad=True)
        mask = torch.bernoulli(torch.full((g, B, h), 0.75, device="cuda")) / 0.75
        op = tier_ops("triton")[cell]
        call = (
            (lambda: op(x, h0, c0, w, mask, False)) if cell == "lstm" else (lambda: op(x, h0, w, b, mask, False, True))
        )
        grad = torch.randn(B, T, h, device="cuda")
        for variant in VARIANTS:
            use(variant)
            try:
                fwd = timed(graphed(lambda: call()))
                both = timed(graphed(lambda: torch.autograd.backward(call()[0], grad)))
                print(
                    f"graphed {cell}({h}) per-gate masks, {variant}: forward {fwd:6.0f} us, forward+backward "
                    f"{both:6.0f} us"
                )
            except Exception as exc:
                print(f"graphed {cell}({h}) {variant} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    use("rows")


def kernels() -> None:
    for cell, h in (("lstm", 16), ("lstm", 32), ("gru", 32)):
        g = 4 if cell == "lstm" else 3
        x = torch.randn(B, T, g * h, device="cuda", requires_grad=True)
        h0 = torch.zeros(B, h, device="cuda", requires_grad=True)
        w = (torch.randn(h, g * h, device="cuda") / h**0.5).requires_grad_()
        mask = torch.bernoulli(torch.full((g, B, h), 0.75, device="cuda")) / 0.75
        op = tier_ops("triton")[cell]
        for variant, precision in (("rows", "ieee"), ("tiles-w4", "ieee"), ("tiles-w4", "tf32")):
            use(variant, precision)
            if cell == "lstm":
                c0 = torch.zeros(B, h, device="cuda", requires_grad=True)
                call = lambda: op(x, h0, c0, w, mask, False)  # noqa: E731
            else:
                b = torch.zeros(g * h, device="cuda", requires_grad=True)
                call = lambda: op(x, h0, w, b, mask, False, True)  # noqa: E731
            fwd = timed(lambda: call())
            out = call()
            grad = torch.randn_like(out[0])
            both = timed(lambda: torch.autograd.backward(call()[0], grad))
            print(
                f"{cell}({h}) per-gate masks, triton {variant} {precision}: forward {fwd:7.0f} us, "
                f"forward+backward {both:7.0f} us"
            )
        use("rows")
    for name, layer in (("lstm", nn.LSTM(F, 32, batch_first=True)), ("gru", nn.GRU(F, 32, batch_first=True))):
        layer = layer.cuda()
        x = torch.randn(B, T, F, device="cuda")
        fwd = timed(lambda: layer(x))
        both = timed(lambda: layer(x)[0].sum().backward())
        print(
            f"cuDNN nn.{name.upper()}(32), input projection included: forward {fwd:7.0f} us, forward+backward "
            f"{both:7.0f} us"
        )


def step_kernels(device: str = "cuda", replays: int = 10, top: int = 12) -> None:
    """Each kernel's GPU time in the chapter's training steps as training runs them (``TrainingStep``: one CUDA
    graph on a GPU), from ``torch.profiler`` over ``replays`` steps: where a step's time goes, kernel by kernel."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from jenacast.training.step import TrainingStep

    activity = ProfilerActivity.CUDA if device == "cuda" else ProfilerActivity.CPU
    for name in ("lstm-dropout", "stacked-gru", "bidirectional"):
        torch.manual_seed(0)
        model = build(name, backend="triton").to(device).train()
        step = TrainingStep(model, KerasRMSprop(model.parameters()), torch.device(device))
        x, y = torch.randn(B, T, F, device=device), torch.randn(B, device=device)
        step(x, y)  # warm-up and capture
        with profile(activities=[activity]) as prof:
            for _ in range(replays):
                step(x, y)
            if device == "cuda":
                torch.cuda.synchronize()
        rows = []
        for event in prof.key_averages():
            if device == "cuda":  # the kernels themselves (operators' device totals would count them twice)
                if getattr(event, "device_type", None) != DeviceType.CUDA:
                    continue
                spent = next(
                    (
                        getattr(event, attr)
                        for attr in (
                            "self_device_time_total",
                            "self_cuda_time_total",
                            "device_time_total",
                            "cuda_time_total",
                        )
                        if hasattr(event, attr)
                    ),
                    0,
                )
            else:
                spent = event.self_cpu_time_total
            if spent > 0:
                rows.append((spent / replays, event.count / replays, event.key))
        rows.sort(reverse=True)
        total = sum(r[0] for r in rows)
        print(
            f"{name}: {total:.0f} us of kernels per step in {sum(r[1] for r in rows):.0f} launches "
            f"({'one CUDA graph' if step.graphed else 'eager'})"
        )
        for spent, count, key in rows[:top]:
            print(f"    {spent:8.1f} us  x{count:<4g} {key[:100]}")


def steps() -> None:
    for name in ("lstm-dropout", "stacked-gru", "bidirectional"):
        for backend in [*VARIANTS, "torch"]:
            if backend != "torch":
                use(backend)
            torch.manual_seed(0)
            model = (torch_native(name) if backend == "torch" else build(name, backend="triton")).cuda().train()
            opt = KerasRMSprop(model.parameters())
            x = torch.randn(B, T, F, device="cuda")
            y = torch.randn(B, device="cuda")

            def step():
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=False)
                return loss

            eager = timed(step, reps=30)
            try:
                as_graph = f"{timed(graphed(step), reps=30):7.0f} us"
            except Exception as exc:  # report and go on
                as_graph = f"capture failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            print(f"{name:<14} {backend:<8} step eager {eager:7.0f} us, as one CUDA graph {as_graph}")


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    import sys

    try:  # first written without a GPU to run it on: a failure must not cost the numbers below
        step_kernels()
    except Exception as exc:
        print(f"step_kernels failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    if "--quick" in sys.argv:  # the graphed numbers only
        kernel_graphs()
        steps()
    else:
        kernels()
        kernel_graphs()
        steps()
