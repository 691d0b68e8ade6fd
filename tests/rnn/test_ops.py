"""Every tier of each op against the reference: outputs, final states and every gradient."""

import pytest
import torch

from jenacast.rnn.ops import TIERS, available, gru_reference, lstm_reference, tier_ops

# the Triton tier in both kernel layouts (the triton_layout option): "triton" (rows, the default) and "triton-tiles"
FAST_TIERS = [t for t in TIERS if t != "reference" and available(t)] + (["triton-tiles"] if available("triton") else [])


@pytest.fixture
def tier(request, kernel_options):
    """The tier under test, by name; "triton-tiles" selects the Triton tier's tiles kernels."""
    name = request.param
    if name == "triton-tiles":
        kernel_options(triton_layout="tiles")
        return "triton"
    return name


MASKS = ["none", "shared", "per_gate"]


def device_for(tier):
    """The Triton tier runs on the GPU when there is one, else in Triton's interpreter on the CPU."""
    return "cuda" if tier == "triton" and torch.cuda.is_available() else "cpu"


def on(device, tensors, mask):
    moved = [t.detach().to(device).requires_grad_() for t in tensors]
    return moved, (None if mask is None else mask.to(device))


def make_mask(kind, gates, b, h, dtype):
    if kind == "none":
        return None
    shape = (b, h) if kind == "shared" else (gates, b, h)
    return torch.bernoulli(torch.full(shape, 0.7, dtype=dtype)) / 0.7


def lstm_inputs(b, t, h, dtype, mask):
    g = torch.Generator().manual_seed(b * 100 + t * 10 + h)
    tensors = [
        torch.randn(b, t, 4 * h, generator=g, dtype=dtype),
        torch.randn(b, h, generator=g, dtype=dtype),
        torch.randn(b, h, generator=g, dtype=dtype),
        torch.randn(h, 4 * h, generator=g, dtype=dtype) / h**0.5,
    ]
    return [x.requires_grad_() for x in tensors], make_mask(mask, 4, b, h, dtype)


def gru_inputs(b, t, h, dtype, mask, with_bias=True):
    g = torch.Generator().manual_seed(b * 100 + t * 10 + h + 1)
    tensors = [
        torch.randn(b, t, 3 * h, generator=g, dtype=dtype),
        torch.randn(b, h, generator=g, dtype=dtype),
        torch.randn(h, 3 * h, generator=g, dtype=dtype) / h**0.5,
    ]
    if with_bias:
        tensors.append(torch.randn(3 * h, generator=g, dtype=dtype))
    return [x.requires_grad_() for x in tensors], make_mask(mask, 3, b, h, dtype)


def outputs_and_grads(fn, tensors):
    outs = fn()
    upstream = [
        torch.randn(o.shape, generator=torch.Generator().manual_seed(i), dtype=o.dtype).to(o.device)
        for i, o in enumerate(outs)
    ]
    grads = torch.autograd.grad(outs, tensors, upstream)
    return [o.detach() for o in outs], grads


def assert_same(a, b, tol):
    for x, y in zip(a, b):
        assert not torch.isnan(y).any()
        torch.testing.assert_close(y, x, rtol=tol, atol=tol)


SIZES = [(1, 1, 1), (3, 1, 5), (5, 7, 3), (4, 13, 9), (3, 4, 20)]  # 20 units: padded to 32 lanes


@pytest.mark.parametrize("tier", FAST_TIERS, indirect=True)
@pytest.mark.parametrize("b,t,h", SIZES)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_tier_matches_reference(tier, b, t, h, mask, reverse):
    tensors, m = on(device_for(tier), *lstm_inputs(b, t, h, torch.float32, mask))
    op = tier_ops(tier)["lstm"]
    ref = outputs_and_grads(lambda: lstm_reference(*tensors, m, reverse), tensors)
    got = outputs_and_grads(lambda: op(*tensors, m, reverse), tensors)
    assert_same(ref[0], got[0], 1e-5)
    assert_same(ref[1], got[1], 1e-4)


