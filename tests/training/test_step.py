"""The training step run eagerly or as a captured graph: what surrounds the capture, checked on the CPU.

A real CUDA graph needs a GPU (tests/training/test_step_gpu.py); here a stand-in graph that runs the
captured body again at every replay checks the warm-up, the state written back after capture, the
static buffers and the eager fallback for other shapes: a graphed run must train exactly as an
eager one.
"""

import logging
import math

import pytest
import torch

from jenacast.models import build
from jenacast.training import KerasRMSprop
from jenacast.training.step import TrainingStep
from jenacast.training.trainer import EpochTotals

T, F = 10, 14


class ReplayingGraph:
    """Stands in for ``torch.cuda.CUDAGraph``: capture runs the body (which a real capture does not, so the
    step must undo it), replay runs it again and writes into the captured outputs, grads overwritten as
    a real replay overwrites them."""

    def __init__(self, model, fail=False):
        self.model, self.fail, self.replays = model, fail, 0

    def capture(self, body):
        self.body = body
        self.out = body()
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        return self.out

    def replay(self):
        self.replays += 1
        for p in self.model.parameters():
            p.grad = None
        self.out.copy_(self.body())


def batches(seed=0, sizes=(32, 32, 7, 32, 32, 7)):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, T, F, generator=g), torch.randn(n, generator=g) * 5) for n in sizes]


def trained(model_name, make_step, data, backend=None):
    torch.manual_seed(3)
    model = build(model_name, F, steps=T, backend=backend or ("cpu" if model_name != "dense" else "auto"))
    optimizer = KerasRMSprop(model.parameters(), lr=1e-2)
    step = make_step(model, optimizer)
    stats = [step(x, y).clone() for x, y in data]
    return model, optimizer, stats, step, torch.get_rng_state()


@pytest.mark.parametrize("model_name", ["lstm-dropout", "stacked-gru", "dense"])
def test_a_graphed_step_trains_exactly_as_the_eager_step(model_name):
    data = batches()
    eager = trained(model_name, lambda m, o: TrainingStep(m, o, "cpu", use_graph=False), data)
    graphs = []

    def graphed_step(m, o):
        return TrainingStep(m, o, "cpu", graph_factory=lambda: graphs.append(ReplayingGraph(m)) or graphs[-1])

    graphed = trained(model_name, graphed_step, data)
    assert graphed[3].graphed and graphs[0].replays == 4  # the four full batches replayed, the two partial ones eager
    for a, b in zip(eager[2], graphed[2]):
        assert torch.equal(a, b)
    for (name, a), b in zip(eager[0].state_dict().items(), graphed[0].state_dict().values()):
        assert torch.equal(a, b), name
    for p_eager, p_graphed in zip(eager[0].parameters(), graphed[0].parameters()):
        assert torch.equal(eager[1].state[p_eager]["velocity"], graphed[1].state[p_graphed]["velocity"])
    assert torch.equal(eager[4], graphed[4])  # the generator where the eager run left it


def test_autos_first_use_check_of_the_triton_kernels_leaves_the_training_unchanged(monkeypatch):
    """The check runs in the first warm-up step (eager), on copies, with its own generator: the run trains
    exactly as one with ``backend="triton"``, and the graph replays the kernels it checked."""
    from jenacast.rnn import ops
    from jenacast.rnn.ops import selfcheck

    if not ops.available("triton"):
        pytest.skip("needs Triton")
    monkeypatch.setitem(ops._AUTO_PREFERENCE, "cpu", ("triton", "fwbw"))
    monkeypatch.setattr(ops, "_resolved", {})
    monkeypatch.setattr(selfcheck, "_checked", set())
    data = batches(2, sizes=(4, 4, 3))

    def graphed_step(m, o):
        return TrainingStep(m, o, "cpu", graph_factory=lambda: ReplayingGraph(m))

    explicit = trained("lstm-dropout", graphed_step, data, backend="triton")
    auto = trained("lstm-dropout", graphed_step, data, backend="auto")
    assert ops._resolved["cpu"] == "triton" and len(selfcheck._checked) == 2  # the full batches and the last one
    for a, b in zip(explicit[2], auto[2]):
        assert torch.equal(a, b)
    for a, b in zip(explicit[0].state_dict().values(), auto[0].state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(explicit[4], auto[4])


def test_a_failed_capture_leaves_the_eager_step_and_the_same_training(caplog):
    data = batches(1)
    eager = trained("lstm-dropout", lambda m, o: TrainingStep(m, o, "cpu", use_graph=False), data)
    with caplog.at_level(logging.INFO, logger="jenacast"):
        failed = trained(
            "lstm-dropout",
            lambda m, o: TrainingStep(m, o, "cpu", graph_factory=lambda: ReplayingGraph(m, fail=True)),
            data,
        )
    assert not failed[3].graphed
    assert "capturing the training step as a CUDA graph failed (RuntimeError" in caplog.text
    for a, b in zip(eager[2], failed[2]):
        assert torch.equal(a, b)
    for a, b in zip(eager[0].state_dict().values(), failed[0].state_dict().values()):
        assert torch.equal(a, b)


def test_no_graph_without_cuda_and_rmsprop():
    from jenacast.training.step import graph_unsupported

    model = build("dense", F, steps=T)
    step = TrainingStep(model, KerasRMSprop(model.parameters()), "cpu")
    assert not step.use_graph
    x, y = batches(sizes=(4,))[0]
    assert step(x, y).shape == (2,) and not step.graphed
    # each reason on its own: the optimizer is judged on a CUDA device, the device with the book's optimizer
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert graph_unsupported(KerasRMSprop(model.parameters()), cuda) is None
    assert "Adam keeps a host-side step count" in graph_unsupported(torch.optim.Adam(model.parameters()), cuda)
    assert graph_unsupported(KerasRMSprop(model.parameters()), cpu) == "CUDA graphs need a CUDA device"


def test_epoch_totals_sum_in_batch_order_and_find_the_first_bad_loss():
    totals = EpochTotals(5, torch.device("cpu"))
    rows = [(0.5, 10.0, 4), (0.25, 6.0, 4), (1.0, 3.0, 2)]
    for index, (loss, abs_sum, size) in enumerate(rows):
        totals.add(index, torch.tensor([loss, abs_sum]), size)
    assert totals.catch_up() is None
    assert (totals.sq, totals.ab, totals.seen) == (0.5 * 4 + 0.25 * 4 + 1.0 * 2, 19.0, 10)
    assert totals.loss == pytest.approx(0.5) and totals.mae == pytest.approx(1.9)
    totals.add(3, torch.tensor([2.0, 1.0]), 4)
    totals.add(4, torch.tensor([math.inf, 1.0]), 4)
    assert totals.catch_up() == (4, math.inf)
