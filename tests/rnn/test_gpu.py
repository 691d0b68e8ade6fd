"""The Triton tier on a real GPU at the chapter's sizes (batch 256, 120 steps); skipped without CUDA."""

import logging

import pytest
import torch

from jenacast.rnn import GRU, LSTM, Bidirectional, ops
from jenacast.rnn.ops import available, gru_reference, lstm_reference, selfcheck, tier_ops, tuning

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(not available("triton"), reason="needs Triton"),
]
B, T = 256, 120
# float32 dots: outputs within 1e-4 of the reference, gradients 1e-3 (relative to the largest value); TF32 dots
# (the triton_precision option, e.g. JENACAST_KERNEL_OPTIONS=triton_precision=tf32) must keep both within 1e-3
OUT_TOL = 1e-3 if tuning.current().triton_precision == "tf32" else 1e-4
GRAD_TOL = 1e-3


@pytest.fixture(params=["rows", "tiles"], autouse=True)
def layout(request, kernel_options):
    """Every comparison runs with both kernel layouts of the Triton tier (the triton_layout option)."""
    kernel_options(triton_layout=request.param)
    return request.param


def grads_of(outs, tensors, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    upstream = [torch.randn(o.shape, device="cuda", generator=g) for o in outs]
    return torch.autograd.grad(outs, tensors, upstream)


def close(a, b, tol):
    for x, y in zip(a, b):
        assert torch.isfinite(y).all()
        scale = x.abs().max().clamp_min(1.0)
        assert (x - y).abs().max() <= tol * scale, (x - y).abs().max().item()


def mask_of(kind, gates, h):
    if kind == "none":
        return None
    shape = (B, h) if kind == "shared" else (gates, B, h)
    return torch.bernoulli(torch.full(shape, 0.75, device="cuda")) / 0.75


@pytest.mark.parametrize("h", [16, 32, 20])
@pytest.mark.parametrize("mask", ["none", "shared", "per_gate"])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_triton_matches_reference_at_chapter_sizes(h, mask, reverse):
    torch.manual_seed(h)
    tensors = [
        torch.randn(B, T, 4 * h, device="cuda"),
        torch.randn(B, h, device="cuda"),
        torch.randn(B, h, device="cuda"),
        torch.randn(h, 4 * h, device="cuda") / h**0.5,
    ]
    tensors = [t.requires_grad_() for t in tensors]
    m = mask_of(mask, 4, h)
    ref = lstm_reference(*tensors, m, reverse)
    got = tier_ops("triton")["lstm"](*tensors, m, reverse)
    close(ref, got, OUT_TOL)
    close(grads_of(ref, tensors), grads_of(got, tensors), GRAD_TOL)


@pytest.mark.parametrize("h", [32, 20])
@pytest.mark.parametrize("mask", ["none", "per_gate"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_triton_matches_reference_at_chapter_sizes(h, mask, reverse, reset_after):
    torch.manual_seed(h)
    tensors = [
        torch.randn(B, T, 3 * h, device="cuda"),
        torch.randn(B, h, device="cuda"),
        torch.randn(h, 3 * h, device="cuda") / h**0.5,
    ]
    if reset_after:
        tensors.append(torch.randn(3 * h, device="cuda"))
    tensors = [t.requires_grad_() for t in tensors]
    bias = tensors[3] if reset_after else None
    m = mask_of(mask, 3, h)
    ref = gru_reference(*tensors[:3], bias, m, reverse, reset_after)
    got = tier_ops("triton")["gru"](*tensors[:3], bias, m, reverse, reset_after)
    close(ref, got, OUT_TOL)
    close(grads_of(ref, tensors), grads_of(got, tensors), GRAD_TOL)


@pytest.mark.parametrize(
    "make",
    [
        lambda be: LSTM(14, 32, recurrent_dropout=0.25, backend=be),
        lambda be: torch.nn.Sequential(
            GRU(14, 32, recurrent_dropout=0.5, return_sequences=True, backend=be),
            GRU(32, 32, recurrent_dropout=0.5, backend=be),
        ),
        lambda be: Bidirectional(LSTM(14, 16, backend=be)),
    ],
)
def test_chapter_layers_triton_equal_fwbw_with_the_same_masks(make):
    torch.manual_seed(0)
    a, b = make("fwbw").cuda().train(), make("triton").cuda().train()
    b.load_state_dict(a.state_dict())
    x = torch.randn(B, T, 14, device="cuda")
    torch.manual_seed(1)
    out_a = a(x)
    torch.manual_seed(1)
    out_b = b(x)
    close([out_a], [out_b], OUT_TOL)
    ga = torch.autograd.grad(out_a.square().sum(), list(a.parameters()))
    gb = torch.autograd.grad(out_b.square().sum(), list(b.parameters()))
    close(ga, gb, GRAD_TOL)


def test_auto_picks_triton_on_cuda():
    ops._resolved.pop("cuda", None)
    assert ops.resolve("auto", torch.device("cuda")) == "triton"


def test_auto_keeps_triton_after_its_first_use_check_at_chapter_sizes(monkeypatch, caplog):
    monkeypatch.setattr(ops, "_resolved", {})
    monkeypatch.setattr(selfcheck, "_checked", set())
    torch.manual_seed(0)
    models = [
        torch.nn.Sequential(
            GRU(14, 32, recurrent_dropout=0.5, return_sequences=True), GRU(32, 32, recurrent_dropout=0.5)
        ),
        Bidirectional(LSTM(14, 16)),
        LSTM(14, 32, recurrent_dropout=0.25),
    ]
    x = torch.randn(B, T, 14, device="cuda")
    with caplog.at_level(logging.WARNING, logger="jenacast"):
        for model in models:
            model.cuda().train()(x).square().sum().backward()
    assert "first-use check" not in caplog.text
    assert ops._resolved["cuda"] == "triton" and len(selfcheck._checked) == 4