@pytest.mark.parametrize("tier", FAST_TIERS, indirect=True)
@pytest.mark.parametrize("b,t,h", SIZES)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_tier_matches_reference(tier, b, t, h, mask, reverse, reset_after):
    tensors, m = on(device_for(tier), *gru_inputs(b, t, h, torch.float32, mask, with_bias=reset_after))
    bias = tensors[3] if reset_after else None
    op = tier_ops(tier)["gru"]
    ref = outputs_and_grads(lambda: gru_reference(*tensors[:3], bias, m, reverse, reset_after), tensors)
    got = outputs_and_grads(lambda: op(*tensors[:3], bias, m, reverse, reset_after), tensors)
    assert_same(ref[0], got[0], 1e-5)
    assert_same(ref[1], got[1], 1e-4)


# units that are multiples of 16 take the CPU tier's vector path (cpu_simd); odd batch sizes leave a single row;
# 13 sequences fill one 8-row block (block_rows for small batches) and part of a second
SIMD_SIZES = [(13, 4, 16), (3, 3, 32), (2, 2, 48)]


@pytest.mark.skipif(not available("cpu"), reason="needs numba")
@pytest.mark.parametrize("b,t,h", SIMD_SIZES)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_vector_path_matches_reference(b, t, h, mask, reverse):
    tensors, m = lstm_inputs(b, t, h, torch.float32, mask)
    ref = outputs_and_grads(lambda: lstm_reference(*tensors, m, reverse), tensors)
    got = outputs_and_grads(lambda: tier_ops("cpu")["lstm"](*tensors, m, reverse), tensors)
    assert_same(ref[0], got[0], 1e-5)
    assert_same(ref[1], got[1], 1e-4)
    for reset_after in (True, False):
        tensors, m = gru_inputs(b, t, h, torch.float32, mask, with_bias=reset_after)
        bias = tensors[3] if reset_after else None
        ref = outputs_and_grads(lambda: gru_reference(*tensors[:3], bias, m, reverse, reset_after), tensors)
        got = outputs_and_grads(lambda: tier_ops("cpu")["gru"](*tensors[:3], bias, m, reverse, reset_after), tensors)
        assert_same(ref[0], got[0], 1e-5)
        assert_same(ref[1], got[1], 1e-4)


# which outputs the loss uses: autograd hands the fused tiers None for the others
USES = {
    "sequence": lambda outs: outs[0],
    "last_h": lambda outs: outs[1],
    "last_state": lambda outs: outs[-1],
}  # c for an LSTM


