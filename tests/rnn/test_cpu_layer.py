"""The cpu tier's whole layers (projection inside the kernels) against torch's projection + the reference."""

import pytest
import torch

from jenacast.rnn.ops import available, get_layer_op, gru_reference, lstm_reference
from jenacast.rnn.ops.projection import projected

pytestmark = pytest.mark.skipif(not available("cpu"), reason="needs numba")

# (batch, steps, features, units): odd sizes take the plain loops, 16/32 the vectors; an input gradient (over 7
# features) comes from the kernels when the features are a multiple of 16, else from a matmul after them;
# batches over 8 rows take several blocks of 8 (what block_rows picks for small batches), the last one partial
SIZES = [(3, 5, 7, 5), (13, 4, 14, 32), (11, 3, 32, 16), (4, 3, 16, 5), (1, 1, 1, 1)]
MASKS = ["none", "shared", "per_gate"]


def mask(kind, gates, b, size, g):
    if kind == "none":
        return None
    shape = (b, size) if kind == "shared" else (gates, b, size)
    return torch.bernoulli(torch.full(shape, 0.7), generator=g) / 0.7


def layer_inputs(cell, b, t, f, h, in_mask, rec_mask, seed=0):
    gates = 4 if cell == "lstm" else 3
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, f, generator=g)
    kernel = torch.randn(f, gates * h, generator=g) / f**0.5
    bias = torch.randn(gates * h, generator=g)
    h0 = torch.randn(b, h, generator=g)
    w_rec = torch.randn(h, gates * h, generator=g) / h**0.5
    states = [h0, torch.randn(b, h, generator=g)] if cell == "lstm" else [h0]
    extra = [torch.randn(gates * h, generator=g)] if cell == "gru" else []  # the recurrent bias
    return [x, kernel, bias, *states, w_rec, *extra], mask(in_mask, gates, b, f, g), mask(rec_mask, gates, b, h, g)


def call(cell, op, tensors, in_mask, rec_mask, reverse, reset_after):
    if cell == "lstm":
        x, kernel, bias, h0, c0, w_rec = tensors
        return op(x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask, reverse)
    x, kernel, bias, h0, w_rec, b_rec = tensors
    return op(x, in_mask, kernel, bias, h0, w_rec, b_rec if reset_after else None, rec_mask, reverse, reset_after)


def run(cell, op, tensors, in_mask, rec_mask, reverse, reset_after, input_grad):
    leaves = [t.detach().clone().requires_grad_(i > 0 or input_grad) for i, t in enumerate(tensors)]
    outs = call(cell, op, leaves, in_mask, rec_mask, reverse, reset_after)
    upstream = [torch.randn(o.shape, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(outs)]
    wanted = [t for t in leaves if t.requires_grad and not (cell == "gru" and not reset_after and t is leaves[-1])]
    return [o.detach() for o in outs], torch.autograd.grad(outs, wanted, upstream)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("b,t,f,h", SIZES)
@pytest.mark.parametrize("in_mask", MASKS)
@pytest.mark.parametrize("rec_mask", MASKS)  # none and shared: gate 0's coefficients serve every gate's product
@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_layer_matches_reference(cell, b, t, f, h, in_mask, rec_mask, reverse):
    reference = projected(cell, lstm_reference if cell == "lstm" else gru_reference)
    fused = get_layer_op(cell, "cpu", torch.device("cpu"))
    for reset_after in [True] if cell == "lstm" else [True, False]:
        tensors, m_in, m_rec = layer_inputs(cell, b, t, f, h, in_mask, rec_mask)
        input_grad = f > 7  # the lower layer of a stack needs its input's gradient; a first layer does not
        want = run(cell, reference, tensors, m_in, m_rec, reverse, reset_after, input_grad)
        got = run(cell, fused, tensors, m_in, m_rec, reverse, reset_after, input_grad)
        for a, e in zip(got[0] + list(got[1]), want[0] + list(want[1])):
            assert not torch.isnan(a).any()
            torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cpu_layer_evaluation_path(cell):
    reference = projected(cell, lstm_reference if cell == "lstm" else gru_reference)
    fused = get_layer_op(cell, "cpu", torch.device("cpu"))
    tensors, m_in, m_rec = layer_inputs(cell, 4, 6, 14, 16, "per_gate", "per_gate")
    with torch.no_grad():
        for a, e in zip(
            call(cell, fused, tensors, m_in, m_rec, True, True), call(cell, reference, tensors, m_in, m_rec, True, True)
        ):
            torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


# blocks of 16 and 64 rows (what block_rows picks for larger batches), each batch with a partial last block;
# the 64-row blocks batch 4 steps per weight-gradient call, the 16-row ones 4, the 8-row ones 8
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("rows,b,t,f,h", [(16, 37, 9, 32, 32), (64, 70, 6, 14, 16)])
@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_layer_with_larger_blocks(kernel_options, cell, rows, b, t, f, h, reverse):
    kernel_options(cpu_block_rows=rows)
    reference = projected(cell, lstm_reference if cell == "lstm" else gru_reference)
    fused = get_layer_op(cell, "cpu", torch.device("cpu"))
    for reset_after in [True] if cell == "lstm" else [True, False]:
        tensors, m_in, m_rec = layer_inputs(cell, b, t, f, h, "none", "per_gate", seed=rows)
        want = run(cell, reference, tensors, m_in, m_rec, reverse, reset_after, True)
        got = run(cell, fused, tensors, m_in, m_rec, reverse, reset_after, True)
        for a, e in zip(got[0] + list(got[1]), want[0] + list(want[1])):
            torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)


