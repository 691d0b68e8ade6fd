"""The kernels' tuning options: one object, changed for a block of code or for the process.

The defaults are what the layers should run; the other values exist to measure and test the alternatives
(the Triton tier's ``tiles`` layout, TF32 dots, directions launched one by one, the recurrent weight gradient
as torch matmuls; the CPU tier's block size)::

    from jenacast.rnn import ops

    with ops.options(triton_layout="tiles", triton_paired=False):
        ...                                   # every launch in this block uses them
    ops.set_options(cpu_block_rows=32)       # from here on, in this process

A CUDA graph captured under some options replays them, whatever the options are later. Programs that cannot
call Python (a shell script timing ``jenacast bench``) set ``JENACAST_KERNEL_OPTIONS``, read once at import:
``JENACAST_KERNEL_OPTIONS="triton_layout=tiles,triton_precision=tf32" jenacast bench ...``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

_CHOICES = {
    "triton_layout": (None, "rows", "tiles"),
    "triton_precision": ("ieee", "tf32"),
    "triton_weight_grad": ("triton", "torch"),
}


@dataclasses.dataclass(frozen=True)
class KernelOptions:
    """``triton_layout``: ``"rows"``, ``"tiles"`` or None (rows up to 32 units, tiles above);
    ``triton_warps``: warps per program of the ``tiles`` kernels; ``triton_precision``: the ``tiles`` kernels'
    dots, ``"ieee"`` (float32) or ``"tf32"``; ``triton_paired``: a bidirectional layer's two directions in one
    launch each way; ``triton_weight_grad``: the recurrent weight gradient as a Triton kernel or as torch
    matmuls; ``cpu_block_rows``: sequences per block of the CPU kernels (None: chosen from the batch)."""

    triton_layout: str | None = None
    triton_warps: int = 4
    triton_precision: str = "ieee"
    triton_paired: bool = True
    triton_weight_grad: str = "triton"
    cpu_block_rows: int | None = None

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                allowed = ", ".join(repr(c) for c in choices)
                raise ValueError(f"kernel option {name} must be one of {allowed}, got {getattr(self, name)!r}.")
        if not isinstance(self.triton_paired, bool):
            raise ValueError(f"kernel option triton_paired must be True or False, got {self.triton_paired!r}.")
        for name in ("triton_warps", "cpu_block_rows"):
            value = getattr(self, name)
            if not (value is None and name == "cpu_block_rows") and (not isinstance(value, int) or value < 1):
                raise ValueError(f"kernel option {name} must be a positive integer, got {value!r}.")


def parse(text: str) -> dict:
    """``"name=value,name=value"`` as keyword arguments of :class:`KernelOptions` (values as Python would read
    them: ``none``, ``true``/``false``, integers, else strings)."""
    fields = {f.name for f in dataclasses.fields(KernelOptions)}
    changes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in fields:
            raise ValueError(
                f"{item!r} is not a kernel option; expected name=value with a name from {', '.join(sorted(fields))}."
            )
        lowered = value.lower()
        changes[name] = (
            None
            if lowered == "none"
            else lowered == "true"
            if lowered in ("true", "false")
            else int(value)
            if value.isdigit()
            else value
        )
    return changes


_current = KernelOptions(**parse(os.environ.get("JENACAST_KERNEL_OPTIONS", "")))


def current() -> KernelOptions:
    """The options in force."""
    return _current


def set_options(**changes) -> KernelOptions:
    """Change the options for the rest of the process (unnamed ones keep their values); returns the old ones."""
    global _current
    previous, _current = _current, dataclasses.replace(_current, **changes)
    return previous


@contextlib.contextmanager
def options(**changes) -> Iterator[KernelOptions]:
    """The options with ``changes`` inside the block, the previous ones after it."""
    global _current
    previous = set_options(**changes)
    try:
        yield _current
    finally:
        _current = previous
