"""VariationalLSTM/VariationalGRU without dropout equal nn.LSTM/nn.GRU: outputs, final states and every gradient,
for stacked and bidirectional layers, both batch layouts, with and without initial states, float32 (the fused
kernels) and float64; and they take torch's parameters, state dicts and shapes."""

import pytest
import torch
from torch import nn

from jenacast.rnn import VariationalGRU, VariationalLSTM
from jenacast.rnn.ops import available
from tests.rnn.dropin_compare import assert_same_as_torch, leaf, with_random_biases

CELLS = {"lstm": (VariationalLSTM, nn.LSTM), "gru": (VariationalGRU, nn.GRU)}
B, T, F, H = 3, 5, 4, 6


def initial_state(cell, count, batch, dtype):
    states = {"h0": leaf(count, *batch, H, dtype=dtype)}
    if cell == "lstm":
        states["c0"] = leaf(count, *batch, H, dtype=dtype)
    hx = (states["h0"], states["c0"]) if cell == "lstm" else states["h0"]
    return states, hx


def check(cell, layers, bidirectional, batch_first, with_hx, dtype, tol, backend="auto", batch=(B,)):
    torch.manual_seed(layers * 10 + bidirectional)
    ours_cls, torch_cls = CELLS[cell]
    ref = with_random_biases(torch_cls(F, H, layers, batch_first=batch_first, bidirectional=bidirectional, dtype=dtype))
    module = ours_cls.from_torch(ref, backend=backend)
    count = layers * (2 if bidirectional else 1)
    shape = (*batch, T, F) if batch_first else (T, *batch, F)
    x = leaf(*shape, dtype=dtype)
    states, hx = initial_state(cell, count, batch, dtype) if with_hx else ({}, None)
    assert_same_as_torch(module, ref, lambda: x, {"input": x, **states}, hx, tol)


@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_float32_equals_torch(cell, layers, bidirectional, batch_first, with_hx):
    check(cell, layers, bidirectional, batch_first, with_hx, torch.float32, 1e-5)


@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_float64_equals_torch(cell, layers, bidirectional, with_hx):
    check(cell, layers, bidirectional, True, with_hx, torch.float64, 1e-10)


@pytest.mark.parametrize("backend", ["reference", "fwbw"])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_torch_tier_equals_torch(cell, backend):
    check(cell, 2, True, False, True, torch.float64, 1e-10, backend=backend)


@pytest.mark.skipif(not available("triton"), reason="needs triton (pip install 'jenacast[gpu]')")
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_triton_tier_equals_torch(cell):
    """Without a GPU in Triton's interpreter; a bidirectional layer's directions in one paired launch."""
    check(cell, 2, True, False, True, torch.float32, 1e-5, backend="triton")


@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_unbatched_input_equals_torch(cell, with_hx):
    check(cell, 2, True, False, with_hx, torch.float32, 1e-5, batch=())


def test_hidden_sizes_of_the_vector_path_equal_torch():
    """16 units and more run the kernels' 16-lane products; 48 with 32 features a stacked layer's in-kernel dx."""
    torch.manual_seed(1)
    for torch_cls, ours_cls in ((nn.LSTM, VariationalLSTM), (nn.GRU, VariationalGRU)):
        ref = with_random_biases(torch_cls(32, 48, 2, bidirectional=True))
        x = leaf(7, 5, 32)
        assert_same_as_torch(ours_cls.from_torch(ref), ref, lambda: x, {"input": x}, None, 1e-5)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_without_bias_equals_torch(cell):
    ours_cls, torch_cls = CELLS[cell]
    ref = torch_cls(F, H, 2, bias=False)
    x = leaf(T, B, F)
    assert_same_as_torch(ours_cls.from_torch(ref), ref, lambda: x, {"input": x}, None, 1e-5)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_parameters_are_torchs(cell):
    """Names, shapes and order as torch's, and the same seed gives the same initial weights."""
    ours_cls, torch_cls = CELLS[cell]
    torch.manual_seed(3)
    ours = ours_cls(F, H, 2, bidirectional=True)
    torch.manual_seed(3)
    theirs = torch_cls(F, H, 2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_a_torch_state_dict_loads_and_round_trips(cell):
    ours_cls, torch_cls = CELLS[cell]
    theirs = with_random_biases(torch_cls(F, H, 3, bidirectional=True, batch_first=True))
    ours = ours_cls(F, H, 3, bidirectional=True, batch_first=True, recurrent_dropout=0.3)
    ours.load_state_dict(theirs.state_dict())
    back = ours.to_torch()
    assert type(back) is torch_cls and back.batch_first
    for name, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
    x = torch.randn(B, T, F)
    torch.testing.assert_close(ours.eval()(x)[0], theirs(x)[0], rtol=1e-5, atol=1e-6)


def test_from_torch_keeps_the_configuration_and_adds_recurrent_dropout():
    ref = nn.LSTM(F, H, 2, batch_first=True, dropout=0.25, bidirectional=True, dtype=torch.float64)
    module = VariationalLSTM.from_torch(ref, recurrent_dropout=0.5, mask_mode="shared")
    assert (module.num_layers, module.batch_first, module.dropout, module.bidirectional) == (2, True, 0.25, True)
    assert (module.recurrent_dropout, module.mask_mode, module.weight_hh_l0.dtype) == (0.5, "shared", torch.float64)
    assert "recurrent_dropout=0.5" in repr(module)


@pytest.mark.parametrize(
    "build, error, words",
    [
        (lambda: VariationalLSTM(F, H, proj_size=2), ValueError, "proj_size"),
        (lambda: VariationalLSTM.from_torch(nn.LSTM(F, H, proj_size=2)), ValueError, "proj_size"),
        (lambda: VariationalLSTM.from_torch(nn.GRU(F, H)), TypeError, "takes an LSTM"),
        (lambda: VariationalGRU(F, 0), ValueError, "hidden_size"),
        (lambda: VariationalGRU(F, H, 1, True, False, 0.0, False, 3), ValueError, "proj_size"),
        (lambda: VariationalGRU(F, H, recurrent_dropout=1.0), ValueError, "recurrent_dropout"),
        (lambda: VariationalGRU(F, H, mask_mode="tied"), ValueError, "mask_mode"),
        (lambda: VariationalGRU(F, H, backend="cuda"), ValueError, "backend"),
    ],
)
def test_bad_arguments_say_what_is_wrong(build, error, words):
    with pytest.raises(error, match=words):
        build()


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda m: m(torch.randn(2, 3, 4, F)), ValueError, "2-D .* or 3-D"),
        (lambda m: m(torch.randn(T, B, F + 1)), ValueError, f"{F} input features"),
        (lambda m: m(torch.randn(T, B, F, dtype=torch.float64)), TypeError, "float64"),
        (lambda m: m(torch.randn(T, B, F), torch.zeros(1, B, H)), TypeError, r"pair \(h_0, c_0\)"),
        (lambda m: m(torch.randn(T, B, F), (torch.zeros(2, B, H),) * 2), ValueError, r"h_0 must have shape \[1, 3, 6"),
        (lambda m: m(torch.randn(T, F), (torch.zeros(1, B, H),) * 2), ValueError, r"shape \[1, 6\]"),
        (lambda m: m(torch.randn(T, B, F), masks=[]), TypeError, "masks must be 1 list"),
        (lambda m: m([1, 2]), TypeError, "PackedSequence"),
    ],
)
def test_bad_calls_say_what_is_wrong(call, error, words):
    with pytest.raises(error, match=words):
        call(VariationalLSTM(F, H))
