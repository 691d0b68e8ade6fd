"""Running a drop-in module and its torch counterpart on the same input, and comparing what each returns and every
gradient (input, initial states, each parameter by name) under the same random upstream gradients."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

import tests.rnn.cpu_cache  # noqa: F401


def assert_near(actual, expected, tol, what=""):
    """Equal within ``tol`` relative to the largest value of ``expected`` (gradients hold values near zero)."""
    scale = expected.detach().abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * max(scale, 1e-30), msg=lambda m: f"{what}: {m}")


def _flat(result) -> list[torch.Tensor]:
    output, states = result
    output = output.data if isinstance(output, PackedSequence) else output
    return [output, *(states if isinstance(states, tuple) else (states,))]


def run(module, leaves: dict, make_input, hx, seed: int = 0) -> dict:
    """``module(make_input(), hx)``'s results and the gradients of ``leaves`` (name -> tensor, plus the module's
    parameters) for random upstream gradients drawn from ``seed``."""
    returned = _flat(module(make_input(), hx))
    generator = torch.Generator().manual_seed(seed)
    upstream = [torch.randn(t.shape, generator=generator, dtype=t.dtype) for t in returned]
    loss = sum((t * u).sum() for t, u in zip(returned, upstream))
    named = {**leaves, **dict(module.named_parameters())}
    grads = torch.autograd.grad(loss, list(named.values()))
    return {"returned": returned, **{f"grad {n}": g for n, g in zip(named, grads)}}


def assert_same_as_torch(module, ref, make_input, leaves: dict, hx, tol):
    ours = run(module, leaves, make_input, hx)
    theirs = run(ref, leaves, make_input, hx)
    assert ours.keys() == theirs.keys()
    assert len(ours["returned"]) == len(theirs["returned"])
    for i, (a, b) in enumerate(zip(ours["returned"], theirs["returned"])):
        assert a.shape == b.shape, f"returned {i}: {a.shape} != {b.shape}"
        assert_near(a, b, tol, f"returned {i}")
    for name in ours:
        if name != "returned":
            assert_near(ours[name], theirs[name], tol, name)


def leaf(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype).requires_grad_()


def with_random_biases(ref):
    """torch's init keeps biases small; random ones exercise the bias layout more."""
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.startswith("bias"):
                p.normal_()
    return ref
