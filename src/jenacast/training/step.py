"""One training step (forward, MSE loss, backward, update), run eagerly or replayed as one CUDA graph.

On a GPU an eager step of the chapter's models launches dozens of kernels, and launching them
takes about as long as running them, so a step replayed as one graph is markedly faster than an
eager one (``benchmarks/gpu_profile.py``; figures in benchmarks/RESULTS.md). :class:`TrainingStep`
captures the whole step once, for the full batch's shape, and replays it for every batch of that
shape; other shapes (an epoch's last, partial batch) run eagerly.

Capturing needs warm-up steps that really update the model, so the weights, buffers, optimizer
state and random generators are saved before and written back (in place: the graph holds their
addresses) after: training continues as an eager run would. The graph draws its dropout masks
from the same generator offsets as the eager step (PyTorch's graph-safe Philox state).

Each call returns the batch's ``[MSE, sum of |error|]`` as a tensor on the device, so that the
trainer reads numbers back once per many batches: on a GPU every read waits for all the work
queued before it, and a read per batch would keep the host from queuing the next step meanwhile.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("jenacast")
WARMUP_STEPS = 3  # eager steps on a side stream before capture (the docs' recipe; compiles every kernel)


def step_body(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, zero_grads: bool = True
) -> torch.Tensor:
    """Forward, MSE, backward, update; returns ``[MSE, sum |error|]``. ``zero_grads=False`` for a capture,
    which starts with the grads set to None."""
    prediction = model(x)
    loss = torch.nn.functional.mse_loss(prediction, y)
    if zero_grads:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    stats = torch.stack([loss.detach(), (prediction.detach() - y).abs().sum()])
    optimizer.step()
    return stats


class _SavedState:
    """Copies of everything a warm-up step changes, to write back in place after capture."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device):
        self.live = [*model.parameters(), *model.buffers()]
        self.live += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
        self.copies = [t.detach().clone() for t in self.live]
        self.device = device
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @torch.no_grad()
    def restore(self) -> None:
        for tensor, copy in zip(self.live, self.copies):
            tensor.copy_(copy)
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.device)


def graph_unsupported(optimizer: torch.optim.Optimizer, device: torch.device) -> str | None:
    """Why the step cannot be captured here (None when it can)."""
    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    if not hasattr(optimizer, "init_state"):
        return (
            f"{type(optimizer).__name__} keeps a host-side step count (only RMSprop, the book's optimizer, is captured)"
        )
    return None


class TrainingStep:
    """``step(x, y) -> [MSE, sum |error|]`` on the device; one CUDA graph for full batches when ``use_graph``.

    ``graph_factory`` exists for tests: on a CPU, a stand-in that records the body and calls it again
    on replay checks everything around the capture (warm-up, state restore, static buffers, eager
    fallback) without CUDA.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        *,
        use_graph: bool = True,
        graph_factory=None,
    ):
        self.model, self.optimizer, self.device = model, optimizer, torch.device(device)
        reason = None if graph_factory is not None else graph_unsupported(optimizer, self.device)
        self.use_graph = use_graph and reason is None
        if use_graph and reason is not None and self.device.type == "cuda":
            log.info("jenacast: training steps run eagerly: %s.", reason)
        self._graph_factory = graph_factory
        self._graph = None
        self._static: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # x, y, stats
        self._graph_grads: list[torch.Tensor] = []

    @property
    def graphed(self) -> bool:
        """Whether a captured graph serves the full batches."""
        return self._graph is not None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.use_graph and self._graph is None:
            self._capture(x, y)
        if self._graph is not None and x.shape == self._static[0].shape:
            static_x, static_y, stats = self._static
            static_x.copy_(x)
            static_y.copy_(y)
            self._graph.replay()
            return stats
        return step_body(self.model, self.optimizer, x, y, zero_grads=True)

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.use_graph = False  # one try: a failed capture leaves the eager step
        self.optimizer.init_state()  # the graph must see the state tensors it updates
        saved = _SavedState(self.model, self.optimizer, self.device)
        static_x, static_y = x.clone(), y.clone()
        try:
            graph = self._graph_factory() if self._graph_factory is not None else torch.cuda.CUDAGraph()
            with _side_stream(self.device):
                for _ in range(WARMUP_STEPS):
                    step_body(self.model, self.optimizer, static_x, static_y, zero_grads=True)
            # grads set to None now: the captured backward allocates them from the graph's pool and
            # overwrites them at every replay
            self.optimizer.zero_grad(set_to_none=True)
            stats = _record(graph, lambda: step_body(self.model, self.optimizer, static_x, static_y, zero_grads=False))
        except Exception as exc:  # training goes on eagerly, from the saved state
            log.info(
                "jenacast: capturing the training step as a CUDA graph failed (%s: %s); steps run eagerly.",
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )
            self.optimizer.zero_grad(set_to_none=True)
            saved.restore()
            return
        self._graph_grads = [
            p.grad for p in self.model.parameters() if p.grad is not None
        ]  # keep the graph's grads alive
        self._graph, self._static = graph, (static_x, static_y, stats)
        saved.restore()


class _side_stream:
    """The warm-up runs on a side stream (as capture requires on CUDA); a no-op elsewhere."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            self.stream = torch.cuda.Stream(self.device)
            self.stream.wait_stream(torch.cuda.current_stream(self.device))
            self.context = torch.cuda.stream(self.stream)
            self.context.__enter__()

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.context.__exit__(*exc)
            torch.cuda.current_stream(self.device).wait_stream(self.stream)
        return False


def _record(graph, body):
    """Capture ``body`` into ``graph``; returns its outputs (static tensors that every replay rewrites)."""
    if not isinstance(graph, torch.cuda.CUDAGraph):
        return graph.capture(body)
    with torch.cuda.graph(graph):
        return body()
