"""How many kernels one training step of each model launches with the Triton tier, counted without a GPU.

A CUDA graph removes the launches' host cost but not the kernels: each still takes a few
microseconds of GPU time however little it does, and the chapter's recurrent steps are small, so
the count bounds a graphed step from below. This runs one training step (forward, MSE, backward,
RMSprop) of each model on the CPU with the Triton kernels in Triton's interpreter and counts the
ATen operators that run (each is about one kernel on a GPU; views and metadata-only operators are
left out) and the Triton launches. Approximate: an ATen operator can launch more than one kernel.

    PYTHONPATH=src python benchmarks/count_step_kernels.py [MODEL ...]
"""

from __future__ import annotations

import collections
import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from triton.runtime.interpreter import InterpretedFunction  # noqa: E402

from jenacast import models  # noqa: E402
from jenacast.training.optim import KerasRMSprop  # noqa: E402
from jenacast.training.step import step_body  # noqa: E402

NOT_KERNELS = {
    "detach",
    "view",
    "t",
    "transpose",
    "expand",
    "unsqueeze",
    "select",
    "slice",
    "permute",
    "_unsafe_view",
    "alias",
    "as_strided",
    "squeeze",
    "_reshape_alias",
    "reshape",
    "split",
    "unbind",
    "empty",
    "empty_like",
    "new_empty",
    "empty_strided",
    "new_empty_strided",
    "is_same_size",
    "lift_fresh",
    "_to_copy",
    "_record_function_enter_new",
    "_record_function_exit",
}


class _Counting(TorchDispatchMode):
    """Counts the ATen operators dispatched outside Triton launches (the interpreter runs its own)."""

    def __init__(self):
        super().__init__()
        self.ops: collections.Counter = collections.Counter()
        self.launches: collections.Counter = collections.Counter()
        self.inside_launch = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.inside_launch and func.overloadpacket.__name__ not in NOT_KERNELS:
            self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count(name: str) -> _Counting:
    torch.manual_seed(0)
    model = models.build(name, 14, steps=12, backend="triton").train()
    optimizer = KerasRMSprop(model.parameters())
    optimizer.init_state()
    x, y = torch.randn(8, 12, 14), torch.randn(8)
    step_body(model, optimizer, x, y)  # first use: compile-time work stays out of the count
    counting = _Counting()
    run = InterpretedFunction.run

    def counted_run(self, *args, **kwargs):
        counting.launches[self.fn.__name__] += 1
        counting.inside_launch = True
        try:
            return run(self, *args, **kwargs)
        finally:
            counting.inside_launch = False

    InterpretedFunction.run = counted_run
    try:
        with counting:
            step_body(model, optimizer, x, y)
    finally:
        InterpretedFunction.run = run
    return counting


def main() -> None:
    names = sys.argv[1:] or ["lstm-dropout", "stacked-gru", "bidirectional"]
    for name in names:
        c = count(name)
        total = sum(c.ops.values()) + sum(c.launches.values())
        print(
            f"{name:<14} about {total} kernels: {sum(c.launches.values())} Triton {dict(c.launches)}, "
            f"{sum(c.ops.values())} ATen {dict(c.ops.most_common())}"
        )


if __name__ == "__main__":
    main()
