import pytest
import torch


def test_uninitialised_allocations_hold_nan():
    """The conftest's guard: a kernel that forgets to write an output leaves NaN, which fails comparisons."""
    assert torch.isnan(torch.empty(3)).all()
    assert torch.isnan(torch.zeros(2).new_empty(4)).all()
    assert torch.isnan(torch.empty_like(torch.zeros(2))).all()


def test_an_output_a_kernel_forgets_to_write_fails_the_comparison():
    """What the guard is for: a kernel that writes two of its three outputs, where the right answer is zeros
    (what fresh memory often holds), fails the comparison instead of passing by luck."""

    def forgetful_kernel(n):
        out = torch.empty(n)
        out[: n - 1] = 0.0
        return out

    with pytest.raises(AssertionError):
        torch.testing.assert_close(forgetful_kernel(3), torch.zeros(3))
