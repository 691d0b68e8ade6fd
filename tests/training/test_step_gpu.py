"""The training step as a real CUDA graph against the eager step, on a GPU; skipped without CUDA."""

import pytest
import torch

from jenacast.data import WindowSpec, generate_synthetic, make_splits
from jenacast.models import build
from jenacast.training import KerasRMSprop, TrainConfig, fit
from jenacast.training.step import TrainingStep

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
B, T, F = 256, 120, 14


def run_steps(model_name, backend, use_graph, sizes):
    torch.manual_seed(5)
    model = build(model_name, F, steps=T, backend=backend).cuda()
    optimizer = KerasRMSprop(model.parameters(), lr=1e-3)
    step = TrainingStep(model, optimizer, torch.device("cuda"), use_graph=use_graph)
    g = torch.Generator(device="cuda").manual_seed(1)
    stats = []
    for n in sizes:
        x = torch.randn(n, T, F, device="cuda", generator=g)
        y = torch.randn(n, device="cuda", generator=g) * 5
        stats.append(step(x, y).clone())
    torch.cuda.synchronize()
    return model, torch.stack(stats), step


@pytest.mark.parametrize(
    "model_name,backend",
    [
        ("lstm-dropout", "auto"),
        ("stacked-gru", "auto"),
        ("bidirectional", "auto"),
        ("lstm-dropout", "fwbw"),
        ("conv", "auto"),
    ],
)
def test_graph_replays_train_as_the_eager_step(model_name, backend):
    sizes = (B, B, 100, B, B)
    eager_model, eager_stats, _ = run_steps(model_name, backend, False, sizes)
    graph_model, graph_stats, step = run_steps(model_name, backend, True, sizes)
    assert step.graphed
    # the same dropout masks and the same kernels: equal up to the GPU's own run-to-run summation order
    torch.testing.assert_close(graph_stats, eager_stats, rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(eager_model.state_dict().items(), graph_model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)


def test_fit_with_and_without_graphs(tmp_path):
    splits = make_splits(
        generate_synthetic(0, years=0.3), spec=WindowSpec(sampling_rate=3, sequence_length=32, horizon=12)
    )
    config = TrainConfig(model="lstm-dropout", epochs=2, batch_size=64, max_batches=20, device="cuda", seed=1)
    info = {"name": "synthetic"}
    graphed = fit(config, splits, info, tmp_path / "graph", progress=False, say=lambda m: None)
    eager = fit(config, splits, info, tmp_path / "eager", progress=False, say=lambda m: None, cuda_graph=False)
    for key in ("best_val_loss", "test_loss", "test_mae"):
        assert graphed[key] == pytest.approx(eager[key], rel=1e-4), key
