"""PackedSequence input: each sequence stops at its own length, as in nn.LSTM/nn.GRU (outputs packed the same way,
final states at each sequence's last step, a reverse direction starting there), through the whole batch at once."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from jenacast.rnn import VariationalGRU, VariationalLSTM
from jenacast.rnn.ops import available
from tests.rnn.dropin_compare import assert_same_as_torch, leaf, with_random_biases

CELLS = {"lstm": (VariationalLSTM, nn.LSTM), "gru": (VariationalGRU, nn.GRU)}
F, H = 4, 6
LENGTHS = [3, 7, 1, 7, 5]  # unsorted, with ties, the longest and a single step
BACKENDS = ["reference", "auto"]  # on float32 CPU tensors "auto" is the cpu tier (where Numba is installed)
BACKENDS += ["triton"] if available("triton") else []  # its kernels in Triton's interpreter (tests/conftest.py)


def check(cell, layers, bidirectional, with_hx, backend, dtype, tol, lengths=LENGTHS, enforce_sorted=False):
    torch.manual_seed(layers + 2 * bidirectional)
    ours_cls, torch_cls = CELLS[cell]
    ref = with_random_biases(torch_cls(F, H, layers, bidirectional=bidirectional, dtype=dtype))
    module = ours_cls.from_torch(ref, backend=backend)
    count, b = layers * (2 if bidirectional else 1), len(lengths)
    x = leaf(b, max(lengths), F, dtype=dtype)
    states = {"h0": leaf(count, b, H, dtype=dtype)} if with_hx else {}
    if with_hx and cell == "lstm":
        states["c0"] = leaf(count, b, H, dtype=dtype)
    hx = tuple(states.values()) if cell == "lstm" and with_hx else states.get("h0")

    def packed():
        return pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=enforce_sorted)

    assert_same_as_torch(module, ref, packed, {"input": x, **states}, hx, tol)
    ours, theirs = module(packed(), hx)[0], ref(packed(), hx)[0]
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        a, b = getattr(ours, field), getattr(theirs, field)
        assert (a is None and b is None) or torch.equal(a, b), field


@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_packed_float32_equals_torch(backend, cell, layers, bidirectional, with_hx):
    check(cell, layers, bidirectional, with_hx, backend, torch.float32, 1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_packed_float64_equals_torch(cell, bidirectional):
    check(cell, 3, bidirectional, True, "auto", torch.float64, 1e-10)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_sorted_packed_input_equals_torch(cell):
    check(cell, 2, True, True, "auto", torch.float32, 1e-5, lengths=[6, 4, 4, 2], enforce_sorted=True)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_packed_sequences_of_one_length_equal_unpacked(cell):
    """Lengths all T change nothing: the packed path is the unpacked one."""
    ours_cls, _ = CELLS[cell]
    module = ours_cls(F, H, 2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 5, F)
    packed = pack_padded_sequence(x, torch.tensor([5, 5, 5]), batch_first=True)
    out, state = module(packed)
    want_out, want_state = module(x)
    torch.testing.assert_close(out.data, pack_padded_sequence(want_out, torch.tensor([5, 5, 5]), True).data)
    for a, b in zip(state if cell == "lstm" else (state,), want_state if cell == "lstm" else (want_state,)):
        torch.testing.assert_close(a, b)
