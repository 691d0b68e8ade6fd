import torch


def test_uninitialised_allocations_hold_nan():
    """The conftest's guard: a kernel that forgets to write an output leaves NaN, which fails comparisons."""
    assert torch.isnan(torch.empty(3)).all()
    assert torch.isnan(torch.zeros(2).new_empty(4)).all()
    assert torch.isnan(torch.empty_like(torch.zeros(2))).all()