# the forward streams its saved rows past the caches where a 16-lane chunk is whole and 64-byte aligned: with
# 20 units the second gate's first chunk is whole but not aligned (a streamed store there would fault)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cpu_layer_with_whole_unaligned_chunks(cell):
    reference = projected(cell, lstm_reference if cell == "lstm" else gru_reference)
    fused = get_layer_op(cell, "cpu", torch.device("cpu"))
    tensors, m_in, m_rec = layer_inputs(cell, 9, 4, 14, 20, "per_gate", "per_gate", seed=3)
    want = run(cell, reference, tensors, m_in, m_rec, False, True, True)
    got = run(cell, fused, tensors, m_in, m_rec, False, True, True)
    for a, e in zip(got[0] + list(got[1]), want[0] + list(want[1])):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "batch,threads,rows", [(256, 2, 64), (103, 2, 32), (256, 16, 8), (13, 2, 8), (4096, 16, 64), (1, 1, 8)]
)
def test_block_rows_gives_every_thread_two_blocks(monkeypatch, batch, threads, rows):
    from jenacast.rnn.ops.cpu import common as cpu_common

    monkeypatch.setattr(cpu_common.numba, "get_num_threads", lambda: threads)
    assert cpu_common.block_rows(batch) == rows


def test_block_rows_option_overrides_the_choice(kernel_options):
    from jenacast.rnn.ops.cpu import common as cpu_common

    kernel_options(cpu_block_rows=16)
    assert cpu_common.block_rows(256) == 16


@pytest.mark.parametrize("value", [0, -8, "eight", 1.5])
def test_block_rows_option_must_be_a_positive_integer(kernel_options, value):
    with pytest.raises(ValueError, match="kernel option cpu_block_rows must be a positive integer"):
        kernel_options(cpu_block_rows=value)


@pytest.mark.parametrize("b,t,f", [(13, 5, 7), (8, 3, 16), (1, 1, 1), (17, 2, 3)])
def test_time_major_copies_every_step_of_every_sequence(b, t, f):
    from jenacast.rnn.ops.cpu.common import time_major

    x = torch.randn(b, t, f)
    got = time_major(x)
    assert got.shape == (t, b, f) and got.is_contiguous()
    torch.testing.assert_close(got, x.transpose(0, 1), rtol=0, atol=0)
    stacked = x.transpose(0, 1).contiguous().transpose(0, 1)  # a stacked layer's input: time-major underneath
    assert time_major(stacked).data_ptr() == stacked.data_ptr()


# Monte Carlo samples of one window: the states' batch is a multiple of the input's, each input row feeding
# that many consecutive sequences; 8-row blocks make some blocks hold two windows' copies
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("in_mask", ["none", "per_gate"])
@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_layer_with_each_input_row_feeding_several_sequences(kernel_options, cell, in_mask, reverse):
    kernel_options(cpu_block_rows=8)
    copies, windows = 5, 3
    fused = get_layer_op(cell, "cpu", torch.device("cpu"))
    tensors, m_in, m_rec = layer_inputs(cell, windows * copies, 7, 14, 32, in_mask, "per_gate")
    x = tensors[0][:windows]
    with torch.no_grad():
        spelled_out = call(cell, fused, [x.repeat_interleave(copies, 0), *tensors[1:]], m_in, m_rec, reverse, True)
        shared = call(cell, fused, [x, *tensors[1:]], m_in, m_rec, reverse, True)
    for a, e in zip(shared, spelled_out):
        assert a.shape == e.shape
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)
    assert not torch.equal(shared[0][0], shared[0][1])  # the copies differ: each has its own recurrent masks


def test_states_not_a_multiple_of_the_input_rows_are_refused():
    fused = get_layer_op("lstm", "cpu", torch.device("cpu"))
    tensors, _, _ = layer_inputs("lstm", 5, 3, 4, 8, "none", "none")
    with pytest.raises(ValueError, match="not a multiple"):
        call("lstm", fused, [tensors[0][:2], *tensors[1:]], None, None, False, True)
