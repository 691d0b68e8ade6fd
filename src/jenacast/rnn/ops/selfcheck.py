"""``backend="auto"`` trusts the Triton tier only after checking it against ``fwbw`` on the user's own inputs.

Why: CI tests the Triton kernels in Triton's interpreter (a program's block runs as whole arrays, the
programs one after another) and compiles them for sm_90 without a GPU. A compiled kernel on a real card can
still fail to launch, or race between its warps, and "auto" is what most users run. So the first call of
each layer configuration (cell, sizes, mask layouts, direction, options; a bidirectional pair as one) runs
both tiers: the forward, and where gradients are being taken the backward twice (a cotangent on every output,
then on the last h alone, as a stack's top layer is used). Outputs, last states and every gradient are
compared (a packed batch's call, with ``lengths``, against ``reference``: ``fwbw`` takes no lengths). An exception
or a difference above the tolerance logs a warning that names it, and "auto" uses
``fwbw`` on that device type from then on. ``backend="triton"`` runs unchecked: it is the user's explicit choice.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("jenacast")

# Relative to each tensor's largest value (at least 1): the GPU tests' bounds for float32 dots with TF32 allowed
# (tests/rnn/test_gpu.py). A racing or misindexed kernel is off by the values' own size.
TOLERANCE = 1e-3
_checked: set = set()


def _describe(value):
    """What makes a call another configuration: tensors by shape, dtype and whether they need gradients."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.requires_grad)
    if isinstance(value, (tuple, list)):
        return tuple(_describe(v) for v in value)
    return value


def _leaves(args):
    """``args`` with each tensor that needs gradients replaced by a detached copy that does (returned too)."""
    leaves = []

    def copy(value):
        if isinstance(value, (tuple, list)):
            return type(value)(copy(v) for v in value)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            leaf = value.detach().clone().requires_grad_()
            leaves.append(leaf)
            return leaf
        return value

    return copy(args), leaves


def _flat(outputs):
    """A layer op's outputs (a pair's as two tuples) as one flat list."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for o in outputs for t in _flat(o)]


def _last_h_positions(outputs):
    """Where the last h sits in the flat outputs: each direction's second output."""
    if isinstance(outputs[0], torch.Tensor):
        return [1]
    offsets, start = [], 0
    for direction in outputs:
        offsets.append(start + 1)
        start += len(direction)
    return offsets


def _results(op, args, kwargs):
    """The flat outputs of ``op`` on fresh copies of ``args`` (and ``kwargs``, a packed batch's ``lengths``) and, with
    gradients enabled, the copies' gradients for the two cotangent sets (named for the report)."""
    copied, leaves = _leaves(args)
    outputs = op(*copied, **kwargs)
    flat = _flat(outputs)
    named = [(f"output {k}", o.detach()) for k, o in enumerate(flat)]
    if not torch.is_grad_enabled() or not leaves:
        return named
    generator = torch.Generator(device=flat[0].device).manual_seed(0)
    cotangents = [torch.randn(o.shape, generator=generator, device=o.device, dtype=o.dtype) for o in flat]
    for label, picked in (("every output", range(len(flat))), ("the last h", _last_h_positions(outputs))):
        grads = torch.autograd.grad(
            [flat[k] for k in picked], leaves, [cotangents[k] for k in picked], retain_graph=True, allow_unused=True
        )
        named += [(f"gradient {k} for {label}", g) for k, g in enumerate(grads)]
    return named


def difference(op, reference, args, kwargs=None) -> str | None:
    """None when ``op`` matches ``reference`` on ``args`` within :data:`TOLERANCE`, else what differs (or raised)."""
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # both tiers' torch matmuls in float32, whatever the user set
    try:
        want = _results(reference, args, kwargs or {})
        try:
            got = _results(op, args, kwargs or {})
        except Exception as error:  # noqa: BLE001 - any failure of the checked tier is the finding
            return f"it raised {type(error).__name__}: {error}"
    finally:
        torch.set_float32_matmul_precision(precision)
    if len(got) != len(want):
        return f"it returned {len(got)} tensors instead of {len(want)}"
    for (name, a), (_, b) in zip(got, want):
        if (a is None) != (b is None):
            return f"{name} is {'missing' if a is None else 'unexpected'}"
        if a is None:
            continue
        scale = b.abs().max().clamp_min(1.0)
        error = (a - b).abs().max()
        if not bool(torch.isfinite(a).all()) or not bool(error <= TOLERANCE * scale):
            return f"{name} differs by {error.item():.3g} (largest value {scale.item():.3g})"
    return None


def _capturing() -> bool:
    """Whether a CUDA graph is being captured (no check there: it syncs; warm-up steps were checked before)."""
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def checked(name: str, op, reference, on_failure, against: str = "fwbw"):
    """``op`` (a layer or pair op), checked against ``reference`` (the tier named ``against``) at each
    configuration's first call; on a failure ``on_failure()`` is called once, a warning logged, and that call
    answered by ``reference``."""

    def run(*args, **kwargs):
        key = (name, _describe(args), _describe(tuple(sorted(kwargs.items()))), torch.is_grad_enabled())
        if key in _checked or _capturing():
            return op(*args, **kwargs)
        _checked.add(key)
        found = difference(op, reference, args, kwargs)
        if found is None:
            return op(*args, **kwargs)
        on_failure()
        log.warning(
            "jenacast: the Triton kernels failed their first-use check against %r (%s: %s); "
            "backend 'auto' uses 'fwbw' from now on (backend='triton' forces them; please report this).",
            against,
            name,
            found,
        )
        return reference(*args, **kwargs)

    return run