@pytest.mark.parametrize("tier", FAST_TIERS, indirect=True)
@pytest.mark.parametrize("mask", ["none", "per_gate"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_evaluation_forward_matches_reference(tier, mask, reverse, reset_after):
    """Without autograd the fused kernels skip what only a backward reads; the outputs stay the reference's."""
    device = device_for(tier)
    with torch.no_grad():
        tensors, m = on(device, *lstm_inputs(4, 6, 20, torch.float32, mask))
        ref, got = lstm_reference(*tensors, m, reverse), tier_ops(tier)["lstm"](*tensors, m, reverse)
        assert_same(ref, got, 1e-5)
        tensors, m = on(device, *gru_inputs(4, 6, 20, torch.float32, mask, with_bias=reset_after))
        bias = tensors[3] if reset_after else None
        ref = gru_reference(*tensors[:3], bias, m, reverse, reset_after)
        got = tier_ops(tier)["gru"](*tensors[:3], bias, m, reverse, reset_after)
        assert_same(ref, got, 1e-5)


@pytest.mark.parametrize("tier", FAST_TIERS, indirect=True)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("used", sorted(USES))
@pytest.mark.parametrize("reverse", [False, True])
def test_unused_outputs_match_reference(tier, cell, used, reverse):
    if cell == "lstm":
        tensors, m = on(device_for(tier), *lstm_inputs(5, 7, 3, torch.float32, "per_gate"))
        ref_fn, args = lstm_reference, (*tensors, m, reverse)
    else:
        tensors, m = on(device_for(tier), *gru_inputs(5, 7, 3, torch.float32, "per_gate"))
        ref_fn, args = gru_reference, (*tensors, m, reverse, True)
    grads = []
    for fn in (ref_fn, tier_ops(tier)[cell]):
        loss = (USES[used](fn(*args)) * torch.linspace(-1, 1, 3, device=tensors[0].device)).sum()
        grads.append(torch.autograd.grad(loss, tensors, allow_unused=True))
    for want, got in zip(*grads):
        assert (want is None) == (got is None) or torch.count_nonzero(want if got is None else got) == 0
        if want is not None and got is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("tier", ["reference", "fwbw"])  # the Triton tier is pinned to the reference above
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_float64(tier, mask, reverse):
    tensors, m = lstm_inputs(2, 4, 3, torch.float64, mask)
    assert torch.autograd.gradcheck(lambda *a: tier_ops(tier)["lstm"](*a, m, reverse), tensors)
    for reset_after in (True, False):
        tensors, m = gru_inputs(2, 4, 3, torch.float64, mask, with_bias=reset_after)
        fn = lambda *a: tier_ops(tier)["gru"](*a[:3], a[3] if reset_after else None, m, reverse, reset_after)  # noqa: E731
        assert torch.autograd.gradcheck(fn, tensors)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("gates", [3, 4])
def test_weight_grad_per_step_equals_one_gemm(mask, gates):
    """The GPU's step-batched weight gradient equals the CPU's single GEMM."""
    from jenacast.rnn.ops.common import recurrent_weight_grad

    g = torch.Generator().manual_seed(gates)
    h_prev = torch.randn(7, 5, 6, generator=g, dtype=torch.float64)
    d_pre = torch.randn(7, 5, gates * 6, generator=g, dtype=torch.float64)
    m = make_mask(mask, gates, 5, 6, torch.float64)
    one = recurrent_weight_grad(h_prev, d_pre, m, gates, per_step=False)
    steps = recurrent_weight_grad(h_prev, d_pre, m, gates, per_step=True)
    torch.testing.assert_close(steps, one, rtol=1e-12, atol=1e-12)
    # and both equal the definition: sum_t (h_{t-1} * mask_g)^T @ d_g
    masks = [None] * gates if m is None else ([m] * gates if m.dim() == 2 else list(m))
    expected = torch.cat(
        [
            sum((h_prev[t] * (1 if mk is None else mk)).t() @ d_pre[t, :, k * 6 : (k + 1) * 6] for t in range(7))
            for k, mk in enumerate(masks)
        ],
        dim=1,
    )
    torch.testing.assert_close(one, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not available("triton"), reason="needs Triton")
def test_triton_kernel_layout_and_precision_settings(kernel_options):
    from jenacast.rnn import ops
    from jenacast.rnn.ops.triton.common import dot_precision, kernel_layout, num_warps

    assert [kernel_layout(h) for h in (1, 16, 32, 33, 128)] == ["rows", "rows", "rows", "tiles", "tiles"]
    assert (dot_precision(), num_warps()) == ("ieee", 4)
    with ops.options(triton_layout="tiles", triton_precision="tf32", triton_warps=8):
        assert (kernel_layout(16), dot_precision(), num_warps()) == ("tiles", "tf32", 8)
    assert (kernel_layout(16), dot_precision(), num_warps()) == ("rows", "ieee", 4)  # undone after the block
    with pytest.raises(ValueError, match="kernel option triton_layout must be one of None, 'rows', 'tiles', got 'row'"):
        kernel_options(triton_layout="row")
    with pytest.raises(ValueError, match="kernel option triton_precision must be one of 'ieee', 'tf32'"):
        kernel_options(triton_precision="fp16")
